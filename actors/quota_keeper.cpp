#include "actors/quota_keeper.hpp"

#include <algorithm>
#include <functional>
#include <optional>
#include <set>
#include <unordered_map>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/quota_policy.hpp"
#include "actors/quota_znodes.hpp"
#include "adapters/zookeeper/session.hpp"

// Results and events of the ZooKeeper adapter travel from its threads to the keeper (local only).
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flashsale::zk::result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flashsale::zk::event)

namespace flashsale {

namespace {

using std::chrono::milliseconds;

/// The lease clock (the counters compare against the same clock).
std::int64_t steady_ms() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string hex(std::int64_t session) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(session));
  return buf;
}

/// This node's grant of one product, as last read from ZooKeeper.
struct grant_slot {
  bool known = false;
  quota::grant_znode value;
  std::int64_t mzxid = 0;     ///< version handed to the counter (quota_update::version)
  std::int32_t version = -1;  ///< znode version, for the versioned write of a release
  bool stale = false;         ///< the last read failed: re-read on the next tick
  bool missing = false;       ///< the znode was missing at the last read (logged once)
  /// The last consumption report written (this session), when, and whether it said "busy".
  std::optional<quota::consumption_report> reported;
  std::int64_t reported_at = 0;  // steady ms
  bool reported_busy = false;
  bool releasing = false;               ///< a release (counter cap + versioned write) is in flight
  std::int64_t consumed_last_tick = 0;  ///< for the claim step: sales since the previous tick
  std::map<std::int64_t, std::int64_t> handed_at;  ///< mzxid -> wall ms it went to the counter
};

/// Starts one ZooKeeper operation on the session with the given callback.
using starter = std::function<void(zk::session&, zk::callback)>;

starter get_op(std::string path, bool watch) {
  return [path = std::move(path), watch](zk::session& s, zk::callback cb) {
    s.get(path, watch, std::move(cb));
  };
}

starter children_op(std::string path, bool watch) {
  return [path = std::move(path), watch](zk::session& s, zk::callback cb) {
    s.get_children(path, watch, std::move(cb));
  };
}

starter exists_op(std::string path, bool watch) {
  return [path = std::move(path), watch](zk::session& s, zk::callback cb) {
    s.exists(path, watch, std::move(cb));
  };
}

starter create_op(std::string path, std::string data, zk::create_mode mode) {
  return [path = std::move(path), data = std::move(data), mode](zk::session& s, zk::callback cb) {
    s.create(path, data, mode, std::move(cb));
  };
}

starter set_op(std::string path, std::string data, std::int32_t version) {
  return [path = std::move(path), data = std::move(data), version](
             zk::session& s, zk::callback cb) { s.set(path, data, version, std::move(cb)); };
}

starter multi_op(std::vector<zk::op> ops) {
  return [ops = std::move(ops)](zk::session& s, zk::callback cb) mutable {
    s.multi(std::move(ops), std::move(cb));
  };
}

struct keeper_state {
  quota_keeper_options opts;
  sale_definition sale;
  quota::layout paths{"/", ""};
  std::map<std::string, counter_actor> counters;
  gateway_actor gateway;

  // Session. Every result and event carries the generation it belongs to; older ones are dropped.
  std::unique_ptr<zk::session> zk;
  std::uint64_t generation = 0;
  bool connected = false;
  bool registering = false;
  bool registered = false;
  std::uint64_t next_op = 1;
  std::unordered_map<std::uint64_t, std::function<void(zk::result&)>> pending;

  // Follower side.
  std::map<std::string, grant_slot> grants;  // by product
  std::int64_t settings_mzxid = 0;
  std::int64_t lease_until = 0;  // steady ms
  bool tick_busy = false;
  std::string registration_problem;  // last logged, to log each problem once

  // Election and leader side.
  std::string election_node;  // our child of the leader znode (this session)
  bool standing = false;      // creating the candidacy
  bool leader = false;
  std::int64_t leader_since = 0;  // steady ms
  bool evaluating = false;
  bool dirty = false;
  int conflicts = 0;
  std::string leader_problem;  // last logged

  static inline const char* name = "quota_keeper";
};

using keeper = caf::stateful_actor<keeper_state>;

// -- plumbing -----------------------------------------------------------------------------------

/// Runs one operation on the current session; `then` runs on the actor, unless the session was
/// replaced meanwhile.
void zk_call(keeper* self, const starter& start, std::function<void(zk::result&)> then) {
  auto& st = self->state;
  if (!st.zk)
    return;
  auto id = st.next_op++;
  auto gen = st.generation;
  st.pending.emplace(id, [self, gen, then = std::move(then)](zk::result& r) {
    if (self->state.generation == gen)
      then(r);
  });
  caf::weak_actor_ptr weak{self->ctrl()};
  start(*st.zk, [weak, id](zk::result r) {
    if (auto strong = weak.lock())
      caf::anon_send(caf::actor_cast<caf::actor>(strong), zk_done_atom_v, id, std::move(r));
  });
}

/// Runs `ops` in order (ZooKeeper executes one session's requests in order) and calls `done`
/// with every result once the last one arrived.
void zk_all(keeper* self, std::vector<starter> ops,
            std::function<void(std::vector<zk::result>&)> done) {
  struct acc {
    std::vector<zk::result> results;
    std::size_t left = 0;
    std::function<void(std::vector<zk::result>&)> done;
  };
  auto a = std::make_shared<acc>();
  a->results.resize(ops.size());
  a->left = ops.size();
  a->done = std::move(done);
  if (ops.empty()) {
    a->done(a->results);
    return;
  }
  for (std::size_t i = 0; i < ops.size(); ++i)
    zk_call(self, ops[i], [a, i](zk::result& r) {
      a->results[i] = std::move(r);
      if (--a->left == 0)
        a->done(a->results);
    });
}

void evaluate(keeper* self);
void start_registration(keeper* self);
void read_grant(keeper* self, const std::string& product);
void tick(keeper* self);
void registration_failed(keeper* self, const std::string& what);
void stand_for_leader(keeper* self, std::function<void(bool)> done);

void set_lease(keeper* self, std::int64_t until) {
  auto& st = self->state;
  st.lease_until = until;
  for (auto& [p, c] : st.counters)
    self->send(c, lease_atom_v, until);
  st.opts.ready->store(until > steady_ms() && st.registered);
}

/// Drops the session (if any) and starts a new one.
void start_session(keeper* self) {
  auto& st = self->state;
  st.zk.reset();  // closes the old session: its ephemerals vanish, its callbacks see `closing`
  ++st.generation;
  st.pending.clear();
  st.connected = false;
  st.registering = false;
  st.registered = false;
  st.tick_busy = false;
  st.election_node.clear();
  st.standing = false;
  st.leader = false;
  st.evaluating = false;
  st.dirty = false;
  for (auto& [p, g] : st.grants) {
    g.releasing = false;
    g.reported.reset();
  }
  zk::options o;
  o.hosts = st.opts.hosts;
  o.session_timeout = st.opts.session_timeout;
  o.op_timeout = st.opts.op_timeout;
  caf::weak_actor_ptr weak{self->ctrl()};
  auto gen = st.generation;
  try {
    st.zk = std::make_unique<zk::session>(o, [weak, gen](const zk::event& e) {
      if (auto strong = weak.lock())
        caf::anon_send(caf::actor_cast<caf::actor>(strong), zk_event_atom_v, gen, e);
    });
  } catch (const std::exception& e) {
    spdlog::error("quota keeper {}: {}; retrying in 1 s", st.opts.node, e.what());
    self->delayed_send(self, std::chrono::seconds{1}, register_atom_v, std::uint64_t{0});
  }
}

/// Logs `text` at warn level unless it is what was logged last for this kind of problem.
void warn_once(std::string& last, const std::string& text) {
  if (last != text)
    spdlog::warn("{}", text);
  last = text;
}

// -- follower: grants, settings, reports, releases ------------------------------------------------

/// Hands a grant read (or written) at `mzxid` to the counter, unless it is not newer.
void take_grant(keeper* self, const std::string& product, const quota::grant_znode& value,
                const zk::node_stat& stat) {
  auto& st = self->state;
  auto& slot = st.grants[product];
  if (slot.known && stat.mzxid <= slot.mzxid)
    return;
  auto before = slot.value.grant;
  bool first = !slot.known;
  slot.known = true;
  slot.value = value;
  slot.mzxid = stat.mzxid;
  slot.version = stat.version;
  slot.handed_at[stat.mzxid] = quota::wall_ms();
  while (slot.handed_at.size() > 32)
    slot.handed_at.erase(slot.handed_at.begin());
  self->send(st.counters.at(product), quota_update{product, value.grant, stat.mzxid});
  if ((first && value.grant != 0) || (!first && before != value.grant))
    spdlog::info("quota keeper {}: grant of {} is {} (was {}){}", st.opts.node, product,
                 value.grant, first ? 0 : before, value.release ? ", asked to release" : "");
  if (value.grant > (first ? 0 : before))
    tick(self);  // claim some of it now rather than at the next interval
}

void start_release(keeper* self, const std::string& product) {
  auto& st = self->state;
  auto& slot = st.grants[product];
  if (slot.releasing || !slot.known || !st.registered)
    return;
  slot.releasing = true;
  auto gen = st.generation;
  self->request(st.counters.at(product), std::chrono::seconds{2}, release_atom_v)
      .then(
          [=](const quota_release& r) {
            auto& st = self->state;
            if (st.generation != gen)
              return;
            auto& slot = st.grants[product];
            if (r.version != slot.mzxid) {
              // A newer grant is on its way to the counter and overrides the cap; the flag (if
              // still set) is honoured on the next tick.
              slot.releasing = false;
              return;
            }
            quota::grant_znode lowered{r.grant, false};
            zk_call(self,
                    set_op(st.paths.grant(st.opts.node, product), encode(lowered), slot.version),
                    [=](zk::result& w) {
                      auto& st = self->state;
                      st.grants[product].releasing = false;
                      if (w.ok()) {
                        spdlog::info("quota keeper {}: gave back {} unused units of {} (grant {})",
                                     st.opts.node, r.released, product, r.grant);
                        take_grant(self, product, lowered, w.stat);
                      } else if (w.rc == zk::code::bad_version) {
                        read_grant(self, product);  // changed meanwhile: the counter stays capped
                      } else {
                        spdlog::warn(
                            "quota keeper {}: giving back {} units of {} failed: {}; "
                            "retrying",
                            st.opts.node, r.released, product, zk::to_string(w.rc));
                      }
                    });
          },
          [=](caf::error& err) {
            self->state.grants[product].releasing = false;
            spdlog::error("quota keeper {}: counter of {} did not release: {}",
                          self->state.opts.node, product, self->system().render(err));
          });
}

void read_grant(keeper* self, const std::string& product) {
  auto& st = self->state;
  auto path = st.paths.grant(st.opts.node, product);
  zk_call(self, get_op(path, true), [=](zk::result& r) {
    auto& st = self->state;
    auto& slot = st.grants[product];
    if (r.rc == zk::code::no_node) {
      slot.stale = true;
      if (!slot.missing)
        spdlog::error(
            "quota keeper {}: {} is missing (the sale's tree was removed?); the counter "
            "keeps its last grant",
            st.opts.node, path);
      slot.missing = true;
      return;
    }
    if (!r.ok()) {
      slot.stale = true;
      return;  // the session event says why; the next tick re-reads
    }
    slot.stale = false;
    slot.missing = false;
    auto value = quota::decode_grant(r.data);
    if (!value) {
      spdlog::error("quota keeper {}: {} holds no grant: '{}'", st.opts.node, path, r.data);
      return;
    }
    take_grant(self, product, *value, r.stat);
    if (value->release && st.registered)
      start_release(self, product);
  });
}

void read_settings(keeper* self) {
  auto& st = self->state;
  auto path = st.paths.settings();
  zk_call(self, get_op(path, true), [=](zk::result& r) {
    auto& st = self->state;
    if (r.rc == zk::code::no_node) {
      zk_call(self, exists_op(path, true), [](zk::result&) {});  // notice its creation
      return;
    }
    if (!r.ok() || r.stat.mzxid <= st.settings_mzxid)
      return;
    st.settings_mzxid = r.stat.mzxid;
    auto s = quota::decode_settings(r.data);
    if (!s) {
      spdlog::error("quota keeper {}: {} is not valid settings JSON ('{}'); ignored", st.opts.node,
                    path, r.data);
      return;
    }
    if (s->keep_one_in) {
      spdlog::info("quota keeper {}: shedding now keeps 1 in {} (from {})", st.opts.node,
                   *s->keep_one_in, path);
      self->send(st.gateway, shedding_update{*s->keep_one_in, r.stat.mzxid});
    }
    // No "window" key is the default: follow the sale's schedule.
    auto window = s->window.value_or(window_mode::scheduled);
    spdlog::info("quota keeper {}: sale window {} (from {})", st.opts.node, to_string(window),
                 path);
    self->send(st.gateway, window_update{window, r.stat.mzxid});
  });
}

/// Whether the report of one product must be (re)written now: something the leader decides on
/// changed, the node turned busy or idle, buyers keep trying (the leader must keep seeing it
/// busy), or the report is getting old.
bool report_due(const keeper_state& st, const grant_slot& slot, const counter_stats& s,
                std::int64_t claim, std::int64_t now) {
  if (!slot.reported)
    return true;
  const auto& r = *slot.reported;
  bool busy = s.idle_ms < st.opts.idle_release.count();
  auto age = now - slot.reported_at;
  return r.consumed != s.consumed || r.claimed != claim || r.grant != s.grant ||
         r.version != s.version || busy != slot.reported_busy ||
         (busy && age >= st.opts.idle_release.count() / 2) ||
         age >= 10 * st.opts.idle_release.count();
}

/// Reports the counters' consumption where it is due, then extends the lease after a successful
/// round trip (the report writes, or a read of our registration when nothing was due): the server
/// answered, so the session lives at least a session timeout after the request was sent.
void tick(keeper* self) {
  auto& st = self->state;
  if (st.opts.ready->load() && steady_ms() >= st.lease_until)
    st.opts.ready->store(false);
  if (!st.registered || st.tick_busy)
    return;
  st.tick_busy = true;
  auto gen = st.generation;
  struct acc {
    std::map<std::string, counter_stats> stats;
    std::size_t left = 0;
  };
  auto a = std::make_shared<acc>();
  a->left = st.counters.size();
  auto write_reports = [self, gen, a]() {
    auto& st = self->state;
    if (st.generation != gen)
      return;
    if (a->stats.size() != st.counters.size()) {
      st.tick_busy = false;
      return;
    }
    auto wall = quota::wall_ms();
    auto now = steady_ms();
    std::vector<starter> ops;
    std::vector<std::pair<std::string, quota::consumption_report>> written;
    for (auto& [product, s] : a->stats) {
      auto& slot = st.grants[product];
      // The claim: the counter admits only up to a claim written here first, so the leader can
      // lower a gone node's grant to its last claim without granting anything it sold again. It
      // reaches two intervals of sales at the recent rate (an eighth of the grant at least), so
      // admission rarely waits for a write; it never falls below the counter's claim in force.
      auto sold = std::max<std::int64_t>(s.consumed - slot.consumed_last_tick, 0);
      slot.consumed_last_tick = s.consumed;
      auto step = std::max<std::int64_t>({16, s.grant / 8, 2 * sold});
      auto claim = std::max({std::min(s.grant, s.consumed + step), s.consumed, s.claim});
      if (!report_due(st, slot, s, claim, now))
        continue;
      quota::consumption_report rep;
      rep.consumed = s.consumed;
      rep.claimed = claim;
      rep.grant = s.grant;
      rep.version = s.version;
      if (auto i = slot.handed_at.find(s.version); i != slot.handed_at.end())
        rep.applied_at_ms = i->second;
      rep.last_attempt_ms = wall - s.idle_ms;
      rep.refused = s.refused;
      rep.at_ms = wall;
      ops.push_back(set_op(st.paths.consumed(st.opts.node, product), encode(rep), -1));
      written.emplace_back(product, rep);
    }
    if (ops.empty())
      ops.push_back(exists_op(st.paths.member(st.opts.node), false));
    auto sent = steady_ms();
    zk_all(self, std::move(ops), [self, sent, written, a](std::vector<zk::result>& results) {
      auto& st = self->state;
      st.tick_busy = false;
      for (const auto& r : results)
        if (!r.ok())
          return;  // no proof the session lives: the lease is not extended
      for (const auto& [product, rep] : written) {
        auto& slot = st.grants[product];
        slot.reported = rep;
        slot.reported_at = sent;
        slot.reported_busy = a->stats[product].idle_ms < st.opts.idle_release.count();
        // Written: the counter may now sell up to it.
        self->send(st.counters.at(product), claim_atom_v, rep.claimed);
      }
      auto timeout = st.zk ? st.zk->negotiated_timeout().count() : 0;
      if (timeout > 0)
        set_lease(self, sent + timeout / 2);
    });
    for (auto& [product, slot] : st.grants) {
      if (slot.stale)
        read_grant(self, product);
      else if (slot.known && slot.value.release)
        start_release(self, product);
    }
  };
  for (auto& [product, counter] : st.counters) {
    self->request(counter, std::chrono::seconds{1}, stats_atom_v)
        .then(
            [=](const counter_stats& s) {
              a->stats[s.product] = s;
              if (--a->left == 0)
                write_reports();
            },
            [=](caf::error& err) {
              spdlog::error("quota keeper {}: a counter did not report: {}", self->state.opts.node,
                            self->system().render(err));
              if (--a->left == 0)
                write_reports();
            });
  }
}

// -- election --------------------------------------------------------------------------------

void read_election(keeper* self) {
  auto& st = self->state;
  zk_call(self, children_op(st.paths.leader(), true), [self](zk::result& r) {
    auto& st = self->state;
    if (!r.ok())
      return;
    auto kids = r.children;
    std::sort(kids.begin(), kids.end());  // n_<10-digit sequence>: the order of creation
    if (st.election_node.empty() ||
        std::find(kids.begin(), kids.end(), st.election_node) == kids.end()) {
      if (st.registered && !st.standing) {
        // Our candidacy vanished (deleted by hand?) or could not be made: stand (again).
        spdlog::warn("quota keeper {}: not a candidate for quota leader; standing again",
                     st.opts.node);
        st.election_node.clear();
        if (st.leader)
          spdlog::info("quota keeper {}: no longer the quota leader", st.opts.node);
        st.leader = false;
        stand_for_leader(self, [](bool) {});
      }
      return;
    }
    bool lead = !kids.empty() && kids.front() == st.election_node;
    if (lead && !st.leader) {
      st.leader = true;
      st.leader_since = steady_ms();
      st.conflicts = 0;
      spdlog::info("quota keeper {}: elected quota leader of sale {} ({})", st.opts.node,
                   st.sale.name, st.election_node);
      auto note = encode(quota::leader_announcement{st.opts.node, quota::wall_ms()});
      zk_call(self, set_op(st.paths.leader(), note, -1), [self](zk::result& w) {
        if (!w.ok())
          spdlog::warn("quota keeper {}: cannot announce the leadership: {}", self->state.opts.node,
                       zk::to_string(w.rc));
      });
      evaluate(self);
    } else if (!lead && st.leader) {
      st.leader = false;
      spdlog::info("quota keeper {}: no longer the quota leader", st.opts.node);
    }
  });
}

/// Creates our ephemeral sequential candidacy under the leader znode, then reads the election.
void stand_for_leader(keeper* self, std::function<void(bool)> done) {
  auto& st = self->state;
  if (st.standing)
    return;
  st.standing = true;
  zk_call(self,
          create_op(st.paths.leader_prefix(), st.opts.node, zk::create_mode::ephemeral_sequential),
          [self, done](zk::result& r) {
            auto& st = self->state;
            st.standing = false;
            if (!r.ok()) {
              auto what = "cannot stand for quota leader under " + st.paths.leader() + ": " +
                          zk::to_string(r.rc);
              if (st.registered)
                spdlog::warn("quota keeper {}: {}", st.opts.node, what);  // next reconnect retries
              else
                registration_failed(self, what);
              done(false);
              return;
            }
            st.election_node = r.path.substr(r.path.rfind('/') + 1);
            read_election(self);
            done(true);
          });
}

// -- registration ----------------------------------------------------------------------------

void registration_failed(keeper* self, const std::string& what) {
  auto& st = self->state;
  st.registering = false;
  warn_once(st.registration_problem,
            "quota keeper " + st.opts.node + ": registration: " + what + "; retrying");
  self->delayed_send(self, milliseconds{500}, register_atom_v, st.generation);
}

void finish_registration(keeper* self) {
  auto& st = self->state;
  st.registering = false;
  st.registered = true;
  st.registration_problem.clear();
  spdlog::info("quota keeper {}: registered in ZooKeeper (session {}, timeout {} ms, root {})",
               st.opts.node, hex(st.zk->session_id()), st.zk->negotiated_timeout().count(),
               st.opts.root);
  tick(self);  // first report: starts the lease
}

void join_election(keeper* self) {
  auto& st = self->state;
  if (!st.election_node.empty()) {
    read_election(self);
    finish_registration(self);
    return;
  }
  stand_for_leader(self, [self](bool ok) {
    if (ok)
      finish_registration(self);
  });
}

/// Registration step 3: resume from the last reports, rewrite them with what the counters really
/// consumed (the rewrite is what makes a pending reclaim by the leader fail), then read the grants
/// and the settings, and stand for leader.
void resume_and_read(keeper* self) {
  auto& st = self->state;
  std::vector<starter> reads;
  std::vector<std::string> products;
  for (auto& [p, c] : st.counters) {
    products.push_back(p);
    reads.push_back(get_op(st.paths.consumed(st.opts.node, p), false));
  }
  auto gen = st.generation;
  zk_all(self, std::move(reads), [self, gen, products](std::vector<zk::result>& results) {
    auto& st = self->state;
    struct acc {
      std::vector<starter> writes;
      std::size_t left = 0;
      bool failed = false;
    };
    auto a = std::make_shared<acc>();
    a->left = products.size();
    auto write_all = [self, gen, a]() {
      if (self->state.generation != gen)
        return;
      if (a->failed) {
        registration_failed(self, "a counter did not answer");
        return;
      }
      zk_all(self, std::move(a->writes), [self](std::vector<zk::result>& written) {
        auto& st = self->state;
        for (const auto& r : written)
          if (!r.ok()) {
            registration_failed(self,
                                "cannot rewrite the consumption reports: " + zk::to_string(r.rc));
            return;
          }
        for (auto& [p, c] : st.counters)
          read_grant(self, p);
        read_settings(self);
        join_election(self);
      });
    };
    for (std::size_t i = 0; i < products.size(); ++i) {
      const auto& p = products[i];
      if (!results[i].ok()) {
        registration_failed(self, "cannot read " + st.paths.consumed(st.opts.node, p) + ": " +
                                      zk::to_string(results[i].rc));
        return;
      }
    }
    for (std::size_t i = 0; i < products.size(); ++i) {
      const auto& p = products[i];
      auto prev = quota::decode_report(results[i].data);
      // The previous run may have sold up to its last claim: resume from there (what it did not
      // sell of that claim stays unsold; nothing is sold twice).
      auto floor = prev ? std::max(prev->consumed, prev->claimed) : 0;
      auto counter = st.counters.at(p);
      self->send(counter, resume_atom_v, floor);
      // Answered after the resume (messages from one sender arrive in order).
      self->request(counter, std::chrono::seconds{2}, stats_atom_v)
          .then(
              [=](const counter_stats& s) {
                auto& st = self->state;
                if (floor > 0)
                  spdlog::info("quota keeper {}: {} resumes at {} units consumed (last report {})",
                               st.opts.node, p, s.consumed, floor);
                quota::consumption_report rep = prev.value_or(quota::consumption_report{});
                rep.consumed = s.consumed;
                rep.grant = s.grant;
                rep.version = s.version;
                rep.refused = s.refused;
                rep.at_ms = quota::wall_ms();
                rep.last_attempt_ms = rep.at_ms - s.idle_ms;
                a->writes.push_back(set_op(st.paths.consumed(st.opts.node, p), encode(rep), -1));
                if (--a->left == 0)
                  write_all();
              },
              [=](caf::error&) {
                a->failed = true;
                if (--a->left == 0)
                  write_all();
              });
    }
  });
}

/// Registration step 2: the ephemeral membership znode.
void register_member(keeper* self) {
  auto& st = self->state;
  auto path = st.paths.member(st.opts.node);
  auto data = encode(
      quota::member_znode{st.opts.http_endpoint, st.zk->session_id(), st.opts.actor_endpoint});
  zk_call(self, create_op(path, data, zk::create_mode::ephemeral), [self, path](zk::result& r) {
    if (r.ok()) {
      resume_and_read(self);
      return;
    }
    if (r.rc != zk::code::node_exists) {
      registration_failed(self, "cannot create " + path + ": " + zk::to_string(r.rc));
      return;
    }
    zk_call(self, get_op(path, false), [self, path](zk::result& g) {
      auto& st = self->state;
      if (g.ok() && g.stat.ephemeral_owner == st.zk->session_id()) {
        resume_and_read(self);  // our own earlier create succeeded
        return;
      }
      registration_failed(self, path + " is held by session " + hex(g.stat.ephemeral_owner) +
                                    " (an earlier run of this node?); waiting for it to expire");
    });
  });
}

/// Registration step 1: this node's grant and report znodes (created empty where absent).
void start_registration(keeper* self) {
  auto& st = self->state;
  if (!st.zk || !st.connected || st.registering || st.registered)
    return;
  st.registering = true;
  std::vector<starter> ops;
  std::vector<std::string> paths;
  auto add = [&](std::string path, std::string data) {
    paths.push_back(path);
    ops.push_back(create_op(std::move(path), std::move(data), zk::create_mode::persistent));
  };
  add(st.paths.grant_dir(st.opts.node), "");
  add(st.paths.consumed_dir(st.opts.node), "");
  for (auto& [p, c] : st.counters) {
    add(st.paths.grant(st.opts.node, p), encode(quota::grant_znode{}));
    add(st.paths.consumed(st.opts.node, p), encode(quota::consumption_report{}));
  }
  zk_all(self, std::move(ops), [self, paths](std::vector<zk::result>& results) {
    for (std::size_t i = 0; i < results.size(); ++i) {
      auto rc = results[i].rc;
      if (rc == zk::code::ok || rc == zk::code::node_exists)
        continue;
      registration_failed(
          self, "cannot create " + paths[i] + ": " + zk::to_string(rc) +
                    (rc == zk::code::no_node ? " (is the sale initialised? flashsale-admin zk init)"
                                             : ""));
      return;
    }
    register_member(self);
  });
}

// -- leader ----------------------------------------------------------------------------------

void leader_failed(keeper* self, const std::string& what) {
  auto& st = self->state;
  st.evaluating = false;
  warn_once(st.leader_problem, "quota keeper " + st.opts.node + " (leader): " + what);
}

void evaluate_again(keeper* self, milliseconds delay) {
  self->delayed_send(self, delay, evaluate_atom_v, self->state.generation);
}

std::string describe(const std::string& product, const quota::product_plan& plan,
                     const quota::product_view& view) {
  std::string text = product + " (stock " + std::to_string(view.stock) + ", free " +
                     std::to_string(plan.free_before) + "):";
  for (const auto& c : plan.changes) {
    std::int64_t before = 0;
    for (const auto& n : view.nodes)
      if (n.node == c.node && n.grant)
        before = n.grant->grant;
    text += " " + c.node + " " + std::to_string(before) + "->" + std::to_string(c.value.grant) +
            (c.value.release ? " (release)" : "") + " [" + to_string(c.reason) + "]";
  }
  return text;
}

/// Phase B: with the product and node names known, read stock, reports, members and grants (in
/// that order: see quota_keeper.hpp), decide, write.
void evaluate_read(keeper* self, zk::node_stat fence_stat, quota::fence_znode fence,
                   std::vector<std::string> products, std::vector<std::string> nodes) {
  auto& st = self->state;
  std::vector<starter> ops;
  for (const auto& p : products)
    ops.push_back(get_op(st.paths.product(p), true));
  for (const auto& n : nodes)
    for (const auto& p : products)
      ops.push_back(get_op(st.paths.consumed(n, p), false));
  ops.push_back(children_op(st.paths.members(), true));
  for (const auto& n : nodes)
    for (const auto& p : products)
      ops.push_back(get_op(st.paths.grant(n, p), true));
  zk_all(self, std::move(ops), [=](std::vector<zk::result>& r) {
    auto& st = self->state;
    auto np = products.size();
    auto nn = nodes.size();
    auto report_at = [&](std::size_t n, std::size_t p) -> zk::result& {
      return r[np + n * np + p];
    };
    auto& members = r[np + nn * np];
    auto grant_at = [&](std::size_t n, std::size_t p) -> zk::result& {
      return r[np + nn * np + 1 + n * np + p];
    };
    for (const auto& x : r)
      if (!x.ok() && x.rc != zk::code::no_node) {
        leader_failed(self, "reading the quota tree failed: " + zk::to_string(x.rc));
        return;
      }
    if (!members.ok()) {
      leader_failed(self, "cannot read " + st.paths.members() + ": " + zk::to_string(members.rc));
      return;
    }
    std::set<std::string> live(members.children.begin(), members.children.end());
    quota::policy_settings settings;
    settings.expected_gateways = st.opts.expected_gateways;
    settings.split_wait_over = steady_ms() - st.leader_since >= st.opts.split_wait.count();
    settings.idle_release_ms = st.opts.idle_release.count();
    auto wall = quota::wall_ms();

    std::vector<zk::op> writes;
    std::vector<std::string> log_lines;
    bool write_fence = false;  // a grant grows or the split record changes
    auto record = fence;       // the leader's record of what stock each product was split for
    for (std::size_t p = 0; p < np; ++p) {
      if (!r[p].ok())
        continue;  // removed meanwhile
      auto stock = quota::decode_product(r[p].data);
      if (!stock) {
        warn_once(st.leader_problem, "quota keeper " + st.opts.node +
                                         " (leader): " + st.paths.product(products[p]) +
                                         " holds no stock: '" + r[p].data + "'; product skipped");
        continue;
      }
      quota::product_view view;
      view.product = products[p];
      view.stock = stock->stock;
      if (auto i = fence.split.find(products[p]); i != fence.split.end())
        view.split_stock = i->second;
      for (std::size_t n = 0; n < nn; ++n) {
        quota::node_view v;
        v.node = nodes[n];
        v.live = live.count(nodes[n]) > 0;
        auto& g = grant_at(n, p);
        if (g.ok()) {
          v.grant = quota::decode_grant(g.data);
          v.grant_version = g.stat.version;
          v.grant_mzxid = g.stat.mzxid;
        }
        auto& c = report_at(n, p);
        if (c.ok()) {
          v.report = quota::decode_report(c.data);
          v.report_version = c.stat.version;
          if (v.report) {
            v.idle_ms = std::max<std::int64_t>(wall - v.report->last_attempt_ms, 0);
            v.demand = v.idle_ms < st.opts.idle_release.count();
          }
        }
        if (v.grant || v.report)
          view.nodes.push_back(v);
      }
      auto plan = quota::plan_product(view, settings);
      bool recorded = plan.split_stock_after == view.split_stock;
      if (plan.empty() && recorded)
        continue;
      write_fence = write_fence || plan.raises || !recorded;
      record.split[products[p]] = plan.split_stock_after;
      writes.push_back(zk::op::check(st.paths.product(products[p]), r[p].stat.version));
      for (const auto& c : plan.changes) {
        auto it = std::find_if(view.nodes.begin(), view.nodes.end(),
                               [&](const quota::node_view& v) { return v.node == c.node; });
        writes.push_back(
            zk::op::set(st.paths.grant(c.node, products[p]), encode(c.value), it->grant_version));
      }
      for (const auto& gone : plan.reclaimed) {
        auto it = std::find_if(view.nodes.begin(), view.nodes.end(),
                               [&](const quota::node_view& v) { return v.node == gone; });
        writes.push_back(zk::op::check(st.paths.consumed(gone, products[p]), it->report_version));
      }
      if (!plan.empty())
        log_lines.push_back(describe(products[p], plan, view));
    }
    if (writes.empty()) {
      st.evaluating = false;
      st.leader_problem.clear();
      if (st.dirty)
        evaluate(self);
      return;
    }
    if (write_fence) {
      record.leader = st.opts.node;
      record.at_ms = quota::wall_ms();
      writes.push_back(zk::op::set(st.paths.grants(), encode(record), fence_stat.version));
    }
    zk_call(self, multi_op(std::move(writes)), [self, log_lines](zk::result& w) {
      auto& st = self->state;
      st.evaluating = false;
      if (w.ok()) {
        st.conflicts = 0;
        st.leader_problem.clear();
        for (const auto& line : log_lines)
          spdlog::info("quota keeper {} (leader): {}", st.opts.node, line);
        if (st.dirty)
          evaluate(self);
        return;
      }
      if (w.rc == zk::code::bad_version || w.rc == zk::code::no_node ||
          w.rc == zk::code::node_exists) {
        // Lost a race (a node gave back, a stock change, another leader): re-read, re-decide.
        ++st.conflicts;
        spdlog::debug("quota keeper {} (leader): write lost a race ({}), re-reading", st.opts.node,
                      zk::to_string(w.rc));
        evaluate_again(self, milliseconds{std::min(5 * st.conflicts, 200)});
        return;
      }
      leader_failed(self, "writing grants failed: " + zk::to_string(w.rc));
    });
  });
}

/// Phase A: the fence version (read first: a raise by anyone after this read fails our write),
/// the products and the nodes that ever registered.
void evaluate(keeper* self) {
  auto& st = self->state;
  if (!st.leader || !st.registered)
    return;
  if (st.evaluating) {
    st.dirty = true;
    return;
  }
  st.evaluating = true;
  st.dirty = false;
  std::vector<starter> ops{get_op(st.paths.grants(), false), children_op(st.paths.products(), true),
                           children_op(st.paths.grants(), true)};
  zk_all(self, std::move(ops), [self](std::vector<zk::result>& r) {
    for (const auto& x : r)
      if (!x.ok()) {
        leader_failed(self, "cannot read the sale's tree: " + zk::to_string(x.rc));
        return;
      }
    auto products = r[1].children;
    auto nodes = r[2].children;
    std::sort(products.begin(), products.end());
    std::sort(nodes.begin(), nodes.end());
    evaluate_read(self, r[0].stat, quota::decode_fence(r[0].data), std::move(products),
                  std::move(nodes));
  });
}

// -- events ----------------------------------------------------------------------------------

void on_event(keeper* self, const zk::event& e) {
  auto& st = self->state;
  if (e.type == zk::event::kind::session) {
    switch (e.state) {
      case zk::session_state::connected:
        if (!st.connected)
          spdlog::info("quota keeper {}: ZooKeeper session {} connected to {} (timeout {} ms)",
                       st.opts.node, hex(st.zk->session_id()), st.opts.hosts,
                       st.zk->negotiated_timeout().count());
        st.connected = true;
        if (!st.registered) {
          start_registration(self);
        } else {
          for (auto& [p, c] : st.counters)
            read_grant(self, p);  // same session after a reconnect: catch up
          read_settings(self);
          read_election(self);
        }
        return;
      case zk::session_state::connecting:
        if (st.connected)
          spdlog::warn(
              "quota keeper {}: ZooKeeper connection lost; counters admit within their "
              "lease ({} ms left) while the client reconnects",
              st.opts.node, std::max<std::int64_t>(st.lease_until - steady_ms(), 0));
        st.connected = false;
        return;
      case zk::session_state::expired:
      case zk::session_state::auth_failed:
        spdlog::error(
            "quota keeper {}: ZooKeeper session {} {}: counters stop admitting; new "
            "session, new registration",
            st.opts.node, hex(st.zk ? st.zk->session_id() : 0), zk::to_string(e.state));
        set_lease(self, 0);
        start_session(self);
        return;
      case zk::session_state::closed:
        return;
    }
    return;
  }
  for (auto& [p, c] : st.counters)
    if (e.path == st.paths.grant(st.opts.node, p))
      read_grant(self, p);
  if (e.path == st.paths.settings())
    read_settings(self);
  if (e.path == st.paths.leader() && e.type == zk::event::kind::child)
    read_election(self);
  if (st.leader && e.path != st.paths.settings() && e.path != st.paths.leader())
    evaluate(self);
}

caf::behavior keeper_impl(keeper* self, quota_keeper_options opts, sale_definition sale,
                          std::map<std::string, counter_actor> counters, gateway_actor gateway) {
  auto& st = self->state;
  st.paths = quota::layout{opts.root, sale.name};
  st.opts = std::move(opts);
  st.sale = std::move(sale);
  st.counters = std::move(counters);
  st.gateway = std::move(gateway);
  st.opts.ready->store(false);
  for (auto& [p, c] : st.counters)
    st.grants[p];
  self->attach_functor([ready = st.opts.ready] { ready->store(false); });
  start_session(self);
  self->delayed_send(self, st.opts.report_interval, tick_atom_v);
  return {
      [=](zk_done_atom, std::uint64_t id, zk::result& r) {
        auto& pending = self->state.pending;
        auto i = pending.find(id);
        if (i == pending.end())
          return;
        auto then = std::move(i->second);
        pending.erase(i);
        then(r);
      },
      [=](zk_event_atom, std::uint64_t gen, const zk::event& e) {
        if (gen == self->state.generation)
          on_event(self, e);
      },
      [=](tick_atom) {
        auto& st = self->state;
        tick(self);
        if (st.leader)
          evaluate(self);  // reports are not watched: re-decide every interval
        self->delayed_send(self, st.opts.report_interval, tick_atom_v);
      },
      [=](register_atom, std::uint64_t gen) {
        auto& st = self->state;
        if (gen == 0 && !st.zk)
          start_session(self);  // the client could not even start: try again
        else if (gen == st.generation)
          start_registration(self);
      },
      [=](evaluate_atom, std::uint64_t gen) {
        if (gen == self->state.generation)
          evaluate(self);
      },
  };
}

}  // namespace

caf::actor spawn_quota_keeper(caf::actor_system& sys, quota_keeper_options opts,
                              const sale_definition& sale,
                              std::map<std::string, counter_actor> counters,
                              gateway_actor gateway) {
  return sys.spawn(keeper_impl, std::move(opts), sale, std::move(counters), std::move(gateway));
}

}  // namespace flashsale

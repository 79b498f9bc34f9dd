#include "actors/quota_keeper/session.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <vector>

#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/quota_keeper/grants.hpp"
#include "actors/quota_keeper/leadership.hpp"
#include "actors/quota_keeper/reports.hpp"

namespace flashsale::keeper_parts {

namespace {

using std::chrono::milliseconds;

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

/// Registration step 3c: the reports say what the counters really consumed; read the grants and
/// the settings, and join the election.
void reports_rewritten(keeper* self, std::vector<zk::result>& written) {
  auto& st = self->state;
  for (const auto& r : written)
    if (!r.ok()) {
      registration_failed(self, "cannot rewrite the consumption reports: " + zk::to_string(r.rc));
      return;
    }
  for (auto& [p, c] : st.counters)
    read_grant(self, p);
  read_settings(self);
  join_election(self);
}

/// Registration step 3b: every counter resumes from its product's last report (the previous run
/// may have sold up to its last claim: what it did not sell of that claim stays unsold until a
/// writer settles it; nothing is sold twice), then the reports are rewritten with the counters'
/// own figures and a new claim epoch. The rewrite is what makes a pending reclaim by the leader
/// fail.
void resume_counters(keeper* self, const std::vector<std::string>& products,
                     std::vector<zk::result>& reports) {
  auto& st = self->state;
  for (std::size_t i = 0; i < products.size(); ++i)
    if (!reports[i].ok()) {
      registration_failed(self, "cannot read " + st.paths.consumed(st.opts.node, products[i]) +
                                    ": " + zk::to_string(reports[i].rc));
      return;
    }
  struct rewrite {
    std::vector<starter> writes;
    std::size_t left = 0;
    bool failed = false;
  };
  // A new claim epoch for this session: above every epoch this node's reports name (an earlier
  // run's) and every one this process used. Nothing is admitted under it before the rewritten
  // reports carry it, and the gateway stamps it on purchases before any counter gets a lease.
  auto epoch = st.epoch;
  for (const auto& r : reports)
    if (auto prev = quota::decode_report(r.data))
      epoch = std::max(epoch, prev->epoch);
  st.epoch = epoch + 1;
  self->send(st.gateway, epoch_atom_v, st.epoch);
  auto a = std::make_shared<rewrite>();
  a->left = products.size();
  auto gen = st.generation;
  auto one_done = [self, gen, a] {
    if (--a->left > 0 || self->state.generation != gen)
      return;
    if (a->failed)
      registration_failed(self, "a counter did not answer");
    else
      zk_all(self, std::move(a->writes),
             [self](std::vector<zk::result>& written) { reports_rewritten(self, written); });
  };
  for (std::size_t i = 0; i < products.size(); ++i) {
    const auto& p = products[i];
    auto prev = quota::decode_report(reports[i].data);
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
              rep.epoch = st.epoch;
              a->writes.push_back(set_op(st.paths.consumed(st.opts.node, p), encode(rep), -1));
              one_done();
            },
            [=](caf::error&) {
              a->failed = true;
              one_done();
            });
  }
}

/// Registration step 3a: read this node's last reports.
void resume_and_read(keeper* self) {
  auto& st = self->state;
  std::vector<starter> reads;
  std::vector<std::string> products;
  for (auto& [p, c] : st.counters) {
    products.push_back(p);
    reads.push_back(get_op(st.paths.consumed(st.opts.node, p), false));
  }
  zk_all(self, std::move(reads), [self, products](std::vector<zk::result>& results) {
    resume_counters(self, products, results);
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

}  // namespace

void registration_failed(keeper* self, const std::string& what) {
  auto& st = self->state;
  st.registering = false;
  warn_once(st.registration_problem,
            "quota keeper " + st.opts.node + ": registration: " + what + "; retrying");
  self->delayed_send(self, milliseconds{500}, register_atom_v, st.generation);
}

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
  o.login = st.opts.login;
  caf::weak_actor_ptr weak{self->ctrl()};
  auto gen = st.generation;
  try {
    st.zk = std::make_unique<zk::session>(o, [weak, gen](const zk::event& e) {
      if (auto strong = weak.lock())
        caf::anon_send(caf::actor_cast<keeper_actor>(strong), zk_event_atom_v, gen, e);
    });
  } catch (const std::exception& e) {
    spdlog::error("quota keeper {}: {}; retrying in 1 s", st.opts.node, e.what());
    self->delayed_send(self, std::chrono::seconds{1}, register_atom_v, std::uint64_t{0});
  }
}

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
                     : rc == zk::code::no_auth
                         ? " (the gateway identity may not: a wrong password or identities file?)"
                         : ""));
      return;
    }
    register_member(self);
  });
}

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

}  // namespace flashsale::keeper_parts

#include "actors/quota_keeper/reports.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "actors/quota_keeper/grants.hpp"

namespace flashsale::keeper_parts {

namespace {

using counter_figures = std::map<std::string, counter_stats>;
using written_reports = std::vector<std::pair<std::string, quota::consumption_report>>;

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

/// The claim to write for a counter reporting `s`: the counter admits only up to a claim written
/// first, so the leader can lower a gone node's grant to its last claim without granting anything
/// it sold again. It reaches two intervals of sales at the recent rate (an eighth of the grant at
/// least), so admission rarely waits for a write; it never falls below the claim in force.
std::int64_t next_claim(grant_slot& slot, const counter_stats& s) {
  auto sold = std::max<std::int64_t>(s.consumed - slot.consumed_last_tick, 0);
  slot.consumed_last_tick = s.consumed;
  auto step = std::max<std::int64_t>({16, s.grant / 8, 2 * sold});
  return std::max({std::min(s.grant, s.consumed + step), s.consumed, s.claim});
}

/// Step 3: the writes are back. Only if all succeeded does the session certainly live: then the
/// counters may sell up to their new claims, and the lease is extended from the send time.
void reports_written(keeper* self, std::int64_t sent, const written_reports& written,
                     const counter_figures& figures, std::vector<zk::result>& results) {
  auto& st = self->state;
  st.tick_busy = false;
  for (const auto& r : results)
    if (!r.ok())
      return;  // no proof the session lives: the lease is not extended
  for (const auto& [product, rep] : written) {
    auto& slot = st.grants[product];
    slot.reported = rep;
    slot.reported_at = sent;
    slot.reported_busy = figures.at(product).idle_ms < st.opts.idle_release.count();
    self->send(st.counters.at(product), claim_atom_v, rep.claimed);
  }
  // No lease before every grant was read in this session: a settled grant must reach the
  // counters before they admit again (messages to a counter arrive in order).
  for (auto& [product, slot] : st.grants)
    if (st.counters.count(product) != 0 && slot.read_in != st.generation) {
      read_grant(self, product);
      return;
    }
  auto timeout = st.zk ? st.zk->negotiated_timeout().count() : 0;
  if (timeout > 0)
    set_lease(self, sent + timeout / 2);
}

/// Step 2: with every counter's figures, write the reports that are due (or, when none is, read
/// our registration: a round trip all the same).
void write_reports(keeper* self, counter_figures figures) {
  auto& st = self->state;
  if (figures.size() != st.counters.size()) {
    st.tick_busy = false;  // a counter did not answer (logged): try again next interval
    return;
  }
  auto wall = quota::wall_ms();
  auto now = steady_ms();
  std::vector<starter> ops;
  written_reports written;
  for (auto& [product, s] : figures) {
    auto& slot = st.grants[product];
    auto claim = next_claim(slot, s);
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
    rep.epoch = st.epoch;
    ops.push_back(set_op(st.paths.consumed(st.opts.node, product), encode(rep), -1));
    written.emplace_back(product, rep);
  }
  if (ops.empty())
    ops.push_back(exists_op(st.paths.member(st.opts.node), false));
  auto sent = steady_ms();
  auto shared = std::make_shared<counter_figures>(std::move(figures));
  zk_all(self, std::move(ops),
         [self, sent, written = std::move(written), shared](std::vector<zk::result>& results) {
           reports_written(self, sent, written, *shared, results);
         });
  for (auto& [product, slot] : st.grants) {
    if (slot.stale)
      read_grant(self, product);
    else if (slot.known && slot.value.release)
      start_release(self, product);
  }
}

}  // namespace

void set_lease(keeper* self, std::int64_t until) {
  auto& st = self->state;
  st.lease_until = until;
  // The server cannot expire the session before the send time + its timeout, i.e. the lease's end
  // + half the timeout; a quarter of the timeout is kept as margin (clock rates, scheduling). A
  // confirm the gateway sees before then came while the session lived (docs/design.md).
  auto timeout = st.zk ? st.zk->negotiated_timeout().count() : 0;
  self->send(st.gateway, lease_atom_v, until > 0 ? until + timeout / 4 : std::int64_t{0});
  for (auto& [p, c] : st.counters)
    self->send(c, lease_atom_v, until);
  st.opts.ready->store(until > steady_ms() && st.registered);
}

void tick(keeper* self) {
  auto& st = self->state;
  if (st.opts.ready->load() && steady_ms() >= st.lease_until)
    st.opts.ready->store(false);
  if (!st.registered || st.tick_busy)
    return;
  st.tick_busy = true;
  // Step 1: every counter's figures.
  struct gathering {
    counter_figures figures;
    std::size_t left = 0;
  };
  auto g = std::make_shared<gathering>();
  g->left = st.counters.size();
  auto gen = st.generation;
  auto one_done = [self, gen, g] {
    if (--g->left == 0 && self->state.generation == gen)
      write_reports(self, std::move(g->figures));
  };
  for (auto& [product, counter] : st.counters) {
    self->request(counter, std::chrono::seconds{1}, stats_atom_v)
        .then(
            [=](const counter_stats& s) {
              g->figures[s.product] = s;
              one_done();
            },
            [=](caf::error& err) {
              spdlog::error("quota keeper {}: a counter did not report: {}", self->state.opts.node,
                            self->system().render(err));
              one_done();
            });
  }
}

}  // namespace flashsale::keeper_parts

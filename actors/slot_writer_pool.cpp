#include "actors/slot_writer_pool.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/sec.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/slot_writer.hpp"

namespace flashsale {

namespace {

using clock = std::chrono::steady_clock;

/// Batches handed to one slot writer at a time: the next one waits in its mailbox, so its
/// connection goes from one commit straight to the next transaction instead of waiting for the
/// pool to hear of the commit and answer (two thread wake-ups per batch, measured with
/// bench/orders: writer/direct 0.73x with one in flight).
constexpr int batches_in_flight_per_writer = 2;

struct pending_purchase {
  purchase item;
  std::uint64_t token;
  caf::strong_actor_ptr sender;
  clock::time_point arrived;
};

struct pool_state {
  slot_writer_pool_options opts;
  std::vector<slot_writer_actor> writers;
  std::vector<caf::actor_addr> writer_addresses;  // every writer spawned (links)
  std::vector<int> free;  // per writer: how many more batches it may take now
  std::map<std::string, std::deque<pending_purchase>> queues;  // by product, arrival order
  std::string last_served;                                     // round robin over products
  bool timer_armed = false;
  std::chrono::milliseconds backoff{100};
  static inline const char* name = "slot_writer_pool";
};

/// The pool's own interface: the public one and its timers.
using pool_impl_actor = slot_writer_pool_actor::extend<
    /// A partial batch's linger time is over.
    caf::reacts_to<tick_atom>,
    /// The writer at this index rested after a failure and may work again.
    caf::reacts_to<rested_atom, std::size_t>>;

using pool_actor = pool_impl_actor::stateful_pointer<pool_state>;

/// The product to serve next: a full batch waiting, or a partial one that waited `linger`; round
/// robin after the product served last. end() if none.
std::map<std::string, std::deque<pending_purchase>>::iterator pick(pool_state& st,
                                                                   clock::time_point now) {
  auto ready = [&](const std::deque<pending_purchase>& q) {
    return q.size() >= st.opts.batch_size || now - q.front().arrived >= st.opts.linger;
  };
  auto start = st.queues.upper_bound(st.last_served);
  for (auto it = start; it != st.queues.end(); ++it)
    if (ready(it->second))
      return it;
  for (auto it = st.queues.begin(); it != start; ++it)
    if (ready(it->second))
      return it;
  return st.queues.end();
}

/// Sends each sender its part of a finished batch.
template <typename Report>
void report(pool_actor self, const std::vector<caf::strong_actor_ptr>& senders, Report make) {
  if (std::all_of(senders.begin(), senders.end(),
                  [&](const caf::strong_actor_ptr& s) { return s == senders.front(); })) {
    if (senders.front() != nullptr)
      self->send(caf::actor_cast<pool_client_actor>(senders.front()),
                 make([](std::size_t) { return true; }));
    return;
  }
  std::vector<caf::strong_actor_ptr> distinct;
  for (const auto& s : senders)
    if (s != nullptr && std::find(distinct.begin(), distinct.end(), s) == distinct.end())
      distinct.push_back(s);
  for (const auto& s : distinct)
    self->send(caf::actor_cast<pool_client_actor>(s),
               make([&](std::size_t i) { return senders[i] == s; }));
}

void dispatch(pool_actor self) {
  auto& st = self->state;
  auto now = clock::now();
  // The writer with the most room (an idle one before a busy one), if any has room.
  auto pick_writer = [&]() -> std::optional<std::size_t> {
    auto best = std::max_element(st.free.begin(), st.free.end());
    if (best == st.free.end() || *best <= 0)
      return std::nullopt;
    return static_cast<std::size_t>(best - st.free.begin());
  };
  while (pick_writer()) {
    auto it = pick(st, now);
    if (it == st.queues.end())
      break;
    auto& queue = it->second;
    auto n = std::min(st.opts.batch_size, queue.size());
    std::vector<purchase> batch;
    std::vector<std::uint64_t> tokens;
    std::vector<caf::strong_actor_ptr> senders;
    batch.reserve(n);
    tokens.reserve(n);
    senders.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      auto& p = queue.front();
      batch.push_back(std::move(p.item));
      tokens.push_back(p.token);
      senders.push_back(std::move(p.sender));
      queue.pop_front();
    }
    st.last_served = it->first;
    if (queue.empty())
      st.queues.erase(it);
    auto index = *pick_writer();
    --st.free[index];
    auto target = st.writers[index];
    self->request(target, caf::infinite, write_atom_v, std::move(batch))
        .then(
            [=](std::vector<order_result>& results) {
              auto& s = self->state;
              report(self, senders, [&](auto include) {
                written_purchases w{s.opts.params.dbname, {}, {}};
                for (std::size_t i = 0; i < tokens.size(); ++i) {
                  if (!include(i))
                    continue;
                  w.tokens.push_back(tokens[i]);
                  w.results.push_back(std::move(results[i]));
                }
                return w;
              });
              s.backoff = std::chrono::milliseconds{100};
              ++s.free[index];
              dispatch(self);
            },
            [=](caf::error& err) {
              // The writer logged the failure; the sender requeues the purchases.
              auto& s = self->state;
              if (err == caf::sec::request_receiver_down && s.writers[index] == target) {
                // The writer itself is gone (not a database error): start a new one (once, though
                // each batch it held fails).
                spdlog::error("slot writer pool ({}): a slot writer stopped ({}); starting another",
                              s.opts.params.dbname, self->system().render(err));
                s.writers[index] = spawn_slot_writer(self->system(), s.opts.params);
                self->link_to(s.writers[index]);
                s.writer_addresses.push_back(caf::actor_cast<caf::actor_addr>(s.writers[index]));
              }
              report(self, senders, [&](auto include) {
                failed_purchases f{s.opts.params.dbname, {}};
                for (std::size_t i = 0; i < tokens.size(); ++i)
                  if (include(i))
                    f.tokens.push_back(tokens[i]);
                return f;
              });
              self->delayed_send(self, s.backoff, rested_atom_v, index);
              s.backoff = std::min(s.backoff * 2, s.opts.max_backoff);
            });
  }
  // A partial batch waits for its linger time, as long as a writer could take it.
  if (st.timer_armed || !pick_writer() || st.queues.empty())
    return;
  auto due = clock::time_point::max();
  for (const auto& [product, queue] : st.queues)
    due = std::min(due, queue.front().arrived + st.opts.linger);
  st.timer_armed = true;
  self->delayed_send(self, std::max(clock::duration::zero(), due - now), tick_atom_v);
}

pool_impl_actor::behavior_type pool_impl(pool_actor self, slot_writer_pool_options opts) {
  auto& st = self->state;
  st.opts = std::move(opts);
  // Linked: the writers stop with the pool. A writer that stops on its own does not stop the
  // pool; its next request fails and the pool starts a new one.
  for (int i = 0; i < st.opts.writers; ++i) {
    st.writers.push_back(spawn_slot_writer(self->system(), st.opts.params));
    self->link_to(st.writers.back());
    st.writer_addresses.push_back(caf::actor_cast<caf::actor_addr>(st.writers.back()));
    st.free.push_back(batches_in_flight_per_writer);
  }
  self->set_exit_handler([=](caf::exit_msg& msg) {
    const auto& known = self->state.writer_addresses;
    if (std::find(known.begin(), known.end(), msg.source) == known.end())
      self->quit(msg.reason);
  });
  return {
      [=](std::vector<queued_purchase>& purchases) {
        auto& s = self->state;
        auto now = clock::now();
        auto sender = self->current_sender();
        for (auto& p : purchases) {
          auto& queue = s.queues[p.item.product];
          queue.push_back(pending_purchase{std::move(p.item), p.token, sender, now});
        }
        dispatch(self);
      },
      [=](tick_atom) {
        self->state.timer_armed = false;
        dispatch(self);
      },
      [=](rested_atom, std::size_t index) {
        ++self->state.free[index];
        dispatch(self);
      },
  };
}

}  // namespace

slot_writer_pool_actor spawn_slot_writer_pool(caf::actor_system& sys,
                                              slot_writer_pool_options opts) {
  return sys.spawn(pool_impl, std::move(opts));
}

}  // namespace flashsale

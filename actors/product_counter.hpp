#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "messages/interfaces.hpp"
#include "quota/quota_counter.hpp"

namespace caf {
class actor_system;
}

namespace flashsale {

struct counter_options {
  std::int64_t initial_grant = 0;  ///< the local quota before any quota_update
  /// Admit only within a lease the quota keeper keeps extending and up to the claim it last wrote
  /// to ZooKeeper (live quotas): no lease or claim yet, or a lease that ran out, admits nothing.
  bool require_lease = false;
  /// Told the units left (grant - consumed, >= 0; 0 once sold out) and whether a reserve would now
  /// be refused as sold out (nothing left here, or the database said so), after every change (for
  /// gauges), with the counter's lock held. Must not block. Optional.
  std::function<void(std::int64_t left, bool sold_out)> on_change;
};

/// One product's quota on this gateway, shared by its counter actor (which applies what the quota
/// keeper and the writers say) and the gateway actor (which reserves and refunds here directly:
/// a purchase costs no message to a counter). Thread-safe: every call takes one mutex for a few
/// arithmetic steps and never blocks otherwise.
class counter_gate {
 public:
  counter_gate(std::int64_t initial_grant, bool require_lease,
               std::function<void(std::int64_t, bool)> on_change);

  /// Takes one unit now: reserved; throttled when only a claim is missing (units left, lease
  /// valid, the claim the keeper wrote used up); else none_left.
  reservation reserve();
  /// Gives back a unit reserved earlier.
  void refund();

  /// Runs `f(quota_counter&)` under the lock, then tells on_change (the counter actor's steps);
  /// returns what f returns (void too: the notification runs as the guard unwinds).
  template <class F>
  auto change(F&& f) {
    std::lock_guard<std::mutex> guard{mutex_};
    struct notify {
      counter_gate& g;
      ~notify() { g.changed(); }
    } n{*this};
    return f(quota_);
  }

  /// Runs `f(const quota_counter&)` under the lock (for figures).
  template <class F>
  auto read(F&& f) const {
    std::lock_guard<std::mutex> guard{mutex_};
    return f(static_cast<const quota_counter&>(quota_));
  }

 private:
  void changed();  // with the lock held

  mutable std::mutex mutex_;
  quota_counter quota_;
  std::function<void(std::int64_t, bool)> on_change_;
};

/// A product's counter: the actor (reached by the quota keeper, writers' sold-out news, stats)
/// and the gate it shares with the gateway actor.
struct product_counter {
  counter_actor actor;
  std::shared_ptr<counter_gate> gate;
};

/// Spawns the counter of one product. The counter is the only place this gateway decides whether
/// a unit may still be promised (see quota_counter for the rules: grant, lease, release).
product_counter spawn_product_counter(caf::actor_system& sys, std::string product,
                                      counter_options opts);

}  // namespace flashsale

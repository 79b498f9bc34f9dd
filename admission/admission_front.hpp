#pragma once

// The part of a gateway's decisions that needs no actor: taken on the HTTP I/O thread that read
// the request, so that the ~90% of purchases a flash sale refuses at once (lottery lost, unknown
// product, outside the sale window) cost no message, and the gateway actor sees only the rest.
// Also the gateway's live figures: per-product quota gauges, outcome counters and latency
// histograms, which GET /v1/products and GET /metrics read.
//
// Ownership and threads: one per gateway node, shared (shared_ptr) by the HTTP handler, the gateway
// actor and the product counters. Everything is thread-safe and lock-free after construction: the
// product table is immutable, the rest are atomics. The setters (window, lottery) are called by the
// gateway actor only, which orders them by version.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "admission/lottery.hpp"
#include "common/metrics.hpp"
#include "common/sale_definition.hpp"
#include "messages/messages.hpp"

namespace flashsale {

/// Where the sale stands for a buyer at a given moment.
enum class sale_state : std::uint8_t { open, not_started, closed, ended };

/// "open", "not_started", "closed", "ended".
const char* to_string(sale_state s);

/// Purchase outcomes counted in /metrics: every admission value, then bad_request (a purchase
/// whose body was refused with 400 before any decision), unauthorized (401: no valid buyer
/// token) and rate_limited (429: the client's address or user over its limit), both refused before
/// any decision.
constexpr std::size_t bad_request_outcome = static_cast<std::size_t>(admission::busy) + 1;
constexpr std::size_t unauthorized_outcome = bad_request_outcome + 1;
constexpr std::size_t rate_limited_outcome = unauthorized_outcome + 1;
constexpr std::size_t outcome_count = rate_limited_outcome + 1;

/// The name of outcome `i` (< outcome_count) in metrics and stats: "accepted", ..., "bad_request",
/// "unauthorized", "rate_limited".
const char* outcome_name(std::size_t i);

/// Live figures of one product at this gateway, written by its product counter.
struct product_gauges {
  metrics::gauge quota_left;          ///< grant - consumed at this gateway (>= 0)
  std::atomic<bool> sold_out{false};  ///< a purchase here would now be answered sold out
};

class admission_front {
 public:
  /// keep_one_in = K of the lottery (>= 1), drawing with `draw_key` over the whole sale until
  /// set_lottery() gives the sale's own setting.
  admission_front(const sale_definition& sale, std::uint32_t keep_one_in,
                  const crypto::hash_key& draw_key);

  /// The first steps of a purchase, in this order: unknown product, sale window, lottery. Returns
  /// the final answer (unknown_product, not_started, closed, ended or shed), or nullopt when the
  /// purchase goes on to the gateway actor (per-user check, quota, publish). `user` is the buyer
  /// the lottery draws for; `now_ms` is the wall clock (ms since the epoch). Counts nothing; see
  /// finished().
  std::optional<admission> screen(const std::string& product, std::string_view user,
                                  std::int64_t now_ms);

  /// The window as the operator's mode and the sale's times say at `now_ms`.
  sale_state state_at(std::int64_t now_ms) const;

  /// The operator's window mode (gateway actor only).
  void set_window(window_mode mode) { window_.store(mode, std::memory_order_relaxed); }
  window_mode window() const { return window_.load(std::memory_order_relaxed); }

  /// A new lottery setting: keep 1 buyer in K, the sale's draw secret, the draw window (0: the
  /// whole sale) (gateway actor only).
  void set_lottery(std::uint32_t keep_one_in, const crypto::hash_key& draw_key,
                   std::int64_t window_ms) {
    draw_.reset(keep_one_in, draw_key, window_ms);
  }
  const lottery& draw() const { return draw_; }
  std::uint32_t keep_one_in() const { return draw_.keep_one_in(); }

  const sale_definition& sale() const { return sale_; }

  /// The gauges of `product`, nullptr for a product not on sale. Valid as long as this object.
  product_gauges* gauges(const std::string& product);
  const product_gauges* gauges(const std::string& product) const;

  // -- accounting (any thread) --

  /// A purchase went on to the gateway actor; finished() ends it.
  void started() { in_flight_.add(1); }
  /// Counts one purchase request under its outcome (index of admission, or bad_request_outcome)
  /// with the time from reading it to answering; `was_in_flight` ends what started() began.
  void finished(std::size_t outcome, std::chrono::nanoseconds took, bool was_in_flight);
  void publish_confirmed() { confirms_.add(); }
  void publish_refused() { nacks_.add(); }
  /// A publish whose fate is unknown (sent, no confirm): its unit is not refunded.
  void publish_unconfirmed() { unconfirmed_.add(); }
  /// Purchases of unknown fate whose message the publisher bridge is re-sending now.
  void publish_in_doubt(std::int64_t purchases) { in_doubt_.set(purchases); }

  std::uint64_t outcome_total(std::size_t outcome) const { return outcomes_[outcome].value(); }
  const metrics::latency_histogram& purchase_latency() const { return purchase_latency_; }
  const metrics::latency_histogram& accepted_latency() const { return accepted_latency_; }
  std::uint64_t publish_confirms() const { return confirms_.value(); }
  std::uint64_t publish_nacks() const { return nacks_.value(); }
  std::uint64_t publish_unconfirmed() const { return unconfirmed_.value(); }
  std::int64_t publish_in_doubt() const { return in_doubt_.value(); }
  std::int64_t in_flight() const { return in_flight_.value(); }

 private:
  sale_definition sale_;
  std::unordered_map<std::string, std::unique_ptr<product_gauges>> products_;  // immutable keys
  std::atomic<window_mode> window_{window_mode::scheduled};
  lottery draw_;
  std::vector<metrics::counter> outcomes_;
  metrics::latency_histogram purchase_latency_;
  metrics::latency_histogram accepted_latency_;
  metrics::counter confirms_;
  metrics::counter nacks_;
  metrics::counter unconfirmed_;
  metrics::gauge in_doubt_;
  metrics::gauge in_flight_;
};

}  // namespace flashsale

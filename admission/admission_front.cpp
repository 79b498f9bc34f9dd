#include "admission/admission_front.hpp"

namespace flashsale {

const char* to_string(sale_state s) {
  switch (s) {
    case sale_state::open:
      return "open";
    case sale_state::not_started:
      return "not_started";
    case sale_state::closed:
      return "closed";
    case sale_state::ended:
      return "ended";
  }
  return "invalid";
}

const char* outcome_name(std::size_t i) {
  if (i == bad_request_outcome)
    return "bad_request";
  if (i == unauthorized_outcome)
    return "unauthorized";
  if (i == rate_limited_outcome)
    return "rate_limited";
  return to_string(static_cast<admission>(i));
}

admission_front::admission_front(const sale_definition& sale, std::uint32_t keep_one_in,
                                 const crypto::hash_key& draw_key)
    : sale_(sale), draw_(keep_one_in, draw_key), outcomes_(outcome_count) {
  for (const auto& p : sale_.products)
    products_.emplace(p.id, std::make_unique<product_gauges>());
}

sale_state admission_front::state_at(std::int64_t now_ms) const {
  switch (window()) {
    case window_mode::open:
      return sale_state::open;
    case window_mode::closed:
      return sale_state::closed;
    case window_mode::scheduled:
      break;
  }
  if (sale_.opens_at_ms != 0 && now_ms < sale_.opens_at_ms)
    return sale_state::not_started;
  if (sale_.closes_at_ms != 0 && now_ms >= sale_.closes_at_ms)
    return sale_state::ended;
  return sale_state::open;
}

std::optional<admission> admission_front::screen(const std::string& product, std::string_view user,
                                                 std::int64_t now_ms) {
  if (products_.find(product) == products_.end())
    return admission::unknown_product;
  switch (state_at(now_ms)) {
    case sale_state::not_started:
      return admission::not_started;
    case sale_state::closed:
      return admission::closed;
    case sale_state::ended:
      return admission::ended;
    case sale_state::open:
      break;
  }
  if (!draw_.draw(user, now_ms))
    return admission::shed;
  return std::nullopt;
}

product_gauges* admission_front::gauges(const std::string& product) {
  auto i = products_.find(product);
  return i == products_.end() ? nullptr : i->second.get();
}

const product_gauges* admission_front::gauges(const std::string& product) const {
  auto i = products_.find(product);
  return i == products_.end() ? nullptr : i->second.get();
}

void admission_front::finished(std::size_t outcome, std::chrono::nanoseconds took,
                               bool was_in_flight) {
  if (outcome < outcomes_.size())
    outcomes_[outcome].add();
  purchase_latency_.observe(took);
  if (outcome == static_cast<std::size_t>(admission::accepted))
    accepted_latency_.observe(took);
  if (was_in_flight)
    in_flight_.add(-1);
}

}  // namespace flashsale

#include "messages/messages.hpp"

namespace flashsale {

namespace {

constexpr const char* order_status_names[] = {"queued",     "confirmed", "duplicate_request",
                                              "user_limit", "sold_out",  "unknown_product",
                                              "fenced"};

constexpr const char* admission_names[] = {
    "accepted",        "shed",        "sold_out", "already_bought", "queue_refused",
    "unknown_product", "not_started", "closed",   "ended",          "busy"};

constexpr const char* window_mode_names[] = {"scheduled", "open", "closed"};

}  // namespace

const char* to_string(order_status s) {
  auto i = static_cast<std::size_t>(s);
  return i < std::size(order_status_names) ? order_status_names[i] : "invalid";
}

bool from_string(const std::string& name, order_status& out) {
  for (std::size_t i = 0; i < std::size(order_status_names); ++i) {
    if (name == order_status_names[i]) {
      out = static_cast<order_status>(i);
      return true;
    }
  }
  return false;
}

const char* to_string(admission a) {
  auto i = static_cast<std::size_t>(a);
  return i < std::size(admission_names) ? admission_names[i] : "invalid";
}

const char* to_string(window_mode m) {
  auto i = static_cast<std::size_t>(m);
  return i < std::size(window_mode_names) ? window_mode_names[i] : "invalid";
}

}  // namespace flashsale

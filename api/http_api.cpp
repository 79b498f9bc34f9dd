#include "api/http_api.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "admission/admission_front.hpp"
#include "admission/buyer_auth.hpp"
#include "admission/rate_limiter.hpp"
#include "common/metrics.hpp"
#include "common/sale_definition.hpp"
#include "common/utc_time.hpp"

namespace flashsale::api {

namespace {

std::string path_of(const std::string& target) {
  auto q = target.find('?');
  return q == std::string::npos ? target : target.substr(0, q);
}

bool starts_with(const std::string& s, const char* prefix, std::size_t n) {
  return s.compare(0, n, prefix) == 0;
}

}  // namespace

route match(const std::string& method, const std::string& target) {
  auto path = path_of(target);
  route r;
  auto expect = [&](const char* m, route_kind k) {
    r.kind = method == m ? k : route_kind::method_not_allowed;
  };
  static constexpr char products[] = "/v1/products/";
  static constexpr char orders[] = "/v1/orders/";
  static constexpr char purchase_suffix[] = "/purchase";
  if (path == "/healthz") {
    expect("GET", route_kind::healthz);
  } else if (path == "/metrics") {
    expect("GET", route_kind::metrics);
  } else if (starts_with(path, products, sizeof(products) - 1)) {
    auto rest = path.substr(sizeof(products) - 1);
    auto slash = rest.find('/');
    if (slash == std::string::npos) {
      r.product = rest;
      expect("GET", route_kind::product);
    } else if (rest.substr(slash) == purchase_suffix) {
      r.product = rest.substr(0, slash);
      expect("POST", route_kind::purchase);
    }
    if (r.product.empty())
      r.kind = route_kind::not_found;
  } else if (starts_with(path, orders, sizeof(orders) - 1)) {
    r.ticket = path.substr(sizeof(orders) - 1);
    if (r.ticket.empty() || r.ticket.find('/') != std::string::npos)
      r.kind = route_kind::not_found;
    else
      expect("GET", route_kind::order);
  }
  return r;
}

std::optional<std::string> parse_purchase_body(const std::string& body, std::string& error,
                                               bool user_required) {
  if (!user_required && body.empty())
    return std::string();
  auto doc = nlohmann::json::parse(body, nullptr, false);
  if (doc.is_discarded()) {
    error = "body is not valid JSON";
    return std::nullopt;
  }
  if (!doc.is_object()) {
    error = "body must be a JSON object like {\"user\": \"alice\"}";
    return std::nullopt;
  }
  auto user = doc.find("user");
  if (!user_required && user == doc.end())
    return std::string();
  if (user == doc.end() || !user->is_string()) {
    error = "field \"user\" (a string) is required";
    return std::nullopt;
  }
  auto value = user->get<std::string>();
  if (const char* problem = user_id_problem(value)) {
    error = std::string("field \"user\": ") + problem;
    return std::nullopt;
  }
  return value;
}

http::response rate_limited_response(std::chrono::milliseconds retry_after, const char* who) {
  auto seconds = std::max<long long>(1, (retry_after.count() + 999) / 1000);
  http::response r{429,
                   nlohmann::json{{"status", "rate_limited"},
                                  {"error", std::string("too many requests from this ") + who +
                                                ", retry after " + std::to_string(seconds) + " s"}}
                       .dump(),
                   "application/json",
                   {}};
  r.headers.emplace_back("Retry-After", std::to_string(seconds));
  return r;
}

http::response unauthorized_response(auth_refusal reason) {
  http::response r{
      401,
      nlohmann::json{
          {"status", "unauthorized"}, {"reason", to_string(reason)}, {"error", describe(reason)}}
          .dump(),
      "application/json",
      {}};
  r.headers.emplace_back("WWW-Authenticate",
                         reason == auth_refusal::missing
                             ? R"(Bearer realm="flashsale")"
                             : R"(Bearer realm="flashsale", error="invalid_token")");
  return r;
}

http::response error_response(int status, const std::string& message) {
  return http::response{status, nlohmann::json{{"error", message}}.dump(), "application/json", {}};
}

http::response purchase_response(const purchase_reply& reply, std::int64_t opens_at_ms) {
  auto status_body = [](int status, const char* state, const char* message) {
    return http::response{status,
                          nlohmann::json{{"status", state}, {"error", message}}.dump(),
                          "application/json",
                          {}};
  };
  // Answers a client may retry: with Retry-After.
  auto retry_later = [&](int status, const char* state, const char* message) {
    auto r = status_body(status, state, message);
    r.headers.emplace_back("Retry-After", "1");
    return r;
  };
  switch (reply.outcome) {
    case admission::accepted: {
      http::response r{202,
                       nlohmann::json{{"ticket", reply.ticket}, {"status", "queued"}}.dump(),
                       "application/json",
                       {}};
      r.headers.emplace_back("Location", "/v1/orders/" + reply.ticket);
      return r;
    }
    case admission::shed: {
      // Most answers of a sale: built once.
      static const http::response shed =
          retry_later(429, "shed", "too many buyers: this attempt lost the lottery, retry later");
      return shed;
    }
    case admission::sold_out:
      return status_body(410, "sold_out", "sold out");
    case admission::already_bought:
      return status_body(409, "already_bought", "this user already bought this product");
    case admission::queue_refused:
      return retry_later(503, "unavailable", "the order queue refused the purchase, retry later");
    case admission::unknown_product:
      return error_response(404, "unknown product");
    case admission::not_started: {
      nlohmann::json j{{"status", "not_started"}, {"error", "the sale has not started yet"}};
      if (opens_at_ms != 0)
        j["opens_at"] = format_utc_time(opens_at_ms);
      return http::response{403, j.dump(), "application/json", {}};
    }
    case admission::closed:
      return status_body(403, "closed", "the sale is closed");
    case admission::ended:
      return status_body(410, "ended", "the sale has ended");
    case admission::busy:
      return retry_later(503, "busy", "units are being claimed for this gateway, retry now");
  }
  return error_response(500, "internal error");
}

http::response product_response(const admission_front& front, const std::string& product,
                                std::int64_t now_ms) {
  const auto* gauges = front.gauges(product);
  if (gauges == nullptr)
    return error_response(404, "unknown product");
  const auto& sale = front.sale();
  auto time_or_null = [](std::int64_t ms) {
    return ms == 0 ? nlohmann::json(nullptr) : nlohmann::json(format_utc_time(ms));
  };
  nlohmann::json j{{"product", product},
                   {"sale", sale.name},
                   {"state", to_string(front.state_at(now_ms))},
                   {"opens_at", time_or_null(sale.opens_at_ms)},
                   {"closes_at", time_or_null(sale.closes_at_ms)},
                   {"keep_one_in", front.keep_one_in()},
                   {"quota_left", gauges->quota_left.value()},
                   {"sold_out", gauges->sold_out.load(std::memory_order_relaxed)}};
  return http::response{200, j.dump(), "application/json", {}};
}

http::response metrics_response(const admission_front& front, const http::server_stats& server,
                                const guards_view& guards) {
  metrics::exposition out;
  out.family("flashsale_purchases_total", "Purchase requests by outcome.", "counter");
  for (std::size_t i = 0; i < outcome_count; ++i) {
    out.sample("flashsale_purchases_total", std::string("outcome=\"") + outcome_name(i) + '"',
               front.outcome_total(i));
  }
  if (guards.auth != nullptr) {
    out.family("flashsale_auth_refused_total",
               "Purchases refused with 401 before any decision, by reason.", "counter");
    for (std::size_t i = 0; i < auth_refusal_count; ++i) {
      auto r = static_cast<auth_refusal>(i);
      out.sample("flashsale_auth_refused_total", std::string("reason=\"") + to_string(r) + '"',
                 guards.auth->refused(r));
    }
  }
  const std::pair<const char*, const rate_limiter*> limiters[] = {{"address", guards.per_address},
                                                                  {"user", guards.per_user}};
  out.family("flashsale_rate_limited_total",
             "Purchases refused with 429 rate_limited, by the limit that refused them.", "counter");
  for (auto [by, limiter] : limiters)
    if (limiter != nullptr && limiter->enabled())
      out.sample("flashsale_rate_limited_total", std::string("by=\"") + by + '"',
                 limiter->refused());
  out.family("flashsale_rate_limit_overflow_total",
             "New clients let through unlimited because the limit's table was full.", "counter");
  for (auto [by, limiter] : limiters)
    if (limiter != nullptr && limiter->enabled())
      out.sample("flashsale_rate_limit_overflow_total", std::string("by=\"") + by + '"',
                 limiter->overflowed());
  out.family("flashsale_purchase_duration_seconds",
             "Time from reading a purchase request to its answer.", "histogram");
  out.histogram("flashsale_purchase_duration_seconds", "", front.purchase_latency());
  out.family("flashsale_accepted_duration_seconds",
             "Time to answer accepted purchases (includes the broker's confirm).", "histogram");
  out.histogram("flashsale_accepted_duration_seconds", "", front.accepted_latency());
  out.family("flashsale_purchases_in_flight", "Purchases past the lottery not yet answered.",
             "gauge");
  out.sample("flashsale_purchases_in_flight", "", front.in_flight());
  out.family("flashsale_publish_confirms_total", "Purchases the broker confirmed.", "counter");
  out.sample("flashsale_publish_confirms_total", "", front.publish_confirms());
  out.family("flashsale_publish_nacks_total",
             "Purchases the broker refused: certainly not stored (unit refunded, 503).", "counter");
  out.sample("flashsale_publish_nacks_total", "", front.publish_nacks());
  out.family("flashsale_publish_unconfirmed_total",
             "Purchases published without a confirm (connection lost or confirm timeout): maybe "
             "stored, so their units are not refunded.",
             "counter");
  out.sample("flashsale_publish_unconfirmed_total", "", front.publish_unconfirmed());
  out.family("flashsale_publish_in_doubt",
             "Purchases of unknown fate whose message is being re-sent until the broker confirms "
             "a copy (a writer absorbs a second copy by request id).",
             "gauge");
  out.sample("flashsale_publish_in_doubt", "", front.publish_in_doubt());
  out.family("flashsale_keep_one_in", "Lottery: one purchase in K is kept.", "gauge");
  out.sample("flashsale_keep_one_in", "", static_cast<std::uint64_t>(front.keep_one_in()));
  out.family("flashsale_quota_left", "Units this gateway may still admit, per product.", "gauge");
  for (const auto& p : front.sale().products)
    out.sample("flashsale_quota_left", "product=\"" + p.id + '"',
               front.gauges(p.id)->quota_left.value());
  out.family("flashsale_http_connections_open", "Open HTTP connections.", "gauge");
  out.sample("flashsale_http_connections_open", "", server.connections_open);
  out.family("flashsale_http_requests_total", "Complete HTTP requests read.", "counter");
  out.sample("flashsale_http_requests_total", "", server.requests);
  out.family("flashsale_http_refused_total",
             "Requests or connections the HTTP server refused itself, by reason.", "counter");
  out.sample("flashsale_http_refused_total", "reason=\"bad_request\"", server.bad_requests);
  out.sample("flashsale_http_refused_total", "reason=\"timeout\"", server.timeouts);
  out.sample("flashsale_http_refused_total", "reason=\"body_too_large\"", server.bodies_too_large);
  out.sample("flashsale_http_refused_total", "reason=\"header_too_large\"",
             server.headers_too_large);
  out.sample("flashsale_http_refused_total", "reason=\"too_many_connections\"",
             server.connections_rejected);
  out.sample("flashsale_http_refused_total", "reason=\"too_many_connections_from_address\"",
             server.connections_rejected_per_address);
  return http::response{200, out.text(), "text/plain; version=0.0.4", {}};
}

http::response health_response(bool broker_up, bool quota_ready) {
  if (!broker_up)
    return http::response{503, R"({"status":"broker unreachable"})", "application/json", {}};
  if (!quota_ready)
    return http::response{503, R"({"status":"no quota session"})", "application/json", {}};
  return http::response{200, R"({"status":"ok"})", "application/json", {}};
}

http::response ticket_response(const std::optional<ticket_view>& state) {
  if (!state)
    return error_response(404, "unknown ticket");
  nlohmann::json j{{"ticket", state->ticket},
                   {"request_id", state->request_id},
                   {"product", state->product},
                   {"user", state->user},
                   {"status", to_string(state->status)}};
  if (state->order_id != 0)
    j["order_id"] = state->order_id;
  return http::response{200, j.dump(), "application/json", {}};
}

}  // namespace flashsale::api

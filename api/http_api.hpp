#pragma once

// The gateway's HTTP API (docs/http-api.md), as pure functions: routing, request bodies and
// the mapping of gateway decisions to status codes and JSON. No CAF, no Beast: unit-tested
// directly.
//
// Status codes: 202 accepted (ticket), 429 shed (lottery lost; retry later) or rate_limited (the
// client's address or user over its rate limit, Retry-After), 410 sold out at this
// gateway, 409 already bought (per-user limit), 503 queue refused (unit refunded; retry later),
// 403 not started (with opens_at) or closed by the operator, 410 ended (the window is over),
// 404 unknown product / ticket / path, 405 wrong method, 400 malformed JSON or user (or a user
// other than the buyer token's), 401 no valid buyer token.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "adapters/http/server.hpp"
#include "messages/messages.hpp"

namespace flashsale {
class admission_front;
class buyer_authenticator;
class rate_limiter;
enum class auth_refusal : std::uint8_t;
}  // namespace flashsale

namespace flashsale::api {

enum class route_kind { purchase, order, product, healthz, metrics, not_found, method_not_allowed };

struct route {
  route_kind kind = route_kind::not_found;
  std::string product;  ///< for purchase and product
  std::string ticket;   ///< for order
};

/// Maps method and target ("/v1/products/TV/purchase?x") to a route. Never throws.
route match(const std::string& method, const std::string& target);

/// Extracts the user of a purchase body {"user": "..."}: a non-empty string of at most 128
/// printable characters. On failure returns nullopt and sets `error` to a message for the client.
/// With `user_required` false (a buyer token names the user), "user" may be absent and the body
/// empty: the result is then "".
std::optional<std::string> parse_purchase_body(const std::string& body, std::string& error,
                                               bool user_required = true);

/// 429 for a client over its rate limit: {"status":"rate_limited","error":...} with Retry-After
/// (whole seconds, at least 1). `who`: "address" or "user".
http::response rate_limited_response(std::chrono::milliseconds retry_after, const char* who);

/// 401 for a purchase without a valid buyer token: {"status":"unauthorized","reason":...,
/// "error":...} and WWW-Authenticate: Bearer (RFC 6750).
http::response unauthorized_response(auth_refusal reason);

/// The answer to a purchase decision. `opens_at_ms` (the sale's, 0 = none) is quoted in the
/// answer to a purchase before the sale opened.
http::response purchase_response(const purchase_reply& reply, std::int64_t opens_at_ms = 0);

/// GET /v1/products/{product}: 200 with the sale state at `now_ms` (open, not_started, closed,
/// ended), the window, the lottery ratio and this gateway's quota left; 404 for an unknown product.
http::response product_response(const admission_front& front, const std::string& product,
                                std::int64_t now_ms);

/// The gateway's guards in front of the admission front; each may be absent (off).
struct guards_view {
  const buyer_authenticator* auth = nullptr;
  const rate_limiter* per_address = nullptr;
  const rate_limiter* per_user = nullptr;
};

/// GET /metrics: the front's counters and histograms, the guards' refusals (token refusals by
/// reason, rate-limited purchases by key) and the HTTP server's figures, in the Prometheus text
/// format 0.0.4.
http::response metrics_response(const admission_front& front, const http::server_stats& server,
                                const guards_view& guards = {});

/// GET /healthz: 200 {"status":"ok"} when purchases can be confirmed (`broker_up`: the publisher's
/// connection is open) and admitted (`quota_ready`: registered in ZooKeeper, the counters' quota
/// lease is valid); otherwise 503 with the first reason ("broker unreachable", "no quota session").
http::response health_response(bool broker_up, bool quota_ready);

/// {"error": message} with the given status.
http::response error_response(int status, const std::string& message);

/// The answer to GET /v1/orders/{ticket}: 200 with the ticket's state, 404 when unknown.
http::response ticket_response(const std::optional<ticket_view>& state);

}  // namespace flashsale::api

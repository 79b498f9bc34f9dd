#include "api/gateway_controller.hpp"

#include <chrono>
#include <stdexcept>
#include <string>
#include <utility>

#include "admission/admission_front.hpp"
#include "admission/buyer_auth.hpp"
#include "admission/rate_limiter.hpp"
#include "api/http_api.hpp"
#include "common/utc_time.hpp"

namespace flashsale::api {

gateway_controller::gateway_controller(controller_links links) : links_(std::move(links)) {
  if (!links_.front || !links_.purchase || !links_.ticket || !links_.broker_up ||
      !links_.quota_ready)
    throw std::invalid_argument("gateway_controller: every link is required");
}

void gateway_controller::handle(http::request&& req, std::shared_ptr<http::responder> reply) const {
  auto r = match(req.method, req.target);
  switch (r.kind) {
    case route_kind::purchase:
      purchase(std::move(req), std::move(r.product), std::move(reply));
      return;
    case route_kind::order:
      links_.ticket(ticket_query{
          std::move(r.ticket),
          [reply](const std::optional<ticket_view>& view) { reply->send(ticket_response(view)); }});
      return;
    case route_kind::product:
      reply->send(product_response(*links_.front, r.product, utc_now_ms()));
      return;
    case route_kind::metrics: {
      const auto* server = server_.load();
      reply->send(metrics_response(
          *links_.front, server != nullptr ? server->stats() : http::server_stats{},
          guards_view{links_.auth.get(), links_.per_address.get(), links_.per_user.get()}));
      return;
    }
    case route_kind::healthz:
      reply->send(health_response(links_.broker_up->load(), links_.quota_ready->load()));
      return;
    case route_kind::method_not_allowed:
      reply->send(error_response(405, "method not allowed"));
      return;
    case route_kind::not_found:
      reply->send(error_response(404, "no such resource"));
      return;
  }
}

void gateway_controller::purchase(http::request&& req, std::string product,
                                  std::shared_ptr<http::responder> reply) const {
  auto start = std::chrono::steady_clock::now();
  auto now_ms = utc_now_ms();  // one wall-clock read for the token check and the sale window
  auto front = links_.front;
  auto refuse = [&](std::size_t outcome, http::response r) {
    front->finished(outcome, std::chrono::steady_clock::now() - start, false);
    reply->send(std::move(r));
  };
  // Per address first: a flood from one address costs no token check.
  if (links_.per_address)
    if (auto wait = links_.per_address->take(req.peer, start))
      return refuse(rate_limited_outcome, rate_limited_response(*wait, "address"));
  std::string token_user;
  if (links_.auth) {
    auto verdict = links_.auth->verify(req.authorization, now_ms / 1000);
    if (verdict.refusal)
      return refuse(unauthorized_outcome, unauthorized_response(*verdict.refusal));
    token_user = std::move(verdict.user);
  }
  std::string error;
  auto user = parse_purchase_body(req.body, error, !links_.auth);
  if (!user)
    return refuse(bad_request_outcome, error_response(400, error));
  if (links_.auth) {
    if (!user->empty() && *user != token_user)
      return refuse(bad_request_outcome,
                    error_response(400, "field \"user\" names another user than the buyer token"));
    user = std::move(token_user);
  }
  if (links_.per_user)
    if (auto wait = links_.per_user->take(*user, start))
      return refuse(rate_limited_outcome, rate_limited_response(*wait, "user"));
  // Counts the purchase under its outcome, then answers it.
  auto finish = [front, start, opens_at = front->sale().opens_at_ms](
                    http::responder& out, const purchase_reply& decision, bool was_in_flight) {
    front->finished(static_cast<std::size_t>(decision.outcome),
                    std::chrono::steady_clock::now() - start, was_in_flight);
    out.send(purchase_response(decision, opens_at));
  };
  if (auto early = front->screen(product, *user, now_ms)) {
    finish(*reply, purchase_reply{*early, {}}, false);
    return;
  }
  front->started();
  links_.purchase(purchase_call{
      std::move(product), std::move(*user), std::move(req.idempotency_key),
      [reply, finish](const purchase_reply& decision) { finish(*reply, decision, true); }});
}

}  // namespace flashsale::api

#pragma once

// The gateway's HTTP controller: answers each request on the HTTP I/O thread that read it. What
// the buyer token and the admission front decide (no valid token, bad body, unknown product, sale
// window, lottery) is answered right there, at no cost to anything else; a purchase that goes on
// and a ticket lookup are handed to the gateway actor through the two calls the node wires, and
// answered from the actor's thread. No CAF header: the actor is reached through std::function
// (unit-testable without an actor).

#include <atomic>
#include <functional>
#include <memory>

#include "adapters/http/server.hpp"
#include "messages/gateway_calls.hpp"

namespace flashsale {
class admission_front;
class buyer_authenticator;
class rate_limiter;
}  // namespace flashsale

namespace flashsale::api {

/// What the controller works with. Every member but `auth`, `per_address` and `per_user` is
/// required.
struct controller_links {
  std::shared_ptr<admission_front> front;
  /// Checks each purchase's buyer token; none: authentication is off and the body names the user.
  std::shared_ptr<const buyer_authenticator> auth;
  /// Token buckets per client address and per user (the token's, or the body's without tokens);
  /// none: no limit.
  std::shared_ptr<rate_limiter> per_address;
  std::shared_ptr<rate_limiter> per_user;
  /// Hands a purchase that passed the front to the gateway actor (must not block).
  std::function<void(purchase_call)> purchase;
  /// Hands a ticket lookup to the gateway actor (must not block).
  std::function<void(ticket_query)> ticket;
  std::shared_ptr<std::atomic<bool>> broker_up;    ///< the publisher's connection is open
  std::shared_ptr<std::atomic<bool>> quota_ready;  ///< the quota keeper's readiness
};

class gateway_controller {
 public:
  explicit gateway_controller(controller_links links);

  /// Answers one request, exactly once through `reply`: routes, 429 rate_limited for a purchase
  /// over its address's or user's limit, 401 for a purchase without a valid buyer token (when
  /// `auth` is set), 400 for a malformed purchase body or one naming
  /// another user than the token, 404/405 for other paths and methods, and counts every purchase
  /// in the front (outcome and latency). Thread-safe: called on every I/O thread at once. Never
  /// blocks.
  void handle(http::request&& req, std::shared_ptr<http::responder> reply) const;

  /// The server whose figures GET /metrics shows (none until set). Set it before start(); the
  /// server must outlive every later call of handle().
  void observe(const http::server* server) { server_.store(server); }

  /// handle() as an http::handler; `this` must outlive the server.
  http::handler handler() const {
    return [this](http::request&& req, std::shared_ptr<http::responder> reply) {
      handle(std::move(req), std::move(reply));
    };
  }

 private:
  void purchase(http::request&& req, std::string product,
                std::shared_ptr<http::responder> reply) const;

  controller_links links_;
  std::atomic<const http::server*> server_{nullptr};
};

}  // namespace flashsale::api

#include "api/http_api.hpp"

#include <nlohmann/json.hpp>

#include "common/sale_definition.hpp"

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

std::optional<std::string> parse_purchase_body(const std::string& body, std::string& error) {
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
  if (user == doc.end() || !user->is_string()) {
    error = "field \"user\" (a string) is required";
    return std::nullopt;
  }
  auto value = user->get<std::string>();
  if (value.empty() || value.size() > 128) {
    error = "field \"user\" must have 1 to 128 characters";
    return std::nullopt;
  }
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7f) {
      error = "field \"user\" must not contain control characters";
      return std::nullopt;
    }
  }
  return value;
}

http::response error_response(int status, const std::string& message) {
  return http::response{status, nlohmann::json{{"error", message}}.dump(), "application/json", {}};
}

http::response purchase_response(const purchase_reply& reply) {
  auto status_body = [](int status, const char* state, const char* message) {
    return http::response{status,
                          nlohmann::json{{"status", state}, {"error", message}}.dump(),
                          "application/json",
                          {}};
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
      auto r =
          status_body(429, "shed", "too many buyers: this attempt lost the lottery, retry later");
      r.headers.emplace_back("Retry-After", "1");
      return r;
    }
    case admission::sold_out:
      return status_body(410, "sold_out", "sold out");
    case admission::already_bought:
      return status_body(409, "already_bought", "this user already bought this product");
    case admission::queue_refused: {
      auto r = status_body(503, "unavailable", "the order queue refused the purchase, retry later");
      r.headers.emplace_back("Retry-After", "1");
      return r;
    }
    case admission::unknown_product:
      return error_response(404, "unknown product");
  }
  return error_response(500, "internal error");
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

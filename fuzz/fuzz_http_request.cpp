// Raw bytes as a buyer's client sends them, through the gateway's own request parser and its HTTP
// controller (route, rate limits, buyer token, body, admission front), as one I/O thread would
// handle them. For any input: no crash, exactly one answer with a valid status, and a purchase
// reaches the gateway actor only with a valid buyer token for the sale. The text "@TOKEN@" in an
// input is replaced by a valid token of user "fuzzer" (so the seed corpus never expires).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/buffer.hpp>

#include "adapters/http/request_parser.hpp"
#include "admission/admission_front.hpp"
#include "admission/buyer_auth.hpp"
#include "admission/rate_limiter.hpp"
#include "api/gateway_controller.hpp"
#include "common/utc_time.hpp"

namespace {

using namespace flashsale;

const crypto::secret_key key(32, 0x42);

struct counting_responder : http::responder {
  int answers = 0;
  int status = 0;
  void send(http::response r) override {
    ++answers;
    status = r.status;
  }
};

struct gateway_under_test {
  sale_definition sale;
  std::shared_ptr<admission_front> front;
  std::shared_ptr<const buyer_authenticator> auth;
  std::unique_ptr<api::gateway_controller> controller;
  int purchases = 0;  ///< calls that reached the (stand-in) gateway actor

  gateway_under_test() {
    sale.name = "fuzz";
    sale.products.push_back(product_definition{"TV", 10, 2, 1, false, "flashsale"});
    sale.products.push_back(product_definition{"Phone", 100, 4, 2, false, "flashsale"});
    // K = 1: the lottery keeps every buyer, so that purchases reach the (stand-in) actor.
    front = std::make_shared<admission_front>(sale, 1, crypto::hash_key{7, 9});
    auth =
        std::make_shared<const buyer_authenticator>("fuzz", std::vector<crypto::secret_key>{key});
    api::controller_links links;
    links.front = front;
    links.auth = auth;
    links.per_address = std::make_shared<rate_limiter>(rate_limit{1e9, 1e9});
    links.per_user = std::make_shared<rate_limiter>(rate_limit{1e9, 1e9});
    links.purchase = [this](purchase_call c) {
      ++purchases;
      c.done(purchase_reply{admission::accepted, "t-1"});
    };
    links.ticket = [](ticket_query q) { q.done(std::nullopt); };
    links.broker_up = std::make_shared<std::atomic<bool>>(true);
    links.quota_ready = std::make_shared<std::atomic<bool>>(true);
    controller = std::make_unique<api::gateway_controller>(std::move(links));
  }
};

std::string with_token(std::string text) {
  static const std::string marker = "@TOKEN@";
  auto at = text.find(marker);
  if (at != std::string::npos)
    text.replace(at, marker.size(),
                 issue_buyer_token(key, "fuzz", "fuzzer", utc_now_ms() / 1000, 600));
  return text;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static gateway_under_test gw;
  auto bytes = with_token(std::string(reinterpret_cast<const char*>(data), size));
  http::detail::request_parser parser(8192, 4096);
  boost::system::error_code ec;
  std::size_t offset = 0;
  while (offset < bytes.size() && !parser.is_done()) {
    auto used = parser.put(boost::asio::buffer(bytes.data() + offset, bytes.size() - offset), ec);
    offset += used;
    if (ec || used == 0)
      break;
  }
  if (!parser.is_done())
    return 0;  // the server answers 400/413/431 or waits for more: the controller never sees it
  http::request req = std::move(parser.message());
  req.peer = "10.0.0.1";
  auto authorization = req.authorization;
  bool is_purchase = req.method == "POST";
  auto reply = std::make_shared<counting_responder>();
  int before = gw.purchases;
  gw.controller->handle(std::move(req), reply);
  if (reply->answers != 1 || reply->status < 200 || reply->status > 599)
    std::abort();  // every request gets exactly one valid answer
  if (gw.purchases != before) {
    // Reached the actor: only a purchase with a valid token for this sale may.
    if (!is_purchase || gw.auth->verify(authorization, utc_now_ms() / 1000).refusal)
      std::abort();
  }
  return 0;
}

// A RabbitMQ message body, as a writer receives it: decoding never crashes, and what decodes
// encodes back to a body that decodes to the same purchases.

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "messages/codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace flashsale;
  auto decoded = decode_purchases(reinterpret_cast<const char*>(data), size);
  if (!decoded)
    return 0;
  if (decoded->empty() || decoded->size() > max_purchases_per_message)
    std::abort();  // the decoder promises 1..max purchases
  for (const auto& p : *decoded)
    (void)storable(p);
  auto body = encode_purchases(*decoded);
  auto again = decode_purchases(body.data(), body.size());
  if (!again || again->size() != decoded->size())
    std::abort();
  for (std::size_t i = 0; i < again->size(); ++i) {
    const auto& a = (*again)[i];
    const auto& b = (*decoded)[i];
    if (a.request_id != b.request_id || a.product != b.product || a.user != b.user ||
        a.gateway != b.gateway || a.ticket != b.ticket || a.accepted_at_ms != b.accepted_at_ms ||
        a.epoch != b.epoch)
      std::abort();  // a purchase changed on its way through the codec
  }
  return 0;
}

#include "messages/codec.hpp"

#include <vector>

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

namespace flashsale {

std::string encode_purchase(const purchase& p) {
  std::vector<char> buf;
  buf.reserve(128);
  buf.push_back(purchase_codec_version);
  caf::binary_serializer sink{nullptr, buf};
  auto copy = p;  // inspect() takes a mutable reference
  if (auto err = sink(copy))
    return {};  // unreachable for in-memory strings and integers
  return std::string(buf.begin(), buf.end());
}

std::optional<purchase> decode_purchase(const char* data, std::size_t size) {
  if (size < 1 || data[0] != purchase_codec_version)
    return std::nullopt;
  purchase p;
  caf::binary_deserializer source{static_cast<caf::execution_unit*>(nullptr), data + 1, size - 1};
  if (auto err = source(p))
    return std::nullopt;
  if (source.remaining() != 0)
    return std::nullopt;
  if (p.request_id.empty() || p.product.empty() || p.user.empty() || p.gateway.empty())
    return std::nullopt;
  return p;
}

}  // namespace flashsale

#include "messages/codec.hpp"

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include "common/utf8.hpp"

namespace flashsale {

namespace {

constexpr char single_purchase_version = 1;
constexpr char list_without_epoch_version = 2;

/// A purchase of a version 1 or 2 body (no epoch field).
template <typename Source>
bool read_without_epoch(Source& source, purchase& p) {
  return !source(p.request_id, p.product, p.user, p.gateway, p.ticket, p.accepted_at_ms);
}

bool complete(const purchase& p) {
  return !p.request_id.empty() && !p.product.empty() && !p.user.empty() && !p.gateway.empty();
}

/// What PostgreSQL text accepts (valid UTF-8 without NUL bytes), and not too long.
bool storable_text(const std::string& s) {
  return s.size() <= max_field_bytes && valid_utf8(s);
}

}  // namespace

std::string encode_purchases(const std::vector<purchase>& purchases) {
  std::vector<char> buf;
  buf.reserve(16 + 96 * purchases.size());
  buf.push_back(purchase_codec_version);
  caf::binary_serializer sink{nullptr, buf};
  auto copy = purchases;  // inspect() takes a mutable reference
  if (auto err = sink(copy))
    return {};  // unreachable for in-memory strings and integers
  return std::string(buf.begin(), buf.end());
}

std::optional<std::vector<purchase>> decode_purchases(const char* data, std::size_t size) {
  if (size < 1 || (data[0] != purchase_codec_version && data[0] != single_purchase_version &&
                   data[0] != list_without_epoch_version))
    return std::nullopt;
  caf::binary_deserializer source{static_cast<caf::execution_unit*>(nullptr), data + 1, size - 1};
  std::vector<purchase> result;
  if (data[0] == single_purchase_version) {
    result.resize(1);
    if (!read_without_epoch(source, result.front()))
      return std::nullopt;
  } else {
    // The count comes first: refuse a huge one before anything is allocated for it.
    std::size_t count = 0;
    if (auto err = source.begin_sequence(count))
      return std::nullopt;
    if (count == 0 || count > max_purchases_per_message)
      return std::nullopt;
    result.resize(count);
    for (auto& p : result) {
      if (data[0] == list_without_epoch_version ? !read_without_epoch(source, p)
                                                : static_cast<bool>(source(p)))
        return std::nullopt;
    }
    if (auto err = source.end_sequence())
      return std::nullopt;
  }
  if (source.remaining() != 0)
    return std::nullopt;
  for (const auto& p : result)
    if (!complete(p))
      return std::nullopt;
  return result;
}

bool storable(const purchase& p) {
  return storable_text(p.request_id) && storable_text(p.product) && storable_text(p.user) &&
         storable_text(p.gateway) && storable_text(p.ticket);
}

}  // namespace flashsale

#pragma once

// Wire format of a purchase inside a RabbitMQ message body: a version byte followed by CAF's binary
// serialization of flashsale::purchase. Free of CAF headers.

#include <optional>
#include <string>

#include "messages/messages.hpp"

namespace flashsale {

/// Current body format version (first byte of every body).
constexpr char purchase_codec_version = 1;

/// Encodes `p` for the queue. Never fails.
std::string encode_purchase(const purchase& p);

/// Decodes a body made by encode_purchase. Returns nullopt for anything else (wrong version,
/// truncated, trailing bytes, empty required fields): such messages go to the dead-letter queue.
std::optional<purchase> decode_purchase(const char* data, std::size_t size);

}  // namespace flashsale

#pragma once

// Wire format of the purchases inside a RabbitMQ message body: a version byte followed by CAF's
// binary serialization. Version 3 (written) carries a list of purchases, the ones a gateway
// admitted for one queue at about the same time, each with its claim epoch; version 2 (read only)
// is the same list without epochs and version 1 (read only) carries one purchase without epoch:
// both from gateways before the change, read with epoch 0. Free of CAF headers.

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "messages/messages.hpp"

namespace flashsale {

/// Body format version written by encode_purchases (first byte of every body).
constexpr char purchase_codec_version = 3;

/// Most purchases a body may carry; the decoder refuses more (a bug or an attack).
constexpr std::size_t max_purchases_per_message = 1000;

/// Encodes 1..max_purchases_per_message purchases as one body. Never fails.
std::string encode_purchases(const std::vector<purchase>& purchases);

/// Decodes a body made by encode_purchases (or a version 1 or 2 body of older gateways). Returns
/// nullopt for anything else (unknown version, truncated, trailing bytes, no purchase or too many,
/// any purchase with an empty required field): such messages go to the dead-letter queue whole.
std::optional<std::vector<purchase>> decode_purchases(const char* data, std::size_t size);

/// Longest field a writer stores; longer ones are a bug or an attack, not a purchase.
constexpr std::size_t max_field_bytes = 1024;

/// True if every field of `p` is text PostgreSQL can store: valid UTF-8 (no overlong forms, no
/// surrogates, nothing beyond U+10FFFF), no NUL byte, at most max_field_bytes. A purchase that is
/// not would fail its batch forever: writers dead-letter its message instead.
bool storable(const purchase& p);

}  // namespace flashsale

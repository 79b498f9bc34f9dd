#include "quota/znodes.hpp"

#include <chrono>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "adapters/crypto/keyed_hash.hpp"
#include "common/parse_integer.hpp"
#include "common/utc_time.hpp"

namespace flashsale::quota {

using json = nlohmann::json;

layout::layout(std::string root, std::string sale)
    : root_(std::move(root)), sale_(std::move(sale)) {}

std::string layout::members() const {
  return root_ + "/nodes/gateways";
}
std::string layout::member(const std::string& node) const {
  return members() + "/" + node;
}
std::string layout::writers() const {
  return root_ + "/nodes/writers";
}
std::string layout::writer(const std::string& node) const {
  return writers() + "/" + node;
}
std::string layout::sale() const {
  return root_ + "/sales/" + sale_;
}
std::string layout::products() const {
  return sale() + "/products";
}
std::string layout::product(const std::string& p) const {
  return products() + "/" + p;
}
std::string layout::grants() const {
  return sale() + "/grants";
}
std::string layout::grant_dir(const std::string& node) const {
  return grants() + "/" + node;
}
std::string layout::grant(const std::string& node, const std::string& p) const {
  return grant_dir(node) + "/" + p;
}
std::string layout::consumed() const {
  return sale() + "/consumed";
}
std::string layout::consumed_dir(const std::string& node) const {
  return consumed() + "/" + node;
}
std::string layout::consumed(const std::string& node, const std::string& p) const {
  return consumed_dir(node) + "/" + p;
}
std::string layout::settled() const {
  return sale() + "/settled";
}
std::string layout::settled(const std::string& node) const {
  return settled() + "/" + node;
}
std::string layout::leader() const {
  return sale() + "/leader";
}
std::string layout::leader_prefix() const {
  return leader() + "/n_";
}
std::string layout::settings() const {
  return sale() + "/settings";
}

bool valid_root(const std::string& root) {
  if (root.size() < 2 || root[0] != '/' || root.back() == '/')
    return false;
  return root.find("//") == std::string::npos;
}

namespace {

json parse_object(const std::string& data) {
  auto doc = json::parse(data, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return json();
  return doc;
}

/// An integer field: nullopt when missing or not an integer.
std::optional<std::int64_t> int_field(const json& doc, const char* key) {
  auto i = doc.find(key);
  if (i == doc.end() || !i->is_number_integer())
    return std::nullopt;
  return i->get<std::int64_t>();
}

std::int64_t int_or(const json& doc, const char* key, std::int64_t fallback) {
  return int_field(doc, key).value_or(fallback);
}

}  // namespace

std::string encode(const product_znode& x) {
  return json{{"stock", x.stock}}.dump();
}

std::optional<product_znode> decode_product(const std::string& data) {
  auto doc = json::parse(data, nullptr, false);
  if (doc.is_discarded())
    return std::nullopt;
  std::optional<std::int64_t> stock;
  if (doc.is_number_integer())
    stock = doc.get<std::int64_t>();
  else if (doc.is_object())
    stock = int_field(doc, "stock");
  if (!stock || *stock < 0)
    return std::nullopt;
  return product_znode{*stock};
}

std::string encode(const grant_znode& x) {
  return json{{"grant", x.grant}, {"release", x.release}}.dump();
}

std::optional<grant_znode> decode_grant(const std::string& data) {
  auto doc = parse_object(data);
  if (!doc.is_object())
    return std::nullopt;
  auto grant = int_field(doc, "grant");
  if (!grant || *grant < 0)
    return std::nullopt;
  grant_znode g;
  g.grant = *grant;
  if (auto i = doc.find("release"); i != doc.end()) {
    if (!i->is_boolean())
      return std::nullopt;
    g.release = i->get<bool>();
  }
  return g;
}

std::string encode(const consumption_report& x) {
  return json{{"consumed", x.consumed},
              {"claimed", x.claimed},
              {"grant", x.grant},
              {"version", x.version},
              {"applied_at_ms", x.applied_at_ms},
              {"last_attempt_ms", x.last_attempt_ms},
              {"refused", x.refused},
              {"at_ms", x.at_ms},
              {"epoch", x.epoch}}
      .dump();
}

std::optional<consumption_report> decode_report(const std::string& data) {
  auto doc = parse_object(data);
  if (!doc.is_object())
    return std::nullopt;
  auto consumed = int_field(doc, "consumed");
  if (!consumed || *consumed < 0)
    return std::nullopt;
  consumption_report r;
  r.consumed = *consumed;
  r.claimed = std::max(int_or(doc, "claimed", 0), r.consumed);
  r.grant = int_or(doc, "grant", 0);
  r.version = int_or(doc, "version", 0);
  r.applied_at_ms = int_or(doc, "applied_at_ms", 0);
  r.last_attempt_ms = int_or(doc, "last_attempt_ms", 0);
  r.refused = int_or(doc, "refused", 0);
  r.at_ms = int_or(doc, "at_ms", 0);
  r.epoch = std::max<std::int64_t>(int_or(doc, "epoch", 0), 0);
  return r;
}

std::string encode(const settled_znode& x) {
  json sold = json::object();
  for (const auto& [p, n] : x.sold)
    sold[p] = n;
  return json{{"epoch", x.epoch}, {"sold", sold}, {"by", x.by}, {"at_ms", x.at_ms}}.dump();
}

std::optional<settled_znode> decode_settled(const std::string& data) {
  auto doc = parse_object(data);
  if (!doc.is_object())
    return std::nullopt;
  auto epoch = int_field(doc, "epoch");
  auto sold = doc.find("sold");
  if (!epoch || *epoch < 1 || sold == doc.end() || !sold->is_object())
    return std::nullopt;
  settled_znode x;
  x.epoch = *epoch;
  for (const auto& [p, n] : sold->items()) {
    if (!n.is_number_integer() || n.get<std::int64_t>() < 0)
      return std::nullopt;
    x.sold[p] = n.get<std::int64_t>();
  }
  if (auto i = doc.find("by"); i != doc.end() && i->is_string())
    x.by = i->get<std::string>();
  x.at_ms = int_or(doc, "at_ms", 0);
  return x;
}

std::optional<sale_settings> decode_settings(const std::string& data) {
  auto doc = parse_object(data);
  if (!doc.is_object())
    return std::nullopt;
  sale_settings s;
  if (auto i = doc.find("keep_one_in"); i != doc.end()) {
    if (!i->is_number_integer())
      return std::nullopt;
    auto k = i->get<std::int64_t>();
    if (k < 1 || k > 1000000)
      return std::nullopt;
    s.keep_one_in = static_cast<std::uint32_t>(k);
  }
  if (auto i = doc.find("draw_secret"); i != doc.end()) {
    if (!i->is_string() || !crypto::key_from_hex(i->get<std::string>()))
      return std::nullopt;
    s.draw_secret = i->get<std::string>();
  }
  if (auto i = doc.find("draw_window_s"); i != doc.end()) {
    if (!i->is_number_integer())
      return std::nullopt;
    auto w = i->get<std::int64_t>();
    if (w < 0 || w > max_draw_window_s)
      return std::nullopt;
    s.draw_window_s = w;
  }
  if (auto i = doc.find("window"); i != doc.end()) {
    if (!i->is_string())
      return std::nullopt;
    auto name = i->get<std::string>();
    for (auto m : {window_mode::scheduled, window_mode::open, window_mode::closed})
      if (name == to_string(m))
        s.window = m;
    if (!s.window)
      return std::nullopt;
  }
  return s;
}

std::string encode(const sale_settings& x) {
  json doc = json::object();
  if (x.keep_one_in)
    doc["keep_one_in"] = *x.keep_one_in;
  if (x.window)
    doc["window"] = to_string(*x.window);
  if (x.draw_secret)
    doc["draw_secret"] = *x.draw_secret;
  if (x.draw_window_s)
    doc["draw_window_s"] = *x.draw_window_s;
  return doc.dump();
}

std::string encode(const fence_znode& x) {
  json split = json::object();
  for (const auto& [p, n] : x.split)
    split[p] = n;
  return json{{"leader", x.leader}, {"at_ms", x.at_ms}, {"split", split}}.dump();
}

fence_znode decode_fence(const std::string& data) {
  fence_znode f;
  auto doc = parse_object(data);
  if (!doc.is_object())
    return f;
  if (auto i = doc.find("leader"); i != doc.end() && i->is_string())
    f.leader = i->get<std::string>();
  f.at_ms = int_or(doc, "at_ms", 0);
  if (auto i = doc.find("split"); i != doc.end() && i->is_object())
    for (const auto& [p, n] : i->items())
      if (n.is_number_integer() && n.get<std::int64_t>() >= 0)
        f.split[p] = n.get<std::int64_t>();
  return f;
}

std::string encode(const leader_announcement& x) {
  return json{{"leader", x.node}, {"since_ms", x.since_ms}}.dump();
}

std::optional<leader_announcement> decode_leader(const std::string& data) {
  auto doc = parse_object(data);
  if (!doc.is_object())
    return std::nullopt;
  auto i = doc.find("leader");
  if (i == doc.end() || !i->is_string())
    return std::nullopt;
  return leader_announcement{i->get<std::string>(), int_or(doc, "since_ms", 0)};
}

std::string encode(const member_znode& x) {
  char session[32];
  std::snprintf(session, sizeof(session), "0x%llx", static_cast<unsigned long long>(x.session));
  json doc{{"http", x.http}, {"session", session}};
  if (!x.actors.empty())
    doc["actors"] = x.actors;
  return doc.dump();
}

std::optional<member_znode> decode_member(const std::string& data) {
  auto doc = parse_object(data);
  if (!doc.is_object())
    return std::nullopt;
  member_znode m;
  if (auto i = doc.find("http"); i != doc.end() && i->is_string())
    m.http = i->get<std::string>();
  if (auto i = doc.find("actors"); i != doc.end() && i->is_string())
    m.actors = i->get<std::string>();
  if (auto i = doc.find("session"); i != doc.end() && i->is_string()) {
    try {
      m.session = static_cast<std::int64_t>(std::stoull(i->get<std::string>(), nullptr, 16));
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  return m;
}

bool split_endpoint(const std::string& endpoint, std::string& host, std::uint16_t& port) {
  auto colon = endpoint.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return false;
  auto n = parse_integer(endpoint.substr(colon + 1));
  if (!n || *n < 1 || *n > 65535)
    return false;
  host = endpoint.substr(0, colon);
  port = static_cast<std::uint16_t>(*n);
  return true;
}

std::int64_t wall_ms() {
  return utc_now_ms();
}

}  // namespace flashsale::quota

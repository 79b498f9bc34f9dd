#include "common/sale_definition.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <limits>

#include "common/parse_integer.hpp"
#include "common/utc_time.hpp"

namespace flashsale {

namespace {

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos)
    return {};
  auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

struct line_context {
  const std::string& source;
  int line;
  [[noreturn]] void fail(const std::string& what) const {
    throw sale_file_error(source + ":" + std::to_string(line) + ": " + what);
  }
};

std::int64_t parse_int(const line_context& ctx, const std::string& key, const std::string& value,
                       std::int64_t min, std::int64_t max) {
  auto parsed = parse_integer(value);
  if (!parsed)
    ctx.fail("'" + key + "' must be an integer, got '" + value + "'");
  auto n = *parsed;
  if (n < min || n > max)
    ctx.fail("'" + key + "' must be in [" + std::to_string(min) + ", " + std::to_string(max) +
             "], got " + value);
  return n;
}

bool parse_bool(const line_context& ctx, const std::string& key, const std::string& value) {
  if (value == "true")
    return true;
  if (value == "false")
    return false;
  ctx.fail("'" + key + "' must be true or false, got '" + value + "'");
}

}  // namespace

const product_definition* sale_definition::find(const std::string& id) const {
  for (const auto& p : products)
    if (p.id == id)
      return &p;
  return nullptr;
}

bool valid_product_id(const std::string& id) {
  if (id.empty() || id.size() > 64)
    return false;
  return std::all_of(id.begin(), id.end(),
                     [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '-'; });
}

sale_definition parse_sale(std::istream& in, const std::string& source,
                           const std::string& main_database) {
  sale_definition sale;
  enum class section { none, sale, product } current = section::none;
  product_definition* product = nullptr;
  std::string raw;
  int line_no = 0;
  while (std::getline(in, raw)) {
    ++line_no;
    line_context ctx{source, line_no};
    auto cut = raw.find_first_of("#;");
    auto line = trim(cut == std::string::npos ? raw : raw.substr(0, cut));
    if (line.empty())
      continue;
    if (line.front() == '[') {
      if (line.back() != ']')
        ctx.fail("malformed section header '" + line + "'");
      auto name = trim(line.substr(1, line.size() - 2));
      if (name == "sale") {
        current = section::sale;
      } else if (name.rfind("product.", 0) == 0) {
        auto id = name.substr(8);
        if (!valid_product_id(id))
          ctx.fail("invalid product id '" + id +
                   "' (allowed: letters, digits, '_', '-', at most 64)");
        if (sale.find(id) != nullptr)
          ctx.fail("product '" + id + "' defined twice");
        sale.products.push_back(product_definition{});
        product = &sale.products.back();
        product->id = id;
        product->stock = -1;
        current = section::product;
      } else {
        ctx.fail("unknown section [" + name + "] (expected [sale] or [product.<id>])");
      }
      continue;
    }
    auto eq = line.find('=');
    if (eq == std::string::npos)
      ctx.fail("expected 'key = value', got '" + line + "'");
    auto key = trim(line.substr(0, eq));
    auto value = trim(line.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      value = value.substr(1, value.size() - 2);
    switch (current) {
      case section::none:
        ctx.fail("'" + key + "' outside of any section");
      case section::sale:
        if (key == "name") {
          if (!valid_product_id(value))
            ctx.fail("invalid sale name '" + value + "'");
          sale.name = value;
        } else if (key == "opens_at" || key == "closes_at") {
          auto ms = parse_utc_time(value);
          if (!ms)
            ctx.fail("'" + key + "' must be a UTC time like 2026-11-27T20:00:00Z, got '" + value +
                     "'");
          (key == "opens_at" ? sale.opens_at_ms : sale.closes_at_ms) = *ms;
        } else {
          ctx.fail("unknown key '" + key + "' in [sale] (known: name, opens_at, closes_at)");
        }
        break;
      case section::product:
        if (key == "stock")
          product->stock = parse_int(ctx, key, value, 0, std::numeric_limits<std::int32_t>::max());
        else if (key == "slots")
          product->slots = static_cast<int>(parse_int(ctx, key, value, 1, 1024));
        else if (key == "per_user_limit")
          product->per_user_limit = static_cast<int>(parse_int(ctx, key, value, 1, 1000000));
        else if (key == "hot")
          product->hot = parse_bool(ctx, key, value);
        else
          ctx.fail("unknown key '" + key + "' in [product." + product->id +
                   "] (known: stock, slots, per_user_limit, hot)");
        break;
    }
  }
  line_context end{source, line_no};
  if (sale.name.empty())
    end.fail("missing [sale] name");
  if (sale.products.empty())
    end.fail("the sale defines no product ([product.<id>] sections)");
  if (sale.opens_at_ms != 0 && sale.closes_at_ms != 0 && sale.closes_at_ms <= sale.opens_at_ms)
    end.fail("'closes_at' must be after 'opens_at'");
  sale.main_database = main_database;
  for (auto& p : sale.products) {
    if (p.stock < 0)
      end.fail("product '" + p.id + "' has no stock");
    p.database = p.hot ? main_database + "_hot_" + lower(p.id) : main_database;
  }
  return sale;
}

std::vector<std::string> sale_definition::databases() const {
  std::vector<std::string> names{main_database};
  for (const auto& p : products)
    if (std::find(names.begin(), names.end(), p.database) == names.end())
      names.push_back(p.database);
  return names;
}

sale_definition load_sale_file(const std::string& path, const std::string& main_database) {
  std::ifstream in(path);
  if (!in)
    throw sale_file_error(path + ": cannot open sale file");
  return parse_sale(in, path, main_database);
}

}  // namespace flashsale

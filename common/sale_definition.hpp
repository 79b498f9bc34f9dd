#pragma once

#include <cstdint>
#include <istream>
#include <stdexcept>
#include <string>
#include <vector>

namespace flashsale {

/// One product on sale, as the sale file defines it.
struct product_definition {
  std::string id;          ///< [A-Za-z0-9_-]{1,64}, used in URLs, queues and the database
  std::int64_t stock = 0;  ///< units made available when the sale is created (>= 0)
  int slots = 4;           ///< stock rows (locks) the units are spread over, 1..1024
  int per_user_limit = 1;  ///< orders one user may hold for this product, >= 1
  bool hot = false;        ///< hot products live in their own database
  std::string database;    ///< database holding the product: "flashsale" or "flashsale_hot_<id>"
};

/// A sale: a name and its products, read from a sale file (config/sale-*.ini).
struct sale_definition {
  std::string name;
  std::vector<product_definition> products;
  /// The sale window (ms since the Unix epoch, UTC): purchases are taken from opens_at_ms
  /// (inclusive) to closes_at_ms (exclusive). 0 = no bound on that side. An operator can open or
  /// close the sale regardless (ZooKeeper settings, see quota/znodes.hpp).
  std::int64_t opens_at_ms = 0;
  std::int64_t closes_at_ms = 0;
  /// The main database (products that are not hot live there); hot product P lives in
  /// "<main_database>_hot_<p>" (product_definition::database).
  std::string main_database = "flashsale";

  /// Returns the product with `id`, or nullptr.
  const product_definition* find(const std::string& id) const;

  /// The databases of the sale, each once: the main one first (also when no product lives in
  /// it: orders of unknown products and look-ups go there), then one per hot product, in the
  /// order of the sale file.
  std::vector<std::string> databases() const;
};

/// Thrown for any problem in a sale file; what() names the file and line.
class sale_file_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Parses a sale file. Format (strict; unknown sections or keys are errors):
///   [sale]            name = demo, opens_at = 2026-11-27T20:00:00Z, closes_at = ... (optional,
///                     RFC 3339 UTC; closes_at after opens_at)
///   [product.<id>]    stock = 1000, slots = 4, per_user_limit = 1, hot = false
/// '#' and ';' start comments. Throws sale_file_error.
sale_definition parse_sale(std::istream& in, const std::string& source_name,
                           const std::string& main_database = "flashsale");

/// Reads and parses `path`. Throws sale_file_error (also when it cannot be opened).
sale_definition load_sale_file(const std::string& path,
                               const std::string& main_database = "flashsale");

/// True if `id` is a valid product id.
bool valid_product_id(const std::string& id);

}  // namespace flashsale

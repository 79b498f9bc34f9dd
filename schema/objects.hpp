#pragma once

// ODB persistent classes mapped onto the tables of sql/001_tables.sql. The SQL files own the
// schema (the odb compiler does not generate one); these classes only read and map rows. Writes go
// through the stored functions (views.hpp). Compiled as C++14 only (ODB 2.4): include this header
// from the database adapter's implementation, never from C++17 code.

#include <cstdint>
#include <string>

#include <odb/core.hxx>

// timestamptz columns are read as text (ISO 8601 as the server prints it) and written from text;
// an empty string is written as now(), so a new row gets the server's time.
#pragma db map type("TIMESTAMPTZ") as("TEXT") \
  to("coalesce(nullif((?), '')::TIMESTAMPTZ, now())") from("(?)::TEXT")

namespace flashsale {
namespace schema {

/// product: a product on sale.
#pragma db object table("product")
struct product {
#pragma db id
  std::string id;
  std::int32_t slots = 0;
  std::int32_t per_user_limit = 0;
  bool hot = false;
#pragma db type("TIMESTAMPTZ") readonly
  std::string created_at;
};

/// Key of a stock row: the product and the slot number (1..slots).
#pragma db value
struct slot_key {
  std::string product;
  std::int32_t slot = 0;
};

inline bool operator<(const slot_key& a, const slot_key& b) {
  return a.product < b.product || (a.product == b.product && a.slot < b.slot);
}

/// stock_slot: one of the rows a product's stock is spread over.
#pragma db object table("stock_slot")
struct stock_slot {
#pragma db id column("")
  slot_key key;
  std::int32_t remaining = 0;
};

/// purchase_order: one unit sold.
#pragma db object table("purchase_order")
struct purchase_order {
#pragma db id auto
  std::int64_t id = 0;
  std::string request_id;
  std::string product;
#pragma db column("user_id")
  std::string user;
  std::int32_t slot = 0;
  std::string gateway;
#pragma db type("TIMESTAMPTZ") readonly
  std::string created_at;
};

/// stock_adjustment: the stock ledger (initial stock and later changes).
#pragma db object table("stock_adjustment")
struct stock_adjustment {
#pragma db id auto
  std::int64_t id = 0;
  std::string product;
  std::int32_t delta = 0;
  std::string reason;
#pragma db type("TIMESTAMPTZ") readonly
  std::string created_at;
};

/// schema_migrations: the SQL files already applied to this database (written by migrate).
#pragma db object table("schema_migrations")
struct schema_migration {
#pragma db id
  std::string filename;
  std::string checksum;
#pragma db type("TIMESTAMPTZ") readonly
  std::string applied_at;
};

}  // namespace schema
}  // namespace flashsale

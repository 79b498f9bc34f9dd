// The sale file parser: what an operator writes, and the clear errors for what they get wrong.

#include <gtest/gtest.h>

#include <sstream>

#include "common/sale_definition.hpp"

namespace {

using flashsale::parse_sale;
using flashsale::sale_file_error;

flashsale::sale_definition parse(const std::string& text) {
  std::istringstream in(text);
  return parse_sale(in, "test.ini");
}

std::string error_of(const std::string& text) {
  try {
    parse(text);
  } catch (const sale_file_error& e) {
    return e.what();
  }
  return "no error";
}

TEST(sale_definition, parses_products_with_defaults_and_databases) {
  auto sale = parse(
      "# demo\n[sale]\nname = demo\n[product.TV]\nstock = 1000 ; units\n"
      "[product.Phone]\nstock=5\nslots=8\nper_user_limit=2\nhot=true\n");
  EXPECT_EQ(sale.name, "demo");
  ASSERT_EQ(sale.products.size(), 2u);
  EXPECT_EQ(sale.products[0].id, "TV");
  EXPECT_EQ(sale.products[0].stock, 1000);
  EXPECT_EQ(sale.products[0].slots, 4);
  EXPECT_EQ(sale.products[0].per_user_limit, 1);
  EXPECT_FALSE(sale.products[0].hot);
  EXPECT_EQ(sale.products[0].database, "flashsale");
  EXPECT_EQ(sale.products[1].slots, 8);
  EXPECT_EQ(sale.products[1].per_user_limit, 2);
  EXPECT_EQ(sale.products[1].database, "flashsale_hot_phone");
  EXPECT_NE(sale.find("Phone"), nullptr);
  EXPECT_EQ(sale.find("phone"), nullptr);
}

TEST(sale_definition, unknown_keys_and_sections_are_errors_with_line_numbers) {
  EXPECT_EQ(
      error_of("[sale]\nname=x\n[product.TV]\nstock=1\nstok=2\n"),
      "test.ini:5: unknown key 'stok' in [product.TV] (known: stock, slots, per_user_limit, hot)");
  EXPECT_NE(error_of("[sale]\nname=x\n[products]\n").find("test.ini:3: unknown section"),
            std::string::npos);
}

TEST(sale_definition, bad_values_are_errors) {
  EXPECT_NE(error_of("[sale]\nname=x\n[product.TV]\nstock=-1\n").find("'stock' must be in"),
            std::string::npos);
  EXPECT_NE(error_of("[sale]\nname=x\n[product.TV]\nstock=12abc\n").find("must be an integer"),
            std::string::npos);
  EXPECT_NE(error_of("[sale]\nname=x\n[product.TV]\nstock=1\nslots=0\n").find("'slots' must be in"),
            std::string::npos);
  EXPECT_NE(error_of("[sale]\nname=x\n[product.TV]\nstock=1\nhot=yes\n").find("true or false"),
            std::string::npos);
  EXPECT_NE(error_of("[sale]\nname=x\n[product.T V]\nstock=1\n").find("invalid product id"),
            std::string::npos);
}

TEST(sale_definition, the_sale_window_is_read_in_utc) {
  auto sale = parse(
      "[sale]\nname=x\nopens_at = 2026-11-27T20:00:00Z\ncloses_at=2026-11-27T21:30:00Z\n"
      "[product.TV]\nstock=1\n");
  EXPECT_EQ(sale.opens_at_ms, 1795809600000);
  EXPECT_EQ(sale.closes_at_ms, 1795809600000 + 90 * 60 * 1000);
  auto open_ended = parse("[sale]\nname=x\n[product.TV]\nstock=1\n");
  EXPECT_EQ(open_ended.opens_at_ms, 0);
  EXPECT_EQ(open_ended.closes_at_ms, 0);
}

TEST(sale_definition, a_bad_sale_window_is_an_error) {
  EXPECT_NE(error_of("[sale]\nname=x\nopens_at=2026-11-27 20:00\n[product.TV]\nstock=1\n")
                .find("test.ini:3: 'opens_at' must be a UTC time like"),
            std::string::npos);
  EXPECT_NE(error_of("[sale]\nname=x\nopens_at=2026-11-27T20:00:00Z\n"
                     "closes_at=2026-11-27T20:00:00Z\n[product.TV]\nstock=1\n")
                .find("'closes_at' must be after 'opens_at'"),
            std::string::npos);
}

TEST(sale_definition, incomplete_sales_are_errors) {
  EXPECT_NE(error_of("[product.TV]\nstock=1\n").find("missing [sale] name"), std::string::npos);
  EXPECT_NE(error_of("[sale]\nname=x\n").find("defines no product"), std::string::npos);
  EXPECT_NE(error_of("[sale]\nname=x\n[product.TV]\nslots=2\n").find("has no stock"),
            std::string::npos);
  EXPECT_NE(error_of("[sale]\nname=x\n[product.TV]\nstock=1\n[product.TV]\nstock=1\n")
                .find("defined twice"),
            std::string::npos);
}

TEST(sale_definition, missing_file_is_a_clear_error) {
  EXPECT_THROW(flashsale::load_sale_file("/nonexistent/sale.ini"), sale_file_error);
}

TEST(sale_definition, the_demo_sale_file_is_valid) {
  auto sale = flashsale::load_sale_file("config/sale-demo.ini");
  ASSERT_EQ(sale.products.size(), 3u);
  for (const auto& p : sale.products)
    EXPECT_EQ(p.stock, 1000);
}

}  // namespace

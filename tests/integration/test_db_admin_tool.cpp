// flashsale-admin end to end against a real PostgreSQL (FLASHSALE_PG_*): migrate, sale create,
// report (its output format is grepped by scripts/demo), exit codes and error messages. Works in
// the databases flashsale_test_<pid>_tool and flashsale_test_<pid>_tool_hot_*, dropped at the end.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include <gtest/gtest.h>

#include "adapters/db/order_store.hpp"
#include "adapters/db/schema_admin.hpp"
#include "tests/support/service_accounts.hpp"

namespace {

using namespace flashsale;
namespace fs = std::filesystem;

struct run_result {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s)
    q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

run_result run_admin(const std::string& args) {
  run_result r;
  std::string command = shell_quote(FLASHSALE_ADMIN_BIN) + " " + args + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr)
    return r;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0)
    r.output.append(buf, n);
  int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

bool contains(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

bool matches_line(const std::string& text, const std::string& pattern) {
  return std::regex_search(text, std::regex(pattern, std::regex::multiline));
}

class db_admin_tool : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = db::connection_params::from_env();
    main_db_ = "flashsale_test_" + std::to_string(::getpid()) + "_tool";
    hot_db_ = main_db_ + "_hot_hot1";
    dir_ = fs::temp_directory_path() / ("flashsale_admin_tool_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    sale_file_ = (dir_ / "sale.ini").string();
    std::ofstream(sale_file_) << "[sale]\nname = tooltest\n\n"
                                 "[product.Hot1]\nstock = 10\nslots = 3\nper_user_limit = 1\n"
                                 "hot = true\n\n"
                                 "[product.Cold1]\nstock = 7\nslots = 2\nper_user_limit = 2\n";
    drop_databases();
    db_args_ = "--db-name " + main_db_;
  }

  void TearDown() override {
    drop_databases();
    fs::remove_all(dir_);
  }

  void drop_databases() {
    try {
      db::schema_admin::drop_database(server_, hot_db_);
      db::schema_admin::drop_database(server_, main_db_);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "cannot drop the test databases: " << e.what();
    }
  }

  db::connection_params server_;
  std::string main_db_;
  std::string hot_db_;
  fs::path dir_;
  std::string sale_file_;
  std::string db_args_;
};

TEST_F(db_admin_tool, migrate_create_and_report_a_sale) {
  auto sale = " --sale " + shell_quote(sale_file_);
  auto r = run_admin("migrate" + sale + " " + db_args_);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, main_db_ + ": created, applied 001_tables.sql")) << r.output;
  EXPECT_TRUE(contains(r.output, hot_db_ + ": created, applied 001_tables.sql")) << r.output;

  r = run_admin("migrate" + sale + " " + db_args_);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, main_db_ + ": up to date")) << r.output;
  EXPECT_TRUE(contains(r.output, hot_db_ + ": up to date")) << r.output;

  r = run_admin(db_args_ + " sale create " + shell_quote(sale_file_));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "Hot1: created in " + hot_db_)) << r.output;
  EXPECT_TRUE(contains(r.output, "Cold1: created in " + main_db_)) << r.output;
  r = run_admin("sale create " + shell_quote(sale_file_) + " " + db_args_);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "Hot1: exists in " + hot_db_)) << r.output;

  // Sell 3 units of the hot product through the writer role.
  auto writer = server_.with_dbname(hot_db_).as_user(db::writer_role,
                                                     flashsale::testing::password_of("pg-writer"));
  auto store = db::order_store::connect(writer);
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(
        store->purchase({"t-" + std::to_string(i), "Hot1", "u" + std::to_string(i), "gw"}).status,
        order_status::confirmed);

  r = run_admin("report" + sale + " " + db_args_);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(matches_line(r.output, "^Hot1 +" + hot_db_ + " +10 +3 +7$")) << r.output;
  EXPECT_TRUE(matches_line(r.output, "^Cold1 +" + main_db_ + " +7 +0 +7$")) << r.output;
  EXPECT_TRUE(matches_line(r.output,
                           "^I1 no-oversell +Hot1 +OK +sold 3 <= available 10, negative slots 0$"))
      << r.output;
  EXPECT_TRUE(
      matches_line(r.output, "^I2 conservation +Hot1 +OK +available 10 = remaining 7 \\+ sold 3$"))
      << r.output;
  EXPECT_TRUE(matches_line(r.output,
                           "^I3 no-duplicates +Cold1 +OK +duplicate request ids 0, users over "
                           "limit 0 \\(per-user limit 2\\)$"))
      << r.output;
  EXPECT_TRUE(matches_line(r.output, "^result: OK \\(6 checks passed\\)$")) << r.output;

  // An order written around purchase_one breaks conservation and the per-user limit.
  db::schema_admin::connect(server_.with_dbname(hot_db_))
      ->execute(
          "INSERT INTO purchase_order (request_id, product, user_id, slot, gateway) "
          "VALUES ('rogue', 'Hot1', 'u0', 1, 'manual')");
  r = run_admin("report" + sale + " " + db_args_);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(matches_line(r.output, "^I1 no-oversell +Hot1 +OK +sold 4 <= available 10"))
      << r.output;
  EXPECT_TRUE(matches_line(r.output,
                           "^I2 conservation +Hot1 +FAIL +available 10 != remaining 7 \\+ sold 4$"))
      << r.output;
  EXPECT_TRUE(matches_line(r.output, "^I3 no-duplicates +Hot1 +FAIL +.*users over limit 1"))
      << r.output;
  EXPECT_TRUE(matches_line(r.output, "^result: FAIL \\(2 of 6 checks failed\\)$")) << r.output;

  // A changed definition is refused.
  auto changed = (dir_ / "changed.ini").string();
  std::ofstream(changed) << "[sale]\nname = tooltest\n[product.Cold1]\nstock = 8\nslots = 2\n";
  r = run_admin("sale create " + shell_quote(changed) + " " + db_args_);
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_TRUE(contains(r.output, "already defined differently")) << r.output;
}

TEST_F(db_admin_tool, report_before_sale_create_fails) {
  auto sale = " --sale " + shell_quote(sale_file_);
  ASSERT_EQ(run_admin("migrate" + sale + " " + db_args_).exit_code, 0);
  auto r = run_admin("report" + sale + " " + db_args_);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(matches_line(r.output,
                           "^I1 no-oversell +Hot1 +FAIL +not defined in database " + hot_db_ + "$"))
      << r.output;
}

TEST_F(db_admin_tool, usage_and_input_errors) {
  auto r = run_admin("");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "no command")) << r.output;

  r = run_admin("--help");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "usage: flashsale-admin")) << r.output;

  r = run_admin("report --sale " + shell_quote(sale_file_) + " --bogus 1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "unknown option '--bogus'")) << r.output;

  r = run_admin("report");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "needs --sale FILE")) << r.output;

  r = run_admin("frobnicate --sale " + shell_quote(sale_file_));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "unknown command 'frobnicate'")) << r.output;

  r = run_admin("report --sale " + shell_quote(sale_file_) + " --db-port notaport");
  EXPECT_EQ(r.exit_code, 2) << r.output;

  r = run_admin("report --sale " + shell_quote((dir_ / "missing.ini").string()));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "missing.ini: cannot open sale file")) << r.output;

  auto bad = (dir_ / "bad.ini").string();
  std::ofstream(bad) << "[sale]\nname = x\n[product.A]\nstock = lots\n";
  r = run_admin("report --sale " + shell_quote(bad));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "bad.ini:4: 'stock' must be an integer")) << r.output;

  r = run_admin("report --sale " + shell_quote(sale_file_) + " --db-port 1 " + db_args_);
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_TRUE(contains(r.output, ":1/" + main_db_)) << r.output;
}

// `stock add|remove` without ZooKeeper: the product's own database (the hot one for Hot1) changes
// through adjust_stock, the ledger keeps conservation, and a removal takes only what is left.
TEST_F(db_admin_tool, stock_add_and_remove_change_the_database_stock) {
  auto sale = " --sale " + shell_quote(sale_file_);
  ASSERT_EQ(run_admin("migrate" + sale + " " + db_args_).exit_code, 0);
  ASSERT_EQ(run_admin("sale create " + shell_quote(sale_file_) + " " + db_args_).exit_code, 0);
  auto hot = db::schema_admin::connect(server_.with_dbname(hot_db_));
  auto main = db::schema_admin::connect(server_.with_dbname(main_db_));

  auto r = run_admin("stock add Hot1 5" + sale + " " + db_args_);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto hot1 = hot->report("Hot1");
  ASSERT_TRUE(hot1);
  EXPECT_EQ(hot1->made_available, 15);
  EXPECT_EQ(hot1->remaining, 15);
  EXPECT_TRUE(hot1->ok());
  EXPECT_FALSE(main->report("Hot1").has_value());  // it lives in its own database only

  r = run_admin("stock remove Cold1 3" + sale + " " + db_args_);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(main->report("Cold1")->remaining, 4);
  r = run_admin("stock remove Cold1 100" + sale + " " + db_args_);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "-4")) << r.output;  // what it could remove
  auto cold1 = main->report("Cold1");
  EXPECT_EQ(cold1->remaining, 0);
  EXPECT_EQ(cold1->made_available, 0);
  EXPECT_EQ(cold1->negative_slots, 0);
  EXPECT_TRUE(cold1->ok());

  r = run_admin("report" + sale + " " + db_args_);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(matches_line(r.output, "^Hot1 +" + hot_db_ + " +15 +0 +15$")) << r.output;

  r = run_admin("stock add Nope 5" + sale + " " + db_args_);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  r = run_admin("stock add Hot1 -5" + sale + " " + db_args_);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  r = run_admin("stock add Hot1 lots" + sale + " " + db_args_);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_EQ(hot->report("Hot1")->made_available, 15);
}

}  // namespace

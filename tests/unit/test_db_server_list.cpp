// The server list of a PostgreSQL primary and its standbys ([db] hosts, --db-hosts,
// FLASHSALE_PG_HOSTS): what parse_server_list refuses, and the libpq connection string a node
// connects with (every server, read-write sessions only, values quoted).

#include <gtest/gtest.h>

#include <string>

#include "adapters/db/connection.hpp"

namespace {

using flashsale::db::connection_params;
using flashsale::db::db_error;
using flashsale::db::parse_server_list;

std::string error_of(const std::string& list) {
  try {
    parse_server_list(list);
  } catch (const db_error& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(db_server_list, a_bad_entry_is_refused_by_its_position) {
  EXPECT_NE(
      error_of("h1:5432,,h3:5432").find("server list 'h1:5432,,h3:5432': entry 2 ('') is empty"),
      std::string::npos);
  EXPECT_NE(error_of("h1:5432,h2").find("entry 2 ('h2') is not host:port"), std::string::npos);
  EXPECT_NE(error_of("h1:99999").find("entry 1 ('h1:99999') has no port from 1 to 65535"),
            std::string::npos);
}

TEST(db_server_list, one_server_without_a_list) {
  connection_params p;
  EXPECT_EQ(p.endpoint(), "127.0.0.1:54329/flashsale");
  auto info = p.conninfo();
  EXPECT_NE(info.find("host='127.0.0.1' port='54329'"), std::string::npos) << info;
  EXPECT_NE(info.find("target_session_attrs=read-write"), std::string::npos) << info;
}

TEST(db_server_list, a_list_names_every_server_in_order_for_libpq) {
  connection_params p;
  p.servers = parse_server_list("db1:5432, db2:5433");
  EXPECT_EQ(p.endpoint(), "db1:5432,db2:5433/flashsale");
  auto info = p.conninfo("application_name=x");
  EXPECT_NE(info.find("host='db1,db2' port='5432,5433'"), std::string::npos) << info;
  EXPECT_NE(info.find("target_session_attrs=read-write"), std::string::npos) << info;
  EXPECT_NE(info.find(" application_name=x"), std::string::npos) << info;
}

TEST(db_server_list, a_silent_server_fails_the_call_within_the_silence_timeout) {
  connection_params p;
  auto info = p.conninfo();
  EXPECT_NE(info.find("tcp_user_timeout=10000"), std::string::npos) << info;
  EXPECT_NE(info.find("keepalives=1 keepalives_idle=5 keepalives_interval=1 keepalives_count=3"),
            std::string::npos)
      << info;
  p.silence_timeout_s = 0;  // the kernel's
  EXPECT_EQ(p.conninfo().find("tcp_user_timeout"), std::string::npos);
}

TEST(db_server_list, values_are_quoted_as_libpq_reads_them) {
  connection_params p;
  p.user = "o'brien";
  p.password = R"(a b\c')";
  auto info = p.conninfo();
  EXPECT_NE(info.find(R"(user='o\'brien')"), std::string::npos) << info;
  EXPECT_NE(info.find(R"(password='a b\\c\'')"), std::string::npos) << info;
}

}  // namespace

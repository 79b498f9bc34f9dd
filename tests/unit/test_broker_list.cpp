// The broker list of a RabbitMQ cluster ([amqp] hosts, --amqp-hosts, FLASHSALE_AMQP_HOSTS): what
// parse_broker_list accepts, what it refuses with a message naming the entry, and the order in
// which a connection tries the brokers.

#include <gtest/gtest.h>

#include <string>

#include "adapters/amqp/amqp_connection.hpp"

namespace {

using flashsale::amqp::amqp_error;
using flashsale::amqp::connection_params;
using flashsale::amqp::parse_broker_list;

std::string error_of(const std::string& list) {
  try {
    parse_broker_list(list);
  } catch (const amqp_error& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(broker_list, three_nodes_in_the_order_given_spaces_ignored) {
  auto brokers = parse_broker_list("10.0.0.1:5672, 10.0.0.2:5673 ,h3:1");
  ASSERT_EQ(brokers.size(), 3u);
  EXPECT_EQ(brokers[0].text(), "10.0.0.1:5672");
  EXPECT_EQ(brokers[1].text(), "10.0.0.2:5673");
  EXPECT_EQ(brokers[2].host, "h3");
  EXPECT_EQ(brokers[2].port, 1);
}

TEST(broker_list, an_empty_entry_is_refused_by_its_position) {
  EXPECT_NE(error_of("h1:1,,h3:3").find("entry 2 ('') is empty"), std::string::npos);
  EXPECT_NE(error_of("").find("entry 1 ('') is empty"), std::string::npos);
  EXPECT_NE(error_of("h1:1,").find("entry 2"), std::string::npos);
}

TEST(broker_list, a_malformed_port_is_refused) {
  for (const char* list : {"h1", "h1:", ":5672", "h1:0", "h1:65536", "h1:56x", "h1:-1"})
    EXPECT_NE(error_of(list).find("entry 1"), std::string::npos) << list;
  EXPECT_NE(error_of("h1:0").find("no port from 1 to 65535"), std::string::npos);
}

TEST(broker_list, a_cluster_replaces_host_and_port_and_names_every_node) {
  connection_params p;
  EXPECT_EQ(p.endpoint(), "127.0.0.1:56729");  // no list: host and port
  p.brokers = parse_broker_list("a:1,b:2");
  ASSERT_EQ(p.candidates().size(), 2u);
  EXPECT_EQ(p.endpoint(), "a:1,b:2");
}

TEST(broker_list, an_unreachable_cluster_is_an_error_naming_each_node) {
  connection_params p;
  p.brokers = parse_broker_list("127.0.0.1:1,127.0.0.1:2");  // nothing listens there
  p.connect_timeout = std::chrono::milliseconds{500};
  try {
    flashsale::amqp::amqp_connection c{p, 1};
    FAIL() << "connected to nothing";
  } catch (const amqp_error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("no broker of 127.0.0.1:1,127.0.0.1:2 answers"), std::string::npos)
        << what;
    // tried from index 1 on: the second first
    EXPECT_LT(what.find("127.0.0.1:2: connect"), what.find("127.0.0.1:1: connect")) << what;
  }
}

}  // namespace

// Every service account may do its own work and nothing else, and the services say no to whoever
// has no password: PostgreSQL (scram-sha-256 for every role, no trust rule), RabbitMQ (the
// platform's vhost, a publish-only gateway user, a consume-only writer user, no guest) and
// ZooKeeper (digest ACLs on the sale tree, nothing for anonymous clients). Each forbidden act is
// tried for real against the private services of scripts/services.

#include <string>

#include <amqp.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <unistd.h>

#include "adapters/amqp/amqp_connection.hpp"
#include "adapters/db/connection.hpp"
#include "adapters/zookeeper/blocking_session.hpp"
#include "quota/sale_tree.hpp"
#include "quota/tree_acl.hpp"
#include "quota/znodes.hpp"
#include "tests/support/queue_probe.hpp"
#include "tests/support/scratch_database.hpp"
#include "tests/support/scratch_zookeeper.hpp"
#include "tests/support/service_accounts.hpp"

namespace {

using namespace flashsale;
using flashsale::testing::password_of;

// --- PostgreSQL ---------------------------------------------------------------------------------

/// Logs in with exactly these parameters (no PGPASSFILE, no prompt): "" on success, else the
/// server's or libpq's message.
std::string pg_login(const db::connection_params& p, const char* password) {
  auto port = std::to_string(p.port);
  const char* keys[] = {"host", "port", "user", "dbname", "password", "passfile", "connect_timeout",
                        nullptr};
  const char* values[] = {
      p.host.c_str(),        port.c_str(), p.user.c_str(), p.dbname.c_str(), password,
      "/nonexistent/pgpass", "5",          nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, 0);
  std::string error = PQstatus(conn) == CONNECTION_OK ? "" : PQerrorMessage(conn);
  PQfinish(conn);
  return error;
}

TEST(service_credentials, every_database_role_needs_its_password) {
  auto admin = db::connection_params::from_env();
  for (auto [role, account] :
       {std::pair{db::writer_role, "pg-writer"}, std::pair{db::gateway_role, "pg-gateway"},
        std::pair{"flashsale", "pg-admin"}}) {
    auto as_role = admin.as_user(role, "");
    EXPECT_NE(pg_login(as_role, nullptr).find("no password supplied"), std::string::npos)
        << role << " logged in without a password";
    EXPECT_NE(pg_login(as_role, "flashsale_writer").find("password authentication failed"),
              std::string::npos)
        << role << " logged in with a made-up password";
    EXPECT_EQ(pg_login(as_role, password_of(account).c_str()), "") << role;
  }
}

TEST(service_credentials, no_host_based_rule_trusts_anyone) {
  auto admin = db::connection_params::from_env();
  auto port = std::to_string(admin.port);
  const char* keys[] = {"host", "port", "user", "dbname", "password", "connect_timeout", nullptr};
  const char* values[] = {admin.host.c_str(),
                          port.c_str(),
                          admin.user.c_str(),
                          admin.dbname.c_str(),
                          admin.password.c_str(),
                          "5",
                          nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, 0);
  ASSERT_EQ(PQstatus(conn), CONNECTION_OK) << PQerrorMessage(conn);
  // The rules PostgreSQL loaded, as it reads them: every one must ask for a scram password.
  PGresult* rules = PQexec(conn,
                           "SELECT type, coalesce(address, ''), auth_method, coalesce(error, '') "
                           "FROM pg_hba_file_rules");
  ASSERT_EQ(PQresultStatus(rules), PGRES_TUPLES_OK) << PQerrorMessage(conn);
  EXPECT_GT(PQntuples(rules), 0);
  for (int i = 0; i < PQntuples(rules); ++i)
    EXPECT_STREQ(PQgetvalue(rules, i, 2), "scram-sha-256")
        << PQgetvalue(rules, i, 0) << " " << PQgetvalue(rules, i, 1) << " "
        << PQgetvalue(rules, i, 3);
  PQclear(rules);
  PQfinish(conn);
}

// --- RabbitMQ -----------------------------------------------------------------------------------

/// The queues of one test, declared by the admin user as flashsale-admin amqp declare does.
class broker_permissions : public ::testing::Test {
 protected:
  void SetUp() override {
    route_.queue = "flashsale.credentials." + std::to_string(::getpid());
    route_.dead_letter_queue = route_.queue + ".dead";
    ASSERT_NO_THROW(amqp::amqp_connection{admin_}.declare(route_));
  }
  void TearDown() override {
    flashsale::testing::delete_queue(admin_, route_.queue);
    flashsale::testing::delete_queue(admin_, route_.dead_letter_queue);
  }

  amqp::connection_params as(const std::string& user, const std::string& account) const {
    auto p = admin_;
    p.user = user;
    p.password = password_of(account);
    return p;
  }

  /// What the broker answered the last RPC with: "" when it was fine, else its refusal.
  static std::string reply_of(amqp::amqp_connection& conn, const char* what) {
    try {
      conn.check_rpc(what);
      return "";
    } catch (const amqp::amqp_error& e) {
      return e.what();
    }
  }

  /// Publishes one persistent message to `exchange` with confirms on; "" once the broker
  /// confirmed it, else the broker's refusal.
  static std::string publish(const amqp::connection_params& p, const std::string& exchange,
                             const std::string& routing_key) {
    amqp::amqp_connection conn{p};
    auto* state = static_cast<amqp_connection_state_t>(conn.native());
    amqp_confirm_select(state, 1);
    if (auto r = reply_of(conn, "confirm.select"); !r.empty())
      return r;
    amqp_basic_properties_t props;
    props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
    props.delivery_mode = 2;
    amqp_basic_publish(state, 1, amqp_cstring_bytes(exchange.c_str()),
                       amqp_cstring_bytes(routing_key.c_str()), 0, 0, &props,
                       amqp_cstring_bytes("{}"));
    // A refused publish closes the channel: the next frame says so, a stored one is acked.
    amqp_frame_t frame;
    timeval tv{5, 0};
    if (amqp_simple_wait_frame_noblock(state, &frame, &tv) != AMQP_STATUS_OK)
      return "no answer to the publish within 5 s";
    if (frame.frame_type == AMQP_FRAME_METHOD && frame.payload.method.id == AMQP_BASIC_ACK_METHOD)
      return "";
    if (frame.frame_type == AMQP_FRAME_METHOD &&
        frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD) {
      auto* m = static_cast<amqp_channel_close_t*>(frame.payload.method.decoded);
      amqp_channel_close_ok_t ok{};
      amqp_send_method(state, 1, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
      return std::to_string(m->reply_code) + " " +
             std::string(static_cast<const char*>(m->reply_text.bytes), m->reply_text.len);
    }
    return "unexpected frame " + std::to_string(frame.payload.method.id);
  }

  /// Subscribes to `queue`; "" when the broker accepted, else its refusal.
  static std::string consume(const amqp::connection_params& p, const std::string& queue) {
    amqp::amqp_connection conn{p};
    auto* state = static_cast<amqp_connection_state_t>(conn.native());
    amqp_basic_consume(state, 1, amqp_cstring_bytes(queue.c_str()), amqp_empty_bytes, 0, 0, 0,
                       amqp_empty_table);
    return reply_of(conn, "basic.consume");
  }

  /// Declares a queue of its own; "" when the broker accepted, else its refusal.
  static std::string declare_queue(const amqp::connection_params& p, const std::string& queue) {
    amqp::amqp_connection conn{p};
    auto* state = static_cast<amqp_connection_state_t>(conn.native());
    amqp_queue_declare(state, 1, amqp_cstring_bytes(queue.c_str()), 0, 1, 0, 0, amqp_empty_table);
    return reply_of(conn, "queue.declare");
  }

  amqp::connection_params admin_ = amqp::connection_params::from_env();
  amqp::topology route_;
};

TEST_F(broker_permissions, guest_is_gone_and_a_wrong_password_is_refused) {
  auto guest = admin_;
  guest.user = "guest";
  guest.password = "guest";
  guest.vhost = "/";
  EXPECT_THROW(amqp::amqp_connection{guest}, amqp::amqp_error);
  auto wrong = as("flashsale-gateway", "amqp-writer");  // another account's password
  EXPECT_THROW(amqp::amqp_connection{wrong}, amqp::amqp_error);
}

TEST_F(broker_permissions, the_gateway_user_may_publish_orders_and_do_nothing_else) {
  auto gateway = as("flashsale-gateway", "amqp-gateway");
  EXPECT_EQ(publish(gateway, route_.exchange, route_.queue), "");
  EXPECT_EQ(flashsale::testing::queue_messages(admin_, route_.queue), 1);
  EXPECT_NO_THROW(amqp::amqp_connection{gateway}.verify(route_));  // passive checks are allowed

  EXPECT_NE(consume(gateway, route_.queue).find("403 ACCESS_REFUSED"), std::string::npos);
  EXPECT_NE(publish(gateway, "amq.direct", route_.queue).find("403 ACCESS_REFUSED"),
            std::string::npos);
  EXPECT_NE(declare_queue(gateway, route_.queue + ".mine").find("403 ACCESS_REFUSED"),
            std::string::npos);
  EXPECT_EQ(flashsale::testing::queue_messages(admin_, route_.queue), 1);
}

TEST_F(broker_permissions, the_writer_user_may_consume_orders_and_do_nothing_else) {
  auto writer = as("flashsale-writer", "amqp-writer");
  EXPECT_EQ(consume(writer, route_.queue), "");

  EXPECT_NE(publish(writer, route_.exchange, route_.queue).find("403 ACCESS_REFUSED"),
            std::string::npos);
  EXPECT_NE(publish(writer, "amq.direct", route_.queue).find("403 ACCESS_REFUSED"),
            std::string::npos);
  EXPECT_NE(consume(writer, route_.dead_letter_queue).find("403 ACCESS_REFUSED"),
            std::string::npos);
  EXPECT_NE(declare_queue(writer, route_.queue + ".mine").find("403 ACCESS_REFUSED"),
            std::string::npos);
  EXPECT_EQ(flashsale::testing::queue_messages(admin_, route_.queue), 0);
}

// --- ZooKeeper ----------------------------------------------------------------------------------

/// A sale's tree made as flashsale-admin zk init makes it (by the superuser, with the tree's
/// ACLs), with a grant of gw1's as the quota leader would write it.
class tree_permissions : public ::testing::Test {
 protected:
  void SetUp() override {
    sale_.name = "acl";
    sale_.products.push_back(product_definition{});
    sale_.products.back().id = "TV";
    sale_.products.back().stock = 10;
    quota::init_sale_tree(zk_.session(), paths_, sale_);
    auto granted = zk_.session().create_all(paths_.grant_dir("gw1"));
    ASSERT_EQ(granted, zk::code::ok);
    ASSERT_TRUE(zk_.session().create(grant_, quota::encode(quota::grant_znode{5, false})).ok());
  }

  /// A session as `user` with `account`'s password; an empty user: anonymous.
  std::unique_ptr<zk::blocking_session> as(const std::string& user, const std::string& account) {
    zk::options o;
    o.hosts = zk_.hosts();
    if (!user.empty())
      o.login = flashsale::testing::zookeeper_login(user, account, zk_.root());
    return std::make_unique<zk::blocking_session>(o, std::chrono::seconds{10});
  }

  flashsale::testing::scratch_zookeeper zk_{"flashsale-acl"};
  quota::layout paths_{zk_.root(), "acl"};
  std::string grant_ = paths_.grant("gw1", "TV");
  std::string raised_ = quota::encode(quota::grant_znode{500, false});
  sale_definition sale_;
};

TEST_F(tree_permissions, an_anonymous_client_may_not_even_read) {
  auto anonymous = as("", "");
  EXPECT_EQ(anonymous->set(grant_, raised_).rc, zk::code::no_auth);
  EXPECT_EQ(anonymous->get(grant_).rc, zk::code::no_auth);
  EXPECT_EQ(anonymous->get(paths_.settings()).rc, zk::code::no_auth) << "the draw secret";
  EXPECT_EQ(anonymous->create(paths_.member("intruder"), "{}", zk::create_mode::ephemeral).rc,
            zk::code::no_auth);
  EXPECT_EQ(anonymous->remove(grant_).rc, zk::code::no_auth);
  EXPECT_EQ(quota::decode_grant(zk_.session().get(grant_).data)->grant, 5);
}

TEST_F(tree_permissions, a_wrong_password_counts_as_nobody) {
  zk::options o;  // (a node refuses to start so: tree_login compares the password with its digest)
  o.hosts = zk_.hosts();
  o.login.user = quota::gateway_user;
  o.login.password = password_of("zk-writer");
  auto impostor = std::make_unique<zk::blocking_session>(o, std::chrono::seconds{10});
  EXPECT_EQ(impostor->set(grant_, raised_).rc, zk::code::no_auth);
  EXPECT_EQ(impostor->get(paths_.settings()).rc, zk::code::no_auth);
}

TEST_F(tree_permissions, a_writer_registers_and_finds_the_gateways_but_touches_no_sale) {
  auto writer = as(quota::writer_user, "zk-writer");
  EXPECT_EQ(writer->set(grant_, raised_).rc, zk::code::no_auth);
  EXPECT_EQ(writer->create(paths_.grant("gw1", "Phone"), raised_).rc, zk::code::no_auth);
  EXPECT_EQ(writer->create(paths_.member("w1"), "{}", zk::create_mode::ephemeral).rc,
            zk::code::no_auth)
      << "a writer is no gateway";
  EXPECT_EQ(writer->get(grant_).rc, zk::code::no_auth);
  EXPECT_EQ(writer->get(paths_.settings()).rc, zk::code::no_auth) << "the draw secret";
  EXPECT_TRUE(writer->get_children(paths_.members()).ok());
  EXPECT_TRUE(writer->create(paths_.writer("w1"), "{}", zk::create_mode::ephemeral).ok());
  EXPECT_EQ(writer->create_all(paths_.writers()), zk::code::ok) << "exists: fine";
  EXPECT_EQ(quota::decode_grant(zk_.session().get(grant_).data)->grant, 5);
}

TEST_F(tree_permissions, a_gateway_registers_reports_and_grants_but_is_no_writer) {
  auto gateway = as(quota::gateway_user, "zk-gateway");
  EXPECT_TRUE(gateway->set(grant_, raised_).ok()) << "as the quota leader";
  EXPECT_TRUE(gateway->create(paths_.member("gw2"), "{}", zk::create_mode::ephemeral).ok());
  EXPECT_EQ(gateway->create_all(paths_.consumed_dir("gw2")), zk::code::ok);
  EXPECT_TRUE(gateway->create(paths_.consumed("gw2", "TV"), "{}").ok());
  EXPECT_TRUE(gateway->get(paths_.settings()).ok());
  EXPECT_EQ(gateway->create(paths_.writer("gw2"), "{}", zk::create_mode::ephemeral).rc,
            zk::code::no_auth);
  // The operator's: the stock, the settings and every ACL.
  EXPECT_EQ(gateway->set(paths_.product("TV"), R"({"stock":1000000})").rc, zk::code::no_auth);
  EXPECT_EQ(gateway->set(paths_.settings(), R"({"keep_one_in":1})").rc, zk::code::no_auth);
  EXPECT_EQ(gateway->reset_acl(grant_).rc, zk::code::no_auth);
  // What the gateway made is closed to everyone else too.
  EXPECT_EQ(as("", "")->get(paths_.consumed("gw2", "TV")).rc, zk::code::no_auth);
  EXPECT_EQ(as(quota::writer_user, "zk-writer")->set(paths_.consumed("gw2", "TV"), "{}").rc,
            zk::code::no_auth);
}

TEST_F(tree_permissions, zk_init_closes_what_others_made_open_and_replaces_their_secret) {
  // A client without credentials got there first: the root "/" lets anyone create.
  quota::layout squatted{"/flashsale-squat-" + std::to_string(::getpid()), "acl"};
  zk::options ao;
  ao.hosts = zk_.hosts();
  ao.login = flashsale::testing::admin_zookeeper_login(squatted.root());
  zk::blocking_session as_admin{ao, std::chrono::seconds{10}};
  ASSERT_EQ(as_admin.remove_all(squatted.root()), zk::code::ok);  // a crashed run's
  zk::options o;
  o.hosts = zk_.hosts();
  zk::blocking_session anonymous{o, std::chrono::seconds{10}};
  ASSERT_EQ(anonymous.create_all(squatted.sale()), zk::code::ok);
  auto planted = R"({"draw_secret":"00000000000000000000000000000000"})";
  ASSERT_TRUE(anonymous.create(squatted.settings(), planted).ok());

  quota::init_sale_tree(as_admin, squatted, sale_);

  EXPECT_EQ(anonymous.get(squatted.settings()).rc, zk::code::no_auth);
  EXPECT_EQ(anonymous.create(squatted.product("Phone"), "{}").rc, zk::code::no_auth);
  auto settings = quota::decode_settings(as_admin.get(squatted.settings()).data);
  ASSERT_TRUE(settings && settings->draw_secret);
  EXPECT_NE(*settings->draw_secret, "00000000000000000000000000000000");
  auto kept = *settings->draw_secret;
  quota::init_sale_tree(as_admin, squatted, sale_);  // ours now: the secret stays
  EXPECT_EQ(quota::decode_settings(as_admin.get(squatted.settings()).data)->draw_secret, kept);
  EXPECT_EQ(as_admin.remove_all(squatted.root()), zk::code::ok);
}

}  // namespace

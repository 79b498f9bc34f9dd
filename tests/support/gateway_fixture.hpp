#pragma once

// A sale of the test's own, served by a real flashsale-gateway process (and, when asked, a real
// flashsale-writer): its own sale file, ZooKeeper root, queue, ports and (with a writer) database.
// Plus what the gateway tests read back: JSON answers, the Prometheus /metrics page, runs of
// flashsale-load and flashsale-admin, the order rows of the database, a RabbitMQ restart.
// Needs the private services (scripts/services) and FLASHSALE_* from build/run/endpoints.env.
// Test support only.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "quota/znodes.hpp"
#include "adapters/amqp/amqp_connection.hpp"
#include "adapters/crypto/key_file.hpp"
#include "adapters/db/schema_admin.hpp"
#include "common/sale_definition.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/sale_fixture.hpp"
#include "tests/support/scratch_database.hpp"
#include "tests/support/scratch_zookeeper.hpp"

namespace flashsale::testing {

/// What a test's sale looks like and how its nodes are started.
struct gateway_setup {
  gateway_setup(std::string sale) : sale_text(std::move(sale)) {}  // NOLINT: implicit on purpose

  std::string sale_text;                  ///< the sale file
  int keep_one_in = 1;                    ///< --gateway.keep-one-in
  std::vector<std::string> gateway_args;  ///< more --section.key=value overrides
  bool writer = false;  ///< also a scratch database and a writer node consuming the queue
  /// Buyers need tokens (auth.mode = token): purchase() and the load tool send them, signed with a
  /// key of the test's own. Off: the gateway runs with auth.mode = off (the body names the
  /// buyer), for the tests of everything else.
  bool tokens = false;
  std::int64_t queue_max_length = 1000000;  ///< the order queue's bound (amqp declare)
};

/// The samples of a Prometheus text page (version 0.0.4), by name and labels.
class metrics_page {
 public:
  /// Parses `text`; malformed sample lines are kept in problems().
  static metrics_page parse(const std::string& text);

  /// The sample `name{labels}`, or nothing when the page does not have it.
  std::optional<double> get(const std::string& name,
                            const std::map<std::string, std::string>& labels = {}) const;
  /// As get(), -1 when missing (for readable EXPECT_EQ).
  double value(const std::string& name,
               const std::map<std::string, std::string>& labels = {}) const;
  /// Every sample of `name` as (labels, value), in page order.
  std::vector<std::pair<std::map<std::string, std::string>, double>> all(
      const std::string& name) const;
  /// The "# TYPE name <type>" of `name`, empty when absent.
  std::string type_of(const std::string& name) const;
  const std::vector<std::string>& problems() const { return problems_; }
  const std::string& text() const { return text_; }

 private:
  struct sample {
    std::string name;
    std::map<std::string, std::string> labels;
    double value = 0;
  };
  std::vector<sample> samples_;
  std::map<std::string, std::string> types_;
  std::vector<std::string> problems_;
  std::string text_;
};

/// What a run of flashsale-load reported.
struct load_result {
  int exit_code = -1;  ///< -1: it did not exit in time (it was killed) or died of a signal
  std::uint64_t requests = 0;
  std::uint64_t answered = 0;
  std::uint64_t errors = 0;
  std::map<int, std::uint64_t> statuses;  ///< status code -> answers
  std::uint64_t tickets = 0;
  std::string key_prefix;
  std::string output;  ///< everything it printed

  std::uint64_t status(int code) const {
    auto i = statuses.find(code);
    return i == statuses.end() ? 0 : i->second;
  }
  std::uint64_t statuses_total() const;
};

/// One 202 line of flashsale-load --tickets-out.
struct load_ticket {
  std::string ticket;
  std::string product;
  std::string user;
  std::string idempotency_key;
  /// The request id the gateway gives a purchase with an Idempotency-Key: k/<user>/<key>.
  std::string request_id() const { return "k/" + user + "/" + idempotency_key; }
};

/// flashsale-load running in the background.
class background_load {
 public:
  background_load(std::vector<std::string> args, std::string log_path);
  /// Lets it run on if it was stopped (SIGCONT), waits up to `timeout` for the exit (then kills
  /// it) and parses its report.
  load_result finish(std::chrono::milliseconds timeout);
  /// Holds the buyers back to a trickle (the load runs 10 ms of every 100; SIGCONT / SIGSTOP)
  /// until `done` returns true or `timeout` passes, then lets them run free. For faults that take
  /// seconds to take effect (stopping a server): purchases stay in flight while the fault comes,
  /// and the stock does not sell out before it. `done` is asked while the load is stopped.
  /// Returns its last answer.
  bool trickle_until(const std::function<bool()>& done, std::chrono::milliseconds timeout);
  /// The process, e.g. to hold it back with SIGSTOP / SIGCONT.
  child_process& process() { return *process_; }
  bool running() { return process_->running(); }
  std::string log_tail() const { return process_->log_tail(); }

 private:
  std::unique_ptr<child_process> process_;
  std::string log_path_;
};

/// Runs `binary` with `args` (output to `log`), waits up to `timeout`, then kills it. Returns its
/// exit code, -1 when it did not exit in time or died of a signal; its output in *output if given.
int run_tool(const std::string& binary, const std::vector<std::string>& args,
             const std::string& log, std::chrono::milliseconds timeout,
             std::string* output = nullptr);

/// The 202 lines of a flashsale-load --tickets-out file; an unreadable line fails the test.
std::vector<load_ticket> read_tickets(const std::string& path);

/// Polls `done` every `period` until it returns true or `timeout` passes; returns its last answer.
bool poll_until(const std::function<bool()>& done, std::chrono::milliseconds timeout,
                std::chrono::milliseconds period = std::chrono::milliseconds{50});

class gateway_fixture : public sale_fixture {
 protected:
  void TearDown() override;

  /// Creates the sale (file, ZooKeeper tree, queue names; with a writer its database and
  /// products), starts the writer and the gateway, and waits until the gateway is healthy and
  /// holds its grant of every product. Use with ASSERT_NO_FATAL_FAILURE.
  void start(const gateway_setup& setup);

  // --- HTTP ---------------------------------------------------------------------------------
  /// One request on a fresh connection (a refused connection is a reply with status 0).
  http_reply request(const std::string& method, const std::string& target,
                     const std::string& body = {},
                     const std::map<std::string, std::string>& headers = {});
  /// POST /v1/products/<product>/purchase {"user":"<user>"}, with the user's token when the
  /// setup has tokens.
  http_reply purchase(const std::string& product, const std::string& user);
  /// "Bearer <token>" for `user` in this sale, issued now, valid for `ttl_s`, signed with the
  /// gateway's key (setups with tokens).
  std::string bearer(const std::string& user, std::int64_t ttl_s = 600) const;
  /// The body as a JSON object; an empty object when it is not one (so .value() never throws).
  static nlohmann::json json_of(const http_reply& reply);
  /// `text` as a JSON object; an empty object when it is not one.
  static nlohmann::json object_of(const std::string& text);
  /// The "status" string of a JSON body, "" when there is none.
  static std::string status_of(const http_reply& reply);
  /// GET /v1/products/<product> as JSON; a failure (not 200, not a JSON object) fails the test
  /// and gives an empty object.
  nlohmann::json product_state(const std::string& product);
  /// quota_left of GET /v1/products/<product>; -1 when it cannot be read.
  std::int64_t quota_left(const std::string& product);
  /// GET /metrics, parsed; a failure (not 200, wrong content type) fails the test.
  metrics_page scrape();
  /// Polls GET /v1/products/<product> until its "state" is `state` or `timeout` passes.
  bool wait_for_state(const std::string& product, const std::string& state,
                      std::chrono::milliseconds timeout);

  // --- tools --------------------------------------------------------------------------------
  /// flashsale-admin sale <verb> --sale FILE --zk HOSTS --zk-root ROOT.
  int sale_window(const std::string& verb, std::string* output = nullptr);
  /// flashsale-load against this gateway with `args` (--port is added, and with tokens
  /// --token-key and --sale); waits up to `timeout`.
  load_result run_load(const std::vector<std::string>& args, std::chrono::milliseconds timeout);
  /// Starts flashsale-load against this gateway in the background (--port is added).
  std::unique_ptr<background_load> start_load(const std::vector<std::string>& args,
                                              const std::string& name);

  // --- RabbitMQ, ZooKeeper, PostgreSQL -------------------------------------------------------
  /// Purchases in the messages ready in the order queue (-1: as queued(), or one did not
  /// decode); reads them without taking them. Only while no writer consumes the queue.
  std::int64_t queued_purchases();
  /// The request id of every order row of `product` (the scratch database; needs a writer).
  std::vector<std::string> order_request_ids(const std::string& product);
  /// The data of the sale's settings znode, nothing when it does not exist.
  std::optional<std::string> settings_znode();

  // --- logs ---------------------------------------------------------------------------------
  std::string gateway_log() const { return gateway_ ? gateway_->log_tail(40) : std::string{}; }
  std::string writer_log() const { return writer_ ? writer_->log_tail(40) : std::string{}; }

  int http_port_ = 0;
  std::string key_file_;          ///< the buyer-token key's file (setups with tokens), else empty
  crypto::secret_key token_key_;  ///< the key in it
  std::unique_ptr<child_process> writer_;
  std::unique_ptr<child_process> gateway_;
};

}  // namespace flashsale::testing

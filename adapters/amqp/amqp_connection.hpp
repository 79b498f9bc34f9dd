#pragma once

// A RabbitMQ connection with one open channel (rabbitmq-c 0.11). Not thread-safe: one thread owns
// it. rabbitmq-c headers stay out of this header; amqp_connection::native() hands out the raw state
// (as void*) to the other files of this adapter only.

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/host_list.hpp"

namespace flashsale::amqp {

/// One broker of a cluster.
using broker_address = host_port;

/// The brokers of `list`, "host:port[,host:port...]" (spaces around entries ignored). Throws
/// amqp_error naming the entry when one is empty, has no port, or a port outside 1-65535.
std::vector<broker_address> parse_broker_list(const std::string& list);

/// Where and how to connect.
struct connection_params {
  std::string host = "127.0.0.1";  ///< the broker, when `brokers` is empty
  int port = 56729;
  /// The nodes of a cluster, tried in turn; when not empty, host and port are not used.
  std::vector<broker_address> brokers;
  std::string user;
  std::string password;
  std::string vhost = "flashsale";
  std::chrono::milliseconds connect_timeout{3000};  ///< TCP connect and login
  int heartbeat_s = 10;                             ///< AMQP heartbeat; 0 disables

  /// FLASHSALE_AMQP_{HOST,PORT,HOSTS,VHOST,USER} from the environment over the defaults above
  /// (HOSTS: a broker list as parse_broker_list reads it), and the password from the secret file
  /// FLASHSALE_AMQP_PASSWORD_FILE names (none when unset). Throws amqp_error when that file or the
  /// list cannot be used.
  static connection_params from_env();
  /// The brokers to try, in order: `brokers`, or host:port alone.
  std::vector<broker_address> candidates() const;
  /// "host:port[,host:port...]" of candidates(), for log lines.
  std::string endpoint() const;
};

/// Any failure of the broker or the connection; what() says what was attempted and why it failed.
class amqp_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// How an order queue is stored: a classic queue on one broker, or a quorum queue replicated by
/// Raft over the nodes of a cluster (a publish is confirmed once a majority has stored it).
enum class queue_type { classic, quorum };

/// "classic" or "quorum".
const char* to_string(queue_type t);

/// The order queues' type where none is asked for: quorum when `params` name several brokers (a
/// cluster), classic for one.
queue_type default_queue_type(const connection_params& params);

/// Exchange, queues and their arguments, declared identically by publishers and consumers. The
/// one place that knows the queue names: purchases of a hot product go to a queue of their own,
/// `<queue>.<product>`, every other purchase to `queue`.
struct topology {
  std::string exchange = "flashsale";                ///< durable direct exchange
  std::string queue = "flashsale.orders";            ///< durable; routing key = queue name
  std::string dead_letter_queue = "flashsale.dead";  ///< rejected (undecodable) messages end here
  std::int64_t max_length = 1000000;      ///< per queue; overflow = reject-publish (nack)
  std::vector<std::string> hot_products;  ///< products with a queue of their own
  queue_type type = queue_type::classic;  ///< of the order and dead-letter queues

  /// The queue purchases of `product` go to.
  std::string queue_of(const std::string& product) const;
  /// Every order queue: `queue` first, then one per hot product (declared, bound and consumed).
  std::vector<std::string> queues() const;
};

/// What the broker reports about a queue.
struct queue_state {
  std::uint32_t messages = 0;   ///< ready for delivery (unacked deliveries are not counted)
  std::uint32_t consumers = 0;  ///< active consumers
};

class amqp_connection {
 public:
  /// Connects to the first of params.candidates() that answers, starting at index `first`
  /// (modulo their number) and trying each once in turn, each bounded by connect_timeout; logs
  /// in and opens channel 1. Blocks for at most connect_timeout per candidate. Throws amqp_error
  /// naming every broker tried and why each failed.
  explicit amqp_connection(const connection_params& params, std::size_t first = 0);
  ~amqp_connection();
  amqp_connection(const amqp_connection&) = delete;
  amqp_connection& operator=(const amqp_connection&) = delete;

  /// Declares the exchange, every order queue of `t` (durable, of type t.type: classic version 2
  /// or quorum, bounded, reject-publish, dead-lettered, bound under its own name) and the
  /// dead-letter queue (same type); idempotent as long as the arguments match (a queue declared
  /// with other arguments or of the other type is refused by the broker: delete it). Needs
  /// configure permission (the admin user). Throws amqp_error.
  void declare(const topology& t);

  /// Checks, by passive declares (which need no permission), that the exchange, the order queues
  /// and the dead-letter queue of `t` exist. Throws amqp_error naming the first missing one and
  /// saying that `flashsale-admin amqp declare` makes them; the channel is then closed (use a new
  /// connection).
  void verify(const topology& t);

  /// The broker's view of an existing queue (passive declare: creates nothing). Throws amqp_error
  /// when the queue does not exist (the channel is then closed: use a new connection).
  queue_state inspect(const std::string& queue);

  /// Deletes a queue and whatever it holds (tests, tools). Throws amqp_error.
  void delete_queue(const std::string& queue);

  /// Raw amqp_connection_state_t for this adapter's own files.
  void* native() const { return state_; }
  const connection_params& params() const { return params_; }
  /// The index in params().candidates() of the broker this connection reached.
  std::size_t broker_index() const { return index_; }
  /// "host:port" of that broker.
  const std::string& broker() const { return broker_; }

  /// Throws amqp_error describing the last RPC reply when it was not normal.
  void check_rpc(const char* what);

 private:
  void declare_order_queue(const topology& t, const std::string& queue);

  /// Connects to one broker; throws amqp_error.
  void open(const broker_address& b);

  connection_params params_;
  void* state_ = nullptr;
  std::size_t index_ = 0;
  std::string broker_;
};

/// Throws amqp_error(what + ": " + library message) when `status` (an amqp_status_enum) is an
/// error.
void check_status(int status, const std::string& what);

}  // namespace flashsale::amqp

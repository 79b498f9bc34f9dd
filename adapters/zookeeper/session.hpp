#pragma once

// A ZooKeeper session over the C client's multi-threaded flavour (libzookeeper_mt 3.8), as a thin
// RAII handle. Every operation is asynchronous: its outcome arrives exactly once through a
// std::function, and every operation has a deadline (options::op_timeout) after which it is
// reported as `timeout` whatever the server does later. Watches are the C client's one-shot
// watches on the session's default watcher: the event names the path, the application re-reads
// (with watch = true) to re-arm. Session states (connected, connecting, expired) arrive through the
// same event callback. An expired session stays expired: the owner destroys this object and makes
// a new one (new session, new ephemerals). zookeeper.h stays out of this header.
//
// Threads: the C client runs an I/O thread and one completion thread; results and events are
// delivered on the completion thread, operation timeouts on this object's timer thread, and an
// operation the client refuses at once (e.g. the session is expired) on the calling thread.
// Callbacks must never block and must never destroy the session: hand the result to an actor
// (caf::anon_send) and return.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace flashsale::zk {

/// Result codes: the C client's (ZOK, ZNONODE, ...) with their numeric values, plus `timeout` for
/// an operation whose deadline passed first.
enum class code : int {
  ok = 0,
  system_error = -1,
  connection_loss = -4,
  marshalling_error = -5,
  timeout = -7,  ///< ZOPERATIONTIMEOUT: the client's or this adapter's deadline passed
  bad_arguments = -8,
  invalid_state = -9,  ///< the handle is expired or closed
  no_node = -101,
  no_auth = -102,
  bad_version = -103,
  no_children_for_ephemerals = -108,
  node_exists = -110,
  not_empty = -111,
  session_expired = -112,
  closing = -116,
  session_moved = -118,
};

/// "ZNONODE (no node)"-style text for logs; also for codes not listed above.
std::string to_string(code c);

/// Metadata of a znode (the C client's struct Stat).
struct node_stat {
  std::int64_t czxid = 0;
  std::int64_t mzxid = 0;  ///< zxid of the last change: grows with every write anywhere
  std::int64_t ctime_ms = 0;
  std::int64_t mtime_ms = 0;  ///< server wall clock of the last change
  std::int32_t version = -1;  ///< data version: what versioned writes check
  std::int32_t cversion = 0;
  std::int64_t ephemeral_owner = 0;  ///< session id of the owner, 0 for persistent nodes
  std::int32_t num_children = 0;
};

/// Permission bits of an ACL entry (the C client's ZOO_PERM_*).
namespace perm {
constexpr int read = 1;
constexpr int write = 2;
constexpr int create = 4;
constexpr int remove = 8;
constexpr int admin = 16;
constexpr int all = 31;
}  // namespace perm

/// One entry of an access control list: an identity of ZooKeeper's digest scheme as the server
/// stores it (digest_id()) and what it may do (perm bits). Entries read back from the server may
/// be of another scheme (e.g. world:anyone).
struct acl_entry {
  std::string digest_id;
  int perms = 0;
  std::string scheme = "digest";

  bool operator==(const acl_entry& o) const {
    return digest_id == o.digest_id && perms == o.perms && scheme == o.scheme;
  }
};

/// Outcome of one operation. Which fields are set depends on the operation.
struct result {
  code rc = code::ok;
  std::string data;                   ///< get
  node_stat stat;                     ///< get, exists, set
  std::vector<std::string> children;  ///< get_children (names, not paths)
  std::string path;                   ///< create: the created path (with the sequence suffix)
  std::vector<code> op_results;       ///< multi: one code per op (the first failing op says why)
  std::vector<acl_entry> acl;         ///< get_acl

  bool ok() const { return rc == code::ok; }
};

/// Called exactly once per operation (see the thread rules above).
using callback = std::function<void(result)>;

enum class create_mode { persistent, ephemeral, persistent_sequential, ephemeral_sequential };

/// One operation of an atomic multi (zoo_amulti): all apply or none.
struct op {
  enum class kind { create, set, check, remove } type = kind::check;
  std::string path;
  std::string data;                            ///< create, set
  std::int32_t version = -1;                   ///< set, check, remove; -1: any version
  create_mode mode = create_mode::persistent;  ///< create

  static op create(std::string path, std::string data, create_mode mode = create_mode::persistent);
  static op set(std::string path, std::string data, std::int32_t version);
  static op check(std::string path, std::int32_t version);
  static op remove(std::string path, std::int32_t version);
};

/// Session state as reported with session events.
enum class session_state { connecting, connected, expired, auth_failed, closed };

const char* to_string(session_state s);

/// A watch or session event.
struct event {
  enum class kind { session, created, deleted, changed, child, not_watching } type = kind::session;
  session_state state = session_state::connecting;
  std::string path;  ///< the watched path; empty for session events
};

/// Called for every event on the completion thread. Must not block.
using event_callback = std::function<void(const event&)>;

/// The access control list a session gives each znode it creates, by the znode's path. Called
/// on the thread that starts the create; must not block.
using acl_policy = std::function<std::vector<acl_entry>(const std::string& path)>;

/// Who a session is (digest scheme) and what the znodes it creates allow.
struct credentials {
  std::string user;      ///< empty: anonymous
  std::string password;  ///< with user: authenticates the session as "user:password"
  acl_policy acl;        ///< unset: created znodes are open to everyone (OPEN_ACL_UNSAFE)
};

/// ZooKeeper's name of a digest identity: "user:" + base64(SHA-1("user:password")).
std::string digest_id(const std::string& user, const std::string& password);

struct options {
  std::string hosts = "127.0.0.1:21810";            ///< "host:port,host:port"
  std::chrono::milliseconds session_timeout{6000};  ///< asked for; the server may adjust it
  std::chrono::milliseconds op_timeout{3000};       ///< per-operation deadline
  credentials login;  ///< sent once the session starts, again by the client after reconnects
};

/// One session. Construction starts connecting in the background (the first event says
/// `connected`); destruction closes the session (its ephemerals vanish at once), reports every
/// outstanding operation as `closing`, and joins the client's threads. Not copyable. The
/// operation functions are thread-safe. Never destroy it from one of its own callbacks.
class session {
 public:
  /// Throws std::runtime_error when the client cannot even start (bad host string). With
  /// opts.login.user set, the session authenticates before any operation runs (the client queues
  /// operations behind its auth packet); a wrong password is no error of its own: the server
  /// then answers no_auth to what the identity may not do.
  session(options opts, event_callback on_event);
  ~session();
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  void get(const std::string& path, bool watch, callback done);
  void get_children(const std::string& path, bool watch, callback done);
  /// no_node when absent; with watch = true the watch is set either way (creation is an event).
  void exists(const std::string& path, bool watch, callback done);
  void create(const std::string& path, const std::string& data, create_mode mode, callback done);
  /// Versioned write: bad_version when the node's version is not `version` (-1 skips the check).
  void set(const std::string& path, const std::string& data, std::int32_t version, callback done);
  void remove(const std::string& path, std::int32_t version, callback done);
  /// The znode's access control list (needs the admin permission or the superuser).
  void get_acl(const std::string& path, callback done);
  /// Replaces the znode's access control list with what the session's policy gives for `path`
  /// (needs the admin permission or the superuser; any ACL version).
  void reset_acl(const std::string& path, callback done);
  /// All ops or none; rc is the first failure, op_results says which op failed.
  void multi(std::vector<op> ops, callback done);

  /// The session timeout the server granted (0 before the first connection).
  std::chrono::milliseconds negotiated_timeout() const;
  /// The server's session id (0 before the first connection).
  std::int64_t session_id() const;
  const options& settings() const;

 private:
  struct core;
  std::shared_ptr<core> core_;
};

}  // namespace flashsale::zk

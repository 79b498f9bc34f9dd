#pragma once

// A ZooKeeper session whose calls block until their result, for command-line tools and tests.
// Never use it inside an actor or a ZooKeeper callback: every call waits (up to the operation
// timeout of its options).

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "adapters/zookeeper/session.hpp"

namespace flashsale::zk {

class blocking_session {
 public:
  /// Connects; throws std::runtime_error naming the hosts when the session is not connected within
  /// `connect_timeout`. `on_watch` (optional) receives the watch events of reads made with
  /// watch = true, on the client's completion thread (it must not block or call this session).
  explicit blocking_session(options opts,
                            std::chrono::milliseconds connect_timeout = std::chrono::seconds{10},
                            event_callback on_watch = {});
  ~blocking_session();
  blocking_session(const blocking_session&) = delete;
  blocking_session& operator=(const blocking_session&) = delete;

  result get(const std::string& path, bool watch = false);
  result get_children(const std::string& path, bool watch = false);
  result exists(const std::string& path, bool watch = false);
  result create(const std::string& path, const std::string& data,
                create_mode mode = create_mode::persistent);
  result set(const std::string& path, const std::string& data, std::int32_t version = -1);
  result remove(const std::string& path, std::int32_t version = -1);
  result get_acl(const std::string& path);
  result reset_acl(const std::string& path);
  result multi(std::vector<op> ops);

  /// Creates `path` and its missing ancestors as empty persistent nodes (like mkdir -p).
  /// Returns ok, or the first failure other than node_exists. An ancestor this identity may not
  /// create children in is fine when the node exists already (the server checks the parent's
  /// ACL before it checks whether the node exists).
  code create_all(const std::string& path);
  /// Deletes `path` with everything below it (like rm -r). A missing node is ok.
  code remove_all(const std::string& path);

  /// The underlying asynchronous session (e.g. to hand to code that wants callbacks).
  session& async() { return *session_; }
  /// True once the session is expired (every call then fails).
  bool expired() const;

 private:
  struct shared;
  std::shared_ptr<shared> shared_;
  std::unique_ptr<session> session_;
};

}  // namespace flashsale::zk

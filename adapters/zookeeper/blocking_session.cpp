#include "adapters/zookeeper/blocking_session.hpp"

#include <condition_variable>
#include <future>
#include <stdexcept>

namespace flashsale::zk {

struct blocking_session::shared {
  std::mutex mtx;
  std::condition_variable cv;
  session_state state = session_state::connecting;
};

namespace {

/// Starts an operation and waits for its callback (which always comes: the session enforces the
/// operation deadline).
template <class Start>
result wait_for(Start start) {
  auto promise = std::make_shared<std::promise<result>>();
  auto future = promise->get_future();
  start([promise](result r) { promise->set_value(std::move(r)); });
  return future.get();
}

}  // namespace

blocking_session::blocking_session(options opts, std::chrono::milliseconds connect_timeout,
                                   event_callback on_watch)
    : shared_(std::make_shared<shared>()) {
  auto hosts = opts.hosts;
  std::weak_ptr<shared> weak = shared_;
  session_ = std::make_unique<session>(std::move(opts), [weak, on_watch](const event& e) {
    if (e.type != event::kind::session) {
      if (on_watch)
        on_watch(e);
      return;
    }
    if (auto s = weak.lock()) {
      {
        std::lock_guard<std::mutex> guard{s->mtx};
        s->state = e.state;
      }
      s->cv.notify_all();
    }
  });
  std::unique_lock<std::mutex> lock{shared_->mtx};
  if (!shared_->cv.wait_for(lock, connect_timeout,
                            [this] { return shared_->state != session_state::connecting; }) ||
      shared_->state != session_state::connected) {
    auto state = shared_->state;
    lock.unlock();
    session_.reset();
    throw std::runtime_error("zookeeper: no session with " + hosts + " within " +
                             std::to_string(connect_timeout.count()) + " ms (state " +
                             to_string(state) + ")");
  }
}

blocking_session::~blocking_session() = default;

bool blocking_session::expired() const {
  std::lock_guard<std::mutex> guard{shared_->mtx};
  return shared_->state == session_state::expired;
}

result blocking_session::get(const std::string& path, bool watch) {
  return wait_for([&](callback done) { session_->get(path, watch, std::move(done)); });
}

result blocking_session::get_children(const std::string& path, bool watch) {
  return wait_for([&](callback done) { session_->get_children(path, watch, std::move(done)); });
}

result blocking_session::exists(const std::string& path, bool watch) {
  return wait_for([&](callback done) { session_->exists(path, watch, std::move(done)); });
}

result blocking_session::create(const std::string& path, const std::string& data,
                                create_mode mode) {
  return wait_for([&](callback done) { session_->create(path, data, mode, std::move(done)); });
}

result blocking_session::set(const std::string& path, const std::string& data,
                             std::int32_t version) {
  return wait_for([&](callback done) { session_->set(path, data, version, std::move(done)); });
}

result blocking_session::remove(const std::string& path, std::int32_t version) {
  return wait_for([&](callback done) { session_->remove(path, version, std::move(done)); });
}

result blocking_session::get_acl(const std::string& path) {
  return wait_for([&](callback done) { session_->get_acl(path, std::move(done)); });
}

result blocking_session::reset_acl(const std::string& path) {
  return wait_for([&](callback done) { session_->reset_acl(path, std::move(done)); });
}

result blocking_session::multi(std::vector<op> ops) {
  return wait_for([&](callback done) { session_->multi(std::move(ops), std::move(done)); });
}

code blocking_session::create_all(const std::string& path) {
  if (path.empty() || path[0] != '/')
    return code::bad_arguments;
  for (std::size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/')
      continue;
    auto prefix = path.substr(0, pos);
    auto r = create(prefix, "");
    if (r.rc == code::no_auth && exists(prefix).ok())
      continue;
    if (!r.ok() && r.rc != code::node_exists)
      return r.rc;
  }
  return code::ok;
}

code blocking_session::remove_all(const std::string& path) {
  auto kids = get_children(path);
  if (kids.rc == code::no_node)
    return code::ok;
  if (!kids.ok())
    return kids.rc;
  for (const auto& child : kids.children) {
    auto rc = remove_all(path == "/" ? "/" + child : path + "/" + child);
    if (rc != code::ok)
      return rc;
  }
  auto r = remove(path);
  return r.ok() || r.rc == code::no_node ? code::ok : r.rc;
}

}  // namespace flashsale::zk

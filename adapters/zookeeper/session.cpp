#include "adapters/zookeeper/session.hpp"

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <thread>

#include <spdlog/spdlog.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <zookeeper/zookeeper.h>

namespace flashsale::zk {

static_assert(static_cast<int>(code::ok) == ZOK);
static_assert(static_cast<int>(code::connection_loss) == ZCONNECTIONLOSS);
static_assert(static_cast<int>(code::timeout) == ZOPERATIONTIMEOUT);
static_assert(static_cast<int>(code::invalid_state) == ZINVALIDSTATE);
static_assert(static_cast<int>(code::no_node) == ZNONODE);
static_assert(static_cast<int>(code::no_auth) == ZNOAUTH);
static_assert(static_cast<int>(code::bad_version) == ZBADVERSION);
static_assert(static_cast<int>(code::node_exists) == ZNODEEXISTS);
static_assert(static_cast<int>(code::not_empty) == ZNOTEMPTY);
static_assert(static_cast<int>(code::session_expired) == ZSESSIONEXPIRED);
static_assert(static_cast<int>(code::closing) == ZCLOSING);
static_assert(static_cast<int>(code::no_children_for_ephemerals) == ZNOCHILDRENFOREPHEMERALS);

std::string to_string(code c) {
  auto n = static_cast<int>(c);
  return std::string(zerror(n)) + " (" + std::to_string(n) + ")";
}

const char* to_string(session_state s) {
  switch (s) {
    case session_state::connecting:
      return "connecting";
    case session_state::connected:
      return "connected";
    case session_state::expired:
      return "expired";
    case session_state::auth_failed:
      return "auth_failed";
    case session_state::closed:
      return "closed";
  }
  return "invalid";
}

op op::create(std::string path, std::string data, create_mode mode) {
  op o;
  o.type = kind::create;
  o.path = std::move(path);
  o.data = std::move(data);
  o.mode = mode;
  return o;
}

op op::set(std::string path, std::string data, std::int32_t version) {
  op o;
  o.type = kind::set;
  o.path = std::move(path);
  o.data = std::move(data);
  o.version = version;
  return o;
}

op op::check(std::string path, std::int32_t version) {
  op o;
  o.type = kind::check;
  o.path = std::move(path);
  o.version = version;
  return o;
}

op op::remove(std::string path, std::int32_t version) {
  op o;
  o.type = kind::remove;
  o.path = std::move(path);
  o.version = version;
  return o;
}

namespace {

using clock = std::chrono::steady_clock;

/// The server's answer to the credentials (digest credentials are never refused: a wrong
/// password only makes an identity without rights).
void on_auth(int rc, const void*) {
  if (rc != ZOK)
    spdlog::error("zookeeper: the server refused the credentials: {}", zerror(rc));
}

/// The C client's ACL_vector for a znode about to be created, from the session's policy (open to
/// everyone without one; an empty list from the policy is sent as it is, and refused). Owns the
/// strings the vector points into; get() builds the vector, so move it only before that.
class native_acl {
 public:
  native_acl(const acl_policy& policy, const std::string& path) : open_(!policy) {
    if (policy)
      entries_ = policy(path);
  }

  ACL_vector* get() {
    if (open_)
      return &ZOO_OPEN_ACL_UNSAFE;
    acl_.clear();
    for (auto& e : entries_)
      acl_.push_back(ACL{e.perms, Id{e.scheme.data(), e.digest_id.data()}});
    vector_ = ACL_vector{static_cast<std::int32_t>(acl_.size()), acl_.data()};
    return &vector_;
  }

 private:
  bool open_;
  std::vector<acl_entry> entries_;
  std::vector<ACL> acl_;
  ACL_vector vector_{0, nullptr};
};

int native_mode(create_mode m) {
  switch (m) {
    case create_mode::persistent:
      return ZOO_PERSISTENT;
    case create_mode::ephemeral:
      return ZOO_EPHEMERAL;
    case create_mode::persistent_sequential:
      return ZOO_PERSISTENT_SEQUENTIAL;
    case create_mode::ephemeral_sequential:
      return ZOO_EPHEMERAL_SEQUENTIAL;
  }
  return ZOO_PERSISTENT;
}

node_stat convert(const Stat* s) {
  node_stat out;
  if (s == nullptr)
    return out;
  out.czxid = s->czxid;
  out.mzxid = s->mzxid;
  out.ctime_ms = s->ctime;
  out.mtime_ms = s->mtime;
  out.version = s->version;
  out.cversion = s->cversion;
  out.ephemeral_owner = s->ephemeralOwner;
  out.num_children = s->numChildren;
  return out;
}

session_state convert_state(int state) {
  if (state == ZOO_CONNECTED_STATE || state == ZOO_READONLY_STATE)
    return session_state::connected;
  if (state == ZOO_EXPIRED_SESSION_STATE)
    return session_state::expired;
  if (state == ZOO_AUTH_FAILED_STATE)
    return session_state::auth_failed;
  if (state == ZOO_CONNECTING_STATE || state == ZOO_ASSOCIATING_STATE)
    return session_state::connecting;
  return session_state::closed;
}

event::kind convert_type(int type) {
  if (type == ZOO_CREATED_EVENT)
    return event::kind::created;
  if (type == ZOO_DELETED_EVENT)
    return event::kind::deleted;
  if (type == ZOO_CHANGED_EVENT)
    return event::kind::changed;
  if (type == ZOO_CHILD_EVENT)
    return event::kind::child;
  if (type == ZOO_NOTWATCHING_EVENT)
    return event::kind::not_watching;
  return event::kind::session;
}

/// The C client's own log lines (it formats them with its level name): its errors and warnings
/// (connection drops, expired sessions) are worth keeping next to ours.
void client_log(const char* message) {
  std::string_view text{message};
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
    text.remove_suffix(1);
  if (text.find("ZOO_ERROR@") != std::string_view::npos)
    spdlog::warn("zookeeper client: {}", text);
  else if (text.find("ZOO_WARN@") != std::string_view::npos)
    spdlog::info("zookeeper client: {}", text);
  else
    spdlog::debug("zookeeper client: {}", text);
}

}  // namespace

struct session::core {
  struct pending {
    clock::time_point deadline;
    callback done;
  };

  /// What the C client hands back to a completion: owned by the client until it calls back.
  struct request {
    core* owner = nullptr;
    std::uint64_t id = 0;
    // multi only: everything zoo_amulti points into must live until the completion.
    std::vector<op> source;
    std::vector<zoo_op_t> ops;
    std::vector<zoo_op_result_t> results;
    std::vector<Stat> stats;
    std::vector<std::vector<char>> path_buffers;
    std::vector<native_acl> acls;
  };

  options opts;
  event_callback on_event;
  zhandle_t* handle = nullptr;
  std::atomic<std::int64_t> id{0};
  std::atomic<std::int64_t> negotiated_ms{0};

  std::mutex mtx;
  std::condition_variable cv;
  std::map<std::uint64_t, pending> waiting;  // by id; equal timeouts make it deadline-ordered
  std::uint64_t next_id = 1;
  bool stopping = false;
  std::thread timer;

  /// Registers `done` and hands a fresh request to `submit`, which returns the client's code.
  template <class Submit>
  void start(callback done, Submit submit, request* req = nullptr) {
    if (req == nullptr)
      req = new request;
    req->owner = this;
    {
      std::lock_guard<std::mutex> guard{mtx};
      req->id = next_id++;
      waiting.emplace(req->id, pending{clock::now() + opts.op_timeout, std::move(done)});
    }
    cv.notify_one();
    auto id = req->id;
    int rc = submit(req);
    if (rc != ZOK) {
      delete req;
      result r;
      r.rc = static_cast<code>(rc);
      finish(id, std::move(r));
    }
  }

  /// Delivers the outcome of operation `id` unless its deadline already reported it.
  void finish(std::uint64_t op_id, result r) {
    callback done;
    {
      std::lock_guard<std::mutex> guard{mtx};
      auto i = waiting.find(op_id);
      if (i == waiting.end())
        return;
      done = std::move(i->second.done);
      waiting.erase(i);
    }
    done(std::move(r));
  }

  void run_timer() {
    std::unique_lock<std::mutex> lock{mtx};
    while (!stopping) {
      if (waiting.empty()) {
        cv.wait(lock);
        continue;
      }
      auto deadline = waiting.begin()->second.deadline;
      if (clock::now() < deadline) {
        cv.wait_until(lock, deadline);
        continue;
      }
      std::vector<callback> expired;
      auto now = clock::now();
      while (!waiting.empty() && waiting.begin()->second.deadline <= now) {
        expired.push_back(std::move(waiting.begin()->second.done));
        waiting.erase(waiting.begin());
      }
      lock.unlock();
      for (auto& done : expired) {
        result r;
        r.rc = code::timeout;
        done(std::move(r));
      }
      lock.lock();
    }
  }

  // -- C trampolines (completion thread) ----------------------------------------------------

  static request* take(const void* data) { return static_cast<request*>(const_cast<void*>(data)); }

  static void on_data(int rc, const char* value, int len, const Stat* stat, const void* data) {
    auto* req = take(data);
    result r;
    r.rc = static_cast<code>(rc);
    if (rc == ZOK) {
      if (value != nullptr && len > 0)
        r.data.assign(value, static_cast<std::size_t>(len));
      r.stat = convert(stat);
    }
    req->owner->finish(req->id, std::move(r));
    delete req;
  }

  static void on_strings(int rc, const String_vector* strings, const void* data) {
    auto* req = take(data);
    result r;
    r.rc = static_cast<code>(rc);
    if (rc == ZOK && strings != nullptr)
      for (int i = 0; i < strings->count; ++i)
        r.children.emplace_back(strings->data[i]);
    req->owner->finish(req->id, std::move(r));
    delete req;
  }

  static void on_acl(int rc, ACL_vector* acl, Stat* stat, const void* data) {
    auto* req = take(data);
    result r;
    r.rc = static_cast<code>(rc);
    if (rc == ZOK) {
      r.stat = convert(stat);
      for (std::int32_t i = 0; acl != nullptr && i < acl->count; ++i)
        r.acl.push_back(acl_entry{acl->data[i].id.id, acl->data[i].perms, acl->data[i].id.scheme});
    }
    req->owner->finish(req->id, std::move(r));
    delete req;
  }

  static void on_stat(int rc, const Stat* stat, const void* data) {
    auto* req = take(data);
    result r;
    r.rc = static_cast<code>(rc);
    if (rc == ZOK)
      r.stat = convert(stat);
    req->owner->finish(req->id, std::move(r));
    delete req;
  }

  static void on_string(int rc, const char* value, const void* data) {
    auto* req = take(data);
    result r;
    r.rc = static_cast<code>(rc);
    if (rc == ZOK && value != nullptr)
      r.path = value;
    req->owner->finish(req->id, std::move(r));
    delete req;
  }

  static void on_void(int rc, const void* data) {
    auto* req = take(data);
    result r;
    r.rc = static_cast<code>(rc);
    for (const auto& res : req->results)
      r.op_results.push_back(static_cast<code>(res.err));
    req->owner->finish(req->id, std::move(r));
    delete req;
  }

  static void on_watch(zhandle_t* zh, int type, int state, const char* path, void* context) {
    auto* self = static_cast<core*>(context);
    event e;
    e.type = convert_type(type);
    e.state = convert_state(state);
    if (path != nullptr)
      e.path = path;
    if (e.type == event::kind::session && e.state == session_state::connected) {
      if (const auto* client = zoo_client_id(zh))
        self->id.store(client->client_id);
      self->negotiated_ms.store(zoo_recv_timeout(zh));
    }
    if (self->on_event)
      self->on_event(e);
  }
};

std::string digest_id(const std::string& user, const std::string& password) {
  auto text = user + ":" + password;
  unsigned char hash[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), hash);
  unsigned char encoded[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
  int n = EVP_EncodeBlock(encoded, hash, SHA_DIGEST_LENGTH);
  return user + ":" +
         std::string(reinterpret_cast<const char*>(encoded), static_cast<std::size_t>(n));
}

session::session(options opts, event_callback on_event) : core_(std::make_shared<core>()) {
  static std::once_flag log_level_once;
  std::call_once(log_level_once, [] { zoo_set_debug_level(ZOO_LOG_LEVEL_WARN); });
  core_->opts = std::move(opts);
  core_->on_event = std::move(on_event);
  core_->timer = std::thread([c = core_.get()] { c->run_timer(); });
  core_->handle = zookeeper_init2(core_->opts.hosts.c_str(), &core::on_watch,
                                  static_cast<int>(core_->opts.session_timeout.count()), nullptr,
                                  core_.get(), 0, &client_log);
  if (core_->handle == nullptr) {
    {
      std::lock_guard<std::mutex> guard{core_->mtx};
      core_->stopping = true;
    }
    core_->cv.notify_all();
    core_->timer.join();
    throw std::runtime_error("zookeeper: cannot start a client for '" + core_->opts.hosts +
                             "' (errno " + std::to_string(errno) + ")");
  }
  // By default the client resolves the server names again every time it polls its socket (about
  // a hundred getaddrinfo calls a second in a busy gateway). A changed address is still found
  // within this window, and at once after a connection loss.
  zoo_set_servers_resolution_delay(core_->handle, 10000);
  const auto& login = core_->opts.login;
  if (!login.user.empty()) {
    auto cert = login.user + ":" + login.password;
    int rc = zoo_add_auth(core_->handle, "digest", cert.data(), static_cast<int>(cert.size()),
                          &on_auth, nullptr);
    if (rc != ZOK)
      spdlog::error("zookeeper: cannot send the credentials of '{}': {}", login.user, zerror(rc));
  }
}

session::~session() {
  // Outstanding operations complete with `closing` while the client shuts down.
  zookeeper_close(core_->handle);
  std::map<std::uint64_t, core::pending> left;
  {
    std::lock_guard<std::mutex> guard{core_->mtx};
    core_->stopping = true;
    left.swap(core_->waiting);
  }
  core_->cv.notify_all();
  core_->timer.join();
  for (auto& [id, p] : left) {
    result r;
    r.rc = code::closing;
    p.done(std::move(r));
  }
}

void session::get(const std::string& path, bool watch, callback done) {
  auto* zh = core_->handle;
  core_->start(std::move(done), [&](core::request* req) {
    return zoo_aget(zh, path.c_str(), watch ? 1 : 0, &core::on_data, req);
  });
}

void session::get_children(const std::string& path, bool watch, callback done) {
  auto* zh = core_->handle;
  core_->start(std::move(done), [&](core::request* req) {
    return zoo_aget_children(zh, path.c_str(), watch ? 1 : 0, &core::on_strings, req);
  });
}

void session::exists(const std::string& path, bool watch, callback done) {
  auto* zh = core_->handle;
  core_->start(std::move(done), [&](core::request* req) {
    return zoo_aexists(zh, path.c_str(), watch ? 1 : 0, &core::on_stat, req);
  });
}

void session::create(const std::string& path, const std::string& data, create_mode mode,
                     callback done) {
  auto* zh = core_->handle;
  native_acl acl{core_->opts.login.acl, path};
  core_->start(std::move(done), [&](core::request* req) {
    return zoo_acreate(zh, path.c_str(), data.data(), static_cast<int>(data.size()), acl.get(),
                       native_mode(mode), &core::on_string, req);
  });
}

void session::set(const std::string& path, const std::string& data, std::int32_t version,
                  callback done) {
  auto* zh = core_->handle;
  core_->start(std::move(done), [&](core::request* req) {
    return zoo_aset(zh, path.c_str(), data.data(), static_cast<int>(data.size()), version,
                    &core::on_stat, req);
  });
}

void session::remove(const std::string& path, std::int32_t version, callback done) {
  auto* zh = core_->handle;
  core_->start(std::move(done), [&](core::request* req) {
    return zoo_adelete(zh, path.c_str(), version, &core::on_void, req);
  });
}

void session::get_acl(const std::string& path, callback done) {
  auto* zh = core_->handle;
  core_->start(std::move(done), [&](core::request* req) {
    return zoo_aget_acl(zh, path.c_str(), &core::on_acl, req);
  });
}

void session::reset_acl(const std::string& path, callback done) {
  auto* zh = core_->handle;
  native_acl acl{core_->opts.login.acl, path};
  core_->start(std::move(done), [&](core::request* req) {
    return zoo_aset_acl(zh, path.c_str(), -1, acl.get(), &core::on_void, req);
  });
}

void session::multi(std::vector<op> ops, callback done) {
  auto* req = new core::request;
  req->source = std::move(ops);
  auto n = req->source.size();
  req->ops.resize(n);
  req->results.resize(n);
  req->stats.resize(n);
  req->path_buffers.resize(n);
  req->acls.reserve(n);  // zoo_create_op_init keeps pointers into them
  for (std::size_t i = 0; i < n; ++i) {
    const auto& o = req->source[i];
    auto* native = &req->ops[i];
    switch (o.type) {
      case op::kind::create:
        req->path_buffers[i].assign(o.path.size() + 16, '\0');
        req->acls.emplace_back(core_->opts.login.acl, o.path);
        zoo_create_op_init(native, o.path.c_str(), o.data.data(), static_cast<int>(o.data.size()),
                           req->acls.back().get(), native_mode(o.mode), req->path_buffers[i].data(),
                           static_cast<int>(req->path_buffers[i].size()));
        break;
      case op::kind::set:
        zoo_set_op_init(native, o.path.c_str(), o.data.data(), static_cast<int>(o.data.size()),
                        o.version, &req->stats[i]);
        break;
      case op::kind::check:
        zoo_check_op_init(native, o.path.c_str(), o.version);
        break;
      case op::kind::remove:
        zoo_delete_op_init(native, o.path.c_str(), o.version);
        break;
    }
  }
  auto* zh = core_->handle;
  core_->start(
      std::move(done),
      [&](core::request* r) {
        return zoo_amulti(zh, static_cast<int>(n), r->ops.data(), r->results.data(), &core::on_void,
                          r);
      },
      req);
}

std::chrono::milliseconds session::negotiated_timeout() const {
  return std::chrono::milliseconds{core_->negotiated_ms.load()};
}

std::int64_t session::session_id() const {
  return core_->id.load();
}

const options& session::settings() const {
  return core_->opts;
}

}  // namespace flashsale::zk

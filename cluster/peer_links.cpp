#include "cluster/peer_links.hpp"

#include <algorithm>
#include <set>
#include <stdexcept>

#include <caf/actor_system.hpp>
#include <spdlog/spdlog.h>

#include "quota/znodes.hpp"
#include "adapters/zookeeper/blocking_session.hpp"

namespace flashsale {

namespace {

using clock_type = std::chrono::steady_clock;

}  // namespace

peer_links::peer_links(caf::local_actor* self, connect_fn connect, peer_links_options opts,
                       connected_fn on_connected, std::shared_ptr<peer_roster> roster)
    : self_(self),
      connect_(std::move(connect)),
      opts_(std::move(opts)),
      on_connected_(std::move(on_connected)),
      roster_(std::move(roster)) {}

peer_links::~peer_links() = default;

void peer_links::register_as(std::string path, std::string endpoint) {
  own_path_ = std::move(path);
  own_endpoint_ = std::move(endpoint);
}

void peer_links::close() {
  zk_.reset();
}

caf::strong_actor_ptr peer_links::find(const std::string& name) const {
  auto i = peers_.find(name);
  return i == peers_.end() ? nullptr : i->second.handle;
}

std::vector<std::pair<std::string, caf::strong_actor_ptr>> peer_links::connected() const {
  std::vector<std::pair<std::string, caf::strong_actor_ptr>> out;
  for (const auto& [name, p] : peers_)
    if (p.handle)
      out.emplace_back(name, p.handle);
  return out;
}

void peer_links::publish_roster() {
  if (!roster_)
    return;
  std::vector<std::string> names;
  for (const auto& [name, p] : peers_)
    if (p.handle)
      names.push_back(name);
  roster_->set(std::move(names));
}

bool peer_links::handle_down(const caf::actor_addr& source, const caf::error& reason) {
  bool ours = false;
  for (auto& [name, p] : peers_) {
    if (p.handle && caf::actor_cast<caf::actor_addr>(p.handle) == source) {
      spdlog::warn("{}: lost {} {} ({}); reconnecting while it is registered", opts_.node,
                   opts_.peer_role, name, self_->system().render(reason));
      p.handle = nullptr;
      p.next_attempt = clock_type::now() + std::chrono::milliseconds{250};
      ours = true;
    }
  }
  if (ours)
    publish_roster();
  return ours;
}

void peer_links::connect(const std::string& name) {
  auto& p = peers_[name];
  std::string host;
  std::uint16_t port = 0;
  if (!quota::split_endpoint(p.endpoint, host, port)) {
    if (!p.failure_logged)
      spdlog::error("{}: {} {} registered a bad actor endpoint '{}'", opts_.node, opts_.peer_role,
                    name, p.endpoint);
    p.failure_logged = true;
    p.next_attempt = clock_type::now() + opts_.cluster.max_backoff;
    return;
  }
  p.connecting = true;
  auto endpoint = p.endpoint;
  connect_(
      host, port,
      [this, name, endpoint](caf::strong_actor_ptr ptr) {
        auto i = peers_.find(name);
        if (i == peers_.end() || i->second.endpoint != endpoint)
          return;  // gone or moved meanwhile
        auto& p = i->second;
        p.connecting = false;
        if (!ptr) {
          p.next_attempt = clock_type::now() + opts_.cluster.max_backoff;
          return;
        }
        p.handle = ptr;
        p.backoff = std::chrono::milliseconds{0};
        p.failure_logged = false;
        self_->monitor(p.handle);
        spdlog::info("{}: connected to {} {} at {}", opts_.node, opts_.peer_role, name, endpoint);
        publish_roster();
        if (on_connected_)
          on_connected_(name, ptr);
      },
      [this, name, endpoint](const caf::error& err) {
        auto i = peers_.find(name);
        if (i == peers_.end() || i->second.endpoint != endpoint)
          return;
        auto& p = i->second;
        p.connecting = false;
        p.backoff = std::min(std::max(p.backoff * 2, std::chrono::milliseconds{250}),
                             opts_.cluster.max_backoff);
        p.next_attempt = clock_type::now() + p.backoff;
        if (!p.failure_logged)
          spdlog::warn("{}: cannot reach {} {} at {}: {} (retrying)", opts_.node, opts_.peer_role,
                       name, endpoint, self_->system().render(err));
        p.failure_logged = true;
      });
}

void peer_links::keep_registered() {
  if (own_path_.empty())
    return;
  auto mine = zk_->async().session_id();
  auto existing = zk_->exists(own_path_);
  if (existing.ok() && existing.stat.ephemeral_owner == mine)
    return;
  if (existing.ok()) {
    // Left by an earlier run of this node whose session has not expired yet: it would vanish
    // with that session and take this node's registration along.
    auto removed = zk_->remove(own_path_);
    if (!removed.ok() && removed.rc != zk::code::no_node)
      throw std::runtime_error("cannot replace " + own_path_ + ": " + zk::to_string(removed.rc));
  } else if (existing.rc != zk::code::no_node) {
    throw std::runtime_error("cannot read " + own_path_ + ": " + zk::to_string(existing.rc));
  }
  auto parent = own_path_.substr(0, own_path_.rfind('/'));
  auto rc = zk_->create_all(parent);
  if (rc != zk::code::ok)
    throw std::runtime_error("cannot create " + parent + ": " + zk::to_string(rc) +
                             (rc == zk::code::no_auth
                                  ? " (not this identity's to create, or a wrong password: "
                                    "flashsale-admin zk init makes the tree)"
                                  : ""));
  quota::member_znode me;
  me.session = mine;
  me.actors = own_endpoint_;
  auto created = zk_->create(own_path_, quota::encode(me), zk::create_mode::ephemeral);
  if (!created.ok())
    throw std::runtime_error("cannot register " + own_path_ + ": " + zk::to_string(created.rc));
  spdlog::info("{}: registered at {} (actors {})", opts_.node, own_path_, own_endpoint_);
}

void peer_links::poll() {
  try {
    if (!zk_ || zk_->expired()) {
      zk_.reset();
      zk::options zo;
      zo.hosts = opts_.cluster.zk_hosts;
      zo.op_timeout = opts_.cluster.op_timeout;
      zo.login = opts_.cluster.zk_login;
      zk_ = std::make_unique<zk::blocking_session>(zo, opts_.cluster.op_timeout);
      if (zk_failure_logged_)
        spdlog::info("{}: ZooKeeper reachable again", opts_.node);
      zk_failure_logged_ = false;
    }
    keep_registered();
    auto children = zk_->get_children(opts_.members_path);
    if (!children.ok() && children.rc != zk::code::no_node)
      throw std::runtime_error("cannot list " + opts_.members_path + ": " +
                               zk::to_string(children.rc));
    std::set<std::string> present;
    for (const auto& name : children.children) {
      auto data = zk_->get(opts_.members_path + "/" + name);
      if (!data.ok())
        continue;  // vanished meanwhile
      auto member = quota::decode_member(data.data);
      if (!member || member->actors.empty())
        continue;
      present.insert(name);
      auto& p = peers_[name];
      if (p.endpoint != member->actors) {  // new, or restarted on another port
        p = peer{};
        p.endpoint = member->actors;
      }
    }
    bool forgot = false;
    for (auto i = peers_.begin(); i != peers_.end();) {
      if (present.count(i->first) == 0) {
        spdlog::info("{}: {} {} is no longer registered", opts_.node, opts_.peer_role, i->first);
        i = peers_.erase(i);
        forgot = true;
      } else {
        ++i;
      }
    }
    if (forgot)
      publish_roster();
  } catch (const std::exception& e) {
    if (!zk_failure_logged_)
      spdlog::warn("{}: cannot read the {}s from ZooKeeper {}: {} (retrying)", opts_.node,
                   opts_.peer_role, opts_.cluster.zk_hosts, e.what());
    zk_failure_logged_ = true;
    zk_.reset();
  }
  auto now = clock_type::now();
  for (auto& [name, p] : peers_)
    if (!p.handle && !p.connecting && now >= p.next_attempt)
      connect(name);
}

}  // namespace flashsale

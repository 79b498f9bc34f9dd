#include "tests/support/grant_watcher.hpp"

#include <algorithm>
#include <chrono>

#include "tests/support/service_accounts.hpp"

namespace flashsale::testing {

grant_watcher::grant_watcher(const std::string& hosts, quota::layout paths,
                             std::vector<std::string> products, std::vector<std::string> gateways)
    : paths_(std::move(paths)),
      products_(std::move(products)),
      gateways_(std::move(gateways)),
      max_stock_(products_.size(), 0) {
  zk::options o;
  o.hosts = hosts;
  o.session_timeout = std::chrono::seconds{10};
  o.op_timeout = std::chrono::seconds{5};
  o.login = admin_zookeeper_login(paths_.root());
  session_ = std::make_unique<zk::blocking_session>(o, std::chrono::seconds{10},
                                                    [this](const zk::event&) { wake(); });
  thread_ = std::thread([this] { run(); });
}

grant_watcher::~grant_watcher() {
  stop();
}

void grant_watcher::stop() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (stopping_)
      return;
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

std::vector<std::string> grant_watcher::violations() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return violations_;
}

std::int64_t grant_watcher::product_state::sum() const {
  std::int64_t s = 0;
  for (auto g : grants)
    s += g;
  return s;
}

void grant_watcher::wake() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    changed_ = true;
  }
  cv_.notify_all();
}

std::optional<grant_watcher::state> grant_watcher::collect(bool watch) {
  state s;
  for (const auto& product : products_) {
    product_state ps;
    auto p = session_->get(paths_.product(product), watch);
    if (!p.ok())
      return std::nullopt;
    auto stock = quota::decode_product(p.data);
    if (!stock)
      return std::nullopt;
    ps.stock = stock->stock;
    s.zxids.push_back(p.stat.mzxid);
    for (const auto& n : gateways_) {
      auto g = session_->get(paths_.grant(n, product), watch);
      if (g.rc == zk::code::no_node) {
        if (watch)
          session_->exists(paths_.grant(n, product), true);
        ps.grants.push_back(0);
        s.zxids.push_back(0);
        continue;
      }
      if (!g.ok())
        return std::nullopt;
      auto grant = quota::decode_grant(g.data);
      if (!grant)
        return std::nullopt;
      ps.grants.push_back(grant->grant);
      s.zxids.push_back(g.stat.mzxid);
    }
    s.products.push_back(std::move(ps));
  }
  return s;
}

void grant_watcher::check(const state& s) {
  ++snapshots_;
  for (std::size_t i = 0; i < products_.size(); ++i) {
    const auto& ps = s.products[i];
    auto sum = ps.sum();
    if (sum > max_sum_)
      max_sum_ = sum;
    bool ok = sum <= ps.stock;
    // A lowered stock is drained by the gateways giving back: allowed while the sum only shrinks.
    if (!ok && last_ && ps.stock < max_stock_[i] && sum <= last_->products[i].sum())
      ok = true;
    if (!ok) {
      std::string text = products_[i] + ": sum(grants) " + std::to_string(sum) + " > stock " +
                         std::to_string(ps.stock) + " (grants";
      for (std::size_t g = 0; g < gateways_.size(); ++g)
        text += " " + gateways_[g] + "=" + std::to_string(ps.grants[g]);
      text += ")";
      std::lock_guard<std::mutex> guard{mtx_};
      violations_.push_back(text);
    }
    max_stock_[i] = std::max(max_stock_[i], ps.stock);
  }
  last_ = s;
}

void grant_watcher::run() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock{mtx_};
      cv_.wait_for(lock, std::chrono::milliseconds{50}, [this] { return changed_ || stopping_; });
      if (stopping_)
        return;
      changed_ = false;
    }
    for (int attempt = 0; attempt < 5; ++attempt) {
      auto a = collect(attempt == 0);
      auto b = collect(false);
      if (a && b && *a == *b) {
        if (!last_ || !(*last_ == *a))
          check(*a);
        break;
      }
    }
  }
}

}  // namespace flashsale::testing

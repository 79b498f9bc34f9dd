#include "actors/quota_keeper/keeper_state.hpp"

#include <cstdio>

#include <caf/send.hpp>
#include <spdlog/spdlog.h>

namespace flashsale::keeper_parts {

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string hex(std::int64_t session) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(session));
  return buf;
}

void warn_once(std::string& last, const std::string& text) {
  if (last != text)
    spdlog::warn("{}", text);
  last = text;
}

starter get_op(std::string path, bool watch) {
  return [path = std::move(path), watch](zk::session& s, zk::callback cb) {
    s.get(path, watch, std::move(cb));
  };
}

starter children_op(std::string path, bool watch) {
  return [path = std::move(path), watch](zk::session& s, zk::callback cb) {
    s.get_children(path, watch, std::move(cb));
  };
}

starter exists_op(std::string path, bool watch) {
  return [path = std::move(path), watch](zk::session& s, zk::callback cb) {
    s.exists(path, watch, std::move(cb));
  };
}

starter create_op(std::string path, std::string data, zk::create_mode mode) {
  return [path = std::move(path), data = std::move(data), mode](zk::session& s, zk::callback cb) {
    s.create(path, data, mode, std::move(cb));
  };
}

starter set_op(std::string path, std::string data, std::int32_t version) {
  return [path = std::move(path), data = std::move(data), version](
             zk::session& s, zk::callback cb) { s.set(path, data, version, std::move(cb)); };
}

starter multi_op(std::vector<zk::op> ops) {
  return [ops = std::move(ops)](zk::session& s, zk::callback cb) mutable {
    s.multi(std::move(ops), std::move(cb));
  };
}

void zk_call(keeper* self, const starter& start, std::function<void(zk::result&)> then) {
  auto& st = self->state;
  if (!st.zk)
    return;
  auto id = st.next_op++;
  auto gen = st.generation;
  st.pending.emplace(id, [self, gen, then = std::move(then)](zk::result& r) {
    if (self->state.generation == gen)
      then(r);
  });
  caf::weak_actor_ptr weak{self->ctrl()};
  start(*st.zk, [weak, id](zk::result r) {
    if (auto strong = weak.lock())
      caf::anon_send(caf::actor_cast<keeper_actor>(strong), zk_done_atom_v, id, std::move(r));
  });
}

void zk_all(keeper* self, std::vector<starter> ops,
            std::function<void(std::vector<zk::result>&)> done) {
  struct acc {
    std::vector<zk::result> results;
    std::size_t left = 0;
    std::function<void(std::vector<zk::result>&)> done;
  };
  auto a = std::make_shared<acc>();
  a->results.resize(ops.size());
  a->left = ops.size();
  a->done = std::move(done);
  if (ops.empty()) {
    a->done(a->results);
    return;
  }
  for (std::size_t i = 0; i < ops.size(); ++i)
    zk_call(self, ops[i], [a, i](zk::result& r) {
      a->results[i] = std::move(r);
      if (--a->left == 0)
        a->done(a->results);
    });
}

}  // namespace flashsale::keeper_parts

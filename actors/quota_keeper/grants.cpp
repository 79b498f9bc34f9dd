#include "actors/quota_keeper/grants.hpp"

#include <chrono>

#include <spdlog/spdlog.h>

#include "actors/quota_keeper/reports.hpp"
#include "adapters/crypto/keyed_hash.hpp"

namespace flashsale::keeper_parts {

void take_grant(keeper* self, const std::string& product, const quota::grant_znode& value,
                const zk::node_stat& stat) {
  auto& st = self->state;
  auto& slot = st.grants[product];
  if (slot.known && stat.mzxid <= slot.mzxid)
    return;
  auto before = slot.value.grant;
  bool first = !slot.known;
  slot.known = true;
  slot.value = value;
  slot.mzxid = stat.mzxid;
  slot.version = stat.version;
  slot.handed_at[stat.mzxid] = quota::wall_ms();
  while (slot.handed_at.size() > 32)
    slot.handed_at.erase(slot.handed_at.begin());
  self->send(st.counters.at(product), quota_update{product, value.grant, stat.mzxid});
  if ((first && value.grant != 0) || (!first && before != value.grant))
    spdlog::info("quota keeper {}: grant of {} is {} (was {}){}", st.opts.node, product,
                 value.grant, first ? 0 : before, value.release ? ", asked to release" : "");
  if (value.grant > (first ? 0 : before))
    tick(self);  // claim some of it now rather than at the next interval
}

namespace {

/// Release step 2: the counter capped its grant at what it consumed (`r`); write that as the grant,
/// if ZooKeeper still holds the grant version the cap was derived from.
void write_release(keeper* self, const std::string& product, const quota_release& r) {
  auto& st = self->state;
  auto& slot = st.grants[product];
  if (r.version != slot.mzxid) {
    // A newer grant is on its way to the counter and overrides the cap; the flag (if still set)
    // is honoured on the next tick.
    slot.releasing = false;
    return;
  }
  quota::grant_znode lowered{r.grant, false};
  zk_call(self, set_op(st.paths.grant(st.opts.node, product), encode(lowered), slot.version),
          [=](zk::result& w) {
            auto& st = self->state;
            st.grants[product].releasing = false;
            if (w.ok()) {
              spdlog::info("quota keeper {}: gave back {} unused units of {} (grant {})",
                           st.opts.node, r.released, product, r.grant);
              take_grant(self, product, lowered, w.stat);
            } else if (w.rc == zk::code::bad_version) {
              read_grant(self, product);  // changed meanwhile: the counter stays capped
            } else {
              spdlog::warn("quota keeper {}: giving back {} units of {} failed: {}; retrying",
                           st.opts.node, r.released, product, zk::to_string(w.rc));
            }
          });
}

}  // namespace

void start_release(keeper* self, const std::string& product) {
  auto& st = self->state;
  auto& slot = st.grants[product];
  if (slot.releasing || !slot.known || !st.registered)
    return;
  slot.releasing = true;
  auto gen = st.generation;
  self->request(st.counters.at(product), std::chrono::seconds{2}, release_atom_v)
      .then(
          [=](const quota_release& r) {
            if (self->state.generation == gen)
              write_release(self, product, r);
          },
          [=](caf::error& err) {
            self->state.grants[product].releasing = false;
            spdlog::error("quota keeper {}: counter of {} did not release: {}",
                          self->state.opts.node, product, self->system().render(err));
          });
}

void read_grant(keeper* self, const std::string& product) {
  auto& st = self->state;
  auto path = st.paths.grant(st.opts.node, product);
  zk_call(self, get_op(path, true), [=](zk::result& r) {
    auto& st = self->state;
    auto& slot = st.grants[product];
    if (r.rc == zk::code::no_node) {
      slot.stale = true;
      if (!slot.missing)
        spdlog::error(
            "quota keeper {}: {} is missing (the sale's tree was removed?); the counter "
            "keeps its last grant",
            st.opts.node, path);
      slot.missing = true;
      return;
    }
    if (!r.ok()) {
      slot.stale = true;
      return;  // the session event says why; the next tick re-reads
    }
    slot.stale = false;
    slot.missing = false;
    auto value = quota::decode_grant(r.data);
    if (!value) {
      spdlog::error("quota keeper {}: {} holds no grant: '{}'", st.opts.node, path, r.data);
      return;
    }
    take_grant(self, product, *value, r.stat);
    slot.read_in = st.generation;
    if (value->release && st.registered)
      start_release(self, product);
  });
}

void read_settings(keeper* self) {
  auto& st = self->state;
  auto path = st.paths.settings();
  zk_call(self, get_op(path, true), [=](zk::result& r) {
    auto& st = self->state;
    if (r.rc == zk::code::no_node) {
      zk_call(self, exists_op(path, true), [](zk::result&) {});  // notice its creation
      return;
    }
    if (!r.ok() || r.stat.mzxid <= st.settings_mzxid)
      return;
    st.settings_mzxid = r.stat.mzxid;
    auto s = quota::decode_settings(r.data);
    if (!s) {
      spdlog::error("quota keeper {}: {} is not valid settings JSON ('{}'); ignored", st.opts.node,
                    path, r.data);
      return;
    }
    shedding_update lottery;
    lottery.keep_one_in = s->keep_one_in.value_or(0);
    lottery.version = r.stat.mzxid;
    lottery.draw_window_ms = s->draw_window_s.value_or(0) * 1000;
    if (auto key = s->draw_secret ? crypto::key_from_hex(*s->draw_secret) : std::nullopt) {
      lottery.has_key = true;
      lottery.key0 = key->k0;
      lottery.key1 = key->k1;
    } else {
      spdlog::warn(
          "quota keeper {}: {} has no draw_secret (run: flashsale-admin zk init); this "
          "gateway draws with a key of its own, so a buyer may win at another gateway",
          st.opts.node, path);
    }
    spdlog::info("quota keeper {}: lottery keeps 1 in {}, draw window {} (from {})", st.opts.node,
                 s->keep_one_in ? std::to_string(*s->keep_one_in) : std::string("(node's own)"),
                 lottery.draw_window_ms == 0 ? std::string("the whole sale")
                                             : std::to_string(*s->draw_window_s) + " s",
                 path);
    self->send(st.gateway, lottery);
    // No "window" key is the default: follow the sale's schedule.
    auto window = s->window.value_or(window_mode::scheduled);
    spdlog::info("quota keeper {}: sale window {} (from {})", st.opts.node, to_string(window),
                 path);
    self->send(st.gateway, window_update{window, r.stat.mzxid});
  });
}

}  // namespace flashsale::keeper_parts

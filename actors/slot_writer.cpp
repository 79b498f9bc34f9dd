#include "actors/slot_writer.hpp"

#include <memory>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/sec.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "adapters/db/order_store.hpp"

namespace flashsale {

namespace {

struct slot_writer_state {
  db::connection_params params;
  std::unique_ptr<db::order_store> store;
  static inline const char* name = "slot_writer";
};

/// Writes every purchase of `batch` through `store`: one purchase_batch call per product, in
/// order of first appearance. Throws db::db_error.
std::vector<order_result> write_batch(db::order_store& store, const std::vector<purchase>& batch) {
  std::vector<order_result> results(batch.size());
  std::vector<bool> done(batch.size(), false);
  std::vector<db::purchase_request> requests;
  std::vector<std::size_t> positions;
  for (std::size_t first = 0; first < batch.size(); ++first) {
    if (done[first])
      continue;
    const auto& product = batch[first].product;
    requests.clear();
    positions.clear();
    for (std::size_t i = first; i < batch.size(); ++i) {
      if (done[i] || batch[i].product != product)
        continue;
      const auto& p = batch[i];
      requests.push_back(db::purchase_request{p.request_id, p.product, p.user, p.gateway, p.epoch});
      positions.push_back(i);
      done[i] = true;
    }
    auto outcomes = store.purchase_batch(product, requests);
    for (std::size_t k = 0; k < positions.size(); ++k) {
      const auto& p = batch[positions[k]];
      results[positions[k]] = order_result{
          p.request_id,         p.ticket,        p.product, p.gateway, outcomes[k].status,
          outcomes[k].order_id, outcomes[k].slot};
    }
  }
  return results;
}

slot_writer_actor::behavior_type slot_writer_impl(
    slot_writer_actor::stateful_pointer<slot_writer_state> self, db::connection_params params) {
  self->state.params = std::move(params);
  return {
      [=](write_atom,
          const std::vector<purchase>& batch) -> caf::result<std::vector<order_result>> {
        auto& st = self->state;
        try {
          if (st.store == nullptr)
            st.store = db::order_store::connect(st.params);
          return write_batch(*st.store, batch);
        } catch (const db::db_error& e) {
          spdlog::error(
              "slot writer ({}): {}; the batch of {} purchases goes back to the queue, "
              "reconnecting on the next batch",
              st.params.dbname, e.what(), batch.size());
          st.store.reset();
          return caf::make_error(caf::sec::runtime_error, e.what());
        }
      },
  };
}

}  // namespace

slot_writer_actor spawn_slot_writer(caf::actor_system& sys, db::connection_params params) {
  return sys.spawn<caf::detached>(slot_writer_impl, std::move(params));
}

}  // namespace flashsale

#include "actors/slot_writer.hpp"

#include <memory>

#include <caf/actor_system.hpp>
#include <caf/sec.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

namespace flashsale {

namespace {

order_status to_order_status(db::purchase_status s) {
  switch (s) {
    case db::purchase_status::confirmed:
      return order_status::confirmed;
    case db::purchase_status::duplicate_request:
      return order_status::duplicate_request;
    case db::purchase_status::user_limit:
      return order_status::user_limit;
    case db::purchase_status::sold_out:
      return order_status::sold_out;
    case db::purchase_status::unknown_product:
      return order_status::unknown_product;
  }
  return order_status::unknown_product;
}

struct slot_writer_state {
  db::connection_params params;
  std::unique_ptr<db::order_store> store;
  static inline const char* name = "slot_writer";
};

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
          std::vector<order_result> results;
          results.reserve(batch.size());
          for (const auto& p : batch) {
            auto out = st.store->purchase(
                db::purchase_request{p.request_id, p.product, p.user, p.gateway});
            results.push_back(order_result{p.request_id, p.ticket, p.product,
                                           to_order_status(out.status), out.order_id, out.slot});
          }
          return results;
        } catch (const db::db_error& e) {
          spdlog::error("slot writer ({}): {}; reconnecting on the next batch", st.params.dbname,
                        e.what());
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

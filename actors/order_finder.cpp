#include "actors/order_finder.hpp"

#include <memory>

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "adapters/db/order_lookup.hpp"

namespace flashsale {

namespace {

struct finder_state {
  db::connection_params params;
  std::unique_ptr<db::order_lookup> lookup;
  bool failing = false;  // the last attempt failed: log again only after a success
  static inline const char* name = "order_finder";
};

order_finder_actor::behavior_type finder_impl(
    order_finder_actor::stateful_pointer<finder_state> self, db::connection_params params) {
  self->state.params = std::move(params);
  return {
      [=](find_atom, const std::string& request_id) -> caf::result<ticket_view> {
        auto& st = self->state;
        try {
          if (!st.lookup)
            st.lookup = db::order_lookup::connect(st.params);
          db::stored_order order;
          ticket_view view;
          view.request_id = request_id;
          if (st.lookup->find(request_id, order)) {
            view.status = order_status::confirmed;
            view.order_id = order.order_id;
            view.product = order.product;
            view.user = order.user;
          }
          if (st.failing)
            spdlog::info("order finder {}: the database answers again", st.params.endpoint());
          st.failing = false;
          return view;
        } catch (const db::db_error& e) {
          if (!st.failing)
            spdlog::error(
                "order finder {}: {} (GET /v1/orders answers from memory until it "
                "recovers)",
                st.params.endpoint(), e.what());
          st.failing = true;
          st.lookup.reset();
          return caf::make_error(caf::sec::runtime_error, e.what());
        }
      },
  };
}

}  // namespace

order_finder_actor spawn_order_finder(caf::actor_system& sys, db::connection_params params) {
  return sys.spawn<caf::detached>(finder_impl, std::move(params));
}

}  // namespace flashsale

#include "actors/queue_bridge.hpp"

#include <memory>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "messages/codec.hpp"

namespace flashsale {

namespace {

// -- publisher bridge ------------------------------------------------------------------------

struct publisher_state {
  std::unique_ptr<amqp::publisher> adapter;
  std::uint64_t next_id = 1;
  std::unordered_map<std::uint64_t, caf::typed_response_promise<bool>> waiting;
  std::uint64_t confirmed = 0;
  std::uint64_t refused = 0;
  static inline const char* name = "publisher_bridge";
};

publisher_actor::behavior_type publisher_impl(
    publisher_actor::stateful_pointer<publisher_state> self, amqp::connection_params params,
    amqp::publisher::options opts) {
  caf::weak_actor_ptr weak{self->ctrl()};
  self->state.adapter = std::make_unique<amqp::publisher>(
      std::move(params), std::move(opts), [weak](std::vector<std::uint64_t> ids, bool ack) {
        if (auto strong = weak.lock())
          caf::anon_send(caf::actor_cast<publisher_actor>(strong), confirm_atom_v, std::move(ids),
                         ack);
      });
  return {
      [=](publish_atom, const purchase& p) -> caf::typed_response_promise<bool> {
        auto rp = self->make_response_promise<bool>();
        auto id = self->state.next_id++;
        self->state.waiting.emplace(id, rp);
        self->state.adapter->publish(id, encode_purchase(p));
        return rp;
      },
      [=](confirm_atom, const std::vector<std::uint64_t>& ids, bool ack) {
        auto& st = self->state;
        for (auto id : ids) {
          auto i = st.waiting.find(id);
          if (i == st.waiting.end())
            continue;
          i->second.deliver(ack);
          st.waiting.erase(i);
        }
        (ack ? st.confirmed : st.refused) += ids.size();
      },
  };
}

// -- consumer bridge -------------------------------------------------------------------------

struct consumer_state {
  std::unique_ptr<amqp::consumer> adapter;
  writer_routing routing;
  std::map<std::string, std::size_t> next_writer;
  std::uint64_t dead_lettered = 0;
  std::uint64_t requeued = 0;
  std::map<order_status, std::uint64_t> results;
  static inline const char* name = "consumer_bridge";
};

caf::behavior consumer_impl(caf::stateful_actor<consumer_state>* self,
                            amqp::connection_params params, amqp::consumer::options opts,
                            writer_routing routing) {
  self->state.routing = std::move(routing);
  caf::weak_actor_ptr weak{self->ctrl()};
  self->state.adapter = std::make_unique<amqp::consumer>(
      std::move(params), std::move(opts), [weak](std::vector<amqp::delivery> batch) {
        if (auto strong = weak.lock())
          caf::anon_send(caf::actor_cast<caf::actor>(strong), deliver_atom_v, std::move(batch));
      });
  return {
      [=](deliver_atom, std::vector<amqp::delivery>& batch) {
        auto& st = self->state;
        // Group decodable purchases by database; dead-letter the rest at once.
        struct group {
          std::vector<purchase> purchases;
          std::vector<std::uint64_t> tags;
        };
        std::map<std::string, group> groups;
        for (auto& d : batch) {
          auto p = decode_purchase(d.body.data(), d.body.size());
          if (!p) {
            ++st.dead_lettered;
            spdlog::error("writer: undecodable message ({} bytes) sent to the dead-letter queue",
                          d.body.size());
            st.adapter->reject(d.tag, false);
            continue;
          }
          auto db = st.routing.database_of_product.find(p->product);
          auto& g = groups[db == st.routing.database_of_product.end() ? st.routing.default_database
                                                                      : db->second];
          g.purchases.push_back(std::move(*p));
          g.tags.push_back(d.tag);
        }
        for (auto& [database, g] : groups) {
          auto& writers = st.routing.writers_by_database.at(database);
          auto& next = st.next_writer[database];
          auto writer = writers[next++ % writers.size()];
          auto tags = std::move(g.tags);
          self->request(writer, std::chrono::seconds{60}, write_atom_v, std::move(g.purchases))
              .then(
                  [=](const std::vector<order_result>& results) {
                    for (std::size_t i = 0; i < tags.size(); ++i) {
                      ++self->state.results[results[i].status];
                      self->state.adapter->ack(tags[i]);
                    }
                  },
                  [=](caf::error& err) {
                    self->state.requeued += tags.size();
                    spdlog::error("writer: database {} failed a batch of {} ({}); requeued",
                                  database, tags.size(), self->system().render(err));
                    for (auto tag : tags)
                      self->state.adapter->reject(tag, true);
                  });
        }
      },
  };
}

}  // namespace

publisher_actor spawn_publisher_bridge(caf::actor_system& sys, amqp::connection_params params,
                                       amqp::publisher::options opts) {
  return sys.spawn(publisher_impl, std::move(params), std::move(opts));
}

caf::actor spawn_consumer_bridge(caf::actor_system& sys, amqp::connection_params params,
                                 amqp::consumer::options opts, writer_routing routing) {
  return sys.spawn(consumer_impl, std::move(params), std::move(opts), std::move(routing));
}

}  // namespace flashsale

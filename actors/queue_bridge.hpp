#pragma once

// The actors in front of RabbitMQ. The publisher bridge turns publish requests into persistent
// messages, each on its product's queue (a hot product has its own, see amqp::topology), several
// purchases per message when they come together, and answers each once the broker confirmed it.
// The consumer bridge (writer node) consumes every order queue, hands the purchases to the slot
// writer pool of their product's database, acks a delivery only after every purchase in it was
// committed, requeues it on database failure and dead-letters (and counts) undecodable messages.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "adapters/amqp/consumer.hpp"
#include "adapters/amqp/publisher.hpp"
#include "messages/interfaces.hpp"

namespace flashsale {

class peer_roster;

/// Spawns the gateway's publisher bridge; it owns an amqp::publisher (its own connection and
/// thread). opts.route.hot_products decides which purchases go to a queue of their own.
/// Purchases for one queue that arrive together travel as one message of up to
/// `purchases_per_message` (1..max_purchases_per_message): the bridge gathers what is in its
/// mailbox and publishes when it has seen it all (it sends itself a flush behind the purchases),
/// so a lone purchase waits for nothing and a burst costs the broker one message per batch. Every
/// purchase of a message gets the message's fate.
/// A message of unknown fate (sent, no confirm: the broker may or may not have stored it) is not
/// forgotten: a second later, and every second after that, the bridge publishes a copy of it until
/// the broker confirms one, so its purchases (whose units the gateway keeps) reach the database
/// whatever became of the first; a writer absorbs the second of two copies by their request ids
/// (I3). `on_in_doubt` (may be empty) is called on the bridge's thread with the number of
/// purchases in doubt whenever it changes. Copies not confirmed when the bridge stops are logged.
publisher_actor spawn_publisher_bridge(caf::actor_system& sys, amqp::connection_params params,
                                       amqp::publisher::options opts,
                                       std::size_t purchases_per_message,
                                       std::function<void(std::int64_t)> on_in_doubt = {});

/// Slot writer pools of a writer node (spawn_slot_writer_pool), by database name, and the database
/// of each product.
struct writer_routing {
  std::map<std::string, caf::actor> pools_by_database;
  std::map<std::string, std::string> database_of_product;
  std::string default_database;  ///< for products the sale file does not name
};

struct consumer_bridge_options {
  std::string node;                  ///< the writer's name (stats)
  amqp::consumer::options consumer;  ///< queues, prefetch
  writer_routing routing;            ///< the pools, by database
  std::chrono::seconds stats_interval{
      10};             ///< log the counts this often when they changed (0: never)
  caf::actor results;  ///< gets std::vector<order_result> after each commit (may be null)
  std::shared_ptr<peer_roster> gateways;  ///< the gateways connected now (stats), may be null
};

/// Spawns the writer node's consumer bridge; it owns an amqp::consumer (its own connection and
/// thread). It logs its counts (deliveries, acks, dead-lettered, requeued, outcomes by status)
/// every `stats_interval` when they changed and when it stops. After each commit it sends the
/// results to `results` (see result_router.hpp). It answers stats_atom with node_stats.
caf::actor spawn_consumer_bridge(caf::actor_system& sys, amqp::connection_params params,
                                 consumer_bridge_options opts);

/// Spawns what a writer node publishes for the cluster (writer_peer_actor): it passes stats
/// requests on to the consumer bridge.
writer_peer_actor spawn_writer_peer(caf::actor_system& sys, caf::actor consumer_bridge);

}  // namespace flashsale

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<flashsale::amqp::delivery>)

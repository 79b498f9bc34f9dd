#pragma once

// The writer node's consumer bridge: consumes every order queue (the main one and one per hot
// product), hands the purchases to the slot writer pool of their product's database, acks a
// delivery only after every purchase in it was committed, requeues it on database failure and
// dead-letters (and counts) what cannot be written: undecodable messages, unstorable purchases.

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "actors/result_router.hpp"
#include "actors/slot_writer_pool.hpp"
#include "adapters/amqp/consumer.hpp"
#include "messages/interfaces.hpp"

namespace flashsale {

class peer_roster;

/// Slot writer pools of a writer node, by database name, and the database of each product.
struct writer_routing {
  std::map<std::string, slot_writer_pool_actor> pools_by_database;
  std::map<std::string, std::string> database_of_product;
  std::string default_database;  ///< for products the sale file does not name
};

/// The bridge takes its pools' answers and stats requests (from the writer peer). Local only.
using consumer_bridge_actor =
    pool_client_actor::extend<caf::replies_to<stats_atom>::with<node_stats>>;

struct consumer_bridge_options {
  std::string node;                         ///< the writer's name (stats)
  amqp::consumer::options consumer;         ///< queues, prefetch
  writer_routing routing;                   ///< the pools, by database
  std::chrono::seconds stats_interval{10};  ///< log the counts this often when changed (0: never)
  result_router_actor results;              ///< gets the results after each commit (may be null)
  std::shared_ptr<peer_roster> gateways;    ///< the gateways connected now (stats), may be null
};

/// Spawns the bridge; it owns an amqp::consumer (its own connection and thread). It logs its
/// counts (deliveries, acks, dead-lettered, requeued, outcomes by status) every `stats_interval`
/// when they changed and when it stops. It answers stats_atom with node_stats (role "writer").
consumer_bridge_actor spawn_consumer_bridge(caf::actor_system& sys, amqp::connection_params params,
                                            consumer_bridge_options opts);

}  // namespace flashsale

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<flashsale::amqp::delivery>)

#pragma once

// The actors in front of RabbitMQ. The publisher bridge turns publish requests into persistent
// messages and answers each once the broker confirmed it. The consumer bridge (writer node) hands
// deliveries to slot writers, acks each only after its database commit, requeues on database
// failure and dead-letters undecodable messages.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "adapters/amqp/consumer.hpp"
#include "adapters/amqp/publisher.hpp"
#include "messages/interfaces.hpp"

namespace flashsale {

/// Spawns the gateway's publisher bridge; it owns an amqp::publisher (its own connection and
/// thread).
publisher_actor spawn_publisher_bridge(caf::actor_system& sys, amqp::connection_params params,
                                       amqp::publisher::options opts);

/// Slot writers of a writer node, by database name, and the database of each product.
struct writer_routing {
  std::map<std::string, std::vector<slot_writer_actor>> writers_by_database;
  std::map<std::string, std::string> database_of_product;
  std::string default_database;  ///< for products the sale file does not name
};

/// Spawns the writer node's consumer bridge; it owns an amqp::consumer.
caf::actor spawn_consumer_bridge(caf::actor_system& sys, amqp::connection_params params,
                                 amqp::consumer::options opts, writer_routing routing);

}  // namespace flashsale

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<flashsale::amqp::delivery>)

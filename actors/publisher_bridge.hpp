#pragma once

// The gateway's publisher bridge: turns publish requests into persistent messages, each on its
// product's queue (a hot product has its own, see amqp::topology), several purchases per message
// when they come together, and answers each purchase once the broker told the message's fate.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "adapters/amqp/publisher.hpp"
#include "messages/interfaces.hpp"

namespace flashsale {

/// Where the bridge's messages go: RabbitMQ in a node (amqp_outlet), a fake in unit tests.
class message_outlet {
 public:
  /// Told, on any thread, the fate of publish ids. Must not block.
  using fate_callback = std::function<void(std::vector<std::uint64_t> ids, publish_outcome)>;

  virtual ~message_outlet() = default;

  /// Queues one message for `queue` (one of the route's queues). Never blocks. Its fate is told
  /// later, once, through the callback the outlet was made with.
  virtual void publish(std::uint64_t id, std::string body, std::string queue) = 0;
};

/// Makes the bridge's outlet, given where to tell fates. Called once, by the bridge as it starts.
using outlet_factory =
    std::function<std::unique_ptr<message_outlet>(message_outlet::fate_callback)>;

/// An amqp::publisher (its own connection and thread, reconnecting by itself) as the outlet.
outlet_factory amqp_outlet(amqp::connection_params params, amqp::publisher::options opts);

struct publisher_bridge_options {
  outlet_factory outlet;  ///< required
  amqp::topology route;   ///< which queue a product's purchases go to (the outlet's route)
  /// Purchases for one queue that arrive together travel as one message of at most this many
  /// (clamped to 1..max_purchases_per_message).
  std::size_t purchases_per_message = 100;
  /// Told, on the bridge's thread, the number of purchases in doubt whenever it changes. Optional.
  std::function<void(std::int64_t)> on_in_doubt;
};

/// Spawns the bridge; it owns its outlet. Purchases for one queue that arrive together travel as
/// one message: the bridge gathers what is in its mailbox and publishes when it has seen it all (it
/// sends itself a flush behind the purchases), so a lone purchase waits for nothing and a burst
/// costs the broker one message per batch. While two messages of a queue await the broker's
/// answer, its purchases gather into the next message (sent when one is answered, or when it is
/// full): under load messages grow instead of multiplying. Every purchase of a message gets the
/// message's fate: confirmed, refused (certainly not stored) or unknown (sent, no confirm: maybe
/// stored). A message of unknown fate is not forgotten: a second later, and every second after
/// that, the bridge publishes a copy of it until the broker confirms one, so its purchases (whose
/// units the gateway keeps) reach the database whatever became of the first; a writer absorbs the
/// second of two copies by their request ids (I3). Copies not confirmed when the bridge stops are
/// logged.
publisher_actor spawn_publisher_bridge(caf::actor_system& sys, publisher_bridge_options opts);

}  // namespace flashsale

#pragma once

// The writer node's database side: a pool of slot writers (slot_writer.hpp) per database. It
// queues purchases per product and hands a batch to an idle writer of its own as soon as
// `batch_size` purchases of a product are waiting, or the oldest of them waited `linger` (whatever
// is there then), so that under load every call carries a full batch and an idle pipeline adds at
// most `linger` of latency.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "adapters/db/connection.hpp"
#include "messages/interfaces.hpp"
#include "messages/messages.hpp"

namespace flashsale {

/// A purchase taken from the queue, with the token its sender settles it by (a delivery tag).
struct queued_purchase {
  purchase item;
  std::uint64_t token = 0;
};

/// Pool -> sender: purchases whose transaction committed; results[i] answers tokens[i].
struct written_purchases {
  std::string database;
  std::vector<std::uint64_t> tokens;
  std::vector<order_result> results;
};

/// Pool -> sender: purchases whose transaction failed (nothing of them may be acknowledged).
struct failed_purchases {
  std::string database;
  std::vector<std::uint64_t> tokens;
};

/// What sends purchases to a pool must take its answers (the consumer bridge).
using pool_client_actor =
    caf::typed_actor<caf::reacts_to<written_purchases>, caf::reacts_to<failed_purchases>>;

/// The pool of one database. Local only (its messages are not serializable).
using slot_writer_pool_actor = caf::typed_actor<
    /// Purchases (any products of this database) to write; the sender (a pool_client_actor) is
    /// answered, in completion order, with written_purchases or failed_purchases for every one.
    caf::reacts_to<std::vector<queued_purchase>>>;

struct slot_writer_pool_options {
  db::connection_params params;                 ///< the database; one connection per writer
  int writers = 2;                              ///< slot writers (connections)
  std::size_t batch_size = 100;                 ///< purchases per purchase_batch call, at most
  std::chrono::milliseconds linger{1};          ///< how long a partial batch waits for more
  std::chrono::milliseconds max_backoff{2000};  ///< a failed writer rests 100 ms, doubling to this
};

/// Spawns the pool of one database with its `opts.writers` slot writers (linked: they stop with it;
/// one that stops on its own is replaced). Purchases of one product are written in arrival order,
/// each batch by one writer; batches of one product may run concurrently on several writers. Each
/// writer holds up to two batches (the next one waits in its mailbox while it commits). A writer
/// whose batch failed gets no more work for a growing backoff.
slot_writer_pool_actor spawn_slot_writer_pool(caf::actor_system& sys,
                                              slot_writer_pool_options opts);

}  // namespace flashsale

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<flashsale::queued_purchase>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flashsale::written_purchases)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flashsale::failed_purchases)

#pragma once

// The quota keeper's state and the way its parts talk to ZooKeeper (internal to the keeper: its
// parts in this folder include it, nothing else does). The design and its safety argument:
// docs/design.md, "Live quotas".
//
// Every part is a set of free functions over `keeper* self`, run on the actor's thread. ZooKeeper
// results and events arrive on the adapter's threads and are only forwarded (anon_send) to the
// actor; zk_call() runs a continuation on the actor once the result is back, unless the session
// was replaced meanwhile.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/quota_keeper.hpp"
#include "adapters/zookeeper/session.hpp"
#include "quota/znodes.hpp"

// Results and events of the ZooKeeper adapter travel from its threads to the keeper (local only).
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flashsale::zk::result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flashsale::zk::event)

namespace flashsale::keeper_parts {

/// The keeper's whole interface: its timer (public) and what it sends itself.
using keeper_actor = quota_keeper_actor::extend<
    /// From the adapter: the result of operation `id` (zk_call).
    caf::reacts_to<zk_done_atom, std::uint64_t, zk::result>,
    /// From the adapter: a session or watch event of session generation `gen`.
    caf::reacts_to<zk_event_atom, std::uint64_t, zk::event>,
    /// Retry the registration of session generation `gen` (0: start a session first).
    caf::reacts_to<register_atom, std::uint64_t>,
    /// Leader: decide again (after a lost race) in session generation `gen`.
    caf::reacts_to<evaluate_atom, std::uint64_t>>;

/// This node's grant of one product, as last read from ZooKeeper.
struct grant_slot {
  bool known = false;
  quota::grant_znode value;
  std::int64_t mzxid = 0;     ///< version handed to the counter (quota_update::version)
  std::int32_t version = -1;  ///< znode version, for the versioned write of a release
  bool stale = false;         ///< the last read failed: re-read on the next tick
  /// Session generation of the last successful read: no lease before this session read it (the
  /// grant may have been settled below what the counter consumed while the node was gone).
  std::uint64_t read_in = 0;
  bool missing = false;  ///< the znode was missing at the last read (logged once)
  /// The last consumption report written (this session), when, and whether it said "busy".
  std::optional<quota::consumption_report> reported;
  std::int64_t reported_at = 0;  // steady ms
  bool reported_busy = false;
  bool releasing = false;               ///< a release (counter cap + versioned write) is in flight
  std::int64_t consumed_last_tick = 0;  ///< for the claim step: sales since the previous tick
  std::map<std::int64_t, std::int64_t> handed_at;  ///< mzxid -> wall ms it went to the counter
};

struct keeper_state {
  quota_keeper_options opts;
  sale_definition sale;
  quota::layout paths{"/", ""};
  std::map<std::string, counter_actor> counters;
  sale_settings_actor gateway;

  // Session. Every result and event carries the generation it belongs to; older ones are dropped.
  std::unique_ptr<zk::session> zk;
  std::uint64_t generation = 0;
  bool connected = false;
  bool registering = false;
  bool registered = false;
  std::uint64_t next_op = 1;
  std::unordered_map<std::uint64_t, std::function<void(zk::result&)>> pending;

  // Follower side.
  std::map<std::string, grant_slot> grants;  // by product
  std::int64_t settings_mzxid = 0;
  std::int64_t lease_until = 0;  // steady ms
  std::int64_t epoch = 0;        // claim epoch of the current session (reports, purchases)
  bool tick_busy = false;
  std::string registration_problem;  // last logged, to log each problem once

  // Election and leader side.
  std::string election_node;  // our child of the leader znode (this session)
  bool standing = false;      // creating the candidacy
  bool leader = false;
  std::int64_t leader_since = 0;  // steady ms
  bool evaluating = false;
  bool dirty = false;
  int conflicts = 0;
  std::string leader_problem;  // last logged

  static inline const char* name = "quota_keeper";
};

using keeper = keeper_actor::stateful_base<keeper_state>;

/// The lease clock, steady ms (the counters compare against the same clock).
std::int64_t steady_ms();

/// A session id as the C client prints it ("0x...").
std::string hex(std::int64_t session);

/// Logs `text` at warn level unless it is what was logged last for this kind of problem.
void warn_once(std::string& last, const std::string& text);

// -- ZooKeeper calls ----------------------------------------------------------------------------

/// Starts one ZooKeeper operation on the session with the given callback.
using starter = std::function<void(zk::session&, zk::callback)>;

starter get_op(std::string path, bool watch);
starter children_op(std::string path, bool watch);
starter exists_op(std::string path, bool watch);
starter create_op(std::string path, std::string data, zk::create_mode mode);
starter set_op(std::string path, std::string data, std::int32_t version);
starter multi_op(std::vector<zk::op> ops);

/// Runs one operation on the current session; `then` runs on the actor, unless the session was
/// replaced meanwhile. Does nothing without a session.
void zk_call(keeper* self, const starter& start, std::function<void(zk::result&)> then);

/// Runs `ops` in order (ZooKeeper executes one session's requests in order) and calls `done`
/// with every result once the last one arrived (at once for no ops).
void zk_all(keeper* self, std::vector<starter> ops,
            std::function<void(std::vector<zk::result>&)> done);

}  // namespace flashsale::keeper_parts

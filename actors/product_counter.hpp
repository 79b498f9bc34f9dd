#pragma once

#include <cstdint>
#include <string>

#include "messages/interfaces.hpp"

namespace caf {
class actor_system;
}

namespace flashsale {

/// Spawns the counter of one product with its initial grant (the local quota). The counter is the
/// only place this gateway decides whether a unit may still be promised (see quota_counter).
counter_actor spawn_product_counter(caf::actor_system& sys, std::string product,
                                    std::int64_t initial_grant);

}  // namespace flashsale

#pragma once

// Registers every message type and atom with CAF. Include only where actors are defined or a node
// is wired: this pulls in CAF headers. Both sides of a connection must register the same block.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/type_id.hpp>

#include "messages/messages.hpp"

CAF_BEGIN_TYPE_ID_BLOCK(flashsale, caf::first_custom_type_id)

CAF_ADD_TYPE_ID(flashsale, (flashsale::purchase))
CAF_ADD_TYPE_ID(flashsale, (flashsale::order_result))
CAF_ADD_TYPE_ID(flashsale, (flashsale::purchase_reply))
CAF_ADD_TYPE_ID(flashsale, (flashsale::quota_update))
CAF_ADD_TYPE_ID(flashsale, (flashsale::sold_out))
CAF_ADD_TYPE_ID(flashsale, (flashsale::counter_stats))
CAF_ADD_TYPE_ID(flashsale, (flashsale::quota_release))
CAF_ADD_TYPE_ID(flashsale, (flashsale::shedding_update))
CAF_ADD_TYPE_ID(flashsale, (flashsale::window_update))
CAF_ADD_TYPE_ID(flashsale, (flashsale::ticket_view))
CAF_ADD_TYPE_ID(flashsale, (flashsale::reservation))
CAF_ADD_TYPE_ID(flashsale, (flashsale::publish_outcome))
CAF_ADD_TYPE_ID(flashsale, (std::vector<flashsale::purchase>))
CAF_ADD_TYPE_ID(flashsale, (std::vector<flashsale::order_result>))
CAF_ADD_TYPE_ID(flashsale, (flashsale::node_stats))

CAF_ADD_ATOM(flashsale, flashsale, reserve_atom, "reserve")
CAF_ADD_ATOM(flashsale, flashsale, refund_atom, "refund")
CAF_ADD_ATOM(flashsale, flashsale, publish_atom, "publish")
CAF_ADD_ATOM(flashsale, flashsale, confirm_atom, "confirm")
CAF_ADD_ATOM(flashsale, flashsale, write_atom, "write")
CAF_ADD_ATOM(flashsale, flashsale, stats_atom, "stats")
CAF_ADD_ATOM(flashsale, flashsale, deliver_atom, "deliver")
CAF_ADD_ATOM(flashsale, flashsale, tick_atom, "tick")
CAF_ADD_ATOM(flashsale, flashsale, release_atom, "release")
CAF_ADD_ATOM(flashsale, flashsale, lease_atom, "lease")
CAF_ADD_ATOM(flashsale, flashsale, resume_atom, "resume")
CAF_ADD_ATOM(flashsale, flashsale, zk_done_atom, "zk_done")
CAF_ADD_ATOM(flashsale, flashsale, zk_event_atom, "zk_event")
CAF_ADD_ATOM(flashsale, flashsale, evaluate_atom, "evaluate")
CAF_ADD_ATOM(flashsale, flashsale, register_atom, "register")
CAF_ADD_ATOM(flashsale, flashsale, find_atom, "find")
CAF_ADD_ATOM(flashsale, flashsale, claim_atom, "claim")
CAF_ADD_ATOM(flashsale, flashsale, rested_atom, "rested")
CAF_ADD_ATOM(flashsale, flashsale, epoch_atom, "epoch")

CAF_END_TYPE_ID_BLOCK(flashsale)

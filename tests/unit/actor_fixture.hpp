#pragma once

// What the actor unit tests share: an actor system on CAF's deterministic test coordinator
// (caf/test/dsl.hpp: nothing runs until the test says so, time moves only when the test moves
// it), the platform's message types, and a fake outlet for the publisher bridge that records what
// it was asked to publish and lets the test tell each message's fate. Include after
// caf/test/dsl.hpp, in test files only.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor_system_config.hpp>

#include "actors/publisher_bridge.hpp"
#include "messages/type_ids.hpp"

namespace flashsale::testing {

struct actor_test_config : caf::actor_system_config {
  actor_test_config() { add_message_types<caf::id_block::flashsale>(); }
};

/// The deterministic fixture with the platform's types. consume() runs every message now in a
/// mailbox, no timer; later(d) runs those, moves the clock by d (firing what falls due) and runs
/// what follows.
struct actor_fixture : test_coordinator_fixture<actor_test_config> {
  void consume() { consume_messages(); }
  void later(caf::timespan d) {
    consume_messages();
    advance_time(d);
    consume_messages();
  }
};

/// One message the bridge handed to its outlet.
struct published_message {
  std::uint64_t id = 0;
  std::string body;
  std::string queue;
};

/// The outlet the bridge under test publishes through: it records, and the test tells the fates
/// (as the broker's confirms would arrive, through the bridge's mailbox).
class fake_outlet {
 public:
  /// An outlet factory for publisher_bridge_options::outlet; the bridge calls it once.
  outlet_factory factory() {
    auto self = state_;
    return [self](message_outlet::fate_callback on_fate) {
      self->on_fate = std::move(on_fate);
      return std::unique_ptr<message_outlet>(new recording(self));
    };
  }

  /// Everything published so far, in order.
  const std::vector<published_message>& published() const { return state_->messages; }

  /// Tells the bridge the fate of the message with publish id `id`.
  void tell(std::uint64_t id, publish_outcome outcome) { state_->on_fate({id}, outcome); }

  /// Tells the fate of the last message published.
  void tell_last(publish_outcome outcome) { tell(state_->messages.back().id, outcome); }

 private:
  struct shared {
    std::vector<published_message> messages;
    message_outlet::fate_callback on_fate;
  };
  class recording final : public message_outlet {
   public:
    explicit recording(std::shared_ptr<shared> s) : s_(std::move(s)) {}
    void publish(std::uint64_t id, std::string body, std::string queue) override {
      s_->messages.push_back(published_message{id, std::move(body), std::move(queue)});
    }

   private:
    std::shared_ptr<shared> s_;
  };
  std::shared_ptr<shared> state_ = std::make_shared<shared>();
};

}  // namespace flashsale::testing

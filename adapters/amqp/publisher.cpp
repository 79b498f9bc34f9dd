#include "adapters/amqp/publisher.hpp"

#include <algorithm>
#include <map>
#include <memory>

#include <amqp.h>
#include <spdlog/spdlog.h>

namespace flashsale::amqp {

namespace {

using clock = std::chrono::steady_clock;

struct inflight {
  std::uint64_t id;
  clock::time_point sent;
};

}  // namespace

publisher::publisher(connection_params params, options opts, confirm_callback on_confirm)
    : params_(std::move(params)),
      opts_(std::move(opts)),
      on_confirm_(std::move(on_confirm)),
      connected_(opts_.connected) {
  connected_->store(false);
  thread_ = std::thread([this] { run(); });
}

publisher::~publisher() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void publisher::publish(std::uint64_t id, std::string body, std::string queue) {
  if (!connected_->load()) {
    on_confirm_({id}, fate::refused);
    return;
  }
  {
    std::lock_guard<std::mutex> guard{mtx_};
    queue_.push_back(pending{id, std::move(body), std::move(queue)});
  }
  cv_.notify_one();
}

void publisher::report(std::vector<std::uint64_t> ids, fate f) {
  if (!ids.empty())
    on_confirm_(std::move(ids), f);
}

void publisher::run() {
  std::unique_ptr<amqp_connection> conn;
  std::map<std::uint64_t, inflight> unconfirmed;  // delivery tag -> publish
  std::uint64_t next_tag = 1;
  auto backoff = std::chrono::milliseconds{100};
  std::vector<pending> batch;

  auto drop_connection = [&](const std::string& why) {
    spdlog::error(
        "amqp publisher {}: {}; {} unconfirmed messages reported as unknown (they may be stored), "
        "reconnecting",
        params_.endpoint(), why, unconfirmed.size());
    connected_->store(false);
    std::vector<std::uint64_t> ids;
    for (auto& [tag, m] : unconfirmed)
      ids.push_back(m.id);
    unconfirmed.clear();
    report(std::move(ids), fate::unknown);
    conn.reset();
  };

  for (;;) {
    {
      std::unique_lock<std::mutex> lock{mtx_};
      if (stop_)
        break;
      if (conn == nullptr) {
        // Everything queued while the connection died is refused at once.
        batch.swap(queue_);
      }
    }
    if (conn == nullptr) {
      std::vector<std::uint64_t> ids;
      for (auto& m : batch)
        ids.push_back(m.id);
      batch.clear();
      report(std::move(ids), fate::refused);  // never sent
      try {
        conn = std::make_unique<amqp_connection>(params_);
        conn->declare(opts_.route);
        amqp_confirm_select(static_cast<amqp_connection_state_t>(conn->native()), 1);
        conn->check_rpc("confirm.select");
        next_tag = 1;
        backoff = std::chrono::milliseconds{100};
        connected_->store(true);
        spdlog::info("amqp publisher connected to {} (exchange {}, queues {})", params_.endpoint(),
                     opts_.route.exchange, fmt::join(opts_.route.queues(), ", "));
      } catch (const amqp_error& e) {
        conn.reset();
        spdlog::warn("amqp publisher: {}; retrying in {} ms", e.what(), backoff.count());
        std::unique_lock<std::mutex> lock{mtx_};
        cv_.wait_for(lock, backoff, [this] { return stop_; });
        backoff = std::min(backoff * 2, opts_.max_backoff);
        continue;
      }
    }
    auto state = static_cast<amqp_connection_state_t>(conn->native());

    {
      std::unique_lock<std::mutex> lock{mtx_};
      if (queue_.empty() && unconfirmed.empty() && !stop_)
        cv_.wait_for(lock, std::chrono::milliseconds{100});
      batch.swap(queue_);
    }

    // Publish everything queued, then read confirms.
    amqp_basic_properties_t props;
    props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG;
    props.delivery_mode = 2;  // persistent
    props.content_type = amqp_cstring_bytes("application/x-flashsale-purchase");
    auto exchange = amqp_cstring_bytes(opts_.route.exchange.c_str());
    auto main_key = amqp_cstring_bytes(opts_.route.queue.c_str());
    bool broken = false;
    std::size_t sent = 0;
    for (; sent < batch.size(); ++sent) {
      auto& m = batch[sent];
      auto key = m.queue.empty() ? main_key : amqp_cstring_bytes(m.queue.c_str());
      amqp_bytes_t body{m.body.size(), m.body.data()};
      int rc = amqp_basic_publish(state, 1, exchange, key, 0, 0, &props, body);
      if (rc != AMQP_STATUS_OK) {
        broken = true;
        drop_connection(std::string("publish: ") + amqp_error_string2(rc));
        break;
      }
      unconfirmed.emplace(next_tag++, inflight{m.id, clock::now()});
    }
    if (broken) {
      std::vector<std::uint64_t> ids;
      // Not sent, or cut off mid-message (the broker drops an incomplete message).
      for (; sent < batch.size(); ++sent)
        ids.push_back(batch[sent].id);
      batch.clear();
      report(std::move(ids), fate::refused);
      continue;
    }
    batch.clear();

    // Read every frame that is there; wait up to 1 ms for the first one when confirms are due.
    std::vector<std::uint64_t> acked;
    std::vector<std::uint64_t> nacked;
    timeval wait{0, unconfirmed.empty() ? 0 : 1000};
    for (;;) {
      amqp_frame_t frame;
      int rc = amqp_simple_wait_frame_noblock(state, &frame, &wait);
      wait = timeval{0, 0};
      if (rc == AMQP_STATUS_TIMEOUT)
        break;
      if (rc != AMQP_STATUS_OK) {
        broken = true;
        drop_connection(std::string("reading confirms: ") + amqp_error_string2(rc));
        break;
      }
      if (frame.frame_type != AMQP_FRAME_METHOD)
        continue;
      auto method = frame.payload.method.id;
      if (method == AMQP_BASIC_ACK_METHOD || method == AMQP_BASIC_NACK_METHOD) {
        std::uint64_t tag;
        bool multiple;
        if (method == AMQP_BASIC_ACK_METHOD) {
          auto* m = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
          tag = m->delivery_tag;
          multiple = m->multiple != 0;
        } else {
          auto* m = static_cast<amqp_basic_nack_t*>(frame.payload.method.decoded);
          tag = m->delivery_tag;
          multiple = m->multiple != 0;
        }
        auto& out = method == AMQP_BASIC_ACK_METHOD ? acked : nacked;
        auto last = multiple ? unconfirmed.upper_bound(tag) : unconfirmed.find(tag);
        auto first = multiple ? unconfirmed.begin() : last;
        if (!multiple && last != unconfirmed.end())
          ++last;
        for (auto i = first; i != last; ++i)
          out.push_back(i->second.id);
        unconfirmed.erase(first, last);
      } else if (method == AMQP_CHANNEL_CLOSE_METHOD || method == AMQP_CONNECTION_CLOSE_METHOD) {
        broken = true;
        drop_connection("the broker closed the channel");
        break;
      }
    }
    report(std::move(acked), fate::confirmed);
    report(std::move(nacked), fate::refused);
    if (broken)
      continue;
    if (!unconfirmed.empty() &&
        clock::now() - unconfirmed.begin()->second.sent > opts_.confirm_timeout) {
      drop_connection("no confirm within " + std::to_string(opts_.confirm_timeout.count()) + " ms");
      continue;  // the connection state is gone
    }
    amqp_maybe_release_buffers(state);
  }

  // Shutting down: nothing unconfirmed may count as accepted.
  std::vector<std::uint64_t> sent_ids;
  for (auto& [tag, m] : unconfirmed)
    sent_ids.push_back(m.id);
  connected_->store(false);
  std::vector<std::uint64_t> queued_ids;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto& m : queue_)
      queued_ids.push_back(m.id);
    queue_.clear();
  }
  report(std::move(sent_ids), fate::unknown);
  report(std::move(queued_ids), fate::refused);
}

}  // namespace flashsale::amqp

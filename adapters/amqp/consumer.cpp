#include "adapters/amqp/consumer.hpp"

#include <algorithm>
#include <memory>

#include <amqp.h>
#include <spdlog/spdlog.h>

namespace flashsale::amqp {

namespace {

// Delivery tags carry the connection generation in their top 16 bits.
constexpr int generation_shift = 48;
constexpr std::uint64_t tag_mask = (std::uint64_t{1} << generation_shift) - 1;

}  // namespace

consumer::consumer(connection_params params, options opts, batch_callback on_batch)
    : params_(std::move(params)), opts_(std::move(opts)), on_batch_(std::move(on_batch)) {
  thread_ = std::thread([this] { run(); });
}

consumer::~consumer() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void consumer::ack(std::uint64_t tag) {
  std::lock_guard<std::mutex> guard{mtx_};
  settles_.push_back(settle{tag, true, false});
}

void consumer::reject(std::uint64_t tag, bool requeue) {
  std::lock_guard<std::mutex> guard{mtx_};
  settles_.push_back(settle{tag, false, requeue});
}

void consumer::run() {
  std::unique_ptr<amqp_connection> conn;
  std::uint64_t generation = 0;
  auto backoff = std::chrono::milliseconds{100};
  std::vector<settle> settles;
  std::vector<delivery> batch;

  auto drop_connection = [&](const std::string& why) {
    spdlog::error("amqp consumer {} queue {}: {}; reconnecting (unacked messages are redelivered)",
                  params_.endpoint(), opts_.route.queue, why);
    connected_ = false;
    conn.reset();
  };

  for (;;) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (stop_)
        break;
      settles.swap(settles_);
    }
    if (conn == nullptr) {
      settles.clear();  // tags of a dead connection mean nothing to the next one
      try {
        conn = std::make_unique<amqp_connection>(params_);
        conn->declare(opts_.route);
        auto state = static_cast<amqp_connection_state_t>(conn->native());
        amqp_basic_qos(state, 1, 0, opts_.prefetch, 0);
        conn->check_rpc("basic.qos");
        amqp_basic_consume(state, 1, amqp_cstring_bytes(opts_.route.queue.c_str()),
                           amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
        conn->check_rpc("basic.consume");
        ++generation;
        backoff = std::chrono::milliseconds{100};
        connected_ = true;
        spdlog::info("amqp consumer connected to {} (queue {}, prefetch {})", params_.endpoint(),
                     opts_.route.queue, opts_.prefetch);
      } catch (const amqp_error& e) {
        conn.reset();
        spdlog::warn("amqp consumer: {}; retrying in {} ms", e.what(), backoff.count());
        std::unique_lock<std::mutex> lock{mtx_};
        cv_.wait_for(lock, backoff, [this] { return stop_; });
        backoff = std::min(backoff * 2, std::chrono::milliseconds{2000});
        continue;
      }
    }
    auto state = static_cast<amqp_connection_state_t>(conn->native());

    // Settle what the application finished.
    bool broken = false;
    for (auto& s : settles) {
      if ((s.tag >> generation_shift) != (generation & 0xffff))
        continue;  // from an earlier connection: the broker redelivers it
      auto tag = s.tag & tag_mask;
      int rc = s.ack ? amqp_basic_ack(state, 1, tag, 0)
                     : amqp_basic_reject(state, 1, tag, s.requeue ? 1 : 0);
      if (rc != AMQP_STATUS_OK) {
        broken = true;
        drop_connection(std::string("settling a delivery: ") + amqp_error_string2(rc));
        break;
      }
      if (s.ack)
        ++acks_sent_;
    }
    settles.clear();
    if (broken)
      continue;

    // Collect a batch: wait up to 2 ms for the first delivery, then take what is already there.
    amqp_maybe_release_buffers(state);
    timeval wait{0, 2000};
    while (batch.size() < opts_.max_batch) {
      amqp_envelope_t env;
      auto r = amqp_consume_message(state, &env, &wait, 0);
      wait = timeval{0, 0};
      if (r.reply_type == AMQP_RESPONSE_NORMAL) {
        delivery d;
        d.tag = ((generation & 0xffff) << generation_shift) | (env.delivery_tag & tag_mask);
        d.redelivered = env.redelivered != 0;
        d.body.assign(static_cast<const char*>(env.message.body.bytes), env.message.body.len);
        batch.push_back(std::move(d));
        amqp_destroy_envelope(&env);
        continue;
      }
      if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT)
        break;
      if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
          r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
        // A frame other than a delivery: read it; closes end the connection, the rest is ignored.
        amqp_frame_t frame;
        if (amqp_simple_wait_frame_noblock(state, &frame, &wait) != AMQP_STATUS_OK ||
            (frame.frame_type == AMQP_FRAME_METHOD &&
             (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
              frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD))) {
          broken = true;
          drop_connection("the broker closed the channel");
          break;
        }
        continue;
      }
      broken = true;
      drop_connection(r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
                          ? amqp_error_string2(r.library_error)
                          : "unexpected reply while consuming");
      break;
    }
    if (!batch.empty()) {
      on_batch_(std::move(batch));
      batch.clear();
    }
  }
}

}  // namespace flashsale::amqp

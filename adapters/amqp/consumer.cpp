#include "adapters/amqp/consumer.hpp"

#include <algorithm>
#include <deque>
#include <memory>

#include <amqp.h>
#include <spdlog/spdlog.h>

namespace flashsale::amqp {

namespace {

using clock = std::chrono::steady_clock;

// Delivery tags carry the connection generation in their top 16 bits.
constexpr int generation_shift = 48;
constexpr std::uint64_t tag_mask = (std::uint64_t{1} << generation_shift) - 1;

/// An unsettled delivery of the current connection, in delivery-tag order.
struct window_entry {
  enum class state { pending, finished, settled };
  std::uint64_t tag;  // the broker's tag (no generation bits)
  state st = state::pending;
  clock::time_point finished_at{};
};

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

void consumer::ack(const std::vector<std::uint64_t>& tags) {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto tag : tags)
    settles_.push_back(settle{tag, true, false});
}

void consumer::reject(std::uint64_t tag, bool requeue) {
  std::lock_guard<std::mutex> guard{mtx_};
  settles_.push_back(settle{tag, false, requeue});
}

consumer_counters consumer::counters() const {
  consumer_counters c;
  c.delivered = delivered_.load();
  c.acked = acked_.load();
  c.ack_frames = ack_frames_.load();
  c.dead_lettered = dead_lettered_.load();
  c.requeued = requeued_.load();
  return c;
}

void consumer::run() {
  std::unique_ptr<amqp_connection> conn;
  std::uint64_t generation = 0;
  auto backoff = std::chrono::milliseconds{100};
  std::vector<settle> settles;
  std::vector<delivery> batch;
  std::deque<window_entry> window;  // unsettled deliveries of this connection, by tag
  std::size_t finished_behind = 0;  // finished entries not at the head of the window
  auto queues = opts_.route.queues();
  std::string queue_list;
  for (const auto& q : queues)
    queue_list += (queue_list.empty() ? "" : ", ") + q;

  auto drop_connection = [&](const std::string& why) {
    spdlog::error(
        "amqp consumer {} queues {}: {}; reconnecting ({} unacked deliveries are redelivered)",
        params_.endpoint(), queue_list, why, window.size());
    connected_ = false;
    conn.reset();
    window.clear();
    finished_behind = 0;
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
        for (const auto& q : queues) {
          amqp_basic_consume(state, 1, amqp_cstring_bytes(q.c_str()), amqp_empty_bytes, 0, 0, 0,
                             amqp_empty_table);
          conn->check_rpc(("basic.consume " + q).c_str());
        }
        ++generation;
        backoff = std::chrono::milliseconds{100};
        connected_ = true;
        spdlog::info("amqp consumer connected to {} (queues {}, prefetch {} each)",
                     params_.endpoint(), queue_list, opts_.prefetch);
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

    // Settle what the application finished: rejects at once, acks into the window.
    bool broken = false;
    auto now = clock::now();
    for (auto& s : settles) {
      if ((s.tag >> generation_shift) != (generation & 0xffff))
        continue;  // from an earlier connection: the broker redelivers it
      auto tag = s.tag & tag_mask;
      auto it = std::lower_bound(window.begin(), window.end(), tag,
                                 [](const window_entry& e, std::uint64_t t) { return e.tag < t; });
      if (it == window.end() || it->tag != tag || it->st != window_entry::state::pending)
        continue;  // settled twice: the first one counts
      if (s.ack) {
        it->st = window_entry::state::finished;
        it->finished_at = now;
        ++finished_behind;
        continue;
      }
      int rc = amqp_basic_reject(state, 1, tag, s.requeue ? 1 : 0);
      if (rc != AMQP_STATUS_OK) {
        broken = true;
        drop_connection(std::string("rejecting a delivery: ") + amqp_error_string2(rc));
        break;
      }
      it->st = window_entry::state::settled;
      ++(s.requeue ? requeued_ : dead_lettered_);
    }
    settles.clear();
    if (broken)
      continue;

    // One multiple ack for the settled run at the head of the window.
    std::uint64_t last_finished = 0;
    std::uint64_t run_acked = 0;
    while (!window.empty() && window.front().st != window_entry::state::pending) {
      if (window.front().st == window_entry::state::finished) {
        last_finished = window.front().tag;
        ++run_acked;
        --finished_behind;
      }
      window.pop_front();
    }
    if (last_finished != 0) {
      int rc = amqp_basic_ack(state, 1, last_finished, 1);
      if (rc != AMQP_STATUS_OK) {
        drop_connection(std::string("acking deliveries: ") + amqp_error_string2(rc));
        continue;
      }
      acked_ += run_acked;
      ++ack_frames_;
    }
    // Finished deliveries stuck behind an unfinished one: acked one by one after ack_hold.
    if (finished_behind > 0) {
      for (auto& e : window) {
        if (e.st != window_entry::state::finished || now - e.finished_at < opts_.ack_hold)
          continue;
        int rc = amqp_basic_ack(state, 1, e.tag, 0);
        if (rc != AMQP_STATUS_OK) {
          broken = true;
          drop_connection(std::string("acking a delivery: ") + amqp_error_string2(rc));
          break;
        }
        e.st = window_entry::state::settled;
        --finished_behind;
        ++acked_;
        ++ack_frames_;
      }
      if (broken)
        continue;
    }

    // Collect a batch: wait up to 10 ms for the first delivery, then take what is already there.
    // (Acks queued meanwhile wait at most that long; each wake-up costs a context switch.)
    amqp_maybe_release_buffers(state);
    timeval wait{0, 10000};
    while (batch.size() < opts_.max_batch) {
      amqp_envelope_t env;
      auto r = amqp_consume_message(state, &env, &wait, 0);
      wait = timeval{0, 0};
      if (r.reply_type == AMQP_RESPONSE_NORMAL) {
        delivery d;
        d.tag = ((generation & 0xffff) << generation_shift) | (env.delivery_tag & tag_mask);
        d.redelivered = env.redelivered != 0;
        d.body.assign(static_cast<const char*>(env.message.body.bytes), env.message.body.len);
        window.emplace_back();
        window.back().tag = env.delivery_tag & tag_mask;
        batch.push_back(std::move(d));
        amqp_destroy_envelope(&env);
        continue;
      }
      if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT)
        break;
      if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
          r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
        // A frame other than a delivery: read it. A close or a consumer cancelled by the broker
        // (its queue was deleted) ends the connection; the rest is ignored.
        amqp_frame_t frame;
        if (amqp_simple_wait_frame_noblock(state, &frame, &wait) != AMQP_STATUS_OK ||
            (frame.frame_type == AMQP_FRAME_METHOD &&
             (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
              frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD ||
              frame.payload.method.id == AMQP_BASIC_CANCEL_METHOD))) {
          broken = true;
          drop_connection("the broker closed the channel or cancelled the consumer");
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
    if (broken)
      batch.clear();  // their tags died with the connection; the broker redelivers them
    if (!batch.empty()) {
      delivered_ += batch.size();
      on_batch_(std::move(batch));
      batch.clear();
    }
  }
}

}  // namespace flashsale::amqp

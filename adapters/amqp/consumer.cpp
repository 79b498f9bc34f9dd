#include "adapters/amqp/consumer.hpp"

#include <algorithm>
#include <deque>
#include <memory>

#include <amqp.h>
#include <spdlog/spdlog.h>

#include "adapters/amqp/reconnect_backoff.hpp"

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

void consumer::pause(std::chrono::milliseconds how_long, std::string why) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    paused_until_ = std::max(paused_until_, clock::now() + how_long);
    pause_why_ = std::move(why);
  }
  cv_.notify_all();
}

consumer_counters consumer::counters() const {
  consumer_counters c;
  c.delivered = delivered_.load();
  c.acked = acked_.load();
  c.ack_frames = ack_frames_.load();
  c.dead_lettered = dead_lettered_.load();
  c.requeued = requeued_.load();
  c.returned = returned_.load();
  return c;
}

/// The consumer thread's state and its steps (the connection is used by this thread only).
class consumer::loop {
 public:
  explicit loop(consumer& owner) : c_(owner), queues_(owner.opts_.route.queues()) {
    for (const auto& q : queues_)
      queue_list_ += (queue_list_.empty() ? "" : ", ") + q;
  }

  void run() {
    std::vector<settle> settles;
    for (;;) {
      clock::time_point paused_until;
      std::string why;
      {
        std::lock_guard<std::mutex> guard{c_.mtx_};
        if (c_.stop_)
          break;
        settles.swap(c_.settles_);
        paused_until = c_.paused_until_;
        why = c_.pause_why_;
      }
      if (clock::now() < paused_until) {
        if (conn_ != nullptr) {
          // Acks of what was finished go out first; the rest goes back to the queue.
          if (apply(settles, clock::now()))
            ack_head();
          if (conn_ != nullptr)
            close_for_pause(why, paused_until);
        }
        settles.clear();
        std::unique_lock<std::mutex> lock{c_.mtx_};
        c_.cv_.wait_until(lock, paused_until, [this] { return c_.stop_; });
        continue;
      }
      if (conn_ == nullptr) {
        settles.clear();  // tags of a dead connection mean nothing to the next one
        if (!connect())
          continue;
      }
      auto now = clock::now();
      bool ok = apply(settles, now) && ack_head() && ack_stuck(now);
      settles.clear();
      if (ok)
        collect();
    }
  }

 private:
  amqp_connection_state_t state() const {
    return static_cast<amqp_connection_state_t>(conn_->native());
  }

  /// Connects and consumes every queue; after a failure waits out the backoff, returns false.
  bool connect() {
    try {
      conn_ = std::make_unique<amqp_connection>(c_.params_, brokers_.first());
      conn_->verify(c_.opts_.route);
      amqp_basic_qos(state(), 1, 0, c_.opts_.prefetch, 0);
      conn_->check_rpc("basic.qos");
      for (const auto& q : queues_) {
        amqp_basic_consume(state(), 1, amqp_cstring_bytes(q.c_str()), amqp_empty_bytes, 0, 0, 0,
                           amqp_empty_table);
        conn_->check_rpc(("basic.consume " + q).c_str());
      }
      ++generation_;
      backoff_.reset();
      c_.connected_ = true;
      spdlog::info("amqp consumer connected to {}{} (queues {}, prefetch {} each)", conn_->broker(),
                   brokers_.connected(conn_->broker()), queue_list_, c_.opts_.prefetch);
      return true;
    } catch (const amqp_error& e) {
      conn_.reset();
      spdlog::warn("amqp consumer: {}; retrying in {} ms", e.what(), backoff_.delay().count());
      backoff_.wait(c_.mtx_, c_.cv_, [this] { return c_.stop_; });
      return false;
    }
  }

  /// Closes the connection for a pause (not a failure: the next connect tries the same broker).
  void close_for_pause(const std::string& why, clock::time_point until) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(until - clock::now()).count();
    spdlog::warn(
        "amqp consumer {} queues {}: pausing for {} ms ({}); {} unacked deliveries go back to the "
        "queue",
        conn_->broker(), queue_list_, ms, why, window_.size());
    close();
  }

  void drop(const std::string& why) {
    spdlog::error(
        "amqp consumer {} queues {}: {}; reconnecting ({} unacked deliveries are redelivered)",
        conn_->broker(), queue_list_, why, window_.size());
    brokers_.lost(conn_->broker_index());
    close();
  }

  /// Forgets the connection and its window (the broker redelivers what was unacked).
  void close() {
    c_.connected_ = false;
    conn_.reset();
    for (const auto& e : window_)  // rejected ones were counted when they were rejected
      c_.returned_ += e.st == window_entry::state::settled ? 0 : 1;
    window_.clear();
    finished_behind_ = 0;
  }

  /// Settles what the application finished: rejects at once, acks into the window. False when
  /// the connection broke.
  bool apply(const std::vector<settle>& settles, clock::time_point now) {
    for (const auto& s : settles) {
      if ((s.tag >> generation_shift) != (generation_ & 0xffff))
        continue;  // from an earlier connection: the broker redelivers it
      auto tag = s.tag & tag_mask;
      auto it = std::lower_bound(window_.begin(), window_.end(), tag,
                                 [](const window_entry& e, std::uint64_t t) { return e.tag < t; });
      if (it == window_.end() || it->tag != tag || it->st != window_entry::state::pending)
        continue;  // settled twice: the first one counts
      if (s.ack) {
        it->st = window_entry::state::finished;
        it->finished_at = now;
        ++finished_behind_;
        continue;
      }
      int rc = amqp_basic_reject(state(), 1, tag, s.requeue ? 1 : 0);
      if (rc != AMQP_STATUS_OK) {
        drop(std::string("rejecting a delivery: ") + amqp_error_string2(rc));
        return false;
      }
      it->st = window_entry::state::settled;
      ++(s.requeue ? c_.requeued_ : c_.dead_lettered_);
    }
    return true;
  }

  /// One multiple ack for the settled run at the head of the window. False when it broke.
  bool ack_head() {
    std::uint64_t last_finished = 0;
    std::uint64_t run_acked = 0;
    while (!window_.empty() && window_.front().st != window_entry::state::pending) {
      if (window_.front().st == window_entry::state::finished) {
        last_finished = window_.front().tag;
        ++run_acked;
        --finished_behind_;
      }
      window_.pop_front();
    }
    if (last_finished == 0)
      return true;
    int rc = amqp_basic_ack(state(), 1, last_finished, 1);
    if (rc != AMQP_STATUS_OK) {
      drop(std::string("acking deliveries: ") + amqp_error_string2(rc));
      return false;
    }
    c_.acked_ += run_acked;
    ++c_.ack_frames_;
    return true;
  }

  /// Finished deliveries stuck behind an unfinished one: acked one by one after ack_hold.
  bool ack_stuck(clock::time_point now) {
    if (finished_behind_ == 0)
      return true;
    for (auto& e : window_) {
      if (e.st != window_entry::state::finished || now - e.finished_at < c_.opts_.ack_hold)
        continue;
      int rc = amqp_basic_ack(state(), 1, e.tag, 0);
      if (rc != AMQP_STATUS_OK) {
        drop(std::string("acking a delivery: ") + amqp_error_string2(rc));
        return false;
      }
      e.st = window_entry::state::settled;
      --finished_behind_;
      ++c_.acked_;
      ++c_.ack_frames_;
    }
    return true;
  }

  /// A frame other than a delivery: read it. A close or a consumer cancelled by the broker (its
  /// queue was deleted) ends the connection (false); the rest is ignored.
  bool read_other_frame(timeval& wait) {
    amqp_frame_t frame;
    if (amqp_simple_wait_frame_noblock(state(), &frame, &wait) != AMQP_STATUS_OK ||
        (frame.frame_type == AMQP_FRAME_METHOD &&
         (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
          frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD ||
          frame.payload.method.id == AMQP_BASIC_CANCEL_METHOD))) {
      drop("the broker closed the channel or cancelled the consumer");
      return false;
    }
    return true;
  }

  /// Collects a batch: waits up to 10 ms for the first delivery, then takes what is already there
  /// (acks queued meanwhile wait at most that long; each wake-up costs a context switch), and
  /// hands it over unless the connection broke meanwhile (the broker redelivers those).
  void collect() {
    std::vector<delivery> batch;
    amqp_maybe_release_buffers(state());
    timeval wait{0, 10000};
    bool broken = false;
    while (!broken && batch.size() < c_.opts_.max_batch) {
      amqp_envelope_t env;
      auto r = amqp_consume_message(state(), &env, &wait, 0);
      wait = timeval{0, 0};
      if (r.reply_type == AMQP_RESPONSE_NORMAL) {
        delivery d;
        d.tag = ((generation_ & 0xffff) << generation_shift) | (env.delivery_tag & tag_mask);
        d.redelivered = env.redelivered != 0;
        d.body.assign(static_cast<const char*>(env.message.body.bytes), env.message.body.len);
        window_.emplace_back();
        window_.back().tag = env.delivery_tag & tag_mask;
        batch.push_back(std::move(d));
        amqp_destroy_envelope(&env);
      } else if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
                 r.library_error == AMQP_STATUS_TIMEOUT) {
        break;
      } else if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
                 r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
        broken = !read_other_frame(wait);
      } else {
        broken = true;
        drop(r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION ? amqp_error_string2(r.library_error)
                                                             : "unexpected reply while consuming");
      }
    }
    if (broken || batch.empty())
      return;
    c_.delivered_ += batch.size();
    c_.on_batch_(std::move(batch));
  }

  consumer& c_;
  std::vector<std::string> queues_;
  std::string queue_list_;
  std::unique_ptr<amqp_connection> conn_;
  detail::broker_rotation brokers_;  ///< which broker of a cluster the next connect tries
  std::uint64_t generation_ = 0;
  detail::reconnect_backoff backoff_{std::chrono::milliseconds{2000}};
  std::deque<window_entry> window_;  // unsettled deliveries of this connection, by tag
  std::size_t finished_behind_ = 0;  // finished entries not at the head of the window
};

void consumer::run() {
  loop{*this}.run();
}

}  // namespace flashsale::amqp

#include "adapters/amqp/publisher.hpp"

#include <algorithm>
#include <cerrno>
#include <map>
#include <memory>
#include <system_error>

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <amqp.h>
#include <spdlog/spdlog.h>

#include "adapters/amqp/reconnect_backoff.hpp"

namespace flashsale::amqp {

namespace {

using clock = std::chrono::steady_clock;

/// The shortest life of a connection that the broker refuses messages on (renew_after_refusals).
constexpr std::chrono::seconds renew_interval{1};

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
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0)
    throw std::system_error(errno, std::generic_category(), "amqp publisher: eventfd");
  thread_ = std::thread([this] { run(); });
}

publisher::~publisher() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stop_ = true;
  }
  cv_.notify_all();
  wake();
  thread_.join();
  close(wake_fd_);
}

void publisher::wake() {
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = write(wake_fd_, &one, sizeof one);  // full counter: awake already
}

void publisher::publish(std::uint64_t id, std::string body, std::string queue) {
  if (!connected_->load()) {
    on_confirm_({id}, fate::refused);
    return;
  }
  bool was_empty = false;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    was_empty = queue_.empty();
    queue_.push_back(pending{id, std::move(body), std::move(queue)});
  }
  if (was_empty)  // else the thread was woken for the first and takes this one with it
    wake();
}

void publisher::report(std::vector<std::uint64_t> ids, fate f) {
  if (!ids.empty())
    on_confirm_(std::move(ids), f);
}

/// The publisher thread's state and its steps (the connection is used by this thread only).
class publisher::loop {
 public:
  explicit loop(publisher& owner) : p_(owner) {}

  void run() {
    std::vector<pending> batch;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock{p_.mtx_};
        if (p_.stop_)
          break;
        if (conn_ == nullptr)
          batch.swap(p_.queue_);  // everything queued while the connection died is refused
      }
      if (conn_ == nullptr) {
        refuse(batch);  // never sent
        if (!connect())
          continue;
      }
      {
        std::lock_guard<std::mutex> lock{p_.mtx_};
        batch.swap(p_.queue_);
      }
      if (batch.empty()) {
        await_work();
        std::lock_guard<std::mutex> lock{p_.mtx_};
        batch.swap(p_.queue_);
      }
      if (!publish_all(batch) || !read_confirms() || !renew_after_refusals())
        continue;
      if (!unconfirmed_.empty() &&
          clock::now() - unconfirmed_.begin()->second.sent > p_.opts_.confirm_timeout) {
        drop("no confirm within " + std::to_string(p_.opts_.confirm_timeout.count()) + " ms");
        continue;  // the connection state is gone
      }
      amqp_maybe_release_buffers(state());
    }
    shut_down();
  }

 private:
  /// Sleeps until a message is queued, a frame arrives (a confirm, or the broker closing), stop,
  /// or 100 ms pass (the confirm deadline is checked then).
  void await_work() {
    if (amqp_data_in_buffer(state()) || amqp_frames_enqueued(state()))
      return;  // frames read already: read_confirms takes them
    pollfd fds[2] = {{p_.wake_fd_, POLLIN, 0}, {amqp_get_sockfd(state()), POLLIN, 0}};
    if (poll(fds, 2, 100) > 0 && (fds[0].revents & POLLIN) != 0) {
      std::uint64_t count;
      [[maybe_unused]] auto n = read(p_.wake_fd_, &count, sizeof count);
    }
  }

  amqp_connection_state_t state() const {
    return static_cast<amqp_connection_state_t>(conn_->native());
  }

  /// Reports every message of `batch` (from `from` on) refused, and empties it.
  void refuse(std::vector<pending>& batch, std::size_t from = 0) {
    std::vector<std::uint64_t> ids;
    for (; from < batch.size(); ++from)
      ids.push_back(batch[from].id);
    batch.clear();
    p_.report(std::move(ids), fate::refused);
  }

  /// Connects with confirms on; after a failure waits out the backoff and returns false.
  bool connect() {
    try {
      conn_ = std::make_unique<amqp_connection>(p_.params_, brokers_.first());
      conn_->verify(p_.opts_.route);
      amqp_confirm_select(state(), 1);
      conn_->check_rpc("confirm.select");
      next_tag_ = 1;
      refused_since_renewal_ = 0;
      connected_at_ = clock::now();
      backoff_.reset();
      p_.connected_->store(true);
      spdlog::info("amqp publisher connected to {}{} (exchange {}, queues {})", conn_->broker(),
                   brokers_.connected(conn_->broker()), p_.opts_.route.exchange,
                   fmt::join(p_.opts_.route.queues(), ", "));
      return true;
    } catch (const amqp_error& e) {
      conn_.reset();
      spdlog::warn("amqp publisher: {}; retrying in {} ms", e.what(), backoff_.delay().count());
      backoff_.wait(p_.mtx_, p_.cv_, [this] { return p_.stop_; });
      return false;
    }
  }

  /// Reports what was sent and not confirmed as unknown (it may be stored), closes the connection.
  void drop(const std::string& why) {
    spdlog::error(
        "amqp publisher {}: {}; {} unconfirmed messages reported as unknown (they may be stored), "
        "reconnecting",
        conn_->broker(), why, unconfirmed_.size());
    p_.connected_->store(false);
    std::vector<std::uint64_t> ids;
    for (auto& [tag, m] : unconfirmed_)
      ids.push_back(m.id);
    unconfirmed_.clear();
    p_.report(std::move(ids), fate::unknown);
    brokers_.lost(conn_->broker_index());
    conn_.reset();
  }

  /// Publishes the batch persistently; false when the connection broke (what was not sent, or cut
  /// off mid-message, which the broker drops, is refused).
  bool publish_all(std::vector<pending>& batch) {
    amqp_basic_properties_t props;
    props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG;
    props.delivery_mode = 2;  // persistent
    props.content_type = amqp_cstring_bytes("application/x-flashsale-purchase");
    auto exchange = amqp_cstring_bytes(p_.opts_.route.exchange.c_str());
    auto main_key = amqp_cstring_bytes(p_.opts_.route.queue.c_str());
    for (std::size_t sent = 0; sent < batch.size(); ++sent) {
      auto& m = batch[sent];
      auto key = m.queue.empty() ? main_key : amqp_cstring_bytes(m.queue.c_str());
      amqp_bytes_t body{m.body.size(), m.body.data()};
      int rc = amqp_basic_publish(state(), 1, exchange, key, 0, 0, &props, body);
      if (rc != AMQP_STATUS_OK) {
        drop(std::string("publish: ") + amqp_error_string2(rc));
        refuse(batch, sent);
        return false;
      }
      unconfirmed_.emplace(next_tag_++, inflight{m.id, clock::now()});
    }
    batch.clear();
    return true;
  }

  /// Moves the publishes a basic.ack / basic.nack frame covers from unconfirmed_ to `out`.
  void settle(const amqp_frame_t& frame, std::vector<std::uint64_t>& out) {
    std::uint64_t tag;
    bool multiple;
    if (frame.payload.method.id == AMQP_BASIC_ACK_METHOD) {
      auto* m = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
      tag = m->delivery_tag;
      multiple = m->multiple != 0;
    } else {
      auto* m = static_cast<amqp_basic_nack_t*>(frame.payload.method.decoded);
      tag = m->delivery_tag;
      multiple = m->multiple != 0;
    }
    auto last = multiple ? unconfirmed_.upper_bound(tag) : unconfirmed_.find(tag);
    auto first = multiple ? unconfirmed_.begin() : last;
    if (!multiple && last != unconfirmed_.end())
      ++last;
    for (auto i = first; i != last; ++i)
      out.push_back(i->second.id);
    unconfirmed_.erase(first, last);
  }

  /// Reads every frame that is there, without waiting (await_work waited for them), and reports
  /// the fates; false when the connection broke.
  bool read_confirms() {
    std::vector<std::uint64_t> acked;
    std::vector<std::uint64_t> nacked;
    bool broken = false;
    timeval wait{0, 0};
    while (!broken) {
      amqp_frame_t frame;
      int rc = amqp_simple_wait_frame_noblock(state(), &frame, &wait);
      if (rc == AMQP_STATUS_TIMEOUT)
        break;
      if (rc != AMQP_STATUS_OK) {
        broken = true;
        drop(std::string("reading confirms: ") + amqp_error_string2(rc));
      } else if (frame.frame_type != AMQP_FRAME_METHOD) {
        continue;
      } else if (frame.payload.method.id == AMQP_BASIC_ACK_METHOD) {
        settle(frame, acked);
      } else if (frame.payload.method.id == AMQP_BASIC_NACK_METHOD) {
        settle(frame, nacked);
      } else if (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
                 frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
        broken = true;
        drop("the broker closed the channel");
      }
    }
    refused_since_renewal_ += nacked.size();
    p_.report(std::move(acked), fate::confirmed);
    p_.report(std::move(nacked), fate::refused);
    return !broken;
  }

  /// A refusal need not be the queue's: a channel that first sent to a quorum queue while its
  /// leader was being re-elected is refused (or never answered) until the old leader's node comes
  /// back, while a channel opened after the election is served at once (RabbitMQ 3.10). So after
  /// refusals the publisher moves to a new connection, at most once per renew_interval: a full
  /// queue costs one reconnect a second, a stale channel no more than that. False when it did.
  bool renew_after_refusals() {
    if (refused_since_renewal_ == 0 || clock::now() - connected_at_ < renew_interval)
      return true;
    drop(std::to_string(refused_since_renewal_) +
         " messages refused (a full queue, or a channel that lost the queue's leader); a new "
         "connection serves the next ones");
    return false;
  }

  /// Shutting down: nothing unconfirmed may count as accepted.
  void shut_down() {
    std::vector<std::uint64_t> sent_ids;
    for (auto& [tag, m] : unconfirmed_)
      sent_ids.push_back(m.id);
    p_.connected_->store(false);
    std::vector<std::uint64_t> queued_ids;
    {
      std::lock_guard<std::mutex> guard{p_.mtx_};
      for (auto& m : p_.queue_)
        queued_ids.push_back(m.id);
      p_.queue_.clear();
    }
    p_.report(std::move(sent_ids), fate::unknown);
    p_.report(std::move(queued_ids), fate::refused);
  }

  publisher& p_;
  std::unique_ptr<amqp_connection> conn_;
  detail::broker_rotation brokers_;  ///< which broker of a cluster the next connect tries
  std::map<std::uint64_t, inflight> unconfirmed_;  // delivery tag -> publish
  std::uint64_t next_tag_ = 1;
  std::uint64_t refused_since_renewal_ = 0;  ///< nacks on this connection
  clock::time_point connected_at_{};
  detail::reconnect_backoff backoff_{p_.opts_.max_backoff};
};

void publisher::run() {
  loop{*this}.run();
}

}  // namespace flashsale::amqp

#include "tests/support/amqp_tools.hpp"

#include <condition_variable>
#include <mutex>
#include <thread>

#include "adapters/amqp/publisher.hpp"

namespace flashsale::testing {

publish_outcome publish_all(const amqp::connection_params& params, const amqp::topology& route,
                            const std::vector<outgoing_message>& messages,
                            std::chrono::milliseconds timeout, std::size_t window) {
  amqp::amqp_connection{params}.declare(route);  // the publisher only checks the topology
  std::mutex mtx;
  std::condition_variable cv;
  publish_outcome out;
  amqp::publisher::options opts;
  opts.route = route;
  opts.confirm_timeout = timeout;
  amqp::publisher pub{params, opts, [&](std::vector<std::uint64_t> ids, amqp::publisher::fate f) {
                        std::lock_guard<std::mutex> guard{mtx};
                        (f == amqp::publisher::fate::confirmed ? out.confirmed : out.refused) +=
                            ids.size();
                        cv.notify_all();
                      }};
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pub.connected()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      out.timed_out = true;
      return out;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  std::unique_lock<std::mutex> lock{mtx};
  auto settled = [&] { return out.confirmed + out.refused; };
  for (std::size_t i = 0; i < messages.size(); ++i) {
    if (!cv.wait_until(lock, deadline, [&] { return i - settled() < window; })) {
      out.timed_out = true;
      return out;
    }
    lock.unlock();
    pub.publish(i, messages[i].body, messages[i].queue);
    lock.lock();
  }
  if (!cv.wait_until(lock, deadline, [&] { return settled() >= messages.size(); }))
    out.timed_out = true;
  return out;
}

amqp::queue_state queue_state_of(const amqp::connection_params& params, const std::string& queue) {
  amqp::amqp_connection conn{params};
  return conn.inspect(queue);
}

void delete_queues(const amqp::connection_params& params, const std::vector<std::string>& queues) {
  amqp::amqp_connection conn{params};
  for (const auto& q : queues)
    conn.delete_queue(q);
}

}  // namespace flashsale::testing

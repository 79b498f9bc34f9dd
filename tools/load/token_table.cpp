#include "tools/load/token_table.hpp"

#include <algorithm>
#include <exception>
#include <mutex>
#include <thread>

#include "admission/buyer_auth.hpp"
#include "common/utc_time.hpp"

namespace flashsale::load {

token_table::token_table(const crypto::secret_key& key, const std::string& sale,
                         std::uint64_t users, int threads, std::int64_t ttl_s) {
  auto now_s = utc_now_ms() / 1000;
  auto n = static_cast<std::uint64_t>(std::max(threads, 1));
  std::vector<std::string> parts(n);
  std::vector<std::vector<std::size_t>> lengths(n);
  std::vector<std::thread> workers;
  std::exception_ptr failure;
  std::mutex failure_mutex;
  for (std::uint64_t t = 0; t < n; ++t) {
    workers.emplace_back([&, t] {
      try {
        // Thread t mints a contiguous range of users, so the parts concatenate in user order.
        auto begin = users * t / n;
        auto end = users * (t + 1) / n;
        for (auto u = begin; u < end; ++u) {
          auto line = "Authorization: Bearer " +
                      issue_buyer_token(key, sale, "u" + std::to_string(u), now_s, ttl_s) + "\r\n";
          parts[t] += line;
          lengths[t].push_back(line.size());
        }
      } catch (...) {
        std::lock_guard<std::mutex> lock(failure_mutex);
        failure = std::current_exception();  // the same error on every thread: any one will do
      }
    });
  }
  for (auto& w : workers)
    w.join();
  if (failure)
    std::rethrow_exception(failure);
  offsets_.reserve(users + 1);
  offsets_.push_back(0);
  for (std::uint64_t t = 0; t < n; ++t) {
    text_ += parts[t];
    for (auto len : lengths[t])
      offsets_.push_back(offsets_.back() + len);
  }
}

}  // namespace flashsale::load

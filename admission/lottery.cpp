#include "admission/lottery.hpp"

#include <cstring>
#include <limits>
#include <string>

namespace flashsale {

bool lottery::draw(std::string_view user, std::int64_t now_ms) const {
  auto k = keep_one_in();
  if (k <= 1)
    return true;
  auto window = window_ms();
  std::int64_t index = window == 0 || now_ms < 0 ? 0 : now_ms / window;
  // The hashed message: the window index (8 bytes) then the user id.
  constexpr std::size_t inline_user = 248;
  char buf[8 + inline_user];
  std::uint64_t h = 0;
  if (user.size() <= inline_user) {
    std::memcpy(buf, &index, 8);
    std::memcpy(buf + 8, user.data(), user.size());
    h = crypto::keyed_hash(key(), buf, 8 + user.size());
  } else {
    std::string message(8, '\0');
    std::memcpy(message.data(), &index, 8);
    message.append(user);
    h = crypto::keyed_hash(key(), message.data(), message.size());
  }
  return h <= std::numeric_limits<std::uint64_t>::max() / k;
}

}  // namespace flashsale

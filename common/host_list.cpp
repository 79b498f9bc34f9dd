#include "common/host_list.hpp"

namespace flashsale {

std::string host_port::text() const {
  return host + ":" + std::to_string(port);
}

std::vector<host_port> parse_host_list(const std::string& list, const std::string& what) {
  std::vector<host_port> out;
  std::string::size_type start = 0;
  while (true) {
    auto end = list.find(',', start);
    auto item = list.substr(start, end == std::string::npos ? std::string::npos : end - start);
    auto first = item.find_first_not_of(" \t");
    auto last = item.find_last_not_of(" \t");
    item = first == std::string::npos ? "" : item.substr(first, last - first + 1);
    auto bad = [&](const std::string& why) {
      return std::invalid_argument(what + " '" + list + "': entry " +
                                   std::to_string(out.size() + 1) + " ('" + item + "') " + why);
    };
    if (item.empty())
      throw bad("is empty");
    auto colon = item.rfind(':');
    if (colon == std::string::npos || colon == 0)
      throw bad("is not host:port");
    auto port_text = item.substr(colon + 1);
    bool digits = !port_text.empty() && port_text.size() <= 5 &&
                  port_text.find_first_not_of("0123456789") == std::string::npos;
    int port = digits ? std::stoi(port_text) : 0;
    if (port < 1 || port > 65535)
      throw bad("has no port from 1 to 65535");
    out.push_back({item.substr(0, colon), port});
    if (end == std::string::npos)
      return out;
    start = end + 1;
  }
}

std::string host_list_text(const std::vector<host_port>& servers) {
  std::string out;
  for (const auto& s : servers)
    out += (out.empty() ? "" : ",") + s.text();
  return out;
}

}  // namespace flashsale

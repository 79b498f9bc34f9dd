#include "tools/load/load_stats.hpp"

#include <algorithm>
#include <cmath>

namespace flashsale::load {

namespace {

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size())
    return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (lower(s[i]) != prefix[i])
      return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

bool contains_token_nocase(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    auto comma = list.find(',');
    auto item = trim(list.substr(0, comma));
    if (item.size() == token.size() && starts_with_nocase(item, token))
      return true;
    if (comma == std::string_view::npos)
      break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

std::size_t latency_histogram::index_of(std::uint64_t v) {
  if (v < 32)
    return static_cast<std::size_t>(v);
  int e = 63 - __builtin_clzll(v);  // 5..63
  std::size_t sub = static_cast<std::size_t>((v >> (e - 4)) & 15);
  return std::min<std::size_t>(static_cast<std::size_t>(e - 3) * 16 + sub, bucket_count - 1);
}

void latency_histogram::record(std::uint64_t micros) {
  ++buckets_[index_of(micros)];
  ++count_;
  max_ = std::max(max_, micros);
}

void latency_histogram::merge(const latency_histogram& other) {
  for (std::size_t i = 0; i < bucket_count; ++i)
    buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
}

double latency_histogram::quantile(double q) const {
  if (count_ == 0)
    return 0;
  auto rank = static_cast<std::uint64_t>(std::ceil(std::clamp(q, 0.0, 1.0) * count_));
  rank = std::max<std::uint64_t>(rank, 1);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < bucket_count; ++i) {
    seen += buckets_[i];
    if (seen < rank)
      continue;
    if (i < 32)
      return static_cast<double>(i);
    int e = static_cast<int>(i / 16) + 3;
    double width = std::ldexp(1.0, e - 4);
    double low = static_cast<double>(16 + i % 16) * width;
    return std::min(low + width / 2, static_cast<double>(max_));
  }
  return static_cast<double>(max_);
}

scanned_response scan_response(std::string_view data) {
  scanned_response r;
  auto end = data.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (data.size() > 64 * 1024) {
      r.result = scanned_response::state::malformed;
      r.problem = "response header over 64 KiB";
    }
    return r;
  }
  r.header_bytes = end + 4;
  auto head = data.substr(0, end);
  auto malformed = [&r](const char* why) {
    r.result = scanned_response::state::malformed;
    r.problem = why;
    return r;
  };
  // Status line: HTTP/1.x SSS reason
  if (head.size() < 12 || head.compare(0, 7, "HTTP/1.") != 0 || head[8] != ' ')
    return malformed("bad status line");
  bool http10 = head[7] == '0';
  int status = 0;
  for (std::size_t k = 9; k < 12; ++k) {
    if (head[k] < '0' || head[k] > '9')
      return malformed("bad status code");
    status = status * 10 + (head[k] - '0');
  }
  r.status = status;
  bool keep_alive_seen = false;
  std::uint64_t length = 0;
  auto line_end = head.find("\r\n");
  while (line_end != std::string_view::npos) {
    head.remove_prefix(line_end + 2);
    line_end = head.find("\r\n");
    auto line = head.substr(0, line_end);
    auto colon = line.find(':');
    if (colon == std::string_view::npos)
      return malformed("header line without ':'");
    auto name = line.substr(0, colon);
    auto value = trim(line.substr(colon + 1));
    if (name.size() == 14 && starts_with_nocase(name, "content-length")) {
      length = 0;
      if (value.empty() || value.size() > 15)
        return malformed("bad Content-Length");
      for (char c : value) {
        if (c < '0' || c > '9')
          return malformed("bad Content-Length");
        length = length * 10 + static_cast<std::uint64_t>(c - '0');
      }
    } else if (name.size() == 10 && starts_with_nocase(name, "connection")) {
      if (contains_token_nocase(value, "close"))
        r.close = true;
      if (contains_token_nocase(value, "keep-alive"))
        keep_alive_seen = true;
    } else if (name.size() == 17 && starts_with_nocase(name, "transfer-encoding")) {
      return malformed("chunked responses are not supported");
    }
  }
  if (http10 && !keep_alive_seen)
    r.close = true;
  if (data.size() - r.header_bytes < length)
    return r;  // body incomplete
  r.total_bytes = r.header_bytes + static_cast<std::size_t>(length);
  r.body = data.substr(r.header_bytes, static_cast<std::size_t>(length));
  r.result = scanned_response::state::complete;
  return r;
}

std::string_view find_ticket(std::string_view body) {
  auto key = body.find("\"ticket\"");
  if (key == std::string_view::npos)
    return {};
  auto pos = key + 8;
  while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t'))
    ++pos;
  if (pos >= body.size() || body[pos] != ':')
    return {};
  ++pos;
  while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t'))
    ++pos;
  if (pos >= body.size() || body[pos] != '"')
    return {};
  auto close = body.find('"', pos + 1);
  if (close == std::string_view::npos)
    return {};
  return body.substr(pos + 1, close - pos - 1);
}

}  // namespace flashsale::load

#pragma once

// Internal to adapters/http: the request parser of one connection. It keeps only the fields the
// handler needs (no per-field allocation as in beast::http::fields); one instance per request,
// and constructing it allocates nothing.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/optional/optional.hpp>

#include "adapters/http/server.hpp"

namespace flashsale::http::detail {

/// Fills a `request` from the bytes put() into it. Not thread-safe; owned by one connection.
class request_parser final : public boost::beast::http::basic_parser<true> {
 public:
  request_parser(std::size_t max_header, std::size_t max_body) {
    header_limit(static_cast<std::uint32_t>(
        std::min<std::size_t>(max_header, std::numeric_limits<std::uint32_t>::max())));
    body_limit(static_cast<std::uint64_t>(max_body));
    eager(true);
  }

  request& message() { return req_; }
  bool expects_continue() const { return expect_continue_; }

 private:
  void on_request_impl(boost::beast::http::verb, boost::beast::string_view method,
                       boost::beast::string_view target, int version,
                       boost::system::error_code&) override {
    req_.method.assign(method.data(), method.size());
    req_.target.assign(target.data(), target.size());
    version_ = version;
  }

  void on_response_impl(int, boost::beast::string_view, int,
                        boost::system::error_code& ec) override {
    ec = boost::beast::http::error::bad_version;  // never called for a request parser
  }

  void on_field_impl(boost::beast::http::field name, boost::beast::string_view name_string,
                     boost::beast::string_view value, boost::system::error_code&) override {
    switch (name) {
      case boost::beast::http::field::content_type:
        if (req_.content_type.empty())
          req_.content_type.assign(value.data(), value.size());
        break;
      case boost::beast::http::field::authorization:
        if (req_.authorization.empty())
          req_.authorization.assign(value.data(), value.size());
        break;
      case boost::beast::http::field::expect:
        expect_continue_ = version_ >= 11 && boost::beast::iequals(value, "100-continue");
        break;
      case boost::beast::http::field::unknown:
        if (req_.idempotency_key.empty() && boost::beast::iequals(name_string, "idempotency-key"))
          req_.idempotency_key.assign(value.data(), value.size());
        break;
      default:
        break;
    }
  }

  void on_header_impl(boost::system::error_code&) override {}

  void on_body_init_impl(boost::optional<std::uint64_t> const& length,
                         boost::system::error_code&) override {
    if (length)
      req_.body.reserve(static_cast<std::size_t>(*length));  // <= body limit here
  }

  std::size_t on_body_impl(boost::beast::string_view part, boost::system::error_code&) override {
    req_.body.append(part.data(), part.size());
    return part.size();
  }

  void on_chunk_header_impl(std::uint64_t, boost::beast::string_view,
                            boost::system::error_code&) override {}

  std::size_t on_chunk_body_impl(std::uint64_t, boost::beast::string_view part,
                                 boost::system::error_code&) override {
    req_.body.append(part.data(), part.size());
    return part.size();
  }

  void on_finish_impl(boost::system::error_code&) override {}

  request req_;
  int version_ = 11;
  bool expect_continue_ = false;
};

}  // namespace flashsale::http::detail

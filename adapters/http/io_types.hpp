#pragma once

// The Boost.Asio names the HTTP server and the load tool's client both use: sockets and timers
// bound to the concrete io_context executor, so no call goes through a type-erased executor.
// Include only from .cpp files or internal headers: it pulls in Boost.Asio.

#include <chrono>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

namespace flashsale::http::io {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;
using error_code = boost::system::error_code;
using socket_type = tcp::socket::rebind_executor<asio::io_context::executor_type>::other;
using timer_type =
    asio::basic_waitable_timer<steady, asio::wait_traits<steady>, asio::io_context::executor_type>;

}  // namespace flashsale::http::io

#include "tests/support/delay_proxy.hpp"

#include <array>
#include <deque>
#include <stdexcept>
#include <thread>
#include <vector>

#include <boost/asio.hpp>

namespace flashsale::testing {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

namespace {

/// One direction of one relayed connection: reads from `from`, writes to `to` `delay` later.
class pipe : public std::enable_shared_from_this<pipe> {
 public:
  pipe(std::shared_ptr<tcp::socket> from, std::shared_ptr<tcp::socket> to,
       std::chrono::milliseconds delay)
      : from_(std::move(from)), to_(std::move(to)), delay_(delay), timer_(to_->get_executor()) {}

  void start() { read(); }

 private:
  struct chunk {
    clock_type::time_point due;
    std::vector<char> bytes;
  };

  void read() {
    auto self = shared_from_this();
    from_->async_read_some(asio::buffer(buf_), [self](boost::system::error_code ec, std::size_t n) {
      if (ec) {
        self->eof_ = true;
        if (!self->writing_)
          self->finish();
        return;
      }
      self->queue_.push_back({clock_type::now() + self->delay_,
                              std::vector<char>(self->buf_.data(), self->buf_.data() + n)});
      if (!self->writing_)
        self->write_next();
      self->read();
    });
  }

  void write_next() {
    if (queue_.empty()) {
      writing_ = false;
      if (eof_)
        finish();
      return;
    }
    writing_ = true;
    auto self = shared_from_this();
    timer_.expires_at(queue_.front().due);
    timer_.async_wait([self](boost::system::error_code) {
      asio::async_write(*self->to_, asio::buffer(self->queue_.front().bytes),
                        [self](boost::system::error_code ec, std::size_t) {
                          self->queue_.pop_front();
                          if (ec) {
                            self->closed();
                            return;
                          }
                          self->write_next();
                        });
    });
  }

  /// The reading side ended and everything read was written: pass the end on.
  void finish() {
    boost::system::error_code ignored;
    to_->shutdown(tcp::socket::shutdown_send, ignored);
  }
  void closed() {
    boost::system::error_code ignored;
    from_->close(ignored);
    to_->close(ignored);
  }

  std::shared_ptr<tcp::socket> from_, to_;
  std::chrono::milliseconds delay_;
  asio::steady_timer timer_;
  std::array<char, 16384> buf_{};
  std::deque<chunk> queue_;
  bool writing_ = false;
  bool eof_ = false;
};

}  // namespace

struct delay_proxy::impl {
  asio::io_context io;
  tcp::acceptor acceptor{io};
  tcp::endpoint target;
  std::chrono::milliseconds delay;
  std::string address;
  std::thread thread;

  void accept() {
    auto client = std::make_shared<tcp::socket>(io);
    acceptor.async_accept(*client, [this, client](boost::system::error_code ec) {
      if (ec)
        return;  // closed: the proxy is going away
      auto server = std::make_shared<tcp::socket>(io);
      server->async_connect(target, [this, client, server](boost::system::error_code ec) {
        if (ec) {
          boost::system::error_code ignored;
          client->close(ignored);
          return;
        }
        client->set_option(tcp::no_delay(true));
        server->set_option(tcp::no_delay(true));
        std::make_shared<pipe>(client, server, delay)->start();
        std::make_shared<pipe>(server, client, delay)->start();
      });
      accept();
    });
  }
};

delay_proxy::delay_proxy(const std::string& listen_address, const std::string& target_host,
                         int target_port, std::chrono::milliseconds delay)
    : impl_(std::make_unique<impl>()) {
  boost::system::error_code ec;
  auto listen_ip = asio::ip::make_address(listen_address, ec);
  if (ec)
    throw std::runtime_error("delay_proxy: bad listen address " + listen_address);
  impl_->target =
      tcp::endpoint(asio::ip::make_address(target_host), static_cast<unsigned short>(target_port));
  impl_->delay = delay;
  impl_->address = listen_address;
  tcp::endpoint at(listen_ip, 0);
  impl_->acceptor.open(at.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(at, ec);
  if (ec)
    throw std::runtime_error("delay_proxy: cannot listen on " + listen_address + ": " +
                             ec.message());
  impl_->acceptor.listen();
  impl_->accept();
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

delay_proxy::~delay_proxy() {
  impl_->io.stop();
  impl_->thread.join();
}

int delay_proxy::port() const {
  return impl_->acceptor.local_endpoint().port();
}

std::string delay_proxy::endpoint() const {
  return impl_->address + ":" + std::to_string(port());
}

}  // namespace flashsale::testing

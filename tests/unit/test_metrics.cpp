// Metrics and their Prometheus text: histogram buckets are cumulative and end with +Inf, _count
// equals the observations, and the gateway's page names every family a dashboard relies on.

#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "admission/admission_front.hpp"
#include "adapters/http/server.hpp"
#include "api/http_api.hpp"
#include "common/metrics.hpp"

namespace {

using namespace flashsale;

bool has_line(const std::string& text, const std::string& line) {
  std::istringstream in{text};
  for (std::string l; std::getline(in, l);)
    if (l == line)
      return true;
  return false;
}

TEST(metrics, histogram_buckets_are_cumulative_and_end_with_inf) {
  metrics::latency_histogram h;
  h.observe(std::chrono::microseconds{50});   // <= 0.0001
  h.observe(std::chrono::microseconds{100});  // == 0.0001: in that bucket (le is inclusive)
  h.observe(std::chrono::milliseconds{3});    // <= 0.005
  h.observe(std::chrono::seconds{20});        // +Inf only
  metrics::exposition out;
  out.histogram("x_seconds", "", h);
  const auto& t = out.text();
  EXPECT_TRUE(has_line(t, "x_seconds_bucket{le=\"0.0001\"} 2")) << t;
  EXPECT_TRUE(has_line(t, "x_seconds_bucket{le=\"0.0025\"} 2")) << t;
  EXPECT_TRUE(has_line(t, "x_seconds_bucket{le=\"0.005\"} 3")) << t;
  EXPECT_TRUE(has_line(t, "x_seconds_bucket{le=\"10\"} 3")) << t;
  EXPECT_TRUE(has_line(t, "x_seconds_bucket{le=\"+Inf\"} 4")) << t;
  EXPECT_TRUE(has_line(t, "x_seconds_count 4")) << t;
  EXPECT_NEAR(h.sum_seconds(), 20.00315, 1e-9);
}

TEST(metrics, the_gateway_page_has_every_outcome_and_family) {
  sale_definition sale;
  sale.name = "m";
  sale.products.push_back(product_definition{"TV", 10, 2, 1, false, "flashsale"});
  admission_front f{sale, 10, crypto::hash_key{1, 2}};
  f.gauges("TV")->quota_left.set(7);
  f.finished(static_cast<std::size_t>(admission::shed), std::chrono::microseconds{20}, false);
  f.publish_confirmed();
  http::server_stats s;
  s.connections_open = 3;
  s.timeouts = 2;
  auto r = api::metrics_response(f, s);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4");
  const auto& t = r.body;
  for (const char* outcome : {"accepted", "sold_out", "already_bought", "queue_refused",
                              "unknown_product", "not_started", "closed", "ended", "bad_request"})
    EXPECT_TRUE(
        has_line(t, std::string("flashsale_purchases_total{outcome=\"") + outcome + "\"} 0"))
        << outcome << '\n'
        << t;
  EXPECT_TRUE(has_line(t, "flashsale_purchases_total{outcome=\"shed\"} 1")) << t;
  EXPECT_TRUE(has_line(t, "flashsale_purchase_duration_seconds_count 1")) << t;
  EXPECT_TRUE(has_line(t, "flashsale_accepted_duration_seconds_count 0")) << t;
  EXPECT_TRUE(has_line(t, "flashsale_quota_left{product=\"TV\"} 7")) << t;
  EXPECT_TRUE(has_line(t, "flashsale_publish_confirms_total 1")) << t;
  EXPECT_TRUE(has_line(t, "flashsale_publish_nacks_total 0")) << t;
  EXPECT_TRUE(has_line(t, "flashsale_publish_unconfirmed_total 0")) << t;
  EXPECT_TRUE(has_line(t, "flashsale_keep_one_in 10")) << t;
  EXPECT_TRUE(has_line(t, "flashsale_purchases_in_flight 0")) << t;
  EXPECT_TRUE(has_line(t, "flashsale_http_connections_open 3")) << t;
  EXPECT_TRUE(has_line(t, "flashsale_http_refused_total{reason=\"timeout\"} 2")) << t;
  EXPECT_TRUE(has_line(t, "# TYPE flashsale_purchases_total counter")) << t;
}

}  // namespace

TEST(metrics, rate_meter_measures_over_the_last_window_only) {
  using namespace std::chrono_literals;
  flashsale::metrics::rate_meter meter{10s};
  auto t0 = flashsale::metrics::rate_meter::clock::time_point{} + 100s;
  EXPECT_EQ(meter.per_second(t0, 0), 0.0);  // nothing to compare with yet
  meter.sample(t0 + 1s, 100);
  EXPECT_DOUBLE_EQ(meter.per_second(t0 + 2s, 300), 150.0);  // since t0
  // Twelve seconds in, t0 and t0 + 1 s have left the window: from t0 + 2 s (total 300) on.
  EXPECT_DOUBLE_EQ(meter.per_second(t0 + 12s, 1300), 100.0);
  // A quiet minute later nothing is left in the window but the sample taken now.
  EXPECT_EQ(meter.per_second(t0 + 80s, 1300), 0.0);
}

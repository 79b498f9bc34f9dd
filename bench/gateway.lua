-- wrk script for bench/gateway: every request a new user, products round-robin.
local counter = 0
local products = {"TV", "Phone", "Clothes"}
local prefix = os.getenv("FLASHSALE_BENCH_USER_PREFIX") or "b"

request = function()
  counter = counter + 1
  local product = products[(counter % #products) + 1]
  local body = '{"user":"' .. prefix .. counter .. '"}'
  return wrk.format("POST", "/v1/products/" .. product .. "/purchase",
                    {["Content-Type"] = "application/json"}, body)
end

-- One machine-readable line per run, after wrk's own report.
done = function(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write +
                 summary.errors.timeout
  io.write(string.format("result rps %.0f p50_ms %.3f p99_ms %.3f requests %d errors %d non2xx %d\n",
    summary.requests / seconds, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, errors, summary.errors.status))
end

-- wrk script for bench/gateway: every request a new user, products round-robin. With
-- FLASHSALE_BENCH_TOKENS (a file of "user token" lines, flashsale-admin token issue --count) the
-- requests cycle over those users, each with its token in Authorization: Bearer.
local counter = 0
local products = {"TV", "Phone", "Clothes"}
local prefix = os.getenv("FLASHSALE_BENCH_USER_PREFIX") or "b"
local users, tokens = {}, {}
local tokens_file = os.getenv("FLASHSALE_BENCH_TOKENS")
if tokens_file then
  for line in io.lines(tokens_file) do
    local user, token = line:match("^(%S+) (%S+)$")
    if user then
      users[#users + 1] = user
      tokens[#tokens + 1] = "Bearer " .. token
    end
  end
  assert(#users > 0, "no tokens in " .. tokens_file)
end

request = function()
  counter = counter + 1
  local product = products[(counter % #products) + 1]
  local headers = {["Content-Type"] = "application/json"}
  local user
  if #users > 0 then
    local i = (counter % #users) + 1
    user = users[i]
    headers["Authorization"] = tokens[i]
  else
    user = prefix .. counter
  end
  return wrk.format("POST", "/v1/products/" .. product .. "/purchase", headers,
                    '{"user":"' .. user .. '"}')
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

-- wrk script for bench/delivery_bench.sh: the receiver's raw capacity. POSTs what webhookd
-- sends for one delivery (same body size, same header set: Content-Type, User-Agent,
-- webhook-id, webhook-timestamp, webhook-signature), without signing or storing anything.
-- Environment: BENCH_BODY (the body, required), BENCH_WEBHOOK_ID (a sample webhook-id).
local body = os.getenv("BENCH_BODY") or error("BENCH_BODY not set")
local webhook_id = os.getenv("BENCH_WEBHOOK_ID") or "dbench0000000000-0-1"

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

ok, other = 0, 0
local req
function init(args)
  req = wrk.format("POST", "/hook0", {
    ["Content-Type"] = "application/json",
    ["User-Agent"] = "mambo-webhooks/0.1.0",
    ["webhook-id"] = webhook_id,
    ["webhook-timestamp"] = tostring(os.time()),
    -- v1, + base64 of a 32-byte HMAC-SHA256: 44 characters, like the real header.
    ["webhook-signature"] = "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
  }, body)
end

function request()
  return req
end

function response(status, headers, resp_body)
  if status == 200 then ok = ok + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local n_ok, n_other = 0, 0
  for _, t in ipairs(threads) do
    n_ok = n_ok + t:get("ok")
    n_other = n_other + t:get("other")
  end
  local secs = summary.duration / 1e6
  io.write(string.format("BENCH_RESULT requests=%d ok=%d other=%d errors=%d secs=%.3f ok_rps=%.1f mean_us=%d p50_us=%d p99_us=%d max_us=%d\n",
    summary.requests, n_ok, n_other,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    secs, n_ok / secs, latency.mean, latency:percentile(50), latency:percentile(99), latency.max))
end

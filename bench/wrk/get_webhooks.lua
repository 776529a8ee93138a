-- wrk script: GET /api/v1/webhooks with an admin token (env BENCH_ADMIN_TOKEN).
-- Counts responses by status so the bench can tell "fast" from "fast at answering 401".
local token = os.getenv("BENCH_ADMIN_TOKEN") or error("BENCH_ADMIN_TOKEN not set")
local path = os.getenv("BENCH_GET_PATH") or "/api/v1/webhooks"

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

ok, other = 0, 0  -- globals: done() reads them with thread:get()
function init(args)
  wrk.method = "GET"
  wrk.path = path
  wrk.headers["Authorization"] = "Bearer " .. token
  req = wrk.format()
end

function request()
  return req
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local n_ok, n_other = 0, 0
  for _, t in ipairs(threads) do
    n_ok = n_ok + t:get("ok")
    n_other = n_other + t:get("other")
  end
  local secs = summary.duration / 1e6
  -- One machine-readable line for bench/api_bench.sh (latencies in microseconds).
  io.write(string.format("BENCH_RESULT requests=%d ok=%d other=%d errors=%d rps=%.1f ok_rps=%.1f mean_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
    summary.requests, n_ok, n_other,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.requests / secs, n_ok / secs, latency.mean,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end

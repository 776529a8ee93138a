-- Shared by the wrk scripts (loaded with dofile): sums the per-thread counters `ok_counter` and
-- "other", and prints the one BENCH_RESULT line that bench/api_bench.sh and
-- bench/delivery_bench.sh read by field name (latencies in microseconds).
function bench_result(threads, ok_counter, summary, latency)
  local n_ok, n_other = 0, 0
  for _, t in ipairs(threads) do
    n_ok = n_ok + t:get(ok_counter)
    n_other = n_other + t:get("other")
  end
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format("BENCH_RESULT requests=%d ok=%d other=%d errors=%d secs=%.3f rps=%.1f " ..
    "ok_rps=%.1f mean_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
    summary.requests, n_ok, n_other, e.connect + e.read + e.write + e.timeout, secs,
    summary.requests / secs, n_ok / secs, latency.mean, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max))
end

-- wrk script for bench/delivery_bench.sh: the receiver's raw capacity. POSTs what webhookd
-- sends for one delivery (same body size, same header set: Content-Type, User-Agent,
-- webhook-id, webhook-timestamp, webhook-signature), without signing or storing anything.
-- Environment: BENCH_BODY (the body, required), BENCH_WEBHOOK_ID (a sample webhook-id).
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "result.lua")
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
  bench_result(threads, "ok", summary, latency)
end

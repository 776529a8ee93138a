-- wrk script: GET /api/v1/webhooks with an admin token (env BENCH_ADMIN_TOKEN).
-- Counts responses by status so the bench can tell "fast" from "fast at answering 401".
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "result.lua")
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
  bench_result(threads, "ok", summary, latency)
end

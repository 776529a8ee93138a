-- wrk script for bench/delivery_bench.sh: POST /api/v1/events with an ingest token, every
-- request a new event id "<run>-<thread>-<counter>" (so each 202 is a new durable event that fans
-- out into one delivery per subscribed webhook).
--
-- Environment:
--   BENCH_INGEST_TOKEN   ingest token (required)
--   BENCH_RUN_ID         id prefix, unique per run (required)
--   BENCH_EVENT_TYPE     event type [device.enroll]
--   BENCH_EVENT_DATA     the event's "data" JSON object (required; the bench builds it so that
--                        the receiver baseline can use a body of the same size)
--   BENCH_THREADS        wrk -t value (required when BENCH_RATE or BENCH_MAX_EVENTS is set)
--   BENCH_RATE           events/s over all threads, paced open-loop on a monotonic clock
--                        (0 or unset: as fast as the connections go)
--   BENCH_MAX_EVENTS     stop ingesting after this many events over all threads (0: no limit).
--                        A thread at its quota stops (sends nothing more) and creates the file
--                        "$BENCH_MARK_DIR/quota-<thread>" so the bench can stop wrk (SIGINT).
--   BENCH_MARK_DIR       folder for those marker files
--   BENCH_ADDRS          see setup() below
-- Prints one line "BENCH_RESULT requests=.. ok=.. other=.. errors=.. ..." like the API bench.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "result.lua")
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clk_id, bench_timespec *tp);
  unsigned long pthread_self(void);
]]
local ts = ffi.new("bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local token = os.getenv("BENCH_INGEST_TOKEN") or error("BENCH_INGEST_TOKEN not set")
local run = os.getenv("BENCH_RUN_ID") or error("BENCH_RUN_ID not set")
local event_type = os.getenv("BENCH_EVENT_TYPE") or "device.enroll"
local data = os.getenv("BENCH_EVENT_DATA") or error("BENCH_EVENT_DATA not set")
local n_threads = tonumber(os.getenv("BENCH_THREADS") or "1")
local rate = tonumber(os.getenv("BENCH_RATE") or "0")
local max_events = tonumber(os.getenv("BENCH_MAX_EVENTS") or "0")
local mark_dir = os.getenv("BENCH_MARK_DIR") or "."

-- BENCH_ADDRS: "host:port,host:port,...": thread i talks to address i mod n (several webhookd
-- instances, as a load balancer would spread clients); unset: the URL's address.
local addrs = {}
for hostport in string.gmatch(os.getenv("BENCH_ADDRS") or "", "[^,]+") do
  local host, port = hostport:match("^(.*):(%d+)$")
  table.insert(addrs, wrk.lookup(host, port)[1])
end

local threads = {}
local next_thread = 0
function setup(thread)
  thread:set("thread_no", next_thread)
  if #addrs > 0 then thread.addr = addrs[(next_thread % #addrs) + 1] end
  next_thread = next_thread + 1
  table.insert(threads, thread)
end

counter, accepted, other, answered = 0, 0, 0, 0  -- globals: done() reads them with thread:get()
local prefix, headers, idle_req, quota, interval_ms, next_slot, marked, init_thread

function init(args)
  prefix = run .. "-" .. thread_no .. "-"
  headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
  idle_req = wrk.format("GET", "/healthz")
  quota = 0
  if max_events > 0 then
    -- Spread the total over the threads; the first threads take the remainder.
    quota = math.floor(max_events / n_threads)
    if thread_no < max_events % n_threads then quota = quota + 1 end
  end
  if rate > 0 then interval_ms = 1000 * n_threads / rate end
  marked = false
  -- wrk calls request() once more, on its main thread, for the first thread's script to check
  -- the request before the thread starts; that request is never sent, so it must not count.
  init_thread = ffi.C.pthread_self()
end

-- Only defined when pacing: wrk then waits delay() ms before every request.
if rate > 0 then function delay()
  -- Open-loop pacing: every request of this thread has a slot on a fixed schedule; a connection
  -- that is free early waits for the next unclaimed slot, one that is late sends at once.
  local now = now_ms()
  if not next_slot then next_slot = now end
  local slot = next_slot
  next_slot = next_slot + interval_ms
  local wait = slot - now
  if wait < 0 then return 0 end
  return math.floor(wait + 0.5)
end end

function request()
  if ffi.C.pthread_self() == init_thread then return idle_req end
  if quota > 0 and counter >= quota then
    -- Until the last answers are in, a free connection needs a request: /healthz (not counted).
    -- Once they are, the thread stops instead of spinning on /healthz, which took CPU from
    -- webhookd while the other threads were still ingesting.
    if not marked and answered >= counter then
      marked = true
      local f = io.open(mark_dir .. "/quota-" .. thread_no, "w")
      if f then f:close() end
      wrk.thread:stop()
    end
    return idle_req
  end
  counter = counter + 1
  local body = '{"id":"' .. prefix .. counter .. '","type":"' .. event_type .. '","data":' .. data .. '}'
  return wrk.format("POST", "/api/v1/events", headers, body)
end

function response(status, hdrs, body)
  if not (status == 200 and body:find('"ok"', 1, true)) then answered = answered + 1 end
  if status == 202 then
    accepted = accepted + 1
  elseif not (status == 200 and body:find('"ok"', 1, true)) then  -- /healthz after the quota
    other = other + 1
  end
end

function done(summary, latency, requests)
  bench_result(threads, "accepted", summary, latency)
end

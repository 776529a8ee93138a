-- wrk script: POST /api/v1/events with an ingest token (env BENCH_INGEST_TOKEN). Every request
-- carries a new event id "<run>-<thread>-<counter>", so each 202 is a new durable event (not an
-- idempotent replay). The id of every 202 response is appended to
-- "$BENCH_ACCEPTED_DIR/accepted-<thread>.txt" so the bench can check afterwards that each
-- accepted event is in the database.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "result.lua")
local token = os.getenv("BENCH_INGEST_TOKEN") or error("BENCH_INGEST_TOKEN not set")
local run = os.getenv("BENCH_RUN_ID") or tostring(os.time())
local event_type = os.getenv("BENCH_EVENT_TYPE") or "team.update"
local out_dir = os.getenv("BENCH_ACCEPTED_DIR") or error("BENCH_ACCEPTED_DIR not set")

local threads = {}
local next_thread = 0
function setup(thread)
  thread:set("thread_no", next_thread)
  next_thread = next_thread + 1
  table.insert(threads, thread)
end

counter, accepted, other = 0, 0, 0  -- globals: done() reads them with thread:get()
local prefix, out, headers
-- A realistic payload (~440 bytes of JSON, valid for team.update's schema, which ingest
-- checks: shared/events/team.update.json) rather than an empty object.
local data = '{"team":{"id":"team_acme","name":"ACME Logistics","branding":{"logo_url":' ..
  '"https://cdn.acme-logistics.example/logo.png","primary_color":"#0B5FFF",' ..
  '"secondary_color":"#F2F4F7"},"timezone":"Europe/Madrid","locale":"es-ES",' ..
  '"updated_at":"2026-03-01T09:30:00Z"},"actor":{"type":"user","id":"usr_4f2a9c",' ..
  '"email":"ana.lopez@acme-logistics.example","name":"Ana Lopez"},' ..
  '"changes":[{"field":"branding.primary_color","old":"#1D4ED8","new":"#0B5FFF"}]}'

function init(args)
  prefix = run .. "-" .. thread_no .. "-"
  -- Buffered C stdio: wrk exits through exit(), which flushes it; the bench checks that the
  -- files hold exactly as many ids as wrk counted 202s.
  out = assert(io.open(out_dir .. "/accepted-" .. thread_no .. ".txt", "w"))
  headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
end

function request()
  counter = counter + 1
  local body = '{"id":"' .. prefix .. counter .. '","type":"' .. event_type .. '","data":' .. data .. '}'
  return wrk.format("POST", "/api/v1/events", headers, body)
end

function response(status, hdrs, body)
  if status == 202 then
    accepted = accepted + 1
    local id = body:match('"id":"([^"]+)"')
    if id then out:write(id, "\n") end
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  bench_result(threads, "accepted", summary, latency)
end

#!/usr/bin/env bash
# API benchmark for webhookd (issue 3, "Benchmark"): wrk on loopback against
#   GET  /api/v1/webhooks   (admin token; token lookup + one page of 20 webhooks)
#   POST /api/v1/events     (ingest token; every request a new event id, stored durably before
#                            the 202 and fanned out into deliveries)
# and a durability check afterwards: webhookd is stopped with SIGTERM and every event id that
# got a 202 must be in the database (sqlite3 CLI on the data dir).
#
# Builds nothing. Usage:
#   bench/api_bench.sh [path/to/webhookd]          (default: build/backend/webhookd)
# Environment knobs (defaults in brackets):
#   BENCH_DURATION [10s]  BENCH_WRK_THREADS [2]  BENCH_CONNECTIONS [32]
#   BENCH_WEBHOOKS [20]   BENCH_SUBSCRIBED [5]   (webhooks subscribed to the ingested type)
#   BENCH_HTTP_THREADS [= BENCH_CONNECTIONS]  (passed as --http-threads; "default": webhookd's
#                          own default). httplib holds one pool thread per keep-alive connection,
#                          so with fewer threads than connections the extra connections are never
#                          served, and wrk does not report them: the run would measure fewer
#                          clients than asked and hide their waiting from p99. The bench checks
#                          this (Little's law: in-flight = rate x mean latency) and says so.
#   BENCH_WORKERS [0]     (webhookd --workers. 0: the API alone -- deliveries are queued durably
#                          but not sent; bench/delivery_bench.sh measures ingest and delivery
#                          together. 32 (webhookd's default): the engine runs alongside and
#                          attempts every delivery as fast as the store takes it; the webhooks
#                          point at a refused address, so each attempt is refused, recorded and
#                          rescheduled: ingest shares the 2 cores and the store with that)
#   BENCH_SERVE_ARGS      (more `webhookd serve` flags, word-split)
#   BENCH_ONLY [all]      (get | post | all)
#   BENCH_DATA_PARENT     (where the temporary data dir goes; default $TMPDIR or /tmp. Use a
#                          real disk: on tmpfs fsync is free and "durable" numbers mean nothing)
#   BENCH_KEEP=1          (keep the data dir and logs)
# Only loopback traffic: webhook URLs point at 192.0.2.1 (TEST-NET-1, documentation range),
# which the delivery address guard refuses without sending anything.
# Exit status: 0 when the run and the durability check succeeded (targets missed is not an
# error: this prints numbers, it is not a timed test), 1 on failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
bin="${1:-$repo/build/backend/webhookd}"
duration="${BENCH_DURATION:-10s}"
wrk_threads="${BENCH_WRK_THREADS:-2}"
connections="${BENCH_CONNECTIONS:-32}"
n_webhooks="${BENCH_WEBHOOKS:-20}"
n_subscribed="${BENCH_SUBSCRIBED:-5}"
only="${BENCH_ONLY:-all}"
http_threads="${BENCH_HTTP_THREADS:-$connections}"
workers="${BENCH_WORKERS:-0}"
event_type="team.update"
other_type="reseller.update"

die() { echo "api_bench: $*" >&2; exit 1; }
[[ -x "$bin" ]] || die "no webhookd binary at $bin (build it first, or pass its path)"
for tool in wrk curl sqlite3; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done
(( n_subscribed <= n_webhooks )) || die "BENCH_SUBSCRIBED > BENCH_WEBHOOKS"

work="$(mktemp -d "${BENCH_DATA_PARENT:-${TMPDIR:-/tmp}}/webhookd-bench.XXXXXX")"
data="$work/data"
pid=""
stop_server() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    # Bounded: a clean stop takes well under a second.
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "api_bench: webhookd did not stop within 10 s of SIGTERM; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null && server_rc=0 || server_rc=$?
  fi
  pid=""
}
cleanup() {
  stop_server
  if [[ "${BENCH_KEEP:-0}" == 1 ]]; then
    echo "api_bench: kept $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fs_type="$(stat -f -c %T "$work" 2>/dev/null || echo unknown)"
[[ "$fs_type" == tmpfs || "$fs_type" == ramfs ]] &&
  echo "api_bench: WARNING: $work is on $fs_type; fsync costs nothing there" >&2

# ------------------------------------------------------------------ tokens, server
mkdir -p "$data"
admin_token="$("$bin" token create --team bench --role admin --data-dir "$data")"
ingest_token="$("$bin" token create --team bench --role ingest --data-dir "$data")"
[[ "$admin_token" == mwh_* && "$ingest_token" == mwh_* ]] || die "token create printed no token"

serve_args=(serve --listen 127.0.0.1:0 --data-dir "$data" --log-level warn --workers "$workers")
[[ "$http_threads" != default ]] && serve_args+=(--http-threads "$http_threads")
# shellcheck disable=SC2206
[[ -n "${BENCH_SERVE_ARGS:-}" ]] && serve_args+=($BENCH_SERVE_ARGS)
"$bin" "${serve_args[@]}" >"$work/serve.out" 2>"$work/serve.err" &
pid=$!

# Read the port from the one line webhookd prints, then wait for /healthz (max ~10 s).
port=""
for _ in $(seq 200); do
  kill -0 "$pid" 2>/dev/null || { cat "$work/serve.err" >&2; die "webhookd exited at start"; }
  port="$(sed -n 's#^webhookd listening on http://127\.0\.0\.1:\([0-9][0-9]*\)$#\1#p' "$work/serve.out")"
  [[ -n "$port" ]] && break
  sleep 0.05
done
[[ -n "$port" ]] || die "webhookd printed no 'listening on' line within 10 s"
base="http://127.0.0.1:$port"
for _ in $(seq 200); do
  curl -fsS -o /dev/null --max-time 1 "$base/healthz" 2>/dev/null && break
  sleep 0.05
done
curl -fsS -o /dev/null --max-time 1 "$base/healthz" || die "$base/healthz does not answer"

# ------------------------------------------------------------------ webhooks
for i in $(seq "$n_webhooks"); do
  if (( i <= n_subscribed )); then events="[\"$event_type\",\"$other_type\"]"; else events="[\"$other_type\"]"; fi
  code="$(curl -sS -o "$work/create.json" -w '%{http_code}' --max-time 5 -X POST "$base/api/v1/webhooks" \
    -H "Authorization: Bearer $admin_token" -H 'Content-Type: application/json' \
    -d "{\"url\":\"https://192.0.2.1/bench/$i\",\"events\":$events,\"secret\":\"generate\",\"description\":\"bench webhook $i\"}")"
  [[ "$code" == 201 ]] || die "creating webhook $i answered $code: $(cat "$work/create.json")"
done
listed="$(curl -fsS --max-time 5 "$base/api/v1/webhooks?limit=200" -H "Authorization: Bearer $admin_token" |
  grep -o '"id":"wh_[^"]*"' | wc -l)"
(( listed == n_webhooks )) || die "GET /api/v1/webhooks lists $listed webhooks, expected $n_webhooks"

# ------------------------------------------------------------------ wrk
wrk_run() {  # name script -> BENCH_RESULT line into $work/<name>.result, full output to .out
  local name="$1" script="$2"
  timeout 60 wrk -t"$wrk_threads" -c"$connections" -d"$duration" --timeout 5s --latency \
    -s "$here/wrk/$script" "$base" >"$work/$name.out" 2>&1 ||
    { cat "$work/$name.out" >&2; die "wrk ($name) failed"; }
  grep '^BENCH_RESULT ' "$work/$name.out" >"$work/$name.result" ||
    { cat "$work/$name.out" >&2; die "wrk ($name) printed no result"; }
}
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" "$work/$1.result"; }

export BENCH_ADMIN_TOKEN="$admin_token" BENCH_INGEST_TOKEN="$ingest_token"
BENCH_RUN_ID="bench$(date +%s)"
export BENCH_RUN_ID BENCH_EVENT_TYPE="$event_type" BENCH_ACCEPTED_DIR="$work"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "api_bench: webhookd $bin on $base (--http-threads $http_threads --workers $workers)," \
  "data dir on $fs_type," \
  "$(nproc) cores, load average $load_before;" \
  "wrk -t$wrk_threads -c$connections -d$duration; $n_webhooks webhooks ($n_subscribed subscribed to $event_type)"
if [[ "$only" == all || "$only" == get ]]; then
  wrk_run get get_webhooks.lua
fi
if [[ "$only" == all || "$only" == post ]]; then
  wrk_run post post_events.lua
fi

# ------------------------------------------------------------------ stop, durability check
server_rc=0
stop_server
(( server_rc == 0 )) || { cat "$work/serve.err" >&2; die "webhookd exited with status $server_rc after SIGTERM"; }

durable="n/a"
if [[ -f "$work/post.result" ]]; then
  accepted="$(field post ok)"
  cat "$work"/accepted-*.txt | sort -u >"$work/accepted.ids"
  accepted_ids="$(wc -l <"$work/accepted.ids")"
  sqlite3 -readonly "$data/webhookd.db" \
    "SELECT id FROM events WHERE team_id = 'bench' AND id LIKE '$BENCH_RUN_ID-%'" |
    sort -u >"$work/stored.ids"
  stored="$(wc -l <"$work/stored.ids")"
  deliveries="$(sqlite3 -readonly "$data/webhookd.db" \
    "SELECT COUNT(*) FROM deliveries d JOIN events e ON e.seq = d.event_seq WHERE e.id LIKE '$BENCH_RUN_ID-%'")"
  missing="$(comm -23 "$work/accepted.ids" "$work/stored.ids" | wc -l)"
  extra=$((stored - accepted_ids + missing))
  echo "durability: wrk counted $accepted 202s, $accepted_ids distinct ids recorded;" \
    "$stored events stored; $missing accepted but not stored; $deliveries deliveries" \
    "(expected $((stored * n_subscribed)))"
  if (( extra > 0 )); then
    echo "  ($extra events stored without a 202 seen by wrk: requests in flight when wrk stopped" \
      "at the end of its duration; at most one per connection, i.e. <= $connections)"
  fi
  if (( accepted_ids != accepted || missing != 0 || extra > connections ||
        deliveries != stored * n_subscribed )); then
    durable="FAILED"
  else
    durable="ok"
  fi
fi

# ------------------------------------------------------------------ table
ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }
verdict() { awk -v v="$1" -v t="$2" -v dir="$3" 'BEGIN { ok = (dir == ">=") ? v >= t : v <= t; print ok ? "ok" : "MISSED" }'; }
echo
printf '%-38s %10s %10s %9s %9s %9s %8s   %s\n' endpoint "req/s" "2xx/s" "p50 ms" "p99 ms" "max ms" "non-2xx" "target"
for name in get post; do
  [[ -f "$work/$name.result" ]] || continue
  rps="$(field $name ok_rps)"; p50="$(ms "$(field $name p50_us)")"; p99="$(ms "$(field $name p99_us)")"
  max="$(ms "$(field $name max_us)")"; other=$(( $(field $name other) + $(field $name errors) ))
  if [[ "$name" == get ]]; then
    label="GET /api/v1/webhooks"
    target=">= 10000/s: $(verdict "$rps" 10000 '>=')"
  else
    label="POST /api/v1/events"
    (( workers == 0 )) && label+=" (engine paused)"
    target=">= 5000/s: $(verdict "$rps" 5000 '>='), p99 <= 20 ms: $(verdict "$p99" 20 '<=')"
  fi
  printf '%-38s %10.0f %10.0f %9s %9s %9s %8s   %s\n' "$label" "$(field $name rps)" "$rps" "$p50" "$p99" "$max" "$other" "$target"
done
[[ "$durable" != "n/a" ]] && echo "durability check (every 202'd event stored, fan-out complete): $durable"
for name in get post; do
  [[ -f "$work/$name.result" ]] || continue
  # Little's law: connections really in use = completed rate x mean latency.
  busy="$(awk -v r="$(field $name rps)" -v m="$(field $name mean_us)" 'BEGIN { printf "%.0f", r * m / 1e6 }')"
  if (( busy * 10 < connections * 8 )); then
    echo "WARNING ($name): only ~$busy of $connections connections were being served (rate x mean" \
      "latency); with --http-threads below the connection count httplib leaves the rest waiting" \
      "and wrk does not count them"
  fi
done
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
if awk -v l="${load_before%% *}" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
  echo "NOTE: load average was $load_before before the run ($load_after after) on $(nproc) cores:" \
    "other work shares the CPUs with webhookd and wrk, so these figures are pessimistic"
fi
if [[ -s "$work/serve.err" ]]; then
  echo "webhookd stderr (last lines):"; tail -n 5 "$work/serve.err" | sed 's/^/  /'
fi
[[ "$durable" != FAILED ]] || exit 1

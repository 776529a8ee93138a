#!/usr/bin/env bash
# Delivery benchmark for webhookd (issue 4, "Benchmark"): events go through the full durable
# path (POST /api/v1/events -> store -> lease -> sign -> HTTPS POST -> attempt recorded) to an
# nginx HTTPS receiver on loopback that this script starts with a certificate made on the spot.
#
#   0. receiver baseline: wrk POSTs a body of a delivery's size, with a delivery's headers, to
#      the same nginx over TLS (-t2 -c8 -d5s): the receiver's raw capacity in requests/s.
#   1. throughput: BENCH_EVENTS events ingested as fast as wrk goes, each fanned out to
#      BENCH_WEBHOOKS signed webhooks; wait until every delivery succeeded; delivered/s;
#      after SIGTERM the database must hold every delivery 'succeeded' with exactly one attempt
#      row each (HTTP 200). Peak RSS (VmHWM) of this webhookd process.
#   2. latency: a fresh webhook (another event type), events paced open-loop at BENCH_RATE/s for
#      BENCH_LATENCY_SECS; ingest-to-first-attempt latency from the database:
#      attempts.started_at (number = 1) - events.timestamp, p50/p99.
#   3. memory: a fresh data dir, BENCH_PENDING_WEBHOOKS webhooks pointing at a loopback
#      "black hole" (a socket that listens and never accepts, so TLS handshakes hang until the
#      connect timeout), BENCH_PENDING deliveries queued; VmRSS/VmHWM with them pending, and
#      again after a restart of webhookd on the same queue. The script reports the states the
#      deliveries are in (from the database).
#   A summary table with the targets of issue 4 (2-core machine): >= 5,000 signed durable
#   deliveries/s, p99 <= 50 ms at 500 events/s, RSS <= 100 MB with 100,000 pending.
#
# PostgreSQL (issue 12): BENCH_BACKEND=pg<N> runs tests 1 and 2 against N webhookd instances
# sharing one PostgreSQL 15 cluster this script starts (scripts/pg-dev.sh, fsync on, in its own
# temporary dir), the ingest spread over the instances by wrk thread (as a load balancer would),
# and adds PostgreSQL's CPU per delivery (postmaster and its backends). Target: >= 3,000
# deliveries/s with one instance, two no slower. BENCH_BACKENDS=sqlite,pg1,pg2 runs each in turn
# in this one invocation and ends with a table comparing them to the SQLite run.
#
# Builds nothing. Usage:
#   bench/delivery_bench.sh [path/to/webhookd]          (default: build/backend/webhookd)
# Environment knobs (defaults in brackets):
#   BENCH_EVENTS [10000]         events of test 1 (deliveries = events x BENCH_WEBHOOKS)
#   BENCH_WEBHOOKS [4]           webhooks of test 1 (https://127.0.0.1:<nginx>/hook<i>)
#   BENCH_DISTINCT_PORTS [0]     1: nginx listens on one port per webhook of test 1, so each
#                                webhook is its own endpoint (own kept-alive connection pool
#                                in webhookd) as distinct customers' receivers would be
#   BENCH_RATE [500]             events/s of test 2;  BENCH_LATENCY_SECS [10]
#   BENCH_PENDING [100000]       deliveries of test 3; BENCH_PENDING_WEBHOOKS [10]
#   BENCH_SERVE_ARGS             more `webhookd serve` flags for every test, word-split
#                                (e.g. "--workers 64 --per-endpoint-concurrency 16")
#   BENCH_ONLY [all]             comma list of: throughput, latency, memory
#   BENCH_INGEST_CONNECTIONS [8]  wrk connections ingesting in test 1 (closed loop: fewer
#                                connections cap the event rate at connections / API latency,
#                                and with it the deliveries there are to make)
#   BENCH_DRAIN_TIMEOUT [60]     seconds to wait for test 1's deliveries after ingest ends
#                                (test 1's ingest stops after 20 s even if BENCH_EVENTS are not
#                                all in; test 3's after 40 s: the run stays under 4 minutes)
#   BENCH_DATA_PARENT            parent of the temporary dir (default $TMPDIR or /tmp). Use a
#                                real disk: on tmpfs fsync is free and "durable" means nothing
#   BENCH_KEEP=1                 keep the temporary dir (databases, logs)
#   BENCH_MAX_SECS [235]         hard bound on the whole run (the script kills itself after it)
#   BENCH_BACKEND [sqlite]       sqlite, or pg<N> (pg1, pg2, ...): see above
#   BENCH_BACKENDS               comma list of backends to run one after the other
#   BENCH_PG_STATEMENTS=1        load pg_stat_statements and print the costliest statements
# Loopback only. Exit status 0 when the run and the database checks succeeded (a missed target
# is not an error: this prints numbers), 1 on failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
bin="${1:-$repo/build/backend/webhookd}"

# Several backends: this script once per backend, then their figures side by side.
if [[ -n "${BENCH_BACKENDS:-}" ]]; then
  summaries=()
  rc=0
  IFS=, read -ra backends <<<"$BENCH_BACKENDS"
  for b in "${backends[@]}"; do
    echo "=================================================================== $b"
    out="$(mktemp)"
    BENCH_BACKENDS="" BENCH_BACKEND="$b" BENCH_ONLY="${BENCH_ONLY:-throughput,latency}" \
      "$0" "$@" | tee "$out" || rc=1
    summaries+=("$(grep '^BENCH_SUMMARY ' "$out" | tail -n 1)")
    rm -f "$out"
  done
  echo
  echo "=================================================================== comparison"
  printf '%-8s %12s %12s %14s %14s %10s %10s %12s\n' backend "deliv/s" "vs sqlite" \
    "webhookd ms/d" "postgres ms/d" "p50 ms" "p99 ms" "receiver/s"
  base_rate=""
  for line in "${summaries[@]}"; do
    [[ -n "$line" ]] || continue
    get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
    [[ "$(get backend)" == sqlite ]] && base_rate="$(get rate)"
    vs="$(awk -v a="$(get rate)" -v b="${base_rate:-}" 'BEGIN { if (b > 0 && a != "") printf "%.2f", a / b; else print "-" }')"
    printf '%-8s %12s %12s %14s %14s %10s %10s %12s\n' "$(get backend)" "$(get rate)" "$vs" \
      "$(get cpu_ms)" "$(get pg_cpu_ms)" "$(get p50)" "$(get p99)" "$(get raw)"
  done
  exit "$rc"
fi
backend="${BENCH_BACKEND:-sqlite}"
instances=1
if [[ "$backend" =~ ^pg([0-9]+)$ ]]; then
  instances="${BASH_REMATCH[1]}"
elif [[ "$backend" != sqlite ]]; then
  echo "delivery_bench: BENCH_BACKEND must be sqlite or pg<N>" >&2; exit 1
fi
n_events="${BENCH_EVENTS:-10000}"
n_webhooks="${BENCH_WEBHOOKS:-4}"
rate="${BENCH_RATE:-500}"
latency_secs="${BENCH_LATENCY_SECS:-10}"
n_pending="${BENCH_PENDING:-100000}"
n_pending_webhooks="${BENCH_PENDING_WEBHOOKS:-10}"
only="${BENCH_ONLY:-all}"
drain_timeout="${BENCH_DRAIN_TIMEOUT:-60}"
max_secs="${BENCH_MAX_SECS:-235}"
# shellcheck disable=SC2206
extra_serve_args=(${BENCH_SERVE_ARGS:-})

die() { echo "delivery_bench: $*" >&2; exit 1; }
note() { echo "delivery_bench: $*" >&2; }
[[ -x "$bin" ]] || die "no webhookd binary at $bin (build it first, or pass its path)"
for tool in wrk curl sqlite3 openssl nginx python3 ss; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done
want() { [[ "$only" == all || ",$only," == *",$1,"* ]]; }

work="$(mktemp -d "${BENCH_DATA_PARENT:-${TMPDIR:-/tmp}}/delivery-bench.XXXXXX")"
pid=""          # webhookd
nginx_pid=""
hole_pid=""     # black-hole listener of test 3
wrk_pid=""
watchdog_pid=""
pg_dir=""       # PostgreSQL's cluster (pg<N>)
pg_uri=""
pids=()         # every webhookd instance; $pid is the first
bases=()
kill_wait() {  # pid signal seconds: signal, wait up to seconds, then SIGKILL
  local p="$1" sig="$2" secs="$3"
  [[ -n "$p" ]] && kill -0 "$p" 2>/dev/null || return 0
  kill "-$sig" "$p" 2>/dev/null || true
  for _ in $(seq $((secs * 10))); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
  wait "$p" 2>/dev/null || true
}
server_rc=0
stop_server() {  # SIGTERM to every instance, bounded; sets server_rc (non-zero if any failed)
  server_rc=0
  local p rc
  for p in "${pids[@]}"; do
    [[ -n "$p" ]] && kill -0 "$p" 2>/dev/null && kill -TERM "$p"
  done
  for p in "${pids[@]}"; do
    [[ -n "$p" ]] || continue
    # A clean stop waits for sends in progress (at most the connect timeout against the black
    # hole); anything longer is a hang.
    for _ in $(seq 200); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$p" 2>/dev/null; then
      note "webhookd $p did not stop within 20 s of SIGTERM; killing it"
      kill -KILL "$p" 2>/dev/null || true
    fi
    wait "$p" 2>/dev/null && rc=0 || rc=$?
    (( rc == 0 )) || server_rc=$rc
  done
  pid=""
  pids=()
}
cleanup() {
  local rc=$?
  set +e  # every step runs, whatever the one before did
  [[ -n "$watchdog_pid" ]] && kill "$watchdog_pid" 2>/dev/null
  kill_wait "$wrk_pid" KILL 1
  for p in "${pids[@]}"; do kill_wait "$p" TERM 10; done
  kill_wait "$hole_pid" TERM 2
  kill_wait "$nginx_pid" QUIT 5  # nginx: QUIT is the graceful stop
  [[ -n "$pg_dir" ]] && "$repo/scripts/pg-dev.sh" destroy "$pg_dir" >/dev/null 2>&1
  if [[ "${BENCH_KEEP:-0}" == 1 || $rc -ne 0 ]]; then
    note "kept $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
main_pid=$$
( trap 'kill "$sleep_pid" 2>/dev/null; exit 0' TERM
  sleep "$max_secs" & sleep_pid=$!
  wait "$sleep_pid" && { echo "delivery_bench: over ${max_secs} s; stopping" >&2; kill -TERM "$main_pid"; } ) &
watchdog_pid=$!

fs_type="$(stat -f -c %T "$work" 2>/dev/null || echo unknown)"
[[ "$fs_type" == tmpfs || "$fs_type" == ramfs ]] &&
  note "WARNING: $work is on $fs_type; fsync costs nothing there"

now_ms() { date +%s%3N; }
free_port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 40000))
    [[ -z "$(ss -Htln "sport = :$p")" ]] && { echo "$p"; return; }
  done
  die "no free port found"
}
proc_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
mb() { awk -v kb="$1" 'BEGIN { printf "%.1f", kb / 1024 }'; }
cpu_ticks() {  # utime+stime of a process (all its threads), in clock ticks
  awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}
nginx_ticks() {
  local t=0 p
  for p in $nginx_pid $(cat "/proc/$nginx_pid/task/$nginx_pid/children" 2>/dev/null); do
    t=$((t + $(cpu_ticks "$p")))
  done
  echo "$t"
}
ctx_switches() {  # context switches of all threads of a process
  cat /proc/"$1"/task/*/status 2>/dev/null | awk '/_ctxt_switches:/ { n += $2 } END { print n + 0 }'
}
machine_ticks() { awk '/^cpu / { print $2+$3+$4+$5+$6+$7+$8+$9, $5+$6 }' /proc/stat; }  # total idle
hz="$(getconf CLK_TCK)"
cores="$(nproc)"

# ------------------------------------------------------------------ certificate, nginx
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" -days 2 \
  -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" >/dev/null 2>&1 ||
  die "openssl could not make a certificate"
mkdir -p "$work/nginx"
nginx_port="$(free_port)"
# Test 1's webhooks: all on nginx_port (default; they share webhookd's connection pool for that
# host:port), or with BENCH_DISTINCT_PORTS=1 each on its own port, like distinct receivers.
hook_ports=()
for i in $(seq "$n_webhooks"); do
  if [[ "${BENCH_DISTINCT_PORTS:-0}" == 1 && $i -gt 1 ]]; then
    p="$(free_port)"
    while [[ " $nginx_port ${hook_ports[*]} " == *" $p "* ]]; do p="$(free_port)"; done
    hook_ports+=("$p")
  else
    hook_ports+=("$nginx_port")
  fi
done
listen_lines=""
for p in $(printf '%s\n' "${hook_ports[@]}" | sort -u); do listen_lines+="    listen 127.0.0.1:$p ssl;"$'\n'; done
cat >"$work/nginx/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/client_body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  keepalive_requests 100000;
  keepalive_timeout 75s;
  server {
$listen_lines    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    location / { return 200 "ok"; }
  }
}
EOF
nginx -p "$work/nginx" -e "$work/nginx/error.log" -c "$work/nginx/nginx.conf" \
  >"$work/nginx/stdout" 2>&1 &
nginx_pid=$!
for _ in $(seq 100); do
  kill -0 "$nginx_pid" 2>/dev/null || { cat "$work/nginx/error.log" >&2; die "nginx exited at start"; }
  curl -fsS -o /dev/null --max-time 1 --cacert "$work/cert.pem" "https://127.0.0.1:$nginx_port/" \
    2>/dev/null && break
  sleep 0.1
done
curl -fsS -o /dev/null --max-time 1 --cacert "$work/cert.pem" "https://127.0.0.1:$nginx_port/" ||
  die "nginx does not answer on https://127.0.0.1:$nginx_port/"

# ------------------------------------------------------------------ payload
# The event "data" every test sends (~450 bytes of JSON, valid for device.enroll's schema, which
# ingest checks: shared/events/device.enroll.json), and a delivery body of the size
# webhookd will POST for it: {"id","type","timestamp","team_id","data"}.
event_data='{"device":{"id":"dev_a13f77","name":"WH-MAD-SCAN-017","serial_number":"R58N70ABCDE",'\
'"imei":"356938035643809","platform":"android","manufacturer":"Samsung","model":"Galaxy XCover7",'\
'"os_version":"14","ownership":"corporate","enterprise_id":"ent_7c1e5b","policy_id":"pol_kiosk_and",'\
'"user_id":"usr_9e41d2","compliance":"pending","enrolled_at":"2026-03-01T09:30:00Z"},'\
'"enrollment_token_id":"enr_5d0c3a","actor":{"type":"system","id":"sys_enrollment"}}'
run_id="db$(date +%s)"
sample_id="$run_id-t1-0-12345"
sample_body="{\"id\":\"$sample_id\",\"type\":\"device.enroll\",\"timestamp\":\"$(date -u +%Y-%m-%dT%H:%M:%S.000Z)\",\"team_id\":\"bench\",\"data\":$event_data}"
body_bytes=${#sample_body}

wrk_result() { grep '^BENCH_RESULT ' "$1" | tail -n 1; }
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }

# ------------------------------------------------------------------ 0. receiver baseline
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "delivery_bench: $bin; nginx-light on https://127.0.0.1:$nginx_port (2 workers;" \
  "$(printf '%s\n' "${hook_ports[@]}" | sort -u | wc -l) port(s) for $n_webhooks webhooks);" \
  "data dir on $fs_type; $cores cores; load average $load_start; delivery body $body_bytes bytes"
BENCH_BODY="$sample_body" BENCH_WEBHOOK_ID="$sample_id" \
  timeout 30 wrk -t2 -c8 -d5s --latency -s "$here/wrk/receiver_post.lua" \
  "https://127.0.0.1:$nginx_port/" >"$work/receiver.out" 2>&1 ||
  { cat "$work/receiver.out" >&2; die "wrk against nginx failed"; }
raw="$(wrk_result "$work/receiver.out")"
[[ -n "$raw" ]] || { cat "$work/receiver.out" >&2; die "wrk against nginx printed no result"; }
raw_rps="$(field "$raw" ok_rps)"
(( $(field "$raw" other) + $(field "$raw" errors) == 0 )) || note "receiver baseline had non-200 answers or errors: $raw"
printf '0. receiver raw capacity: %.0f req/s (wrk -t2 -c8 -d5s, TLS keep-alive, %d-byte POST)\n' \
  "$raw_rps" "$body_bytes"

# ------------------------------------------------------------------ webhookd helpers
# Where the state is: a data dir (SQLite) or the PostgreSQL this script started.
store_args() {  # data_dir
  if [[ -n "$pg_uri" ]]; then
    echo --database "$pg_uri" --master-key-file "$work/main.key"
  else
    echo --data-dir "$1"
  fi
}
start_one() {  # data_dir log_name: starts one serve; appends to pids and bases
  local data="$1" name="$2" port="" p
  # Made here: the child opens them after the fork, and the loop below may read first.
  : >"$work/$name.out"
  : >"$work/$name.err"
  # shellcheck disable=SC2046
  "$bin" serve --listen 127.0.0.1:0 $(store_args "$data") --log-level warn \
    --allow-private-targets 127.0.0.1/32 --ca-file "$work/cert.pem" "${extra_serve_args[@]}" \
    >"$work/$name.out" 2>"$work/$name.err" &
  p=$!
  for _ in $(seq 200); do
    kill -0 "$p" 2>/dev/null || { cat "$work/$name.err" >&2; die "webhookd exited at start"; }
    port="$(sed -n 's#^webhookd listening on http://127\.0\.0\.1:\([0-9][0-9]*\)$#\1#p' "$work/$name.out")"
    [[ -n "$port" ]] && break
    sleep 0.05
  done
  [[ -n "$port" ]] || die "webhookd printed no 'listening on' line within 10 s"
  for _ in $(seq 100); do
    curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/healthz" 2>/dev/null && break
    sleep 0.05
  done
  curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/healthz" ||
    die "http://127.0.0.1:$port/healthz does not answer"
  pids+=("$p")
  bases+=("http://127.0.0.1:$port")
}
start_server() {  # data_dir log_name: starts the instances; sets pid and base (the first's)
  local i
  pids=(); bases=()
  for i in $(seq "$instances"); do start_one "$1" "$2-$i"; done
  pid="${pids[0]}"
  base="${bases[0]}"
  # wrk threads go to the instances in turn.
  BENCH_ADDRS="$(printf '%s\n' "${bases[@]}" | sed 's#^http://##' | paste -sd, -)"
  export BENCH_ADDRS
}
tokens() {  # data_dir: sets admin_token, ingest_token (the CLI shares the database)
  # shellcheck disable=SC2046
  admin_token="$("$bin" token create --team bench --role admin $(store_args "$1"))"
  # shellcheck disable=SC2046
  ingest_token="$("$bin" token create --team bench --role ingest $(store_args "$1"))"
  [[ "$admin_token" == mwh_* && "$ingest_token" == mwh_* ]] || die "token create printed no token"
}
create_webhook() {  # url event_type
  local code
  code="$(curl -sS -o "$work/create.json" -w '%{http_code}' --max-time 5 -X POST "$base/api/v1/webhooks" \
    -H "Authorization: Bearer $admin_token" -H 'Content-Type: application/json' \
    -d "{\"url\":\"$1\",\"events\":[\"$2\"],\"secret\":\"generate\",\"description\":\"delivery bench\"}")"
  [[ "$code" == 201 ]] || die "creating webhook $1 answered $code: $(cat "$work/create.json")"
}
metrics() {  # every instance's, one after the other
  local b
  for b in "${bases[@]}"; do curl -fsS --max-time 5 "$b/metrics" 2>/dev/null || true; done
}
# A metric summed over the instances (queue figures are the database's: each instance reports
# the same, and only zero is compared).
metric() { awk -v k="$1" '$1 == k { s += $2 } END { print s + 0 }' <<<"$2"; }
succeeded_of() { metric 'mambo_deliveries_total{outcome="succeeded"}' "$1"; }

# ingest wrk_args... : wrk against /api/v1/events with bench/wrk/delivery_events.lua. With
# BENCH_MAX_EVENTS set, wrk is stopped (SIGINT: it still prints its summary) once every thread
# reached its quota. Env BENCH_* passed through. Result line in $ingest_result.
ingest() {
  local name="$1" threads="$2" conns="$3" dur="$4"
  rm -f "$work"/quota-*
  BENCH_THREADS="$threads" BENCH_MARK_DIR="$work" BENCH_INGEST_TOKEN="$ingest_token" \
    BENCH_EVENT_DATA="$event_data" \
    wrk -t"$threads" -c"$conns" -d"$dur" --timeout 10s --latency \
    -s "$here/wrk/delivery_events.lua" "$base" >"$work/$name.out" 2>&1 &
  wrk_pid=$!
  if [[ "${BENCH_MAX_EVENTS:-0}" != 0 ]]; then
    # Builtins only (glob, kill -0, read -t on a FIFO nobody writes as the 50 ms pause): this loop
    # used find | wc and sleep, and those forks took ~20 % of the 2 cores (perf -a) away from
    # webhookd while it was being measured.
    local marks tick
    [[ -p "$work/tick" ]] || mkfifo "$work/tick"
    exec {tick}<>"$work/tick"
    while kill -0 "$wrk_pid" 2>/dev/null; do
      marks=("$work"/quota-*)
      [[ -e "${marks[0]}" ]] && (( ${#marks[@]} >= threads )) && { kill -INT "$wrk_pid"; break; }
      read -r -t 0.05 -u "$tick" _ || true
    done
    exec {tick}>&-
  fi
  wait "$wrk_pid" || { cat "$work/$name.out" >&2; wrk_pid=""; die "wrk ($name) failed"; }
  wrk_pid=""
  ingest_result="$(wrk_result "$work/$name.out")"
  [[ -n "$ingest_result" ]] || { cat "$work/$name.out" >&2; die "wrk ($name) printed no result"; }
  (( $(field "$ingest_result" other) == 0 )) || note "$name: $(field "$ingest_result" other) answers other than 202"
}
# wait_delivered expected timeout_s progress_file: polls /metrics until `expected` deliveries
# succeeded; sets delivered_at (ms) or 0 on timeout.
wait_delivered() {
  local expected="$1" timeout_s="$2" file="$3" m s qd fl end
  end=$(( $(now_ms) + timeout_s * 1000 ))
  delivered_at=0
  while (( $(now_ms) < end )); do
    m="$(metrics)"
    s="$(succeeded_of "$m")"
    qd="$(metric mambo_delivery_queue_depth "$m")"; fl="$(metric mambo_delivery_in_flight "$m")"
    echo "$(now_ms) succeeded=$s queue=$qd in_flight=$fl rss_kb=$(proc_kb "$pid" VmRSS)" >>"$file"
    # Also an empty queue: wrk does not count requests still in flight when it stops.
    if (( s >= expected && qd == 0 && fl == 0 )); then delivered_at="$(now_ms)"; return 0; fi
    # /metrics counts the queue by status over the whole deliveries table (a full scan): poll
    # gently, it costs webhookd CPU. The rates come from the database, not from this loop.
    sleep 0.5
  done
}
q() {  # db_file sql: SQLite's file, or the PostgreSQL this script started
  if [[ -n "$pg_uri" ]]; then
    psql "$pg_uri" -At -F ' ' -c "$2"
  else
    sqlite3 -readonly -separator ' ' "$1" "$2"
  fi
}
cpu_all() {  # every instance's CPU ticks
  local p t=0
  for p in "${pids[@]}"; do t=$((t + $(cpu_ticks "$p"))); done
  echo "$t"
}
pg_ticks() {  # PostgreSQL's CPU: the postmaster and its children (backends, WAL writer, ...)
  [[ -n "$pg_dir" ]] || { echo 0; return; }
  local pm t=0 p
  pm="$(head -n 1 "$pg_dir/data/postmaster.pid")"
  for p in "$pm" $(cat "/proc/$pm/task/$pm/children" 2>/dev/null); do
    t=$((t + $(cpu_ticks "$p" 2>/dev/null || echo 0)))
  done
  echo "$t"
}

status=0
tp_rate="" tp_drain_rate="" tp_peak_kb="" p50="" p99="" pend_rss="" pend_hwm="" pend_restart_rss=""
data1="$work/data"

# ------------------------------------------------------------------ PostgreSQL (pg<N>)
if [[ "$backend" != sqlite ]]; then
  command -v psql >/dev/null || die "psql is not installed (scripts/setup.sh installs PostgreSQL)"
  # Its own dir: PostgreSQL runs as the postgres user, who cannot enter $work.
  pg_dir="$(mktemp -d /tmp/mambo-pgbench.XXXXXX)"
  [[ "${BENCH_PG_STATEMENTS:-0}" == 1 ]] &&
    export PG_DEV_OPTIONS="-c shared_preload_libraries=pg_stat_statements"
  pg_uri="$("$repo/scripts/pg-dev.sh" start "$pg_dir" 2>"$work/pg-dev.err")" ||
    { cat "$work/pg-dev.err" >&2; die "PostgreSQL did not start"; }
  openssl rand -hex 32 >"$work/main.key"
  echo "delivery_bench: $instances webhookd instance(s) on PostgreSQL $(psql "$pg_uri" -Atc 'SHOW server_version') in $pg_dir (fsync on, synchronous_commit on)"
fi

# ------------------------------------------------------------------ 1. throughput
if want throughput || want latency; then
  mkdir -p "$data1"
  tokens "$data1"
  start_server "$data1" serve1
fi
if want throughput; then
  for i in $(seq "$n_webhooks"); do
    create_webhook "https://127.0.0.1:${hook_ports[$((i - 1))]}/hook$i" device.enroll
  done
  read -r m0_total m0_idle <<<"$(machine_ticks)"
  c0="$(cpu_all)"; n0="$(nginx_ticks)"; x0="$(ctx_switches "$pid")"; g0="$(pg_ticks)"
  m_start="$(metrics)"
  t_start="$(now_ms)"
  BENCH_MAX_EVENTS="$n_events" BENCH_RUN_ID="$run_id-t1" BENCH_EVENT_TYPE=device.enroll \
    ingest ingest1 2 "${BENCH_INGEST_CONNECTIONS:-8}" 20s
  t_ingest_end="$(now_ms)"
  accepted="$(field "$ingest_result" ok)"
  expected=$((accepted * n_webhooks))
  wait_delivered "$expected" "$drain_timeout" "$work/progress1.txt"
  c1="$(cpu_all)"; n1="$(nginx_ticks)"; x1="$(ctx_switches "$pid")"; g1="$(pg_ticks)"
  read -r m1_total m1_idle <<<"$(machine_ticks)"
  tp_peak_kb="$(proc_kb "$pid" VmHWM)"
  tp_end_rss_kb="$(proc_kb "$pid" VmRSS)"
  m_end="$(metrics)"
  # Group commit at work: how many writes (ingests, leases, attempts) each commit carried.
  commits=$(( $(metric mambo_store_commits_total "$m_end") - $(metric mambo_store_commits_total "$m_start") ))
  writes=$(( $(metric mambo_store_writes_total "$m_end") - $(metric mambo_store_writes_total "$m_start") ))
  wal_mb="$(awk -v f="$(metric mambo_store_wal_frames "$m_end")" 'BEGIN { printf "%.1f", f * 4120 / 1048576 }')"
  wal_copied="$(metric mambo_store_wal_checkpointed_frames "$m_end")"
  threads_now="$(ls "/proc/$pid/task" | wc -l)"
  # Per-thread CPU of webhookd (ticks), biggest first: shows whether one thread (the SQLite
  # writer, the dispatcher) is the bottleneck or the work is spread over the workers.
  top_threads="$(for t in /proc/"$pid"/task/*; do cpu_ticks "$pid/task/${t##*/}" 2>/dev/null || true; done |
    sort -rn | head -n 5 | awk -v hz="$hz" '{ printf "%s%.1f", (NR > 1 ? " " : ""), $1 / hz }')"
  drained=1
  if (( delivered_at == 0 )); then
    note "throughput: not all $expected deliveries succeeded within $drain_timeout s of the end of ingest"
    drained=0; status=1
  fi
  ingest_secs="$(awk -v a="$t_start" -v b="$t_ingest_end" 'BEGIN { printf "%.2f", (b - a) / 1000 }')"
  if want latency; then :; else stop_server; fi
fi

# ------------------------------------------------------------------ 2. latency
if want latency; then
  # Same process and queue (history of test 1 stays in the tables); a new webhook for an event
  # type nothing else subscribes to.
  create_webhook "https://127.0.0.1:$nginx_port/latency" device.update
  s_before="$(succeeded_of "$(metrics)")"
  BENCH_RATE="$rate" BENCH_RUN_ID="$run_id-t2" BENCH_EVENT_TYPE=device.update \
    ingest ingest2 1 10 "${latency_secs}s"
  lat_accepted="$(field "$ingest_result" ok)"
  lat_rate="$(awk -v n="$lat_accepted" -v s="$(field "$ingest_result" secs)" 'BEGIN { printf "%.0f", n / s }')"
  wait_delivered $((s_before + lat_accepted)) 30 "$work/progress2.txt"
  (( delivered_at > 0 )) || { note "latency: not all deliveries succeeded within 30 s"; status=1; }
  lat_hwm_kb="$(proc_kb "$pid" VmHWM)"
fi

if want throughput || want latency; then
  stop_server
  (( server_rc == 0 )) || { tail -n 20 "$work/serve1.err" >&2; note "webhookd exited with $server_rc after SIGTERM"; status=1; }
  db="$data1/webhookd.db"
fi

if want throughput; then
  # The database after SIGTERM: every delivery of test 1's events succeeded, one attempt each.
  read -r ev_stored <<<"$(q "$db" "SELECT COUNT(*) FROM events WHERE id LIKE '$run_id-t1-%'")"
  read -r d_total d_ok d_attempt_count <<<"$(q "$db" \
    "SELECT COUNT(*), COALESCE(SUM(CASE WHEN d.status = 'succeeded' THEN 1 ELSE 0 END), 0), COALESCE(SUM(d.attempt_count), 0)
     FROM deliveries d JOIN events e ON e.seq = d.event_seq WHERE e.id LIKE '$run_id-t1-%'")"
  read -r a_total a_200 a_deliveries first_ts last_end during <<<"$(q "$db" \
    "SELECT COUNT(*), COALESCE(SUM(CASE WHEN a.http_status = 200 THEN 1 ELSE 0 END), 0), COUNT(DISTINCT a.delivery_id),
            (SELECT MIN(timestamp) FROM events WHERE id LIKE '$run_id-t1-%'),
            MAX(a.started_at + a.duration_ms),
            COALESCE(SUM(CASE WHEN a.started_at + a.duration_ms <= $t_ingest_end THEN 1 ELSE 0 END), 0)
     FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
     JOIN events e ON e.seq = d.event_seq WHERE e.id LIKE '$run_id-t1-%'")"
  db_check="ok"
  if (( drained == 0 )); then
    # Not drained within the bound: the rate below counts what succeeded; the check is that
    # each attempt row belongs to a delivery that counts it, and nothing succeeded unrecorded.
    db_check="INCOMPLETE ($d_ok of $d_total succeeded in time)"
    (( ev_stored < accepted || d_total != ev_stored * n_webhooks || a_total != d_attempt_count ||
       a_200 < d_ok )) && db_check="FAILED"
    status=1
  elif (( ev_stored < accepted || d_total != ev_stored * n_webhooks || d_ok != d_total ||
        a_total != d_total || a_200 != d_total || a_deliveries != d_total || d_attempt_count != d_total )); then
    db_check="FAILED"; status=1
  fi
  echo "1. database after SIGTERM: $accepted events accepted (202), $ev_stored stored;" \
    "$d_total deliveries (expected $((ev_stored * n_webhooks))), $d_ok succeeded;" \
    "$a_total attempt rows ($a_200 HTTP 200, $a_deliveries distinct deliveries): $db_check"
  if (( d_ok > 0 )) && [[ -n "$last_end" ]]; then
    tp_rate="$(awk -v n="$a_200" -v a="$first_ts" -v b="$last_end" 'BEGIN { printf "%.0f", n * 1000 / (b - a) }')"
    tp_drain_rate="$(awk -v n="$((a_200 - during))" -v a="$t_ingest_end" -v b="$last_end" \
      'BEGIN { if (b > a && n > 0) printf "%.0f", n * 1000 / (b - a); else print "n/a" }')"
    total_secs="$(awk -v a="$first_ts" -v b="$last_end" 'BEGIN { printf "%.2f", (b - a) / 1000 }')"
    ingest_rate="$(awk -v n="$accepted" -v s="$ingest_secs" 'BEGIN { printf "%.0f", n / s }')"
    cpu_ms="$(awk -v c=$((c1 - c0)) -v hz="$hz" -v n="$a_total" 'BEGIN { printf "%.3f", c * 1000 / hz / n }')"
    ngx_ms="$(awk -v c=$((n1 - n0)) -v hz="$hz" -v n="$a_total" 'BEGIN { printf "%.3f", c * 1000 / hz / n }')"
    pg_ms="$(awk -v c=$((g1 - g0)) -v hz="$hz" -v n="$a_total" 'BEGIN { printf "%.3f", c * 1000 / hz / n }')"
    busy="$(awk -v t=$((m1_total - m0_total)) -v i=$((m1_idle - m0_idle)) 'BEGIN { printf "%.0f", (t - i) * 100 / t }')"
    echo "   $a_200 deliveries in $total_secs s (first event ingested -> last attempt recorded):" \
      "$tp_rate/s; ingest of $accepted events took $ingest_secs s ($ingest_rate events/s," \
      "$during deliveries done meanwhile); after ingest: $tp_drain_rate deliveries/s"
    echo "   CPU: webhookd $cpu_ms ms per delivery (incl. ingest; top threads, s: $top_threads;" \
      "$threads_now threads; $(awk -v x=$((x1 - x0)) -v n="$a_total" 'BEGIN { printf "%.1f", x / n }')" \
      "context switches per delivery), nginx $ngx_ms ms per delivery, PostgreSQL $pg_ms ms per" \
      "delivery; machine $busy% busy over" \
      "the test ($cores cores, other processes included)"
    echo "   RSS: peak (VmHWM) $(mb "$tp_peak_kb") MB, at the end $(mb "$tp_end_rss_kb") MB;" \
      "store: $commits commits for $writes writes; write-ahead log at the end $wal_mb MB" \
      "($wal_copied pages of it checkpointed)"
  fi
fi

if want latency; then
  q "$db" "SELECT a.started_at - e.timestamp FROM attempts a
           JOIN deliveries d ON d.id = a.delivery_id JOIN events e ON e.seq = d.event_seq
           WHERE a.number = 1 AND e.id LIKE '$run_id-t2-%' ORDER BY 1" >"$work/latency.ms"
  n_lat="$(wc -l <"$work/latency.ms")"
  pct() {  # nearest rank
    awk -v p="$1" -v n="$n_lat" 'BEGIN { r = int(n * p / 100); if (r < n * p / 100) r++; if (r < 1) r = 1 }
      NR == r { print; exit }' "$work/latency.ms"
  }
  lat_stored="$(q "$db" "SELECT COUNT(*) FROM events WHERE id LIKE '$run_id-t2-%'")"
  if (( n_lat > 0 )); then
    p50="$(pct 50)"; p99="$(pct 99)"; lat_max="$(tail -n 1 "$work/latency.ms")"
    lat_mean="$(awk '{ s += $1 } END { printf "%.1f", s / NR }' "$work/latency.ms")"
  fi
  echo "2. paced ingest: $lat_accepted events in $(field "$ingest_result" secs) s ($lat_rate events/s," \
    "target $rate), 1 webhook; ingest API p50/p99 $(awk -v u="$(field "$ingest_result" p50_us)" 'BEGIN{printf "%.1f", u/1000}')/$(awk -v u="$(field "$ingest_result" p99_us)" 'BEGIN{printf "%.1f", u/1000}') ms;" \
    "ingest-to-first-attempt over $n_lat deliveries: p50 ${p50:-?} ms, p99 ${p99:-?} ms," \
    "mean ${lat_mean:-?} ms, max ${lat_max:-?} ms"
  # wrk does not count the requests in flight when its duration ends: the database does.
  (( n_lat == lat_stored && lat_stored >= lat_accepted )) ||
    { note "latency: $n_lat first attempts for $lat_stored events stored ($lat_accepted 202s)"; status=1; }
fi

# ------------------------------------------------------------------ 3. memory with pending
if want memory && [[ -n "$pg_uri" ]]; then
  note "memory test: SQLite only (skipped on $backend)"
elif want memory; then
  data3="$work/data-pending"
  mkdir -p "$data3"
  # The black hole: listens, never accepts. The kernel completes TCP handshakes into the
  # backlog, webhookd's TLS handshake gets no answer and gives up at the connect timeout (5 s).
  python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(4096)
print(s.getsockname()[1], flush=True)
while True: time.sleep(3600)' >"$work/hole.port" 2>"$work/hole.err" &
  hole_pid=$!
  for _ in $(seq 100); do [[ -s "$work/hole.port" ]] && break; sleep 0.05; done
  hole_port="$(head -n 1 "$work/hole.port")"
  [[ -n "$hole_port" ]] || die "black-hole listener did not start"
  tokens "$data3"
  start_server "$data3" serve3
  for i in $(seq "$n_pending_webhooks"); do create_webhook "https://127.0.0.1:$hole_port/hold$i" device.enroll; done
  pend_events=$(( (n_pending + n_pending_webhooks - 1) / n_pending_webhooks ))
  BENCH_MAX_EVENTS="$pend_events" BENCH_RUN_ID="$run_id-t3" BENCH_EVENT_TYPE=device.enroll \
    ingest ingest3 2 8 40s
  sleep 2  # let the engine settle into its steady state (all workers blocked on the black hole)
  ca="$(cpu_ticks "$pid")"; sleep 5; cb="$(cpu_ticks "$pid")"
  pend_cpu="$(awk -v c=$((cb - ca)) -v hz="$hz" 'BEGIN { printf "%.0f", c * 100 / hz / 5 }')"
  pend_rss="$(proc_kb "$pid" VmRSS)"; pend_hwm="$(proc_kb "$pid" VmHWM)"
  states="$(q "$data3/webhookd.db" "SELECT status || '=' || COUNT(*) FROM deliveries GROUP BY status" | tr '\n' ' ')"
  read -r pend_total pend_waiting <<<"$(q "$data3/webhookd.db" \
    "SELECT COUNT(*), COALESCE(SUM(status IN ('pending', 'failed')), 0) FROM deliveries")"
  echo "3. $pend_total deliveries queued for $n_pending_webhooks webhooks at a black hole" \
    "($states): VmRSS $(mb "$pend_rss") MB, VmHWM $(mb "$pend_hwm") MB (peak includes the" \
    "ingest); webhookd used $pend_cpu% of a core meanwhile (failing connects to the black hole)"
  stop_server
  start_server "$data3" serve3b
  sleep 3
  pend_restart_rss="$(proc_kb "$pid" VmRSS)"; pend_restart_hwm="$(proc_kb "$pid" VmHWM)"
  states2="$(q "$data3/webhookd.db" "SELECT status || '=' || COUNT(*) FROM deliveries GROUP BY status" | tr '\n' ' ')"
  echo "   after a restart on the same queue ($states2): VmRSS $(mb "$pend_restart_rss") MB," \
    "VmHWM $(mb "$pend_restart_hwm") MB"
  kill_wait "$pid" KILL 2; pid=""  # nothing to check in this database; do not wait for sends
  kill_wait "$hole_pid" TERM 2; hole_pid=""
fi

# ------------------------------------------------------------------ summary
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"
verdict() { [[ -z "$1" || "$1" == n/a ]] && { echo "n/a"; return; }
  awk -v v="$1" -v t="$2" -v dir="$3" 'BEGIN { ok = (dir == ">=") ? v >= t : v <= t; print ok ? "ok" : "MISSED" }'; }
echo
printf '%-58s %14s   %-16s %s\n' measure value target verdict
printf '%-58s %14.0f   %-16s\n' "receiver raw capacity (nginx, wrk -t2 -c8, TLS), req/s" "$raw_rps" ""
if want throughput; then
  target=5000
  [[ "$backend" != sqlite ]] && target=3000
  printf '%-58s %14s   %-16s %s\n' "signed durable deliveries/s (ingest -> attempt recorded)" "${tp_rate:-n/a}" ">= $target/s" "$(verdict "$tp_rate" "$target" '>=')"
  printf '%-58s %14s   %-16s %s\n' "  deliveries/s after ingest ended (engine alone)" "${tp_drain_rate:-n/a}" "" ""
  ratio="$(awk -v a="${tp_rate:-0}" -v b="$raw_rps" 'BEGIN { printf "%.1f %%", a * 100 / b }')"
  printf '%-58s %14s   %-16s\n' "ratio ours / raw receiver capacity" "$ratio" ""
  printf '%-58s %14s   %-16s\n' "peak RSS during the throughput test (VmHWM), MB" "$(mb "$tp_peak_kb")" ""
  printf '%-58s %14s   %-16s\n' "database check (all succeeded, one attempt row each)" "$db_check" ""
fi
if want latency; then
  printf '%-58s %14s   %-16s %s\n' "ingest-to-first-attempt p50 at $lat_rate events/s, ms" "${p50:-n/a}" "" ""
  printf '%-58s %14s   %-16s %s\n' "ingest-to-first-attempt p99 at $lat_rate events/s, ms" "${p99:-n/a}" "<= 50 ms" "$(verdict "$p99" 50 '<=')"
fi
if want memory; then
  printf '%-58s %14s   %-16s %s\n' "RSS with $pend_waiting waiting deliveries (VmRSS), MB" "$(mb "$pend_rss")" "<= 100 MB" "$(verdict "$(mb "$pend_rss")" 100 '<=')"
  printf '%-58s %14s   %-16s %s\n' "  same, peak incl. their ingest (VmHWM), MB" "$(mb "$pend_hwm")" "<= 100 MB" "$(verdict "$(mb "$pend_hwm")" 100 '<=')"
  printf '%-58s %14s   %-16s %s\n' "  after restart on that queue (VmRSS), MB" "$(mb "$pend_restart_rss")" "<= 100 MB" "$(verdict "$(mb "$pend_restart_rss")" 100 '<=')"
fi
if [[ "${BENCH_PG_STATEMENTS:-0}" == 1 && -n "$pg_uri" ]]; then
  echo "PostgreSQL statements by total time (pg_stat_statements):"
  psql "$pg_uri" -Atq -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" \
    -c "SELECT round(total_exec_time::numeric, 0) || ' ms, ' || calls || ' calls: ' ||
               left(regexp_replace(query, '\s+', ' ', 'g'), 110)
        FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 10" | sed 's/^/  /'
fi
echo "load average: $load_start at the start, $load_end at the end ($cores cores)"
echo "BENCH_SUMMARY backend=$backend rate=${tp_rate:-} drain=${tp_drain_rate:-} cpu_ms=${cpu_ms:-}" \
  "pg_cpu_ms=${pg_ms:-} p50=${p50:-} p99=${p99:-} raw=$(printf "%.0f" "$raw_rps") check=${db_check%% *}"
[[ -n "${BENCH_SERVE_ARGS:-}" ]] && echo "webhookd serve flags added: $BENCH_SERVE_ARGS"
for f in "$work"/serve*.err; do
  [[ -s "$f" ]] || continue
  echo "$(basename "$f") (last lines):"; tail -n 3 "$f" | cut -c1-300 | sed 's/^/  /'
done
exit "$status"

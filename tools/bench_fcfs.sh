#!/usr/bin/env bash
# First-come coupon benchmark (issue: coupons). In one run, on loopback, with private configs
# and data dirs, it measures:
#   - ecomd POST /coupons/fcfs/{id}/issue, --fsync always, 64 and 256 connections (wrk, one
#     distinct user per request): a campaign big enough that every request is a durable issue,
#     the same with an Idempotency-Key on every request, and a flash-sale run where 1,000
#     coupons sell out at once;
#   - the same rows for a baseline ecomd binary when BASELINE_ECOMD=path is set (e.g. the
#     previous commit's build), alternating with this build's, so before/after come from one
#     run on one machine state;
#   - both ecomd servers with ECOMD_IO_THREADS io threads (default 2, the box's cores; with the
#     load generator on the same two cores, 1 leaves the second core to the WAL writer and the
#     client: see docs/performance.md);
#   - nginx serving a ~100-byte static JSON file (the HTTP ceiling of this box), wrk;
#   - Redis 7 with appendfsync always running the usual Lua check-decrement-add script,
#     redis-benchmark, no pipelining;
#   - PostgreSQL with synchronous_commit=on doing SELECT ... FOR UPDATE + INSERT per issue
#     (the original design's locking), pgbench.
# and prints requests/s, p50/p99 and the ratios. Installs nginx, wrk, redis and postgresql
# from Debian when missing (as root).
# Usage: [BASELINE_ECOMD=/path/to/old/ecomd] [ECOMD_IO_THREADS=2] [ROUNDS=1] \
#          tools/bench_fcfs.sh [seconds (10)]
# ROUNDS > 1 interleaves that many rounds of nginx and ecomd runs and prints ratios of medians.
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-10}"
need() { command -v "$1" >/dev/null || { [ "$(id -u)" -eq 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; }
need nginx nginx; need wrk wrk; need redis-server redis-server; need redis-benchmark redis-tools
[ -x /usr/lib/postgresql/15/bin/initdb ] || need psql postgresql
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
[ -x build/bin/ecomd ] || cmake --build build -j2 --target ecomd

work=$(mktemp -d /tmp/ecomd-fcfs.XXXXXX)
chmod 755 "$work"
nginx_port=18491 redis_port=18492 pg_port=18493
cleanup() {
  for pid in ${ecomd_pids:-}; do kill "$pid" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  [ -n "${redis_pid:-}" ] && kill "$redis_pid" 2>/dev/null || true
  [ -d "$work/pg" ] && su postgres -s /bin/sh -c "$pgbin/pg_ctl -D $work/pg -m immediate stop" >/dev/null 2>&1 || true
  sleep 0.5
  rm -rf "$work"
}
trap cleanup EXIT

wrk_run() {  # url connections [lua script and args...] -> "rps p50 p99"
  local url=$1 conns=$2; shift 2
  local out
  if [ $# -gt 0 ]; then out=$(wrk -t2 -c"$conns" -d"${duration}s" --latency -s "$1" "$url" -- "${@:2}")
  else out=$(wrk -t2 -c"$conns" -d"${duration}s" --latency "$url"); fi
  echo "$(echo "$out" | awk '/Requests\/sec/ {print $2}') $(echo "$out" | awk '$1=="50%" {print $2}') $(echo "$out" | awk '$1=="99%" {print $2}')"
}
row() { printf "%-44s %6s %11s %10s %10s\n" "$@"; }

# ---- nginx ----
mkdir -p "$work/www" "$work/nginx-tmp"
printf '{"id":1,"coupon_id":1,"status":"AVAILABLE","issued_at":"2026-11-24T04:28:33.123Z"}\n' > "$work/www/c.json"
cat > "$work/nginx.conf" <<NGINX
worker_processes 2;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off; keepalive_requests 1000000;
  client_body_temp_path $work/nginx-tmp; proxy_temp_path $work/nginx-tmp; fastcgi_temp_path $work/nginx-tmp;
  uwsgi_temp_path $work/nginx-tmp; scgi_temp_path $work/nginx-tmp;
  server { listen 127.0.0.1:$nginx_port; location / { root $work/www; default_type application/json; } }
}
NGINX
nginx -c "$work/nginx.conf" -p "$work"

# ---- redis: appendfsync always, Lua check-decrement-add ----
mkdir -p "$work/redis"
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work/redis" --appendonly yes --appendfsync always \
  --save "" --daemonize no --logfile "$work/redis.log" &
redis_pid=$!
for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
lua='if redis.call("SISMEMBER", KEYS[2], ARGV[1]) == 1 then return -1 end
local left = tonumber(redis.call("GET", KEYS[1]))
if left <= 0 then return 0 end
redis.call("DECR", KEYS[1]); redis.call("SADD", KEYS[2], ARGV[1]); return 1'
sha=$(redis-cli -p "$redis_port" SCRIPT LOAD "$lua")
redis-cli -p "$redis_port" SET fcfs:remaining 100000000 >/dev/null

# ---- postgresql: synchronous_commit=on, SELECT ... FOR UPDATE + INSERT ----
mkdir -p "$work/pg" "$work/pgsock" && chown postgres "$work/pg" "$work/pgsock"
su postgres -s /bin/sh -c "$pgbin/initdb -D $work/pg -A trust -U postgres" >/dev/null
su postgres -s /bin/sh -c "$pgbin/pg_ctl -D $work/pg -l $work/pg/log -o '-p $pg_port -k $work/pgsock -c listen_addresses=127.0.0.1 -c synchronous_commit=on -c fsync=on -c max_connections=300' start" >/dev/null
psql_run() { psql -h 127.0.0.1 -p "$pg_port" -U postgres -q "$@"; }
for _ in $(seq 50); do psql_run -c 'select 1' >/dev/null 2>&1 && break; sleep 0.2; done
psql_run <<'SQL'
CREATE TABLE campaign (id int PRIMARY KEY, remaining int NOT NULL);
CREATE TABLE issued (campaign_id int, user_id int, PRIMARY KEY (campaign_id, user_id));
INSERT INTO campaign VALUES (1, 100000000);
SQL
cat > "$work/issue.sql" <<'SQL'
\set uid random(1, 2000000000)
BEGIN;
SELECT remaining FROM campaign WHERE id = 1 FOR UPDATE;
INSERT INTO issued VALUES (1, :uid) ON CONFLICT DO NOTHING;
UPDATE campaign SET remaining = remaining - 1 WHERE id = 1;
COMMIT;
SQL

# ---- ecomd: users, a coupon; campaigns made per run ----
# start_ecomd NAME BINARY: a server with its own data dir, users (tokens) and coupon.
start_ecomd() {
  local name=$1 binary=$2 dir="$work/$1"
  mkdir -p "$dir"
  "$binary" --port 0 --data-dir "$dir/data" --admin-token bench --log-level warn \
    --io-threads "${ECOMD_IO_THREADS:-2}" \
    > "$dir/out" 2> "$dir/err" &
  ecomd_pids="${ecomd_pids:-} $!"
  for _ in $(seq 100); do grep -q listening "$dir/out" 2>/dev/null && break; sleep 0.1; done
  local port; port=$(grep -o '[0-9]*$' "$dir/out")
  echo "$port" > "$dir/port"
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  : > "$dir/tokens"
  for _ in $(seq $(( (users_per_run * 2 + 99999) / 100000 ))); do
    api "$name" /admin/users/bulk '{"count":100000,"name_prefix":"bench"}' |
      python3 -c 'import json,sys; print("\n".join(u["access_token"] for u in json.load(sys.stdin)["items"]))' >> "$dir/tokens"
  done
  api "$name" /admin/coupons '{"name":"bench","type":"FIXED","amount":1000,"valid_days":30}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' > "$dir/coupon"
}
api() { curl -sf -X POST "http://127.0.0.1:$(cat "$work/$1/port")$2" -H 'Authorization: Bearer bench' -H 'Content-Type: application/json' -d "$3"; }
window='"start_at":"2020-01-01T00:00:00Z","end_at":"2099-01-01T00:00:00Z"'
campaign() {  # NAME QUANTITY -> id
  api "$1" /admin/fcfs-coupons "{\"coupon_id\":$(cat "$work/$1/coupon"),\"total_quantity\":$2,$window}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}
# More users than requests (at up to 90k req/s): every request is a first-time issue.
users_per_run=$((90000 * duration))
names="ecomd"
start_ecomd ecomd build/bin/ecomd
if [ -n "${BASELINE_ECOMD:-}" ]; then
  start_ecomd baseline "$BASELINE_ECOMD"
  names="baseline ecomd"
fi
cat > "$work/issue.lua" <<'LUA'
-- One distinct user per request: thread k takes tokens k, k+T, k+2T, ... from its block.
local counter = 1
local threads = {}
function setup(thread) thread:set("id", counter); counter = counter + 1; table.insert(threads, thread) end
function init(args)
  tokens = {}
  for line in io.lines(args[1]) do tokens[#tokens + 1] = line end
  -- The request line and headers are built once; each request only adds its token (one
  -- concatenation instead of wrk.format's table walk, which cost the client as much CPU as
  -- the server spent answering).
  -- args[2]: a campaign id (ecomd), or "static" for nginx's file with the same headers.
  -- args[4]: "keyed" adds an Idempotency-Key (unique per request) to every issue.
  local line = args[2] == "static" and "GET /c.json" or ("POST /coupons/fcfs/" .. args[2] .. "/issue")
  head = line .. " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nAuthorization: Bearer "
  keyed = args[4] == "keyed"
  offset = tonumber(args[3]); step = 2; i = id - 1
end
function request()
  i = i + step
  if keyed then
    return head .. tokens[offset + i] .. "\r\nIdempotency-Key: k" .. (offset + i) .. "\r\n\r\n"
  end
  return head .. tokens[offset + i] .. "\r\n\r\n"
end
LUA

# ecomd_rows NAME CONNS OFFSET: the durable issue, the keyed issue, the sell-out. Sets e_rps.
ecomd_rows() {
  local name=$1 conns=$2 offset=$3 dir="$work/$1" port
  port=$(cat "$work/$1/port")
  local label=$name; [ "$name" = ecomd ] && label="ecomd"
  read -r e_rps e_p50 e_p99 <<<"$(wrk_run "http://127.0.0.1:$port/" "$conns" "$work/issue.lua" "$dir/tokens" "$(campaign "$name" 10000000)" "$offset")"
  row "$label issue (every request issues)" "$conns" "$e_rps" "$e_p50" "$e_p99"
  read -r k_rps k_p50 k_p99 <<<"$(wrk_run "http://127.0.0.1:$port/" "$conns" "$work/issue.lua" "$dir/tokens" "$(campaign "$name" 10000000)" "$offset" keyed)"
  row "$label issue with Idempotency-Key" "$conns" "$k_rps" "$k_p50" "$k_p99"
  read -r s_rps s_p50 s_p99 <<<"$(wrk_run "http://127.0.0.1:$port/" "$conns" "$work/issue.lua" "$dir/tokens" "$(campaign "$name" 1000)" 0)"
  row "$label issue (1,000 coupons, sells out)" "$conns" "$s_rps" "$s_p50" "$s_p99"
  eval "rps_${name}_${conns}=$e_rps keyed_${name}_${conns}=$k_rps sold_${name}_${conns}=$s_rps"
}

echo "ecomd --io-threads ${ECOMD_IO_THREADS:-2}${BASELINE_ECOMD:+, baseline $BASELINE_ECOMD}"
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
rounds="${ROUNDS:-1}"
row target conns "req/s" p50 p99
used=0
for conns in 64 256; do
  n_all=() l_all=() e_all=() k_all=() s_all=() b_all=() bk_all=() bs_all=()
  # Interleaved rounds: the VM's speed drifts by tens of percent within minutes, so every
  # ratio below is of medians over rounds that ran side by side.
  for round in $(seq "$rounds"); do
    read -r n_rps n_p50 n_p99 <<<"$(wrk_run "http://127.0.0.1:$nginx_port/c.json" "$conns")"
    row "nginx static 100 B" "$conns" "$n_rps" "$n_p50" "$n_p99"
    # The same wrk + Lua client as ecomd gets (a token per request): the client's own CPU is
    # then the same on both sides of the ratio.
    read -r l_rps l_p50 l_p99 <<<"$(wrk_run "http://127.0.0.1:$nginx_port/" "$conns" "$work/issue.lua" "$work/ecomd/tokens" static 0)"
    row "nginx static 100 B, issue's Lua client" "$conns" "$l_rps" "$l_p50" "$l_p99"
    n_all+=("$n_rps") l_all+=("$l_rps")
    for name in $names; do ecomd_rows "$name" "$conns" "$used"; done
    e_all+=("$(eval echo "\$rps_ecomd_$conns")") k_all+=("$(eval echo "\$keyed_ecomd_$conns")")
    s_all+=("$(eval echo "\$sold_ecomd_$conns")")
    if [ -n "${BASELINE_ECOMD:-}" ]; then
      b_all+=("$(eval echo "\$rps_baseline_$conns")") bk_all+=("$(eval echo "\$keyed_baseline_$conns")")
      bs_all+=("$(eval echo "\$sold_baseline_$conns")")
    fi
  done
  used=$((used + users_per_run))
  r_out=$(redis-benchmark -h 127.0.0.1 -p "$redis_port" -c "$conns" -n $((30000 * duration)) -r 2000000000 --threads 2 \
    EVALSHA "$sha" 2 fcfs:remaining fcfs:issued __rand_int__ 2>/dev/null)
  r_rps=$(echo "$r_out" | awk '/throughput summary/ {print $3}' | tail -1)
  r_lat=$(echo "$r_out" | awk '/avg/ {getline; print $3 "ms " $5 "ms"}' | tail -1)
  row "redis Lua, appendfsync always" "$conns" "$r_rps" ${r_lat:-"? ?"}
  p_out=$(su postgres -s /bin/sh -c "pgbench -h 127.0.0.1 -p $pg_port -U postgres -n -M prepared -c $conns -j 2 -T $duration -r -f $work/issue.sql postgres" 2>&1 || true)
  p_tps=$(echo "$p_out" | awk '/^tps/ {print $3}')
  p_lat=$(echo "$p_out" | awk '/latency average/ {print $4 "ms"}')
  row "postgresql FOR UPDATE, sync commit" "$conns" "$p_tps" "avg $p_lat" "-"
  n=$(median "${n_all[@]}") l=$(median "${l_all[@]}") e=$(median "${e_all[@]}") k=$(median "${k_all[@]}")
  awk -v e="$e" -v k="$k" -v n="$n" -v l="$l" -v r="$r_rps" -v p="$p_tps" -v c="$conns" -v R="$rounds" 'BEGIN {
    printf "  ratios at %s conns (medians of %s rounds): ecomd/nginx %.2f (same client %.2f), keyed %.2f (same client %.2f)  ecomd/redis %.2f  ecomd/postgresql %.1f\n", c, R, e/n, (l>0?e/l:0), k/n, (l>0?k/l:0), (r>0?e/r:0), (p>0?e/p:0) }'
  if [ -n "${BASELINE_ECOMD:-}" ]; then
    b=$(median "${b_all[@]}") bk=$(median "${bk_all[@]}") bs=$(median "${bs_all[@]}") s=$(median "${s_all[@]}")
    awk -v e="$e" -v b="$b" -v k="$k" -v bk="$bk" -v s="$s" -v bs="$bs" -v c="$conns" 'BEGIN {
      printf "  this build / baseline at %s conns: issue %.2f, keyed issue %.2f, sell-out %.2f\n", c, e/b, k/bk, s/bs }'
  fi
done

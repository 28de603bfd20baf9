#!/usr/bin/env bash
# Snapshot benchmarks (issue: snapshots), one run on loopback with private data dirs:
#   1. a state of USERS users (default 1,000,000; 40 % of them with a first-come coupon, 10 %
#      with an order from `ecom-load mixed`);
#   2. restart by WAL replay alone: seconds to /readyz 200, and the replay rate;
#   3. POST /admin/snapshot on it: duration, bytes, the server's RSS before, at most during
#      (sampled every 20 ms) and after;
#   4. restart from that snapshot: seconds to ready, and the ratio to 2;
#   5. ecom-snapshot verify on the stopped dir: records/s;
#   6. ecom-load fcfs (64 connections) with a snapshot every second vs none, ROUNDS interleaved
#      rounds on fresh servers: requests/s and p99, and their ratios.
# Usage: [USERS=1000000] [MIXED_S=20] [FCFS_USERS=200000] [ROUNDS=2] [STATE_COPY=dir]
#        tools/bench_snapshot.sh
# STATE_COPY keeps a copy of the built state (WAL only) in dir, and a later run with the same
# STATE_COPY starts from that copy instead of building it again. ONLY_FCFS=1 runs step 6 only.
set -euo pipefail
cd "$(dirname "$0")/.."
users=${USERS:-1000000}
fcfs_users=${FCFS_USERS:-200000}
rounds=${ROUNDS:-2}
bin=build/bin
[ -x $bin/ecomd ] && [ -x $bin/ecom-load ] && [ -x $bin/ecom-snapshot ] ||
  cmake --build build -j2 --target ecomd ecom-load ecom-snapshot
work=$(mktemp -d /tmp/ecomd-snapshot-bench.XXXXXX)
port=18531
token=bench-admin-token
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
url=http://127.0.0.1:$port

now() { date +%s.%N; }
# Starts ecomd on a dir; sets pid, and ready_s to the seconds from exec to /readyz 200.
start() {
  local dir=$1; shift
  local t0; t0=$(now)
  $bin/ecomd --data-dir "$dir" --port $port --admin-token $token --log-level info "$@" \
    >>"$work/ecomd.log" 2>&1 &
  pid=$!
  until curl -sf $url/readyz >/dev/null 2>&1; do sleep 0.005; done
  ready_s=$(echo "$(now) - $t0" | bc -l | xargs printf "%.3f")
}
stop_hard() { kill -9 "$pid"; wait "$pid" 2>/dev/null || true; pid=; }
stop_clean() { kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=; }
# kill -9, start again on dir; prints the seconds to ready and what recovery logged.
restart_hard() {
  stop_hard
  start "$1" --snapshot-every-records 0
  local line; line=$(grep 'recovery:' "$work/ecomd.log" | tail -1)
  echo "ready in $ready_s s: ${line#*recovery: }"
}
admin() { curl -sf -H "Authorization: Bearer $token" "$@"; }
bulk_users() {  # count: accounts made by POST /admin/users/bulk, 100k at a time
  local left=$1 n
  while [ "$left" -gt 0 ]; do
    n=$((left > 100000 ? 100000 : left))
    admin -X POST -H 'content-type: application/json' -d "{\"count\":$n,\"name_prefix\":\"bench\"}" \
      $url/admin/users/bulk >/dev/null
    left=$((left - n))
  done
}
# Seconds a fresh process takes to touch as many bytes as the running server holds (huge pages
# asked for, as ecomd's jemalloc does): the kernel zeroes every page on first touch, which any
# restart of that state pays before doing any work. Slow on this VM (docs/performance.md).
first_touch() {
  [ -x "$work/first-touch" ] || cc -O2 -x c -o "$work/first-touch" - <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
int main(int argc, char** argv) {
  size_t n = (size_t)atol(argv[1]) << 20;
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  char* p = mmap(0, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return 1;
  madvise(p, n, MADV_HUGEPAGE);
  for (size_t i = 0; i < n; i += 4096) p[i] = 1;
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%.3f\n", (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
  return argc > 2;
}
EOF
  "$work/first-touch" $(( $(rss_kb) / 1024 ))
}
stat() { admin $url/admin/stats | python3 -c "import json,sys; d=json.load(sys.stdin); s=d['shards']; print(sum(x['$1'] for x in s))"; }
rss_kb() { awk '/VmRSS/ {print $2}' /proc/"$pid"/status; }

state=$work/state
if [ "${ONLY_FCFS:-0}" != 1 ]; then  # steps 1 to 5
if [ -n "${STATE_COPY:-}" ] && [ -d "$STATE_COPY" ]; then
  echo "== the state from $STATE_COPY"
  cp -r "$STATE_COPY" "$state"
  start "$state" --snapshot-every-records 0
else
echo "== building the state ($users users)"
start "$state" --snapshot-every-records 0
coupons=$((users * 4 / 10))
orders_users=$((users / 10))
$bin/ecom-load fcfs --url $url --admin-token $token --users $coupons --quantity $coupons \
  --connections 64 --duration 600 --no-progress --json >"$work/fill-fcfs.json"
# Sessions repeat until --duration: 20 s make about 100k orders here.
$bin/ecom-load mixed --url $url --admin-token $token --users $orders_users --connections 64 \
  --popular-share 0 --duration "${MIXED_S:-20}" --no-progress --json >"$work/fill-mixed.json" || true
bulk_users $((users - coupons - orders_users))
if [ -n "${STATE_COPY:-}" ]; then
  stop_clean
  cp -r "$state" "$STATE_COPY"
  start "$state" --snapshot-every-records 0
fi
fi
echo "users $(stat users), user coupons $(stat user_coupons), orders $(stat orders), WAL lsn $(admin $url/admin/stats | python3 -c "import json,sys; print(json.load(sys.stdin)['wal']['appended_lsn'])")"

stop_clean
cp -r "$state" "$work/wal-only"  # for verify's full replay below
start "$state" --snapshot-every-records 0

echo "== restart by WAL replay alone"
restart_hard "$state"
wal_ready=$ready_s

echo "== POST /admin/snapshot"
rss_before=$(rss_kb)
echo "$rss_before" >"$work/rss_max"
touch "$work/sampling"
( max=0; while [ -e "$work/sampling" ]; do r=$(rss_kb 2>/dev/null || echo 0); [ "$r" -gt "$max" ] && max=$r && echo $max >"$work/rss_max"; sleep 0.02; done ) &
sampler=$!
snapshot=$(admin -X POST $url/admin/snapshot)
rm -f "$work/sampling"; wait $sampler 2>/dev/null || true
sleep 0.5
rss_after=$(rss_kb)
echo "$snapshot"
echo "RSS before $((rss_before / 1024)) MiB, at most $(( $(cat "$work/rss_max") / 1024 )) MiB during, $((rss_after / 1024)) MiB after"

echo "== restart from the snapshot"
restart_hard "$state"
snap_ready=$ready_s
echo "restart: WAL replay $wal_ready s, from snapshot $snap_ready s: $(echo "$wal_ready / $snap_ready" | bc -l | xargs printf '%.1f')x faster"
echo "first touch of the server's RSS by a fresh process (the floor of any restart here): $(first_touch) s"
stop_clean

echo "== ecom-snapshot verify"
verify_line() {
  python3 -c "import json,sys; d=json.load(sys.stdin); print('ok', d['ok'], 'records replayed', d['records_replayed'], 'in', d['seconds'], 's:', d['records_per_s'], 'records/s', '(snapshot + tail and a full replay)' if d['compared_with_full_replay'] else '')"
}
echo "snapshot + tail: $($bin/ecom-snapshot verify "$state" --json | verify_line)"
echo "WAL only (a full replay): $($bin/ecom-snapshot verify "$work/wal-only" --json | verify_line)"
rm -rf "$state" "$work/wal-only"

echo "== $users users alone (bulk accounts, nothing else)"
alone=$work/alone
start "$alone" --snapshot-every-records 0
bulk_users "$users"
restart_hard "$alone" >/dev/null
alone_wal=$ready_s
admin -X POST $url/admin/snapshot >/dev/null
restart_hard "$alone" >/dev/null
alone_snap=$ready_s
echo "restart: WAL replay $alone_wal s, from snapshot $alone_snap s: $(echo "$alone_wal / $alone_snap" | bc -l | xargs printf '%.1f')x faster; first touch of the server's RSS: $(first_touch) s"
stop_clean
rm -rf "$alone"
fi

[ "${SKIP_FCFS:-0}" = 1 ] && exit 0
echo "== ecom-load fcfs, 64 connections, $fcfs_users users: a snapshot every second vs none"
fcfs() {  # label extra-args... -> "rps p99_ms snapshots"
  local label=$1; shift
  local dir=$work/fcfs-$label
  start "$dir" "$@"
  local out
  out=$($bin/ecom-load fcfs --url $url --admin-token $token --users "$fcfs_users" \
        --quantity "$fcfs_users" --connections 64 --duration 300 --no-progress --json)
  local taken; taken=$(grep -c 'committed' "$work/ecomd.log" || true)
  stop_clean
  rm -rf "$dir"
  echo "$out" | python3 -c "import json,sys; d=json.load(sys.stdin); assert d['invariants']['pass']; print(round(d['requests_per_s']), round(d['latency_us']['p99']/1000, 1))" | tr '\n' ' '
  echo "$taken"
}
printf "%-22s %10s %9s %10s\n" run requests/s p99_ms snapshots
for r in $(seq 1 "$rounds"); do
  : >"$work/ecomd.log"
  fcfs none --snapshot-every-records 0 >"$work/row"
  read -r none_rps none_p99 _ <"$work/row"
  : >"$work/ecomd.log"
  fcfs every-1s --snapshot-every-records 0 --snapshot-every-s 1 >"$work/row"
  read -r snap_rps snap_p99 snap_taken <"$work/row"
  printf "%-22s %10s %9s %10s\n" "round $r: none" "$none_rps" "$none_p99" 0
  printf "%-22s %10s %9s %10s\n" "round $r: every 1 s" "$snap_rps" "$snap_p99" "$snap_taken"
  echo "round $r ratios: throughput $(echo "$snap_rps / $none_rps" | bc -l | xargs printf '%.2f')x, p99 $(echo "$snap_p99 / $none_p99" | bc -l | xargs printf '%.2f')x"
done

#!/usr/bin/env bash
# HTTP read benchmark (issue: catalog). Measures, in one run and with the same wrk settings:
#   - nginx serving a ~100-byte static JSON file (the HTTP ceiling of this box),
#   - ecomd GET /products/{id} and GET /products?limit=20 (seeded demo catalog),
# at 64 and 256 connections, and prints requests/s, p50/p99 latency and ecomd/nginx ratios.
# Installs nginx and wrk from Debian when missing (as root). Loopback only; bounded in time.
# Usage: tools/bench_http.sh [seconds-per-run (default 10)]
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-10}"
for tool in nginx wrk; do
  if ! command -v "$tool" >/dev/null; then
    [ "$(id -u)" -eq 0 ] || { echo "bench: install $tool first (apt-get install $tool)" >&2; exit 1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$tool" >/dev/null
  fi
done
[ -x build/bin/ecomd ] || cmake --build build -j2 --target ecomd

work=$(mktemp -d /tmp/ecomd-bench.XXXXXX)
nginx_port=18490
cleanup() {
  [ -n "${ecomd_pid:-}" ] && kill "$ecomd_pid" 2>/dev/null || true
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  sleep 0.3
  rm -rf "$work"
}
trap cleanup EXIT

# nginx with a private config, on loopback.
mkdir -p "$work/www" "$work/nginx-tmp"
printf '{"id":1,"name":"Basic Cotton T-shirt","base_price":19000,"in_stock":true,"note":"static"}\n' > "$work/www/product.json"
cat > "$work/nginx.conf" <<NGINX
worker_processes 2;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $work/nginx-tmp;
  proxy_temp_path $work/nginx-tmp;
  fastcgi_temp_path $work/nginx-tmp;
  uwsgi_temp_path $work/nginx-tmp;
  scgi_temp_path $work/nginx-tmp;
  server {
    listen 127.0.0.1:$nginx_port;
    location / { root $work/www; default_type application/json; }
  }
}
NGINX
nginx -c "$work/nginx.conf" -p "$work"

# ecomd with the demo catalog, default durability, quiet log.
build/bin/ecomd --port 0 --data-dir "$work/data" --seed-demo --log-level warn --io-threads 2 --admin-token bench \
  > "$work/ecomd.out" 2> "$work/ecomd.err" &
ecomd_pid=$!
for _ in $(seq 100); do grep -q listening "$work/ecomd.out" 2>/dev/null && break; sleep 0.1; done
port=$(grep -o '[0-9]*$' "$work/ecomd.out")
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
# 200 more products with options, so a list page is full (20 items) and merges both shards.
for i in $(seq 200); do
  curl -s -o /dev/null -X POST "http://127.0.0.1:$port/admin/products" -H 'Authorization: Bearer bench' \
    -H 'Content-Type: application/json' \
    -d "{\"name\":\"Bench product $i\",\"base_price\":$((1000 + i)),\"images\":[{\"url\":\"https://img.ecomd.dev/b/$i.jpg\",\"is_main\":true}],\"options\":[{\"name\":\"size\",\"values\":[\"S\",\"M\",\"L\"]}],\"combinations\":[{\"options\":{\"size\":\"S\"},\"stock\":5},{\"options\":{\"size\":\"M\"},\"stock\":0},{\"options\":{\"size\":\"L\"},\"additional_price\":500,\"stock\":9}]}"
done
product_id=$(curl -s "http://127.0.0.1:$port/products?limit=1" | sed -E 's/.*"id":([0-9]+).*/\1/')

run() {  # label url connections -> "rps p50_ms p99_ms"
  local out
  out=$(wrk -t2 -c"$3" -d"${duration}s" --latency "$2")
  local rps p50 p99
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  echo "$rps $p50 $p99"
}

printf "%-34s %6s %12s %10s %10s %8s\n" target conns "req/s" p50 p99 "x nginx"
for conns in 64 256; do
  read -r n_rps n_p50 n_p99 <<<"$(run nginx "http://127.0.0.1:$nginx_port/product.json" "$conns")"
  printf "%-34s %6s %12s %10s %10s %8s\n" "nginx static 100 B" "$conns" "$n_rps" "$n_p50" "$n_p99" "1.00"
  for target in "/products/$product_id" "/products?limit=20"; do
    read -r rps p50 p99 <<<"$(run ecomd "http://127.0.0.1:$port$target" "$conns")"
    ratio=$(awk -v a="$rps" -v b="$n_rps" 'BEGIN {printf "%.2f", a/b}')
    printf "%-34s %6s %12s %10s %10s %8s\n" "ecomd GET $target" "$conns" "$rps" "$p50" "$p99" "$ratio"
  done
done

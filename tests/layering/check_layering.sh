#!/usr/bin/env bash
# The folder rules (see each folder's README), checked on every test run:
#   engine/       standard library only: no Boost, simdjson, OpenSSL, LMDB; nothing from net/,
#                 persistence/ or tools/
#   persistence/  engine/ types and system libraries; nothing from net/
#   tools/ecom_snapshot/  engine/ and persistence/ only: nothing from net/
#   net/          reaches the engine only through its public headers (the gateway, replies,
#                 commands, values, limits); only main.cc, which wires the process, constructs
#                 the shard set; no lock coordinates anything (http_server, log, main's
#                 signal hand-off and the password-hash threads' own queue are the only mutexes)
# Prints every breach and exits 1 if there is one.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 2
status=0
breach() { echo "layering: $*"; status=1; }

for f in engine/*.h engine/*.cc; do
  grep -nE '#include <(boost|simdjson|openssl|lmdb)' "$f" | sed "s|^|$f:|" | while read -r line; do
    echo "layering: engine/ is std-only: $line"; done
  grep -nE '#include "(net|persistence|tools)/' "$f" | sed "s|^|$f:|" | while read -r line; do
    echo "layering: engine/ includes nothing outside engine/: $line"; done
done
if grep -lE '#include <(boost|simdjson|openssl|lmdb)|#include "(net|persistence|tools)/' \
     engine/*.h engine/*.cc >/dev/null 2>&1; then status=1; fi

if grep -nE '#include "(net|tools)/' persistence/*.h persistence/*.cc; then
  breach "persistence/ includes nothing from net/ or tools/ (lines above)"
fi

# The engine headers net/ may include: the door and the values that pass through it.
public='engine/(gateway|reply|errc|limits|types|idempotency_key|product_rules|sharding|[a-z]+_commands|[a-z]+_types)\.h'
for f in net/*.h net/*.cc; do
  while IFS= read -r line; do
    header=$(echo "$line" | sed -E 's/.*#include "([^"]+)".*/\1/')
    if ! echo "$header" | grep -qE "^$public\$"; then
      if [ "$(basename "$f")" = main.cc ] && [ "$header" = engine/shard_set.h ]; then continue; fi
      breach "$f includes $header: net/ reaches the engine through engine/gateway.h only"
    fi
  done < <(grep -E '#include "engine/' "$f")
done

# ecom-snapshot links engine/ and persistence/ only (OPERATIONS.md: it must not need net/).
if grep -nE '#include "net/' tools/ecom_snapshot/*.h tools/ecom_snapshot/*.cc; then
  breach "tools/ecom_snapshot includes nothing from net/ (lines above)"
fi
if grep -nE 'ecom_net|ecom_http' tools/ecom_snapshot/CMakeLists.txt; then
  breach "ecom-snapshot links no net/ library (lines above)"
fi

locks=$(grep -lE 'std::(mutex|lock_guard|unique_lock|scoped_lock|shared_mutex)' net/*.cc net/*.h \
        | grep -vE 'net/((http_server|log|main)\.cc|password_hash_queue\.(h|cc))$')
[ -z "$locks" ] || breach "no lock coordinates anything in net/: $locks"

[ $status -eq 0 ] && echo "layering: ok"
exit $status

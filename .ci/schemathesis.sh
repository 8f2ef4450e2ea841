#!/usr/bin/env bash
# Fuzzes the live server against its own OpenAPI document with schemathesis (PyPI): no answer
# may be a 5xx, and every answer must match the documented schema. Bounded to ~2 minutes.
# Reproduce a failure with SCHEMATHESIS_SEED=<seed printed below> bash .ci/schemathesis.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="$PWD/target/schemathesis-venv"
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis>=4.32,<5"
fi
"$venv/bin/schemathesis" --version

cargo build --quiet --bin emporium
data_dir=$(mktemp -d)
log="$data_dir/server.log"
token="adm_ci_$RANDOM$RANDOM"
EMPORIUM_ADMIN_TOKEN="$token" EMPORIUM_LOG="warn,emporium=info,emporium::access=warn" \
  target/debug/emporium --addr 127.0.0.1:0 --data-dir "$data_dir/db" --demo >"$log" 2>&1 &
server=$!
cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  rm -rf "$data_dir"
}
trap cleanup EXIT

base=""
for _ in $(seq 1 300); do
  base=$(grep -o 'listening on http://[0-9.:]*' "$log" | head -1 | sed 's/listening on //' || true)
  if [ -n "$base" ] && curl -fsS "$base/readyz" >/dev/null 2>&1; then
    break
  fi
  kill -0 "$server" 2>/dev/null || { cat "$log"; echo "server exited"; exit 1; }
  sleep 0.1
done
curl -fsS "$base/readyz" >/dev/null || { cat "$log"; echo "server never became ready"; exit 1; }

seed=${SCHEMATHESIS_SEED:-$RANDOM}
echo "schemathesis against $base (seed $seed)"
status=0
# Run from the temp dir: schemathesis and hypothesis keep caches in the working directory.
(cd "$data_dir" && timeout 300 "$venv/bin/schemathesis" run "$base/api/v1/openapi.json" \
  --url "$base" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,response_schema_conformance,content_type_conformance \
  --max-time 120 \
  --workers 2 \
  --seed "$seed" \
  --generation-database none \
  --no-color) || status=$?
if ! curl -fsS "$base/healthz" >/dev/null; then
  echo "the server died during the run"
  status=1
fi
if [ "$status" -ne 0 ]; then
  echo "== server log (tail)"
  tail -50 "$log"
fi
exit "$status"

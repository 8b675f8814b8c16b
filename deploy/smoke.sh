#!/usr/bin/env bash
# The deployment of deploy/compose.yaml without a container engine: build the wheel, install it
# in a fresh virtual environment, and start the same processes against PostgreSQL — migrations,
# two API processes (CALLPLANE_EMBEDDED_WORKER=false) and two workers — then place a call
# through one API, watch it end through the other, stop everything with SIGTERM and check that
# every process exited 0. CI runs it (tests/test_deploy.py).
#
#   deploy/smoke.sh                     # PostgreSQL at CALLPLANE_TEST_POSTGRES_URL (or local)
#   SMOKE_FULL_INSTALL=1 deploy/smoke.sh  # install the wheel's dependencies from the index too
#
# By default the fresh environment installs only the wheel and borrows its (pinned)
# dependencies from the project's .venv through a .pth line, so it runs offline; the code and
# the `callplane` command that run are the wheel's (checked below).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PROJECT_PYTHON=${PROJECT_PYTHON:-$ROOT/.venv/bin/python}
ADMIN_URL=${CALLPLANE_TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
WORK=$(mktemp -d)
DB="callplane_smoke_$$"
PIDS=()

say() { printf 'smoke: %s\n' "$*" >&2; }

psql_admin() {
  "$PROJECT_PYTHON" - "$ADMIN_URL" "$1" <<'PY'
import sys, psycopg
with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    conn.execute(sys.argv[2])
PY
}

cleanup() {
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  psql_admin "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true
  rm -rf "$WORK"
}
trap cleanup EXIT

say "building the wheel"
# Without build isolation: the build backend (hatchling) comes from the test extra, no download.
"$PROJECT_PYTHON" -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir "$WORK/dist" . >&2
WHEEL=$(ls "$WORK"/dist/callplane-*.whl)
say "installing $(basename "$WHEEL") in a fresh environment"
"$PROJECT_PYTHON" -m venv "$WORK/venv"
if [ "${SMOKE_FULL_INSTALL:-}" = 1 ]; then
  "$WORK/venv/bin/pip" install --quiet "$WHEEL" >&2
else
  "$WORK/venv/bin/pip" install --quiet --no-deps "$WHEEL" >&2
  deps=$("$PROJECT_PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  here=$("$WORK/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "$deps" > "$here/_smoke_dependencies.pth"
fi
CALLPLANE="$WORK/venv/bin/callplane"
installed=$("$WORK/venv/bin/python" -c 'import callplane; print(callplane.__file__)')
case "$installed" in
  "$WORK"/venv/*) ;;
  *) say "callplane imported from $installed, not from the wheel"; exit 1 ;;
esac
"$CALLPLANE" --version >&2

psql_admin "CREATE DATABASE $DB ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8' TEMPLATE template0"
export CALLPLANE_DATABASE_URL
CALLPLANE_DATABASE_URL=$("$PROJECT_PYTHON" -c 'import sys
from sqlalchemy.engine import make_url
print(make_url(sys.argv[1]).set(database=sys.argv[2]).render_as_string(hide_password=False))' "$ADMIN_URL" "$DB")
export CALLPLANE_LOG_FORMAT=json CALLPLANE_SIMULATOR_SPEED=20
export CALLPLANE_BOOTSTRAP_API_KEY=cp_smoke_0123456789abcdef0123456789
export CALLPLANE_RATE_LIMIT_PER_KEY=1000/second CALLPLANE_RATE_LIMIT_PER_ORGANIZATION=1000/second

say "migrations"
"$CALLPLANE" db upgrade >&2

free_port() { "$PROJECT_PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

start() {  # name, then the command's arguments
  local name=$1; shift
  "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  echo $! >"$WORK/$name.pid"
}

wait_ready() {
  for _ in $(seq 1 120); do
    if "$PROJECT_PYTHON" -c 'import sys, urllib.request
urllib.request.urlopen(sys.argv[1] + "/readyz", timeout=2)' "$1" 2>/dev/null; then return 0; fi
    sleep 0.5
  done
  say "$1 never became ready"; return 1
}

PORT1=$(free_port); PORT2=$(free_port)
say "API 1 on $PORT1 (creates the demo organisation on the empty database)"
CALLPLANE_EMBEDDED_WORKER=false CALLPLANE_PORT=$PORT1 start api-1 "$CALLPLANE" serve
wait_ready "http://127.0.0.1:$PORT1"
say "API 2 on $PORT2, two workers"
CALLPLANE_EMBEDDED_WORKER=false CALLPLANE_PORT=$PORT2 start api-2 "$CALLPLANE" serve
start worker-1 "$CALLPLANE" worker
start worker-2 "$CALLPLANE" worker
wait_ready "http://127.0.0.1:$PORT2"

say "a call through API 2, followed through API 1"
"$PROJECT_PYTHON" - "http://127.0.0.1:$PORT2" "http://127.0.0.1:$PORT1" "$CALLPLANE_BOOTSTRAP_API_KEY" <<'PY'
import json, sys, time, urllib.request

create, read, key = sys.argv[1:]
headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
body = {
    "from_number": "07011112222",
    "to_number": "01012345678",
    "agent": {"agent_id": "7f3e9c12-4a8b-4d5e-9f1a-2b3c4d5e6f7a", "agent_version": "current"},
    "dynamic_variables": {"customer_name": "홍길동", "appointment_at": "2026-05-10 14:00"},
}
request = urllib.request.Request(f"{create}/v3/calls", json.dumps(body).encode(), headers, method="POST")
with urllib.request.urlopen(request, timeout=10) as response:
    assert response.status == 201, response.status
    call_id = json.load(response)["id"]
deadline = time.monotonic() + 180
while True:
    with urllib.request.urlopen(urllib.request.Request(f"{read}/v3/calls/{call_id}", headers=headers)) as r:
        call = json.load(r)
    if call["status"] not in ("queued", "ongoing"):
        break
    assert time.monotonic() < deadline, f"call {call_id} still {call['status']} after 180 s"
    time.sleep(0.5)
assert call["status"] == "ended" and call["disconnection_reason"] == "agent_hangup", call
assert any("홍길동" in (e.get("content") or "") for e in call["transcript"]), call["transcript"]
print(f"smoke: call {call_id} ended: {call['disconnection_reason']}, {len(call['transcript'])} entries",
      file=sys.stderr)
PY

say "SIGTERM to every process; each must exit 0"
status=0
for name in api-1 api-2 worker-1 worker-2; do
  pid=$(cat "$WORK/$name.pid")
  kill -TERM "$pid"
done
for name in api-1 api-2 worker-1 worker-2; do
  pid=$(cat "$WORK/$name.pid")
  if wait "$pid"; then say "$name exited 0"; else
    code=$?; status=1; say "$name exited $code"; tail -20 "$WORK/$name.log" >&2
  fi
done
grep -h '"call_id"' "$WORK"/worker-*.log | head -1 >/dev/null || { say "no worker logged the call"; status=1; }
exit $status

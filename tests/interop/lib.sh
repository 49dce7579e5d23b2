# Shared by the interop tests: start samsa-server on a free loopback port, stop it.
#   source lib.sh; need kcat; start_server "$dir" [flags...]; ...; stop_server
# start_server sets SERVER_PID and PORT (the server binds port 0 and prints the port).
set -euo pipefail

SERVER_BIN=${SERVER_BIN:?set SERVER_BIN to the samsa-server binary}
SERVER_PID=
SKIP=77  # ctest's SKIP_RETURN_CODE for these tests

# need TOOL...: skip the test (exit 77) when a tool is missing; scripts/install-deps --test
# installs them.
need() {
  for tool in "$@"; do
    if ! command -v "$tool" >/dev/null; then
      echo "SKIP: $tool is missing (scripts/install-deps --test installs it)"
      exit $SKIP
    fi
  done
}

start_server() {
  local dir=$1
  shift
  SERVER_LOG=$dir.log
  : >"$SERVER_LOG"  # exists before the background redirection opens it: the loop reads it
  "$SERVER_BIN" --data-dir "$dir" --listen 127.0.0.1:0 "$@" >"$SERVER_LOG" 2>&1 &
  SERVER_PID=$!
  # Up to 60 s: under ASan, a restart after kill -9 recovers every partition, the 50 of
  # __consumer_offsets too (an ASan CI run once took more than the 10 s this was).
  for _ in $(seq 1 600); do
    PORT=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$SERVER_LOG")
    if [[ -n $PORT ]]; then
      BROKER=127.0.0.1:$PORT
      METRICS_PORT=$(sed -n 's/.*metrics on 127.0.0.1:\([0-9]*\).*/\1/p' "$SERVER_LOG")
      return 0
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "FAIL: samsa-server did not start:"
  cat "$SERVER_LOG"
  exit 1
}

# Clean shutdown (SIGTERM): the server must exit 0 having closed every partition.
stop_server() {
  kill -TERM "$SERVER_PID"
  local rc=0
  wait "$SERVER_PID" || rc=$?
  if ((rc != 0)) || ! grep -q "every partition closed" "$SERVER_LOG"; then
    echo "FAIL: samsa-server exited $rc on SIGTERM:"
    cat "$SERVER_LOG"
    exit 1
  fi
}

# wait_for SECONDS DESCRIPTION COMMAND...: runs COMMAND every 0.1 s until it succeeds; past
# SECONDS the test fails, printing the tails of the files the glob WAIT_LOGS names (default
# $work/*.err).
wait_for() {
  local seconds=$1 what=$2 f
  shift 2
  for _ in $(seq 1 $((seconds * 10))); do
    if "$@"; then return 0; fi
    sleep 0.1
  done
  echo "FAIL: $what within ${seconds}s"
  # shellcheck disable=SC2086  # the glob is meant to expand
  for f in ${WAIT_LOGS:-$work/*.err}; do echo "--- $f"; tail -20 "$f"; done
  exit 1
}

kill9_server() {
  kill -KILL "$SERVER_PID"
  wait "$SERVER_PID" || true
}

# expect_same NAME EXPECTED_FILE ACTUAL_FILE
expect_same() {
  if ! diff -u "$2" "$3" >"$2.diff"; then
    echo "FAIL: $1 differs (expected vs got):"
    head -n 40 "$2.diff"
    exit 1
  fi
  echo "ok: $1 ($(wc -l <"$3") lines)"
}

# metrics: the Prometheus text of the server started with --metrics 127.0.0.1:0.
metrics() {  # metrics [PATH]: GET PATH (default /metrics) from the metrics endpoint
  exec 3<>"/dev/tcp/127.0.0.1/$METRICS_PORT"
  printf 'GET %s HTTP/1.0\r\n\r\n' "${1:-/metrics}" >&3
  cat <&3
  exec 3<&-
}

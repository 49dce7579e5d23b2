#!/usr/bin/env bash
# kill -9 of the server while an acks=all producer is writing: after a restart, every
# message the producer had an acknowledgement for is there, at the offset it was given.
source "$(dirname "$0")/lib.sh"
PYTHON=/usr/bin/python3
[[ -x $PYTHON ]] && $PYTHON -c 'import confluent_kafka' 2>/dev/null ||
  { echo "SKIP: python3-confluent-kafka is missing (scripts/install-deps --test)"; exit $SKIP; }
work=$(mktemp -d)
producer=
trap 'kill -9 $SERVER_PID $producer 2>/dev/null || true; rm -rf "$work"' EXIT
start_server "$work/data" --default-partitions 3 --offsets-topic-partitions 3
check=$(dirname "$0")/confluent_kafka_check.py

$PYTHON "$check" produce-until-killed "$BROKER" crash "$work/acked" &
producer=$!
for _ in $(seq 1 100); do  # until a few thousand acknowledgements
  [[ -f $work/acked ]] && (($(wc -l <"$work/acked") > 3000)) && break
  sleep 0.1
done
kill9_server
wait $producer || true
acked=$(wc -l <"$work/acked")
((acked > 0)) || { echo "FAIL: nothing was acknowledged before the kill"; exit 1; }
echo "ok: killed the server with -9 after $acked acknowledgements"

start_server "$work/data" --default-partitions 3 --offsets-topic-partitions 3
$PYTHON "$check" consume "$BROKER" crash 3 "$work/consumed"
# Every acknowledged (partition, offset, key, value) is among the consumed.
sort "$work/acked" >"$work/want"
sort "$work/consumed" >"$work/got"
missing=$(comm -23 "$work/want" "$work/got" | wc -l)
if ((missing > 0)); then
  echo "FAIL: $missing acknowledged messages lost, e.g.:"
  comm -23 "$work/want" "$work/got" | head -5
  exit 1
fi
echo "ok: all $acked acknowledged messages survived kill -9 ($(wc -l <"$work/got") stored)"
stop_server
echo "PASS"

#!/usr/bin/env bash
# confluent-kafka (Python): an idempotent producer writes keyed messages to a 6-partition
# topic; a consumer using assign() reads them back: exact content, per-partition order
# (offsets as acknowledged), and each batch stored with its producer id.
source "$(dirname "$0")/lib.sh"
PYTHON=/usr/bin/python3  # Debian's, where python3-confluent-kafka lives
[[ -x $PYTHON ]] && $PYTHON -c 'import confluent_kafka' 2>/dev/null ||
  { echo "SKIP: python3-confluent-kafka is missing (scripts/install-deps --test)"; exit $SKIP; }
work=$(mktemp -d)
trap 'kill -9 $SERVER_PID 2>/dev/null || true; rm -rf "$work"' EXIT
start_server "$work/data" --default-partitions 6
check=$(dirname "$0")/confluent_kafka_check.py

$PYTHON "$check" produce "$BROKER" py-idem 5000 "$work/acked"
$PYTHON "$check" consume "$BROKER" py-idem 6 "$work/consumed"
sort -n -k1,1 -k2,2 "$work/acked" >"$work/want"
sort -n -k1,1 -k2,2 "$work/consumed" >"$work/got"
expect_same "consumed = acknowledged (partition, offset, key, value)" "$work/want" "$work/got"
# Per partition, offsets run 0, 1, 2, ... and the order of each key is the produce order.
awk '{ if ($2 != next_offset[$1]++) { print "FAIL: offset gap: " $0; exit 1 } }' "$work/got"
for p in 0 1 2 3 4 5; do
  awk -v p=$p '$1 == p { split($4, v, "-"); n = v[2] + 0
    if (($3 in last) && n <= last[$3]) { print "FAIL: order " $0; exit 1 }
    last[$3] = n }' "$work/got"
done
echo "ok: per-partition offsets contiguous, per-key order kept"
if [[ -n ${SAMSA_CLI:-} ]]; then
  for p in 0 1 2 3 4 5; do "$SAMSA_CLI" dump "$work/data/py-idem-$p"; done >"$work/dump"
  if grep -q "producer_id: -1" "$work/dump" || ! grep -q "producer_id: " "$work/dump"; then
    echo "FAIL: batches without a producer id"; exit 1
  fi
  echo "ok: every batch carries the producer id InitProducerId gave"
fi
stop_server
echo "PASS"

#!/usr/bin/env bash
# kcat (librdkafka 2.0.2) against samsa-server: keyed produce with lz4 and with zstd to a
# 4-partition topic, consume to the end (-e), and check exact content and per-partition
# order; then the same after a restart of the server.
source "$(dirname "$0")/lib.sh"
need kcat
work=$(mktemp -d)
trap 'kill -9 $SERVER_PID 2>/dev/null || true; rm -rf "$work"' EXIT
start_server "$work/data" --default-partitions 4 --metrics 127.0.0.1:0

for codec in lz4 zstd; do
  topic=kcat-$codec
  # 2000 keyed messages; kcat -K: splits key and value at the first ':'.
  for i in $(seq 1 2000); do echo "key$((i % 13)):$codec message $i $(printf '%050d' $i)"; done >"$work/in-$codec"
  kcat -b "$BROKER" -P -t "$topic" -z "$codec" -K: -X linger.ms=20 <"$work/in-$codec"
  kcat -b "$BROKER" -C -t "$topic" -e -q -f '%p\t%o\t%k\t%s\n' >"$work/out-$codec"
  # Every message exactly once; within a partition, in the order produced (a key always goes
  # to one partition, so the per-key order of the input must appear), offsets 0, 1, 2, ...
  sort -t$'\t' -k4 "$work/out-$codec" | cut -f4 | sort >"$work/got"
  sed 's/^[^:]*://' "$work/in-$codec" | sort >"$work/want"
  expect_same "$codec: content" "$work/want" "$work/got"
  for p in 0 1 2 3; do
    awk -F'\t' -v p=$p '$1 == p' "$work/out-$codec" >"$work/p"
    awk -F'\t' '{ if ($2 != NR - 1) { print "offset gap at line " NR ": " $0; exit 1 } }' "$work/p"
    for k in $(cut -f3 "$work/p" | sort -u); do
      awk -F'\t' -v k="$k" '$3 == k { print $4 }' "$work/p" >"$work/got-key"
      grep "^$k:" "$work/in-$codec" | sed 's/^[^:]*://' >"$work/want-key"
      cmp -s "$work/want-key" "$work/got-key" || { echo "FAIL: order of $k in partition $p"; exit 1; }
    done
  done
  echo "ok: $codec: per-partition order and offsets"
  # Stored as the producer compressed them (librdkafka falls back to uncompressed batches
  # silently when it thinks the broker cannot take the codec).
  if [[ -n ${SAMSA_CLI:-} ]]; then
    for p in 0 1 2 3; do "$SAMSA_CLI" dump "$work/data/$topic-$p"; done >"$work/dump"
    grep -q "codec: $codec" "$work/dump" || { echo "FAIL: no $codec batch stored"; exit 1; }
    if grep -q "codec: none" "$work/dump"; then echo "FAIL: uncompressed batches stored"; exit 1; fi
    echo "ok: $codec: batches stored $codec-compressed"
  fi
done

# Metrics: per-partition offsets add up to what was produced; requests were counted.
metrics >"$work/metrics"
leo=$(awk -F'} ' '/^samsa_partition_log_end_offset\{topic="kcat-zstd"/ { s += $2 } END { print s }' "$work/metrics")
[[ $leo == 2000 ]] || { echo "FAIL: metrics log end offsets add up to '$leo'"; cat "$work/metrics"; exit 1; }
grep -Eq '^samsa_requests_total\{api="Produce"\} [1-9]' "$work/metrics" || { echo "FAIL: no Produce count"; exit 1; }
grep -Eq '^samsa_request_latency_seconds_count\{api="Fetch"\} [1-9]' "$work/metrics" || { echo "FAIL: no Fetch latency"; exit 1; }
grep -Eq '^samsa_partition_size_bytes\{topic="kcat-lz4",partition="0"\} [1-9]' "$work/metrics" || { echo "FAIL: no size"; exit 1; }
echo "ok: metrics"

# After a clean restart the same bytes come back.
stop_server
start_server "$work/data" --default-partitions 4
kcat -b "$BROKER" -C -t kcat-lz4 -e -q -f '%p\t%o\t%k\t%s\n' | sort >"$work/after"
sort "$work/out-lz4" >"$work/before"
expect_same "lz4 after restart" "$work/before" "$work/after"
stop_server
echo "PASS"

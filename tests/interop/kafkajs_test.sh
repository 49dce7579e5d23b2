#!/usr/bin/env bash
# kafkajs 2.2.4 (npm, installed into the build tree on first use): a producer with acks -1
# writes keyed messages to a 5-partition topic; kcat reads them back: exact content, the
# offsets kafkajs was acknowledged, per-partition order.
source "$(dirname "$0")/lib.sh"
need kcat node npm
node_dir=${KAFKAJS_DIR:?set KAFKAJS_DIR to where kafkajs goes}
if [[ ! -f $node_dir/node_modules/kafkajs/package.json ]]; then
  mkdir -p "$node_dir"
  (cd "$node_dir" && npm install --no-audit --no-fund --silent kafkajs@2.2.4) ||
    { echo "FAIL: npm install kafkajs@2.2.4"; exit 1; }
fi
work=$(mktemp -d)
trap 'kill -9 $SERVER_PID 2>/dev/null || true; rm -rf "$work"' EXIT
start_server "$work/data" --default-partitions 5

NODE_PATH=$node_dir/node_modules KAFKAJS_NO_PARTITIONER_WARNING=1 \
  node "$(dirname "$0")/kafkajs_produce.js" "$BROKER" js-topic 3000 >"$work/acked"
kcat -b "$BROKER" -C -t js-topic -e -q -f '%p %o %k %s\n' >"$work/consumed"
sort "$work/acked" >"$work/want"
sort "$work/consumed" >"$work/got"
expect_same "kcat reads what kafkajs was acknowledged (partition, offset, key, value)" \
  "$work/want" "$work/got"
partitions=$(cut -d' ' -f1 "$work/got" | sort -u | wc -l)
((partitions > 1)) || { echo "FAIL: all messages in one partition"; exit 1; }
echo "ok: $partitions partitions written"
stop_server
echo "PASS"

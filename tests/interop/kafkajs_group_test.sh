#!/usr/bin/env bash
# kafkajs 2.2.4 consumer groups (npm, installed into the build tree on first use): a kafkajs
# producer writes 2000 messages to a 6-partition topic it auto-creates; two members of a
# group (consumer.run, eachMessage) split the partitions and read every message (1000
# written before they join; the 1000 written after, each once, by the partition's owner);
# a leaves and b is given every partition and reads on; every partition is committed to
# its end; after 100 more are written, a second run of the same group reads exactly those
# 100 and nothing old.
source "$(dirname "$0")/lib.sh"
need node npm
node_dir=${KAFKAJS_DIR:?set KAFKAJS_DIR to where kafkajs goes}
if [[ ! -f $node_dir/node_modules/kafkajs/package.json ]]; then
  mkdir -p "$node_dir"
  (cd "$node_dir" && npm install --no-audit --no-fund --silent kafkajs@2.2.4) ||
    { echo "FAIL: npm install kafkajs@2.2.4"; exit 1; }
fi
work=$(mktemp -d)
PIDS=()
trap 'kill -9 $SERVER_PID ${PIDS[@]} 2>/dev/null || true; [[ -n ${KEEP_WORK:-} ]] || rm -rf "$work"' EXIT
start_server "$work/data" --default-partitions 6 --group-initial-rebalance-delay-ms 0 \
  --offsets-topic-partitions 3
export NODE_PATH=$node_dir/node_modules KAFKAJS_NO_PARTITIONER_WARNING=1
script=$(dirname "$0")/kafkajs_group.js
js() { node "$script" "$@"; }
member() {  # member NAME: a member of group js-grp in the background; sets MEMBER_PID
  : >"$work/$1.out"
  node "$script" member "$BROKER" js-g js-grp "$work/$1.out" 2>"$work/$1.err" &
  MEMBER_PID=$!
  PIDS+=("$MEMBER_PID")
}
read_at_least() {  # read_at_least N NAME...: the members' outputs hold N lines together
  local n=$1
  shift
  (($(for m in "$@"; do cat "$work/$m.out" 2>/dev/null; done | wc -l) >= n))
}
stop() {  # stop PID...: SIGTERM (disconnect: commit, LeaveGroup), then wait
  kill -TERM "$@"
  for pid in "$@"; do
    wait "$pid" || { echo "FAIL: member $pid exited $?"; cat "$work"/*.err; exit 1; }
  done
}
# committed_to_end: every partition's committed offset is its high watermark.
committed_to_end() {
  js committed "$BROKER" js-g js-grp >"$work/committed"
  awk '$2 != $3 { bad = 1 } END { exit bad || NR != 6 }' "$work/committed"
}

# The partitions of a member's latest assignment ("0 3 ").
assigned() { tail -1 "$work/$1.out.joins" 2>/dev/null | sed 's/join //' | tr ',' '\n' | sort -n | tr '\n' ' '; }
split_in_two() {
  local a b
  a=$(assigned a) b=$(assigned b)
  [[ -n $a && -n $b ]] && [[ $(echo $a $b | tr ' ' '\n' | sort -n | tr '\n' ' ') == "0 1 2 3 4 5 " ]]
}

js produce "$BROKER" js-g 1 1000
member a
a=$MEMBER_PID
member b
b=$MEMBER_PID
wait_for 60 "two members sharing the six partitions" split_in_two
echo "ok: split: a has [$(assigned a)], b has [$(assigned b)]"
js produce "$BROKER" js-g 1001 2000
wait_for 60 "2000 messages read by the group" read_at_least 2000 a b
# Every message read; those written after the split exactly once, each partition by one
# member (the first 1000 may be read before the split, and again after a rebalance).
cat "$work"/{a,b}.out | awk '{ print $3 }' | sort -u >"$work/got"
seq 1 2000 | sed 's/^/v/' | sort >"$work/want"
expect_same "2000 messages read by the two members" "$work/want" "$work/got"
cat "$work"/{a,b}.out | awk '{ sub("v", "", $3) } $3 + 0 > 1000' >"$work/after-split"
awk '{ print $3 }' "$work/after-split" | sort >"$work/got-after"
seq 1001 2000 | sort >"$work/want-after"
expect_same "the 1000 written after the split, each read once" "$work/want-after" "$work/got-after"
[[ -s $work/a.out && -s $work/b.out ]] || { echo "FAIL: one member read everything"; exit 1; }
for m in a b; do
  for p in $(awk '{ sub("v", "", $3) } $3 + 0 > 1000 { print $1 }' "$work/$m.out" | sort -u); do
    [[ " $(assigned $m)" == *" $p "* ]] || { echo "FAIL: $m read partition $p, not its own"; exit 1; }
  done
done
echo "ok: a read partitions [$(awk '{ print $1 }' "$work/a.out" | sort -u | tr '\n' ' ')]," \
  "b [$(awk '{ print $1 }' "$work/b.out" | sort -u | tr '\n' ' ')]; after the split, only their own"

# a leaves (disconnect: LeaveGroup); b is given all six and reads what follows.
stop $a
b_has_all() { [[ $(assigned b) == "0 1 2 3 4 5 " ]]; }
wait_for 30 "b assigned every partition" b_has_all
js produce "$BROKER" js-g 2001 2100
b_read_new() { (($(awk '{ sub("v", "", $3) } $3 + 0 > 2000' "$work/b.out" | wc -l) >= 100)); }
wait_for 30 "b reading the next 100" b_read_new
stop $b
awk '{ sub("v", "", $3) } $3 + 0 > 2000 { print $3 }' "$work/b.out" | sort >"$work/got-b"
seq 2001 2100 | sort >"$work/want-b"
expect_same "after a left, b read the next 100 once each" "$work/want-b" "$work/got-b"
wait_for 10 "every partition committed to its end" committed_to_end
echo "ok: committed to the end: $(awk '{ printf "%s:%s ", $1, $2 }' "$work/committed")"

# The same group again: only what was written since.
js produce "$BROKER" js-g 2101 2200
member again
again=$MEMBER_PID
wait_for 60 "100 new messages read by the second run" read_at_least 100 again
sleep 2  # anything old would arrive with the first fetches
stop $again
awk '{ print $3 }' "$work/again.out" | sort >"$work/got-again"
seq 2101 2200 | sed 's/^/v/' | sort >"$work/want-again"
expect_same "the second run reads only the 100 new messages" "$work/want-again" "$work/got-again"
wait_for 10 "every partition committed to its end" committed_to_end
stop_server
echo "PASS"

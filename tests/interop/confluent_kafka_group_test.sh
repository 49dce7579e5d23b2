#!/usr/bin/env bash
# confluent-kafka (Python 1.7 on librdkafka) consumer groups against samsa-server's classic
# group coordinator, on 6-partition topics:
#  1. range: three members join one by one (separate processes) while a producer writes;
#     every message is consumed, each partition has one owner at a time; then one member is
#     killed -9 and after its session timeout the other two own every partition.
#  2. the same with cooperative-sticky (KIP-429: incremental assign/revoke; classic broker).
#  3. manual commits after each processed batch: one member is killed -9, the other stops;
#     restarted members start exactly at the committed offsets.
#  4. the server is killed -9 with committed offsets and restarted: every group's offsets
#     are as committed and a member of each resumes exactly there.
#  5. two members stay up while the server is killed -9 and restarted on the same port: they
#     rejoin and read on, one owner per partition at a time.
# Member logs carry one monotonic clock; confluent_kafka_group_check.py checks them.
source "$(dirname "$0")/lib.sh"
PYTHON=/usr/bin/python3  # Debian's, where python3-confluent-kafka lives
[[ -x $PYTHON ]] && $PYTHON -c 'import confluent_kafka' 2>/dev/null ||
  { echo "SKIP: python3-confluent-kafka is missing (scripts/install-deps --test)"; exit $SKIP; }
check=$(dirname "$0")/confluent_kafka_group_check.py
work=$(mktemp -d)
PIDS=()
trap 'kill -9 $SERVER_PID ${PIDS[@]} 2>/dev/null || true; [[ -n ${KEEP_WORK:-} ]] || rm -rf "$work"' EXIT
SESSION_MS=2000
server_flags=(--default-partitions 6 --group-initial-rebalance-delay-ms 0
  --offsets-topic-partitions 3 --group-min-session-timeout-ms 1000)
start_server "$work/data" "${server_flags[@]}"

monotonic() { $PYTHON -c 'import time; print(f"{time.clock_gettime(time.CLOCK_MONOTONIC):.6f}")'; }
# member NAME TOPIC GROUP STRATEGY [OPTIONS...]: in the background; sets MEMBER_PID.
member() {
  local name=$1 topic=$2 group=$3 strategy=$4
  shift 4
  $PYTHON "$check" member "$BROKER" "$topic" "$group" "$strategy" "$work/$name.log" \
    session=$SESSION_MS "$@" \
    >"$work/$name.out" 2>&1 &
  MEMBER_PID=$!
  PIDS+=("$MEMBER_PID")
}
# The partitions a member holds now, from its log ("0 3 ").
held() {
  awk '$2 == "assign" { n = split($3, a, ","); for (i = 1; i <= n; i++) h[a[i]] = 1 }
       $2 == "revoke" || $2 == "lost" { n = split($3, a, ","); for (i = 1; i <= n; i++) delete h[a[i]] }
       END { for (p in h) print p }' "$work/$1.log" 2>/dev/null | sort -n | tr '\n' ' '
}
holds_some() { [[ -n $(held "$1") ]]; }
# cover NAME...: the members together hold each of the six partitions exactly once.
cover() {
  local all=
  for m in "$@"; do all+="$(held "$m")"; done
  [[ $(echo $all | tr ' ' '\n' | sort -n | tr '\n' ' ') == "0 1 2 3 4 5 " ]]
}
# consumed_all ACKED NAME...: every acknowledged message is in some member's log.
consumed_all() {
  local acked=$1
  shift
  local logs=()
  for m in "$@"; do logs+=("$work/$m.log"); done
  (($(cat "${logs[@]}" 2>/dev/null | awk '$2 == "msg" { print $5 }' | sort -u |
      join - <(awk '{ print $3 }' "$acked" | sort) | wc -l) == $(wc -l <"$acked")))
}
WAIT_LOGS="$work/*.log $work/*.out"  # what wait_for (lib.sh) shows on a timeout
kill9_member() { { kill -KILL "$1"; wait "$1"; } 2>/dev/null || true; }  # no "Killed" line
stop() {  # stop PID...: SIGTERM (the member closes: revoke, commit, LeaveGroup), then wait
  kill -TERM "$@"
  for pid in "$@"; do
    timeout 30 tail --pid="$pid" -f /dev/null || { echo "FAIL: member $pid did not stop"; exit 1; }
    wait "$pid" || { echo "FAIL: member $pid exited $?:"; tail -5 "$work"/*.out; exit 1; }
  done
}

# 1, 2: three members join one by one while a producer writes 3000 messages over ~6 s; one
# is killed -9 and its partitions move to the other two after the session timeout.
two_share() { holds_some $S-c1 && holds_some $S-c2 && cover $S-c1 $S-c2; }
three_share() { holds_some $S-c3 && cover $S-c1 $S-c2 $S-c3; }
join_one_by_one() {  # join_one_by_one STRATEGY TOPIC GROUP
  local strategy=$1 topic=$2 group=$3 s=${1%%-*}
  local acked=$work/$s.acked c1 c2 c3 killed_at
  $PYTHON "$check" produce "$BROKER" "$topic" 1 3000 500 "$acked" &
  local producer=$!
  PIDS+=("$producer")
  member $s-c1 "$topic" "$group" "$strategy"
  c1=$MEMBER_PID
  wait_for 30 "$s-c1 assigned" holds_some $s-c1
  member $s-c2 "$topic" "$group" "$strategy"
  c2=$MEMBER_PID
  S=$s wait_for 30 "$s-c1 and $s-c2 sharing the partitions" two_share
  member $s-c3 "$topic" "$group" "$strategy"
  c3=$MEMBER_PID
  S=$s wait_for 30 "three members sharing the partitions" three_share
  echo "ok: $strategy: c1 [$(held $s-c1)] c2 [$(held $s-c2)] c3 [$(held $s-c3)]"
  wait $producer || { echo "FAIL: producer"; exit 1; }
  wait_for 30 "3000 messages consumed" consumed_all "$acked" $s-c1 $s-c2 $s-c3
  $PYTHON "$check" check "$acked" "$work"/$s-c{1,2,3}.log

  # c3 is killed -9: no LeaveGroup; after the session timeout c1 and c2 own all six.
  kill9_member $c3
  killed_at=$(monotonic)
  wait_for 30 "$s-c1 and $s-c2 taking $s-c3's partitions" cover $s-c1 $s-c2
  echo "ok: $strategy: after kill -9 of c3, c1 [$(held $s-c1)] c2 [$(held $s-c2)]"
  $PYTHON "$check" produce "$BROKER" "$topic" 3001 3600 2000 "$acked"
  wait_for 30 "3600 messages consumed" consumed_all "$acked" $s-c1 $s-c2 $s-c3
  stop $c1 $c2
  $PYTHON "$check" check "$acked" "$work"/$s-c{1,2,3}.log killed="$work/$s-c3.log:$killed_at"
}
join_one_by_one range t-range g-range
join_one_by_one cooperative-sticky t-coop g-coop

consumed_at_least() { (($(cat "$work"/man-m*.log | grep -c " msg ") >= $1)); }

# 3: manual commits after each processed batch (20 messages, 50 ms of "processing"); m1 is
# killed -9 mid-stream, m2 stops (its last batch committed); then new members m3, m4 start
# exactly at the committed offsets: read again is only what m1 processed after its last
# commit.
$PYTHON "$check" produce "$BROKER" t-manual 1 2000 100000 "$work/man.acked"
member man-m1 t-manual g-manual range manual delay=0.05
m1=$MEMBER_PID
member man-m2 t-manual g-manual range manual delay=0.05
m2=$MEMBER_PID
wait_for 30 "m1 and m2 sharing the partitions" cover man-m1 man-m2
wait_for 30 "600 messages processed" consumed_at_least 600
kill9_member $m1
killed_at=$(monotonic)
stop $m2
$PYTHON "$check" committed "$BROKER" t-manual g-manual 6 "$work/man.committed"
echo "ok: committed after m1's kill -9: $(tr '\n' ' ' <"$work/man.committed")"
$PYTHON "$check" produce "$BROKER" t-manual 2001 2500 100000 "$work/man.acked"
member man-m3 t-manual g-manual range manual
m3=$MEMBER_PID
member man-m4 t-manual g-manual range manual
m4=$MEMBER_PID
wait_for 30 "2500 messages consumed" consumed_all "$work/man.acked" man-m{1,2,3,4}
stop $m3 $m4
$PYTHON "$check" check "$work/man.acked" "$work"/man-m{1,2,3,4}.log \
  killed="$work/man-m1.log:$killed_at"
$PYTHON "$check" resume-check "$work/man.committed" "$work"/man-m{1,2}.log -- \
  "$work"/man-m{3,4}.log

# 4: each group commits partway through new messages (a member that stops after 100, a
# synchronous commit after each batch); the server is killed -9 at once and restarted; the
# committed offsets are as before, and a member of each group resumes exactly there.
declare -A strategy_of=([range]=range [coop]=cooperative-sticky [man]=range)
declare -A group_of=([range]=g-range [coop]=g-coop [man]=g-manual)
for s in range coop man; do
  $PYTHON "$check" produce "$BROKER" t-${group_of[$s]#g-} 10001 10300 100000 "$work/$s.new"
  $PYTHON "$check" member "$BROKER" t-${group_of[$s]#g-} ${group_of[$s]} ${strategy_of[$s]} \
    "$work/$s-part.log" manual stop-after=100 session=$SESSION_MS >"$work/$s-part.out" 2>&1 ||
    { echo "FAIL: $s: partial member"; cat "$work/$s-part.out"; exit 1; }
  $PYTHON "$check" committed "$BROKER" t-${group_of[$s]#g-} ${group_of[$s]} 6 "$work/$s.before"
done
kill9_server
start_server "$work/data" "${server_flags[@]}"
for s in range coop man; do
  $PYTHON "$check" committed "$BROKER" t-${group_of[$s]#g-} ${group_of[$s]} 6 "$work/$s.after"
  expect_same "${group_of[$s]}'s committed offsets after kill -9 of the server" \
    "$work/$s.before" "$work/$s.after"
  member $s-resumed t-${group_of[$s]#g-} ${group_of[$s]} ${strategy_of[$s]}
  wait_for 30 "$s: the rest of the new messages consumed" consumed_all "$work/$s.new" \
    $s-part $s-resumed
  stop $MEMBER_PID
  $PYTHON "$check" resume-check "$work/$s.before" "$work/$s-part.log" -- "$work/$s-resumed.log"
  $PYTHON "$check" check "$work/$s.new" "$work/$s-part.log" "$work/$s-resumed.log"
done

# 5: members live through a kill -9 of the server: restarted on the same port, it loads the
# group from __consumer_offsets; the members lose their partitions, rejoin, and between them
# read every message, each partition owned by one member at a time.
$PYTHON "$check" produce "$BROKER" t-live 1 1000 100000 "$work/live.acked"
member live-c1 t-live g-live range
l1=$MEMBER_PID
member live-c2 t-live g-live range
l2=$MEMBER_PID
wait_for 30 "live-c1 and live-c2 sharing the partitions" \
  eval 'holds_some live-c1 && holds_some live-c2 && cover live-c1 live-c2'
wait_for 30 "1000 messages consumed" consumed_all "$work/live.acked" live-c1 live-c2
kill9_server
start_server "$work/data" "${server_flags[@]}" --listen "$BROKER"
$PYTHON "$check" produce "$BROKER" t-live 1001 2000 100000 "$work/live.acked"
wait_for 60 "2000 messages consumed across the restart" consumed_all "$work/live.acked" live-c1 live-c2
wait_for 30 "live-c1 and live-c2 sharing the partitions again" \
  eval 'holds_some live-c1 && holds_some live-c2 && cover live-c1 live-c2'
echo "ok: after the server's restart, c1 [$(held live-c1)] c2 [$(held live-c2)]"
stop $l1 $l2
$PYTHON "$check" check "$work/live.acked" "$work"/live-c{1,2}.log

stop_server
echo "PASS"

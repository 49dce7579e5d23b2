#!/usr/bin/env bash
# kcat -G (librdkafka 2.0.2's balanced consumer) against samsa-server's group coordinator:
# two members split a 6-partition topic (each partition to exactly one of them, every
# message consumed once); one leaves and the other takes every partition; both stop, the
# server restarts, and a new member of the group resumes exactly at the committed offsets.
source "$(dirname "$0")/lib.sh"
need kcat
work=$(mktemp -d)
C1= C2=
trap 'kill -9 $SERVER_PID $C1 $C2 2>/dev/null || true; [[ -n ${KEEP_WORK:-} ]] || rm -rf "$work"' EXIT
# Small __consumer_offsets segments and frequent maintenance: the commits (every 100 ms per
# member) roll segments, and the cleaner compacts them while the test runs.
start_server "$work/data" --default-partitions 6 --group-initial-rebalance-delay-ms 0 \
  --offsets-topic-partitions 5 --offsets-topic-segment-bytes 1024 --maintenance-interval-ms 200 \
  --metrics 127.0.0.1:0
kcat -b "$BROKER" -L -t g6 >/dev/null  # creates the topic (auto-create), 6 partitions

produce() {  # produce FROM TO: messages "k<i % 17>:m<i>"
  for i in $(seq "$1" "$2"); do echo "k$((i % 17)):m$i"; done | kcat -b "$BROKER" -P -t g6 -K:
}
member() {  # member NAME: a balanced consumer in the background, until SIGTERM
  kcat -b "$BROKER" -G grp -X auto.offset.reset=earliest -X session.timeout.ms=6000 \
    -X enable.auto.commit=true -X auto.commit.interval.ms=100 -u -f '%p %o %s\n' g6 \
    >"$work/$1.out" 2>"$work/$1.err" &
}
# The partitions of a member's latest assignment ("assigned: g6 [0], g6 [3]").
assigned() {
  grep -a 'assigned:' "$work/$1.err" | tail -1 | grep -o '\[[0-9]*\]' | tr -d '[]' | sort -n | tr '\n' ' '
}
split_in_two() {
  local a b
  a=$(assigned c1) b=$(assigned c2)
  [[ -n $a && -n $b ]] && [[ $(echo $a $b | tr ' ' '\n' | sort -n | tr '\n' ' ') == "0 1 2 3 4 5 " ]]
}
consumed_at_least() { (($(cat "$work"/c*.out | wc -l) >= $1)); }
c1_has_all() { [[ $(assigned c1) == "0 1 2 3 4 5 " ]]; }

member c1
C1=$!
member c2
C2=$!
wait_for 30 "two members sharing the six partitions" split_in_two
echo "ok: split: c1 has [$(assigned c1)], c2 has [$(assigned c2)]"
produce 1 600
wait_for 30 "600 messages consumed" consumed_at_least 600
sleep 0.5
# Each message once, each from the partition its member was assigned.
cat "$work"/c*.out | awk '{ print $3 }' | sort >"$work/got"
seq 1 600 | sed 's/^/m/' | sort >"$work/want"
expect_same "600 messages, once each, over two members" "$work/want" "$work/got"
for c in c1 c2; do
  for p in $(awk '{ print $1 }' "$work/$c.out" | sort -u); do
    [[ " $(assigned $c)" == *" $p "* ]] || { echo "FAIL: $c read partition $p, not its own"; exit 1; }
  done
  [[ -s $work/$c.out ]] || { echo "FAIL: $c consumed nothing"; exit 1; }
done
echo "ok: each member read only its partitions"

# Lag: once both members committed what they read, every partition's lag is 0 (metrics),
# and /groups lists the six partitions with their members.
lag_zero() {
  metrics >"$work/metrics"
  [[ $(grep -c '^samsa_group_lag{group="grp",topic="g6"' "$work/metrics") == 6 ]] &&
    ! grep '^samsa_group_lag{group="grp"' "$work/metrics" | grep -qv ' 0$'
}
wait_for 30 "lag 0 on every partition" lag_zero
metrics /groups >"$work/groups"
grep -q "GROUP grp (Stable, 2 members, protocol consumer range)" "$work/groups" ||
  { echo "FAIL: /groups:"; cat "$work/groups"; exit 1; }
[[ $(grep -c '^grp  *g6  *[0-5]  *[0-9][0-9]*  *[0-9][0-9]*  *0  *rdkafka-' "$work/groups") == 6 ]] ||
  { echo "FAIL: /groups rows:"; cat "$work/groups"; exit 1; }
echo "ok: lag 0 in metrics; /groups shows 6 partitions with their consumers"

# c2 leaves (SIGTERM: LeaveGroup); c1 is given all six and reads what follows.
kill -TERM $C2
wait $C2 || true
C2=
wait_for 30 "c1 assigned every partition" c1_has_all
produce 601 900
wait_for 30 "c1 consuming the next 300" consumed_at_least 900
echo "ok: after c2 left, c1 has [$(assigned c1)] and read on"

# Both stopped (a member commits on close); more is written; the server restarts; a new
# member resumes at the committed offsets: exactly the messages written since.
kill -TERM $C1
wait $C1 || true
C1=
cat "$work"/c*.out | awk '{ print $3 }' | sort -u | wc -l >"$work/n"
[[ $(cat "$work/n") == 900 ]] || { echo "FAIL: $(cat "$work/n") distinct messages before the restart"; exit 1; }
produce 901 1000
stop_server
start_server "$work/data" --default-partitions 6 --group-initial-rebalance-delay-ms 0 \
  --offsets-topic-partitions 5
timeout 60 kcat -b "$BROKER" -G grp -X auto.offset.reset=earliest -e -q -f '%s\n' g6 |
  sort >"$work/resumed"
seq 901 1000 | sed 's/^/m/' | sort >"$work/want-resumed"
expect_same "resumed at the committed offsets" "$work/want-resumed" "$work/resumed"

# The group's records are in __consumer_offsets, in the partition Kafka's hash gives "grp":
# Java's "grp".hashCode() = 102629 -> 102629 % 5 = 4.
if [[ -n ${SAMSA_CLI:-} ]]; then
  for p in 0 1 2 3 4; do
    n=$("$SAMSA_CLI" dump "$work/data/__consumer_offsets-$p" | grep -c "batch position" || true)
    if [[ $p == 4 ]]; then
      ((n > 0)) || { echo "FAIL: no batch in __consumer_offsets-4"; exit 1; }
    else
      [[ $n == 0 ]] || { echo "FAIL: __consumer_offsets-$p holds $n batches (grp hashes to 4)"; exit 1; }
    fi
  done
  echo "ok: the group's records are in __consumer_offsets-4 only"
  # Decoded as Kafka's schemas: the commits of all six partitions and the group's record.
  "$SAMSA_CLI" dump "$work/data/__consumer_offsets-4" --offsets-decoder >"$work/decoded"
  for p in 0 1 2 3 4 5; do
    grep -q "offset_commit group=grp topic=g6 partition=$p offset=" "$work/decoded" ||
      { echo "FAIL: no decoded commit of g6/$p"; cat "$work/decoded"; exit 1; }
  done
  grep -q "group_metadata group=grp generation=" "$work/decoded" ||
    { echo "FAIL: no decoded group record"; cat "$work/decoded"; exit 1; }
  echo "ok: samsa dump --offsets-decoder reads them as Kafka's records"
  [[ -s $work/data/__consumer_offsets-4/cleaner-offset-checkpoint ]] ||
    { echo "FAIL: __consumer_offsets-4 was never compacted"; ls -la "$work/data/__consumer_offsets-4"; exit 1; }
  echo "ok: __consumer_offsets-4 compacted (cleaner-offset-checkpoint written)"
fi
stop_server
echo "PASS"

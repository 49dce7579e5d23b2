#!/usr/bin/env bash
# End-to-end test of the `samsa` command-line tool: append, read, dump, verify, recover,
# and the usage errors. Run by ctest as: bash tests/cli_test.sh /path/to/samsa
set -euo pipefail

SAMSA=${1:?usage: cli_test.sh /path/to/samsa}
[[ -x $SAMSA ]] || { echo "cli_test: $SAMSA is not an executable" >&2; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/samsa-cli-test.XXXXXX")
BACKGROUND_PIDS=()  # samsa processes this script started in the background
cleanup() {
  for pid in "${BACKGROUND_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

step() { echo "--- $*"; }
fail() {
  echo "FAIL: $*" >&2
  for f in "$WORK"/out "$WORK"/err; do
    if [[ -s $f ]]; then echo "== ${f##*/}:" >&2; head -n 40 "$f" >&2; fi
  done
  exit 1
}
# run CMD...: runs samsa with stdout/stderr in $WORK/out and $WORK/err; the status in $RC.
run() {
  RC=0
  "$SAMSA" "$@" >"$WORK/out" 2>"$WORK/err" || RC=$?
}
# run_in INPUT CMD...: run with INPUT on stdin.
run_in() {
  local input=$1
  shift
  RC=0
  printf '%s' "$input" | "$SAMSA" "$@" >"$WORK/out" 2>"$WORK/err" || RC=$?
}
expect_rc() { [[ $RC == "$1" ]] || fail "$2: exit status $RC, expected $1"; }
expect_out() {  # expect_out EXPECTED WHAT: stdout must equal EXPECTED exactly
  local expected=$1
  [[ $(cat "$WORK/out") == "$expected" ]] || {
    echo "== expected:" >&2
    printf '%s\n' "$expected" >&2
    fail "$2: unexpected output"
  }
}
expect_grep() {  # expect_grep PATTERN FILE WHAT
  grep -q -- "$1" "$WORK/$2" || fail "$3: '$1' not found in $2"
}
now_ms() { date +%s%3N; }
# wait_for TEXT FILE WHAT: waits up to 5 s for TEXT to appear in FILE.
wait_for() {
  for _ in $(seq 100); do
    grep -q -- "$1" "$2" && return 0
    sleep 0.05
  done
  fail "$3: '$1' did not appear in $2"
}
# flip_byte FILE POSITION: inverts the bits of one byte in place.
flip_byte() {
  local old
  old=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
  # shellcheck disable=SC2059 # the format is the octal escape of the new byte
  printf "\\$(printf '%03o' $((old ^ 0xff)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
# Offsets, keys and values of `read` output; timestamps are checked apart.
no_ts() { cut -f1,3,4 "$WORK/out"; }
# Every timestamp of the read output lies in [lo, hi].
expect_ts_between() {
  awk -F'\t' -v lo="$1" -v hi="$2" '$2 < lo || $2 > hi { bad = 1 } END { exit bad }' \
    "$WORK/out" || fail "$3: a timestamp outside [$1, $2]"
}

TAB=$'\t'
LOG=$WORK/log

step "--help prints usage (samsa and each command)"
run --help
expect_rc 0 "samsa --help"
expect_grep "append DIR" out "samsa --help"
for cmd in append read dump verify recover compact; do
  run "$cmd" --help
  expect_rc 0 "samsa $cmd --help"
  expect_grep "usage: samsa $cmd" out "samsa $cmd --help"
done
run append --help
expect_grep "power cut" out "append --help names what the flush policies risk"
run read --help
expect_grep "null" out "read --help documents null keys and values"

step "append: keyed records, 2 per batch, gzip, flush always"
T0=$(now_ms)
run_in $'alice:clicked\nbob:viewed\ncarol:bought\n:empty key\nno separator here\n' \
  append "$LOG" --key-separator : --batch-records 2 --compression gzip --flush always
expect_rc 0 "append gzip"
expect_out $'acked 0-1\nacked 2-3\nacked 4-4' "append gzip acked lines"

step "append: unkeyed records with lz4 (flush interval), zstd (flush manual), snappy, none"
run_in $'one\ntwo\nthree\n' append "$LOG" --batch-records 3 --compression lz4 --flush interval
expect_rc 0 "append lz4"
expect_out "acked 5-7" "append lz4 acked lines"
run_in $'four\nfive\nsix\nseven' append "$LOG" --batch-records 3 --compression zstd --flush manual
expect_rc 0 "append zstd (last line without newline)"
expect_out $'acked 8-10\nacked 11-11' "append zstd acked lines"
run_in $'k=v=w\n\n' append "$LOG" --key-separator = --compression snappy
expect_rc 0 "append snappy"
expect_out "acked 12-13" "append snappy acked lines"
run_in $'last\n' append "$LOG" --compression none
expect_rc 0 "append none"
expect_out "acked 14-14" "append none acked lines"
T1=$(now_ms)

ALL="0${TAB}alice${TAB}clicked
1${TAB}bob${TAB}viewed
2${TAB}carol${TAB}bought
3${TAB}${TAB}empty key
4${TAB}null${TAB}no separator here
5${TAB}null${TAB}one
6${TAB}null${TAB}two
7${TAB}null${TAB}three
8${TAB}null${TAB}four
9${TAB}null${TAB}five
10${TAB}null${TAB}six
11${TAB}null${TAB}seven
12${TAB}k${TAB}v=w
13${TAB}null${TAB}
14${TAB}null${TAB}last"

step "read: every record back, exactly (offset, key, value; timestamps in range)"
run read "$LOG"
expect_rc 0 "read"
[[ $(no_ts) == "$ALL" ]] || { printf '%s\n' "$ALL" >&2; fail "read: unexpected records"; }
expect_ts_between "$T0" "$T1" "read"
[[ $(awk -F'\t' '{ print NF }' "$WORK/out" | sort -u) == 4 ]] || fail "read: not 4 tab-separated fields"

step "read --from 6 --max 3 (starts inside a batch, stops inside one)"
run read "$LOG" --from 6 --max 3
expect_rc 0 "read --from --max"
[[ $(no_ts) == "$(sed -n 7,9p <<<"$ALL")" ]] || fail "read --from 6 --max 3: unexpected records"
run read "$LOG" --from=15
expect_rc 0 "read --from the log end"
expect_out "" "read --from the log end prints nothing"
run read "$LOG" --from 16
expect_rc 1 "read --from past the log end"
expect_grep "past the log end" err "read --from past the log end"

step "read --from-time: records appended after a moment in time"
sleep 0.05
T2=$(now_ms)
sleep 0.05
run_in $'later1\nlater2\n' append "$LOG"
expect_rc 0 "append later"
expect_out "acked 15-16" "append later acked lines"
run read "$LOG" --from-time "$T2"
expect_rc 0 "read --from-time"
[[ $(no_ts) == "15${TAB}null${TAB}later1"$'\n'"16${TAB}null${TAB}later2" ]] ||
  fail "read --from-time $T2: unexpected records"
run read "$LOG" --from-time 0 --max 1
[[ $(no_ts) == "0${TAB}alice${TAB}clicked" ]] || fail "read --from-time 0 --max 1"
run read "$LOG" --from-time 99999999999999
expect_rc 0 "read --from-time in the future"
expect_out "" "read --from-time in the future prints nothing"

step "read --follow prints what exists, waits, and stops on SIGTERM with status 0"
"$SAMSA" read "$LOG" --follow --from 14 >"$WORK/out" 2>"$WORK/err" &
FOLLOW_PID=$!
BACKGROUND_PIDS+=("$FOLLOW_PID")
sleep 1.2
kill -TERM "$FOLLOW_PID"
RC=0
wait "$FOLLOW_PID" || RC=$?
expect_rc 0 "read --follow after SIGTERM"
FOLLOWED="14${TAB}null${TAB}last
15${TAB}null${TAB}later1
16${TAB}null${TAB}later2"
[[ $(no_ts) == "$FOLLOWED" ]] || fail "read --follow --from 14: unexpected records"
run read "$LOG" --max 0
expect_rc 0 "read --max 0"
expect_out "" "read --max 0 prints nothing"

step "dump: batches with their codecs and crc valid, index entries"
run dump "$LOG"
expect_rc 0 "dump"
expect_grep "00000000000000000000.log" out "dump names the segment"
[[ $(grep -c "^  batch " "$WORK/out") == 9 ]] || fail "dump: expected 9 batches"
[[ $(grep -c "crc valid" "$WORK/out") == 9 ]] || fail "dump: expected 9 'crc valid'"
for codec in gzip lz4 zstd snappy none; do expect_grep "codec: $codec" out "dump codec $codec"; done
expect_grep "timeindex" out "dump lists the time index"
run dump "$LOG" --records
expect_rc 0 "dump --records"
expect_grep "key: alice value: clicked" out "dump --records prints records"

step "verify: a good log exits 0"
run verify "$LOG"
expect_rc 0 "verify good log"
expect_grep "ok" out "verify good log"

step "dump and verify do not modify the directory"
before=$(cd "$LOG" && ls -la --time-style=+%s%N | sort; md5sum ./*)
run dump "$LOG"
run verify "$LOG"
after=$(cd "$LOG" && ls -la --time-style=+%s%N | sort; md5sum ./*)
[[ $before == "$after" ]] || fail "dump/verify changed files in $LOG"

step "small --segment-bytes: several segments, read crosses them, dump lists them"
SEG=$WORK/segmented
seq 1 60 | sed 's/^/key/; s/$/:value/' >"$WORK/input"
RC=0
"$SAMSA" append "$SEG" --key-separator : --batch-records 5 --segment-bytes 300 \
  --index-interval-bytes 100 <"$WORK/input" >"$WORK/out" 2>"$WORK/err" || RC=$?
expect_rc 0 "append with --segment-bytes 300"
[[ $(wc -l <"$WORK/out") == 12 ]] || fail "append --segment-bytes: expected 12 acked lines"
segments=$(ls "$SEG"/*.log | wc -l)
((segments >= 3)) || fail "--segment-bytes 300 made only $segments segments"
run dump "$SEG"
expect_rc 0 "dump segmented"
[[ $(grep -c "^segment " "$WORK/out") == "$segments" ]] || fail "dump does not list $segments segments"
run read "$SEG"
expect_rc 0 "read segmented"
[[ $(cut -f3,4 "$WORK/out" | tr '\t' ':') == "$(cat "$WORK/input")" ]] || fail "read across segments"
[[ $(cut -f1 "$WORK/out" | tr '\n' ' ') == "$(seq -s ' ' 0 59) " ]] || fail "read offsets 0..59"
run read "$SEG" --from 23 --max 20
[[ $(cut -f1 "$WORK/out" | tr '\n' ' ') == "$(seq -s ' ' 23 42) " ]] || fail "read --from 23 --max 20 across segments"
run verify "$SEG"
expect_rc 0 "verify segmented"

step "corrupt one byte in the middle of a .log: verify exits 1 naming the file"
CORRUPT=$WORK/corrupt
cp -r "$LOG" "$CORRUPT"
file=$CORRUPT/00000000000000000000.log
size=$(stat -c %s "$file")
flip_byte "$file" $((size / 2))
run verify "$CORRUPT"
expect_rc 1 "verify corrupt log"
grep -q "00000000000000000000.log" "$WORK/out" "$WORK/err" || fail "verify does not name the corrupt file"
run dump "$CORRUPT"
expect_rc 1 "dump corrupt log"
grep -qE "crc INVALID|PROBLEM" "$WORK/out" || fail "dump does not flag the corrupt batch"

step "torn tail after a crash: kill -9 a manual-flush append, cut its last batch partway"
TORN=$WORK/torn
mkfifo "$WORK/torn.fifo"
"$SAMSA" append "$TORN" --batch-records 2 --flush manual <"$WORK/torn.fifo" >"$WORK/torn.out" 2>&1 &
TORN_PID=$!
BACKGROUND_PIDS+=("$TORN_PID")
exec 4>"$WORK/torn.fifo"
printf 'r0\nr1\nr2\nr3\nr4\nr5\n' >&4
wait_for "acked 4-5" "$WORK/torn.out" "the crashing append"
kill -KILL "$TORN_PID"
wait "$TORN_PID" 2>/dev/null || true
exec 4>&-
file=$TORN/00000000000000000000.log
truncate -s $(($(stat -c %s "$file") - 10)) "$file"
run verify "$TORN"
expect_rc 1 "verify torn log"
expect_grep "00000000000000000000.log" out "verify names the torn file"
run recover "$TORN"
expect_rc 0 "recover torn log"
expect_grep "clean shutdown: no" out "recover after a crash"
expect_grep "bytes truncated: [1-9]" out "recover reports bytes truncated"
expect_grep "log end offset: 4" out "recover: the log ends after the last whole batch"
run read "$TORN"
expect_rc 0 "read recovered log"
[[ $(no_ts) == "$(printf '%s\tnull\tr%s\n' 0 0 1 1 2 2 3 3)" ]] ||
  fail "read after recovery: expected offsets 0..3 exactly"
run verify "$TORN"
expect_rc 0 "verify recovered log"
run recover "$TORN" --segment-bytes 1000
expect_rc 0 "recover again"
expect_grep "bytes truncated: 0" out "second recover cuts nothing"
expect_grep "clean shutdown: yes" out "second recover follows a clean shutdown"

step "corruption in flushed data: recover refuses it naming the file; --truncate-corruption cuts"
FLUSHED=$WORK/flushed
run_in $'a\nb\nc\nd\ne\nf\n' append "$FLUSHED" --batch-records 2
expect_rc 0 "append flushed"
# Kafka's clean-shutdown marker; without it recovery rescans the last segment.
rm -f "$FLUSHED/.kafka_cleanshutdown"
file=$FLUSHED/00000000000000000000.log
flip_byte "$file" $(($(stat -c %s "$file") / 2))
run recover "$FLUSHED"
expect_rc 1 "recover corrupt flushed data"
expect_grep "00000000000000000000.log" err "recover names the corrupt file"
expect_grep "truncate-corruption" err "recover suggests --truncate-corruption"
run recover "$FLUSHED" --truncate-corruption
expect_rc 0 "recover --truncate-corruption"
expect_grep "bytes truncated: [1-9]" out "recover --truncate-corruption reports the cut"
run verify "$FLUSHED"
expect_rc 0 "verify after --truncate-corruption"

step "append --null-marker writes tombstones; read --latest-per-key shows the latest per key"
COMPACT=$WORK/compact
# 100-byte segments: every record (one per batch) gets a segment of its own, and the last
# one, z, is in the active segment, which compaction never touches.
run_in $'a:1\nb:1\nno key\na:2\nc:1\nb:DEL\nc:2\nz:last\n' append "$COMPACT" --key-separator : \
  --null-marker DEL --batch-records 1 --segment-bytes 100 --cleanup-policy compact
expect_rc 0 "append --null-marker"
[[ $(wc -l <"$WORK/out") == 8 ]] || fail "append --null-marker: expected 8 acked lines"
run read "$COMPACT"
expect_rc 0 "read before compaction"
[[ $(no_ts | sed -n 3p) == "2${TAB}null${TAB}no key" ]] || fail "read: the keyless record"
[[ $(no_ts | sed -n 6p) == "5${TAB}b${TAB}null" ]] || fail "read: DEL was written as a null value"
LATEST="3${TAB}a${TAB}2
5${TAB}b${TAB}null
6${TAB}c${TAB}2
7${TAB}z${TAB}last"
run read "$COMPACT" --latest-per-key
expect_rc 0 "read --latest-per-key"
[[ $(no_ts) == "$LATEST" ]] || { printf '%s\n' "$LATEST" >&2; fail "read --latest-per-key"; }
run read "$COMPACT" --latest-per-key --from 4 --max 2
[[ $(no_ts) == "4${TAB}c${TAB}1"$'\n'"5${TAB}b${TAB}null" ]] ||
  fail "read --latest-per-key --from 4 --max 2: the latest among the records read"

step "compact: only the latest record of each key stays, offsets unchanged"
run compact "$COMPACT" --segment-bytes 100
expect_rc 0 "compact"
expect_grep "compacted $COMPACT" out "compact names the log"
expect_grep "first uncleanable offset: 7" out "compact: the active segment is not cleaned"
expect_grep "cleaned up to offset: 7" out "compact: cleaned up to the active segment"
expect_grep "records: 7 read, 3 kept, 4 removed (0 tombstones, 1 without a key)" out "compact stats"
expect_grep "segments: 7 cleaned into" out "compact: segments cleaned"
run read "$COMPACT"
expect_rc 0 "read after compact"
[[ $(no_ts) == "$LATEST" ]] || { printf '%s\n' "$LATEST" >&2; fail "read after compact"; }
run read "$COMPACT" --from 1 --max 1
[[ $(no_ts) == "3${TAB}a${TAB}2" ]] || fail "read --from a removed offset gets the next record"
[[ $(cat "$COMPACT/cleaner-offset-checkpoint") == $'0\n1\ncompact 0 7' ]] ||
  fail "cleaner-offset-checkpoint: expected the first dirty offset 7 in Kafka's format"
run verify "$COMPACT"
expect_rc 0 "verify after compact"
run compact "$COMPACT" --if-needed
expect_rc 0 "compact --if-needed on a clean log"
expect_grep "not needed" out "compact --if-needed says why not"
expect_grep "dirty ratio: 0.000" out "compact --if-needed: a clean log's dirty ratio"

step "compact: a tombstone stays for --delete-retention-ms after the pass that kept it"
run compact "$COMPACT" --delete-retention-ms 86400000
expect_grep "0 tombstones" out "a tombstone within its delete horizon stays"
run read "$COMPACT" --latest-per-key
[[ $(no_ts) == "$LATEST" ]] || fail "the tombstone is still there within its horizon"
RM=$WORK/tombstones
run_in $'k:1\nk:DEL\nj:1\nlast:x\n' append "$RM" --key-separator : --null-marker DEL \
  --batch-records 1 --segment-bytes 100
expect_rc 0 "append for the tombstone horizon"
run compact "$RM" --delete-retention-ms 0
expect_grep "records: 3 read, 2 kept, 1 removed (0 tombstones" out "first pass keeps the tombstone"
run read "$RM"
[[ $(no_ts) == "1${TAB}k${TAB}null"$'\n'"2${TAB}j${TAB}1"$'\n'"3${TAB}last${TAB}x" ]] ||
  fail "after the first pass: the tombstone, j and the active segment"
run compact "$RM" --delete-retention-ms 0
expect_grep "1 removed (1 tombstones" out "the next pass, past the horizon, removes the tombstone"
run read "$RM"
[[ $(no_ts) == "2${TAB}j${TAB}1"$'\n'"3${TAB}last${TAB}x" ]] || fail "the deleted key is gone"

step "compact: errors"
run compact "$COMPACT" --cleanup-policy delete
expect_rc 2 "compact --cleanup-policy delete"
expect_grep "includes compact" err "compact --cleanup-policy delete message"
run compact "$WORK/nope"
expect_rc 1 "compact on a missing directory"
[[ ! -e $WORK/nope ]] || fail "compact created the missing directory"
run_in "x" append "$COMPACT" --cleanup-policy sometimes
expect_rc 2 "append --cleanup-policy sometimes"
expect_grep "\-\-cleanup-policy" err "--cleanup-policy message"
run compact "$COMPACT" --min-cleanable-dirty-ratio 2
expect_rc 2 "compact --min-cleanable-dirty-ratio 2"
run read "$COMPACT" --latest-per-key --follow
expect_rc 2 "read --latest-per-key --follow"

step "usage errors exit 2 naming the flag"
run read "$LOG" --bogus
expect_rc 2 "unknown flag"
expect_grep "\-\-bogus" err "unknown flag message"
run_in "x" append "$LOG" --batch-records abc
expect_rc 2 "non-numeric --batch-records"
expect_grep "\-\-batch-records" err "--batch-records message"
run_in "x" append "$LOG" --segment-bytes -5
expect_rc 2 "negative --segment-bytes"
expect_grep "\-\-segment-bytes" err "--segment-bytes message"
run_in "x" append "$LOG" --compression brotli
expect_rc 2 "unknown codec"
expect_grep "\-\-compression" err "--compression message"
run_in "x" append "$LOG" --flush sometimes
expect_rc 2 "unknown flush policy"
run recover "$LOG" --timestamp-type wall
expect_rc 2 "bad --timestamp-type"
run read "$LOG" --max
expect_rc 2 "flag without its value"
run read
expect_rc 2 "missing DIR"
expect_grep "missing DIR" err "missing DIR message"
run frobnicate "$LOG"
expect_rc 2 "unknown command"
expect_grep "unknown command" err "unknown command message"
run
expect_rc 2 "no command"

step "a missing directory: exit 1, not created"
for cmd in read dump verify recover; do
  run "$cmd" "$WORK/nope"
  expect_rc 1 "$cmd on a missing directory"
  expect_grep "nope" err "$cmd names the missing directory"
  [[ ! -e $WORK/nope ]] || fail "$cmd created the missing directory"
done

step "a log another process has open: read fails with a clear busy message"
mkfifo "$WORK/fifo"
"$SAMSA" append "$LOG" --batch-records 1 <"$WORK/fifo" >"$WORK/holder.out" 2>&1 &
HOLDER_PID=$!
BACKGROUND_PIDS+=("$HOLDER_PID")
exec 3>"$WORK/fifo"
echo held >&3
wait_for "acked 17-17" "$WORK/holder.out" "the holding append"
run read "$LOG"
expect_rc 1 "read while another process has the log"
expect_grep "in use" err "busy message"
expect_grep "only one process" err "busy message"
exec 3>&-
wait "$HOLDER_PID" || fail "the holding append failed"
run read "$LOG" --from 17
expect_rc 0 "read after the holder closed"
[[ $(no_ts) == "17${TAB}null${TAB}held" ]] || fail "read the held record"

echo "cli_test: all checks passed"

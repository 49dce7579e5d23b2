#!/usr/bin/env bash
# Installs a samsa build tree into a temporary prefix and builds tests/install/consumer
# against it twice, as a host application would: (a) with CMake's find_package(samsa) and
# (b) with pkg-config --static. Each consumer must run and print "consumer ok 2 records".
# Usage: consumer_test.sh SAMSA_BUILD_DIR CONSUMER_SOURCE_DIR   (CXX: the compiler to use)
set -euo pipefail
build_dir=$1
src_dir=$2
cxx=${CXX:-c++}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
expected="consumer ok 2 records"

fail() {
  echo "consumer_test: FAILED: $*" >&2
  exit 1
}
# quietly DESCRIPTION COMMAND...: runs the command; on failure shows its output and fails.
quietly() {
  local what=$1
  shift
  echo "consumer_test: $what"
  "$@" >"$tmp/step.log" 2>&1 || { cat "$tmp/step.log" >&2; fail "$what"; }
}
# check_run BINARY: runs it and compares its output.
check_run() {
  local out
  out=$("$1") || fail "$1 exited with $? (output: $out)"
  [[ $out == "$expected" ]] || fail "$1 printed '$out', expected '$expected'"
  echo "consumer_test: $1: $out"
}

quietly "cmake --install $build_dir --prefix $prefix" cmake --install "$build_dir" --prefix "$prefix"

generator=()
if command -v ninja >/dev/null; then generator=(-G Ninja); fi
quietly "configure the consumer with find_package(samsa 0.1)" \
  cmake -S "$src_dir" -B "$tmp/build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_PREFIX_PATH="$prefix"
quietly "build the CMake consumer" cmake --build "$tmp/build"
check_run "$tmp/build/consumer"

pc=$(find "$prefix" -name samsa.pc -path '*/pkgconfig/*' -print -quit)
[[ -n $pc ]] || fail "no pkgconfig/samsa.pc under $prefix"
flags=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --static --cflags --libs samsa) ||
  fail "pkg-config --static --cflags --libs samsa"
# $flags is a list of words, as pkg-config's output always is.
# shellcheck disable=SC2086
quietly "build the pkg-config consumer: $cxx -std=c++20 main.cc $flags" \
  "$cxx" -std=c++20 "$src_dir/main.cc" $flags -o "$tmp/pc-consumer"
check_run "$tmp/pc-consumer"
echo "consumer_test: ok"

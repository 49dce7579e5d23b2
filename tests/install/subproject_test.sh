#!/usr/bin/env bash
# Builds tests/install/consumer with samsa as a subproject, twice: through add_subdirectory
# and through FetchContent (SOURCE_DIR, nothing downloaded). Both must give the same
# samsa::samsa target, leave the host's build type alone (configured without one) and run,
# printing "consumer ok 2 records".
# Usage: subproject_test.sh SAMSA_SOURCE_DIR CONSUMER_SOURCE_DIR   (CXX: the compiler to use)
set -euo pipefail
samsa_dir=$1
src_dir=$2
cxx=${CXX:-c++}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
expected="consumer ok 2 records"

fail() {
  echo "subproject_test: FAILED: $*" >&2
  exit 1
}
quietly() {
  local what=$1
  shift
  echo "subproject_test: $what"
  "$@" >"$tmp/step.log" 2>&1 || { cat "$tmp/step.log" >&2; fail "$what"; }
}

generator=()
if command -v ninja >/dev/null; then generator=(-G Ninja); fi
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
for via in add_subdirectory FetchContent; do
  build=$tmp/$via
  quietly "configure the consumer with samsa through $via (no build type)" \
    cmake -S "$src_dir" -B "$build" "${generator[@]}" "${launcher[@]}" \
    -DCMAKE_CXX_COMPILER="$cxx" -DSAMSA_CONSUMER_VIA="$via" -DSAMSA_SOURCE_DIR="$samsa_dir" \
    -DSAMSA_CONSUMER_EXPECT_NO_BUILD_TYPE=ON
  quietly "build the $via consumer" cmake --build "$build" --parallel 2
  out=$("$build/consumer") || fail "$via consumer exited with $?"
  [[ $out == "$expected" ]] || fail "$via consumer printed '$out', expected '$expected'"
  echo "subproject_test: $via: $out"
done
echo "subproject_test: ok"

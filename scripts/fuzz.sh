#!/usr/bin/env bash
# Fuzzes one target of fuzz/ (see the README, "Fuzzing"): `scripts/fuzz.sh <target> [seconds]`,
# or `scripts/fuzz.sh --list`. A release build with debug assertions and AddressSanitizer; one process, 2 GiB of RSS at most, final statistics printed; new
# inputs go to fuzz/corpus/<target>/, failing ones to fuzz/artifacts/<target>/. Extra arguments
# after the seconds go to libFuzzer. Needs `cargo install cargo-fuzz`; on a stable toolchain
# RUSTC_BOOTSTRAP=1 lets rustc accept the -Z flags cargo-fuzz passes.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--list" ] || [ $# -lt 1 ]; then
    (cd fuzz && cargo fuzz list)
    [ $# -ge 1 ] || { echo "usage: scripts/fuzz.sh <target> [seconds] [libFuzzer flags...]" >&2; exit 2; }
    exit 0
fi
target=$1
seconds=${2:-600}
shift $(( $# >= 2 ? 2 : 1 ))
export RUSTC_BOOTSTRAP=1
exec cargo fuzz run --fuzz-dir fuzz "$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 "$@"

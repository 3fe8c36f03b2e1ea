#!/usr/bin/env bash
# Builds the fuzz targets (libFuzzer + AddressSanitizer) and runs each one for
# a bounded time on its seed corpus. Any crash, sanitizer report, broken
# invariant, timeout or memory blow-up is a finding: the input is saved under
# Fuzz/.build/findings/TARGET/ and the script fails.
#
#   FUZZ_SECONDS   seconds per target (default 60)
#   FUZZ_TARGETS   space-separated subset (default: all)
#   FUZZ_MAX_LEN   largest input in bytes (default 65536)
#   FUZZ_RSS_MB    memory limit per target in MiB (default 2048)
#   FUZZ_TIMEOUT   seconds one input may take (default 10)
set -uo pipefail
cd "$(dirname "$0")"
export PATH="/opt/swift/usr/bin:$PATH"
# A trap must reach libFuzzer's handler at once (which saves the input), not
# the Swift runtime's backtracer first.
export SWIFT_BACKTRACE=enable=no
export LSAN_OPTIONS="suppressions=$PWD/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

ALL_TARGETS="FuzzNativeCamera FuzzDevice FuzzFrigate FuzzGB28181 FuzzONVIF FuzzGeoJSON FuzzScenario FuzzConfig"
TARGETS=${FUZZ_TARGETS:-$ALL_TARGETS}
SECS=${FUZZ_SECONDS:-60}
MAX_LEN=${FUZZ_MAX_LEN:-65536}
RSS_MB=${FUZZ_RSS_MB:-2048}
TIMEOUT=${FUZZ_TIMEOUT:-10}
# `--sanitize=fuzzer` tells SwiftPM to leave `main` to libFuzzer; the sanitizers
# themselves come from one combined `-sanitize=fuzzer,address`, last on each
# command line: swiftc keeps only its last `-sanitize=` option, and SwiftPM's
# `--sanitize=fuzzer --sanitize=address` emits two in an order that changes from
# run to run (one build got coverage without ASan, the next ASan without coverage).
FLAGS=(-c debug --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address)

dictionary() {
    case "$1" in
        FuzzGB28181) echo Dictionaries/xml.dict ;;
        FuzzScenario|FuzzConfig) echo Dictionaries/yaml.dict ;;
        *) echo Dictionaries/json.dict ;;
    esac
}

start=$(date +%s)
# (The linker's "Cannot export local symbol" warnings about ASan's own symbols are left out.)
swift build "${FLAGS[@]}" 2>&1 | grep -v "Cannot export local symbol"
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "fuzz: the fuzz targets did not build"; exit 1; }
echo "fuzz: built in $(( $(date +%s) - start )) s"
BIN=$(swift build "${FLAGS[@]}" --show-bin-path)
# Refuse to "pass" with an uninstrumented build: the decoders' objects must
# carry both coverage counters and ASan checks.
probe="$BIN/Alerts.build/JSONValue.swift.o"
sancov=$(objdump -h "$probe" | grep -c __sancov_cntrs) asan=$(nm "$probe" | grep -c __asan_)
if [ "${sancov:-0}" -eq 0 ] || [ "${asan:-0}" -eq 0 ]; then
    echo "fuzz: $probe lacks coverage or ASan instrumentation; the fuzz build is wrong"
    exit 1
fi

passed=0 failed=0 failures=""
for t in $TARGETS; do
    work=.build/fuzz-corpus/$t findings=.build/findings/$t log=.build/fuzz-logs/$t.log
    mkdir -p "$work" "$findings" "$(dirname "$log")"
    # New inputs go to the first directory (not in git); the seeds are read only.
    "$BIN/$t" "$work" "Corpus/$t" -dict="$(dictionary "$t")" \
        -max_total_time="$SECS" -max_len="$MAX_LEN" -rss_limit_mb="$RSS_MB" -timeout="$TIMEOUT" \
        -artifact_prefix="$findings/" -print_final_stats=1 >"$log" 2>&1
    rc=$?
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
    if [ $rc -eq 0 ]; then
        passed=$((passed + 1))
        echo "fuzz: $t: ok, ${runs:-?} inputs in ${SECS} s, ${cov:-cov: ?}"
    else
        failed=$((failed + 1)) failures="$failures $t"
        echo "fuzz: $t: FINDING (exit $rc), log $PWD/$log:"
        grep -E 'ERROR|SUMMARY|INVARIANT|Fatal error|deadly signal|Test unit written|Base64' "$log" | head -20
        grep -B2 -A25 -m1 -E '^ *#0 ' "$log" | head -40
    fi
done
echo "fuzz: total $(( $(date +%s) - start )) s"
[ -z "$failures" ] || echo "fuzz: findings in:$failures (inputs under $PWD/.build/findings/)"
echo "fuzz: $passed passed, $failed failed"
[ $failed -eq 0 ]

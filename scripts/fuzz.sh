#!/usr/bin/env bash
# Runs the libFuzzer targets (tests/fuzz) for SECONDS each, one after the other, under ASan and
# UBSan, and prints a table of what each reached. Usage:
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     # default: 60 s each, every target
#
# The targets are built in build-asan/ (the `asan` preset, the same tree as scripts/test-sanitized.sh).
# Each starts from the committed seeds (tests/fuzz/corpus/TARGET) and from what earlier runs on this
# machine found (build-asan/fuzz-corpus/TARGET, where new inputs go), and uses
# tests/fuzz/dictionaries/TARGET.dict when there is one.
#
# Exits non-zero when a target finds anything: a crash, an uncaught exception, a sanitizer report,
# a leak, an input slower than 10 s, one allocation over 2 GB, or a process over 4 GB. The finding is kept in
# build-asan/fuzz-findings/TARGET/, minimised for up to a minute, and the script prints how to
# reproduce it. Once the bug is fixed, commit the reproducer to tests/fuzz/regressions/TARGET/:
# ctest's fuzz_corpus.TARGET replays it in every build from then on. See docs/development.md.
# A target stopped by SIGINT or SIGTERM also makes the exit status non-zero, reported as
# "none (interrupted)" with the executions it reached.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

seconds="${1:-60}"
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: SECONDS must be a whole number above 0, got '$seconds'" >&2; exit 2; }
shift $(($# > 0 ? 1 : 0))

BUILD_DIR=build-asan
all_targets=()
for source in tests/fuzz/fuzz_*.cpp; do
    name="$(basename "$source" .cpp)"
    all_targets+=("${name#fuzz_}")
done
targets=("$@")
((${#targets[@]} > 0)) || targets=("${all_targets[@]}")
for target in "${targets[@]}"; do
    [[ -f "tests/fuzz/fuzz_$target.cpp" ]] \
        || { echo "fuzz.sh: no target named '$target'; the targets are: ${all_targets[*]}" >&2; exit 2; }
done

bash scripts/bootstrap.sh
if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
    cmake --preset asan
    [[ -f "$BUILD_DIR/.gitignore" ]] || printf '*\n' >"$BUILD_DIR/.gitignore"
fi
cmake --build --preset asan --target "${targets[@]/#/fuzz_}"

# The settings and catalog targets write each input to a file in a scratch directory: on tmpfs
# that costs a third less.
if [[ -z "${TMPDIR:-}" && -d /dev/shm && -w /dev/shm ]]; then
    export TMPDIR=/dev/shm
fi

# LeakSanitizer runs at the end of every input whose allocations did not balance (libFuzzer's
# -detect_leaks) and at exit. halt_on_error: the first report is the finding.
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"

# summary_row VERDICT: the table's row for the target just run.
summary_row() {
    printf '%-16s %12s %10s %8s %8s  %s' "$target" "${runs:-?}" "${rate:-?}" "${coverage:-?}" "$inputs" "$1"
}

summary=()
status=0
for target in "${targets[@]}"; do
    corpus="$BUILD_DIR/fuzz-corpus/$target"
    findings="$BUILD_DIR/fuzz-findings/$target"
    log="$BUILD_DIR/fuzz-logs/$target.log"
    mkdir -p "$corpus" "$findings" "$(dirname "$log")"
    # The process's memory only bounds the run as a whole: ASan keeps what it freed per size class
    # and the corpus grows, so over a million executions of the catalog's 20 KB inputs it passed
    # 1.6 GB (about 1 MB per 1,000 executions), while one input repeated 40,000 times stays flat.
    # What an input itself allocates is bounded by -malloc_limit_mb.
    options=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -malloc_limit_mb=2048 -print_final_stats=1
             -artifact_prefix="$findings/")
    dictionary="tests/fuzz/dictionaries/$target.dict"
    [[ -f "$dictionary" ]] && options+=(-dict="$dictionary")

    printf 'fuzz.sh: %s for %d s (log: %s)\n' "$target" "$seconds" "$log"
    rc=0
    # The first directory receives what this run finds; the committed seeds are only read.
    "$BUILD_DIR/bin/fuzz_$target" "${options[@]}" "$corpus" "tests/fuzz/corpus/$target" >"$log" 2>&1 || rc=$?

    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
    coverage="$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)"
    inputs="$(find "$corpus" -type f | wc -l)"
    if ((rc == 0)); then
        summary+=("$(summary_row "none")")
        continue
    fi

    status=1
    # libFuzzer's exit status for SIGINT or SIGTERM: the run was stopped, nothing was found.
    if ((rc == 72)) && grep -q 'libFuzzer: run interrupted' "$log"; then
        summary+=("$(summary_row "none (interrupted)")")
        continue
    fi
    finding="$(ls -t "$findings"/* 2>/dev/null | head -1 || true)"
    summary+=("$(summary_row "FOUND (exit $rc)")")
    printf '\n===== fuzz_%s found something (exit %d); the end of its log:\n' "$target" "$rc" >&2
    tail -60 "$log" >&2
    if [[ -n "$finding" ]]; then
        minimised="$finding.min"
        "$BUILD_DIR/bin/fuzz_$target" -minimize_crash=1 -max_total_time=60 -timeout=10 \
            -exact_artifact_path="$minimised" "$finding" >"$log.minimise" 2>&1 || true
        [[ -s "$minimised" ]] || minimised="$finding"
        printf '\nfuzz.sh: the input is %s (minimised: %s)\n' "$finding" "$minimised" >&2
        printf 'fuzz.sh: reproduce it with: %s/bin/fuzz_%s %s\n' "$BUILD_DIR" "$target" "$minimised" >&2
        printf 'fuzz.sh: then fix the code the report points at, and copy the input to tests/fuzz/regressions/%s/\n' \
            "$target" >&2
    fi
done

printf '\n%-16s %12s %10s %8s %8s  %s\n' target executions "execs/s" coverage corpus finding
printf '%s\n' "${summary[@]}"
exit "$status"

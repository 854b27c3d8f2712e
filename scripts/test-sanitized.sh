#!/usr/bin/env bash
# Builds build-asan/ (the `asan` preset of CMakePresets.json: everything compiled by clang with ASan
# and UBSan, through ccache) and runs the unit and integration tests in it, and the fuzz targets'
# committed inputs: the ctest entries unit_tests.*, integration_tests.* and fuzz_corpus.*, which
# cover the service, the CLI and the library. The Python-driven entries (Ray end to end, the
# browser, schemathesis, the playbook checks, ...) run in the normal build only.
# Extra arguments are passed to ctest (e.g. -R unit_tests.router, -j2). See docs/development.md.
#
# Every sanitizer report, from a test binary or from a service or CLI process a test started (whose
# output a test may never look at), is written under build-asan/sanitizer-reports/; the run fails
# when that directory is not empty at the end, even if ctest passed, and prints the reports.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

bash scripts/bootstrap.sh

BUILD_DIR=build-asan
if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
    cmake --preset asan
    [[ -f "$BUILD_DIR/.gitignore" ]] || printf '*\n' >"$BUILD_DIR/.gitignore"
fi
# The build preset passes the configure preset's CCACHE_* environment to ccache: the same settings
# as scripts/build.sh, so a second checkout of the same sources hits the cache.
cmake --build --preset asan

REPORTS="$REPO_ROOT/$BUILD_DIR/sanitizer-reports"
rm -rf "$REPORTS"
mkdir -p "$REPORTS"

# halt_on_error: the first report ends the process (UBSan too: -fno-sanitize-recover=all).
# detect_stack_use_after_return: off by default in GCC 12's libasan; Asio's coroutine frames live on
#   the heap, so the fake stacks this needs cost memory only, and they catch a reference to a local
#   kept past its function's return.
# check_initialization_order: a static initialiser reading another file's global before it exists.
# log_path + log_exe_name: reports go to files named after the process, see above.
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:log_path=$REPORTS/asan:log_exe_name=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$REPORTS/ubsan:log_exe_name=1"

status=0
# The suites' timeout is 900 s in this build (tests/CMakeLists.txt): instrumented code is slower.
ctest --test-dir "$BUILD_DIR" --output-on-failure --no-tests=error \
    -R '^(unit_tests|integration_tests|fuzz_corpus)\.' "$@" || status=$?

shopt -s nullglob
reports=("$REPORTS"/*)
if ((${#reports[@]} > 0)); then
    for report in "${reports[@]}"; do
        printf '\n===== %s\n' "$report"
        cat "$report"
    done
    printf '\ntest-sanitized: %d sanitizer report(s) above (kept in %s): fix the code they point at; ' \
        "${#reports[@]}" "$REPORTS" >&2
    printf 'a third-party frame is suppressed only in tests/sanitizers/ with the reason\n' >&2
    status=1
fi
exit "$status"

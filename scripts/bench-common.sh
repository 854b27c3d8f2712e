# What scripts/bench.sh and scripts/bench-events.sh share. Sourced right after their
# `set -Eeuo pipefail`, with BENCH_NAME set to the name their messages start with; sets
# REPO_ROOT, moves there and makes WORK, the scratch directory. Each script traps EXIT itself:
# its cleanup stops its own processes (stop_process) and removes WORK.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Before the cd below: "$0" may be relative to where the script was started.
BENCH_SCRIPT="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$REPO_ROOT"
WORK="$(mktemp -d)"

# Prints the script's header comment (its usage) and exits 2.
usage() {
    sed -n '2,/^set -Eeuo/p' "$BENCH_SCRIPT" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
    exit 2
}

die() {
    echo "$BENCH_NAME: $*" >&2
    exit 1
}

stop_process() {
    local pid="$1"
    [[ -n "$pid" ]] || return 0
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# set -e stops at the first failing command without a word (-E: also inside functions): name it.
trap 'echo "$BENCH_NAME: stopped: \"$BASH_COMMAND\" failed (line $LINENO of ${BASH_SOURCE[0]#"$REPO_ROOT"/})" >&2' ERR

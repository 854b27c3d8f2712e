#!/usr/bin/env bash
# Benchmark: raydeploy's overhead over bare ansible-playbook.
# Runs the fixture of 300 tasks on 20 local hosts (tests/fixtures/ansible/bench) once with
# ansible-playbook alone and once through `raydeploy serve` (events stored in SQLite and streamed
# to a WebSocket subscriber), and prints both wall times and their ratio. Figures, not assertions:
# the target is at most 5 % added. Takes a few minutes; run it on a quiet machine.
#   scripts/bench.sh [ROUNDS]      (default 1 round of each)
#   scripts/bench.sh ray [NODES] [ROUNDS]
#       the Ray poller's step instead: parse and diff a synthetic NODES-node (default 10000)
#       /api/v0/nodes + /api/cluster_status answer, min/median/max over ROUNDS (default 20);
#       goal <= 20 ms. Seconds, no service.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

if [[ "${1:-}" == "ray" ]]; then
    bash scripts/build.sh --target bench_ray_snapshot >&2
    echo "machine: $(nproc) cores, $(uname -sr)"
    exec build/bin/bench_ray_snapshot "${2:-10000}" "${3:-20}"
fi
ROUNDS="${1:-1}"
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }

bash scripts/build.sh --target raydeploy bench_client >&2

BENCH_DIR="$REPO_ROOT/tests/fixtures/ansible/bench"
ANSIBLE_PLAYBOOK="$REPO_ROOT/.venv/bin/ansible-playbook"
WORK="$(mktemp -d)"
SERVICE_PID=""
cleanup() {
    [[ -n "$SERVICE_PID" ]] && kill "$SERVICE_PID" 2>/dev/null && wait "$SERVICE_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
echo "fixture: 300 tasks on 20 local hosts, forks 20 (tests/fixtures/ansible/bench)"

bare_total=0
service_total=0
for round in $(seq 1 "$ROUNDS"); do
    # Bare: ansible-playbook with its default stdout callback, output thrown away as a terminal-less CI would.
    start=$(date +%s.%N)
    (cd "$BENCH_DIR" && ANSIBLE_NOCOLOR=1 "$ANSIBLE_PLAYBOOK" -i inventory.yml playbook.yml >/dev/null)
    bare=$(calc "$(date +%s.%N) - $start")
    echo "round $round: bare ansible-playbook: ${bare} s"

    # Through raydeploy: a fresh service and state directory for each round.
    rm -rf "$WORK/state" && mkdir -p "$WORK"
    build/bin/raydeploy serve --listen 127.0.0.1:0 --state-dir "$WORK/state" \
        --catalog "$BENCH_DIR/catalog.yaml" --inventory "$BENCH_DIR/inventory.yml" \
        --log-level warn >"$WORK/stdout" 2>"$WORK/stderr" &
    SERVICE_PID=$!
    for _ in $(seq 1 100); do
        grep -q "listening on" "$WORK/stdout" 2>/dev/null && break
        sleep 0.1
    done
    port=$(sed -n 's/^listening on http:\/\/127.0.0.1:\([0-9]*\)$/\1/p' "$WORK/stdout")
    [[ -n "$port" ]] || { cat "$WORK/stderr" >&2; echo "bench: the service did not start" >&2; exit 1; }
    output=$(build/bin/bench_client "$port" bench)
    echo "round $round: through raydeploy: $(grep '^execution' <<<"$output")"
    service=$(sed -n 's/^raydeploy_seconds=//p' <<<"$output")
    kill "$SERVICE_PID" && wait "$SERVICE_PID" || true
    SERVICE_PID=""

    bare_total=$(calc "$bare_total + $bare")
    service_total=$(calc "$service_total + $service")
done

echo "mean over $ROUNDS round(s): bare $(calc "$bare_total / $ROUNDS") s," \
     "raydeploy $(calc "$service_total / $ROUNDS") s," \
     "ratio $(calc "$service_total / $bare_total" 3)" \
     "($(calc "($service_total - $bare_total) * 100 / $bare_total" 1) % added; target <= 5 %)"

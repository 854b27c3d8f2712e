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
#   scripts/bench.sh ray-status [NODES] [SECONDS]
#       the API's latency while the Ray monitor polls: GET /api/v1/cluster/status, /health and
#       /api/v1/resources/nodes, one after the other, each back to back on one keep-alive
#       connection for SECONDS (default 10), in five phases, each with a fresh service and state
#       directory: Ray monitoring disabled (the baseline), polling the fake Ray dashboard
#       (tests/fake_ray) with NODES nodes (default 1000) every second, then the fake answering
#       "slow" (after the 5 s request timeout), "huge" (50 MB) and "garbage" once the monitor holds
#       its snapshot. Prints p50/p99/max (ms), answers over 10 ms and requests/s per endpoint and
#       phase, and the dashboard requests (and polls) the fake saw meanwhile. About 15 x SECONDS.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

if [[ "${1:-}" == "ray" ]]; then
    bash scripts/build.sh --target bench_ray_snapshot >&2
    echo "machine: $(nproc) cores, $(uname -sr)"
    exec build/bin/bench_ray_snapshot "${2:-10000}" "${3:-20}"
fi
WORK="$(mktemp -d)"
FAKE_PID=""
SERVICE_PID=""
cleanup() {
    [[ -n "$SERVICE_PID" ]] && kill "$SERVICE_PID" 2>/dev/null && wait "$SERVICE_PID" 2>/dev/null
    [[ -n "$FAKE_PID" ]] && kill "$FAKE_PID" 2>/dev/null && wait "$FAKE_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

# Starts `raydeploy serve` on a free loopback port with "$@" added (and the caller's environment),
# in the background as SERVICE_PID; sets `port` once it listens.
start_service() {
    build/bin/raydeploy serve --listen 127.0.0.1:0 --log-level warn "$@" >"$WORK/stdout" 2>"$WORK/stderr" &
    SERVICE_PID=$!
    for _ in $(seq 1 100); do
        grep -q "listening on" "$WORK/stdout" 2>/dev/null && break
        sleep 0.1
    done
    port=$(sed -n 's/^listening on http:\/\/127.0.0.1:\([0-9]*\)$/\1/p' "$WORK/stdout")
    [[ -n "$port" ]] || { cat "$WORK/stderr" >&2; echo "bench: the service did not start" >&2; exit 1; }
}

if [[ "${1:-}" == "ray-status" ]]; then
    NODES="${2:-1000}"
    SECONDS_PER_PHASE="${3:-10}"
    bash scripts/build.sh --target raydeploy bench_latency >&2

    # The fake's --workers counts the nodes besides the head.
    .venv/bin/python tests/fake_ray/fake_ray_dashboard.py --port 0 --workers "$((NODES - 1))" \
        >"$WORK/fake.stdout" 2>"$WORK/fake.stderr" &
    FAKE_PID=$!
    for _ in $(seq 1 100); do
        [[ -s "$WORK/fake.stdout" ]] && break
        sleep 0.1
    done
    ray_port=$(sed -n 's/.*"ray_port": *\([0-9]*\).*/\1/p' "$WORK/fake.stdout")
    control_port=$(sed -n 's/.*"control_port": *\([0-9]*\).*/\1/p' "$WORK/fake.stdout")
    [[ -n "$ray_port" && -n "$control_port" ]] || { cat "$WORK/fake.stderr" >&2; echo "bench: the fake Ray dashboard did not start" >&2; exit 1; }
    control() { curl -sf -X POST -H 'Content-Type: application/json' -d "$2" "http://127.0.0.1:$control_port$1" >/dev/null; }
    # Requests the fake has received: every endpoint, and /api/version alone (the first read of each poll).
    fake_counts() {
        curl -sf "http://127.0.0.1:$control_port/requests" |
            .venv/bin/python -c 'import json, sys; r = json.load(sys.stdin); print(r["total"], r["counts"].get("/api/version", 0))'
    }

    echo "machine: $(nproc) cores, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "fake Ray dashboard: $NODES nodes; poll interval 1s, request timeout 5s (default); $SECONDS_PER_PHASE s per phase"
    row='%-9s %-24s %8s %8s %8s %8s %6s %6s %8s %7s %5s\n'
    printf "$row" phase endpoint requests p50_ms p99_ms max_ms '>10ms' req/s bytes ray_req polls
    for phase in disabled healthy slow huge garbage; do
        control /reset '{}'
        state="$WORK/state-$phase"
        enabled=true
        [[ "$phase" == disabled ]] && enabled=false
        RAYDEPLOY_RAY_ENABLED="$enabled" RAYDEPLOY_RAY_DASHBOARD_URL="http://127.0.0.1:$ray_port" \
            RAYDEPLOY_RAY_POLL_INTERVAL=1s RAYDEPLOY_MONITORING_PROMETHEUS_URL="" \
            RAYDEPLOY_MONITORING_NODE_EXPORTER_URL="" start_service --state-dir "$state"
        if [[ "$enabled" == true ]]; then
            # A fault only counts once the snapshot holds the cluster: the endpoints then answer
            # with its NODES nodes whatever the dashboard does next.
            connected=""
            for _ in $(seq 1 600); do
                curl -sf "http://127.0.0.1:$port/api/v1/cluster/status" | grep -q '"state":"CONNECTED"' &&
                    connected=yes && break
                sleep 0.1
            done
            [[ -n "$connected" ]] || { cat "$WORK/stderr" >&2; echo "bench: the monitor never saw the fake CONNECTED in 60 s" >&2; exit 1; }
        fi
        case "$phase" in
            slow) control /fault '{"mode": "slow", "delay_s": 30}' ;;
            huge | garbage) control /fault "{\"mode\": \"$phase\"}" ;;
        esac
        # One endpoint at a time, so a cheap one is sampled often enough to catch every poll.
        for path in /api/v1/cluster/status /health /api/v1/resources/nodes; do
            read -r total_before polls_before < <(fake_counts)
            IFS=$'\t' read -r requests p50 p99 max over_10ms rate bytes \
                < <(build/bin/bench_latency "$port" "$SECONDS_PER_PHASE" "$path")
            [[ -n "$requests" ]] || { echo "bench: measuring GET $path failed" >&2; exit 1; }
            read -r total_after polls_after < <(fake_counts)
            printf "$row" "$phase" "$path" "$requests" "$p50" "$p99" "$max" "$over_10ms" "$rate" "$bytes" \
                "$((total_after - total_before))" "$((polls_after - polls_before))"
        done
        kill "$SERVICE_PID" && wait "$SERVICE_PID" || true
        SERVICE_PID=""
    done
    exit 0
fi
ROUNDS="${1:-1}"
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }

bash scripts/build.sh --target raydeploy bench_client >&2

BENCH_DIR="$REPO_ROOT/tests/fixtures/ansible/bench"
ANSIBLE_PLAYBOOK="$REPO_ROOT/.venv/bin/ansible-playbook"
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
    rm -rf "$WORK/state"
    start_service --state-dir "$WORK/state" --catalog "$BENCH_DIR/catalog.yaml" --inventory "$BENCH_DIR/inventory.yml"
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

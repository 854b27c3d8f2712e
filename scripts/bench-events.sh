#!/usr/bin/env bash
# raydeploy's event, subscriber, start and memory benchmarks (issue 13). Each starts a fresh
# `raydeploy serve` per round (its own state directory, a bearer token, Ray and the monitoring
# probes off), measures, and prints the machine, what it measured and a table of min/median/max
# over the rounds. Figures, not assertions; not part of the test suite (docs/benchmarks.md).
#
#   scripts/bench-events.sh events [EVENTS]
#       events parsed, stored and delivered to BENCH_STREAM_SUBSCRIBERS (10) WebSocket
#       subscribers per second through the real executor path: the service's ansible_playbook is
#       build/bin/bench_event_source, which writes EVENTS (default 200000) callback-plugin lines on
#       the event channel as fast as it can. Each subscriber must get every counter of the run
#       once (lost and duplicated are counted; a subscriber whose connection drops resumes).
#   scripts/bench-events.sh ws [EVENTS]
#       event latency from the source's write to each of BENCH_WS_SUBSCRIBERS (100) subscribers,
#       the source paced at BENCH_WS_RATE (10000) events/s, EVENTS (default 50000) events a round:
#       p50/p99/max in ms.
#   scripts/bench-events.sh starts [COUNT]
#       executions started per second over REST: COUNT (default 200) distinct checkpoints of a
#       generated catalog, each started once by POST /api/v1/checkpoints/{name} over
#       BENCH_START_CONNECTIONS (4) keep-alive connections (executions.max_concurrent stays at its
#       default: the rest queue); then every accepted run must reach a final status and be listed.
#   scripts/bench-events.sh memory [SUBSCRIBERS]
#       the service's VmRSS just after it listens, after BENCH_IDLE_SECONDS (10) idle, and with
#       SUBSCRIBERS (default 1000) idle WebSocket subscribers connected.
#   scripts/bench-events.sh all
#       the four above, one after the other, under one header.
#
# Environment: BENCH_ROUNDS (rounds of each benchmark, default 3), BENCH_MESSAGES (batch, the
# default: subscribers of events and ws ask for batch=true, JSON arrays of the events ready
# together; single: one message per event) and the BENCH_* names above.
set -Eeuo pipefail
BENCH_NAME=bench-events
source "$(dirname "${BASH_SOURCE[0]}")/bench-common.sh"

ROUNDS="${BENCH_ROUNDS:-3}"
MESSAGES="${BENCH_MESSAGES:-batch}"
ROUND_WORDS="$ROUNDS rounds"
[[ "$ROUNDS" != 1 ]] || ROUND_WORDS="1 round"
SERVICE_PID=""
HOLDER_PID=""

cleanup() {
    stop_process "$HOLDER_PID"
    stop_process "$SERVICE_PID"
    rm -rf "$WORK"
}
trap cleanup EXIT

# ----------------------------------------------------------------------------------------------
# The service under test: fresh per round, with an operator token, Ray and the probes off (nothing
# polls or emits events of its own), ansible_playbook the synthetic event source.

make_token() {
    build/bin/raydeploy token create --name bench --role operator >"$WORK/token.txt"
    export RAYDEPLOY_TOKEN
    RAYDEPLOY_TOKEN=$(head -1 "$WORK/token.txt")
    TOKEN_ENTRY=$(sed -n 's/^# RAYDEPLOY_AUTH_TOKENS=//p' "$WORK/token.txt")
    [[ "$RAYDEPLOY_TOKEN" == rdp_* && -n "$TOKEN_ENTRY" ]] ||
        die "could not read the token 'raydeploy token create' printed (has its output changed?): $(cat "$WORK/token.txt")"
}

# serve CATALOG [VAR=VALUE...]: starts the service on a new state directory with the settings
# given as environment variables; sets PORT once it listens.
serve() {
    local catalog="$1"
    shift
    local state="$WORK/state"
    rm -rf "$state" "$WORK/service.out"
    env RAYDEPLOY_AUTH_TOKENS="$TOKEN_ENTRY" RAYDEPLOY_RAY_ENABLED=false RAYDEPLOY_MONITORING_PROMETHEUS_URL="" \
        RAYDEPLOY_MONITORING_NODE_EXPORTER_URL="" "$@" \
        build/bin/raydeploy serve --listen 127.0.0.1:0 --log-level warn --state-dir "$state" --catalog "$catalog" \
        --inventory tests/fixtures/ansible/inventory.yml --ansible-playbook build/bin/bench_event_source \
        >"$WORK/service.out" 2>"$WORK/service.err" &
    SERVICE_PID=$!
    PORT=""
    for _ in $(seq 1 300); do
        PORT=$(sed -n 's/^listening on http:\/\/127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$WORK/service.out")
        [[ -z "$PORT" ]] || return 0
        kill -0 "$SERVICE_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$WORK/service.err" >&2
    die "raydeploy serve did not listen within 30 s (its stderr is above)"
}

unserve() {
    stop_process "$SERVICE_PID"
    SERVICE_PID=""
}

# client FILE PREFIX GOAL_RATE ARGS...: runs bench_events ARGS; its report goes to stderr, its
# RESULT line with the CPU figures (cores_at_goal_rate at GOAL_RATE events/s) to FILE with PREFIX
# before each key.
client() {
    local results="$1" prefix="$2" goal_rate="$3"
    shift 3
    local output
    output=$(build/bin/bench_events "$@") || {
        echo "$output" >&2
        tail -20 "$WORK/service.err" >&2
        die "bench_events $1 failed (its output and the end of the service's log are above)"
    }
    sed '/^RESULT /d; s/^/    /' <<<"$output" >&2
    # CPU time per stored event: what the work cost, which on a shared machine varies far less from
    # round to round than the rates do. The service's own; its children's (the synthetic source
    # and `raydeploy __supervise`, reaped by the end of the run); the client's (its report); and
    # their sum, the whole machine's work for an event.
    local line events
    line="$(sed -n "s/^RESULT //p" <<<"$output") $(cpu_seconds)"
    events=$(sed -n 's/.*final_counter=\([0-9]*\).*/\1/p' <<<"$line")
    [[ -z "$events" || "$events" == 0 ]] || line+=" $(per_event "$line" "$events" "$goal_rate")"
    sed "s/\([a-z_0-9]*\)=/$prefix\1=/g" <<<"$line" >>"$results"
}

# The service's CPU time so far (user + system) and that of its children it has reaped, in
# seconds, as "service_cpu_s=.. children_cpu_s=..", from /proc/PID/stat (after the command's name,
# which may hold spaces: utime, stime, cutime and cstime are the 12th to 15th fields).
cpu_seconds() {
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, "")
        printf "service_cpu_s=%.2f children_cpu_s=%.2f", ($12 + $13) / hz, ($14 + $15) / hz }' "/proc/$SERVICE_PID/stat"
}

# per_event "KEY=VALUE..." EVENTS RATE: the *_cpu_s figures of the line in µs per event, their
# sum, and the cores that sum takes at RATE events/s.
per_event() {
    awk -v line="$1" -v events="$2" -v rate="$3" 'BEGIN {
        n = split(line, pair, " ")
        for (i = 1; i <= n; i++) { split(pair[i], kv, "="); value[kv[1]] = kv[2] }
        for (who in value) if (who ~ /_cpu_s$/) {
            us = value[who] * 1e6 / events; total += us
            printf "%s_us_per_event=%.2f ", substr(who, 1, length(who) - 2), us
        }
        printf "machine_cpu_us_per_event=%.2f cores_at_goal_rate=%.2f", total, total * rate / 1e6 }'
}

# ----------------------------------------------------------------------------------------------
# Output: the machine, then per benchmark a table over its rounds.

print_machine() {
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "machine: $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1))," \
        "$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr)," \
        "load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "raydeploy: $(build/bin/raydeploy --version | sed 's/^raydeploy //')" \
        "($(git rev-parse --short HEAD)$(git diff --quiet HEAD -- lib service || echo ', with uncommitted changes'))"
}

# table FILE ROW...: FILE holds one line of key=value pairs a round; each ROW is
# "LABEL|KEY|DECIMALS|GOAL" and becomes a line with min, median and max of KEY over the rounds.
table() {
    local results="$1"
    shift
    awk -v rows="$(printf '%s\n' "$@")" '
        { for (i = 1; i <= NF; i++) { split($i, kv, "="); value[kv[1], NR] = kv[2] } }
        END {
            n = split(rows, row, "\n")
            width = 6
            for (r = 1; r <= n; r++) { split(row[r], f, "|"); if (length(f[1]) > width) width = length(f[1]) }
            printf "%-" width "s  %12s  %12s  %12s  %s\n", "figure", "min", "median", "max", "goal"
            line = sprintf("%" width + 44 "s", ""); gsub(/ /, "-", line); print line
            for (r = 1; r <= n; r++) {
                split(row[r], f, "|")
                m = 0
                for (k = 1; k <= NR; k++) if ((f[2], k) in value) v[++m] = value[f[2], k] + 0
                for (i = 2; i <= m; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
                fmt = "%12." f[3] "f"
                if (m == 0) { printf "%-" width "s  %12s  %12s  %12s  %s\n", f[1], "-", "-", "-", f[4]; continue }
                median = m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
                printf "%-" width "s  " fmt "  " fmt "  " fmt "  %s\n", f[1], v[1], median, v[m], f[4]
            }
        }' "$results"
}

# ----------------------------------------------------------------------------------------------
# events and ws: one run of tests/fixtures/events followed by many subscribers.

messages_words() {
    if [[ "$MESSAGES" == batch ]]; then echo "batch=true: each message an array of the events ready together"
    else echo "one message per event"; fi
}

# stream_rounds NAME EVENTS SUBSCRIBERS RATE GOAL_RATE [alone]: ROUNDS runs of the events
# checkpoint (RATE events/s, 0 unpaced; GOAL_RATE for cores_at_goal_rate); with `alone`, each round
# first runs it with no subscriber (keys alone_*), for the cost of the fan-out.
stream_rounds() {
    local name="$1" events="$2" subscribers="$3" rate="$4" goal_rate="$5" alone="${6:-}" results="$WORK/$1.results" round
    : >"$results"
    for round in $(seq 1 "$ROUNDS"); do
        if [[ -n "$alone" ]]; then
            serve tests/fixtures/events/catalog.yaml
            echo "  $name round $round of $ROUNDS, no subscriber:" >&2
            client "$results" alone_ "$goal_rate" stream "$PORT" events 0 "$events" "$rate" 20
            unserve
        fi
        serve tests/fixtures/events/catalog.yaml RAYDEPLOY_EVENTS_MAX_SUBSCRIBERS=$((subscribers + 16))
        echo "  $name round $round of $ROUNDS, $subscribers subscribers:" >&2
        client "$results" "" "$goal_rate" stream "$PORT" events "$subscribers" "$events" "$rate" 20 "$MESSAGES"
        unserve
    done
    RESULTS="$results"
}

bench_events() {
    local events="${1:-${BENCH_STREAM_EVENTS:-200000}}" subscribers="${BENCH_STREAM_SUBSCRIBERS:-10}"
    echo
    echo "== events: $events synthetic callback-plugin lines written as fast as the event channel takes" \
        "them (tests/bench/bench_event_source.cpp, 20 hosts a task), parsed, stored and delivered to" \
        "$subscribers WebSocket subscribers ($(messages_words)); a fresh service per round, $ROUND_WORDS"
    stream_rounds events "$events" "$subscribers" 0 100000 alone
    echo "events/s: from the first Ansible event received to the last subscriber's execution.done (every" \
        "subscriber had every event then); stored: final_counter over the record's started_at..finished_at," \
        "also in a run with no subscriber just before in each round"
    table "$RESULTS" \
        "events/s delivered to each of $subscribers subscribers|events_per_s|0|>= 100000" \
        "slowest subscriber, events/s|subscriber_min_per_s|0|" \
        "events/s stored|stored_per_s|0|" \
        "events/s stored, no subscriber|alone_stored_per_s|0|" \
        "service CPU per event, µs|service_cpu_us_per_event|2|" \
        "service CPU per event, no subscriber, µs|alone_service_cpu_us_per_event|2|" \
        "source and supervisor CPU per event, µs|children_cpu_us_per_event|2|" \
        "client CPU per event, µs|client_cpu_us_per_event|2|" \
        "the three together, µs per event|machine_cpu_us_per_event|2|" \
        "cores they take at 100,000 events/s|cores_at_goal_rate|2|<= $(nproc) (this machine)" \
        "events stored (final_counter)|final_counter|0|" \
        "events lost, all subscribers|lost|0|0" \
        "events duplicated, all subscribers|duplicated|0|0" \
        "catch-ups from the store|catchups|0|" \
        "resumes after a dropped connection|drops|0|"
}

bench_ws() {
    local events="${1:-${BENCH_WS_EVENTS:-50000}}" subscribers="${BENCH_WS_SUBSCRIBERS:-100}"
    local rate="${BENCH_WS_RATE:-10000}"
    echo
    echo "== ws: latency from the source's write of each event (CLOCK_REALTIME in event_data) to its" \
        "receipt by each of $subscribers WebSocket subscribers ($(messages_words)); $events events paced at $rate/s a round," \
        "a fresh service per round, $ROUND_WORDS"
    stream_rounds ws "$events" "$subscribers" "$rate" "$rate"
    echo "latency in ms over every event of every subscriber in the round (p50, p99, max), and the" \
        "highest of the subscribers' own p99"
    table "$RESULTS" \
        "p50 ms|p50_ms|2|" \
        "p99 ms|p99_ms|2|<= 10" \
        "worst subscriber's p99 ms|worst_subscriber_p99_ms|2|" \
        "max ms|max_ms|2|" \
        "service CPU per event, µs|service_cpu_us_per_event|2|" \
        "source and supervisor CPU per event, µs|children_cpu_us_per_event|2|" \
        "client CPU per event, µs|client_cpu_us_per_event|2|" \
        "the three together, µs per event|machine_cpu_us_per_event|2|" \
        "cores they take at $rate events/s|cores_at_goal_rate|2|" \
        "events lost, all subscribers|lost|0|0" \
        "events duplicated, all subscribers|duplicated|0|0" \
        "catch-ups from the store|catchups|0|" \
        "resumes after a dropped connection|drops|0|"
}

# ----------------------------------------------------------------------------------------------
# starts: POST /api/v1/checkpoints/{name} for many distinct checkpoints.

# A catalog of COUNT checkpoints start-001.., each a short run of the synthetic source.
write_starts_catalog() {
    local count="$1" catalog="$WORK/starts-catalog.yaml" i
    {
        echo "# $count checkpoints for scripts/bench-events.sh starts: each writes a few synthetic events."
        echo "checkpoints:"
        for i in $(seq 1 "$count"); do
            printf '  - name: start-%03d\n' "$i"
            cat <<EOF
    playbook: $REPO_ROOT/tests/fixtures/events/events.yml
    description: "A short synthetic run ($i of $count)."
    approval_required: false
    destructive: false
    impact_summary: []
    timeout: 10m
    vars:
      event_count: {type: integer, description: "Events in all"}
      event_hosts: {type: integer, description: "Hosts per task"}
EOF
        done
    } >"$catalog"
    STARTS_CATALOG="$catalog"
}

bench_starts() {
    local count="${1:-${BENCH_STARTS:-200}}" connections="${BENCH_START_CONNECTIONS:-4}"
    local results="$WORK/starts.results" round
    echo
    echo "== starts: $count distinct checkpoints started once each by POST /api/v1/checkpoints/{name} over" \
        "$connections keep-alive connections, each run 20 synthetic events on 3 hosts;" \
        "executions.max_concurrent at its default (the rest queue); a fresh service per round, $ROUND_WORDS"
    write_starts_catalog "$count"
    : >"$results"
    for round in $(seq 1 "$ROUNDS"); do
        serve "$STARTS_CATALOG"
        echo "  starts round $round of $ROUNDS:" >&2
        client "$results" "" 0 starts "$PORT" start "$count" "$connections" '{"extra_vars":{"event_count":20,"event_hosts":3}}'
        unserve
    done
    echo "accepted/s: 202 answers over the time from the first POST to the last answer; none lost:" \
        "every accepted execution final and listed by GET /api/v1/executions"
    table "$results" \
        "accepted/s|accepted_per_s|0|>= 100" \
        "accepted|accepted|0|$count" \
        "refused (not 202)|refused|0|0" \
        "accepted, not listed|missing|0|0" \
        "accepted, not final|not_final|0|0" \
        "succeeded|succeeded|0|$count" \
        "s until all were final|drain_seconds|1|"
}

# ----------------------------------------------------------------------------------------------
# memory: the service's resident set, idle and with idle subscribers.

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$SERVICE_PID/status"; }

bench_memory() {
    local subscribers="${1:-${BENCH_IDLE_SUBSCRIBERS:-1000}}" idle="${BENCH_IDLE_SECONDS:-10}"
    local results="$WORK/memory.results" round
    echo
    echo "== memory: VmRSS of raydeploy serve (/proc/PID/status) on an empty state directory just after" \
        "it listens, after ${idle} s idle, and with $subscribers idle WebSocket subscribers" \
        "(events.max_subscribers and http.max_connections raised for them); $ROUND_WORDS"
    : >"$results"
    for round in $(seq 1 "$ROUNDS"); do
        # The service needs a descriptor per subscriber, beside its own.
        ulimit -n "$(ulimit -Hn)"
        serve tests/fixtures/events/catalog.yaml RAYDEPLOY_EVENTS_MAX_SUBSCRIBERS=$((subscribers + 16)) \
            RAYDEPLOY_HTTP_MAX_CONNECTIONS=$((subscribers + 64))
        local at_start after_idle held
        at_start=$(rss_kib)
        sleep "$idle"
        after_idle=$(rss_kib)
        build/bin/bench_events hold "$PORT" "$subscribers" 600 >"$WORK/holder.out" 2>"$WORK/holder.err" &
        HOLDER_PID=$!
        for _ in $(seq 1 1200); do
            grep -q '^connected ' "$WORK/holder.out" && break
            kill -0 "$HOLDER_PID" 2>/dev/null || { cat "$WORK/holder.err" >&2; die "bench_events hold failed (above)"; }
            sleep 0.1
        done
        grep -q '^connected ' "$WORK/holder.out" || die "$subscribers subscribers did not connect within 120 s"
        # Let the last handshakes' buffers settle before reading.
        sleep 2
        held=$(rss_kib)
        stop_process "$HOLDER_PID"
        HOLDER_PID=""
        unserve
        echo "  memory round $round of $ROUNDS: VmRSS $at_start KiB at start, $after_idle KiB after ${idle} s," \
            "$held KiB with $subscribers subscribers" >&2
        awk -v a="$at_start" -v b="$after_idle" -v c="$held" 'BEGIN {
            printf "start_mb=%.2f idle_mb=%.2f held_mb=%.2f delta_mb=%.2f per_subscriber_kb=%.1f\n",
                a / 1024, b / 1024, c / 1024, (c - b) / 1024, (c - b) / '"$subscribers"' }' >>"$results"
    done
    echo "MB: MiB of VmRSS"
    table "$results" \
        "at start, MB|start_mb|2|" \
        "idle after ${idle} s, MB|idle_mb|2|<= 12" \
        "with $subscribers idle subscribers, MB|held_mb|2|$( ((subscribers != 1000)) || echo '<= 50')" \
        "added by the subscribers, MB|delta_mb|2|" \
        "per subscriber, KB|per_subscriber_kb|1|"
}

# ----------------------------------------------------------------------------------------------

BENCHMARKS=(events ws starts memory)
command="${1:-}"
shift || true
case "$command" in
    all | events | ws | starts | memory) ;;
    *) usage ;;
esac
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a whole number of at least 1, not '$ROUNDS'"
[[ "$MESSAGES" == batch || "$MESSAGES" == single ]] || die "BENCH_MESSAGES must be batch or single, not '$MESSAGES'"
bash scripts/build.sh --target raydeploy bench_events bench_event_source >&2
make_token
print_machine
if [[ "$command" == all ]]; then
    for name in "${BENCHMARKS[@]}"; do "bench_$name"; done
else
    "bench_$command" "$@"
fi

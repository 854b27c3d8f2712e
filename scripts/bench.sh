#!/usr/bin/env bash
# raydeploy's benchmark suite: each benchmark starts what it compares in one run, alternates
# rounds, and prints a table of min/median/max with the ratio. Figures, not assertions; not part of
# the test suite. Run it on a quiet machine with at least 2 cores (docs/benchmarks.md).
#
#   scripts/bench.sh rest
#       GET /api/v1/cluster/status, /health, /api/v1/checkpoints and /api/v1/executions?limit=50
#       with a bearer token: raydeploy against nginx serving the same bytes, each server on core 0
#       and wrk (-t1 -c64) on core 1, rounds alternating nginx and raydeploy; requests/s and p99.
#       Twice: on an empty store, then on one seeded with BENCH_EXECUTIONS executions (default
#       100000) and BENCH_EVENTS events (default 10000000), cached under build/bench-cache/.
#   scripts/bench.sh overhead [ROUNDS]
#       the wall time of the 300-task x 20-host fixture (tests/fixtures/ansible/bench) by bare
#       ansible-playbook, by ansible-runner (with its own event files) and through raydeploy
#       (events stored and followed over the WebSocket), rounds alternating the three ways.
#       A round takes a few minutes.
#   scripts/bench.sh events|ws|starts|memory [ARG]
#       events parsed, stored and delivered per second; event latency to 100 subscribers; REST
#       starts per second; idle memory and 1,000 idle subscribers: scripts/bench-events.sh, which
#       says more.
#   scripts/bench.sh all
#       every benchmark of the suite above, one after the other, under one header, then those of
#       scripts/bench-events.sh.
#   scripts/bench.sh ray [NODES] [ROUNDS]
#       the Ray poller's step: parse and diff a synthetic NODES-node (default 10000)
#       /api/v0/nodes + /api/cluster_status answer, min/median/max over ROUNDS (default 20);
#       goal <= 20 ms. Seconds, no service.
#   scripts/bench.sh store-load [SECONDS]
#       the API's latency while the store is read and pruned: GET /health back to back for SECONDS
#       (default 10) on a copy of the seeded store (BENCH_EXECUTIONS, BENCH_EVENTS) with the page
#       cache dropped when allowed (root), in three phases: quiet, two WebSocket replays from
#       since=0, and retention's first pass pruning it to 10,000 executions. Minutes (it copies
#       the seeded store twice; seeding it the first time takes longer).
#   scripts/bench.sh ray-status [NODES] [SECONDS]
#       the API's latency while the Ray monitor polls: GET /api/v1/cluster/status, /health and
#       /api/v1/resources/nodes, one after the other, each back to back on one keep-alive
#       connection for SECONDS (default 10), in five phases, each with a fresh service and state
#       directory: Ray monitoring disabled (the baseline), polling the fake Ray dashboard
#       (tests/fake_ray) with NODES nodes (default 1000) every second, then the fake answering
#       "slow" (after the 5 s request timeout), "huge" (50 MB) and "garbage" once the monitor holds
#       its snapshot. Prints p50/p99/max (ms), answers over 10 ms and requests/s per endpoint and
#       phase, and the dashboard requests (and polls) the fake saw meanwhile. About 15 x SECONDS.
#
# Environment (suite benchmarks):
#   BENCH_ROUNDS       rounds of each way (default 3; `overhead ROUNDS` too)
#   BENCH_SECONDS      rest: seconds of each wrk run (default 10)
#   BENCH_EXECUTIONS   rest: executions in the seeded store (default 100000)
#   BENCH_EVENTS       rest: events in the seeded store (default 10000000: about 10 GB, seeded once)
#   BENCH_TASKS, BENCH_HOSTS
#                      overhead: run only the first TASKS tasks on the first HOSTS hosts of the
#                      fixture (for trying the script out; the figures need the whole fixture)
#
# Adding a benchmark to the suite: write prepare_NAME (builds and installs what it needs, prints
# nothing on stdout) and bench_NAME (measures, then prints its table with print_table), and add
# NAME to SUITE.
set -Eeuo pipefail
BENCH_NAME=bench
source "$(dirname "${BASH_SOURCE[0]}")/bench-common.sh"

SUITE=(rest overhead)
PYTHON="$REPO_ROOT/.venv/bin/python"

# ----------------------------------------------------------------------------------------------
# What every benchmark shares: the processes it started, the service.

SERVICE_PID=""
NGINX_PID=""
FAKE_PID=""
SEEDING=""  # a store being seeded, removed if the run stops before it is complete

cleanup() {
    stop_process "$SERVICE_PID"
    stop_process "$NGINX_PID"
    stop_process "$FAKE_PID"
    [[ -z "$SEEDING" ]] || rm -f "$SEEDING"
    rm -rf "$WORK"
}
trap cleanup EXIT

# Starts `raydeploy serve` on a free loopback port with "$@" added (and the caller's environment),
# in the background as SERVICE_PID; sets `port` once it listens. `--cpu N` first pins it to core N.
start_service() {
    local pin=()
    if [[ "${1:-}" == --cpu ]]; then
        pin=(taskset -c "$2")
        shift 2
    fi
    "${pin[@]}" build/bin/raydeploy serve --listen 127.0.0.1:0 --log-level warn "$@" \
        >"$WORK/service.stdout" 2>"$WORK/service.stderr" &
    SERVICE_PID=$!
    port=""
    for _ in $(seq 1 600); do
        # Only a whole line: the file may be read between two writes of it.
        if [[ -s "$WORK/service.stdout" && -z "$(tail -c1 "$WORK/service.stdout")" ]]; then
            port=$(sed -n 's/^listening on http:\/\/127.0.0.1:\([0-9]*\)$/\1/p' "$WORK/service.stdout")
            [[ -n "$port" ]] && break
        fi
        kill -0 "$SERVICE_PID" 2>/dev/null || break
        sleep 0.1
    done
    [[ -n "$port" ]] || {
        local status=0
        kill -0 "$SERVICE_PID" 2>/dev/null && status="still running" || wait "$SERVICE_PID" || status=$?
        cat "$WORK/service.stdout" "$WORK/service.stderr" >&2
        die "the service did not start (exit status: $status; its output is above)"
    }
}

stop_service() {
    stop_process "$SERVICE_PID"
    SERVICE_PID=""
}

# Installs Debian's PACKAGE when COMMAND is missing (we may run as root; else through sudo).
ensure_debian_tool() {
    local command="$1" package="$2"
    command -v "$command" >/dev/null 2>&1 && return 0
    local sudo=()
    ((EUID == 0)) || sudo=(sudo)
    echo "bench: installing Debian's $package (for $command)" >&2
    {
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
            "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$package"
    } >"$WORK/apt.log" 2>&1 || {
        cat "$WORK/apt.log" >&2
        die "apt-get could not install $package: install it yourself (apt-get install $package) and run again"
    }
    # On a host run by systemd, Debian starts and enables nginx.service (port 80) on install; the
    # benchmark needs only the binary, so leave the machine as it was.
    if [[ "$package" == nginx* && -d /run/systemd/system ]]; then
        "${sudo[@]}" systemctl disable --now nginx.service >/dev/null 2>&1 || true
    fi
    command -v "$command" >/dev/null 2>&1 || die "$package is installed but $command is not on PATH"
}

free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ----------------------------------------------------------------------------------------------
# Samples and tables. A sample set is a file of numbers, one a line, named by a key.

sample() { echo "$2" >>"$WORK/samples/$1"; }

# "MIN<TAB>MEDIAN<TAB>MAX" of a sample set, with DECIMALS decimals (default 1), or "-" thrice.
stats() {
    local file="$WORK/samples/$1"
    [[ -s "$file" ]] || { printf -- '-\t-\t-'; return; }
    sort -g "$file" | awk -v d="${2:-1}" '{ v[NR] = $1 }
        END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
              f = "%." d "f"; printf f "\t" f "\t" f, v[1], m, v[NR] }'
}

median() { stats "$1" "${2:-1}" | cut -f2; }

# The sum of a sample set (0 when it has none).
total() { awk '{ t += $1 } END { printf "%d", t }' "$WORK/samples/$1" 2>/dev/null || echo 0; }

# TOP / BOTTOM with DECIMALS decimals (default 2), or "-" when either is missing or BOTTOM is 0.
ratio() {
    awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN {
        if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%." d "f\n", a / b }'
}

# Prints tab-separated rows from stdin as a table: the first row is the header, the first column
# left-aligned, the others right-aligned.
print_table() {
    awk -F '\t' '{ for (i = 1; i <= NF; i++) { cell[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) }
                   if (NF > cols) cols = NF }
        END { for (r = 1; r <= NR; r++) {
                  line = ""
                  for (i = 1; i <= cols; i++)
                      line = line sprintf(i == 1 ? "%-" w[i] "s" : "  %" w[i] "s", cell[r, i])
                  print line
                  if (r == 1) { gsub(/./, "-", line); print line } } }'
}

# ----------------------------------------------------------------------------------------------
# The header: the machine and the versions of what is compared.

version_of() {
    case "$1" in
        nginx) command -v nginx >/dev/null && nginx -v 2>&1 | sed 's/^nginx version: nginx\///' ;;
        wrk) command -v wrk >/dev/null && { wrk -v 2>&1 || true; } | sed -n '1s/^wrk \([^ ]*\).*/\1/p' ;;
        ansible-core) [[ -x .venv/bin/ansible-playbook ]] &&
            .venv/bin/ansible-playbook --version | sed -n '1s/.*core \([^]]*\)\]/\1/p' ;;
        ansible-runner) [[ -x .venv/bin/ansible-runner ]] && .venv/bin/ansible-runner --version ;;
        raydeploy) [[ -x build/bin/raydeploy ]] &&
            echo "$(build/bin/raydeploy --version | sed 's/^raydeploy //') ($(git rev-parse --short HEAD)$(git diff --quiet HEAD -- lib service || echo '+changes'))" ;;
    esac
}

print_header() {
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "machine: $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1))," \
        "$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo), $(uname -sr)," \
        "load average $(cut -d' ' -f1-3 /proc/loadavg)"
    local line="" tool version
    for tool in nginx wrk ansible-core ansible-runner raydeploy; do
        version=$(version_of "$tool" || true)
        line+="${line:+, }$tool ${version:-(not installed)}"
    done
    echo "versions: $line"
}

# ----------------------------------------------------------------------------------------------
# rest: the read endpoints against nginx serving the same bytes.

REST_ENDPOINTS=(/api/v1/cluster/status /health /api/v1/checkpoints "/api/v1/executions?limit=50")
SERVER_CPU=0
LOAD_CPU=1

prepare_rest() {
    ensure_debian_tool nginx nginx-light
    ensure_debian_tool wrk wrk
    ensure_debian_tool taskset util-linux
    bash scripts/build.sh --target raydeploy >&2
}

# The token the measured service accepts (viewer: the least role that reads these endpoints).
make_token() {
    build/bin/raydeploy token create --name bench --role viewer >"$WORK/token.txt"
    TOKEN=$(head -1 "$WORK/token.txt")
    TOKEN_ENTRY=$(sed -n 's/^# RAYDEPLOY_AUTH_TOKENS=//p' "$WORK/token.txt")
    [[ "$TOKEN" == rdp_* && -n "$TOKEN_ENTRY" ]] ||
        die "could not read the token from 'raydeploy token create' (its output changed?): $(cat "$WORK/token.txt")"
}

# Starts the service for the rest benchmark on STATE_DIR, pinned to the server's core. Ray and
# the monitoring probes are off (nothing polls in the background) and retention keeps everything
# (the seeded store's 100,000 executions would otherwise be cut to 10,000 at start).
start_rest_service() {
    RAYDEPLOY_AUTH_TOKENS="$TOKEN_ENTRY" RAYDEPLOY_RAY_ENABLED=false RAYDEPLOY_MONITORING_PROMETHEUS_URL="" \
        RAYDEPLOY_MONITORING_NODE_EXPORTER_URL="" RAYDEPLOY_RETENTION_KEEP_DAYS=0 \
        RAYDEPLOY_RETENTION_KEEP_EXECUTIONS=0 \
        start_service --cpu "$SERVER_CPU" --state-dir "$1" --catalog playbooks/checkpoints.yaml \
        --inventory playbooks/inventory/local.yml
}

# Copies what the running service answers on every endpoint into nginx's document root, byte for
# byte (the query string of /api/v1/executions?limit=50 is not part of the file's path).
capture_responses() {
    local root="$1" path status
    for path in "${REST_ENDPOINTS[@]}"; do
        mkdir -p "$root$(dirname "${path%%\?*}")"
        status=$(curl -s -o "$root${path%%\?*}" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
            "http://127.0.0.1:$port$path" || true)
        [[ "$status" == 200 ]] || {
            cat "$WORK/service.stderr" >&2
            die "GET $path answered ${status:-nothing}, not 200: $(head -c 300 "$root${path%%\?*}" 2>/dev/null)"
        }
    done
}

start_nginx() {
    local dir="$WORK/nginx" root="$1"
    mkdir -p "$dir/tmp"
    nginx_port=$(free_port)
    # Only what the comparison needs: one process serving on one core (no master, so NGINX_PID is
    # the process doing the work), no logging of requests, every file JSON. keepalive_requests
    # lifts nginx's default of 1000 requests per connection, so neither server closes wrk's
    # connections during a run.
    cat >"$dir/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
$( ((EUID == 0)) && echo 'user root;')
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    types { }
    default_type application/json;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$nginx_port;
        root $root;
    }
}
EOF
    taskset -c "$SERVER_CPU" nginx -c "$dir/nginx.conf" -e "$dir/error.log" >"$dir/stdout" 2>&1 &
    NGINX_PID=$!
    for _ in $(seq 1 100); do
        curl -sf -o /dev/null "http://127.0.0.1:$nginx_port/health" && return 0
        kill -0 "$NGINX_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$dir/stdout" "$dir/error.log" >&2 2>/dev/null || true
    die "nginx did not start on port $nginx_port (its output is above)"
}

# Waits until the server PID at BASE_URL is idle: it used at most one clock tick in each of three
# 0.2 s windows in a row (one window alone can be a moment it did not get the core on a busy
# machine), then answers /health.
wait_until_idle() {
    local pid="$1" base_url="$2" before after quiet=0
    for _ in $(seq 1 3000); do
        before=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
        sleep 0.2
        after=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
        if ((after - before <= 1)); then
            ((++quiet < 3)) || break
        else
            quiet=0
        fi
    done
    ((quiet >= 3)) || die "the server at $base_url was still busy 600 s after the load stopped"
    curl -s -o /dev/null --max-time 600 "$base_url/health" ||
        die "the server at $base_url did not answer /health after the load stopped"
}

# Runs wrk on the load core against URL for SECONDS; sets WRK_RPS (requests/s), WRK_P99 (ms, empty
# when no request completed) and WRK_ERRORS (socket errors and timeouts). wrk's timeout is raised
# from 2 s to 60 s so that a slow endpoint shows its real latency instead of only timeouts.
# Then waits for the server SERVER_PID to go idle: it may still be answering requests queued on
# connections wrk has closed, which would slow down the next run.
run_wrk() {
    local url="$1" seconds="$2" server_pid="$3" output parsed
    output=$(taskset -c "$LOAD_CPU" wrk -t1 -c64 -d"${seconds}s" --timeout 60s --latency \
        -H "Authorization: Bearer $TOKEN" "$url")
    if grep -q 'Non-2xx or 3xx responses' <<<"$output"; then
        echo "$output" >&2
        die "$url answered errors under load (wrk's output is above)"
    fi
    parsed=$(awk '/^Requests\/sec:/ { rps = $2 }
         / requests in / { requests = $1 }
         /Socket errors:/ { gsub(/,/, ""); errors = $4 + $6 + $8 + $10 }
         $1 == "99%" { v = $2; unit = v; sub(/[0-9.]+/, "", unit); sub(/[a-z]+$/, "", v)
                       p99 = unit == "us" ? v / 1000 : unit == "s" ? v * 1000 : unit == "m" ? v * 60000 : v }
         END { if (rps != "") printf "%s %d %s", rps, errors, (requests > 0 ? sprintf("%.3f", p99) : "") }' <<<"$output")
    WRK_P99=""
    read -r WRK_RPS WRK_ERRORS WRK_P99 <<<"$parsed" || true
    [[ -n "${WRK_RPS:-}" ]] || {
        echo "$output" >&2
        die "could not read requests/s from wrk's output (above)"
    }
    [[ "$url" =~ ^(http://[^/]+) ]]
    wait_until_idle "$server_pid" "${BASH_REMATCH[1]}"
}

# The seeded store: a database with raydeploy's current schema filled by tests/bench/seed_store.py,
# cached by schema version, page size, sizes and the seeding script (it takes minutes at 10 million events).
# Sets SEEDED_DATABASE to the cached file's path.
seeded_database() {
    local executions="$1" events="$2" schema_dir="$WORK/schema-state"
    RAYDEPLOY_RAY_ENABLED=false start_service --state-dir "$schema_dir" --catalog playbooks/checkpoints.yaml
    stop_service
    local version page_size
    read -r version page_size < <("$PYTHON" -c 'import sqlite3, sys; db = sqlite3.connect(sys.argv[1])
print(*(db.execute("PRAGMA " + name).fetchone()[0] for name in ("user_version", "page_size")))' "$schema_dir/raydeploy.db")
    local script_hash
    script_hash=$(sha256sum tests/bench/seed_store.py | cut -c1-8)
    mkdir -p build/bench-cache
    local cached="build/bench-cache/store-schema$version-page$page_size-${executions}x-${events}e-$script_hash.db"
    if [[ ! -f "$cached" ]]; then
        echo "bench: seeding $cached (once; later runs reuse it)" >&2
        local checkpoints
        checkpoints=$("$PYTHON" -c 'import sys, yaml; print(",".join(c["name"] for c in yaml.safe_load(open(sys.argv[1]))["checkpoints"]))' \
            playbooks/checkpoints.yaml)
        # Stores of the same size for an older schema or seeding script are of no use any more,
        # and at 10 million events each takes about 10 GB.
        find build/bench-cache -name "store-schema*-${executions}x-${events}e-*.db" -delete
        SEEDING="$cached.tmp"
        cp "$schema_dir/raydeploy.db" "$SEEDING"
        "$PYTHON" tests/bench/seed_store.py "$SEEDING" --executions "$executions" --events "$events" \
            --checkpoints "$checkpoints" --hosts head,worker1 >&2 || die "seeding the store failed (see above)"
        mv "$SEEDING" "$cached"
        SEEDING=""
    fi
    SEEDED_DATABASE="$REPO_ROOT/$cached"
}

# copy_seeded_store STATE_DIR: a new state directory holding a copy of the seeded store, on the disk
# before anything is measured (else the kernel writes its gigabytes back during the first runs, on
# the cores being measured).
copy_seeded_store() {
    mkdir -m 700 "$1"
    echo "bench: copying the seeded store ($(du -h "$SEEDED_DATABASE" | cut -f1)) into a fresh state directory" >&2
    cp "$SEEDED_DATABASE" "$1/raydeploy.db"
    sync "$1/raydeploy.db"
}

bench_rest() {
    local rounds="${BENCH_ROUNDS:-3}" seconds="${BENCH_SECONDS:-10}"
    local executions="${BENCH_EXECUTIONS:-100000}" events="${BENCH_EVENTS:-10000000}"
    (($(nproc) >= 2)) || die "rest needs 2 cores (one for the server, one for wrk); this machine has $(nproc)"
    make_token
    echo
    echo "== rest: raydeploy against nginx serving the same bytes (server on core $SERVER_CPU, wrk -t1 -c64 on core $LOAD_CPU, ${seconds}s per run, $rounds rounds)"

    local store
    for store in empty seeded; do
        local state="$WORK/state-$store" label="empty store"
        rm -rf "$state"
        if [[ "$store" == seeded ]]; then
            label="$executions executions and $events events stored"
            seeded_database "$executions" "$events"
            copy_seeded_store "$state"
        fi
        start_rest_service "$state"
        local root="$WORK/www-$store"
        capture_responses "$root"
        start_nginx "$root"

        local base_nginx="http://127.0.0.1:$nginx_port" base_raydeploy="http://127.0.0.1:$port" path
        # A short unrecorded run of each first: caches, the database's pages, the allocators.
        for path in "${REST_ENDPOINTS[@]}"; do
            run_wrk "$base_nginx$path" 1 "$NGINX_PID"
            run_wrk "$base_raydeploy$path" 1 "$SERVICE_PID"
        done
        local round server key
        for round in $(seq 1 "$rounds"); do
            for path in "${REST_ENDPOINTS[@]}"; do
                for server in nginx raydeploy; do
                    key="rest-$store-$server-$(tr -c 'a-z0-9' _ <<<"$path")"
                    local base="$base_nginx" pid="$NGINX_PID"
                    [[ "$server" == raydeploy ]] && base="$base_raydeploy" pid="$SERVICE_PID"
                    run_wrk "$base$path" "$seconds" "$pid"
                    sample "$key-rps" "$WRK_RPS"
                    [[ -z "$WRK_P99" ]] || sample "$key-p99" "$WRK_P99"
                    sample "$key-errors" "$WRK_ERRORS"
                    echo "  round $round $store $server GET $path: $WRK_RPS req/s, p99 ${WRK_P99:--} ms, $WRK_ERRORS errors" >&2
                done
            done
        done
        stop_process "$NGINX_PID"
        NGINX_PID=""
        stop_service

        echo
        echo "$label: requests/s (min median max over $rounds rounds), p99 in ms (median over rounds)," \
            "socket errors and timeouts over all rounds (nginx/raydeploy)"
        {
            printf 'GET\tbytes\tnginx req/s min\tmedian\tmax\traydeploy req/s min\tmedian\tmax\tratio\tp99 ms nginx\traydeploy\terrors\n'
            for path in "${REST_ENDPOINTS[@]}"; do
                local slug nginx_stats raydeploy_stats
                slug=$(tr -c 'a-z0-9' _ <<<"$path")
                nginx_stats=$(stats "rest-$store-nginx-$slug-rps" 0)
                raydeploy_stats=$(stats "rest-$store-raydeploy-$slug-rps" 0)
                printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$path" "$(stat -c %s "$root${path%%\?*}")" \
                    "$nginx_stats" "$raydeploy_stats" \
                    "$(ratio "$(median "rest-$store-raydeploy-$slug-rps" 2)" "$(median "rest-$store-nginx-$slug-rps" 2)" 3)" \
                    "$(median "rest-$store-nginx-$slug-p99" 2)" "$(median "rest-$store-raydeploy-$slug-p99" 2)" \
                    "$(total "rest-$store-nginx-$slug-errors")/$(total "rest-$store-raydeploy-$slug-errors")"
            done
        } | print_table
    done
    echo "ratio: raydeploy's median requests/s / nginx's (goal >= 0.8, p99 <= 2 ms)"
}

# ----------------------------------------------------------------------------------------------
# overhead: the fixture by bare ansible-playbook, by ansible-runner and through raydeploy.

prepare_overhead() {
    [[ -x .venv/bin/ansible-runner ]] || bash scripts/bootstrap.sh >&2
    [[ -x .venv/bin/ansible-runner ]] ||
        die ".venv/bin/ansible-runner is missing: run scripts/bootstrap.sh (it installs scripts/requirements.txt)"
    bash scripts/build.sh --target raydeploy bench_client >&2
}

# The fixture to run: the real one, or its first BENCH_TASKS tasks on its first BENCH_HOSTS hosts.
prepare_fixture() {
    FIXTURE="$REPO_ROOT/tests/fixtures/ansible/bench"
    if [[ -n "${BENCH_TASKS:-}" || -n "${BENCH_HOSTS:-}" ]]; then
        local trimmed="$WORK/fixture"
        mkdir -p "$trimmed"
        cp "$FIXTURE"/{ansible.cfg,catalog.yaml} "$trimmed/"
        "$PYTHON" - "$FIXTURE" "$trimmed" "${BENCH_TASKS:-0}" "${BENCH_HOSTS:-0}" <<'EOF'
import sys, yaml
source, target, tasks, hosts = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
playbook = yaml.safe_load(open(source + '/playbook.yml'))
if tasks:
    playbook[0]['tasks'] = playbook[0]['tasks'][:tasks]
yaml.safe_dump(playbook, open(target + '/playbook.yml', 'w'), sort_keys=False)
inventory = yaml.safe_load(open(source + '/inventory.yml'))
group = inventory['all']['children']['bench_hosts']
if hosts:
    group['hosts'] = dict(list(group['hosts'].items())[:hosts])
yaml.safe_dump(inventory, open(target + '/inventory.yml', 'w'), sort_keys=False)
EOF
        FIXTURE="$trimmed"
    fi
    FIXTURE_TASKS=$("$PYTHON" -c 'import sys, yaml; print(len(yaml.safe_load(open(sys.argv[1]))[0]["tasks"]))' "$FIXTURE/playbook.yml")
    FIXTURE_HOSTS=$("$PYTHON" -c 'import sys, yaml; print(len(yaml.safe_load(open(sys.argv[1]))["all"]["children"]["bench_hosts"]["hosts"]))' "$FIXTURE/inventory.yml")
}

elapsed_since() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }'; }

# Each run_* below sets RUN_SECONDS (wall time) and RUN_EVENTS (events it recorded, when it says).

# Bare: ansible-playbook with its default stdout callback, output thrown away as a terminal-less CI would.
run_bare() {
    local start
    start=$(date +%s.%N)
    (cd "$FIXTURE" && ANSIBLE_NOCOLOR=1 "$REPO_ROOT/.venv/bin/ansible-playbook" -i inventory.yml playbook.yml >/dev/null) ||
        die "bare ansible-playbook failed on $FIXTURE: run it there by hand to see why"
    RUN_SECONDS=$(elapsed_since "$start")
    RUN_EVENTS=""
}

# ansible-runner: a private data directory holding the fixture as its project and inventory; its
# ansible.cfg sits in the project, where ansible-runner runs the playbook, so forks are the same.
# Runner writes every event as a JSON file under artifacts/ (its own event files) and the stdout.
run_ansible_runner() {
    local data="$WORK/runner-data" start
    rm -rf "$data"
    mkdir -p "$data/project" "$data/inventory"
    cp "$FIXTURE/playbook.yml" "$FIXTURE/ansible.cfg" "$data/project/"
    cp "$FIXTURE/inventory.yml" "$data/inventory/hosts.yml"
    start=$(date +%s.%N)
    PATH="$REPO_ROOT/.venv/bin:$PATH" "$REPO_ROOT/.venv/bin/ansible-runner" run "$data" -p playbook.yml \
        >"$WORK/runner.stdout" 2>&1 || {
        tail -20 "$WORK/runner.stdout" >&2
        die "ansible-runner failed (the end of its output is above)"
    }
    RUN_SECONDS=$(elapsed_since "$start")
    RUN_EVENTS=$(find "$data/artifacts" -path '*/job_events/*.json' | wc -l)
}

# Through raydeploy: a fresh service and state directory, one execution followed to execution.done
# over the WebSocket; the wall time is bench_client's, from the POST to execution.done.
run_raydeploy() {
    rm -rf "$WORK/overhead-state"
    start_service --state-dir "$WORK/overhead-state" --catalog "$FIXTURE/catalog.yaml" \
        --inventory "$FIXTURE/inventory.yml"
    local output
    output=$(build/bin/bench_client "$port" bench) || {
        echo "$output" >&2
        die "the run through raydeploy failed (bench_client's output is above)"
    }
    stop_service
    RUN_EVENTS=$(sed -n 's/.*: \([0-9]*\) events received.*/\1/p' <<<"$output")
    RUN_SECONDS=$(sed -n 's/^raydeploy_seconds=//p' <<<"$output" | awk '{ printf "%.2f", $1 }')
}

# CPU seconds (user + system) of the processes this shell started and waited for so far, in
# CHILDREN_CPU: a run's ansible-playbook and its workers, ansible-runner, or the service with its
# children. Not in a $(...): a subshell's `times` starts from nothing.
children_cpu() {
    times >"$WORK/times"
    CHILDREN_CPU=$(tail -1 "$WORK/times" |
        awk '{ for (i = 1; i <= 2; i++) { split($i, part, "m"); s += part[1] * 60 + part[2] } printf "%.2f", s }')
}

# One run of WAY (bare, runner or raydeploy): sets RUN_SECONDS, RUN_EVENTS and RUN_CPU.
run_way() {
    local way="$1" before
    children_cpu
    before=$CHILDREN_CPU
    case "$way" in
        bare) run_bare ;;
        runner) run_ansible_runner ;;
        raydeploy) run_raydeploy ;;
    esac
    children_cpu
    RUN_CPU=$(awk -v after="$CHILDREN_CPU" -v before="$before" 'BEGIN { printf "%.2f", after - before }')
}

bench_overhead() {
    local rounds="${1:-${BENCH_ROUNDS:-3}}"
    prepare_fixture
    echo
    echo "== overhead: $FIXTURE_TASKS tasks on $FIXTURE_HOSTS local hosts, forks 20 ($([[ "$FIXTURE" == "$REPO_ROOT"/* ]] && echo "${FIXTURE#"$REPO_ROOT"/}" || echo "trimmed from tests/fixtures/ansible/bench by BENCH_TASKS/BENCH_HOSTS")), $rounds rounds"
    # Each round starts with the next way, so none always runs first (or after the same one).
    local ways=(bare runner raydeploy) round i way
    local -A seconds_this_round
    for round in $(seq 1 "$rounds"); do
        for i in 0 1 2; do
            way=${ways[$(((round - 1 + i) % 3))]}
            run_way "$way"
            sample "overhead-$way" "$RUN_SECONDS"
            sample "overhead-$way-cpu" "$RUN_CPU"
            seconds_this_round[$way]=$RUN_SECONDS
            echo "  round $round: $way $RUN_SECONDS s, $RUN_CPU s CPU${RUN_EVENTS:+ ($RUN_EVENTS events)}" >&2
        done
        for way in runner raydeploy; do
            sample "overhead-$way-paired" "$(ratio "${seconds_this_round[$way]}" "${seconds_this_round[bare]}" 3)"
        done
    done
    echo
    echo "wall time in seconds (min median max over $rounds rounds); ratio: median / bare's median;"
    echo "same round: the way's time / bare's time in the same round (min median max), which leaves out"
    echo "the machine's drift from round to round"
    local bare
    bare=$(median overhead-bare 2)
    {
        printf 'way\tmin\tmedian\tmax\tratio\tsame round: min median max\n'
        printf 'bare ansible-playbook\t%s\t%s\t%s\n' "$(stats overhead-bare 2)" "1.000" "-"
        printf 'ansible-runner\t%s\t%s\t%s\n' "$(stats overhead-runner 2)" \
            "$(ratio "$(median overhead-runner 2)" "$bare" 3)" "$(stats overhead-runner-paired 3 | tr '\t' ' ')"
        printf 'raydeploy\t%s\t%s\t%s\n' "$(stats overhead-raydeploy 2)" \
            "$(ratio "$(median overhead-raydeploy 2)" "$bare" 3)" "$(stats overhead-raydeploy-paired 3 | tr '\t' ' ')"
    } | print_table
    echo
    echo "CPU seconds, user + system, of every process of the run (ansible-playbook and its workers;"
    echo "ansible-runner with them; the service with them, its start and stop, and the WebSocket client)"
    local bare_cpu
    bare_cpu=$(median overhead-bare-cpu 2)
    {
        printf 'way\tmin\tmedian\tmax\tratio\n'
        printf 'bare ansible-playbook\t%s\t%s\n' "$(stats overhead-bare-cpu 2)" "1.000"
        printf 'ansible-runner\t%s\t%s\n' "$(stats overhead-runner-cpu 2)" "$(ratio "$(median overhead-runner-cpu 2)" "$bare_cpu" 3)"
        printf 'raydeploy\t%s\t%s\n' "$(stats overhead-raydeploy-cpu 2)" "$(ratio "$(median overhead-raydeploy-cpu 2)" "$bare_cpu" 3)"
    } | print_table
    echo "goal: raydeploy / bare <= 1.03 (wall time) and below ansible-runner / bare"
}

# ----------------------------------------------------------------------------------------------
# ray and ray-status: the Ray monitor's own benchmarks (not part of `all`).

bench_ray() {
    bash scripts/build.sh --target bench_ray_snapshot >&2
    echo "machine: $(nproc) cores, $(uname -sr)"
    build/bin/bench_ray_snapshot "${1:-10000}" "${2:-20}"
}

bench_ray_status() {
    local NODES="${1:-1000}" SECONDS_PER_PHASE="${2:-10}"
    bash scripts/build.sh --target raydeploy bench_latency >&2

    # The fake's --workers counts the nodes besides the head.
    "$PYTHON" tests/fake_ray/fake_ray_dashboard.py --port 0 --workers "$((NODES - 1))" \
        >"$WORK/fake.stdout" 2>"$WORK/fake.stderr" &
    FAKE_PID=$!
    for _ in $(seq 1 100); do
        [[ -s "$WORK/fake.stdout" ]] && break
        sleep 0.1
    done
    local ray_port control_port
    ray_port=$(sed -n 's/.*"ray_port": *\([0-9]*\).*/\1/p' "$WORK/fake.stdout")
    control_port=$(sed -n 's/.*"control_port": *\([0-9]*\).*/\1/p' "$WORK/fake.stdout")
    [[ -n "$ray_port" && -n "$control_port" ]] || { cat "$WORK/fake.stderr" >&2; die "the fake Ray dashboard did not start"; }
    control() { curl -sf -X POST -H 'Content-Type: application/json' -d "$2" "http://127.0.0.1:$control_port$1" >/dev/null; }
    # Requests the fake has received: every endpoint, and /api/version alone (the first read of each poll).
    fake_counts() {
        curl -sf "http://127.0.0.1:$control_port/requests" |
            "$PYTHON" -c 'import json, sys; r = json.load(sys.stdin); print(r["total"], r["counts"].get("/api/version", 0))'
    }

    echo "machine: $(nproc) cores, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "fake Ray dashboard: $NODES nodes; poll interval 1s, request timeout 5s (default); $SECONDS_PER_PHASE s per phase"
    local row='%-9s %-24s %8s %8s %8s %8s %6s %6s %8s %7s %5s\n'
    # shellcheck disable=SC2059  # the format is ours
    printf "$row" phase endpoint requests p50_ms p99_ms max_ms '>10ms' req/s bytes ray_req polls
    local phase state enabled connected path total_before polls_before total_after polls_after
    local requests p50 p99 max over_10ms rate bytes
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
            [[ -n "$connected" ]] || { cat "$WORK/service.stderr" >&2; die "the monitor never saw the fake CONNECTED in 60 s"; }
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
            [[ -n "$requests" ]] || die "measuring GET $path failed"
            read -r total_after polls_after < <(fake_counts)
            # shellcheck disable=SC2059
            printf "$row" "$phase" "$path" "$requests" "$p50" "$p99" "$max" "$over_10ms" "$rate" "$bytes" \
                "$((total_after - total_before))" "$((polls_after - polls_before))"
        done
        stop_service
    done
}

# store-load: the API's latency while subscribers replay the store and while retention prunes it.

# Drops the kernel's page cache when this user may (root), so a phase reads the store from disk as
# after a restart; says which it was.
cold_cache() {
    sync
    if { echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null; then echo cold; else echo warm; fi
}

bench_store_load() {
    local seconds="${1:-10}" executions="${BENCH_EXECUTIONS:-100000}" events="${BENCH_EVENTS:-10000000}"
    bash scripts/build.sh --target raydeploy bench_latency >&2
    seeded_database "$executions" "$events"
    echo "machine: $(nproc) cores, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "store: $executions executions and $events events (a copy of the seeded store); GET /health back to back for ${seconds}s per phase"
    local row='%-10s %-6s %8s %8s %8s %8s %6s %8s  %s\n'
    # shellcheck disable=SC2059  # the format is ours
    printf "$row" phase cache requests p50_ms p99_ms max_ms '>10ms' req/s 'replays (MB/s each), retention'
    local state="$WORK/state-store-load" phase cache requests p50 p99 max over_10ms rate bytes replays i
    for phase in quiet replays retention; do
        # Retention is off but in its own phase, where it keeps 10,000 executions (the default):
        # its first pass, pruning the copy, starts with the service.
        if [[ "$phase" != replays ]]; then
            rm -rf "$state"
            copy_seeded_store "$state"
        fi
        local keep_executions=0
        [[ "$phase" == retention ]] && keep_executions=10000
        cache=$(cold_cache)
        RAYDEPLOY_RETENTION_KEEP_DAYS=0 RAYDEPLOY_RETENTION_KEEP_EXECUTIONS="$keep_executions" RAYDEPLOY_RAY_ENABLED=false \
            start_service --state-dir "$state" --catalog playbooks/checkpoints.yaml
        local clients=()
        if [[ "$phase" == replays ]]; then
            for i in 1 2; do
                "$PYTHON" tests/bench/replay_client.py "$port" "$((seconds + 2))" >"$WORK/replay-$i.out" &
                clients+=($!)
            done
            sleep 1
        fi
        IFS=$'\t' read -r requests p50 p99 max over_10ms rate bytes < <(build/bin/bench_latency "$port" "$seconds" /health)
        [[ -n "$requests" ]] || die "measuring GET /health failed in phase $phase"
        replays="-"
        if ((${#clients[@]})); then
            wait "${clients[@]}" || die "a replay client failed (phase $phase)"
            replays=$(sed -n 's/^replay_mb_per_s=//p' "$WORK"/replay-*.out | paste -sd' ')
        fi
        stop_service
        if [[ "$phase" == retention ]]; then
            replays="$(("$executions" - $("$PYTHON" -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM executions").fetchone()[0])' \
                "$state/raydeploy.db"))) executions removed by then"
        fi
        # shellcheck disable=SC2059
        printf "$row" "$phase" "$cache" "$requests" "$p50" "$p99" "$max" "$over_10ms" "$rate" "$replays"
    done
    rm -rf "$state"
}

# ----------------------------------------------------------------------------------------------

mkdir -p "$WORK/samples"
command="${1:-}"
shift || true
case "$command" in
    ray) bench_ray "$@" ;;
    ray-status) bench_ray_status "$@" ;;
    store-load) bench_store_load "$@" ;;
    events | ws | starts | memory) exec bash scripts/bench-events.sh "$command" "$@" ;;
    all)
        for name in "${SUITE[@]}"; do "prepare_$name"; done
        print_header
        for name in "${SUITE[@]}"; do "bench_$name"; done
        bash scripts/bench-events.sh all
        ;;
    *)
        [[ " ${SUITE[*]} " == *" $command "* ]] || usage
        "prepare_$command"
        print_header
        "bench_$command" "$@"
        ;;
esac

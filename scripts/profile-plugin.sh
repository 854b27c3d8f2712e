#!/usr/bin/env bash
# Profile: what raydeploy's callback plugin (playbooks/callback_plugins/raydeploy_events.py) costs
# Ansible's controller process. Runs the benchmark fixture (tests/fixtures/ansible/bench: 300 tasks
# on 20 local hosts, forks 20), or its first TASKS tasks, with no service at all:
#   1. once under py-spy with the plugin writing its events to /dev/null, and prints the
#      controller's top functions (samples holding the GIL, so waiting and idle threads do not
#      count) and, below Ansible's send_callback, the plugin's own;
#   2. ROUNDS alternating rounds of the default stdout callback and of the plugin (events to
#      /dev/null), each measuring the controller process alone (its workers are forks and are not
#      counted): its CPU seconds, the CPU seconds and minor page faults inside callbacks (thread
#      CPU time and RUSAGE_THREAD around each TaskQueueManager.send_callback), its page faults and
#      the wall time; then min/median/max of each and what the plugin adds.
# Figures, not assertions. Callback CPU is the steadiest figure on a shared machine; the process's
# CPU includes forking 20 workers per task, which varies with the machine's load.
#   scripts/profile-plugin.sh [ROUNDS] [TASKS]      (default 3 rounds, all 300 tasks)
# The raw profiles (py-spy's collapsed stacks) are kept in build/profile-plugin/MODE.raw.txt.
#   PROFILE_PLUGIN_DIR=DIR       the plugin from DIR instead of playbooks/callback_plugins
#   PROFILE_PLUGIN_BASELINE=DIR  also profile and measure the plugin in DIR (mode "baseline"), e.g. a
#                                checkout of main's playbooks/callback_plugins, in the same rounds
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
ROUNDS="${1:-3}"
TASKS="${2:-300}"
PYTHON="$REPO_ROOT/.venv/bin/python"
PY_SPY="$REPO_ROOT/.venv/bin/py-spy"
BENCH_DIR="$REPO_ROOT/tests/fixtures/ansible/bench"
OUT_DIR="$REPO_ROOT/build/profile-plugin"
PLUGIN_DIR="${PROFILE_PLUGIN_DIR:-$REPO_ROOT/playbooks/callback_plugins}"
BASELINE_DIR="${PROFILE_PLUGIN_BASELINE:-}"

[[ "$ROUNDS" =~ ^[1-9][0-9]*$ && "$TASKS" =~ ^[1-9][0-9]*$ ]] ||
    { echo "profile-plugin: usage: scripts/profile-plugin.sh [ROUNDS] [TASKS] (positive numbers)" >&2; exit 2; }
[[ -x "$PY_SPY" && -x "$REPO_ROOT/.venv/bin/ansible-playbook" ]] ||
    { echo "profile-plugin: .venv lacks py-spy or ansible-playbook: run scripts/bootstrap.sh first" >&2; exit 1; }
for dir in "$PLUGIN_DIR" ${BASELINE_DIR:+"$BASELINE_DIR"}; do
    [[ -f "$dir/raydeploy_events.py" ]] || { echo "profile-plugin: no raydeploy_events.py in $dir: point" \
        "PROFILE_PLUGIN_DIR or PROFILE_PLUGIN_BASELINE at a callback_plugins directory" >&2; exit 1; }
done
modes=(default plugin)
[[ -n "$BASELINE_DIR" ]] && modes+=(baseline)

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT_DIR"

# The fixture's first TASKS tasks (the generated playbook has one "- name: Task NNN" item per task).
cp "$BENCH_DIR/inventory.yml" "$BENCH_DIR/ansible.cfg" "$WORK/"
awk -v n="$TASKS" '/^    - name: Task [0-9]+ / && ++seen > n { exit } { print }' "$BENCH_DIR/playbook.yml" >"$WORK/playbook.yml"
tasks=$(grep -c '^    - name: Task ' "$WORK/playbook.yml")

# ansible-playbook in-process, so that its own process's CPU time can be read when it ends:
# RUSAGE_SELF counts every thread of the controller and none of its forked workers.
cat >"$WORK/controller.py" <<'EOF'
import collections
import os
import resource
import sys
import threading
import time

from ansible.cli.playbook import main
from ansible.executor.task_queue_manager import TaskQueueManager

report_path = os.environ.pop('PROFILE_PLUGIN_REPORT')
controller = os.getpid()
callback_cpu = collections.Counter()   # thread id -> CPU seconds inside send_callback
callback_faults = collections.Counter()  # thread id -> minor page faults inside send_callback
callbacks = collections.Counter()
send_callback = TaskQueueManager.send_callback


def timed_send_callback(self, method_name, *args, **kwargs):
    faults = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
    start = time.thread_time()
    try:
        return send_callback(self, method_name, *args, **kwargs)
    finally:
        # callbacks run one at a time (send_callback holds a lock), but on two threads
        thread = threading.get_ident()
        callback_cpu[thread] += time.thread_time() - start
        callback_faults[thread] += resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - faults
        callbacks[thread] += 1


# Not under py-spy: the wrapper would only add a frame to every callback's stack there.
if not os.environ.pop('PROFILE_PLUGIN_UNTIMED', ''):
    TaskQueueManager.send_callback = timed_send_callback
sys.argv[0] = 'ansible-playbook'
wall = time.monotonic()
try:
    rc = main()
finally:
    if os.getpid() == controller:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        with open(report_path, 'w') as report:
            report.write('%.3f %.3f %.3f %d %d %d\n' % (
                usage.ru_utime + usage.ru_stime, sum(callback_cpu.values()), time.monotonic() - wall,
                sum(callbacks.values()), usage.ru_minflt, sum(callback_faults.values())))
sys.exit(rc)
EOF

# Runs the controller once in mode $1 (default: Ansible's default stdout callback; plugin or
# baseline: raydeploy_events from PLUGIN_DIR or BASELINE_DIR, events to /dev/null), with "${@:2}"
# before it (environment, py-spy). Leaves its figures in $WORK/report.
run_controller() {
    local mode="$1"
    shift
    local env=(ANSIBLE_NOCOLOR=1 PROFILE_PLUGIN_REPORT="$WORK/report")
    case "$mode" in
        plugin) env+=(ANSIBLE_CALLBACK_PLUGINS="$PLUGIN_DIR") ;;
        baseline) env+=(ANSIBLE_CALLBACK_PLUGINS="$BASELINE_DIR") ;;
    esac
    [[ "$mode" != default ]] && env+=(ANSIBLE_STDOUT_CALLBACK=raydeploy_events RAYDEPLOY_EVENT_FILE=/dev/null)
    rm -f "$WORK/report"
    (cd "$WORK" && env "${env[@]}" "$@" "$PYTHON" "$WORK/controller.py" -i inventory.yml playbook.yml \
        >"$WORK/stdout" 2>"$WORK/stderr") || {
        tail -n 20 "$WORK/stderr" "$WORK/stdout" >&2
        echo "profile-plugin: ansible-playbook failed in mode $mode (output above); check that scripts/bench.sh's" \
             "bare run works on this machine" >&2
        exit 1
    }
    [[ -s "$WORK/report" ]] || { echo "profile-plugin: the controller wrote no figures ($mode); see $WORK/stderr" >&2; exit 1; }
}

echo "machine: $(nproc) cores, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "fixture: $tasks tasks on 20 local hosts, forks 20 (tests/fixtures/ansible/bench)"
echo

for mode in "${modes[@]:1}"; do
    run_controller "$mode" PROFILE_PLUGIN_UNTIMED=1 \
        "$PY_SPY" record --format raw --gil --nonblocking --rate 200 --output "$OUT_DIR/$mode.raw.txt" --
    "$PYTHON" - "$mode" "$OUT_DIR/$mode.raw.txt" <<'EOF'
import collections
import sys

mode, path = sys.argv[1:]
self_samples = collections.Counter()
callback_self = collections.Counter()    # below send_callback: the innermost frame
plugin_total = collections.Counter()     # below send_callback: the plugin's frames, callees included
total = in_callbacks = 0
with open(path) as raw:
    for line in raw:
        stack, _, count = line.rstrip('\n').rpartition(' ')
        count = int(count)
        frames = stack.split(';')
        total += count
        self_samples[frames[-1]] += count
        for i, frame in enumerate(frames):
            if frame.startswith('TaskQueueManager.send_callback '):
                below = frames[i + 1:] or ['(send_callback itself)']
                in_callbacks += count
                callback_self[below[-1]] += count
                for name in set(below):
                    if 'raydeploy_events.py' in name:
                        plugin_total[name] += count
                break


def table(title, counter):
    print(title)
    for name, count in counter.most_common(15):
        print('  %6d %5.1f%%  %s' % (count, 100.0 * count / total, name))
    print()


print('py-spy, %s (events to /dev/null): %d samples holding the GIL (200/s), %d (%.1f%%) inside callbacks'
      % (mode, total, in_callbacks, 100.0 * in_callbacks / max(total, 1)))
print()
table('%s: controller, self samples (top 15):' % mode, self_samples)
table('%s: inside callbacks, self samples (top 15):' % mode, callback_self)
table('%s: the plugin\'s lines inside callbacks, their callees included (top 15):' % mode, plugin_total)
EOF
done

# $WORK/figures-MODE collects lines "controller_cpu callback_cpu wall callbacks faults callback_faults",
# one per round. The
# order of the modes rotates from round to round, so that none always runs first.
for round in $(seq 1 "$ROUNDS"); do
    shift_by=$(((round - 1) % ${#modes[@]}))
    for mode in "${modes[@]:shift_by}" "${modes[@]:0:shift_by}"; do
        run_controller "$mode"
        cat "$WORK/report" >>"$WORK/figures-$mode"
        read -r cpu cb wall n faults cb_faults <"$WORK/report"
        printf 'round %d %-8s controller CPU %7.2f s, in callbacks %6.2f s (%d calls, %d page faults), wall %7.2f s\n' \
            "$round" "$mode" "$cpu" "$cb" "$n" "$cb_faults" "$wall"
    done
done
echo
"$PYTHON" - "$WORK" "${modes[@]}" <<'EOF'
import statistics
import sys

work, modes = sys.argv[1], sys.argv[2:]
rows = {mode: [[float(x) for x in line.split()] for line in open('%s/figures-%s' % (work, mode))] for mode in modes}
print('over %d rounds, min / median / max:' % len(rows['default']))
median = {}
for col, name, form in ((0, 'controller CPU s', '%10.2f'), (1, 'CPU in callbacks s', '%10.2f'), (2, 'wall s', '%10.2f'),
                        (4, 'page faults', '%10d'), (5, 'faults in callbacks', '%10d')):
    for mode in modes:
        values = [row[col] for row in rows[mode]]
        median[mode, col] = statistics.median(values)
        print('  %-19s %-9s' % (name, mode) + form * 3 % (min(values), median[mode, col], max(values)))
calls = rows['default'][0][3]
for mode in modes[1:]:
    cpu = median[mode, 0] - median['default', 0]
    callbacks = median[mode, 1] - median['default', 1]
    print('%s adds (medians): controller CPU %+.2f s (%+.1f %%), CPU in callbacks %+.2f s (%+.0f us and %+.1f page'
          ' faults per callback)' % (mode, cpu, 100 * cpu / median['default', 0], callbacks, 1e6 * callbacks / calls,
                                     (median[mode, 5] - median['default', 5]) / calls))
EOF

"""raydeploy final-validation: a small Ray job that exercises every node of the cluster.

Submitted through the Ray Jobs API by 06-final-validation.yml; runs on the head as the job's driver.
It checks that the cluster has the expected number of ALIVE nodes, then runs

  * one task pinned to each ALIVE node (so every node schedules and runs work), and
  * --tasks more tasks spread over the cluster,

each of which reads a 1 MiB object the driver put in the object store (so objects move between
nodes) and squares a number. It prints one line

    RAYDEPLOY_SAMPLE_JOB_RESULT {json}

with what ran where, and exits 0 only when every check holds. Standard library and Ray only.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

RESULT_PREFIX = 'RAYDEPLOY_SAMPLE_JOB_RESULT'
PAYLOAD_BYTES = 1 << 20


@ray.remote(num_cpus=0.5)
def square_on_node(x: int, payload: bytes) -> dict:
    """Squares x and reports where it ran and how much of the shared object it saw."""
    return {
        'x': x,
        'square': x * x,
        'payload_bytes': len(payload),
        'node_id': ray.get_runtime_context().get_node_id(),
        'hostname': socket.gethostname(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--expected-nodes', type=int, required=True, help='ALIVE nodes the cluster must have')
    parser.add_argument('--tasks', type=int, default=8, help='tasks spread over the cluster, besides one per node')
    args = parser.parse_args()

    started = time.monotonic()
    ray.init()  # inside a Ray job: connects to the cluster that runs it
    alive = [n for n in ray.nodes() if n.get('Alive')]
    names = {n['NodeID']: n.get('NodeName') or n.get('NodeManagerAddress') for n in alive}
    problems = []
    if len(alive) != args.expected_nodes:
        problems.append('%d ALIVE nodes, expected %d' % (len(alive), args.expected_nodes))

    payload = ray.put(b'r' * PAYLOAD_BYTES)
    pinned = [square_on_node.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=node_id, soft=False))
              .remote(i, payload) for i, node_id in enumerate(sorted(names))]
    spread = [square_on_node.options(scheduling_strategy='SPREAD').remote(len(pinned) + i, payload)
              for i in range(args.tasks)]
    results = ray.get(pinned + spread, timeout=120)

    for r in results:
        if r['square'] != r['x'] * r['x'] or r['payload_bytes'] != PAYLOAD_BYTES:
            problems.append('task %d returned %r' % (r['x'], r))
    ran_on = sorted({r['node_id'] for r in results[:len(pinned)]})
    missing = sorted(set(names) - set(ran_on))
    if missing:
        problems.append('no pinned task ran on %s' % ', '.join(names[m] for m in missing))

    tasks_per_node = {}
    for r in results:
        key = names.get(r['node_id'], r['node_id'])
        tasks_per_node[key] = tasks_per_node.get(key, 0) + 1
    summary = {
        'ok': not problems,
        'problems': problems,
        'ray_version': ray.__version__,
        'alive_nodes': len(alive),
        'expected_nodes': args.expected_nodes,
        'tasks': len(results),
        'tasks_per_node': tasks_per_node,
        'sum_of_squares': sum(r['square'] for r in results),
        'cluster_resources': {k: v for k, v in ray.cluster_resources().items() if not k.startswith('node:')},
        'duration_s': round(time.monotonic() - started, 3),
    }
    print(RESULT_PREFIX, json.dumps(summary, sort_keys=True), flush=True)
    return 0 if not problems else 1


if __name__ == '__main__':
    sys.exit(main())

"""End-to-end test: raydeploy deploys a real two-node Ray cluster on this machine and removes it.

It drives build/bin/raydeploy only through its REST API, as CI or a person with curl would:

1. starts `raydeploy serve` on loopback with the local inventory (playbooks/inventory/local.yml:
   hosts `head` and `worker1`, native runtime) and two identities: an operator (starts
   deployments) and an approver (grants the gated checkpoints);
2. deploys all six checkpoints; the approver grants docker-installation and cleanup-existing over
   HTTP (the destructive one with acknowledge_risks and a reason), then asserts: the Ray dashboard
   on this machine lists 2 ALIVE nodes, the sample job SUCCEEDED (Jobs API), the report of
   final-validation is there (GET /api/v1/executions/{id}/report, JSON and Markdown), and
   ray-deployment published its per-node results;
3. deploys again without cleanup-existing and docker-installation: nothing changes (host_summary
   changed == 0 for every execution, Ray not restarted) except final-validation's two deliberate
   changes: the sample job it submits and the report files it writes (both new on every run);
4. runs cleanup-existing alone (granted) and asserts that no Ray process is left (/proc scan).

Beside it, raydeploy's own view of the cluster (its Ray monitor, polling every 2 s here): after the
deployment GET /api/v1/cluster/status says HEALTHY with 2 alive nodes; a long job submitted through
raydeploy (POST /api/v1/jobs) runs when cleanup-existing asks for its approval, so the approval shows
it as live impact and the grant must acknowledge_running_work; within one interval after
cleanup-existing the status says the cluster is gone.

Loopback only, every wait bounded. About 5 minutes on 2 cores. Ray comes from one virtualenv both
inventory nodes share, made (or checked) by scripts/ray-venv.sh before the first deployment, which
then only verifies it: the tests/ray test runs its own Ray head from the same one. Run from the
repository root, with the service built (scripts/build.sh):

    .venv/bin/python -m unittest -v tests/e2e/test_ray_cluster.py

RAYDEPLOY_BINARY overrides build/bin/raydeploy. It needs root (the playbooks create the `ray`
account and run Ray as it), the local inventory's ports free (or held by the Ray it deployed), and
access to PyPI for ray[default,serve] unless the shared virtualenv is already there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'support'))
from raydeploy_testlib import (REPO, HttpError, OrderedSteps, create_token, http, logger, ray_venv,  # noqa: E402
                               require_binary, start_service, stop_process, wait_for)

ANSIBLE_PLAYBOOK = REPO / '.venv' / 'bin' / 'ansible-playbook'
RAY_DASHBOARD = 'http://127.0.0.1:8265'  # the head's dashboard (local inventory: default port)
STATE_DIRS = ('/tmp/raydeploy-e2e/head', '/tmp/raydeploy-e2e/worker1')  # the inventory's state dirs
RAY_VENV = '/tmp/raydeploy-e2e/ray-venv'  # both nodes' ray_native_venv in the inventory
EXPECTED_NODES = {'head', 'worker1'}

ALL_CHECKPOINTS = ['prerequisites-check', 'docker-installation', 'cleanup-existing', 'ray-deployment',
                   'monitoring-deployment', 'final-validation']
REDEPLOY_CHECKPOINTS = ['prerequisites-check', 'ray-deployment', 'monitoring-deployment', 'final-validation']
# The only tasks final-validation reports as changed on a re-run: it submits a new sample job and
# writes a new pair of report files each time (see 06-final-validation.yml).
FINAL_VALIDATION_CHANGES = {'Submit the sample job (POST /api/jobs/)',
                            'Write the report as JSON and Markdown (a new pair of files per run)'}

FIRST_DEPLOYMENT_TIMEOUT = 9 * 60
REDEPLOYMENT_TIMEOUT = 5 * 60
CLEANUP_TIMEOUT = 3 * 60
POLL_INTERVAL_S = 2  # the service's ray.poll_interval in this test

log = logger('e2e')


def ray_processes() -> list[str]:
    """Ray processes on this machine: raylet, gcs_server, Ray workers and agents (ray::...),
    anything running from the inventory's Ray virtualenv (or the per-node ones of earlier versions)
    or as the ray account. Zombies, which hold no resources and wait for their parent to reap them,
    are left out."""
    try:
        ray_uid = next(int(line.split(':')[2]) for line in Path('/etc/passwd').read_text().splitlines()
                       if line.startswith('ray:'))
    except StopIteration:
        ray_uid = None
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as f:
                argv = [a.decode('utf-8', 'replace') for a in f.read().split(b'\0') if a]
            comm = Path('/proc/%s/comm' % entry).read_text().strip()
            uid = os.stat('/proc/%s' % entry).st_uid
        except OSError:
            continue  # gone meanwhile
        if not argv:
            continue  # zombie or kernel thread
        line = ' '.join(argv)
        if (comm in ('raylet', 'gcs_server') or line.startswith('ray::') or uid == ray_uid
                or RAY_VENV + '/' in line or any(d + '/ray-venv/' in line for d in STATE_DIRS)):
            found.append('%s [%s] %s' % (entry, comm, line[:200]))
    return found


class RayClusterEndToEnd(OrderedSteps):
    """The steps run in name order and depend on each other: a failed step skips the later ones."""

    service: subprocess.Popen | None = None

    @classmethod
    def setUpClass(cls):
        require_binary()
        if not ANSIBLE_PLAYBOOK.exists():
            raise RuntimeError('%s missing: run scripts/bootstrap.sh (scripts/test.sh does)' % ANSIBLE_PLAYBOOK)
        if os.geteuid() != 0:
            raise RuntimeError('needs root: the playbooks create the ray account and run Ray as it; '
                               'run the suite as root (CI does) or leave out e2e (ctest -E e2e)')
        # The one Ray install of the run: ray-deployment finds the pinned Ray there and only checks it.
        log('Ray virtualenv: %s' % ray_venv(RAY_VENV))
        cls.tmp = tempfile.TemporaryDirectory(prefix='raydeploy-e2e-')
        try:
            cls.operator, operator_entry = create_token('e2e-operator', 'operator')
            cls.approver, approver_entry = create_token('e2e-approver', 'approver')
            cls.service, cls.api = start_service(
                Path(cls.tmp.name), {'RAYDEPLOY_AUTH_TOKENS': operator_entry + ',' + approver_entry,
                                     'RAYDEPLOY_RAY_POLL_INTERVAL': '%ds' % POLL_INTERVAL_S},
                '--ansible-playbook', str(ANSIBLE_PLAYBOOK))
        except BaseException:
            cls.tearDownClass()
            raise
        log('service at %s' % cls.api)

    @classmethod
    def tearDownClass(cls):
        stop_process(cls.service, 60)
        if hasattr(cls, 'tmp'):
            cls.tmp.cleanup()

    # --- helpers -----------------------------------------------------------------------------------

    def deploy(self, checkpoints: list[str], timeout: float) -> dict:
        """Start a deployment as the operator, grant its gates as the approver, wait for its end."""
        started = time.monotonic()
        deployment = http('POST', self.api + '/deployments', self.operator, {'checkpoints': checkpoints})
        did = deployment['deployment_id']
        log('deployment %s of %s' % (did, ', '.join(checkpoints)))
        granted, seen = set(), {}
        type(self).live_impacts = {}
        deadline = started + timeout
        while True:
            deployment = http('GET', self.api + '/deployments/' + did, self.operator)
            for step in deployment['steps']:
                if seen.get(step['checkpoint']) != step['status']:
                    seen[step['checkpoint']] = step['status']
                    log('  %-22s %-18s %.0f s' % (step['checkpoint'], step['status'], time.monotonic() - started))
            status = deployment['status']
            if status in ('succeeded', 'failed', 'cancelled'):
                break
            awaiting = deployment.get('awaiting')
            if status == 'awaiting_approval' and awaiting and awaiting['checkpoint'] not in granted:
                gate = awaiting['checkpoint']
                # Naming the request grants exactly this deployment's run of the gate.
                body = {'approval_id': awaiting['approval_id'], 'reason': 'e2e test: %s of deployment %s' % (gate, did),
                        'ttl_s': 1800}
                if awaiting['destructive']:
                    body['acknowledge_risks'] = True
                    # What the approver is shown: the Ray jobs and Serve applications that would end.
                    gate_state = http('GET', self.api + '/approvals/' + gate, self.approver)
                    request = next(r for r in gate_state['pending_requests'] if r['id'] == awaiting['approval_id'])
                    impact = request.get('live_impact') or (request.get('approval_info') or {}).get('live_impact')
                    type(self).live_impacts[gate] = impact
                    log('  live impact of %s: %s' % (gate, (impact or {}).get('summary')))
                    if impact and (impact.get('jobs') or impact.get('applications')):
                        body['acknowledge_running_work'] = True
                grant = http('POST', self.api + '/approvals/' + gate, self.approver, body)
                self.assertEqual(grant['state'], 'granted', grant)
                self.assertEqual(grant['approved_by'], 'e2e-approver', grant)
                granted.add(gate)
                log('  granted %s as e2e-approver' % gate)
            if time.monotonic() > deadline:
                http('POST', self.api + '/deployments/%s/cancel' % did, self.operator)
                self.fail('deployment %s did not end within %d s: %s' % (did, timeout, json.dumps(deployment)[:2000]))
            time.sleep(2)
        if status != 'succeeded':
            self.fail('deployment %s %s at %s: %s\n%s' % (did, status, deployment.get('failed_checkpoint'),
                                                         deployment.get('status_reason'), self.failure_log(deployment)))
        log('deployment %s succeeded in %.0f s' % (did, time.monotonic() - started))
        return deployment

    def failure_log(self, deployment: dict) -> str:
        for step in deployment['steps']:
            if step['status'] not in ('succeeded', 'pending') and step.get('execution_id'):
                try:
                    text = http('GET', '%s/executions/%s/log' % (self.api, step['execution_id']), self.operator,
                                raw=True, accept='text/plain')
                    return 'log of %s (%s), last lines:\n%s' % (step['checkpoint'], step['execution_id'], text[-6000:])
                except HttpError as error:
                    return str(error)
        return '(no execution log)'

    def execution(self, deployment: dict, checkpoint: str) -> dict:
        step = next(s for s in deployment['steps'] if s['checkpoint'] == checkpoint)
        return http('GET', '%s/executions/%s' % (self.api, step['execution_id']), self.operator)

    def changed_tasks(self, execution_id: str) -> set[str]:
        """Names of the tasks that reported a change, from the execution's events."""
        names, since = set(), 0
        for _ in range(100):  # bounded: 100 pages of 5000 events
            page = http('GET', '%s/executions/%s/events?since_counter=%d&limit=5000' % (self.api, execution_id, since),
                        self.operator)
            for event in page['events']:
                data = event.get('event_data') or {}
                if event.get('event') == 'runner_on_ok' and data.get('changed'):
                    names.add(str(data.get('task')).split(' : ', 1)[-1])  # without the "role : " prefix
                since = event['counter']
            if not page['events'] or (page.get('final_counter') and since >= page['final_counter']):
                break
        return names

    def report_files(self, execution_id: str) -> list[Path]:
        # Run by raydeploy, final-validation writes its report into the run's directory.
        run_dir = Path(self.tmp.name, 'state', 'runs', execution_id)
        return [run_dir / ('final-validation-%s.%s' % (execution_id, ext)) for ext in ('json', 'md')]

    def cluster_status_until(self, predicate, what: str, timeout: float) -> dict:
        """GET /api/v1/cluster/status until `predicate` holds (bounded by `timeout`)."""
        return wait_for('cluster status %s' % what, lambda: http('GET', self.api + '/cluster/status', self.operator),
                        timeout, interval=0.5, until=predicate)

    # --- steps ---------------------------------------------------------------------------------------

    def test_1_deploy_everything(self):
        deployment = self.deploy(ALL_CHECKPOINTS, FIRST_DEPLOYMENT_TIMEOUT)
        self.assertEqual([s['status'] for s in deployment['steps']], ['succeeded'] * len(ALL_CHECKPOINTS))
        type(self).first = deployment

        # The Ray dashboard on this machine: both nodes ALIVE.
        nodes = http('GET', RAY_DASHBOARD + '/api/v0/nodes?limit=100')['data']['result']['result']
        alive = {n['node_name'] for n in nodes if n['state'] == 'ALIVE'}
        self.assertEqual(alive, EXPECTED_NODES, nodes)
        summary = http('GET', RAY_DASHBOARD + '/nodes?view=summary')['data']['summary']
        self.assertEqual(sum(1 for n in summary if n['raylet']['state'] == 'ALIVE'), 2)

        # ray-deployment published each node's results.
        ray = self.execution(deployment, 'ray-deployment')
        results = ray.get('results') or {}
        self.assertEqual(set(results.get('nodes', {})), {'head', 'worker1'}, ray)
        self.assertEqual(results['nodes']['head']['role'], 'head')
        self.assertEqual(results['nodes']['worker1']['role'], 'worker')
        self.assertTrue(results['summary']['ready'], results['summary'])
        self.assertEqual(results['summary']['alive_nodes'], 2)

        # The sample job of final-validation SUCCEEDED (Ray Jobs API).
        final = self.execution(deployment, 'final-validation')
        jobs = http('GET', RAY_DASHBOARD + '/api/jobs/')
        ours = [j for j in jobs if (j.get('metadata') or {}).get('raydeploy_execution_id') == final['execution_id']]
        self.assertEqual(len(ours), 1, jobs)
        self.assertEqual(ours[0]['status'], 'SUCCEEDED', ours[0])

        # Its report, through the service (JSON and Markdown) and as files on the controller.
        self.assertTrue(final.get('has_report'), final)
        report = http('GET', '%s/executions/%s/report' % (self.api, final['execution_id']), self.operator)
        self.assertEqual(report['status'], 'passed', report)
        self.assertEqual(report['cluster']['alive_nodes'], 2)
        self.assertEqual(report['sample_job']['status'], 'SUCCEEDED')
        markdown = http('GET', '%s/executions/%s/report?format=markdown' % (self.api, final['execution_id']),
                        self.operator, raw=True, accept='text/markdown')
        self.assertIn('# raydeploy deployment report: PASSED', markdown)
        for path in self.report_files(final['execution_id']):
            self.assertTrue(path.is_file(), path)

        # raydeploy's own view: the monitor polls at once when the deployment ends.
        status = self.cluster_status_until(
            lambda s: s['cluster_health']['overall_status'] == 'HEALTHY' and s['alive_nodes'] == 2,
            'HEALTHY with 2 alive nodes', 3 * POLL_INTERVAL_S + 5)
        self.assertTrue(status['healthy'], status)
        self.assertEqual(status['source']['state'], 'CONNECTED', status)
        self.assertEqual(status['cluster_health']['ray_cluster'], {'status': 'HEALTHY', 'nodes': 2})
        self.assertEqual(status['deployment_status'], 'COMPLETED', status)
        nodes = http('GET', self.api + '/resources/nodes', self.operator)
        self.assertEqual({n['node_type'] for n in nodes['nodes'] if n['alive']}, {'head', 'worker'}, nodes)

    def test_2_redeploy_changes_nothing(self):
        deployment = self.deploy(REDEPLOY_CHECKPOINTS, REDEPLOYMENT_TIMEOUT)
        for checkpoint in REDEPLOY_CHECKPOINTS:
            execution = self.execution(deployment, checkpoint)
            changed = {host: counts['changed'] for host, counts in execution['host_summary'].items()}
            tasks = self.changed_tasks(execution['execution_id'])
            log('  %-22s changed per host %s, changed tasks %s' % (checkpoint, changed, sorted(tasks)))
            if checkpoint == 'final-validation':
                self.report_files(execution['execution_id'])
                self.assertEqual(tasks, FINAL_VALIDATION_CHANGES, execution['host_summary'])
                self.assertEqual(changed, {'head': len(FINAL_VALIDATION_CHANGES), 'worker1': 0})
            else:
                self.assertEqual(tasks, set(), '%s changed something on a re-run' % checkpoint)
                self.assertEqual(set(changed.values()), {0}, execution['host_summary'])
        nodes = self.execution(deployment, 'ray-deployment')['results']['nodes']
        for host, node in nodes.items():
            self.assertFalse(node['restarted'], (host, node))
            self.assertEqual(node['action'], 'none', (host, node))

    def test_3_cleanup_leaves_no_ray_process(self):
        # Work that tearing Ray down ends: a long job submitted through raydeploy.
        job = http('POST', self.api + '/jobs', self.operator,
                   {'entrypoint': 'python -c "import time; time.sleep(600)"', 'metadata': {'owner': 'e2e'}})
        job_id = job['submission_id']
        # 404 until the monitor's next poll has seen the job: wait_for retries an HttpError.
        wait_for('the long job %s RUNNING' % job_id, lambda: http('GET', self.api + '/jobs/' + job_id, self.operator),
                 120, until=lambda job: job['status'] == 'RUNNING')
        log('job %s runs' % job_id)

        deployment = self.deploy(['cleanup-existing'], CLEANUP_TIMEOUT)
        self.assertEqual(deployment['steps'][0]['status'], 'succeeded')
        impact = type(self).live_impacts.get('cleanup-existing')
        self.assertIsNotNone(impact, 'the approval of cleanup-existing showed no live impact')
        self.assertTrue(impact['fresh'], impact)
        self.assertIn(job_id, [j['submission_id'] for j in impact['jobs']], impact)

        # Within one interval (and the poll the deployment's end triggers) raydeploy sees it gone.
        status = self.cluster_status_until(lambda s: s['source']['state'] == 'UNREACHABLE',
                                           'UNREACHABLE after cleanup', 2 * POLL_INTERVAL_S + 5)
        self.assertFalse(status['healthy'], status)
        self.assertEqual(status['cluster_health']['overall_status'], 'UNHEALTHY', status)
        health = http('GET', self.api.rsplit('/api/v1', 1)[0] + '/health')
        self.assertFalse(health['ray_connected'], health)
        left = ray_processes()
        for _ in range(10):  # bounded: processes that were exiting get 10 s to be gone
            if not left:
                break
            time.sleep(1)
            left = ray_processes()
        self.assertEqual(left, [], 'Ray processes left after cleanup-existing')
        with self.assertRaises(OSError):  # the dashboard is gone too (URLError is an OSError)
            http('GET', RAY_DASHBOARD + '/api/version', timeout=5)


if __name__ == '__main__':
    unittest.main(verbosity=2)

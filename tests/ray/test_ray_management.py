"""Against a real Ray head: raydeploy's view of the cluster and its management API (issue 10).

The test starts, on loopback only:

1. its own Ray head (`ray start --head --block`) from the project's pinned Ray, the virtualenv
   scripts/ray-venv.sh makes (the one the e2e test's local inventory shares), on free ports away from
   the local inventory's fixed ones, with its own temp dir, and with tests/fixtures/ray/serve_apps on
   PYTHONPATH so that Serve can import the fixture applications (hello:app, hello:second);
2. `raydeploy serve` on 127.0.0.1:0 with `ray.dashboard_url` pointing at that head
   (RAYDEPLOY_RAY_DASHBOARD_URL) and a 1 s poll interval (RAYDEPLOY_RAY_POLL_INTERVAL), and one
   operator token.

Then, through raydeploy's REST API only, compared with what Ray itself answers:

- test_1  GET /api/v1/resources/nodes and /capacity match Ray's /api/v0/nodes and /api/cluster_status;
- test_2  a job POSTed to /api/v1/jobs ends SUCCEEDED, and cluster.job_status events tell it;
- test_3  an application POSTed to /api/v1/applications (202) reaches RUNNING, Serve listens on the
          port raydeploy passed, and the application answers there;
- test_4  a second application deployed next to it leaves the first untouched (same deployed config,
          same replicas, still RUNNING and answering);
- test_5  DELETE /api/v1/applications/second removes that one only.

The steps depend on each other and run in name order: a failed step skips the later ones. Ray is
stopped at the end by signalling the `ray start --block` this test started (never `ray stop`, which
would stop every Ray on the machine, the e2e test's included), then any process left of its session.

Run from the repository root with the service built (scripts/build.sh); it makes or checks the Ray
virtualenv first (a few seconds when it exists, about 2 minutes to install it):

    .venv/bin/python -m unittest -v tests/ray/test_ray_management.py

RAYDEPLOY_BINARY overrides build/bin/raydeploy; RAYDEPLOY_RAY_VENV the virtualenv.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'support'))
from raydeploy_testlib import (REPO, HttpError, OrderedSteps, create_token, http, http_with_status,  # noqa: E402
                               logger, ray_venv, require_binary, start_service, stop_process, wait_for)

SERVE_APPS = REPO / 'tests' / 'fixtures' / 'ray' / 'serve_apps'

# Ports the local inventory (and so the e2e test's cluster) uses on this machine, and raydeploy's
# default: never handed to this test's Ray, even when free right now.
RESERVED_PORTS = ({6379, 8265, 10001, 8080, 8077, 8076, 52365, 52366, 8001, 8000,
                   8180, 8177, 8176, 52465, 52466, 9090, 9100, 3000, 8081}
                  | set(range(10002, 20000)) | set(range(20002, 30000)))

RAY_START_TIMEOUT = 180      # the head's dashboard lists it ALIVE
SNAPSHOT_TIMEOUT = 30        # raydeploy's snapshot shows what Ray shows (poll interval 1 s)
JOB_TIMEOUT = 180            # submission to SUCCEEDED
APP_TIMEOUT = 240            # deploy to RUNNING, with Serve starting on the first one
RAY_STOP_TIMEOUT = 60

log = logger('ray')


def get(url: str, token: str | None = None, timeout: float = 30.0):
    return http('GET', url, token, timeout=timeout)


def free_ports(count: int) -> list[int]:
    """Ports free on loopback now, none of them a port the local inventory or raydeploy uses."""
    ports: list[int] = []
    held = []
    try:
        while len(ports) < count:
            sock = socket.socket()
            sock.bind(('127.0.0.1', 0))
            held.append(sock)
            port = sock.getsockname()[1]
            if port not in RESERVED_PORTS and port not in ports:
                ports.append(port)
    finally:
        for sock in held:
            sock.close()
    return ports


def read_events(api: str, token: str, types: str, until, timeout: float) -> list[dict]:
    """Events of the WebSocket feed GET /api/v1/events?since=0&types=TYPES (stored ones replayed,
    then live ones), read until until(events) is true or the deadline passes; returns them all.
    A minimal RFC 6455 client: the feed sends one event per text frame."""
    url = urllib.parse.urlsplit(api)
    target = '%s/events?since=0&types=%s' % (url.path, urllib.parse.quote(types, safe='.*,'))
    deadline = time.monotonic() + timeout
    events: list[dict] = []
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        key = base64.b64encode(secrets.token_bytes(16)).decode()
        sock.sendall(('GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
                      'Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n'
                      % (target, url.netloc, key, token)).encode())
        stream = sock.makefile('rb')
        status = stream.readline().decode('latin-1')
        if ' 101 ' not in status:
            rest = stream.read1(4000).decode('utf-8', 'replace')
            raise AssertionError('GET %s did not switch to WebSocket: %s%s' % (target, status, rest))
        while stream.readline() not in (b'\r\n', b''):
            pass  # the handshake's headers
        while not until(events):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            sock.settimeout(left)
            try:
                first, second = stream.read(2)
            except (socket.timeout, ValueError):
                break  # deadline, or the server closed
            length = second & 0x7F
            if length == 126:
                length = struct.unpack('!H', stream.read(2))[0]
            elif length == 127:
                length = struct.unpack('!Q', stream.read(8))[0]
            payload = stream.read(length)  # server frames are not masked
            opcode = first & 0x0F
            if opcode == 0x1:
                events.append(json.loads(payload))
            elif opcode == 0x8:
                break
            elif opcode == 0x9:  # ping: answer with a masked pong
                mask = secrets.token_bytes(4)
                sock.sendall(bytes([0x8A, 0x80 | len(payload)]) + mask
                             + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
    return events


class RayHead:
    """A Ray head of this test only: its own ports, temp dir and session."""

    def __init__(self, venv: Path):
        self.venv = venv
        # Short: Ray's Unix socket paths under it must stay below 107 characters.
        self.temp_dir = Path(tempfile.mkdtemp(prefix='rdray-', dir='/tmp'))
        (self.gcs, self.dashboard, self.client, self.node_manager, self.object_manager, self.metrics,
         self.agent_grpc, self.agent_http, self.runtime_env_agent, self.serve_http) = free_ports(10)
        self.dashboard_url = 'http://127.0.0.1:%d' % self.dashboard
        self.serve_url = 'http://127.0.0.1:%d' % self.serve_http
        self.log_file = self.temp_dir / 'ray-start.log'
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        argv = [str(self.venv / 'bin' / 'ray'), 'start', '--head', '--block',
                '--node-ip-address=127.0.0.1', '--node-name=raydeploy-test-head',
                '--port=%d' % self.gcs, '--include-dashboard=true', '--dashboard-host=127.0.0.1',
                '--dashboard-port=%d' % self.dashboard, '--ray-client-server-port=%d' % self.client,
                '--node-manager-port=%d' % self.node_manager, '--object-manager-port=%d' % self.object_manager,
                '--metrics-export-port=%d' % self.metrics, '--dashboard-agent-grpc-port=%d' % self.agent_grpc,
                '--dashboard-agent-listen-port=%d' % self.agent_http,
                '--runtime-env-agent-port=%d' % self.runtime_env_agent,
                # 0 and 0: workers take ports the kernel picks, not the default 10002-19999 range
                # the local inventory's head uses
                '--min-worker-port=0', '--max-worker-port=0',
                '--num-cpus=2', '--temp-dir=%s' % self.temp_dir, '--disable-usage-stats']
        env = {k: v for k, v in os.environ.items() if not k.startswith(('RAY_', 'RAYDEPLOY_'))}
        env.update({'PATH': '%s:%s' % (self.venv / 'bin', env.get('PATH', '/usr/bin:/bin')),
                    # Ray's workers, Serve's replicas among them, inherit it from the raylet.
                    'PYTHONPATH': str(SERVE_APPS),
                    'RAY_USAGE_STATS_ENABLED': '0'})
        with open(self.log_file, 'wb') as output:
            # Its own session: the processes it starts are found by session id at the end.
            self.process = subprocess.Popen(argv, cwd=self.temp_dir, env=env, stdin=subprocess.DEVNULL,
                                            stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        log('Ray head starting: dashboard %s, Serve port %d, temp dir %s'
            % (self.dashboard_url, self.serve_http, self.temp_dir))

        def alive():
            if self.process.poll() is not None:
                raise RuntimeError('ray start exited with %s:\n%s' % (self.process.returncode, self.output_tail()))
            nodes = get(self.dashboard_url + '/api/v0/nodes?limit=100', timeout=5)['data']['result']['result']
            return [n for n in nodes if n['state'] == 'ALIVE']

        try:
            wait_for('the Ray head ALIVE on %s' % self.dashboard_url, alive, RAY_START_TIMEOUT, interval=2)
        except AssertionError as error:
            raise RuntimeError('%s\nray start output:\n%s' % (error, self.output_tail())) from None
        self.start_serve()

    def start_serve(self):
        """Starts Serve with no application, on loopback and this head's Serve port, the way
        ray-deployment does on a deployed cluster: raydeploy's application deploys then keep the
        HTTP options Serve runs with."""
        request = urllib.request.Request(
            self.dashboard_url + '/api/serve/applications/', method='PUT',
            data=json.dumps({'http_options': {'host': '127.0.0.1', 'port': self.serve_http},
                             'applications': []}).encode(),
            headers={'Content-Type': 'application/json'})
        with urllib.request.urlopen(request, timeout=60) as answer:
            if answer.status != 200:
                raise RuntimeError('starting Serve answered HTTP %d' % answer.status)

        def serve_running():
            serve = get(self.dashboard_url + '/api/serve/applications/', timeout=10)
            return serve.get('controller_info', {}).get('actor_id') and serve.get('http_options', {}).get('port')

        wait_for('Serve running on port %d' % self.serve_http, serve_running, RAY_START_TIMEOUT, interval=2)

    def output_tail(self) -> str:
        try:
            return self.log_file.read_text(errors='replace')[-4000:]
        except OSError:
            return '(no output)'

    def session_processes(self) -> list[int]:
        """Processes of this head: in the session of its `ray start`, or naming its temp dir."""
        if self.process is None:
            return []
        found = []
        for entry in os.listdir('/proc'):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            pid = int(entry)
            try:
                with open('/proc/%d/cmdline' % pid, 'rb') as f:
                    cmdline = f.read()
                in_session = os.getsid(pid) == self.process.pid
            except OSError:
                continue
            if cmdline and (in_session or str(self.temp_dir).encode() in cmdline):
                found.append(pid)
        return found

    def stop(self) -> None:
        if self.process is None:
            return
        # `ray start --block` stops the node's processes on SIGTERM, as under the playbooks' supervisor.
        stop_process(self.process, RAY_STOP_TIMEOUT)
        deadline = time.monotonic() + 15
        left = self.session_processes()
        while left and time.monotonic() < deadline:
            time.sleep(1)
            left = self.session_processes()
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if left:
            log('killed %d Ray process(es) left after the head stopped: %s' % (len(left), left))
        shutil.rmtree(self.temp_dir, ignore_errors=True)


class RayManagement(OrderedSteps):
    """The steps run in name order and depend on each other: a failed step skips the later ones."""

    ray: RayHead | None = None
    service: subprocess.Popen | None = None

    @classmethod
    def setUpClass(cls):
        require_binary()
        venv = ray_venv()
        cls.tmp = tempfile.TemporaryDirectory(prefix='raydeploy-ray-')
        try:
            cls.ray = RayHead(venv)
            cls.ray.start()
            cls.start_service()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def start_service(cls):
        cls.operator, operator_entry = create_token('ray-operator', 'operator')
        cls.service, cls.api = start_service(Path(cls.tmp.name), {
            'RAYDEPLOY_AUTH_TOKENS': operator_entry,
            'RAYDEPLOY_RAY_DASHBOARD_URL': cls.ray.dashboard_url,
            'RAYDEPLOY_RAY_POLL_INTERVAL': '1s',
            'RAYDEPLOY_RAY_SERVE_HTTP_PORT': str(cls.ray.serve_http)})
        log('service at %s, watching %s' % (cls.api, cls.ray.dashboard_url))

    @classmethod
    def tearDownClass(cls):
        stop_process(cls.service, 60)
        if cls.ray:
            cls.ray.stop()
        if hasattr(cls, 'tmp'):
            cls.tmp.cleanup()

    # --- Ray's own answers ---------------------------------------------------------------------------

    def ray_nodes(self) -> list[dict]:
        return get(self.ray.dashboard_url + '/api/v0/nodes?limit=100&detail=true')['data']['result']['result']

    def ray_usage(self) -> dict:
        """Ray's resource usage, {resource: [used, total]} (cluster_status, camelCased keys).
        A head that started moments ago reports an empty usage for a few seconds (docs/ray.md),
        so wait until Ray itself reports its CPUs."""
        def reported():
            status = get(self.ray.dashboard_url + '/api/cluster_status')['data']['clusterStatus']
            usage = (status.get('loadMetricsReport') or {}).get('usage') or {}
            return usage if 'CPU' in usage else None
        return wait_for("Ray's cluster_status reports the head's CPUs", reported, SNAPSHOT_TIMEOUT)

    def ray_serve(self) -> dict:
        return get(self.ray.dashboard_url + '/api/serve/applications/')

    def serve_answer(self, route: str) -> str:
        return http('GET', self.ray.serve_url + route, timeout=10, raw=True)

    # --- raydeploy ---------------------------------------------------------------------------------

    def raydeploy(self, path: str):
        return get(self.api + path, self.operator)

    def deploy_app(self, name: str, import_path: str, route_prefix: str) -> dict:
        """POST /api/v1/applications with the seed's body."""
        body = {'name': name, 'import_path': import_path, 'route_prefix': route_prefix, 'num_replicas': 1}
        status, answer = http_with_status('POST', self.api + '/applications', self.operator, body)
        self.assertEqual(status, 202, answer)
        return answer

    def wait_app_running(self, name: str) -> dict:
        def running():
            app = self.raydeploy('/applications/' + urllib.parse.quote(name))
            if app.get('status') == 'DEPLOY_FAILED':
                raise AssertionError('application %s: DEPLOY_FAILED: %s' % (name, app.get('message')))
            return app if app.get('status') == 'RUNNING' else None
        return wait_for('application %s RUNNING in raydeploy' % name, running, APP_TIMEOUT, interval=2)

    def ray_app(self, name: str) -> dict:
        return self.ray_serve()['applications'][name]

    @staticmethod
    def replica_ids(app: dict) -> set[str]:
        return {r['replica_id'] for d in app['deployments'].values() for r in d['replicas']}

    # --- steps ---------------------------------------------------------------------------------------

    def test_1_nodes_and_capacity_match_ray(self):
        ray_nodes = self.ray_nodes()
        self.assertEqual(len(ray_nodes), 1, ray_nodes)
        head = ray_nodes[0]

        def head_seen():  # the snapshot follows the poll: wait until raydeploy has seen the head
            nodes = self.raydeploy('/resources/nodes')
            return nodes if nodes.get('alive_nodes') == 1 else None
        nodes = wait_for('raydeploy lists the Ray head', head_seen, SNAPSHOT_TIMEOUT)
        self.assertEqual(nodes['total_nodes'], 1, nodes)
        self.assertEqual(len(nodes['nodes']), 1, nodes)
        node = nodes['nodes'][0]
        self.assertEqual(node['node_id'], head['node_id'], (node, head))
        self.assertEqual(node['node_name'], head['node_name'], (node, head))
        self.assertEqual(node['node_type'], 'head', node)
        self.assertIs(node['alive'], True, node)
        self.assertEqual(node['resources']['CPU'], head['resources_total']['CPU'], (node, head))
        self.assertEqual(node['resources']['memory'], head['resources_total']['memory'], (node, head))
        self.assertIsNone(node['cml_app_id'], node)  # until the CML target exists
        self.assertIsNone(node['cml_app_name'], node)

        usage = self.ray_usage()
        capacity = self.raydeploy('/resources/capacity')
        self.assertEqual(capacity['total_cpus'], usage['CPU'][1], (capacity, usage))
        self.assertEqual(capacity['total_cpus'], 2, capacity)  # ray start --num-cpus=2
        self.assertEqual(capacity['available_cpus'], usage['CPU'][1] - usage['CPU'][0], (capacity, usage))
        self.assertEqual(capacity['total_gpus'], usage.get('GPU', [0, 0])[1], (capacity, usage))
        # Memory in GB as in the seed (64.0); either unit is accepted, within the rounding of 0.01.
        memory = usage['memory'][1]
        self.assertTrue(min(abs(capacity['total_memory'] - memory / 1e9), abs(capacity['total_memory'] - memory / 2**30))
                        < 0.01, (capacity, usage))
        self.assertGreaterEqual(capacity['utilization_percent'], 0, capacity)
        self.assertLessEqual(capacity['utilization_percent'], 100, capacity)

    def test_2_job_succeeds_with_events(self):
        submission_id = 'raydeploy-test-%s' % secrets.token_hex(4)
        status, answer = http_with_status('POST', self.api + '/jobs', self.operator,
                              {'entrypoint': 'python -c "print(\'hi\')"', 'submission_id': submission_id,
                               'metadata': {'test': 'ray.management'}})
        self.assertIn(status, (200, 201, 202), answer)
        log('job %s submitted' % submission_id)

        def ended():
            job = self.raydeploy('/jobs/' + submission_id)
            if job.get('status') in ('FAILED', 'STOPPED'):
                raise AssertionError('job %s ended %s: %s' % (submission_id, job['status'], job))
            return job if job.get('status') == 'SUCCEEDED' else None
        job = wait_for('job %s SUCCEEDED in raydeploy' % submission_id, ended, JOB_TIMEOUT, interval=2)
        self.assertEqual(job['entrypoint'], 'python -c "print(\'hi\')"', job)
        self.assertEqual(get('%s/api/jobs/%s' % (self.ray.dashboard_url, submission_id))['status'], 'SUCCEEDED')

        def succeeded_event(events):
            return any(e.get('submission_id') == submission_id and e.get('new_status') == 'SUCCEEDED' for e in events)
        events = read_events(self.api, self.operator, 'cluster.job_status', succeeded_event, SNAPSHOT_TIMEOUT)
        ours = [e for e in events if e.get('submission_id') == submission_id]
        self.assertTrue(succeeded_event(ours), events)
        self.assertTrue(all(e['type'] == 'cluster.job_status' for e in events), events)
        # One event per change: no status is reported twice in a row.
        transitions = [(e.get('old_status'), e.get('new_status')) for e in ours]
        self.assertEqual(len(transitions), len(set(transitions)), ours)

    def test_3_application_runs_and_answers_on_the_serve_port(self):
        self.deploy_app('hello', 'hello:app', '/hello')
        app = self.wait_app_running('hello')
        self.assertEqual(app['route_prefix'], '/hello', app)

        serve = self.ray_serve()
        self.assertEqual(serve['http_options']['port'], self.ray.serve_http, serve.get('http_options'))
        self.assertEqual(serve['applications']['hello']['status'], 'RUNNING', serve['applications'])
        self.assertEqual(wait_for('hello answering on Serve\'s port', lambda: self.serve_answer('/hello'), 60),
                         'hello from hello')

        def running_event(events):
            return any(e.get('name') == 'hello' and e.get('new_status') == 'RUNNING' for e in events)
        events = read_events(self.api, self.operator, 'cluster.serve_app_status', running_event, SNAPSHOT_TIMEOUT)
        self.assertTrue(running_event(events), events)

    def test_4_second_application_leaves_the_first_untouched(self):
        before = self.ray_app('hello')
        self.deploy_app('second', 'hello:second', '/second')
        self.wait_app_running('second')
        self.assertEqual(wait_for('second answering', lambda: self.serve_answer('/second'), 60), 'hello from second')

        after = self.ray_app('hello')
        self.assertEqual(after['status'], 'RUNNING', after)
        self.assertEqual(after['deployed_app_config'], before['deployed_app_config'])
        self.assertEqual(self.replica_ids(after), self.replica_ids(before), 'the first application was redeployed')
        self.assertEqual(self.serve_answer('/hello'), 'hello from hello')
        listed = self.raydeploy('/applications')
        self.assertEqual({a['name'] for a in listed['applications']}, {'hello', 'second'}, listed)
        self.assertEqual(listed['total_applications'], 2, listed)

    def test_5_delete_removes_only_the_named_application(self):
        before = self.ray_app('hello')
        status, answer = http_with_status('DELETE', self.api + '/applications/second', self.operator)
        self.assertIn(status, (200, 202, 204), answer)
        wait_for('second gone from Ray', lambda: 'second' not in self.ray_serve()['applications'], APP_TIMEOUT, 2)

        after = self.ray_app('hello')
        self.assertEqual(after['status'], 'RUNNING', after)
        self.assertEqual(after['deployed_app_config'], before['deployed_app_config'])
        self.assertEqual(self.replica_ids(after), self.replica_ids(before))
        self.assertEqual(self.serve_answer('/hello'), 'hello from hello')
        with self.assertRaises(HttpError) as missing:
            self.serve_answer('/second')
        self.assertEqual(missing.exception.status, 404)

        def only_hello():
            listed = self.raydeploy('/applications')
            return listed if {a['name'] for a in listed['applications']} == {'hello'} else None
        wait_for('raydeploy lists hello only', only_hello, SNAPSHOT_TIMEOUT)
        with self.assertRaises(HttpError) as gone:
            self.raydeploy('/applications/second')
        self.assertEqual(gone.exception.status, 404)


if __name__ == '__main__':
    unittest.main(verbosity=2)

"""The service against its own OpenAPI document, by schemathesis (ctest contract.schemathesis).

Starts `raydeploy serve` on a free loopback port with a fresh state directory, the contract catalog
(tests/fixtures/ansible/contract.yaml: the checkpoint names the document's examples use, running
fixture playbooks), an admin token and the fake Ray dashboard (tests/fake_ray/), so that the
cluster, jobs and applications routes answer as with a real Ray. Then runs schemathesis over
every operation of the document the service serves at /openapi.yaml, as admin, with every check,
through the examples, coverage, fuzzing and stateful phases (following the document's `links`):
tests/contract/schemathesis.toml has the settings and says why each exception is one. Any server
error, schema violation or undocumented status code fails the test with schemathesis' report.

The run is deterministic (a fixed example count, schemathesis' deterministic generation, one
worker, no example database), so the same tree gives the same requests. Its output and a JUnit
report go to RAYDEPLOY_CONTRACT_REPORTS (build/contract by default).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'support'))
import raydeploy_testlib as lib  # noqa: E402

HERE = Path(__file__).resolve().parent
SCHEMATHESIS = lib.REPO / '.venv' / 'bin' / 'schemathesis'
CONFIG = HERE / 'schemathesis.toml'
FIXTURES = lib.REPO / 'tests' / 'fixtures' / 'ansible'
FAKE_RAY = lib.REPO / 'tests' / 'fake_ray' / 'fake_ray_dashboard.py'
REPORTS = Path(os.environ.get('RAYDEPLOY_CONTRACT_REPORTS') or lib.REPO / 'build' / 'contract')
# Well under ctest's TIMEOUT (tests/CMakeLists.txt), so that a run that hangs still reports.
RUN_TIMEOUT_S = 330

log = lib.logger('contract')


class ServedDocumentKeepsItsContract(unittest.TestCase):
    def setUp(self):
        lib.require_binary()
        if not SCHEMATHESIS.exists():
            raise RuntimeError('%s missing: run scripts/bootstrap.sh (it installs scripts/requirements.txt)'
                               % SCHEMATHESIS)
        self.work = tempfile.TemporaryDirectory(prefix='raydeploy-contract-')
        self.addCleanup(self.work.cleanup)
        work = Path(self.work.name)

        self.ray = subprocess.Popen([sys.executable, str(FAKE_RAY), '--port', '0', '--control-port', '0'],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.addCleanup(lib.stop_process, self.ray, 10)
        ports = lib.first_line(self.ray, 30)
        if not ports:
            raise RuntimeError('the fake Ray dashboard did not start within 30 s')
        dashboard = 'http://127.0.0.1:%d' % json.loads(ports)['ray_port']

        self.token, tokens_entry = lib.create_token('contract-admin', 'admin')
        self.service, api = lib.start_service(work, {
            'RAYDEPLOY_AUTH_TOKENS': tokens_entry,
            'RAYDEPLOY_RAY_ENABLED': 'true',
            'RAYDEPLOY_RAY_DASHBOARD_URL': dashboard,
            'RAYDEPLOY_RAY_POLL_INTERVAL': '1s',
        }, catalog=FIXTURES / 'contract.yaml', inventory=FIXTURES / 'inventory.yml')
        self.addCleanup(lib.stop_process, self.service, 60)
        self.base = api[:-len('/api/v1')]
        self.service_log = work / 'service.log'
        lib.wait_for('the Ray monitor to read the fake dashboard',
                     lambda: lib.http('GET', self.base + '/health')['ray_connected'], timeout=30, interval=0.2)

    def test_every_operation_answers_as_documented(self):
        REPORTS.mkdir(parents=True, exist_ok=True)
        output = REPORTS / 'schemathesis.txt'
        env = dict(os.environ, RAYDEPLOY_CONTRACT_TOKEN=self.token, NO_COLOR='1')
        command = [str(SCHEMATHESIS), '--config-file', str(CONFIG), 'run', self.base + '/openapi.yaml',
                   # All checks but one, whose reason is in schemathesis.toml (a Serve deploy is
                   # asynchronous: created is not yet readable).
                   '--url', self.base, '--checks', 'all', '--exclude-checks', 'ensure_resource_availability',
                   '--report', 'junit',
                   '--report-junit-path', str(REPORTS / 'schemathesis-junit.xml')]
        log('schemathesis against %s (output in %s)' % (self.base, output))
        try:
            done = subprocess.run(command, cwd=self.work.name, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, timeout=RUN_TIMEOUT_S)
            text, code = done.stdout, done.returncode
        except subprocess.TimeoutExpired as expired:
            text = expired.stdout if isinstance(expired.stdout, str) else (expired.stdout or b'').decode()
            code = None
        output.write_text(text)
        (REPORTS / 'service.log').write_bytes(self.service_log.read_bytes())
        # The token is the run's own and dies with the service, and schemathesis filters it out of
        # its report; it still never goes to a log.
        text = text.replace(self.token, '[token]')
        summary = text[text.rfind('=== SUMMARY') - 40:] if '=== SUMMARY' in text else text[-6000:]
        print(summary, file=sys.stderr)
        self.assertIsNotNone(code, 'schemathesis did not finish within %d s; its output so far:\n%s'
                             % (RUN_TIMEOUT_S, text[-20000:]))
        self.assertEqual(code, 0, 'schemathesis found contract violations (all of it in %s):\n%s\n'
                                  'the service log: %s' % (output, text[-30000:], REPORTS / 'service.log'))
        # The service survived the run and still answers.
        self.assertEqual(lib.http('GET', self.base + '/health')['status'], 'ok')


if __name__ == '__main__':
    unittest.main()

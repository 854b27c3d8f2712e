"""What the Python tests that run build/bin/raydeploy against a real Ray share (stdlib only).

Used by tests/e2e/test_ray_cluster.py and tests/ray/test_ray_management.py, which put this directory
on sys.path: the service's binary and inputs, HTTP with bearer tokens, bounded waits, tokens, the
shared Ray virtualenv, starting and stopping `raydeploy serve`, and steps that build on each other.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get('RAYDEPLOY_BINARY') or REPO / 'build' / 'bin' / 'raydeploy')
CATALOG = REPO / 'playbooks' / 'checkpoints.yaml'
INVENTORY = REPO / 'playbooks' / 'inventory' / 'local.yml'
RAY_VENV_SCRIPT = REPO / 'scripts' / 'ray-venv.sh'


def logger(tag: str):
    """A log(message) that writes '[TAG HH:MM:SS] message' to stderr, flushed: unittest's own
    output goes there too, so the two interleave in the order things happened."""
    def log(message: str) -> None:
        print('[%s %s] %s' % (tag, time.strftime('%H:%M:%S'), message), file=sys.stderr, flush=True)
    return log


class HttpError(Exception):
    def __init__(self, status: int, body: str, url: str):
        super().__init__('HTTP %d from %s: %s' % (status, url, body[:2000]))
        self.status, self.body = status, body


def http_with_status(method: str, url: str, token: str | None = None, body=None, timeout: float = 30.0,
                     accept: str = 'application/json', raw: bool = False):
    """One HTTP request; returns (status, decoded JSON or, with raw=True, the text); raises
    HttpError for 4xx/5xx and OSError (URLError among them) when nothing answers."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header('Accept', accept)
    if data is not None or method in ('POST', 'PUT'):  # the service refuses a POST that does not say JSON
        request.add_header('Content-Type', 'application/json')
    if token:
        request.add_header('Authorization', 'Bearer ' + token)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            status, text = answer.status, answer.read().decode('utf-8', 'replace')
    except urllib.error.HTTPError as error:
        raise HttpError(error.code, error.read().decode('utf-8', 'replace'), url) from None
    return status, (text if raw else (json.loads(text) if text else None))


def http(method: str, url: str, token: str | None = None, body=None, timeout: float = 30.0,
         accept: str = 'application/json', raw: bool = False):
    """One HTTP request; returns the decoded JSON (or the text with raw=True); raises HttpError."""
    return http_with_status(method, url, token, body, timeout, accept, raw)[1]


def wait_for(what: str, probe, timeout: float, interval: float = 1.0, until=bool):
    """Calls probe() until until(its value) is true (the value is returned) or the deadline passes
    (fails with the last value or error). probe may raise OSError or HttpError while the thing is
    not ready."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = probe()
            if until(last):
                return last
        except (OSError, HttpError, KeyError, ValueError) as error:
            last = error
        if time.monotonic() > deadline:
            raise AssertionError('%s: not within %d s; last seen: %s' % (what, timeout, str(last)[:3000]))
        time.sleep(interval)


def create_token(name: str, role: str) -> tuple[str, str]:
    """`raydeploy token create`: the token and its RAYDEPLOY_AUTH_TOKENS entry."""
    out = subprocess.run([str(BINARY), 'token', 'create', '--name', name, '--role', role],
                         check=True, capture_output=True, text=True, timeout=30).stdout
    token = out.split()[0]
    entry = re.search(r'RAYDEPLOY_AUTH_TOKENS=(\S+)', out)
    if not token.startswith('rdp_') or not entry:
        raise RuntimeError('unexpected output of raydeploy token create:\n' + out)
    return token, entry.group(1)


def require_binary() -> None:
    """Fails at once, before minutes of setup, when the service is not built."""
    if not BINARY.exists():
        raise RuntimeError('%s not built: run scripts/build.sh (scripts/test.sh does)' % BINARY)


def ray_venv(path: str | None = None) -> Path:
    """Makes or checks the one Ray virtualenv the tests share (scripts/ray-venv.sh; at `path`, else
    RAYDEPLOY_RAY_VENV or the local inventory's) and returns its path. A few seconds when it is
    there; installing it from PyPI takes minutes, hence the long timeout."""
    argv = ['bash', str(RAY_VENV_SCRIPT)] + ([path] if path else [])
    out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=1500).stdout
    return Path(out.strip().splitlines()[-1])


def start_service(work_dir: Path, settings: dict[str, str], *extra_args: str, catalog: Path = CATALOG,
                  inventory: Path = INVENTORY, ready_within: float = 60.0) -> tuple[subprocess.Popen, str]:
    """Starts `raydeploy serve` on 127.0.0.1:0 with `catalog` and `inventory` (the repository's
    own and the local inventory unless given), its state in WORK_DIR/state and its stderr in
    WORK_DIR/service.log. Of the environment's RAYDEPLOY_ variables only `settings` reach it, so a
    developer's own do not change the test. Returns the process and its API's base URL
    (http://127.0.0.1:PORT/api/v1) once it listens; raises RuntimeError with the log's tail, the
    process stopped, if it does not start within `ready_within` seconds."""
    env = {k: v for k, v in os.environ.items() if not k.startswith('RAYDEPLOY_')}
    env.update(settings)
    service_log = Path(work_dir, 'service.log')
    with open(service_log, 'wb') as stderr:
        service = subprocess.Popen(
            [str(BINARY), 'serve', '--listen', '127.0.0.1:0', '--state-dir', str(Path(work_dir, 'state')),
             '--catalog', str(catalog), '--inventory', str(inventory), *extra_args],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
    line = first_line(service, ready_within)  # the service prints exactly this one line when ready
    match = re.match(r'listening on (http://127\.0\.0\.1:\d+)', line)
    if not match:
        stop_process(service, 60)
        raise RuntimeError('the service did not start: %r\n%s' % (line, service_log.read_text()[-4000:]))
    return service, match.group(1) + '/api/v1'


def first_line(process: subprocess.Popen, within: float) -> str:
    """The first line `process` prints on stdout (a pipe), or '' when it prints none within
    `within` seconds or exits first."""
    ready, _, _ = select.select([process.stdout], [], [], within)
    return process.stdout.readline() if ready else ''


def stop_process(process: subprocess.Popen | None, timeout: float) -> None:
    """SIGTERM, so that it shuts down as in production, then SIGKILL if it is still there after
    `timeout` seconds. Nothing for None or a process that has already exited."""
    if process and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class OrderedSteps(unittest.TestCase):
    """Steps (test_1_..., test_2_...) that run in name order and build on each other: once one
    fails, the later ones are skipped naming it, instead of failing for its reason."""

    failed_step: str | None = None

    def setUp(self):
        if type(self).failed_step:
            self.skipTest('an earlier step failed: ' + type(self).failed_step)

    def run(self, result=None):
        outcome = super().run(result)
        if result is not None and (result.failures or result.errors) and not type(self).failed_step:
            if any(test is self for test, _ in result.failures + result.errors):
                type(self).failed_step = self._testMethodName
        return outcome

"""GET /metrics of a live service, read back with the Prometheus text parser (prometheus_client,
pinned in scripts/requirements.txt): every family tests/fixtures/metrics/expected_metrics.txt lists
(the list the Grafana dashboard is checked against) with its type and labels, and values that follow
what the test made the service do: a run that succeeds, one held for an approval and granted, a
refused request, requests by route and status.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import unittest
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'support'))
import raydeploy_testlib as lib  # noqa: E402

REPO = lib.REPO
CATALOG = REPO / 'tests' / 'fixtures' / 'ansible' / 'contract.yaml'
INVENTORY = REPO / 'tests' / 'fixtures' / 'ansible' / 'inventory.yml'
EXPECTED = REPO / 'tests' / 'fixtures' / 'metrics' / 'expected_metrics.txt'


def expected_families() -> dict[str, tuple[str, set[str]]]:
    families = {}
    for line in EXPECTED.read_text().splitlines():
        if not line.strip() or line.startswith('#'):
            continue
        fields = line.split()
        families[fields[0]] = (fields[1], set(fields[2].split(',')) if len(fields) > 2 else set())
    return families


def scrape(base: str, token: str | None) -> tuple[dict, str]:
    status, text = lib.http_with_status('GET', base + '/metrics', token, accept='text/plain', raw=True)
    assert status == 200, status
    # The parser names counter families without _total; index both ways.
    families = {}
    for family in text_string_to_metric_families(text):
        families[family.name] = family
    return families, text


def value(families: dict, name: str, **labels) -> float:
    """The sample `name` with exactly these labels (0 when there is none)."""
    for family in families.values():
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


class MetricsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lib.require_binary()
        cls.work = tempfile.TemporaryDirectory(prefix='raydeploy-metrics-')
        cls.viewer, viewer_entry = lib.create_token('watcher', 'viewer')
        cls.operator, operator_entry = lib.create_token('deployer', 'operator')
        cls.admin, admin_entry = lib.create_token('boss', 'admin')
        cls.service, api = lib.start_service(
            Path(cls.work.name),
            {'RAYDEPLOY_AUTH_TOKENS': ','.join([viewer_entry, operator_entry, admin_entry])},
            catalog=CATALOG, inventory=INVENTORY)
        cls.api = api
        cls.base = api[:-len('/api/v1')]

    @classmethod
    def tearDownClass(cls):
        lib.stop_process(cls.service, 60)
        cls.work.cleanup()

    def wait_final(self, execution_id: str) -> dict:
        def probe():
            record = lib.http('GET', '%s/executions/%s' % (self.api, execution_id), self.viewer)
            return record if record['status'] not in ('queued', 'running', 'awaiting_approval') else None
        return lib.wait_for('execution %s to end' % execution_id, probe, timeout=120, interval=0.2)

    def test_exposition_follows_what_the_service_did(self):
        before, _ = scrape(self.base, self.viewer)

        # A run that succeeds.
        started = lib.http('POST', self.api + '/checkpoints/prerequisites-check', self.operator, body={})
        self.assertEqual(self.wait_final(started['execution_id'])['status'], 'succeeded')
        # A run that needs an approval: the request waits a moment, then someone else grants it.
        with self.assertRaises(lib.HttpError) as asked:
            lib.http('POST', self.api + '/checkpoints/docker-installation', self.operator, body={})
        self.assertEqual(asked.exception.status, 409)
        approval_id = json.loads(asked.exception.body)['approval_id']
        time.sleep(1.1)
        lib.http('POST', self.api + '/approvals/docker-installation', self.admin,
                 body={'approval_id': approval_id, 'reason': 'maintenance window'})
        # The grant starts nothing by itself: the requester runs it with the grant, to its end, so
        # that every event the runs produced is stored before the scrape.
        granted = lib.http('POST', self.api + '/checkpoints/docker-installation', self.operator, body={})
        self.assertEqual(self.wait_final(granted['execution_id'])['status'], 'succeeded')
        # A refused request: /metrics without a token.
        with self.assertRaises(lib.HttpError) as refused:
            lib.http_with_status('GET', self.base + '/metrics', None, accept='text/plain', raw=True)
        self.assertEqual(refused.exception.status, 401)

        # The Ray monitor's first poll (of a dashboard that is not there) may still be under way.
        def polled():
            got = scrape(self.base, self.viewer)
            return got if value(got[0], 'raydeploy_polls_total', source='ray', outcome='error') else None
        families, text = lib.wait_for("the Ray monitor's first poll", polled, timeout=60, interval=0.5)
        self.assertIn('# TYPE raydeploy_http_requests_total counter', text)

        # Every listed family, with its type and exactly its labels; nothing unlisted.
        expected = expected_families()
        for name, (kind, labels) in expected.items():
            family_name = name[:-len('_total')] if kind == 'counter' and name.endswith('_total') else name
            self.assertIn(family_name, families, 'family %s missing from /metrics' % name)
            family = families[family_name]
            self.assertEqual(family.type, kind, name)
            self.assertTrue(family.samples, 'family %s has no series' % name)
            for sample in family.samples:
                got = set(sample.labels) - {'le'}
                self.assertEqual(got, labels, '%s: labels %s' % (sample.name, sorted(got)))
        listed = {name[:-len('_total')] if kind == 'counter' and name.endswith('_total') else name
                  for name, (kind, _) in expected.items()}
        self.assertEqual(set(families) - listed, set(), 'families /metrics has that expected_metrics.txt lacks')

        def grew(name, **labels):
            return value(families, name, **labels) - value(before, name, **labels)

        self.assertEqual(grew('raydeploy_executions_total', checkpoint='prerequisites-check', status='succeeded'), 1)
        self.assertEqual(grew('raydeploy_executions_total', checkpoint='docker-installation', status='succeeded'), 1)
        self.assertEqual(grew('raydeploy_execution_duration_seconds_count', checkpoint='prerequisites-check'), 1)
        self.assertGreater(value(families, 'raydeploy_execution_duration_seconds_sum', checkpoint='prerequisites-check'), 0)
        self.assertEqual(grew('raydeploy_approval_wait_seconds_count', outcome='granted'), 1)
        self.assertGreaterEqual(value(families, 'raydeploy_approval_wait_seconds_sum', outcome='granted'), 1.0)
        ingested = grew('raydeploy_events_ingested_total')
        self.assertGreater(ingested, 5)
        # Every event a run produced is stored (and the approvals' and the monitor's besides).
        self.assertGreaterEqual(grew('raydeploy_events_stored_total'), ingested)
        for status, count in (('202', 2), ('409', 1)):
            self.assertEqual(grew('raydeploy_http_requests_total', route='/api/v1/checkpoints/{name}', method='POST',
                                  status=status), count, status)
        self.assertEqual(grew('raydeploy_http_requests_total', route='/metrics', method='GET', status='401'), 1)
        self.assertGreaterEqual(grew('raydeploy_http_request_duration_seconds_count', route='/api/v1/executions/{id}',
                                     method='GET'), 1)
        self.assertGreater(grew('raydeploy_sqlite_commit_duration_seconds_count'), 0)
        self.assertEqual(value(families, 'raydeploy_build_info', version=lib.http('GET', self.base + '/health')['version']), 1)
        self.assertGreater(value(families, 'process_resident_memory_bytes'), 1e6)
        self.assertGreater(value(families, 'process_open_fds'), 3)
        self.assertGreaterEqual(value(families, 'raydeploy_http_connections'), 1)
        # The fixture's dashboard address has no Ray: the monitor's polls fail and say so.
        self.assertGreater(value(families, 'raydeploy_polls_total', source='ray', outcome='error'), 0)
        self.assertEqual(value(families, 'raydeploy_poller_up', source='ray'), 0)

    def test_an_unknown_path_or_method_is_one_series_not_one_per_request(self):
        for path in ('/nothing/%d' % i for i in range(20)):
            with self.assertRaises(lib.HttpError):
                lib.http('GET', self.base + path, self.viewer)
        families, _ = scrape(self.base, self.viewer)
        routes = {s.labels['route'] for s in families['raydeploy_http_requests'].samples}
        self.assertIn('unmatched', routes)
        self.assertFalse([r for r in routes if r.startswith('/nothing')], routes)


class PublicMetricsTest(unittest.TestCase):
    def test_metrics_public_serves_without_a_token_and_nothing_else_opens(self):
        with tempfile.TemporaryDirectory(prefix='raydeploy-metrics-') as work:
            _, entry = lib.create_token('watcher', 'viewer')
            service, api = lib.start_service(Path(work), {'RAYDEPLOY_AUTH_TOKENS': entry,
                                                          'RAYDEPLOY_METRICS_PUBLIC': 'true'},
                                             catalog=CATALOG, inventory=INVENTORY)
            try:
                families, _ = scrape(api[:-len('/api/v1')], None)
                self.assertIn('raydeploy_build_info', families)
                with self.assertRaises(lib.HttpError) as refused:
                    lib.http('GET', api + '/executions', None)
                self.assertEqual(refused.exception.status, 401)
            finally:
                lib.stop_process(service, 60)


if __name__ == '__main__':
    unittest.main()

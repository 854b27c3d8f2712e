"""raydeploy's own Grafana dashboard and the Prometheus job that feeds it (checkpoint monitoring-deployment).

The dashboard (playbooks/roles/monitoring_common/files/dashboards/raydeploy.json) is checked against the
metrics the service documents in tests/fixtures/metrics/expected_metrics.txt: every query parsed by a real
PromQL parser (promql-parser, pinned in scripts/requirements.txt), naming only documented series and
labels. prometheus.yml is rendered by the project virtualenv's ansible-playbook from the role's own
template and the shipped group_vars, on this machine (no host is contacted). From the repository root:

    .venv/bin/python -m unittest -v tests/playbooks/test_monitoring.py
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import promql_parser
import yaml

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = REPO / 'playbooks'
ROLE = PLAYBOOKS / 'roles' / 'monitoring_common'
DASHBOARD = ROLE / 'files' / 'dashboards' / 'raydeploy.json'
DATASOURCE_TEMPLATE = ROLE / 'templates' / 'grafana' / 'datasource.yml.j2'
MONITORING_VARS = PLAYBOOKS / 'group_vars' / 'all' / 'monitoring.yml'
METRICS = REPO / 'tests' / 'fixtures' / 'metrics' / 'expected_metrics.txt'
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / 'ansible-playbook'  # not resolved: .venv/bin/python is a link

# The dashboard schemaVersion that each Grafana release (major.minor) writes; the dashboard must carry the
# one of the Grafana the playbooks install (monitoring_grafana_image). Exports of Grafana 11.3 to 11.5 say
# 40, of 11.6 say 41 (Grafana's dashboard migrations, apps/dashboard/pkg/migration/schemaversion).
GRAFANA_SCHEMA_VERSIONS = {'11.3': 40, '11.4': 40, '11.5': 40, '11.6': 41}

JOB = 'raydeploy'
DATASOURCE_REF = {'type': 'prometheus', 'uid': '${datasource}'}
TARGET_LABELS = frozenset({'job', 'instance'})  # Prometheus adds them to every scraped series
# Series Prometheus makes itself for each target (not in the service's exposition).
SCRAPE_SERIES = {'up': ('gauge', frozenset())}
COUNTER_FUNCTIONS = {'rate', 'irate', 'increase'}
ROWS = ['Executions', 'Events', 'HTTP', 'Approvals', 'Storage', 'Pollers', 'Process']
# Grafana's own variables, replaced by a duration before parsing (as Grafana does before sending).
GRAFANA_DURATIONS = ('$__rate_interval', '$__interval', '$__range')


def load_metrics(path=METRICS):
    """NAME -> (type, labels) from the documented list; a malformed line is an error naming it."""
    families = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        fields = line.split()
        where = '%s:%d: %r' % (path, number, line)
        if len(fields) not in (2, 3) or fields[1] not in ('counter', 'gauge', 'histogram'):
            raise ValueError('%s: expected NAME counter|gauge|histogram [LABEL,...]' % where)
        name, kind = fields[0], fields[1]
        if not re.fullmatch(r'[a-zA-Z_:][a-zA-Z0-9_:]*', name) or name in families:
            raise ValueError('%s: not a metric name, or listed twice' % where)
        labels = frozenset(fields[2].split(',')) if len(fields) == 3 else frozenset()
        families[name] = (kind, labels)
    return families


def series_of(families):
    """Every series name a query may select -> (kind as a query sees it, its labels)."""
    series = dict(SCRAPE_SERIES)
    for name, (kind, labels) in families.items():
        if kind == 'histogram':
            series[name + '_bucket'] = ('counter', labels | {'le'})
            series[name + '_sum'] = ('counter', labels)
            series[name + '_count'] = ('counter', labels)
        else:
            series[name] = (kind, labels)
    return series


def family_of(name, families):
    for suffix in ('_bucket', '_sum', '_count'):
        if name.endswith(suffix) and families.get(name[:-len(suffix)], ('',))[0] == 'histogram':
            return name[:-len(suffix)]
    return name


def panels_of(dashboard):
    """Every panel, those of collapsed rows included (Grafana nests them in the row)."""
    for panel in dashboard['panels']:
        yield panel
        yield from panel.get('panels', [])


def queries_of(dashboard):
    """(where, PromQL, whether it must follow the Instance variable) of every panel target and query variable."""
    for panel in panels_of(dashboard):
        for target in panel.get('targets', []):
            where = 'panel %d %r, query %s' % (panel['id'], panel['title'], target.get('refId'))
            yield where, target.get('expr', ''), True
    for variable in dashboard['templating']['list']:
        if variable['type'] == 'query':
            match = re.fullmatch(r'label_values\((.+),\s*(\w+)\)', variable['query']['query'])
            if not match:
                raise AssertionError('variable %s: expected label_values(SELECTOR, LABEL), got %r'
                                     % (variable['name'], variable['query']['query']))
            yield 'variable %s' % variable['name'], match.group(1), False


def grafana_to_promql(expr, variables):
    """The PromQL Grafana sends for expr (its variables replaced), and the variables it does not know."""
    text = expr
    for duration in GRAFANA_DURATIONS:
        text = text.replace(duration, '5m')
    unknown = ['uses $%s, which is neither a dashboard variable nor one of Grafana\'s' % name
               for name in re.findall(r'\$\{?([A-Za-z_]\w*)', text) if name not in variables]
    return re.sub(r'\$\{?([A-Za-z_]\w*)\}?', '.*', text), unknown


class QueryChecker:
    """Parses one dashboard query and collects what is wrong with it, in words a dashboard author can act on."""

    def __init__(self, series, variables):
        self.series = series
        self.variables = variables

    def check(self, expr, per_instance=True):
        self.per_instance = per_instance
        self.names = set()
        text, self.problems = grafana_to_promql(expr, self.variables)
        try:
            tree = promql_parser.parse(text)
        except ValueError as error:
            self.problems.append('does not parse: %s' % error)
            return self.problems
        self.labels(tree, under=None)
        return self.problems

    def labels(self, node, under):
        """The labels the result of node may carry; under: the function whose argument node is."""
        if isinstance(node, promql_parser.MatrixSelector):
            return self.selector(node.vector_selector, under, ranged=True)
        if isinstance(node, promql_parser.VectorSelector):
            return self.selector(node, under, ranged=False)
        if isinstance(node, promql_parser.Call):
            name = node.func.name
            args = [self.labels(arg, under=name) for arg in node.args]
            if name == 'label_replace':
                return args[0] | {node.args[1].val}
            if name == 'histogram_quantile':
                if 'le' not in args[1]:
                    self.problems.append('histogram_quantile over series without le: aggregate with by (le, ...)')
                return args[1] - {'le'}
            return frozenset().union(*args)
        if isinstance(node, promql_parser.AggregateExpr):
            inner = self.labels(node.expr, under=None)
            if node.modifier is None:
                return frozenset()
            grouping = frozenset(node.modifier.labels)
            unknown = grouping - inner
            if unknown:
                self.problems.append('%s by/without %s: no such label on %s (it has %s)'
                                     % (node.op, sorted(unknown), node.expr, sorted(inner)))
            return grouping if node.modifier.type == promql_parser.AggModifierType.By else inner - grouping
        if isinstance(node, promql_parser.BinaryExpr):
            lhs, rhs = self.labels(node.lhs, None), self.labels(node.rhs, None)
            matching = node.modifier.matching if node.modifier else None
            if matching and matching.type == promql_parser.LabelModifierType.Include:
                missing = frozenset(matching.labels) - (lhs & rhs)
                if missing:
                    self.problems.append('on %s: not a label of both sides of %s' % (sorted(missing), node))
            return lhs | rhs
        if isinstance(node, (promql_parser.ParenExpr, promql_parser.UnaryExpr, promql_parser.SubqueryExpr)):
            return self.labels(node.expr, under)
        return frozenset()  # number and string literals

    def selector(self, node, under, ranged):
        name = node.name
        if name is None:
            self.problems.append('selector %s has no metric name' % node)
            return frozenset()
        self.names.add(name)
        if name not in self.series:
            self.problems.append('%s is not a series the service documents in %s (nor one Prometheus adds)'
                                 % (name, METRICS.relative_to(REPO)))
            return frozenset()
        kind, labels = self.series[name]
        known = labels | TARGET_LABELS
        matchers = {m.name: m for m in node.matchers.matchers}
        for label in sorted(set(matchers) - known):
            self.problems.append('%s has no label %s (it has %s)' % (name, label, sorted(known)))
        job = matchers.get('job')
        if job is None or job.op != promql_parser.MatchOp.Equal or job.value != JOB:
            self.problems.append('%s does not select job="%s", the scrape job of prometheus.yml' % (name, JOB))
        instance = matchers.get('instance')
        if self.per_instance and (instance is None or instance.op != promql_parser.MatchOp.Re):
            self.problems.append('%s does not select instance=~"$instance", so the Instance variable would not '
                                 'apply to it' % name)
        counted = ranged and under in COUNTER_FUNCTIONS
        if kind == 'counter' and not counted:
            self.problems.append('%s is a counter: use it inside rate() or increase(), never alone' % name)
        if kind == 'gauge' and counted:
            self.problems.append('%s is a gauge: %s() of a gauge means nothing' % (name, under))
        return known


class DashboardTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.dashboard = json.loads(DASHBOARD.read_text())
        cls.families = load_metrics()
        cls.series = series_of(cls.families)

    def test_the_documented_metrics_follow_prometheus_naming(self):
        for name, (kind, labels) in self.families.items():
            with self.subTest(name):
                self.assertEqual(kind == 'counter', name.endswith('_total'),
                                 'counters, and only counters, end in _total')
                self.assertFalse(labels & (TARGET_LABELS | {'le'}), 'job, instance and le are Prometheus\'s')

    def test_identity_tags_and_the_schema_of_the_grafana_the_playbooks_install(self):
        self.assertEqual(self.dashboard['uid'], 'raydeploy')
        self.assertEqual(self.dashboard['title'], 'raydeploy')
        # verify.yml counts the provisioned dashboards through Grafana's search by this tag
        self.assertIn('raydeploy', self.dashboard['tags'])
        image = yaml.safe_load(MONITORING_VARS.read_text())['monitoring_grafana_image']
        release = re.search(r':(\d+\.\d+)\.', image)
        self.assertIsNotNone(release, 'monitoring_grafana_image %r has no version tag' % image)
        self.assertIn(release.group(1), GRAFANA_SCHEMA_VERSIONS,
                      'monitoring_grafana_image is %s: add the schemaVersion that Grafana release writes to '
                      'GRAFANA_SCHEMA_VERSIONS (export any dashboard from it) and give the dashboards that '
                      'schemaVersion' % image)
        self.assertEqual(self.dashboard['schemaVersion'], GRAFANA_SCHEMA_VERSIONS[release.group(1)])

    def test_panel_ids_are_unique_and_panels_do_not_overlap(self):
        ids = [panel['id'] for panel in panels_of(self.dashboard)]
        self.assertEqual(len(ids), len(set(ids)), 'panel ids repeat: %s' % sorted(ids))
        taken = {}
        for panel in self.dashboard['panels']:
            pos = panel['gridPos']
            with self.subTest(panel=panel['title']):
                self.assertLessEqual(pos['x'] + pos['w'], 24, 'wider than the 24-column grid')
                for x in range(pos['x'], pos['x'] + pos['w']):
                    for y in range(pos['y'], pos['y'] + pos['h']):
                        self.assertNotIn((x, y), taken, 'overlaps %r' % taken.get((x, y)))
                        taken[(x, y)] = panel['title']

    def test_every_query_goes_to_the_templated_prometheus_datasource(self):
        variables = {v['name']: v for v in self.dashboard['templating']['list']}
        datasource = variables.get('datasource')
        self.assertIsNotNone(datasource, 'no datasource variable')
        self.assertEqual((datasource['type'], datasource['query']), ('datasource', 'prometheus'))
        # its default is the datasource the role provisions
        provisioned = re.search(r'^\s*uid:\s*(\S+)\s*$', DATASOURCE_TEMPLATE.read_text(), re.M).group(1)
        self.assertEqual(datasource['current']['value'], provisioned)
        for variable in variables.values():
            if variable['type'] == 'query':
                self.assertEqual(variable['datasource'], DATASOURCE_REF, 'variable %s' % variable['name'])
        for panel in panels_of(self.dashboard):
            with self.subTest(panel=panel['title']):
                if panel['type'] == 'row':
                    self.assertFalse(panel.get('targets'), 'a row shows no data')
                    continue
                self.assertEqual(panel.get('datasource'), DATASOURCE_REF)
                self.assertTrue(panel.get('targets'), 'a panel without a query')
                ref_ids = [target['refId'] for target in panel['targets']]
                self.assertEqual(len(ref_ids), len(set(ref_ids)), 'refIds repeat')
                for target in panel['targets']:
                    self.assertEqual(target.get('datasource'), DATASOURCE_REF, 'query %s' % target['refId'])
                    self.assertTrue(target.get('expr', '').strip(), 'query %s is empty' % target['refId'])

    def test_every_query_parses_and_names_only_documented_series_and_labels(self):
        variables = {v['name'] for v in self.dashboard['templating']['list']}
        checker = QueryChecker(self.series, variables)
        queries = list(queries_of(self.dashboard))
        self.assertGreater(len(queries), 30)
        for where, expr, per_instance in queries:
            with self.subTest(where):
                self.assertEqual(checker.check(expr, per_instance), [], expr)

    def test_the_checker_refuses_what_grafana_would_show_as_no_data(self):
        checker = QueryChecker(self.series, {'instance'})
        sel = 'job="raydeploy", instance=~"$instance"'
        bad = {
            'rate(raydeploy_executions_totl{%s}[5m])' % sel: 'not a series the service documents',
            'sum by (checkpint) (raydeploy_executions_active{%s})' % sel: 'no such label',
            'raydeploy_executions_active{%s, phase="x"}' % sel: 'has no label phase',
            'raydeploy_executions_total{%s}' % sel: 'is a counter',
            'rate(raydeploy_event_subscribers{%s}[5m])' % sel: 'is a gauge',
            'histogram_quantile(0.9, sum(rate(raydeploy_poll_duration_seconds_bucket{%s}[5m])))' % sel: 'without le',
            'raydeploy_http_connections{instance=~"$instance"}': 'does not select job="raydeploy"',
            'raydeploy_http_connections{job="raydeploy"}': 'does not select instance',
            'raydeploy_http_connections{%s} + $cluster' % sel: 'neither a dashboard variable',
            'sum(rate(raydeploy_events_stored_total{%s}[5m])' % sel: 'does not parse',
            'raydeploy_execution_duration_seconds{%s}' % sel: 'not a series',
        }
        for expr, expected in bad.items():
            with self.subTest(expr):
                problems = checker.check(expr)
                self.assertTrue(any(expected in p for p in problems), problems)

    def test_every_documented_metric_has_a_panel(self):
        checker = QueryChecker(self.series, {v['name'] for v in self.dashboard['templating']['list']})
        used = set()
        for _, expr, per_instance in queries_of(self.dashboard):
            checker.check(expr, per_instance)
            used |= {family_of(name, self.families) for name in checker.names}
        self.assertEqual(sorted(set(self.families) - used), [],
                         'documented metrics no panel shows: add them to the dashboard')

    def test_the_queries_of_every_shipped_dashboard_parse(self):
        for path in sorted(DASHBOARD.parent.glob('*.json')):
            dashboard = json.loads(path.read_text())
            variables = {v['name'] for v in dashboard['templating']['list']}
            for where, expr, _ in queries_of(dashboard):
                with self.subTest(dashboard=path.name, query=where):
                    self.assertEqual(grafana_to_promql(expr, variables)[1], [], expr)
                    promql_parser.parse(grafana_to_promql(expr, variables)[0])

    def test_rows_in_order(self):
        rows = [panel['title'] for panel in self.dashboard['panels'] if panel['type'] == 'row']
        self.assertEqual(rows, ROWS)


def ansible_env():
    """The repository's Ansible settings only, as check_playbooks.sh uses them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith('ANSIBLE_')}
    env.update({'ANSIBLE_CONFIG': str(PLAYBOOKS / 'ansible.cfg'), 'ANSIBLE_NOCOLOR': '1',
                'ANSIBLE_RETRY_FILES_ENABLED': '0'})
    return env


def docker_config_vars():
    """The variables the docker runtime renders prometheus.yml with: its role's, and those it passes to config.yml."""
    docker = PLAYBOOKS / 'roles' / 'monitoring_docker'
    variables = dict(yaml.safe_load((docker / 'vars' / 'main.yml').read_text()))
    includes = [task for task in yaml.safe_load((docker / 'tasks' / 'server.yml').read_text())
                if task.get('ansible.builtin.include_role', {}).get('tasks_from') == 'config.yml']
    if len(includes) != 1:
        raise AssertionError('monitoring_docker/tasks/server.yml should include config.yml once')
    variables.update(includes[0].get('vars', {}))
    return variables


# Cases rendered on the head of the inventory: (name, task vars). The first keeps every default.
RENDER_CASES = [
    ('defaults', {}),
    ('bound', {'raydeploy_listen_address': '10.20.30.40:8443'}),
    ('bound_ipv6', {'raydeploy_listen_address': '[fd00::5]:8001'}),
    ('wildcard', {'raydeploy_listen_address': '0.0.0.0:9000'}),
    ('loopback_ipv6', {'raydeploy_listen_address': '[::1]:8002'}),
    ('token', {'raydeploy_metrics_token_file': '/etc/raydeploy/prometheus.token'}),
    ('token_docker', dict(docker_config_vars(), ray_runtime='docker',
                          raydeploy_metrics_token_file='/etc/raydeploy/prometheus.token')),
    ('https', {'raydeploy_metrics_scheme': 'https'}),
    ('off', {'raydeploy_metrics_target': ''}),
]

INVENTORIES = {
    # this machine, as the local inventory reaches it
    'local': {'head': {'ansible_connection': 'local'}, 'worker1': {'ansible_connection': 'local'}},
    # a head over SSH that is never contacted (the template is rendered on this machine)
    'remote': {'head': {'ansible_connection': 'ssh', 'ansible_host': '192.0.2.10', 'ray_node_ip_address': '192.0.2.10'},
               'worker1': {'ansible_connection': 'ssh', 'ansible_host': '192.0.2.11', 'ray_node_ip_address': '192.0.2.11'}},
}


def render_playbook(out_dir, cases):
    # public: the role's own variables stay defined for the rendering tasks, as inside the role
    tasks = [{'name': 'Plan the monitoring stack',
              'ansible.builtin.include_role': {'name': 'monitoring_common', 'public': True}},
             {'name': 'Record the provisioned dashboards and the scrape jobs',
              'ansible.builtin.copy': {
                  'dest': '%s/plan.json' % out_dir, 'mode': '0644',
                  'content': '{{ {"dashboards": monitoring_common_dashboards,'
                             ' "jobs": monitoring_common_scrape_jobs_expected} | to_json }}'},
              'delegate_to': 'localhost', 'when': 'inventory_hostname == monitoring_server_host'}]
    for name, variables in cases:
        tasks.append({'name': 'Render prometheus.yml: %s' % name,
                      'ansible.builtin.template': {'src': str(ROLE / 'templates' / 'prometheus.yml.j2'),
                                                   'dest': '%s/prometheus-%s.yml' % (out_dir, name), 'mode': '0644'},
                      'vars': variables, 'delegate_to': 'localhost',
                      'when': 'inventory_hostname == monitoring_server_host'})
    return [{'name': 'Render the monitoring configuration', 'hosts': 'ray_head:ray_workers',
             'gather_facts': False, 'tasks': tasks}]


def render(inventory_name, cases):
    """Renders prometheus.yml for each case with the shipped group_vars; {case: parsed YAML}, the plan."""
    if not ANSIBLE_PLAYBOOK.exists():
        raise RuntimeError('%s not found: run this test with the project virtualenv python '
                           '(.venv/bin/python -m unittest tests/playbooks/test_monitoring.py; '
                           'bash scripts/bootstrap.sh makes .venv)' % ANSIBLE_PLAYBOOK)
    with tempfile.TemporaryDirectory(prefix='raydeploy-monitoring-test-') as tmp:
        work = Path(tmp)
        # group_vars next to the playbook: the shipped ones, with their real precedence
        (work / 'group_vars').symlink_to(PLAYBOOKS / 'group_vars')
        hosts = {name: dict(hostvars, ansible_python_interpreter='{{ ansible_playbook_python }}', ray_runtime='native',
                            raydeploy_become=False)
                 for name, hostvars in INVENTORIES[inventory_name].items()}
        inventory = {'all': {'children': {'ray_head': {'hosts': {'head': hosts['head']}},
                                          'ray_workers': {'hosts': {'worker1': hosts['worker1']}}}}}
        (work / 'inventory.yml').write_text(yaml.safe_dump(inventory))
        (work / 'render.yml').write_text(yaml.safe_dump(render_playbook(work, cases), sort_keys=False))
        proc = subprocess.run([str(ANSIBLE_PLAYBOOK), '-i', 'inventory.yml', 'render.yml'], cwd=work,
                              env=ansible_env(), capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise AssertionError('ansible-playbook failed (%d):\n%s\n%s' % (proc.returncode, proc.stdout, proc.stderr))
        rendered = {name: yaml.safe_load((work / ('prometheus-%s.yml' % name)).read_text()) for name, _ in cases}
        plan = json.loads((work / 'plan.json').read_text())
    return rendered, plan


def raydeploy_job(config):
    jobs = [job for job in config['scrape_configs'] if job['job_name'] == JOB]
    return jobs[0] if len(jobs) == 1 else None


def source_address_towards(address):
    """This machine's address on its route to address, found without ip(8): the default the playbooks compute."""
    if shutil.which('ip') is None:
        return '127.0.0.1'  # the documented fallback when `ip route get` cannot run
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((address, 9))  # UDP: chooses the route, sends nothing
            return probe.getsockname()[0]
    except OSError:
        return '127.0.0.1'


class PrometheusConfigTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.local, cls.plan = render('local', RENDER_CASES)

    def job(self, case):
        job = raydeploy_job(self.local[case])
        self.assertIsNotNone(job, 'prometheus.yml (%s) has no single %s job' % (case, JOB))
        return job

    def test_the_shipped_defaults_scrape_raydeploy_on_this_machine(self):
        job = self.job('defaults')
        self.assertEqual(job['metrics_path'], '/metrics')
        self.assertEqual(job['scheme'], 'http')
        self.assertEqual(job['static_configs'], [{'targets': ['127.0.0.1:8000']}])
        self.assertNotIn('authorization', job)
        # the other jobs are still there
        self.assertLessEqual({'prometheus', 'node', 'ray'}, {j['job_name'] for j in self.local['defaults']['scrape_configs']})

    def test_the_target_follows_the_address_raydeploy_passes(self):
        self.assertEqual(self.job('bound')['static_configs'][0]['targets'], ['10.20.30.40:8443'])
        self.assertEqual(self.job('bound_ipv6')['static_configs'][0]['targets'], ['[fd00::5]:8001'])
        # wildcard and loopback listeners are reached over loopback when Prometheus runs here
        self.assertEqual(self.job('wildcard')['static_configs'][0]['targets'], ['127.0.0.1:9000'])
        self.assertEqual(self.job('loopback_ipv6')['static_configs'][0]['targets'], ['[::1]:8002'])

    def test_a_token_file_becomes_bearer_credentials_where_prometheus_reads_it(self):
        self.assertEqual(self.job('token')['authorization'],
                         {'type': 'Bearer', 'credentials_file': '/etc/raydeploy/prometheus.token'})
        # the docker runtime mounts the file into the container, out of the read-only configuration
        self.assertEqual(self.job('token_docker')['authorization'],
                         {'type': 'Bearer', 'credentials_file': '/run/secrets/raydeploy-metrics-token'})
        self.assertEqual(self.job('https')['scheme'], 'https')

    def test_an_empty_target_leaves_the_job_out(self):
        self.assertIsNone(raydeploy_job(self.local['off']))
        self.assertEqual(self.local['off']['scrape_configs'][:3], self.local['defaults']['scrape_configs'][:3])

    def test_the_dashboard_is_provisioned_and_the_job_can_be_required(self):
        self.assertIn(DASHBOARD.name, self.plan['dashboards'])
        self.assertEqual(self.plan['jobs'].get(JOB), 1)

    def test_a_remote_prometheus_scrapes_this_machine_at_its_address_on_the_route(self):
        remote, _ = render('remote', RENDER_CASES[:1])
        expected = '%s:8000' % source_address_towards('192.0.2.10')
        self.assertEqual(raydeploy_job(remote['defaults'])['static_configs'], [{'targets': [expected]}])


if __name__ == '__main__':
    unittest.main()

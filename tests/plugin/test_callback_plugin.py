"""Tests of the raydeploy_events callback plugin (playbooks/callback_plugins/raydeploy_events.py).

Runs the real ansible-playbook of the project virtualenv on tests/fixtures/ansible, all on this
machine (local connection). Standard library only; from the repository root:

    .venv/bin/python -m unittest tests/plugin/test_callback_plugin.py
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import unittest
import uuid
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PLUGIN_DIR = REPO / 'playbooks' / 'callback_plugins'
FIXTURES = REPO / 'tests' / 'fixtures' / 'ansible'
INVENTORY = FIXTURES / 'inventory.yml'
BIN_DIR = Path(sys.executable).parent          # not resolved: .venv/bin/python is a symlink
ANSIBLE_PLAYBOOK = BIN_DIR / 'ansible-playbook'
ANSIBLE_DOC = BIN_DIR / 'ansible-doc'

ANSI = re.compile(r'\x1b\[[0-9;?]*[A-Za-z]')
LOCAL_HOSTS = ('host1', 'host2', 'host3')
RUNNER_EVENTS = {
    'runner_on_start', 'runner_on_ok', 'runner_on_failed', 'runner_on_skipped', 'runner_on_unreachable',
    'runner_item_on_ok', 'runner_item_on_failed', 'runner_item_on_skipped', 'runner_retry',
    'runner_on_async_poll', 'runner_on_async_ok', 'runner_on_async_failed', 'on_file_diff',
}
TASK_START_EVENTS = {'playbook_on_task_start', 'playbook_on_handler_task_start', 'playbook_on_cleanup_task_start'}
UUID4 = r'^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'
TOP_KEYS = ['event', 'uuid', 'parent_uuid', 'counter', 'stdout', 'start_line', 'end_line', 'created', 'pid',
            'event_data']


_TMP = None


def setUpModule():
    global _TMP
    _TMP = tempfile.TemporaryDirectory(prefix='raydeploy-plugin-test-')
    # an empty configuration, so that no ansible.cfg of the environment applies
    Path(_TMP.name, 'ansible.cfg').write_text('[defaults]\n')
    if not ANSIBLE_PLAYBOOK.exists():
        raise RuntimeError('%s not found: run these tests with the project virtualenv python '
                           '(.venv/bin/python -m unittest tests/plugin/test_callback_plugin.py; '
                           'bash scripts/bootstrap.sh makes .venv)' % ANSIBLE_PLAYBOOK)


def tearDownModule():
    _TMP.cleanup()


def base_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(('ANSIBLE_', 'RAYDEPLOY_'))}
    env.update({
        'ANSIBLE_CALLBACK_PLUGINS': str(PLUGIN_DIR),
        'ANSIBLE_STDOUT_CALLBACK': 'raydeploy_events',
        'ANSIBLE_NOCOWS': '1',
        'ANSIBLE_RETRY_FILES_ENABLED': '0',
        'ANSIBLE_CONFIG': os.path.join(_TMP.name, 'ansible.cfg'),
    })
    env.update(extra)
    return env


def pipe_on_fd3():
    """A pipe whose write end is fd 3 when that number is free (as the service passes it)."""
    r, w = os.pipe()
    if w != 3:
        if r == 3:
            r2 = os.dup(r)
            os.close(r)
            r = r2
        try:
            os.fstat(3)
        except OSError:
            os.dup2(w, 3, inheritable=False)
            os.close(w)
            w = 3
    return r, w


class Run:
    def __init__(self, rc, stdout, stderr, raw_events):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.raw_events = raw_events
        self.lines = raw_events.splitlines()
        self.events = [json.loads(line) for line in self.lines]

    def of(self, event):
        return [e for e in self.events if e['event'] == event]

    @property
    def stats(self):
        return self.events[-1]['event_data']


def run_playbook(playbook, channel='fd', env=None, args=(), timeout=60):
    """Run ansible-playbook on a fixture; channel: 'fd' (pipe), 'file', or None (no event variables,
    but a pipe is still passed so that anything written to it would show)."""
    env = base_env(**(env or {}))
    cmd = [str(ANSIBLE_PLAYBOOK), '-i', str(INVENTORY), *args, str(FIXTURES / playbook)]
    with tempfile.TemporaryDirectory() as tmp:
        if channel == 'file':
            path = os.path.join(tmp, 'events.jsonl')
            env['RAYDEPLOY_EVENT_FILE'] = path
            proc = subprocess.run(cmd, env=env, cwd=tmp, capture_output=True, text=True, timeout=timeout)
            raw = Path(path).read_bytes() if os.path.exists(path) else b''
            return Run(proc.returncode, proc.stdout, proc.stderr, raw.decode('utf-8'))

        r, w = pipe_on_fd3()
        if channel == 'fd':
            env['RAYDEPLOY_EVENT_FD'] = str(w)
        chunks = []
        reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: os.read(r, 65536), b'')))
        try:
            reader.start()
            try:
                proc = subprocess.run(cmd, env=env, cwd=tmp, capture_output=True, text=True, timeout=timeout,
                                      pass_fds=(w,))
            finally:
                os.close(w)
            reader.join(timeout)
        finally:
            os.close(r)
        return Run(proc.returncode, proc.stdout, proc.stderr, b''.join(chunks).decode('utf-8'))


class EventStreamChecks(unittest.TestCase):
    """Checks every event stream must pass."""

    def check_stream(self, run, human=None):
        """human: the stdout the events must reproduce (default: the run's stdout)."""
        self.assertTrue(run.events, 'no events; stderr:\n' + run.stderr)
        self.assertTrue(run.raw_events.endswith('\n'))
        for line, ev in zip(run.lines, run.events):
            self.assertEqual(line, json.dumps(ev, separators=(',', ':'), ensure_ascii=False),
                             'not one compact JSON object per line')
            # `truncated` follows the others, only in events whose text was cut (OutputLimitTest)
            self.assertEqual([key for key in ev if key != 'truncated'], TOP_KEYS)
            self.assertNotIn('truncated', ev)
            self.assertIsInstance(ev['event_data'], dict)
            self.assertRegex(ev['uuid'], UUID4)
            self.assertNotIn('\x1b', ev['stdout'])
            created = datetime.fromisoformat(ev['created'])
            self.assertEqual(created.utcoffset().total_seconds(), 0)
            self.assertRegex(ev['created'], r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$')
        self.assertEqual([e['counter'] for e in run.events], list(range(1, len(run.events) + 1)))
        self.assertEqual(len({e['uuid'] for e in run.events}), len(run.events), 'uuids not unique')
        self.assertEqual(len({e['pid'] for e in run.events}), 1)
        self.assertEqual(run.events[0]['event'], 'playbook_on_start')
        self.assertEqual(run.events[-1]['event'], 'playbook_on_stats')
        self.assertEqual(len(run.of('playbook_on_stats')), 1)

        # line numbers: contiguous, 0-based, end_line = start_line + number of lines
        line = 0
        for ev in run.events:
            self.assertEqual(ev['start_line'], line, ev)
            n = 0 if ev['end_line'] == ev['start_line'] else ev['stdout'].count('\n') + 1
            self.assertEqual(ev['end_line'], ev['start_line'] + n, ev)
            line = ev['end_line']

        # the events' stdout, in order, is the human output
        if human is None:
            human = run.stdout
        joined = ''.join(e['stdout'] + '\n' for e in run.events if e['end_line'] > e['start_line'])
        self.assertEqual(joined, human)
        self.assertEqual(run.events[-1]['end_line'], human.count('\n'))
        recap = human[human.index('PLAY RECAP'):]
        self.assertIn(recap.rstrip('\n'), run.events[-1]['stdout'])

        self.check_parents(run)

    def check_parents(self, run):
        """parent_uuid: play start -> playbook start event; task start -> play start event; runner
        events -> the task start event, whose uuid is also every task event's event_data.task_uuid;
        stats -> playbook start event."""
        by_uuid = {e['uuid']: e for e in run.events}
        playbook = run.events[0]
        self.assertIsNone(playbook['parent_uuid'])
        self.assertEqual(playbook['event_data']['playbook_uuid'], playbook['uuid'])
        for ev in run.events[1:]:
            data = ev['event_data']
            self.assertEqual(data['playbook_uuid'], playbook['uuid'])
            self.assertEqual(data['playbook'], playbook['event_data']['playbook'])
            if ev['event'] == 'playbook_on_play_start':
                self.assertEqual(ev['parent_uuid'], playbook['uuid'])
                self.assertEqual(data['play_uuid'], ev['uuid'])
            elif ev['event'] in TASK_START_EVENTS:
                self.assertEqual(ev['parent_uuid'], data['play_uuid'])
                self.assertEqual(by_uuid[ev['parent_uuid']]['event'], 'playbook_on_play_start')
                self.assertEqual(data['task_uuid'], ev['uuid'])
                self.assertTrue(data['task'])
            elif ev['event'] in RUNNER_EVENTS:
                self.assertEqual(ev['parent_uuid'], data['task_uuid'])
                task_start = by_uuid[ev['parent_uuid']]
                self.assertIn(task_start['event'], TASK_START_EVENTS)
                self.assertLess(task_start['counter'], ev['counter'])
                for key in ('task', 'task_action', 'task_path', 'play', 'play_uuid'):
                    self.assertEqual(data[key], task_start['event_data'][key])
                self.assertTrue(data['host'])
                self.assertIn('remote_addr', data)
            elif ev['event'] == 'playbook_on_stats':
                self.assertEqual(ev['parent_uuid'], playbook['uuid'])


class SucceedTest(EventStreamChecks):

    @classmethod
    def setUpClass(cls):
        cls.pb = run_playbook('succeed.yml', channel='fd')

    def test_rc_and_stream(self):
        self.assertEqual(self.pb.rc, 0, self.pb.stderr)
        self.check_stream(self.pb)

    def test_stats(self):
        stats = self.pb.stats
        self.assertEqual(stats['ok'], {h: 3 for h in LOCAL_HOSTS})
        self.assertEqual(stats['processed'], {h: 1 for h in LOCAL_HOSTS})
        for key in ('changed', 'failures', 'dark', 'skipped', 'rescued', 'ignored'):
            self.assertEqual(stats[key], {}, key)
        self.assertEqual(stats['artifact_data'], {})

    def test_hosts_and_tasks(self):
        tasks = [e['event_data']['task'] for e in self.pb.of('playbook_on_task_start')]
        self.assertEqual(tasks, ['Say hello', 'Run a harmless command', 'Remember something'])
        self.assertEqual(len(self.pb.of('playbook_on_play_start')), 1)
        self.assertEqual(self.pb.of('playbook_on_play_start')[0]['event_data']['play_pattern'], 'local_hosts')
        oks = self.pb.of('runner_on_ok')
        self.assertEqual(len(oks), 9)
        self.assertEqual(len(self.pb.of('runner_on_start')), 9)
        self.assertEqual({(e['event_data']['task'], e['event_data']['host']) for e in oks},
                         {(t, h) for t in tasks for h in LOCAL_HOSTS})
        for ev in oks:
            data = ev['event_data']
            self.assertTrue(ev['stdout'].startswith('ok: [%s]' % data['host']), ev['stdout'])
            self.assertEqual(data['remote_addr'], '127.0.0.1')
            self.assertIsInstance(data['duration'], float)
            self.assertGreaterEqual(data['duration'], 0.0)
            self.assertLessEqual(datetime.fromisoformat(data['start']), datetime.fromisoformat(data['end']))
            self.assertIs(data['changed'], False)
            self.assertIs(data['failed'], False)
            self.assertIsInstance(data['res'], dict)
        hello = [e for e in oks if e['event_data']['task'] == 'Say hello' and e['event_data']['host'] == 'host2']
        self.assertEqual(hello[0]['event_data']['res']['msg'], 'hello from host2')
        self.assertEqual(hello[0]['event_data']['task_action'], 'ansible.builtin.debug')
        start = self.pb.of('playbook_on_task_start')[0]
        self.assertEqual(start['event_data']['task_args'], {'msg': 'hello from {{ inventory_hostname }}'})
        self.assertTrue(start['event_data']['task_path'].endswith('succeed.yml:7'))


class FileChannelTest(EventStreamChecks):
    """RAYDEPLOY_EVENT_FILE instead of a descriptor; colours forced on the terminal output only."""

    def test_file_channel_and_colours(self):
        run = run_playbook('succeed.yml', channel='file', env={'ANSIBLE_FORCE_COLOR': '1'})
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertIn('\x1b[', run.stdout)
        self.check_stream(run, human=ANSI.sub('', run.stdout))
        self.assertEqual(run.stats['ok'], {h: 3 for h in LOCAL_HOSTS})


class FailTest(EventStreamChecks):

    def test_failure_on_host2(self):
        run = run_playbook('fail.yml')
        self.assertEqual(run.rc, 2, run.stderr)
        self.check_stream(run)
        failed = run.of('runner_on_failed')
        self.assertEqual(len(failed), 1)
        data = failed[0]['event_data']
        self.assertEqual((data['host'], data['task']), ('host2', 'Break on purpose'))
        self.assertEqual(data['res']['msg'], 'intentional failure for tests')
        self.assertIs(data['failed'], True)
        self.assertIs(data['ignore_errors'], False)
        self.assertIn('fatal: [host2]: FAILED!', failed[0]['stdout'])
        self.assertEqual(run.stats['failures'], {'host2': 1})
        self.assertEqual(run.stats['ok'], {'host1': 2, 'host2': 1, 'host3': 2})
        self.assertEqual(run.stats['skipped'], {'host1': 1, 'host3': 1})
        after = [e['event_data']['host'] for e in run.of('runner_on_ok') if e['event_data']['task'] == 'After the failure']
        self.assertEqual(sorted(after), ['host1', 'host3'])


class UnreachableTest(EventStreamChecks):

    def test_unreachable_ghost(self):
        run = run_playbook('unreachable.yml')
        self.assertEqual(run.rc, 4, run.stderr)
        self.check_stream(run)
        dark = run.of('runner_on_unreachable')
        self.assertEqual(len(dark), 1)
        self.assertEqual(dark[0]['event_data']['host'], 'ghost')
        self.assertEqual(dark[0]['event_data']['task'], 'Ping the ghost')
        self.assertIs(dark[0]['event_data']['res']['unreachable'], True)
        self.assertEqual(run.stats['dark'], {'ghost': 1})
        self.assertEqual(run.stats['failures'], {})


class ResLimitTest(EventStreamChecks):

    def test_large_results_are_truncated(self):
        run = run_playbook('succeed.yml', env={'RAYDEPLOY_EVENT_RES_LIMIT': '100'})
        self.assertEqual(run.rc, 0, run.stderr)
        self.check_stream(run)
        by_task = {}
        for ev in run.of('runner_on_ok'):
            by_task.setdefault(ev['event_data']['task'], []).append(ev['event_data']['res'])
        for res in by_task['Run a harmless command']:      # cmd, rc, start, end, delta, stdout...
            self.assertIs(res.get('_raydeploy_truncated'), True, res)
            self.assertGreater(res['size'], 100)
            self.assertLessEqual(set(res), {'_raydeploy_truncated', 'size', 'msg'})
        for res in by_task['Say hello']:                  # {"msg": "hello from hostN", "changed": false}
            self.assertNotIn('_raydeploy_truncated', res)

    def test_truncation_keeps_msg(self):
        run = run_playbook('fail.yml', env={'RAYDEPLOY_EVENT_RES_LIMIT': '20'})
        self.assertEqual(run.rc, 2, run.stderr)
        res = run.of('runner_on_failed')[0]['event_data']['res']
        self.assertEqual(res['_raydeploy_truncated'], True)
        self.assertEqual(res['msg'], 'intentional failure for tests')
        self.assertGreater(res['size'], 20)


class OutputLimitTest(unittest.TestCase):
    """A task's long stdout/stderr is cut in its event (truncated: true) and kept whole in the output."""

    @classmethod
    def setUpClass(cls):
        cls.big = run_playbook('big_output.yml')

    def test_long_stdout_is_cut_and_printed_in_full(self):
        run = self.big
        self.assertEqual(run.rc, 0, run.stderr)
        ok = [e for e in run.of('runner_on_ok') if e['event_data']['task'] == 'Print forty thousand x']
        self.assertEqual(len(ok), 1)
        res = ok[0]['event_data']['res']
        self.assertIs(ok[0].get('truncated'), True)
        self.assertEqual(res['stdout'], 'x' * 16384)
        self.assertNotIn('stdout_lines', res)
        self.assertNotIn('_raydeploy_truncated', ok[0]['event_data'])
        self.assertEqual(res['rc'], 0, 'the rest of the result is kept')
        self.assertIn('x' * 40000, run.stdout)

    def test_long_failure_output_is_cut_in_the_event_text_too(self):
        run = self.big
        failed = run.of('runner_on_failed')
        self.assertEqual(len(failed), 1)
        event = failed[0]
        self.assertIs(event.get('truncated'), True)
        self.assertEqual(event['event_data']['res']['stderr'], 'y' * 16384)
        self.assertLessEqual(len(event['stdout'].encode('utf-8')), 16384)
        # the event's lines in the output hold the whole text
        lines = run.stdout.split('\n')[event['start_line']:event['end_line']]
        self.assertIn('y' * 40000, '\n'.join(lines))

    def test_events_that_fit_are_not_marked(self):
        starts = self.big.of('playbook_on_task_start')
        self.assertTrue(starts)
        for event in starts:
            self.assertNotIn('truncated', event)

    def test_limit_is_configurable(self):
        run = run_playbook('big_output.yml', env={'RAYDEPLOY_EVENT_OUTPUT_LIMIT': '100'})
        ok = [e for e in run.of('runner_on_ok') if e['event_data']['task'] == 'Print forty thousand x']
        self.assertEqual(ok[0]['event_data']['res']['stdout'], 'x' * 100)


LIMITS_PLAYBOOK = """\
- name: Limits — exact sizes, ünïcödé
  hosts: host1
  gather_facts: false
  tasks:
    # {"msg":"<20 x é>","changed":false}: 46 characters, 66 bytes of UTF-8
    - name: A result of exactly the limit
      ansible.builtin.debug: {msg: "{{ 'é' * 20 }}"}
    - name: A result one byte over the limit
      ansible.builtin.debug: {msg: "{{ 'é' * 20 }}x"}
"""

OUTPUT_LIMITS_PLAYBOOK = """\
- name: Output limits
  hosts: host1
  gather_facts: false
  tasks:
    - name: Stdout of exactly the limit
      ansible.builtin.shell: "printf 'x%.0s' $(seq 1 100)"
      changed_when: false
    - name: Stdout one byte over the limit
      ansible.builtin.shell: "printf 'x%.0s' $(seq 1 101)"
      changed_when: false
    - name: Stdout whose limit falls inside a character
      ansible.builtin.shell: "printf x; printf 'é%.0s' $(seq 1 50)"
      changed_when: false
    - name: A result JSON cannot hold
      ansible.builtin.set_fact: {not_a_number: "{{ 'nan' | float }}", infinite: "{{ '-inf' | float }}"}
"""


def results_by_task(run):
    return {e['event_data']['task']: e for e in run.of('runner_on_ok')}


class ExactLimitTest(EventStreamChecks):
    """res_limit counts bytes of UTF-8, not characters, and a result of exactly res_limit bytes is kept."""

    def test_result_at_and_over_the_limit(self):
        playbook = Path(_TMP.name, 'limits.yml')
        playbook.write_text(LIMITS_PLAYBOOK)
        run = run_playbook(playbook, env={'RAYDEPLOY_EVENT_RES_LIMIT': '66'})
        self.assertEqual(run.rc, 0, run.stderr)
        self.check_stream(run)
        self.assertEqual(run.events[1]['event_data']['play'], 'Limits — exact sizes, ünïcödé')
        ok = results_by_task(run)
        self.assertEqual(ok['A result of exactly the limit']['event_data']['res'], {'msg': 'é' * 20, 'changed': False})
        self.assertEqual(ok['A result one byte over the limit']['event_data']['res'],
                         {'_raydeploy_truncated': True, 'size': 67, 'msg': 'é' * 20 + 'x'})
        self.assertIn('"msg": "%s"' % ('é' * 20), ok['A result of exactly the limit']['stdout'])


class ExactOutputLimitTest(unittest.TestCase):
    """output_limit: a text of exactly the limit is whole, one byte more is cut, never inside a character;
    a result with NaN or Infinity gets them as strings."""

    @classmethod
    def setUpClass(cls):
        playbook = Path(_TMP.name, 'output_limits.yml')
        playbook.write_text(OUTPUT_LIMITS_PLAYBOOK)
        cls.run_ = run_playbook(playbook, env={'RAYDEPLOY_EVENT_OUTPUT_LIMIT': '100'})
        cls.ok = results_by_task(cls.run_)

    def test_rc(self):
        self.assertEqual(self.run_.rc, 0, self.run_.stderr)

    def test_stdout_of_exactly_the_limit_is_whole(self):
        event = self.ok['Stdout of exactly the limit']
        self.assertNotIn('truncated', event)
        self.assertEqual(event['event_data']['res']['stdout'], 'x' * 100)
        self.assertEqual(event['event_data']['res']['stdout_lines'], ['x' * 100])

    def test_stdout_one_byte_over_is_cut(self):
        event = self.ok['Stdout one byte over the limit']
        self.assertIs(event['truncated'], True)
        self.assertEqual(event['event_data']['res']['stdout'], 'x' * 100)
        self.assertNotIn('stdout_lines', event['event_data']['res'])
        self.assertIn('x' * 101, self.run_.stdout)

    def test_cut_never_splits_a_character(self):
        event = self.ok['Stdout whose limit falls inside a character']
        self.assertIs(event['truncated'], True)
        self.assertEqual(event['event_data']['res']['stdout'], 'x' + 'é' * 49)
        self.assertIn('x' + 'é' * 50, self.run_.stdout)

    def test_not_a_number_becomes_a_string(self):
        event = self.ok['A result JSON cannot hold']
        self.assertNotIn('truncated', event)
        self.assertEqual(event['event_data']['res']['ansible_facts'], {'not_a_number': 'nan', 'infinite': '-inf'})
        # every line is strict JSON (no NaN or Infinity tokens)
        for line in self.run_.lines:
            json.loads(line, parse_constant=lambda token: self.fail('%s in %s' % (token, line)))


class UuidTest(unittest.TestCase):
    """The plugin's uuids, which it makes from random bytes read ahead, are version 4 and unique, and a
    forked worker never repeats the controller's."""

    def test_uuids_are_random_version_4_and_not_shared_with_a_fork(self):
        code = (
            'import os, sys; sys.path.insert(0, sys.argv[1]); import raydeploy_events as p\n'
            'print(p._uuid4())\n'
            'r, w = os.pipe(); pid = os.fork()\n'
            'if pid == 0:\n'
            '    os.write(w, "\\n".join(p._uuid4() for _ in range(200)).encode()); os._exit(0)\n'
            'os.close(w); child = b"".join(iter(lambda: os.read(r, 65536), b"")).decode().split()\n'
            'os.waitpid(pid, 0)\n'
            'print("\\n".join(p._uuid4() for _ in range(1000)))\n'
            'print("\\n".join(child))\n'
        )
        proc = subprocess.run([sys.executable, '-c', code, str(PLUGIN_DIR)], capture_output=True, text=True,
                              timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        ids = proc.stdout.split()
        self.assertEqual(len(ids), 1201)
        self.assertEqual(len(set(ids)), len(ids), 'a uuid repeats (between the controller and its fork?)')
        for text in ids:
            self.assertRegex(text, UUID4)
            self.assertEqual(str(uuid.UUID(text)), text)


class StatsTest(EventStreamChecks):

    def test_set_stats_artifact_data(self):
        run = run_playbook('stats.yml')
        self.assertEqual(run.rc, 0, run.stderr)
        self.check_stream(run)
        self.assertEqual(run.stats['artifact_data'], {'raydeploy_result': {'nodes': 3}})


FREE_PLAYBOOK = """\
- name: Free strategy, rescue and handlers
  hosts: local_hosts
  gather_facts: false
  strategy: free
  tasks:
    - name: Notify
      ansible.builtin.debug: {msg: notify}
      changed_when: true
      notify: The handler
    - name: Guarded
      block:
        - name: Fails on host1
          ansible.builtin.fail: {msg: boom}
          when: inventory_hostname == 'host1'
      rescue:
        - name: Rescue
          ansible.builtin.debug: {msg: rescued}
  handlers:
    - name: The handler
      ansible.builtin.debug: {msg: handled}
"""


class FreeStrategyTest(EventStreamChecks):
    """With strategy free a task has one start event per host; each host's events hang off its own."""

    def test_per_host_task_start(self):
        playbook = Path(_TMP.name, 'free.yml')
        playbook.write_text(FREE_PLAYBOOK)
        run = run_playbook(playbook)
        self.assertEqual(run.rc, 0, run.stderr)
        self.check_stream(run)
        parent_of_start = {}
        for ev in run.of('runner_on_start'):
            parent_of_start[(ev['event_data']['host'], ev['event_data']['task'])] = ev['parent_uuid']
        finals = [e for e in run.events if e['event'] in ('runner_on_ok', 'runner_on_failed', 'runner_on_skipped')]
        self.assertEqual(len(finals), len(parent_of_start))
        for ev in finals:
            self.assertEqual(ev['parent_uuid'], parent_of_start[(ev['event_data']['host'], ev['event_data']['task'])])
        self.assertEqual(len(run.of('playbook_on_handler_task_start')), 3)
        self.assertEqual(len(run.of('playbook_on_notify')), 3)
        self.assertEqual(run.stats['rescued'], {'host1': 1})
        self.assertEqual(run.stats['failures'], {})


class NoChannelTest(unittest.TestCase):

    def test_plain_default_behaviour_without_variables(self):
        run = run_playbook('fail.yml', channel=None)
        self.assertEqual(run.raw_events, '')
        self.assertEqual(run.rc, 2, run.stderr)
        default = run_playbook('fail.yml', channel=None, env={'ANSIBLE_STDOUT_CALLBACK': 'default'})
        # the same lines (hosts of one task finish in any order)
        self.assertEqual(sorted(run.stdout.splitlines()), sorted(default.stdout.splitlines()))
        self.assertIn('PLAY RECAP', run.stdout)
        self.assertIn('fatal: [host2]: FAILED!', run.stdout)

    def test_closed_descriptor_is_an_error(self):
        env = base_env(RAYDEPLOY_EVENT_FD='197')
        proc = subprocess.run([str(ANSIBLE_PLAYBOOK), '-i', str(INVENTORY), str(FIXTURES / 'succeed.yml')],
                              env=env, capture_output=True, text=True, timeout=60)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn('RAYDEPLOY_EVENT_FD=197 is not an open file descriptor', proc.stdout + proc.stderr)
        self.assertNotIn('PLAY [', proc.stdout)


class DocAndSyntaxTest(unittest.TestCase):

    def test_ansible_doc(self):
        env = base_env()
        proc = subprocess.run([str(ANSIBLE_DOC), '-t', 'callback', 'raydeploy_events'], env=env,
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn('raydeploy_events', proc.stdout)
        self.assertNotIn('WARNING', proc.stderr)
        proc = subprocess.run([str(ANSIBLE_DOC), '-t', 'callback', '--json', 'raydeploy_events'], env=env,
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        doc = json.loads(proc.stdout)['raydeploy_events']['doc']
        self.assertEqual(doc['name'], 'raydeploy_events')
        self.assertEqual(doc['type'], 'stdout')
        envs = {o: [e['name'] for e in spec.get('env', [])] for o, spec in doc['options'].items()}
        self.assertEqual(envs['event_fd'], ['RAYDEPLOY_EVENT_FD'])
        self.assertEqual(envs['event_file'], ['RAYDEPLOY_EVENT_FILE'])
        self.assertEqual(envs['res_limit'], ['RAYDEPLOY_EVENT_RES_LIMIT'])
        self.assertEqual(doc['options']['res_limit']['default'], 65536)
        self.assertIn('display_skipped_hosts', doc['options'])   # the default callback's options

    def test_fixtures_pass_syntax_check(self):
        env = base_env()
        cases = [(INVENTORY, FIXTURES / p) for p in
                 ('succeed.yml', 'fail.yml', 'unreachable.yml', 'slow.yml', 'stats.yml')]
        cases.append((FIXTURES / 'bench' / 'inventory.yml', FIXTURES / 'bench' / 'playbook.yml'))
        for inventory, playbook in cases:
            with self.subTest(playbook=playbook.name):
                proc = subprocess.run([str(ANSIBLE_PLAYBOOK), '-i', str(inventory), '--syntax-check', str(playbook)],
                                      env=env, capture_output=True, text=True, timeout=60)
                self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)


if __name__ == '__main__':
    unittest.main()

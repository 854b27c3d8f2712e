# SPDX-License-Identifier: GPL-3.0-or-later
#
# raydeploy_events: Ansible stdout callback plugin of raydeploy.
# Copyright (C) raydeploy contributors
#
# This program is free software: you can redistribute it and/or modify it under the terms of the
# GNU General Public License as published by the Free Software Foundation, either version 3 of the
# License, or (at your option) any later version.
#
# This program is distributed in the hope that it will be useful, but WITHOUT ANY WARRANTY;
# without even the implied warranty of MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE. See
# the GNU General Public License for more details: <https://www.gnu.org/licenses/gpl-3.0.txt>.

from __future__ import annotations

DOCUMENTATION = r'''
    name: raydeploy_events
    type: stdout
    short_description: default Ansible screen output plus one JSON event per callback for raydeploy
    author: raydeploy contributors
    description:
      - Prints exactly what the C(default) stdout callback prints.
      - In addition, when O(event_fd) or O(event_file) is set, writes one compact JSON object per
        Ansible callback (one line each) to that channel. Field names follow ansible-runner
        (C(event), C(uuid), C(parent_uuid), C(counter), C(stdout), C(start_line), C(end_line),
        C(created), C(pid), C(event_data)).
      - Text that Ansible writes to stdout outside any callback (for example C(-v) output) becomes a
        C(verbose) event, so that the C(stdout) of all events, in order, is the whole stdout.
      - Without a channel the plugin behaves exactly like C(default).
    extends_documentation_fragment:
      - default_callback
      - result_format_callback
    requirements:
      - set as stdout callback (ANSIBLE_STDOUT_CALLBACK=raydeploy_events) with this directory in
        ANSIBLE_CALLBACK_PLUGINS
    options:
      event_fd:
        description:
          - Number of an already open, writable file descriptor that receives the events.
          - Takes precedence over O(event_file).
        type: int
        env:
          - name: RAYDEPLOY_EVENT_FD
      event_file:
        description:
          - Path of a file the events are appended to (created with mode 0600 if missing). A
            relative path is relative to the working directory of ansible-playbook.
        type: str
        env:
          - name: RAYDEPLOY_EVENT_FILE
      res_limit:
        description:
          - Largest size, in bytes of compact JSON, of a result (C(event_data.res)) kept in an event.
          - 'A larger result is replaced by C({"_raydeploy_truncated": true, "size": N, "msg": ...}),
            C(msg) being the first 1000 characters of the result''s C(msg), if it has one.'
        type: int
        default: 65536
        env:
          - name: RAYDEPLOY_EVENT_RES_LIMIT
        ini:
          - section: callback_raydeploy_events
            key: res_limit
      output_limit:
        description:
          - Largest size, in bytes of UTF-8, of an event's C(stdout) text and of a result's C(stdout)
            and C(stderr) (applied before O(res_limit), so a long command output keeps the rest of
            its result).
          - 'A longer text is cut there and the event gets C(truncated: true). The event''s C(stdout)
            is lines C(start_line) to C(end_line) of the run''s output in full; a cut C(stdout) or
            C(stderr) of a result is printed in full to the output, in a C(verbose) event.'
          - C(stdout_lines) and C(stderr_lines) of a cut field are left out.
        type: int
        default: 16384
        env:
          - name: RAYDEPLOY_EVENT_OUTPUT_LIMIT
        ini:
          - section: callback_raydeploy_events
            key: output_limit
'''

import errno
import os
import re
import select
import threading
import time
from json.encoder import encode_basestring

from ansible.errors import AnsibleError
from ansible.module_utils.common.json import AnsibleJSONEncoder
from ansible.plugins.callback.default import CallbackModule as DefaultCallback

_ANSI_RE = re.compile(r'\x1b\[[0-9;?]*[A-Za-z]')
_MSG_LIMIT = 1000

# Events whose result means the host failed (ignore_errors aside).
_FAILED_EVENTS = frozenset(('runner_on_failed', 'runner_on_unreachable', 'runner_item_on_failed',
                            'runner_on_async_failed'))
# Events that close a host's work on a task, and get a duration.
_FINAL_EVENTS = frozenset(('runner_on_ok', 'runner_on_failed', 'runner_on_skipped',
                           'runner_on_unreachable'))


class _Encoder(AnsibleJSONEncoder):
    """Compact JSON; anything that is not JSON-safe becomes its string form instead of an error."""

    def default(self, o):
        try:
            return super().default(o)
        except TypeError:
            return str(o)


_ENCODE = _Encoder(separators=(',', ':'), ensure_ascii=False, allow_nan=False).encode


def _sanitize(value, depth=0):
    """A JSON-safe copy of what _ENCODE refused: non-finite floats become strings, and nesting
    deeper than 64 levels (a circular structure) is cut."""
    if depth > 64:
        return '<too deep>'
    if isinstance(value, float):
        return value if value == value and value not in (float('inf'), float('-inf')) else str(value)
    if isinstance(value, dict):
        return {str(k): _sanitize(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_sanitize(v, depth + 1) for v in value]
    return value


def _cut(text, limit):
    """text cut to at most limit bytes of UTF-8 (never inside a character), or None when it fits."""
    if len(text) * 4 <= limit:
        return None
    if text.isascii():   # one byte a character: no encoded copy to measure or cut
        return text[:limit] if len(text) > limit else None
    data = text.encode('utf-8', 'replace')
    if len(data) <= limit:
        return None
    return data[:limit].decode('utf-8', 'ignore')


def _encode(value):
    try:
        return value, _ENCODE(value)
    except ValueError:   # NaN/Infinity, or a circular structure
        value = _sanitize(value)
        return value, _ENCODE(value)


# An event is written as text assembled from pieces that are each encoded once: what stays the same
# for a play, a task or a host is kept encoded, and a result is measured against res_limit in the
# very text that goes into the event. The pieces are what _ENCODE would give for the whole record.

def _members(mapping):
    """The compact JSON members of a dict, without its braces ('' for an empty dict)."""
    return _encode(mapping)[1][1:-1]


def _object(*members):
    """A JSON object of member texts (empty ones left out)."""
    return '{%s}' % ','.join([m for m in members if m])


# The JSON string of a str, as _ENCODE writes it (ensure_ascii=False).
_json_str = encode_basestring

_UUID_POOL = ['', 0]          # hex digits of random bytes read ahead, next unused position
_UUID_VARIANT = str.maketrans('0123456789abcdef', '89ab89ab89ab89ab')


def _uuid4():
    """A random (version 4) UUID, like str(uuid.uuid4()), at a fraction of its cost: the random
    bytes are read 4 KiB at a time. Forked workers start with an empty pool (_after_fork_in_child), so
    no process hands out the same bytes twice."""
    hexes, at = _UUID_POOL
    if at >= len(hexes):
        hexes, at = os.urandom(4096).hex(), 0
        _UUID_POOL[0] = hexes
    _UUID_POOL[1] = at + 32
    return '%s-%s-4%s-%s%s-%s' % (hexes[at:at + 8], hexes[at + 8:at + 12], hexes[at + 13:at + 16],
                                  hexes[at + 16].translate(_UUID_VARIANT), hexes[at + 17:at + 20],
                                  hexes[at + 20:at + 32])


# Only the controller writes events; Ansible's workers are forks of it, which inherit the plugin and
# its wrapped display(). A flag set at fork time tells them apart for less than os.getpid() costs.
_IN_FORK = [False]


def _after_fork_in_child():
    _IN_FORK[0] = True
    _UUID_POOL[0], _UUID_POOL[1] = '', 0


os.register_at_fork(after_in_child=_after_fork_in_child)


_ISO_SECOND = [None, '']


def _iso(ts):
    # RFC 3339 in UTC with milliseconds and 'Z': the format of every timestamp raydeploy shows.
    # Several events share each second: its formatted prefix is kept (datetime formatting was
    # the plugin's largest single cost per event).
    second = int(ts)
    if _ISO_SECOND[0] != second:
        _ISO_SECOND[0] = second
        _ISO_SECOND[1] = time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(second))
    return '%s.%03dZ' % (_ISO_SECOND[1], int((ts - second) * 1000))


class _TaskContext:
    """A task's fields of event_data; uuid is that of the task's (latest) task start event."""

    __slots__ = ('uuid', 'members')

    def __init__(self, task_uuid, name, action, path, role):
        self.uuid = task_uuid
        self.members = _members({'task': name, 'task_uuid': task_uuid, 'task_action': action, 'task_path': path,
                                 'role': role})


class CallbackModule(DefaultCallback):
    """The default stdout callback, plus one JSON event per callback on raydeploy's event channel."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'stdout'
    CALLBACK_NAME = 'raydeploy_events'

    def __init__(self):
        self._ev_fd = None              # event channel; None: plain `default` behaviour
        self._ev_pid = os.getpid()      # only the controller writes events (workers are forks)
        self._ev_lock = threading.RLock()
        self._ev_counter = 0
        self._ev_lines = 0              # stdout lines written through Display so far
        self._ev_capture = None         # list collecting the stdout text of the running hook
        self._ev_capture_thread = None
        self._ev_res_limit = 65536
        self._ev_output_limit = 16384
        self._ev_playbook = {}          # playbook, playbook_uuid
        self._ev_play = {}              # play, play_uuid, play_pattern
        self._ev_base = ''              # their members as JSON text, which begin every event_data
        self._ev_tasks = {}             # ansible task _uuid -> _TaskContext
        self._ev_task_started = {}      # ansible task _uuid -> time the task started
        self._ev_host_start = {}        # (host name, ansible task _uuid) -> (runner_on_start time, task context)
        self._ev_hosts = {}             # host name -> its members host and remote_addr as JSON text
        self._ev_warned = False
        super().__init__()

    # ----------------------------------------------------------------------------------- set-up

    def set_options(self, task_keys=None, var_options=None, direct=None):
        super().set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        if self._ev_fd is not None:
            return
        limit = self.get_option('res_limit')
        self._ev_res_limit = int(limit) if limit is not None else 65536
        limit = self.get_option('output_limit')
        self._ev_output_limit = int(limit) if limit is not None else 16384
        fd = self.get_option('event_fd')
        path = self.get_option('event_file')
        if fd is not None and str(fd) != '':
            fd = int(fd)
            try:
                os.fstat(fd)
            except OSError as e:
                raise AnsibleError('raydeploy_events: RAYDEPLOY_EVENT_FD=%d is not an open file descriptor: %s' % (fd, e))
        elif path:
            path = os.path.expanduser(path)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as e:
                raise AnsibleError('raydeploy_events: cannot open RAYDEPLOY_EVENT_FILE %s: %s' % (path, e))
        else:
            return
        try:
            os.set_inheritable(fd, False)   # modules and connection plugins never see it
        except OSError:
            pass
        self._ev_fd = fd
        self._ev_install_display_hook()

    def _ev_install_display_hook(self):
        """Wrap the Display singleton's display() so the stdout text of every hook is captured and
        every stdout line is counted. The text is still written by Ansible's own display()."""
        disp = self._display
        orig = disp.display
        lock = self._ev_lock
        on_stdout = self._ev_on_stdout

        def display(msg, color=None, stderr=False, screen_only=False, log_only=False, newline=True, caplevel=None):
            if stderr or log_only or _IN_FORK[0]:
                return orig(msg, color=color, stderr=stderr, screen_only=screen_only, log_only=log_only,
                            newline=newline, caplevel=caplevel)
            with lock:
                orig(msg, color=color, stderr=stderr, screen_only=screen_only, log_only=log_only,
                     newline=newline, caplevel=caplevel)
                if msg.endswith('\n'):
                    on_stdout(msg)
                elif newline:
                    on_stdout(msg + '\n')
                elif msg:
                    on_stdout(msg)

        disp.display = display

    def _ev_on_stdout(self, text):
        # called with _ev_lock held
        if self._ev_capture is not None and self._ev_capture_thread == threading.get_ident():
            self._ev_capture.append(text)
            self._ev_lines += text.count('\n')
        else:
            # stdout outside any hook (e.g. -v output relayed from the workers)
            start = self._ev_lines
            self._ev_lines += text.count('\n')
            self._ev_emit('verbose', _uuid4(), None, '{}', text, start)

    # ------------------------------------------------------------------------------- emission

    def _ev_hook(self, event, ev_uuid, parent_uuid, event_data, truncated, parent_method, *args, **kwargs):
        """Run the `default` callback's method, capturing its stdout, then emit the event.
        event_data: the event's event_data as JSON text; truncated: a result's text was cut."""
        with self._ev_lock:
            start = self._ev_lines
            outer = self._ev_capture, self._ev_capture_thread
            self._ev_capture = captured = []
            self._ev_capture_thread = threading.get_ident()
            try:
                parent_method(*args, **kwargs)
            finally:
                self._ev_capture, self._ev_capture_thread = outer
                self._ev_emit(event, ev_uuid, parent_uuid, event_data, ''.join(captured), start, truncated)

    def _ev_emit(self, event, ev_uuid, parent_uuid, event_data, text, start_line, truncated=False):
        if self._ev_fd is None or _IN_FORK[0]:
            return
        if text.endswith('\n'):
            text = text[:-1]
        if '\x1b' in text:
            text = _ANSI_RE.sub('', text)
        # Cut text stays whole in the output (start_line..end_line), which the service keeps.
        cut = _cut(text, self._ev_output_limit)
        if cut is not None:
            text = cut
            truncated = True
        self._ev_counter += 1
        # Event names and uuids are the plugin's own and need no escaping.
        line = ('{"event":"%s","uuid":"%s","parent_uuid":%s,"counter":%d,"stdout":%s,"start_line":%d,'
                '"end_line":%d,"created":"%s","pid":%d,"event_data":%s%s}\n'
                % (event, ev_uuid, 'null' if parent_uuid is None else '"%s"' % parent_uuid, self._ev_counter,
                   _json_str(text), start_line, self._ev_lines, _iso(time.time()), self._ev_pid, event_data,
                   ',"truncated":true' if truncated else ''))
        self._ev_write(line.encode('utf-8', 'replace'))

    def _ev_write(self, data):
        fd = self._ev_fd
        view = memoryview(data)
        while view:
            try:
                n = os.write(fd, view)
            except BlockingIOError:
                select.select((), (fd,), ())
                continue
            except InterruptedError:
                continue
            except OSError as e:
                # The reader is gone (EPIPE) or the channel broke: keep running the playbook, with
                # the human output only.
                self._ev_fd = None
                if not self._ev_warned:
                    self._ev_warned = True
                    self._display.warning('raydeploy_events: event channel failed (%s); no more events are written'
                                          % errno.errorcode.get(e.errno, e))
                return
            view = view[n:]

    # --------------------------------------------------------------------------- event data

    def _ev_json_safe(self, value):
        """The value's compact JSON, or that of a short stand-in when it exceeds res_limit bytes."""
        value, text = _encode(value)
        size = len(text)
        limit = self._ev_res_limit
        if size * 4 > limit and not text.isascii():
            size = len(text.encode('utf-8', 'replace'))
        if size <= limit:
            return text
        short = {'_raydeploy_truncated': True, 'size': size}
        msg = value.get('msg') if isinstance(value, dict) else None
        if msg is not None:
            short['msg'] = (msg if isinstance(msg, str) else str(msg))[:_MSG_LIMIT]
        return _encode(short)[1]

    def _ev_res(self, result):
        """The result's JSON text, and whether a stdout or stderr in it was cut."""
        res = result._result
        if not isinstance(res, dict):
            return self._ev_json_safe(res), False
        # without Ansible's internal keys; a copy, since some keys are replaced below
        res = {k: v for k, v in res.items() if not k.startswith('_ansible_')}
        cut_any = False
        for key in ('stdout', 'stderr'):
            text = res.get(key)
            cut = _cut(text, self._ev_output_limit) if isinstance(text, str) else None
            if cut is None:
                continue
            res[key] = cut
            res.pop(key + '_lines', None)
            cut_any = True
            # The whole text goes to the output, which the service keeps as the run's log.
            self._display.display('raydeploy_events: %s of task "%s" on %s, in full (its event has the first %d bytes):\n%s'
                                  % (key, result._task.get_name(), result._host.get_name(),
                                     self._ev_output_limit, text))
        facts = res.get('ansible_facts')
        if isinstance(facts, dict) and 'ansible_env' in facts:
            facts = dict(facts)
            del facts['ansible_env']
            res['ansible_facts'] = facts
        return self._ev_json_safe(res), cut_any

    def _ev_task_ctx(self, task, register=False):
        """Task fields of event_data; the task's uuid is that of its (latest) task start event."""
        key = task._uuid
        ctx = self._ev_tasks.get(key)
        if ctx is None or register:
            role = getattr(task, '_role', None)
            ctx = _TaskContext(_uuid4(), task.get_name().strip(), task.action, task.get_path() or '',
                               role.get_name() if role else '')
            self._ev_tasks[key] = ctx
        return ctx

    def _ev_host(self, host):
        """The host's name, and its event_data members host and remote_addr as JSON text.
        remote_addr is the host's inventory `ansible_host` when it is a plain value, else its inventory
        name. (The templated connection address is only known inside the worker processes.)"""
        name = host.get_name()
        members = self._ev_hosts.get(name)
        if members is None:
            addr = host.vars.get('ansible_host') if isinstance(getattr(host, 'vars', None), dict) else None
            if not isinstance(addr, str) or not addr or '{' in addr:
                addr = host.address or name
            members = '"host":%s,"remote_addr":%s' % (_json_str(name), _json_str(str(addr)))
            self._ev_hosts[name] = members
        return name, members

    def _ev_set_base(self, playbook=None, play=None):
        """Set the playbook's and the play's fields that begin the event_data of their events."""
        if playbook is not None:
            self._ev_playbook = playbook
        if play is not None:
            self._ev_play = play
        self._ev_base = _members(dict(self._ev_playbook, **self._ev_play))

    def _ev_runner(self, event, result, **extra):
        """The parent uuid, the event_data (JSON text) and whether a text in it was cut, of an event of
        a host's result."""
        task = result._task
        name, host = self._ev_host(result._host)
        # The task context this host started under: with strategy free (or host_pinned) a task
        # has one start event per host, and the latest one may be another host's.
        key = (name, task._uuid)
        final = event in _FINAL_EVENTS
        started = self._ev_host_start.pop(key, None) if final else self._ev_host_start.get(key)
        ctx = started[1] if started else self._ev_task_ctx(task)
        res = result._result if isinstance(result._result, dict) else {}
        res_json, cut = self._ev_res(result)
        members = [self._ev_base, ctx.members, host, '"res":' + res_json]
        if final:
            now = time.time()
            started = started[0] if started else self._ev_task_started.get(task._uuid, now)
            members.append('"start":"%s","end":"%s","duration":%r' % (_iso(started), _iso(now),
                                                                      round(now - started, 6)))
        members.append('"changed":%s,"failed":%s' % ('true' if res.get('changed', False) else 'false',
                                                     'true' if event in _FAILED_EVENTS else 'false'))
        if event.startswith('runner_item_on_'):
            members.append('"item":' + _encode(self._get_item_label(res))[1])
        if extra:
            members.append(_members(extra))
        return ctx.uuid, _object(*members), cut

    # ------------------------------------------------------------------------- playbook level

    def v2_playbook_on_start(self, playbook):
        if self._ev_fd is None:
            return super().v2_playbook_on_start(playbook)
        ev_uuid = _uuid4()
        self._ev_set_base({'playbook': os.path.basename(playbook._file_name), 'playbook_uuid': ev_uuid}, {})
        self._ev_hook('playbook_on_start', ev_uuid, None, _object(self._ev_base), False,
                      super().v2_playbook_on_start, playbook)

    def v2_playbook_on_play_start(self, play):
        if self._ev_fd is None:
            return super().v2_playbook_on_play_start(play)
        ev_uuid = _uuid4()
        hosts = play.hosts
        pattern = ','.join(hosts) if isinstance(hosts, (list, tuple)) else str(hosts or '')
        self._ev_set_base(play={'play': play.get_name().strip(), 'play_uuid': ev_uuid, 'play_pattern': pattern})
        self._ev_hook('playbook_on_play_start', ev_uuid, self._ev_playbook.get('playbook_uuid'),
                      _object(self._ev_base), False, super().v2_playbook_on_play_start, play)

    def _ev_task_start(self, event, task, parent_method, *args, **kwargs):
        ctx = self._ev_task_ctx(task, register=True)
        self._ev_task_started[task._uuid] = time.time()
        args_json = '' if task.no_log else '"task_args":' + self._ev_json_safe(dict(task.args))
        self._ev_hook(event, ctx.uuid, self._ev_play.get('play_uuid'), _object(self._ev_base, ctx.members, args_json),
                      False, parent_method, task, *args, **kwargs)

    def v2_playbook_on_task_start(self, task, is_conditional):
        if self._ev_fd is None:
            return super().v2_playbook_on_task_start(task, is_conditional)
        self._ev_task_start('playbook_on_task_start', task, super().v2_playbook_on_task_start, is_conditional)

    def v2_playbook_on_handler_task_start(self, task):
        if self._ev_fd is None:
            return super().v2_playbook_on_handler_task_start(task)
        self._ev_task_start('playbook_on_handler_task_start', task, super().v2_playbook_on_handler_task_start)

    def v2_playbook_on_cleanup_task_start(self, task):
        if self._ev_fd is None:
            return super().v2_playbook_on_cleanup_task_start(task)
        self._ev_task_start('playbook_on_cleanup_task_start', task, super().v2_playbook_on_cleanup_task_start)

    def v2_playbook_on_include(self, included_file):
        if self._ev_fd is None:
            return super().v2_playbook_on_include(included_file)
        task = getattr(included_file, '_task', None)
        parent = self._ev_play.get('play_uuid')
        task_members = ''
        if task is not None:
            ctx = self._ev_task_ctx(task)
            task_members = ctx.members
            parent = ctx.uuid
        data = _object(self._ev_base, task_members,
                       _members({'included_file': included_file._filename,
                                 'hosts': [h.name for h in included_file._hosts]}))
        self._ev_hook('playbook_on_include', _uuid4(), parent, data, False,
                      super().v2_playbook_on_include, included_file)

    def v2_playbook_on_notify(self, handler, host):
        # Sent when handlers are flushed, not while the notifying task runs: a child of the play.
        if self._ev_fd is None:
            return super().v2_playbook_on_notify(handler, host)
        data = _object(self._ev_base, _members({
            'handler': handler.get_name(),
            'host': host.get_name() if hasattr(host, 'get_name') else str(host),
        }))
        self._ev_hook('playbook_on_notify', _uuid4(), self._ev_play.get('play_uuid'), data, False,
                      super().v2_playbook_on_notify, handler, host)

    def v2_playbook_on_no_hosts_matched(self):
        if self._ev_fd is None:
            return super().v2_playbook_on_no_hosts_matched()
        self._ev_hook('playbook_on_no_hosts_matched', _uuid4(), self._ev_play.get('play_uuid'),
                      _object(self._ev_base), False, super().v2_playbook_on_no_hosts_matched)

    def v2_playbook_on_no_hosts_remaining(self):
        if self._ev_fd is None:
            return super().v2_playbook_on_no_hosts_remaining()
        self._ev_hook('playbook_on_no_hosts_remaining', _uuid4(), self._ev_play.get('play_uuid'),
                      _object(self._ev_base), False, super().v2_playbook_on_no_hosts_remaining)

    def v2_playbook_on_stats(self, stats):
        if self._ev_fd is None:
            return super().v2_playbook_on_stats(stats)
        data = dict(self._ev_playbook)
        for name in ('ok', 'changed', 'failures', 'dark', 'skipped', 'rescued', 'ignored', 'processed'):
            data[name] = dict(getattr(stats, name, None) or {})
        custom = getattr(stats, 'custom', None) or {}
        members = [_members(data), '"artifact_data":' + self._ev_json_safe(custom.get('_run', {}))]
        per_host = {k: v for k, v in custom.items() if k != '_run'}
        if per_host:
            members.append('"artifact_data_per_host":' + self._ev_json_safe(per_host))
        self._ev_hook('playbook_on_stats', _uuid4(), self._ev_playbook.get('playbook_uuid'), _object(*members), False,
                      super().v2_playbook_on_stats, stats)

    # ----------------------------------------------------------------------------- host level

    def v2_runner_on_start(self, host, task):
        if self._ev_fd is None:
            return super().v2_runner_on_start(host, task)
        now = time.time()
        ctx = self._ev_task_ctx(task)
        name, host_members = self._ev_host(host)
        self._ev_host_start[(name, task._uuid)] = (now, ctx)
        data = _object(self._ev_base, ctx.members, host_members, '"start":"%s"' % _iso(now))
        self._ev_hook('runner_on_start', _uuid4(), ctx.uuid, data, False, super().v2_runner_on_start, host, task)

    def _ev_result(self, event, parent_method, result, **extra):
        parent, data, truncated = self._ev_runner(event, result, **extra)
        self._ev_hook(event, _uuid4(), parent, data, truncated, parent_method, result)

    def v2_runner_on_ok(self, result):
        if self._ev_fd is None:
            return super().v2_runner_on_ok(result)
        self._ev_result('runner_on_ok', super().v2_runner_on_ok, result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if self._ev_fd is None:
            return super().v2_runner_on_failed(result, ignore_errors=ignore_errors)
        parent, data, truncated = self._ev_runner('runner_on_failed', result, ignore_errors=bool(ignore_errors))
        self._ev_hook('runner_on_failed', _uuid4(), parent, data, truncated,
                      super().v2_runner_on_failed, result, ignore_errors=ignore_errors)

    def v2_runner_on_skipped(self, result):
        if self._ev_fd is None:
            return super().v2_runner_on_skipped(result)
        self._ev_result('runner_on_skipped', super().v2_runner_on_skipped, result)

    def v2_runner_on_unreachable(self, result):
        if self._ev_fd is None:
            return super().v2_runner_on_unreachable(result)
        self._ev_result('runner_on_unreachable', super().v2_runner_on_unreachable, result,
                        ignore_errors=bool(getattr(result._task, 'ignore_unreachable', False)))

    def v2_runner_item_on_ok(self, result):
        if self._ev_fd is None:
            return super().v2_runner_item_on_ok(result)
        self._ev_result('runner_item_on_ok', super().v2_runner_item_on_ok, result)

    def v2_runner_item_on_failed(self, result):
        if self._ev_fd is None:
            return super().v2_runner_item_on_failed(result)
        self._ev_result('runner_item_on_failed', super().v2_runner_item_on_failed, result)

    def v2_runner_item_on_skipped(self, result):
        if self._ev_fd is None:
            return super().v2_runner_item_on_skipped(result)
        self._ev_result('runner_item_on_skipped', super().v2_runner_item_on_skipped, result)

    def v2_runner_retry(self, result):
        if self._ev_fd is None:
            return super().v2_runner_retry(result)
        self._ev_result('runner_retry', super().v2_runner_retry, result)

    def v2_runner_on_async_poll(self, result):
        if self._ev_fd is None:
            return super().v2_runner_on_async_poll(result)
        self._ev_result('runner_on_async_poll', super().v2_runner_on_async_poll, result)

    def v2_runner_on_async_ok(self, result):
        if self._ev_fd is None:
            return super().v2_runner_on_async_ok(result)
        self._ev_result('runner_on_async_ok', super().v2_runner_on_async_ok, result)

    def v2_runner_on_async_failed(self, result):
        if self._ev_fd is None:
            return super().v2_runner_on_async_failed(result)
        self._ev_result('runner_on_async_failed', super().v2_runner_on_async_failed, result)

    def v2_on_file_diff(self, result):
        if self._ev_fd is None:
            return super().v2_on_file_diff(result)
        self._ev_result('on_file_diff', super().v2_on_file_diff, result)

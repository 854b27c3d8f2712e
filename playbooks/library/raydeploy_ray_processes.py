#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# raydeploy_ray_processes: find (and optionally stop) the Ray processes raydeploy started on a
# host, and tell who holds the Ray ports. Linux only: it reads /proc.
# Copyright (C) raydeploy contributors

from __future__ import annotations

DOCUMENTATION = r'''
---
module: raydeploy_ray_processes
short_description: Find or stop the Ray processes raydeploy started, and report who holds the Ray ports
description:
  - Reads C(/proc) to list the processes of this host and decides which ones are "ours", meaning
    started by raydeploy. A process is ours when any of these holds
    - its pid is in one of O(pid_files) (the process must have started before the pid file was last
      written and mention C(ray) in its command line, so a recycled pid is never taken for ours),
      or is one of O(owner_pids);
    - one of its arguments is a path under one of O(venvs) (the Ray virtualenvs raydeploy installed);
    - it is a Ray process (raylet, gcs_server, a Ray Python service, a C(ray::) worker) and one of
      its arguments is a path under one of O(temp_dirs);
    - it descends from a process that is ours (Ray workers rename themselves C(ray::IDLE) and the
      like, and lose every path from their command line).
  - The module's own process and its ancestors are never ours.
  - With O(state=present) it changes nothing. With O(state=absent) it sends SIGTERM to every
    process that is ours (pid-file and owner processes first, so a supervisor cannot restart what
    is being stopped), waits up to O(stop_timeout) seconds, then sends SIGKILL to what is left, and
    fails if any process of ours still runs after that.
  - For every port in O(ports) it reports whether something listens on it (TCP, IPv4 or IPv6) and,
    when the owner is visible (root sees every process), whether all the holders are ours.
version_added: "1.0.0"
author: raydeploy contributors
options:
  venvs:
    description: Ray virtualenvs raydeploy installed; processes running from them are ours.
    type: list
    elements: path
    default: []
  pid_files:
    description: Pid files raydeploy wrote; missing files are fine.
    type: list
    elements: path
    default: []
  owner_pids:
    description: Further pids whose process trees are ours (for example the init process of a Ray container).
    type: list
    elements: int
    default: []
  temp_dirs:
    description: Ray temporary directories raydeploy configured; Ray processes using them are ours.
    type: list
    elements: path
    default: []
  ports:
    description: TCP ports to report on.
    type: list
    elements: int
    default: []
  port_range:
    description: Inclusive range C([first, last]); every listener in it that is not ours is reported.
    type: list
    elements: int
    default: []
  state:
    description: C(present) only reports; C(absent) stops every process that is ours.
    type: str
    choices: [present, absent]
    default: present
  stop_timeout:
    description: Seconds between SIGTERM and SIGKILL when O(state=absent).
    type: int
    default: 30
notes:
  - Supports check mode; in check mode O(state=absent) reports what it would stop.
'''

EXAMPLES = r'''
- name: Stop the Ray processes raydeploy started
  raydeploy_ray_processes:
    venvs: [/var/lib/raydeploy/ray-venv]
    pid_files: [/var/lib/raydeploy/run/ray.pid]
    temp_dirs: [/tmp/ray]
    state: absent
'''

RETURN = r'''
processes:
  description: The processes that are ours (before stopping them, for O(state=absent)).
  returned: always
  type: list
  elements: dict
  sample: [{"pid": 4242, "ppid": 1, "user": "root", "name": "raylet", "cmdline": "/opt/venv/.../raylet --node_manager_port=8077", "reason": "venv"}]
foreign_ray:
  description: Ray processes on this host that are not ours.
  returned: always
  type: list
  elements: dict
ports:
  description: >-
    One entry per port of O(ports), keyed by the port as a string. C(state) is C(free) (nothing
    listens), C(ray) (only processes of ours listen), C(in_use) (something else listens) or
    C(unknown) (something listens but its process is not visible to this user). C(holders) lists
    the listening processes.
  returned: always
  type: dict
  sample: {"6379": {"state": "ray", "holders": [{"pid": 4240, "name": "gcs_server", "ours": true}]}}
range_listeners:
  description: Listeners in O(port_range) that are not ours, one dict per port.
  returned: always
  type: list
  elements: dict
pid_files:
  description: For each pid file, the pid it holds and whether that process is alive and trusted.
  returned: always
  type: dict
stopped:
  description: Pids sent SIGTERM (O(state=absent)).
  returned: always
  type: list
  elements: int
killed:
  description: Pids sent SIGKILL after O(stop_timeout) (O(state=absent)).
  returned: always
  type: list
  elements: int
'''

import os
import signal
import time

from ansible.module_utils.basic import AnsibleModule

# Process names (comm, at most 15 characters) and argv[0] base names of Ray's own executables.
RAY_EXECUTABLES = frozenset(('raylet', 'gcs_server', 'plasma_store', 'plasma_store_server'))
# Fragments of the command line of Ray's Python services (dashboard, agents, log monitor, ...).
RAY_PYTHON_MARKERS = (
    '/ray/dashboard/', '/ray/autoscaler/', '/ray/_private/', '/ray/util/client/server',
    '/ray/core/src/', 'default_worker.py', 'setup_worker.py', '/bin/ray ', '/bin/ray\0',
)


def read_text(path):
    try:
        with open(path, 'rb') as handle:
            return handle.read()
    except OSError:
        return None


def boot_time():
    data = read_text('/proc/stat') or b''
    for line in data.decode('ascii', 'replace').splitlines():
        if line.startswith('btime '):
            return int(line.split()[1])
    return 0


class Proc:
    __slots__ = ('pid', 'ppid', 'state', 'name', 'argv', 'uid', 'start')

    def __init__(self, pid, ppid, state, name, argv, uid, start):
        self.pid, self.ppid, self.state, self.name = pid, ppid, state, name
        self.argv, self.uid, self.start = argv, uid, start

    @property
    def cmdline(self):
        return ' '.join(self.argv) if self.argv else '[' + self.name + ']'

    def describe(self, reason=None):
        entry = {'pid': self.pid, 'ppid': self.ppid, 'user': user_name(self.uid), 'name': self.name,
                 'cmdline': self.cmdline[:400]}
        if reason:
            entry['reason'] = reason
        return entry


def user_name(uid):
    try:
        import pwd
        return pwd.getpwuid(uid).pw_name
    except (KeyError, ImportError, TypeError):
        return str(uid)


def scan_processes():
    """Every process of the host: pid -> Proc (zombies included, marked by state 'Z')."""
    ticks = os.sysconf('SC_CLK_TCK') if hasattr(os, 'sysconf') else 100
    btime = boot_time()
    procs = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        stat = read_text('/proc/%s/stat' % entry)
        if not stat:
            continue
        stat = stat.decode('utf-8', 'replace')
        # comm may hold spaces and parentheses: it ends at the last ')'.
        name = stat[stat.find('(') + 1:stat.rfind(')')]
        fields = stat[stat.rfind(')') + 2:].split()
        try:
            state, ppid, start_ticks = fields[0], int(fields[1]), int(fields[19])
        except (IndexError, ValueError):
            continue
        raw = read_text('/proc/%s/cmdline' % entry) or b''
        argv = [a.decode('utf-8', 'replace') for a in raw.split(b'\0') if a]
        try:
            uid = os.stat('/proc/%s' % entry).st_uid
        except OSError:
            continue
        procs[int(entry)] = Proc(int(entry), ppid, state, name, argv, uid, btime + start_ticks / float(ticks))
    return procs


def is_ray_process(proc):
    if proc.name in RAY_EXECUTABLES or proc.name.startswith('ray::'):
        return True
    if proc.argv:
        if os.path.basename(proc.argv[0]) in RAY_EXECUTABLES or proc.argv[0].startswith('ray::'):
            return True
        joined = '\0'.join(proc.argv) + '\0'
        spaced = ' '.join(proc.argv) + ' '
        return any(marker in joined or marker in spaced for marker in RAY_PYTHON_MARKERS)
    return False


def mentions_path(proc, root):
    """True when an argument of proc is root or a path under it (also as --opt=path)."""
    if not root:
        return False
    root = root.rstrip('/') or '/'
    prefix = root + '/'
    for arg in proc.argv:
        for candidate in (arg, arg.split('=', 1)[1] if '=' in arg else None):
            if candidate is None:
                continue
            if candidate == root or candidate.startswith(prefix):
                return True
            # Paths inside longer values, e.g. --plasma_directory=... or colon-separated lists.
            if ':' + prefix in candidate or ',' + prefix in candidate:
                return True
    return False


def read_pid_file(path, procs):
    info = {'pid': None, 'alive': False, 'trusted': False}
    raw = read_text(path)
    if raw is None:
        info['exists'] = False
        return info
    info['exists'] = True
    try:
        pid = int(raw.decode('ascii', 'replace').strip().split()[0])
    except (ValueError, IndexError):
        info['error'] = 'no pid in the file'
        return info
    info['pid'] = pid
    proc = procs.get(pid)
    if proc is None or proc.state == 'Z':
        return info
    info['alive'] = True
    try:
        written = os.stat(path).st_mtime
    except OSError:
        written = 0
    # A pid recycled by an unrelated process started after the pid file was written; a Ray
    # process or its supervisor mentions ray somewhere in its command line.
    info['trusted'] = proc.start <= written + 5 and 'ray' in proc.cmdline.lower()
    return info


def classify(procs, params, self_chain):
    """pid -> reason for every live process that is ours."""
    ours = {}
    pid_info = {}
    for path in params['pid_files']:
        info = read_pid_file(path, procs)
        pid_info[path] = info
        if info['trusted']:
            ours[info['pid']] = 'pid file ' + path
    for pid in params['owner_pids']:
        if pid in procs and procs[pid].state != 'Z':
            ours[pid] = 'owner pid'
    venvs = [v for v in params['venvs'] if v]
    temp_dirs = [t for t in params['temp_dirs'] if t]
    for proc in procs.values():
        if proc.state == 'Z' or proc.pid in ours:
            continue
        venv = next((v for v in venvs if mentions_path(proc, v)), None)
        if venv:
            ours[proc.pid] = 'runs from ' + venv
        elif is_ray_process(proc):
            for temp_dir in temp_dirs:
                if mentions_path(proc, temp_dir):
                    ours[proc.pid] = 'Ray process using ' + temp_dir
                    break
    # Descendants of ours are ours.
    children = {}
    for proc in procs.values():
        children.setdefault(proc.ppid, []).append(proc.pid)
    stack = list(ours)
    while stack:
        parent = stack.pop()
        for child in children.get(parent, ()):
            if child not in ours and procs[child].state != 'Z':
                ours[child] = 'child of %d' % parent
                stack.append(child)
    for pid in self_chain:
        ours.pop(pid, None)
    return ours, pid_info


def ancestors_of_self(procs):
    chain, pid = set(), os.getpid()
    while pid and pid not in chain:
        chain.add(pid)
        proc = procs.get(pid)
        pid = proc.ppid if proc else 0
    return chain


def listening_sockets():
    """inode -> set of ports, for TCP sockets in LISTEN state (IPv4 and IPv6)."""
    result = {}
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        data = read_text(table)
        if not data:
            continue
        for line in data.decode('ascii', 'replace').splitlines()[1:]:
            fields = line.split()
            if len(fields) < 10 or fields[3] != '0A':
                continue
            port = int(fields[1].rsplit(':', 1)[1], 16)
            result.setdefault(int(fields[9]), set()).add(port)
    return result


def socket_owners(inodes):
    """inode -> set of pids holding it (only processes whose fds this user can read)."""
    owners = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        fd_dir = '/proc/%s/fd' % entry
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd_dir + '/' + fd)
            except OSError:
                continue
            if target.startswith('socket:['):
                inode = int(target[8:-1])
                if inode in inodes:
                    owners.setdefault(inode, set()).add(int(entry))
    return owners


def port_report(procs, ours, ports, port_range):
    sockets = listening_sockets()
    owners = socket_owners(set(sockets))
    by_port = {}
    for inode, inode_ports in sockets.items():
        for port in inode_ports:
            by_port.setdefault(port, set()).update(owners.get(inode, set()) or {None})

    def entry_for(port):
        holders = by_port.get(port)
        if not holders:
            return {'state': 'free', 'holders': []}
        described = []
        for pid in sorted(holders, key=lambda p: -1 if p is None else p):
            if pid is None or pid not in procs:
                described.append({'pid': None, 'name': None, 'cmdline': None, 'ours': False})
            else:
                item = procs[pid].describe()
                item['ours'] = pid in ours
                described.append(item)
        if any(h['pid'] is None for h in described) and not any(h['pid'] for h in described):
            state = 'unknown'
        elif all(h['ours'] for h in described):
            state = 'ray'
        else:
            state = 'in_use'
        return {'state': state, 'holders': described}

    report = {str(port): entry_for(port) for port in ports}
    range_listeners = []
    if len(port_range) == 2:
        first, last = port_range
        for port in sorted(p for p in by_port if first <= p <= last):
            entry = entry_for(port)
            if entry['state'] != 'ray':
                entry['port'] = port
                range_listeners.append(entry)
    return report, range_listeners


def stop(module, params):
    """Terminate every process that is ours; returns (signalled, killed, survivors, initial)."""
    procs = scan_processes()
    self_chain = ancestors_of_self(procs)
    ours, _ = classify(procs, params, self_chain)
    initial = [procs[pid].describe(reason) for pid, reason in sorted(ours.items())]
    if module.check_mode or not ours:
        return [], [], [], initial

    def send(pid, sig):
        try:
            os.kill(pid, sig)
            return True
        except ProcessLookupError:
            return False
        except PermissionError as exc:
            proc = procs.get(pid)
            module.fail_json(msg='cannot signal pid %d (%s): %s; run this checkpoint with become '
                                 '(raydeploy_become: true) or as the user that runs Ray'
                             % (pid, proc.cmdline[:200] if proc else '?', exc), processes=initial)

    signalled = []
    # Supervisors first (pid files, owner pids): `ray start --block` stops its node's processes in
    # order on SIGTERM, and a supervisor stopped first cannot restart what is being stopped. They
    # get half the timeout for that; then everything of ours that is left gets SIGTERM.
    roots = [pid for pid, reason in ours.items() if reason.startswith(('pid file', 'owner pid'))]
    for pid in roots:
        if send(pid, signal.SIGTERM):
            signalled.append(pid)
    started = time.time()
    deadline = started + params['stop_timeout']
    # Once ours, a process stays ours while it lives (same pid, same start time), even when it
    # loses what identified it (its supervisor exited and it was reparented).
    tracked = {pid: procs[pid].start for pid in ours}

    def current():
        fresh = scan_processes()
        found, _ = classify(fresh, params, self_chain)
        for pid, start in tracked.items():
            proc = fresh.get(pid)
            if pid not in found and proc is not None and proc.state != 'Z' and proc.start == start:
                found[pid] = 'was ours'
        for pid in found:
            tracked.setdefault(pid, fresh[pid].start)
        return fresh, found

    remaining = ours
    while True:
        procs, remaining = current()
        if not remaining or time.time() >= deadline:
            break
        roots_alive = any(pid in remaining for pid in roots)
        if not roots_alive or time.time() >= started + params['stop_timeout'] / 2.0:
            for pid in remaining:
                if pid not in signalled and send(pid, signal.SIGTERM):
                    signalled.append(pid)
        time.sleep(0.5)
    killed = []
    if remaining:
        for pid in remaining:
            if send(pid, signal.SIGKILL):
                killed.append(pid)
        deadline = time.time() + 10
        while remaining and time.time() < deadline:
            time.sleep(0.3)
            procs, remaining = current()
    survivors = [procs[pid].describe(reason) for pid, reason in sorted(remaining.items()) if pid in procs]
    return signalled, killed, survivors, initial


def main():
    module = AnsibleModule(
        argument_spec=dict(
            venvs=dict(type='list', elements='path', default=[]),
            pid_files=dict(type='list', elements='path', default=[]),
            owner_pids=dict(type='list', elements='int', default=[]),
            temp_dirs=dict(type='list', elements='path', default=[]),
            ports=dict(type='list', elements='int', default=[]),
            port_range=dict(type='list', elements='int', default=[]),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            stop_timeout=dict(type='int', default=30),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params['port_range'] and len(params['port_range']) != 2:
        module.fail_json(msg='port_range must be [first, last]')
    if not os.path.isdir('/proc/self'):
        module.fail_json(msg='this module reads /proc: Linux hosts only')

    result = dict(changed=False, stopped=[], killed=[])
    if params['state'] == 'absent':
        signalled, killed, survivors, initial = stop(module, params)
        result.update(changed=bool(initial), stopped=signalled, killed=killed)
        if survivors:
            module.fail_json(msg='%d Ray process(es) of ours still run after SIGKILL: %s'
                             % (len(survivors), '; '.join('%d %s' % (s['pid'], s['cmdline'][:120])
                                                          for s in survivors)),
                             processes=survivors, **result)
    procs = scan_processes()
    ours, pid_info = classify(procs, params, ancestors_of_self(procs))
    if params['state'] == 'absent':
        result['processes'] = initial
    else:
        result['processes'] = [procs[pid].describe(reason) for pid, reason in sorted(ours.items())]
    result['foreign_ray'] = [p.describe() for pid, p in sorted(procs.items())
                             if p.state != 'Z' and pid not in ours and is_ray_process(p)]
    result['pid_files'] = pid_info
    result['ports'], result['range_listeners'] = port_report(procs, ours, params['ports'],
                                                             params['port_range'])
    module.exit_json(**result)


if __name__ == '__main__':
    main()

#!/usr/bin/env python3
"""Fills a raydeploy state database with finished executions and their events, for scripts/bench.sh rest.

    seed_store.py DATABASE --executions N --events M --checkpoints a,b,c [--hosts head,worker1]

DATABASE must already have raydeploy's schema and no executions: start `raydeploy serve` on an
empty state directory once and stop it (scripts/bench.sh does). The rows have the shapes the
service stores (copied from a real run of the bench fixture through raydeploy, schema version 11):
executions of the catalog's checkpoints spread over the last 90 days, most succeeded, some failed
or cancelled, each with its ansible.* events (playbook, play, task, runner_on_* per host, stats)
between execution.status and execution.done, M events in all. Deterministic (fixed seed), so two
databases seeded with the same arguments hold the same rows.

Fast enough for ten million events (about a minute per million on a busy 2-core machine): one
transaction, executemany, no journal while loading, and the indexes of the two tables built once
at the end instead of row by row.
"""

import argparse
import json
from json.encoder import encode_basestring
import random
import sqlite3
import sys
import time

# Shapes were copied from this version; a newer schema may store more columns, which the inserts
# below leave at their defaults: check a row of a real run when the schema changes.
SHAPES_FROM_SCHEMA_VERSION = 11
SPAN_SECONDS = 90 * 24 * 3600
PLAY = 'Benchmark play'
BATCH = 50_000


def die(message):
    print('seed_store: error: ' + message, file=sys.stderr)
    sys.exit(1)


_second = [None, '']


def timestamp(ms):
    # Events come in time order, so formatting each second once saves most of strftime's cost.
    seconds, millis = divmod(ms, 1000)
    if _second[0] != seconds:
        _second[0] = seconds
        _second[1] = time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))
    return '%s.%03dZ' % (_second[1], millis)


class Ids:
    """Random ids from a seeded generator: reproducible, and far cheaper than uuid4 per event."""

    def __init__(self, seed):
        self.random = random.Random(seed)

    def execution(self):
        return 'ex-%020x' % self.random.getrandbits(80)

    def uuid(self):
        h = '%032x' % self.random.getrandbits(128)
        return '%s-%s-4%s-a%s-%s' % (h[:8], h[8:12], h[13:16], h[17:20], h[20:])


def compact(value):
    return json.dumps(value, separators=(',', ':'))


class Execution:
    """One finished execution: its row and a generator of its event rows."""

    def __init__(self, ids, rng, checkpoint, hosts, created_ms, events):
        self.id = ids.execution()
        self.ids = ids
        self.checkpoint = checkpoint
        self.hosts = hosts
        self.created_ms = created_ms
        self.events = events
        draw = rng.random()
        self.status = 'succeeded' if draw < 0.93 else 'failed' if draw < 0.98 else 'cancelled'
        self.playbook = checkpoint + '.yml'
        self.tasks_started = 0
        self.last_task = ''
        self.ok = {host: 0 for host in hosts}
        self.first_error = None
        self.finished_ms = created_ms

    def _event(self, counter, ms, etype, fields_json):
        # The payload is the event as the service stores it: type, created, execution_id and
        # counter first, then the event's own fields (fields_json, an object without its braces).
        created = timestamp(ms)
        payload = '{"type":"%s","created":"%s","execution_id":"%s","counter":%d,%s}' % (
            etype, created, self.id, counter, fields_json)
        return (etype, created, self.id, counter, payload)

    def _ansible(self, counter, ms, name, uuid, parent, data_json, stdout, line):
        fields = '"event":"%s","uuid":"%s","parent_uuid":%s,"event_data":{%s},"stdout":%s,' \
                 '"start_line":%d,"end_line":%d,"pid":4242' % (
                     name, uuid, '"%s"' % parent if parent else 'null', data_json, encode_basestring(stdout),
                     line, line + stdout.count('\n') + (1 if stdout else 0))
        return self._event(counter, ms, 'ansible.' + name, fields)

    def rows(self):
        """Yields exactly self.events rows, ending with execution.done (when there is room for it)."""
        ms = self.created_ms
        status = '"checkpoint":"%s"' % self.checkpoint
        head = [('execution.status', '"status":"queued",' + status),
                ('execution.status', '"status":"running",' + status)]
        produced = 0
        limit = self.events - 1  # the last one is execution.done
        for etype, fields in head:
            if produced >= limit:
                break
            produced += 1
            yield self._event(produced, ms, etype, fields)
        playbook_uuid = self.ids.uuid()
        play_uuid = self.ids.uuid()
        base = '"playbook":"%s","playbook_uuid":"%s"' % (self.playbook, playbook_uuid)
        play = base + ',"play":"%s","play_uuid":"%s","play_pattern":"all"' % (PLAY, play_uuid)
        line = 0
        # Room for the playbook's start, its play and its stats around the tasks.
        if produced < limit:
            produced += 1
            ms += 500
            yield self._ansible(produced, ms, 'playbook_on_start', playbook_uuid, None, base, '', line)
        if produced < limit:
            produced += 1
            stdout = '\nPLAY [%s] %s' % (PLAY, '*' * 62)
            yield self._ansible(produced, ms, 'playbook_on_play_start', play_uuid, playbook_uuid, play, stdout, line)
            line += 2
        task_number = 0
        while produced < limit - 1:
            task_number += 1
            task_uuid = self.ids.uuid()
            task_name = 'Task %03d debug' % task_number
            task = play + (',"task":"%s","task_uuid":"%s","task_action":"ansible.builtin.debug",'
                           '"task_path":"/opt/raydeploy/playbooks/%s:%d","role":""') % (
                               task_name, task_uuid, self.playbook, 4 * task_number)
            ms += 20
            produced += 1
            self.tasks_started += 1
            self.last_task = task_name
            stdout = '\nTASK [%s] %s' % (task_name, '*' * (72 - len(task_name)))
            yield self._ansible(produced, ms,
                                'playbook_on_task_start', task_uuid, play_uuid,
                                task + ',"task_args":{"msg":"%s on {{ inventory_hostname }}"}' % task_name, stdout, line)
            line += 2
            started = {}
            for host in self.hosts:
                if produced >= limit - 1:
                    break
                ms += 10
                produced += 1
                started[host] = ms
                yield self._ansible(produced, ms, 'runner_on_start', self.ids.uuid(), task_uuid,
                                    task + ',"host":"%s","remote_addr":"%s","start":"%s"' % (host, host, timestamp(ms)),
                                    '', line)
            for host, start_ms in started.items():
                if produced >= limit - 1:
                    break
                ms += 25
                produced += 1
                failing = self.status == 'failed' and produced >= limit - 2 and self.first_error is None
                message = '%s on %s' % (task_name, host)
                result = (',"host":"%s","remote_addr":"%s","res":{"msg":"%s","changed":false%s},'
                          '"start":"%s","end":"%s","duration":%.6f,"changed":false,"failed":%s') % (
                              host, host, message, ',"failed":true' if failing else '', timestamp(start_ms),
                              timestamp(ms), (ms - start_ms) / 1000, 'true' if failing else 'false')
                if failing:
                    self.first_error = {'task': task_name, 'host': host, 'message': message}
                    stdout = 'fatal: [%s]: FAILED! => {\n    "changed": false,\n    "msg": "%s"\n}' % (host, message)
                    yield self._ansible(produced, ms, 'runner_on_failed', self.ids.uuid(), task_uuid,
                                        task + result + ',"ignore_errors":null', stdout, line)
                else:
                    self.ok[host] += 1
                    stdout = 'ok: [%s] => {\n    "msg": "%s"\n}' % (host, message)
                    yield self._ansible(produced, ms, 'runner_on_ok', self.ids.uuid(), task_uuid, task + result,
                                        stdout, line)
                line += stdout.count('\n') + 1
        if produced < limit:
            produced += 1
            ms += 5
            failures = {self.first_error['host']: 1} if self.first_error else {}
            stats = base + ',"ok":%s,"changed":{},"failures":%s,"dark":{},"skipped":{},"rescued":{},"ignored":{},' \
                           '"processed":%s,"artifact_data":{}' % (
                               compact(self.ok), compact(failures), compact({host: 1 for host in self.hosts}))
            yield self._ansible(produced, ms, 'playbook_on_stats', self.ids.uuid(), playbook_uuid, stats,
                                '\nPLAY RECAP ' + '*' * 69 + '\n', line)
        if self.events >= 1:
            produced += 1
            ms += 100
            self.finished_ms = ms
            rc = {'succeeded': '0', 'failed': '2', 'cancelled': 'null'}[self.status]
            yield self._event(produced, ms, 'execution.done', '"status":"%s","final_counter":%d,"rc":%s,%s' % (
                self.status, produced, rc, status))
        self.final_counter = produced

    def row(self):
        reason = error = None
        rc = 0
        if self.status == 'failed':
            rc = 2
            reason = 'ansible-playbook exited with code 2'
            error = compact(self.first_error or {'message': reason})
        elif self.status == 'cancelled':
            rc = None
            reason = 'cancelled on request'
            error = compact({'message': reason})
        host_summary = {host: {'ok': self.ok[host], 'changed': 0,
                               'failures': 1 if self.first_error and self.first_error['host'] == host else 0,
                               'unreachable': 0, 'skipped': 0, 'rescued': 0, 'ignored': 0} for host in self.hosts}
        progress = {'play': PLAY if self.tasks_started else '', 'task': self.last_task,
                    'tasks_started': self.tasks_started, 'tasks_done': self.tasks_started}
        created = timestamp(self.created_ms)
        return (self.id, self.checkpoint, self.status, '{"extra_vars":{},"check":false,"limit":null}', created,
                created, timestamp(self.finished_ms), rc, error, 4242, '7627096b-df53-47fe-b15a-600cfd3cc787',
                187672, reason, compact(progress), compact(host_summary), self.final_counter, 'bench',
                '{"nodes":{},"summary":null}')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('database')
    parser.add_argument('--executions', type=int, required=True)
    parser.add_argument('--events', type=int, required=True)
    parser.add_argument('--checkpoints', required=True, help='comma-separated checkpoint names')
    parser.add_argument('--hosts', default='head,worker1', help='comma-separated host names')
    parser.add_argument('--seed', type=int, default=13)
    args = parser.parse_args()
    checkpoints = [name for name in args.checkpoints.split(',') if name]
    hosts = [name for name in args.hosts.split(',') if name]
    if args.executions < 1 or args.events < 0 or not checkpoints or not hosts:
        die('give --executions >= 1, --events >= 0, and at least one checkpoint and host')

    db = sqlite3.connect(args.database, isolation_level=None)
    version = db.execute('PRAGMA user_version').fetchone()[0]
    if version < SHAPES_FROM_SCHEMA_VERSION:
        die('%s has schema version %d, older than %d: start raydeploy serve on its state directory once to '
            'migrate it' % (args.database, version, SHAPES_FROM_SCHEMA_VERSION))
    if db.execute('SELECT EXISTS (SELECT 1 FROM executions UNION ALL SELECT 1 FROM events)').fetchone()[0]:
        die('%s already holds executions or events: seed a fresh database (scripts/bench.sh makes one)' % args.database)

    # Loading without a journal is safe here: the caller seeds a scratch file and renames it only
    # once this script succeeded. WAL is restored at the end, as the service expects.
    db.execute('PRAGMA journal_mode = OFF')
    db.execute('PRAGMA synchronous = OFF')
    db.execute('PRAGMA cache_size = -512000')
    db.execute('PRAGMA foreign_keys = OFF')
    indexes = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                         "AND tbl_name IN ('executions', 'events')").fetchall()

    ids = Ids(args.seed)
    rng = random.Random(args.seed + 1)
    now_ms = int(time.time() * 1000)
    step_ms = SPAN_SECONDS * 1000 // args.executions
    per_execution, extra = divmod(args.events, args.executions)
    started = time.monotonic()
    executions = []
    stored_events = 0
    next_report = 0

    db.execute('BEGIN')
    for name, _ in indexes:
        db.execute('DROP INDEX "%s"' % name.replace('"', '""'))
    insert_event = 'INSERT INTO events (type, created, execution_id, counter, payload) VALUES (?, ?, ?, ?, ?)'
    insert_execution = ('INSERT INTO executions (id, checkpoint, status, params, created_at, started_at, finished_at, '
                        'rc, error, pgid, boot_id, process_start, status_reason, progress, host_summary, '
                        'final_counter, requested_by, results) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '
                        '?, ?, ?)')
    batch = []
    for number in range(args.executions):
        execution = Execution(ids, rng, checkpoints[number % len(checkpoints)], hosts,
                              now_ms - SPAN_SECONDS * 1000 + number * step_ms,
                              per_execution + (1 if number < extra else 0))
        for event in execution.rows():
            batch.append(event)
        executions.append(execution.row())
        if len(batch) >= BATCH:
            db.executemany(insert_event, batch)
            stored_events += len(batch)
            batch.clear()
            db.executemany(insert_execution, executions)
            executions.clear()
            if stored_events >= next_report:
                print('seed_store: %d of %d events, %d of %d executions, %.0f s' % (
                    stored_events, args.events, number + 1, args.executions, time.monotonic() - started), flush=True)
                next_report = stored_events + max(args.events // 20, BATCH)
    db.executemany(insert_event, batch)
    stored_events += len(batch)
    db.executemany(insert_execution, executions)
    print('seed_store: %d executions and %d events stored in %.0f s; building %d indexes' % (
        args.executions, stored_events, time.monotonic() - started, len(indexes)), flush=True)
    for _, sql in indexes:
        db.execute(sql)
    # No ANALYZE: the service never runs it, so its planner sees no statistics on a real database either.
    db.execute('COMMIT')
    db.execute('PRAGMA journal_mode = WAL')
    db.close()
    if stored_events != args.events:
        die('stored %d events instead of %d' % (stored_events, args.events))
    print('seed_store: done in %.0f s' % (time.monotonic() - started), flush=True)


if __name__ == '__main__':
    main()

#!/usr/bin/env python3
"""A fake Cloudera AI (CML) API v2 for tests: the answers of ../shared/reference/cml-and-ray-apis.md
part A, with a clock that moves project creation, job runs and applications along, and a separate
control server that injects faults, decides outcomes and records every call. Standard library only.

    fake_cml_api.py [--host 127.0.0.1] [--port 0] [--control-port 0] [--api-key KEY]
                    [--username alice] [--page-size 10] [--max-page-size 100]
                    [--project-create-s 1.0] [--run-scheduling-s 0.2] [--run-starting-s 0.2]
                    [--run-running-s 1.0] [--run-stop-s 0.2] [--app-start-s 1.0] [--app-stop-s 0.2]
                    [--empty-fields emit|omit|null] [--dependent-runs] [--allow-concurrent-runs]

At start it prints one JSON line on stdout, {"cml_port": N, "control_port": M}, and serves until
SIGTERM or SIGINT (exit status 0). The API key is never printed, logged or echoed.

CML port (grpc-gateway conventions, reference A.1): every route needs `Authorization: Bearer KEY`
(401 otherwise) except GET /api/v2/swagger.json. Successes are 200 JSON, snake_case, int64 fields as
JSON strings (Job.timeout, engine_image_id, accelerator_label_id), RFC 3339 UTC timestamps with
milliseconds. Errors are {"error": M, "code": GRPC_CODE, "message": M, "details": []} with the HTTP
status of grpc-gateway's mapping (400:3, 401:16, 403:7, 404:5, 405:12, 409:6, 413:3, 429:8, 500:13,
503:14). Unknown paths answer 404 in that envelope; a known path with another method 405.
    GET|POST         /api/v2/projects                GET|PATCH|DELETE /api/v2/projects/{p}
    GET|POST         /api/v2/projects/{p}/jobs       GET|PATCH|DELETE /api/v2/projects/{p}/jobs/{j}
    GET|POST         /api/v2/projects/{p}/jobs/{j}/runs
    GET              /api/v2/projects/{p}/jobs/{j}/runs/{r}
    POST             /api/v2/projects/{p}/jobs/{j}/runs/{r}:stop
    GET|POST         /api/v2/projects/{p}/applications
    GET|PATCH|DELETE /api/v2/projects/{p}/applications/{a}
    POST             /api/v2/projects/{p}/applications/{a}:restart    .../{a}:stop
    GET /api/v2/jobs (every job of the caller's projects)   GET /api/v2/runtimes
    POST /api/v2/auth/validate_key                          GET /api/v2/swagger.json (no auth)
Lists take page_size/pageSize, page_token/pageToken, search_filter/searchFilter and sort (the
snake_case spelling wins when both are sent) and answer {"<items>": [...], "next_page_token": T}.
The clock: a git project is "creating" for --project-create-s, then "success" (or the failure a
control rule asks for); a run goes ENGINE_SCHEDULING -> ENGINE_STARTING -> ENGINE_RUNNING -> its
outcome (ENGINE_SUCCEEDED by default), `:stop` -> ENGINE_STOPPING -> ENGINE_STOPPED; an application
goes APPLICATION_STARTING -> APPLICATION_RUNNING (or _FAILED), `:stop` -> _STOPPING -> _STOPPED,
`:restart` starts it again from any status.

Control port (JSON in, JSON out; errors {"error": text}):
    GET    /state    projects, jobs, runs and applications as the API shows them (every field),
                     plus the faults, outcome rules, config and whether the key is still valid
    GET    /calls[?method=POST&path=REGEX&since=SEQ]
                     {"calls": [{"seq", "time" (unix s), "method", "path", "query" {name: value},
                     "status", "fault", "body" (the parsed JSON request body up to 64 KiB, or null)}],
                     "total": N, "dropped": N}; the newest 50000 calls are kept
    POST   /reset    back to the state at start (flags' config, valid key, nothing stored or logged)
    POST   /faults   {"kind": "status"|"delay"|"garbage"|"drop"|"lost_answer"|"repeat_token", "count": 1 (null:
                     until cleared), "path": REGEX (re.search on the path; default any), "method": M,
                     "delay_s": S (before the answer; the whole fault for "delay"),
                     "status": 503, "code": GRPC (default from the status), "message": TEXT,
                     "retry_after": "2" (a Retry-After header), "body": "envelope"|"empty"|"html"}
                     -> {"id": N}. The first matching fault answers; "drop" closes the connection
                     before the request is carried out, "lost_answer" after (the change is made, the
                     client never hears of it); "repeat_token" makes list answers give back the
                     page_token they were sent (a token that repeats)
    GET    /faults   the faults still armed           DELETE /faults  disarms them all
    POST   /key      {"valid": false}: the API key stops being valid (401 from then on); true again
    POST   /projects {"name", "owner": "bob", "visibility": "public", "creation_status": "success",
                     "environment": {...}, "default_engine_type": "ml_runtime"} adds a project at once
                     (another user's, or a ready one of the caller's)
    POST   /projects/outcome {"outcome": "fail"|"succeed", "creation_status": "failure", "count": 1}
                     the next git creation(s) end with that creation_status instead of "success"
    POST   /jobs/outcome {"job_id" or "job_name": X, "outcome": "succeed"|"fail"|"timeout"|"hang",
                     "count": null} how the job's next runs end (null: until changed; "hang" runs
                     until stopped); by name it also applies to jobs created later
    POST   /applications/outcome {"application_id" or "name": X, "outcome": "run"|"fail", "count": null}
                     how the application's next starts end
    POST   /runs/delete {"run_id" or "job_id" or "job_name": X} -> {"id", "job_id", "status"}: the run
                     (by job, the job's newest run) is gone as if an admin deleted it from CML, whatever
                     its status: GET of it answers 404 (code 5) as for an id never seen, lists and
                     /state leave it out, and the job takes a new run again
    POST   /applications/crash {"application_id": X}: a started application is APPLICATION_FAILED now
    GET|POST /config {"page_size", "max_page_size", "project_create_s", "run_scheduling_s",
                     "run_starting_s", "run_running_s", "run_stop_s", "app_start_s", "app_stop_s",
                     "empty_fields", "dependent_runs", "reject_concurrent_runs"}: read or change them;
                     a new duration applies to what is under way too, counted from when it entered
                     its phase (so a test holds a run in ENGINE_SCHEDULING with run_scheduling_s: 600
                     and releases it by setting it back, instead of racing the clock)

Choices where the reference says unverified (A.7 and the tags), so a client must not rely on them:
- Empty fields (A.1 4): --empty-fields emit (default, as the A.6 examples) emits zero values and
  "next_page_token": "" and leaves unset timestamps out; omit drops every zero value, empty list
  and empty token (grpc-gateway's EmitDefaults=false); null emits unset timestamps as null.
- Pages: page_size 0 or absent is --page-size (10, as the docs say); above --max-page-size (100) it
  is clamped; negative or non-numeric is 400. Tokens are base64url of {"o": offset} (the A.6
  example's shape); a token that does not decode is 400. Default order is creation order for
  projects, jobs and applications, newest first for runs.
- search_filter: a JSON object whose keys must be the resource's keys (another key is 400); text
  keys match as case-sensitive substrings, `status` and boolean keys match exactly (lowercase status
  without its ENGINE_/APPLICATION_ prefix); several keys combine with AND. A value that is not a
  JSON object is a plain word matched against `name` (the docs' `?searchFilter=demo`). Run filters'
  job keys apply to the run's job. Unknown sort keys are 400.
- Visibility: the caller lists its own projects, and public/organization ones of others only with
  include_public_projects=true. An unknown id is 404 (code 5); another user's private project is
  403 (code 7), as is writing to another user's project.
- A second project of the same owner and name is 409 (code 6). Job and application names may
  repeat; a subdomain used by any application of the workbench is 409 (code 6); a subdomain that is
  not a DNS label is 400.
- Only git projects are created asynchronously; other templates are "success" at once. Jobs and
  applications in a project whose creation_status is not "success" are refused with 400 (code 9).
- A job or application without runtime_identifier in an ml_runtime project (the default engine) is
  400; any non-empty runtime identifier is accepted (GET /api/v2/runtimes lists three).
- Triggering a job that has an active run is 400 (code 9, "... already active") unless
  --allow-concurrent-runs. Dependent jobs do not start by themselves when their parent succeeds
  unless --dependent-runs (then the scheduler starts a run of every child, as CML's dependent jobs).
- `:stop` of a terminal run, and of a stopped application, answers 200 with it unchanged.
- A run's environment is the per-run environment only (as in A.6); an application's is the
  project's environment overlaid with the request's (A.4's AMP note).
- PATCH merges only the keys sent; read-only and unknown keys are ignored, as grpc-gateway v1
  ignores unknown fields (so `parent_job_id`, a CreateJobRequest-only alias, does nothing in a
  PATCH: send `parent_id`). PATCH of an application changes its spec only; `:restart` applies it.
  Deleting a job deletes its runs and makes its children manual jobs.
- A job with timeout > 0 and kill_on_timeout ends ENGINE_TIMEDOUT that many seconds after it
  started running.
- validate_key needs a valid key like every route (401 otherwise); audience "Application" is 403.
- A percent-encoded colon before a custom verb (%3Astop) is 404: clients must send ':' as is.
- Bounds: request bodies up to 1 MiB (413 above, 411 for chunked bodies), 1000 projects, 500 jobs
  and 200 applications per project (400, code 9, above), the newest 100 runs per job kept.
"""

import argparse
import base64
import copy
import json
import random
import re
import signal
import string
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MAX_BODY_BYTES = 1024 * 1024
MAX_PROJECTS = 1000
MAX_JOBS_PER_PROJECT = 500
MAX_APPS_PER_PROJECT = 200
MAX_RUNS_KEPT_PER_JOB = 100
MAX_CALLS_KEPT = 50000
MAX_FAULTS = 100
MAX_LOGGED_BODY_BYTES = 64 * 1024
INT32_RANGE = (-2 ** 31, 2 ** 31 - 1)
INT64_RANGE = (-2 ** 63, 2 ** 63 - 1)

# grpc-gateway's HTTPStatusFromCode, and the code a fault's bare HTTP status stands for.
HTTP_FROM_CODE = {1: 408, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400, 10: 409, 11: 400,
                  12: 501, 13: 500, 14: 503, 15: 500, 16: 401}
CODE_FROM_HTTP = {400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 408: 1, 409: 10, 413: 3, 429: 8, 500: 13, 501: 12,
                  503: 14, 504: 4}
FAULT_MESSAGES = {400: "invalid request", 401: "unauthenticated", 403: "permission denied",
                  404: "not found", 409: "the resource was modified concurrently", 429: "rate limit exceeded",
                  500: "internal error", 503: "service unavailable", 504: "deadline exceeded"}
FAULT_KINDS = {"status", "delay", "garbage", "drop", "lost_answer", "repeat_token"}
CONFIG_KEYS = {"page_size": int, "max_page_size": int, "project_create_s": float, "run_scheduling_s": float,
               "run_starting_s": float, "run_running_s": float, "run_stop_s": float, "app_start_s": float,
               "app_stop_s": float, "empty_fields": str, "dependent_runs": bool, "reject_concurrent_runs": bool}
EMPTY_FIELD_MODES = ("emit", "omit", "null")
INT64_FIELDS = {"timeout", "engine_image_id", "accelerator_label_id"}

ENGINE_TERMINAL = {"ENGINE_SUCCEEDED", "ENGINE_FAILED", "ENGINE_TIMEDOUT", "ENGINE_STOPPED", "ENGINE_SKIPPED"}
RUN_OUTCOMES = {"succeed": "ENGINE_SUCCEEDED", "fail": "ENGINE_FAILED", "timeout": "ENGINE_TIMEDOUT", "hang": None}
APP_OUTCOMES = {"run": "APPLICATION_RUNNING", "fail": "APPLICATION_FAILED"}
TEMPLATES = {"git", "local", "blank", "python", "r", "pyspark", "scala", "churn predictor"}
VISIBILITIES = {"public", "organization", "private"}
ENGINE_TYPES = {"", "ml_runtime", "legacy_engine"}
SUBDOMAIN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
GIT_URL = re.compile(r"(https?|ssh|git)://\S+|git@[^:\s]+:\S+")
NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")

PROJECT_FILTER_KEYS = {"creator.email", "creator.name", "creator.username", "description", "name", "owner.email",
                       "owner.name", "owner.username"}
PROJECT_SORT_KEYS = PROJECT_FILTER_KEYS | {"created_at", "updated_at"}
JOB_FILTER_KEYS = {"creator.email", "creator.name", "creator.username", "description", "kernel", "name", "paused",
                   "script", "type"}
JOB_SORT_KEYS = JOB_FILTER_KEYS | {"created_at", "updated_at"}
RUN_FILTER_KEYS = JOB_FILTER_KEYS | {"status"}
RUN_SORT_KEYS = JOB_SORT_KEYS | {"status"}
APP_FILTER_KEYS = {"bypass_authentication", "creator.email", "creator.name", "creator.username", "description",
                   "kernel", "name", "script", "status", "subdomain"}
APP_SORT_KEYS = {"created_at", "creator.email", "creator.name", "creator.username", "description", "kernel", "name",
                 "script", "status", "updated_at"}
RUNTIME_FILTER_KEYS = {"image_identifier", "editor", "kernel", "edition", "description", "full_version"}
EXACT_FILTER_KEYS = {"status", "paused", "bypass_authentication"}

# Request schemas: field -> type. "env_map" is CreateXRequest.environment (a JSON object of
# strings); "env_text" is the resource's environment (a string holding such an object).
JOB_COMMON = {"name": "string", "script": "string", "cpu": "double", "memory": "double", "nvidia_gpu": "int32",
              "runtime_identifier": "string", "runtime_addon_identifiers": "strings", "kernel": "string",
              "arguments": "string", "kill_on_timeout": "bool", "schedule": "string", "timezone": "string",
              "paused": "bool", "parent_id": "string", "recipients": "objects", "attachments": "strings",
              "success_recipients": "string", "failure_recipients": "string", "timeout_recipients": "string",
              "stopped_recipients": "string", "run_as": "int32", "accelerator_label_id": "int64",
              "retry_enabled": "bool", "max_retry": "int32", "retry_delay": "int32",
              "retry_for_script_failure": "bool", "retry_for_system_failure": "bool",
              "retry_for_timedout_runs": "bool", "retry_for_skipped_runs": "bool", "resource_group_id": "int32",
              "resource_profile_id": "int32"}
CREATE_JOB = dict(JOB_COMMON, project_id="string", parent_job_id="string", environment="env_map", timeout="int32")
UPDATE_JOB = dict(JOB_COMMON, environment="env_text", timeout="int64")
CREATE_RUN = {"project_id": "string", "job_id": "string", "environment": "env_map", "arguments": "string"}
APP_COMMON = {"name": "string", "subdomain": "string", "description": "string", "script": "string", "cpu": "double",
              "memory": "double", "nvidia_gpu": "int32", "kernel": "string", "bypass_authentication": "bool",
              "runtime_identifier": "string", "runtime_addon_identifiers": "strings", "run_as": "int32",
              "cdv_app": "bool", "accelerator_label_id": "int64", "resource_group_id": "int32",
              "resource_profile_id": "int32"}
CREATE_APP = dict(APP_COMMON, project_id="string", environment="env_map")
UPDATE_APP = dict(APP_COMMON, environment="env_text")
CREATE_PROJECT = {"name": "string", "description": "string", "visibility": "string", "parent_project": "string",
                  "git_url": "string", "git_ref": "string", "template": "string",
                  "organization_permission": "string", "default_project_engine_type": "string",
                  "environment": "env_map", "shared_memory_limit": "int32", "team_name": "string"}
UPDATE_PROJECT = {"name": "string", "description": "string", "visibility": "string",
                  "default_engine_type": "string", "shared_memory_limit": "int32", "environment": "env_text",
                  "ephemeral_storage_request": "int32", "ephemeral_storage_limit": "int32"}

RUNTIMES = [
    {"image_identifier": "docker.repository.cloudera.com/cloudera/cdsw/"
                         "ml-runtime-pbj-workbench-python3.10-standard:2025.01.1-b1",
     "editor": "PBJ Workbench", "kernel": "Python 3.10", "edition": "Standard",
     "description": "Standard edition Python runtime", "full_version": "2025.01.1-b1", "status": "ENABLED",
     "register_user_id": 0},
    {"image_identifier": "docker.repository.cloudera.com/cloudera/cdsw/"
                         "ml-runtime-pbj-workbench-python3.11-standard:2025.01.1-b1",
     "editor": "PBJ Workbench", "kernel": "Python 3.11", "edition": "Standard",
     "description": "Standard edition Python runtime", "full_version": "2025.01.1-b1", "status": "ENABLED",
     "register_user_id": 0},
    {"image_identifier": "docker.repository.cloudera.com/cloudera/cdsw/"
                         "ml-runtime-workbench-python3.9-standard:2023.08.2-b8",
     "editor": "Workbench", "kernel": "Python 3.9", "edition": "Standard",
     "description": "Standard edition Python runtime", "full_version": "2023.08.2-b8", "status": "DEPRECATED",
     "register_user_id": 0},
]


class ApiError(Exception):
    """An answer in CML's error envelope: the gRPC code decides the HTTP status."""

    def __init__(self, code, message, http_status=None, headers=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status or HTTP_FROM_CODE[code]
        self.headers = headers or {}


class ControlError(Exception):
    def __init__(self, status, text):
        super().__init__(text)
        self.status = status
        self.text = text


def envelope(code, message):
    return {"error": message, "code": code, "message": message, "details": []}


def short_user(username):
    return {"username": username, "name": username.replace("-", " ").title(), "email": f"{username}@example.com"}


def slug_of(name):
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "project"


def env_text(env):
    return json.dumps(env, sort_keys=True, separators=(",", ":"))


def go_number(value):
    """Go prints an integral double without a fraction; so does CML."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def coerce(field, kind, value):
    """One request field, as grpc-gateway's JSON decoder reads it; ApiError(3) when it cannot."""
    def bad():
        return ApiError(3, f"invalid value for {kind} field \"{field}\": {json.dumps(value)[:100]}")
    if kind == "string":
        if not isinstance(value, str):
            raise bad()
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise bad()
        return value
    if kind in ("int32", "int64"):
        if isinstance(value, bool):
            raise bad()
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        elif isinstance(value, str) and re.fullmatch(r"-?\d+", value):
            value = int(value)
        if not isinstance(value, int):
            raise bad()
        low, high = INT32_RANGE if kind == "int32" else INT64_RANGE
        if not low <= value <= high:
            raise bad()
        return value
    if kind == "double":
        if isinstance(value, bool):
            raise bad()
        if isinstance(value, str) and NUMBER.fullmatch(value):
            value = float(value)
        if not isinstance(value, (int, float)):
            raise bad()
        return float(value)
    if kind == "strings":
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise bad()
        return list(value)
    if kind == "objects":
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise bad()
        return copy.deepcopy(value)
    if kind == "env_map":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise bad()
        return dict(value)
    if kind == "env_text":
        if not isinstance(value, str):
            raise bad()
        try:
            env = json.loads(value) if value else {}
        except ValueError:
            raise ApiError(3, f"{field} must be a JSON object of strings, got {value[:100]!r}")
        if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
            raise ApiError(3, f"{field} must be a JSON object of strings, got {value[:100]!r}")
        return env
    raise AssertionError(kind)


def read_fields(body, schema):
    """The fields of `body` the schema knows, coerced; null is an absent field, unknown keys are ignored."""
    return {key: coerce(key, schema[key], value) for key, value in body.items()
            if key in schema and value is not None}


def query_param(query, snake, camel=None):
    for name in (snake, camel):
        if name and name in query:
            return query[name][0]
    return None


def encode_token(offset):
    return base64.urlsafe_b64encode(json.dumps({"o": offset}, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_token(token):
    try:
        document = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        offset = document["o"]
        if isinstance(offset, int) and not isinstance(offset, bool) and offset >= 0:
            return offset
    except (ValueError, TypeError, KeyError):
        pass
    raise ApiError(3, f"invalid page token {token[:40]!r}")


def dotted(document, key):
    value = document
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


class FakeCml:
    """The workbench's state. Methods named api_* and control_* take the lock; times are
    time.monotonic() and become wall-clock timestamps only when shown."""

    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.random = random.Random()
        self.user = args.username
        self.reset()

    def reset(self):
        with self.lock:
            self.config = {key: getattr(self.args, key) for key in CONFIG_KEYS}
            self.mono0, self.wall0 = time.monotonic(), time.time()
            self.key_valid = True
            self.projects = {}  # id -> record, in creation order
            self.jobs = {}
            self.runs = {}
            self.apps = {}
            self.seq = 0
            self.faults = []
            self.fault_seq = 0
            self.project_rules = []  # creation_status strings for the next git creations
            self.job_rules = {}  # ("id"|"name", value) -> {"outcome", "count"}
            self.app_rules = {}
            self.calls = []
            self.calls_total = 0
            self.calls_dropped = 0

    # ---- helpers (lock held)

    def _next_seq(self):
        self.seq += 1
        return self.seq

    def _new_id(self, taken):
        alphabet = string.ascii_lowercase + string.digits
        while True:
            candidate = "-".join("".join(self.random.choice(alphabet) for _ in range(4)) for _ in range(4))
            if candidate not in taken:
                return candidate

    def _timestamp(self, mono):
        if mono is None:
            return None
        wall = self.wall0 + (mono - self.mono0)
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(wall)) + f".{int(wall * 1000) % 1000:03d}Z"

    def _finish(self, document):
        """Zero values and unset timestamps as --empty-fields says (reference A.1, items 3 and 4)."""
        mode = self.config["empty_fields"]

        def is_zero(key, value):
            if isinstance(value, bool):
                return not value
            if isinstance(value, (int, float)):
                return value == 0
            if isinstance(value, (str, list)):
                return not value or (key in INT64_FIELDS and value == "0")
            return value is None

        def visit(value):
            if isinstance(value, dict):
                out = {}
                for key, item in value.items():
                    item = visit(item)
                    if item is None and mode != "null":
                        continue
                    if mode == "omit" and is_zero(key, item):
                        continue
                    out[key] = item
                return out
            if isinstance(value, list):
                return [visit(item) for item in value]
            return go_number(value)
        return visit(document)

    def _tick(self, now=None):
        now = time.monotonic() if now is None else now
        for project in self.projects.values():
            # Counted from creation with the duration configured now, as runs and applications are,
            # so a test can hold a project in "creating" through /config and release it.
            ready_at = project["created"] + self.config["project_create_s"]
            if project["creation_status"] == "creating" and project["final_status"] != "creating" and now >= ready_at:
                project["creation_status"] = project["final_status"]
                project["updated"] = ready_at
        pending = list(self.runs.values())
        while pending:
            started = []
            for run in pending:
                self._advance_run(run, now, started)
            pending = started
        for app in self.apps.values():
            self._advance_app(app, now)

    # ---- projects

    def _member(self, project):
        """The caller's own projects, and those it created for a team."""
        return self.user in (project["owner"], project["creator"])

    def _render_project(self, project):
        mine = self._member(project)
        return {"id": project["id"], "name": project["name"], "owner": short_user(project["owner"]),
                "creator": short_user(project["creator"]), "description": project["description"],
                "visibility": project["visibility"], "default_engine_type": project["default_engine_type"],
                "created_at": self._timestamp(project["created"]), "updated_at": self._timestamp(project["updated"]),
                "creation_status": project["creation_status"],
                "permissions": {"read": True, "write": mine, "admin": mine, "business_user": False,
                                "operator": False, "inherit": False},
                "shared_memory_limit": project["shared_memory_limit"], "environment": env_text(project["environment"]),
                "ephemeral_storage_request": project["ephemeral_storage_request"],
                "ephemeral_storage_limit": project["ephemeral_storage_limit"], "slug": project["slug"]}

    def _short_project(self, project):
        return {"public_identifier": f"{project['owner']}/{project['slug']}", "name": project["name"],
                "default_project_engine": project["default_engine_type"], "slug": project["slug"]}

    def _visible(self, project, include_public):
        return self._member(project) or (include_public and project["visibility"] != "private")

    def _project(self, project_id, write=False):
        project = self.projects.get(project_id)
        if project is None:
            raise ApiError(5, f"project {project_id} not found")
        if not self._member(project) and (write or project["visibility"] == "private"):
            raise ApiError(7, f"user {self.user} does not have permission to "
                              f"{'modify' if write else 'view'} project {project_id}")
        return project

    def _ready_project(self, project_id):
        project = self._project(project_id, write=True)
        if project["creation_status"] != "success":
            raise ApiError(9, f"project {project_id} is not ready: creation_status is "
                              f"{project['creation_status']!r}")
        return project

    def _add_project(self, name, owner, creator, now, **fields):
        if len(self.projects) >= MAX_PROJECTS:
            raise ApiError(9, f"the workbench has reached its limit of {MAX_PROJECTS} projects")
        if any(p["name"] == name and p["owner"] == owner for p in self.projects.values()):
            raise ApiError(6, f"a project named {name!r} already exists for {owner}")
        project = {"id": self._new_id(self.projects), "seq": self._next_seq(), "name": name, "owner": owner,
                   "creator": creator, "description": "", "visibility": "private",
                   "default_engine_type": "ml_runtime", "created": now, "updated": now,
                   "creation_status": "success", "final_status": "success",
                   "shared_memory_limit": 64, "environment": {}, "ephemeral_storage_request": 0,
                   "ephemeral_storage_limit": 0, "slug": slug_of(name), "template": "local", "git_url": "",
                   "git_ref": ""}
        project.update(fields)
        self.projects[project["id"]] = project
        return project

    def api_create_project(self, body):
        fields = read_fields(body, CREATE_PROJECT)
        with self.lock:
            now = time.monotonic()
            self._tick(now)
            name = fields.get("name", "").strip()
            if not name:
                raise ApiError(3, "project name must be set")
            visibility = fields.get("visibility") or "private"
            if visibility not in VISIBILITIES:
                raise ApiError(3, f"visibility must be one of public, organization, private; got {visibility!r}")
            engine = fields.get("default_project_engine_type", "")
            if engine not in ENGINE_TYPES:
                raise ApiError(3, f"default_project_engine_type must be ml_runtime or legacy_engine; got {engine!r}")
            git_url = fields.get("git_url", "")
            template = fields.get("template", "").lower() or ("git" if git_url else "local")
            if template not in TEMPLATES:
                raise ApiError(3, f"unknown template {fields['template']!r}")
            if template == "git" and not git_url:
                raise ApiError(3, "git_url must be set to create a project from git")
            if git_url and template != "git":
                raise ApiError(3, "git_url needs template \"git\"")
            if git_url and not GIT_URL.fullmatch(git_url):
                raise ApiError(3, f"invalid git url {git_url!r}")
            environment = fields.get("environment", {})
            parent = fields.get("parent_project")
            if parent:
                source = self._project(parent)
                environment = dict(source["environment"], **environment)
            extra = {"description": fields.get("description", ""), "visibility": visibility,
                     "default_engine_type": engine or "ml_runtime", "environment": environment,
                     "shared_memory_limit": fields.get("shared_memory_limit") or 64, "template": template,
                     "git_url": git_url, "git_ref": fields.get("git_ref", "")}
            if template == "git":
                final = self.project_rules.pop(0) if self.project_rules else "success"
                extra.update(creation_status="creating", final_status=final)
            project = self._add_project(name, fields.get("team_name") or self.user, self.user, now, **extra)
            return self._finish(self._render_project(project))

    def api_list_projects(self, query, repeat_token):
        include_public = self._bool_param(query, "include_public_projects", "includePublicProjects")
        self._bool_param(query, "include_all_projects", "includeAllProjects")  # site admins only: not the caller
        with self.lock:
            self._tick()
            items = [self._render_project(p) for p in self.projects.values() if self._visible(p, include_public)]
            return self._page(items, "projects", query, repeat_token, PROJECT_FILTER_KEYS, PROJECT_SORT_KEYS,
                              lambda doc, key: dotted(doc, key), newest_first=False)

    def api_get_project(self, project_id):
        with self.lock:
            self._tick()
            return self._finish(self._render_project(self._project(project_id)))

    def api_update_project(self, project_id, body):
        fields = read_fields(body, UPDATE_PROJECT)
        with self.lock:
            now = time.monotonic()
            self._tick(now)
            project = self._project(project_id, write=True)
            if "name" in fields:
                name = fields["name"].strip()
                if not name:
                    raise ApiError(3, "project name must not be empty")
                if any(p is not project and p["name"] == name and p["owner"] == project["owner"]
                       for p in self.projects.values()):
                    raise ApiError(6, f"a project named {name!r} already exists for {project['owner']}")
                fields["name"] = name
            if fields.get("visibility", "private") not in VISIBILITIES:
                raise ApiError(3, f"visibility must be one of public, organization, private")
            if fields.get("default_engine_type", "") not in ENGINE_TYPES:
                raise ApiError(3, "default_engine_type must be ml_runtime or legacy_engine")
            project.update(fields)
            project["updated"] = now
            return self._finish(self._render_project(project))

    def api_delete_project(self, project_id):
        with self.lock:
            self._project(project_id, write=True)
            for job_id in [j for j, job in self.jobs.items() if job["project_id"] == project_id]:
                self._delete_job(job_id)
            for app_id in [a for a, app in self.apps.items() if app["project_id"] == project_id]:
                del self.apps[app_id]
            del self.projects[project_id]
            return {}

    # ---- jobs

    def _render_job(self, job):
        project = self.projects[job["project_id"]]
        job_type = "dependent" if job["parent_id"] else ("cron" if job["schedule"] else "manual")
        document = {"id": job["id"]}
        document.update((key, job[key]) for key in JOB_COMMON)
        document.update(
            type=job_type, timeout=str(job["timeout"]), engine_image_id="0",
            accelerator_label_id=str(job["accelerator_label_id"]), environment=env_text(job["environment"]),
            english_schedule=f"Cron: {job['schedule']}" if job["schedule"] else "",
            timezone=job["timezone"], creator=short_user(job["creator"]), owner=short_user(job["creator"]),
            project=self._short_project(project), created_at=self._timestamp(job["created"]),
            updated_at=self._timestamp(job["updated"]))
        return document

    def _job(self, project_id, job_id, write=False):
        project = self._project(project_id, write=write)
        job = self.jobs.get(job_id)
        if job is None or job["project_id"] != project["id"]:
            raise ApiError(5, f"job {job_id} not found in project {project_id}")
        return job

    def _check_job(self, job, project):
        if not job["name"].strip():
            raise ApiError(3, "job name must be set")
        if not job["script"].strip():
            raise ApiError(3, "job script must be set")
        if job["schedule"] and job["parent_id"]:
            raise ApiError(3, "a job cannot have both a schedule and a parent job")
        if job["schedule"] and len(job["schedule"].split()) != 5:
            raise ApiError(3, f"invalid cron schedule {job['schedule']!r}")
        if project["default_engine_type"] == "ml_runtime" and not job["runtime_identifier"]:
            raise ApiError(3, "runtime_identifier must be set for jobs in an ML Runtime project")
        if job["cpu"] <= 0 or job["memory"] <= 0 or job["nvidia_gpu"] < 0 or job["timeout"] < 0:
            raise ApiError(3, "cpu and memory must be positive; nvidia_gpu and timeout must not be negative")
        parent_id = job["parent_id"]
        seen = {job["id"]}
        while parent_id:
            parent = self.jobs.get(parent_id)
            if parent is None or parent["project_id"] != project["id"]:
                raise ApiError(3, f"parent job {parent_id} not found in project {project['id']}")
            if parent_id in seen:
                raise ApiError(3, f"parent job {job['parent_id']} would make a dependency cycle")
            seen.add(parent_id)
            parent_id = parent["parent_id"]

    def api_create_job(self, project_id, body):
        fields = read_fields(body, CREATE_JOB)
        with self.lock:
            now = time.monotonic()
            self._tick(now)
            project = self._ready_project(project_id)
            if sum(1 for j in self.jobs.values() if j["project_id"] == project_id) >= MAX_JOBS_PER_PROJECT:
                raise ApiError(9, f"project {project_id} has reached its limit of {MAX_JOBS_PER_PROJECT} jobs")
            job = {key: ("" if kind == "string" else [] if kind in ("strings", "objects") else
                         False if kind == "bool" else 0) for key, kind in JOB_COMMON.items()}
            job.update(cpu=1.0, memory=1.0, timezone="", environment={}, timeout=0)
            parent_alias = fields.pop("parent_job_id", "")
            fields.pop("project_id", None)
            job.update(fields)
            job["parent_id"] = job["parent_id"] or parent_alias
            if job["schedule"] and not job["timezone"]:
                job["timezone"] = "America/Los_Angeles"
            job.update(id=self._new_id(self.jobs), seq=self._next_seq(), project_id=project_id, creator=self.user,
                       created=now, updated=now)
            self._check_job(job, project)
            self.jobs[job["id"]] = job
            return self._finish(self._render_job(job))

    def api_list_jobs(self, project_id, query, repeat_token):
        with self.lock:
            self._tick()
            if project_id is None:
                projects = {p for p, project in self.projects.items() if self._member(project)}
            else:
                projects = {self._project(project_id)["id"]}
            items = [self._render_job(j) for j in self.jobs.values() if j["project_id"] in projects]
            return self._page(items, "jobs", query, repeat_token, JOB_FILTER_KEYS, JOB_SORT_KEYS,
                              lambda doc, key: dotted(doc, key), newest_first=False)

    def api_get_job(self, project_id, job_id):
        with self.lock:
            self._tick()
            return self._finish(self._render_job(self._job(project_id, job_id)))

    def api_update_job(self, project_id, job_id, body):
        fields = read_fields(body, UPDATE_JOB)
        with self.lock:
            now = time.monotonic()
            self._tick(now)
            job = self._job(project_id, job_id, write=True)
            updated = dict(job, **fields)
            if updated["schedule"] and not updated["timezone"]:
                updated["timezone"] = "America/Los_Angeles"
            self._check_job(updated, self.projects[project_id])
            job.update(updated)
            job["updated"] = now
            return self._finish(self._render_job(job))

    def _delete_job(self, job_id):
        for run_id in [r for r, run in self.runs.items() if run["job_id"] == job_id]:
            del self.runs[run_id]
        for child in self.jobs.values():
            if child["parent_id"] == job_id:
                child["parent_id"] = ""
        del self.jobs[job_id]

    def api_delete_job(self, project_id, job_id):
        with self.lock:
            self._job(project_id, job_id, write=True)
            self._delete_job(job_id)
            return {}

    # ---- job runs

    def _render_run(self, run):
        document = {key: run[key] for key in ("id", "project_id", "job_id", "status", "kernel", "cpu", "memory",
                                              "nvidia_gpu", "arguments", "runtime_identifier", "resource_group_id")}
        for phase in ("created", "scheduling", "starting", "running", "finished"):
            document[f"{phase}_at"] = self._timestamp(run[phase])
        document.update(environment=env_text(run["environment"]), creator=short_user(run["creator"]))
        return document

    def _rule_outcome(self, rules, keys, default):
        for key in keys:
            rule = rules.get(key)
            if rule is None:
                continue
            if rule["count"] is not None:
                rule["count"] -= 1
                if rule["count"] <= 0:
                    del rules[key]
            return rule["outcome"]
        return default

    def _start_run(self, job, now, arguments=None, environment=None):
        job_runs = [r for r in self.runs.values() if r["job_id"] == job["id"]]
        if len(job_runs) >= MAX_RUNS_KEPT_PER_JOB:
            oldest = next((r for r in job_runs if r["status"] in ENGINE_TERMINAL), None)
            if oldest is None:
                raise ApiError(9, f"job {job['id']} has {len(job_runs)} active runs")
            del self.runs[oldest["id"]]
        outcome = self._rule_outcome(self.job_rules, [("id", job["id"]), ("name", job["name"])], "succeed")
        alphabet = string.ascii_lowercase + string.digits
        run_id = "".join(self.random.choice(alphabet) for _ in range(16))
        run = {"id": run_id, "seq": self._next_seq(), "project_id": job["project_id"], "job_id": job["id"],
               "status": "ENGINE_SCHEDULING", "since": now, "created": now, "scheduling": now, "starting": None,
               "running": None, "finished": None, "outcome": outcome, "kernel": job["kernel"], "cpu": job["cpu"],
               "memory": job["memory"], "nvidia_gpu": job["nvidia_gpu"],
               "arguments": job["arguments"] if arguments is None else arguments,
               "environment": environment or {}, "creator": self.user,
               "runtime_identifier": job["runtime_identifier"], "resource_group_id": job["resource_group_id"],
               "timeout": job["timeout"] if job["kill_on_timeout"] else 0}
        self.runs[run_id] = run
        return run

    def _enter_run(self, run, status, at, started):
        run["status"], run["since"] = status, at
        if status == "ENGINE_STARTING":
            run["starting"] = at
        elif status == "ENGINE_RUNNING":
            run["running"] = at
        elif status in ENGINE_TERMINAL:
            run["finished"] = at
        if status == "ENGINE_SUCCEEDED" and self.config["dependent_runs"]:
            for child in list(self.jobs.values()):
                if child["parent_id"] == run["job_id"] and not (
                        self.config["reject_concurrent_runs"] and self._active_run(child["id"])):
                    try:
                        started.append(self._start_run(child, at))
                    except ApiError:
                        pass  # every kept run of the child is active: the scheduler skips it, as a refused trigger

    def _advance_run(self, run, now, started):
        config = self.config
        while True:
            status = run["status"]
            if status == "ENGINE_SCHEDULING":
                duration, following = config["run_scheduling_s"], "ENGINE_STARTING"
            elif status == "ENGINE_STARTING":
                duration, following = config["run_starting_s"], "ENGINE_RUNNING"
            elif status == "ENGINE_RUNNING":
                final = RUN_OUTCOMES[run["outcome"]]
                duration = config["run_running_s"] if final else float("inf")
                following = final
                if run["timeout"] and run["timeout"] < duration:
                    duration, following = run["timeout"], "ENGINE_TIMEDOUT"
            elif status == "ENGINE_STOPPING":
                duration, following = config["run_stop_s"], "ENGINE_STOPPED"
            else:
                return
            if now < run["since"] + duration:
                return
            self._enter_run(run, following, run["since"] + duration, started)

    def _active_run(self, job_id):
        return next((r for r in self.runs.values() if r["job_id"] == job_id and r["status"] not in ENGINE_TERMINAL),
                    None)

    def api_create_run(self, project_id, job_id, body):
        fields = read_fields(body, CREATE_RUN)
        with self.lock:
            now = time.monotonic()
            self._tick(now)
            self._ready_project(project_id)
            job = self._job(project_id, job_id, write=True)
            active = self._active_run(job_id)
            if active is not None and self.config["reject_concurrent_runs"]:
                raise ApiError(9, f"job run {active['id']} of job {job_id} is already active")
            run = self._start_run(job, now, fields.get("arguments"), fields.get("environment"))
            return self._finish(self._render_run(run))

    def api_list_runs(self, project_id, job_id, query, repeat_token):
        with self.lock:
            self._tick()
            job = self._job(project_id, job_id)
            job_document = self._render_job(job)

            def resolve(doc, key):
                if key == "status":
                    return doc["status"].replace("ENGINE_", "").lower()
                if key in ("created_at", "updated_at"):
                    return doc["created_at"] if key == "created_at" else (
                        doc.get("finished_at") or doc.get("running_at") or doc.get("starting_at") or doc["created_at"])
                return dotted(job_document, key)
            items = [self._render_run(r) for r in self.runs.values() if r["job_id"] == job_id]
            return self._page(items, "job_runs", query, repeat_token, RUN_FILTER_KEYS, RUN_SORT_KEYS, resolve,
                              newest_first=True)

    def _run(self, project_id, job_id, run_id, write=False):
        self._job(project_id, job_id, write=write)
        run = self.runs.get(run_id)
        if run is None or run["job_id"] != job_id:
            raise ApiError(5, f"job run {run_id} not found for job {job_id}")
        return run

    def api_get_run(self, project_id, job_id, run_id):
        with self.lock:
            self._tick()
            return self._finish(self._render_run(self._run(project_id, job_id, run_id)))

    def api_stop_run(self, project_id, job_id, run_id):
        with self.lock:
            now = time.monotonic()
            self._tick(now)
            run = self._run(project_id, job_id, run_id, write=True)
            if run["status"] not in ENGINE_TERMINAL and run["status"] != "ENGINE_STOPPING":
                started = []
                self._enter_run(run, "ENGINE_STOPPING", now, started)
                self._advance_run(run, now, started)
            return self._finish(self._render_run(run))

    # ---- applications

    def _render_app(self, app):
        document = {"id": app["id"]}
        document.update((key, app[key]) for key in APP_COMMON)
        document.update(status=app["status"], creator=short_user(app["creator"]),
                        accelerator_label_id=str(app["accelerator_label_id"]), environment=env_text(app["environment"]))
        for phase in ("created", "updated", "starting", "running", "stopped"):
            document[f"{phase}_at"] = self._timestamp(app[phase])
        return document

    def _app(self, project_id, app_id, write=False):
        project = self._project(project_id, write=write)
        app = self.apps.get(app_id)
        if app is None or app["project_id"] != project["id"]:
            raise ApiError(5, f"application {app_id} not found in project {project_id}")
        return app

    def _check_app(self, app, project):
        for key in ("name", "subdomain", "script"):
            if not app[key].strip():
                raise ApiError(3, f"application {key} must be set")
        if not SUBDOMAIN.fullmatch(app["subdomain"]):
            raise ApiError(3, f"subdomain {app['subdomain']!r} must be a DNS label: lowercase letters, digits and "
                              "hyphens, at most 63 characters, starting and ending with a letter or digit")
        clash = next((a for a in self.apps.values() if a["subdomain"] == app["subdomain"] and a["id"] != app["id"]),
                     None)
        if clash is not None:
            raise ApiError(6, f"subdomain {app['subdomain']!r} is already in use by another application")
        if project["default_engine_type"] == "ml_runtime" and not app["runtime_identifier"]:
            raise ApiError(3, "runtime_identifier must be set for applications in an ML Runtime project")
        if app["cpu"] <= 0 or app["memory"] <= 0 or app["nvidia_gpu"] < 0:
            raise ApiError(3, "cpu and memory must be positive; nvidia_gpu must not be negative")

    def _start_app(self, app, now):
        app.update(status="APPLICATION_STARTING", since=now, starting=now, running=None, updated=now,
                   outcome=self._rule_outcome(self.app_rules, [("id", app["id"]), ("name", app["name"])], "run"))
        self._advance_app(app, now)

    def _advance_app(self, app, now):
        status = app["status"]
        if status == "APPLICATION_STARTING":
            duration, following = self.config["app_start_s"], APP_OUTCOMES[app["outcome"]]
        elif status == "APPLICATION_STOPPING":
            duration, following = self.config["app_stop_s"], "APPLICATION_STOPPED"
        else:
            return
        at = app["since"] + duration
        if now < at:
            return
        app.update(status=following, since=at, updated=at)
        if following == "APPLICATION_RUNNING":
            app["running"] = at
        elif following == "APPLICATION_STOPPED":
            app["stopped"] = at

    def api_create_app(self, project_id, body):
        fields = read_fields(body, CREATE_APP)
        with self.lock:
            now = time.monotonic()
            self._tick(now)
            project = self._ready_project(project_id)
            if sum(1 for a in self.apps.values() if a["project_id"] == project_id) >= MAX_APPS_PER_PROJECT:
                raise ApiError(9, f"project {project_id} has reached its limit of {MAX_APPS_PER_PROJECT} applications")
            app = {key: ("" if kind == "string" else [] if kind == "strings" else False if kind == "bool" else 0)
                   for key, kind in APP_COMMON.items()}
            app.update(cpu=1.0, memory=1.0)
            fields.pop("project_id", None)
            environment = dict(project["environment"], **fields.pop("environment", {}))
            app.update(fields)
            app.update(id=self._new_id(self.apps), seq=self._next_seq(), project_id=project_id, creator=self.user,
                       environment=environment, created=now, updated=now, starting=None, running=None, stopped=None)
            self._check_app(app, project)
            self._start_app(app, now)
            self.apps[app["id"]] = app
            return self._finish(self._render_app(app))

    def api_list_apps(self, project_id, query, repeat_token):
        with self.lock:
            self._tick()
            self._project(project_id)

            def resolve(doc, key):
                if key == "status":
                    return doc["status"].replace("APPLICATION_", "").lower()
                return dotted(doc, key)
            items = [self._render_app(a) for a in self.apps.values() if a["project_id"] == project_id]
            return self._page(items, "applications", query, repeat_token, APP_FILTER_KEYS, APP_SORT_KEYS, resolve,
                              newest_first=False)

    def api_get_app(self, project_id, app_id):
        with self.lock:
            self._tick()
            return self._finish(self._render_app(self._app(project_id, app_id)))

    def api_update_app(self, project_id, app_id, body):
        fields = read_fields(body, UPDATE_APP)
        with self.lock:
            now = time.monotonic()
            self._tick(now)
            app = self._app(project_id, app_id, write=True)
            updated = dict(app, **fields)
            self._check_app(updated, self.projects[project_id])
            app.update(updated)
            app["updated"] = now
            return self._finish(self._render_app(app))

    def api_app_verb(self, project_id, app_id, verb):
        with self.lock:
            now = time.monotonic()
            self._tick(now)
            app = self._app(project_id, app_id, write=True)
            if verb == "restart":
                self._start_app(app, now)
            elif app["status"] in ("APPLICATION_STARTING", "APPLICATION_RUNNING", "APPLICATION_UNKNOWN"):
                app.update(status="APPLICATION_STOPPING", since=now, updated=now)
                self._advance_app(app, now)
            return self._finish(self._render_app(app))

    def api_delete_app(self, project_id, app_id):
        with self.lock:
            self._app(project_id, app_id, write=True)
            del self.apps[app_id]
            return {}

    # ---- runtimes

    def api_list_runtimes(self, query, repeat_token):
        with self.lock:
            return self._page(copy.deepcopy(RUNTIMES), "runtimes", query, repeat_token, RUNTIME_FILTER_KEYS,
                              RUNTIME_FILTER_KEYS, lambda doc, key: dotted(doc, key), newest_first=False)

    # ---- lists

    @staticmethod
    def _bool_param(query, snake, camel):
        raw = query_param(query, snake, camel)
        if raw is None or raw == "":
            return False
        if raw.lower() in ("true", "1", "t"):
            return True
        if raw.lower() in ("false", "0", "f"):
            return False
        raise ApiError(3, f"type mismatch, parameter: {snake}, error: strconv.ParseBool: parsing {raw!r}: "
                          "invalid syntax")

    def _page(self, items, name, query, repeat_token, filter_keys, sort_keys, resolve, newest_first):
        raw_size = query_param(query, "page_size", "pageSize")
        size = 0
        if raw_size not in (None, ""):
            if not re.fullmatch(r"-?\d+", raw_size):
                raise ApiError(3, f"type mismatch, parameter: page_size, error: strconv.ParseInt: parsing "
                                  f"{raw_size[:40]!r}: invalid syntax")
            size = int(raw_size)
            if size < 0:
                raise ApiError(3, f"page_size must not be negative, got {size}")
        size = min(size or self.config["page_size"], self.config["max_page_size"])
        token = query_param(query, "page_token", "pageToken") or ""
        offset = decode_token(token) if token else 0

        matches = self._filter(query_param(query, "search_filter", "searchFilter"), filter_keys, resolve)
        items = [item for item in items if matches(item)]
        if newest_first:
            items.reverse()
        for key, descending in reversed(self._sort_keys(query_param(query, "sort"), sort_keys)):
            items.sort(key=lambda item: str(resolve(item, key) if resolve(item, key) is not None else ""),
                       reverse=descending)
        page = items[offset:offset + size]
        following = encode_token(offset + size) if offset + size < len(items) else ""
        if repeat_token and token:
            following = token
        return self._finish({name: page, "next_page_token": following})

    @staticmethod
    def _filter(raw, allowed, resolve):
        if raw in (None, ""):
            return lambda item: True
        try:
            criteria = json.loads(raw)
        except ValueError:
            criteria = None
        if not isinstance(criteria, dict):
            criteria = {"name": raw}
        for key in criteria:
            if key not in allowed:
                raise ApiError(3, f"unsupported search_filter key {key!r}; supported keys: "
                                  f"{', '.join(sorted(allowed))}")

        def text(value):
            return json.dumps(value) if isinstance(value, bool) else "" if value is None else str(value)

        def matches(item):
            for key, wanted in criteria.items():
                actual = text(resolve(item, key))
                if key in EXACT_FILTER_KEYS:
                    if actual != text(wanted):
                        return False
                elif text(wanted) not in actual:
                    return False
            return True
        return matches

    @staticmethod
    def _sort_keys(raw, allowed):
        keys = []
        for part in (raw or "").split(","):
            part = part.strip()
            if not part:
                continue
            descending = part.startswith("-")
            key = part.lstrip("+-")
            if key not in allowed:
                raise ApiError(3, f"unsupported sort key {key!r}; supported keys: {', '.join(sorted(allowed))}")
            keys.append((key, descending))
        return keys

    # ---- the call log and faults

    def record_call(self, method, path, raw_query):
        with self.lock:
            self.calls_total += 1
            entry = {"seq": self.calls_total, "time": time.time(), "method": method, "path": path,
                     "query": {k: v[-1] for k, v in parse_qs(raw_query, keep_blank_values=True).items()},
                     "status": None, "fault": None, "body": None}
            self.calls.append(entry)
            if len(self.calls) > MAX_CALLS_KEPT:
                del self.calls[0]
                self.calls_dropped += 1
            return entry

    def update_call(self, entry, **fields):
        with self.lock:
            entry.update(fields)

    def take_fault(self, method, path):
        with self.lock:
            for fault in self.faults:
                if fault["method"] and fault["method"] != method:
                    continue
                if fault["path"] and not re.search(fault["path"], path):
                    continue
                fault["hits"] += 1
                if fault["count"] is not None:
                    fault["count"] -= 1
                    if fault["count"] <= 0:
                        self.faults.remove(fault)
                return dict(fault)
            return None

    # ---- control

    def control_add_fault(self, body):
        kind = body.get("kind", "status")
        if kind not in FAULT_KINDS:
            raise ControlError(400, f"kind must be one of {sorted(FAULT_KINDS)}")
        count = body.get("count", 1)
        if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
            raise ControlError(400, "count must be a positive integer, or null for every request until DELETE /faults")
        path = body.get("path")
        if path is not None:
            try:
                re.compile(path)
            except (re.error, TypeError) as error:
                raise ControlError(400, f"path must be a regular expression: {error}")
        status = body.get("status", 503)
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise ControlError(400, "status must be an HTTP error status (400-599)")
        body_kind = body.get("body", "envelope")
        if body_kind not in ("envelope", "empty", "html"):
            raise ControlError(400, "body must be envelope, empty or html")
        delay = body.get("delay_s", 0)
        if not isinstance(delay, (int, float)) or delay < 0 or delay > 600:
            raise ControlError(400, "delay_s must be between 0 and 600")
        if kind == "delay" and not delay:
            raise ControlError(400, "a delay fault needs delay_s")
        retry_after = body.get("retry_after")
        with self.lock:
            if len(self.faults) >= MAX_FAULTS:
                raise ControlError(400, f"at most {MAX_FAULTS} faults; DELETE /faults first")
            self.fault_seq += 1
            fault = {"id": self.fault_seq, "kind": kind, "count": count, "path": path,
                     "method": (body.get("method") or "").upper() or None, "delay_s": float(delay), "status": status,
                     "code": int(body.get("code", CODE_FROM_HTTP.get(status, 2))),
                     "message": str(body.get("message") or FAULT_MESSAGES.get(status, "injected fault")),
                     "retry_after": None if retry_after is None else str(retry_after), "body": body_kind, "hits": 0}
            self.faults.append(fault)
            return {"id": fault["id"]}

    def control_seed_project(self, body):
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise ControlError(400, "name must be a non-empty string")
        status = body.get("creation_status", "success")
        visibility = body.get("visibility", "private")
        if visibility not in VISIBILITIES:
            raise ControlError(400, f"visibility must be one of {sorted(VISIBILITIES)}")
        environment = body.get("environment", {})
        if not isinstance(environment, dict):
            raise ControlError(400, "environment must be an object of strings")
        engine = body.get("default_engine_type", "ml_runtime")
        with self.lock:
            now = time.monotonic()
            try:
                owner = str(body.get("owner") or self.user)
                project = self._add_project(name, owner, owner, now, visibility=visibility,
                                            creation_status=status, final_status=status,
                                            environment={str(k): str(v) for k, v in environment.items()},
                                            description=str(body.get("description", "")),
                                            default_engine_type=engine)
            except ApiError as error:
                raise ControlError(409 if error.code == 6 else 400, error.message)
            return self._render_project(project)

    def control_project_outcome(self, body):
        outcome = body.get("outcome", "fail")
        count = body.get("count", 1)
        if outcome not in ("fail", "succeed") or not isinstance(count, int) or count < 1:
            raise ControlError(400, "outcome must be fail or succeed, count a positive integer")
        status = "success" if outcome == "succeed" else str(body.get("creation_status", "failure"))
        with self.lock:
            self.project_rules.extend([status] * count)
            return {"next_creation_statuses": list(self.project_rules)}

    def _control_rule(self, rules, body, id_key, name_key, outcomes):
        outcome = body.get("outcome")
        if outcome not in outcomes:
            raise ControlError(400, f"outcome must be one of {sorted(outcomes)}")
        count = body.get("count")
        if count is not None and (not isinstance(count, int) or count < 1):
            raise ControlError(400, "count must be a positive integer, or null until changed")
        if body.get(id_key):
            key = ("id", str(body[id_key]))
        elif body.get(name_key):
            key = ("name", str(body[name_key]))
        else:
            raise ControlError(400, f"give {id_key} or {name_key}")
        with self.lock:
            rules[key] = {"outcome": outcome, "count": count}
            return {"match": {key[0]: key[1]}, "outcome": outcome, "count": count}

    def control_job_outcome(self, body):
        return self._control_rule(self.job_rules, body, "job_id", "job_name", RUN_OUTCOMES)

    def control_app_outcome(self, body):
        return self._control_rule(self.app_rules, body, "application_id", "name", APP_OUTCOMES)

    def control_app_crash(self, body):
        with self.lock:
            now = time.monotonic()
            self._tick(now)
            app = self.apps.get(body.get("application_id"))
            if app is None:
                raise ControlError(404, f"no application {body.get('application_id')!r}; GET /state lists them")
            if app["status"] not in ("APPLICATION_STARTING", "APPLICATION_RUNNING"):
                raise ControlError(409, f"application {app['id']} is {app['status']}, not started")
            app.update(status="APPLICATION_FAILED", since=now, updated=now)
            return {"id": app["id"], "status": app["status"]}

    def control_delete_run(self, body):
        given = [key for key in ("run_id", "job_id", "job_name") if body.get(key)]
        if len(given) != 1:
            raise ControlError(400, "give exactly one of run_id, job_id or job_name")
        key, value = given[0], str(body[given[0]])
        with self.lock:
            self._tick()
            if key == "run_id":
                run = self.runs.get(value)
            else:
                field = "id" if key == "job_id" else "name"
                of_job = [r for r in self.runs.values() if self.jobs[r["job_id"]][field] == value]
                run = max(of_job, key=lambda r: r["seq"], default=None)
            if run is None:
                raise ControlError(404, f"no run with {key} {value!r}; GET /state lists the runs")
            del self.runs[run["id"]]
            return {"id": run["id"], "job_id": run["job_id"], "status": run["status"]}

    def control_faults(self):
        with self.lock:
            return {"faults": copy.deepcopy(self.faults)}

    def control_config(self, body):
        changes = {}
        for key, value in body.items():
            kind = CONFIG_KEYS.get(key)
            if kind is None:
                raise ControlError(400, f"unknown config key {key!r}; known: {sorted(CONFIG_KEYS)}")
            if kind is bool and not isinstance(value, bool):
                raise ControlError(400, f"{key} must be true or false")
            if kind in (int, float) and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
                raise ControlError(400, f"{key} must be a non-negative number")
            if kind is int and (not float(value).is_integer() or value < 1):
                raise ControlError(400, f"{key} must be a positive integer")
            if key == "empty_fields" and value not in EMPTY_FIELD_MODES:
                raise ControlError(400, f"empty_fields must be one of {EMPTY_FIELD_MODES}")
            changes[key] = kind(value)
        with self.lock:
            self._tick()  # what is due under the old durations happens under them
            self.config.update(changes)
            return dict(self.config)

    def control_calls(self, query):
        method = (query_param(query, "method") or "").upper()
        path = query_param(query, "path")
        since = query_param(query, "since")
        try:
            pattern = re.compile(path) if path else None
            since = int(since) if since else 0
        except (re.error, ValueError) as error:
            raise ControlError(400, f"path must be a regular expression and since a call seq: {error}")
        with self.lock:
            calls = [dict(c) for c in self.calls if c["seq"] > since and (not method or c["method"] == method)
                     and (pattern is None or pattern.search(c["path"]))]
            return {"calls": calls, "total": self.calls_total, "dropped": self.calls_dropped}

    def control_state(self):
        with self.lock:
            self._tick()
            mode, self.config["empty_fields"] = self.config["empty_fields"], "emit"
            try:
                projects = []
                for project in self.projects.values():
                    document = self._finish(self._render_project(project))
                    document.update(template=project["template"], git_url=project["git_url"],
                                    git_ref=project["git_ref"])
                    projects.append(document)
                return {"projects": projects,
                        "jobs": [dict(self._finish(self._render_job(j)), project_id=j["project_id"])
                                 for j in self.jobs.values()],
                        "runs": [dict(self._finish(self._render_run(r)), outcome=r["outcome"])
                                 for r in self.runs.values()],
                        "applications": [dict(self._finish(self._render_app(a)), project_id=a["project_id"])
                                         for a in self.apps.values()],
                        "faults": copy.deepcopy(self.faults), "key_valid": self.key_valid,
                        "project_rules": list(self.project_rules),
                        "job_rules": [{"match": {k[0]: k[1]}, **v} for k, v in self.job_rules.items()],
                        "application_rules": [{"match": {k[0]: k[1]}, **v} for k, v in self.app_rules.items()],
                        "config": dict(self.config, empty_fields=mode)}
            finally:
                self.config["empty_fields"] = mode


SEGMENT = r"([A-Za-z0-9_.~-]+)"
ROUTES = [
    (re.compile(r"/api/v2/projects"), {"GET": "list_projects", "POST": "create_project"}),
    (re.compile(rf"/api/v2/projects/{SEGMENT}"),
     {"GET": "get_project", "PATCH": "update_project", "DELETE": "delete_project"}),
    (re.compile(rf"/api/v2/projects/{SEGMENT}/jobs"), {"GET": "list_jobs", "POST": "create_job"}),
    (re.compile(rf"/api/v2/projects/{SEGMENT}/jobs/{SEGMENT}"),
     {"GET": "get_job", "PATCH": "update_job", "DELETE": "delete_job"}),
    (re.compile(rf"/api/v2/projects/{SEGMENT}/jobs/{SEGMENT}/runs"), {"GET": "list_runs", "POST": "create_run"}),
    (re.compile(rf"/api/v2/projects/{SEGMENT}/jobs/{SEGMENT}/runs/{SEGMENT}"), {"GET": "get_run"}),
    (re.compile(rf"/api/v2/projects/{SEGMENT}/jobs/{SEGMENT}/runs/{SEGMENT}:stop"), {"POST": "stop_run"}),
    (re.compile(rf"/api/v2/projects/{SEGMENT}/applications"), {"GET": "list_apps", "POST": "create_app"}),
    (re.compile(rf"/api/v2/projects/{SEGMENT}/applications/{SEGMENT}"),
     {"GET": "get_app", "PATCH": "update_app", "DELETE": "delete_app"}),
    (re.compile(rf"/api/v2/projects/{SEGMENT}/applications/{SEGMENT}:restart"), {"POST": "restart_app"}),
    (re.compile(rf"/api/v2/projects/{SEGMENT}/applications/{SEGMENT}:stop"), {"POST": "stop_app"}),
    (re.compile(r"/api/v2/jobs"), {"GET": "list_all_jobs"}),
    (re.compile(r"/api/v2/runtimes"), {"GET": "list_runtimes"}),
    (re.compile(r"/api/v2/auth/validate_key"), {"POST": "validate_key"}),
    (re.compile(r"/api/v2/swagger\.json"), {"GET": "swagger"}),
]
HTML_ERROR = ("<html>\r\n<head><title>{status}</title></head>\r\n<body>\r\n<center><h1>{status}</h1></center>\r\n"
              "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")


class CmlHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "envoy"
    sys_version = ""
    fake = None  # set on the subclass the server is built with
    api_key = None

    def log_message(self, *args):  # quiet: stdout carries the port line only, and nothing may echo the key
        pass

    def _send(self, status, data, content_type="application/json", headers=None):
        # Logged before a byte leaves: a test that reads /calls as soon as it has its answer sees it.
        self.fake.update_call(self.call, status=status)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _json(self, status, document, headers=None):
        self._send(status, json.dumps(document, separators=(",", ":")).encode(), headers=headers)

    def _error(self, error):
        self._json(error.http_status, envelope(error.code, error.message), error.headers)
        return error.http_status

    def _read_body(self):
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise ApiError(3, "chunked request bodies are not accepted; send Content-Length", http_status=411)
        raw_length = self.headers.get("Content-Length") or "0"
        if not raw_length.isdigit():
            self.close_connection = True
            raise ApiError(3, f"invalid Content-Length {raw_length[:20]!r}")
        length = int(raw_length)
        if length > MAX_BODY_BYTES:
            self.close_connection = True  # the body stays unread: this connection cannot carry another request
            raise ApiError(3, f"request body of {length} bytes exceeds the limit of {MAX_BODY_BYTES}",
                           http_status=413)
        return self.rfile.read(length) if length else b""

    def _authorize(self):
        header = self.headers.get("Authorization")
        if not header:
            raise ApiError(16, "missing authorization header: send Authorization: Bearer <API key>")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise ApiError(16, "malformed authorization header: expected Bearer <API key>")
        if key.strip() != self.api_key or not self.fake.key_valid:
            raise ApiError(16, "invalid API key")

    def _inject(self, fault):
        """True when the fault is the whole answer; the delay comes first either way."""
        if fault["delay_s"]:
            time.sleep(fault["delay_s"])
        kind = fault["kind"]
        if kind == "drop":
            self.close_connection = True
            return True
        if kind == "garbage":
            self._send(200, b'{"projects":[{"id":"q7w2-\x00\xff<html>Bad Gateway', "application/json")
            return True
        if kind == "status":
            headers = {"Retry-After": fault["retry_after"]} if fault["retry_after"] is not None else {}
            if fault["body"] == "envelope":
                self._json(fault["status"], envelope(fault["code"], fault["message"]), headers)
            elif fault["body"] == "html":
                phrase = f"{fault['status']} {self.responses.get(fault['status'], ('Error',))[0]}"
                self._send(fault["status"], HTML_ERROR.format(status=phrase).encode(), "text/html", headers)
            else:
                self._send(fault["status"], b"", "application/json", headers)
            return True
        return False

    def _handle(self):
        url = urlsplit(self.path)
        path = url.path
        entry = self.call = self.fake.record_call(self.command, path, url.query)
        try:
            raw = self._read_body()
        except ApiError as error:
            self._error(error)
            return
        if raw and len(raw) <= MAX_LOGGED_BODY_BYTES:
            try:
                self.fake.update_call(entry, body=json.loads(raw))
            except ValueError:
                pass
        fault = self.fake.take_fault(self.command, path)
        if fault:
            self.fake.update_call(entry, fault=fault["kind"])
            if self._inject(fault):
                return
        try:
            status, document = self._route(path, parse_qs(url.query, keep_blank_values=True), raw,
                                           repeat_token=bool(fault and fault["kind"] == "repeat_token"))
            if fault and fault["kind"] == "lost_answer":
                self.close_connection = True  # carried out; the answer never leaves
                return
            self._json(status, document)
        except ApiError as error:
            self._error(error)
        except Exception:  # a bug in the fake: answer as the gateway would, and show it on stderr
            traceback.print_exc()
            self._error(ApiError(13, "internal error"))

    def _route(self, path, query, raw, repeat_token):
        for pattern, methods in ROUTES:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            operation = methods.get(self.command)
            if operation is None:
                raise ApiError(12, "Method Not Allowed", http_status=405)
            if operation != "swagger":
                self._authorize()
            return 200, self._operation(operation, match.groups(), query, raw, repeat_token)
        raise ApiError(5, "Not Found")

    def _operation(self, operation, ids, query, raw, repeat_token):
        fake = self.fake
        if operation == "swagger":
            paths = {pattern.pattern.replace(SEGMENT, "{id}").replace("\\", ""):
                     {method.lower(): {"operationId": op} for method, op in methods.items()}
                     for pattern, methods in ROUTES}
            return {"swagger": "2.0", "info": {"title": "mlapiv2/api.proto", "version": "26.06.13",
                                               "description": "Cloudera AI REST API v2 Reference"}, "paths": paths}
        body = self._json_body(raw)
        if operation == "validate_key":
            audience = body.get("audience")
            if audience == "Application":
                raise ApiError(7, "audience mismatch")
            if audience != "API":
                raise ApiError(3, "audience must be API or Application")
            return {"valid": True, "username": fake.user, "message": "API key is valid"}
        table = {
            "list_projects": lambda: fake.api_list_projects(query, repeat_token),
            "create_project": lambda: fake.api_create_project(body),
            "get_project": lambda: fake.api_get_project(*ids),
            "update_project": lambda: fake.api_update_project(*ids, body),
            "delete_project": lambda: fake.api_delete_project(*ids),
            "list_jobs": lambda: fake.api_list_jobs(*ids, query, repeat_token),
            "list_all_jobs": lambda: fake.api_list_jobs(None, query, repeat_token),
            "create_job": lambda: fake.api_create_job(*ids, body),
            "get_job": lambda: fake.api_get_job(*ids),
            "update_job": lambda: fake.api_update_job(*ids, body),
            "delete_job": lambda: fake.api_delete_job(*ids),
            "list_runs": lambda: fake.api_list_runs(*ids, query, repeat_token),
            "create_run": lambda: fake.api_create_run(*ids, body),
            "get_run": lambda: fake.api_get_run(*ids),
            "stop_run": lambda: fake.api_stop_run(*ids),
            "list_apps": lambda: fake.api_list_apps(*ids, query, repeat_token),
            "create_app": lambda: fake.api_create_app(*ids, body),
            "get_app": lambda: fake.api_get_app(*ids),
            "update_app": lambda: fake.api_update_app(*ids, body),
            "delete_app": lambda: fake.api_delete_app(*ids),
            "restart_app": lambda: fake.api_app_verb(*ids, "restart"),
            "stop_app": lambda: fake.api_app_verb(*ids, "stop"),
            "list_runtimes": lambda: fake.api_list_runtimes(query, repeat_token),
        }
        return table[operation]()

    @staticmethod
    def _json_body(raw):
        """grpc-gateway v1 reads an empty body as an empty message."""
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except ValueError as error:
            raise ApiError(3, f"invalid character in request body: {error}")
        if not isinstance(body, dict):
            raise ApiError(3, f"json: cannot unmarshal {type(body).__name__} into a request message")
        return body

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle


class ControlHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake = None

    def log_message(self, *args):
        pass

    def _json(self, status, document):
        data = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            raise ControlError(413, f"control bodies are limited to {MAX_BODY_BYTES} bytes")
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise ControlError(400, "the body must be JSON")
        if not isinstance(body, dict):
            raise ControlError(400, "the body must be a JSON object")
        return body

    def _handle(self):
        url = urlsplit(self.path)
        fake = self.fake
        try:
            body = self._body()
            routes = {
                ("GET", "/state"): fake.control_state,
                ("GET", "/calls"): lambda: fake.control_calls(parse_qs(url.query)),
                ("GET", "/faults"): fake.control_faults,
                ("GET", "/config"): lambda: fake.control_config({}),
                ("POST", "/config"): lambda: fake.control_config(body),
                ("POST", "/reset"): lambda: (fake.reset(), {"reset": True})[1],
                ("POST", "/faults"): lambda: fake.control_add_fault(body),
                ("DELETE", "/faults"): self._clear_faults,
                ("POST", "/key"): lambda: self._set_key(body),
                ("POST", "/projects"): lambda: fake.control_seed_project(body),
                ("POST", "/projects/outcome"): lambda: fake.control_project_outcome(body),
                ("POST", "/jobs/outcome"): lambda: fake.control_job_outcome(body),
                ("POST", "/applications/outcome"): lambda: fake.control_app_outcome(body),
                ("POST", "/applications/crash"): lambda: fake.control_app_crash(body),
                ("POST", "/runs/delete"): lambda: fake.control_delete_run(body),
            }
            handler = routes.get((self.command, url.path))
            if handler is None:
                known = ", ".join(f"{m} {p}" for m, p in routes)
                raise ControlError(404, f"no control route {self.command} {url.path}; known: {known}")
            self._json(200, handler())
        except ControlError as error:
            self._json(error.status, {"error": error.text})

    def _clear_faults(self):
        with self.fake.lock:
            cleared = len(self.fake.faults)
            self.fake.faults = []
        return {"cleared": cleared}

    def _set_key(self, body):
        if not isinstance(body.get("valid"), bool):
            raise ControlError(400, "valid must be true or false")
        with self.fake.lock:
            self.fake.key_valid = body["valid"]
        return {"valid": body["valid"]}

    do_GET = do_POST = do_DELETE = _handle


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="CML API port (0: any free port)")
    parser.add_argument("--control-port", type=int, default=0)
    parser.add_argument("--api-key", default="fake-cml-api-key-4f1d2c9a7e", help="the one valid API key")
    parser.add_argument("--username", default="alice", help="the user the API key belongs to")
    parser.add_argument("--page-size", type=int, default=10, help="page size when a list request gives none")
    parser.add_argument("--max-page-size", type=int, default=100, help="larger page sizes are clamped to this")
    parser.add_argument("--project-create-s", type=float, default=1.0, help="seconds a git project is 'creating'")
    parser.add_argument("--run-scheduling-s", type=float, default=0.2)
    parser.add_argument("--run-starting-s", type=float, default=0.2)
    parser.add_argument("--run-running-s", type=float, default=1.0)
    parser.add_argument("--run-stop-s", type=float, default=0.2, help="seconds from ENGINE_STOPPING to _STOPPED")
    parser.add_argument("--app-start-s", type=float, default=1.0)
    parser.add_argument("--app-stop-s", type=float, default=0.2)
    parser.add_argument("--empty-fields", choices=EMPTY_FIELD_MODES, default="emit",
                        help="emit zero values; omit them (EmitDefaults=false); or emit unset timestamps as null")
    parser.add_argument("--dependent-runs", action="store_true",
                        help="a succeeded run starts a run of every dependent job, as CML's scheduler does")
    parser.add_argument("--allow-concurrent-runs", dest="reject_concurrent_runs", action="store_false",
                        help="accept a run of a job that already has an active run")
    args = parser.parse_args(argv)
    if args.page_size < 1 or args.max_page_size < 1:
        parser.error("--page-size and --max-page-size must be positive")

    fake = FakeCml(args)
    cml_handler = type("BoundCmlHandler", (CmlHandler,), {"fake": fake, "api_key": args.api_key})
    control_handler = type("BoundControlHandler", (ControlHandler,), {"fake": fake})
    servers = []
    for port, handler in ((args.port, cml_handler), (args.control_port, control_handler)):
        server = ThreadingHTTPServer((args.host, port), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(json.dumps({"cml_port": servers[0].server_address[1], "control_port": servers[1].server_address[1]}),
          flush=True)
    while not stop.wait(0.2):
        pass
    for server in servers:
        server.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

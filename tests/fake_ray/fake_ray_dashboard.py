#!/usr/bin/env python3
"""A fake Ray dashboard for tests: the HTTP answers of ../shared/reference/cml-and-ray-apis.md part B,
with a clock that moves jobs and Serve applications along, and a separate control server that
injects faults, adds or kills nodes and counts requests. Python standard library only.

    fake_ray_dashboard.py [--host 127.0.0.1] [--port 0] [--control-port 0] [--token T]
                          [--ray-version 2.60.0] [--workers 1] [--job-pending-s 0.5]
                          [--job-run-s 1.0] [--serve-deploy-s 1.0] [--no-serve]

At start it prints one JSON line on stdout, {"ray_port": N, "control_port": M}, and serves until
SIGTERM or SIGINT (exit status 0).

Ray port (as Ray routes them; trailing slashes matter):
    GET  /api/version                      GET  /api/cluster_status[?format=1]
    GET  /api/v0/nodes?limit=&detail=      GET  /nodes?view=summary
    POST /api/jobs/   GET /api/jobs/       GET  /api/jobs/{id}    DELETE /api/jobs/{id}
    POST /api/jobs/{id}/stop               GET  /api/jobs/{id}/logs
    GET|PUT|DELETE /api/serve/applications/
Jobs go PENDING -> RUNNING -> SUCCEEDED on the clock; an entrypoint containing "exit 1" or "fail"
ends FAILED; stop makes a live job STOPPED. Serve applications go DEPLOYING -> RUNNING, or
DEPLOY_FAILED when the import_path contains "broken". Errors are text/plain, as Ray's are.

Control port (JSON in, JSON out):
    POST /fault     {"mode": "none"|"down"|"error500"|"slow"|"garbage"|"huge",
                     "paths": ["/api/jobs/", ...] (prefixes; default all), "delay_s": 30}
                    "down" closes the Ray port's listening socket and its connections (connection
                    refused) and reopens it on the same port when the mode leaves "down".
    POST /nodes     {"action": "add", "count": 1, "cpus": 4, "memory_gb": 16, "gpus": 0, "name": N}
                    {"action": "kill"|"revive"|"remove", "node_id": "..."}
                    {"action": "rename", "node_id": "...", "name": N}  (as `ray start --node-name`;
                    a node's name is its IP otherwise)
                    {"action": "load", "node_id": "...", "cpus": 2.0}  CPUs in use on that node
                    besides the jobs and replicas (which the first node carries)
    GET  /requests  {"counts": {"/api/v0/nodes": 3, ...}, "total": N}  (Ray port, path without query)
    GET  /state     the fake's nodes, jobs and applications as it holds them
    POST /serve_churn {"application": "NAME"}  another writer at work: from now on, every
                    GET /api/serve/applications/ first redeploys application NAME (which must
                    exist) with args {"revision": N+1}, so two reads never agree (a
                    read-modify-write must see the conflict); {"application": null} stops it
    POST /reset     back to the state at start: no faults, churn, counts, jobs or applications
"""

import argparse
import copy
import hashlib
import json
import random
import signal
import socket
import string
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MAX_LIMIT = 10000
JOB_KEYS = {"entrypoint", "submission_id", "job_id", "runtime_env", "metadata", "entrypoint_num_cpus",
            "entrypoint_num_gpus", "entrypoint_memory", "entrypoint_resources", "entrypoint_label_selector"}
TERMINAL = {"STOPPED", "SUCCEEDED", "FAILED"}
FAULT_MODES = {"none", "down", "error500", "slow", "garbage", "huge"}
HUGE_BYTES = 50 * 1024 * 1024
JOB_MESSAGES = {"PENDING": "Job has not started yet.", "RUNNING": "Job is currently running.",
                "STOPPED": "Job was intentionally stopped.", "SUCCEEDED": "Job finished successfully.",
                "FAILED": "Job failed."}


def to_camel_case(snake):
    """Ray's dashboard/utils.to_camel_case, applied by the legacy envelope to every key."""
    parts = snake.split("_")
    return parts[0] + "".join(part.title() for part in parts[1:])


def to_google_style(value):
    if isinstance(value, dict):
        return {to_camel_case(k): to_google_style(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_google_style(item) if isinstance(item, dict) else item for item in value]
    return value


def now_ms():
    return int(time.time() * 1000)


def new_node_id(seed):
    return hashlib.sha256(f"fake-ray-node-{seed}".encode()).hexdigest()[:56]


class RequestError(Exception):
    def __init__(self, status, text):
        super().__init__(text)
        self.status = status
        self.text = text


class FakeRay:
    """The cluster's state. Every method takes the lock; times come from time.monotonic()."""

    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.fault = {"mode": "none", "paths": [], "delay_s": 30.0}
            self.churn = None  # the application another writer keeps redeploying
            self.churn_revision = 0
            self.counts = {}
            self.jobs = {}  # submission_id -> record, in submission order
            self.apps = {}  # name -> record
            self.serve_running = False
            self.http_options = {"host": "0.0.0.0", "port": 8000}
            self.proxy_location = "EveryNode"
            self.node_seq = 0
            self.nodes = []
            self._add_node(head=True, cpus=4, memory_gb=16, gpus=0)
            for _ in range(self.args.workers):
                self._add_node(head=False, cpus=4, memory_gb=16, gpus=0)

    # ---- nodes

    def _add_node(self, head, cpus, memory_gb, gpus, name=None):
        self.node_seq += 1
        ip = f"10.0.0.{self.node_seq + 4}"
        node_id = new_node_id(self.node_seq)
        resources = {"CPU": float(cpus), "memory": float(memory_gb) * 1024 ** 3,
                     "object_store_memory": float(memory_gb) * 1024 ** 3 * 0.3, f"node:{ip}": 1.0}
        if gpus:
            resources["GPU"] = float(gpus)
        if head:
            resources["node:__internal_head__"] = 1.0
        self.nodes.append({"node_id": node_id, "node_ip": ip, "is_head_node": head, "state": "ALIVE",
                           "state_message": None, "node_name": name or ip, "resources_total": resources,
                           "labels": {"ray.io/node-id": node_id}, "start_time_ms": now_ms(), "end_time_ms": 0})
        return node_id

    def control_nodes(self, body):
        action = body.get("action")
        with self.lock:
            if action == "add":
                ids = [self._add_node(False, body.get("cpus", 4), body.get("memory_gb", 16), body.get("gpus", 0),
                                      body.get("name"))
                       for _ in range(int(body.get("count", 1)))]
                return {"added": ids}
            node = next((n for n in self.nodes if n["node_id"] == body.get("node_id")), None)
            if node is None:
                raise RequestError(404, f"no node {body.get('node_id')!r}; GET /state lists them")
            if action == "kill":
                node.update(state="DEAD", state_message="Unexpected termination: killed by the fake",
                            end_time_ms=now_ms())
            elif action == "revive":
                node.update(state="ALIVE", state_message=None, end_time_ms=0)
            elif action == "remove":
                self.nodes.remove(node)
            elif action == "rename" and isinstance(body.get("name"), str) and body["name"]:
                node["node_name"] = body["name"]
            elif action == "load" and isinstance(body.get("cpus"), (int, float)) and body["cpus"] >= 0:
                node["load_cpus"] = float(body["cpus"])
            else:
                raise RequestError(400, "action must be add, kill, revive, remove, rename (with a name) or load "
                                        "(with cpus)")
            return {"node_id": node["node_id"], "action": action}

    # ---- jobs

    def _job_status(self, job, at=None):
        if job["final"]:
            return job["final"]
        elapsed = (at or time.monotonic()) - job["submitted"]
        if elapsed < self.args.job_pending_s:
            return "PENDING"
        if elapsed < self.args.job_pending_s + self.args.job_run_s:
            return "RUNNING"
        entrypoint = job["entrypoint"]
        job["final"] = "FAILED" if ("exit 1" in entrypoint or "fail" in entrypoint) else "SUCCEEDED"
        job["end_time"] = job["start_time"] + int((self.args.job_pending_s + self.args.job_run_s) * 1000)
        return job["final"]

    def _job_details(self, job):
        status = self._job_status(job)
        failed = status == "FAILED"
        started = status != "PENDING"
        return {"type": "SUBMISSION", "job_id": None, "submission_id": job["submission_id"],
                "driver_info": None, "status": status, "entrypoint": job["entrypoint"],
                "message": ("Job entrypoint command failed with exit code 1" if failed and not job["stopped"]
                            else JOB_MESSAGES[status]),
                "error_type": "JOB_ENTRYPOINT_COMMAND_ERROR" if failed else None,
                "start_time": job["start_time"], "end_time": job["end_time"] if status in TERMINAL else None,
                "metadata": job["metadata"], "runtime_env": job["runtime_env"],
                "driver_agent_http_address": "http://10.0.0.5:52365" if started else None,
                "driver_node_id": self.nodes[0]["node_id"] if started and self.nodes else None,
                "driver_exit_code": (1 if failed else 0 if status == "SUCCEEDED" else None)}

    def submit_job(self, raw):
        try:
            body = json.loads(raw or b"")
        except ValueError as error:
            raise RequestError(400, f"Traceback (most recent call last):\njson.decoder.JSONDecodeError: {error}\n")
        if not isinstance(body, dict):
            raise RequestError(400, "TypeError: JobSubmitRequest() argument after ** must be a mapping\n")
        body = {k: v for k, v in body.items() if v is not None}
        for key in body:
            if key not in JOB_KEYS:
                raise RequestError(400, "Traceback (most recent call last):\nTypeError: JobSubmitRequest.__init__() "
                                        f"got an unexpected keyword argument '{key}'\n")
        if not isinstance(body.get("entrypoint"), str):
            raise RequestError(400, "TypeError: entrypoint must be a string, got "
                                    f"{type(body.get('entrypoint')).__name__}\n")
        metadata = body.get("metadata", {})
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise RequestError(400, "TypeError: metadata must be a dict of strings\n")
        runtime_env = body.get("runtime_env", {})
        if not isinstance(runtime_env, dict):
            raise RequestError(400, "TypeError: runtime_env must be a dict\n")
        submission_id = body.get("submission_id") or body.get("job_id")
        if submission_id is None:
            alphabet = "".join(c for c in string.ascii_letters + string.digits if c not in "IloO0")
            submission_id = "raysubmit_" + "".join(random.choice(alphabet) for _ in range(16))
        with self.lock:
            if submission_id in self.jobs:
                raise RequestError(500, "Traceback (most recent call last):\nRuntimeError: Request failed with status "
                                        "code 400: Traceback (most recent call last):\nValueError: Job with "
                                        f"submission_id {submission_id} already exists. Please use a different "
                                        "submission_id.\n.\n")
            self.jobs[submission_id] = {"submission_id": submission_id, "entrypoint": body["entrypoint"],
                                        "metadata": metadata, "runtime_env": runtime_env or None,
                                        "submitted": time.monotonic(), "start_time": now_ms(), "end_time": None,
                                        "final": None, "stopped": False}
        return {"job_id": submission_id, "submission_id": submission_id}

    def _job(self, job_id):
        job = self.jobs.get(job_id)
        if job is None:
            raise RequestError(404, f"Job {job_id} does not exist")
        return job

    def list_jobs(self):
        with self.lock:
            return [self._job_details(job) for job in self.jobs.values()]

    def get_job(self, job_id):
        with self.lock:
            return self._job_details(self._job(job_id))

    def stop_job(self, job_id):
        with self.lock:
            job = self._job(job_id)
            if self._job_status(job) in TERMINAL:
                return {"stopped": False}
            job.update(final="STOPPED", stopped=True, end_time=now_ms())
            return {"stopped": True}

    def job_logs(self, job_id):
        with self.lock:
            job = self._job(job_id)
            status = self._job_status(job)
            if status == "PENDING":
                return {"logs": ""}
            logs = f"Running entrypoint for job {job_id}: {job['entrypoint']}\n"
            if status == "SUCCEEDED":
                logs += "done\n"
            return {"logs": logs}

    def delete_job(self, job_id):
        with self.lock:
            job = self._job(job_id)
            status = self._job_status(job)
            if status not in TERMINAL:
                raise RequestError(500, f"RuntimeError: Attempted to delete job '{job_id}', but it is in a "
                                        f"non-terminal state {status}.\n")
            del self.jobs[job_id]
            return {"deleted": True}

    # ---- Serve

    def _app_status(self, app):
        if time.monotonic() - app["deployed"] < self.args.serve_deploy_s:
            return "DEPLOYING"
        return "DEPLOY_FAILED" if "broken" in app["config"]["import_path"] else "RUNNING"

    def _app_details(self, name, app):
        status = self._app_status(app)
        config = app["config"]
        head = self.nodes[0] if self.nodes else {"node_id": "", "node_ip": ""}
        deployments = {}
        specs = config.get("deployments") or [{"name": config["import_path"].replace(":", ".").split(".")[-1]}]
        for spec in specs:
            target = spec.get("num_replicas") if isinstance(spec.get("num_replicas"), int) else 1
            replica_state = {"RUNNING": "RUNNING", "DEPLOYING": "STARTING"}.get(status)
            replicas = [] if replica_state is None else [
                {"node_id": head["node_id"], "node_ip": head["node_ip"], "actor_id": f"r{i}",
                 "actor_name": f"SERVE_REPLICA::{name}#{spec['name']}#{i}", "worker_id": f"w{i}",
                 "log_file_path": f"/serve/replica_{i}.log", "replica_id": str(i), "state": replica_state,
                 "pid": 6000 + i, "start_time_s": app["deployed_time_s"]} for i in range(target)]
            deployments[spec["name"]] = {
                "name": spec["name"],
                "status": {"RUNNING": "HEALTHY", "DEPLOYING": "UPDATING"}.get(status, "DEPLOY_FAILED"),
                "status_trigger": "CONFIG_UPDATE_COMPLETED" if status == "RUNNING" else "CONFIG_UPDATE_STARTED",
                "message": "", "deployment_config": dict(spec, num_replicas=target),
                "target_num_replicas": target, "required_resources": {"CPU": 1.0}, "replicas": replicas}
        message = ""
        if status == "DEPLOY_FAILED":
            message = (f"Deploying app '{name}' failed with exception:\nModuleNotFoundError: No module named "
                       f"'{config['import_path'].split(':')[0].split('.')[0]}'")
            deployments = {}
        return {"name": name, "route_prefix": config.get("route_prefix", "/"), "docs_path": None, "status": status,
                "message": message, "last_deployed_time_s": app["deployed_time_s"], "source": "declarative",
                "deployed_app_config": config, "deployments": deployments, "external_scaler_enabled": False}

    def control_churn(self, body):
        name = body.get("application")
        with self.lock:
            if name is not None and name not in self.apps:
                raise RequestError(404, f"no application {name!r} to churn; deploy it first")
            self.churn = name
            return {"application": name}

    def _churn(self):
        if self.churn is None or self.churn not in self.apps:
            return
        self.churn_revision += 1
        app = self.apps[self.churn]
        config = dict(app["config"], args={"revision": self.churn_revision})
        self.apps[self.churn] = {"config": config, "deployed": time.monotonic(), "deployed_time_s": time.time()}

    def serve_details(self):
        with self.lock:
            self._churn()
            if not self.serve_running:
                return {"deploy_mode": "MULTI_APP", "controller_info": {}, "proxies": {}, "applications": {},
                        "target_capacity": None}
            head = self.nodes[0]
            return {"controller_info": {"node_id": head["node_id"], "node_ip": head["node_ip"], "actor_id": "c1",
                                        "actor_name": "SERVE_CONTROLLER_ACTOR", "worker_id": "wc",
                                        "log_file_path": "/serve/controller.log"},
                    "proxy_location": self.proxy_location, "http_options": dict(self.http_options),
                    "grpc_options": {"port": 9000, "grpc_servicer_functions": []},
                    "proxies": {head["node_id"]: {"node_id": head["node_id"], "node_ip": head["node_ip"],
                                                  "actor_id": "p1", "actor_name": "SERVE_PROXY_ACTOR",
                                                  "worker_id": "wp", "log_file_path": "/serve/proxy.log",
                                                  "status": "HEALTHY"}},
                    "deploy_mode": "MULTI_APP", "target_capacity": None,
                    "applications": {name: self._app_details(name, app) for name, app in sorted(self.apps.items())}}

    def put_serve(self, raw):
        try:
            body = json.loads(raw or b"")
        except ValueError as error:
            raise RequestError(400, f"Invalid JSON: {error}")
        if not isinstance(body, dict) or not isinstance(body.get("applications"), list):
            raise RequestError(400, "1 validation error for ServeDeploySchema\napplications\n  field required "
                                    "(type=value_error.missing)")
        configs = {}
        prefixes = set()
        for app in body["applications"]:
            if not isinstance(app, dict):
                raise RequestError(400, "1 validation error for ServeDeploySchema\napplications\n  value is not a "
                                        "valid dict (type=type_error.dict)")
            config = {k: v for k, v in app.items() if v is not None or k == "route_prefix"}
            name = config.setdefault("name", "default")
            if not isinstance(name, str) or not name:
                raise RequestError(400, "1 validation error for ServeApplicationSchema\nname\n  Application names "
                                        "must be nonempty.")
            if name in configs:
                raise RequestError(400, f"1 validation error for ServeDeploySchema\napplications\n  Found duplicate "
                                        f"application names: {name}.")
            if not isinstance(config.get("import_path"), str) or config["import_path"].count(":") > 1:
                raise RequestError(400, "1 validation error for ServeApplicationSchema\nimport_path\n  field "
                                        "required, in the form 'module.sub:attr'")
            if "host" in config or "port" in config:
                raise RequestError(400, "1 validation error for ServeDeploySchema\napplications\n  host and port "
                                        "are not allowed in multi-application configs; use http_options")
            prefix = config.setdefault("route_prefix", "/")
            if prefix is not None:
                if (not isinstance(prefix, str) or not prefix.startswith("/") or "{" in prefix or "}" in prefix
                        or (prefix != "/" and prefix.endswith("/"))):
                    raise RequestError(400, f"1 validation error for ServeApplicationSchema\nroute_prefix\n  "
                                            f"Invalid route_prefix \"{prefix}\": it must start with '/', must not "
                                            f"end with '/' unless it is '/', and must not contain wildcards.")
                if prefix in prefixes:
                    raise RequestError(400, f"1 validation error for ServeDeploySchema\napplications\n  Found "
                                            f"duplicate route prefix: {prefix}.")
                prefixes.add(prefix)
            configs[name] = config
        with self.lock:
            if not self.serve_running:
                # http_options only count when Serve starts; later they are ignored with a warning.
                if isinstance(body.get("http_options"), dict):
                    self.http_options.update(body["http_options"])
                if body.get("proxy_location") in ("Disabled", "HeadOnly", "EveryNode"):
                    self.proxy_location = body["proxy_location"]
            self.serve_running = True
            kept = {}
            for name, config in configs.items():
                old = self.apps.get(name)
                if old is not None and old["config"] == config:
                    kept[name] = old
                else:
                    kept[name] = {"config": config, "deployed": time.monotonic(), "deployed_time_s": time.time()}
            self.apps = kept

    def delete_serve(self):
        with self.lock:
            self.apps = {}
            self.serve_running = False

    # ---- cluster status and nodes

    def _usage(self):
        alive = [n for n in self.nodes if n["state"] == "ALIVE"]
        totals = {}
        for node in alive:
            for name, value in node["resources_total"].items():
                totals[name] = totals.get(name, 0.0) + value
        used_cpu = sum(1.0 for job in self.jobs.values() if self._job_status(job) == "RUNNING")
        used_cpu += sum(len(d["replicas"]) for name, app in self.apps.items()
                        for d in self._app_details(name, app)["deployments"].values())
        used_cpu = min(used_cpu, totals.get("CPU", 0.0))
        loads = [min(node.get("load_cpus", 0.0), node["resources_total"].get("CPU", 0.0)) for node in alive]
        total_used = min(used_cpu + sum(loads), totals.get("CPU", 0.0))
        usage = {name: [total_used if name == "CPU" else 0.0, total] for name, total in totals.items()}
        by_node = {}
        for i, node in enumerate(alive):
            node_cpu = min((used_cpu if i == 0 else 0.0) + loads[i], node["resources_total"].get("CPU", 0.0))
            by_node[node["node_id"]] = {name: [node_cpu if name == "CPU" else 0.0, total]
                                        for name, total in node["resources_total"].items()}
        return usage, by_node

    def cluster_status(self, formatted):
        with self.lock:
            usage, by_node = self._usage()
            if formatted:
                lines = ["======== Autoscaler status: fake ========", "Node status", "Active:"]
                lines += [f" 1 node_{n['node_id']}" for n in self.nodes if n["state"] == "ALIVE"]
                lines += ["Resources", "Usage:"] + [f" {u[0]}/{u[1]} {name}" for name, u in sorted(usage.items())]
                return {"result": True, "msg": "Got formatted cluster status.",
                        "data": {"clusterStatus": "\n".join(lines)}}
            status = {"gcs_request_time": 0.001, "time": time.time(), "monitor_pid": 4242,
                      "load_metrics_report": {"usage": usage, "resource_demand": [], "pg_demand": [],
                                              "request_demand": [], "node_types": [], "head_ip": None,
                                              "usage_by_node": by_node, "node_type_mapping": None,
                                              "idle_time_map": None}}
            return {"result": True, "msg": "Got cluster status.",
                    "data": to_google_style({"autoscaling_status": None, "autoscaling_error": None,
                                             "cluster_status": status})}

    def list_nodes(self, query):
        try:
            limit = int(query.get("limit", ["100"])[0])
        except ValueError:
            return 400, {"result": False, "msg": "limit must be an integer", "data": {"result": None}}
        if limit > MAX_LIMIT:
            return 400, {"result": False, "msg": f"Given limit {limit} exceeds the supported limit {MAX_LIMIT}. Use "
                                                 "a lower limit, or set the `RAY_MAX_LIMIT_FROM_API_SERVER` "
                                                 "environment variable to a larger value.", "data": {"result": None}}
        detail = query.get("detail", ["false"])[0].lower() in ("true", "1")
        with self.lock:
            rows = sorted(copy.deepcopy(self.nodes), key=lambda n: n["node_id"])
        if not detail:
            for row in rows:
                row.pop("start_time_ms", None)
                row.pop("end_time_ms", None)
        shown = rows[:limit]
        return 200, {"result": True, "msg": "", "data": {"result": {
            "total": len(rows), "num_after_truncation": len(shown), "num_filtered": len(rows), "result": shown,
            "partial_failure_warning": "", "warnings": None}}}

    def nodes_summary(self):
        with self.lock:
            summary = [{"now": time.time(), "hostname": n["node_name"], "ip": n["node_ip"],
                        "raylet": {"node_id": n["node_id"], "node_manager_address": n["node_ip"],
                                   "state": n["state"], "is_head_node": n["is_head_node"],
                                   "node_name": n["node_name"], "resources_total": n["resources_total"],
                                   "start_time_ms": str(n["start_time_ms"]), "end_time_ms": str(n["end_time_ms"]),
                                   "state_message": n["state_message"]}} for n in self.nodes]
        return {"result": True, "msg": "Node summary fetched.",
                "data": to_google_style({"summary": summary, "node_logical_resources": {}})}

    def state(self):
        with self.lock:
            return {"nodes": copy.deepcopy(self.nodes),
                    "jobs": [self._job_details(job) for job in self.jobs.values()],
                    "serve_running": self.serve_running,
                    "applications": {name: self._app_status(app) for name, app in self.apps.items()},
                    "fault": dict(self.fault)}

    def count(self, path):
        with self.lock:
            self.counts[path] = self.counts.get(path, 0) + 1

    def fault_for(self, path):
        with self.lock:
            fault = dict(self.fault)
        if fault["mode"] == "none":
            return None
        if fault["paths"] and not any(path.startswith(prefix) for prefix in fault["paths"]):
            return None
        return fault


class RayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Python/3.11 aiohttp/3.14.5"
    fake = None  # set on the subclass the server is built with
    port_manager = None

    def log_message(self, *args):  # quiet: tests read stdout for the port line only
        pass

    def setup(self):
        super().setup()
        self.port_manager.track(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            self.port_manager.untrack(self.connection)

    def _send(self, status, body, content_type):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _json(self, status, document):
        self._send(status, json.dumps(document), "application/json; charset=utf-8")

    def _text(self, status, text):
        self._send(status, text, "text/plain; charset=utf-8")

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _authorized(self):
        token = self.fake.args.token
        if not token:
            return True
        header = self.headers.get("Authorization") or self.headers.get("X-Ray-Authorization")
        if not header:
            self._text(401, "Unauthorized: Missing authentication token")
            return False
        if header != f"Bearer {token}":
            self._text(403, "Forbidden: Invalid authentication token")
            return False
        return True

    def _inject(self, fault):
        mode = fault["mode"]
        if mode == "down":
            self.close_connection = True  # a connection that outlived the socket: drop it unanswered
            return True
        if mode == "slow":
            time.sleep(float(fault.get("delay_s", 30.0)))
            return False
        if mode == "error500":
            self._text(500, "500 Internal Server Error\n\nServer got itself in trouble (injected)")
            return True
        if mode == "garbage":
            self._send(200, b"{\"result\": tru\x00e, <html>not json", "application/json; charset=utf-8")
            return True
        if mode == "huge":
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(HUGE_BYTES))
            self.end_headers()
            chunk = b" " * (1024 * 1024)
            try:
                for _ in range(HUGE_BYTES // len(chunk)):
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            return True
        return False

    def _handle(self):
        url = urlsplit(self.path)
        path = url.path
        self.fake.count(path)
        body = self._body()  # read before any answer, so a kept-alive connection stays in step
        fault = self.fake.fault_for(path)
        if fault and self._inject(fault):
            return
        if not self._authorized():
            return
        try:
            self._route(self.command, path, parse_qs(url.query), body)
        except RequestError as error:
            self._text(error.status, error.text)

    def _route(self, method, path, query, body):
        fake = self.fake
        routes = {
            "/api/version": {"GET": lambda: self._json(200, {
                "version": "4", "ray_version": fake.args.ray_version,
                "ray_commit": "b7f4259e944bf6959f721b106adc366ddfa0c356",
                "session_name": fake.session_name})},
            "/api/cluster_status": {"GET": lambda: self._json(200, fake.cluster_status(
                query.get("format", ["0"])[0] == "1"))},
            "/api/v0/nodes": {"GET": lambda: self._json(*fake.list_nodes(query))},
            "/nodes": {"GET": lambda: self._json(200, fake.nodes_summary())
                       if query.get("view", [""])[0] == "summary"
                       else self._text(400, f"Unknown view {query.get('view', [''])[0]}")},
            "/api/jobs/": {"GET": lambda: self._json(200, fake.list_jobs()),
                           "POST": lambda: self._json(200, fake.submit_job(body))},
            "/api/serve/applications/": {"GET": self._serve_get, "PUT": lambda: self._serve_put(body),
                                         "DELETE": self._serve_delete},
        }
        if path in routes:
            handler = routes[path].get(method)
            return handler() if handler else self._text(405, "405: Method Not Allowed")
        parts = path.split("/")
        # /api/jobs/{id}, /api/jobs/{id}/stop, /api/jobs/{id}/logs
        if len(parts) in (4, 5) and parts[:3] == ["", "api", "jobs"] and parts[3]:
            job_id = parts[3]
            action = parts[4] if len(parts) == 5 else None
            table = {(None, "GET"): lambda: fake.get_job(job_id), (None, "DELETE"): lambda: fake.delete_job(job_id),
                     ("stop", "POST"): lambda: fake.stop_job(job_id), ("logs", "GET"): lambda: fake.job_logs(job_id)}
            if (action, method) in table:
                return self._json(200, table[(action, method)]())
            if action in (None, "stop", "logs"):
                return self._text(405, "405: Method Not Allowed")
        self._text(404, "404: Not Found")

    def _serve_unavailable(self):
        if self.fake.args.no_serve:
            self._text(501, 'Serve dependencies are not installed. Please run `pip install "ray[serve]"`.')
            return True
        return False

    def _serve_get(self):
        if not self._serve_unavailable():
            self._json(200, self.fake.serve_details())

    def _serve_put(self, body):
        if not self._serve_unavailable():
            self.fake.put_serve(body)
            self._send(200, b"", "application/json; charset=utf-8")

    def _serve_delete(self):
        if not self._serve_unavailable():
            self.fake.delete_serve()
            self._send(200, b"", "application/json; charset=utf-8")

    do_GET = do_POST = do_PUT = do_DELETE = _handle


class RayPort:
    """The Ray port's server, closed while the fault is "down" and reopened on the same port."""

    def __init__(self, host, port, handler):
        self.host, self.port, self.handler = host, port, handler
        self.server = None
        self.connections = set()
        self.guard = threading.Lock()
        self.open()

    def track(self, connection):
        with self.guard:
            self.connections.add(connection)

    def untrack(self, connection):
        with self.guard:
            self.connections.discard(connection)

    def open(self):
        if self.server is not None:
            return
        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer((self.host, self.port), self.handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        if self.server is None:
            return
        self.server.shutdown()
        self.server.server_close()
        self.server = None
        with self.guard:
            connections, self.connections = list(self.connections), set()
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class ControlHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake = None
    ray_port = None

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
        raw = self.rfile.read(length) if length else b"{}"
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise RequestError(400, "the body must be JSON")
        if not isinstance(body, dict):
            raise RequestError(400, "the body must be a JSON object")
        return body

    def do_GET(self):
        if self.path == "/requests":
            with self.fake.lock:
                counts = dict(self.fake.counts)
            return self._json(200, {"counts": counts, "total": sum(counts.values())})
        if self.path == "/state":
            return self._json(200, self.fake.state())
        self._json(404, {"error": "GET /requests or /state"})

    def do_POST(self):
        try:
            body = self._body()
            if self.path == "/fault":
                mode = body.get("mode", "none")
                if mode not in FAULT_MODES:
                    raise RequestError(400, f"mode must be one of {sorted(FAULT_MODES)}")
                paths = body.get("paths") or []
                if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
                    raise RequestError(400, "paths must be a list of path prefixes")
                with self.fake.lock:
                    self.fake.fault = {"mode": mode, "paths": paths, "delay_s": float(body.get("delay_s", 30.0))}
                if mode == "down":
                    self.ray_port.close()
                else:
                    self.ray_port.open()
                return self._json(200, dict(self.fake.fault, ray_port=self.ray_port.port))
            if self.path == "/nodes":
                return self._json(200, self.fake.control_nodes(body))
            if self.path == "/serve_churn":
                return self._json(200, self.fake.control_churn(body))
            if self.path == "/reset":
                self.fake.reset()
                self.ray_port.open()
                return self._json(200, {"reset": True})
            self._json(404, {"error": "POST /fault, /nodes, /serve_churn or /reset"})
        except RequestError as error:
            self._json(error.status, {"error": error.text})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="Ray dashboard port (0: any free port)")
    parser.add_argument("--control-port", type=int, default=0)
    parser.add_argument("--token", default="", help="require Authorization: Bearer TOKEN (Ray token auth)")
    parser.add_argument("--ray-version", default="2.60.0")
    parser.add_argument("--workers", type=int, default=1, help="worker nodes besides the head")
    parser.add_argument("--job-pending-s", type=float, default=0.5)
    parser.add_argument("--job-run-s", type=float, default=1.0)
    parser.add_argument("--serve-deploy-s", type=float, default=1.0)
    parser.add_argument("--no-serve", action="store_true", help="answer 501 as a Ray without ray[serve]")
    args = parser.parse_args(argv)

    fake = FakeRay(args)
    fake.session_name = time.strftime("session_%Y-%m-%d_%H-%M-%S_000000_1")
    ray_handler = type("BoundRayHandler", (RayHandler,), {"fake": fake})
    ray_port = RayPort(args.host, args.port, ray_handler)
    ray_handler.port_manager = ray_port
    control_handler = type("BoundControlHandler", (ControlHandler,), {"fake": fake, "ray_port": ray_port})
    control = ThreadingHTTPServer((args.host, args.control_port), control_handler)
    control.daemon_threads = True
    threading.Thread(target=control.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(json.dumps({"ray_port": ray_port.port, "control_port": control.server_address[1]}), flush=True)
    while not stop.wait(0.2):
        pass
    control.shutdown()
    control.server_close()
    ray_port.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

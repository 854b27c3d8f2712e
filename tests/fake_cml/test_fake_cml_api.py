"""The fake CML API v2 answers as part A of the reference says CML does (envelope, int64 strings,
pagination, search_filter, custom verbs), moves projects, runs and applications along its clock, and
injects the faults and outcomes its control port asks for."""

import http.client
import json
import os
import re
import socket
import sys
import time
import unittest
from urllib.parse import quote

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from fake_server import FakeServer  # noqa: E402

FAKE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_cml_api.py")
DEADLINE_S = 10
KEY = "test-key-5b8e0d1c-do-not-echo"
RUNTIME = "docker.repository.cloudera.com/cloudera/cdsw/ml-runtime-pbj-workbench-python3.10-standard:2025.01.1-b1"
ID_SHAPE = re.compile(r"[a-z0-9]{4}(-[a-z0-9]{4}){3}")
RUN_ID_SHAPE = re.compile(r"[a-z0-9]{16}")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
FAST = ("--page-size", "2", "--project-create-s", "0.3", "--run-scheduling-s", "0.1", "--run-starting-s", "0.1",
        "--run-running-s", "0.3", "--run-stop-s", "0.1", "--app-start-s", "0.3", "--app-stop-s", "0.1")


class Fake(FakeServer):
    def __init__(self, *args, api_key=KEY):
        super().__init__(FAKE, "--api-key", api_key, *args, deadline_s=DEADLINE_S, poll_s=0.03)
        self.key = api_key
        self.cml_port, self.control_port = self.ports["cml_port"], self.ports["control_port"]

    def request(self, method, path, body=None, port=None, headers=None, auth=True, timeout=5):
        connection = http.client.HTTPConnection("127.0.0.1", port or self.cml_port, timeout=timeout)
        try:
            all_headers = {"Authorization": f"Bearer {self.key}"} if auth and port is None else {}
            if body is not None:
                all_headers["Content-Type"] = "application/json"
            all_headers.update(headers or {})
            data = None if body is None else (body if isinstance(body, (bytes, str)) else json.dumps(body))
            connection.request(method, path, body=data, headers=all_headers)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def api(self, method, path, body=None, expect=200, **kwargs):
        status, _, data = self.request(method, path, body, **kwargs)
        if status != expect:
            raise AssertionError(f"{method} {path}: {status} {data[:300]!r}")
        return json.loads(data)

    def error(self, method, path, body=None, expect=400, code=None, **kwargs):
        """The envelope of reference A.1, with all four fields."""
        document = self.api(method, path, body, expect=expect, **kwargs)
        assert set(document) == {"error", "code", "message", "details"}, document
        assert document["error"] == document["message"] and document["details"] == [], document
        assert code is None or document["code"] == code, document
        return document

    def control(self, method, path, body=None, expect=200):
        return self.api(method, path, body, expect=expect, port=self.control_port)


def names(items):
    return [item["name"] for item in items]


class FakeCmlTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake = Fake(*FAST)

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    def setUp(self):
        self.fake.control("POST", "/reset")

    def project(self, name="ray-poc", **fields):
        return self.fake.control("POST", "/projects", dict(fields, name=name))["id"]

    def job(self, project_id, name, **fields):
        body = dict({"name": name, "script": f"jobs/{name}.py", "runtime_identifier": RUNTIME}, **fields)
        return self.fake.api("POST", f"/api/v2/projects/{project_id}/jobs", body)

    def status_of(self, path, wanted):
        document = self.fake.api("GET", path)
        return document if document["status"] == wanted else None

    def follow(self, path, final):
        """Every status a run or application shows until it reaches `final`."""
        seen = []

        def step():
            status = self.fake.api("GET", path)["status"]
            if not seen or seen[-1] != status:
                seen.append(status)
            return status == final
        self.fake.wait_for(step, f"{path} reaches {final} (seen {seen})")
        return seen


class AuthAndEnvelopeTest(FakeCmlTest):
    def test_bearer_key_is_required_and_never_echoed(self):
        answers = [self.fake.error("GET", "/api/v2/projects", expect=401, code=16, auth=False),
                   self.fake.error("GET", "/api/v2/projects", expect=401, code=16,
                                   headers={"Authorization": "Bearer wrong"}),
                   self.fake.error("GET", "/api/v2/projects", expect=401, code=16,
                                   headers={"Authorization": f"Basic {KEY}"})]
        self.assertEqual(self.fake.api("GET", "/api/v2/projects"), {"projects": [], "next_page_token": ""})
        self.assertEqual(self.fake.api("GET", "/api/v2/projects", headers={"Authorization": f"bearer {KEY}"})
                         ["projects"], [])
        self.assertEqual(self.fake.api("GET", "/api/v2/swagger.json", auth=False)["info"]["title"],
                         "mlapiv2/api.proto")

        self.assertEqual(self.fake.api("POST", "/api/v2/auth/validate_key", {"audience": "API"}),
                         {"valid": True, "username": "alice", "message": "API key is valid"})
        self.fake.error("POST", "/api/v2/auth/validate_key", {"audience": "Application"}, expect=403, code=7)
        self.fake.error("POST", "/api/v2/auth/validate_key", {"audience": "UI"}, expect=400, code=3)

        self.fake.control("POST", "/key", {"valid": False})
        answers.append(self.fake.error("GET", "/api/v2/projects", expect=401, code=16))
        answers.append(self.fake.error("POST", "/api/v2/auth/validate_key", {"audience": "API"}, expect=401))
        self.fake.control("POST", "/key", {"valid": True})
        self.fake.api("GET", "/api/v2/projects")
        for answer in answers:
            self.assertNotIn(KEY, json.dumps(answer))
        self.assertNotIn(KEY, json.dumps(self.fake.control("GET", "/calls")))
        self.assertNotIn(KEY, json.dumps(self.fake.control("GET", "/state")))

    def test_unknown_paths_and_methods_answer_in_the_envelope(self):
        self.assertEqual(self.fake.error("GET", "/api/v2/nothing", expect=404, code=5)["message"], "Not Found")
        self.fake.error("GET", "/", expect=404, code=5)
        self.fake.error("GET", "/api/v2/projects/", expect=404, code=5)
        self.fake.error("PUT", "/api/v2/projects", {}, expect=405, code=12)
        self.fake.error("GET", "/api/v2/projects/nope-nope-nope-nope", expect=404, code=5)
        self.fake.error("POST", "/api/v2/projects", "{not json", expect=400, code=3)
        self.fake.error("POST", "/api/v2/projects", [1, 2], expect=400, code=3)

    def test_bodies_are_bounded(self):
        connection = http.client.HTTPConnection("127.0.0.1", self.fake.cml_port, timeout=5)
        try:
            connection.putrequest("POST", "/api/v2/projects")
            connection.putheader("Authorization", f"Bearer {KEY}")
            connection.putheader("Content-Length", str(2 * 1024 * 1024))
            connection.endheaders()
            response = connection.getresponse()
            self.assertEqual(response.status, 413)
            self.assertEqual(json.loads(response.read())["code"], 3)
        finally:
            connection.close()
        self.assertEqual(self.fake.control("GET", "/state")["projects"], [])


class ProjectTest(FakeCmlTest):
    def test_a_git_project_is_creating_then_success(self):
        self.fake.control("POST", "/config", {"project_create_s": 600})  # cloning until released below
        created = self.fake.api("POST", "/api/v2/projects", {
            "name": "ray-poc", "template": "git", "git_url": "https://git.example.com/team/ray-poc.git",
            "visibility": "private", "default_project_engine_type": "ml_runtime"})
        self.assertRegex(created["id"], ID_SHAPE)
        self.assertEqual((created["creation_status"], created["owner"]["username"], created["slug"]),
                         ("creating", "alice", "ray-poc"))
        self.assertRegex(created["created_at"], TIMESTAMP)
        self.assertEqual(created["environment"], "{}")
        path = f"/api/v2/projects/{created['id']}"
        self.fake.error("POST", f"{path}/jobs", {"name": "j", "script": "j.py", "runtime_identifier": RUNTIME},
                        expect=400, code=9)
        self.fake.control("POST", "/config", {"project_create_s": 0.3})
        ready = self.fake.wait_for(lambda: self.status_of_project(path, "success"), "the clone finishes")
        self.assertGreater(ready["updated_at"], ready["created_at"])
        self.assertEqual(self.fake.control("GET", "/state")["projects"][0]["git_url"],
                         "https://git.example.com/team/ray-poc.git")

        self.fake.error("POST", "/api/v2/projects", {"name": "ray-poc", "git_url": "https://git.example.com/x.git"},
                        expect=409, code=6)
        for bad in ({"git_url": "https://git.example.com/x.git"}, {"name": "x", "template": "git"},
                    {"name": "x", "git_url": "not a url"}, {"name": "x", "environment": "{}"},
                    {"name": "x", "visibility": "secret"}, {"name": 7}):
            with self.subTest(bad=bad):
                self.fake.error("POST", "/api/v2/projects", bad, expect=400, code=3)

    def status_of_project(self, path, wanted):
        document = self.fake.api("GET", path)
        return document if document["creation_status"] == wanted else None

    def test_the_next_creation_fails_when_told(self):
        self.fake.control("POST", "/projects/outcome",
                          {"outcome": "fail", "creation_status": "failure: git clone failed: repository not found"})
        failing = self.fake.api("POST", "/api/v2/projects", {"name": "a", "git_url": "https://git.example.com/a.git"})
        fine = self.fake.api("POST", "/api/v2/projects", {"name": "b", "git_url": "https://git.example.com/b.git"})
        self.fake.wait_for(lambda: self.status_of_project(f"/api/v2/projects/{failing['id']}",
                                                          "failure: git clone failed: repository not found"),
                           "the first creation fails")
        self.fake.wait_for(lambda: self.status_of_project(f"/api/v2/projects/{fine['id']}", "success"),
                           "the second creation succeeds")

    def test_other_users_projects(self):
        private = self.project("theirs", owner="bob")
        public = self.project("shared", owner="bob", visibility="public")
        self.project("mine")
        self.assertEqual(names(self.fake.api("GET", "/api/v2/projects")["projects"]), ["mine"])
        listed = self.fake.api("GET", "/api/v2/projects?include_public_projects=true")["projects"]
        self.assertEqual(names(listed), ["shared", "mine"])
        self.assertEqual(names(self.fake.api("GET", "/api/v2/projects?includePublicProjects=true")["projects"]),
                         ["shared", "mine"])
        self.fake.error("GET", "/api/v2/projects?include_public_projects=maybe", expect=400, code=3)
        self.fake.error("GET", f"/api/v2/projects/{private}", expect=403, code=7)
        shared = self.fake.api("GET", f"/api/v2/projects/{public}")
        self.assertEqual((shared["permissions"]["read"], shared["permissions"]["write"]), (True, False))
        self.fake.error("POST", f"/api/v2/projects/{public}/jobs", {"name": "j", "script": "j.py"}, expect=403, code=7)
        self.fake.error("PATCH", f"/api/v2/projects/{public}", {"description": "x"}, expect=403, code=7)

    def test_update_and_delete(self):
        project_id = self.project()
        updated = self.fake.api("PATCH", f"/api/v2/projects/{project_id}",
                                {"description": "Ray POC", "environment": "{\"A\":\"1\"}", "id": "ignored"})
        self.assertEqual((updated["id"], updated["name"], updated["description"], updated["environment"]),
                         (project_id, "ray-poc", "Ray POC", "{\"A\":\"1\"}"))
        self.fake.error("PATCH", f"/api/v2/projects/{project_id}", {"environment": {"A": "1"}}, expect=400, code=3)
        job = self.job(project_id, "j")
        self.assertEqual(self.fake.api("DELETE", f"/api/v2/projects/{project_id}"), {})
        self.fake.error("GET", f"/api/v2/projects/{project_id}", expect=404, code=5)
        self.assertEqual(self.fake.api("GET", "/api/v2/jobs")["jobs"], [])
        self.assertNotIn(job["id"], json.dumps(self.fake.control("GET", "/state")))


class ListTest(FakeCmlTest):
    def pages(self, path, separator="?", size_name="page_size", token_name="page_token", size=None):
        """Every page of a list, following next_page_token; the tokens seen."""
        items, tokens, token = [], [], ""
        while True:
            query = [f"{size_name}={size}"] if size else []
            if token:
                query.append(f"{token_name}={quote(token)}")
            document = self.fake.api("GET", path + (separator + "&".join(query) if query else ""))
            items.extend(document["projects"])
            token = document["next_page_token"]
            if not token:
                return items, tokens
            self.assertNotIn(token, tokens)
            tokens.append(token)
            self.assertLess(len(tokens), 10)

    def test_pages_follow_tokens_in_both_spellings(self):
        for i in range(5):
            self.project(f"p{i}")
        expected = [f"p{i}" for i in range(5)]
        items, tokens = self.pages("/api/v2/projects")  # --page-size 2 when the request gives none
        self.assertEqual((names(items), len(tokens)), (expected, 2))
        items, tokens = self.pages("/api/v2/projects", size_name="pageSize", token_name="pageToken", size=2)
        self.assertEqual((names(items), len(tokens)), (expected, 2))
        items, tokens = self.pages("/api/v2/projects", size=4)
        self.assertEqual((names(items), len(tokens)), (expected, 1))

        self.fake.control("POST", "/config", {"max_page_size": 3})
        first = self.fake.api("GET", "/api/v2/projects?page_size=1000")
        self.assertEqual(len(first["projects"]), 3)
        self.fake.error("GET", "/api/v2/projects?page_size=abc", expect=400, code=3)
        self.fake.error("GET", "/api/v2/projects?page_size=-1", expect=400, code=3)
        self.fake.error("GET", "/api/v2/projects?page_token=not-a-token", expect=400, code=3)
        rest = self.fake.api("GET", f"/api/v2/projects?page_token={first['next_page_token']}&page_size=3")
        self.assertEqual((names(rest["projects"]), rest["next_page_token"]), (["p3", "p4"], ""))

    def test_a_repeated_token_fault(self):
        for i in range(5):
            self.project(f"p{i}")
        self.fake.control("POST", "/faults", {"kind": "repeat_token", "count": None, "path": "^/api/v2/projects$"})
        token = self.fake.api("GET", "/api/v2/projects")["next_page_token"]
        second = self.fake.api("GET", f"/api/v2/projects?page_token={token}")
        self.assertEqual(names(second["projects"]), ["p2", "p3"])
        self.assertEqual(second["next_page_token"], token)
        self.assertEqual(self.fake.api("GET", f"/api/v2/projects?page_token={token}")["next_page_token"], token)

    def test_search_filter_is_a_case_sensitive_substring_and_keys_combine(self):
        for name, owner in (("DSE", None), ("dse-tools", None), ("demo-app", None), ("DS-shared", "bob")):
            self.project(name, **({"owner": owner, "visibility": "public"} if owner else {}))

        def search(criteria, extra=""):
            raw = criteria if isinstance(criteria, str) else json.dumps(criteria)
            return names(self.fake.api("GET", f"/api/v2/projects?page_size=50&search_filter={quote(raw)}{extra}")
                         ["projects"])
        self.assertEqual(search({"name": "DS"}), ["DSE"])
        self.assertEqual(search({"name": "dse"}), ["dse-tools"])
        self.assertEqual(search({"name": "D"}, "&include_public_projects=true"), ["DSE", "DS-shared"])
        self.assertEqual(search({"name": "D", "owner.username": "bob"}, "&include_public_projects=true"),
                         ["DS-shared"])
        self.assertEqual(search({"name": "DSE", "owner.username": "bob"}, "&include_public_projects=true"), [])
        self.assertEqual(search("demo"), ["demo-app"])
        self.assertEqual(names(self.fake.api("GET", "/api/v2/projects?searchFilter=demo")["projects"]), ["demo-app"])
        self.fake.error("GET", f"/api/v2/projects?search_filter={quote(json.dumps({'colour': 'x'}))}",
                        expect=400, code=3)

        self.assertEqual(names(self.fake.api("GET", "/api/v2/projects?page_size=50&sort=-name")["projects"]),
                         ["dse-tools", "demo-app", "DSE"])
        self.assertEqual(names(self.fake.api("GET", "/api/v2/projects?page_size=50&sort=%2Bname")["projects"]),
                         ["DSE", "demo-app", "dse-tools"])
        self.fake.error("GET", "/api/v2/projects?sort=-colour", expect=400, code=3)

    def test_runtimes(self):
        runtimes = self.fake.api("GET", "/api/v2/runtimes?page_size=10")["runtimes"]
        self.assertIn(RUNTIME, [r["image_identifier"] for r in runtimes])
        filtered = self.fake.api("GET", f"/api/v2/runtimes?search_filter={quote(json.dumps({'kernel': '3.11'}))}")
        self.assertEqual([r["kernel"] for r in filtered["runtimes"]], ["Python 3.11"])


class JobTest(FakeCmlTest):
    def test_int64_fields_are_strings_and_environment_is_json_text(self):
        project_id = self.project()
        job = self.job(project_id, "nightly-train", cpu=2, memory=8, timeout=3600, arguments="--epochs 3",
                       environment={"RAY_ADDRESS": "http://ray-head:8265"})
        self.assertRegex(job["id"], ID_SHAPE)
        self.assertEqual((job["timeout"], job["engine_image_id"], job["accelerator_label_id"]), ("3600", "0", "0"))
        self.assertEqual((job["cpu"], job["memory"], job["nvidia_gpu"]), (2, 8, 0))
        self.assertEqual(job["environment"], "{\"RAY_ADDRESS\":\"http://ray-head:8265\"}")
        self.assertEqual((job["type"], job["paused"], job["kill_on_timeout"]), ("manual", False, False))
        self.assertEqual(job["project"]["public_identifier"], "alice/ray-poc")
        self.assertEqual(self.job(project_id, "quoted", timeout="60", accelerator_label_id=7)["timeout"], "60")
        for bad in ({"environment": "{\"A\":\"b\"}"}, {"environment": {"A": 1}}, {"cpu": "lots"},
                    {"timeout": 1.5}, {"nvidia_gpu": 2 ** 31}, {"paused": "yes"}, {"script": ""},
                    {"runtime_identifier": ""}, {"cpu": -1}):
            with self.subTest(bad=bad):
                self.fake.error("POST", f"/api/v2/projects/{project_id}/jobs",
                                dict({"name": "x", "script": "x.py", "runtime_identifier": RUNTIME}, **bad),
                                expect=400, code=3)
        legacy = self.project("legacy", default_engine_type="legacy_engine")
        self.assertEqual(self.fake.api("POST", f"/api/v2/projects/{legacy}/jobs",
                                       {"name": "x", "script": "x.py", "kernel": "python3"})["kernel"], "python3")

    def test_parent_chain_update_and_delete(self):
        project_id = self.project()
        base = f"/api/v2/projects/{project_id}/jobs"
        first = self.job(project_id, "git_sync")
        second = self.job(project_id, "setup_environment", parent_job_id=first["id"])
        third = self.job(project_id, "launch_ray_cluster", parent_id=second["id"])
        self.assertEqual((second["type"], second["parent_id"]), ("dependent", first["id"]))
        self.assertNotIn("parent_job_id", second)
        self.assertEqual(third["parent_id"], second["id"])
        cron = self.job(project_id, "nightly", schedule="0 2 * * *")
        self.assertEqual((cron["type"], cron["timezone"]), ("cron", "America/Los_Angeles"))
        self.fake.error("POST", base, {"name": "x", "script": "x.py", "runtime_identifier": RUNTIME,
                                       "schedule": "0 2 * * *", "parent_id": first["id"]}, expect=400, code=3)
        self.fake.error("POST", base, {"name": "x", "script": "x.py", "runtime_identifier": RUNTIME,
                                       "parent_id": "none-none-none-none"}, expect=400, code=3)

        patched = self.fake.api("PATCH", f"{base}/{first['id']}", {"cpu": 4, "timeout": "7200", "type": "cron"})
        self.assertEqual((patched["cpu"], patched["timeout"], patched["name"], patched["script"], patched["type"]),
                         (4, "7200", "git_sync", "jobs/git_sync.py", "manual"))
        self.assertGreaterEqual(patched["updated_at"], first["updated_at"])
        self.fake.error("PATCH", f"{base}/{first['id']}", {"environment": {"A": "b"}}, expect=400, code=3)
        self.assertEqual(self.fake.api("PATCH", f"{base}/{first['id']}", {"environment": "{\"A\":\"b\"}"})
                         ["environment"], "{\"A\":\"b\"}")
        self.fake.error("PATCH", f"{base}/{first['id']}", {"parent_id": third["id"]}, expect=400, code=3)
        self.fake.error("PATCH", f"{base}/{first['id']}", {"parent_id": first["id"]}, expect=400, code=3)
        # parent_job_id is CreateJobRequest's alias only: a PATCH body is a Job, which has parent_id.
        self.assertEqual(self.fake.api("PATCH", f"{base}/{third['id']}", {"parent_job_id": ""})["type"], "dependent")
        self.assertEqual(self.fake.api("PATCH", f"{base}/{third['id']}", {"parent_id": ""})["type"], "manual")

        jobs = self.fake.api("GET", f"{base}?page_size=10")["jobs"]
        self.assertEqual(names(jobs), ["git_sync", "setup_environment", "launch_ray_cluster", "nightly"])
        dependent = self.fake.api("GET", f"{base}?search_filter={quote(json.dumps({'type': 'dependent'}))}")
        self.assertEqual(names(dependent["jobs"]), ["setup_environment"])
        by_name = self.fake.api("GET", f"{base}?searchFilter={quote(json.dumps({'name': 'ray'}))}")
        self.assertEqual(names(by_name["jobs"]), ["launch_ray_cluster"])
        self.assertEqual(len(self.fake.api("GET", "/api/v2/jobs?page_size=10")["jobs"]), 4)

        self.assertEqual(self.fake.api("DELETE", f"{base}/{first['id']}"), {})
        self.fake.error("GET", f"{base}/{first['id']}", expect=404, code=5)
        self.assertEqual(self.fake.api("GET", f"{base}/{second['id']}")["type"], "manual")
        other = self.project("other")
        self.fake.error("GET", f"/api/v2/projects/{other}/jobs/{second['id']}", expect=404, code=5)


class RunTest(FakeCmlTest):
    def setUp(self):
        super().setUp()
        self.project_id = self.project()
        self.job_doc = self.job(self.project_id, "train", cpu=2, memory=8)
        self.base = f"/api/v2/projects/{self.project_id}/jobs/{self.job_doc['id']}/runs"

    def trigger(self, body=None):
        return self.fake.api("POST", self.base, {} if body is None else body)

    def test_a_run_moves_through_its_statuses(self):
        # Each phase is held until the test has seen it, then released: no window to hit in time.
        self.fake.control("POST", "/config", {"run_scheduling_s": 600, "run_running_s": 600})
        run = self.trigger({"arguments": "--epochs 1", "environment": {"RUN_MODE": "smoke"}})
        self.assertRegex(run["id"], RUN_ID_SHAPE)
        self.assertEqual((run["status"], run["project_id"], run["job_id"]),
                         ("ENGINE_SCHEDULING", self.project_id, self.job_doc["id"]))
        self.assertEqual((run["cpu"], run["memory"], run["arguments"], run["environment"]),
                         (2, 8, "--epochs 1", "{\"RUN_MODE\":\"smoke\"}"))
        self.assertRegex(run["created_at"], TIMESTAMP)
        self.assertNotIn("finished_at", run)
        busy = self.fake.error("POST", self.base, {}, expect=400, code=9)
        self.assertIn("already active", busy["message"])

        self.fake.control("POST", "/config", {"run_scheduling_s": 0.1})
        seen = self.follow(f"{self.base}/{run['id']}", "ENGINE_RUNNING")
        self.fake.control("POST", "/config", {"run_running_s": 0.3})
        seen += [s for s in self.follow(f"{self.base}/{run['id']}", "ENGINE_SUCCEEDED") if s != "ENGINE_RUNNING"]
        self.assertEqual(seen[-2:], ["ENGINE_RUNNING", "ENGINE_SUCCEEDED"])
        self.assertEqual(seen, [s for s in ["ENGINE_SCHEDULING", "ENGINE_STARTING", "ENGINE_RUNNING",
                                            "ENGINE_SUCCEEDED"] if s in seen])
        done = self.fake.api("GET", f"{self.base}/{run['id']}")
        self.assertLessEqual(done["created_at"], done["starting_at"])
        self.assertLessEqual(done["starting_at"], done["running_at"])
        self.assertLess(done["running_at"], done["finished_at"])

        self.fake.control("POST", "/config", {"run_scheduling_s": 600})  # not succeeded while the lists are read
        second = self.trigger()
        self.assertEqual(second["arguments"], "")
        runs = self.fake.api("GET", self.base)["job_runs"]
        self.assertEqual([r["id"] for r in runs], [second["id"], run["id"]])  # newest first by default
        self.assertEqual([r["id"] for r in self.fake.api("GET", f"{self.base}?sort=created_at")["job_runs"]],
                         [run["id"], second["id"]])
        succeeded = self.fake.api("GET", f"{self.base}?search_filter={quote(json.dumps({'status': 'succeeded'}))}")
        self.assertEqual([r["id"] for r in succeeded["job_runs"]], [run["id"]])
        self.fake.error("GET", f"{self.base}/nosuchrun", expect=404, code=5)

    def test_outcomes_can_be_set_per_job(self):
        self.fake.control("POST", "/jobs/outcome", {"job_name": "train", "outcome": "fail"})
        failed = self.trigger()
        self.follow(f"{self.base}/{failed['id']}", "ENGINE_FAILED")
        self.follow(f"{self.base}/{self.trigger()['id']}", "ENGINE_FAILED")
        self.fake.control("POST", "/jobs/outcome", {"job_id": self.job_doc["id"], "outcome": "timeout", "count": 1})
        self.follow(f"{self.base}/{self.trigger()['id']}", "ENGINE_TIMEDOUT")
        self.follow(f"{self.base}/{self.trigger()['id']}", "ENGINE_FAILED")  # the name rule again
        self.fake.control("POST", "/jobs/outcome", {"job_name": "train", "outcome": "succeed"})
        self.follow(f"{self.base}/{self.trigger()['id']}", "ENGINE_SUCCEEDED")
        self.fake.control("POST", "/jobs/outcome", {"job_name": "train", "outcome": "explode"}, expect=400)

    def test_stop_and_the_verb_spelling(self):
        self.fake.control("POST", "/jobs/outcome", {"job_name": "train", "outcome": "hang"})
        run = self.trigger()
        self.fake.wait_for(lambda: self.status_of(f"{self.base}/{run['id']}", "ENGINE_RUNNING"), "the run runs")
        time.sleep(0.4)  # longer than --run-running-s: a hanging run keeps running
        self.assertEqual(self.fake.api("GET", f"{self.base}/{run['id']}")["status"], "ENGINE_RUNNING")
        self.fake.error("POST", f"{self.base}/{run['id']}/stop", {}, expect=404, code=5)
        self.fake.error("POST", f"{self.base}/{run['id']}%3Astop", {}, expect=404, code=5)
        self.fake.error("GET", f"{self.base}/{run['id']}:stop", expect=405, code=12)
        stopping = self.fake.api("POST", f"{self.base}/{run['id']}:stop")
        self.assertEqual(stopping["status"], "ENGINE_STOPPING")
        self.follow(f"{self.base}/{run['id']}", "ENGINE_STOPPED")
        stopped = self.fake.api("GET", f"{self.base}/{run['id']}")
        self.assertEqual(self.fake.api("POST", f"{self.base}/{run['id']}:stop", {}), stopped)

    def test_a_run_deleted_from_cml_is_gone(self):
        finished = self.trigger()
        self.follow(f"{self.base}/{finished['id']}", "ENGINE_SUCCEEDED")
        self.fake.control("POST", "/config", {"run_scheduling_s": 600})  # active until deleted, its status known
        running = self.trigger()
        unknown = self.fake.error("GET", f"{self.base}/nosuchrun", expect=404, code=5)

        # By job name: its newest run, although it is still active.
        deleted = self.fake.control("POST", "/runs/delete", {"job_name": "train"})
        self.assertEqual(deleted, {"id": running["id"], "job_id": self.job_doc["id"], "status": "ENGINE_SCHEDULING"})
        gone = self.fake.error("GET", f"{self.base}/{running['id']}", expect=404, code=5)
        self.assertEqual(gone["message"], unknown["message"].replace("nosuchrun", running["id"]))
        self.fake.error("POST", f"{self.base}/{running['id']}:stop", expect=404, code=5)
        self.assertEqual([r["id"] for r in self.fake.api("GET", self.base)["job_runs"]], [finished["id"]])
        self.assertNotIn(running["id"], [r["id"] for r in self.fake.control("GET", "/state")["runs"]])
        replacement = self.trigger()  # the deleted run no longer counts as the job's active run

        self.assertEqual(self.fake.control("POST", "/runs/delete", {"run_id": finished["id"]})["id"], finished["id"])
        self.assertEqual(self.fake.control("POST", "/runs/delete", {"job_id": self.job_doc["id"]})["id"],
                         replacement["id"])
        self.assertEqual(self.fake.api("GET", self.base)["job_runs"], [])
        self.fake.control("POST", "/runs/delete", {"job_name": "train"}, expect=404)
        self.fake.control("POST", "/runs/delete", {"run_id": finished["id"]}, expect=404)
        self.fake.control("POST", "/runs/delete", {}, expect=400)
        self.fake.control("POST", "/runs/delete", {"run_id": "x", "job_name": "train"}, expect=400)

    def test_job_timeout_with_kill_on_timeout(self):
        job = self.job(self.project_id, "slow", timeout=1, kill_on_timeout=True)
        self.fake.control("POST", "/jobs/outcome", {"job_id": job["id"], "outcome": "hang"})
        base = f"/api/v2/projects/{self.project_id}/jobs/{job['id']}/runs"
        run = self.fake.api("POST", base, {})
        self.follow(f"{base}/{run['id']}", "ENGINE_TIMEDOUT")

    def test_concurrency_and_dependent_runs_follow_the_config(self):
        child = self.job(self.project_id, "child", parent_id=self.job_doc["id"])
        child_runs = f"/api/v2/projects/{self.project_id}/jobs/{child['id']}/runs"
        self.follow(f"{self.base}/{self.trigger()['id']}", "ENGINE_SUCCEEDED")
        self.assertEqual(self.fake.api("GET", child_runs)["job_runs"], [])

        self.fake.control("POST", "/config", {"dependent_runs": True, "reject_concurrent_runs": False})
        parent_run = self.trigger()
        self.trigger()  # a second active run of the same job is accepted now
        self.follow(f"{self.base}/{parent_run['id']}", "ENGINE_SUCCEEDED")
        started = self.fake.wait_for(lambda: self.fake.api("GET", child_runs)["job_runs"], "the child starts")
        self.follow(f"{child_runs}/{started[0]['id']}", "ENGINE_SUCCEEDED")
        posts = self.fake.control("GET", "/calls?method=POST&path=/runs$")["calls"]
        self.assertTrue(all(call["path"] == self.base for call in posts))


class ApplicationTest(FakeCmlTest):
    def test_lifecycle(self):
        project_id = self.project(environment={"PROJECT_VAR": "1"})
        base = f"/api/v2/projects/{project_id}/applications"
        body = {"name": "ray-head", "subdomain": "ray-head", "script": "apps/head.py", "cpu": 2, "memory": 8,
                "nvidia_gpu": 0, "runtime_identifier": RUNTIME, "bypass_authentication": False,
                "environment": {"PORT_ENV": "CDSW_APP_PORT"}}
        app = self.fake.api("POST", base, body)
        self.assertRegex(app["id"], ID_SHAPE)
        self.assertEqual((app["status"], app["subdomain"], app["cpu"], app["memory"], app["accelerator_label_id"]),
                         ("APPLICATION_STARTING", "ray-head", 2, 8, "0"))
        self.assertNotIn("url", app)
        self.assertEqual(json.loads(app["environment"]), {"PROJECT_VAR": "1", "PORT_ENV": "CDSW_APP_PORT"})
        self.assertRegex(app["starting_at"], TIMESTAMP)
        path = f"{base}/{app['id']}"
        running = self.fake.wait_for(lambda: self.status_of(path, "APPLICATION_RUNNING"), "the app runs")
        self.assertRegex(running["running_at"], TIMESTAMP)

        other_project = self.project("other")
        self.fake.error("POST", f"/api/v2/projects/{other_project}/applications", body, expect=409, code=6)
        for bad in ({"subdomain": "Ray_Head"}, {"subdomain": ""}, {"script": ""}, {"runtime_identifier": ""},
                    {"environment": "{}"}, {"memory": 0.0 - 1}):
            with self.subTest(bad=bad):
                self.fake.error("POST", base, {**body, "subdomain": "w", **bad}, expect=400, code=3)

        patched = self.fake.api("PATCH", path, {"cpu": 4, "status": "APPLICATION_STOPPED"})
        self.assertEqual((patched["cpu"], patched["status"], patched["name"]), (4, "APPLICATION_RUNNING", "ray-head"))
        self.assertEqual(self.fake.api("POST", f"{path}:stop")["status"], "APPLICATION_STOPPING")
        stopped = self.fake.wait_for(lambda: self.status_of(path, "APPLICATION_STOPPED"), "the app stops")
        self.assertRegex(stopped["stopped_at"], TIMESTAMP)
        self.assertEqual(self.fake.api("POST", f"{path}:stop", {}), stopped)
        in_status = f"{base}?search_filter={quote(json.dumps({'status': 'stopped'}))}"
        self.assertEqual(names(self.fake.api("GET", in_status)["applications"]), ["ray-head"])
        self.assertEqual(self.fake.api("POST", f"{path}:restart")["status"], "APPLICATION_STARTING")
        self.assertEqual(self.follow(path, "APPLICATION_RUNNING")[-1], "APPLICATION_RUNNING")
        self.assertEqual(self.fake.api("GET", in_status)["applications"], [])
        self.fake.error("POST", f"{path}:start", expect=404, code=5)

        self.fake.control("POST", "/applications/crash", {"application_id": app["id"]})
        self.assertEqual(self.fake.api("GET", path)["status"], "APPLICATION_FAILED")
        self.fake.api("POST", f"{path}:restart")
        self.fake.wait_for(lambda: self.status_of(path, "APPLICATION_RUNNING"), "the app runs again")

        self.assertEqual(self.fake.api("DELETE", path), {})
        self.fake.error("GET", path, expect=404, code=5)
        self.fake.api("POST", f"/api/v2/projects/{other_project}/applications", body)  # the subdomain is free again

    def test_an_application_can_fail_to_start(self):
        project_id = self.project()
        base = f"/api/v2/projects/{project_id}/applications"
        self.fake.control("POST", "/applications/outcome", {"name": "ray-worker-1", "outcome": "fail", "count": 1})
        body = {"name": "ray-worker-1", "subdomain": "ray-worker-1", "script": "w.py", "runtime_identifier": RUNTIME}
        self.fake.control("POST", "/config", {"app_start_s": 600})  # starting until released below
        app = self.fake.api("POST", base, body)
        self.assertEqual(self.fake.api("GET", f"{base}/{app['id']}")["status"], "APPLICATION_STARTING")
        self.fake.control("POST", "/config", {"app_start_s": 0.3})
        self.assertIn(self.follow(f"{base}/{app['id']}", "APPLICATION_FAILED"),
                      (["APPLICATION_STARTING", "APPLICATION_FAILED"], ["APPLICATION_FAILED"]))
        self.fake.api("POST", f"{base}/{app['id']}:restart")
        self.fake.wait_for(lambda: self.status_of(f"{base}/{app['id']}", "APPLICATION_RUNNING"), "the rule is spent")


class FaultTest(FakeCmlTest):
    def test_status_faults_answer_the_envelope_grpc_gateway_would(self):
        codes = {400: 3, 401: 16, 403: 7, 404: 5, 409: 10, 429: 8, 500: 13, 503: 14}
        for status, code in codes.items():
            with self.subTest(status=status):
                self.fake.control("POST", "/faults", {"kind": "status", "status": status})
                self.fake.error("GET", "/api/v2/projects", expect=status, code=code)
        self.fake.api("GET", "/api/v2/projects")

    def test_count_path_method_and_retry_after(self):
        project_id = self.project()
        self.fake.control("POST", "/faults", {"status": 429, "count": 2, "retry_after": "2",
                                              "path": "^/api/v2/projects$"})
        for _ in range(2):
            self.fake.api("GET", f"/api/v2/projects/{project_id}")  # another path: untouched
            status, headers, body = self.fake.request("GET", "/api/v2/projects")
            self.assertEqual((status, headers.get("Retry-After"), json.loads(body)["code"]), (429, "2", 8))
        self.fake.api("GET", "/api/v2/projects")

        fault = self.fake.control("POST", "/faults", {"status": 503, "count": None, "path": "/jobs", "method": "POST"})
        for _ in range(3):
            self.fake.error("POST", f"/api/v2/projects/{project_id}/jobs", {}, expect=503, code=14)
        self.fake.api("GET", f"/api/v2/projects/{project_id}/jobs")
        armed = self.fake.control("GET", "/faults")["faults"]
        self.assertEqual([(f["id"], f["hits"]) for f in armed], [(fault["id"], 3)])
        self.assertEqual(self.fake.control("DELETE", "/faults"), {"cleared": 1})
        self.fake.error("POST", f"/api/v2/projects/{project_id}/jobs", {}, expect=400, code=3)  # no name: real answer

    def test_bodies_that_are_not_the_envelope(self):
        self.fake.control("POST", "/faults", {"status": 503, "body": "html"})
        status, headers, body = self.fake.request("GET", "/api/v2/projects")
        self.assertEqual((status, headers["Content-Type"]), (503, "text/html"))
        self.assertIn(b"503 Service Unavailable", body)
        self.fake.control("POST", "/faults", {"status": 502, "body": "empty"})
        self.assertEqual(self.fake.request("GET", "/api/v2/projects")[::2], (502, b""))
        self.fake.control("POST", "/faults", {"kind": "garbage"})
        status, _, body = self.fake.request("GET", "/api/v2/projects")
        self.assertEqual(status, 200)
        with self.assertRaises(ValueError):
            json.loads(body)

    def test_delay_and_drop(self):
        self.fake.control("POST", "/faults", {"kind": "delay", "delay_s": 1.0})
        with self.assertRaises(socket.timeout):
            self.fake.request("GET", "/api/v2/projects", timeout=0.3)
        self.fake.api("GET", "/api/v2/projects", timeout=2)
        self.assertEqual([call["fault"] for call in self.fake.control("GET", "/calls")["calls"]],
                         ["delay", None])  # one delay only
        self.fake.control("POST", "/faults", {"kind": "drop"})
        with self.assertRaises(http.client.RemoteDisconnected):
            self.fake.request("GET", "/api/v2/projects")
        self.fake.api("GET", "/api/v2/projects")
        self.fake.control("POST", "/faults", {"kind": "drop", "method": "POST"})
        with self.assertRaises(http.client.RemoteDisconnected):
            self.fake.request("POST", "/api/v2/projects", {"name": "dropped"})
        self.fake.control("POST", "/faults", {"kind": "lost_answer", "method": "POST"})
        with self.assertRaises(http.client.RemoteDisconnected):
            self.fake.request("POST", "/api/v2/projects", {"name": "carried-out"})
        self.assertEqual(names(self.fake.api("GET", "/api/v2/projects")["projects"]), ["carried-out"])
        lost = self.fake.control("GET", "/calls?method=POST")["calls"]
        self.assertEqual([(c["fault"], c["status"]) for c in lost], [("drop", None), ("lost_answer", None)])
        self.fake.control("POST", "/faults", {"status": 503, "delay_s": 0.5})
        with self.assertRaises(socket.timeout):
            self.fake.request("GET", "/api/v2/projects", timeout=0.2)

    def test_control_refuses_nonsense(self):
        for bad in ({"kind": "flaky"}, {"status": 200}, {"count": 0}, {"path": "("}, {"kind": "delay"},
                    {"body": "xml"}):
            with self.subTest(bad=bad):
                self.fake.control("POST", "/faults", bad, expect=400)
        self.fake.control("POST", "/config", {"page_size": 0}, expect=400)
        self.fake.control("POST", "/config", {"empty_fields": "sometimes"}, expect=400)
        self.fake.control("POST", "/config", {"speed": 1}, expect=400)
        self.fake.control("POST", "/key", {"valid": "no"}, expect=400)
        self.fake.control("GET", "/nothing", expect=404)
        self.fake.control("POST", "/applications/crash", {"application_id": "x"}, expect=404)


class CallLogAndStateTest(FakeCmlTest):
    def test_every_call_is_recorded(self):
        self.fake.api("GET", "/api/v2/projects?page_size=2&searchFilter=x")
        created = self.fake.api("POST", "/api/v2/projects", {"name": "p", "git_url": "https://git.example.com/p"})
        self.fake.request("GET", "/api/v2/nope")
        self.fake.request("GET", "/api/v2/projects", auth=False)
        calls = self.fake.control("GET", "/calls")
        self.assertEqual(calls["total"], 4)
        listed, posted, unknown, refused = calls["calls"]
        self.assertEqual((listed["method"], listed["path"], listed["query"], listed["status"]),
                         ("GET", "/api/v2/projects", {"page_size": "2", "searchFilter": "x"}, 200))
        self.assertEqual((posted["method"], posted["body"]["name"], posted["status"]), ("POST", "p", 200))
        self.assertEqual((unknown["status"], refused["status"]), (404, 401))
        self.assertTrue(listed["time"] <= posted["time"] <= unknown["time"] <= time.time())
        self.assertEqual([c["seq"] for c in calls["calls"]], [1, 2, 3, 4])

        self.assertEqual([c["seq"] for c in self.fake.control("GET", "/calls?method=post")["calls"]], [2])
        self.assertEqual([c["seq"] for c in self.fake.control("GET", "/calls?since=2")["calls"]], [3, 4])
        self.assertEqual([c["seq"] for c in self.fake.control("GET", "/calls?path=nope$")["calls"]], [3])

        self.fake.control("POST", "/faults", {"status": 503})
        self.fake.request("GET", "/api/v2/projects")
        faulted = self.fake.control("GET", "/calls?since=4")["calls"]
        self.assertEqual([(c["status"], c["fault"]) for c in faulted], [(503, "status")])

        state = self.fake.control("GET", "/state")
        self.assertEqual([p["id"] for p in state["projects"]], [created["id"]])
        self.assertEqual((state["jobs"], state["runs"], state["applications"], state["key_valid"]),
                         ([], [], [], True))
        self.fake.control("POST", "/reset")
        self.assertEqual(self.fake.control("GET", "/calls")["total"], 0)
        self.assertEqual(self.fake.control("GET", "/state")["projects"], [])

    def test_state_holds_jobs_runs_and_applications(self):
        project_id = self.project()
        job = self.job(project_id, "j")
        run = self.fake.api("POST", f"/api/v2/projects/{project_id}/jobs/{job['id']}/runs", {})
        app = self.fake.api("POST", f"/api/v2/projects/{project_id}/applications",
                            {"name": "a", "subdomain": "a", "script": "a.py", "runtime_identifier": RUNTIME})
        state = self.fake.control("GET", "/state")
        self.assertEqual([(j["id"], j["project_id"]) for j in state["jobs"]], [(job["id"], project_id)])
        self.assertEqual([(r["id"], r["job_id"], r["outcome"]) for r in state["runs"]],
                         [(run["id"], job["id"], "succeed")])
        self.assertEqual([a["id"] for a in state["applications"]], [app["id"]])
        self.assertEqual(state["config"]["page_size"], 2)


class EmptyFieldsTest(FakeCmlTest):
    def test_zero_values_are_emitted_omitted_or_null_as_configured(self):
        project_id = self.project()
        job = self.job(project_id, "j")
        self.fake.control("POST", "/jobs/outcome", {"job_id": job["id"], "outcome": "hang"})
        run_path = f"/api/v2/projects/{project_id}/jobs/{job['id']}/runs"
        run = self.fake.api("POST", run_path, {})
        self.assertEqual((job["kernel"], job["timeout"], job["paused"]), ("", "0", False))
        self.assertNotIn("finished_at", run)

        self.fake.control("POST", "/config", {"empty_fields": "omit"})
        self.assertEqual(self.fake.api("GET", f"/api/v2/projects?search_filter={quote(json.dumps({'name': 'x'}))}"),
                         {})
        lean = self.fake.api("GET", f"/api/v2/projects/{project_id}/jobs/{job['id']}")
        for absent in ("kernel", "timeout", "paused", "engine_image_id", "parent_id", "attachments"):
            self.assertNotIn(absent, lean)
        self.assertEqual((lean["name"], lean["cpu"], lean["environment"]), ("j", 1, "{}"))
        self.assertNotIn("next_page_token", self.fake.api("GET", "/api/v2/projects"))

        self.fake.control("POST", "/config", {"empty_fields": "null"})
        self.assertIsNone(self.fake.api("GET", f"{run_path}/{run['id']}")["finished_at"])


class FakeCmlOptionsTest(unittest.TestCase):
    def test_key_user_and_sigterm(self):
        fake = Fake("--username", "svc-deployer", "--page-size", "3", api_key="another-key-1234")
        self.addCleanup(fake.stop)
        self.assertEqual(fake.api("POST", "/api/v2/auth/validate_key", {"audience": "API"})["username"],
                         "svc-deployer")
        fake.error("GET", "/api/v2/projects", expect=401, headers={"Authorization": f"Bearer {KEY}"})
        for i in range(4):
            fake.api("POST", "/api/v2/projects", {"name": f"p{i}"})
        first = fake.api("GET", "/api/v2/projects")
        self.assertEqual((len(first["projects"]), first["projects"][0]["creation_status"]), (3, "success"))
        self.assertEqual(first["projects"][0]["owner"]["username"], "svc-deployer")
        self.assertEqual(fake.stop(), 0)


if __name__ == "__main__":
    unittest.main()

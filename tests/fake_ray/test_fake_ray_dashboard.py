"""The fake Ray dashboard answers as part B of the reference says Ray does, moves jobs and Serve
applications along its clock, and injects the faults the control port asks for."""

import http.client
import json
import os
import socket
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from fake_server import FakeServer  # noqa: E402

FAKE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_ray_dashboard.py")
DEADLINE_S = 10


class Fake(FakeServer):
    def __init__(self, *args):
        super().__init__(FAKE, *args, deadline_s=DEADLINE_S)
        self.ray_port, self.control_port = self.ports["ray_port"], self.ports["control_port"]

    def request(self, method, path, body=None, port=None, headers=None, timeout=5):
        connection = http.client.HTTPConnection("127.0.0.1", port or self.ray_port, timeout=timeout)
        try:
            data = None if body is None else (body if isinstance(body, (bytes, str)) else json.dumps(body))
            connection.request(method, path, body=data, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.getheader("Content-Type", ""), response.read()
        finally:
            connection.close()

    def json(self, method, path, body=None, expect=200, **kwargs):
        status, content_type, data = self.request(method, path, body, **kwargs)
        if status != expect:
            raise AssertionError(f"{method} {path}: {status} {data[:300]!r}")
        return json.loads(data) if data else None

    def control(self, method, path, body=None):
        return self.json(method, path, body, port=self.control_port)


class FakeRayDashboardTest(unittest.TestCase):
    def setUp(self):
        self.fake = Fake("--job-pending-s", "0.2", "--job-run-s", "0.3", "--serve-deploy-s", "0.3")
        self.addCleanup(self.fake.stop)

    def test_version_cluster_status_and_nodes_have_rays_envelopes(self):
        version = self.fake.json("GET", "/api/version")
        self.assertEqual(version["ray_version"], "2.60.0")
        self.assertIn("session_name", version)

        status = self.fake.json("GET", "/api/cluster_status")
        self.assertTrue(status["result"])
        usage = status["data"]["clusterStatus"]["loadMetricsReport"]["usage"]
        self.assertEqual(usage["CPU"], [0.0, 8.0])
        self.assertIn("objectStoreMemory", usage)  # the legacy envelope camelCases every key
        self.assertIn("node:InternalHead", usage)
        formatted = self.fake.json("GET", "/api/cluster_status?format=1")
        self.assertIsInstance(formatted["data"]["clusterStatus"], str)

        nodes = self.fake.json("GET", "/api/v0/nodes?limit=10000&detail=true")["data"]["result"]
        self.assertEqual(nodes["total"], 2)
        self.assertEqual(sum(n["is_head_node"] for n in nodes["result"]), 1)
        self.assertIn("object_store_memory", nodes["result"][0]["resources_total"])  # State API: snake_case
        self.assertIn("start_time_ms", nodes["result"][0])
        brief = self.fake.json("GET", "/api/v0/nodes?limit=1")["data"]["result"]
        self.assertEqual((brief["total"], len(brief["result"])), (2, 1))
        self.assertNotIn("start_time_ms", brief["result"][0])
        over = self.fake.json("GET", "/api/v0/nodes?limit=10001", expect=400)
        self.assertFalse(over["result"])
        self.assertIsNone(over["data"]["result"])
        summary = self.fake.json("GET", "/nodes?view=summary")
        self.assertIn("isHeadNode", summary["data"]["summary"][0]["raylet"])

    def test_trailing_slashes_matter_and_errors_are_text(self):
        status, content_type, body = self.fake.request("GET", "/api/jobs")
        self.assertEqual(status, 404)
        self.assertTrue(content_type.startswith("text/plain"))
        self.assertEqual(self.fake.request("GET", "/api/serve/applications")[0], 404)
        status, content_type, body = self.fake.request("GET", "/api/jobs/nope")
        self.assertEqual((status, body), (404, b"Job nope does not exist"))
        self.assertTrue(content_type.startswith("text/plain"))

    def test_jobs_move_along_the_clock_and_end_as_their_entrypoint_says(self):
        ok = self.fake.json("POST", "/api/jobs/", {"entrypoint": "python -c 'print(1)'", "submission_id": "ok",
                                                  "metadata": {"owner": "t"}, "runtime_env": None})
        self.assertEqual(ok, {"job_id": "ok", "submission_id": "ok"})
        self.fake.json("POST", "/api/jobs/", {"entrypoint": "python fail.py", "submission_id": "bad"})
        generated = self.fake.json("POST", "/api/jobs/", {"entrypoint": "sleep 1"})["submission_id"]
        self.assertTrue(generated.startswith("raysubmit_"))
        self.assertEqual(self.fake.json("GET", "/api/jobs/ok")["status"], "PENDING")
        self.fake.wait_for(lambda: self.fake.json("GET", "/api/jobs/ok")["status"] == "SUCCEEDED", "ok succeeds")
        bad = self.fake.wait_for(lambda: (lambda j: j if j["status"] == "FAILED" else None)(
            self.fake.json("GET", "/api/jobs/bad")), "bad fails")
        self.assertEqual(bad["driver_exit_code"], 1)
        self.assertIsNotNone(bad["end_time"])
        listed = self.fake.json("GET", "/api/jobs/")
        self.assertEqual([j["submission_id"] for j in listed], ["ok", "bad", generated])
        self.assertEqual(self.fake.json("GET", "/api/jobs/ok/logs")["logs"].splitlines()[-1], "done")
        self.assertEqual(self.fake.json("POST", "/api/jobs/ok/stop"), {"stopped": False})
        self.assertEqual(self.fake.json("DELETE", "/api/jobs/ok"), {"deleted": True})
        self.assertEqual(self.fake.request("GET", "/api/jobs/ok")[0], 404)

    def test_stop_and_submission_errors(self):
        self.fake.json("POST", "/api/jobs/", {"entrypoint": "sleep 600", "submission_id": "long"})
        status, _, body = self.fake.request("DELETE", "/api/jobs/long")
        self.assertEqual(status, 500)
        self.assertIn(b"non-terminal state PENDING", body)
        self.assertEqual(self.fake.json("POST", "/api/jobs/long/stop"), {"stopped": True})
        self.assertEqual(self.fake.json("GET", "/api/jobs/long")["status"], "STOPPED")

        status, content_type, body = self.fake.request("POST", "/api/jobs/", {"entrypoint": "x", "bogus": 1})
        self.assertEqual(status, 400)
        self.assertIn(b"unexpected keyword argument 'bogus'", body)
        self.assertTrue(content_type.startswith("text/plain"))
        status, _, body = self.fake.request("POST", "/api/jobs/", {"entrypoint": "x", "submission_id": "long"})
        self.assertEqual(status, 500)
        self.assertIn(b"Request failed with status code 400", body)
        self.assertIn(b"already exists", body)
        self.assertEqual(self.fake.request("POST", "/api/jobs/", {"entrypoint": "x", "metadata": {"n": 1}})[0], 400)
        self.assertEqual(self.fake.request("POST", "/api/jobs/", "not json")[0], 400)

    def test_serve_put_replaces_the_whole_set_and_apps_reach_running_or_deploy_failed(self):
        idle = self.fake.json("GET", "/api/serve/applications/")
        self.assertEqual(idle["controller_info"], {})
        self.assertEqual(idle["applications"], {})
        config = {"http_options": {"port": 8123}, "applications": [
            {"name": "good", "route_prefix": "/good", "import_path": "mod:app",
             "deployments": [{"name": "Model", "num_replicas": 2}]},
            {"name": "bad", "route_prefix": "/bad", "import_path": "broken.module:app"}]}
        status, _, body = self.fake.request("PUT", "/api/serve/applications/", config)
        self.assertEqual((status, body), (200, b""))
        details = self.fake.json("GET", "/api/serve/applications/")
        self.assertEqual(details["http_options"]["port"], 8123)
        self.assertEqual(details["applications"]["good"]["status"], "DEPLOYING")

        def settled():
            apps = self.fake.json("GET", "/api/serve/applications/")["applications"]
            return apps if apps["good"]["status"] != "DEPLOYING" and apps["bad"]["status"] != "DEPLOYING" else None
        apps = self.fake.wait_for(settled, "both apps settle")
        self.assertEqual(apps["good"]["status"], "RUNNING")
        self.assertEqual(apps["good"]["deployments"]["Model"]["target_num_replicas"], 2)
        self.assertEqual(len(apps["good"]["deployments"]["Model"]["replicas"]), 2)
        self.assertEqual(apps["bad"]["status"], "DEPLOY_FAILED")
        self.assertIn("ModuleNotFoundError", apps["bad"]["message"])

        # Unchanged apps stay deployed; apps left out are deleted.
        self.fake.json("PUT", "/api/serve/applications/", {"applications": [config["applications"][0]]})
        apps = self.fake.json("GET", "/api/serve/applications/")["applications"]
        self.assertEqual(list(apps), ["good"])
        self.assertEqual(apps["good"]["status"], "RUNNING")

        for bad in ({"applications": [{"name": "a", "import_path": "m:a", "route_prefix": "x"}]},
                    {"applications": [{"name": "a", "import_path": "m:a", "route_prefix": "/x/"}]},
                    {"applications": [{"name": "a", "import_path": "m:a"}, {"name": "a", "import_path": "m:b",
                                                                             "route_prefix": "/b"}]},
                    {"applications": [{"name": "a", "import_path": "m:a"}, {"name": "b", "import_path": "m:b"}]},
                    {"applications": [{"name": "a", "import_path": "m:a", "port": 9}]},
                    {"applications": [{"name": "a"}]}, {"apps": []}):
            with self.subTest(bad=bad):
                status, content_type, _ = self.fake.request("PUT", "/api/serve/applications/", bad)
                self.assertEqual(status, 400)
                self.assertTrue(content_type.startswith("text/plain"))
        self.assertEqual(list(self.fake.json("GET", "/api/serve/applications/")["applications"]), ["good"])

        self.assertEqual(self.fake.request("DELETE", "/api/serve/applications/")[:3:2], (200, b""))
        self.assertEqual(self.fake.json("GET", "/api/serve/applications/")["controller_info"], {})

    def test_serve_churn_changes_the_config_between_any_two_reads_until_stopped(self):
        self.fake.json("PUT", "/api/serve/applications/",
                       {"applications": [{"name": "theirs", "route_prefix": "/t", "import_path": "m:app"}]})
        status, _, _ = self.fake.request("POST", "/serve_churn", {"application": "nope"}, port=self.fake.control_port)
        self.assertEqual(status, 404)
        self.fake.control("POST", "/serve_churn", {"application": "theirs"})
        first = self.fake.json("GET", "/api/serve/applications/")["applications"]["theirs"]["deployed_app_config"]
        second = self.fake.json("GET", "/api/serve/applications/")["applications"]["theirs"]["deployed_app_config"]
        self.assertNotEqual(first, second)
        self.assertEqual(second["import_path"], "m:app")
        self.fake.control("POST", "/serve_churn", {"application": None})
        third = self.fake.json("GET", "/api/serve/applications/")["applications"]["theirs"]["deployed_app_config"]
        fourth = self.fake.json("GET", "/api/serve/applications/")["applications"]["theirs"]["deployed_app_config"]
        self.assertEqual(third, fourth)

    def test_faults_and_recovery(self):
        self.fake.control("POST", "/fault", {"mode": "error500", "paths": ["/api/jobs/"]})
        status, content_type, _ = self.fake.request("GET", "/api/jobs/")
        self.assertEqual(status, 500)
        self.assertTrue(content_type.startswith("text/plain"))
        self.assertEqual(self.fake.request("GET", "/api/version")[0], 200)  # other paths unaffected

        self.fake.control("POST", "/fault", {"mode": "garbage"})
        status, _, body = self.fake.request("GET", "/api/v0/nodes")
        self.assertEqual(status, 200)
        with self.assertRaises(ValueError):
            json.loads(body)

        self.fake.control("POST", "/fault", {"mode": "slow", "delay_s": 1.0})
        with self.assertRaises(socket.timeout):
            self.fake.request("GET", "/api/version", timeout=0.2)

        self.fake.control("POST", "/fault", {"mode": "huge", "paths": ["/api/cluster_status"]})
        connection = http.client.HTTPConnection("127.0.0.1", self.fake.ray_port, timeout=5)
        connection.request("GET", "/api/cluster_status")
        response = connection.getresponse()
        self.assertEqual(int(response.getheader("Content-Length")), 50 * 1024 * 1024)
        self.assertEqual(len(response.read(1024)), 1024)
        connection.close()

        kept_alive = http.client.HTTPConnection("127.0.0.1", self.fake.ray_port, timeout=5)
        kept_alive.request("GET", "/api/version")
        kept_alive.getresponse().read()
        self.fake.control("POST", "/fault", {"mode": "down"})
        with self.assertRaises(ConnectionRefusedError):
            self.fake.request("GET", "/api/version")
        with self.assertRaises((ConnectionError, http.client.HTTPException, OSError)):
            kept_alive.request("GET", "/api/version")
            kept_alive.getresponse().read()
        kept_alive.close()

        self.fake.control("POST", "/fault", {"mode": "none"})
        self.assertEqual(self.fake.json("GET", "/api/version")["ray_version"], "2.60.0")
        with self.assertRaises(AssertionError):
            self.fake.control("POST", "/fault", {"mode": "flaky"})

    def test_nodes_die_and_come_back_and_requests_are_counted(self):
        nodes = self.fake.json("GET", "/api/v0/nodes?limit=100")["data"]["result"]["result"]
        worker = next(n["node_id"] for n in nodes if not n["is_head_node"])
        self.fake.control("POST", "/nodes", {"action": "kill", "node_id": worker})
        states = {n["node_id"]: n for n in self.fake.json("GET", "/api/v0/nodes")["data"]["result"]["result"]}
        self.assertEqual(states[worker]["state"], "DEAD")
        self.assertTrue(states[worker]["state_message"])
        usage = self.fake.json("GET", "/api/cluster_status")["data"]["clusterStatus"]["loadMetricsReport"]["usage"]
        self.assertEqual(usage["CPU"][1], 4.0)  # a dead node's CPUs are not capacity
        self.fake.control("POST", "/nodes", {"action": "revive", "node_id": worker})
        added = self.fake.control("POST", "/nodes", {"action": "add", "count": 2, "gpus": 1})["added"]
        self.assertEqual(len(added), 2)
        self.assertEqual(self.fake.json("GET", "/api/v0/nodes")["data"]["result"]["total"], 4)
        # Named as `ray start --node-name` names them.
        named = self.fake.control("POST", "/nodes", {"action": "add", "name": "ray-worker-7"})["added"][0]
        self.fake.control("POST", "/nodes", {"action": "rename", "node_id": worker, "name": "ray-worker-1"})
        names = {n["node_id"]: n["node_name"] for n in self.fake.json("GET", "/api/v0/nodes")["data"]["result"]["result"]}
        self.assertEqual((names[named], names[worker]), ("ray-worker-7", "ray-worker-1"))
        with self.assertRaises(AssertionError):
            self.fake.control("POST", "/nodes", {"action": "rename", "node_id": worker})
        self.fake.control("POST", "/nodes", {"action": "load", "node_id": named, "cpus": 3})
        status = self.fake.json("GET", "/api/cluster_status")["data"]["clusterStatus"]["loadMetricsReport"]
        self.assertEqual(status["usageByNode"][named]["CPU"], [3.0, 4.0])
        self.assertEqual(status["usage"]["CPU"][0], 3.0)

        counts = self.fake.control("GET", "/requests")["counts"]
        self.assertEqual(counts["/api/v0/nodes"], 4)
        self.assertEqual(counts["/api/cluster_status"], 2)
        self.fake.control("POST", "/reset")
        self.assertEqual(self.fake.control("GET", "/requests")["total"], 0)
        self.assertEqual(self.fake.json("GET", "/api/v0/nodes")["data"]["result"]["total"], 2)

    def test_sigterm_ends_it_cleanly(self):
        self.assertEqual(self.fake.stop(), 0)


class FakeRayOptionsTest(unittest.TestCase):
    def test_token_auth_answers_401_and_403_as_text(self):
        fake = Fake("--token", "s3cret")
        self.addCleanup(fake.stop)
        status, content_type, body = fake.request("GET", "/api/version")
        self.assertEqual((status, body), (401, b"Unauthorized: Missing authentication token"))
        self.assertTrue(content_type.startswith("text/plain"))
        status, _, body = fake.request("GET", "/api/version", headers={"Authorization": "Bearer wrong"})
        self.assertEqual((status, body), (403, b"Forbidden: Invalid authentication token"))
        self.assertEqual(fake.request("GET", "/api/jobs/", headers={"Authorization": "Bearer s3cret"})[0], 200)
        self.assertEqual(fake.request("GET", "/api/jobs/", headers={"X-Ray-Authorization": "Bearer s3cret"})[0], 200)

    def test_without_serve_the_serve_api_answers_501(self):
        fake = Fake("--no-serve")
        self.addCleanup(fake.stop)
        status, _, body = fake.request("GET", "/api/serve/applications/")
        self.assertEqual(status, 501)
        self.assertIn(b"ray[serve]", body)


if __name__ == "__main__":
    unittest.main()

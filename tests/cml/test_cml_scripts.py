"""The scripts the CML jobs and applications run (cml/scripts/), run here as CML would run them:
`ray` and the virtualenv's `python` are stand-ins that record their arguments, so the tests check
exactly what would be started, and that a hostile value never reaches it as anything but one
argument of its own."""

import json
import os
import subprocess
import sys
import tempfile
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = os.path.join(REPO, "cml", "scripts")
TIMEOUT_S = 60

# Records its arguments, one JSON list per line, in the file next to it.
RECORDER = """#!/bin/sh
exec "{python}" -c 'import json, sys; open(sys.argv[1], "a").write(json.dumps(sys.argv[2:]) + "\\n")' "{log}" "$@"
"""


class ScriptTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory(prefix="raydeploy-cml-scripts-")
        self.addCleanup(self.dir.cleanup)
        self.venv = os.path.join(self.dir.name, "venv")
        os.makedirs(os.path.join(self.venv, "bin"))

    def stand_in(self, name, body=None):
        """Puts an executable `name` into the virtualenv's bin/; returns the file its calls go to."""
        log = os.path.join(self.dir.name, name + ".calls")
        path = os.path.join(self.venv, "bin", name)
        with open(path, "w") as out:
            out.write(body if body is not None else RECORDER.format(python=sys.executable, log=log))
        os.chmod(path, 0o755)
        return log

    def calls(self, log):
        if not os.path.exists(log):
            return []
        with open(log) as lines:
            return [json.loads(line) for line in lines]

    def run_script(self, name, env=None, cwd=None):
        environment = {k: v for k, v in os.environ.items()
                       if k not in ("RAY_HEAD_ADDRESS", "CDSW_APP_PORT", "RAY_HEAD_PORT", "RAY_DASHBOARD_HOST")}
        environment["RAYDEPLOY_VENV"] = self.venv
        environment.update(env or {})
        return subprocess.run([sys.executable, os.path.join(SCRIPTS, name)], env=environment, cwd=cwd or self.dir.name,
                              capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


class RayLaunchers(ScriptTest):
    def test_worker_joins_the_head_named_in_its_environment(self):
        ray = self.stand_in("ray")
        result = self.run_script("ray_worker.py", {"RAY_HEAD_ADDRESS": "10.0.1.5:6379"})
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(self.calls(ray), [["start", "--address=10.0.1.5:6379", "--block"]])

    def test_worker_accepts_host_names_and_ipv6(self):
        ray = self.stand_in("ray")
        for address in ("ray-head.example.internal:6379", "[fd00::5]:6379"):
            result = self.run_script("ray_worker.py", {"RAY_HEAD_ADDRESS": address})
            self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual([call[1] for call in self.calls(ray)],
                         ["--address=ray-head.example.internal:6379", "--address=[fd00::5]:6379"])

    def test_worker_refuses_a_missing_or_hostile_address_and_starts_nothing(self):
        ray = self.stand_in("ray")
        missing = self.run_script("ray_worker.py")
        self.assertEqual(missing.returncode, 2)
        self.assertIn("RAY_HEAD_ADDRESS is not set", missing.stderr)
        for address in ("10.0.1.5", "10.0.1.5:6379 --temp-dir=/", "$(touch /tmp/owned):6379", "10.0.1.5:99999",
                        "-x:6379", "host:6379\n"):
            result = self.run_script("ray_worker.py", {"RAY_HEAD_ADDRESS": address})
            self.assertEqual(result.returncode, 2, address)
            self.assertIn("RAY_HEAD_ADDRESS must be HOST:PORT", result.stderr)
        self.assertEqual(self.calls(ray), [])

    def test_head_serves_the_dashboard_on_the_application_port(self):
        ray = self.stand_in("ray")
        result = self.run_script("ray_head.py", {"CDSW_APP_PORT": "8090"})
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(self.calls(ray), [["start", "--head", "--port=6379", "--dashboard-host=127.0.0.1",
                                            "--dashboard-port=8090", "--block"]])

    def test_head_refuses_bad_ports_and_hosts(self):
        ray = self.stand_in("ray")
        for env in ({"CDSW_APP_PORT": "80; reboot"}, {"RAY_HEAD_PORT": "0"}, {"RAY_DASHBOARD_HOST": "--temp-dir=/x"},
                    {"RAY_DASHBOARD_HOST": "0.0.0.0 --block"}):
            result = self.run_script("ray_head.py", env)
            self.assertEqual(result.returncode, 2, env)
        self.assertEqual(self.calls(ray), [])

    def test_ray_status_is_the_launchers_status(self):
        self.stand_in("ray", "#!/bin/sh\nexit 7\n")
        self.assertEqual(self.run_script("ray_worker.py", {"RAY_HEAD_ADDRESS": "10.0.1.5:6379"}).returncode, 7)


class SetupEnvironment(ScriptTest):
    def fake_python(self, version):
        """A virtualenv python that imports Ray `version` (none when None) and whose pip
        installs the one requested."""
        state = os.path.join(self.dir.name, "ray-version")
        if version:
            with open(state, "w") as out:
                out.write(version)
        pip_log = os.path.join(self.dir.name, "pip.calls")
        self.stand_in("python", f"""#!/bin/sh
if [ "$1" = "-c" ]; then cat "{state}" 2>/dev/null || exit 1; exit 0; fi
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then
  echo "$@" >> "{pip_log}"
  for last; do :; done
  echo "${{last##*==}}" > "{state}"
  exit 0
fi
exit 3
""")
        return pip_log

    def pinned(self):
        with open(os.path.join(SCRIPTS, "setup_environment.py")) as source:
            for line in source:
                if line.startswith("RAY_VERSION = "):
                    return line.split('"')[1]
        self.fail("setup_environment.py pins no RAY_VERSION")

    def test_a_virtualenv_with_the_pinned_ray_is_left_alone(self):
        pip = self.fake_python(self.pinned())
        result = self.run_script("setup_environment.py")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("nothing to do", result.stdout)
        self.assertFalse(os.path.exists(pip))

    def test_another_ray_is_replaced_by_the_pinned_one(self):
        pip = self.fake_python("2.9.3")
        result = self.run_script("setup_environment.py")
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(pip) as calls:
            self.assertEqual(calls.read().split(),
                             ["-m", "pip", "install", "--disable-pip-version-check",
                              f"ray[default,serve]=={self.pinned()}"])

    def test_the_pinned_release_is_the_ansible_targets(self):
        with open(os.path.join(REPO, "playbooks", "group_vars", "all", "ray.yml")) as ansible:
            self.assertIn(f'ray_version: "{self.pinned()}"', ansible.read())


class GitSync(ScriptTest):
    def git(self, *args, cwd):
        subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, timeout=TIMEOUT_S)

    def test_pulls_what_was_pushed_and_refuses_a_directory_that_is_no_checkout(self):
        origin = os.path.join(self.dir.name, "origin")
        project = os.path.join(self.dir.name, "project")
        os.makedirs(origin)
        identity = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"]
        self.git("init", "-q", "-b", "main", cwd=origin)
        self.git(*identity, "commit", "-q", "--allow-empty", "-m", "one", cwd=origin)
        self.git("clone", "-q", origin, project, cwd=self.dir.name)
        self.git(*identity, "commit", "-q", "--allow-empty", "-m", "two", cwd=origin)

        result = self.run_script("git_sync.py", cwd=project)
        self.assertEqual(result.returncode, 0, result.stderr)
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=origin, capture_output=True, text=True,
                              check=True).stdout.strip()
        self.assertIn(f"is at {head} (was ", result.stdout)
        again = self.run_script("git_sync.py", cwd=project)
        self.assertIn(f"is at {head} (unchanged)", again.stdout)

        elsewhere = os.path.join(self.dir.name, "plain")
        os.makedirs(elsewhere)
        refused = self.run_script("git_sync.py", cwd=elsewhere)
        self.assertEqual(refused.returncode, 1)
        self.assertIn("is not a git checkout", refused.stderr)


if __name__ == "__main__":
    unittest.main()

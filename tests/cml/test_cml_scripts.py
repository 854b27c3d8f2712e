"""The scripts the CML jobs and applications run (cml/scripts/), run here as CML would run them:
`ray` and the virtualenv's `python` are stand-ins that record their arguments, so the tests check
exactly what would be started, and that a hostile value never reaches it as anything but one
argument of its own."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
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

    def environment(self, env):
        # Nothing of the machine's own Ray or CML reaches the scripts.
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "RAYDEPLOY_", "CDSW_"))}
        environment["RAYDEPLOY_VENV"] = self.venv
        environment.update(env or {})
        return environment

    def run_script(self, name, env=None, cwd=None):
        return subprocess.run([sys.executable, os.path.join(SCRIPTS, name)], env=self.environment(env),
                              cwd=cwd or self.dir.name, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


class RayLaunchers(ScriptTest):
    """The head writes its address to a file in the project's shared files ($HOME), the workers
    read it there; HOME is a directory of the test's own."""

    CLUSTER = "ray-poc"
    HOSTILE_CLUSTERS = ("../x", "a/b", "", "UPPER", "a" * 41, "ray--poc", "-ray", "ray-poc\n", ".")

    def setUp(self):
        super().setUp()
        self.home = os.path.join(self.dir.name, "home")
        os.makedirs(self.home)
        self.address_file = os.path.join(self.home, ".raydeploy", self.CLUSTER + ".head-address")

    def head_env(self, **overrides):
        env = {"HOME": self.home, "CDSW_IP_ADDRESS": "10.0.1.5", "CDSW_APP_PORT": "8090",
               "RAYDEPLOY_RAY_CLUSTER": self.CLUSTER, "RAYDEPLOY_RAY_ROLE": "head",
               "RAYDEPLOY_RAY_NODE_NAME": "ray-poc-ray-head", "RAY_HEAD_PORT": "6379"}
        env.update(overrides)
        return {k: v for k, v in env.items() if v is not None}

    def worker_env(self, **overrides):
        env = {"HOME": self.home, "RAYDEPLOY_RAY_CLUSTER": self.CLUSTER, "RAYDEPLOY_RAY_ROLE": "worker",
               "RAYDEPLOY_RAY_NODE_NAME": "ray-poc-ray-worker-1", "RAYDEPLOY_HEAD_WAIT": "0"}
        env.update(overrides)
        return {k: v for k, v in env.items() if v is not None}

    def write_head_address(self, content):
        os.makedirs(os.path.dirname(self.address_file), exist_ok=True)
        with open(self.address_file + ".tmp", "w") as out:
            out.write(content)
        os.replace(self.address_file + ".tmp", self.address_file)

    def files_under(self, top):
        return sorted(os.path.relpath(os.path.join(where, name), top)
                      for where, _dirs, names in os.walk(top) for name in names)

    def start_script(self, name, env):
        return subprocess.Popen([sys.executable, os.path.join(SCRIPTS, name)], env=self.environment(env),
                                cwd=self.dir.name, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait_for_file(self, path):
        deadline = time.monotonic() + TIMEOUT_S
        while not os.path.exists(path):
            self.assertLess(time.monotonic(), deadline, f"{path} did not appear within {TIMEOUT_S} s")
            time.sleep(0.05)

    # The head.

    def test_head_writes_its_address_before_ray_starts_and_removes_it_when_ray_ends(self):
        seen = os.path.join(self.dir.name, "seen")
        # What the head's `ray` finds in the project: the address file, whole, and no temporary file.
        self.stand_in("ray", f"""#!/bin/sh
echo "$@" > "{seen}.argv"
cat "$HOME/.raydeploy/{self.CLUSTER}.head-address" > "{seen}.address"
stat -c %a "$HOME/.raydeploy/{self.CLUSTER}.head-address" > "{seen}.mode"
ls -A "$HOME/.raydeploy" > "{seen}.listing"
""")
        result = self.run_script("ray_head.py", self.head_env())
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(seen + ".argv") as argv:
            self.assertEqual(argv.read().split(), ["start", "--head", "--port=6379", "--node-name=ray-poc-ray-head",
                                                   "--dashboard-host=127.0.0.1", "--dashboard-port=8090", "--block"])
        with open(seen + ".address") as address:
            self.assertEqual(address.read(), "10.0.1.5:6379\n")
        with open(seen + ".mode") as mode:
            self.assertEqual(mode.read().strip(), "644")
        with open(seen + ".listing") as listing:
            self.assertEqual(listing.read().split(), [self.CLUSTER + ".head-address"])
        self.assertFalse(os.path.exists(self.address_file), "the head's address outlived the head")
        self.assertIn(f"wrote 10.0.1.5:6379 to {self.address_file}", result.stdout)

    def test_head_replaces_an_older_heads_file_atomically(self):
        self.write_head_address("10.0.9.9:6379\n")
        older = os.stat(self.address_file).st_ino
        seen = os.path.join(self.dir.name, "seen")
        self.stand_in("ray", f"""#!/bin/sh
cat "$HOME/.raydeploy/{self.CLUSTER}.head-address" > "{seen}.address"
stat -c %i "$HOME/.raydeploy/{self.CLUSTER}.head-address" > "{seen}.inode"
""")
        result = self.run_script("ray_head.py", self.head_env(RAY_HEAD_PORT="7000"))
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(seen + ".address") as address:
            self.assertEqual(address.read(), "10.0.1.5:7000\n")
        # A new file renamed over the old one, never the old one rewritten in place, which a
        # worker could read half-written.
        with open(seen + ".inode") as inode:
            self.assertNotEqual(int(inode.read()), older)

    def test_head_leaves_the_file_a_newer_head_wrote(self):
        self.stand_in("ray", f"""#!/bin/sh
printf '10.0.2.7:6379\\n' > "$HOME/.raydeploy/{self.CLUSTER}.head-address.new"
mv "$HOME/.raydeploy/{self.CLUSTER}.head-address.new" "$HOME/.raydeploy/{self.CLUSTER}.head-address"
""")
        result = self.run_script("ray_head.py", self.head_env())
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(self.address_file) as address:
            self.assertEqual(address.read(), "10.0.2.7:6379\n")

    def test_head_forwards_sigterm_to_ray_and_removes_the_file_once_ray_has_ended(self):
        ready = os.path.join(self.dir.name, "ray-ready")
        terminated = os.path.join(self.dir.name, "ray-terminated")
        # A `ray` that stays up until SIGTERM, then ends by it as Ray would.
        self.stand_in("ray", f"""#!{sys.executable}
import os, signal, time
def stop(signum, frame):
    open({terminated!r}, "w").write(str(os.path.exists({self.address_file!r})))
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
signal.signal(signal.SIGTERM, stop)
open({ready!r}, "w").close()
deadline = time.monotonic() + {TIMEOUT_S}
while time.monotonic() < deadline:
    time.sleep(0.05)
""")
        head = self.start_script("ray_head.py", self.head_env())
        self.addCleanup(head.kill)
        self.wait_for_file(ready)
        self.assertTrue(os.path.exists(self.address_file))
        head.send_signal(signal.SIGTERM)
        _out, err = head.communicate(timeout=TIMEOUT_S)
        self.assertEqual(head.returncode, 128 + signal.SIGTERM, err)
        with open(terminated) as at_sigterm:
            self.assertEqual(at_sigterm.read(), "True", "the file must stay while Ray is still stopping")
        self.assertFalse(os.path.exists(self.address_file))

    def test_head_without_a_node_name_leaves_the_name_to_ray(self):
        ray = self.stand_in("ray")
        result = self.run_script("ray_head.py", self.head_env(RAYDEPLOY_RAY_NODE_NAME=None))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(self.calls(ray), [["start", "--head", "--port=6379", "--dashboard-host=127.0.0.1",
                                            "--dashboard-port=8090", "--block"]])

    def test_head_writes_an_ipv6_address_in_brackets(self):
        seen = os.path.join(self.dir.name, "seen")
        self.stand_in("ray", f'#!/bin/sh\ncat "$HOME/.raydeploy/{self.CLUSTER}.head-address" > "{seen}"\n')
        result = self.run_script("ray_head.py", self.head_env(CDSW_IP_ADDRESS="fd00::5"))
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(seen) as address:
            self.assertEqual(address.read(), "[fd00::5]:6379\n")

    def test_head_refuses_a_missing_or_unusable_ip(self):
        ray = self.stand_in("ray")
        missing = self.run_script("ray_head.py", self.head_env(CDSW_IP_ADDRESS=None))
        self.assertEqual(missing.returncode, 2)
        self.assertIn("CDSW_IP_ADDRESS is not set", missing.stderr)
        for ip in ("10.0.1", "10.0.1.5:6379", "10.0.1.5 --block", "$(touch /tmp/owned)", "fe80::1%eth0",
                   "0.0.0.0", "127.0.0.1", "ray-head.example.internal"):
            result = self.run_script("ray_head.py", self.head_env(CDSW_IP_ADDRESS=ip))
            self.assertEqual(result.returncode, 2, ip)
            self.assertIn("CDSW_IP_ADDRESS", result.stderr)
        self.assertEqual(self.calls(ray), [])
        self.assertEqual(self.files_under(self.home), [])

    def test_head_refuses_bad_ports_hosts_and_node_names(self):
        ray = self.stand_in("ray")
        for env in ({"CDSW_APP_PORT": "80; reboot"}, {"RAY_HEAD_PORT": "0"}, {"RAY_DASHBOARD_HOST": "--temp-dir=/x"},
                    {"RAY_DASHBOARD_HOST": "0.0.0.0 --block"}, {"RAYDEPLOY_RAY_NODE_NAME": "--temp-dir=/x"},
                    {"RAYDEPLOY_RAY_NODE_NAME": "a b"}, {"RAYDEPLOY_RAY_NODE_NAME": "../x"},
                    {"RAYDEPLOY_RAY_NODE_NAME": ""}):
            result = self.run_script("ray_head.py", self.head_env(**env))
            self.assertEqual(result.returncode, 2, env)
        self.assertEqual(self.calls(ray), [])
        self.assertEqual(self.files_under(self.home), [])

    def test_ray_status_is_the_heads_status(self):
        self.stand_in("ray", "#!/bin/sh\nexit 7\n")
        self.assertEqual(self.run_script("ray_head.py", self.head_env()).returncode, 7)
        self.assertFalse(os.path.exists(self.address_file))

    # Both.

    def test_hostile_cluster_names_are_refused_and_nothing_is_written_or_read_outside(self):
        ray = self.stand_in("ray")
        # What a worker would join if a hostile name led it out of $HOME/.raydeploy.
        for decoy in ("home/x.head-address", "home/.raydeploy/a/b.head-address", "home/.raydeploy/UPPER.head-address"):
            os.makedirs(os.path.dirname(os.path.join(self.dir.name, decoy)), exist_ok=True)
            with open(os.path.join(self.dir.name, decoy), "w") as out:
                out.write("10.0.1.5:6379\n")
        before = self.files_under(self.dir.name)
        for cluster in self.HOSTILE_CLUSTERS:
            for script, env in (("ray_head.py", self.head_env(RAYDEPLOY_RAY_CLUSTER=cluster)),
                                ("ray_worker.py", self.worker_env(RAYDEPLOY_RAY_CLUSTER=cluster))):
                result = self.run_script(script, env)
                self.assertEqual(result.returncode, 2, (script, cluster))
                self.assertIn("RAYDEPLOY_RAY_CLUSTER", result.stderr)
        self.assertEqual(self.calls(ray), [])
        self.assertEqual(self.files_under(self.dir.name), before)

    # The workers.

    def test_worker_joins_the_head_named_in_the_file(self):
        ray = self.stand_in("ray")
        self.write_head_address("10.0.1.5:6379\n")
        # RAY_HEAD_ADDRESS is no longer a way in: the file is the one way.
        result = self.run_script("ray_worker.py", self.worker_env(RAY_HEAD_ADDRESS="10.9.9.9:6379"))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(self.calls(ray), [["start", "--address=10.0.1.5:6379", "--node-name=ray-poc-ray-worker-1",
                                            "--block"]])

    def test_worker_accepts_host_names_and_ipv6(self):
        ray = self.stand_in("ray")
        for address in ("ray-head.example.internal:6379", "[fd00::5]:6379"):
            self.write_head_address(address + "\n")
            result = self.run_script("ray_worker.py", self.worker_env())
            self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual([call[1] for call in self.calls(ray)],
                         ["--address=ray-head.example.internal:6379", "--address=[fd00::5]:6379"])

    def test_worker_waits_for_the_head_to_write_its_address(self):
        ray = self.stand_in("ray")
        worker = self.start_script("ray_worker.py", self.worker_env(RAYDEPLOY_HEAD_WAIT="60"))
        self.addCleanup(worker.kill)
        time.sleep(1.0)
        self.assertIsNone(worker.poll(), "the worker must wait for the head")
        self.assertEqual(self.calls(ray), [])
        self.write_head_address("10.0.1.5:6379\n")
        out, err = worker.communicate(timeout=TIMEOUT_S)
        self.assertEqual(worker.returncode, 0, err)
        self.assertIn(f"waiting for the head's address in {self.address_file}", out)
        self.assertEqual(self.calls(ray), [["start", "--address=10.0.1.5:6379", "--node-name=ray-poc-ray-worker-1",
                                            "--block"]])

    def test_worker_gives_up_after_the_wait_saying_where_to_look(self):
        ray = self.stand_in("ray")
        started = time.monotonic()
        result = self.run_script("ray_worker.py", self.worker_env(RAYDEPLOY_HEAD_WAIT="1"))
        self.assertEqual(result.returncode, 2)
        self.assertGreaterEqual(time.monotonic() - started, 1.0)
        self.assertIn(f"the head has not written its address to {self.address_file} within 1 s", result.stderr)
        self.assertIn("check the head application's log in CML", result.stderr)
        self.assertEqual(self.calls(ray), [])

    def test_worker_refuses_a_hostile_address_in_the_file_and_starts_nothing(self):
        ray = self.stand_in("ray")
        for address in ("", "10.0.1.5", "10.0.1.5:6379 --temp-dir=/", "$(touch /tmp/owned):6379", "10.0.1.5:99999",
                        "-x:6379", "10.0.1.5:6379\n--block", "10.0.1.5:0"):
            self.write_head_address(address)
            result = self.run_script("ray_worker.py", self.worker_env())
            self.assertEqual(result.returncode, 2, address)
            self.assertIn("not the head's HOST:PORT", result.stderr)
            self.assertIn("restart the head application", result.stderr)
        self.assertEqual(self.calls(ray), [])

    def test_worker_refuses_bad_node_names_and_waits(self):
        ray = self.stand_in("ray")
        self.write_head_address("10.0.1.5:6379\n")
        for env in ({"RAYDEPLOY_RAY_NODE_NAME": "--temp-dir=/x"}, {"RAYDEPLOY_RAY_NODE_NAME": "a b"},
                    {"RAYDEPLOY_HEAD_WAIT": "-1"}, {"RAYDEPLOY_HEAD_WAIT": "10m"}):
            result = self.run_script("ray_worker.py", self.worker_env(**env))
            self.assertEqual(result.returncode, 2, env)
        self.assertEqual(self.calls(ray), [])

    def test_ray_status_is_the_workers_status(self):
        self.stand_in("ray", "#!/bin/sh\nexit 7\n")
        self.write_head_address("10.0.1.5:6379\n")
        self.assertEqual(self.run_script("ray_worker.py", self.worker_env()).returncode, 7)


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

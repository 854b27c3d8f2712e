"""CML application of a Ray worker: `ray start --address=HEAD --block` from the project's virtualenv.

The head's address comes from the file the head writes,
$HOME/.raydeploy/<RAYDEPLOY_RAY_CLUSTER>.head-address: $HOME is the project's files, which every
application of the project shares, so a worker needs nothing from raydeploy to join, and a head
restarted with a new IP needs no change to the workers' specs. A worker may start before its head,
so it waits for the file, up to RAYDEPLOY_HEAD_WAIT seconds (default 600). The Ray node is named
RAYDEPLOY_RAY_NODE_NAME, the application's name, so the nodes view can say which application it
is. The address is checked to be HOST:PORT and, like every value, reaches `ray` as one argument of
its own, never through a shell.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
import time

# A host name, an IPv4 address or a bracketed IPv6 address, then a port.
ADDRESS = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):([0-9]{1,5})")
# The cluster's subdomain prefix, as raydeploy makes it: a file name component, never a path.
CLUSTER = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
CLUSTER_MAX = 40
# The application's name, a DNS label: it may not pass for an option of `ray`.
NODE_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
POLL_S = 2
PROGRESS_EVERY_S = 30


def fail(message: str):
    print(f"ray_worker: {message}", file=sys.stderr)
    sys.exit(2)


def ray_executable() -> str:
    venv = os.environ.get("RAYDEPLOY_VENV") or os.path.expanduser("~/.venv")
    candidate = os.path.join(venv, "bin", "ray")
    if os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which("ray")
    if not found:
        fail(f"no `ray` in {venv}/bin or on PATH; run the setup_environment job first")
    return found


def address_file() -> str:
    cluster = os.environ.get("RAYDEPLOY_RAY_CLUSTER", "")
    if not cluster:
        fail("RAYDEPLOY_RAY_CLUSTER is not set: it names the file the head writes its address to; "
             "launch the workers with raydeploy's launch-ray-cluster, which sets it")
    if len(cluster) > CLUSTER_MAX or not CLUSTER.fullmatch(cluster):
        fail(f"RAYDEPLOY_RAY_CLUSTER must be lowercase letters, digits and single dashes, at most {CLUSTER_MAX} "
             f"characters (such as ray-poc), not {cluster!r}")
    return os.path.join(os.path.expanduser("~"), ".raydeploy", f"{cluster}.head-address")


def node_name_arguments() -> list:
    name = os.environ.get("RAYDEPLOY_RAY_NODE_NAME")
    if name is None:
        return []
    if not NODE_NAME.fullmatch(name):
        fail(f"RAYDEPLOY_RAY_NODE_NAME must be an application name (letters, digits and dashes, at most 63), "
             f"not {name!r}")
    return [f"--node-name={name}"]


def head_wait_s() -> int:
    value = os.environ.get("RAYDEPLOY_HEAD_WAIT") or "600"
    if not value.isascii() or not value.isdigit():
        fail(f"RAYDEPLOY_HEAD_WAIT must be a number of seconds, not {value!r}")
    return int(value)


def wait_for_head_address(path: str, wait_s: int) -> str:
    started = time.monotonic()
    deadline = started + wait_s
    next_progress = started
    while True:
        try:
            # The head replaces the file atomically: what is there is a whole address.
            with open(path, encoding="utf-8", errors="replace") as written:
                return written.read(256).strip()
        except FileNotFoundError:
            pass
        except OSError as error:
            fail(f"cannot read the head's address from {path} ({error}): make it readable by the application")
        now = time.monotonic()
        if now >= deadline:
            fail(f"the head has not written its address to {path} within {wait_s} s: check the head "
                 "application's log in CML; is launch-ray-cluster's head RUNNING? (RAYDEPLOY_HEAD_WAIT "
                 "sets how long a worker waits)")
        if now >= next_progress:
            print(f"ray_worker: waiting for the head's address in {path} ({int(now - started)} s of {wait_s} s)",
                  flush=True)
            next_progress = now + PROGRESS_EVERY_S
        time.sleep(min(POLL_S, deadline - now))


def main():
    path = address_file()
    node_name = node_name_arguments()
    wait_s = head_wait_s()
    ray = ray_executable()
    address = wait_for_head_address(path, wait_s)
    match = ADDRESS.fullmatch(address)
    if not match or not 1 <= int(match.group(1)) <= 65535:
        fail(f"{path} holds {address!r}, not the head's HOST:PORT (such as 10.0.1.5:6379): restart the head "
             "application, which rewrites it, or remove the file")
    argv = [ray, "start", f"--address={address}", *node_name, "--block"]
    print("ray_worker: " + shlex.join(argv), flush=True)
    # --block keeps `ray` in the foreground: the application runs as long as the worker does.
    status = subprocess.run(argv, check=False).returncode
    sys.exit(128 - status if status < 0 else status)


if __name__ == "__main__":
    main()

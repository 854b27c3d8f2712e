"""CML application of a Ray worker: `ray start --address=HEAD --block` from the project's virtualenv.

raydeploy gives the application the head's address, HOST:PORT (the port of the head's GCS), in
RAY_HEAD_ADDRESS. It is checked to be an address and reaches `ray` as one argument of its own,
never through a shell.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys

# A host name, an IPv4 address or a bracketed IPv6 address, then a port.
ADDRESS = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):([0-9]{1,5})")


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


def main():
    address = os.environ.get("RAY_HEAD_ADDRESS", "")
    if not address:
        fail("RAY_HEAD_ADDRESS is not set: launch workers with raydeploy's launch-ray-cluster, "
             "which sets it to the head's HOST:PORT")
    match = ADDRESS.fullmatch(address)
    if not match or not 1 <= int(match.group(1)) <= 65535:
        fail(f"RAY_HEAD_ADDRESS must be HOST:PORT (such as 10.0.1.5:6379), not {address!r}")
    argv = [ray_executable(), "start", f"--address={address}", "--block"]
    print("ray_worker: " + shlex.join(argv), flush=True)
    # --block keeps `ray` in the foreground: the application runs as long as the worker does.
    sys.exit(subprocess.run(argv, check=False).returncode)


if __name__ == "__main__":
    main()

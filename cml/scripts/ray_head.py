"""CML application of the Ray head: `ray start --head --block` from the project's virtualenv.

The dashboard listens on CDSW_APP_PORT, the port CML forwards the application's subdomain to, so
the dashboard is https://<subdomain>.<workbench domain>; RAY_DASHBOARD_HOST is the address it binds
(default 127.0.0.1). Ray's GCS listens on RAY_HEAD_PORT (default 6379): the workers connect there.
Every value reaches `ray` as one argument of its own, never through a shell.
"""

import os
import shlex
import shutil
import subprocess
import sys


def fail(message: str):
    print(f"ray_head: {message}", file=sys.stderr)
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


def port(name: str, default: str) -> str:
    value = os.environ.get(name) or default
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= 65535:
        fail(f"{name} must be a port number (1 to 65535), not {value!r}")
    return str(int(value))


def main():
    dashboard_host = os.environ.get("RAY_DASHBOARD_HOST") or "127.0.0.1"
    if (not dashboard_host.isascii() or not all(c.isalnum() or c in ".:-" for c in dashboard_host)
            or dashboard_host.startswith("-")):
        fail(f"RAY_DASHBOARD_HOST must be an address such as 127.0.0.1 or 0.0.0.0, not {dashboard_host!r}")
    argv = [ray_executable(), "start", "--head",
            f"--port={port('RAY_HEAD_PORT', '6379')}",
            f"--dashboard-host={dashboard_host}",
            f"--dashboard-port={port('CDSW_APP_PORT', '8265')}",
            "--block"]
    print("ray_head: " + shlex.join(argv), flush=True)
    # --block keeps `ray` in the foreground: the application runs as long as the head does.
    sys.exit(subprocess.run(argv, check=False).returncode)


if __name__ == "__main__":
    main()

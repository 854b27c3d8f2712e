"""CML application of the Ray head: `ray start --head --block` from the project's virtualenv.

The workers find the head through a file, not through raydeploy: before Ray starts, the head
writes its address, CDSW_IP_ADDRESS (the engine's IP, which CML gives every engine) and Ray's GCS
port, to $HOME/.raydeploy/<RAYDEPLOY_RAY_CLUSTER>.head-address. $HOME is the project's files, which
every application of the project shares, so a worker needs nothing from raydeploy to join, and a
head restarted with a new IP needs no change to the workers' specs. The file is written before Ray
starts because `ray start --block` does not return while the head runs; it is replaced atomically,
so a worker never reads half an address, and removed when Ray ends unless a newer head replaced it.

The dashboard listens on CDSW_APP_PORT, the port CML forwards the application's subdomain to, so
the dashboard is https://<subdomain>.<workbench domain>; RAY_DASHBOARD_HOST is the address it binds
(default 127.0.0.1). Ray's GCS listens on RAY_HEAD_PORT (default 6379). The Ray node is named
RAYDEPLOY_RAY_NODE_NAME, the application's name, so the nodes view can say which application it is.
Every value reaches `ray` as one argument of its own, never through a shell.
"""

import ipaddress
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile

# The cluster's subdomain prefix, as raydeploy makes it: a file name component, never a path.
CLUSTER = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
CLUSTER_MAX = 40
# The application's name, a DNS label: it may not pass for an option of `ray`.
NODE_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


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


def address_file() -> str:
    cluster = os.environ.get("RAYDEPLOY_RAY_CLUSTER", "")
    if not cluster:
        fail("RAYDEPLOY_RAY_CLUSTER is not set: it names the file the workers read the head's address from; "
             "launch the cluster with raydeploy's launch-ray-cluster, which sets it")
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


def head_address(gcs_port: str) -> str:
    value = os.environ.get("CDSW_IP_ADDRESS", "")
    if not value:
        fail("CDSW_IP_ADDRESS is not set: CML gives every engine its IP there; run this script as a CML "
             "application (launch-ray-cluster's head)")
    try:
        ip = ipaddress.ip_address(value) if "%" not in value else None
    except ValueError:
        ip = None
    if ip is None:
        fail(f"CDSW_IP_ADDRESS must be the engine's IP address (such as 10.0.1.5), not {value!r}")
    if ip.is_unspecified or ip.is_loopback:
        fail(f"CDSW_IP_ADDRESS is {value}, which the workers' engines cannot reach; "
             "run this script as a CML application (launch-ray-cluster's head)")
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    return f"{host}:{gcs_port}"


def write_address(path: str, address: str):
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=".head-address-", dir=directory)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as out:
                out.write(address + "\n")
            os.chmod(temporary, 0o644)
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError as error:
        fail(f"cannot write the head's address to {path} ({error}); the workers read it there: "
             f"make {directory} writable by the application")


def remove_address_if_ours(path: str, address: str):
    # A newer head of the same cluster may have replaced the file: the workers need its address.
    try:
        with open(path, encoding="utf-8", errors="replace") as current:
            if current.read(256).strip() != address:
                return
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as error:
        print(f"ray_head: could not remove {path} ({error}); workers may try the stopped head until "
              "another head replaces it", file=sys.stderr)


def main():
    dashboard_host = os.environ.get("RAY_DASHBOARD_HOST") or "127.0.0.1"
    if (not dashboard_host.isascii() or not all(c.isalnum() or c in ".:-" for c in dashboard_host)
            or dashboard_host.startswith("-")):
        fail(f"RAY_DASHBOARD_HOST must be an address such as 127.0.0.1 or 0.0.0.0, not {dashboard_host!r}")
    gcs_port = port("RAY_HEAD_PORT", "6379")
    path = address_file()
    address = head_address(gcs_port)
    argv = [ray_executable(), "start", "--head",
            f"--port={gcs_port}",
            *node_name_arguments(),
            f"--dashboard-host={dashboard_host}",
            f"--dashboard-port={port('CDSW_APP_PORT', '8265')}",
            "--block"]

    ray = None

    def stop(signum, _frame):
        # CML stops an application with SIGTERM: Ray gets it, and the file goes once Ray has ended.
        if ray is None:
            raise SystemExit(128 + signum)
        ray.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    try:
        write_address(path, address)
        print(f"ray_head: wrote {address} to {path}", flush=True)
        print("ray_head: " + shlex.join(argv), flush=True)
        # --block keeps `ray` in the foreground: the application runs as long as the head does.
        ray = subprocess.Popen(argv)
        status = ray.wait()
    finally:
        remove_address_if_ours(path, address)
    sys.exit(128 - status if status < 0 else status)


if __name__ == "__main__":
    main()

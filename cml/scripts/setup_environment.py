"""CML job setup_environment: the project's virtualenv with Ray, from which the Ray applications run.

Idempotent: when the virtualenv already holds the pinned Ray release it changes nothing. The
virtualenv lives in the project's files (~/.venv, that is /home/cdsw/.venv), which the jobs and
applications of the project share; RAYDEPLOY_VENV names another one.
"""

import os
import subprocess
import sys

# The release the Ansible target pins too (playbooks/group_vars/all/ray.yml, ray_version).
RAY_VERSION = "2.60.0"
RAY_REQUIREMENT = f"ray[default,serve]=={RAY_VERSION}"


def venv_dir() -> str:
    return os.environ.get("RAYDEPLOY_VENV") or os.path.expanduser("~/.venv")


def installed_ray(python: str):
    """The Ray version the virtualenv imports, or None."""
    result = subprocess.run([python, "-c", "import ray; print(ray.__version__)"],
                            capture_output=True, text=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def main() -> int:
    venv = venv_dir()
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(python):
        print(f"setup_environment: creating the virtualenv {venv}")
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    if installed_ray(python) == RAY_VERSION:
        print(f"setup_environment: {venv} already holds Ray {RAY_VERSION}; nothing to do")
        return 0
    print(f"setup_environment: installing {RAY_REQUIREMENT} into {venv}")
    installed = subprocess.run([python, "-m", "pip", "install", "--disable-pip-version-check", RAY_REQUIREMENT],
                               check=False)
    if installed.returncode != 0:
        print("setup_environment: pip failed (see above); check that the project's session can reach the "
              "package index, then run the job again.", file=sys.stderr)
        return installed.returncode
    found = installed_ray(python)
    if found != RAY_VERSION:
        print(f"setup_environment: after the install the virtualenv imports Ray {found}, not {RAY_VERSION}; "
              f"remove {venv} and run the job again.", file=sys.stderr)
        return 1
    print(f"setup_environment: {venv} holds Ray {RAY_VERSION}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# Makes (or refreshes) the one Ray virtualenv the tests use: ray[default,serve] at the version
# pinned in playbooks/group_vars/all/ray.yml (ray_version), created with the interpreter the
# ray_native role uses (ray_native_python, /usr/bin/python3).
#
# Both consumers share it, so a test run installs Ray once:
#   - the local inventory (playbooks/inventory/local.yml) points both nodes' ray_native_venv at it;
#     ray-deployment then finds the pinned Ray there and only checks it;
#   - tests/ray/test_ray_management.py starts its own Ray head from it.
# The path lives outside the work tree so that a machine that keeps /tmp keeps the install between
# runs (and between clones); pip's cache (`pip cache dir`, ~/.cache/pip for root) keeps the
# downloads when the virtualenv itself is gone.
#
# Usage: scripts/ray-venv.sh [VENV]     prints the virtualenv's path on stdout when it is ready.
# Environment:
#   RAYDEPLOY_RAY_VENV          the virtualenv (default /tmp/raydeploy-e2e/ray-venv, the local
#                               inventory's raydeploy_local_root/ray-venv); VENV overrides it
#   RAYDEPLOY_RAY_VENV_PYTHON   interpreter to make it with (default /usr/bin/python3; must match
#                               ray_native_python, or ray-deployment rebuilds the virtualenv)
#   RAYDEPLOY_PIP_EXTRA_ARGS    extra pip arguments (e.g. --index-url for a mirror)
# Idempotent: with the pinned Ray already there it changes nothing and takes a few seconds. Runs
# that overlap wait for each other (flock on VENV.lock).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-${RAYDEPLOY_RAY_VENV:-/tmp/raydeploy-e2e/ray-venv}}"
PYTHON="${RAYDEPLOY_RAY_VENV_PYTHON:-/usr/bin/python3}"
RAY_VARS="$REPO_ROOT/playbooks/group_vars/all/ray.yml"

log() { printf 'ray-venv: %s\n' "$*" >&2; }
die() { printf 'ray-venv: error: %s\n' "$*" >&2; exit 1; }

VERSION="$(sed -n 's/^ray_version:[[:space:]]*"\{0,1\}\([0-9][0-9.]*\)"\{0,1\}[[:space:]]*$/\1/p' "$RAY_VARS")"
[[ "$VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "no pinned ray_version (X.Y.Z) in $RAY_VARS"
REQUIREMENT="ray[default,serve]==$VERSION"
[[ -x "$PYTHON" ]] || die "$PYTHON not found: install python3 (Ray $VERSION needs 3.10 to 3.13) or set RAYDEPLOY_RAY_VENV_PYTHON"

mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock"
flock --wait 1800 9 || die "another ray-venv.sh holds $VENV.lock for more than 30 minutes"

# The role rebuilds a virtualenv made with another interpreter (pyvenv.cfg's home and version):
# do the same, so the two never fight over it.
if [[ -f "$VENV/pyvenv.cfg" ]]; then
    read -r want_home want_version < <("$PYTHON" -c 'import os, sys; print(os.path.dirname(sys.executable), sys.version.split()[0])')
    have_home="$(sed -n 's/^home[[:space:]]*=[[:space:]]*//p' "$VENV/pyvenv.cfg")"
    have_version="$(sed -n 's/^version\(_info\)\{0,1\}[[:space:]]*=[[:space:]]*\([0-9.]*\).*/\2/p' "$VENV/pyvenv.cfg" | head -n1)"
    if [[ "$have_home" != "$want_home" || "$have_version" != "$want_version" ]]; then
        log "$VENV was made with Python $have_version from $have_home, not $want_version from $want_home: rebuilding it"
        rm -rf "$VENV"
    fi
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
fi

# Ray and every module `serve` needs importable at the pinned version: nothing to do.
if "$VENV/bin/python" - "$VERSION" >/dev/null 2>&1 <<'PY'
import importlib.metadata as metadata, sys
assert metadata.version('ray') == sys.argv[1]
import ray.serve, ray.dashboard, fastapi, uvicorn, starlette, aiohttp  # noqa: F401  (the serve and default extras)
PY
then
    printf '%s\n' "$VENV"
    exit 0
fi

log "installing $REQUIREMENT into $VENV (pip cache: $("$VENV/bin/python" -m pip cache dir 2>/dev/null || echo none))"
# shellcheck disable=SC2086  # extra arguments are meant to split
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check ${RAYDEPLOY_PIP_EXTRA_ARGS:-} "$REQUIREMENT" >&2 \
    || die "pip could not install $REQUIREMENT into $VENV: check the network or the pip mirror (RAYDEPLOY_PIP_EXTRA_ARGS)"
"$VENV/bin/python" -c "import importlib.metadata as m, sys; import ray.serve; sys.exit(m.version('ray') != '$VERSION')" \
    || die "$VENV does not hold a working Ray $VERSION with Serve after pip install; remove it and run again"
log "Ray $VERSION with Serve ready in $VENV"
printf '%s\n' "$VENV"

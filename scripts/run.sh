#!/usr/bin/env bash
# Builds raydeploy (scripts/build.sh) and starts the service on 127.0.0.1:8000,
# with its state in the checkout's var/ and the checkpoint catalog in playbooks/.
# Extra arguments are passed to `raydeploy serve` (they override the defaults here).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

# Build output goes to stderr, so stdout carries only the service's own lines
# (among them `listening on http://HOST:PORT`).
bash scripts/build.sh --target raydeploy >&2

# ansible-playbook and friends from the project virtualenv.
export PATH="$REPO_ROOT/.venv/bin:$PATH"

# The embedded defaults are what this script promises: 127.0.0.1:8000, state in var/, the
# catalog playbooks/checkpoints.yaml and the inventory playbooks/inventory/local.yml, all in
# this checkout (build/bin/raydeploy finds it through build/CMakeCache.txt, from any directory).
# Extra arguments (--listen, --config, ...) override them.
exec build/bin/raydeploy serve "$@"

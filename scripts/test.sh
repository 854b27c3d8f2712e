#!/usr/bin/env bash
# Builds raydeploy (scripts/build.sh) and runs the whole test suite through ctest.
# Extra arguments are passed to ctest (e.g. -R health, -L unit, -j2). Exits with ctest's code.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

bash scripts/build.sh

# --no-tests=error: a suite that selects no test fails instead of passing silently.
exec ctest --test-dir build --output-on-failure --timeout 600 --no-tests=error "$@"

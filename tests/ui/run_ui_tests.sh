#!/usr/bin/env bash
# Runs the WebUI's browser tests (web/tests/, Playwright driving Debian's Chromium) against live
# services they start themselves: each test gets `raydeploy serve` on a free loopback port with a
# private state directory, five tokens (operator, two approvers, admin, viewer) and the fixture
# catalog tests/fixtures/ansible/ui.yaml; the restart test also gets the fake CML. Screenshots go
# to build/ui-artifacts/, Playwright's failure traces to build/ui-test-results/.
#
#   tests/ui/run_ui_tests.sh [playwright test options]     e.g. -g 'cancel' or specs/pages.spec.ts
#
# The same as `npm run test:ui` in web/. ctest runs it as ui.browser.
# Environment: RAYDEPLOY_BINARY  the binary to test (default: build/bin/raydeploy)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PLAYWRIGHT="$REPO_ROOT/web/node_modules/.bin/playwright"

if [[ ! -x "$PLAYWRIGHT" ]]; then
    echo "run_ui_tests: $PLAYWRIGHT is missing: run 'bash scripts/bootstrap.sh' (npm ci in web/)" >&2
    exit 2
fi

cd "$REPO_ROOT/web"
exec "$PLAYWRIGHT" test -c tests/playwright.config.ts "$@"

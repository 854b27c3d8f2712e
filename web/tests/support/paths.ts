// Where the UI tests find the project's pieces. Everything is resolved from this file, never from
// the current directory, so `npm run test:ui` in web/ and ctest from build/ behave the same.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

// ctest passes the binary it built (RAYDEPLOY_BINARY); by hand it is the default build's.
export const raydeployBinary = process.env.RAYDEPLOY_BINARY || path.join(repoRoot, 'build/bin/raydeploy');

export const chromiumPath = '/usr/bin/chromium';
export const venvBin = path.join(repoRoot, '.venv/bin');
export const fixturesDir = path.join(repoRoot, 'tests/fixtures/ansible');
export const uiCatalog = path.join(fixturesDir, 'ui.yaml');
export const fixtureInventory = path.join(fixturesDir, 'inventory.yml');
export const cmlCatalog = path.join(repoRoot, 'cml/checkpoints.yaml');
export const fakeCmlScript = path.join(repoRoot, 'tests/fake_cml/fake_cml_api.py');

// Screenshots and service logs that outlive a run; test-results holds Playwright's own
// (failure screenshots, traces).
export const artifactsDir = path.join(repoRoot, 'build/ui-artifacts');
export const testResultsDir = path.join(repoRoot, 'build/ui-test-results');

// The WebUI's browser tests: Debian's Chromium (never a downloaded browser), headless, one worker
// (the machine is small and every test starts its own service), bounded timeouts everywhere.
// Run alone with `npm run test:ui` in web/, or `ctest --test-dir build -R ui.browser`.
import { defineConfig } from '@playwright/test';

import { chromiumPath, testResultsDir } from './support/paths';

export default defineConfig({
  testDir: './specs',
  outputDir: testResultsDir,
  globalSetup: './support/global-setup.ts',
  globalTeardown: './support/global-teardown.ts',
  workers: 1,
  fullyParallel: false,
  retries: 0,
  forbidOnly: true,
  // A test includes starting its service and a few ansible-playbook runs on a loaded machine.
  timeout: 180_000,
  globalTimeout: 540_000,
  expect: { timeout: 20_000 },
  reporter: [['list']],
  use: {
    browserName: 'chromium',
    headless: true,
    viewport: { width: 1280, height: 800 },
    locale: 'en-GB',
    timezoneId: 'Europe/Paris',
    actionTimeout: 15_000,
    navigationTimeout: 20_000,
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
    launchOptions: { executablePath: chromiumPath },
  },
});

// The fixtures every UI spec uses: a live service of its own per test (fresh state, so tests never
// depend on each other's leftovers), a page that fails the test on what a user would not see
// (uncaught errors, Content-Security-Policy violations, requests to any other host), and helpers
// for signing in, screenshots and the accessibility check.
import AxeBuilder from '@axe-core/playwright';
import { expect, test as base, type Page, type TestInfo } from '@playwright/test';
import fs from 'node:fs';
import path from 'node:path';

import { FakeCml } from './fake-cml';
import { artifactsDir, cmlCatalog, repoRoot } from './paths';
import { RaydeployService, type Who } from './service';

export type ServiceKind = 'ui' | 'cml';

interface CspViolation {
  directive: string;
  blockedURI: string;
  sourceFile: string;
  lineNumber: number;
  sample: string;
  targetIsPageElement: boolean;
}

interface Fixtures {
  serviceKind: ServiceKind;
  fakeCml: FakeCml | undefined;
  service: RaydeployService;
  // What went wrong in the page so far; checked after each test, and by tests that want it sooner.
  pageProblems: string[];
}

export const test = base.extend<Fixtures>({
  serviceKind: ['ui', { option: true }],

  fakeCml: async ({ serviceKind }, use, testInfo) => {
    if (serviceKind !== 'cml') {
      await use(undefined);
      return;
    }
    // A job run stays ENGINE_RUNNING until the test lets it finish (FakeCml.finishRuns), so a
    // restart lands in the middle of one whatever the machine's speed; the other phases are short.
    const cml = await FakeCml.start(label(testInfo), [
      '--project-create-s', '0.3',
      '--run-scheduling-s', '0.3',
      '--run-starting-s', '0.3',
      '--run-running-s', '600',
    ]);
    try {
      await use(cml);
    } finally {
      await cml.stop();
    }
  },

  service: async ({ serviceKind, fakeCml }, use, testInfo) => {
    const service = await RaydeployService.start({
      label: label(testInfo),
      catalog: serviceKind === 'cml' ? cmlCatalog : undefined,
      env: fakeCml?.serviceEnv(),
    });
    try {
      await use(service);
    } finally {
      await service.dispose();
      await testInfo.attach('service log', { path: service.logFile, contentType: 'text/plain' });
    }
  },

  baseURL: async ({ service }, use) => {
    await use(service.url);
  },

  pageProblems: async ({}, use) => {
    await use([]);
  },

  page: async ({ page, service, pageProblems }, use) => {
    const origin = new URL(service.url).origin;
    page.on('pageerror', (error) => pageProblems.push(`uncaught error in the page: ${error.message}`));
    // Content-Security-Policy violations, from the page's securitypolicyviolation events (they
    // survive navigations through the binding). One kind is left out: Chromium reports an inline
    // event handler (script-src-attr) met while DOMParser builds an inert document, as the
    // sanitizer does with a report's Markdown, although nothing runs there; such a report's
    // target is the page's document, not an element of the page (cure53/DOMPurify#107). The
    // report test checks the sanitized markup itself.
    await page.exposeBinding('__raydeployCspViolation', (source, v: CspViolation) => {
      if (v.directive.startsWith('script-src-attr') && !v.targetIsPageElement) return;
      pageProblems.push(
        `Content-Security-Policy violation on ${source.page.url()}: ${v.directive} blocked ${v.blockedURI || 'inline'} ` +
          `(${v.sourceFile}:${v.lineNumber}) ${v.sample}`,
      );
    });
    await page.addInitScript(() => {
      document.addEventListener(
        'securitypolicyviolation',
        (e) => {
          const target = e.target as Node | null;
          (window as any).__raydeployCspViolation({
            directive: e.effectiveDirective || e.violatedDirective,
            blockedURI: e.blockedURI,
            sourceFile: e.sourceFile,
            lineNumber: e.lineNumber,
            sample: e.sample,
            targetIsPageElement: target instanceof Element && target.isConnected,
          });
        },
        true,
      );
    });
    page.on('request', (request) => {
      const url = request.url();
      if (url.startsWith('data:') || url.startsWith('blob:')) return;
      // ws:// to the service is the same host; anything else would leave this machine.
      const requestOrigin = new URL(url.replace(/^ws/, 'http')).origin;
      if (requestOrigin !== origin) pageProblems.push(`request to another host: ${request.method()} ${url}`);
      let decoded = url;
      try {
        decoded = decodeURIComponent(url);
      } catch {
        // Not percent-decodable: look at it as it is.
      }
      if (Object.values(service.identities).some((id) => decoded.includes(id.token)))
        pageProblems.push(`a token in a URL: ${request.method()} ${url.slice(0, 80)}...`);
    });
    await use(page);
    expect(pageProblems, 'problems seen in the page during the test').toEqual([]);
  },
});

export { expect };

function label(testInfo: TestInfo): string {
  const text = `${path.basename(testInfo.file, '.spec.ts')}-${testInfo.title}`;
  return text.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-|-$/g, '').slice(0, 80);
}

// Signs `who` in through the sign-in page and waits until the header says so.
export async function signIn(page: Page, service: RaydeployService, who: Who): Promise<void> {
  const identity = service.identities[who];
  await page.goto('/#/signin');
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  await page.getByLabel('API token').fill(identity.token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByText(`Signed in as ${identity.name} (${identity.role})`, { exact: true })).toBeVisible();
}

export async function signOut(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
}

// A full-page screenshot under build/ui-artifacts/, named in the test output and attached to the
// test's report.
export async function screenshot(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  fs.mkdirSync(artifactsDir, { recursive: true });
  const file = path.join(artifactsDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`screenshot: ${path.relative(repoRoot, file)}`);
  await testInfo.attach(name, { path: file, contentType: 'image/png' });
}

// axe-core over the page as it is now; fails on any serious or critical violation, naming the rule,
// what it asks for and the elements.
export async function expectAccessible(page: Page, testInfo: TestInfo, what: string): Promise<void> {
  const results = await new AxeBuilder({ page }).analyze();
  const blocking = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  await testInfo.attach(`axe ${what}`, {
    body: JSON.stringify(results.violations, null, 2),
    contentType: 'application/json',
  });
  const report = blocking
    .map(
      (v) =>
        `${v.impact} ${v.id}: ${v.help} (${v.helpUrl})\n` +
        v.nodes.map((n) => `    ${n.target.join(' ')}: ${n.failureSummary?.replace(/\n/g, ' ')}`).join('\n'),
    )
    .join('\n');
  expect(blocking.length, `serious or critical accessibility violations on ${what}:\n${report}`).toBe(0);
}

// Signing in with a token: kept in sessionStorage only, a wrong one refused with a message, the
// role deciding which links and buttons exist, a 403 saying which role is missing.
import { expect, expectAccessible, screenshot, signIn, signOut, test } from '../support/fixtures';

test('a token signs in for this tab only, and the role decides what the page offers', async ({ page, service }, testInfo) => {
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  await screenshot(page, testInfo, 'signin');
  await expectAccessible(page, testInfo, 'the sign-in page');

  // An unknown token is refused, saying so.
  await page.getByLabel('API token').fill('rdp_not-a-token-of-this-service');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toContainText(/token/i);
  await expect(page.getByRole('button', { name: 'Sign out' })).toHaveCount(0);

  // A viewer reads: no Audit link, no buttons that start anything.
  const viewer = service.identities.viewer;
  await signIn(page, service, 'viewer');
  const nav = page.getByRole('navigation', { name: 'Main' });
  for (const name of ['Pipeline', 'Approvals', 'History', 'Cluster', 'API docs'])
    await expect(nav.getByRole('link', { name, exact: true })).toBeVisible();
  await expect(nav.getByRole('link', { name: 'Audit', exact: true })).toHaveCount(0);
  expect(await nav.getByRole('link', { name: 'API docs' }).evaluate((a) => (a as HTMLAnchorElement).href)).toBe(
    `${service.url}/docs`,
  );
  await expect(page.getByRole('table', { name: 'Checkpoints' })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Start deployment' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Run prepare' })).toHaveCount(0);

  // The token lives in sessionStorage, nowhere else the page keeps things, never in the URL.
  const storage = await page.evaluate(() => ({
    session: JSON.stringify(Object.entries(sessionStorage)),
    local: JSON.stringify(Object.entries(localStorage)),
    cookies: document.cookie,
    url: location.href,
  }));
  expect(storage.session).toContain(viewer.token);
  expect(storage.local).not.toContain(viewer.token);
  expect(storage.cookies).not.toContain(viewer.token);
  expect(storage.url).not.toContain(viewer.token);

  // A page the role may not read says which role it needs.
  await page.goto('/#/audit');
  await expect(page.getByRole('alert')).toContainText('admin');

  // Still signed in after a reload (same tab); signed out for good after "Sign out".
  await page.reload();
  await expect(page.getByText(`Signed in as ${viewer.name} (viewer)`, { exact: true })).toBeVisible();
  await signOut(page);
  expect(await page.evaluate(() => JSON.stringify(Object.entries(sessionStorage)))).not.toContain(viewer.token);

  // An admin gets the Audit link and the buttons that start runs.
  await signIn(page, service, 'admin');
  await expect(nav.getByRole('link', { name: 'Audit', exact: true })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Start deployment' })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Run prepare' })).toBeVisible();

  // Another tab of the same browser (shared localStorage and cookies, its own sessionStorage)
  // starts signed out.
  const otherTab = await page.context().newPage();
  try {
    await otherTab.goto('/');
    await expect(otherTab.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  } finally {
    await otherTab.close();
  }
});

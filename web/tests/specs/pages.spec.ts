// Every page with something on it: a screenshot for the artifacts and an accessibility check, plus
// what each page must do (filters, the pending request and its denial, the cluster placeholder,
// the audit trail, the API reference). The history is made through the API first.
import type { Locator, Page } from '@playwright/test';

import { expect, expectAccessible, screenshot, signIn, test } from '../support/fixtures';
import type { RaydeployService } from '../support/service';
import { checkpointRows, waitForDeployment, waitForExecution } from '../support/ui';

interface History {
  reportRun: string;
  cancelledRun: string;
  deployment: string;
}

// A succeeded run of final-report, a cancelled run of prepare, a one-step deployment.
async function makeHistory(service: RaydeployService): Promise<History> {
  const report = await service.api('operator', 'POST', '/api/v1/checkpoints/final-report', {});
  expect(report.status, report.text).toBe(202);
  await waitForExecution(service, report.json.execution_id, ['succeeded']);

  const held = await service.api('operator', 'POST', '/api/v1/checkpoints/prepare', {});
  expect(held.status, held.text).toBe(202);
  await waitForExecution(service, held.json.execution_id, ['running']);
  const cancel = await service.api('operator', 'POST', `/api/v1/executions/${held.json.execution_id}/cancel`, {});
  expect(cancel.status, cancel.text).toBe(202);
  await waitForExecution(service, held.json.execution_id, ['cancelled']);

  const deployment = await service.api('operator', 'POST', '/api/v1/deployments', { checkpoints: ['final-report'] });
  expect(deployment.status, deployment.text).toBe(202);
  await waitForDeployment(service, deployment.json.deployment_id, ['succeeded']);
  return {
    reportRun: report.json.execution_id,
    cancelledRun: held.json.execution_id,
    deployment: deployment.json.deployment_id,
  };
}

// A filter is a select or a text field, whichever the page chose.
async function setFilter(field: Locator, value: string): Promise<void> {
  const tag = await field.evaluate((e) => e.tagName.toLowerCase());
  if (tag === 'select') await field.selectOption(value);
  else await field.fill(value);
}

function runLink(page: Page, id: string): Locator {
  return page.locator(`a[href$="#/runs/${id}"]`);
}

async function backgroundOf(page: Page): Promise<string> {
  return page.evaluate(() => {
    for (const element of [document.body, document.documentElement]) {
      const colour = getComputedStyle(element).backgroundColor;
      if (colour && colour !== 'rgba(0, 0, 0, 0)' && colour !== 'transparent') return colour;
    }
    return 'transparent';
  });
}

test('the pipeline in light and dark colours and at a phone width', async ({ page, service }, testInfo) => {
  await signIn(page, service, 'operator');
  await expect(checkpointRows(page)).toHaveCount(3);

  await page.emulateMedia({ colorScheme: 'light' });
  await screenshot(page, testInfo, 'pipeline-light');
  await expectAccessible(page, testInfo, 'the pipeline (light)');
  const light = await backgroundOf(page);

  await page.emulateMedia({ colorScheme: 'dark' });
  await expect.poll(() => backgroundOf(page), { message: 'the page follows the dark colour scheme' }).not.toBe(light);
  await screenshot(page, testInfo, 'pipeline-dark');
  await expectAccessible(page, testInfo, 'the pipeline (dark)');

  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize({ width: 390, height: 844 });
  await expect(checkpointRows(page)).toHaveCount(3);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow, 'the page does not scroll sideways at a phone width').toBeLessThanOrEqual(0);
  await screenshot(page, testInfo, 'pipeline-phone');
  await expectAccessible(page, testInfo, 'the pipeline at a phone width');
});

test('the history lists executions and deployments and filters them', async ({ page, service }, testInfo) => {
  const history = await makeHistory(service);
  await signIn(page, service, 'viewer');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'History' }).click();
  await expect(page.getByRole('heading', { name: 'History' })).toBeVisible();
  const executions = page.getByRole('table', { name: 'Executions' });
  await expect(executions).toBeVisible();
  await expect(runLink(page, history.reportRun)).toBeVisible();
  await expect(runLink(page, history.cancelledRun)).toBeVisible();

  // Times are <time> elements with the UTC instant in datetime and title.
  const times = await executions.locator('time').evaluateAll((elements) =>
    elements.map((e) => ({ datetime: e.getAttribute('datetime') ?? '', title: e.getAttribute('title') ?? '' })),
  );
  expect(times.length).toBeGreaterThan(0);
  for (const time of times) {
    expect(Number.isNaN(Date.parse(time.datetime)), `datetime "${time.datetime}" is a date`).toBe(false);
    expect(time.datetime).toMatch(/(Z|[+-]00:?00)$/);
    expect(time.title).not.toBe('');
  }
  await screenshot(page, testInfo, 'history');
  await expectAccessible(page, testInfo, 'the history');

  await setFilter(page.getByLabel('Checkpoint'), 'final-report');
  await expect(runLink(page, history.cancelledRun)).toHaveCount(0);
  await expect(runLink(page, history.reportRun)).toBeVisible();
  await setFilter(page.getByLabel('Checkpoint'), '');
  await setFilter(page.getByLabel('Status'), 'cancelled');
  await expect(runLink(page, history.reportRun)).toHaveCount(0);
  await expect(runLink(page, history.cancelledRun)).toBeVisible();
  await expect(page.getByLabel('Since')).toBeVisible();

  await page.getByRole('link', { name: 'Deployments', exact: true }).or(page.getByRole('tab', { name: 'Deployments' })).click();
  const deployments = page.getByRole('table', { name: 'Deployments' });
  await expect(deployments.locator(`a[href$="#/deployments/${history.deployment}"]`)).toBeVisible();
  await screenshot(page, testInfo, 'history-deployments');
  await expectAccessible(page, testInfo, 'the history of deployments');
});

test('a pending request is listed, reviewed and denied with a reason', async ({ page, service }, testInfo) => {
  // olivia asks to run the gated checkpoint: the service records a pending request.
  const asked = await service.api('operator', 'POST', '/api/v1/checkpoints/wipe-cluster', {});
  expect(asked.status, asked.text).toBe(409);
  expect(asked.json.error).toBe('APPROVAL_REQUIRED');

  await signIn(page, service, 'approverB');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Approvals' }).click();
  await expect(page.getByRole('heading', { name: 'Approvals' })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Review wipe-cluster' })).toBeVisible();
  await screenshot(page, testInfo, 'approvals');
  await expectAccessible(page, testInfo, 'the approvals');

  await page.getByRole('button', { name: 'Review wipe-cluster' }).click();
  const dialog = page.getByRole('dialog', { name: 'Approve wipe-cluster' });
  await expect(dialog).toBeVisible();
  await expect(dialog).toContainText('olivia');
  await expect(dialog).toContainText('DESTRUCTIVE: pretends to remove every Ray node');
  // The service knows nothing of Ray here; the live impact's note says so and the dialog shows it.
  const note: string = asked.json.approval_info.live_impact.note;
  expect(note).toContain("the cluster's state is unknown");
  await expect(dialog).toContainText(note);
  // The request was asked at a time the dialog shows as a <time>.
  await expect(dialog.locator('time')).not.toHaveCount(0);

  const deny = dialog.getByRole('button', { name: 'Deny', exact: true });
  await expect(deny).toBeDisabled();
  await dialog.getByLabel('Reason').fill('not during the freeze');
  await expect(deny).toBeEnabled();
  await deny.click();
  await expect(dialog).toBeHidden();
  await expect(page.getByRole('button', { name: 'Review wipe-cluster' })).toHaveCount(0);

  const approvals = await service.get('viewer', '/api/v1/approvals/wipe-cluster');
  expect(approvals.pending_requests).toEqual([]);
  expect(approvals.last_decision?.state).toBe('denied');
  const audit = await service.get('admin', '/api/v1/audit?limit=20');
  expect(audit.entries.some((e: any) => e.action === 'approval.deny' && e.actor === 'bob')).toBe(true);
});

test('the cluster page says its data is not available, without an error', async ({ page, service }, testInfo) => {
  await signIn(page, service, 'viewer');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Cluster' }).click();
  await expect(page.getByRole('heading', { name: 'Cluster' })).toBeVisible();
  await expect(page.getByText('Cluster data is not available')).toBeVisible();
  await expect(page.getByRole('alert')).toHaveCount(0);
  await screenshot(page, testInfo, 'cluster');
  await expectAccessible(page, testInfo, 'the cluster');
});

test('the audit trail shows who did what, for admins', async ({ page, service }, testInfo) => {
  await makeHistory(service);
  await signIn(page, service, 'admin');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit' }).click();
  await expect(page.getByRole('heading', { name: 'Audit trail' })).toBeVisible();
  const entries = page.getByRole('table', { name: 'Audit entries' });
  await expect(entries.getByRole('row').filter({ hasText: 'execution.start' }).filter({ hasText: 'olivia' }).first()).toBeVisible();
  await expect(entries.getByRole('row').filter({ hasText: 'execution.cancel' }).first()).toBeVisible();
  await expect(entries.getByRole('row').filter({ hasText: 'deployment.start' }).first()).toBeVisible();
  await screenshot(page, testInfo, 'audit');
  await expectAccessible(page, testInfo, 'the audit trail');
});

test('the API reference at /docs renders the OpenAPI document from this service', async ({ page, service }, testInfo) => {
  const response = await page.goto('/docs');
  expect(response?.status()).toBe(200);
  await expect(page.getByText('/api/v1/checkpoints', { exact: true }).first()).toBeVisible();
  await expect(page.getByText('/api/v1/deployments/{id}/resume', { exact: true }).first()).toBeVisible();
  await screenshot(page, testInfo, 'docs');
  await expectAccessible(page, testInfo, 'the API reference');
});

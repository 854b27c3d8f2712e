// A deployment from start to end in the browser: the pipeline, the start dialog, live progress of a
// step (current task, host grid, log), a destructive gate refused to the person who asked (four
// eyes) and granted by another approver through the dialog, and the final report.
import { expect, expectAccessible, screenshot, signIn, signOut, test } from '../support/fixtures';
import {
  checkpointRows,
  checkpointState,
  deploymentIdFromUrl,
  expectHostGrid,
  expectLogMatchesService,
  logLineElements,
  waitForDeployment,
} from '../support/ui';
import type { RaydeployService } from '../support/service';

const pipeline = ['prepare', 'wipe-cluster', 'final-report'];

test('a deployment runs live, its destructive gate needs a second approver, its report renders', async ({
  page,
  service,
}, testInfo) => {
  await signIn(page, service, 'approverA');

  // The pipeline: the catalog in order, nothing run yet, the gate's flags.
  await expect(page.getByRole('heading', { name: 'Pipeline' })).toBeVisible();
  await expect(checkpointRows(page)).toHaveCount(pipeline.length);
  expect(await checkpointRows(page).evaluateAll((rows) => rows.map((r) => r.getAttribute('data-checkpoint')))).toEqual(
    pipeline,
  );
  for (const name of pipeline) await expect(checkpointState(page, name)).toHaveText('never run');
  const gateRow = page.locator('[data-checkpoint="wipe-cluster"]');
  await expect(gateRow).toContainText('approval');
  await expect(gateRow).toContainText('destructive');
  await expect(page.locator('[data-checkpoint="prepare"]')).not.toContainText('destructive');

  // The start dialog: every checkpoint ticked, "Start from" offering them in order.
  await page.getByRole('button', { name: 'Start deployment' }).click();
  const startDialog = page.getByRole('dialog', { name: 'Start deployment' });
  await expect(startDialog).toBeVisible();
  for (const name of pipeline) await expect(startDialog.getByRole('checkbox', { name, exact: true })).toBeChecked();
  await expect(startDialog.getByRole('checkbox', { name: 'Check mode' })).not.toBeChecked();
  const startFrom = startDialog.getByLabel('Start from');
  const offered = await startFrom.locator('option').evaluateAll((options) =>
    options.map((o) => (o as HTMLOptionElement).value),
  );
  expect(offered.filter((value) => value !== '')).toEqual(pipeline);
  await screenshot(page, testInfo, 'start-deployment-dialog');
  await expectAccessible(page, testInfo, 'the start deployment dialog');
  await startDialog.getByRole('button', { name: 'Start', exact: true }).click();

  // The deployment page, its first step running.
  await expect(page).toHaveURL(/#\/deployments\/dp-[0-9a-f]+$/);
  const deploymentId = deploymentIdFromUrl(page);
  await expect(page.getByRole('heading', { name: /Deployment/ }).first()).toBeVisible();
  const started = await waitForDeployment(service, deploymentId, ['running']);
  const prepareId: string = started.steps[0].execution_id ?? (await waitForStepExecution(service, deploymentId, 0));
  const prepareLink = page.locator(`a[href$="#/runs/${prepareId}"]`);
  await expect(prepareLink).toBeVisible();
  await prepareLink.click();

  // Live: the step holds on "Wait for the release file" until released.
  await expect(page).toHaveURL(new RegExp(`#/runs/${prepareId}$`));
  await expect(page.getByRole('heading', { level: 1 })).toContainText('prepare');
  await expect(page.getByTestId('run-status')).toHaveText('running');
  await expect(page.getByTestId('live-status')).toHaveText('live');
  await expect(page.getByTestId('current-task')).toContainText('Wait for the release file');
  await expectHostGrid(page, service, prepareId, {
    host1: { ok: '1', changed: '1', failed: '0' },
    host2: { ok: '1', changed: '1', failed: '0' },
    host3: { ok: '1', changed: '1', failed: '0' },
  });
  await expectLogMatchesService(page, service, prepareId);
  await expect(page.getByRole('button', { name: 'Cancel run' })).toBeVisible();
  await screenshot(page, testInfo, 'execution-live');
  await expectAccessible(page, testInfo, 'a live execution');

  // Released: the same page follows it to the end, without a reload.
  service.release(prepareId);
  await expect(page.getByTestId('run-status')).toHaveText('succeeded', { timeout: 60_000 });
  await expect(page.getByRole('button', { name: 'Cancel run' })).toHaveCount(0);
  const finalGrid = { ok: '3', changed: '1', failed: '0', unreachable: '0', skipped: '0' };
  await expectHostGrid(page, service, prepareId, { host1: finalGrid, host2: finalGrid, host3: finalGrid });
  await expectLogMatchesService(page, service, prepareId);
  // Markup in the log is shown as text, never rendered.
  await expect(logLineElements(page).filter({ hasText: 'released host1 <b>not bold</b>' })).toHaveCount(1);
  await expect(page.locator('[aria-label="Log"] b')).toHaveCount(0);

  // The gate: the deployment waits for an approval of wipe-cluster.
  await waitForDeployment(service, deploymentId, ['awaiting_approval']);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Approvals' }).click();
  await expect(page.getByRole('heading', { name: 'Approvals' })).toBeVisible();
  await page.getByRole('button', { name: 'Review wipe-cluster' }).click();
  const approveDialog = page.getByRole('dialog', { name: 'Approve wipe-cluster' });
  await expect(approveDialog).toBeVisible();
  await expect(approveDialog).toContainText('alice');
  await expect(approveDialog).toContainText('DESTRUCTIVE: pretends to remove every Ray node');

  // Approve stays disabled until a reason is given and the risks box is ticked.
  const approve = approveDialog.getByRole('button', { name: 'Approve', exact: true });
  const reason = approveDialog.getByLabel('Reason');
  const risks = approveDialog.getByRole('checkbox', { name: 'I understand the risks' });
  await expect(approve).toBeDisabled();
  await reason.fill('maintenance window 42');
  await expect(approve).toBeDisabled();
  await risks.check();
  await expect(approve).toBeEnabled();
  await risks.uncheck();
  await expect(approve).toBeDisabled();
  await risks.check();
  await reason.fill('');
  await expect(approve).toBeDisabled();
  await reason.fill('maintenance window 42');
  await expect(approve).toBeEnabled();
  await screenshot(page, testInfo, 'approval-dialog');
  await expectAccessible(page, testInfo, 'the approval dialog');

  // alice asked (she started the deployment): the service refuses, and the dialog says why.
  await approve.click();
  const refusal = approveDialog.getByRole('alert');
  await expect(refusal).toContainText('another person must grant it');
  await screenshot(page, testInfo, 'approval-four-eyes-refusal');
  expect((await service.get('viewer', `/api/v1/deployments/${deploymentId}`)).status).toBe('awaiting_approval');

  // bob opens the chat link (#/approvals/wipe-cluster) and grants it.
  await page.keyboard.press('Escape');
  await expect(approveDialog).toBeHidden();
  await signOut(page);
  await signIn(page, service, 'approverB');
  await page.goto('/#/approvals/wipe-cluster');
  const bobDialog = page.getByRole('dialog', { name: 'Approve wipe-cluster' });
  await expect(bobDialog).toBeVisible();
  await bobDialog.getByLabel('Reason').fill('checked with alice: window 42');
  await bobDialog.getByRole('checkbox', { name: 'I understand the risks' }).check();
  await bobDialog.getByRole('button', { name: 'Approve', exact: true }).click();
  await expect(bobDialog).toBeHidden();

  // The deployment finishes; its page shows every step succeeded.
  const done = await waitForDeployment(service, deploymentId, ['succeeded', 'failed', 'cancelled'], 90_000);
  expect(done.status, JSON.stringify(done)).toBe('succeeded');
  const grant = await service.get('admin', '/api/v1/audit?limit=50');
  expect(
    grant.entries.some((e: any) => e.action === 'approval.grant' && e.actor === 'bob' && e.outcome === 'succeeded'),
    'the audit trail has bob\'s grant',
  ).toBe(true);
  await page.goto(`/#/deployments/${deploymentId}`);
  for (const step of done.steps) {
    const link = page.locator(`a[href$="#/runs/${step.execution_id}"]`);
    await expect(link).toBeVisible();
    await expect(page.locator('tr, li').filter({ has: link })).toContainText('succeeded');
  }
  await screenshot(page, testInfo, 'deployment');
  await expectAccessible(page, testInfo, 'a deployment');

  // The report of final-report, rendered from its Markdown and sanitized; results per node.
  const reportId: string = done.steps[2].execution_id;
  await page.locator(`a[href$="#/runs/${reportId}"]`).click();
  await expect(page).toHaveURL(new RegExp(`#/runs/${reportId}$`));
  await expect(page.getByTestId('run-status')).toHaveText('succeeded');
  // .last(): the innermost section holding the heading, should sections nest.
  const report = page
    .locator('section')
    .filter({ has: page.getByRole('heading', { name: 'Report', exact: true }) })
    .last();
  await expect(report.getByRole('heading', { name: 'UI fixture report' })).toBeVisible();
  await expect(report.getByRole('cell', { name: 'dashboard reachable' })).toBeVisible();
  await expect(report.getByRole('cell', { name: 'passed' })).toHaveCount(2);
  await expect(report.locator('script')).toHaveCount(0);
  await expect(report.locator('[onerror]')).toHaveCount(0);
  await expect(report.locator('a[href^="javascript:"]')).toHaveCount(0);
  expect(await page.evaluate(() => (window as any).__reportInjected)).toBeUndefined();
  const results = page
    .locator('section')
    .filter({ has: page.getByRole('heading', { name: 'Results', exact: true }) })
    .last();
  await expect(results).toContainText('host1');
  await expect(results).toContainText('head');
  await screenshot(page, testInfo, 'execution-report');
  await expectAccessible(page, testInfo, 'an execution with its report');

  // Back on the pipeline, every checkpoint's latest run succeeded.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Pipeline' }).click();
  for (const name of pipeline) await expect(checkpointState(page, name)).toHaveText('succeeded');
});

async function waitForStepExecution(service: RaydeployService, deploymentId: string, step: number): Promise<string> {
  let id = '';
  await expect
    .poll(async () => {
      const record = await service.get('viewer', `/api/v1/deployments/${deploymentId}`);
      id = record.steps[step].execution_id ?? '';
      return id;
    })
    .toMatch(/^ex-/);
  return id;
}

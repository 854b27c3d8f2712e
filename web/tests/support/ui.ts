// Reading the WebUI the way the contract (notes: "The UI contract") names its parts: accessible
// names, data-checkpoint / data-host / data-line attributes and data-testid status fields.
import { expect, type Locator, type Page } from '@playwright/test';

import type { RaydeployService } from './service';

export function checkpointRows(page: Page): Locator {
  return page.getByRole('table', { name: 'Checkpoints' }).locator('[data-checkpoint]');
}

export function checkpointState(page: Page, checkpoint: string): Locator {
  return page
    .getByRole('table', { name: 'Checkpoints' })
    .locator(`[data-checkpoint="${checkpoint}"]`)
    .getByTestId('state');
}

export function logLineElements(page: Page): Locator {
  return page.locator('[aria-label="Log"] > [data-line]');
}

// The execution page's log as shown: [line number, text] per line element.
export async function shownLog(page: Page): Promise<Array<[number, string]>> {
  return logLineElements(page).evaluateAll((elements) =>
    elements.map((e) => [Number(e.getAttribute('data-line')), e.textContent ?? ''] as [number, string]),
  );
}

const ansiSequence = /\x1b\[[0-9;]*m/g;

// Waits until the page's log is exactly the service's log of `executionId` (GET .../log): every
// line, numbered 1..N in order, same text (colours aside). Returns the line count.
export async function expectLogMatchesService(
  page: Page,
  service: RaydeployService,
  executionId: string,
  timeoutMs = 20_000,
): Promise<number> {
  let count = 0;
  await expect
    .poll(
      async () => {
        const served = (await service.logLines(executionId)).map(
          (line, i) => [i + 1, line.replace(ansiSequence, '').replace(/\r$/, '')] as [number, string],
        );
        count = served.length;
        return logDifference(await shownLog(page), served);
      },
      { message: `the page's log of ${executionId} equals GET /api/v1/executions/${executionId}/log`, timeout: timeoutMs },
    )
    .toBe('the same');
  return count;
}

// 'the same', or where the shown log first departs from the served one.
function logDifference(shown: Array<[number, string]>, served: Array<[number, string]>): string {
  for (let i = 0; i < Math.max(shown.length, served.length); ++i) {
    const a = shown[i];
    const b = served[i];
    if (!a || !b || a[0] !== b[0] || a[1] !== b[1])
      return (
        `${shown.length} lines shown, ${served.length} served; element ${i + 1} shows ` +
        `${a ? JSON.stringify(a) : 'nothing'} where the service has ${b ? JSON.stringify(b) : 'nothing'}`
      );
  }
  return 'the same';
}

export interface HostCounts {
  ok: string;
  changed: string;
  failed: string;
  unreachable: string;
  skipped: string;
}

// The Hosts table as host -> {ok, changed, failed, unreachable, skipped}, by column header.
export async function shownHostGrid(page: Page): Promise<Record<string, HostCounts>> {
  return page.getByRole('table', { name: 'Hosts' }).evaluate((table) => {
    const headers = Array.from(table.querySelectorAll('thead th, thead td')).map((h) =>
      (h.textContent ?? '').trim().toLowerCase(),
    );
    const grid: Record<string, Record<string, string>> = {};
    for (const row of Array.from(table.querySelectorAll('[data-host]'))) {
      const cells = Array.from(row.querySelectorAll('th, td')).map((c) => (c.textContent ?? '').trim());
      const counts: Record<string, string> = {};
      for (const column of ['ok', 'changed', 'failed', 'unreachable', 'skipped']) {
        const at = headers.indexOf(column);
        counts[column] = at >= 0 && at < cells.length ? cells[at] : '(no column)';
      }
      grid[row.getAttribute('data-host') ?? '?'] = counts;
    }
    return grid as any;
  });
}

// The service's host_summary of an execution in the grid's shape.
export async function serviceHostGrid(service: RaydeployService, executionId: string): Promise<Record<string, HostCounts>> {
  const record = await service.get('viewer', `/api/v1/executions/${executionId}`);
  const grid: Record<string, HostCounts> = {};
  for (const [host, s] of Object.entries<any>(record.host_summary ?? {}))
    grid[host] = {
      ok: String(s.ok),
      changed: String(s.changed),
      failed: String(s.failures),
      unreachable: String(s.unreachable),
      skipped: String(s.skipped),
    };
  return grid;
}

// Waits until the grid on the page shows what the service reports and that agrees with `wanted`.
export async function expectHostGrid(
  page: Page,
  service: RaydeployService,
  executionId: string,
  wanted: Record<string, Partial<HostCounts>>,
): Promise<void> {
  await expect
    .poll(async () => serviceHostGrid(service, executionId), {
      message: `the service's host summary of ${executionId} reaches ${JSON.stringify(wanted)}`,
    })
    .toMatchObject(wanted);
  const fromService = await serviceHostGrid(service, executionId);
  await expect
    .poll(() => shownHostGrid(page), { message: "the Hosts table shows the service's host summary" })
    .toEqual(fromService);
}

export function executionIdFromUrl(page: Page): string {
  const match = page.url().match(/#\/runs\/(ex-[0-9a-f]+)$/);
  if (!match) throw new Error(`not on an execution page: ${page.url()}`);
  return match[1];
}

export function deploymentIdFromUrl(page: Page): string {
  const match = page.url().match(/#\/deployments\/(dp-[0-9a-f]+)$/);
  if (!match) throw new Error(`not on a deployment page: ${page.url()}`);
  return match[1];
}

// Polls the service until the execution has one of `statuses`; returns the record.
export async function waitForExecution(
  service: RaydeployService,
  executionId: string,
  statuses: string[],
  timeoutMs = 60_000,
): Promise<any> {
  let record: any;
  await expect
    .poll(
      async () => {
        record = await service.get('viewer', `/api/v1/executions/${executionId}`);
        return record.status;
      },
      { message: `execution ${executionId} reaches ${statuses.join(' or ')}`, timeout: timeoutMs },
    )
    .toMatch(new RegExp(`^(${statuses.join('|')})$`));
  return record;
}

export async function waitForDeployment(
  service: RaydeployService,
  deploymentId: string,
  statuses: string[],
  timeoutMs = 60_000,
): Promise<any> {
  let record: any;
  await expect
    .poll(
      async () => {
        record = await service.get('viewer', `/api/v1/deployments/${deploymentId}`);
        return record.status;
      },
      { message: `deployment ${deploymentId} reaches ${statuses.join(' or ')}`, timeout: timeoutMs },
    )
    .toMatch(new RegExp(`^(${statuses.join('|')})$`));
  return record;
}

// Starts `checkpoint` through its "Run <checkpoint>" button and dialog; returns the execution id
// from the page it lands on.
export async function runFromPipeline(page: Page, checkpoint: string): Promise<string> {
  await page.goto('/#/');
  await page.getByRole('button', { name: `Run ${checkpoint}`, exact: true }).click();
  const dialog = page.getByRole('dialog', { name: `Run ${checkpoint}` });
  await expect(dialog).toBeVisible();
  await dialog.getByRole('button', { name: 'Start', exact: true }).click();
  await expect(page).toHaveURL(/#\/runs\/ex-[0-9a-f]+$/);
  return executionIdFromUrl(page);
}

// Cancelling a run from its page: the run stops, the page and the pipeline say cancelled.
import { expect, test, signIn } from '../support/fixtures';
import { checkpointState, expectLogMatchesService, runFromPipeline, waitForExecution } from '../support/ui';

test('an operator cancels a running playbook from its page', async ({ page, service }) => {
  await signIn(page, service, 'operator');
  const id = await runFromPipeline(page, 'prepare');
  await expect(page.getByTestId('run-status')).toHaveText('running');
  await expect(page.getByTestId('current-task')).toContainText('Wait for the release file');

  await page.getByRole('button', { name: 'Cancel run' }).click();
  await expect(page.getByTestId('run-status')).toHaveText('cancelled', { timeout: 30_000 });
  await expect(page.getByRole('button', { name: 'Cancel run' })).toHaveCount(0);
  const record = await waitForExecution(service, id, ['cancelled', 'succeeded', 'failed', 'interrupted', 'timed_out']);
  expect(record.status).toBe('cancelled');
  await expectLogMatchesService(page, service, id);

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Pipeline' }).click();
  await expect(checkpointState(page, 'prepare')).toHaveText('cancelled');
});

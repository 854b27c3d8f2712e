// The service restarts under an open execution page: the page says it is reconnecting, comes back
// live by itself, and its log is the service's log line for line, with nothing lost around the
// restart. A CML run (fake CML) goes on while the service is down and is re-attached, so its log
// goes on after the restart; a playbook run is stopped by the restart and ends interrupted.
import { expect, screenshot, signIn, test } from '../support/fixtures';
import { expectLogMatchesService, logLineElements, runFromPipeline, waitForExecution } from '../support/ui';

test.describe('a CML run', () => {
  test.use({ serviceKind: 'cml' });

  test('is re-attached after a kill -9 and its log goes on with no missing line', async ({
    page,
    service,
    fakeCml,
  }, testInfo) => {
    // The project and its jobs first (through the API: they are not what this test is about).
    for (const checkpoint of ['setup-project', 'create-jobs']) {
      const started = await service.api('operator', 'POST', `/api/v1/checkpoints/${checkpoint}`, {});
      expect(started.status, started.text).toBe(202);
      const record = await waitForExecution(service, started.json.execution_id, ['succeeded', 'failed', 'cancelled', 'timed_out']);
      expect(record.status, JSON.stringify(record)).toBe('succeeded');
    }

    await signIn(page, service, 'operator');
    const id = await runFromPipeline(page, 'run-jobs');
    await expect(page.getByTestId('live-status')).toHaveText('live');
    // The first job's run is under way in CML (and stays so until finishRuns).
    await expect(logLineElements(page).filter({ hasText: 'job git_sync: run' }).filter({ hasText: '-> ENGINE_RUNNING' })).toHaveCount(1);
    const before = await expectLogMatchesService(page, service, id);

    await service.stop('SIGKILL');
    await expect(page.getByTestId('live-status')).toHaveText('reconnecting');
    await screenshot(page, testInfo, 'execution-reconnecting');
    await service.startAgain();
    await expect(page.getByTestId('live-status')).toHaveText('live');
    await expect(logLineElements(page).filter({ hasText: 'is already in progress (ENGINE_RUNNING); following it' })).toHaveCount(1);
    await expect(page.getByTestId('run-status')).toHaveText('running');

    await fakeCml!.finishRuns();
    await expect(page.getByTestId('run-status')).toHaveText('succeeded', { timeout: 60_000 });
    const record = await waitForExecution(service, id, ['succeeded', 'failed', 'interrupted', 'cancelled', 'timed_out']);
    expect(record.status, JSON.stringify(record)).toBe('succeeded');
    const after = await expectLogMatchesService(page, service, id);
    expect(after, 'lines written after the restart are on the page').toBeGreaterThan(before);
    await expect(logLineElements(page).filter({ hasText: 'job setup_environment: run' }).filter({ hasText: '-> ENGINE_SUCCEEDED' })).toHaveCount(1);
  });
});

test('a playbook run stopped by a restart shows every line and ends interrupted', async ({ page, service }) => {
  await signIn(page, service, 'operator');
  const id = await runFromPipeline(page, 'prepare');
  await expect(page.getByTestId('current-task')).toContainText('Wait for the release file');
  await expectLogMatchesService(page, service, id);

  // A graceful stop ends the run (interrupted) while the page is watching.
  await service.stop('SIGTERM');
  await expect(page.getByTestId('live-status')).toHaveText('reconnecting');
  await service.startAgain();
  await expect(page.getByTestId('live-status')).toHaveText('live');
  await expect(page.getByTestId('run-status')).toHaveText('interrupted');
  const record = await waitForExecution(service, id, ['interrupted']);
  expect(record.status_reason).toContain('shut down');
  await expectLogMatchesService(page, service, id);
  await expect(page.getByRole('button', { name: 'Cancel run' })).toHaveCount(0);
});

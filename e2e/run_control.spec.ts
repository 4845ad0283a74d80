import type { Page } from '@playwright/test';
import { test } from '@playwright/test';
import {
  assertNoConsoleErrors,
  expect,
  newWatchedPage,
  openApp,
  runRow,
  screenshot,
  shownStep,
  stateLine,
  traces,
  waitForStatus,
} from './fixtures';

/**
 * Journeys of a training run as a person drives it: what the row says before the first step, pause and stop of a
 * lone run, a reload in the middle of a run, a crashed engine, and deleting a run that trains (with Undo).
 */

test.describe.configure({ mode: 'serial' });

let page: Page;
let errors: string[];

test.beforeAll(async ({ browser }) => {
  ({ page, errors } = await newWatchedPage(browser));
});

test.afterEach(() => {
  assertNoConsoleErrors(errors);
});

test.afterAll(async () => {
  await page.close();
});

/** The tiny preset under `name`, `epochs` x 6 steps; `evalEvery` 0 = evaluate only after the last step. */
async function startTiny(name: string, options: { epochs?: number; evalEvery?: number } = {}): Promise<void> {
  if (page.url() === 'about:blank') await openApp(page); // a test run on its own (-g)
  await page.getByRole('combobox', { name: 'Preset' }).selectOption('tiny');
  await page.getByLabel('Name', { exact: true }).fill(name);
  if (options.epochs !== undefined)
    await page.getByLabel('Epochs', { exact: true }).fill(String(options.epochs));
  if (options.evalEvery !== undefined)
    await page.getByLabel('Eval every (steps)').fill(String(options.evalEvery));
  await page.getByRole('button', { name: 'Start run' }).click();
}

/**
 * Clicks a row's button and returns the step the row showed when the click reached the page (read in the click's
 * capture phase: what the person saw, not a value read a few round trips earlier).
 */
async function clickAtStep(name: string, button: 'Pause' | 'Stop'): Promise<number> {
  await runRow(page, name).evaluate((row) => {
    row.addEventListener(
      'click',
      (event) => {
        const text = row.querySelector('[data-testid="run-step"]')?.textContent ?? '';
        if ((event.target as HTMLElement).closest('button'))
          row.setAttribute('data-step-at-click', /step (\d+)/.exec(text)?.[1] ?? '');
      },
      { capture: true, once: true },
    );
  });
  await runRow(page, name).getByRole('button', { name: button, exact: true }).click();
  return Number(await runRow(page, name).getAttribute('data-step-at-click'));
}

async function lossSteps(name: string): Promise<number[]> {
  const trace = (await traces(page, 'loss')).find((t) => t.name.startsWith(`${name} ·`) && t.meta === null);
  return trace
    ? await page
        .getByTestId('plot-loss')
        .evaluate(
          (el, traceName) =>
            (
              (el as unknown as { data: { name: string; x: number[] }[] }).data.find(
                (t) => t.name === traceName,
              )?.x ?? []
            ).slice(),
          trace.name,
        )
    : [];
}

test('Start waits for the engine, and says so', async () => {
  // hold the engine's script back for a few seconds: the page is up before the engine is
  await page.route('**/engine.worker*.js', async (route) => {
    await new Promise((resolve) => setTimeout(resolve, 4000));
    await route.continue();
  });
  await page.goto('/');
  await expect(page.getByTestId('backend-status')).toHaveText(/Starting the engine/);
  await expect(page.getByRole('button', { name: 'Start run' })).toBeDisabled();
  await expect(page.getByTestId('start-hint')).toHaveText('the engine is starting…');
  await expect(page.getByRole('button', { name: 'Start run' })).toBeEnabled({ timeout: 120_000 });
  await page.unroute('**/engine.worker*.js');
});

test('before its first step a run says what it is doing; pace and ETA follow after a few steps', async () => {
  if (page.url() === 'about:blank') await openApp(page);
  await expect(page.getByRole('region', { name: 'Slow device' })).toContainText('software adapter');
  // every state line the row shows, in order
  await page.evaluate(() => {
    const seen: string[] = [];
    (window as unknown as { __states: string[] }).__states = seen;
    const record = () =>
      document.querySelectorAll('[data-testid="run-state"]').forEach((el) => {
        const text = el.textContent ?? '';
        if (seen[seen.length - 1] !== text) seen.push(text);
      });
    new MutationObserver(record).observe(document.body, {
      subtree: true,
      childList: true,
      characterData: true,
    });
  });
  await page.getByRole('button', { name: 'Switch to the tiny preset' }).click();
  await page.getByLabel('Name', { exact: true }).fill('feedback');
  await page.getByRole('button', { name: 'Start run' }).click();
  const line = stateLine(page, 'feedback');
  await expect(line).toHaveText(/starting|preparing data|building|evaluating|compiling/, { timeout: 10_000 });
  await expect(page.getByText(/^No loss values yet/)).toBeVisible();
  await expect(runRow(page, 'feedback').getByTestId('run-eta')).toHaveText('ETA after a few steps');
  await screenshot(page, 'first-step-feedback');
  await expect(runRow(page, 'feedback').getByTestId('run-eta')).toHaveText(/^ETA \d/, { timeout: 240_000 });
  await expect(runRow(page, 'feedback').getByTestId('run-speed')).toHaveText(/^\d+(\.\d)? img\/s$/);
  await waitForStatus(page, 'feedback', /completed/);
  const states = await page.evaluate(() => (window as unknown as { __states: string[] }).__states);
  expect(states.some((s) => /evaluating the initial weights|compiling kernels/.test(s))).toBe(true);
  expect(states.some((s) => /^training step \d of 6$/.test(s))).toBe(true);
  expect(states.some((s) => /^evaluating at step [36]/.test(s))).toBe(true);
  await expect(line).toHaveText('completed 6 steps');
  // the PCA legend names the dataset's classes
  const classes = (await traces(page, 'pca')).map((t) => t.name);
  expect(classes.length).toBeGreaterThan(1);
  expect(classes.some((name) => /^class \d+$/.test(name))).toBe(false);
});

let stoppedAt = 0;

test('pause and stop of a lone run take effect within one step', async () => {
  await startTiny('lone', { epochs: 4, evalEvery: 0 }); // 24 steps, one evaluation at the end
  const row = runRow(page, 'lone');
  await expect.poll(() => shownStep(page, 'lone'), { timeout: 240_000 }).toBeGreaterThanOrEqual(2);
  const before = await clickAtStep('lone', 'Pause');
  await expect(stateLine(page, 'lone')).toHaveText(/pausing after the step in progress|paused at step/);
  await expect(row.getByTestId('run-status')).toHaveText('paused', { timeout: 120_000 });
  const pausedAt = await shownStep(page, 'lone');
  expect(pausedAt).toBeLessThanOrEqual(before + 1);
  await expect(stateLine(page, 'lone')).toHaveText(`paused at step ${pausedAt}`);
  await page.waitForTimeout(5000);
  expect(await shownStep(page, 'lone')).toBe(pausedAt); // it really stopped training
  await screenshot(page, 'lone-run-paused');

  await row.getByRole('button', { name: 'Resume' }).click();
  await expect.poll(() => shownStep(page, 'lone'), { timeout: 120_000 }).toBeGreaterThan(pausedAt);
  const running = await clickAtStep('lone', 'Stop');
  await expect(row.getByTestId('run-status')).toHaveText('stopped', { timeout: 120_000 });
  stoppedAt = await shownStep(page, 'lone');
  expect(stoppedAt).toBeLessThanOrEqual(running + 1);
  await expect(stateLine(page, 'lone')).toHaveText(
    `stopped at step ${stoppedAt}; Resume continues from step ${stoppedAt}`,
  );
  await expect(row.getByRole('button', { name: 'Pause' })).toHaveCount(0);
  await expect(row.getByRole('button', { name: 'Resume' })).toBeVisible();
});

test('a reload in the middle of a run says from which step it resumes; Resume finishes it without repeated steps', async () => {
  const row = runRow(page, 'lone');
  await row.getByRole('button', { name: 'Resume' }).click();
  await expect
    .poll(() => shownStep(page, 'lone'), { timeout: 240_000 })
    .toBeGreaterThanOrEqual(stoppedAt + 4);
  await page.reload();
  await expect(row.getByTestId('run-status')).toHaveText('interrupted');
  const text = (await stateLine(page, 'lone').textContent()) ?? '';
  const match =
    /^interrupted at step (\d+); Resume continues from step (\d+) \(its last saved checkpoint\)$/.exec(text);
  expect(match, text).not.toBeNull();
  const [reached, from] = [Number(match?.[1]), Number(match?.[2])];
  expect(from).toBeLessThanOrEqual(reached);
  expect(from).toBeGreaterThanOrEqual(stoppedAt);
  await screenshot(page, 'interrupted-after-reload');
  await row.getByRole('button', { name: 'Resume' }).click();
  await waitForStatus(page, 'lone', /completed/);
  await expect(row.getByTestId('run-step')).toHaveText('step 24/24');
  await expect.poll(() => lossSteps('lone')).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
});

test('a crashed engine is noticed: its run is not left "running" and continues from its checkpoint', async () => {
  await startTiny('crash', { epochs: 2, evalEvery: 0 }); // 12 steps
  await expect.poll(() => shownStep(page, 'crash'), { timeout: 240_000 }).toBeGreaterThanOrEqual(4);
  const engine = page.workers().find((worker) => worker.url().includes('engine'));
  expect(engine, 'the engine worker').toBeTruthy();
  // an uncaught error in the worker, as a wasm abort or a bug would throw
  await engine?.evaluate(() => {
    setTimeout(() => {
      throw new Error('simulated engine crash');
    }, 0);
  });
  await expect(page.getByTestId('notice-error').filter({ hasText: /engine crashed/ })).toContainText(
    /continues from the last saved checkpoint/,
  );
  await waitForStatus(page, 'crash', /completed/);
  await expect.poll(() => lossSteps('crash')).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
  // the crash itself may be logged by the browser; nothing else may be
  errors.splice(0, errors.length, ...errors.filter((e) => !/simulated engine crash/.test(e)));
});

test('deleting a run that trains can be undone, and it trains on', async () => {
  await startTiny('undo-me', { epochs: 2, evalEvery: 0 });
  await expect.poll(() => shownStep(page, 'undo-me'), { timeout: 240_000 }).toBeGreaterThanOrEqual(2);
  await runRow(page, 'undo-me').getByRole('button', { name: 'Delete', exact: true }).click();
  await expect(runRow(page, 'undo-me')).toHaveCount(0);
  await page
    .getByTestId('notice-info')
    .filter({ hasText: 'Deleted "undo-me"' })
    .getByRole('button', { name: 'Undo' })
    .click();
  await expect(runRow(page, 'undo-me')).toHaveCount(1);
  await waitForStatus(page, 'undo-me', /completed/);
  await expect.poll(() => lossSteps('undo-me')).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
});

import type { Page } from '@playwright/test';
import { test } from '@playwright/test';
import {
  assertNoConsoleErrors,
  expect,
  newWatchedPage,
  openApp,
  screenshot,
  tracePoints,
  waitForStatus,
} from './fixtures';

/**
 * One journey per objective of MCL, SupReMix and M3CoL: each is chosen in the config panel on the tiny synthetic
 * preset (6 steps, evaluations at steps 0, 3 and 6), trained to completion, and shows its own diagnostic: the
 * stage starts on the loss chart (mcl, m3col) or the regression R² chart and summary (supremix).
 */

test.describe.configure({ mode: 'serial' });

let page: Page;
let errors: string[];

test.beforeAll(async ({ browser }) => {
  ({ page, errors } = await newWatchedPage(browser));
  await openApp(page);
});

test.afterEach(() => {
  assertNoConsoleErrors(errors);
});

test.afterAll(async () => {
  await page.close();
});

/** Loads the tiny preset, names the run and picks the loss; the caller sets parameters and starts it. */
async function tinyWithLoss(name: string, lossLabel: string): Promise<void> {
  await page.getByTestId('preset').selectOption('tiny');
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByLabel('Loss', { exact: true }).selectOption({ label: lossLabel });
}

async function lossParam(name: string, value: string): Promise<void> {
  await page.getByLabel(new RegExp(`^${name} [[(]`)).fill(value);
}

test('MCL trains in three stages and the loss chart marks where stages 2 and 3 start', async () => {
  await tinyWithLoss('mcl-e2e', 'MCL (multistage contrastive)');
  await lossParam('stages', '3');
  await lossParam('clusters', '2');
  await expect(page.getByTestId('start-run')).toBeEnabled();
  await page.getByTestId('start-run').click();
  await waitForStatus(page, 'mcl-e2e', /completed/);
  // 6 steps over 3 stages: stage 2 from step 3, stage 3 from step 5
  const markers = page.getByTestId('stage-markers');
  await expect(markers).toContainText('mcl-e2e');
  await expect(markers).toContainText('stage 2 from step 3');
  await expect(markers).toContainText('stage 3 from step 5');
  await expect.poll(async () => (await tracePoints(page, 'loss')).some((t) => t.points === 6)).toBe(true);
  await screenshot(page, 'mcl-stages');
});

test('SupReMix regresses the synthetic shape size and the compare view shows R² next to kNN accuracy', async () => {
  await tinyWithLoss('supremix-e2e', 'SupReMix (mixup pairs for regression)');
  // choosing a regression loss gives the synthetic draft the shape-size target
  await expect(page.getByLabel('Regression target')).toHaveValue('size');
  await lossParam('window', '10');
  await expect(page.getByTestId('start-run')).toBeEnabled();
  await page.getByTestId('start-run').click();
  await waitForStatus(page, 'supremix-e2e', /completed/);
  const summary = page.getByTestId('regression-summary');
  await expect(summary).toContainText(
    /supremix-e2e.* at step 6: kNN R² -?\d+\.\d{3}, linear R² -?\d+\.\d{3}, kNN MAE/,
  );
  // kNN R² and linear R², one point per evaluation (steps 0, 3 and 6)
  await expect
    .poll(async () =>
      (await tracePoints(page, 'regression')).filter((t) => t.name.startsWith('supremix-e2e')),
    )
    .toEqual([
      expect.objectContaining({ name: expect.stringContaining('kNN R²'), points: 3 }),
      expect.objectContaining({ name: expect.stringContaining('linear R²'), points: 3 }),
    ]);
  await expect(page.getByTestId('plot-knn')).toBeVisible();
  await screenshot(page, 'supremix-regression');
});

test('M3CoL trains its mixup phase, then the soft CLIP phase, marked on the loss chart', async () => {
  await tinyWithLoss('m3col-e2e', 'M3CoL (mixup contrastive)');
  await lossParam('mixupFraction', '0.5');
  await lossParam('modality', '1');
  await expect(page.getByTestId('start-run')).toBeEnabled();
  await page.getByTestId('start-run').click();
  await waitForStatus(page, 'm3col-e2e', /completed/);
  // mixup for round(0.5 x 6) = 3 steps, then SoftCLIP from step 4
  await expect(page.getByTestId('stage-markers')).toContainText(/m3col-e2e.*SoftCLIP from step 4/);
  await screenshot(page, 'm3col-phases');
});

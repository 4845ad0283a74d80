import { chromium, test, type Browser, type Page } from '@playwright/test';
import { readFile } from 'node:fs/promises';
import { CHROMIUM_ARGS } from '../playwright.config';
import {
  assertNoConsoleErrors,
  downloadFrom,
  expect,
  newWatchedPage,
  openApp,
  runRow,
  traces,
  waitForStatus,
} from './fixtures';

/**
 * The newer objectives learn in the browser: each trains its synthetic preset, picked in the config panel, to the
 * end, and the run's Metrics CSV export shows the kNN top-1 of h (for SupReMix, which regresses the shapes' size,
 * the kNN-regression R² of h) clearly above the step-0 evaluation of the same run, the randomly initialised
 * encoder; the compare view's chart of that metric runs between the same two values. The runs are hundreds of
 * steps, so they use Chromium without a GPU, where the app trains on wasm (WebGPU or WebGL on SwiftShader would
 * take hours).
 *
 * The margins lie between what training gains and what the same run gains with the learning rate at 1e-12, where
 * only BatchNorm's running statistics can change (the step-0 evaluation uses their initial mean 0, variance 1).
 * Measured with `npm run train` on wasm (the app's numbers are the same): PixPro +9.3 points vs +3.5 frozen, cMIM
 * +16.0 vs +5.0, MCL +13.1 vs -0.6, M3CoL +15.6 vs +0.2, SupReMix R² +0.295 vs +0.055.
 */

test.describe.configure({ mode: 'serial' });

let browser: Browser;
let page: Page;
let errors: string[];

test.beforeAll(async () => {
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    // no GPU process: no WebGPU adapter and no WebGL context (not even OffscreenCanvas in the worker)
    args: ['--disable-gpu', '--disable-software-rasterizer', ...CHROMIUM_ARGS],
  });
  ({ page, errors } = await newWatchedPage(browser));
  await openApp(page);
  await expect(page.getByTestId('backend-status')).toContainText('Fallback: wasm', {
    timeout: 10_000,
  });
});

test.afterEach(() => {
  assertNoConsoleErrors(errors);
});

test.afterAll(async () => {
  await browser.close();
});

/** One column of the run's Metrics CSV at its first and last evaluation (rows where the column has a value). */
async function firstAndLast(
  name: string,
  column: string,
): Promise<{ first: number; last: number; step: number }> {
  const row = runRow(page, name);
  await row.getByRole('button', { name: 'Export…' }).click();
  const path = await downloadFrom(page, () => row.getByTestId('export-history-csv').click());
  const [header, ...lines] = (await readFile(path, 'utf8')).trim().split('\n');
  const columns = header.split(',');
  const at = columns.indexOf(column);
  expect(at, `the CSV has a ${column} column`).toBeGreaterThanOrEqual(0);
  const evals = lines
    .map((line) => line.split(','))
    .filter((cells) => cells[at] !== '')
    .map((cells) => ({ step: Number(cells[0]), value: Number(cells[at]) }));
  expect(evals[0]?.step, 'the first evaluation is the random encoder').toBe(0);
  const last = evals[evals.length - 1];
  return { first: evals[0].value, last: last.value, step: last.step };
}

/**
 * Loads `preset` under `name`, trains it to the end and checks that `column` at
 * the last evaluation exceeds its step-0 value by at least `margin`.
 */
async function learns(
  preset: string,
  name: string,
  steps: number,
  column: string,
  margin: number,
): Promise<void> {
  await page.getByTestId('preset').selectOption(preset);
  await page.getByLabel('Name', { exact: true }).fill(name);
  await expect(page.getByTestId('field-error')).toHaveCount(0);
  const started = Date.now();
  await page.getByTestId('start-run').click();
  await waitForStatus(page, name, /completed/);
  const seconds = (Date.now() - started) / 1000;
  await expect(runRow(page, name).getByTestId('run-step')).toHaveText(`step ${steps}/${steps}`);
  const { first, last, step } = await firstAndLast(name, column);
  const line = `${name}: ${column} ${first.toFixed(3)} at step 0 -> ${last.toFixed(3)} at step ${step} (${seconds.toFixed(0)} s)`;
  test.info().annotations.push({ type: 'learning', description: line });
  console.log(line);
  expect(step).toBe(steps);
  expect(last - first, line).toBeGreaterThanOrEqual(margin);
  // the compare view's chart of the same metric starts and ends at the exported values
  const regression = column === 'h_knn_reg_r2';
  if (!regression) {
    const space = page.getByRole('radiogroup', { name: 'Embedding space' });
    await space.getByRole('radio', { name: 'h (backbone)' }).check();
  }
  const trace = (await traces(page, regression ? 'regression' : 'knn')).find(
    (t) => t.name.startsWith(`${name} ·`) && (!regression || t.name.includes('kNN R²')),
  );
  expect(trace?.y[0]).toBeCloseTo(first, 6);
  expect(trace?.y[trace.y.length - 1]).toBeCloseTo(last, 6);
}

test('PixPro on the synthetic shapes: kNN of h rises above the random encoder', async () => {
  await learns('pixpro-synthetic', 'pixpro-learn', 384, 'h_knnTop1', 0.06);
});

test('cMIM on the synthetic shapes: kNN of h rises above the random encoder', async () => {
  await learns('cmim-synthetic', 'cmim-learn', 384, 'h_knnTop1', 0.1);
});

test('MCL on the synthetic shapes: kNN of h rises above the random encoder', async () => {
  await learns('mcl-synthetic', 'mcl-learn', 192, 'h_knnTop1', 0.06);
});

test('SupReMix regresses the shape size: kNN-regression R² of h rises above the random encoder', async () => {
  await learns('supremix-synthetic', 'supremix-learn', 192, 'h_knn_reg_r2', 0.15);
});

test('M3CoL on the synthetic shapes: kNN of h rises above the random encoder', async () => {
  await learns('m3col-synthetic', 'm3col-learn', 192, 'h_knnTop1', 0.06);
});

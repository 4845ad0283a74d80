import { deflateSync, strToU8 } from 'fflate';
import type { Page } from '@playwright/test';
import { test } from '@playwright/test';
import { defaultRunConfig, type RunConfigInput } from '../src/engine/config';
import {
  assertNoConsoleErrors,
  expect,
  newWatchedPage,
  openApp,
  pageWidth,
  runItem,
  runRow,
  screenshot,
  seedVersion1Database,
  traces,
} from './fixtures';

/**
 * Journeys over saved runs (no training needed): two finished runs written in the previous storage format, which
 * the app migrates on load. They cover the charts (colours, smoothing, log scale, themes), the layout at three
 * widths, deleting with undo, the comparison selection across reloads, hostile share links and presets whose
 * dataset is not on the server.
 */

const STEPS = 200;
const EVERY = 50;

function metricSet(step: number, scale: number) {
  const t = step / STEPS;
  return {
    alignment: 1.2 - 0.6 * t * scale,
    uniformity: -1 - 2 * t * scale,
    tolerance: 0.3 + 0.3 * t,
    spectrum: Array.from({ length: 16 }, (_, i) => Math.exp(-i * (0.6 - 0.3 * t))),
    effectiveRank: 3 + 8 * t * scale,
    knnTop1: 0.2 + 0.5 * t * scale,
  };
}

/** A finished run as version 1 saved it: the record without the fields added since, and its whole history. */
function savedRun(
  id: string,
  name: string,
  loss: RunConfigInput['loss'],
  start: number,
  end: number,
  seed: number,
) {
  const config = defaultRunConfig({
    ...(JSON.parse(
      JSON.stringify({ name, loss, batchSize: 64, eval: { every: EVERY, size: 200 } }),
    ) as RunConfigInput),
  });
  let state = seed;
  const noise = () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31 - 0.5;
  };
  const steps = Array.from({ length: STEPS }, (_, i) => {
    const t = (i + 1) / STEPS;
    return {
      step: i + 1,
      epoch: t * 2,
      loss: (start - (start - end) * Math.sqrt(t)) * (1 + 0.08 * noise()),
      lr: 0.001,
      imagesPerSecond: 900,
    };
  });
  const evals = Array.from({ length: STEPS / EVERY + 1 }, (_, k) => {
    const step = k * EVERY;
    const last = step === STEPS;
    const labels = Array.from({ length: 200 }, (_, i) => i % 10);
    const points = labels.flatMap((label) => [
      Math.cos(label * 0.63) * (1 + step / 100) + noise() * 0.8,
      Math.sin(label * 0.63) * (1 + step / 100) + noise() * 0.8,
    ]);
    return {
      type: 'eval',
      step,
      epoch: step / 100,
      h: metricSet(step, seed % 2 ? 1 : 0.8),
      z: metricSet(step, seed % 2 ? 0.9 : 0.7),
      linearProbeTop1: null,
      pca: last ? { h: points, z: points, labels } : null,
      evalMs: 900,
    };
  });
  const run = {
    id,
    config,
    createdAt: seed,
    status: 'completed',
    step: STEPS,
    totalSteps: STEPS,
    stepsPerEpoch: 100,
    imagesPerSecond: 900,
    msPerStep: 70,
    backend: 'webgpu',
    parameters: 120_000,
    lastCheckpointStep: STEPS,
    error: null,
    userDatasetKey: null,
    userDatasetName: null,
  };
  return { run, history: { steps, evals } };
}

const SIMCLR = savedRun('run-seed-a', 'seed-simclr', { id: 'ntxent', params: { tau: 0.5 } }, 5.2, 3.1, 1);
const BARLOW = savedRun('run-seed-b', 'seed-barlow', { id: 'barlow_twins', params: {} }, 1800, 240, 2);

test.describe.configure({ mode: 'serial' });

let page: Page;
let errors: string[];

test.beforeAll(async ({ browser }) => {
  ({ page, errors } = await newWatchedPage(browser));
  await seedVersion1Database(page, {
    runs: [SIMCLR.run, BARLOW.run],
    histories: { [SIMCLR.run.id]: SIMCLR.history, [BARLOW.run.id]: BARLOW.history },
  });
});

test.afterEach(() => {
  assertNoConsoleErrors(errors);
});

test.afterAll(async () => {
  await page.close();
});

test('runs saved in the previous storage format survive the upgrade with their histories', async () => {
  await openApp(page);
  await expect(page.getByTestId('run-row')).toHaveCount(2);
  await expect(runRow(page, 'seed-simclr').getByTestId('run-step')).toHaveText(`step ${STEPS}/${STEPS}`);
  await expect(runRow(page, 'seed-barlow').getByTestId('run-status')).toHaveText('completed');
  // charts below the fold are drawn without being scrolled to (in idle time after the ones in view)
  await expect
    .poll(() =>
      page
        .getByTestId('plot-pca')
        .evaluate((el) => (el as unknown as { data?: unknown[] }).data?.length ?? 0),
    )
    .toBe(10);
  await expect.poll(async () => (await traces(page, 'loss')).map((t) => t.points)).toEqual([STEPS, STEPS]);
  await expect.poll(async () => (await traces(page, 'knn')).map((t) => t.points)).toEqual([5, 5]);
  // the database is at the new version and the old whole-history store is gone
  const stores = await page.evaluate(
    () =>
      new Promise<{ version: number; stores: string[] }>((resolve) => {
        const request = indexedDB.open('contrastive-playground');
        request.onsuccess = () => {
          const db = request.result;
          resolve({ version: db.version, stores: [...db.objectStoreNames] });
          db.close();
        };
      }),
  );
  expect(stores.version).toBe(2);
  expect(stores.stores).toContain('steps');
  expect(stores.stores).not.toContain('histories');
});

test('charts and run rows have accessible names that say what they show', async () => {
  await expect(runItem(page, /^seed-simclr · /)).toHaveCount(1);
  await expect(runItem(page, /^seed-barlow · /)).toHaveCount(1);
  await expect(
    page.getByRole('img', { name: /^Training loss against step for 2 runs: seed-simclr/ }),
  ).toBeVisible();
  await expect(
    page.getByRole('img', { name: /^kNN top-1 accuracy of the z embeddings against step/ }),
  ).toHaveCount(1);
  await expect(page.getByRole('img', { name: /^2-D PCA of the z embeddings of seed-barlow/ })).toHaveCount(1);
  // a legend names the loss once, even when the run's name does not
  await expect(page.getByTestId('legend')).toContainText('seed-barlow · Barlow Twins');
  await expect(page.getByTestId('legend')).not.toContainText('Barlow Twins · Barlow Twins');
});

test('each run keeps its colour when runs are ticked and unticked', async () => {
  const colourOf = async (name: string) =>
    (await traces(page, 'loss')).find((t) => t.name.startsWith(name))?.colour ?? null;
  const simclr = await colourOf('seed-simclr');
  const barlow = await colourOf('seed-barlow');
  expect(simclr).toBeTruthy();
  expect(barlow).toBeTruthy();
  expect(simclr).not.toBe(barlow);
  await runRow(page, 'seed-simclr').getByRole('checkbox', { name: 'Compare seed-simclr' }).uncheck();
  await expect.poll(async () => (await traces(page, 'loss')).length).toBe(1);
  expect(await colourOf('seed-barlow')).toBe(barlow); // first in the chart now, same colour
  await runRow(page, 'seed-simclr').getByRole('checkbox', { name: 'Compare seed-simclr' }).check();
  await expect.poll(async () => (await traces(page, 'loss')).length).toBe(2);
  expect(await colourOf('seed-simclr')).toBe(simclr);
  expect(await colourOf('seed-barlow')).toBe(barlow);
  // the class palette is not the run palette: no class in the PCA scatter looks like a run
  const classColours = (await traces(page, 'pca')).map((t) => t.colour);
  expect(classColours).toHaveLength(10);
  expect(classColours).not.toContain(simclr);
  expect(classColours).not.toContain(barlow);
});

test('the loss chart smooths, switches to a log scale and to losses relative to their first step', async () => {
  const raw = await traces(page, 'loss');
  expect(raw.every((t) => t.meta === null)).toBe(true);
  await page.getByLabel('Smoothing').fill('0.9');
  await expect.poll(async () => (await traces(page, 'loss')).length).toBe(4);
  const smoothed = await traces(page, 'loss');
  expect(smoothed.filter((t) => t.meta === 'raw')).toHaveLength(2);
  const line = smoothed.find((t) => t.meta === null && t.name.startsWith('seed-simclr'));
  const rawLine = raw.find((t) => t.name.startsWith('seed-simclr'));
  // smoothing removes the noise: the smoothed curve varies less from point to point
  const roughness = (y: number[]) => y.slice(1).reduce((s, v, i) => s + Math.abs(v - y[i]), 0);
  expect(roughness(line?.y ?? [])).toBeLessThan(roughness(rawLine?.y ?? []) / 2);
  await page.getByLabel('Log scale').check();
  await expect
    .poll(() =>
      page
        .getByTestId('plot-loss')
        .evaluate((el) => (el as unknown as { layout: { yaxis: { type: string } } }).layout.yaxis.type),
    )
    .toBe('log');
  await page.getByLabel('Relative to the first step').check();
  await expect
    .poll(async () =>
      (await traces(page, 'loss')).filter((t) => t.meta === null).map((t) => Number(t.y[0].toFixed(1))),
    )
    .toEqual([1, 1]);
  await screenshot(page, 'loss-smoothed-log-relative');
  await page.getByLabel('Smoothing').fill('0');
  await page.getByLabel('Log scale').uncheck();
  await page.getByLabel('Relative to the first step').uncheck();
});

test('charts follow a live switch between light and dark', async () => {
  const paper = () =>
    page
      .getByTestId('plot-loss')
      .evaluate((el) => (el as unknown as { layout: { paper_bgcolor: string } }).layout.paper_bgcolor);
  await page.emulateMedia({ colorScheme: 'light' });
  await expect.poll(paper).toMatch(/^#fff(fff)?$/i);
  await page.emulateMedia({ colorScheme: 'dark' });
  await expect.poll(paper).toBe('#1e2128');
  await screenshot(page, 'dark-1280');
  await page.emulateMedia({ colorScheme: 'light' });
  await expect.poll(paper).toMatch(/^#fff(fff)?$/i);
});

test('the comparison selection survives a reload', async () => {
  await runRow(page, 'seed-barlow').getByRole('checkbox').uncheck();
  await expect.poll(async () => (await traces(page, 'loss')).length).toBe(1);
  await page.waitForTimeout(600); // the selection is saved a moment after the last change
  await page.reload();
  await expect(page.getByTestId('run-row')).toHaveCount(2);
  await expect(runRow(page, 'seed-barlow').getByRole('checkbox')).not.toBeChecked();
  await expect(runRow(page, 'seed-simclr').getByRole('checkbox')).toBeChecked();
  await runRow(page, 'seed-barlow').getByRole('checkbox').check();
});

for (const scheme of ['light', 'dark'] as const) {
  test(`layout at 1400, 820 and 390 pixels wide (${scheme})`, async () => {
    await page.emulateMedia({ colorScheme: scheme });
    // desktop: two columns, Start run in view without scrolling
    await page.setViewportSize({ width: 1400, height: 900 });
    await page.evaluate(() => window.scrollTo(0, 0));
    await expect(page.getByRole('button', { name: 'Start run' })).toBeInViewport();
    expect((await pageWidth(page)).scroll).toBeLessThanOrEqual(1400);
    await page.screenshot({ path: `test-results/layout-1400-${scheme}.png` });
    // tablet: one column, charts inside the window
    await page.setViewportSize({ width: 820, height: 1100 });
    await expect.poll(async () => (await pageWidth(page)).scroll).toBeLessThanOrEqual(820);
    const runs = await page.getByRole('region', { name: 'Runs', exact: true }).boundingBox();
    const editor = await page.getByRole('region', { name: 'New run', exact: true }).boundingBox();
    expect(runs && editor && runs.y > editor.y + editor.height - 1).toBe(true); // stacked, not side by side
    for (const chart of ['loss', 'pca']) {
      const box = await page.getByTestId(`plot-${chart}`).boundingBox();
      expect(box && box.x >= 0 && box.x + box.width <= 820).toBe(true);
    }
    await screenshot(page, `layout-820-${scheme}`);
    // phone: nothing cut off, Start run reachable in the sticky action bar
    await page.setViewportSize({ width: 390, height: 844 });
    await page.evaluate(() => window.scrollTo(0, 0));
    await expect.poll(async () => (await pageWidth(page)).scroll).toBeLessThanOrEqual(390);
    await expect(page.getByRole('button', { name: 'Start run' })).toBeInViewport();
    const row = await runRow(page, 'seed-barlow').boundingBox();
    expect(row && row.x >= 0 && row.x + row.width <= 390).toBe(true);
    await page.screenshot({ path: `test-results/layout-390-${scheme}.png` });
    await screenshot(page, `layout-390-${scheme}-full`);
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.emulateMedia({ colorScheme: 'light' });
  });
}

test('deleting a run can be undone, and without Undo it is gone for good', async () => {
  const row = runRow(page, 'seed-barlow');
  await row.getByRole('button', { name: 'Delete', exact: true }).click();
  await expect(row).toHaveCount(0);
  const notice = page.getByTestId('notice-info').filter({ hasText: 'Deleted "seed-barlow"' });
  await expect(notice).toBeVisible();
  await notice.getByRole('button', { name: 'Undo' }).click();
  await expect(row).toHaveCount(1);
  await expect(row.getByTestId('run-step')).toHaveText(`step ${STEPS}/${STEPS}`);
  await expect
    .poll(async () => (await traces(page, 'loss')).find((t) => t.name.startsWith('seed-barlow'))?.points)
    .toBe(STEPS);
  // the undone delete is in the database again
  await page.reload();
  await expect(runRow(page, 'seed-barlow')).toHaveCount(1);
  await expect
    .poll(async () => (await traces(page, 'loss')).find((t) => t.name.startsWith('seed-barlow'))?.points)
    .toBe(STEPS);
  // delete without undo: gone after a reload
  await runRow(page, 'seed-barlow').getByRole('button', { name: 'Delete', exact: true }).click();
  await expect(runRow(page, 'seed-barlow')).toHaveCount(0);
  await page.reload();
  await expect(page.getByTestId('run-row')).toHaveCount(1);
  await expect(runRow(page, 'seed-barlow')).toHaveCount(0);
});

/** A #config= link whose payload is deflate(text), as a broken tool or an attacker would make it. */
function linkTo(text: string): string {
  return `#config=${Buffer.from(deflateSync(strToU8(text), { level: 9 })).toString('base64url')}`;
}

test('hostile share links get a short, dismissable error and leave the address bar', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  const cases: [string, RegExp][] = [
    [`#config=${'A'.repeat(200_000)}`, /the shared link is too long/],
    [linkTo(' '.repeat(3_000_000)), /unpacks to more than 32 KiB/],
    [
      // a long value the app must not echo whole (the 209,539-pixel-wide page)
      linkTo(JSON.stringify({ ...defaultRunConfig(), name: 'x'.repeat(20_000), batchSize: 1e20 })),
      /batchSize must be at most 8192/,
    ],
  ];
  for (const [hash, message] of cases) {
    await page.goto(`/${hash}`);
    const notice = page.getByTestId('notice-error').filter({ hasText: message });
    await expect(notice).toBeVisible({ timeout: 60_000 });
    const text = (await notice.locator('.notice-text').textContent()) ?? '';
    expect(text.length).toBeLessThan(300);
    expect(await notice.textContent()).not.toContain('9007199254740991');
    expect(await notice.textContent()).not.toContain('x'.repeat(100));
    expect((await pageWidth(page)).scroll).toBeLessThanOrEqual(390);
    await expect(page).not.toHaveURL(/#config=/);
    const dismiss = notice.getByRole('button', { name: 'Dismiss' });
    await expect(dismiss).toBeInViewport();
    await page.screenshot({ path: `test-results/hostile-link-${cases.findIndex((c) => c[0] === hash)}.png` });
    await dismiss.click();
    await expect(notice).toHaveCount(0);
  }
  await page.setViewportSize({ width: 1280, height: 800 });
});

test('presets whose dataset is not on the server are marked before Start, with what to do', async () => {
  const cifar = page.getByRole('combobox', { name: 'Preset' }).locator('option[value="simclr-cifar"]');
  await expect(cifar).toHaveText(/not on this server/);
  await page.getByRole('combobox', { name: 'Preset' }).selectOption('simclr-cifar');
  const advice = page.getByTestId('dataset-missing');
  await expect(advice).toContainText('drop zone');
  await expect(advice).toContainText('npm run datasets -- cifar10');
  await expect(page.getByRole('button', { name: 'Start run' })).toBeDisabled();
  await expect(page.getByTestId('start-hint')).toContainText('CIFAR-10 is not on this server');
  await screenshot(page, 'absent-dataset');
  await page.getByRole('combobox', { name: 'Preset' }).selectOption('tiny');
  await expect(advice).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Start run' })).toBeEnabled();
});

test('a run that cannot start offers only what it can do: edit its config, or delete it', async () => {
  // the server claims CIFAR-10 when asked (HEAD) but cannot serve it: the run fails while loading its data
  await page.route('**/datasets/cifar10/**', (route) =>
    route.request().method() === 'HEAD'
      ? route.fulfill({ status: 200, contentType: 'application/octet-stream', body: '' })
      : route.fulfill({ status: 404, body: 'not found' }),
  );
  await page.reload();
  await openApp(page);
  await page.getByRole('combobox', { name: 'Preset' }).selectOption('simclr-cifar');
  await page.getByLabel('Name', { exact: true }).fill('cannot-start');
  await page.getByRole('button', { name: 'Start run' }).click();
  const row = runRow(page, 'cannot-start');
  await expect(row.getByTestId('run-status')).toHaveText('failed', { timeout: 120_000 });
  await expect(row.getByTestId('run-state')).toHaveText('could not start');
  await expect(row.getByRole('button')).toHaveText(['Edit config', 'Delete']);
  // what to do (drop zone, download command), then which file was missing
  await expect(row).toContainText('drop zone');
  await expect(row).toContainText('npm run datasets -- cifar10');
  await expect(row).toContainText('not found');
  await screenshot(page, 'run-could-not-start');
  await row.getByRole('button', { name: 'Edit config' }).click();
  await expect(page.getByLabel('Name', { exact: true })).toHaveValue('cannot-start');
  await page.unroute('**/datasets/cifar10/**');
  errors.splice(0, errors.length, ...errors.filter((e) => !/404|Failed to load resource/.test(e)));
});

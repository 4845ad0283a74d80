import type { Page } from '@playwright/test';
import { test } from '@playwright/test';
import {
  assertNoConsoleErrors,
  expect,
  newWatchedPage,
  openApp,
  runRow,
  screenshot,
  tracePoints,
  waitForStatus,
} from './fixtures';

/**
 * One journey per objective that needs more than augmented views: PixPro (crop geometry, spatial maps, the dense
 * pixel consistency chart) and cMIM (clean images, a decoder, the h / z / informative representation switch).
 * Each picks its loss in the config panel on the tiny synthetic preset, trains it to the end and finds its own
 * diagnostic in the compare view.
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

/** The tiny preset under `name` with the loss `lossId` picked in the config panel, started. */
async function startTinyWith(name: string, lossId: string): Promise<void> {
  if (page.url() === 'about:blank') await openApp(page); // a test run on its own (-g)
  await page.getByRole('combobox', { name: 'Preset' }).selectOption('tiny');
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByRole('combobox', { name: 'Loss', exact: true }).selectOption(lossId);
  await expect(page.getByTestId('field-error')).toHaveCount(0);
  await page.getByRole('button', { name: 'Start run' }).click();
}

test('PixPro trains on views with their crop geometry and shows the dense pixel consistency', async () => {
  await startTinyWith('pixpro-e2e', 'pixpro');
  await waitForStatus(page, 'pixpro-e2e', /completed/);
  await expect(runRow(page, 'pixpro-e2e').getByTestId('run-step')).toHaveText('step 6/6');
  const chart = page.getByTestId('dense-chart');
  await expect(chart).toBeVisible();
  // corresponding (solid) and other (dotted) cells, one point per evaluation: steps 0, 3 and 6
  await expect
    .poll(async () =>
      (await tracePoints(page, 'dense'))
        .filter((t) => t.name.startsWith('pixpro-e2e ·'))
        .map((t) => t.points),
    )
    .toEqual([3, 3]);
  await expect(page.getByTestId('dense-latest')).toContainText(
    /pixpro-e2e · .*: corresponding -?\d\.\d{3}, other -?\d\.\d{3} \(\d+\.\d pairs per image at T 0\.7, 32 images\)/,
  );
  await expect(page.getByRole('img', { name: /^Dense pixel consistency against step/ })).toBeVisible();
  await screenshot(page, 'pixpro-dense-consistency');
});

test('cMIM trains on clean images and its evaluation representation switches between h, z and informative', async () => {
  await startTinyWith('cmim-e2e', 'cmim');
  await waitForStatus(page, 'cmim-e2e', /completed/);
  await expect(runRow(page, 'cmim-e2e').getByTestId('run-step')).toHaveText('step 6/6');
  const switcher = page.getByRole('radiogroup', { name: 'Evaluation representation' });
  await expect(switcher.getByRole('radio', { name: 'informative (decoder)' })).toBeChecked();
  await expect
    .poll(async () =>
      (await tracePoints(page, 'representation'))
        .filter((t) => t.name.startsWith('cmim-e2e ·'))
        .map((t) => t.points),
    )
    .toEqual([3]);
  const plot = page.getByTestId('plot-representation');
  await expect(plot).toHaveAttribute('aria-label', /^kNN top-1 of the informative representation/);
  await switcher.getByRole('radio', { name: 'z (projector)' }).check();
  await expect(plot).toHaveAttribute('aria-label', /^kNN top-1 of the z representation/);
  // the latest kNN of all three representations, side by side
  const row = page.getByTestId('representation-table').getByRole('row', { name: /cmim-e2e/ });
  await expect(row.getByRole('cell')).toHaveCount(3);
  for (const cell of await row.getByRole('cell').all()) await expect(cell).toHaveText(/^\d+\.\d%$/);
  // a pixpro run has no informative representation: only the cmim run is in this chart
  await expect(page.getByTestId('representation-table')).not.toContainText('pixpro-e2e');
  await screenshot(page, 'cmim-representations');
});

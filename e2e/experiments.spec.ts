import { readFile } from 'node:fs/promises';
import type { Page } from '@playwright/test';
import { test } from '@playwright/test';
import {
  assertNoConsoleErrors,
  downloadFrom,
  expect,
  newWatchedPage,
  openApp,
  screenshot,
  waitForStatus,
} from './fixtures';

/**
 * The Experiments tab as a person uses it: the gallery, one experiment run at the smoke scale (its grid on tiny
 * synthetic data, 2 steps per run: what SwiftShader can train in a few minutes), the verdict panel deciding once
 * the runs end, and the bundle export.
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

test('the gallery shows a card per experiment with its claim, paper, runs and expected time', async () => {
  await openApp(page);
  await page.getByRole('tab', { name: 'Experiments' }).click();
  await expect(page.getByRole('heading', { name: 'Experiments', exact: true })).toBeVisible();
  const card = page.getByTestId('experiment-supcon');
  await expect(card).toContainText('Khosla');
  await expect(card).toContainText(/arXiv \d{4}\.\d{4,5}/);
  await expect(card.getByTestId('experiment-cost')).toContainText(/2 runs, [\d,]+ steps: about/);
  await expect(page.locator('[data-testid^="experiment-"] h3')).toHaveCount(8);
  await expect(page.getByText('No experiment has run here yet')).toBeVisible();
});

test('Run queues the grid at the smoke scale, and the verdict panel decides once the runs end', async () => {
  test.setTimeout(900_000);
  await page.getByTestId('experiment-scale').selectOption('smoke');
  await expect(page.getByTestId('experiment-supcon').getByTestId('experiment-cost')).toContainText(
    '2 runs, 4 steps',
  );
  await page.getByTestId('experiment-supcon').getByRole('button', { name: 'Run', exact: true }).click();
  const panel = page.getByTestId('verdict-panel');
  await expect(panel).toContainText('Supervised contrastive');
  await expect(panel).toContainText('Claim:');
  // the runs are ordinary runs in the list, named by experiment and grid point
  await waitForStatus(page, 'supcon/loss=ntxent,seed=0', /completed/);
  await waitForStatus(page, 'supcon/loss=supcon,seed=0', /completed/);
  await expect(panel.getByTestId('verdict-progress')).toHaveText('(2 of 2 runs ended)', { timeout: 30_000 });
  await expect(panel.getByTestId('verdict-status')).toHaveAttribute(
    'data-status',
    /^(holds|does not hold|inconclusive)$/,
  );
  await expect(panel.getByTestId('verdict-observed')).toHaveText(
    /^Observed: .*: (holds|does not hold|inconclusive)$/,
  );
  await expect(panel.locator('.experiment-chart svg').first()).toBeVisible();
  await screenshot(page, 'experiment-verdict');
});

test('Export bundle downloads the configs, histories and verdict in the CLI format', async () => {
  const path = await downloadFrom(page, () =>
    page.getByTestId('verdict-panel').getByRole('button', { name: 'Export bundle' }).click(),
  );
  const bundle = JSON.parse(await readFile(path, 'utf8')) as {
    format: string;
    smoke: boolean;
    experiment: { id: string };
    runs: { key: string; status: string; history: { evals: unknown[] } }[];
    verdict: { status: string };
  };
  expect(bundle.format).toBe('contrastive-playground/experiment');
  expect(bundle.experiment.id).toBe('supcon');
  expect(bundle.smoke).toBe(true);
  expect(bundle.runs.map((run) => [run.key, run.status])).toEqual([
    ['loss=ntxent,seed=0', 'completed'],
    ['loss=supcon,seed=0', 'completed'],
  ]);
  expect(bundle.runs.every((run) => run.history.evals.length === 3)).toBe(true);
  const shown = await page.getByTestId('verdict-status').getAttribute('data-status');
  expect(bundle.verdict.status).toBe(shown);
});

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
 * One journey per protocol (RunConfig.protocol): the tiny synthetic preset with the protocol chosen in the config
 * panel's Protocol section, trained to completion, and the protocol's numbers shown in the compare view.
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

/** The tiny preset under `name`, with `loss` (its menu label) when given and `protocol` chosen. */
async function tinyWithProtocol(name: string, protocol: string, loss?: string): Promise<void> {
  if (page.url() === 'about:blank') await openApp(page);
  await page.getByRole('combobox', { name: 'Preset' }).selectOption('tiny');
  await page.getByLabel('Name', { exact: true }).fill(name);
  if (loss) await page.getByRole('combobox', { name: 'Loss', exact: true }).selectOption({ label: loss });
  await page.getByTestId('protocol-type').selectOption({ label: protocol });
}

async function start(): Promise<void> {
  await expect(page.getByTestId('config-problems')).toHaveCount(0);
  await page.getByRole('button', { name: 'Start run' }).click();
}

test('BECLR few-shot: episodes on the held-out classes with and without OpTA', async () => {
  await tinyWithProtocol('fewshot-e2e', 'Few-shot episodes (BECLR)', 'BECLR (DyCE batch enhancement)');
  // the tiny preset has 4 classes: 2 pretrained, 2 held out
  await page.getByLabel('Ways (N)').fill('2');
  await page.getByLabel('Shots (K)').fill('1');
  await page.getByLabel('Queries per class').fill('3');
  await page.getByLabel('Episodes', { exact: true }).fill('20');
  await start();
  await waitForStatus(page, 'fewshot-e2e', /completed/);
  const table = page.getByTestId('few-shot-results');
  await table.scrollIntoViewIfNeeded();
  const row = table.getByRole('row').filter({ hasText: 'fewshot-e2e' });
  await expect(row).toContainText('2-way 1-shot');
  // accuracy ± interval, without and with OpTA
  await expect(row.getByRole('cell').nth(2)).toHaveText(/\d+\.\d% ± \d+\.\d%/);
  await expect(row.getByRole('cell').nth(3)).toHaveText(/\d+\.\d% ± \d+\.\d%/);
  await expect(table).toContainText('20 seeded episodes');
  await screenshot(page, 'protocol-few-shot');
});

test('Core-tuning fine-tuning stage: test accuracy of Core-tuning, plain fine-tuning and the linear probe', async () => {
  await tinyWithProtocol('finetune-e2e', 'Fine-tuning stage (Core-tuning)');
  await page.getByLabel('Fine-tuning epochs').fill('1');
  await page.getByLabel('Fine-tuning steps per epoch (0 = full)').fill('2');
  await page.getByLabel('Fine-tuning batch').fill('8');
  await page.getByLabel('Test accuracy every (steps, 0 = epoch)').fill('1');
  await start();
  await waitForStatus(page, 'finetune-e2e', /completed/);
  const results = page.getByTestId('fine-tune-results');
  await results.scrollIntoViewIfNeeded();
  const row = results.getByRole('row').filter({ hasText: 'finetune-e2e' });
  await expect(row.getByRole('cell').last()).toHaveText('done');
  for (const column of [1, 2, 3]) await expect(row.getByRole('cell').nth(column)).toHaveText(/\d+\.\d%/);
  const curves = (await tracePoints(page, 'fine-tune')).filter((t) => t.name.startsWith('finetune-e2e'));
  expect(curves.map((t) => t.points)).toEqual([2, 2]); // plain and Core-tuning, test accuracy at steps 1 and 2
  await screenshot(page, 'protocol-fine-tune');
});

test('SepCLR contrastive analysis: the salient pattern and the class from the common and the salient space', async () => {
  await tinyWithProtocol('sepclr-e2e', 'Contrastive analysis (SepCLR)', 'SepCLR (common / salient)');
  await start();
  await waitForStatus(page, 'sepclr-e2e', /completed/);
  const table = page.getByTestId('contrastive-analysis-results');
  await table.scrollIntoViewIfNeeded();
  const rows = table.getByRole('row').filter({ hasText: 'sepclr-e2e' });
  await expect(rows).toHaveCount(2);
  await expect(rows.nth(0)).toContainText('common');
  await expect(rows.nth(1)).toContainText('salient');
  await expect(rows.nth(1).getByRole('cell').nth(2)).toHaveText(/\d+\.\d%/);
  await expect(table).toContainText('Chance: pattern 25.0%');
  await screenshot(page, 'protocol-contrastive-analysis');
});

test('SepCLR without its protocol is refused in the panel, naming the fix', async () => {
  await page.getByRole('combobox', { name: 'Preset' }).selectOption('tiny');
  await page
    .getByRole('combobox', { name: 'Loss', exact: true })
    .selectOption({ label: 'SepCLR (common / salient)' });
  await expect(page.getByRole('button', { name: 'Start run' })).toBeDisabled();
  await expect(page.getByText(/set protocol.type to 'contrastive-analysis'/)).toBeVisible();
});

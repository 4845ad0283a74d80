import { expect, type Browser, type Page } from '@playwright/test';
import { mkdir } from 'node:fs/promises';

/**
 * Helpers shared by the e2e specs. The specs reuse one page for a whole serial group: SwiftShader compiles
 * each WebGPU pipeline once per page (tens of seconds), so a fresh page per test would multiply that cost.
 */

export { expect };

/** A page that records console errors and uncaught exceptions (page and worker) for assertNoConsoleErrors. */
export async function newWatchedPage(browser: Browser): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({
    viewport: { width: 1280, height: 800 },
    acceptDownloads: true,
    baseURL: 'http://127.0.0.1:4173',
  });
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console.error: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`uncaught: ${error.message}`));
  return { page, errors };
}

export function assertNoConsoleErrors(errors: string[]): void {
  const seen = errors.splice(0);
  expect(seen, 'the page logged errors').toEqual([]);
}

export async function openApp(page: Page): Promise<void> {
  await page.goto('/');
  await expect(page.getByTestId('backend-status')).not.toHaveText(/Starting the engine/, {
    timeout: 120_000,
  });
}

/** Loads the tiny preset into the config panel under `name` and starts it. */
export async function startTinyRun(page: Page, name: string): Promise<void> {
  await page.getByTestId('preset').selectOption('tiny');
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByTestId('start-run').click();
}

/** The run-list row whose legend starts with `name ·` (or matches the RegExp). */
export function runRow(page: Page, name: string | RegExp) {
  const pattern = typeof name === 'string' ? new RegExp(`^${name} ·`) : name;
  return page.getByTestId('run-row').filter({ has: page.locator('.run-name', { hasText: pattern }) });
}

export async function waitForStatus(page: Page, name: string | RegExp, status: RegExp): Promise<void> {
  await expect(runRow(page, name).getByTestId('run-status')).toHaveText(status, { timeout: 240_000 });
}

/** Number of points per trace of a Plotly chart (Plotly keeps its data on the element). */
export async function tracePoints(page: Page, plot: string): Promise<{ name: string; points: number }[]> {
  const chart = page.getByTestId(`plot-${plot}`);
  // charts out of view are drawn when they scroll in
  await chart.scrollIntoViewIfNeeded();
  await page.waitForTimeout(300);
  return chart.evaluate((element) => {
    const data = (element as unknown as { data?: { name?: string; x?: unknown[] }[] }).data ?? [];
    return data.map((trace) => ({ name: String(trace.name ?? ''), points: trace.x?.length ?? 0 }));
  });
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir('test-results', { recursive: true });
  await page.screenshot({ path: `test-results/${name}.png`, fullPage: true });
}

/** Clicks `trigger` and saves the download it starts under test-results/downloads; returns the path. */
export async function downloadFrom(page: Page, click: () => Promise<void>): Promise<string> {
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 120_000 }), click()]);
  await mkdir('test-results/downloads', { recursive: true });
  const path = `test-results/downloads/${download.suggestedFilename()}`;
  await download.saveAs(path);
  return path;
}

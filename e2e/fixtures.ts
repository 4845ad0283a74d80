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

/** The run-list row as a list item found by its accessible name (the run's legend). */
export function runItem(page: Page, name: string | RegExp) {
  return page.getByRole('listitem', { name });
}

/** The state line of a run row ("preparing data…", "training step 3 of 6", "paused at step 4"...). */
export function stateLine(page: Page, name: string | RegExp) {
  return runRow(page, name).getByTestId('run-state');
}

/** The step a row shows ("step 3/6" -> 3). */
export async function shownStep(page: Page, name: string | RegExp): Promise<number> {
  const text = (await runRow(page, name).getByTestId('run-step').textContent()) ?? '';
  return Number(/step (\d+)/.exec(text)?.[1] ?? NaN);
}

/** Plotly's traces of a chart with their colours and names (colours come from the run, not from its position). */
export async function traces(
  page: Page,
  plot: string,
): Promise<{ name: string; colour: string; points: number; meta: string | null; y: number[] }[]> {
  const chart = page.getByTestId(`plot-${plot}`);
  await chart.scrollIntoViewIfNeeded();
  await page.waitForTimeout(300);
  return chart.evaluate((element) => {
    const data =
      (
        element as unknown as {
          data?: {
            name?: string;
            x?: unknown[];
            y?: number[];
            meta?: string;
            line?: { color?: string };
            marker?: { color?: string };
          }[];
        }
      ).data ?? [];
    return data.map((trace) => ({
      name: String(trace.name ?? ''),
      colour: String(trace.line?.color ?? trace.marker?.color ?? ''),
      points: trace.x?.length ?? 0,
      meta: trace.meta ?? null,
      y: Array.isArray(trace.y) ? trace.y.slice(0, 50) : [],
    }));
  });
}

/** The page is no wider than its window (no sideways scrolling). */
export async function pageWidth(page: Page): Promise<{ scroll: number; viewport: number }> {
  return page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    viewport: window.innerWidth,
  }));
}

/**
 * Writes saved runs in the storage format of the previous version (database version 1: one whole-history record
 * per run) on the app's origin, before the app opens it: the app must migrate them.
 */
export async function seedVersion1Database(
  page: Page,
  data: { runs: unknown[]; histories: Record<string, unknown> },
): Promise<void> {
  await page.route('**/seed.html', (route) =>
    route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>seed</title>' }),
  );
  await page.goto('/seed.html');
  await page.evaluate(
    ({ runs, histories }) =>
      new Promise<void>((resolve, reject) => {
        const request = indexedDB.open('contrastive-playground', 1);
        request.onupgradeneeded = () => {
          const db = request.result;
          db.createObjectStore('runs', { keyPath: 'id' });
          db.createObjectStore('histories');
          db.createObjectStore('checkpoints');
          db.createObjectStore('datasets', { keyPath: 'key' });
          db.createObjectStore('settings');
        };
        request.onerror = () => reject(request.error);
        request.onsuccess = () => {
          const db = request.result;
          const tx = db.transaction(['runs', 'histories'], 'readwrite');
          for (const run of runs) tx.objectStore('runs').put(run);
          for (const [id, history] of Object.entries(histories)) tx.objectStore('histories').put(history, id);
          tx.oncomplete = () => {
            db.close();
            resolve();
          };
          tx.onerror = () => reject(tx.error);
        };
      }),
    data,
  );
  await page.unroute('**/seed.html');
}

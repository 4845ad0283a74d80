import { chromium } from '@playwright/test';
import { test } from '@playwright/test';
import { CHROMIUM_ARGS } from '../playwright.config';
import { assertNoConsoleErrors, expect, screenshot, startTinyRun, waitForStatus } from './fixtures';

test('without WebGPU the app falls back, says why, and still trains', async () => {
  // the same Chromium without --enable-unsafe-webgpu: navigator.gpu exists but has no adapter
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({
      viewport: { width: 1280, height: 800 },
      baseURL: 'http://127.0.0.1:4173',
    });
    const errors: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto('/');
    const status = page.getByTestId('backend-status');
    await expect(status).toContainText('Fallback', { timeout: 120_000 });
    await expect(status).toContainText(/webgpu: .*(no adapter|navigator\.gpu missing)/);
    await expect(status).toContainText('enable-unsafe-webgpu');
    await startTinyRun(page, 'tiny-fallback');
    await waitForStatus(page, 'tiny-fallback', /completed/);
    await screenshot(page, 'fallback');
    assertNoConsoleErrors(errors);
  } finally {
    await browser.close();
  }
});

// The Temporal Web UI in a real browser (Debian's chromium through playwright-core), for the
// tests that use it as an operator would: a page, screenshots of every step under
// <test root>/artifacts/<name>/, the page's text, and the Start Workflow form.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { testEnv } from './env';
import { until } from './until';

export interface UiSession {
  page: Page;
  /** A full-page screenshot, numbered in the order taken. */
  shot(name: string): Promise<void>;
  /** The text of the page and its frames (the UI renders current details in a sandboxed frame). */
  text(): Promise<string>;
  close(): Promise<void>;
}

export async function openUi(artifacts: string): Promise<UiSession> {
  const shots = join(testEnv().root, 'artifacts', artifacts);
  mkdirSync(shots, { recursive: true });
  const browser: Browser = await chromium.launch({
    executablePath: process.env.REKEY_CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
  page.setDefaultTimeout(60_000);
  let step = 0;
  return {
    page,
    shot: async (name) => {
      await page.screenshot({
        path: join(shots, `${String(++step).padStart(2, '0')}-${name}.png`),
        fullPage: true,
      });
    },
    text: async () =>
      (
        await Promise.all(
          page.frames().map((f) =>
            f
              .locator('body')
              .textContent()
              .catch(() => ''),
          ),
        )
      ).join('\n'),
    close: () => browser.close(),
  };
}

/** The UI's pages of one namespace on the dev server. */
export const uiUrl = (namespace: string) =>
  `http://127.0.0.1:${testEnv().temporal.uiPort}/namespaces/${namespace}`;

/** Fills the Start Workflow form and presses Start; returns once the run exists. */
export async function startFromUi(
  ui: UiSession,
  namespace: string,
  run: { workflowId: string; taskQueue: string; workflowType: string; input: unknown },
  started: (workflowId: string) => Promise<unknown>,
): Promise<void> {
  const { page } = ui;
  await page.goto(`${uiUrl(namespace)}/workflows/start-workflow`, { waitUntil: 'load' });
  await page.locator('#workflowId').fill(run.workflowId);
  await page.locator('#taskQueue').fill(run.taskQueue);
  await page.locator('#workflowType').fill(run.workflowType);
  const editor = page.locator('.cm-content').first();
  await editor.click();
  await editor.fill(JSON.stringify(run.input));
  // Leaving the editor reformats the JSON, which moves the button: leave it first.
  await page.getByRole('heading', { name: 'Start a Workflow' }).click();
  await ui.shot(`start-${run.workflowType}`);
  await page.getByTestId('start-workflow-button').click();
  await until(`${run.workflowId} to be started`, () => started(run.workflowId));
  await ui.shot(`started-${run.workflowType}`);
}

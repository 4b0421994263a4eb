import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { chromium, type Browser } from 'playwright-core';
import { connectClient } from '../../client/connection';
import { loadPlan } from '../../client/plan';
import { setupDemoTarget } from '../../demo/target';
import { optionalEnv, requireEnv } from '../../lib/config';
import { startWorkerProcess, type WorkerProcess } from '../../lib/worker-process';
import { abortSignal, migrationNameKey, migrationPhaseKey, statusQuery } from '../../workflows/definitions';
import type { migrationWorkflow } from '../../workflows/migration';
import { config, uniq } from '../helpers/stack';
import { eventually } from '../helpers/temporal';

const PLAN = path.join(__dirname, '..', '..', 'plans', 'demo.yaml');
const ARTIFACTS = path.join(__dirname, '..', '..', 'test-artifacts');
// The UI is a single-page app that loads its data after the first paint: waits are generous, each one bounded.
const UI_WAIT = 30_000;

/** A PNG file of some substance: the signature, and more than a blank page's bytes. */
function expectPng(file: string): void {
  const bytes = fs.readFileSync(file);
  expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  expect(bytes.length).toBeGreaterThan(20_000);
}

/** Debian's chromium as `scripts/stack up` found it; playwright-core never gets to download a browser of its own. */
function chromiumPath(): string {
  const p = optionalEnv('MO_CHROMIUM_PATH') || '/usr/bin/chromium';
  if (!fs.existsSync(p))
    throw new Error(`no Chromium at ${p}: run \`npm run stack up\` (it installs Debian's chromium)`);
  return p;
}

describe('the Temporal Web UI finds a finished migration by its search attributes (headless Chromium)', () => {
  const plan = loadPlan(PLAN);
  // A migration name no other run uses, so the search-attribute query can only find this migration; the workflow ID
  // differs from it, so text matching the ID can only come from the result table, never from the filter chip.
  plan.name = `ui-${uniq()}`;
  const id = `ui-test-${uniq()}`;
  const taskQueue = `ui-${uniq()}`;
  const query = `${migrationNameKey.name}="${plan.name}" AND ${migrationPhaseKey.name}="aborted"`;
  let worker: WorkerProcess | undefined;
  let client: Client | undefined;
  let browser: Browser | undefined;

  beforeAll(async () => {
    const target = await setupDemoTarget(plan, requireEnv('DATABASE_URL'), 'mo_ui_target', config.dockerHost);
    process.env.DEMO_DATABASE_URL = target.databaseUrl;
    worker = startWorkerProcess(path.join(config.dataDir, 'logs', `${taskQueue}.log`), { MO_TASK_QUEUE: taskQueue });
    client = await connectClient(config);
    await worker.ready;
  });
  afterAll(async () => {
    await browser?.close();
    await client?.connection.close();
    await worker?.stop();
  });

  it('lists it under MigrationName and MigrationPhase, opens it, shows the phase, and saves screenshots', async () => {
    // The quickest real end state: preflight runs, the go gate opens, the operator aborts.
    const handle = await client!.workflow.start<typeof migrationWorkflow>('migrationWorkflow', {
      taskQueue,
      workflowId: id,
      args: [{ migrationId: id, plan, startedBy: 'ui-test' }],
      staticSummary: `Migration ${plan.name} (UI test)`,
    });
    await eventually(
      () => handle.query(statusQuery),
      (s) => s.phase === 'gate:go',
      60_000,
    );
    await handle.signal(abortSignal, { requestedBy: 'ui-test', reason: 'UI test' });
    expect((await handle.result()).phase).toBe('aborted');
    const described = await handle.describe();
    expect(described.status.name).toBe('COMPLETED');
    expect(described.typedSearchAttributes.get(migrationPhaseKey)).toBe('aborted');
    expect(described.typedSearchAttributes.get(migrationNameKey)).toBe(plan.name);
    // Visibility is updated after the close; the UI reads the same index, so wait for it before loading the page.
    await eventually(
      async () => {
        const ids: string[] = [];
        for await (const w of client!.workflow.list({ query })) ids.push(w.workflowId);
        return ids;
      },
      (ids) => ids.includes(id),
      UI_WAIT,
    );

    browser = await chromium.launch({
      executablePath: chromiumPath(),
      headless: true,
      args: ['--no-sandbox', '--disable-dev-shm-usage'],
    });
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.setDefaultTimeout(UI_WAIT);
    fs.mkdirSync(ARTIFACTS, { recursive: true });

    // UI 2.x reads the list filter from the `query` URL parameter (a visibility query, URL-encoded) and shows it as
    // filter chips.
    const ns = encodeURIComponent(config.temporalNamespace);
    await page.goto(`${config.temporalUiUrl}/namespaces/${ns}/workflows?query=${encodeURIComponent(query)}`);
    const link = page.getByRole('link', { name: id, exact: true });
    const row = page.getByRole('row').filter({ has: link });
    await row.waitFor({ state: 'visible', timeout: UI_WAIT });
    expect(await row.innerText()).toContain('Completed');
    // The name is unique, so the query matches this migration alone among every workflow of the namespace.
    expect(await page.locator('table tbody tr').count()).toBe(1);
    const list = path.join(ARTIFACTS, 'ui-migration-list.png');
    await page.screenshot({ path: list, fullPage: true });
    expectPng(list);

    await link.click();
    await page.waitForURL(new RegExp(`/workflows/${encodeURIComponent(id)}/${described.runId}/`), {
      timeout: UI_WAIT,
    });
    await page.getByRole('tab', { name: 'Search Attributes', exact: true }).click();
    await page.waitForURL(/\/search-attributes$/, { timeout: UI_WAIT });
    await page.getByText(/"MigrationPhase":\s*"aborted"/).waitFor({ state: 'visible', timeout: UI_WAIT });
    const shown = await page.locator('main').innerText();
    expect(shown).toContain(id);
    expect(shown).toMatch(new RegExp(`"MigrationName":\\s*"${plan.name}"`));
    const detail = path.join(ARTIFACTS, 'ui-migration-detail.png');
    await page.screenshot({ path: detail, fullPage: true });
    expectPng(detail);
  }, 90_000);
});

import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { connectClient } from '../../client/connection';
import { loadPlan } from '../../client/plan';
import { setupDemoTarget } from '../../demo/target';
import { requireEnv } from '../../lib/config';
import { startWorkerProcess } from '../../lib/worker-process';
import { abortSignal, statusQuery } from '../../workflows/definitions';
import type { migrationWorkflow } from '../../workflows/migration';
import { config, uniq } from '../helpers/stack';
import { eventually } from '../helpers/temporal';

const PLAN = path.join(__dirname, '..', '..', 'plans', 'demo.yaml');
const ARTIFACTS = path.join(__dirname, '..', '..', 'test-artifacts');

/** A PNG file of some substance: the signature, and more than a blank page's bytes. */
function expectPng(file: string): void {
  const bytes = fs.readFileSync(file);
  expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  expect(bytes.length).toBeGreaterThan(20_000);
}

describe('the Temporal Web UI finds a finished migration by its search attributes (headless Chromium)', () => {
  let browser: Browser | undefined;
  afterAll(async () => {
    await browser?.close();
  });

  it('lists it under MigrationName and MigrationPhase, opens it, and saves screenshots', async () => {
    const plan = loadPlan(PLAN);
    // A name no other run uses, so the search-attribute query can only find this migration.
    plan.name = `ui-${uniq()}`;
    const target = await setupDemoTarget(plan, requireEnv('DATABASE_URL'), 'mo_ui_target', config.dockerHost);
    process.env.DEMO_DATABASE_URL = target.databaseUrl;
    const taskQueue = `ui-${uniq()}`;
    const worker = startWorkerProcess(path.join(config.dataDir, 'logs', `${taskQueue}.log`), {
      MO_TASK_QUEUE: taskQueue,
    });
    const client = await connectClient(config);
    const id = plan.name;
    try {
      await worker.ready;
      const handle = await client.workflow.start<typeof migrationWorkflow>('migrationWorkflow', {
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
    } finally {
      await client.connection.close();
      await worker.stop();
    }

    browser = await chromium.launch({
      executablePath: requireEnv('MO_CHROMIUM_PATH'),
      headless: true,
      args: ['--no-sandbox', '--disable-dev-shm-usage'],
    });
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const query = `MigrationName="${plan.name}" AND MigrationPhase="aborted"`;
    const ns = encodeURIComponent(config.temporalNamespace);
    await page.goto(`${config.temporalUiUrl}/namespaces/${ns}/workflows?query=${encodeURIComponent(query)}`);
    const row = page.getByText(id, { exact: true }).first();
    await row.waitFor({ state: 'visible', timeout: 60_000 });
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const list = path.join(ARTIFACTS, 'ui-migration-list.png');
    await page.screenshot({ path: list, fullPage: true });
    expectPng(list);

    await row.click();
    await page.waitForURL(new RegExp(`/workflows/${encodeURIComponent(id)}/`), { timeout: 60_000 });
    await page.getByText('migrationWorkflow').first().waitFor({ state: 'visible', timeout: 60_000 });
    const detail = path.join(ARTIFACTS, 'ui-migration-detail.png');
    await page.screenshot({ path: detail, fullPage: true });
    expectPng(detail);
    expect(await page.content()).toContain(id);
  }, 180_000);
});

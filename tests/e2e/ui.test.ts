import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { chromium, type Browser, type Page } from 'playwright-core';
import { connectClient } from '../../client/connection';
import { loadPlan } from '../../client/plan';
import { setupDemoTarget } from '../../demo/target';
import { projectRoot, requireEnv } from '../../lib/config';
import { startWorkerProcess, type WorkerProcess } from '../../lib/worker-process';
import { abortSignal, migrationNameKey, migrationPhaseKey, statusQuery } from '../../workflows/definitions';
import { planDetails } from '../../model/card';
import { planDigest } from '../../model/signatures';
import { codecEndpoint, codecServerToken } from '../../lib/codec';
import { signStartWithKey } from '../../lib/start-proof';
import { PHASES } from '../../model/constants';
import type { migrationWorkflow } from '../../workflows/migration';
import { freePort } from '../helpers/ports';
import { config, uniq } from '../helpers/stack';
import { eventually } from '../helpers/temporal';
import { slottedPlan } from '../helpers/slot';

const PLAN = slottedPlan(path.join(__dirname, '..', '..', 'plans', 'demo.yaml'));
const ARTIFACTS = path.join(__dirname, '..', '..', 'test-artifacts');
// The UI is a single-page app that loads its data after the first paint: waits are generous, each one bounded.
const UI_WAIT = 30_000;

/** A PNG file of some substance: the signature, and more than a blank page's bytes. */
function expectPng(file: string): void {
  const bytes = fs.readFileSync(file);
  expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  expect(bytes.length).toBeGreaterThan(20_000);
}

/**
 * Debian's chromium, installed by `scripts/stack chromium` when missing (only this test needs a browser, so `stack up`
 * leaves it out); playwright-core never gets to download a browser of its own.
 */
function chromiumPath(): string {
  const out = execFileSync('bash', [path.join(projectRoot, 'scripts', 'stack'), 'chromium'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const p = out.trim().split('\n').pop() ?? '';
  if (!p || !fs.existsSync(p))
    throw new Error(`\`scripts/stack chromium\` printed no Chromium path: ${JSON.stringify(out)}`);
  return p;
}

describe('the Temporal Web UI reads like the runbook: a running and a finished migration (headless Chromium)', () => {
  const plan = loadPlan(PLAN);
  // A migration name no other run uses, so the search-attribute query can only find this migration; the workflow ID
  // differs from it, so text matching the ID can only come from the result table, never from the filter chip.
  plan.name = `ui-${uniq()}`;
  const id = `ui-test-${uniq()}`;
  const taskQueue = `ui-${uniq()}`;
  const query = `${migrationNameKey.name}="${plan.name}" AND ${migrationPhaseKey.name}="aborted"`;
  const ns = encodeURIComponent(config.temporalNamespace);
  let worker: WorkerProcess | undefined;
  let client: Client | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let metricsPort = 0;

  beforeAll(async () => {
    const target = await setupDemoTarget(plan, requireEnv('DATABASE_URL'), 'mo_ui_target', config.dockerHost);
    process.env.DEMO_DATABASE_URL = target.databaseUrl;
    process.env.DEMO_METRICS_DATABASE_URL = target.metricsDatabaseUrl;
    metricsPort = await freePort();
    worker = startWorkerProcess(path.join(config.dataDir, 'logs', `${taskQueue}.log`), {
      MO_TASK_QUEUE: taskQueue,
      MO_METRICS_ADDRESS: `127.0.0.1:${metricsPort}`,
    });
    client = await connectClient(config);
    await worker.ready;
    browser = await chromium.launch({
      executablePath: chromiumPath(),
      headless: true,
      args: ['--no-sandbox', '--disable-dev-shm-usage'],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.setDefaultTimeout(UI_WAIT);
    await openCodecSession();
    fs.mkdirSync(ARTIFACTS, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    await client?.connection.close();
    await worker?.stop();
  });

  /**
   * Payloads are sealed, so the UI shows them only through the codec server: the browser gets the codec server's
   * session cookie once (as a person would, from the link `migrate` prints), and the UI sends it with its decode calls
   * ("include cross-origin credentials", the UI's own data encoder setting, kept in the page's local storage).
   */
  async function openCodecSession(): Promise<void> {
    const endpoint = codecEndpoint();
    if (!endpoint)
      throw new Error('the stack runs no codec server (MO_CODEC_ENDPOINT is unset): run `npm run stack up`');
    const session = await page.goto(`${endpoint}/session?token=${encodeURIComponent(codecServerToken())}`);
    expect(session?.status()).toBeLessThan(400);
    await page.addInitScript((url: string) => {
      localStorage.setItem('endpoint', JSON.stringify(url));
      localStorage.setItem('includeCredentials', 'true');
      localStorage.setItem('overrideRemoteCodecConfiguration', 'true');
    }, endpoint);
  }

  /** Saves a full-page screenshot into test-artifacts/ and checks it is a real picture. */
  async function screenshot(name: string): Promise<void> {
    const file = path.join(ARTIFACTS, name);
    await page.screenshot({ path: file, fullPage: true });
    expectPng(file);
  }

  /**
   * The "Current Details" card as the page shows it: the UI renders workflow Markdown in frames of its own
   * (`/render?content=…`), so the text is read from the frame that holds it, once it says `expected`.
   */
  async function cardText(expected: string): Promise<string> {
    const deadline = Date.now() + UI_WAIT;
    for (;;) {
      for (const f of page.frames())
        if (f.url().includes('/render?')) {
          const text = await f
            .locator('body')
            .innerText()
            .catch(() => '');
          if (text.includes(expected)) return text;
        }
      if (Date.now() > deadline) throw new Error(`no card on the page says ${JSON.stringify(expected)}`);
      await page.waitForTimeout(500);
    }
  }

  const workflowPage = (runId: string, tab: string) =>
    page.goto(`${config.temporalUiUrl}/namespaces/${ns}/workflows/${encodeURIComponent(id)}/${runId}/${tab}`);

  it('shows a running migration waiting at its go gate: the card says who acts and how; summaries name each step', async () => {
    // The quickest real point of waiting: preflight runs against the demo target, the go gate opens.
    // Started as `migrate start` starts it: signed by a starter the worker trusts, with the codec server on the card.
    const proof = await signStartWithKey({
      kind: 'start',
      workflowId: id,
      migrationId: id,
      planDigest: planDigest(plan),
      signer: 'ui-test',
    });
    const handle = await client!.workflow.start<typeof migrationWorkflow>('migrationWorkflow', {
      taskQueue,
      workflowId: id,
      args: [{ migrationId: id, plan, startedBy: 'ui-test', proof, codecEndpoint: codecEndpoint() }],
      staticSummary: `Migration ${plan.name} (UI test)`,
      staticDetails: planDetails(plan),
    });
    await eventually(
      () => handle.query(statusQuery),
      (s) => s.phase === 'gate:go',
      90_000,
    );
    const { runId } = await handle.describe();

    await workflowPage(runId, 'user-metadata');
    const card = await cardText(`${plan.name} · gate:go`);
    expect(card).toMatch(/Waiting for: gate go: technical-lead, engineering-manager/);
    expect(card).toMatch(/Who acts: technical-lead, engineering-manager/);
    expect(card).toContain(`migrate approve ${id} --gate go --role technical-lead --as <you> --plan <plan file>`);
    // The stock command reaches the codec server too; the token only by its variable.
    expect(card).toContain(
      `temporal workflow update execute --codec-endpoint ${codecEndpoint()} --codec-auth "$TEMPORAL_CODEC_AUTH" --workflow-id ${id} --name approve`,
    );
    expect(card).toMatch(
      /At the timeout: \d{4}-\d\d-\d\d \d\d:\d\d UTC \(\d+ min( \d+ s)? left\): a reminder goes out/,
    );
    expect(card).toContain('Traffic: 0 % unified · 100 % legacy');
    // Beside it, the static details: the whole runbook this plan runs, as `migrate start` sets it.
    const details = await cardText(`Runbook of ${plan.name}`);
    expect(details).toContain(`traffic shift: ${plan.traffic.steps.join(' → ')} %`);
    expect(details).toMatch(/gate go: technical-lead, engineering-manager \(timeout 10 min, then notify-and-wait\)/);
    // What the server holds, and a reader without the codec sees: the details are sealed.
    const sealed = (await handle.describe()).raw.executionConfig?.userMetadata?.details;
    expect(Buffer.from(sealed?.metadata?.encoding ?? []).toString()).toBe('binary/encrypted');
    expect(Buffer.from(sealed?.data ?? []).toString()).not.toContain('Runbook of');
    await screenshot('ui-running-card.png');

    // The event history: the gate's timer and the preflight's activity say what they are.
    await workflowPage(runId, 'history');
    const main = page.locator('main');
    await main
      .getByText('gate go: waiting for technical-lead, engineering-manager, then notify-and-wait (10 min)')
      .waitFor();
    await main
      .getByText(new RegExp(`^validation checks: ${plan.preflight.length} checks and the target probes$`))
      .first()
      .waitFor();
    await screenshot('ui-running-history.png');

    // The same moment on the worker's Prometheus endpoint, as the Grafana dashboard (docs/) reads it.
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const sample = (name: string, labels: Record<string, string>) => {
      const line = metrics
        .split('\n')
        .find((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
      return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
    };
    expect(sample('migration_phase', { migration: id })).toBe(PHASES.indexOf('gate:go'));
    expect(sample('migration_traffic_percent', { migration: id })).toBe(0);
    expect(sample('migration_approvals_waiting', { migration: id, gate: 'go' })).toBe(2);
  }, 180_000);

  it('shows the same migration once aborted: found by its search attributes, the card says how it ended', async () => {
    const handle = client!.workflow.getHandle<typeof migrationWorkflow>(id);
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

    // UI 2.x reads the list filter from the `query` URL parameter (a visibility query, URL-encoded).
    await page.goto(`${config.temporalUiUrl}/namespaces/${ns}/workflows?query=${encodeURIComponent(query)}`);
    const link = page.getByRole('link', { name: id, exact: true });
    const row = page.getByRole('row').filter({ has: link });
    await row.waitFor({ state: 'visible', timeout: UI_WAIT });
    expect(await row.innerText()).toMatch(/completed/i);
    // The name is unique, so the query matches this migration alone among every workflow of the namespace.
    expect(await page.locator('table tbody tr').count()).toBe(1);
    await screenshot('ui-migration-list.png');

    await link.click();
    await page.waitForURL(new RegExp(`/workflows/${encodeURIComponent(id)}/${described.runId}/`), {
      timeout: UI_WAIT,
    });
    await page.getByRole('tab', { name: 'Search Attributes', exact: true }).click();
    await page.waitForURL(/\/search-attributes$/, { timeout: UI_WAIT });
    await page.getByText(/"MigrationPhase":\s*"aborted"/).waitFor({ state: 'visible', timeout: UI_WAIT });
    expect(await page.locator('main').innerText()).toMatch(new RegExp(`"MigrationName":\\s*"${plan.name}"`));
    await screenshot('ui-migration-detail.png');

    await page.getByRole('tab', { name: 'User Metadata', exact: true }).click();
    const card = await cardText(`${plan.name} · aborted`);
    expect(card).toContain('Why: aborted by ui-test: UI test');
    expect(card).toContain(`migrate report ${id} --kind validation`);
    expect(card).toContain('Who acts: no one: the migration has ended');
    await screenshot('ui-finished-card.png');
  }, 120_000);
});

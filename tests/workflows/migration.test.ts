import path from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { NativeConnection, Worker, type WorkflowBundle } from '@temporalio/worker';
import { loadPlan } from '../../client/plan';
import { memoryKey, signRequest } from '../../lib/signing';
import { runbookCard } from '../../model/card';
import { GATES } from '../../model/constants';
import type { MigrationStatus } from '../../model/status';
import type { Phase } from '../../model/constants';
import {
  abortSignal,
  approveSignal,
  failSignal,
  pauseSignal,
  rejectSignal,
  resumeSignal,
  retrySignal,
  rollbackSignal,
  statusQuery,
} from '../../workflows/definitions';
import { rollbackWorkflowId } from '../../model/status';
import { migrationWorkflow } from '../../workflows/migration';
import { type MigrationResult } from '../../model/status';
import { rollbackWorkflow } from '../../workflows/rollback';
import type { GateSpec, Plan } from '../../model/plan';
import {
  approversFor,
  drive,
  HAPPY_PHASES,
  realClock,
  signalHandled as handled,
  virtualClock,
  withoutKeys,
  withTestKeys,
} from '../../lib/drive';
import { recordFaults } from '../helpers/fault-summary';
import { config, uniq } from '../helpers/stack';
import { stubActivities, type StubActivities } from '../helpers/stub-activities';
import { bundleWorkflows, createTimeSkippingEnv, firstTaskCompleted } from '../helpers/temporal';

// These tests are about the runbook and its rules, so approvals go unsigned: the production plan without its keys.
// (Signed approvals: the keyed test below, and tests/e2e/approvals.test.ts against the dev server.)
const productionPlan = withoutKeys(loadPlan(path.join(__dirname, '..', '..', 'plans', 'production.example.yaml')));
const DAY = 86_400_000;

/** The production plan with its `go` gate changed. */
const withGoGate = (go: Partial<GateSpec>): Plan => ({
  ...productionPlan,
  approvals: {
    ...productionPlan.approvals,
    gates: { ...productionPlan.approvals.gates, go: { ...productionPlan.approvals.gates.go, ...go } },
  },
});

describe('migration workflow on the production plan (stubbed activities, time-skipping server)', () => {
  let env: TestWorkflowEnvironment;
  let bundle: WorkflowBundle;

  beforeAll(async () => {
    [env, bundle] = await Promise.all([createTimeSkippingEnv(), bundleWorkflows()]);
  });
  afterAll(async () => {
    await env?.teardown();
  });

  /** Starts a migration with stubbed activities and drives it to its end. */
  async function run(
    acts: StubActivities,
    opts: Parameters<typeof drive>[3] & { plan?: Plan; soakChecksPerRun?: number } = {},
  ): Promise<{ result: MigrationResult; status: MigrationStatus; id: string; elapsedMs: number }> {
    const plan = opts.plan ?? productionPlan;
    const taskQueue = `wf-${uniq()}`;
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: bundle,
      activities: acts,
    });
    return worker.runUntil(async () => {
      const id = `migration-${uniq()}`;
      const t0 = await env.currentTimeMs();
      const handle = await env.client.workflow.start(migrationWorkflow, {
        taskQueue,
        workflowId: id,
        args: [{ migrationId: id, plan, startedBy: 'test', soakChecksPerRun: opts.soakChecksPerRun }],
      });
      await firstTaskCompleted(handle);
      const status = await drive(virtualClock(env), handle, plan, opts);
      const result = await handle.result();
      return { result, status, id, elapsedMs: (await env.currentTimeMs()) - t0 };
    });
  }

  const phasesOf = (s: MigrationStatus) => s.phaseTimeline.map((p) => p.phase);
  const trafficCalls = (a: StubActivities) => a.setTrafficPercent.mock.calls.map((c) => c[0].percent);

  it('runs every phase in order with the real durations (24 h parallel run, bakes, 2 h window, 7-day soak)', async () => {
    const acts = stubActivities(productionPlan.metrics);
    const { result, status, elapsedMs } = await run(acts);
    expect(result.phase).toBe('complete');
    expect([...new Set(phasesOf(status))]).toEqual([...new Set(HAPPY_PHASES)]);
    // 24 h + 4 × 8 h + 2 h + 7 d of plan time passed in virtual time.
    expect(elapsedMs).toBeGreaterThanOrEqual(DAY + 4 * 8 * 3_600_000 + 2 * 3_600_000 + 7 * DAY);
    expect(trafficCalls(acts)).toEqual([0, 10, 25, 50, 100]);
    expect(acts.backupDatabase.mock.calls.map((c) => c[0].step)).toEqual(['initial', 'pre-cutover']);
    // 4 traffic steps + monitoring window + 7 daily soak checks.
    expect(acts.evaluateMetrics).toHaveBeenCalledTimes(4 + 1 + 7);
    expect(status.gates['sign-off']?.signatures.map((s) => s.role)).toEqual([
      'technical-lead',
      'product-owner',
      'engineering-manager',
      'stakeholder',
    ]);
    expect(status.compensations.map((c) => c.kind)).toEqual([
      'traffic',
      'containers',
      'traffic',
      'unified-job',
      'legacy-jobs',
      'archive',
    ]);
    expect(result.reports.completion).toBe('/reports/completion.md');
    expect(acts.writeCompletionReport.mock.calls[0]![0].codeLinesRemoved).toBe(120);
    // Production changes come only after the verified initial backup.
    const backupOrder = acts.backupDatabase.mock.invocationCallOrder[0]!;
    for (const changing of [
      acts.deployUnified,
      acts.setTrafficPercent,
      acts.installUnifiedJob,
      acts.disableLegacyJobs,
      acts.archiveLegacyScripts,
    ]) {
      expect(changing.mock.invocationCallOrder[0]).toBeGreaterThan(backupOrder);
    }
    expect(acts.stopContainers).not.toHaveBeenCalled();
    // The ledger received every audit entry once, in order, with the evaluations' readings attached.
    // (The final status is the result's: the last rows are written after the phase turns complete.)
    const rows = acts.appendLedger.mock.calls.flatMap((c) => c[0].entries);
    const final = result.status;
    expect(rows.map((r) => r.seq)).toEqual(final.audit.map((_, i) => i));
    expect(rows.map((r) => r.kind)).toEqual(final.audit.map((a) => a.kind));
    expect(rows.filter((r) => r.kind === 'gate-evaluation' && r.data)).toHaveLength(4 + 1 + 7);
    expect(final.ledgerWritten).toBe(final.audit.length);
  });

  it('never waits for a notification receiver that hangs: the runbook goes on while deliveries are retried', async () => {
    const acts = stubActivities(productionPlan.metrics);
    // A receiver that accepts and never answers: every attempt fails after a (real) while.
    acts.notify.mockImplementation(
      () => new Promise((_, reject) => setTimeout(() => reject(new Error('webhook: no answer')), 200)),
    );
    const { result, id } = await run(acts);
    expect(result.phase).toBe('complete');
    const events = (await env.client.workflow.getHandle(id).fetchHistory()).events ?? [];
    const scheduled = (name: string) =>
      events.findIndex((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === name);
    const firstNotice = scheduled('notify');
    const firstNoticeEnded = events.findIndex(
      (e) =>
        (e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes)?.scheduledEventId?.toString() ===
        events[firstNotice]!.eventId?.toString(),
    );
    // The backup after the go gate was started while the 'preflight passed' notice was still being retried.
    expect(firstNotice).toBeGreaterThan(0);
    expect(scheduled('backupDatabase')).toBeGreaterThan(firstNotice);
    expect(firstNoticeEnded === -1 || scheduled('backupDatabase') < firstNoticeEnded).toBe(true);
    expect(result.status.audit.some((a) => a.kind === 'notify-failed')).toBe(true);
  });

  it('after a clean soak, a failing archive or completion report pauses and asks; resume runs it again, nothing undone', async () => {
    const acts = stubActivities(productionPlan.metrics);
    // A script path that moved (archive) and a 60-s coverage run (report): permanent failures of each step once.
    acts.archiveLegacyScripts.mockRejectedValueOnce(
      ApplicationFailure.create({ message: 'scripts/legacy/batch_scorer.py does not exist', nonRetryable: true }),
    );
    acts.writeCompletionReport.mockRejectedValueOnce(
      ApplicationFailure.create({ message: 'success metric coverage: command timed out', nonRetryable: true }),
    );
    const asked: string[] = [];
    const { result, status } = await run(acts, {
      onStatus: async (s) => {
        if (!s.paused || !s.attention || asked.includes(s.attention)) return false;
        asked.push(s.attention);
        await env.client.workflow.getHandle(s.migrationId).signal(resumeSignal, { requestedBy: 'olga' });
        return true;
      },
    });
    expect(result.phase).toBe('complete');
    expect(asked).toEqual([
      expect.stringMatching(
        /^archive blocked: scripts\/legacy\/batch_scorer\.py does not exist\. Production is not rolled back/,
      ),
      expect.stringMatching(/^completion report blocked: success metric coverage/),
    ]);
    expect(acts.archiveLegacyScripts).toHaveBeenCalledTimes(2);
    expect(acts.writeCompletionReport).toHaveBeenCalledTimes(2);
    expect(acts.stopContainers).not.toHaveBeenCalled();
    expect(trafficCalls(acts)).toEqual([0, 10, 25, 50, 100]);
    expect(status.phaseTimeline.map((p) => p.phase)).not.toContain('rolling-back');
  });

  it("gives the preflight's check run its checks' own limits, and each backup the plan's backupTimeout", async () => {
    const acts = stubActivities(productionPlan.metrics);
    const plan: Plan = { ...productionPlan, target: { ...productionPlan.target, backupTimeoutMs: 3 * 3_600_000 } };
    const { result, id } = await run(acts, { plan });
    expect(result.phase).toBe('complete');
    const events = (await env.client.workflow.getHandle(id).fetchHistory()).events ?? [];
    const limitOf = (type: string) =>
      events
        .map((e) => e.activityTaskScheduledEventAttributes)
        .filter((a) => a?.activityType?.name === type)
        .map((a) => Number(a!.startToCloseTimeout!.seconds) * 1000);
    // The plan's checks allow 30 min + 1 h + 20 min (and more): one run of them is never cut at half an hour.
    const explicit = plan.preflight.reduce(
      (sum, c) => sum + (c.measure.kind !== 'sql' ? (c.measure.timeoutMs ?? 0) : 0),
      0,
    );
    expect(explicit).toBeGreaterThanOrEqual(30 * 60_000 + 3_600_000 + 20 * 60_000);
    const [checks] = limitOf('runChecks');
    expect(checks).toBeGreaterThan(explicit);
    expect(limitOf('backupDatabase')).toEqual([3 * 3_600_000, 3 * 3_600_000]);
    // Each still heartbeats: a dead worker is noticed within 20 s, whatever the limit.
    const heartbeats = events
      .map((e) => e.activityTaskScheduledEventAttributes)
      .filter((a) => ['runChecks', 'backupDatabase'].includes(a?.activityType?.name ?? ''))
      .map((a) => Number(a!.heartbeatTimeout!.seconds));
    expect(new Set(heartbeats)).toEqual(new Set([20]));
  });

  it('stops at a failed preflight check before any production change', async () => {
    const acts = stubActivities(productionPlan.metrics);
    acts.runChecks.mockImplementationOnce(async (i) => ({
      kind: i.kind,
      title: i.title,
      passed: false,
      results: [
        {
          name: 'test-coverage',
          value: 71,
          op: '>',
          threshold: 90,
          passed: false,
          detail: 'coverage: 71%',
          durationMs: 1,
        },
      ],
      markdownFile: '/reports/validation.md',
      jsonFile: '/reports/validation.json',
      at: '',
    }));
    const { result, status } = await run(acts);
    expect(result.phase).toBe('failed');
    expect(status.failure).toContain('test-coverage = 71');
    expect(acts.backupDatabase).not.toHaveBeenCalled();
    expect(acts.deployUnified).not.toHaveBeenCalled();
    expect(status.compensations).toEqual([]);
  });

  it('rolls back automatically when a metric gate fails during the traffic shift', async () => {
    const acts = stubActivities(productionPlan.metrics);
    let evaluations = 0;
    acts.evaluateMetrics.mockImplementation(async (i) =>
      i.metrics.map((m) => {
        const bad = m.name === 'error-rate' && ++evaluations === 3;
        return {
          name: m.name,
          value: bad ? 0.2 : m.threshold,
          op: m.op,
          threshold: m.threshold,
          passed: !bad,
          detail: '',
          at: '',
        };
      }),
    );
    const { result, status, id } = await run(acts);
    expect(result.phase).toBe('rolled-back');
    expect(trafficCalls(acts)).toEqual([0, 10, 25, 50, 0]);
    expect(status.failure).toMatch(/metric gate failed at traffic 50%: error-rate = 0.2/);
    // Only this migration's containers.
    expect(acts.stopContainers).toHaveBeenCalledWith('unified-pipeline', { migrationId: id });
    // Rollback first: from the failed reading, the rollback workflow is the first thing started; the notification
    // and the ledger write come after it (before, both were awaited in front of it).
    const events = (await env.client.workflow.getHandle(id).fetchHistory()).events ?? [];
    const failedAt = events
      .map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'evaluateMetrics')
      .lastIndexOf(true);
    const after = events.slice(failedAt + 1);
    const first = after.findIndex(
      (e) =>
        e.startChildWorkflowExecutionInitiatedEventAttributes ||
        e.activityTaskScheduledEventAttributes ||
        e.markerRecordedEventAttributes?.markerName === 'core_local_activity',
    );
    expect(after[first]?.startChildWorkflowExecutionInitiatedEventAttributes?.workflowType?.name).toBe(
      'rollbackWorkflow',
    );
    // Undone newest first: traffic back to legacy before the containers stop.
    expect(acts.setTrafficPercent.mock.invocationCallOrder[4]).toBeLessThan(
      acts.stopContainers.mock.invocationCallOrder[0]!,
    );
    expect(result.rollback?.verified).toBe(true);
    expect(result.rollback?.undone.map((u) => u.kind)).toEqual(['traffic', 'containers']);
    const child = await env.client.workflow.getHandle(rollbackWorkflowId(result.migrationId)).describe();
    expect(child.status.name).toBe('COMPLETED');
  });

  it('reads like the runbook in the UI: every activity and timer has a summary; the card says who acts and how', async () => {
    const acts = stubActivities(productionPlan.metrics);
    const cards = new Map<string, string>();
    const metadata = async (id: string) =>
      (await env.client.workflow.getHandle(id).query<{ currentDetails: string }>('__temporal_workflow_metadata'))
        .currentDetails;
    const { result, id } = await run(acts, {
      onStatus: async (s) => {
        const gate = Object.values(s.gates).find((g) => g?.open && g.signatures.length === 0);
        const moment = gate ? `gate:${gate.name}` : s.waitingFor?.startsWith('bake at 25') ? 'bake' : undefined;
        if (moment && !cards.has(moment)) cards.set(moment, await metadata(s.migrationId));
        return false;
      },
    });
    expect(result.phase).toBe('complete');
    // At the cutover gate: who must sign, the exact commands, and the timeout's consequence from the plan.
    const cutover = cards.get('gate:cutover')!;
    const roles = productionPlan.approvals.gates.cutover.roles.map((r) => r.role);
    expect(cutover).toContain(`### ${productionPlan.name} · gate:cutover`);
    expect(cutover).toContain(`**Who acts:** ${roles.join(', ')}`);
    expect(cutover).toContain(`migrate approve ${id} --gate cutover --role ${roles[0]} --as <you>`);
    expect(cutover).toContain(`temporal workflow update execute --workflow-id ${id} --name approve`);
    expect(cutover).toMatch(
      productionPlan.approvals.gates.cutover.onTimeout === 'abort'
        ? /At the timeout:\*\* .*the migration aborts/
        : /At the timeout:\*\* .*a reminder goes out/,
    );
    expect(cutover).toContain('**Traffic:** 100 % unified · 0 % legacy');
    // During a bake: what it waits for, until when, and what comes after.
    expect(cards.get('bake')).toMatch(/\*\*Now:\*\* bake at 25%, until \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
    expect(cards.get('bake')).toContain('**Traffic:** 25 % unified · 75 % legacy');
    expect(cards.get('bake')).toContain('the metric gate reads the metrics');
    // Ended (the worker has stopped, so from the final state; the UI test reads it from a finished run's page).
    expect(runbookCard(productionPlan, result.status, Date.now())).toContain(`migrate report ${id} --kind completion`);

    // Every activity and timer of every run carries its summary; spot-check the ones a reader looks for.
    const summaries: string[] = [];
    const decode = (p?: { data?: Uint8Array | null } | null) =>
      p?.data ? (JSON.parse(Buffer.from(p.data).toString('utf8')) as string) : undefined;
    const handle = env.client.workflow.getHandle(id);
    const runs = [(await handle.describe()).runId];
    for (let runId: string | undefined = runs[0]; runId;) {
      const events = (await env.client.workflow.getHandle(id, runId).fetchHistory()).events ?? [];
      for (const e of events) {
        if (!e.activityTaskScheduledEventAttributes && !e.timerStartedEventAttributes) continue;
        const summary = decode(e.userMetadata?.summary);
        expect({ event: e.eventId?.toString(), summary }).toEqual({
          event: e.eventId?.toString(),
          summary: expect.any(String),
        });
        summaries.push(summary!);
      }
      runId = events[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId ?? undefined;
    }
    expect(summaries).toEqual(
      expect.arrayContaining([
        `backup initial of $${productionPlan.target.databaseUrlEnv} (pg_dump, verify by restore)`,
        expect.stringMatching(/^traffic 25 % → unified, 75 % legacy/),
        expect.stringMatching(/^bake at 25% \(8 h\)$/),
        expect.stringMatching(/^gate cutover: waiting for /),
        expect.stringMatching(/^soak check 3\/7 \(1 d\)$/),
        expect.stringMatching(/^disable the legacy jobs /),
      ]),
    );
  });

  // Rollback requested by a person from every phase that changes production.
  const rollbackCases: [Phase, string[], (a: StubActivities) => void][] = [
    [
      'deploy',
      ['containers', 'traffic'],
      // Deploy is an activity, not a wait: make it take long enough for the signal to land while it runs.
      (a) =>
        a.deployUnified.mockImplementation(async () => {
          await new Promise((r) => setTimeout(r, 500));
          return [];
        }),
    ],
    ['parallel-run', ['containers', 'traffic'], () => undefined],
    ['traffic-shift', ['traffic', 'containers'], () => undefined],
    ['cutover', ['legacy-jobs', 'unified-job', 'traffic', 'containers'], () => undefined],
    ['soak', ['legacy-jobs', 'unified-job', 'traffic', 'containers'], () => undefined],
    ['gate:sign-off', ['archive', 'legacy-jobs', 'unified-job', 'traffic', 'containers'], () => undefined],
  ];
  it.each(rollbackCases)(
    'a rollback signal during %s undoes %j in reverse order and verifies',
    async (phase, undone, setup) => {
      const acts = stubActivities(productionPlan.metrics);
      setup(acts);
      let sent = false;
      const { result, status } = await run(acts, {
        onStatus: async (s) => {
          if (sent || s.phase !== phase) return false;
          sent = true;
          await env.client.workflow
            .getHandle(s.migrationId)
            .signal(rollbackSignal, { reason: `test from ${phase}`, requestedBy: 'oncall' });
          return true;
        },
      });
      expect(sent).toBe(true);
      expect(result.phase).toBe('rolled-back');
      expect(result.rollback?.undone.map((u) => u.kind)).toEqual(undone);
      expect(result.rollback?.undone.every((u) => u.ok)).toBe(true);
      expect(status.audit.some((a) => a.kind === 'rollback-requested' && a.actor === 'oncall')).toBe(true);
      if (undone.includes('traffic')) expect(trafficCalls(acts).at(-1)).toBe(0);
      if (undone.includes('legacy-jobs')) expect(acts.enableLegacyJobs).toHaveBeenCalledTimes(1);
      if (undone.includes('archive')) expect(acts.restoreArchivedScripts).toHaveBeenCalledTimes(1);
      expect(acts.runChecks.mock.calls.at(-1)![0].kind).toBe('rollback-verification');
    },
  );

  it('a plan with approver keys: signed approvals pass every gate; unsigned and forged ones are refused', async () => {
    const { plan, signers } = withTestKeys(productionPlan);
    const acts = stubActivities(plan.metrics);
    let tried = false;
    const { result, status } = await run(acts, {
      plan,
      signers,
      onStatus: async (s) => {
        if (tried || s.phase !== 'gate:go') return false;
        tried = true;
        const h = env.client.workflow.getHandle(s.migrationId);
        const a = { gate: 'go' as const, ...approversFor(plan, 'go')[0]! };
        await handled(h, (x) => x.signal(approveSignal, a));
        const claim = { decision: 'approve', person: a.approver, gate: a.gate, role: a.role };
        const target = { migrationId: s.migrationId, planDigest: s.planDigest! };
        const forged = await signRequest(claim, target, memoryKey('mallory').sign);
        await handled(h, (x) => x.signal(approveSignal, { ...a, signature: forged }));
        return true;
      },
    });
    expect(result.phase).toBe('complete');
    expect(status.approvalsAuthenticated).toBe(true);
    for (const g of GATES) expect(status.gates[g]!.signatures.map((x) => x.verified)).not.toContain(false);
    expect(status.gates['sign-off']!.signatures.every((x) => x.verified === true)).toBe(true);
    const refused = status.audit.filter((e) => e.kind === 'rejected').map((e) => e.detail);
    expect(refused).toEqual([
      expect.stringMatching(/^approval by technical-lead-person: unsigned: the plan lists approver keys/),
      expect.stringMatching(/^approval by technical-lead-person: bad signature: signed with another key/),
    ]);
  });

  it('rejects approvals that do not fit and changes nothing else; pause holds the runbook until resume', async () => {
    const plan = withGoGate({
      roles: [{ role: 'technical-lead', approvers: ['tina', 'tom'] }, { role: 'engineering-manager' }],
    });
    const acts = stubActivities(plan.metrics);
    let stage = 0;
    let atGate: MigrationStatus | undefined;
    let afterBad: MigrationStatus | undefined;
    const { status } = await run(acts, {
      plan,
      approve: (gate) => gate !== 'go',
      onStatus: async (s) => {
        const h = env.client.workflow.getHandle(s.migrationId);
        if (stage === 0 && s.phase === 'gate:go') {
          stage = 1;
          atGate = s;
          await h.signal(resumeSignal, { requestedBy: 'olga' }); // resume without pause
          await h.signal(approveSignal, { gate: 'cutover', role: 'technical-lead', approver: 'tina' }); // gate not open
          await h.signal(approveSignal, { role: 'stakeholder', approver: 'sam' }); // role not needed
          await h.signal(approveSignal, { role: 'technical-lead', approver: 'mallory' }); // not on allow-list
          await h.signal(approveSignal, { role: 'technical-lead', approver: 'tina' }); // ok
          await h.signal(approveSignal, { role: 'technical-lead', approver: 'tom' }); // duplicate role
          await h.signal(approveSignal, { role: 'engineering-manager', approver: 'tina' }); // separation of duties
          await h.signal(approveSignal, { approver: 'x' } as never); // malformed
          await h.signal(approveSignal, { role: 'janitor', approver: 'jim' }); // unknown role
          await h.signal(approveSignal, { role: 'engineering-manager', approver: '' }); // empty approver
          await h.signal(rejectSignal, { role: 'technical-lead', approver: 'mallory', reason: 'no' }); // reject, not allowed
          await h.signal(rejectSignal, { role: 'technical-lead' } as never); // malformed rejection
          await h.signal(pauseSignal, {} as never); // pause without who
          afterBad = await h.query(statusQuery);
          await h.signal(pauseSignal, { requestedBy: 'olga', reason: 'change freeze' });
          await h.signal(approveSignal, { role: 'engineering-manager', approver: 'erin' });
          return true;
        }
        if (stage === 1 && s.paused) {
          stage = 2;
          // Paused after the gate: no backup may start until resume.
          expect(acts.backupDatabase).not.toHaveBeenCalled();
          await h.signal(resumeSignal, { requestedBy: 'olga' });
          return true;
        }
        return false;
      },
    });
    expect(status.phase).toBe('complete');
    const rejected = afterBad!.audit.filter((a) => a.kind === 'rejected').map((a) => a.detail);
    expect(rejected).toEqual([
      expect.stringContaining('resume by olga: not paused'),
      expect.stringContaining('gate cutover: gate is not open'),
      expect.stringContaining('does not need role stakeholder'),
      expect.stringContaining('mallory: not on the allow-list of role technical-lead'),
      expect.stringContaining('role technical-lead already signed'),
      expect.stringContaining('separation of duties'),
      expect.stringContaining('malformed approval'),
      expect.stringContaining('does not need role janitor'),
      expect.stringContaining('malformed approval'),
      expect.stringContaining('mallory: not on the allow-list of role technical-lead'),
      expect.stringContaining('malformed rejection'),
      expect.stringContaining('malformed pause'),
    ]);
    recordFaults(
      [
        'resume without pause',
        'approval for a gate that is not open',
        'approval for a role the gate does not need',
        'approver not on the allow-list',
        'duplicate approval for a signed role',
        'one person signing two roles',
        'malformed approval payload',
        'unknown role',
        'empty approver',
        'rejection by someone not on the allow-list',
        'malformed rejection payload',
        'pause without requestedBy',
      ].map((what, i) => ({
        suite: 'signals',
        what,
        kind: 'bad-input' as const,
        ok: rejected[i] !== undefined,
      })),
    );
    // The rejected requests changed nothing but the audit log (and its ledger sequence).
    expect(afterBad!.gates.go?.signatures.map((x) => x.approver)).toEqual(['tina']);
    const ignoringAudit = { audit: [], updatedAt: '', ledgerSeq: 0, ledgerWritten: 0, ledgerHead: '' };
    expect({ ...afterBad, ...ignoringAudit }).toEqual({
      ...atGate,
      ...ignoringAudit,
      gates: afterBad!.gates,
    });
    expect(status.gates.go?.signatures.map((x) => `${x.role}:${x.approver}`)).toEqual([
      'technical-lead:tina',
      'engineering-manager:erin',
    ]);
    expect(status.audit.some((a) => a.kind === 'paused' && a.detail === 'change freeze')).toBe(true);

    // Approval after completion: the server refuses the signal and the closed history does not change.
    const done = env.client.workflow.getHandle(status.migrationId);
    const eventsBefore = (await done.fetchHistory()).events?.length;
    await expect(
      done.signal(approveSignal, { gate: 'sign-off', role: 'stakeholder', approver: 'late' }),
    ).rejects.toThrow(/completed|not found/i);
    expect((await done.fetchHistory()).events?.length).toBe(eventsBefore);
    recordFaults([{ suite: 'signals', what: 'approval after completion', kind: 'bad-input', ok: true }]);
  });

  it('a reject at the cutover gate rolls back what the traffic shift changed', async () => {
    const acts = stubActivities(productionPlan.metrics);
    const { result, status } = await run(acts, {
      approve: (gate) => gate !== 'cutover',
      onStatus: async (s) => {
        if (s.phase !== 'gate:cutover' || s.gates.cutover?.outcome) return false;
        await env.client.workflow.getHandle(s.migrationId).signal(rejectSignal, {
          gate: 'cutover',
          role: 'product-owner',
          approver: 'paula',
          reason: 'numbers look off',
        });
        return true;
      },
    });
    expect(result.phase).toBe('rolled-back');
    expect(status.gates.cutover?.outcome).toBe('rejected');
    expect(result.rollback?.undone.map((u) => u.kind)).toEqual(['traffic', 'containers']);
    expect(acts.backupDatabase.mock.calls.map((c) => c[0].step)).toEqual(['initial']);
  });

  it('abort before any production change ends as aborted with nothing to undo', async () => {
    const acts = stubActivities(productionPlan.metrics);
    const { result } = await run(acts, {
      approve: () => false,
      onStatus: async (s) => {
        if (s.phase !== 'gate:go') return false;
        await env.client.workflow
          .getHandle(s.migrationId)
          .signal(abortSignal, { requestedBy: 'olga', reason: 'postponed' });
        return true;
      },
    });
    expect(result.phase).toBe('aborted');
    expect(acts.backupDatabase).not.toHaveBeenCalled();
    expect(result.rollback).toBeUndefined();
  });

  /** Sends a signal and waits until the workflow has handled it (its audit log grew). */
  /** Sends a signal to a migration and waits until it has been handled. */
  const signalHandled = (id: string, send: (h: WorkflowHandle) => Promise<void>) =>
    handled(env.client.workflow.getHandle(id), send);
  const events = (a: StubActivities) => a.notify.mock.calls.map((c) => c[0].event);

  it('an inconclusive metric past its limit pauses and asks; retry measures again, resume goes on; dry-run metrics never decide', async () => {
    const plan: Plan = {
      ...productionPlan,
      metrics: productionPlan.metrics.map((m) =>
        m.name === 'throughput' ? { ...m, inconclusiveLimit: 1 } : m.name === 'error-rate' ? { ...m, dryRun: true } : m,
      ),
    };
    const acts = stubActivities(plan.metrics);
    // Throughput never has data; the error rate fails every time, but only as a dry run.
    acts.evaluateMetrics.mockImplementation(async (i) =>
      i.metrics.map((m) => ({
        name: m.name,
        value: m.name === 'throughput' ? null : m.name === 'error-rate' ? 0.5 : m.threshold,
        op: m.op,
        threshold: m.threshold,
        passed: m.name === 'throughput' ? null : m.name !== 'error-rate',
        detail: '',
        at: '',
        ...(m.dryRun ? { dryRun: true } : {}),
      })),
    );
    const decisions: string[] = [];
    const { result, status } = await run(acts, {
      plan,
      onStatus: async (s) => {
        if (!s.paused || !s.attention) return false;
        expect(s.attention).toMatch(/throughput inconclusive .*migrate resume .*migrate retry .*migrate rollback/);
        const retry = decisions.length === 0;
        decisions.push(retry ? 'retry' : 'resume');
        await signalHandled(s.migrationId, (h) =>
          retry
            ? h.signal(retrySignal, { requestedBy: 'olga', reason: 'metrics exporter restarted' })
            : h.signal(resumeSignal, { requestedBy: 'olga', reason: 'no exporter for throughput yet' }),
        );
        return true;
      },
    });
    expect(result.phase).toBe('complete');
    expect(acts.stopContainers).not.toHaveBeenCalled();
    // Limit 1: the second inconclusive reading (25 %) paused; retry measured 25 % again, which paused again.
    const steps = status.evaluations.map((e) => `${e.step}${e.inconclusive ? ' ?' : ''}`);
    expect(steps.slice(0, 4)).toEqual(['traffic 10%', 'traffic 25% ?', 'traffic 25% ?', 'traffic 50%']);
    expect(decisions[0]).toBe('retry');
    expect(decisions.length).toBe(steps.filter((x) => x.endsWith('?')).length);
    expect(acts.evaluateMetrics).toHaveBeenCalledTimes(4 + 1 + 7 + 1);
    expect(status.audit.find((a) => a.kind === 'retry')).toMatchObject({
      actor: 'olga',
      detail: 'measure again: metrics exporter restarted',
    });
    expect(events(acts).filter((e) => e === 'inconclusive')).toHaveLength(decisions.length);
    // The dry-run metric failed at every evaluation and is recorded, but never counted.
    expect(status.evaluations.every((e) => e.passed)).toBe(true);
    expect(status.evaluations.every((e) => e.readings.find((r) => r.name === 'error-rate')?.passed === false)).toBe(
      true,
    );
  });

  it('a quorum role needs distinct approvers; reminders go out while the gate waits', async () => {
    const HOUR = 3_600_000;
    const plan = withGoGate({
      roles: [
        { role: 'technical-lead', approvers: ['tina', 'tom', 'tess'], required: 2 },
        { role: 'engineering-manager' },
      ],
      timeoutMs: 3 * DAY,
      onTimeout: 'notify-and-wait',
      remindEveryMs: HOUR,
    });
    const acts = stubActivities(plan.metrics);
    let signedAt = 0;
    const { result, status } = await run(acts, {
      plan,
      approve: (gate) => gate !== 'go',
      onStatus: async (s) => {
        if (s.phase !== 'gate:go' || signedAt) return false;
        // Nobody signs for 5½ hours: five hourly reminders.
        await env.sleep(5.5 * HOUR);
        signedAt = await env.currentTimeMs();
        const approve = (role: string, approver: string) =>
          signalHandled(s.migrationId, (h) => h.signal(approveSignal, { gate: 'go', role, approver }));
        await approve('technical-lead', 'tina');
        await approve('technical-lead', 'tina'); // the same person twice: rejected
        await approve('engineering-manager', 'tina'); // separation of duties: rejected
        await approve('engineering-manager', 'erin');
        await approve('technical-lead', 'tom'); // the second distinct approver completes the quorum
        return true;
      },
    });
    expect(result.phase).toBe('complete');
    expect(status.gates.go?.required).toEqual({ 'technical-lead': 2 });
    expect(status.gates.go?.signatures.map((x) => `${x.role}:${x.approver}`)).toEqual([
      'technical-lead:tina',
      'engineering-manager:erin',
      'technical-lead:tom',
    ]);
    const rejected = status.audit.filter((a) => a.kind === 'rejected').map((a) => a.detail);
    expect(rejected).toEqual([
      expect.stringContaining('tina: already signed gate go as technical-lead'),
      expect.stringContaining('separation of duties'),
    ]);
    expect(status.audit.find((a) => a.kind === 'approved' && a.actor === 'tom')?.detail).toContain('(2 of 2)');
    const reminders = acts.notify.mock.calls.filter((c) => c[0].event === 'gate-reminder');
    expect(reminders).toHaveLength(5);
    expect(reminders[0]![0].subject).toContain('go waits for technical-lead, engineering-manager');
    expect(status.audit.filter((a) => a.kind === 'gate-reminder')).toHaveLength(5);
  });

  it('fail stops the running step by hand and rolls back; retry with nothing to decide is refused', async () => {
    const acts = stubActivities(productionPlan.metrics);
    let sent = false;
    const { result, status } = await run(acts, {
      onStatus: async (s) => {
        if (sent || s.phase !== 'traffic-shift' || s.trafficPercent !== 25 || !s.waitingUntil) return false;
        sent = true;
        await signalHandled(s.migrationId, (h) => h.signal(retrySignal, { requestedBy: 'olga' }));
        await signalHandled(s.migrationId, (h) =>
          h.signal(failSignal, { requestedBy: 'olga', reason: 'customers report wrong scores' }),
        );
        return true;
      },
    });
    expect(result.phase).toBe('rolled-back');
    expect(status.failure).toBe('step traffic-shift failed by hand by olga: customers report wrong scores');
    expect(status.audit.find((a) => a.kind === 'rejected')?.detail).toBe(
      'retry by olga: no gate evaluation is waiting for a decision',
    );
    expect(trafficCalls(acts)).toEqual([0, 10, 25, 0]);
    expect(result.rollback?.undone.map((u) => u.kind)).toEqual(['traffic', 'containers']);
    expect(status.audit.filter((a) => a.kind === 'undone').map((a) => a.detail)).toEqual([
      'traffic: undone after 1 attempt(s)',
      'containers: undone after 1 attempt(s)',
    ]);
  });
});

// On the time-skipping server a query racing a continue-as-new can hang and hold virtual time still (seen with the
// Java test server 1.31), so the history roll-over is exercised on the dev server in real time, with short durations.
describe('migration workflow soak roll-over (stubbed activities, dev server)', () => {
  let bundle: WorkflowBundle;
  let connection: NativeConnection;
  let client: Client;

  beforeAll(async () => {
    bundle = await bundleWorkflows();
    connection = await NativeConnection.connect({ address: config.temporalAddress });
    client = new Client({
      connection: await Connection.connect({ address: config.temporalAddress }),
      namespace: config.temporalNamespace,
    });
  });
  afterAll(async () => {
    await connection?.close();
    await client?.connection.close();
  });

  /** The production plan with every wait cut to milliseconds. */
  const quickPlan = (durations: Partial<Plan['durations']> = {}): Plan => ({
    ...productionPlan,
    durations: {
      parallelRunMs: 50,
      bakeMs: 50,
      monitoringWindowMs: 50,
      soakIntervalMs: 100,
      soakMs: 300,
      ...durations,
    },
  });

  /** Starts a migration with stubbed activities on the dev server and drives it to its end in real time. */
  async function runReal(
    acts: StubActivities,
    plan: Plan,
    opts: Parameters<typeof drive>[3] & {
      soakChecksPerRun?: number;
      auditKept?: number;
      pendingLedgerMax?: number;
      migrationId?: string;
    } = {},
  ): Promise<{ result: MigrationResult; status: MigrationStatus; handle: WorkflowHandle }> {
    const taskQueue = `wf-${uniq()}`;
    const worker = await Worker.create({
      connection,
      namespace: config.temporalNamespace,
      taskQueue,
      workflowBundle: bundle,
      activities: acts,
    });
    return worker.runUntil(async () => {
      const id = opts.migrationId ?? `migration-real-${uniq()}`;
      const handle = await client.workflow.start(migrationWorkflow, {
        taskQueue,
        workflowId: id,
        args: [
          {
            migrationId: id,
            plan,
            startedBy: 'test',
            soakChecksPerRun: opts.soakChecksPerRun,
            auditKept: opts.auditKept,
            pendingLedgerMax: opts.pendingLedgerMax,
          },
        ],
      });
      const status = await drive(realClock(client), handle, plan, opts);
      return { status, result: await handle.result(), handle };
    });
  }
  const eventsOf = async (h: WorkflowHandle) => (await h.fetchHistory()).events ?? [];
  /** An `onStatus` hook that sends an operator signal once, the first time the status matches. */
  const operatorOnce = (
    when: (s: MigrationStatus) => boolean,
    signal: typeof rollbackSignal, // rollback and abort take the same operator arguments
    args: { requestedBy: string; reason: string },
  ) => {
    let sent = false;
    return async (s: MigrationStatus) => {
      if (sent || !when(s)) return false;
      sent = true;
      await client.workflow.getHandle(s.migrationId).signal(signal, args);
      return true;
    };
  };

  it('rolls the soak history over with continue-as-new and keeps its state; the status keeps the latest audit entries', async () => {
    const acts = stubActivities(productionPlan.metrics);
    const plan = quickPlan({ soakMs: 1200 });
    const { status, result } = await runReal(acts, plan, { soakChecksPerRun: 5, auditKept: 30 });
    expect(result.phase).toBe('complete');
    expect(status.runs).toBe(2);
    // The status (and the state carried into each run) kept the newest 30 audit entries; the ledger got every one.
    const final = result.status;
    expect(final.ledgerSeq).toBeGreaterThan(60);
    expect(final.audit.map((a) => a.seq)).toEqual(Array.from({ length: 30 }, (_, i) => final.ledgerSeq! - 30 + i));
    const rows = acts.appendLedger.mock.calls.flatMap((c) => c[0].entries);
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: final.ledgerSeq! }, (_, i) => i));
    expect(rows.slice(-30).map((r) => r.detail)).toEqual(final.audit.map((a) => a.detail));
    expect(acts.evaluateMetrics).toHaveBeenCalledTimes(4 + 1 + 12);
    // State from the first run survived the roll-over.
    expect(status.backups.map((b) => b.step)).toEqual(['initial', 'pre-cutover']);
    expect(status.compensations.map((c) => c.kind)).toEqual([
      'traffic',
      'containers',
      'traffic',
      'unified-job',
      'legacy-jobs',
      'archive',
    ]);
  });

  it('a rollback while the pre-cutover backup runs cancels that backup and rolls back at once', async () => {
    const acts = stubActivities(productionPlan.metrics);
    const happy = acts.backupDatabase.getMockImplementation()!;
    // This backup never ends by itself: the migration can only get past it by cancelling it.
    acts.backupDatabase.mockImplementation(async (i) => {
      if (i.step !== 'pre-cutover') return happy(i);
      const ctx = Context.current();
      for (;;) {
        ctx.heartbeat('dumping');
        await ctx.sleep(200);
      }
    });
    const { result, status, handle } = await runReal(acts, quickPlan(), {
      // The pre-cutover backup, not the moment after the initial one (same phase, one backup, nothing deployed yet).
      onStatus: operatorOnce(
        (s) => s.phase === 'backup' && s.backups.length === 1 && s.compensations.length > 0,
        rollbackSignal,
        {
          requestedBy: 'olga',
          reason: 'hold everything',
        },
      ),
    });
    expect(result.phase).toBe('rolled-back');
    expect(status.failure).toBe('hold everything');
    expect(status.backups.map((b) => b.step)).toEqual(['initial']);
    expect(result.rollback?.undone.map((u) => u.kind)).toEqual(['traffic', 'containers']);
    expect(status.audit.find((a) => a.kind === 'cancelled')).toMatchObject({
      actor: 'olga',
      detail: 'running activity cancelled: hold everything',
    });
    // The workflow asked the server to cancel the running backup, and never scheduled the cutover.
    const events = await eventsOf(handle);
    expect(events.filter((e) => e.activityTaskCancelRequestedEventAttributes)).toHaveLength(1);
    expect(acts.installUnifiedJob).not.toHaveBeenCalled();
  });

  it('an abort while the first backup retries a database that is down ends it without waiting out the retries', async () => {
    const acts = stubActivities(productionPlan.metrics);
    acts.backupDatabase.mockImplementation(async () => {
      throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
    });
    const { result, status, handle } = await runReal(acts, quickPlan(), {
      onStatus: operatorOnce((s) => s.phase === 'backup' && acts.backupDatabase.mock.calls.length >= 2, abortSignal, {
        requestedBy: 'olga',
        reason: 'database maintenance',
      }),
    });
    // Nothing had changed in production: aborted, not failed after eight attempts, and nothing to undo.
    expect(result.phase).toBe('aborted');
    expect(status.failure).toBe('aborted by olga: database maintenance');
    expect(acts.backupDatabase.mock.calls.length).toBeLessThan(8);
    expect(result.rollback).toBeUndefined();
    expect(acts.setTrafficPercent).not.toHaveBeenCalled();
    const events = await eventsOf(handle);
    expect(events.filter((e) => e.activityTaskCancelRequestedEventAttributes)).toHaveLength(1);
    expect(events.filter((e) => e.activityTaskFailedEventAttributes)).toHaveLength(0);
  });
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const ledgerRows = (a: StubActivities) => a.appendLedger.mock.calls.flatMap((c) => c[0].entries);

  it('a rollback asked for while the soak rolls over is not lost: it rolls back in that run', async () => {
    const acts = stubActivities(productionPlan.metrics);
    // The cutover's notification is still on its way when the soak first rolls over: the run's end waits for it (3 s
    // at most), and the rollback arrives while it waits (after the soak check, before the continue-as-new).
    acts.notify.mockImplementation(async (n) => {
      if (n.event === 'cutover') await sleep(8_000);
      return { delivered: [] };
    });
    let sent = false;
    const { result, status, handle } = await runReal(acts, quickPlan({ soakMs: 1_000 }), {
      soakChecksPerRun: 1,
      onStatus: async (s) => {
        if (sent || s.phase !== 'soak' || acts.evaluateMetrics.mock.calls.length < 4 + 1 + 1) return false;
        sent = true;
        await sleep(300);
        await client.workflow
          .getHandle(s.migrationId)
          .signal(rollbackSignal, { requestedBy: 'olga', reason: 'at the roll-over' });
        return true;
      },
    });
    expect(sent).toBe(true);
    for (const e of await eventsOf(handle))
      console.log(
        e.eventTime?.seconds?.toString(),
        e.eventTime?.nanos,
        e.eventType,
        e.activityTaskScheduledEventAttributes?.activityType?.name ?? '',
        e.markerRecordedEventAttributes?.markerName ?? '',
      );
    console.log(
      status.audit
        .slice(-40)
        .map((a) => `${a.at} ${a.kind} ${a.detail}`)
        .join('\n'),
    );
    expect(result.phase).toBe('rolled-back');
    expect(status.failure).toBe('at the roll-over');
    // Handled in the first run: it never continued as new, and only one soak check ran.
    expect(status.runs).toBe(0);
    expect((await eventsOf(handle)).some((e) => e.workflowExecutionContinuedAsNewEventAttributes)).toBe(false);
    expect(acts.evaluateMetrics).toHaveBeenCalledTimes(4 + 1 + 1);
    expect(result.rollback?.undone.map((u) => u.kind)).toEqual(['legacy-jobs', 'unified-job', 'traffic', 'containers']);
  });

  it('a rollback workflow that fails after its undo (report disk full) leaves the migration failed with both causes and every outcome', async () => {
    const acts = stubActivities(productionPlan.metrics);
    acts.writeRollbackReport.mockRejectedValue(
      ApplicationFailure.nonRetryable('ENOSPC: no space left on device, write', 'Error'),
    );
    const { result, status } = await runReal(acts, quickPlan(), {
      onStatus: operatorOnce((s) => s.phase === 'traffic-shift' && s.trafficPercent === 25, rollbackSignal, {
        requestedBy: 'olga',
        reason: 'error rate up',
      }),
    });
    expect(result.phase).toBe('failed');
    expect(status.failure).toMatch(/^error rate up; the rollback workflow failed: .*ENOSPC: no space left on device/);
    expect(status.failure).toContain('undo: traffic undone, containers undone');
    expect(acts.stopContainers).toHaveBeenCalled();
    const undone = status.audit.filter((a) => a.kind === 'undone').map((a) => a.detail);
    expect(undone).toEqual(['traffic: undone after 1 attempt(s)', 'containers: undone after 1 attempt(s)']);
    // In the ledger too, with each outcome's data.
    expect(
      ledgerRows(acts)
        .filter((r) => r.kind === 'undone')
        .map((r) => (r.data as { kind: string }).kind),
    ).toEqual(['traffic', 'containers']);
  });

  it('a rollback past rollback.budget notifies when the budget passes and reports it', async () => {
    const acts = stubActivities(productionPlan.metrics);
    acts.stopContainers.mockImplementation(async () => {
      await sleep(1_500);
      return { stopped: [], skipped: [] } as never;
    });
    const plan = { ...quickPlan(), rollback: { ...productionPlan.rollback, budgetMs: 500 } };
    const { result } = await runReal(acts, plan, {
      onStatus: operatorOnce((s) => s.phase === 'traffic-shift' && s.trafficPercent === 10, rollbackSignal, {
        requestedBy: 'olga',
        reason: 'slow rollback',
      }),
    });
    expect(result.phase).toBe('rolled-back');
    expect(result.rollback).toMatchObject({ budgetMs: 500, overBudget: true });
    const over = acts.notify.mock.calls.map((c) => c[0]).filter((n) => n.event === 'rollback-over-budget');
    expect(over).toHaveLength(1);
    expect(over[0]!.text).toMatch(/past its budget of 1 s \(rollback.budget\)/);
    const rolledBack = acts.notify.mock.calls.map((c) => c[0]).find((n) => n.event === 'rolled-back');
    expect(rolledBack?.text).toMatch(
      /^Rolled back from traffic-shift in [\d.]+ s, OVER its budget of 1 s: slow rollback/,
    );
    expect(acts.writeRollbackReport.mock.calls[0]![0].result).toMatchObject({ budgetMs: 500, overBudget: true });
  });

  it('writes each undo record, with its data, to the ledger before the change it undoes', async () => {
    const acts = stubActivities(productionPlan.metrics);
    const { result } = await runReal(acts, quickPlan(), {});
    expect(result.phase).toBe('complete');
    const batchWith = (kind: string) =>
      acts.appendLedger.mock.calls.findIndex((c) =>
        c[0].entries.some((e) => e.kind === 'compensation' && (e.data as { kind?: string })?.kind === kind),
      );
    const order = (i: number) => acts.appendLedger.mock.invocationCallOrder[i]!;
    for (const [kind, change] of [
      ['containers', acts.deployUnified],
      ['unified-job', acts.installUnifiedJob],
      ['legacy-jobs', acts.disableLegacyJobs],
      ['archive', acts.archiveLegacyScripts],
    ] as const) {
      expect(batchWith(kind)).toBeGreaterThanOrEqual(0);
      expect(order(batchWith(kind))).toBeLessThan(change.mock.invocationCallOrder[0]!);
    }
    // The plan run is in the ledger's first row: with the undo records, all a rollback from the ledger needs.
    const started = ledgerRows(acts).find((r) => r.kind === 'started')!;
    expect((started.data as { plan: Plan }).plan).toEqual(quickPlan());
  });

  /** Stubs whose ledger writes fail while `ledger.down`, each entry counted once when written (as the table's key). */
  function flakyLedger() {
    const acts = stubActivities(productionPlan.metrics);
    const ledger = { down: false, written: [] as number[] };
    acts.appendLedger.mockImplementation(async (i) => {
      // Not retried within one write (each would wait out its retries): the next checkpoint tries again.
      if (ledger.down) throw ApplicationFailure.nonRetryable('connect ECONNREFUSED 127.0.0.1:5432', 'Error');
      for (const e of i.entries) if (!ledger.written.includes(e.seq)) ledger.written.push(e.seq);
      return { inserted: i.entries.length };
    });
    return { acts, ledger };
  }

  /** An `onStatus` hook that, the first time the migration stops for its ledger, brings the ledger back and resumes. */
  const resumeOnLedgerStop =
    (ledger: { down: boolean }, seen: { status?: MigrationStatus }) => async (s: MigrationStatus) => {
      if (seen.status || !s.paused || !s.attention?.includes('cannot be written')) return false;
      seen.status = s;
      ledger.down = false;
      await client.workflow.getHandle(s.migrationId).signal(resumeSignal, { requestedBy: 'olga' });
      return true;
    };

  it('a ledger that cannot be written stops the migration at its bound, drops nothing, and goes on once written', async () => {
    const { acts, ledger } = flakyLedger();
    // The ledger goes down when the soak starts (after the traffic steps and the monitoring window), once.
    const evaluate = acts.evaluateMetrics.getMockImplementation()!;
    acts.evaluateMetrics.mockImplementation(async (i) => {
      if (acts.evaluateMetrics.mock.calls.length === 4 + 1 + 1) ledger.down = true;
      return evaluate(i);
    });
    const seen: { status?: MigrationStatus } = {};
    const { result, status } = await runReal(acts, quickPlan({ soakMs: 1_500 }), {
      soakChecksPerRun: 4,
      pendingLedgerMax: 10,
      onStatus: resumeOnLedgerStop(ledger, seen),
    });
    expect(seen.status?.phase).toBe('soak');
    expect(seen.status?.attention).toMatch(
      /^the ledger \(migration_ledger at \$\w+\) cannot be written: 1\d entries wait; more than a run may hold/,
    );
    expect(result.phase).toBe('complete');
    // Every entry reached the ledger, in order, none dropped.
    expect(ledger.written).toEqual(Array.from({ length: status.ledgerSeq! }, (_, i) => i));
  });

  it('refuses a migration ID that would name a folder outside the backup and report folders', async () => {
    const acts = stubActivities(productionPlan.metrics);
    const taskQueue = `wf-${uniq()}`;
    const worker = await Worker.create({ connection, taskQueue, workflowBundle: bundle, activities: acts });
    const failure = await worker.runUntil(async () => {
      const handle = await client.workflow.start(migrationWorkflow, {
        taskQueue,
        workflowId: `dotdot-${uniq()}`,
        args: [{ migrationId: '..', plan: quickPlan(), startedBy: 'test' }],
      });
      return handle.result().then(
        () => undefined,
        (err: Error & { cause?: Error }) => err,
      );
    });
    expect(failure?.cause?.message).toMatch(/^migrationId: expected 1 to 128 letters.*got "\.\."/);
    expect(acts.runChecks).not.toHaveBeenCalled();
  });
  it('a rollback puts the archived scripts back before it enables their cron lines again', async () => {
    const acts = stubActivities(productionPlan.metrics);
    const plan = quickPlan();
    const times: Record<string, number> = {};
    acts.restoreArchivedScripts.mockImplementation(async () => {
      await sleep(500);
      times.scriptsBack = Date.now();
      return { reverted: ['abc123'] } as never;
    });
    acts.enableLegacyJobs.mockImplementation(async () => {
      times.cronEnabled = Date.now();
      return { restored: plan.legacyJobs.map((j) => j.name) } as never;
    });
    const at = new Date().toISOString();
    const taskQueue = `wf-${uniq()}`;
    const worker = await Worker.create({ connection, taskQueue, workflowBundle: bundle, activities: acts });
    const result = await worker.runUntil(() =>
      client.workflow.execute(rollbackWorkflow, {
        taskQueue,
        workflowId: `rollback-order-${uniq()}`,
        args: [
          {
            migrationId: `order-${uniq()}`,
            plan,
            compensations: [
              { kind: 'legacy-jobs', scheduler: plan.scheduler, jobs: plan.legacyJobs, at },
              { kind: 'archive', repository: plan.target.repository, at, startedAt: at },
            ],
            reason: 'order test',
            requestedBy: 'olga',
            fromPhase: 'gate:sign-off',
          },
        ],
      }),
    );
    expect(result.undone.map((u) => [u.kind, u.ok])).toEqual([
      ['archive', true],
      ['legacy-jobs', true],
    ]);
    expect(times.cronEnabled).toBeGreaterThanOrEqual(times.scriptsBack!);
  });
});

import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  ContinueAsNew,
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  continueAsNew,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { RetryPolicy } from '@temporalio/common';
import type { Activities } from '../activities';
import type {
  ApproveArgs,
  Compensation,
  GateEvaluation,
  GateState,
  LedgerEntry,
  MetricReading,
  MigrationStatus,
  OperatorArgs,
  Phase,
  RejectArgs,
} from './definitions';
import {
  abortSignal,
  approveSignal,
  migrationNameKey,
  migrationPhaseKey,
  failSignal,
  pauseSignal,
  rejectSignal,
  resumeSignal,
  retrySignal,
  rollbackSignal,
  rollbackWorkflowId,
  statusQuery,
  trafficPercentKey,
} from './definitions';
import { ledgerOf, type GateName, type Plan } from './plan';
import type { RollbackResult } from './rollback';
import { rollbackWorkflow } from './rollback';

/** Input of the migration workflow: the validated plan (names and paths only, never credentials). */
export interface MigrationInput {
  migrationId: string;
  plan: Plan;
  startedBy: string;
  /** Set by continue-as-new during the soak: the state carried into the next run. */
  carried?: CarriedState;
  /** Soak checks per run before the history is rolled over with continue-as-new. */
  soakChecksPerRun?: number;
  /** Audit entries the status keeps (default 500; the ledger keeps them all). */
  auditKept?: number;
}

/** State carried across continue-as-new (only the soak continues as new). */
export interface CarriedState {
  status: MigrationStatus;
  soakStartedAt: number;
  soakChecksDone: number;
  failures: Record<string, { total: number; consecutive: number; inconclusive?: number }>;
  /** Ledger rows that could not be written before the roll-over (database down): written by the next run. */
  pendingLedger?: LedgerEntry[];
}

/** How a migration ended. */
export interface MigrationResult {
  migrationId: string;
  phase: Phase;
  trafficPercent: number;
  reports: Record<string, string>;
  rollback?: RollbackResult;
  status: MigrationStatus;
}

const retry: RetryPolicy = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '30 seconds',
  maximumAttempts: 8,
  nonRetryableErrorTypes: ['InvalidInput', 'MissingSecret', 'PreconditionFailed'],
};
// Long activities (backup, checks, containers, metrics, comparison, routing) heartbeat every few seconds: a worker
// that dies under one is noticed within the heartbeat timeout and the activity runs again on another worker.
const acts = proxyActivities<Activities>({ startToCloseTimeout: '30 minutes', heartbeatTimeout: '20 seconds', retry });
// Short ones (crontab edits, git, notifications, reports) do not heartbeat; their start-to-close limit is the bound.
const quick = proxyActivities<Activities>({ startToCloseTimeout: '1 minute', retry });

// Ledger writes are short, idempotent inserts on the worker that runs the workflow: a local activity records one
// marker event instead of a task-queue round trip (the production plan writes some 40 batches).
const ledgerActs = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '500 milliseconds', maximumAttempts: 5 },
});

const DEFAULT_SOAK_CHECKS_PER_RUN = 500;
/** Audit entries the status keeps by default (a 7-day soak at 5 minutes writes some 4,000). */
const DEFAULT_AUDIT_KEPT = 500;

/** Raised inside the workflow body to leave the forward path for rollback or abort. */
class Interrupt extends Error {
  constructor(
    readonly action: 'rollback' | 'abort',
    readonly reason: string,
    readonly requestedBy: string,
    /** A step failed (by itself or by hand), as opposed to a person asking for a rollback or an abort. */
    readonly stepFailed = false,
  ) {
    super(reason);
  }
}

/** The migration runbook: preflight → go → backup → deploy → parallel run → traffic shift → cutover → soak → archive → sign-off. */
export async function migrationWorkflow(input: MigrationInput): Promise<MigrationResult> {
  const { plan, migrationId } = input;
  const now = () => new Date().toISOString();
  const status: MigrationStatus = input.carried?.status ?? {
    migrationId,
    name: plan.name,
    phase: 'preflight',
    paused: false,
    trafficPercent: 0,
    gates: {},
    lastReadings: {},
    evaluations: [],
    backups: [],
    compensations: [],
    reports: {},
    audit: [],
    phaseTimeline: [],
    startedAt: now(),
    updatedAt: now(),
    runs: 0,
  };
  const failures = input.carried?.failures ?? {};
  let interrupt: Interrupt | undefined;
  let rolledBack: RollbackResult | undefined;
  /** Set by `retry` while a gate evaluation waits for a decision. */
  let retryRequested: OperatorArgs | undefined;
  let awaitingDecision = false;
  /** Ledger rows not yet written (written at the next checkpoint; kept on failure and written later). */
  const pendingLedger: LedgerEntry[] = [...(input.carried?.pendingLedger ?? [])];
  const ledgerSpec = ledgerOf(plan);
  const auditKept = input.auditKept ?? DEFAULT_AUDIT_KEPT;

  const audit = (kind: string, detail: string, actor?: string, data?: unknown) => {
    const seq = status.ledgerSeq ?? 0;
    status.ledgerSeq = seq + 1;
    const entry = { at: now(), kind, detail, ...(actor ? { actor } : {}), seq };
    status.audit.push(entry);
    // The status (queried, and carried through the soak's continue-as-new) keeps the latest entries; the ledger all.
    if (status.audit.length > auditKept) status.audit.splice(0, status.audit.length - auditKept);
    pendingLedger.push({ ...entry, ...(data === undefined ? {} : { data }) });
    status.updatedAt = now();
  };
  /** Appends the pending entries to the ledger table; a ledger that cannot be written never stops a migration. */
  const flushLedger = async () => {
    // Patched: histories recorded before the ledger existed wrote nothing here.
    if (!pendingLedger.length || !patched('measurement-ledger')) return;
    const batch = pendingLedger.splice(0);
    try {
      await ledgerActs.appendLedger({
        migrationId,
        databaseUrlEnv: ledgerSpec.databaseUrlEnv,
        table: ledgerSpec.table,
        entries: batch,
      });
      status.ledgerWritten = batch.at(-1)!.seq + 1;
    } catch (err) {
      pendingLedger.unshift(...batch);
      log.warn('ledger not written; kept for the next checkpoint', { migrationId, error: (err as Error).message });
    }
  };
  const enter = (phase: Phase) => {
    status.phase = phase;
    status.phaseTimeline.push({ phase, at: now() });
    audit('phase', phase);
    upsertSearchAttributes([{ key: migrationPhaseKey, value: phase }]);
    log.info('migration phase', { migrationId, phase });
  };
  const notify = async (event: string, subject: string, text: string, data?: Record<string, unknown>) => {
    if (!plan.notifications.webhook && !plan.notifications.email) return;
    try {
      await quick.notify({
        migrationId,
        event,
        subject: `[${plan.name}] ${subject}`,
        text,
        data,
        channels: plan.notifications,
      });
    } catch (err) {
      // A notification that cannot be delivered never stops or rolls back a migration; it is recorded.
      audit('notify-failed', `${event}: ${(err as Error).message}`);
    }
  };
  const record = (c: Compensation) => {
    status.compensations.push(c);
    audit('compensation', `recorded undo: ${c.kind}`);
  };

  /** Undo of a routing change: every item back on the legacy path. */
  const recordTrafficUndo = () =>
    record({
      kind: 'traffic',
      router: plan.traffic.router,
      databaseUrlEnv: plan.target.databaseUrlEnv,
      restorePercent: 0,
      at: now(),
    });

  // ---------- signal handlers: validate and record; the body decides ----------
  const openGate = (): GateState | undefined => Object.values(status.gates).find((g) => g?.open);
  const gateFor = (args: { gate?: GateName }, kind: string, actor: string): GateState | undefined => {
    const gate = openGate();
    if (!gate || (args.gate && args.gate !== gate.name)) {
      audit(
        'rejected',
        `${kind} by ${actor} for gate ${args.gate ?? '(any)'}: gate is not open (phase ${status.phase})`,
        actor,
      );
      return undefined;
    }
    return gate;
  };
  const roleCheck = (gate: GateState, role: string, approver: string, kind: string): boolean => {
    const spec = plan.approvals.gates[gate.name].roles.find((r) => r.role === role);
    if (!spec) {
      audit(
        'rejected',
        `${kind} by ${approver}: gate ${gate.name} does not need role ${role} (needs ${gate.requiredRoles.join(', ')})`,
        approver,
      );
      return false;
    }
    if (spec.approvers && !spec.approvers.includes(approver)) {
      audit('rejected', `${kind} by ${approver}: not on the allow-list of role ${role}`, approver);
      return false;
    }
    return true;
  };
  setHandler(approveSignal, (args: ApproveArgs) => {
    if (!args || typeof args.role !== 'string' || typeof args.approver !== 'string' || !args.role || !args.approver) {
      audit('rejected', `malformed approval: ${JSON.stringify(args)}`);
      return;
    }
    const gate = gateFor(args, 'approval', args.approver);
    if (!gate || !roleCheck(gate, args.role, args.approver, 'approval')) return;
    const required = gate.required?.[args.role] ?? 1;
    const mine = gate.signatures.filter((s) => s.role === args.role);
    if (mine.some((s) => s.approver === args.approver)) {
      audit(
        'rejected',
        `approval by ${args.approver}: already signed gate ${gate.name} as ${args.role}`,
        args.approver,
      );
      return;
    }
    if (mine.length >= required) {
      audit(
        'rejected',
        `approval by ${args.approver}: role ${args.role} already signed gate ${gate.name}${required > 1 ? ` (${required} of ${required})` : ''}`,
        args.approver,
      );
      return;
    }
    if (plan.approvals.separationOfDuties && gate.signatures.some((s) => s.approver === args.approver)) {
      audit(
        'rejected',
        `approval by ${args.approver} as ${args.role}: already signed gate ${gate.name} for another role (separation of duties)`,
        args.approver,
      );
      return;
    }
    gate.signatures.push({ ...args, gate: gate.name, at: now() });
    audit(
      'approved',
      `${args.role} ${args.approver} approved gate ${gate.name}${required > 1 ? ` (${mine.length + 1} of ${required})` : ''}${args.comment ? `: ${args.comment}` : ''}`,
      args.approver,
    );
  });
  setHandler(rejectSignal, (args: RejectArgs) => {
    if (
      !args ||
      typeof args.role !== 'string' ||
      typeof args.approver !== 'string' ||
      typeof args.reason !== 'string'
    ) {
      audit('rejected', `malformed rejection: ${JSON.stringify(args)}`);
      return;
    }
    const gate = gateFor(args, 'rejection', args.approver);
    if (!gate || !roleCheck(gate, args.role, args.approver, 'rejection')) return;
    gate.outcome = 'rejected';
    audit('gate-rejected', `${args.role} ${args.approver} rejected gate ${gate.name}: ${args.reason}`, args.approver);
    interrupt ??= new Interrupt(
      'rollback',
      `gate ${gate.name} rejected by ${args.approver}: ${args.reason}`,
      args.approver,
    );
  });
  const operator = (kind: string, args: OperatorArgs): boolean => {
    if (!args || typeof args.requestedBy !== 'string' || !args.requestedBy) {
      audit('rejected', `malformed ${kind}: ${JSON.stringify(args)}`);
      return false;
    }
    if (isFinal(status.phase) || status.phase === 'rolling-back') {
      audit('rejected', `${kind} by ${args.requestedBy}: migration is ${status.phase}`, args.requestedBy);
      return false;
    }
    return true;
  };
  setHandler(pauseSignal, (args) => {
    if (!operator('pause', args)) return;
    if (status.paused) return audit('rejected', `pause by ${args.requestedBy}: already paused`, args.requestedBy);
    status.paused = true;
    audit('paused', args.reason ?? 'paused', args.requestedBy);
  });
  setHandler(resumeSignal, (args) => {
    if (!operator('resume', args)) return;
    if (!status.paused) return audit('rejected', `resume by ${args.requestedBy}: not paused`, args.requestedBy);
    status.paused = false;
    audit('resumed', args.reason ?? 'resumed', args.requestedBy);
  });
  setHandler(abortSignal, (args) => {
    if (!operator('abort', args)) return;
    audit('abort-requested', args.reason ?? 'abort', args.requestedBy);
    interrupt ??= new Interrupt('abort', args.reason ?? 'aborted by operator', args.requestedBy);
  });
  setHandler(rollbackSignal, (args) => {
    if (!operator('rollback', args)) return;
    audit('rollback-requested', args.reason ?? 'rollback', args.requestedBy);
    interrupt ??= new Interrupt('rollback', args.reason ?? 'rollback requested', args.requestedBy);
  });
  setHandler(retrySignal, (args) => {
    if (!operator('retry', args)) return;
    if (!awaitingDecision || retryRequested)
      return audit(
        'rejected',
        `retry by ${args.requestedBy}: no gate evaluation is waiting for a decision`,
        args.requestedBy,
      );
    retryRequested = args;
    audit('retry', `measure again${args.reason ? `: ${args.reason}` : ''}`, args.requestedBy);
  });
  setHandler(failSignal, (args) => {
    if (!operator('fail', args)) return;
    const reason = `step ${status.phase} failed by hand by ${args.requestedBy}${args.reason ? `: ${args.reason}` : ''}`;
    audit('fail-requested', reason, args.requestedBy);
    status.failure ??= reason;
    interrupt ??= new Interrupt('rollback', reason, args.requestedBy, true);
  });
  setHandler(statusQuery, () => status);

  // ---------- helpers for the body ----------
  /** Between steps: stop here while paused, leave the forward path on abort/rollback. */
  const checkpoint = async () => {
    await flushLedger();
    await condition(() => !status.paused || interrupt !== undefined);
    if (interrupt) throw interrupt;
  };
  /** Waits for a person's decision on a gate evaluation: resume (go on), retry (measure again) or rollback/abort. */
  const decision = async (): Promise<'resume' | 'retry'> => {
    await flushLedger();
    awaitingDecision = true;
    retryRequested = undefined;
    await condition(() => !status.paused || retryRequested !== undefined || interrupt !== undefined);
    awaitingDecision = false;
    status.attention = undefined;
    if (interrupt) throw interrupt;
    if (retryRequested) {
      status.paused = false;
      return 'retry';
    }
    return 'resume';
  };
  /**
   * Runs a production-neutral activity (checks, backups, readings, comparison) so that rollback, abort or fail cancels
   * it at once, also while it waits out its retries (a database that is down), instead of at the next step boundary.
   * Activities that change production are not wrapped: they run to their end, so the undo meets a settled state.
   * Patched: histories recorded before this waited for the activity.
   */
  const interruptible = async <T>(run: () => Promise<T>): Promise<T> => {
    if (!patched('interrupt-cancels-neutral-activity')) return run();
    if (interrupt) throw interrupt;
    return CancellationScope.cancellable(async () => {
      const work = run();
      const stop = condition(() => interrupt !== undefined);
      // Whichever loses is cancelled below; its rejection is expected and must not surface as unhandled.
      work.catch(() => undefined);
      stop.catch(() => undefined);
      try {
        await Promise.race([work, stop]);
      } finally {
        // Requests the activity's cancellation if the interrupt came first; ends the watcher if the activity did.
        CancellationScope.current().cancel();
      }
      if (interrupt) {
        audit('cancelled', `running activity cancelled: ${interrupt.reason}`, interrupt.requestedBy);
        throw interrupt;
      }
      return work;
    });
  };
  /** A durable, interruptible wait (bake, parallel run, monitoring window, soak interval). */
  const hold = async (ms: number, what: string) => {
    status.waitingSince = new Date(Date.now()).toISOString();
    status.waitingUntil = new Date(Date.now() + ms).toISOString();
    status.waitingFor = what;
    audit('wait', `${what}: ${Math.round(ms / 1000)} s`);
    await flushLedger();
    await condition(() => interrupt !== undefined, ms);
    status.waitingUntil = status.waitingSince = status.waitingFor = undefined;
    await checkpoint();
  };
  const gate = async (name: GateName) => {
    const spec = plan.approvals.gates[name];
    const quorum = spec.roles.filter((r) => (r.required ?? 1) > 1);
    const state: GateState = {
      name,
      open: true,
      requiredRoles: spec.roles.map((r) => r.role),
      signatures: [],
      openedAt: now(),
      ...(quorum.length ? { required: Object.fromEntries(quorum.map((r) => [r.role, r.required!])) } : {}),
    };
    status.gates[name] = state;
    enter(`gate:${name}`);
    await notify(
      'gate-open',
      `approval needed: ${name}`,
      `Gate ${name} needs: ${state.requiredRoles.map((r) => (state.required?.[r] ? `${r} (${state.required[r]} approvers)` : r)).join(', ')}.\n` +
        state.requiredRoles
          .map((r) => `  migrate approve ${migrationId} --gate ${name} --role ${r} --as <you>`)
          .join('\n'),
      { gate: name, roles: state.requiredRoles },
    );
    const signedBy = (role: string) => state.signatures.filter((s) => s.role === role).length;
    const missing = () => state.requiredRoles.filter((r) => signedBy(r) < (state.required?.[r] ?? 1));
    const signed = () => missing().length === 0;
    await flushLedger();
    let deadline = Date.now() + spec.timeoutMs;
    for (;;) {
      // With reminders, wake every interval until the timeout; without, wait for the timeout in one timer.
      const remind = spec.remindEveryMs;
      const wait = remind ? Math.min(remind, Math.max(deadline - Date.now(), 1)) : spec.timeoutMs;
      const done = await condition(() => signed() || interrupt !== undefined, wait);
      if (done) break;
      if (remind && Date.now() < deadline) {
        audit('gate-reminder', `gate ${name} still waits for ${missing().join(', ')}`);
        await notify(
          'gate-reminder',
          `reminder: ${name} waits for ${missing().join(', ')}`,
          `Gate ${name} has been open since ${state.openedAt}; still needed: ${missing().join(', ')}.`,
          { gate: name, missing: missing() },
        );
        await flushLedger();
        continue;
      }
      deadline = Date.now() + spec.timeoutMs;
      if (spec.onTimeout === 'abort') {
        state.outcome = 'timed-out';
        state.open = false;
        interrupt ??= new Interrupt('abort', `gate ${name} timed out`, 'timeout');
        break;
      }
      audit('gate-timeout', `gate ${name} still waiting for ${missing().join(', ')}`);
      await notify('gate-reminder', `still waiting: ${name}`, `Gate ${name} is still open.`, { gate: name });
    }
    state.open = false;
    state.decidedAt = now();
    if (interrupt) {
      state.outcome ??= 'aborted';
      throw interrupt;
    }
    state.outcome = 'approved';
    audit(
      'gate-approved',
      `gate ${name} approved by ${state.signatures.map((s) => `${s.role}=${s.approver}`).join(', ')}`,
    );
    await checkpoint();
  };
  /**
   * Evaluates every metric and records the evaluation. A metric past its failure limits throws a rollback; metrics
   * past their inconclusive limit make it return 'inconclusive'; dry-run metrics are recorded and decide nothing.
   */
  const evaluateGate = async (step: string, since: number): Promise<'passed' | 'inconclusive'> => {
    const readings: MetricReading[] = await interruptible(() =>
      acts.evaluateMetrics({
        migrationId,
        metrics: plan.metrics,
        databaseUrlEnv: plan.target.databaseUrlEnv,
        repository: plan.target.repository,
        since: new Date(since).toISOString(),
      }),
    );
    const failed: string[] = [];
    const inconclusive: string[] = [];
    for (const r of readings) {
      status.lastReadings[r.name] = r;
      const spec = plan.metrics.find((m) => m.name === r.name);
      if (spec?.dryRun) continue;
      const f = (failures[r.name] ??= { total: 0, consecutive: 0 });
      if (r.passed === false) {
        f.total++;
        f.consecutive++;
      } else if (r.passed === true) f.consecutive = 0;
      else if (spec?.inconclusiveLimit !== undefined) f.inconclusive = (f.inconclusive ?? 0) + 1;
      if (spec && r.passed === false && (f.total > spec.failureLimit || f.consecutive > spec.consecutiveFailureLimit)) {
        failed.push(`${r.name} = ${r.value ?? 'no data'} (needs ${r.op} ${r.threshold})`);
      }
      if (spec?.inconclusiveLimit !== undefined && r.passed === null && (f.inconclusive ?? 0) > spec.inconclusiveLimit)
        inconclusive.push(r.name);
    }
    const evaluation: GateEvaluation = {
      phase: status.phase,
      step,
      at: now(),
      readings,
      passed: failed.length === 0,
      ...(inconclusive.length ? { inconclusive } : {}),
    };
    status.evaluations.push(evaluation);
    // Keep the status (and so the carried state) bounded over a long soak.
    if (status.evaluations.length > 200) status.evaluations.splice(0, status.evaluations.length - 200);
    audit(
      'gate-evaluation',
      `${step}: ${readings.map((r) => `${r.name}=${r.value ?? 'no data'}${r.passed === false ? ' FAIL' : r.passed === null ? ' (inconclusive)' : ''}${r.dryRun ? ' [dry run]' : ''}`).join(', ')}`,
      undefined,
      evaluation,
    );
    if (failed.length)
      throw new Interrupt('rollback', `metric gate failed at ${step}: ${failed.join('; ')}`, 'metric-gate');
    return inconclusive.length ? 'inconclusive' : 'passed';
  };
  /**
   * A metric gate: evaluated; inconclusive past a metric's limit, the migration pauses and a person decides —
   * resume goes on (the inconclusive count starts again), retry measures again, rollback or abort leaves.
   */
  const metricGate = async (step: string, since: number) => {
    while ((await evaluateGate(step, since)) === 'inconclusive') {
      const names = status.evaluations.at(-1)?.inconclusive ?? [];
      status.paused = true;
      status.attention =
        `${step}: ${names.join(', ')} inconclusive past the plan's limit (no data or too few samples). Decide: ` +
        `\`migrate resume ${migrationId}\` (go on), \`migrate retry ${migrationId} --reason …\` (measure again) or ` +
        `\`migrate rollback ${migrationId}\`.`;
      audit('paused', status.attention);
      await notify('inconclusive', `gate ${step} inconclusive: decision needed`, status.attention, {
        step,
        metrics: names,
      });
      if ((await decision()) === 'resume') {
        for (const n of names) failures[n]!.inconclusive = 0;
        return;
      }
    }
  };
  const setTraffic = async (percent: number, actor: string) => {
    const res = await acts.setTrafficPercent({
      migrationId,
      router: plan.traffic.router,
      databaseUrlEnv: plan.target.databaseUrlEnv,
      percent,
      actor,
      reason: `migration ${migrationId}`,
    });
    status.trafficPercent = res.current;
    upsertSearchAttributes([{ key: trafficPercentKey, value: res.current }]);
    audit('traffic', `unified ${res.previous}% → ${res.current}%`);
  };
  const backup = async (step: string) => {
    enter('backup');
    const rec = await interruptible(() =>
      acts.backupDatabase({
        migrationId,
        step,
        databaseUrlEnv: plan.target.databaseUrlEnv,
        backupDir: plan.target.backupDir,
      }),
    );
    // The activity verifies by restore; the workflow refuses to go on with anything less.
    if (!rec.verified)
      throw ApplicationFailure.create({
        type: 'BackupNotVerified',
        message: `backup ${step} is not verified`,
        nonRetryable: true,
      });
    if (!status.backups.some((b) => b.step === step)) status.backups.push(rec);
    audit(
      'backup',
      `${step}: ${rec.file} sha256=${rec.sha256} (${Object.values(rec.tables).reduce((a, b) => a + b, 0)} rows) verified`,
    );
  };

  // ---------- the runbook ----------
  upsertSearchAttributes([{ key: migrationNameKey, value: plan.name }]);
  try {
    if (!input.carried) {
      status.runs = 0;
      upsertSearchAttributes([{ key: trafficPercentKey, value: 0 }]);
      audit('started', `migration ${plan.name} started by ${input.startedBy}`, input.startedBy);
      enter('preflight');
      const preflight = await interruptible(() =>
        acts.runChecks({
          migrationId,
          title: `Pre-production validation: ${plan.name}`,
          kind: 'validation',
          checks: plan.preflight,
          databaseUrlEnv: plan.target.databaseUrlEnv,
          repository: plan.target.repository,
          reportDir: plan.target.reportDir,
        }),
      );
      status.reports.validation = preflight.markdownFile;
      if (!preflight.passed) {
        const failed = preflight.results
          .filter((r) => !r.passed)
          .map((r) => `${r.name} = ${r.value ?? r.error ?? 'no value'} (needs ${r.op} ${r.threshold})`);
        status.failure = `preflight failed: ${failed.join('; ')}`;
        enter('failed');
        await notify('failed', 'preflight failed', status.failure, { report: preflight.markdownFile });
        await flushLedger();
        await condition(allHandlersFinished);
        return result();
      }
      await notify('phase', 'preflight passed', `Validation report: ${preflight.markdownFile}`);
      await checkpoint();

      await gate('go');
      // No production change before a verified backup exists.
      await backup('initial');
      await checkpoint();

      enter('deploy');
      // The undo is recorded before each change: a step that fails half-way (a container created, not started)
      // is still undone, and every undo is idempotent, so undoing what never happened is harmless.
      recordTrafficUndo();
      // Blue-green starts with the routing in place (created if absent) and every item on the legacy path.
      await setTraffic(0, 'migration-workflow');
      record({ kind: 'containers', project: plan.target.composeProject, at: now() });
      const containers = await acts.deployUnified({
        project: plan.target.composeProject,
        containers: plan.unifiedJob.containers,
      });
      audit('deploy', `running: ${containers.map((c) => c.name).join(', ')}`);
      await checkpoint();

      enter('parallel-run');
      const parallelStart = Date.now();
      await hold(plan.durations.parallelRunMs, 'parallel run');
      const cmp = await interruptible(() =>
        acts.compareOutputs({
          databaseUrlEnv: plan.target.databaseUrlEnv,
          comparisonQuery: plan.parallelRun.comparisonQuery,
          mismatchQuery: plan.parallelRun.mismatchQuery,
          since: new Date(parallelStart).toISOString(),
        }),
      );
      audit('parallel-run', `compared ${cmp.total} items: ${cmp.matched} match (ratio ${cmp.ratio ?? 'n/a'})`);
      if (cmp.ratio === null || cmp.ratio < plan.parallelRun.minMatchRatio) {
        throw new Interrupt(
          'rollback',
          `parallel run: match ratio ${cmp.ratio ?? 'n/a (no items)'} below ${plan.parallelRun.minMatchRatio}; sample: ${JSON.stringify(cmp.mismatches.slice(0, 3))}`,
          'parallel-run',
        );
      }
      await checkpoint();

      enter('traffic-shift');
      // Recorded again so the undo puts traffic back on the legacy path before the containers stop.
      recordTrafficUndo();
      for (const percent of plan.traffic.steps) {
        const stepStart = Date.now();
        await setTraffic(percent, 'migration-workflow');
        await notify(
          'traffic',
          `traffic at ${percent}% unified`,
          `Holding for ${Math.round(plan.durations.bakeMs / 1000)} s before the gate.`,
        );
        await hold(plan.durations.bakeMs, `bake at ${percent}%`);
        await metricGate(`traffic ${percent}%`, stepStart);
      }

      await gate('cutover');
      await backup('pre-cutover');
      await checkpoint();

      enter('cutover');
      const cutoverStart = Date.now();
      record({ kind: 'unified-job', scheduler: plan.scheduler, job: plan.unifiedJob, at: now() });
      await quick.installUnifiedJob({
        migrationId,
        scheduler: plan.scheduler,
        job: plan.unifiedJob,
        backupDir: plan.target.backupDir,
      });
      record({ kind: 'legacy-jobs', scheduler: plan.scheduler, jobs: plan.legacyJobs, at: now() });
      await quick.disableLegacyJobs({
        migrationId,
        scheduler: plan.scheduler,
        jobs: plan.legacyJobs,
        backupDir: plan.target.backupDir,
      });
      audit('cutover', `scheduler switched (${plan.scheduler.kind}); legacy jobs disabled and restorable`);
      await notify(
        'cutover',
        'cutover done',
        'Scheduler switched to the unified job; legacy jobs disabled (restorable).',
      );
      await hold(plan.durations.monitoringWindowMs, 'monitoring window');
      await metricGate('monitoring window', cutoverStart);
      enter('soak');
    }
    await soak();

    enter('archive');
    record({ kind: 'archive', repository: plan.target.repository, at: now() });
    const archived = await archive();
    audit('archive', `commit ${archived.commit}: ${archived.moved.map((m) => `${m.from} → ${m.to}`).join(', ')}`);
    await checkpoint();

    await gate('sign-off');
    const report = await quick.writeCompletionReport({
      migrationId,
      plan,
      status,
      codeLinesRemoved: archived.moved.reduce((a, m) => a + m.lines, 0),
    });
    status.reports.completion = report.markdownFile;
    enter('complete');
    await notify('complete', 'migration complete', `Completion report: ${report.markdownFile}`, {
      report: report.markdownFile,
    });
  } catch (err) {
    // Rolling the soak's history over is not a failure.
    if (err instanceof ContinueAsNew) throw err;
    if (!(err instanceof Interrupt)) {
      // An activity that failed for good (after its retries) leaves production as it is and rolls back what changed.
      const message =
        err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
      interrupt = new Interrupt('rollback', `step ${status.phase} failed: ${message}`, 'migration-workflow');
      status.failure = interrupt.reason;
    }
    await compensate(interrupt ?? (err as Interrupt));
  }
  await flushLedger();
  await condition(allHandlersFinished);
  await flushLedger();
  return result();

  // ---------- pieces of the body ----------
  async function soak(): Promise<void> {
    const carried = input.carried;
    const soakStartedAt = carried?.soakStartedAt ?? Date.now();
    let checksDone = carried?.soakChecksDone ?? 0;
    const total = Math.max(1, Math.ceil(plan.durations.soakMs / plan.durations.soakIntervalMs));
    const perRun = input.soakChecksPerRun ?? DEFAULT_SOAK_CHECKS_PER_RUN;
    let inThisRun = 0;
    while (checksDone < total) {
      if (inThisRun >= perRun || workflowInfo().continueAsNewSuggested) {
        // Roll the history over; the soak goes on in a new run with the same workflow ID.
        status.runs++;
        await flushLedger();
        await condition(allHandlersFinished);
        await continueAsNew<typeof migrationWorkflow>({
          ...input,
          carried: {
            status,
            soakStartedAt,
            soakChecksDone: checksDone,
            failures,
            ...(pendingLedger.length ? { pendingLedger } : {}),
          },
        });
      }
      const since = Date.now();
      await hold(plan.durations.soakIntervalMs, `soak check ${checksDone + 1}/${total}`);
      for (;;) {
        try {
          await metricGate(`soak check ${checksDone + 1}`, since);
          break;
        } catch (err) {
          if (!(err instanceof Interrupt) || err.requestedBy !== 'metric-gate' || plan.soak.onFailure !== 'pause')
            throw err;
          // Per plan, a failed soak check waits for a person: resume goes on, retry measures again, rollback leaves.
          status.paused = true;
          status.attention = `${err.reason}; decide with \`migrate resume ${migrationId}\`, \`migrate retry ${migrationId}\` or \`migrate rollback ${migrationId}\``;
          audit('paused', `${err.reason}; waiting for a decision (migrate resume | migrate retry | migrate rollback)`);
          await notify('soak-paused', 'soak check failed: decision needed', err.reason);
          if ((await decision()) === 'resume') break;
        }
      }
      checksDone++;
      inThisRun++;
    }
    audit('soak', `soak complete: ${checksDone} checks over ${Math.round((Date.now() - soakStartedAt) / 3_600_000)} h`);
  }

  /**
   * The archive commit. A dirty target repository is not a reason to undo a soaked migration, nor to commit someone's
   * uncommitted work: the migration pauses, says what blocks it and waits for a person (resume retries, rollback and
   * abort still work). Patched: before this, the failure went straight to the rollback.
   */
  async function archive(): Promise<Awaited<ReturnType<Activities['archiveLegacyScripts']>>> {
    for (;;) {
      try {
        return await quick.archiveLegacyScripts({
          migrationId,
          repository: plan.target.repository,
          scripts: plan.legacyJobs.flatMap((j) => (j.script ? [j.script] : [])),
          docs: plan.archive.docs,
          date: new Date().toISOString().slice(0, 10).replace(/-/g, ''),
          reason: plan.archive.reason,
          replacement: `${plan.unifiedJob.name} (${plan.unifiedJob.containers.map((c) => c.image).join(', ')})`,
          rollbackProcedure: rollbackProcedure(),
        });
      } catch (err) {
        const cause = err instanceof ActivityFailure ? err.cause : undefined;
        if (!(cause instanceof ApplicationFailure) || cause.type !== 'RepositoryDirty' || !patched('archive-blocked'))
          throw err;
        status.paused = true;
        status.attention = `archive blocked: ${cause.message.split(/[;:\n]/)[0]}. Commit or discard the changes, then \`migrate resume ${migrationId}\` (or \`migrate rollback ${migrationId}\`).`;
        audit('paused', status.attention);
        await notify('archive-blocked', 'archive blocked: decision needed', `${status.attention}\n\n${cause.message}`);
        await checkpoint();
        status.attention = undefined;
      }
    }
  }

  async function compensate(why: Interrupt): Promise<void> {
    const fromPhase = status.phase;
    if (why.action === 'abort' && status.compensations.length === 0) {
      status.failure ??= `aborted by ${why.requestedBy}: ${why.reason}`;
      enter('aborted');
      await notify('aborted', 'migration aborted', status.failure);
      return;
    }
    // A step that failed before anything in production changed (e.g. the first backup) leaves nothing to undo: the
    // migration fails with that step's error instead of running a rollback whose verification has nothing to verify.
    // Patched: histories recorded before this change ran the rollback here.
    if (
      (why.requestedBy === 'migration-workflow' || why.stepFailed) &&
      status.compensations.length === 0 &&
      patched('fail-without-rollback-when-nothing-changed')
    ) {
      status.failure ??= why.reason;
      enter('failed');
      await notify('failed', 'migration failed before any production change', status.failure);
      return;
    }
    status.failure ??= why.reason;
    enter('rolling-back');
    await notify('rollback', 'rolling back', `From phase ${fromPhase}: ${why.reason}`);
    // The rollback report reads what led here from the ledger: write it first.
    await flushLedger();
    // Its own workflow, so it survives this one (and can be started by hand for a stuck or terminated migration).
    const child = await startChild(rollbackWorkflow, {
      workflowId: rollbackWorkflowId(migrationId),
      parentClosePolicy: ParentClosePolicy.ABANDON,
      args: [
        {
          migrationId,
          plan,
          compensations: status.compensations,
          reason: why.reason,
          requestedBy: why.requestedBy,
          fromPhase,
        },
      ],
    });
    const rollback = await child.result();
    for (const u of rollback.undone)
      audit(
        'undone',
        `${u.kind}: ${u.ok ? 'undone' : `FAILED (${u.error ?? 'unknown error'})`} after ${u.attempts} attempt(s)`,
        why.requestedBy,
        u,
      );
    status.reports.rollback = rollback.reportFile;
    status.trafficPercent = 0;
    upsertSearchAttributes([{ key: trafficPercentKey, value: 0 }]);
    rolledBack = rollback;
    enter(rollback.verified ? 'rolled-back' : 'failed');
    // The cause stays first: the verification failure is added to it, never replaces it.
    if (!rollback.verified)
      status.failure = `${status.failure ? `${status.failure}; ` : ''}rollback verification failed: ${rollback.failedChecks.join('; ')}`;
  }

  function rollbackProcedure(): string {
    return [
      `Start the rollback workflow: \`migrate rollback ${migrationId} --reason "<why>"\``,
      `(or \`temporal workflow signal --workflow-id ${migrationId} --name rollback --input '{"reason":"<why>","requestedBy":"<you>"}'\` while the migration runs).`,
      'It stops the unified containers, restores the legacy crontab lines / schedules, puts traffic back on the legacy path, restores these scripts with git revert, and verifies.',
      'Restoring the database from a backup is never automatic: see the operator runbook.',
    ].join('\n');
  }

  function result(): MigrationResult {
    return {
      migrationId,
      phase: status.phase,
      trafficPercent: status.trafficPercent,
      reports: status.reports,
      ...(rolledBack ? { rollback: rolledBack } : {}),
      status,
    };
  }
}

function isFinal(phase: Phase): boolean {
  return phase === 'complete' || phase === 'rolled-back' || phase === 'aborted' || phase === 'failed';
}

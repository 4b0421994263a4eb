import { ApplicationFailure, condition, log, patched, workflowInfo } from '@temporalio/workflow';
import { ErrorType } from '../model/constants';
import type { Compensation, RollbackFailureDetails, RollbackInput, RollbackResult, UndoOutcome } from '../model/status';
import { overBudget } from '../model/status';
import { routedChecks } from './host-checks';
import {
  agentUndo,
  noticeActs,
  on,
  rollbackActs,
  rollbackLocal as local,
  routerProxies,
  useRetryBudgets,
} from './proxies';
import { stopGraceSeconds } from '../model/plan';
import { keptBecause, undoLanes, undoOrder, undoPrerequisites, whatRunsNow, whatToDo } from '../model/undo';
import { planDigest } from '../model/signatures';
import { timerSummary } from '../model/summaries';
import { rollbackWorkflowId } from '../model/status';
import { undoRecordsProblem } from '../model/undo';
import { admit, notAdmitted } from './admission';

/**
 * Undoes a migration's recorded steps (in reverse order within each lane, the lanes side by side), verifies the legacy
 * path, writes the report, notifies.
 */
export async function rollbackWorkflow(input: RollbackInput): Promise<RollbackResult> {
  // The plan's retry budgets bound every activity this run schedules (production defaults where it sets none).
  useRetryBudgets(input.plan);
  // Decided at the start, before any local activity is in flight (see MigrationState.changes).
  const notifyBeside = patched('notify-beside');
  const scriptsFirst = patched('scripts-before-cron');
  const budgeted = patched('rollback-budget');
  // Patched: rollbacks recorded before ran the lanes through whatever failed (a failed re-enable of the legacy jobs
  // still removed the unified job).
  const neverLess = patched('undo-never-less');
  if (patched('admission')) await admitRollback(input);
  const started = Date.now();
  const budget = budgeted ? new Budget(input, started) : undefined;
  const steps = undoOrder(input.compensations);
  const undone = neverLess
    ? await undoGuarded(input, steps, budget)
    : await undoInLanes(input, steps, scriptsFirst, budget);
  try {
    const result = await verifyAndReport(input, undone, started, budget, neverLess ? steps : undefined);
    await notifyRolledBack(input, result, result.reportFile, notifyBeside);
    return result;
  } catch (err) {
    // The undo already happened: whatever failed after it (the verification's activity, the report's disk) must not
    // take the outcomes with it. The failure carries them, and the migration records them with both causes.
    const message = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
    if (!budgeted) throw err;
    throw ApplicationFailure.create({
      type: ErrorType.RollbackIncomplete,
      message: `the rollback undid its steps but did not finish: ${message}`,
      details: [{ undone } satisfies RollbackFailureDetails],
      nonRetryable: true,
    });
  } finally {
    await budget?.done();
  }
}

/**
 * The admission of a rollback, before any undo: its migration ID is the one its ID was derived from, every undo record
 * is the plan's own (router, database variable, crontab user, jobs, repository, compose project), and the worker admits
 * it: started by hand, the rollback starter's signature (trust file, migrate-rollback, at most 15 minutes old); started
 * by a migration, the parent run must be our migration workflow for this migration, and its start proof re-verifies.
 */
async function admitRollback(input: RollbackInput): Promise<void> {
  const info = workflowInfo();
  // Its ID is the migration's rollback ID, or that ID with a suffix (the fallback when a squatter holds it).
  const id = rollbackWorkflowId(String(input.migrationId));
  if (info.workflowId !== id && !info.workflowId.startsWith(`${id}-`))
    notAdmitted(`input.migrationId ${JSON.stringify(input.migrationId)} is not the migration of ${info.workflowId}`);
  const bad = undoRecordsProblem(input.compensations, input.plan);
  if (bad) notAdmitted(bad);
  const parent = info.parent;
  await admit({
    kind: 'rollback',
    workflowId: info.workflowId,
    migrationId: input.migrationId,
    planDigest: planDigest(input.plan),
    ...(parent
      ? { from: { workflowId: parent.workflowId, runId: parent.runId } }
      : { startedAtMs: info.startTime.getTime(), claimedBy: input.requestedBy }),
    ...(input.proof ? { proof: input.proof } : {}),
  });
}

/** The verification of the legacy path and the report (the budget is measured up to the report). */
async function verifyAndReport(
  input: RollbackInput,
  undone: UndoOutcome[],
  started: number,
  budget: Budget | undefined,
  steps?: Compensation[],
): Promise<RollbackResult> {
  const { plan, migrationId } = input;
  const checks = await routedChecks(
    plan,
    {
      migrationId,
      title: `Rollback verification: ${plan.name}`,
      kind: 'rollback-verification',
      checks: plan.rollback.checks,
      databaseUrlEnv: plan.target.databaseUrlEnv,
      repository: plan.target.repository,
      reportDir: plan.target.reportDir,
      planDigest: planDigest(plan),
    },
    local,
    agentUndo,
  );
  budget?.check();
  const failedChecks = checks.results
    .filter((r) => !r.passed)
    .map((r) => `${r.name} = ${r.value ?? r.error ?? 'no value'}`);
  const undoFailed = undone.filter((u) => !u.ok).map((u) => `undo ${u.kind}: ${u.error ?? u.kept}`);
  const finished = Date.now();
  const result: Omit<RollbackResult, 'reportFile'> = {
    migrationId,
    undone,
    verified: checks.passed && undoFailed.length === 0,
    failedChecks: [...undoFailed, ...failedChecks],
    startedAt: new Date(started).toISOString(),
    finishedAt: new Date(finished).toISOString(),
    durationMs: finished - started,
    ...(budget ? { budgetMs: plan.rollback.budgetMs, overBudget: finished - started > plan.rollback.budgetMs } : {}),
    ...(steps ? { runningNow: whatRunsNow(steps, undone), toDo: whatToDo(migrationId, steps, undone) } : {}),
  };
  const report = await local.writeRollbackReport({
    migrationId,
    plan,
    reason: input.reason,
    requestedBy: input.requestedBy,
    fromPhase: input.fromPhase,
    result,
    verification: checks.results,
    ...(input.recent?.length ? { recent: input.recent } : {}),
  });
  return { ...result, reportFile: report.markdownFile };
}

/**
 * Watches `rollback.budget`: a rollback still running when it passes notifies the plan's channels then (beside, never
 * awaited), whoever started it, once; the report says by how much it was exceeded. The timer catches a step that
 * hangs (a remote undo on an agent); the check after every step catches local undo steps, during which no timer can
 * fire (the workflow task stays open while they run).
 */
class Budget {
  private finished = false;
  private sent = false;
  private sending = false;

  constructor(
    private readonly input: RollbackInput,
    private readonly started: number,
  ) {
    void condition(() => this.finished, input.plan.rollback.budgetMs, {
      summary: timerSummary('rollback budget', input.plan.rollback.budgetMs),
    }).then((ended) => ended || this.check());
  }

  /** Notifies once if the budget has passed. */
  check(): void {
    const { plan, migrationId } = this.input;
    const elapsed = Date.now() - this.started;
    if (this.sent || this.finished || elapsed <= plan.rollback.budgetMs) return;
    this.sent = true;
    log.warn('rollback over its budget', { migrationId, budgetMs: plan.rollback.budgetMs });
    if (!plan.notifications.webhook && !plan.notifications.email) return;
    this.sending = true;
    noticeActs
      .notify({
        migrationId,
        event: 'rollback-over-budget',
        subject: `[${plan.name}] rollback over its budget`,
        text: `The rollback of ${migrationId} has been running for ${Math.round(elapsed / 1000)} s, past its budget of ${Math.round(plan.rollback.budgetMs / 1000)} s (rollback.budget); it goes on.`,
        data: { budgetMs: plan.rollback.budgetMs, elapsedMs: elapsed },
        channels: plan.notifications,
      })
      .catch((err: Error) => log.warn('over-budget notification failed', { error: err.message }))
      .finally(() => (this.sending = false));
  }

  /** The rollback ended: the timer is cancelled, and a notice already on its way gets up to 10 s to arrive. */
  async done(): Promise<void> {
    this.finished = true;
    if (this.sending)
      await condition(() => !this.sending, '10 seconds', { summary: 'over-budget notice on its way (at most 10 s)' });
  }
}

/**
 * Runs the undo steps lane by lane, the lanes side by side; outcomes in the reverse order of the changes. With
 * `scriptsFirst` the archived scripts are back before the legacy cron lines run again (one lane); before that change
 * the repository was its own lane.
 */
async function undoInLanes(
  input: RollbackInput,
  steps: Compensation[],
  scriptsFirst: boolean,
  budget?: Budget,
): Promise<UndoOutcome[]> {
  const outcomes = await Promise.all(
    undoLanes(steps, scriptsFirst).map(async (lane) => {
      const out: UndoOutcome[] = [];
      for (const c of lane) {
        out.push(await undoStep(input, c));
        budget?.check();
      }
      return out;
    }),
  );
  // Reported in the reverse order of the changes, whichever lane finished first.
  const byKind = new Map(outcomes.flat().map((o) => [o.kind, o]));
  return steps.map((c) => byKind.get(c.kind)!);
}

/**
 * Runs each undo once the undos it waits for are done (`model/undo.ts`); one whose prerequisite failed is kept, not
 * run, so the rollback never leaves less running than before. Undos that wait for nothing of each other run side by
 * side. Outcomes in the reverse order of the changes.
 */
async function undoGuarded(input: RollbackInput, steps: Compensation[], budget?: Budget): Promise<UndoOutcome[]> {
  const outcomes = new Map<Compensation['kind'], UndoOutcome>();
  const running = new Map<Compensation['kind'], Promise<void>>();
  const run = async (c: Compensation): Promise<void> => {
    await Promise.all(undoPrerequisites(c, steps).map((p) => running.get(p.kind) ?? Promise.resolve()));
    const kept = keptBecause(c, outcomes);
    if (kept) log.warn('undo kept', { migrationId: input.migrationId, kind: c.kind, kept });
    outcomes.set(
      c.kind,
      kept ? { kind: c.kind, ok: false, attempts: 0, kept, durationMs: 0 } : await undoStep(input, c, true),
    );
    budget?.check();
  };
  // Prerequisites first (archive, legacy jobs, routing, then the unified side), so each finds its own running.
  for (const c of [...steps].sort((a, b) => undoPrerequisites(a, steps).length - undoPrerequisites(b, steps).length))
    running.set(c.kind, run(c));
  await Promise.all(running.values());
  return steps.map((c) => outcomes.get(c.kind)!);
}

/** One undo; one that fails after its retries is retried once more as a whole, and never hides the others. */
async function undoStep(input: RollbackInput, c: Compensation, verify = false): Promise<UndoOutcome> {
  const t0 = Date.now();
  let attempts = 0;
  let error: string | undefined;
  for (attempts = 1; attempts <= 2; attempts++) {
    try {
      await undo(input, c, verify);
      error = undefined;
      break;
    } catch (err) {
      error = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
      log.warn('undo failed', { migrationId: input.migrationId, kind: c.kind, error });
    }
  }
  return {
    kind: c.kind,
    ok: error === undefined,
    attempts: Math.min(attempts, 2),
    ...(error ? { error } : {}),
    durationMs: Date.now() - t0,
  };
}

/**
 * The idempotent undo of one recorded change. With `verify`, the legacy jobs are read back after they are enabled:
 * the unified side goes only once the legacy side is seen scheduled.
 */
async function undo(input: RollbackInput, c: Compensation, verify: boolean): Promise<void> {
  const { migrationId, plan } = input;
  switch (c.kind) {
    case 'traffic':
      // The router of the record (a migration started before routing had only the central one).
      await routerProxies({ ...plan, traffic: { ...plan.traffic, router: c.router } }).undo.setTrafficPercent({
        migrationId,
        router: c.router,
        databaseUrlEnv: c.databaseUrlEnv,
        percent: c.restorePercent,
        actor: 'rollback-workflow',
        reason: input.reason,
      });
      return;
    case 'containers':
      // Only this migration's containers: another migration's on the same project are left (and reported skipped).
      await on(plan, 'containers').undo.stopContainers(c.project, {
        migrationId,
        ...(verify ? { graceSeconds: stopGraceSeconds(plan) } : {}),
      });
      return;
    case 'unified-job':
      await on(plan, 'scheduler').undo.removeUnifiedJob({
        migrationId,
        scheduler: c.scheduler,
        job: c.job,
        backupDir: plan.target.backupDir,
      });
      return;
    case 'legacy-jobs':
      await on(plan, 'scheduler').undo.enableLegacyJobs({
        migrationId,
        scheduler: c.scheduler,
        jobs: c.jobs,
        backupDir: plan.target.backupDir,
      });
      if (verify) await legacyScheduled(plan, c);
      return;
    case 'archive':
      await on(plan, 'repository').undo.restoreArchivedScripts({
        migrationId,
        repository: c.repository,
        ...(c.startedAt ? { startedAt: c.startedAt } : {}),
      });
      return;
  }
}

/** Throws unless every legacy job of the record is scheduled (enabled) now, as read back from the scheduler. */
async function legacyScheduled(plan: RollbackInput['plan'], c: Extract<Compensation, { kind: 'legacy-jobs' }>) {
  const entries = await on(plan, 'scheduler').undo.readSchedule({ scheduler: c.scheduler, jobs: c.jobs });
  const off = c.jobs.filter((j) => !entries.some((e) => e.name === j.name && e.enabled)).map((j) => j.name);
  if (off.length) throw new Error(`legacy jobs not scheduled after the re-enable: ${off.join(', ')}`);
}

/** The rollback's notification (through the task queue: SMTP may be slow); one that fails is logged, never fatal. */
async function notifyRolledBack(
  input: RollbackInput,
  result: Omit<RollbackResult, 'reportFile'>,
  reportFile: string,
  beside: boolean,
): Promise<void> {
  const { plan } = input;
  if (!plan.notifications.webhook && !plan.notifications.email) return;
  const notice = {
    migrationId: input.migrationId,
    event: 'rolled-back',
    subject: `[${plan.name}] rollback ${result.verified ? 'verified' : 'NOT verified'}`,
    text: `Rolled back from ${input.fromPhase} in ${(result.durationMs / 1000).toFixed(1)} s${overBudget(result)}: ${input.reason}\nReport: ${reportFile}`,
    data: { report: reportFile, verified: result.verified },
    channels: plan.notifications,
  };
  // Patched: histories recorded before this change awaited the delivery (a dead receiver held the rollback's end).
  if (beside) {
    // Started by a migration: the migration sends it, beside its own end, so the rollback ends at once.
    if (workflowInfo().parent) return;
    // Started by hand: sent beside, given at most 10 s before the rollback ends without it.
    let done = false;
    void noticeActs.notify(notice).then(
      () => (done = true),
      (err: Error) => {
        done = true;
        log.warn('rollback notification failed', { error: err.message });
      },
    );
    if (!(await condition(() => done, '10 seconds', { summary: 'rollback notice on its way (at most 10 s)' })))
      log.warn('rollback notification still undelivered after 10 s: the rollback ends without it');
    return;
  }
  await rollbackActs
    .notify(notice)
    .catch((err: Error) => log.warn('rollback notification failed', { error: err.message }));
}

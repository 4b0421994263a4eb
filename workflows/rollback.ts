import { log, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { Compensation, Phase } from './definitions';
import type { Plan } from './plan';

/** Input of the rollback workflow: what the migration recorded as undoable, newest last. */
export interface RollbackInput {
  migrationId: string;
  plan: Plan;
  compensations: Compensation[];
  reason: string;
  requestedBy: string;
  fromPhase: Phase | 'unknown';
}

/** One undo step as it happened. */
export interface UndoOutcome {
  kind: Compensation['kind'];
  ok: boolean;
  attempts: number;
  error?: string;
  durationMs: number;
}

/** How the rollback went. */
export interface RollbackResult {
  migrationId: string;
  undone: UndoOutcome[];
  verified: boolean;
  failedChecks: string[];
  reportFile: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
}

const retry = {
  initialInterval: '200 milliseconds',
  backoffCoefficient: 2,
  maximumInterval: '10 seconds',
  maximumAttempts: 5,
} as const;

// The undo steps, the verification and the report run as local activities: short, idempotent, and on the worker that
// runs this workflow, so no step waits for a task queue round trip (a rollback must finish in seconds). A worker that
// dies mid-step makes the next worker run that step again, which idempotence makes safe.
const local = proxyLocalActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  localRetryThreshold: '10 seconds',
  retry,
});
// The notification goes out through the task queue: it may be slow (SMTP) and must not hold the workflow task.
const acts = proxyActivities<Activities>({ startToCloseTimeout: '2 minutes', retry });

/**
 * Undo steps that may run side by side. Within a lane the order is the reverse of the changes; lanes touch different
 * systems: the schedule (crontab or Temporal Schedules), the traffic path (routing first, then the unified containers
 * that served it), and the target repository.
 */
const LANE: Record<Compensation['kind'], 'schedule' | 'traffic' | 'repository'> = {
  'legacy-jobs': 'schedule',
  'unified-job': 'schedule',
  traffic: 'traffic',
  containers: 'traffic',
  archive: 'repository',
};

/**
 * Undoes a migration's recorded steps (in reverse order within each lane, the lanes side by side), verifies the legacy
 * path, writes the report, notifies.
 */
export async function rollbackWorkflow(input: RollbackInput): Promise<RollbackResult> {
  const started = Date.now();
  const { plan, migrationId } = input;
  const undone: UndoOutcome[] = [];
  // Several records of the same kind (e.g. traffic at each step) need one undo: the oldest holds the original state.
  const seen = new Set<string>();
  const steps = [...input.compensations].reverse().filter((c) => {
    const key = c.kind;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  const lanes = new Map<string, Compensation[]>();
  for (const c of steps) lanes.set(LANE[c.kind], [...(lanes.get(LANE[c.kind]) ?? []), c]);
  const outcomes = await Promise.all(
    [...lanes.values()].map(async (lane) => {
      const out: UndoOutcome[] = [];
      for (const c of lane) out.push(await undoStep(c));
      return out;
    }),
  );
  // Reported in the reverse order of the changes, whichever lane finished first.
  const byKind = new Map(outcomes.flat().map((o) => [o.kind, o]));
  for (const c of steps) undone.push(byKind.get(c.kind)!);

  const checks = await local.runChecks({
    migrationId,
    title: `Rollback verification: ${plan.name}`,
    kind: 'rollback-verification',
    checks: plan.rollback.checks,
    databaseUrlEnv: plan.target.databaseUrlEnv,
    repository: plan.target.repository,
    reportDir: plan.target.reportDir,
  });
  const failedChecks = checks.results
    .filter((r) => !r.passed)
    .map((r) => `${r.name} = ${r.value ?? r.error ?? 'no value'}`);
  const undoFailed = undone.filter((u) => !u.ok).map((u) => `undo ${u.kind}: ${u.error}`);
  const finished = Date.now();
  const result: Omit<RollbackResult, 'reportFile'> = {
    migrationId,
    undone,
    verified: checks.passed && undoFailed.length === 0,
    failedChecks: [...undoFailed, ...failedChecks],
    startedAt: new Date(started).toISOString(),
    finishedAt: new Date(finished).toISOString(),
    durationMs: finished - started,
  };
  const report = await local.writeRollbackReport({
    migrationId,
    plan,
    reason: input.reason,
    requestedBy: input.requestedBy,
    fromPhase: input.fromPhase,
    result,
    verification: checks.results,
  });
  if (plan.notifications.webhook || plan.notifications.email) {
    await acts
      .notify({
        migrationId,
        event: 'rolled-back',
        subject: `[${plan.name}] rollback ${result.verified ? 'verified' : 'NOT verified'}`,
        text: `Rolled back from ${input.fromPhase} in ${(result.durationMs / 1000).toFixed(1)} s: ${input.reason}\nReport: ${report.markdownFile}`,
        data: { report: report.markdownFile, verified: result.verified },
        channels: plan.notifications,
      })
      .catch((err: Error) => log.warn('rollback notification failed', { error: err.message }));
  }
  return { ...result, reportFile: report.markdownFile };

  /** One undo; one that fails after its retries is retried once more as a whole, and never hides the others. */
  async function undoStep(c: Compensation): Promise<UndoOutcome> {
    const t0 = Date.now();
    let attempts = 0;
    let error: string | undefined;
    for (attempts = 1; attempts <= 2; attempts++) {
      try {
        await undo(c);
        error = undefined;
        break;
      } catch (err) {
        error = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
        log.warn('undo failed', { migrationId, kind: c.kind, error });
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

  async function undo(c: Compensation): Promise<void> {
    switch (c.kind) {
      case 'traffic':
        await local.setTrafficPercent({
          migrationId,
          router: c.router,
          databaseUrlEnv: c.databaseUrlEnv,
          percent: c.restorePercent,
          actor: 'rollback-workflow',
          reason: input.reason,
        });
        return;
      case 'containers':
        await local.stopContainers(c.project);
        return;
      case 'unified-job':
        await local.removeUnifiedJob({
          migrationId,
          scheduler: c.scheduler,
          job: c.job,
          backupDir: plan.target.backupDir,
        });
        return;
      case 'legacy-jobs':
        await local.enableLegacyJobs({
          migrationId,
          scheduler: c.scheduler,
          jobs: c.jobs,
          backupDir: plan.target.backupDir,
        });
        return;
      case 'archive':
        await local.restoreArchivedScripts({ migrationId, repository: c.repository });
        return;
    }
  }
}

import {
  ApplicationFailure,
  ContinueAsNew,
  patched,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { CheckResult } from '../model/status';
import { ErrorType, migrationIdProblem } from '../model/constants';
import { migrationNameKey, statusQuery, trafficPercentKey } from './definitions';
import { compensate, interruptFor, recordTrafficUndo } from './compensation';
import { approvalGate as gate, metricGate, soakCheck } from './gates';
import { installHandlers } from './handlers';
import { trafficMetric } from './metrics';
import { ledgerOf } from '../model/plan';
import { planProblems } from '../model/plan-check';
import { agentQueueFor } from '../model/routing';
import { acts, backupActs, checkActs, on, reportActs, useRetryBudgets } from './proxies';
import { measuredOnAgents, routedChecks } from './host-checks';
import { Interrupt, MigrationState } from './state';
import { type MigrationInput, type MigrationResult } from '../model/status';
import {
  archiveScripts,
  askAfterSoak,
  DEFAULT_SOAK_CHECKS_PER_RUN,
  rollOver,
  setTraffic,
  type Archived,
} from './steps';
import { checkpoint, hold, interruptible } from './waits';
import { admit, notAdmitted, refuseForeignId } from './admission';
import { planDigest } from '../model/signatures';

/**
 * The migration runbook: preflight → go → backup → deploy → parallel run → traffic shift → cutover → soak → archive →
 * sign-off. Each phase below is one function; the machinery (state, request handlers, gates and waits, compensation)
 * lives beside this file. A rollback, abort or failed step anywhere leaves the forward path for `compensate`.
 */
export async function migrationWorkflow(input: MigrationInput): Promise<MigrationResult> {
  // The plan's retry budgets bound every activity this run schedules (production defaults where it sets none).
  useRetryBudgets(input.plan);
  // Before anything else: a plan that did not come through `migrate start` meets the same schema. Patched twice: runs
  // started before 'validate-own-plan' did not check; runs started before 'validate-own-plan-2' passed the rules of
  // their day, and a stricter rule since (single lines, cron per scheduler, signable gates, the ID) must not fail
  // them on replay, half-way through their runbook.
  if (!input.carried && patched('validate-own-plan') && patched('validate-own-plan-2')) {
    refuseInvalidId(input.migrationId);
    refuseInvalidPlan(input.plan);
  }
  const s = new MigrationState(input);
  // Before any handler or activity: the worker admits the run against its trust file (patched: runs started before
  // admission existed go on as they were).
  if (s.changes.admission) {
    // Status answers while the worker admits (a local activity that may take a few tasks): `migrate status` right
    // after `migrate start` reads the run, not "no handler". Requests wait for the handlers below.
    setHandler(statusQuery, () => s.status);
    await admitMigration(input);
  }
  installHandlers(s);
  upsertSearchAttributes([{ key: migrationNameKey, value: s.plan.name }]);
  try {
    if (!input.carried) {
      if (!(await preflight(s))) {
        await s.settle();
        return s.result();
      }
      await gate(s, 'go');
      // No production change before a verified backup exists.
      await backup(s, 'initial');
      await deploy(s);
      await parallelRun(s);
      await trafficShift(s);
      await gate(s, 'cutover');
      await backup(s, 'pre-cutover');
      await cutover(s);
    }
    await soak(s);
    const archived = await archive(s);
    await gate(s, 'sign-off');
    await complete(s, archived);
  } catch (err) {
    // Rolling the soak's history over is not a failure.
    if (err instanceof ContinueAsNew) throw err;
    await compensate(s, interruptFor(s, err));
  }
  await s.settle();
  // Entries a handler wrote while the run settled.
  await s.flushLedger();
  return s.result();
}

/**
 * The admission of a migration run: its ID is the workflow's, and its start proof verifies against the worker's trust
 * file. A fresh start is signed at most 15 minutes before the server started it. A carried soak run (continue-as-new)
 * must come from a run of our migration workflow for this migration, and re-verifies the proof that stays in the input
 * against the plan it carries, so a carried input nobody signed, or carrying another plan, runs nothing.
 */
async function admitMigration(input: MigrationInput): Promise<void> {
  const info = workflowInfo();
  refuseForeignId(input.migrationId);
  const digest = planDigest(input.plan);
  if (input.carried && input.carried.status?.planDigest !== digest)
    notAdmitted("the carried status names another plan than the input's");
  const from = input.carried
    ? info.continuedFromExecutionRunId
      ? { workflowId: info.workflowId, runId: info.continuedFromExecutionRunId }
      : notAdmitted('a carried input comes only from continue-as-new of an admitted run, never from a start')
    : undefined;
  await admit({
    kind: 'start',
    workflowId: info.workflowId,
    migrationId: input.migrationId,
    planDigest: digest,
    claimedBy: input.startedBy,
    ...(from ? { from } : { startedAtMs: info.startTime.getTime() }),
    ...(input.proof ? { proof: input.proof } : {}),
  });
}

/** Fails the workflow, before any activity, when its ID could name a folder outside the backup or report folder. */
function refuseInvalidId(id: string): void {
  const problem = migrationIdProblem(id);
  if (problem)
    throw ApplicationFailure.create({
      type: ErrorType.InvalidInput,
      message: `migrationId: ${problem} (it names the migration's backup and report folders)`,
      nonRetryable: true,
    });
}

/** Fails the workflow, before any activity, when its plan does not validate; the message names every wrong field. */
function refuseInvalidPlan(plan: unknown): void {
  const problems = planProblems(plan);
  if (problems.length)
    throw ApplicationFailure.create({
      type: ErrorType.InvalidPlan,
      message: `the plan does not validate (start migrations with \`migrate start\`): ${problems.join('; ')}`,
      nonRetryable: true,
    });
}

/** Pre-production validation: every check with its own threshold, written up as a report. False: stop here. */
async function preflight(s: MigrationState): Promise<boolean> {
  const { plan, status } = s;
  upsertSearchAttributes([{ key: trafficPercentKey, value: 0 }]);
  trafficMetric(s.migrationId, 0);
  const authenticated = s.signed
    ? 'approvals signed and verified'
    : 'approvals NOT authenticated (the plan lists no keys)';
  s.audit('started', `migration ${plan.name} started by ${s.input.startedBy}; ${authenticated}`, s.input.startedBy, {
    planDigest: status.planDigest,
    ...(plan.approvals.keys ? { keys: plan.approvals.keys } : {}),
    // The plan itself (names and paths, never secrets): with the undo records, what `migrate rollback` needs once the
    // workflow's history is gone.
    ...(s.changes.undoInLedger ? { plan } : {}),
  });
  s.enter('preflight');
  const limits = checkActs(plan.preflight);
  const report = await interruptible(s, () =>
    routedChecks(
      plan,
      {
        migrationId: s.migrationId,
        title: `Pre-production validation: ${plan.name}`,
        kind: 'validation',
        checks: plan.preflight,
        databaseUrlEnv: plan.target.databaseUrlEnv,
        repository: plan.target.repository,
        reportDir: plan.target.reportDir,
        planDigest: status.planDigest,
        // The report's contents go to the ledger database too: `migrate report` reads them from any machine.
        ledger: ledgerOf(plan),
        // The plan against the target (legacy jobs found, paths, images, variables, router, backup room, ID unused).
        target: { plan, startedAt: workflowInfo().startTime.toISOString() },
      },
      limits.central,
      limits.agent,
    ),
  );
  s.recordReport('validation', report.markdownFile);
  if (!report.passed) {
    const failed = report.results
      .filter((r) => !r.passed)
      .map((r) =>
        // A finding about the target says what is missing; a measured check, its value against its threshold.
        r.name.startsWith('target: ') && r.error
          ? `${r.name}: ${r.error}`
          : `${r.name} = ${r.value ?? r.error ?? 'no value'} (needs ${r.op} ${r.threshold})`,
      );
    const failure = s.recordFailure(`preflight failed: ${failed.join('; ')}`, 'replace');
    s.enter('failed');
    await s.notify('failed', 'preflight failed', failure, { report: report.markdownFile });
    return false;
  }
  await s.notify('phase', 'preflight passed', `Validation report: ${report.markdownFile}`);
  await checkpoint(s);
  return true;
}

/** A verified pg_dump: the activity verifies by restore; the workflow refuses to go on with anything less. */
async function backup(s: MigrationState, step: string): Promise<void> {
  const { plan } = s;
  s.enter('backup');
  const rec = await interruptible(s, () =>
    backupActs(plan).backupDatabase({
      migrationId: s.migrationId,
      step,
      databaseUrlEnv: plan.target.databaseUrlEnv,
      backupDir: plan.target.backupDir,
      // The verifying restore's server, when the plan names one (the target's own otherwise).
      ...(plan.target.backupVerifyDatabaseUrlEnv !== undefined
        ? { verifyDatabaseUrlEnv: plan.target.backupVerifyDatabaseUrlEnv }
        : {}),
    }),
  );
  if (!rec.verified)
    throw ApplicationFailure.create({
      type: ErrorType.BackupNotVerified,
      message: `backup ${step} is not verified`,
      nonRetryable: true,
    });
  s.recordBackup(rec);
  const rows = Object.values(rec.tables).reduce((a, b) => a + b, 0);
  s.audit('backup', `${step}: ${rec.file} sha256=${rec.sha256} (${rows} rows) verified`);
  await checkpoint(s);
}

/** Blue-green: the routing in place with every item on the legacy path, then the unified containers started. */
async function deploy(s: MigrationState): Promise<void> {
  const { plan } = s;
  s.enter('deploy');
  // The undo is recorded before each change: a step that fails half-way (a container created, not started)
  // is still undone, and every undo is idempotent, so undoing what never happened is harmless.
  await recordTrafficUndo(s);
  await setTraffic(s, 0, 'migration-workflow');
  await s.record({ kind: 'containers', project: plan.target.composeProject, at: new Date().toISOString() });
  const containers = await on(plan, 'containers').acts.deployUnified({
    project: plan.target.composeProject,
    containers: plan.unifiedJob.containers,
    // Labels every container with its owner: another migration's container is refused, never adopted.
    migrationId: s.migrationId,
  });
  s.audit('deploy', `running: ${containers.map((c) => c.name).join(', ')}`);
  await checkpoint(s);
}

/** Both pipelines process the same input for the plan's duration; a match below the plan's ratio rolls back. */
async function parallelRun(s: MigrationState): Promise<void> {
  const { plan } = s;
  s.enter('parallel-run');
  const started = Date.now();
  await hold(s, plan.durations.parallelRunMs, { kind: 'parallel-run' });
  const cmp = await interruptible(s, () =>
    acts.compareOutputs({
      databaseUrlEnv: plan.target.databaseUrlEnv,
      comparisonQuery: plan.parallelRun.comparisonQuery,
      mismatchQuery: plan.parallelRun.mismatchQuery,
      since: new Date(started).toISOString(),
      ...(plan.parallelRun.showMismatchValues ? { showMismatchValues: true } : {}),
    }),
  );
  s.audit('parallel-run', `compared ${cmp.total} items: ${cmp.matched} match (ratio ${cmp.ratio ?? 'n/a'})`);
  if (cmp.ratio === null || cmp.ratio < plan.parallelRun.minMatchRatio) {
    const sample = JSON.stringify(cmp.mismatches.slice(0, 3));
    const ratio = cmp.ratio ?? 'n/a (no items)';
    throw new Interrupt(
      'comparison',
      'rollback',
      `parallel run: match ratio ${ratio} below ${plan.parallelRun.minMatchRatio}; sample: ${sample}`,
      'parallel-run',
    );
  }
  await checkpoint(s);
}

/** The traffic shift: per step, set the split, hold for the bake time, evaluate the metric gates. */
async function trafficShift(s: MigrationState): Promise<void> {
  const { plan } = s;
  s.enter('traffic-shift');
  // Recorded again so the undo puts traffic back on the legacy path before the containers stop.
  await recordTrafficUndo(s);
  for (const percent of plan.traffic.steps) {
    const stepStart = Date.now();
    await setTraffic(s, percent, 'migration-workflow');
    const bake = `Holding for ${Math.round(plan.durations.bakeMs / 1000)} s before the gate.`;
    await s.notify('traffic', `traffic at ${percent}% unified`, bake);
    await hold(s, plan.durations.bakeMs, { kind: 'bake', percent });
    await metricGate(s, `traffic ${percent}%`, stepStart);
  }
}

/** The scheduler switched to the unified job, legacy jobs disabled (restorable), then the monitoring window. */
async function cutover(s: MigrationState): Promise<void> {
  const { plan } = s;
  const { migrationId } = s;
  const { scheduler, unifiedJob: job, legacyJobs: jobs } = plan;
  const at = () => new Date().toISOString();
  s.enter('cutover');
  const started = Date.now();
  await s.record({ kind: 'unified-job', scheduler, job, at: at() });
  const { quick } = on(plan, 'scheduler');
  // A scheduled run of the unified job (Temporal Schedules) runs its command on the commands agent, if any.
  const runOn = agentQueueFor(plan, 'commands');
  await quick.installUnifiedJob({
    migrationId,
    scheduler,
    job,
    backupDir: plan.target.backupDir,
    ...(runOn ? { runOn } : {}),
    // A scheduled run checks its job against the admitted plan and re-verifies the start proof.
    ...(s.changes.admission ? { admission: { plan, ...(s.input.proof ? { proof: s.input.proof } : {}) } } : {}),
  });
  await s.record({ kind: 'legacy-jobs', scheduler, jobs, at: at() });
  await quick.disableLegacyJobs({ migrationId, scheduler, jobs, backupDir: plan.target.backupDir });
  s.audit('cutover', `scheduler switched (${plan.scheduler.kind}); legacy jobs disabled and restorable`);
  const text = 'Scheduler switched to the unified job; legacy jobs disabled (restorable).';
  await s.notify('cutover', 'cutover done', text);
  await hold(s, plan.durations.monitoringWindowMs, { kind: 'monitoring' });
  await metricGate(s, 'monitoring window', started);
}

/** The soak: a check at every interval for the soak's duration; the history rolls over on long soaks. */
async function soak(s: MigrationState): Promise<void> {
  const { input, plan } = s;
  if (!input.carried) s.enter('soak');
  const soakStartedAt = input.carried?.soakStartedAt ?? Date.now();
  let checksDone = input.carried?.soakChecksDone ?? 0;
  const total = Math.max(1, Math.ceil(plan.durations.soakMs / plan.durations.soakIntervalMs));
  const perRun = input.soakChecksPerRun ?? DEFAULT_SOAK_CHECKS_PER_RUN;
  for (let inThisRun = 0; checksDone < total; inThisRun++, checksDone++) {
    if (inThisRun >= perRun || workflowInfo().continueAsNewSuggested) await rollOver(s, soakStartedAt, checksDone);
    const since = Date.now();
    await hold(s, plan.durations.soakIntervalMs, { kind: 'soak', check: checksDone + 1, of: total });
    await soakCheck(s, `soak check ${checksDone + 1}`, since);
  }
  const hours = Math.round((Date.now() - soakStartedAt) / 3_600_000);
  s.audit('soak', `soak complete: ${checksDone} checks over ${hours} h`);
}

/** The legacy scripts moved to a dated archive folder with a README, references updated, committed. */
async function archive(s: MigrationState): Promise<Archived> {
  s.enter('archive');
  await s.record({
    kind: 'archive',
    repository: s.plan.target.repository,
    at: new Date().toISOString(),
    startedAt: s.status.startedAt,
  });
  const archived = await archiveScripts(s);
  s.audit('archive', `commit ${archived.commit}: ${archived.moved.map((m) => `${m.from} → ${m.to}`).join(', ')}`);
  await checkpoint(s);
  return archived;
}

/** After the sign-off: the completion report, filled from the measurements, and the last notification. */
async function complete(s: MigrationState, archived: Archived): Promise<void> {
  const write = (measured?: CheckResult[]) =>
    reportActs(s.plan).writeCompletionReport({
      migrationId: s.migrationId,
      plan: s.plan,
      status: s.status,
      codeLinesRemoved: archived.moved.reduce((a, m) => a + m.lines, 0),
      ...(measured ? { measured } : {}),
    });
  // Command success metrics are measured on the commands agent first; without one, the report at once, as before.
  const onAgent = measuredOnAgents(s.plan, s.plan.successMetrics, s.migrationId);
  const report = await askAfterSoak(s, 'completion report', () => (onAgent ? onAgent().then(write) : write()));
  s.recordReport('completion', report.markdownFile);
  s.enter('complete');
  await s.notify('complete', 'migration complete', `Completion report: ${report.markdownFile}`, {
    report: report.markdownFile,
  });
}

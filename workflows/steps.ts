import { ActivityFailure, ApplicationFailure, continueAsNew, patched } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { ErrorType } from '../model/constants';
import { codecFlags } from '../model/sealed';
import { trafficMetric } from './metrics';
import { on, routerProxies } from './proxies';
import { Interrupt, type MigrationState } from './state';
import { type MigrationInput } from '../model/status';
import { checkpoint } from './waits';

/** Soak checks per run before the history rolls over (and whenever the server suggests it). */
export const DEFAULT_SOAK_CHECKS_PER_RUN = 500;

/** Sets the unified share of the traffic and shows it (status, search attribute, audit). */
export async function setTraffic(s: MigrationState, percent: number, actor: string): Promise<void> {
  const res = await routerProxies(s.plan).acts.setTrafficPercent({
    migrationId: s.migrationId,
    router: s.plan.traffic.router,
    databaseUrlEnv: s.plan.target.databaseUrlEnv,
    percent,
    actor,
    reason: `migration ${s.migrationId}`,
  });
  s.setTrafficPercent(res.current);
  trafficMetric(s.migrationId, res.current);
  s.audit('traffic', `unified ${res.previous}% → ${res.current}%`);
}

/** Rolls the soak's history over: the soak goes on in a new run with the same workflow ID, its state carried. */
export async function rollOver(s: MigrationState, soakStartedAt: number, checksDone: number): Promise<never> {
  await s.settle();
  // A rollback or abort asked for while the run settled is handled in this run: the next run would start without it.
  if (s.interrupt) throw s.interrupt;
  return continueAsNew<(input: MigrationInput) => Promise<unknown>>({
    ...s.input,
    carried: s.carryOver(soakStartedAt, checksDone),
  });
}

/** What the archive commit moved, and the commit. */
export type Archived = Awaited<ReturnType<Activities['archiveLegacyScripts']>>;

/**
 * The archive commit. A dirty target repository is not a reason to undo a soaked migration, nor to commit someone's
 * uncommitted work: the migration pauses, says what blocks it and waits for a person (resume retries, rollback and
 * abort still work). Any other archive failure after the soak is treated the same way (see `askAfterSoak`).
 * Patched: before 'archive-blocked' every failure went straight to the rollback; before 'ask-after-soak', all but a
 * dirty repository did.
 */
export async function archiveScripts(s: MigrationState): Promise<Archived> {
  const { plan } = s;
  return askAfterSoak(s, 'archive', () =>
    on(s.plan, 'repository').quick.archiveLegacyScripts({
      migrationId: s.migrationId,
      repository: plan.target.repository,
      scripts: plan.legacyJobs.flatMap((j) => (j.script ? [j.script] : [])),
      docs: plan.archive.docs,
      date: new Date().toISOString().slice(0, 10).replace(/-/g, ''),
      reason: plan.archive.reason,
      replacement: `${plan.unifiedJob.name} (${plan.unifiedJob.containers.map((c) => c.image).join(', ')})`,
      // Docs that named a legacy script now name its replacement; the run's start marks its archive commit.
      replacementName: plan.unifiedJob.name,
      startedAt: s.status.startedAt,
      rollbackProcedure: rollbackProcedure(s.migrationId, s.input.codecEndpoint),
    }),
  );
}

/** Whether a failure after the soak pauses and asks (true) or leaves the forward path as before (old histories). */
function asks(s: MigrationState, err: unknown): boolean {
  const cause = err instanceof ActivityFailure ? err.cause : undefined;
  // Not in `changes`: a run in flight would then decide it false, and one that recorded it here would not replay.
  if (cause instanceof ApplicationFailure && cause.type === ErrorType.RepositoryDirty)
    return s.changes.settledAtStart || patched('archive-blocked');
  return s.changes.askAfterSoak;
}

/**
 * A step after a clean soak (archive, completion report): production is the unified pipeline, soaked and signed, so a
 * failure here is never a reason to undo it. The migration pauses, says what failed and waits for a person: resume
 * runs the step again, rollback and abort still work.
 */
export async function askAfterSoak<T>(s: MigrationState, step: string, run: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await run();
    } catch (err) {
      if (err instanceof Interrupt || !asks(s, err)) throw err;
      const cause = err instanceof ActivityFailure && err.cause ? err.cause : (err as Error);
      const attention = `${step} blocked: ${cause.message.split(/[;:\n]/)[0]}. Production is not rolled back for this: fix it, then \`migrate resume ${s.migrationId}\` to run the ${step} again (or \`migrate rollback ${s.migrationId}\`).`;
      const subject = `${step} blocked: decision needed`;
      await s.pauseAndAsk(attention, { event: `${step}-blocked`, subject, text: `${attention}\n\n${cause.message}` });
      await checkpoint(s);
      s.clearAttention();
    }
  }
}

/** The rollback procedure the archive README gives. */
function rollbackProcedure(migrationId: string, codecEndpoint?: string): string {
  return [
    `Start the rollback workflow: \`migrate rollback ${migrationId} --reason "<why>"\``,
    `(or \`temporal workflow signal${codecFlags(codecEndpoint)} --workflow-id ${migrationId} --name rollback --input '{"reason":"<why>","requestedBy":"<you>"}'\` while the migration runs).`,
    'It stops the unified containers, restores the legacy crontab lines / schedules, puts traffic back on the legacy path, restores these scripts with git revert, and verifies.',
    'Restoring the database from a backup is never automatic: see the operator runbook.',
  ].join('\n');
}

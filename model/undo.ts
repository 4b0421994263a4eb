/**
 * The rules of an undo, as pure functions: which recorded change is undone, in what order, which undo waits for which,
 * and what runs when one of them fails. The one rule behind them: a rollback never leaves less running than before.
 * Every item is owned by a pipeline that is scheduled and running at every moment, so the legacy side comes back (and
 * is verified by its own undo) before anything of the unified side is taken away, and an undo that fails keeps
 * everything that depends on it as it is. Workflow-safe; tested in `tests/unit/undo.test.ts`.
 */
import { routeOf, type Plan } from './plan';
import { canonicalJson } from './signatures';
import { sameJob } from './admission';
import type { Compensation, UndoOutcome } from './status';

type Kind = Compensation['kind'];

/**
 * The undo steps of a rollback, newest change first. Several records of the same kind (traffic at deploy and again
 * at the shift) need one undo: they restore the same state, and the newest record is the one kept.
 */
export function undoOrder(compensations: Compensation[]): Compensation[] {
  const seen = new Set<Kind>();
  return [...compensations].reverse().filter((c) => {
    if (seen.has(c.kind)) return false;
    seen.add(c.kind);
    return true;
  });
}

/**
 * What each undo waits for, and needs to have succeeded, among the steps the rollback has:
 * - the legacy cron lines (or schedules) come back only once their scripts are out of the archive;
 * - the routing gives the unified share back to legacy only once the legacy jobs run again (after the cutover the
 *   unified pipeline serves all of it: with the legacy jobs still off, 0 % unified is served by nobody);
 * - the unified job and containers go only once the routing no longer sends them anything and the legacy jobs run.
 * The unified job and the containers do not wait for each other: they go side by side.
 */
export const UNDO_NEEDS: Record<Kind, readonly Kind[]> = {
  archive: [],
  'legacy-jobs': ['archive'],
  traffic: ['archive', 'legacy-jobs'],
  'unified-job': ['archive', 'legacy-jobs', 'traffic'],
  containers: ['archive', 'legacy-jobs', 'traffic'],
};

/** The steps among `steps` that `c` waits for. */
export function undoPrerequisites(c: Compensation, steps: Compensation[]): Compensation[] {
  return steps.filter((s) => UNDO_NEEDS[c.kind].includes(s.kind));
}

/**
 * Why an undo is not run, or undefined when it may run: the first of its prerequisites that failed or was itself
 * kept. The step's change then stays in place, since taking it away would leave less running than before.
 */
export function keptBecause(c: Compensation, outcomes: ReadonlyMap<Kind, UndoOutcome>): string | undefined {
  for (const need of UNDO_NEEDS[c.kind]) {
    const o = outcomes.get(need);
    if (o && !o.ok) return `kept: ${UNDO_LABEL[need]} ${o.kept ? 'was kept too' : 'could not be undone'}`;
  }
  return undefined;
}

/**
 * Undo steps that may run side by side, as rollbacks recorded before `UNDO_NEEDS` ran them (their histories replay
 * this way). Within a lane the order is the reverse of the changes; with `scriptsFirst` the repository shares the
 * schedule's lane.
 */
export function undoLanes(steps: Compensation[], scriptsFirst = false): Compensation[][] {
  const LANE: Record<Kind, string> = {
    'legacy-jobs': 'schedule',
    'unified-job': 'schedule',
    traffic: 'traffic',
    containers: 'traffic',
    archive: 'repository',
  };
  const lane = (c: Compensation) => (scriptsFirst && c.kind === 'archive' ? 'schedule' : LANE[c.kind]);
  const lanes = new Map<string, Compensation[]>();
  for (const c of steps) lanes.set(lane(c), [...(lanes.get(lane(c)) ?? []), c]);
  return [...lanes.values()];
}

/** What each kind of change is, in a sentence's words. */
export const UNDO_LABEL: Record<Kind, string> = {
  archive: 'the archive of the legacy scripts',
  'legacy-jobs': 'the re-enabling of the legacy jobs',
  traffic: 'the routing back to legacy',
  'unified-job': 'the removal of the unified job',
  containers: 'the stop of the unified containers',
};

/** What runs now for one recorded change, given how its undo went. */
function runsNow(c: Compensation, o: UndoOutcome | undefined): string {
  const ok = o?.ok === true;
  switch (c.kind) {
    case 'archive':
      return ok
        ? `legacy scripts: back in ${c.repository}`
        : `legacy scripts: STILL ARCHIVED in ${c.repository} (the legacy jobs cannot run them)`;
    case 'legacy-jobs': {
      const names = c.jobs.map((j) => j.name).join(', ');
      return ok ? `legacy jobs ${names}: scheduled again` : `legacy jobs ${names}: STILL NOT SCHEDULED`;
    }
    case 'traffic':
      return ok
        ? `routing: ${c.restorePercent} % unified, the rest legacy`
        : `routing: NOT restored to ${c.restorePercent} % unified (the unified pipeline keeps its share)`;
    case 'unified-job':
      return ok ? `unified job ${c.job.name}: removed` : `unified job ${c.job.name}: still scheduled`;
    case 'containers':
      return ok ? `unified containers of ${c.project}: stopped` : `unified containers of ${c.project}: still running`;
  }
}

/** What runs after the rollback, one line per recorded change (the rollback's `runningNow`). */
export function whatRunsNow(steps: Compensation[], outcomes: UndoOutcome[]): string[] {
  const byKind = new Map(outcomes.map((o) => [o.kind, o]));
  return steps.map((c) => runsNow(c, byKind.get(c.kind)));
}

/** How a person finishes one step the rollback left: by hand on the target. */
function byHand(c: Compensation): string {
  switch (c.kind) {
    case 'archive':
      return `git -C ${c.repository} log: revert the archive commit of this migration`;
    case 'legacy-jobs':
      return c.scheduler.kind === 'crontab'
        ? `crontab -u ${c.scheduler.user} -e: enable the lines of ${c.jobs.map((j) => j.name).join(', ')}`
        : `temporal schedule toggle --unpause for the schedules of ${c.jobs.map((j) => j.name).join(', ')}`;
    case 'traffic':
      return c.router.kind === 'table'
        ? `set the unified share to ${c.restorePercent} % in table ${c.router.table} (route ${routeOf(c.router)})`
        : `run the router: ${c.router.command.join(' ').split('{percent}').join(String(c.restorePercent))}`;
    case 'unified-job':
      return c.scheduler.kind === 'crontab'
        ? `crontab -u ${c.scheduler.user} -e: remove the line of ${c.job.name}`
        : `temporal schedule toggle --pause for the schedule of ${c.job.name}`;
    case 'containers':
      return `docker stop the containers of compose project ${c.project}`;
  }
}

/**
 * What a person does about the steps a rollback did not undo: run it again (each undo is idempotent, and one that
 * was kept runs once what it waits for is done), or finish each step by hand, in this order.
 */
export function whatToDo(migrationId: string, steps: Compensation[], outcomes: UndoOutcome[]): string[] {
  const left = new Set(outcomes.filter((o) => !o.ok).map((o) => o.kind));
  if (!left.size) return [];
  return [
    `retry: migrate rollback ${migrationId} --reason "<why>" (undoes what is left; what was undone stays undone)`,
    ...steps.filter((c) => left.has(c.kind)).map((c, i) => `by hand ${i + 1}: ${byHand(c)}`),
  ];
}

/**
 * Why an undo record does not belong to the plan, or undefined: what it would act on (router, database variable,
 * scheduler and its crontab user, jobs by name, schedule and command, repository, compose project) must be the plan's
 * own. Both the rollback workflow's admission and the ledger rollback check every record with it before any undo.
 */
export function undoRecordProblem(plan: Plan, record: unknown): string | undefined {
  if (!record || typeof record !== 'object') return 'not an undo record';
  const r = record as Record<string, unknown>;
  const differs = (what: string) => `its ${what} is not the plan's`;
  switch (r.kind) {
    case 'containers':
      return r.project === plan.target.composeProject ? undefined : differs(`compose project ${String(r.project)}`);
    case 'traffic':
      if (!same(r.router, plan.traffic.router)) return differs('router');
      if (r.databaseUrlEnv !== plan.target.databaseUrlEnv)
        return differs(`database variable ${String(r.databaseUrlEnv)}`);
      return r.restorePercent === 0 ? undefined : `it restores ${String(r.restorePercent)} % unified, not 0`;
    case 'unified-job':
      if (!same(r.scheduler, plan.scheduler)) return differs('scheduler (crontab user)');
      return sameJob(r.job, plan.unifiedJob) ? undefined : "its job is not the plan's unified job";
    case 'legacy-jobs':
      if (!same(r.scheduler, plan.scheduler)) return differs('scheduler (crontab user)');
      return Array.isArray(r.jobs) && r.jobs.every((j) => plan.legacyJobs.some((l) => same(l, j)))
        ? undefined
        : "its jobs are not the plan's legacy jobs";
    case 'archive':
      return r.repository === plan.target.repository ? undefined : differs(`repository ${String(r.repository)}`);
    default:
      return `its kind ${JSON.stringify(r.kind)} is no undo the migration records`;
  }
}

const same = (a: unknown, b: unknown) => canonicalJson(a) === canonicalJson(b);

/**
 * Why undo records do not belong to the plan, or undefined: each record's router, database variable, scheduler
 * (crontab user), jobs, repository and compose project must be the plan's own.
 */
export function undoRecordsProblem(records: unknown, plan: Plan): string | undefined {
  if (!Array.isArray(records)) return 'compensations: expected a list of undo records';
  for (const [i, r] of (records as Record<string, unknown>[]).entries()) {
    const bad = undoRecordProblem(plan, r);
    if (bad) return `compensations[${i}] (${String(r?.kind)}): ${bad}`;
  }
  return undefined;
}

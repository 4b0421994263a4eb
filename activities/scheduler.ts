import type { Client } from '@temporalio/client';
import type { JobSpec, SchedulerSpec } from '../model/plan';
import { ErrorType, permanent } from './errors';
import { WorkflowType } from '../model/constants';
import type { ScheduledJobInput } from '../model/status';
import {
  crontabUnifiedOwner,
  disableLine,
  editCrontab,
  enableLine,
  findInCrontab,
  installLine,
  parseCrontab,
  readCrontab,
  removeLine,
  type BeforeWrite,
} from './crontab';
import type { FoundJob, JobInput, JobsInput, OwnerInput, ScheduleEntry, SchedulerChange } from './scheduler-types';

export type { FoundJob, JobInput, JobsInput, OwnerInput, ScheduleEntry, SchedulerChange } from './scheduler-types';
export {
  cronLine,
  isJobLine,
  locateInCrontab,
  locateProblem,
  locatorText,
  matchesJob,
  parseCrontab,
  readCrontab,
  shellQuote,
} from './crontab';

// ---------- Temporal Schedules ----------

const prefixOf = (s: SchedulerSpec) => (s.kind === 'temporal-schedule' && s.idPrefix) || 'job';

/**
 * Schedule ID of the unified job a migration installs: the job and the migration (neither holds an `@`), so two
 * migrations with a job of the same name have a schedule each, and each undoes only its own.
 */
export const scheduleId = (s: SchedulerSpec, job: JobSpec, migrationId: string) =>
  `${prefixOf(s)}-${job.name}@${migrationId}`;

/** The ID earlier versions gave a unified job's schedule, and the default ID of a legacy job's schedule. */
const plainScheduleId = (s: SchedulerSpec, job: JobSpec) => `${prefixOf(s)}-${job.name}`;

/** The schedule that runs a legacy job today: the plan's `scheduleId`, else the prefixed name. */
export const legacyScheduleId = (s: SchedulerSpec, job: JobSpec) => job.scheduleId ?? plainScheduleId(s, job);

/** The notes this product leaves on a schedule it changes; the migration named there is the change's owner. */
const note = (what: 'installed' | 'removed' | 'disabled' | 'restored', migrationId: string) =>
  `${what} by migration ${migrationId}`;
const noteOwner = (text: string | undefined, what: 'installed' | 'disabled') =>
  new RegExp(`^${what} by migration (\\S+)$`).exec(text ?? '')?.[1];

/** A schedule's state, or undefined when it does not exist. */
async function scheduleState(client: Client, id: string): Promise<{ paused: boolean; note?: string } | undefined> {
  try {
    return (await client.schedule.getHandle(id).describe()).state;
  } catch (err) {
    if ((err as Error).name === 'ScheduleNotFoundError') return undefined;
    throw err;
  }
}

/** The IDs of the schedules in the namespace (at most `limit`), for messages that say what was there. */
async function scheduleIds(client: Client, limit = 50): Promise<string[]> {
  const ids: string[] = [];
  for await (const sch of client.schedule.list({ pageSize: limit })) {
    ids.push(sch.scheduleId);
    if (ids.length >= limit) break;
  }
  return ids.sort();
}

/** Why a legacy job's schedule cannot be changed (it does not exist), or undefined. */
async function scheduleProblem(client: Client, s: SchedulerSpec, job: JobSpec): Promise<string | undefined> {
  const id = legacyScheduleId(s, job);
  if ((await scheduleState(client, id)) !== undefined) return undefined;
  const ids = await scheduleIds(client);
  return `legacy job ${job.name}: no Temporal Schedule ${id}${job.scheduleId ? '' : ' (give scheduleId to name the one that runs it)'}; the schedules there are: ${ids.length ? ids.join(', ') : '(none)'}`;
}

/** The migration other than `migrationId` that paused a legacy job's schedule (its note says so), or undefined. */
async function pausedByOther(client: Client, id: string, migrationId: string): Promise<string | undefined> {
  const state = await scheduleState(client, id);
  const owner = state?.paused ? noteOwner(state.note, 'disabled') : undefined;
  return owner !== undefined && owner !== migrationId ? owner : undefined;
}

/** Pauses or unpauses an existing schedule; already so: no change. */
async function setPaused(client: Client, id: string, paused: boolean, text: string): Promise<boolean> {
  const state = await scheduleState(client, id);
  if (state === undefined)
    throw permanent(ErrorType.PreconditionFailed, `Temporal Schedule ${id} does not exist (it was deleted by hand?)`);
  if (state.paused === paused) return false;
  const h = client.schedule.getHandle(id);
  await (paused ? h.pause(text) : h.unpause(text));
  return true;
}

/** Creates the migration's schedule of the unified job (running), or unpauses it; present and running: no change. */
async function installSchedule(client: Client, i: JobInput, taskQueue: string): Promise<boolean> {
  const id = scheduleId(i.scheduler, i.job, i.migrationId);
  const text = note('installed', i.migrationId);
  if ((await scheduleState(client, id)) !== undefined) return setPaused(client, id, false, text);
  await client.schedule
    .create({
      scheduleId: id,
      spec: { cronExpressions: [i.job.schedule] },
      action: {
        type: 'startWorkflow',
        // The workflow that runs the job's command on the worker.
        workflowType: WorkflowType.scheduledJobWorkflow,
        args: [
          {
            job: i.job,
            ...(i.runOn ? { runOn: i.runOn } : {}),
            // Each run is admitted against the migration's plan and start proof (workflows/scheduled-job.ts).
            ...(i.admission
              ? {
                  migrationId: i.migrationId,
                  plan: i.admission.plan,
                  ...(i.admission.proof ? { proof: i.admission.proof } : {}),
                }
              : {}),
          } satisfies ScheduledJobInput,
        ],
        taskQueue,
      },
      state: { paused: false, note: text },
    })
    .catch((err: Error) => {
      // Created by an earlier attempt of this activity: fine.
      if (err.name !== 'ScheduleAlreadyRunning') throw err;
    });
  return true;
}

/**
 * Pauses the migration's schedule of the unified job (kept for its history). A migration started by an earlier version
 * has its schedule under the plain ID: that one is paused only while its note says this migration installed it.
 */
async function removeSchedule(client: Client, i: JobInput): Promise<boolean> {
  const text = note('removed', i.migrationId);
  const id = scheduleId(i.scheduler, i.job, i.migrationId);
  if ((await scheduleState(client, id)) !== undefined) return setPaused(client, id, true, text);
  const old = plainScheduleId(i.scheduler, i.job);
  const state = await scheduleState(client, old);
  if (!state || state.paused || noteOwner(state.note, 'installed') !== i.migrationId) return false;
  return setPaused(client, old, true, text);
}

/**
 * Pauses (or unpauses) every legacy job's schedule; fails (PreconditionFailed) before any change if one is missing or,
 * when pausing, another migration paused it. Unpausing touches only the schedules this migration paused.
 */
async function setLegacyPaused(client: Client, i: JobsInput, paused: boolean): Promise<SchedulerChange> {
  for (const job of i.jobs) {
    const problem = await scheduleProblem(client, i.scheduler, job);
    if (problem) throw permanent(ErrorType.PreconditionFailed, problem);
    const owner = paused ? await pausedByOther(client, legacyScheduleId(i.scheduler, job), i.migrationId) : undefined;
    if (owner)
      throw permanent(
        ErrorType.PreconditionFailed,
        `legacy job ${job.name}: its schedule ${legacyScheduleId(i.scheduler, job)} is already paused by migration ${owner}`,
      );
  }
  const changed: string[] = [];
  const unchanged: string[] = [];
  for (const job of i.jobs) {
    const id = legacyScheduleId(i.scheduler, job);
    const ours = paused || noteOwner((await scheduleState(client, id))?.note, 'disabled') === i.migrationId;
    const done = ours && (await setPaused(client, id, paused, note(paused ? 'disabled' : 'restored', i.migrationId)));
    (done ? changed : unchanged).push(job.name);
  }
  return { kind: 'temporal-schedule', changed, unchanged };
}

/** Which legacy jobs' schedules exist and are not paused by another migration, or what is there instead. */
async function findSchedules(
  client: Client,
  s: SchedulerSpec,
  jobs: JobSpec[],
  migrationId?: string,
): Promise<FoundJob[]> {
  const out: FoundJob[] = [];
  for (const [i, job] of jobs.entries()) {
    const id = legacyScheduleId(s, job);
    const problem = await scheduleProblem(client, s, job);
    const owner = !problem && migrationId ? await pausedByOther(client, id, migrationId) : undefined;
    const taken = owner && `legacyJobs[${i}] (${job.name}): its schedule ${id} is already paused by migration ${owner}`;
    out.push({ name: job.name, found: !problem && !owner, detail: problem ?? taken ?? `schedule ${id}` });
  }
  return out;
}

/**
 * Another migration's running schedule of the unified job, in words (the preflight refuses it), or undefined: a
 * schedule `<prefix>-<job>@<other migration>`, or one of an earlier version under the plain ID.
 */
async function scheduleUnifiedOwner(client: Client, i: OwnerInput): Promise<string | undefined> {
  const own = scheduleId(i.scheduler, i.job, i.migrationId);
  const plain = plainScheduleId(i.scheduler, i.job);
  const owners: string[] = [];
  for await (const sch of client.schedule.list()) {
    const id = sch.scheduleId;
    if (id === own || (id !== plain && !id.startsWith(`${plain}@`))) continue;
    const state = await scheduleState(client, id);
    if (!state || state.paused) continue;
    const owner =
      id === plain ? (noteOwner(state.note, 'installed') ?? 'an earlier version') : id.slice(plain.length + 1);
    owners.push(`migration ${owner} (schedule ${id})`);
  }
  if (!owners.length) return undefined;
  return (
    `unifiedJob.name: ${i.job.name} is already scheduled by ${owners.join('; ')}; ` +
    'finish or roll back that migration, or give this plan a unified job of another name'
  );
}

/** The legacy jobs' schedules that exist, each enabled unless paused. */
async function readSchedules(client: Client, s: SchedulerSpec, jobs: JobSpec[]): Promise<ScheduleEntry[]> {
  const out: ScheduleEntry[] = [];
  for (const job of jobs) {
    const state = await scheduleState(client, legacyScheduleId(s, job));
    if (state !== undefined)
      out.push({ name: job.name, schedule: job.schedule, command: job.command.join(' '), enabled: !state.paused });
  }
  return out;
}

/** What the scheduler activities need: a Temporal client, and (tests only) a call between a crontab read and write. */
export interface SchedulerDeps {
  client: Client;
  taskQueue?: string;
  beforeCrontabWrite?: BeforeWrite;
}

/** Scheduler activities for both adapters (crontab, Temporal Schedules), bound to a Temporal client. */
export function createSchedulerActivities(deps: SchedulerDeps) {
  const taskQueue = deps.taskQueue ?? 'migrations';
  const { client, beforeCrontabWrite: hook } = deps;
  const at = (i: JobsInput | JobInput, op: string) => ({ migrationId: i.migrationId, op, backupDir: i.backupDir });
  const unified = (changed: boolean, job: JobSpec): SchedulerChange => ({
    kind: 'temporal-schedule',
    changed: changed ? [job.name] : [],
    unchanged: changed ? [] : [job.name],
  });
  return {
    /**
     * Disables the legacy jobs where they are, keeping them restorable: the crontab line commented out byte for byte
     * behind a prefix naming the migration, the schedule paused. A job that is not found exactly once, or that another
     * migration disabled, fails (PreconditionFailed) before anything changes.
     */
    disableLegacyJobs: (i: JobsInput) =>
      i.scheduler.kind === 'crontab'
        ? editCrontab(i.scheduler, at(i, 'disable-legacy'), i.jobs, disableLine, hook)
        : setLegacyPaused(client, i, true),
    /** Re-enables the legacy jobs this migration disabled (the undo of `disableLegacyJobs`), once; never creates. */
    enableLegacyJobs: (i: JobsInput) =>
      i.scheduler.kind === 'crontab'
        ? editCrontab(i.scheduler, at(i, 'enable-legacy'), i.jobs, enableLine, hook)
        : setLegacyPaused(client, i, false),
    /** Schedules the unified job (its line marked with the migration added; the migration's schedule created). */
    installUnifiedJob: async (i: JobInput) =>
      i.scheduler.kind === 'crontab'
        ? editCrontab(i.scheduler, at(i, 'install-unified'), [i.job], installLine, hook)
        : unified(await installSchedule(client, i, taskQueue), i.job),
    /** Unschedules the migration's own unified job (line removed; schedule paused, kept for its history). */
    removeUnifiedJob: async (i: JobInput) =>
      i.scheduler.kind === 'crontab'
        ? editCrontab(i.scheduler, at(i, 'remove-unified'), [i.job], removeLine, hook)
        : unified(await removeSchedule(client, i), i.job),
    /**
     * Where each legacy job is today (read only): the preflight fails a job not found exactly once, or (given the
     * migration) one whose line or schedule another migration disabled.
     */
    findLegacyJobs: async (i: { scheduler: SchedulerSpec; jobs: JobSpec[]; migrationId?: string }) =>
      i.scheduler.kind === 'crontab'
        ? findInCrontab(i.scheduler, i.jobs, i.migrationId)
        : findSchedules(client, i.scheduler, i.jobs, i.migrationId),
    /** Another migration that already schedules a unified job of this name, in words (read only), or undefined. */
    findUnifiedOwner: async (i: OwnerInput): Promise<string | undefined> =>
      i.scheduler.kind === 'crontab'
        ? crontabUnifiedOwner(i.scheduler, i.migrationId, i.job)
        : scheduleUnifiedOwner(client, i),
    /** What is scheduled now. */
    readSchedule: async (i: { scheduler: SchedulerSpec; jobs: JobSpec[] }): Promise<ScheduleEntry[]> =>
      i.scheduler.kind === 'crontab'
        ? parseCrontab(await readCrontab(i.scheduler), i.jobs)
        : readSchedules(client, i.scheduler, i.jobs),
  };
}

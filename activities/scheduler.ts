import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { JobSpec, SchedulerSpec } from '../workflows/plan';
import { runCommand } from './process';

/** Input of the scheduler operations on legacy jobs. */
export interface JobsInput {
  migrationId: string;
  scheduler: SchedulerSpec;
  jobs: JobSpec[];
  backupDir: string;
}

/** Input of the scheduler operations on the unified job. */
export interface JobInput {
  migrationId: string;
  scheduler: SchedulerSpec;
  job: JobSpec;
  backupDir: string;
}

/** What a scheduler operation changed (plain data; the undo is the opposite operation). */
export interface SchedulerChange {
  kind: SchedulerSpec['kind'];
  changed: string[];
  unchanged: string[];
  /** The crontab as it was before this change, when something changed. */
  savedTo?: string;
}

/** One scheduled entry as it stands. */
export interface ScheduleEntry {
  name?: string;
  schedule: string;
  command: string;
  enabled: boolean;
}

// ---------- crontab ----------

const MARKER = '# mo-job:';
const DISABLED = '#mo-disabled# ';

/** Quotes one argument for /bin/sh (cron runs each line through it); `%` is escaped because cron treats it as newline. */
export function shellQuote(arg: string): string {
  const q = /^[A-Za-z0-9_/.=:,+@-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
  return q.replace(/%/g, '\\%');
}

/** The crontab line of a job (enabled), with the marker that finds it again. */
export function cronLine(job: JobSpec): string {
  return `${job.schedule} ${job.command.map(shellQuote).join(' ')} ${MARKER}${job.name}`;
}

const bare = (job: JobSpec) => `${job.schedule} ${job.command.map(shellQuote).join(' ')}`;

function crontabArgs(s: SchedulerSpec, ...rest: string[]): string[] {
  return s.kind === 'crontab' && s.user ? ['-u', s.user, ...rest] : rest;
}

/** The current crontab text ('' when the user has none). */
export async function readCrontab(s: SchedulerSpec): Promise<string> {
  const r = await runCommand('crontab', crontabArgs(s, '-l'));
  if (r.code === 0) return r.stdout;
  if (/no crontab for/i.test(r.stderr)) return '';
  throw new Error(`crontab -l failed (${r.code}): ${r.stderr.trim()}`);
}

/** Installs a whole crontab at once (crontab replaces the file atomically). */
async function writeCrontab(s: SchedulerSpec, text: string): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mo-crontab-'));
  const file = path.join(dir, 'crontab');
  try {
    await fs.writeFile(file, text.endsWith('\n') || text === '' ? text : `${text}\n`);
    const r = await runCommand('crontab', crontabArgs(s, file));
    if (r.code !== 0) throw new Error(`crontab install failed (${r.code}): ${r.stderr.trim()}`);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** Index of a job's line: by marker, else by its exact command line (a legacy line written by hand). */
function findLine(lines: string[], job: JobSpec): number {
  const byMarker = lines.findIndex((l) => l.endsWith(`${MARKER}${job.name}`));
  if (byMarker >= 0) return byMarker;
  return lines.findIndex((l) => l.replace(DISABLED, '').trim() === bare(job));
}

type LineEdit = (lines: string[], job: JobSpec) => boolean;

const setEnabled =
  (enabled: boolean): LineEdit =>
  (lines, job) => {
    const i = findLine(lines, job);
    const want = enabled ? cronLine(job) : `${DISABLED}${cronLine(job)}`;
    if (i < 0) {
      lines.push(want);
      return true;
    }
    const isDisabled = lines[i]!.startsWith(DISABLED);
    if (isDisabled === !enabled && lines[i]!.endsWith(`${MARKER}${job.name}`)) return false;
    lines[i] = want;
    return true;
  };

const removeLine: LineEdit = (lines, job) => {
  const i = findLine(lines, job);
  if (i < 0) return false;
  lines.splice(i, 1);
  return true;
};

/** Applies an edit to each job's line; saves the previous crontab once per migration and operation; writes once. */
async function editCrontab(
  s: SchedulerSpec,
  migrationId: string,
  op: string,
  jobs: JobSpec[],
  backupDir: string,
  edit: LineEdit,
): Promise<SchedulerChange> {
  const before = await readCrontab(s);
  const lines = before.split('\n').filter((l, i, all) => l !== '' || i < all.length - 1);
  const changed: string[] = [];
  const unchanged: string[] = [];
  for (const job of jobs) (edit(lines, job) ? changed : unchanged).push(job.name);
  if (!changed.length) return { kind: 'crontab', changed, unchanged };
  const dir = path.join(backupDir, migrationId.replace(/[^A-Za-z0-9_.-]/g, '_'));
  await fs.mkdir(dir, { recursive: true });
  const savedTo = path.join(dir, `crontab.before-${op}.bak`);
  // Keep the first saved version: a retried activity must not overwrite it with an already-changed crontab.
  await fs.writeFile(savedTo, before, { flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  await writeCrontab(s, lines.join('\n'));
  return { kind: 'crontab', changed, unchanged, savedTo };
}

/** Parses the managed and plain job lines of a crontab. */
export function parseCrontab(text: string): ScheduleEntry[] {
  const out: ScheduleEntry[] = [];
  for (const raw of text.split('\n')) {
    const disabled = raw.startsWith(DISABLED);
    const line = disabled ? raw.slice(DISABLED.length) : raw;
    if (!line.trim() || (!disabled && line.trimStart().startsWith('#')) || /^\s*[A-Z_]+=/.test(line)) continue;
    const m = /^(\S+\s+\S+\s+\S+\s+\S+\s+\S+|@\S+)\s+(.*?)(?:\s+# mo-job:(\S+))?$/.exec(line.trim());
    if (!m) continue;
    out.push({ ...(m[3] ? { name: m[3] } : {}), schedule: m[1]!, command: m[2]!, enabled: !disabled });
  }
  return out;
}

// ---------- Temporal Schedules ----------

/** Schedule ID of a job. */
export const scheduleId = (s: SchedulerSpec, job: JobSpec) =>
  `${(s.kind === 'temporal-schedule' && s.idPrefix) || 'job'}-${job.name}`;

/** The workflow a job schedule starts (it runs the job's command on the worker). */
export const SCHEDULED_JOB_WORKFLOW = 'scheduledJobWorkflow';

async function schedulePaused(client: Client, id: string): Promise<boolean | undefined> {
  try {
    return (await client.schedule.getHandle(id).describe()).state.paused;
  } catch (err) {
    if ((err as Error).name === 'ScheduleNotFoundError') return undefined;
    throw err;
  }
}

async function setSchedulePaused(
  client: Client,
  s: SchedulerSpec,
  job: JobSpec,
  paused: boolean,
  note: string,
  taskQueue: string,
): Promise<boolean> {
  const id = scheduleId(s, job);
  const state = await schedulePaused(client, id);
  if (state === undefined) {
    await client.schedule
      .create({
        scheduleId: id,
        spec: { cronExpressions: [job.schedule] },
        action: { type: 'startWorkflow', workflowType: SCHEDULED_JOB_WORKFLOW, args: [{ job }], taskQueue },
        state: { paused, note },
      })
      .catch((err: Error) => {
        // Created by an earlier attempt of this activity: fine.
        if (err.name !== 'ScheduleAlreadyRunning') throw err;
      });
    return true;
  }
  if (state === paused) return false;
  const h = client.schedule.getHandle(id);
  await (paused ? h.pause(note) : h.unpause(note));
  return true;
}

/** Scheduler activities for both adapters (crontab, Temporal Schedules), bound to a Temporal client. */
export function createSchedulerActivities(deps: { client: Client; taskQueue?: string }) {
  const taskQueue = deps.taskQueue ?? 'migrations';
  const temporal = async (
    s: SchedulerSpec,
    jobs: JobSpec[],
    paused: boolean,
    note: string,
  ): Promise<SchedulerChange> => {
    const changed: string[] = [];
    const unchanged: string[] = [];
    for (const job of jobs)
      ((await setSchedulePaused(deps.client, s, job, paused, note, taskQueue)) ? changed : unchanged).push(job.name);
    return { kind: 'temporal-schedule', changed, unchanged };
  };
  return {
    /** Disables the legacy jobs, keeping them restorable (crontab lines commented out; schedules paused). */
    disableLegacyJobs: (i: JobsInput) =>
      i.scheduler.kind === 'crontab'
        ? editCrontab(i.scheduler, i.migrationId, 'disable-legacy', i.jobs, i.backupDir, setEnabled(false))
        : temporal(i.scheduler, i.jobs, true, `disabled by migration ${i.migrationId}`),
    /** Re-enables the legacy jobs (the undo of `disableLegacyJobs`); installs missing ones. */
    enableLegacyJobs: (i: JobsInput) =>
      i.scheduler.kind === 'crontab'
        ? editCrontab(i.scheduler, i.migrationId, 'enable-legacy', i.jobs, i.backupDir, setEnabled(true))
        : temporal(i.scheduler, i.jobs, false, `restored by migration ${i.migrationId}`),
    /** Schedules the unified job (crontab line added; schedule created or unpaused). */
    installUnifiedJob: (i: JobInput) =>
      i.scheduler.kind === 'crontab'
        ? editCrontab(i.scheduler, i.migrationId, 'install-unified', [i.job], i.backupDir, setEnabled(true))
        : temporal(i.scheduler, [i.job], false, `installed by migration ${i.migrationId}`),
    /** Unschedules the unified job (crontab line removed; schedule paused, kept for its history). */
    removeUnifiedJob: (i: JobInput) =>
      i.scheduler.kind === 'crontab'
        ? editCrontab(i.scheduler, i.migrationId, 'remove-unified', [i.job], i.backupDir, removeLine)
        : temporal(i.scheduler, [i.job], true, `removed by migration ${i.migrationId}`),
    /** What is scheduled now. */
    readSchedule: async (i: { scheduler: SchedulerSpec; jobs: JobSpec[] }): Promise<ScheduleEntry[]> => {
      if (i.scheduler.kind === 'crontab') return parseCrontab(await readCrontab(i.scheduler));
      const out: ScheduleEntry[] = [];
      for (const job of i.jobs) {
        const paused = await schedulePaused(deps.client, scheduleId(i.scheduler, job));
        if (paused !== undefined)
          out.push({ name: job.name, schedule: job.schedule, command: job.command.join(' '), enabled: !paused });
      }
      return out;
    },
  };
}

/** The crontab operations without a Temporal client (scripts and the demo setup use them directly). */
export const crontabActivities = createSchedulerActivities({ client: undefined as unknown as Client });
/** Re-enables legacy jobs in a crontab (used by the demo setup to install them). */
export const enableLegacyJobs = crontabActivities.enableLegacyJobs;

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { JobSpec, SchedulerSpec } from '../model/plan';
import { ErrorType, permanent } from './errors';
import { WorkflowType } from '../model/constants';
import { runCommand } from './process';
import { migrationFolder } from './folders';
import { makePrivateFolder, writeFileSafely } from './files';

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
  /** Temporal Schedules: the task queue the job's runs execute its command on (the commands agent), if not central. */
  runOn?: string;
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
  /** The crontab line as written (crontab only). */
  line?: string;
}

// ---------- crontab ----------

const MARKER = '# mo-job:';
/** How a legacy line is disabled: commented out behind this prefix, the original kept byte for byte after it. */
const disabledPrefix = (job: string) => `#mo-disabled:${job}# `;
/** The prefix of earlier versions (which disabled a rewritten, marked copy of the line). */
const OLD_DISABLED = '#mo-disabled# ';

/** Quotes one argument for /bin/sh (cron runs each line through it); `%` is escaped because cron treats it as newline. */
export function shellQuote(arg: string): string {
  const q = /^[A-Za-z0-9_/.=:,+@-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
  return q.replace(/%/g, '\\%');
}

/**
 * The crontab line of a job we install (the unified job), with the marker that finds it again. A line break or NUL
 * would survive the quoting and end the line early, the rest becoming a crontab line of its own: such a job is
 * refused (the plan schema refuses it first; this is for a plan that did not come through it).
 */
export function cronLine(job: JobSpec): string {
  const line = `${job.schedule} ${job.command.map(shellQuote).join(' ')} ${MARKER}${job.name}`;
  const at = line.search(/[\n\r\0]/);
  if (at >= 0)
    throw permanent(
      ErrorType.InvalidInput,
      `unified job ${job.name}: refused, its crontab line would contain ${JSON.stringify(line[at])} at position ` +
        `${at + 1} (cron would end the line there and read the rest as a line of its own): its schedule and ` +
        'command arguments must be single lines',
    );
  return line;
}

/** The line a legacy job without `line` or `match` is expected to have: its schedule and quoted command. */
const bare = (job: JobSpec) => `${job.schedule} ${job.command.map(shellQuote).join(' ')}`;

/** A crontab line that schedules something: not blank, not a comment, not an environment assignment. */
export function isJobLine(line: string): boolean {
  const t = line.trim();
  return t !== '' && !t.startsWith('#') && !/^[A-Za-z_][A-Za-z0-9_]*\s*=/.test(t);
}

/** Whether a job's locator (`line`, `match`, or its schedule and command) picks this active crontab line. */
export function matchesJob(line: string, job: JobSpec): boolean {
  const t = line.trim();
  if (job.line !== undefined) return t === job.line.trim();
  if (job.match !== undefined) {
    const re = /^\/(.*)\/$/s.exec(job.match);
    return re ? new RegExp(re[1]!).test(t) : t.includes(job.match);
  }
  return t === bare(job) || t.endsWith(`${MARKER}${job.name}`);
}

/** Where a legacy job stands in a crontab: its active lines and the lines this product disabled for it. */
export interface JobLocation {
  active: number[];
  disabled: number[];
}

/** Finds a legacy job's lines: the active ones its locator picks, and ours disabled for it (either prefix). */
export function locateInCrontab(lines: string[], job: JobSpec): JobLocation {
  const active: number[] = [];
  const disabled: number[] = [];
  lines.forEach((l, i) => {
    if (l.startsWith(disabledPrefix(job.name))) disabled.push(i);
    else if (l.startsWith(OLD_DISABLED) && l.endsWith(`${MARKER}${job.name}`)) disabled.push(i);
    else if (isJobLine(l) && matchesJob(l, job)) active.push(i);
  });
  return { active, disabled };
}

/** How a job is found, in words (for errors and the preflight report). */
export function locatorText(job: JobSpec): string {
  if (job.line !== undefined) return `line ${JSON.stringify(job.line)}`;
  if (job.match !== undefined) return `match ${JSON.stringify(job.match)}`;
  return `line ${JSON.stringify(bare(job))} (schedule and command; give line or match to find another)`;
}

/** The job lines of a crontab, for messages that say what was there. */
const seen = (lines: string[]) => {
  const jobs = lines.filter(isJobLine);
  return jobs.length ? jobs.map((l) => `  ${l}`).join('\n') : '  (no job lines)';
};

/** Why a legacy job's lines cannot be edited, or undefined: it must be found exactly once. */
export function locateProblem(lines: string[], job: JobSpec, where: string): string | undefined {
  const { active, disabled } = locateInCrontab(lines, job);
  if (active.length + disabled.length === 0)
    return `legacy job ${job.name}: no line in ${where} matches its ${locatorText(job)}; the job lines there are:\n${seen(lines)}`;
  if (active.length + disabled.length > 1)
    return `legacy job ${job.name}: ${active.length + disabled.length} lines in ${where} match its ${locatorText(job)} (it must match one):\n${[...active, ...disabled].map((i) => `  ${lines[i]}`).join('\n')}`;
  return undefined;
}

function crontabArgs(s: SchedulerSpec, ...rest: string[]): string[] {
  return s.kind === 'crontab' && s.user ? ['-u', s.user, ...rest] : rest;
}

const crontabName = (s: SchedulerSpec) => (s.kind === 'crontab' && s.user ? `the crontab of ${s.user}` : 'the crontab');

/** The current crontab text ('' when the user has none). */
export async function readCrontab(s: SchedulerSpec): Promise<string> {
  // Whole: the text is edited and installed back, so a cut would truncate the user's crontab.
  const r = await runCommand('crontab', crontabArgs(s, '-l'), { maxOutputBytes: Infinity });
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

/** Changes one job's lines in place; true if something changed. Throws when the job is not there to change. */
type LineEdit = (lines: string[], job: JobSpec, where: string) => boolean;

/** Comments the legacy job's line out, keeping it byte for byte behind the prefix; already disabled: no change. */
const disableLine: LineEdit = (lines, job, where) => {
  const problem = locateProblem(lines, job, where);
  if (problem) throw permanent(ErrorType.PreconditionFailed, problem);
  const { active } = locateInCrontab(lines, job);
  if (!active.length) return false;
  lines[active[0]!] = `${disabledPrefix(job.name)}${lines[active[0]!]}`;
  return true;
};

/** Restores the line `disableLine` commented out, exactly as it was; already active: no change. */
const enableLine: LineEdit = (lines, job, where) => {
  const problem = locateProblem(lines, job, where);
  if (problem) throw permanent(ErrorType.PreconditionFailed, problem);
  const { disabled } = locateInCrontab(lines, job);
  if (!disabled.length) return false;
  const line = lines[disabled[0]!]!;
  lines[disabled[0]!] = line.startsWith(OLD_DISABLED)
    ? line.slice(OLD_DISABLED.length)
    : line.slice(disabledPrefix(job.name).length);
  return true;
};

/** Adds the unified job's marked line (or rewrites it to the plan's); present as planned: no change. */
const installLine: LineEdit = (lines, job) => {
  const i = lines.findIndex((l) => l.endsWith(`${MARKER}${job.name}`));
  if (i >= 0 && lines[i] === cronLine(job)) return false;
  if (i >= 0) lines[i] = cronLine(job);
  else lines.push(cronLine(job));
  return true;
};

/** Removes the unified job's marked line; absent: no change. */
const removeLine: LineEdit = (lines, job) => {
  const i = lines.findIndex((l) => l.endsWith(`${MARKER}${job.name}`));
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
  for (const job of jobs) (edit(lines, job, crontabName(s)) ? changed : unchanged).push(job.name);
  if (!changed.length) return { kind: 'crontab', changed, unchanged };
  const dir = migrationFolder(backupDir, migrationId);
  await makePrivateFolder(dir);
  const savedTo = path.join(dir, `crontab.before-${op}.bak`);
  // Keep the first saved version: a retried activity must not overwrite it with an already-changed crontab. 0600, never
  // through a symlink: a crontab holds its environment's secrets.
  await writeFileSafely(savedTo, before, { keepExisting: true });
  await writeCrontab(s, lines.join('\n'));
  return { kind: 'crontab', changed, unchanged, savedTo };
}

/**
 * Parses the job lines of a crontab, active and disabled by this product. A line is named by its marker (a job we
 * installed), its disabled prefix, or the job among `jobs` whose locator picks it (a legacy line written by hand).
 */
export function parseCrontab(text: string, jobs: JobSpec[] = []): ScheduleEntry[] {
  const out: ScheduleEntry[] = [];
  for (const raw of text.split('\n')) {
    const ours =
      /^#mo-disabled:([^#\s]+)# (.*)$/.exec(raw) ??
      (raw.startsWith(OLD_DISABLED) ? [raw, undefined, raw.slice(OLD_DISABLED.length)] : null);
    const line = ours ? ours[2] : raw;
    if (!isJobLine(line)) continue;
    const m = /^(@\S+|\S+\s+\S+\s+\S+\s+\S+\s+\S+)\s+(.*?)(?:\s+# mo-job:(\S+))?$/.exec(line.trim());
    if (!m) continue;
    const name = ours?.[1] ?? m[3] ?? jobs.find((j) => matchesJob(line, j))?.name;
    out.push({ ...(name ? { name } : {}), schedule: m[1]!, command: m[2]!, enabled: !ours, line });
  }
  return out;
}

// ---------- Temporal Schedules ----------

/** Schedule ID of a job. */
export const scheduleId = (s: SchedulerSpec, job: JobSpec) =>
  `${(s.kind === 'temporal-schedule' && s.idPrefix) || 'job'}-${job.name}`;

async function schedulePaused(client: Client, id: string): Promise<boolean | undefined> {
  try {
    return (await client.schedule.getHandle(id).describe()).state.paused;
  } catch (err) {
    if ((err as Error).name === 'ScheduleNotFoundError') return undefined;
    throw err;
  }
}

/** The schedule that runs a legacy job today: the plan's `scheduleId`, else the prefixed name. */
export const legacyScheduleId = (s: SchedulerSpec, job: JobSpec) => job.scheduleId ?? scheduleId(s, job);

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
  if ((await schedulePaused(client, id)) !== undefined) return undefined;
  const ids = await scheduleIds(client);
  return `legacy job ${job.name}: no Temporal Schedule ${id}${job.scheduleId ? '' : ' (give scheduleId to name the one that runs it)'}; the schedules there are: ${ids.length ? ids.join(', ') : '(none)'}`;
}

/** Pauses or unpauses an existing schedule; already so: no change. */
async function setPaused(client: Client, id: string, paused: boolean, note: string): Promise<boolean> {
  const state = await schedulePaused(client, id);
  if (state === undefined)
    throw permanent(ErrorType.PreconditionFailed, `Temporal Schedule ${id} does not exist (it was deleted by hand?)`);
  if (state === paused) return false;
  const h = client.schedule.getHandle(id);
  await (paused ? h.pause(note) : h.unpause(note));
  return true;
}

/** The unified job's schedule: created on first install (running), else unpaused or paused. */
async function setUnifiedPaused(
  client: Client,
  s: SchedulerSpec,
  job: JobSpec,
  paused: boolean,
  note: string,
  taskQueue: string,
  runOn?: string,
): Promise<boolean> {
  const id = scheduleId(s, job);
  if ((await schedulePaused(client, id)) !== undefined) return setPaused(client, id, paused, note);
  if (paused) return false; // never installed: nothing to remove
  await client.schedule
    .create({
      scheduleId: id,
      spec: { cronExpressions: [job.schedule] },
      action: {
        type: 'startWorkflow',
        // The workflow that runs the job's command on the worker.
        workflowType: WorkflowType.scheduledJobWorkflow,
        args: [{ job, ...(runOn ? { runOn } : {}) }],
        taskQueue,
      },
      state: { paused, note },
    })
    .catch((err: Error) => {
      // Created by an earlier attempt of this activity: fine.
      if (err.name !== 'ScheduleAlreadyRunning') throw err;
    });
  return true;
}

/** How one legacy job was found in the scheduler (the preflight's check), or why it was not. */
export interface FoundJob {
  name: string;
  found: boolean;
  /** The line or schedule ID found, or the problem with the lines or schedules that were there. */
  detail: string;
}

/** Pauses or unpauses every legacy job's schedule; fails (PreconditionFailed) before any change if one is missing. */
async function setLegacyPaused(
  client: Client,
  s: SchedulerSpec,
  jobs: JobSpec[],
  paused: boolean,
  note: string,
): Promise<SchedulerChange> {
  for (const job of jobs) {
    const problem = await scheduleProblem(client, s, job);
    if (problem) throw permanent(ErrorType.PreconditionFailed, problem);
  }
  const changed: string[] = [];
  const unchanged: string[] = [];
  for (const job of jobs)
    ((await setPaused(client, legacyScheduleId(s, job), paused, note)) ? changed : unchanged).push(job.name);
  return { kind: 'temporal-schedule', changed, unchanged };
}

/** Where each legacy job's line is in the crontab, or why it is not found exactly once. */
async function findInCrontab(s: SchedulerSpec, jobs: JobSpec[]): Promise<FoundJob[]> {
  const lines = (await readCrontab(s)).split('\n');
  return jobs.map((job) => {
    const problem = locateProblem(lines, job, crontabName(s));
    if (problem) return { name: job.name, found: false, detail: problem };
    const { active, disabled } = locateInCrontab(lines, job);
    const at = active[0] ?? disabled[0]!;
    return { name: job.name, found: true, detail: `${active.length ? '' : '(disabled) '}${lines[at]}` };
  });
}

/** Which legacy jobs' schedules exist, or what the schedules there are instead. */
async function findSchedules(client: Client, s: SchedulerSpec, jobs: JobSpec[]): Promise<FoundJob[]> {
  const out: FoundJob[] = [];
  for (const job of jobs) {
    const problem = await scheduleProblem(client, s, job);
    out.push({
      name: job.name,
      found: !problem,
      detail: problem ?? `schedule ${legacyScheduleId(s, job)}`,
    });
  }
  return out;
}

/** The legacy jobs' schedules that exist, each enabled unless paused. */
async function readSchedules(client: Client, s: SchedulerSpec, jobs: JobSpec[]): Promise<ScheduleEntry[]> {
  const out: ScheduleEntry[] = [];
  for (const job of jobs) {
    const paused = await schedulePaused(client, legacyScheduleId(s, job));
    if (paused !== undefined)
      out.push({ name: job.name, schedule: job.schedule, command: job.command.join(' '), enabled: !paused });
  }
  return out;
}

/** Scheduler activities for both adapters (crontab, Temporal Schedules), bound to a Temporal client. */
export function createSchedulerActivities(deps: { client: Client; taskQueue?: string }) {
  const taskQueue = deps.taskQueue ?? 'migrations';
  const unified = async (
    s: SchedulerSpec,
    job: JobSpec,
    paused: boolean,
    note: string,
    runOn?: string,
  ): Promise<SchedulerChange> => {
    const changed = await setUnifiedPaused(deps.client, s, job, paused, note, taskQueue, runOn);
    return { kind: 'temporal-schedule', changed: changed ? [job.name] : [], unchanged: changed ? [] : [job.name] };
  };
  return {
    /**
     * Disables the legacy jobs where they are, keeping them restorable: the crontab line commented out byte for byte,
     * the schedule paused. A job that is not found exactly once fails (PreconditionFailed) before anything changes.
     */
    disableLegacyJobs: (i: JobsInput) =>
      i.scheduler.kind === 'crontab'
        ? editCrontab(i.scheduler, i.migrationId, 'disable-legacy', i.jobs, i.backupDir, disableLine)
        : setLegacyPaused(deps.client, i.scheduler, i.jobs, true, `disabled by migration ${i.migrationId}`),
    /** Re-enables the legacy jobs (the undo of `disableLegacyJobs`): the original line back, once; never creates. */
    enableLegacyJobs: (i: JobsInput) =>
      i.scheduler.kind === 'crontab'
        ? editCrontab(i.scheduler, i.migrationId, 'enable-legacy', i.jobs, i.backupDir, enableLine)
        : setLegacyPaused(deps.client, i.scheduler, i.jobs, false, `restored by migration ${i.migrationId}`),
    /** Schedules the unified job (its marked crontab line added; schedule created or unpaused). */
    installUnifiedJob: (i: JobInput) =>
      i.scheduler.kind === 'crontab'
        ? editCrontab(i.scheduler, i.migrationId, 'install-unified', [i.job], i.backupDir, installLine)
        : unified(i.scheduler, i.job, false, `installed by migration ${i.migrationId}`, i.runOn),
    /** Unschedules the unified job (crontab line removed; schedule paused, kept for its history). */
    removeUnifiedJob: (i: JobInput) =>
      i.scheduler.kind === 'crontab'
        ? editCrontab(i.scheduler, i.migrationId, 'remove-unified', [i.job], i.backupDir, removeLine)
        : unified(i.scheduler, i.job, true, `removed by migration ${i.migrationId}`),
    /** Where each legacy job is today (read only): the preflight fails a job not found exactly once. */
    findLegacyJobs: async (i: { scheduler: SchedulerSpec; jobs: JobSpec[] }): Promise<FoundJob[]> =>
      i.scheduler.kind === 'crontab'
        ? findInCrontab(i.scheduler, i.jobs)
        : findSchedules(deps.client, i.scheduler, i.jobs),
    /** What is scheduled now. */
    readSchedule: async (i: { scheduler: SchedulerSpec; jobs: JobSpec[] }): Promise<ScheduleEntry[]> =>
      i.scheduler.kind === 'crontab'
        ? parseCrontab(await readCrontab(i.scheduler), i.jobs)
        : readSchedules(deps.client, i.scheduler, i.jobs),
  };
}

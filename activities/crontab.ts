import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { JobSpec, SchedulerSpec } from '../model/plan';
import { ErrorType, permanent } from './errors';
import { runCommand } from './process';
import { migrationFolder } from './folders';
import { withCrontabLock } from './crontab-lock';
import { makePrivateFolder, writeFileSafely } from './files';
import type { FoundJob, ScheduleEntry, SchedulerChange } from './scheduler-types';

const MARKER = '# mo-job:';
/**
 * The marker that finds a unified job's line again: the migration that installed it and the job. Neither a migration
 * ID nor a job name holds a `/` or a blank, and cron hands the comment to sh, which ignores it.
 */
const marker = (migrationId: string, job: string) => `${MARKER}${migrationId}/${job}`;
/** How a legacy line is disabled: commented out behind this prefix, the original kept byte for byte after it. */
const disabledPrefix = (migrationId: string, job: string) => `#mo-disabled:${migrationId}/${job}# `;
/** The prefix of the oldest versions (which disabled a rewritten, marked copy of the line). */
const OLD_DISABLED = '#mo-disabled# ';

/** A line this product wrote: a unified job's line or a disabled legacy line, with the migration and job it names. */
export interface OwnedLine {
  kind: 'unified' | 'disabled';
  job: string;
  /** Undefined: written by an earlier version, whose markers (`# mo-job:<name>`, `#mo-disabled:<name># `) name none. */
  migrationId?: string;
  /** A disabled line: the original line, byte for byte. */
  original?: string;
}

/** Which line of ours `line` is, if any (every marker form, the earlier versions' too). */
export function ownedLine(line: string): OwnedLine | undefined {
  const d = /^#mo-disabled:(?:([^\s#/]+)\/)?([^\s#/]+)# /.exec(line);
  if (d)
    return { kind: 'disabled', job: d[2]!, ...(d[1] ? { migrationId: d[1] } : {}), original: line.slice(d[0].length) };
  if (line.startsWith(OLD_DISABLED)) {
    const original = line.slice(OLD_DISABLED.length);
    const copy = ownedLine(original);
    return copy?.kind === 'unified' ? { kind: 'disabled', job: copy.job, original } : undefined;
  }
  const u = /\s# mo-job:(?:([^\s/]+)\/)?([^\s/]+)$/.exec(line);
  if (u && isJobLine(line)) return { kind: 'unified', job: u[2]!, ...(u[1] ? { migrationId: u[1] } : {}) };
  return undefined;
}

/** Whether a line of ours belongs to the migration at hand. */
export type Mine = (owned: OwnedLine, line: string) => boolean;

/** The owner of a line of ours, in words. */
const ownerText = (o: OwnedLine) =>
  o.migrationId ? `migration ${o.migrationId}` : 'a migration of an earlier version (its marker names no migration)';

/**
 * Quotes one argument for the crontab line: for /bin/sh, which cron runs the line with, and for cron itself, which
 * ends the command at an unescaped `%`. Each `%` is written `\%` outside the single quotes (cron turns it into `%`,
 * which sh reads literally); inside them a backslash just before it would make cron read `\\%` as a backslash and then
 * the end of the command, so the quotes are closed first.
 */
export function shellQuote(arg: string): string {
  if (/^[A-Za-z0-9_/.=:,+@-]+$/.test(arg)) return arg;
  if (arg === '') return "''";
  return arg
    .split('%')
    .map((part) => (part === '' ? '' : `'${part.replace(/'/g, `'\\''`)}'`))
    .join('\\%');
}

/** How earlier versions quoted (a legacy line a plan locates by schedule and command may have been written so). */
const oldShellQuote = (arg: string) =>
  (/^[A-Za-z0-9_/.=:,+@-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`).replace(/%/g, '\\%');

/**
 * The crontab line of a job we install (the unified job), with the marker that finds it again. A line break or NUL
 * would survive the quoting and end the line early, the rest becoming a crontab line of its own: such a job is
 * refused (the plan schema refuses it first; this is for a plan that did not come through it).
 */
export function cronLine(job: JobSpec, migrationId: string): string {
  const line = `${job.schedule} ${job.command.map(shellQuote).join(' ')} ${marker(migrationId, job.name)}`;
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
const bare = (job: JobSpec, quote = shellQuote) => `${job.schedule} ${job.command.map(quote).join(' ')}`;

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
  return t === bare(job) || t === bare(job, oldShellQuote) || t.endsWith(`${MARKER}${job.name}`);
}

/** Where a legacy job stands in a crontab: its active lines, ours disabled for it, and others' its locator picks. */
export interface JobLocation {
  active: number[];
  disabled: number[];
  /** Lines another migration disabled whose original line the job's locator picks. */
  foreign: number[];
}

/** Finds a legacy job's lines: the active ones its locator picks, and the disabled ones by whose they are. */
export function locateInCrontab(lines: string[], job: JobSpec, mine: Mine): JobLocation {
  const at: JobLocation = { active: [], disabled: [], foreign: [] };
  lines.forEach((l, i) => {
    const o = ownedLine(l);
    if (o?.kind === 'disabled') {
      if (o.job === job.name && mine(o, l)) at.disabled.push(i);
      else if (!mine(o, l) && isJobLine(o.original!) && matchesJob(o.original!, job)) at.foreign.push(i);
    } else if (isJobLine(l) && matchesJob(l, job)) at.active.push(i);
  });
  return at;
}

/** How a job is found, in words (for errors and the preflight report). */
export function locatorText(job: JobSpec): string {
  if (job.line !== undefined) return `line ${JSON.stringify(job.line)}`;
  if (job.match !== undefined) return `match ${JSON.stringify(job.match)}`;
  return `line ${JSON.stringify(bare(job))} (schedule and command; give line or match to find another)`;
}

/**
 * A crontab line as messages show it: environment values, URL passwords and secret-looking assignments or options
 * masked (crontabs often hold the secrets their jobs need).
 */
export function shownLine(line: string): string {
  if (/^\s*[A-Za-z_][A-Za-z0-9_]*\s*=/.test(line)) return line.replace(/=.*/, '=***');
  return line
    .replace(/(\/\/[^\s/@:]*:)[^\s/@]*@/g, '$1***@')
    .replace(/\b([A-Za-z0-9_-]*(?:pass|pwd|secret|token|key|auth|cred)[A-Za-z0-9_-]*[=:])\S+/gi, '$1***');
}

/** The job lines of a crontab, for messages that say what was there. */
const seen = (lines: string[]) => {
  const jobs = lines.filter(isJobLine);
  return jobs.length ? jobs.map((l) => `  ${shownLine(l)}`).join('\n') : '  (no job lines)';
};

/** Why a legacy job's lines cannot be edited, or undefined: it must be found exactly once, and not be another's. */
export function locateProblem(lines: string[], job: JobSpec, where: string, mine: Mine): string | undefined {
  const { active, disabled, foreign } = locateInCrontab(lines, job, mine);
  const n = active.length + disabled.length;
  if (n === 0 && foreign.length)
    return `legacy job ${job.name}: its line in ${where} is already disabled by ${foreign
      .map((i) => `${ownerText(ownedLine(lines[i]!)!)}: ${shownLine(lines[i]!)}`)
      .join('; ')} (that migration must finish or roll back first)`;
  if (n === 0)
    return `legacy job ${job.name}: no line in ${where} matches its ${locatorText(job)}; the job lines there are:\n${seen(lines)}`;
  if (n > 1)
    return `legacy job ${job.name}: ${n} lines in ${where} match its ${locatorText(job)} (it must match one):\n${[...active, ...disabled].map((i) => `  ${shownLine(lines[i]!)}`).join('\n')}`;
  return undefined;
}

function crontabArgs(s: SchedulerSpec, ...rest: string[]): string[] {
  return s.kind === 'crontab' && s.user ? ['-u', s.user, ...rest] : rest;
}

export const crontabName = (s: SchedulerSpec) =>
  s.kind === 'crontab' && s.user ? `the crontab of ${s.user}` : 'the crontab';
const crontabUser = (s: SchedulerSpec) => (s.kind === 'crontab' && s.user) || os.userInfo().username;

/** The lines of a crontab text, without the empty one after the last newline. */
const splitLines = (text: string) => text.split('\n').filter((l, i, all) => l !== '' || i < all.length - 1);

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
    await fs.writeFile(file, text.endsWith('\n') || text === '' ? text : `${text}\n`, { mode: 0o600 });
    const r = await runCommand('crontab', crontabArgs(s, file));
    if (r.code !== 0) throw new Error(`crontab install failed (${r.code}): ${r.stderr.trim()}`);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** The lines added and removed between two crontab texts (as multisets, in order). */
export function crontabDiff(before: string, now: string): { added: string[]; removed: string[] } {
  const count = new Map<string, number>();
  for (const l of splitLines(before)) count.set(l, (count.get(l) ?? 0) + 1);
  const added: string[] = [];
  for (const l of splitLines(now)) {
    const n = count.get(l) ?? 0;
    if (n > 0) count.set(l, n - 1);
    else added.push(l);
  }
  const left = new Map(count);
  const removed = splitLines(before).filter((l) => {
    const n = left.get(l) ?? 0;
    if (n > 0) left.set(l, n - 1);
    return n > 0;
  });
  return { added, removed };
}

/** The retryable refusal of a write whose crontab moved since it was read: the retry re-reads and edits on top. */
function crontabMoved(where: string, before: string, now: string): ApplicationFailure {
  const { added, removed } = crontabDiff(before, now);
  const lines = [...added.map((l) => `  + ${shownLine(l)}`), ...removed.map((l) => `  - ${shownLine(l)}`)];
  return ApplicationFailure.create({
    type: ErrorType.CrontabChanged,
    nonRetryable: false,
    message:
      `${where} changed while this change was being made (by hand or by another program), so it was not written; ` +
      `it is retried on top of the new text. Changed lines:\n${lines.join('\n') || '  (only blank lines or order)'}`,
  });
}

/**
 * Keeps the crontab before a change: once per migration and operation (a retried activity keeps the first save, not an
 * already-changed crontab), 0600 in a 0700 folder of the migration, never written through a symlink planted there (a
 * crontab holds its environment's secrets).
 */
async function saveCrontab(backupDir: string, migrationId: string, op: string, text: string): Promise<string> {
  const dir = path.join(migrationFolder(backupDir, migrationId), 'crontab');
  await makePrivateFolder(dir);
  const savedTo = path.join(dir, `before-${op}.bak`);
  await writeFileSafely(savedTo, text, { keepExisting: true });
  return savedTo;
}

/**
 * Which lines of ours are `migrationId`'s: those naming it, and those of an earlier version (which name no migration)
 * that this migration's own save shows it added (earlier versions saved the crontab before each change they made).
 */
export async function mineFor(backupDir: string, migrationId: string): Promise<Mine> {
  const folder = migrationFolder(backupDir, migrationId);
  const before = (op: string) =>
    fs.readFile(path.join(folder, `crontab.before-${op}.bak`), 'utf8').then(
      (t) => new Set(t.split('\n')),
      () => undefined,
    );
  const saves = { unified: await before('install-unified'), disabled: await before('disable-legacy') };
  return (o, line) =>
    o.migrationId === migrationId ||
    (o.migrationId === undefined && saves[o.kind] !== undefined && !saves[o.kind]!.has(line));
}

/** What an edit knows besides the lines: whose lines are the migration's own, and the crontab's name. */
export interface EditContext {
  migrationId: string;
  where: string;
  mine: Mine;
}

/** Changes one job's lines in place; true if something changed. Throws when the job is not there to change. */
export type LineEdit = (lines: string[], job: JobSpec, c: EditContext) => boolean;

/** Comments the legacy job's line out, keeping it byte for byte behind the prefix; already disabled: no change. */
export const disableLine: LineEdit = (lines, job, c) => {
  const problem = locateProblem(lines, job, c.where, c.mine);
  if (problem) throw permanent(ErrorType.PreconditionFailed, problem);
  const { active } = locateInCrontab(lines, job, c.mine);
  if (!active.length) return false;
  lines[active[0]!] = `${disabledPrefix(c.migrationId, job.name)}${lines[active[0]!]}`;
  return true;
};

/** Restores the line this migration's `disableLine` commented out, exactly as it was; already active: no change. */
export const enableLine: LineEdit = (lines, job, c) => {
  const problem = locateProblem(lines, job, c.where, c.mine);
  if (problem) throw permanent(ErrorType.PreconditionFailed, problem);
  const { disabled } = locateInCrontab(lines, job, c.mine);
  if (!disabled.length) return false;
  lines[disabled[0]!] = ownedLine(lines[disabled[0]!]!)!.original!;
  return true;
};

/** The index of the migration's own line of the unified job, or -1. */
const ownUnified = (lines: string[], job: JobSpec, c: EditContext) =>
  lines.findIndex((l) => {
    const o = ownedLine(l);
    return o?.kind === 'unified' && o.job === job.name && c.mine(o, l);
  });

/** Adds the unified job's marked line (or rewrites its own to the plan's); present as planned: no change. */
export const installLine: LineEdit = (lines, job, c) => {
  const line = cronLine(job, c.migrationId);
  const i = ownUnified(lines, job, c);
  if (i >= 0 && lines[i] === line) return false;
  if (i >= 0) lines[i] = line;
  else lines.push(line);
  return true;
};

/** Removes the migration's own line of the unified job (another migration's is left); absent: no change. */
export const removeLine: LineEdit = (lines, job, c) => {
  const i = ownUnified(lines, job, c);
  if (i < 0) return false;
  lines.splice(i, 1);
  return true;
};

/** Called between the crontab's last read and its write (tests put a person's edit there). */
export type BeforeWrite = () => Promise<void>;

/**
 * Applies an edit to each job's line as a compare-and-swap under the host-wide lock of the user's crontab: read, edit,
 * save the previous crontab once per migration and operation, re-read and refuse (retryable, naming the lines that
 * changed) when the crontab moved since it was read, then write once. A person's `crontab -e` takes no lock of ours,
 * so it is the re-read that keeps it: the retry edits on top of it.
 */
export async function editCrontab(
  s: SchedulerSpec,
  at: { migrationId: string; op: string; backupDir: string },
  jobs: JobSpec[],
  edit: LineEdit,
  beforeWrite?: BeforeWrite,
): Promise<SchedulerChange> {
  const c: EditContext = {
    migrationId: at.migrationId,
    where: crontabName(s),
    mine: await mineFor(at.backupDir, at.migrationId),
  };
  return withCrontabLock(crontabUser(s), async () => {
    const before = await readCrontab(s);
    const lines = splitLines(before);
    const changed: string[] = [];
    const unchanged: string[] = [];
    for (const job of jobs) (edit(lines, job, c) ? changed : unchanged).push(job.name);
    if (!changed.length) return { kind: 'crontab', changed, unchanged };
    const savedTo = await saveCrontab(at.backupDir, at.migrationId, at.op, before);
    await beforeWrite?.();
    const now = await readCrontab(s);
    if (now !== before) throw crontabMoved(c.where, before, now);
    await writeCrontab(s, lines.join('\n'));
    return { kind: 'crontab', changed, unchanged, savedTo };
  });
}

/**
 * Parses the job lines of a crontab, active and disabled by this product. A line is named by its marker (a job we
 * installed), its disabled prefix, or the job among `jobs` whose locator picks it (a legacy line written by hand).
 */
export function parseCrontab(text: string, jobs: JobSpec[] = []): ScheduleEntry[] {
  const out: ScheduleEntry[] = [];
  for (const raw of text.split('\n')) {
    const o = ownedLine(raw);
    const disabled = o?.kind === 'disabled';
    const line = disabled ? o.original! : raw;
    if (!isJobLine(line)) continue;
    const m = /^(@\S+|\S+\s+\S+\s+\S+\s+\S+\s+\S+)\s+(.*?)(?:\s+# mo-job:\S+)?$/.exec(line.trim());
    if (!m) continue;
    const name = o?.job ?? jobs.find((j) => matchesJob(line, j))?.name;
    out.push({
      ...(name ? { name } : {}),
      ...(o?.migrationId ? { migrationId: o.migrationId } : {}),
      schedule: m[1]!,
      command: m[2]!,
      enabled: !disabled,
      line,
    });
  }
  return out;
}

/** Where each legacy job's line is in the crontab, or why it is not found exactly once or is another's. */
export async function findInCrontab(s: SchedulerSpec, jobs: JobSpec[], migrationId?: string): Promise<FoundJob[]> {
  const lines = splitLines(await readCrontab(s));
  // At the preflight only lines naming this migration are its own; without an ID, any of ours (earlier callers).
  const mine: Mine = (o) => migrationId === undefined || o.migrationId === migrationId;
  return jobs.map((job, i) => {
    const problem = locateProblem(lines, job, crontabName(s), mine);
    const { active, disabled, foreign } = locateInCrontab(lines, job, mine);
    if (!problem && foreign.length)
      return {
        name: job.name,
        found: false,
        detail: `legacyJobs[${i}] (${job.name}): its ${locatorText(job)} also picks a line already disabled by ${foreign.map((f) => `${ownerText(ownedLine(lines[f]!)!)}: ${shownLine(lines[f]!)}`).join('; ')}`,
      };
    if (problem) return { name: job.name, found: false, detail: `legacyJobs[${i}]: ${problem}` };
    const at = active[0] ?? disabled[0]!;
    return { name: job.name, found: true, detail: `${active.length ? '' : '(disabled) '}${shownLine(lines[at]!)}` };
  });
}

/** Another migration's line of the unified job in the crontab, in words (the preflight refuses it), or undefined. */
export async function crontabUnifiedOwner(
  s: SchedulerSpec,
  migrationId: string,
  job: JobSpec,
): Promise<string | undefined> {
  const theirs = splitLines(await readCrontab(s)).filter((l) => {
    const o = ownedLine(l);
    return o?.kind === 'unified' && o.job === job.name && o.migrationId !== migrationId;
  });
  if (!theirs.length) return undefined;
  return (
    `unifiedJob.name: ${job.name} is already scheduled in ${crontabName(s)} by ` +
    `${theirs.map((l) => `${ownerText(ownedLine(l)!)} (${shownLine(l)})`).join('; ')}; ` +
    'finish or roll back that migration, or give this plan a unified job of another name'
  );
}

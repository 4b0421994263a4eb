/**
 * Cron expressions as the plan's two schedulers read them, so a plan says what its scheduler will do. Workflow-safe:
 * pure and deterministic, no imports (the plan schema runs inside the workflow).
 *
 * `crontab` is Debian's cron (Vixie cron 3.0pl1, `man 5 crontab`), checked against what `crontab -n` installs:
 * five fields (minute 0-59, hour 0-23, day-of-month 1-31, month 1-12 or jan-dec, day-of-week 0-7 or sun-sat, 0 and 7
 * being Sunday), each `*`, a number, a range `a-b`, a step after a range or `*` (`a-b/n`, `*\/n`), or a list of those;
 * names are three letters, any case, and (unlike what the man page says) cron takes them in ranges and lists too
 * (`mon-fri`, `jan,jul`). Or one of @reboot @yearly @annually @monthly @weekly @daily @midnight @hourly (lower case).
 * Stricter than cron, which silently accepts them: a reversed range (`5-1` never matches), text after a field's value
 * (`5!`, `*\/5/2`, `1-2-3`), and a schedule that can never run (`0 0 31 2 *`).
 *
 * `temporal-schedule` is what the Temporal server makes of a schedule's `cronExpressions` (`parseCronString` and
 * `makeRange` in service/worker/scheduler/calendar.go, temporalio/temporal 1.31-1.32): the same five fields, where a
 * single value with a step runs to the end (`5/15` is 5,20,35,50), month names are any prefix of three letters or more
 * (`jan`, `sept`, `october`), day names any prefix of two or more (`mo`, `tues`); the descriptors without @reboot; and
 * `@every <interval>[/<phase>]` (a Go duration with `d` for days, at least 1s, the phase shorter than the interval).
 * Day-of-month and day-of-week must BOTH match there (cron: either, when both are restricted). Refused although the
 * server takes them: six or seven fields (Temporal reads a sixth field as the year and seven as seconds first, not the
 * Quartz layout people mean by six fields), a `CRON_TZ=`/`TZ=` prefix (the job's schedule is created without a time
 * zone: UTC, and a zone name cannot be checked here), a `#` comment, signs in numbers, and never-running schedules.
 */

/** Which scheduler reads the expression: the plan's `scheduler.kind`. */
export type CronDialect = 'crontab' | 'temporal-schedule';

/** The times a five-field expression names: each field's values (day of week 0-6, Sunday 0). */
export interface CronCalendar {
  kind: 'calendar';
  minute: number[];
  hour: number[];
  dayOfMonth: number[];
  month: number[];
  dayOfWeek: number[];
  /** How the two day fields combine: cron takes either when both are restricted, Temporal always needs both. */
  days: 'both' | 'either';
}

/** A parsed schedule: calendar times, once at boot (crontab), or a fixed interval (Temporal). */
export type CronSchedule = CronCalendar | { kind: 'reboot' } | { kind: 'every'; intervalMs: number; phaseMs: number };

/** The schedule, or every problem found in the expression (each naming the field and what was expected). */
export type CronParse = { ok: true; schedule: CronSchedule } | { ok: false; problems: string[] };

interface Field {
  name: string;
  min: number;
  max: number;
  /** Full names, the first one standing for `min`. */
  names?: readonly string[];
}

const MONTH_NAMES = [
  'january',
  'february',
  'march',
  'april',
  'may',
  'june',
  'july',
  'august',
  'september',
  'october',
  'november',
  'december',
];
const DAY_NAMES = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
const FIELDS: readonly Field[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTH_NAMES },
  { name: 'day-of-week', min: 0, max: 7, names: DAY_NAMES },
];
/** The longest each month can be (February in a leap year). */
const MONTH_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

const DESCRIPTORS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};
const CRONTAB_DESCRIPTORS = ['@reboot', ...Object.keys(DESCRIPTORS)];
const TEMPORAL_DESCRIPTORS = [...Object.keys(DESCRIPTORS), '@every <interval>'];
const FIVE_FIELDS = 'a five-field cron expression (minute hour day-of-month month day-of-week)';

const fail = (...problems: string[]): CronParse => ({ ok: false, problems });

/** Parses a cron expression as `dialect`'s scheduler reads it. */
export function parseCron(expression: string, dialect: CronDialect): CronParse {
  // Only blanks are trimmed: a newline or any other character is part of a field, and refused there.
  const text = expression.replace(/^[ \t]+|[ \t]+$/g, '');
  if (text.startsWith('@')) return descriptor(text, dialect);
  if (dialect === 'temporal-schedule') {
    const refused = temporalOnlyProblem(text);
    if (refused) return fail(refused);
  }
  const tokens = text === '' ? [] : text.split(/[ \t]+/);
  if (tokens.length !== 5) return fail(fieldCountProblem(tokens.length, dialect));
  return calendar(tokens, dialect);
}

/** The problems of an expression (none when `dialect`'s scheduler runs it as the plan means). */
export function cronProblems(expression: string, dialect: CronDialect): string[] {
  const parsed = parseCron(expression, dialect);
  return parsed.ok ? [] : parsed.problems;
}

function descriptor(text: string, dialect: CronDialect): CronParse {
  if (dialect === 'crontab') {
    if (text === '@reboot') return { ok: true, schedule: { kind: 'reboot' } };
    if (DESCRIPTORS[text]) return calendar(DESCRIPTORS[text].split(' '), dialect);
    return fail(`${q(text)} is not a crontab schedule (expected one of ${CRONTAB_DESCRIPTORS.join(', ')})`);
  }
  if (text === '@every' || text.startsWith('@every ')) return every(text.slice('@every '.length));
  if (DESCRIPTORS[text]) return calendar(DESCRIPTORS[text].split(' '), dialect);
  return fail(
    `${q(text)} is not a Temporal schedule (expected one of ${TEMPORAL_DESCRIPTORS.join(', ')}` +
      `${text === '@reboot' ? '; a Temporal Schedule has no boot to run at' : ''})`,
  );
}

/** What the Temporal server would take but this plan refuses, with why. */
function temporalOnlyProblem(text: string): string | undefined {
  if (/^(CRON_)?TZ=/.test(text))
    return 'a time zone prefix (CRON_TZ=…) is not supported here: the schedule runs in UTC, write the times in UTC';
  if (text.includes('#')) return 'a comment (#) is not supported here: write the schedule alone';
  return undefined;
}

function fieldCountProblem(count: number, dialect: CronDialect): string {
  if (dialect === 'temporal-schedule' && count === 6)
    return `expected ${FIVE_FIELDS}, got 6 fields: Temporal would read the sixth field as the year, not seconds in front (Quartz style)`;
  if (dialect === 'temporal-schedule' && count === 7)
    return `expected ${FIVE_FIELDS}, got 7 fields: seconds and years are not supported here (for intervals under a minute use @every)`;
  const descriptors = dialect === 'crontab' ? CRONTAB_DESCRIPTORS : TEMPORAL_DESCRIPTORS;
  return `expected ${FIVE_FIELDS} or one of ${descriptors.join(', ')}, got ${count || 'no'} field${count === 1 ? '' : 's'}`;
}

/** The five fields, each parsed as `dialect` reads it, and whether the days they name exist. */
function calendar(tokens: string[], dialect: CronDialect): CronParse {
  const problems: string[] = [];
  const values = FIELDS.map((f, i) => {
    const r = fieldValues(tokens[i]!, f, dialect);
    if (typeof r === 'string') problems.push(r);
    return typeof r === 'string' ? [] : r;
  });
  if (problems.length) return fail(...problems);
  const [minute, hour, dayOfMonth, month, dayOfWeek] = values as [number[], number[], number[], number[], number[]];
  // cron: a day field written with `*` (even `*/2`) makes both fields count, else either one does.
  const days = dialect === 'crontab' && !tokens[2]!.startsWith('*') && !tokens[4]!.startsWith('*') ? 'either' : 'both';
  const schedule: CronCalendar = { kind: 'calendar', minute, hour, dayOfMonth, month, dayOfWeek, days };
  const never = days === 'both' ? missingDay(schedule, tokens) : undefined;
  return never ? fail(never) : { ok: true, schedule };
}

/** A schedule whose days of month fall in none of its months never runs (`0 0 31 2 *`, `0 0 31 4,6 *`). */
function missingDay(c: CronCalendar, tokens: string[]): string | undefined {
  const exists = c.month.some((m) => c.dayOfMonth.some((d) => d <= MONTH_DAYS[m - 1]!));
  return exists ? undefined : `never runs: day-of-month ${q(tokens[2]!)} is in none of the months ${q(tokens[3]!)}`;
}

/** A field's values (sorted, day of week 7 as 0), or what is wrong with it. */
function fieldValues(token: string, f: Field, dialect: CronDialect): number[] | string {
  const values = new Set<number>();
  for (const part of token.split(',')) {
    const r = partValues(part, f, dialect);
    if (typeof r === 'string')
      return part === token || part === ''
        ? `${f.name} field ${q(token)} ${r}`
        : `${f.name} field ${q(token)}: ${q(part)} ${r}`;
    for (const v of r) values.add(f.names === DAY_NAMES && v === 7 ? 0 : v);
  }
  return [...values].sort((a, b) => a - b);
}

const q = (s: string) => JSON.stringify(s);

/** One list item: `*`, a value or a range, with an optional step. */
function partValues(part: string, f: Field, dialect: CronDialect): number[] | string {
  if (part === '') return 'has an empty list item';
  const [base = '', stepText, extra] = part.split('/');
  if (extra !== undefined) return 'has more than one step ("/")';
  const step = stepText === undefined ? 1 : stepOf(stepText);
  if (typeof step === 'string') return step;
  const range = rangeOf(base, f, dialect, stepText !== undefined);
  if (typeof range === 'string') return range;
  const out: number[] = [];
  for (let v = range[0]; v <= range[1]; v += step) out.push(v);
  return out;
}

function stepOf(text: string): number | string {
  if (!/^\d+$/.test(text)) return `has a step ${q(text)} that is not a number (expected 1 or more)`;
  const n = Number(text);
  return n >= 1 ? n : 'has a step of 0 (expected 1 or more)';
}

/** The first and last value of `*`, `a-b` or `a` (with a step, Temporal runs `a` to the field's end). */
function rangeOf(base: string, f: Field, dialect: CronDialect, stepped: boolean): [number, number] | string {
  if (base === '*') return [f.min, f.max];
  const ends = base.split('-');
  if (ends.length > 2) return 'has more than one "-" (expected a range a-b)';
  const from = valueOf(ends[0]!, f, dialect);
  const to = ends[1] === undefined ? undefined : valueOf(ends[1], f, dialect);
  if (typeof from === 'string') return ends.length === 1 ? from : `starts with ${q(ends[0]!)}, which ${from}`;
  if (to === undefined) {
    if (!stepped) return [from, from];
    if (dialect === 'crontab')
      return 'has a step after a single value: cron takes a step after a range or * (e.g. 5-59/10 or */10)';
    return [from, f.max];
  }
  if (typeof to === 'string') return `ends with ${q(ends[1] ?? '')}, which ${to}`;
  if (to >= from) return [from, to];
  const sunday = f.names === DAY_NAMES && to === 0 ? '; Sunday ends a range as 7' : '';
  return `is a reversed range (${from} comes after ${to}${sunday})`;
}

/** A number in the field's range, or a month or day name as `dialect` reads names; else why not. */
function valueOf(text: string, f: Field, dialect: CronDialect): number | string {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    return n >= f.min && n <= f.max ? n : `is out of range ${f.min}-${f.max}`;
  }
  const named = f.names && nameIndex(text.toLowerCase(), f.names, dialect);
  if (named !== undefined && named >= 0) return f.min + named;
  return `is not ${expected(f, dialect)}`;
}

/** cron: the name's first three letters exactly; Temporal: a prefix of three letters (months) or two (days). */
function nameIndex(text: string, names: readonly string[], dialect: CronDialect): number {
  if (dialect === 'crontab') return names.findIndex((n) => n.slice(0, 3) === text);
  const shortest = names === DAY_NAMES ? 2 : 3;
  return text.length >= shortest ? names.findIndex((n) => n.startsWith(text)) : -1;
}

function expected(f: Field, dialect: CronDialect): string {
  const numbers = `a number ${f.min}-${f.max}`;
  if (!f.names) return numbers;
  const what = f.names === DAY_NAMES ? 'day' : 'month';
  const first = f.names[0]!;
  const last = f.names[f.names.length - 1]!;
  return dialect === 'crontab'
    ? `${numbers} or a ${what} name (${first.slice(0, 3)}-${last.slice(0, 3)})`
    : `${numbers} or a ${what} name (${first}-${last}, or its first ${f.names === DAY_NAMES ? 'two' : 'three'} letters or more)`;
}

// A Go duration (time.ParseDuration) with Temporal's `d` for 24 hours: one or more number-unit pairs.
const DURATION_PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d)/gy;
const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** Milliseconds of a Go duration (`90s`, `1h30m`, `1.5d`), or undefined when it is not one. */
function goDurationMs(text: string): number | undefined {
  if (text === '0') return 0;
  DURATION_PART.lastIndex = 0;
  let total = 0;
  let end = 0;
  let m: RegExpExecArray | null;
  while ((m = DURATION_PART.exec(text)) !== null) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    end = DURATION_PART.lastIndex;
  }
  return end === text.length && end > 0 ? total : undefined;
}

/** `@every <interval>[/<phase>]`: the interval at least a second, the phase (the offset into it) shorter. */
function every(rest: string): CronParse {
  const [intervalText = '', phaseText, extra] = rest.split('/');
  const intervalMs = goDurationMs(intervalText);
  const phaseMs = phaseText === undefined ? 0 : goDurationMs(phaseText);
  const what = 'expected a duration such as 90s, 15m, 2h, 1d or 1h30m';
  if (rest === '') return fail(`@every needs an interval (${what})`);
  if (extra !== undefined) return fail(`@every ${q(rest)}: expected <interval>/<phase>, got more than one "/"`);
  if (intervalMs === undefined) return fail(`@every interval ${q(intervalText)} is not a duration (${what})`);
  if (phaseMs === undefined) return fail(`@every phase ${q(phaseText ?? '')} is not a duration (${what})`);
  if (intervalMs < 1000) return fail(`@every interval ${q(intervalText)} is too short (expected 1s or more)`);
  if (phaseMs >= intervalMs)
    return fail(`@every phase ${q(phaseText ?? '')} is not shorter than the interval ${q(intervalText)}`);
  return { ok: true, schedule: { kind: 'every', intervalMs, phaseMs } };
}

/** What cron runs of a crontab line's command: the shell command and the text it gets on standard input, if any. */
export interface CronCommand {
  command: string;
  input?: string;
}

/**
 * Splits a crontab line's command field as cron does (Vixie cron's `do_command`): the first `%` not preceded by a
 * backslash ends the command, a backslash right before a `%` is dropped (`\%` runs as `%`), every other backslash
 * stays; after that `%`, the rest is the command's standard input, each unescaped `%` a newline. A backslash that was
 * itself escaped (`\\`) escapes nothing: `\\%` is a backslash and then the end of the command.
 */
export function cronCommand(field: string): CronCommand {
  let command = '';
  let escaped = false;
  for (let i = 0; i < field.length; i++) {
    const ch = field[i]!;
    if (escaped) {
      escaped = false;
      command = ch === '%' ? `${command.slice(0, -1)}%` : command + ch;
    } else if (ch === '%') {
      return { command, input: cronInput(field.slice(i + 1)) };
    } else {
      escaped = ch === '\\';
      command += ch;
    }
  }
  return { command };
}

/** The standard input part after the command, as cron's child writes it: `%` a newline, `\%` a `%`. */
function cronInput(text: string): string {
  let out = '';
  let escaped = false;
  for (const ch of text) {
    let c = ch;
    if (escaped) {
      if (c !== '%') out += '\\';
    } else if (c === '%') c = '\n';
    escaped = c === '\\';
    if (!escaped) out += c;
  }
  return escaped ? `${out}\\` : out;
}

/**
 * The plan's rules that look at more than one field, as pure functions (workflow-safe: no imports but the pure cron
 * parser and the secret patterns). Each takes the fields it needs, already known to be well-formed (`undefined` stands for one that is not:
 * its own issue is reported elsewhere), and returns its problems with paths relative to the part of the plan it was
 * given. `plan-sections.ts` applies them from the schema.
 */

import { cronProblems } from './cron';
import { hasSecretParam, isSecretName } from './redact';
import { sqlStatementProblem } from './sql-rules';

/** One problem a rule found: where (relative to the part it was given) and what was expected. */
export interface RuleIssue {
  path: (string | number)[];
  message: string;
  /** The key at `path` is the problem (a secret-named key), not its value. */
  key?: true;
}

/** A URL with a password in it (`scheme://user:password@host`, `redis://:password@host`). */
export const CREDENTIAL_URL = /[a-z][a-z0-9+.-]*:\/\/[^/\s:@]*:[^/\s@]+@/i;
// An environment assignment as a command line writes it: `AWS_SECRET_ACCESS_KEY=…`, `PGPASSWORD=…` (not `=$VAR`).
const ENV_ASSIGNMENT = /(?<![\w-])([A-Z][A-Z0-9_]*)=(?!\$)(\S+)/g;
const SHELL_META = /[|;&<>`]|\$\(|\$\{/;

/** How a value reads in a message: `the string "soon"`, `a list`, `number 3600`, `nothing`. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return `${typeof v} ${JSON.stringify(v)}`;
}

/** Why a string of the plan holds a secret written literally, or nothing. */
function secretInString(v: string): string | undefined {
  if (CREDENTIAL_URL.test(v)) return 'contains a URL with credentials';
  if (hasSecretParam(v)) return 'contains a URL with a token-like query parameter (?api_key=, ?token=, …)';
  for (const m of v.matchAll(ENV_ASSIGNMENT))
    if (isSecretName(m[1]!)) return `sets the secret variable ${m[1]} to a value written in the plan`;
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(v)) return 'contains a private key';
  return undefined;
}

/**
 * Any string anywhere that looks like an inline secret (a URL with a password or a token parameter, a secret
 * variable set on a command line, a private key), or a value under a secret-named key (`isSecretName`). The keys of
 * `envFrom` name container variables whose values are the NAMES of the worker's: those are looked at as values.
 */
export function inlineSecrets(v: unknown, path: (string | number)[] = []): RuleIssue[] {
  if (typeof v === 'string') {
    const why = secretInString(v);
    return why
      ? [{ path, message: `${why}: name an environment variable instead (secrets are never written in a plan)` }]
      : [];
  }
  if (Array.isArray(v)) return v.flatMap((x, i) => inlineSecrets(x, [...path, i]));
  if (v === null || typeof v !== 'object') return [];
  const namesOnly = path[path.length - 1] === 'envFrom';
  return Object.entries(v).flatMap(([k, x]): RuleIssue[] =>
    !namesOnly && isSecretName(k) && x !== '' && x !== null
      ? [
          {
            path: [...path, k],
            message:
              'a secret written in the plan: reference an environment variable with a field ending in Env (or envFrom) instead',
            key: true,
          },
        ]
      : inlineSecrets(x, [...path, k]),
  );
}

/** A control character as a message shows it: `\n`, `\r`, `\t`, `\0`, else its code (`\x1b`). */
function showControl(c: string): string {
  const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\0': '\\0' };
  return named[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
}

/** The first control character (C0 or DEL) not in `allowed`, with its position counted from 1. */
function controlCharacter(s: string, allowed = ''): { char: string; position: number } | undefined {
  for (let i = 0; i < s.length; i++) {
    const code = s.charCodeAt(i);
    if ((code < 0x20 || code === 0x7f) && !allowed.includes(s[i]!)) return { char: s[i]!, position: i + 1 };
  }
  return undefined;
}

/**
 * Why a value that must stay one line (a command argument, a path, a schedule, a name) is not, or undefined: a
 * newline in an argument would survive quoting and start a line of its own in a crontab, and no control character
 * (tab included) belongs in a command, a path or a schedule.
 */
export function singleLineProblem(s: string): string | undefined {
  const c = controlCharacter(s);
  return c
    ? `contains a control character (${showControl(c.char)} at position ${c.position}): commands, paths and schedules are single lines`
    : undefined;
}

/**
 * Why text matched against a crontab line as it stands (a job's `line` or `match`) is not one line, or undefined:
 * tabs may, as crontabs aligned by hand have them between fields.
 */
export function crontabTextProblem(s: string): string | undefined {
  const c = controlCharacter(s, '\t');
  return c
    ? `contains a control character (${showControl(c.char)} at position ${c.position}): commands, paths and schedules are single lines (a crontab line may hold tabs)`
    : undefined;
}

/** Why free text (a description, an SQL query) holds a control character, or undefined: tabs and line breaks may. */
export function proseProblem(s: string): string | undefined {
  const c = controlCharacter(s, '\t\n\r');
  return c
    ? `contains a control character (${showControl(c.char)} at position ${c.position}): only tabs and line breaks belong in text`
    : undefined;
}

/** The keys of a mapping whose keys are paths (container mounts) are single lines too. */
export function singleLineKeys(keys: readonly string[]): RuleIssue[] {
  return keys.flatMap((k) => {
    const problem = singleLineProblem(k);
    return problem ? [{ path: [k], message: problem, key: true as const }] : [];
  });
}

/** Each job's schedule is one its scheduler runs: Vixie cron's syntax for `crontab`, the Temporal server's for schedules. */
export function jobSchedules(
  kind: 'crontab' | 'temporal-schedule' | undefined,
  legacy: readonly (string | undefined)[],
  unified: string | undefined,
): RuleIssue[] {
  if (kind === undefined) return [];
  const jobs = [...legacy.map((s, i) => ({ at: ['legacyJobs', i], s })), { at: ['unifiedJob'], s: unified }];
  return jobs.flatMap(({ at, s }): RuleIssue[] => {
    const problems = s === undefined ? [] : cronProblems(s, kind);
    return problems.length ? [{ path: [...at, 'schedule'], message: problems.join('; ') }] : [];
  });
}

/** Measurement SQL that could act on the server (`COPY`, `dblink`, `pg_sleep`, `SET ROLE`…), at the field it is in. */
export function sqlStatements(fields: Record<string, unknown>): RuleIssue[] {
  return Object.entries(fields).flatMap(([key, sql]) => {
    const problem = typeof sql === 'string' ? sqlStatementProblem(sql) : undefined;
    return problem ? [{ path: [key], message: problem }] : [];
  });
}

/** Traffic steps rise and end at 100 (each step's own range, 1 to 100, is the schema's). */
export function trafficSteps(steps: readonly (number | undefined)[]): RuleIssue[] {
  const issues: RuleIssue[] = [];
  let last: number | undefined;
  steps.forEach((x, i) => {
    if (x === undefined) return;
    if (last !== undefined && x <= last)
      issues.push({ path: [i], message: `expected steps to increase, got ${x} after ${last}` });
    last = x;
  });
  if (last !== undefined && last !== 100)
    issues.push({ path: [], message: `expected the last step to be 100, got ${last}` });
  return issues;
}

/** Names in a list are unique: the second and later uses are reported at `[i].name`. */
export function uniqueNames(names: readonly (string | undefined)[]): RuleIssue[] {
  return repeats(names).map((i) => ({ path: [i, 'name'], message: `duplicate name ${JSON.stringify(names[i])}` }));
}

/** A gate lists each role once. */
export function uniqueRoles(roles: readonly (string | undefined)[]): RuleIssue[] {
  return repeats(roles).map((i) => ({ path: [i], message: `duplicate role ${JSON.stringify(roles[i])}` }));
}

function repeats(values: readonly (string | undefined)[]): number[] {
  const seen = new Set<string>();
  return values.flatMap((v, i) => {
    if (v === undefined) return [];
    const again = seen.has(v);
    seen.add(v);
    return again ? [i] : [];
  });
}

/** The unified job is not named like a legacy job (the scheduler keys jobs by name). */
export function unifiedJobName(unified: string | undefined, legacy: readonly (string | undefined)[]): RuleIssue[] {
  return unified !== undefined && legacy.includes(unified)
    ? [{ path: ['name'], message: `duplicate job name ${JSON.stringify(unified)} (also a legacy job)` }]
    : [];
}

/** A role's quorum (`required`) can be met by the distinct approvers on its allow-list. */
export function quorum(required: number | undefined, approvers: readonly string[] | undefined): RuleIssue[] {
  const distinct = new Set(approvers).size;
  return required !== undefined && approvers !== undefined && required > distinct
    ? [
        {
          path: ['required'],
          message: `expected at most ${distinct} (the distinct approvers on the allow-list), got ${required}`,
        },
      ]
    : [];
}

/** A role of a gate as the signing rule reads it: how many different people it needs, and who may sign it. */
export interface GateRole {
  role: string;
  required: number;
  /** The allow-list; absent: anyone may sign. */
  approvers?: readonly string[];
}

/**
 * A gate can be signed at all: every role finds `required` different people it allows and, with separation of duties
 * (no person signs two roles of a gate), the roles find them all at once, no person counted twice. `keyHolders`: the
 * plan lists keys, so every approval is signed and only the people with a key can sign, on an allow-list or not.
 */
export function gateSignable(
  roles: readonly GateRole[],
  separationOfDuties: boolean,
  keyHolders?: readonly string[],
): RuleIssue[] {
  const pools = roles.map((r) => signers(r, keyHolders));
  const keys = keyHolders ? ' (the plan lists keys: only people with a key sign)' : '';
  const who = (pool: readonly string[]) =>
    keyHolders ? `${only(pool)} can sign them` : `their approvers are ${only(pool)}`;
  const short = roles.findIndex((r, i) => pools[i] !== undefined && pools[i].length < r.required);
  if (short >= 0) {
    const r = roles[short]!;
    return [
      {
        path: [],
        message: `cannot be signed: role ${r.role} needs ${people(r.required)} but ${only(pools[short]!)} can sign it${keys}`,
      },
    ];
  }
  if (!separationOfDuties) return [];
  // A role anyone may sign never runs short of people: only the roles with a finite pool compete for them.
  const finite = roles.flatMap((r, i) => (pools[i] ? [{ ...r, pool: pools[i] }] : []));
  const group = overbooked(finite);
  if (!group) return [];
  const needed = group.reduce((n, r) => n + r.required, 0);
  const available = [...new Set(group.flatMap((r) => r.pool))];
  const names = listed(group.map((r) => `${r.role} (${r.required})`));
  return [
    {
      path: [],
      message: `cannot be signed: with separationOfDuties, roles ${names} need ${needed} different people but ${who(available)}${keys}`,
    },
  ];
}

/** The different people who can sign a role: its allow-list (of those with a key), the key holders, or anyone. */
function signers(r: GateRole, keyHolders: readonly string[] | undefined): string[] | undefined {
  const allowed = r.approvers ?? keyHolders;
  if (allowed === undefined) return undefined;
  return [...new Set(allowed)].filter((p) => keyHolders === undefined || keyHolders.includes(p));
}

const people = (n: number) => (n === 1 ? 'one person' : `${n} different people`);
const only = (pool: readonly string[]) => (pool.length ? `only ${pool.join(', ')}` : 'nobody');
/** `a`, `a and b`, `a, b and c`. */
const listed = (items: readonly string[]) =>
  items.length > 1 ? `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}` : (items[0] ?? '');

/**
 * The roles that cannot all be signed by different people, or undefined when they can: each role takes people from
 * its pool one at a time, moving a person to another role of theirs when that frees one (augmenting paths of a
 * bipartite matching). When a role finds no one, the roles its search reached need more people than their pools hold
 * together (Hall's condition fails for them): every person in those pools already signs for one of them.
 */
function overbooked<R extends { required: number; pool: readonly string[] }>(roles: readonly R[]): R[] | undefined {
  const holder = new Map<string, number>();
  const take = (r: number, reached: Set<number>): boolean => {
    for (const p of roles[r]!.pool) {
      const h = holder.get(p);
      if (h === r || (h !== undefined && reached.has(h))) continue;
      if (h !== undefined) reached.add(h);
      if (h === undefined || take(h, reached)) {
        holder.set(p, r);
        return true;
      }
    }
    return false;
  };
  for (let r = 0; r < roles.length; r++)
    for (let n = 0; n < roles[r]!.required; n++) {
      const reached = new Set([r]);
      if (!take(r, reached)) return [...reached].sort((a, b) => a - b).map((i) => roles[i]!);
    }
  return undefined;
}

/** The soak is evaluated at least once: its interval is no longer than the soak itself. */
export function soakInterval(soakMs: number | undefined, intervalMs: number | undefined): RuleIssue[] {
  return soakMs !== undefined && intervalMs !== undefined && intervalMs > soakMs
    ? [{ path: ['soakInterval'], message: 'expected an interval no longer than durations.soak' }]
    : [];
}

/**
 * A retry budget's first wait is no longer than its longest (Temporal refuses such a policy when the step is
 * scheduled). `maximumSet`: the plan names the longest wait; otherwise it is the kind's default, which the message says.
 */
export function retryIntervals(initialMs: number, maximumMs: number, maximumSet: boolean): RuleIssue[] {
  if (maximumMs >= initialMs) return [];
  const message = maximumSet
    ? 'expected a maximumInterval no shorter than initialInterval'
    : `expected a maximumInterval no shorter than initialInterval: without one it is ${maximumMs / 1000}s, set it too`;
  return [{ path: [maximumSet ? 'maximumInterval' : 'initialInterval'], message }];
}

/** A rate, a time or a cost is never negative: a negative threshold is a sign error in the plan. */
export function metricThreshold(name: string | undefined, threshold: number | undefined): RuleIssue[] {
  return threshold !== undefined && threshold < 0
    ? [{ path: ['threshold'], message: `expected a threshold >= 0 for ${name ?? 'this metric'}, got ${threshold}` }]
    : [];
}

/** `minSamples` reads an SQL metric's second column, so only an SQL metric has one. */
export function minSamplesOnSql(kind: MeasurementKind | undefined, minSamples: number | undefined): RuleIssue[] {
  return minSamples !== undefined && kind !== undefined && kind !== 'sql'
    ? [
        {
          path: ['minSamples'],
          message: 'expected only on an sql metric (its second column is the sample count)',
        },
      ]
    : [];
}

export type MeasurementKind = 'sql' | 'command' | 'http';
const SOURCES: readonly MeasurementKind[] = ['sql', 'command', 'http'];

/** A check measures one thing: exactly one of `sql`, `command` and `http` is given. */
export function oneSource(check: Partial<Record<MeasurementKind, unknown>>): RuleIssue[] {
  const kinds = SOURCES.filter((k) => check[k] !== undefined);
  return kinds.length === 1
    ? []
    : [{ path: [], message: `expected exactly one of sql, command or http, got ${kinds.join(' and ') || 'none'}` }];
}

/** What a check measures with, when it names exactly one source. */
export function measurementKind(check: Partial<Record<MeasurementKind, unknown>>): MeasurementKind | undefined {
  const kinds = SOURCES.filter((k) => check[k] !== undefined);
  return kinds.length === 1 ? kinds[0] : undefined;
}

/** A check's command is one command line with `shell: true`, else a list of arguments without shell syntax. */
export function checkCommand(command: unknown, shell: boolean, argsWellFormed: boolean): RuleIssue[] {
  if (shell)
    return Array.isArray(command)
      ? [{ path: ['command'], message: `expected a shell command line (shell: true), got ${describeValue(command)}` }]
      : [];
  if (typeof command === 'string')
    return [{ path: ['command'], message: `expected a list, got ${describeValue(command)}` }];
  return Array.isArray(command) && argsWellFormed
    ? shellMetacharacters(command.map(String)).map((i) => ({ ...i, path: ['command', ...i.path] }))
    : [];
}

/** Arguments are passed to the program as they are, so shell syntax in one is a mistake unless a shell runs it. */
export function shellMetacharacters(args: readonly (string | undefined)[]): RuleIssue[] {
  return args.flatMap((a, i) =>
    a !== undefined && SHELL_META.test(a)
      ? [
          {
            path: [i],
            message: `contains a shell metacharacter (${JSON.stringify(a)}) but no shell was declared: split it into arguments or set shell: true`,
          },
        ]
      : [],
  );
}

/** A legacy job is found one way: its whole line or a match (a `/regex/` must compile). */
export function jobLocator(
  fields: { line?: unknown; match?: string },
  isRegExp: (source: string) => boolean,
): RuleIssue[] {
  if (fields.line !== undefined && fields.match !== undefined)
    return [{ path: ['match'], message: 'give either line or match, not both' }];
  const m = fields.match && /^\/(.*)\/$/s.exec(fields.match);
  return m && !isRegExp(m[1]!)
    ? [{ path: ['match'], message: 'expected a valid regular expression between the slashes' }]
    : [];
}

/** `line` and `match` find crontab lines, `scheduleId` a Temporal Schedule: each only with its scheduler. */
export function legacyJobsFor(
  kind: 'crontab' | 'temporal-schedule' | undefined,
  jobs: readonly { line?: unknown; match?: unknown; scheduleId?: unknown }[],
): RuleIssue[] {
  return jobs.flatMap((j, i): RuleIssue[] => {
    if (kind === 'crontab' && j.scheduleId !== undefined)
      return [{ path: ['legacyJobs', i, 'scheduleId'], message: 'only with scheduler kind temporal-schedule' }];
    if (kind === 'temporal-schedule')
      return (['line', 'match'] as const)
        .filter((k) => j[k] !== undefined)
        .map((k) => ({ path: ['legacyJobs', i, k], message: 'only with scheduler kind crontab' }));
    return [];
  });
}

/** `user` belongs to the crontab scheduler, `idPrefix` to Temporal schedules. */
export function schedulerFields(
  kind: 'crontab' | 'temporal-schedule' | undefined,
  fields: { user?: unknown; idPrefix?: unknown },
): RuleIssue[] {
  if (kind === 'crontab' && fields.idPrefix !== undefined)
    return [{ path: ['idPrefix'], message: 'only for kind temporal-schedule' }];
  if (kind === 'temporal-schedule' && fields.user !== undefined)
    return [{ path: ['user'], message: 'only for kind crontab' }];
  return [];
}

/** A command router needs its command. */
export function routerFields(kind: 'table' | 'command' | undefined, command: unknown): RuleIssue[] {
  return kind === 'command' && command === undefined ? [{ path: ['command'], message: 'is required' }] : [];
}

/** Where a person's key was given: the name, the key line, and the plan path (or keys file line) that gave it. */
export interface KeySource {
  name: string;
  key: string;
  path: (string | number)[];
  /** Inside the field at `path` (a line of the keys file). */
  where?: string;
}

/**
 * The approvers' keys: one key per person (the same key given twice is fine), and when the plan has keys, every person
 * on an allow-list has one. `issues` are problems found earlier (reading the keys file), reported with these.
 */
export function keyRules(
  sources: KeySource[],
  listed: { name: string; path: (string | number)[] }[],
  issues: RuleIssue[] = [],
): { keys: Record<string, string>; issues: RuleIssue[] } {
  const keys: Record<string, string> = {};
  const out = [...issues];
  const keyOf = (line: string) => line.trim().split(/\s+/).slice(0, 2).join(' ');
  for (const s of sources) {
    const key = keyOf(s.key);
    const had = keys[s.name];
    if (had !== undefined && had !== key)
      out.push({
        path: s.path,
        message: `${s.where ? `${s.where}: ` : ''}a second, different key for ${s.name} (one key per person)`,
      });
    else keys[s.name] = key;
  }
  if (Object.keys(keys).length)
    for (const l of listed)
      if (keys[l.name] === undefined)
        out.push({
          path: l.path,
          message: `${l.name} has no key: the plan lists keys, so every approver signs (add one to approvals.keys)`,
        });
  return { keys, issues: out };
}

const KEY_LINE_RE = /^ssh-ed25519 [A-Za-z0-9+/]+={0,2}$/;

/** The `name ssh-ed25519 AAAA… [comment]` lines of a keys file (ssh's allowed_signers form; `#` comments). */
export function parseAllowedSigners(
  text: string,
  path: (string | number)[],
): { sources: KeySource[]; issues: RuleIssue[] } {
  const sources: KeySource[] = [];
  const issues: RuleIssue[] = [];
  text.split('\n').forEach((raw, n) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const [name, type, body] = line.split(/\s+/);
    const key = `${type ?? ''} ${body ?? ''}`;
    if (!name || !KEY_LINE_RE.test(key))
      issues.push({ path, message: `line ${n + 1} of the keys file: expected "name ssh-ed25519 AAAA…"` });
    else sources.push({ name, key, path, where: `line ${n + 1} of the keys file` });
  });
  return { sources, issues };
}

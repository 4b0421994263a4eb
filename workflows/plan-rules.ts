/**
 * The plan's rules that look at more than one field, as pure functions (workflow-safe: no imports). Each takes the
 * fields it needs, already known to be well-formed (`undefined` stands for one that is not: its own issue is
 * reported elsewhere), and returns its problems with paths relative to the part of the plan it was given.
 * `plan-schema.ts` applies them from the schema.
 */

/** One problem a rule found: where (relative to the part it was given) and what was expected. */
export interface RuleIssue {
  path: (string | number)[];
  message: string;
  /** The key at `path` is the problem (a secret-named key), not its value. */
  key?: true;
}

/** A URL with a user and a password in it (`scheme://user:password@host`). */
export const CREDENTIAL_URL = /[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:[^/\s@]+@/i;
const SECRET_KEY = /(password|passwd|secret|token|apikey|api_key)$/i;
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

/** Any string anywhere that looks like an inline secret (a URL with a password, or a value under a secret-named key). */
export function inlineSecrets(v: unknown, path: (string | number)[] = []): RuleIssue[] {
  if (typeof v === 'string') {
    return CREDENTIAL_URL.test(v)
      ? [
          {
            path,
            message:
              'contains a URL with credentials: name an environment variable instead (secrets are never written in a plan)',
          },
        ]
      : [];
  }
  if (Array.isArray(v)) return v.flatMap((x, i) => inlineSecrets(x, [...path, i]));
  if (v === null || typeof v !== 'object') return [];
  return Object.entries(v).flatMap(([k, x]): RuleIssue[] =>
    SECRET_KEY.test(k)
      ? [
          {
            path: [...path, k],
            message:
              'a secret written in the plan: reference an environment variable with a field ending in Env instead',
            key: true,
          },
        ]
      : inlineSecrets(x, [...path, k]),
  );
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

/** The soak is evaluated at least once: its interval is no longer than the soak itself. */
export function soakInterval(soakMs: number | undefined, intervalMs: number | undefined): RuleIssue[] {
  return soakMs !== undefined && intervalMs !== undefined && intervalMs > soakMs
    ? [{ path: ['soakInterval'], message: 'expected an interval no longer than durations.soak' }]
    : [];
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

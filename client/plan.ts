import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type {
  CheckSpec,
  Comparator,
  GateName,
  GateSpec,
  JobSpec,
  Measurement,
  MetricSpec,
  Plan,
  RoleSpec,
  RouterSpec,
  SchedulerSpec,
  UnifiedContainerSpec,
} from '../workflows/plan';
import { GATES } from '../workflows/constants';

/** One problem in a plan: the field's path and what was expected. */
export interface PlanIssue {
  path: string;
  message: string;
}

/** A plan that does not validate; `issues` names every field that is wrong. */
export class PlanValidationError extends Error {
  constructor(
    readonly file: string,
    readonly issues: PlanIssue[],
  ) {
    super(`plan ${file} is not valid:\n${issues.map((i) => `  - ${i.path}: ${i.message}`).join('\n')}`);
    this.name = 'PlanValidationError';
  }
}

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};
const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;
const NAME = /^[a-z0-9][a-z0-9_.-]*$/i;
const SHELL_META = /[|;&<>`]|\$\(|\$\{/;
const CREDENTIAL_URL = /[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:[^/\s@]+@/i;
const SECRET_KEY = /(password|passwd|secret|token|apikey|api_key)$/i;
const COMPARATORS: Comparator[] = ['<', '<=', '>', '>=', '==', '!='];

/** Parses `24h`, `7d`, `90s`, `1h30m`, `250ms` into milliseconds; undefined when it is not a duration. */
export function parseDuration(text: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    matched = re.lastIndex;
  }
  return matched === text.length && matched > 0 ? Math.round(total) : undefined;
}

type Obj = Record<string, unknown>;

/** Collects issues while reading an untyped YAML tree into typed values. */
class Reader {
  readonly issues: PlanIssue[] = [];

  constructor(private readonly baseDir: string) {}

  fail(path: string, message: string): undefined {
    this.issues.push({ path, message });
    return undefined;
  }

  object(v: unknown, p: string, allowed: string[], required: string[] = []): Obj | undefined {
    if (v === null || typeof v !== 'object' || Array.isArray(v))
      return this.fail(p, `expected a mapping, got ${describe(v)}`);
    const o = v as Obj;
    for (const k of Object.keys(o))
      if (!allowed.includes(k)) this.fail(join(p, k), `unknown field (allowed here: ${allowed.join(', ')})`);
    for (const k of required) if (o[k] === undefined) this.fail(join(p, k), 'is required');
    return o;
  }

  string(
    v: unknown,
    p: string,
    opts: { pattern?: RegExp; expected?: string; optional?: boolean } = {},
  ): string | undefined {
    if (v === undefined && opts.optional) return undefined;
    if (typeof v !== 'string' || v.length === 0)
      return this.fail(p, `expected ${opts.expected ?? 'a non-empty string'}, got ${describe(v)}`);
    if (opts.pattern && !opts.pattern.test(v))
      return this.fail(p, `expected ${opts.expected ?? `a string matching ${opts.pattern}`}, got ${JSON.stringify(v)}`);
    return v;
  }

  number(
    v: unknown,
    p: string,
    opts: { min?: number; max?: number; integer?: boolean; exclusiveMin?: number; optional?: boolean } = {},
  ): number | undefined {
    if (v === undefined && opts.optional) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) return this.fail(p, `expected a number, got ${describe(v)}`);
    if (opts.integer && !Number.isInteger(v)) return this.fail(p, `expected a whole number, got ${v}`);
    if (opts.min !== undefined && v < opts.min) return this.fail(p, `expected a number >= ${opts.min}, got ${v}`);
    if (opts.exclusiveMin !== undefined && v <= opts.exclusiveMin)
      return this.fail(p, `expected a number > ${opts.exclusiveMin}, got ${v}`);
    if (opts.max !== undefined && v > opts.max) return this.fail(p, `expected a number <= ${opts.max}, got ${v}`);
    return v;
  }

  boolean(v: unknown, p: string, fallback: boolean): boolean {
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') return this.fail(p, `expected true or false, got ${describe(v)}`) ?? fallback;
    return v;
  }

  duration(v: unknown, p: string): number | undefined {
    const ms = typeof v === 'string' ? parseDuration(v) : undefined;
    if (ms === undefined) return this.fail(p, `expected a duration such as 90s, 2h or 7d, got ${describe(v)}`);
    if (ms <= 0) return this.fail(p, `expected a duration greater than zero, got ${JSON.stringify(v)}`);
    return ms;
  }

  envName(v: unknown, p: string, optional = false): string | undefined {
    if (v === undefined && optional) return undefined;
    if (typeof v === 'string' && CREDENTIAL_URL.test(v)) {
      return this.fail(
        p,
        'expected the NAME of an environment variable (e.g. TARGET_DATABASE_URL), got an inline URL with credentials: secrets are never written in a plan',
      );
    }
    return this.string(v, p, {
      pattern: ENV_NAME,
      expected: 'the name of an environment variable (UPPER_CASE_WITH_UNDERSCORES)',
    });
  }

  oneOf<T extends string>(v: unknown, p: string, values: readonly T[], fallback?: T): T | undefined {
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'string' || !values.includes(v as T))
      return this.fail(p, `expected one of ${values.join(', ')}, got ${describe(v)}`);
    return v as T;
  }

  array<T>(
    v: unknown,
    p: string,
    item: (x: unknown, p: string) => T | undefined,
    opts: { nonEmpty?: boolean; optional?: boolean } = {},
  ): T[] {
    if (v === undefined && opts.optional) return [];
    if (!Array.isArray(v)) return this.fail(p, `expected a list, got ${describe(v)}`) ?? [];
    if (opts.nonEmpty && v.length === 0) this.fail(p, 'expected at least one entry');
    const out: T[] = [];
    v.forEach((x, i) => {
      const r = item(x, `${p}[${i}]`);
      if (r !== undefined) out.push(r);
    });
    return out;
  }

  /** A path relative to the plan file; absolute paths stay as they are. */
  localPath(v: unknown, p: string): string | undefined {
    const s = this.string(v, p, { expected: 'a path' });
    return s === undefined ? undefined : path.resolve(this.baseDir, s);
  }

  /** A path inside the target repository: relative, never escaping it. */
  repoPath(v: unknown, p: string): string | undefined {
    const s = this.string(v, p, { expected: 'a path inside the target repository' });
    if (s === undefined) return undefined;
    if (path.isAbsolute(s) || path.normalize(s).split(path.sep).includes('..')) {
      return this.fail(
        p,
        `expected a relative path inside the target repository, got ${JSON.stringify(s)} (escapes the repository)`,
      );
    }
    return path.normalize(s);
  }

  command(v: unknown, p: string, shell: boolean): string[] | undefined {
    const args = this.array(v, p, (x, q) => this.string(x, q, { expected: 'a command argument (string)' }), {
      nonEmpty: true,
    });
    if (!Array.isArray(v) || args.length !== v.length) return undefined;
    if (!shell) {
      args.forEach((a, i) => {
        if (SHELL_META.test(a))
          this.fail(
            `${p}[${i}]`,
            `contains a shell metacharacter (${JSON.stringify(a)}) but no shell was declared: split it into arguments or set shell: true`,
          );
      });
    }
    return args;
  }
}

function join(p: string, k: string): string {
  return p ? `${p}.${k}` : k;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return `${typeof v} ${JSON.stringify(v)}`;
}

/** Any string anywhere that looks like an inline secret (a URL with a password, or a value under a secret-named key). */
function findInlineSecrets(v: unknown, p: string, r: Reader): void {
  if (typeof v === 'string') {
    if (CREDENTIAL_URL.test(v))
      r.fail(
        p,
        'contains a URL with credentials: name an environment variable instead (secrets are never written in a plan)',
      );
  } else if (Array.isArray(v)) v.forEach((x, i) => findInlineSecrets(x, `${p}[${i}]`, r));
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (SECRET_KEY.test(k))
        r.fail(
          join(p, k),
          'a secret written in the plan: reference an environment variable with a field ending in Env instead',
        );
      else findInlineSecrets(x, join(p, k), r);
    }
  }
}

function readMeasurement(r: Reader, o: Obj, p: string): Measurement | undefined {
  const kinds = ['sql', 'command', 'http'].filter((k) => o[k] !== undefined);
  if (kinds.length !== 1)
    return r.fail(
      p,
      `expected exactly one of sql, command or http, got ${kinds.length ? kinds.join(' and ') : 'none'}`,
    );
  if (o.sql !== undefined) {
    const query = r.string(o.sql, join(p, 'sql'), { expected: 'an SQL query' });
    const databaseUrlEnv = r.envName(o.databaseUrlEnv, join(p, 'databaseUrlEnv'), true);
    return query === undefined ? undefined : { kind: 'sql', query, ...(databaseUrlEnv ? { databaseUrlEnv } : {}) };
  }
  if (o.command !== undefined) {
    const shell = r.boolean(o.shell, join(p, 'shell'), false);
    const command = shell
      ? [r.string(o.command, join(p, 'command'), { expected: 'a shell command line (shell: true)' })].filter(
          (x): x is string => x !== undefined,
        )
      : r.command(o.command, join(p, 'command'), false);
    const pattern = r.string(o.pattern, join(p, 'pattern'), { optional: true });
    if (pattern !== undefined) {
      try {
        new RegExp(pattern);
      } catch {
        r.fail(join(p, 'pattern'), 'expected a valid regular expression');
      }
    }
    const timeoutMs = o.timeout === undefined ? undefined : r.duration(o.timeout, join(p, 'timeout'));
    const cwd = o.cwd === undefined ? undefined : r.repoPath(o.cwd, join(p, 'cwd'));
    if (!command?.length) return undefined;
    return {
      kind: 'command',
      command,
      ...(shell ? { shell } : {}),
      ...(pattern ? { pattern } : {}),
      ...(timeoutMs ? { timeoutMs } : {}),
      ...(cwd ? { cwd } : {}),
    };
  }
  const url = r.string(o.http, join(p, 'http'), { pattern: /^https?:\/\//, expected: 'an http(s) URL' });
  const pattern = r.string(o.pattern, join(p, 'pattern'), { optional: true });
  const jsonPath = r.string(o.jsonPath, join(p, 'jsonPath'), { optional: true });
  const timeoutMs = o.timeout === undefined ? undefined : r.duration(o.timeout, join(p, 'timeout'));
  return url === undefined
    ? undefined
    : {
        kind: 'http',
        url,
        ...(pattern ? { pattern } : {}),
        ...(jsonPath ? { jsonPath } : {}),
        ...(timeoutMs ? { timeoutMs } : {}),
      };
}

const CHECK_FIELDS = [
  'name',
  'description',
  'sql',
  'databaseUrlEnv',
  'command',
  'shell',
  'pattern',
  'timeout',
  'cwd',
  'http',
  'jsonPath',
  'op',
  'threshold',
  'unit',
];

function readCheck(r: Reader, v: unknown, p: string, extra: string[] = []): (CheckSpec & { raw: Obj }) | undefined {
  const o = r.object(v, p, [...CHECK_FIELDS, ...extra], ['name', 'op', 'threshold']);
  if (!o) return undefined;
  const name = r.string(o.name, join(p, 'name'), { pattern: NAME, expected: 'a name (letters, digits, _ . -)' });
  const op = r.oneOf(o.op, join(p, 'op'), COMPARATORS);
  const threshold = r.number(o.threshold, join(p, 'threshold'));
  const description = r.string(o.description, join(p, 'description'), { optional: true });
  const unit = r.string(o.unit, join(p, 'unit'), { optional: true });
  const measure = readMeasurement(r, o, p);
  if (!name || !op || threshold === undefined || !measure) return undefined;
  return { name, op, threshold, measure, ...(description ? { description } : {}), ...(unit ? { unit } : {}), raw: o };
}

function checks(r: Reader, v: unknown, p: string, opts: { nonEmpty?: boolean; optional?: boolean } = {}): CheckSpec[] {
  const list = r.array(v, p, (x, q) => readCheck(r, x, q), opts).map(({ raw: _raw, ...c }) => c);
  uniqueNames(r, list, p);
  return list;
}

function uniqueNames(r: Reader, list: { name: string }[], p: string): void {
  const seen = new Set<string>();
  list.forEach((x, i) => {
    if (seen.has(x.name)) r.fail(`${p}[${i}].name`, `duplicate name ${JSON.stringify(x.name)}`);
    seen.add(x.name);
  });
}

function readJob(r: Reader, v: unknown, p: string, extra: string[] = []): (JobSpec & { raw: Obj }) | undefined {
  const o = r.object(v, p, ['name', 'schedule', 'command', 'script', ...extra], ['name', 'schedule', 'command']);
  if (!o) return undefined;
  const name = r.string(o.name, join(p, 'name'), { pattern: NAME, expected: 'a job name (letters, digits, _ . -)' });
  const schedule = r.string(o.schedule, join(p, 'schedule'), {
    pattern: /^(@(hourly|daily|weekly|monthly|yearly|reboot)|(\S+\s+){4}\S+)$/,
    expected: 'a five-field cron expression such as "*/5 * * * *"',
  });
  const command = r.command(o.command, join(p, 'command'), false);
  const script = o.script === undefined ? undefined : r.repoPath(o.script, join(p, 'script'));
  if (!name || !schedule || !command) return undefined;
  return { name, schedule, command, ...(script ? { script } : {}), raw: o };
}

/** Validates a parsed plan document; throws `PlanValidationError` naming every wrong field. */
export function validatePlan(doc: unknown, file = '<plan>', baseDir = process.cwd()): Plan {
  const r = new Reader(baseDir);
  findInlineSecrets(doc, '', r);
  const top = r.object(
    doc,
    '',
    [
      'name',
      'description',
      'target',
      'legacyJobs',
      'unifiedJob',
      'scheduler',
      'traffic',
      'parallelRun',
      'metrics',
      'preflight',
      'durations',
      'approvals',
      'soak',
      'notifications',
      'archive',
      'rollback',
      'successMetrics',
      'ledger',
    ],
    [
      'name',
      'target',
      'legacyJobs',
      'unifiedJob',
      'traffic',
      'parallelRun',
      'metrics',
      'preflight',
      'durations',
      'approvals',
      'rollback',
    ],
  );
  if (!top) throw new PlanValidationError(file, r.issues);

  const name = r.string(top.name, 'name', { pattern: NAME, expected: 'a migration name (letters, digits, _ . -)' });
  const description = r.string(top.description, 'description', { optional: true });

  const t = r.object(
    top.target,
    'target',
    ['databaseUrlEnv', 'repository', 'composeProject', 'backupDir', 'reportDir'],
    ['databaseUrlEnv', 'repository', 'composeProject', 'backupDir', 'reportDir'],
  );
  const target = t && {
    databaseUrlEnv: r.envName(t.databaseUrlEnv, 'target.databaseUrlEnv'),
    repository: r.localPath(t.repository, 'target.repository'),
    composeProject: r.string(t.composeProject, 'target.composeProject', {
      pattern: /^[a-z0-9][a-z0-9_-]*$/,
      expected: 'a compose project name (lower-case letters, digits, _ -)',
    }),
    backupDir: r.localPath(t.backupDir, 'target.backupDir'),
    reportDir: r.localPath(t.reportDir, 'target.reportDir'),
  };

  const legacyJobs = r
    .array(top.legacyJobs, 'legacyJobs', (x, q) => readJob(r, x, q), { nonEmpty: true })
    .map(({ raw: _raw, ...j }) => j);
  uniqueNames(r, legacyJobs, 'legacyJobs');

  const uj = readJob(r, top.unifiedJob, 'unifiedJob', ['containers']);
  const containers = uj
    ? r.array(
        uj.raw.containers,
        'unifiedJob.containers',
        (x, q): UnifiedContainerSpec | undefined => {
          const c = r.object(
            x,
            q,
            ['service', 'image', 'command', 'env', 'envFrom', 'mounts'],
            ['service', 'image', 'command'],
          );
          if (!c) return undefined;
          const service = r.string(c.service, join(q, 'service'), {
            pattern: /^[a-z0-9][a-z0-9_-]*$/,
            expected: 'a service name',
          });
          const image = r.string(c.image, join(q, 'image'), { expected: 'an image reference' });
          const command = r.array(c.command, join(q, 'command'), (a, qq) => r.string(a, qq, { expected: 'a string' }));
          const envFrom =
            c.envFrom === undefined
              ? undefined
              : stringMap(r, c.envFrom, join(q, 'envFrom'), (vv, qq) => r.envName(vv, qq));
          const env =
            c.env === undefined
              ? undefined
              : stringMap(r, c.env, join(q, 'env'), (vv, qq) => r.string(vv, qq, { expected: 'a string value' }));
          const mounts =
            c.mounts === undefined
              ? undefined
              : stringMap(
                  r,
                  c.mounts,
                  join(q, 'mounts'),
                  (vv, qq) => r.string(vv, qq, { pattern: /^\//, expected: 'an absolute path inside the container' }),
                  (k) => path.resolve(baseDir, k),
                );
          if (!service || !image) return undefined;
          return {
            service,
            image,
            command,
            ...(env ? { env } : {}),
            ...(envFrom ? { envFrom } : {}),
            ...(mounts ? { mounts } : {}),
          };
        },
        { nonEmpty: true },
      )
    : [];
  if (uj && legacyJobs.some((j) => j.name === uj.name))
    r.fail('unifiedJob.name', `duplicate job name ${JSON.stringify(uj.name)} (also a legacy job)`);

  const s =
    top.scheduler === undefined
      ? { kind: 'crontab' }
      : r.object(top.scheduler, 'scheduler', ['kind', 'user', 'idPrefix'], ['kind']);
  let scheduler: SchedulerSpec | undefined;
  if (s) {
    const kind = r.oneOf(s.kind, 'scheduler.kind', ['crontab', 'temporal-schedule'] as const);
    if (kind === 'crontab') {
      const user = r.string(s.user, 'scheduler.user', {
        optional: true,
        pattern: /^[a-z_][a-z0-9_-]*$/,
        expected: 'a user name',
      });
      if (s.idPrefix !== undefined) r.fail('scheduler.idPrefix', 'only for kind temporal-schedule');
      scheduler = { kind, ...(user ? { user } : {}) };
    } else if (kind === 'temporal-schedule') {
      const idPrefix = r.string(s.idPrefix, 'scheduler.idPrefix', { optional: true, pattern: NAME });
      if (s.user !== undefined) r.fail('scheduler.user', 'only for kind crontab');
      scheduler = { kind, ...(idPrefix ? { idPrefix } : {}) };
    }
  }

  const tr = r.object(top.traffic, 'traffic', ['router', 'steps']);
  let router: RouterSpec | undefined = { kind: 'table', table: 'migration_routing' };
  let steps: number[] = [10, 25, 50, 100];
  if (tr) {
    if (tr.router !== undefined) {
      const ro = r.object(tr.router, 'traffic.router', ['kind', 'table', 'command'], ['kind']);
      const kind = ro && r.oneOf(ro.kind, 'traffic.router.kind', ['table', 'command'] as const);
      if (ro && kind === 'table') {
        const table =
          ro.table === undefined
            ? 'migration_routing'
            : r.string(ro.table, 'traffic.router.table', {
                pattern: /^[a-z_][a-z0-9_]*$/,
                expected: 'a table name (lower-case, _)',
              });
        router = table ? { kind, table } : undefined;
      } else if (ro && kind === 'command') {
        const command = r.command(ro.command, 'traffic.router.command', false);
        router = command ? { kind, command } : undefined;
      } else router = undefined;
    }
    if (tr.steps !== undefined) {
      steps = r.array(
        tr.steps,
        'traffic.steps',
        (x, q) => r.number(x, q, { integer: true, exclusiveMin: 0, max: 100 }),
        { nonEmpty: true },
      );
      steps.forEach((x, i) => {
        if (i > 0 && x <= steps[i - 1]!)
          r.fail(`traffic.steps[${i}]`, `expected steps to increase, got ${x} after ${steps[i - 1]}`);
      });
      if (steps.length && steps[steps.length - 1] !== 100)
        r.fail('traffic.steps', `expected the last step to be 100, got ${steps[steps.length - 1]}`);
    }
  }

  const pr = r.object(
    top.parallelRun,
    'parallelRun',
    ['comparisonSql', 'mismatchSql', 'minMatchRatio'],
    ['comparisonSql', 'minMatchRatio'],
  );
  const parallelRun = pr && {
    comparisonQuery: r.string(pr.comparisonSql, 'parallelRun.comparisonSql', {
      expected: 'an SQL query returning (total, matched)',
    }),
    mismatchQuery: r.string(pr.mismatchSql, 'parallelRun.mismatchSql', { optional: true }),
    minMatchRatio: r.number(pr.minMatchRatio, 'parallelRun.minMatchRatio', { exclusiveMin: 0, max: 1 }),
  };

  const metrics: MetricSpec[] = r.array(
    top.metrics,
    'metrics',
    (x, q) => {
      const c = readCheck(r, x, q, [
        'failureLimit',
        'consecutiveFailureLimit',
        'inconclusiveLimit',
        'minSamples',
        'dryRun',
      ]);
      if (!c) return undefined;
      const failureLimit = r.number(c.raw.failureLimit ?? 0, join(q, 'failureLimit'), { integer: true, min: 0 });
      const consecutiveFailureLimit = r.number(c.raw.consecutiveFailureLimit ?? 0, join(q, 'consecutiveFailureLimit'), {
        integer: true,
        min: 0,
      });
      const inconclusiveLimit =
        c.raw.inconclusiveLimit === undefined
          ? undefined
          : r.number(c.raw.inconclusiveLimit, join(q, 'inconclusiveLimit'), { integer: true, min: 0 });
      const minSamples =
        c.raw.minSamples === undefined
          ? undefined
          : r.number(c.raw.minSamples, join(q, 'minSamples'), { integer: true, min: 1 });
      if (minSamples !== undefined && c.measure.kind !== 'sql')
        r.fail(join(q, 'minSamples'), 'expected only on an sql metric (its second column is the sample count)');
      const dryRun = r.boolean(c.raw.dryRun, join(q, 'dryRun'), false);
      const { raw: _raw, ...spec } = c;
      return failureLimit === undefined || consecutiveFailureLimit === undefined
        ? undefined
        : {
            ...spec,
            failureLimit,
            consecutiveFailureLimit,
            ...(inconclusiveLimit !== undefined ? { inconclusiveLimit } : {}),
            ...(minSamples !== undefined ? { minSamples } : {}),
            ...(dryRun ? { dryRun } : {}),
          };
    },
    { nonEmpty: true },
  );
  uniqueNames(r, metrics, 'metrics');
  // A rate, a time or a cost is never negative: a negative threshold is a sign error in the plan.
  metrics.forEach((m, i) => {
    if (m.threshold < 0)
      r.fail(`metrics[${i}].threshold`, `expected a threshold >= 0 for ${m.name}, got ${m.threshold}`);
  });

  const preflight = checks(r, top.preflight, 'preflight', { nonEmpty: true });

  const d = r.object(
    top.durations,
    'durations',
    ['parallelRun', 'bake', 'monitoringWindow', 'soak', 'soakInterval'],
    ['parallelRun', 'bake', 'monitoringWindow', 'soak', 'soakInterval'],
  );
  const durations = d && {
    parallelRunMs: r.duration(d.parallelRun, 'durations.parallelRun'),
    bakeMs: r.duration(d.bake, 'durations.bake'),
    monitoringWindowMs: r.duration(d.monitoringWindow, 'durations.monitoringWindow'),
    soakMs: r.duration(d.soak, 'durations.soak'),
    soakIntervalMs: r.duration(d.soakInterval, 'durations.soakInterval'),
  };
  if (durations?.soakIntervalMs && durations.soakMs && durations.soakIntervalMs > durations.soakMs) {
    r.fail('durations.soakInterval', 'expected an interval no longer than durations.soak');
  }

  const a = r.object(top.approvals, 'approvals', ['separationOfDuties', 'gates'], ['gates']);
  const gates = {} as Record<GateName, GateSpec>;
  if (a) {
    const g = r.object(a.gates, 'approvals.gates', [...GATES], [...GATES]);
    for (const gname of GATES) {
      const q = `approvals.gates.${gname}`;
      const go =
        g?.[gname] === undefined
          ? undefined
          : r.object(g[gname], q, ['roles', 'timeout', 'onTimeout', 'remindEvery'], ['roles']);
      if (!go) continue;
      const roles = r.array(
        go.roles,
        `${q}.roles`,
        (x, qq): RoleSpec | undefined => {
          if (typeof x === 'string') return r.string(x, qq, { pattern: NAME }) ? { role: x } : undefined;
          const ro = r.object(x, qq, ['role', 'approvers', 'required'], ['role']);
          const role = ro && r.string(ro.role, join(qq, 'role'), { pattern: NAME, expected: 'a role name' });
          const approvers =
            ro?.approvers === undefined
              ? undefined
              : r.array(ro.approvers, join(qq, 'approvers'), (y, qqq) => r.string(y, qqq), { nonEmpty: true });
          const required =
            ro?.required === undefined
              ? undefined
              : r.number(ro.required, join(qq, 'required'), { integer: true, min: 1 });
          if (required && approvers && required > new Set(approvers).size)
            r.fail(
              join(qq, 'required'),
              `expected at most ${new Set(approvers).size} (the distinct approvers on the allow-list), got ${required}`,
            );
          return role
            ? { role, ...(approvers ? { approvers } : {}), ...(required && required > 1 ? { required } : {}) }
            : undefined;
        },
        { nonEmpty: true },
      );
      const seen = new Set<string>();
      roles.forEach((x, i) => {
        if (seen.has(x.role)) r.fail(`${q}.roles[${i}]`, `duplicate role ${JSON.stringify(x.role)}`);
        seen.add(x.role);
      });
      const timeoutMs = go.timeout === undefined ? 7 * 86_400_000 : r.duration(go.timeout, `${q}.timeout`);
      const onTimeout = r.oneOf(
        go.onTimeout,
        `${q}.onTimeout`,
        ['abort', 'notify-and-wait'] as const,
        'notify-and-wait',
      );
      const remindEveryMs = go.remindEvery === undefined ? undefined : r.duration(go.remindEvery, `${q}.remindEvery`);
      if (timeoutMs && onTimeout)
        gates[gname] = { roles, timeoutMs, onTimeout, ...(remindEveryMs ? { remindEveryMs } : {}) };
    }
  }
  const separationOfDuties = a ? r.boolean(a.separationOfDuties, 'approvals.separationOfDuties', true) : true;

  const so = top.soak === undefined ? {} : r.object(top.soak, 'soak', ['onFailure']);
  const soak = {
    onFailure: r.oneOf(so?.onFailure, 'soak.onFailure', ['rollback', 'pause'] as const, 'rollback') ?? 'rollback',
  };

  const n = top.notifications === undefined ? {} : r.object(top.notifications, 'notifications', ['webhook', 'email']);
  const notifications: Plan['notifications'] = {};
  if (n?.webhook !== undefined) {
    const w = r.object(n.webhook, 'notifications.webhook', ['urlEnv', 'tokenEnv'], ['urlEnv']);
    const urlEnv = w && r.envName(w.urlEnv, 'notifications.webhook.urlEnv');
    const tokenEnv = w && r.envName(w.tokenEnv, 'notifications.webhook.tokenEnv', true);
    if (urlEnv) notifications.webhook = { urlEnv, ...(tokenEnv ? { tokenEnv } : {}) };
  }
  if (n?.email !== undefined) {
    const e = r.object(n.email, 'notifications.email', ['smtpUrlEnv', 'from', 'to'], ['smtpUrlEnv', 'from', 'to']);
    const email = /^[^@\s]+@[^@\s]+$/;
    const smtpUrlEnv = e && r.envName(e.smtpUrlEnv, 'notifications.email.smtpUrlEnv');
    const from = e && r.string(e.from, 'notifications.email.from', { pattern: email, expected: 'an e-mail address' });
    const to = e
      ? r.array(
          e.to,
          'notifications.email.to',
          (x, q) => r.string(x, q, { pattern: email, expected: 'an e-mail address' }),
          { nonEmpty: true },
        )
      : [];
    if (smtpUrlEnv && from) notifications.email = { smtpUrlEnv, from, to };
  }

  const ar = top.archive === undefined ? {} : r.object(top.archive, 'archive', ['docs', 'reason']);
  const archive = {
    docs: r.array(ar?.docs, 'archive.docs', (x, q) => r.repoPath(x, q), { optional: true }),
    reason:
      ar?.reason === undefined ? 'Replaced by the unified pipeline' : (r.string(ar.reason, 'archive.reason') ?? ''),
  };

  const rb = r.object(top.rollback, 'rollback', ['checks', 'budget'], ['checks']);
  const rollback = rb && {
    checks: checks(r, rb.checks, 'rollback.checks', { nonEmpty: true }),
    budgetMs: rb.budget === undefined ? 300_000 : r.duration(rb.budget, 'rollback.budget'),
  };
  const successMetrics = checks(r, top.successMetrics, 'successMetrics', { optional: true });

  const le = top.ledger === undefined ? {} : r.object(top.ledger, 'ledger', ['databaseUrlEnv', 'table']);
  const ledger = {
    databaseUrlEnv:
      (le?.databaseUrlEnv === undefined ? undefined : r.envName(le.databaseUrlEnv, 'ledger.databaseUrlEnv')) ??
      target?.databaseUrlEnv,
    table:
      le?.table === undefined
        ? 'migration_ledger'
        : (r.string(le.table, 'ledger.table', {
            pattern: /^[a-z_][a-z0-9_]*$/,
            expected: 'a table name (a-z, 0-9, _)',
          }) ?? ''),
  };

  if (r.issues.length) throw new PlanValidationError(file, r.issues);
  // `{repository}` in a job's command stands for the target repository's absolute path.
  const repo = (cmd: string[]) => cmd.map((a) => a.split('{repository}').join(target!.repository as string));
  for (const j of legacyJobs) j.command = repo(j.command);
  uj!.command = repo(uj!.command);
  // Every field was checked above; the non-null assertions only restate that.
  return {
    name: name!,
    ...(description ? { description } : {}),
    target: target as Plan['target'],
    legacyJobs,
    unifiedJob: {
      name: uj!.name,
      schedule: uj!.schedule,
      command: uj!.command,
      ...(uj!.script ? { script: uj!.script } : {}),
      containers,
    },
    scheduler: scheduler!,
    traffic: { router: router!, steps },
    parallelRun: parallelRun as Plan['parallelRun'],
    metrics,
    preflight,
    durations: durations as Plan['durations'],
    approvals: { gates, separationOfDuties },
    soak,
    notifications,
    archive,
    rollback: rollback as Plan['rollback'],
    ledger: ledger as Plan['ledger'],
    successMetrics,
  };
}

function stringMap(
  r: Reader,
  v: unknown,
  p: string,
  value: (v: unknown, p: string) => string | undefined,
  key: (k: string) => string = (k) => k,
): Record<string, string> | undefined {
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    return r.fail(p, `expected a mapping, got ${describe(v)}`);
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    const s = value(x, join(p, k));
    if (s !== undefined) out[key(k)] = s;
  }
  return out;
}

/** Reads and validates a YAML plan file; relative paths in it are resolved against the file's folder. */
export function loadPlan(file: string): Plan {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new PlanValidationError(file, [{ path: '', message: `cannot read the file: ${(err as Error).message}` }]);
  }
  let doc: unknown;
  try {
    doc = YAML.parse(text, { uniqueKeys: true });
  } catch (err) {
    throw new PlanValidationError(file, [{ path: '', message: `not valid YAML: ${(err as Error).message}` }]);
  }
  return validatePlan(doc, file, path.dirname(path.resolve(file)));
}

/**
 * The migration plan's YAML form as one zod schema: what a plan may say (the JSON Schema editors read is generated from
 * it), what each field means, the messages a wrong field gets, and the transform to the normalised plan the workflow
 * runs (`Plan` in `./plan`, whose types are derived from here). Workflow-safe: only `zod` and `./constants`; paths on
 * the worker's disk are resolved by the caller's `resolvePath`.
 *
 * The form validates and `toPlan` normalises: no field below the top transforms its value, so the rules that read the
 * whole plan (the inline-secret sweep) see it as written, at the paths it was written at.
 */

import { z } from 'zod';
import { GATES, type GateName } from './constants';
import { HOST_SYSTEM_DOC, HOST_SYSTEMS, type HostSystem } from './constants';
import { parseEd25519PublicKey } from './signatures';
import {
  checkCommand,
  CREDENTIAL_URL,
  describeValue,
  gateSignable,
  type GateRole,
  inlineSecrets,
  jobSchedules,
  keyRules,
  type KeySource,
  parseAllowedSigners,
  measurementKind,
  metricThreshold,
  minSamplesOnSql,
  oneSource,
  crontabTextProblem,
  proseProblem,
  quorum,
  routerFields,
  type RuleIssue,
  schedulerFields,
  jobLocator,
  legacyJobsFor,
  shellMetacharacters,
  singleLineKeys,
  singleLineProblem,
  soakInterval,
  trafficSteps,
  unifiedJobName,
  uniqueNames,
  uniqueRoles,
} from './plan-rules';

// No regular-expression flags: JSON Schema's `pattern` has none, and editors check these patterns too.
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;
const LOWER_NAME = /^[a-z0-9][a-z0-9_-]*$/;
const TABLE = /^[a-z_][a-z0-9_]*$/;
const USER = /^[a-z_][a-z0-9_-]*$/;
const EMAIL = /^[^@\s]+@[^@\s]+$/;
const HTTP_URL = /^https?:\/\//;
const DURATION = /^(\d+(\.\d+)?(ms|s|m|h|d|w))+$/;
const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};
const COMPARATORS = ['<', '<=', '>', '>=', '==', '!='] as const;

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

/** What Node's `path.posix.normalize` gives: `.` and `..` segments resolved, repeated slashes folded. */
export function normalizePosixPath(p: string): string {
  if (p === '') return '.';
  const absolute = p.startsWith('/');
  const trailing = p.endsWith('/');
  const out: string[] = [];
  for (const segment of p.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment !== '..') out.push(segment);
    else if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
    else if (!absolute) out.push('..');
  }
  const joined = out.join('/');
  if (joined === '') return absolute ? '/' : trailing ? './' : '.';
  return `${absolute ? '/' : ''}${joined}${trailing ? '/' : ''}`;
}

/** A path that stays inside the repository it is relative to. */
function insideRepository(p: string): boolean {
  return !p.startsWith('/') && !normalizePosixPath(p).split('/').includes('..');
}

function isRegExp(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}

type RawIssue = z.core.$ZodRawIssue;
const TYPE_NAMES: Record<string, string> = {
  object: 'a mapping',
  record: 'a mapping',
  array: 'a list',
  boolean: 'true or false',
  number: 'a number',
};

/** A field's own issue in the plan's words: `is required`, or `expected …, got …` (`expected` names a string's form). */
function messageOf(iss: RawIssue, expected?: string): string {
  if (iss.input === undefined) return 'is required';
  const got = describeValue(iss.input);
  // Numbers' range messages show the number as it is (`got 150`).
  const number = typeof iss.input === 'number' ? String(iss.input) : got;
  switch (iss.code) {
    case 'invalid_type':
      return `expected ${TYPE_NAMES[iss.expected] ?? expected ?? 'a non-empty string'}, got ${got}`;
    case 'too_small':
      if (iss.origin === 'array') return 'expected at least one entry';
      if (iss.origin === 'string') return `expected ${expected ?? 'a non-empty string'}, got ${got}`;
      return `expected a number ${iss.inclusive ? '>=' : '>'} ${iss.minimum}, got ${number}`;
    case 'not_multiple_of':
      return `expected a whole number, got ${number}`;
    case 'too_big':
      return `expected a number <= ${iss.maximum}, got ${number}`;
    case 'invalid_format':
      return `expected ${expected ?? `a string matching ${iss.pattern}`}, got ${JSON.stringify(iss.input)}`;
    case 'invalid_value':
      return `expected one of ${iss.values.join(', ')}, got ${got}`;
    default:
      return iss.message ?? `expected ${expected ?? 'a valid value'}, got ${got}`;
  }
}

/**
 * The `error` parameter that gives a schema (and its checks) the plan's messages instead of zod's. A field's checks
 * all run (`abort` would also stop the rules of every mapping around it); `schemaIssues` keeps a field's first issue.
 */
const says = (expected?: string) => ({ error: (iss: RawIssue) => messageOf(iss, expected) });

/** The message of a string refused by `problem` (a control character in it), or nothing. */
const refusedBy = (problem: (s: string) => string | undefined) => ({
  error: (iss: RawIssue) => (typeof iss.input === 'string' ? problem(iss.input) : undefined),
});

/**
 * A non-empty string on one line, the form of most of the plan's strings (commands, paths, schedules, names): no
 * control character, tab included, so nothing written from it (a crontab line above all) gains a line. `expected`
 * names it in messages (`expected <expected>, got …`). Free text that may span lines is `prose`.
 */
function text(expected?: string, pattern?: RegExp) {
  const s = z.string(says(expected)).min(1);
  return (pattern ? s.regex(pattern) : s).refine((v) => !singleLineProblem(v), refusedBy(singleLineProblem));
}

/** Text matched against a crontab line as written (a job's `line` or `match`): one line, tabs allowed. */
function crontabText(expected: string) {
  return z
    .string(says(expected))
    .min(1)
    .refine((v) => !crontabTextProblem(v), refusedBy(crontabTextProblem));
}

/** A non-empty free text (a description, an SQL query): tabs and line breaks allowed, no other control character. */
function prose(expected?: string) {
  return z
    .string(says(expected))
    .min(1)
    .refine((v) => !proseProblem(v), refusedBy(proseProblem));
}

/** A mapping with exactly these fields; an unknown one is reported at its own key, with the fields allowed there. */
function mapping<S extends z.core.$ZodLooseShape>(shape: S) {
  const allowed = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (iss) => (iss.code === 'unrecognized_keys' ? `unknown field (allowed here: ${allowed})` : messageOf(iss)),
  });
}

const list = <T extends z.ZodType>(item: T) => z.array(item, says());
const nonEmpty = <T extends z.ZodType>(item: T) => list(item).min(1);
const flag = () => z.boolean(says());
// Whole numbers as `multipleOf(1)`, not `.int()`: zod's integer check stops every rule of the mappings around it.
const whole = () => z.number(says()).multipleOf(1);
const count = (min: number) => whole().min(min);
const stringMap = <T extends z.ZodType>(value: T) => z.record(z.string(), value, says());

type Key = string | number;
type Issues = readonly { readonly path?: readonly PropertyKey[]; readonly code?: string; readonly input?: unknown }[];
type ElementOf<T> = T extends readonly (infer E)[] ? E : never;

/**
 * A partly parsed value as a rule sees it: a field counts only if it parsed cleanly (nothing failed at or under it);
 * an unknown field fails only itself. `T` is the form's type, which a cleanly parsed field has.
 */
class Parsed<T> {
  constructor(
    private readonly data: unknown,
    private readonly issues: Issues,
  ) {}

  private clean(path: readonly Key[]): boolean {
    return !this.issues.some((i) => i.code !== 'unrecognized_keys' && path.every((k, n) => i.path?.[n] === k));
  }

  /** The whole value, if nothing in it failed. */
  value(): T | undefined {
    return this.clean([]) ? (this.data as T) : undefined;
  }

  /** A field as written, valid or not: for rules that ask whether it is there at all. */
  raw(key: keyof T & Key): unknown {
    return this.data !== null && typeof this.data === 'object' ? (this.data as Record<Key, unknown>)[key] : undefined;
  }

  /** A field that parsed cleanly, else undefined. */
  field<K extends keyof T & Key>(key: K): T[K] | undefined {
    return this.clean([key]) ? (this.raw(key) as T[K]) : undefined;
  }

  /** The view of one field (a nested mapping or list). */
  view<K extends keyof T & Key>(key: K): Parsed<NonNullable<T[K]>> {
    return new Parsed(this.raw(key), rebase(this.issues, key));
  }

  /** Each entry of this list, read through its own view. */
  entries<R>(read: (entry: Parsed<ElementOf<T>>) => R): R[] {
    if (!Array.isArray(this.data)) return [];
    return this.data.map((x, i) => read(new Parsed(x, rebase(this.issues, i))));
  }

  /** The value as written: the parsed form, with the raw mapping put back wherever fields were dropped as unknown. */
  written(): unknown {
    return this.issues
      .filter((i) => i.code === 'unrecognized_keys' || i.code === 'invalid_union')
      .reduce((doc, i) => graft(doc, i.path ?? [], i.input), this.data);
  }
}

/** The issues under `key`, with paths from there. */
function rebase(issues: Issues, key: Key): Issues {
  return issues.filter((i) => i.path?.[0] === key).map((i) => ({ ...i, path: i.path?.slice(1) }));
}

function graft(doc: unknown, path: readonly PropertyKey[], raw: unknown): unknown {
  const [k, ...rest] = path;
  if (k === undefined) return raw;
  if (Array.isArray(doc)) return doc.map((x: unknown, i) => (i === k ? graft(x, rest, raw) : x));
  if (doc === null || typeof doc !== 'object') return doc;
  const o = doc as Record<PropertyKey, unknown>;
  return { ...o, [k]: graft(o[k], rest, raw) };
}

/**
 * Applies rules to a schema; they run even when other fields failed, and read only the fields that did not. A value
 * of the wrong type (a string where a mapping goes) has no fields to relate: its rules run only if `anyValue`.
 */
function withRules<S extends z.ZodType>(
  schema: S,
  rules: (p: Parsed<z.output<S>>) => RuleIssue[],
  { anyValue = false } = {},
): S {
  return schema.superRefine(
    (value, ctx) => {
      if (!anyValue && ctx.issues.some((i) => !i.path?.length && i.code === 'invalid_type')) return;
      for (const i of rules(new Parsed(value, ctx.issues)))
        ctx.addIssue({ code: 'custom', path: i.path, message: i.message, params: { rule: true, key: i.key === true } });
    },
    { when: () => true },
  );
}

const under = (prefix: Key[], issues: RuleIssue[]): RuleIssue[] =>
  issues.map((i) => ({ ...i, path: [...prefix, ...i.path] }));

/** The fields of a check that its rules read (a metric is a check with more). */
type CheckFields = { sql?: unknown; command?: unknown; http?: unknown; shell?: unknown };

/** An allow-list entry's name: the entry itself, or its `name`. */
const approverName = (a: string | { name: string }) => (typeof a === 'string' ? a : a.name);

/** The keys of a mapping as written (none of anything else). */
const keysOf = (v: unknown): string[] => (v !== null && typeof v === 'object' ? Object.keys(v) : []);

/** A record with one entry per approval gate, in runbook order. */
function byGate<T>(make: (gate: GateName) => T): Record<GateName, T> {
  return Object.fromEntries(GATES.map((g) => [g, make(g)])) as Record<GateName, T>;
}

/**
 * The schema of the plan's YAML form, built anew for each use and not kept: in the workflow (which checks its own
 * plan once, at the start) the schema's object graph is garbage right after, instead of a few MiB held by every cached
 * migration (measured: 200 migrations at once on one worker). No schema is registered with an `id`, so building it
 * again never collides in zod's registry.
 */
function buildPlanForm() {
  const INLINE_URL =
    'expected the NAME of an environment variable (e.g. TARGET_DATABASE_URL), got an inline URL with credentials: secrets are never written in a plan';
  const envName = z
    .string({
      error: (iss) =>
        typeof iss.input === 'string' && CREDENTIAL_URL.test(iss.input)
          ? INLINE_URL
          : messageOf(iss, 'the name of an environment variable (UPPER_CASE_WITH_UNDERSCORES)'),
    })
    .min(1)
    .regex(ENV_NAME)
    .describe('The NAME of an environment variable of the worker (secrets are never written in a plan).');

  const duration = z
    .string({
      error: (iss) =>
        iss.input === undefined
          ? 'is required'
          : `expected a duration such as 90s, 2h or 7d, got ${describeValue(iss.input)}`,
    })
    .regex(DURATION)
    .refine((s) => (parseDuration(s) ?? 0) > 0, {
      error: (iss) => `expected a duration greater than zero, got ${JSON.stringify(iss.input)}`,
    })
    .describe('A duration such as 90s, 2h, 7d or 1h30m (units ms, s, m, h, d, w).');

  const localPath = text('a path').describe('A path on the worker; relative to the plan file.');
  const queueName = text('a task queue name (letters, digits, _ . -)', NAME);
  const repoPath = text('a path inside the target repository')
    .refine(insideRepository, {
      error: (iss) =>
        `expected a relative path inside the target repository, got ${JSON.stringify(iss.input)} (escapes the repository)`,
    })
    .describe('A path inside the target repository, relative to it.');

  /** Program and arguments, spawned without a shell: shell syntax in an argument is refused. */
  const argv = withRules(nonEmpty(text('a command argument (string)')), (p) =>
    shellMetacharacters(p.entries((a) => a.value())),
  ).describe('Program and arguments, spawned without a shell.');

  const checkShape = {
    name: text('a name (letters, digits, _ . -)', NAME),
    description: prose().optional(),
    sql: prose('an SQL query')
      .describe('SQL whose first column of the first row is the number; `$1`, if used, is the window start.')
      .optional(),
    databaseUrlEnv: envName.describe('For sql: the database URL variable; default: the target database.').optional(),
    command: z
      .union([text('a shell command line (shell: true)'), nonEmpty(text('a command argument (string)'))], {
        error: (iss) => `expected a list (or one command line with shell: true), got ${describeValue(iss.input)}`,
      })
      .describe('Program and arguments, spawned without a shell unless `shell` is true (then one command line).')
      .optional(),
    shell: flag().default(false).describe('Run `command` (one string) through a shell.'),
    readOnly: flag()
      .default(false)
      .describe(
        'For command: it changes nothing, so a rehearsal runs it (otherwise a rehearsal reports it as "would run").',
      ),
    pattern: prose()
      .refine(isRegExp, { error: 'expected a valid regular expression' })
      .describe('Regular expression whose first capture group is the number; default: the last number in the output.')
      .optional(),
    timeout: duration.optional(),
    cwd: repoPath.describe('Working directory of `command`, relative to the target repository.').optional(),
    http: text('an http(s) URL', HTTP_URL)
      .describe('URL to GET; the number comes from `pattern` or `jsonPath`.')
      .optional(),
    jsonPath: text().describe('Dot path of the number in a JSON body.').optional(),
    op: z.enum(COMPARATORS, says()).describe('How the measured value compares with `threshold` to pass.'),
    threshold: z.number(says()),
    unit: text().optional(),
  };

  const sources = (p: Parsed<CheckFields>) => ({ sql: p.raw('sql'), command: p.raw('command'), http: p.raw('http') });

  /** One source per check, and a command that matches its `shell`. */
  function checkRules(p: Parsed<CheckFields>): RuleIssue[] {
    return [
      ...oneSource(sources(p)),
      ...checkCommand(p.raw('command'), p.raw('shell') === true, p.field('command') !== undefined),
    ];
  }

  const check = withRules(mapping(checkShape), checkRules).describe(
    'A named measurement (exactly one of sql, command or http) compared with a threshold.',
  );
  const checks = withRules(list(check), (p) => uniqueNames(p.entries((c) => c.field('name'))));

  const metric = withRules(
    mapping({
      ...checkShape,
      failureLimit: count(0).default(0).describe('Failed evaluations tolerated in total (0: the first one fails).'),
      consecutiveFailureLimit: count(0).default(0).describe('Consecutive failed evaluations tolerated.'),
      inconclusiveLimit: count(0)
        .describe('Inconclusive readings tolerated; one more pauses the migration and asks a person. Absent: never.')
        .optional(),
      minSamples: count(1)
        .describe('Fewest samples a reading needs to count (an sql metric: its second column is the sample count).')
        .optional(),
      dryRun: flag().default(false).describe('Recorded and reported, never decides.'),
    }),
    (p) => [
      ...checkRules(p),
      ...minSamplesOnSql(measurementKind(sources(p)), p.field('minSamples')),
      ...metricThreshold(p.field('name'), p.field('threshold')),
    ],
  ).describe('A metric gate: a check evaluated at every traffic step and soak interval, with failure limits.');

  const jobShape = {
    name: text('a job name (letters, digits, _ . -)', NAME),
    schedule: text('a cron expression such as "*/5 * * * *"').describe(
      'When the job runs, as its scheduler reads it: crontab (Vixie cron) takes five fields or @reboot, @daily and ' +
        'the like; a Temporal Schedule five fields, @daily and the like, or @every 90m.',
    ),
    command: argv.describe(
      'Program and arguments, spawned without a shell; `{repository}` in one stands for the target repository.',
    ),
    script: repoPath
      .describe("The job's script inside the target repository (what the archive step moves).")
      .optional(),
  };
  const job = withRules(
    mapping({
      ...jobShape,
      line: crontabText('the whole crontab line as it stands (schedule and command)')
        .describe('Finds the job by its whole crontab line, exactly as written today (surrounding blanks ignored).')
        .optional(),
      match: crontabText('a substring of the crontab line, or /regex/ over it')
        .describe(
          'Finds the job by a substring of its crontab line, or `/regex/` over the line; it must match exactly one.',
        )
        .optional(),
      scheduleId: text('a Temporal Schedule ID (letters, digits, _ . -)', NAME)
        .describe('Finds the job by the ID of the Temporal Schedule that runs it today.')
        .optional(),
    }),
    (p) => jobLocator({ line: p.raw('line'), match: p.field('match') }, isRegExp),
  ).describe(
    'A legacy job as scheduled today. `line`, `match` or `scheduleId` say how to find it; without one, its line is ' +
      '`schedule` and the quoted `command`.',
  );

  const container = mapping({
    service: text('a service name', LOWER_NAME),
    image: text('an image reference'),
    command: list(text('a string')),
    env: stringMap(prose('a string value')).optional(),
    envFrom: stringMap(envName)
      .describe('Environment of the container: values are names of worker environment variables, resolved there.')
      .optional(),
    mounts: withRules(stringMap(text('an absolute path inside the container', /^\//)), (p) =>
      singleLineKeys(keysOf(p.written())),
    )
      .describe('Host path (relative to the plan file) → container path, mounted read-only.')
      .optional(),
  }).describe('One container of the unified pipeline.');

  const scheduler = withRules(
    mapping({
      kind: z.enum(['crontab', 'temporal-schedule'], says()),
      user: text('a user name', USER).describe("crontab user; default the worker's user.").optional(),
      idPrefix: text('a schedule ID prefix (letters, digits, _ . -)', NAME).describe('Schedule ID prefix.').optional(),
    }),
    (p) => schedulerFields(p.field('kind'), { user: p.raw('user'), idPrefix: p.raw('idPrefix') }),
  );

  const router = withRules(
    mapping({
      kind: z.enum(['table', 'command'], says()),
      table: text('a table name (lower-case, _)', TABLE).default('migration_routing').describe('For kind table.'),
      command: argv
        .describe('For kind command: `{percent}` in any argument is replaced by the new percent.')
        .optional(),
    }),
    (p) => routerFields(p.field('kind'), p.raw('command')),
  );

  const steps = withRules(nonEmpty(whole().gt(0).lte(100)), (p) => trafficSteps(p.entries((s) => s.value()))).describe(
    'Percent of the traffic on the unified pipeline at each step, rising to 100.',
  );

  const KEY_LINE = 'an OpenSSH "ssh-ed25519 AAAA…" public key line';
  /** A person's public key, the line of their `~/.ssh/id_ed25519.pub`. */
  const publicKey = z
    .string(says(KEY_LINE))
    .min(1)
    .refine((k) => typeof parseEd25519PublicKey(k) !== 'string', {
      error: (iss) => `expected ${KEY_LINE}, got ${describeValue(iss.input)}`,
    })
    .describe("The approver's OpenSSH Ed25519 public key (the line of ~/.ssh/id_ed25519.pub).");

  /** An allow-list entry: a name, or a name with the key the person signs with. */
  const approver = z.union([text('an approver name'), mapping({ name: text('an approver name'), key: publicKey })], {
    error: (iss) => `expected a name or a mapping { name, key }, got ${describeValue(iss.input)}`,
  });

  const role = withRules(
    mapping({
      role: text('a role name', NAME),
      approvers: nonEmpty(approver)
        .describe('Allow-list of approvers for this role (names, or { name, key }); absent: anyone may sign.')
        .optional(),
      required: count(1).describe('Distinct approvers this role needs (a quorum); default 1.').optional(),
    }),
    (p) => quorum(p.field('required'), p.field('approvers')?.map(approverName)),
  );

  const gate = mapping({
    roles: withRules(
      nonEmpty(
        z.union([text('a role name', NAME), role], {
          error: (iss) => `expected a mapping, got ${describeValue(iss.input)}`,
        }),
      ),
      (p) =>
        uniqueRoles(
          p.entries((r) => {
            const v = r.value();
            return typeof v === 'string' ? v : v?.role;
          }),
        ),
    ),
    timeout: duration.default('7d'),
    onTimeout: z
      .enum(['abort', 'notify-and-wait'], says())
      .default('notify-and-wait')
      .describe('What happens when the timeout passes without every role signed.'),
    remindEvery: duration
      .describe(
        'While the gate waits: a reminder to the notification channels this often (absent: only at the timeout).',
      )
      .optional(),
  }).describe('An approval gate: the roles that sign it and how long it waits.');

  const planShape = {
    name: text('a migration name (letters, digits, _ . -)', NAME).describe(
      'The migration, as named in IDs and reports.',
    ),
    description: prose().optional(),
    target: mapping({
      databaseUrlEnv: envName,
      repository: localPath.describe('Git repository that holds the legacy scripts (relative to the plan file).'),
      composeProject: text('a compose project name (lower-case letters, digits, _ -)', LOWER_NAME).describe(
        'Compose-style project name of the unified containers.',
      ),
      backupDir: localPath,
      backupTimeout: duration
        .describe('The longest one backup (pg_dump, verifying restore, row counts and hash) may take; default 30m.')
        .optional(),
      reportDir: localPath,
      agentQueue: queueName
        .describe(
          'Task queue of the agent on the target host (the worker binary started with MO_TASK_QUEUE set to it): the crontab, the scripts and git, Docker, the backup files and the commands are acted on there. Absent: on the central workers.',
        )
        .optional(),
      agentQueues: mapping(
        Object.fromEntries(
          HOST_SYSTEMS.map((sys) => [sys, queueName.describe(`Agent queue for ${HOST_SYSTEM_DOC[sys]}.`).optional()]),
        ) as Record<HostSystem, z.ZodOptional<typeof queueName>>,
      )
        .describe('One agent queue per system, when the database, cron and Docker hosts differ (over agentQueue).')
        .optional(),
    }).describe('The system being migrated.'),
    legacyJobs: withRules(nonEmpty(job), (p) => uniqueNames(p.entries((j) => j.field('name')))).describe(
      'The cron jobs the migration retires.',
    ),
    unifiedJob: mapping({ ...jobShape, containers: nonEmpty(container) }).describe(
      'The job that replaces them, and the containers of the unified pipeline.',
    ),
    scheduler: scheduler.default({ kind: 'crontab' }).describe('Where the jobs are scheduled.'),
    traffic: mapping({
      router: router.default({ kind: 'table', table: 'migration_routing' }).describe('How traffic is shifted.'),
      steps: steps.default(() => [10, 25, 50, 100]),
    }).describe('The gradual traffic shift to the unified pipeline.'),
    parallelRun: mapping({
      comparisonSql: prose('an SQL query returning (total, matched)').describe(
        "SQL returning one row (total, matched) comparing both pipelines' outputs since $1.",
      ),
      mismatchSql: prose().describe('SQL returning sample mismatches (any columns) since $1.').optional(),
      minMatchRatio: z.number(says()).gt(0).lte(1).describe('Share of matching outputs needed to go on.'),
    }).describe('Both pipelines run side by side and their outputs are compared.'),
    metrics: withRules(nonEmpty(metric), (p) => uniqueNames(p.entries((m) => m.field('name')))).describe(
      'The metric gates of the traffic shift and the soak.',
    ),
    preflight: checks.min(1).describe('Checks that must pass before anything changes.'),
    durations: withRules(
      mapping({
        parallelRun: duration,
        bake: duration,
        monitoringWindow: duration,
        soak: duration,
        soakInterval: duration,
      }),
      (p) => soakInterval(msOf(p.field('soak')), msOf(p.field('soakInterval'))),
    ).describe('How long each phase runs: the parallel run, each traffic step (bake), the metrics window, the soak.'),
    approvals: withRules(
      mapping({
        separationOfDuties: flag().default(true).describe('No person signs more than one role of a gate.'),
        keys: stringMap(publicKey)
          .describe(
            'Approver name → OpenSSH Ed25519 public key. With keys, every approval and rejection must be signed.',
          )
          .optional(),
        keysFile: localPath
          .describe('A file of "name ssh-ed25519 AAAA…" lines (ssh allowed_signers form), relative to the plan file.')
          .optional(),
        gates: mapping(byGate(() => gate)),
      }),
      // The keys are known only once the keys file is read: who may sign with them is checked in `planSchema`.
      (p) =>
        GATES.flatMap((g) => {
          const roles = p.view('gates').view(g).field('roles');
          const sod = p.field('separationOfDuties');
          return roles && sod !== undefined ? under(['gates', g], gateSignable(roles.map(gateRole), sod)) : [];
        }),
    ).describe('The approval gates: go, cutover and sign-off, and the keys their approvers sign with.'),
    soak: mapping({
      onFailure: z
        .enum(['rollback', 'pause'], says())
        .default('rollback')
        .describe('What a failed metric gate in the soak does: roll back, or pause and ask a person.'),
    }).default({ onFailure: 'rollback' }),
    notifications: mapping({
      webhook: mapping({ urlEnv: envName, tokenEnv: envName.optional() }).optional(),
      email: mapping({
        smtpUrlEnv: envName,
        from: text('an e-mail address', EMAIL),
        to: nonEmpty(text('an e-mail address', EMAIL)),
      }).optional(),
    })
      .default(() => ({}))
      .describe('Where gates, reminders and outcomes are announced.'),
    archive: mapping({
      docs: list(repoPath)
        .default(() => [])
        .describe('Documents (inside the repository) whose references to the legacy scripts are updated.'),
      reason: text().default('Replaced by the unified pipeline'),
    }).default(() => ({ docs: [], reason: 'Replaced by the unified pipeline' })),
    rollback: mapping({
      checks: checks.min(1).describe('Checks that prove the rollback restored the legacy system.'),
      budget: duration.default('5m').describe('How long the whole rollback may take.'),
    }),
    successMetrics: checks
      .default(() => [])
      .describe('Success metrics of the completion report: each names a metric or check and the target it must meet.'),
    ledger: mapping({
      databaseUrlEnv: envName.optional(),
      table: text('a table name (a-z, 0-9, _)', TABLE).default('migration_ledger'),
    })
      .default(() => ({ table: 'migration_ledger' }))
      .describe('Where every evaluation, reading, approval and undo is appended; default: the target database.'),
  };

  const planForm = withRules(
    mapping(planShape),
    (p) => [
      // Whatever the document is: a secret in it is reported even where nothing else could be read.
      ...inlineSecrets(p.written()),
      ...legacyJobsFor(
        p.view('scheduler').field('kind'),
        p
          .view('legacyJobs')
          .entries((j) => ({ line: j.raw('line'), match: j.raw('match'), scheduleId: j.raw('scheduleId') })),
      ),
      ...jobSchedules(
        p.view('scheduler').field('kind'),
        p.view('legacyJobs').entries((j) => j.field('schedule')),
        p.view('unifiedJob').field('schedule'),
      ),
      ...under(
        ['unifiedJob'],
        unifiedJobName(
          p.view('unifiedJob').field('name'),
          p.view('legacyJobs').entries((j) => j.field('name')),
        ),
      ),
    ],
    { anyValue: true },
  ).meta({
    title: 'Migration plan',
    description:
      'A legacy-to-unified cutover runbook for the migration orchestrator. Durations are strings such as 7d.',
  });
  return planForm;
}

/** The plan's YAML form as validated (before it is normalised). */
type PlanForm = z.output<ReturnType<typeof buildPlanForm>>;
type CheckForm = PlanForm['preflight'][number];

const msOf = (d: string | undefined) => (d === undefined ? undefined : parseDuration(d));

/** How the plan's paths on the worker's disk are resolved (the client: against the plan file's folder). */
export interface PlanSchemaOptions {
  resolvePath: (p: string) => string;
  /** Reads the file `approvals.keysFile` names (already resolved); absent where no file can be read. */
  readFile?: (p: string) => string;
}

/** The plan's YAML form, validated and normalised into the plan the workflow runs. */
export function planSchema(options: PlanSchemaOptions) {
  return buildPlanForm().transform((form, ctx) => {
    const approvers = approverKeys(form, options);
    const { keys } = approvers;
    // A gate only people without a key could sign is one the workflow refuses every approval of.
    const issues = approvers.issues.length ? approvers.issues : signableWithKeys(form, Object.keys(keys));
    for (const i of issues) ctx.addIssue({ code: 'custom', path: i.path, message: i.message, params: { rule: true } });
    return issues.length ? z.NEVER : toPlan(form, options.resolvePath, keys);
  });
}

/** A gate's role as written: a bare name, or a mapping with a quorum and an allow-list. */
type RoleForm = string | { role: string; required?: number; approvers?: readonly (string | { name: string })[] };

/** A gate role as the signing rule reads it (a bare name needs one person, anyone). */
function gateRole(r: RoleForm): GateRole {
  if (typeof r === 'string') return { role: r, required: 1 };
  return {
    role: r.role,
    required: r.required ?? 1,
    ...(r.approvers ? { approvers: r.approvers.map(approverName) } : {}),
  };
}

/** With keys, every gate can be signed by the people who have one (all approvals are signed). */
function signableWithKeys(f: PlanForm, keyHolders: string[]): RuleIssue[] {
  if (!keyHolders.length) return [];
  return GATES.flatMap((g) =>
    under(
      ['approvals', 'gates', g],
      gateSignable(f.approvals.gates[g].roles.map(gateRole), f.approvals.separationOfDuties, keyHolders),
    ),
  );
}

/**
 * Every approver's key, from `approvals.keys`, the allow-list entries `{ name, key }` and `approvals.keysFile`: one key
 * per person, and with keys, one for every person on an allow-list (someone without one could never sign).
 */
function approverKeys(f: PlanForm, options: PlanSchemaOptions): { keys: Record<string, string>; issues: RuleIssue[] } {
  const found: KeySource[] = Object.entries(f.approvals.keys ?? {}).map(([name, key]) => ({
    name,
    key,
    path: ['approvals', 'keys', name],
  }));
  const listed: { name: string; path: Key[] }[] = [];
  for (const g of GATES)
    f.approvals.gates[g].roles.forEach((r, i) => {
      if (typeof r === 'string') return;
      r.approvers?.forEach((a, j) => {
        const path = ['approvals', 'gates', g, 'roles', i, 'approvers', j];
        listed.push({ name: approverName(a), path });
        if (typeof a !== 'string') found.push({ name: a.name, key: a.key, path: [...path, 'key'] });
      });
    });
  const file = f.approvals.keysFile;
  const fromFile = file === undefined ? { sources: [], issues: [] } : readKeysFile(file, options);
  return keyRules([...found, ...fromFile.sources], listed, fromFile.issues);
}

function readKeysFile(file: string, options: PlanSchemaOptions): { sources: KeySource[]; issues: RuleIssue[] } {
  const path = ['approvals', 'keysFile'];
  if (!options.readFile)
    return { sources: [], issues: [{ path, message: 'cannot be read here: give the keys inline (approvals.keys)' }] };
  let text: string;
  try {
    text = options.readFile(options.resolvePath(file));
  } catch (err) {
    return { sources: [], issues: [{ path, message: `cannot read the keys file: ${(err as Error).message}` }] };
  }
  const { sources, issues } = parseAllowedSigners(text, path);
  const bad = sources.filter((s) => typeof parseEd25519PublicKey(s.key) === 'string');
  return {
    sources: sources.filter((s) => !bad.includes(s)),
    issues: [
      ...issues,
      ...bad.map((s) => ({ path, message: `${s.where}: the key of ${s.name} is not an Ed25519 key` })),
    ],
  };
}

function toPlan(f: PlanForm, resolvePath: (p: string) => string, keys: Record<string, string>) {
  const target = {
    databaseUrlEnv: f.target.databaseUrlEnv,
    repository: resolvePath(f.target.repository),
    composeProject: f.target.composeProject,
    backupDir: resolvePath(f.target.backupDir),
    ...(f.target.backupTimeout !== undefined ? { backupTimeoutMs: ms(f.target.backupTimeout) } : {}),
    reportDir: resolvePath(f.target.reportDir),
    ...(f.target.agentQueue !== undefined ? { agentQueue: f.target.agentQueue } : {}),
    ...(f.target.agentQueues !== undefined ? { agentQueues: f.target.agentQueues } : {}),
  };
  // `{repository}` in a job's command stands for the target repository's absolute path.
  const inRepository = (command: string[]) => command.map((a) => a.split('{repository}').join(target.repository));
  const { parallelRun: pr, durations: d } = f;
  return {
    name: f.name,
    ...(f.description !== undefined ? { description: f.description } : {}),
    target,
    legacyJobs: f.legacyJobs.map((j) => toJob(j, inRepository)),
    unifiedJob: {
      ...toJob(f.unifiedJob, inRepository),
      containers: f.unifiedJob.containers.map((c) => toContainer(c, resolvePath)),
    },
    scheduler: toScheduler(f.scheduler),
    traffic: { router: toRouter(f.traffic.router), steps: f.traffic.steps },
    parallelRun: {
      comparisonQuery: pr.comparisonSql,
      ...(pr.mismatchSql !== undefined ? { mismatchQuery: pr.mismatchSql } : {}),
      minMatchRatio: pr.minMatchRatio,
    },
    metrics: f.metrics.map(toMetric),
    preflight: f.preflight.map(toCheck),
    durations: {
      parallelRunMs: ms(d.parallelRun),
      bakeMs: ms(d.bake),
      monitoringWindowMs: ms(d.monitoringWindow),
      soakMs: ms(d.soak),
      soakIntervalMs: ms(d.soakInterval),
    },
    approvals: {
      gates: byGate((g) => toGate(f.approvals.gates[g])),
      separationOfDuties: f.approvals.separationOfDuties,
      ...(Object.keys(keys).length ? { keys } : {}),
    },
    soak: { onFailure: f.soak.onFailure },
    notifications: toNotifications(f.notifications),
    archive: { docs: f.archive.docs.map(normalizePosixPath), reason: f.archive.reason },
    rollback: { checks: f.rollback.checks.map(toCheck), budgetMs: ms(f.rollback.budget) },
    ledger: { databaseUrlEnv: f.ledger.databaseUrlEnv ?? target.databaseUrlEnv, table: f.ledger.table },
    successMetrics: f.successMetrics.map(toCheck),
  };
}

/** A value the schema has made sure of; its absence here is a bug in the schema, not in the plan. */
function sure<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`plan schema: ${what} passed validation without a value`);
  return value;
}

/** `{ [key]: true }` for a flag that is on, else nothing: the normalised plan spells out only the flags that are on. */
function onlyIfOn<K extends string>(key: K, on: boolean): Partial<Record<K, boolean>> {
  return on ? ({ [key]: on } as Record<K, boolean>) : {};
}

/** A duration the schema has checked, in milliseconds. */
const ms = (d: string) => sure(parseDuration(d), 'a duration');

function toCheck(c: CheckForm) {
  return {
    name: c.name,
    op: c.op,
    threshold: c.threshold,
    measure: toMeasurement(c),
    ...(c.description !== undefined ? { description: c.description } : {}),
    ...(c.unit !== undefined ? { unit: c.unit } : {}),
  };
}

function toMeasurement(c: CheckForm) {
  if (c.sql !== undefined)
    return {
      kind: 'sql' as const,
      query: c.sql,
      ...(c.databaseUrlEnv !== undefined ? { databaseUrlEnv: c.databaseUrlEnv } : {}),
    };
  if (c.command !== undefined)
    return {
      kind: 'command' as const,
      command: typeof c.command === 'string' ? [c.command] : c.command,
      ...onlyIfOn('shell', c.shell),
      ...onlyIfOn('readOnly', c.readOnly),
      ...(c.pattern !== undefined ? { pattern: c.pattern } : {}),
      ...(c.timeout !== undefined ? { timeoutMs: ms(c.timeout) } : {}),
      ...(c.cwd !== undefined ? { cwd: normalizePosixPath(c.cwd) } : {}),
    };
  return {
    kind: 'http' as const,
    url: sure(c.http, 'a check source'),
    ...(c.pattern !== undefined ? { pattern: c.pattern } : {}),
    ...(c.jsonPath !== undefined ? { jsonPath: c.jsonPath } : {}),
    ...(c.timeout !== undefined ? { timeoutMs: ms(c.timeout) } : {}),
  };
}

function toMetric(m: PlanForm['metrics'][number]) {
  return {
    ...toCheck(m),
    failureLimit: m.failureLimit,
    consecutiveFailureLimit: m.consecutiveFailureLimit,
    ...(m.inconclusiveLimit !== undefined ? { inconclusiveLimit: m.inconclusiveLimit } : {}),
    ...(m.minSamples !== undefined ? { minSamples: m.minSamples } : {}),
    ...onlyIfOn('dryRun', m.dryRun),
  };
}

type JobForm = Omit<PlanForm['unifiedJob'], 'containers'> &
  Partial<Pick<PlanForm['legacyJobs'][number], 'line' | 'match' | 'scheduleId'>>;

function toJob(j: JobForm, inRepository: (command: string[]) => string[]) {
  return {
    name: j.name,
    schedule: j.schedule,
    command: inRepository(j.command),
    ...(j.script !== undefined ? { script: normalizePosixPath(j.script) } : {}),
    ...(j.line !== undefined ? { line: j.line.trim() } : {}),
    ...(j.match !== undefined ? { match: j.match } : {}),
    ...(j.scheduleId !== undefined ? { scheduleId: j.scheduleId } : {}),
  };
}

function toContainer(c: PlanForm['unifiedJob']['containers'][number], resolvePath: (p: string) => string) {
  const mounts = c.mounts && Object.fromEntries(Object.entries(c.mounts).map(([host, at]) => [resolvePath(host), at]));
  return {
    service: c.service,
    image: c.image,
    command: c.command,
    ...(c.env !== undefined ? { env: c.env } : {}),
    ...(c.envFrom !== undefined ? { envFrom: c.envFrom } : {}),
    ...(mounts !== undefined ? { mounts } : {}),
  };
}

function toScheduler(s: PlanForm['scheduler']) {
  return s.kind === 'crontab'
    ? { kind: 'crontab' as const, ...(s.user !== undefined ? { user: s.user } : {}) }
    : { kind: 'temporal-schedule' as const, ...(s.idPrefix !== undefined ? { idPrefix: s.idPrefix } : {}) };
}

function toRouter(r: PlanForm['traffic']['router']) {
  return r.kind === 'table'
    ? { kind: 'table' as const, table: r.table }
    : { kind: 'command' as const, command: sure(r.command, 'a command router') };
}

function toGate(g: PlanForm['approvals']['gates'][GateName]) {
  return {
    roles: g.roles.map((r) =>
      typeof r === 'string'
        ? { role: r }
        : {
            role: r.role,
            ...(r.approvers !== undefined ? { approvers: r.approvers.map(approverName) } : {}),
            // A quorum of one is the default: the normalised plan spells out only a larger one.
            ...(r.required !== undefined && r.required > 1 ? { required: r.required } : {}),
          },
    ),
    timeoutMs: ms(g.timeout),
    onTimeout: g.onTimeout,
    ...(g.remindEvery !== undefined ? { remindEveryMs: ms(g.remindEvery) } : {}),
  };
}

function toNotifications(n: PlanForm['notifications']) {
  const { webhook, email } = n;
  return {
    ...(webhook !== undefined
      ? {
          webhook: {
            urlEnv: webhook.urlEnv,
            ...(webhook.tokenEnv !== undefined ? { tokenEnv: webhook.tokenEnv } : {}),
          },
        }
      : {}),
    ...(email !== undefined ? { email: { smtpUrlEnv: email.smtpUrlEnv, from: email.from, to: email.to } } : {}),
  };
}

/** One problem in a plan, located by its keys; `at: 'key'` when the key itself is wrong (unknown, secret-named). */
export interface SchemaIssue {
  keys: Key[];
  message: string;
  at: 'key' | 'value';
}

/** `metrics[0].name` for `['metrics', 0, 'name']`. */
export function issuePath(keys: readonly Key[]): string {
  return keys.reduce<string>((p, k) => (typeof k === 'number' ? `${p}[${k}]` : p ? `${p}.${k}` : k), '');
}

/** Zod's issues as the plan's: one per unknown key, and of a union only the alternative the value was meant as. */
export function schemaIssues(issues: readonly z.core.$ZodIssue[], prefix: readonly Key[] = []): SchemaIssue[] {
  // A field's first issue says it (`expected a duration`, not also `greater than zero`); every rule's issue counts.
  const seen = new Set<string>();
  const said = issues.filter((i) => {
    if (i.code === 'custom' && i.params?.rule === true) return true;
    const at = JSON.stringify(i.path);
    return !seen.has(at) && Boolean(seen.add(at));
  });
  return said.flatMap((iss): SchemaIssue[] => {
    const keys = [...prefix, ...iss.path.map((k) => (typeof k === 'number' ? k : String(k)))];
    if (iss.code === 'unrecognized_keys')
      return iss.keys.map((k) => ({ keys: [...keys, k], message: iss.message, at: 'key' }));
    if (iss.code === 'invalid_union') {
      // An alternative that failed on the value's type (a string where a mapping goes) was not the one meant.
      const meant = iss.errors.filter((alt) => !alt.some((e) => e.path.length === 0 && e.code === 'invalid_type'));
      if (meant.length === 1) return schemaIssues(meant[0]!, keys);
    }
    const at = iss.code === 'custom' && iss.params?.key === true ? 'key' : 'value';
    return [{ keys, message: iss.message, at }];
  });
}

/** Validates a plan's YAML form and normalises it, or lists every problem at once. */
export function parsePlan(doc: unknown, options: PlanSchemaOptions) {
  const result = planSchema(options).safeParse(doc);
  return result.success
    ? { success: true as const, plan: result.data }
    : { success: false as const, issues: schemaIssues(result.error.issues) };
}

/** The JSON Schema of the YAML form (draft-07, which editors' YAML language servers read). */
export function planJsonSchema() {
  return z.toJSONSchema(planSchema({ resolvePath: (p) => p }), { io: 'input', target: 'draft-07' });
}

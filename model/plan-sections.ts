/**
 * The plan's YAML form as zod schemas, one builder per section of the plan (target, jobs, scheduler, traffic, parallel
 * run, checks and metrics, durations, approvals, soak, notifications, archive, rollback, ledger), put together by
 * `buildPlanForm` with the rules that relate sections. Workflow-safe: only `zod` and `model/`.
 *
 * Every schema here is built when its builder is called, never at load time (see `buildPlanForm` for why), and no
 * section transforms its value: `toPlan` in `./plan-schema` normalises, so the rules that read the whole plan (the
 * inline-secret sweep) see it as written, at the paths it was written at.
 */

import { z } from 'zod';
import {
  DEFAULT_RETRY,
  GATES,
  type GateName,
  HOST_SYSTEM_DOC,
  HOST_SYSTEMS,
  type HostSystem,
  type RetryKind,
} from './constants';
import {
  COMPARATORS,
  count,
  crontabText,
  DURATION,
  EMAIL,
  ENV_NAME,
  flag,
  HTTP_URL,
  insideRepository,
  isRegExp,
  keysOf,
  list,
  LOWER_NAME,
  mapping,
  messageOf,
  NAME,
  nonEmpty,
  parseDuration,
  type Parsed,
  prose,
  says,
  stringMap,
  TABLE,
  text,
  under,
  USER,
  whole,
  withRules,
} from './plan-form';
import {
  checkCommand,
  CREDENTIAL_URL,
  describeValue,
  gateSignable,
  type GateRole,
  inlineSecrets,
  jobLocator,
  retryIntervals,
  jobSchedules,
  legacyJobsFor,
  measurementKind,
  metricThreshold,
  minSamplesOnSql,
  oneSource,
  quorum,
  routerFields,
  type RuleIssue,
  schedulerFields,
  shellMetacharacters,
  singleLineKeys,
  soakInterval,
  sqlStatements,
  trafficSteps,
  unifiedJobName,
  uniqueNames,
  uniqueRoles,
} from './plan-rules';
import { parseEd25519PublicKey } from './signatures';

const INLINE_URL =
  'expected the NAME of an environment variable (e.g. TARGET_DATABASE_URL), got an inline URL with credentials: secrets are never written in a plan';
const KEY_LINE = 'an OpenSSH "ssh-ed25519 AAAA…" public key line';

/** The name of a worker environment variable; a URL with credentials written in its place gets its own message. */
function envNameSchema() {
  return z
    .string({
      error: (iss) =>
        typeof iss.input === 'string' && CREDENTIAL_URL.test(iss.input)
          ? INLINE_URL
          : messageOf(iss, 'the name of an environment variable (UPPER_CASE_WITH_UNDERSCORES)'),
    })
    .min(1)
    .regex(ENV_NAME)
    .describe('The NAME of an environment variable of the worker (secrets are never written in a plan).');
}

/** A duration such as `90s` or `7d`, greater than zero. */
function durationSchema() {
  return z
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
}

/** The field forms that several sections use, built once per form and shared by them. */
function fieldSchemas() {
  return {
    envName: envNameSchema(),
    duration: durationSchema(),
    localPath: text('a path').describe('A path on the worker; relative to the plan file.'),
    repoPath: text('a path inside the target repository')
      .refine(insideRepository, {
        error: (iss) =>
          `expected a relative path inside the target repository, got ${JSON.stringify(iss.input)} (escapes the repository)`,
      })
      .describe('A path inside the target repository, relative to it.'),
    // Program and arguments, spawned without a shell: shell syntax in an argument is refused.
    argv: withRules(nonEmpty(text('a command argument (string)')), (p) =>
      shellMetacharacters(p.entries((a) => a.value())),
    ).describe('Program and arguments, spawned without a shell.'),
  };
}

type Fields = ReturnType<typeof fieldSchemas>;

/** The fields of a check: a name, its source (sql, command or http) and the threshold its number is compared with. */
function checkShape({ envName, duration, repoPath }: Fields) {
  return {
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
    timeout: duration
      .describe('How long the measurement may take (sql: its statement timeout, default 30s).')
      .optional(),
    cwd: repoPath.describe('Working directory of `command`, relative to the target repository.').optional(),
    http: text('an http(s) URL', HTTP_URL)
      .describe('URL to GET; the number comes from `pattern` or `jsonPath`.')
      .optional(),
    jsonPath: text().describe('Dot path of the number in a JSON body.').optional(),
    op: z.enum(COMPARATORS, says()).describe('How the measured value compares with `threshold` to pass.'),
    threshold: z.number(says()),
    unit: text().optional(),
  };
}

/** The fields of a check that its rules read (a metric is a check with more). */
type CheckFields = { sql?: unknown; command?: unknown; http?: unknown; shell?: unknown };

const sources = (p: Parsed<CheckFields>) => ({ sql: p.raw('sql'), command: p.raw('command'), http: p.raw('http') });

/** One source per check, and a command that matches its `shell`. */
function checkRules(p: Parsed<CheckFields>): RuleIssue[] {
  return [
    ...oneSource(sources(p)),
    ...checkCommand(p.raw('command'), p.raw('shell') === true, p.field('command') !== undefined),
    ...sqlStatements({ sql: p.field('sql') }),
  ];
}

/** Lists of checks (preflight, rollback, success metrics) and the metric gates, which are checks with limits. */
function checkSchemas(fields: Fields) {
  const shape = checkShape(fields);
  const check = withRules(mapping(shape), checkRules).describe(
    'A named measurement (exactly one of sql, command or http) compared with a threshold.',
  );
  const metric = withRules(
    mapping({
      ...shape,
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
  return {
    checks: withRules(list(check), (p) => uniqueNames(p.entries((c) => c.field('name')))),
    metrics: withRules(nonEmpty(metric), (p) => uniqueNames(p.entries((m) => m.field('name')))).describe(
      'The metric gates of the traffic shift and the soak.',
    ),
  };
}

/** The fields of every job, legacy or unified. */
function jobShape({ argv, repoPath }: Fields) {
  return {
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
}

/** A legacy job as scheduled today, with how to find it there. */
function legacyJobSchema(shape: ReturnType<typeof jobShape>) {
  return withRules(
    mapping({
      ...shape,
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
}

/** One container of the unified pipeline. */
function containerSchema({ envName }: Fields) {
  return mapping({
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
}

/** The legacy jobs the migration retires and the unified job that replaces them, with its containers. */
function jobSchemas(fields: Fields) {
  const shape = jobShape(fields);
  return {
    legacyJobs: withRules(nonEmpty(legacyJobSchema(shape)), (p) =>
      uniqueNames(p.entries((j) => j.field('name'))),
    ).describe('The cron jobs the migration retires.'),
    unifiedJob: mapping({
      ...shape,
      containers: nonEmpty(containerSchema(fields)),
      stopGrace: fields.duration
        .default('10s')
        .describe(
          'How long a unified container is given to stop (SIGTERM) before it is killed, at a rollback; at most 90s.',
        ),
    }).describe('The job that replaces them, and the containers of the unified pipeline.'),
  };
}

/** The system being migrated: its database, repository, containers, backups, reports and agent queues. */
function targetSchema({ envName, duration, localPath }: Fields) {
  const queueName = text('a task queue name (letters, digits, _ . -)', NAME);
  return mapping({
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
    metricsDatabaseUrlEnv: envName
      .describe(
        'The database URL variable gate and check SQL connects with (default: databaseUrlEnv). Name a read-only role: login and SELECT on the tables the queries read, never a superuser.',
      )
      .optional(),
    allowPrivilegedSqlRole: flag()
      .default(false)
      .describe(
        'Let gate and check SQL run as a role that can write server files or run programs (a superuser): only for disposable targets; the preflight reports it as a warning.',
      ),
    backupVerifyDatabaseUrlEnv: envName
      .describe(
        'A database URL variable of another server the backup is restored on to verify it: its scratch copy of the whole database is created and dropped there, as that role (which needs CREATEDB). Default: the target server, whose room for the copy the preflight checks where it can tell.',
      )
      .optional(),
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
  }).describe('The system being migrated.');
}

/** Where the jobs are scheduled: a crontab, or Temporal Schedules. */
function schedulerSchema() {
  return withRules(
    mapping({
      kind: z.enum(['crontab', 'temporal-schedule'], says()),
      user: text('a user name', USER).describe("crontab user; default the worker's user.").optional(),
      idPrefix: text('a schedule ID prefix (letters, digits, _ . -)', NAME).describe('Schedule ID prefix.').optional(),
    }),
    (p) => schedulerFields(p.field('kind'), { user: p.raw('user'), idPrefix: p.raw('idPrefix') }),
  )
    .default({ kind: 'crontab' })
    .describe('Where the jobs are scheduled.');
}

/** The gradual traffic shift: how the split is set (the router) and the percent of each step. */
function trafficSchema({ argv }: Fields) {
  const router = withRules(
    mapping({
      kind: z.enum(['table', 'command'], says()),
      table: text('a table name (lower-case, _)', TABLE).default('migration_routing').describe('For kind table.'),
      command: argv
        .describe('For kind command: `{percent}` in any argument is replaced by the new percent.')
        .optional(),
      route: text('a route name (letters, digits, _ . -)', NAME)
        .default('unified')
        .describe(
          "The routing table's row (or the command router's state) this migration owns and its pipelines read; migrations that share a router each name their own.",
        ),
    }),
    (p) => routerFields(p.field('kind'), p.raw('command')),
  );
  const steps = withRules(nonEmpty(whole().gt(0).lte(100)), (p) => trafficSteps(p.entries((s) => s.value()))).describe(
    'Percent of the traffic on the unified pipeline at each step, rising to 100.',
  );
  return mapping({
    router: router
      .default({ kind: 'table', table: 'migration_routing', route: 'unified' })
      .describe('How traffic is shifted.'),
    steps: steps.default(() => [10, 25, 50, 100]),
  }).describe('The gradual traffic shift to the unified pipeline.');
}

/** The parallel run: the queries that compare both pipelines' outputs, and the match needed to go on. */
function parallelRunSchema() {
  const form = mapping({
    comparisonSql: prose('an SQL query returning (total, matched)').describe(
      "SQL returning one row (total, matched) comparing both pipelines' outputs since $1.",
    ),
    mismatchSql: prose().describe('SQL returning sample mismatches (any columns) since $1.').optional(),
    minMatchRatio: z.number(says()).gt(0).lte(1).describe('Share of matching outputs needed to go on.'),
    showMismatchValues: flag()
      .optional()
      .describe(
        "Show the mismatch sample's values as they are in reports and notifications (default: column names, values as sha256 hashes, so no production data leaves the target).",
      ),
  });
  return withRules(form, (p) =>
    sqlStatements({ comparisonSql: p.field('comparisonSql'), mismatchSql: p.field('mismatchSql') }),
  ).describe('Both pipelines run side by side and their outputs are compared.');
}

const msOf = (d: string | undefined) => (d === undefined ? undefined : parseDuration(d));

/** How long each phase runs. */
function durationsSchema({ duration }: Fields) {
  return withRules(
    mapping({
      parallelRun: duration,
      bake: duration,
      monitoringWindow: duration,
      soak: duration,
      soakInterval: duration,
    }),
    (p) => soakInterval(msOf(p.field('soak')), msOf(p.field('soakInterval'))),
  ).describe('How long each phase runs: the parallel run, each traffic step (bake), the metrics window, the soak.');
}

/** An allow-list entry's name: the entry itself, or its `name`. */
export const approverName = (a: string | { name: string }) => (typeof a === 'string' ? a : a.name);

/** A record with one entry per approval gate, in runbook order. */
export function byGate<T>(make: (gate: GateName) => T): Record<GateName, T> {
  return Object.fromEntries(GATES.map((g) => [g, make(g)])) as Record<GateName, T>;
}

/** A gate's role as written: a bare name, or a mapping with a quorum and an allow-list. */
type RoleForm = string | { role: string; required?: number; approvers?: readonly (string | { name: string })[] };

/** A gate role as the signing rule reads it (a bare name needs one person, anyone). */
export function gateRole(r: RoleForm): GateRole {
  if (typeof r === 'string') return { role: r, required: 1 };
  return {
    role: r.role,
    required: r.required ?? 1,
    ...(r.approvers ? { approvers: r.approvers.map(approverName) } : {}),
  };
}

/** A person's public key, the line of their `~/.ssh/id_ed25519.pub`. */
function publicKeySchema() {
  return z
    .string(says(KEY_LINE))
    .min(1)
    .refine((k) => typeof parseEd25519PublicKey(k) !== 'string', {
      error: (iss) => {
        // A well-formed key that no one may be trusted with (small order, off the curve) says why.
        const why = typeof iss.input === 'string' ? parseEd25519PublicKey(iss.input) : undefined;
        return typeof why === 'string' && /small-order|curve/.test(why)
          ? `refused: ${why}`
          : `expected ${KEY_LINE}, got ${describeValue(iss.input)}`;
      },
    })
    .describe("The approver's OpenSSH Ed25519 public key (the line of ~/.ssh/id_ed25519.pub).");
}

/** A role of a gate, written as a mapping: its name, its allow-list of approvers and its quorum. */
function roleSchema(publicKey: ReturnType<typeof publicKeySchema>) {
  // An allow-list entry: a name, or a name with the key the person signs with.
  const approver = z.union([text('an approver name'), mapping({ name: text('an approver name'), key: publicKey })], {
    error: (iss) => `expected a name or a mapping { name, key }, got ${describeValue(iss.input)}`,
  });
  return withRules(
    mapping({
      role: text('a role name', NAME),
      approvers: nonEmpty(approver)
        .describe('Allow-list of approvers for this role (names, or { name, key }); absent: anyone may sign.')
        .optional(),
      required: count(1).describe('Distinct approvers this role needs (a quorum); default 1.').optional(),
    }),
    (p) => quorum(p.field('required'), p.field('approvers')?.map(approverName)),
  );
}

/** An approval gate: the roles that sign it (bare names or `role` mappings) and how long it waits. */
function gateSchema({ duration }: Fields, role: ReturnType<typeof roleSchema>) {
  return mapping({
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
}

/** The approval gates, separation of duties, and the keys the approvers sign with. */
function approvalsSchema(fields: Fields) {
  const publicKey = publicKeySchema();
  const gate = gateSchema(fields, roleSchema(publicKey));
  return withRules(
    mapping({
      separationOfDuties: flag().default(true).describe('No person signs more than one role of a gate.'),
      keys: stringMap(publicKey)
        .describe('Approver name → OpenSSH Ed25519 public key. With keys, every approval and rejection must be signed.')
        .optional(),
      signatureWindow: fields.duration
        .describe(
          "How long a signed request stays good after it was signed, by the workflow's clock (default 15m); older ones are refused.",
        )
        .optional(),
      keysFile: fields.localPath
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
  ).describe('The approval gates: go, cutover and sign-off, and the keys their approvers sign with.');
}

/** What a failed metric gate in the soak does. */
function soakSchema() {
  return mapping({
    onFailure: z
      .enum(['rollback', 'pause'], says())
      .default('rollback')
      .describe('What a failed metric gate in the soak does: roll back, or pause and ask a person.'),
  }).default({ onFailure: 'rollback' });
}

/** The channels that announce gates, reminders and outcomes: a webhook and e-mail. */
function notificationsSchema({ envName }: Fields) {
  return mapping({
    webhook: mapping({ urlEnv: envName, tokenEnv: envName.optional() }).optional(),
    email: mapping({
      smtpUrlEnv: envName,
      from: text('an e-mail address', EMAIL),
      to: nonEmpty(text('an e-mail address', EMAIL)),
    }).optional(),
  })
    .default(() => ({}))
    .describe('Where gates, reminders and outcomes are announced.');
}

/** The archive step: the documents whose references it updates, and the reason it records. */
function archiveSchema({ repoPath }: Fields) {
  return mapping({
    docs: list(repoPath)
      .default(() => [])
      .describe('Documents (inside the repository) whose references to the legacy scripts are updated.'),
    reason: text().default('Replaced by the unified pipeline'),
  }).default(() => ({ docs: [], reason: 'Replaced by the unified pipeline' }));
}

/** The rollback: the checks that verify it and its time budget. */
function rollbackSchema({ duration }: Fields, checks: ReturnType<typeof checkSchemas>['checks']) {
  return mapping({
    checks: checks.min(1).describe('Checks that prove the rollback restored the legacy system.'),
    budget: duration.default('5m').describe('How long the whole rollback may take.'),
  });
}

/** Where the ledger is appended: a database (default: the target's) and a table. */
function ledgerSchema({ envName }: Fields) {
  return mapping({
    databaseUrlEnv: envName.optional(),
    table: text('a table name (a-z, 0-9, _)', TABLE).default('migration_ledger'),
    sealKey: publicKeySchema()
      .describe(
        "The worker's ledger key (the public half of MO_LEDGER_SEAL_KEY): a rollback from the ledger requires the rows it sealed.",
      )
      .optional(),
  })
    .default(() => ({ table: 'migration_ledger' }))
    .describe('Where every evaluation, reading, approval and undo is appended; default: the target database.');
}

/**
 * One kind of step's retry budget: every field optional, the production default where absent. The rule holds the
 * budget as the workflow will use it (the plan's values over the defaults), since Temporal refuses a policy whose
 * longest wait is shorter than its first at the moment the step is scheduled.
 */
function stepRetrySchema({ duration }: Fields, kind: RetryKind) {
  const shape = {
    initialInterval: duration.optional().describe('The wait before the second attempt (it doubles after each).'),
    maximumInterval: duration.optional().describe('The longest wait between two attempts.'),
    maximumAttempts: z.number(says()).int().min(1).max(1000).optional().describe('Attempts before the step fails.'),
    heartbeatTimeout: duration
      .optional()
      .describe('How soon a worker that died under the step is noticed and the step runs again elsewhere.'),
  };
  const { heartbeatTimeout: _heartbeat, ...withoutHeartbeat } = shape;
  const defaults = DEFAULT_RETRY[kind];
  const rules = (p: Parsed<{ initialInterval?: string; maximumInterval?: string }>) =>
    retryIntervals(
      msOf(p.field('initialInterval')) ?? defaults.initialIntervalMs,
      msOf(p.field('maximumInterval')) ?? defaults.maximumIntervalMs,
      p.field('maximumInterval') !== undefined,
    );
  // Notifications and undo steps run without a heartbeat timeout (short attempts, local activities).
  return withRules(mapping(kind === 'long' || kind === 'quick' ? shape : withoutHeartbeat), rules);
}

/**
 * How hard each kind of step is retried before the migration gives up on it: long steps (backups, checks, containers,
 * metrics, routing), quick ones (crontab, git, reports), notifications and the rollback's undo steps. Real targets
 * have budgets of their own; tests use short ones.
 */
function retrySchema(fields: Fields) {
  return mapping({
    long: stepRetrySchema(fields, 'long').optional(),
    quick: stepRetrySchema(fields, 'quick').optional(),
    notify: stepRetrySchema(fields, 'notify').optional(),
    rollback: stepRetrySchema(fields, 'rollback').optional(),
  })
    .optional()
    .describe(
      'Retry budgets per kind of step: long (1s doubling to 30s, 8 attempts, heartbeat 20s), quick (the same, no heartbeat), notify (5s to 2m, 6 attempts), rollback (200ms to 10s, 5 attempts).',
    );
}

/** The plan's sections, in the order a plan is written. */
function planSections() {
  const fields = fieldSchemas();
  const { checks, metrics } = checkSchemas(fields);
  const { legacyJobs, unifiedJob } = jobSchemas(fields);
  return mapping({
    name: text('a migration name (letters, digits, _ . -)', NAME).describe(
      'The migration, as named in IDs and reports.',
    ),
    description: prose().optional(),
    target: targetSchema(fields),
    legacyJobs,
    unifiedJob,
    scheduler: schedulerSchema(),
    traffic: trafficSchema(fields),
    parallelRun: parallelRunSchema(),
    metrics,
    preflight: checks.min(1).describe('Checks that must pass before anything changes.'),
    durations: durationsSchema(fields),
    approvals: approvalsSchema(fields),
    soak: soakSchema(),
    notifications: notificationsSchema(fields),
    archive: archiveSchema(fields),
    rollback: rollbackSchema(fields, checks),
    successMetrics: checks
      .default(() => [])
      .describe('Success metrics of the completion report: each names a metric or check and the target it must meet.'),
    ledger: ledgerSchema(fields),
    retry: retrySchema(fields),
  });
}

/** The rules that relate sections: the jobs to the scheduler, and the unified job to the legacy ones. */
function planRules(p: Parsed<z.output<ReturnType<typeof planSections>>>): RuleIssue[] {
  return [
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
  ];
}

/**
 * The schema of the plan's YAML form, built anew for each use and not kept: in the workflow (which checks its own
 * plan once, at the start) the schema's object graph is garbage right after, instead of a few MiB held by every cached
 * migration (measured: 200 migrations at once on one worker). No schema is registered with an `id`, so building it
 * again never collides in zod's registry.
 */
export function buildPlanForm() {
  return withRules(planSections(), planRules, { anyValue: true }).meta({
    title: 'Migration plan',
    description:
      'A legacy-to-unified cutover runbook for the migration orchestrator. Durations are strings such as 7d.',
  });
}

/** The plan's YAML form as validated (before it is normalised). */
export type PlanForm = z.output<ReturnType<typeof buildPlanForm>>;
export type CheckForm = PlanForm['preflight'][number];

/**
 * Names both sides use, defined once (workflow-safe: no imports): phases, gates, interrupt kinds, failure types,
 * workflow types. The client, the activities, the demo, the tests and the benchmarks import them from here.
 */

/** The phases of a migration, in runbook order, then its end states. */
export const PHASES = [
  'preflight',
  'gate:go',
  'backup',
  'deploy',
  'parallel-run',
  'traffic-shift',
  'gate:cutover',
  'cutover',
  'soak',
  'archive',
  'gate:sign-off',
  'complete',
  'rolling-back',
  'rolled-back',
  'aborted',
  'failed',
] as const;
export type Phase = (typeof PHASES)[number];

/** The phases a migration ends in: nothing runs after them and no request is accepted. */
export const FINAL_PHASES = ['complete', 'rolled-back', 'aborted', 'failed'] as const satisfies readonly Phase[];
export type FinalPhase = (typeof FINAL_PHASES)[number];

/** Whether a migration in this phase has ended. */
export function isFinalPhase(phase: string): phase is FinalPhase {
  return (FINAL_PHASES as readonly string[]).includes(phase);
}

/** The phase timeline of an uninterrupted migration (a backup after each of the go and cutover gates). */
export const HAPPY_PHASES: readonly Phase[] = [
  'preflight',
  'gate:go',
  'backup',
  'deploy',
  'parallel-run',
  'traffic-shift',
  'gate:cutover',
  'backup',
  'cutover',
  'soak',
  'archive',
  'gate:sign-off',
  'complete',
];

/** The approval gates, in runbook order. */
export const GATES = ['go', 'cutover', 'sign-off'] as const;
export type GateName = (typeof GATES)[number];

/** The phase a gate is in while it waits for its signatures. */
export const gatePhase = (gate: GateName): Phase => `gate:${gate}`;

/**
 * Why the workflow leaves its forward path. Decisions depend on the kind, never on who asked: a soak check on
 * `pause` waits for a person only for `metric-gate`; a `step-failed` before any production change fails without a
 * rollback.
 */
export const INTERRUPT_KINDS = [
  /** A person asked for a rollback or an abort. */
  'operator',
  /** A person rejected an open gate. */
  'gate-rejected',
  /** A metric gate failed past its limits. */
  'metric-gate',
  /** The parallel run's outputs matched below the plan's ratio. */
  'comparison',
  /** A step failed for good (after its retries), or a person failed it by hand. */
  'step-failed',
  /** A gate's timeout passed with `onTimeout: abort`. */
  'timeout',
] as const;
export type InterruptKind = (typeof INTERRUPT_KINDS)[number];

/**
 * Failure types, defined once. All but the backup's are permanent: thrown non-retryable, or listed below in
 * `NON_RETRYABLE_ERROR_TYPES`, so the workflow's retry policy never retries them.
 */
export const ErrorType = {
  InvalidInput: 'InvalidInput',
  MissingSecret: 'MissingSecret',
  PreconditionFailed: 'PreconditionFailed',
  /** The target repository has uncommitted changes: a person must commit or discard them (the workflow waits). */
  RepositoryDirty: 'RepositoryDirty',
  /** A backup that did not restore: the workflow never goes on without a verified one. */
  BackupNotVerified: 'BackupNotVerified',
  /** A request (Update) the workflow refused: a rule it breaks, or a signature that does not prove it. */
  RequestRejected: 'RequestRejected',
  /** The workflow's own check of its plan failed (a plan that did not come through `migrate start`). */
  InvalidPlan: 'InvalidPlan',
  /** A `shell: true` command on a worker that does not allow shells (MO_ALLOW_SHELL). */
  ShellNotAllowed: 'ShellNotAllowed',
  /** The rollback undid its steps, then failed (verification or report): its failure carries the undo outcomes. */
  RollbackIncomplete: 'RollbackIncomplete',
  /** A run or an activity that no trusted starter admitted (the worker's trust file): nothing ran. */
  NotAdmitted: 'NotAdmitted',
  /** The backup's snapshot or pg_dump failed or ran past its time limit: retried by the activity's policy. */
  BackupFailed: 'BackupFailed',
  /** The dump did not restore, or restored other row counts than were dumped: retried by the activity's policy. */
  BackupVerificationFailed: 'BackupVerificationFailed',
  /** The crontab changed between our read and our write (a person's edit): retried, re-read, edited on top of it. */
  CrontabChanged: 'CrontabChanged',
  /** An input that no known key sealed (model/sealed.ts): the task runs nothing and fails for good. */
  Unsealed: 'Unsealed',
} as const;
export type ErrorType = (typeof ErrorType)[keyof typeof ErrorType];

/** The types the activities' retry policy lists as non-retryable (besides `nonRetryable` failures). */
export const NON_RETRYABLE_ERROR_TYPES: ErrorType[] = [
  ErrorType.InvalidInput,
  ErrorType.MissingSecret,
  ErrorType.PreconditionFailed,
];

/** A migration ID names folders and files in several places: letters, digits, `_ . -`, starting with one of the first two. */
export const MIGRATION_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** What is wrong with a migration ID, or undefined. */
export function migrationIdProblem(id: string): string | undefined {
  return MIGRATION_ID.test(id) && !id.includes('..')
    ? undefined
    : `expected 1 to 128 letters, digits, _ . - starting with a letter or digit, and no "..", got ${JSON.stringify(id)}`;
}

/** The parts of a target host that activities act on. */
export const HOST_SYSTEMS = ['backup', 'containers', 'scheduler', 'repository', 'commands'] as const;
export type HostSystem = (typeof HOST_SYSTEMS)[number];
/** A host system, or the central workers (SQL, the ledger, reports, notifications). */
export type TargetSystem = HostSystem | 'central';

/** What each host system covers (for the plan's documentation and messages). */
export const HOST_SYSTEM_DOC: Record<HostSystem, string> = {
  backup: 'pg_dump, pg_restore and the backup files (target.backupDir)',
  containers: 'the Docker engine that runs the unified containers',
  scheduler: 'the crontab (scheduler kind crontab; Temporal Schedules are central)',
  repository: 'the git repository of the legacy scripts (archive and restore)',
  commands: "the plan's commands: command checks and metrics, a command router, the scheduled unified job's runs",
};

/**
 * The workflow types the worker registers, each the name of a function `workflows/index.ts` exports (a unit test holds
 * the two together). Clients start and list workflows by these, never by a retyped string.
 */
export const WorkflowType = {
  migrationWorkflow: 'migrationWorkflow',
  rollbackWorkflow: 'rollbackWorkflow',
  scheduledJobWorkflow: 'scheduledJobWorkflow',
} as const;
export type WorkflowType = (typeof WorkflowType)[keyof typeof WorkflowType];

/**
 * The production retry budgets of each kind of step, what a plan without a `retry` block gets: long steps (backups,
 * checks, containers, metrics, routing), quick ones (crontab, git, reports), notifications, the rollback's undo steps.
 */
export const DEFAULT_RETRY = {
  long: { initialIntervalMs: 1_000, maximumIntervalMs: 30_000, maximumAttempts: 8, heartbeatTimeoutMs: 20_000 },
  quick: { initialIntervalMs: 1_000, maximumIntervalMs: 30_000, maximumAttempts: 8 },
  notify: { initialIntervalMs: 5_000, maximumIntervalMs: 120_000, maximumAttempts: 6 },
  rollback: { initialIntervalMs: 200, maximumIntervalMs: 10_000, maximumAttempts: 5 },
} as const;
/** A kind of step a plan's `retry` block sets a budget for. */
export type RetryKind = keyof typeof DEFAULT_RETRY;

/** What a unified container is given to stop when the plan sets no `unifiedJob.stopGrace`: Docker's own default. */
export const DEFAULT_STOP_GRACE_MS = 10_000;

/** How long a signed request stays good after it was signed, unless the plan sets `approvals.signatureWindow`. */
export const DEFAULT_SIGNATURE_WINDOW_MS = 15 * 60_000;

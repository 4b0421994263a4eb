/**
 * The validated, normalised migration plan as the workflow and the activities see it (workflow-safe: types and pure
 * helpers only).
 * Durations are milliseconds; secrets appear only as the names of environment variables the worker reads.
 * The YAML form and its validator live in `client/plan.ts`.
 */

import type { GateName } from './constants';

/** A comparison of a measured value with a threshold. */
export type Comparator = '<' | '<=' | '>' | '>=' | '==' | '!=';

/** How to obtain one number. */
export type Measurement =
  | {
      kind: 'sql';
      /** First column of the first row, as a number. `$1`, if used, is bound to the window start (timestamptz). */
      query: string;
      /** Environment variable with the database URL; default: the plan's target database. */
      databaseUrlEnv?: string;
    }
  | {
      kind: 'command';
      /** Program and arguments, spawned without a shell unless `shell` is true (then `command` is one string). */
      command: string[];
      shell?: boolean;
      /** Regular expression whose first capture group is the number; default: the last number in stdout. */
      pattern?: string;
      timeoutMs?: number;
      /** Working directory, relative to the target repository. */
      cwd?: string;
    }
  | {
      kind: 'http';
      url: string;
      /** Regular expression with one capture group applied to the body; or `jsonPath` (dot path) into a JSON body. */
      pattern?: string;
      jsonPath?: string;
      timeoutMs?: number;
    };

/** A named measurement with its threshold (preflight checks, rollback verification, metric gates). */
export interface CheckSpec {
  name: string;
  description?: string;
  measure: Measurement;
  op: Comparator;
  threshold: number;
  unit?: string;
}

/** A metric gate: a check evaluated at every traffic step and soak interval, with failure limits. */
export interface MetricSpec extends CheckSpec {
  /** Total failed evaluations tolerated before the gate fails (0: the first failure fails it). */
  failureLimit: number;
  /** Consecutive failed evaluations tolerated. */
  consecutiveFailureLimit: number;
  /**
   * Inconclusive readings (no data, or fewer samples than `minSamples`) tolerated; one more pauses the migration and
   * asks a person (resume, retry or rollback). Absent: inconclusive readings never stop anything.
   */
  inconclusiveLimit?: number;
  /** Fewest samples a reading needs to count (an SQL metric's second column is its sample count). */
  minSamples?: number;
  /** Recorded and reported, never decides: its failures and inconclusive readings count toward nothing. */
  dryRun?: boolean;
}

/** A legacy job as scheduled today. */
export interface JobSpec {
  name: string;
  /** Five-field cron expression. */
  schedule: string;
  command: string[];
  /** Path of the job's script inside the target repository (what the archive step moves). */
  script?: string;
}

/** One container of the unified pipeline. */
export interface UnifiedContainerSpec {
  service: string;
  image: string;
  command: string[];
  /** Environment passed to the container: values are names of worker environment variables, resolved there. */
  envFrom?: Record<string, string>;
  env?: Record<string, string>;
  /** Host path → container path, mounted read-only. */
  mounts?: Record<string, string>;
}

export type SchedulerSpec =
  | { kind: 'crontab'; /** crontab user; default the worker's user */ user?: string }
  | { kind: 'temporal-schedule'; /** schedule ID prefix */ idPrefix?: string };

export type RouterSpec =
  | { kind: 'table'; /** default `migration_routing` */ table: string }
  | { kind: 'command'; /** `{percent}` in any argument is replaced by the new percent */ command: string[] };

export interface RoleSpec {
  role: string;
  /** Allow-list of approvers for this role; absent: anyone may sign. */
  approvers?: string[];
  /** Distinct approvers this role needs (a quorum); default 1. */
  required?: number;
}

export type { GateName } from './constants';

/**
 * Where a plan's measurement ledger goes. Plans validated before the ledger existed (still running, recorded in
 * histories) have no `ledger`: theirs is the target database's `migration_ledger`, as the validator's default.
 */
export function ledgerOf(plan: Plan): Plan['ledger'] {
  return plan.ledger ?? { databaseUrlEnv: plan.target.databaseUrlEnv, table: 'migration_ledger' };
}

export interface GateSpec {
  roles: RoleSpec[];
  timeoutMs: number;
  /** What happens when the timeout passes without every role signed. */
  onTimeout: 'abort' | 'notify-and-wait';
  /** While the gate waits: a reminder to the notification channels this often (absent: only at the timeout). */
  remindEveryMs?: number;
}

export interface Plan {
  name: string;
  description?: string;
  target: {
    databaseUrlEnv: string;
    /** Git repository that holds the legacy scripts (absolute path on the worker). */
    repository: string;
    /** Compose-style project name of the unified containers. */
    composeProject: string;
    backupDir: string;
    reportDir: string;
  };
  legacyJobs: JobSpec[];
  unifiedJob: JobSpec & { containers: UnifiedContainerSpec[] };
  scheduler: SchedulerSpec;
  traffic: { router: RouterSpec; steps: number[] };
  parallelRun: {
    /** SQL returning one row `(total, matched)` comparing both pipelines' outputs since `$1`. */
    comparisonQuery: string;
    /** SQL returning sample mismatches (any columns) since `$1`; optional. */
    mismatchQuery?: string;
    minMatchRatio: number;
  };
  metrics: MetricSpec[];
  preflight: CheckSpec[];
  durations: {
    parallelRunMs: number;
    bakeMs: number;
    monitoringWindowMs: number;
    soakMs: number;
    soakIntervalMs: number;
  };
  approvals: {
    gates: Record<GateName, GateSpec>;
    separationOfDuties: boolean;
  };
  soak: { onFailure: 'rollback' | 'pause' };
  notifications: {
    webhook?: { urlEnv: string; tokenEnv?: string };
    email?: { smtpUrlEnv: string; from: string; to: string[] };
  };
  archive: {
    /** Paths (inside the repository) of documents whose references to the legacy scripts are updated. */
    docs: string[];
    reason: string;
  };
  rollback: { checks: CheckSpec[]; budgetMs: number };
  /**
   * The measurement ledger: every gate evaluation, reading, approval, rejection and compensation, appended to a
   * PostgreSQL table that outlives Temporal's history retention. Default: the target database, `migration_ledger`.
   */
  ledger: { databaseUrlEnv: string; table: string };
  /** Success metrics of the completion report: each names a metric or check and the target it must meet. */
  successMetrics: CheckSpec[];
}

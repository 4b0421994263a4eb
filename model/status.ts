/**
 * The migration's records as both sides see them: operator requests, the audit log and ledger rows, backups, metric
 * readings, undo records, gate states, the status, and the inputs and results of the migration and rollback workflows.
 * Plain types and pure helpers: the workflows, the activities, the client and the tests import them from here.
 */
import type { GateName, Phase } from './constants';
import type { RequestSignature } from './signatures';
import type { StartProof } from './admission';
import type { Comparator, JobSpec, Plan, RouterSpec, SchedulerSpec } from './plan';

/** Payload of the `approve` signal. */
export interface ApproveArgs {
  gate?: GateName;
  role: string;
  approver: string;
  comment?: string;
  /** Required when the plan lists approver keys: `migrate approve` signs with the approver's key. */
  signature?: RequestSignature;
}

/** Payload of the `reject` signal: a gate rejection rolls the migration back. */
export interface RejectArgs {
  gate?: GateName;
  role: string;
  approver: string;
  reason: string;
  signature?: RequestSignature;
}

/** Payload of `abort`, `rollback`, `pause`, `resume`, `retry` and `fail`. */
export interface OperatorArgs {
  reason?: string;
  requestedBy: string;
  /** Optional: never required (a rollback is never blocked by authentication), recorded as verified or not. */
  signature?: RequestSignature;
}

/** The answer to an accepted request (an Update): what it did and the migration's state right after it. */
export interface RequestAnswer {
  accepted: true;
  /** The audit line the request wrote. */
  detail: string;
  phase: Phase;
  paused: boolean;
  /** Approve and reject: the gate's new state. */
  gate?: GateState;
  /** The sender proved by the key the plan lists; `null` when the plan lists no keys (approvals not authenticated). */
  verified: boolean | null;
}

/** One entry of the audit log: every decision and every rejected request, with when it happened. */
export interface AuditEntry {
  at: string;
  kind: string;
  detail: string;
  actor?: string;
  /** Position in the whole log (the ledger's sequence number); absent in entries recorded before the ledger. */
  seq?: number;
}

/** One row of the measurement ledger: an audit entry with its sequence number and, for evaluations, the readings. */
export interface LedgerEntry extends AuditEntry {
  seq: number;
  data?: unknown;
  /** The hash of the row before (empty for the first), and this row's: SHA-256 of its canonical content. */
  prevHash?: string;
  hash?: string;
}

/** What a verified backup produced (paths and checksums, never credentials). */
export interface BackupRecord {
  step: string;
  file: string;
  sha256: string;
  bytes: number;
  tables: Record<string, number>;
  verified: boolean;
  verifiedAt: string;
}

/** One reading of one metric. `passed: null` means no data (inconclusive). */
export interface MetricReading {
  name: string;
  value: number | null;
  op: Comparator;
  threshold: number;
  unit?: string;
  passed: boolean | null;
  detail: string;
  at: string;
  samples?: number;
  /** A dry-run metric: recorded and reported, never decides. */
  dryRun?: boolean;
}

/** A metric reading with where in the runbook it was taken. */
export interface GateEvaluation {
  phase: Phase;
  step: string;
  at: string;
  readings: MetricReading[];
  passed: boolean;
  /** Metrics past their inconclusive limit at this evaluation (the migration waited for a person). */
  inconclusive?: string[];
}

/** How to undo one production-changing step: plain data, undone in reverse order by the rollback workflow. */
export type Compensation =
  | { kind: 'containers'; project: string; at: string }
  | { kind: 'traffic'; router: RouterSpec; databaseUrlEnv: string; restorePercent: number; at: string }
  | { kind: 'unified-job'; scheduler: SchedulerSpec; job: JobSpec; at: string }
  | { kind: 'legacy-jobs'; scheduler: SchedulerSpec; jobs: JobSpec[]; at: string }
  /** `startedAt`: the migration run's start, which its archive commit carries (a reused ID's earlier commit does not). */
  | { kind: 'archive'; repository: string; at: string; startedAt?: string };

/** A gate's state as the status shows it. */
export interface GateState {
  name: GateName;
  open: boolean;
  requiredRoles: string[];
  signatures: (Omit<ApproveArgs, 'signature'> & { at: string; verified?: boolean | null })[];
  outcome?: 'approved' | 'rejected' | 'timed-out' | 'aborted';
  openedAt?: string;
  decidedAt?: string;
  /** Approvers each role needs, where a role needs more than one (a quorum). */
  required?: Record<string, number>;
}

/** Answer of the `status` query. */
export interface MigrationStatus {
  migrationId: string;
  name: string;
  phase: Phase;
  paused: boolean;
  trafficPercent: number;
  gates: Partial<Record<GateName, GateState>>;
  lastReadings: Record<string, MetricReading>;
  evaluations: GateEvaluation[];
  backups: BackupRecord[];
  compensations: Compensation[];
  reports: Record<string, string>;
  /** The latest entries of the audit log (at most 500); the whole log is in the measurement ledger. */
  audit: AuditEntry[];
  phaseTimeline: { phase: Phase; at: string }[];
  /** When the current wait (bake, window, soak interval) ends, for progress bars. */
  waitingUntil?: string;
  /** When the current wait began, and what it is (e.g. "bake at 25%"). */
  waitingSince?: string;
  waitingFor?: string;
  failure?: string;
  /** Set while the migration waits for a person to act (what is wrong and which command decides). */
  attention?: string;
  startedAt: string;
  updatedAt: string;
  /** Continue-as-new runs so far (the soak rolls its history over). */
  runs: number;
  /** Entries given a ledger sequence number so far, and how many of them are written to the ledger table. */
  ledgerSeq?: number;
  ledgerWritten?: number;
  /** SHA-256 of the validated plan the migration runs (what signed approvals name). */
  planDigest?: string;
  /** The plan lists approver keys: every approval and rejection is signed and verified. */
  approvalsAuthenticated?: boolean;
  /** Nonces of the signed requests accepted so far (a replayed one is refused). */
  nonces?: string[];
  /** Hash of the newest ledger row: each row carries the hash of the one before it. */
  ledgerHead?: string;
}

/** Input of the rollback workflow: what the migration recorded as undoable, newest last. */
export interface RollbackInput {
  migrationId: string;
  plan: Plan;
  compensations: Compensation[];
  reason: string;
  requestedBy: string;
  fromPhase: Phase | 'unknown';
  /** Ledger entries the migration had not written yet when it decided to roll back (its report shows them). */
  recent?: LedgerEntry[];
  /**
   * Started by hand: the rollback starter's signature (`migrate rollback`, namespace migrate-rollback). Started by its
   * migration: the migration's own start proof, re-verified.
   */
  proof?: StartProof;
}

/** One undo step as it happened. */
export interface UndoOutcome {
  kind: Compensation['kind'];
  ok: boolean;
  attempts: number;
  error?: string;
  /** Set when the undo was not run because one it waits for failed (`model/undo.ts`): the change stays in place. */
  kept?: string;
  durationMs: number;
}

/** How the rollback went. */
export interface RollbackResult {
  migrationId: string;
  undone: UndoOutcome[];
  verified: boolean;
  failedChecks: string[];
  reportFile: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  /** The plan's `rollback.budget`, and whether the rollback took longer (absent in rollbacks recorded before). */
  budgetMs?: number;
  overBudget?: boolean;
  /** What runs after the rollback, one line per recorded change (rollbacks recorded before this have none). */
  runningNow?: string[];
  /** What a person does about the steps it left: the command that retries, then each step by hand. */
  toDo?: string[];
}

/** What a notice says of a rollback that took longer than its budget. */
export const overBudget = (r: Pick<RollbackResult, 'overBudget' | 'budgetMs'>): string =>
  r.overBudget && r.budgetMs !== undefined ? `, OVER its budget of ${Math.round(r.budgetMs / 1000)} s` : '';

/** What a rollback that failed after its undo steps reports with its failure. */
export interface RollbackFailureDetails {
  undone: UndoOutcome[];
}

/** Input of the migration workflow: the validated plan (names and paths only, never credentials). */
export interface MigrationInput {
  migrationId: string;
  plan: Plan;
  startedBy: string;
  /**
   * Who started it, as the worker verifies against its trust file (`migrate start` signs over the workflow ID, the
   * migration ID, the plan's digest and the time). Not secret; it stays in the input through continue-as-new.
   */
  proof?: StartProof;
  /** Set by continue-as-new during the soak: the state carried into the next run. */
  carried?: CarriedState;
  /** Soak checks per run before the history is rolled over with continue-as-new. */
  soakChecksPerRun?: number;
  /** Audit entries the status keeps (default 500; the ledger keeps them all). */
  auditKept?: number;
  /** Unwritten ledger entries at which the migration stops and asks (default 1,000; see `ledgerBacklogged`). */
  pendingLedgerMax?: number;
  /**
   * The codec server the stock `temporal` commands on the card point at (`MO_CODEC_ENDPOINT` of `migrate start`): a
   * URL, not a secret; the card names the token only as `$TEMPORAL_CODEC_AUTH`.
   */
  codecEndpoint?: string;
}

/** Failed, consecutive failed and inconclusive evaluations of one metric so far. */
export interface FailureCount {
  total: number;
  consecutive: number;
  inconclusive?: number;
}

/** State carried across continue-as-new (only the soak continues as new). */
export interface CarriedState {
  status: MigrationStatus;
  soakStartedAt: number;
  soakChecksDone: number;
  failures: Record<string, FailureCount>;
  /** Ledger rows that could not be written before the roll-over (database down): written by the next run. */
  pendingLedger?: LedgerEntry[];
}

/** How a migration ended. */
export interface MigrationResult {
  migrationId: string;
  phase: Phase;
  trafficPercent: number;
  reports: Record<string, string>;
  rollback?: RollbackResult;
  status: MigrationStatus;
}

/** Outcome of one check. */
export interface CheckResult {
  name: string;
  description?: string;
  value: number | null;
  op: Comparator;
  threshold: number;
  unit?: string;
  passed: boolean;
  error?: string;
  detail: string;
  durationMs: number;
  /**
   * Not run: the command a real run runs here, shown by a rehearsal, which runs only commands the plan marks
   * `readOnly`. Neither passed nor failed (`passed` is false: nothing was shown to pass).
   */
  wouldRun?: string;
  /** Passed, with something a person should know (a privileged SQL role the plan allowed): shown in the report. */
  warning?: string;
}

/** What a job schedule starts: the job, where it runs, and the admitted migration (plan and start proof) it is of. */
export interface ScheduledJobInput {
  job: JobSpec;
  runOn?: string;
  migrationId?: string;
  plan?: Plan;
  proof?: StartProof;
}

/** The rollback workflow's ID for a migration: deterministic, so a second start finds the first. */
export const rollbackWorkflowId = (migrationId: string) => `${migrationId}-rollback`;

/** How many audit entries a migration has written (the status keeps only the latest, so its length stops growing). */
export const auditCount = (s: MigrationStatus): number => s.ledgerSeq ?? s.audit.length;

import { defineSearchAttributeKey } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Phase } from './constants';
import type { RequestSignature } from './signatures';
import type { Comparator, GateName, RouterSpec, SchedulerSpec, JobSpec } from './plan';

export { PHASES, type Phase } from './constants';

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

export const approveSignal = defineSignal<[ApproveArgs]>('approve');
export const rejectSignal = defineSignal<[RejectArgs]>('reject');
export const pauseSignal = defineSignal<[OperatorArgs]>('pause');
export const resumeSignal = defineSignal<[OperatorArgs]>('resume');
export const abortSignal = defineSignal<[OperatorArgs]>('abort');
export const rollbackSignal = defineSignal<[OperatorArgs]>('rollback');
/** Measure a gate again that waits for a decision (inconclusive past its limit, or a failed soak check on pause). */
export const retrySignal = defineSignal<[OperatorArgs]>('retry');
/** Fail the running step by hand: what changed is rolled back. */
export const failSignal = defineSignal<[OperatorArgs]>('fail');
export const statusQuery = defineQuery<MigrationStatus>('status');

// The same requests as Updates: the caller gets accepted (with the new state) or rejected with the reason at once.
export const approveUpdate = defineUpdate<RequestAnswer, [ApproveArgs]>('approve');
export const rejectUpdate = defineUpdate<RequestAnswer, [RejectArgs]>('reject');
export const pauseUpdate = defineUpdate<RequestAnswer, [OperatorArgs]>('pause');
export const resumeUpdate = defineUpdate<RequestAnswer, [OperatorArgs]>('resume');
export const abortUpdate = defineUpdate<RequestAnswer, [OperatorArgs]>('abort');
export const rollbackUpdate = defineUpdate<RequestAnswer, [OperatorArgs]>('rollback');
export const retryUpdate = defineUpdate<RequestAnswer, [OperatorArgs]>('retry');
export const failUpdate = defineUpdate<RequestAnswer, [OperatorArgs]>('fail');

export const migrationNameKey = defineSearchAttributeKey('MigrationName', 'KEYWORD');
export const migrationPhaseKey = defineSearchAttributeKey('MigrationPhase', 'KEYWORD');
export const trafficPercentKey = defineSearchAttributeKey('TrafficPercent', 'INT');

/** The rollback workflow's ID for a migration: deterministic, so a second start finds the first. */
export const rollbackWorkflowId = (migrationId: string) => `${migrationId}-rollback`;

/** How many audit entries a migration has written (the status keeps only the latest, so its length stops growing). */
export const auditCount = (s: MigrationStatus): number => s.ledgerSeq ?? s.audit.length;

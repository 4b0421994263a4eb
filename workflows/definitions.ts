import { defineSearchAttributeKey } from '@temporalio/common';
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { Phase } from './constants';
import type { Comparator, GateName, RouterSpec, SchedulerSpec, JobSpec } from './plan';

export { PHASES, type Phase } from './constants';

/** Payload of the `approve` signal. */
export interface ApproveArgs {
  gate?: GateName;
  role: string;
  approver: string;
  comment?: string;
}

/** Payload of the `reject` signal: a gate rejection rolls the migration back. */
export interface RejectArgs {
  gate?: GateName;
  role: string;
  approver: string;
  reason: string;
}

/** Payload of `abort`, `rollback`, `pause`, `resume`, `retry` and `fail`. */
export interface OperatorArgs {
  reason?: string;
  requestedBy: string;
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
  | { kind: 'archive'; repository: string; at: string };

/** A gate's state as the status shows it. */
export interface GateState {
  name: GateName;
  open: boolean;
  requiredRoles: string[];
  signatures: (ApproveArgs & { at: string })[];
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

export const migrationNameKey = defineSearchAttributeKey('MigrationName', 'KEYWORD');
export const migrationPhaseKey = defineSearchAttributeKey('MigrationPhase', 'KEYWORD');
export const trafficPercentKey = defineSearchAttributeKey('TrafficPercent', 'INT');

/** The rollback workflow's ID for a migration: deterministic, so a second start finds the first. */
export const rollbackWorkflowId = (migrationId: string) => `${migrationId}-rollback`;

/** How many audit entries a migration has written (the status keeps only the latest, so its length stops growing). */
export const auditCount = (s: MigrationStatus): number => s.ledgerSeq ?? s.audit.length;

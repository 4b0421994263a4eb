import { defineSearchAttributeKey } from '@temporalio/common';
import { defineQuery, defineSignal } from '@temporalio/workflow';

/** The phases of a migration, in runbook order, plus its end states. */
export type Phase = 'started' | 'backup' | 'gate:go' | 'complete' | 'aborted';

/** Payload of the `approve` signal. */
export interface ApproveArgs {
  gate?: string;
  role: string;
  approver: string;
  comment?: string;
}

/** One entry of the audit log: every decision and rejected request, with when it happened. */
export interface AuditEntry {
  at: string;
  kind: string;
  detail: string;
}

/** What the backup activity produced, as recorded in the workflow (paths and checksums, never credentials). */
export interface BackupRecord {
  step: string;
  file: string;
  sha256: string;
  bytes: number;
  tables: Record<string, number>;
  verified: boolean;
  verifiedAt: string;
}

/** Answer of the `status` query. */
export interface MigrationStatus {
  migrationId: string;
  phase: Phase;
  backups: BackupRecord[];
  approvals: ApproveArgs[];
  audit: AuditEntry[];
  startedAt: string;
  updatedAt: string;
}

export const approveSignal = defineSignal<[ApproveArgs]>('approve');
export const abortSignal = defineSignal<[{ reason: string; requestedBy: string }]>('abort');
export const statusQuery = defineQuery<MigrationStatus>('status');

export const migrationNameKey = defineSearchAttributeKey('MigrationName', 'KEYWORD');
export const migrationPhaseKey = defineSearchAttributeKey('MigrationPhase', 'KEYWORD');
export const trafficPercentKey = defineSearchAttributeKey('TrafficPercent', 'INT');

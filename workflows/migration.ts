import {
  ApplicationFailure,
  condition,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  allHandlersFinished,
} from '@temporalio/workflow';
import type { createActivities } from '../activities';
import type { ApproveArgs, BackupRecord, MigrationStatus, Phase } from './definitions';
import { abortSignal, approveSignal, migrationNameKey, migrationPhaseKey, statusQuery } from './definitions';

/** Input of the migration workflow: names and paths only, never credentials. */
export interface MigrationInput {
  migrationId: string;
  name: string;
  /** Name of the environment variable (read by activities) that holds the target database URL. */
  databaseUrlEnv: string;
  backupDir: string;
  /** Roles the `go` gate needs. */
  goRoles: string[];
}

/** Result of a finished migration. */
export interface MigrationResult {
  phase: Phase;
  backups: BackupRecord[];
  approvals: ApproveArgs[];
}

const { backupDatabase } = proxyActivities<ReturnType<typeof createActivities>>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 10 },
});

/** The migration runbook (walking skeleton): verified backup, then the `go` approval gate, then done. */
export async function migrationWorkflow(input: MigrationInput): Promise<MigrationResult> {
  const now = () => new Date().toISOString();
  const status: MigrationStatus = {
    migrationId: input.migrationId,
    phase: 'started',
    backups: [],
    approvals: [],
    audit: [],
    startedAt: now(),
    updatedAt: now(),
  };
  const audit = (kind: string, detail: string) => {
    status.audit.push({ at: now(), kind, detail });
    status.updatedAt = now();
  };
  const enter = (phase: Phase) => {
    status.phase = phase;
    audit('phase', phase);
    upsertSearchAttributes([{ key: migrationPhaseKey, value: phase }]);
  };
  let aborted: { reason: string; requestedBy: string } | undefined;

  setHandler(statusQuery, () => status);
  setHandler(approveSignal, (args) => {
    // Handlers only validate and record; the main body decides what happens next.
    const gate = args.gate ?? 'go';
    if (status.phase !== `gate:${gate}`) {
      audit('rejected', `approval by ${args.approver} for gate ${gate}: gate is not open (phase ${status.phase})`);
      return;
    }
    if (!input.goRoles.includes(args.role)) {
      audit('rejected', `approval by ${args.approver}: role ${args.role} is not one of ${input.goRoles.join(', ')}`);
      return;
    }
    if (status.approvals.some((a) => a.role === args.role)) {
      audit('rejected', `approval by ${args.approver}: role ${args.role} already signed`);
      return;
    }
    status.approvals.push({ ...args, gate });
    audit('approved', `${args.role} ${args.approver} approved gate ${gate}`);
  });
  setHandler(abortSignal, (args) => {
    aborted = args;
    audit('abort', `${args.requestedBy}: ${args.reason}`);
  });

  upsertSearchAttributes([{ key: migrationNameKey, value: input.name }]);

  enter('backup');
  const backup = await backupDatabase({
    migrationId: input.migrationId,
    step: 'pre-go',
    databaseUrlEnv: input.databaseUrlEnv,
    backupDir: input.backupDir,
  });
  status.backups.push(backup);
  audit('backup', `${backup.file} sha256=${backup.sha256} verified`);

  enter('gate:go');
  await condition(
    () => aborted !== undefined || input.goRoles.every((r) => status.approvals.some((a) => a.role === r)),
  );
  if (aborted) {
    enter('aborted');
    throw ApplicationFailure.create({
      type: 'MigrationAborted',
      message: `aborted by ${aborted.requestedBy}: ${aborted.reason}`,
      nonRetryable: true,
    });
  }
  enter('complete');
  await condition(allHandlersFinished);
  return { phase: status.phase, backups: status.backups, approvals: status.approvals };
}

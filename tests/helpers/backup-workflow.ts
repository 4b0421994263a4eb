import { proxyActivities } from '@temporalio/workflow';
import type { BackupInput, backupDatabase } from '../../activities/backup';
import type { BackupRecord } from '../../workflows/definitions';

/** The backup as the migration calls it: a 20-s heartbeat timeout, so a dead worker's backup moves on quickly. */
const { backupDatabase: backup } = proxyActivities<{ backupDatabase: typeof backupDatabase }>({
  heartbeatTimeout: '20 seconds',
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 1, maximumAttempts: 3 },
});

/** One backup in a workflow of its own, for the tests of its heartbeats and of its resume after a dead worker. */
export async function backupWorkflow(input: BackupInput): Promise<BackupRecord> {
  return backup(input);
}

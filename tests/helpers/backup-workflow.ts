import { proxyActivities } from '@temporalio/workflow';
import type { BackupInput, backupDatabase } from '../../activities/backup';
import type { BackupRecord } from '../../model/status';

/**
 * One backup in a workflow of its own, for the tests of its heartbeats and of its resume after a dead worker: called
 * as the migration calls it, with the heartbeat timeout the test gives (the migration's is 20 s, workflows/proxies.ts).
 */
export async function backupWorkflow(input: BackupInput, opts: { heartbeatTimeoutMs: number }): Promise<BackupRecord> {
  const { backupDatabase: backup } = proxyActivities<{ backupDatabase: typeof backupDatabase }>({
    heartbeatTimeout: opts.heartbeatTimeoutMs,
    startToCloseTimeout: '10 minutes',
    retry: { initialInterval: '1 second', backoffCoefficient: 1, maximumAttempts: 3 },
  });
  return backup(input);
}

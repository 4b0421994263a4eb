import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { pgTarget, tableRowCounts } from '../../activities/database';
import { runCommand } from '../../activities/process';
import { connectClient } from '../../client/connection';
import { requireEnv } from '../../lib/config';
import { startWorkerProcess, type WorkerProcess } from '../../lib/worker-process';
import { statusQuery } from '../../workflows/definitions';
import { migrationWorkflow, type MigrationInput } from '../../workflows/migration';
import { config, scratchDatabase, tempDir, uniq, withPg } from '../helpers/stack';
import { eventually, historyText } from '../helpers/temporal';

const exec = promisify(execFile);

describe('walking skeleton end to end: worker process, dev server, PostgreSQL, stock temporal CLI', () => {
  let target: Awaited<ReturnType<typeof scratchDatabase>>;
  let worker: WorkerProcess;
  let client: Awaited<ReturnType<typeof connectClient>>;
  const taskQueue = `e2e-${uniq()}`;
  const backupDir = tempDir('mo-e2e-backups');

  beforeAll(async () => {
    target = await scratchDatabase('mo_e2e_target');
    await withPg(target.url, async (c) => {
      await c.query('create table submissions (id bigserial primary key, title text)');
      await c.query(`insert into submissions (title) select 'post ' || g from generate_series(1, 1234) g`);
    });
    worker = startWorkerProcess(path.join(config.dataDir, 'logs', `e2e-${taskQueue}.log`), {
      MO_TASK_QUEUE: taskQueue,
      MO_E2E_TARGET_URL: target.url,
    });
    client = await connectClient(config);
    await worker.ready;
  });

  afterAll(async () => {
    await worker?.stop();
    await client?.connection.close();
    await target?.drop();
  });

  it('backs up, waits for the approval sent with `temporal workflow signal`, completes; the dump restores', async () => {
    const workflowId = `skeleton-${uniq()}`;
    const input: MigrationInput = {
      migrationId: workflowId,
      name: 'e2e',
      databaseUrlEnv: 'MO_E2E_TARGET_URL',
      backupDir,
      goRoles: ['technical-lead'],
    };
    const handle = await client.workflow.start(migrationWorkflow, { taskQueue, workflowId, args: [input] });
    await eventually(
      () => handle.query(statusQuery),
      (s) => s.phase === 'gate:go',
      60_000,
    );

    await exec(requireEnv('TEMPORAL_CLI_PATH'), [
      'workflow',
      'signal',
      '--address',
      config.temporalAddress,
      '--namespace',
      config.temporalNamespace,
      '--workflow-id',
      workflowId,
      '--name',
      'approve',
      '--input',
      JSON.stringify({ gate: 'go', role: 'technical-lead', approver: 'cli-user' }),
    ]);
    const result = await handle.result();
    expect(result.phase).toBe('complete');
    expect(result.approvals).toEqual([expect.objectContaining({ role: 'technical-lead', approver: 'cli-user' })]);

    // The history holds the approval as a signal, and no URL or password anywhere.
    const history = historyText(await handle.fetchHistory());
    expect(history).toContain('"approver":"cli-user"');
    expect(history).not.toContain(new URL(target.url).password);

    const restored = await scratchDatabase('mo_e2e_restore');
    try {
      const backup = result.backups[0]!;
      const r = await runCommand('pg_restore', ['--no-owner', '-d', restored.name, backup.file], {
        env: pgTarget(restored.url).env,
      });
      expect(r.code).toBe(0);
      expect(await withPg(restored.url, tableRowCounts)).toEqual({ 'public.submissions': 1234 });
      expect(backup.tables).toEqual({ 'public.submissions': 1234 });
    } finally {
      await restored.drop();
    }
  });
});

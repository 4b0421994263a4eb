import path from 'node:path';
import { Client as PgClient } from 'pg';
import { connectClient } from '../client/connection';
import { ensureDatabase } from '../lib/admin-db';
import { applyStackEnv, loadConfig, requireEnv, workflowUiUrl } from '../lib/config';
import { startWorkerProcess } from '../lib/worker-process';
import { approveSignal, statusQuery } from '../workflows/definitions';
import type { MigrationInput, migrationWorkflow } from '../workflows/migration';

/** Walking-skeleton demo: a verified pg_dump backup of a demo database, an approval, done. */
async function run(): Promise<void> {
  applyStackEnv();
  const config = loadConfig();
  const demoUrl = await ensureDatabase(requireEnv('DATABASE_URL'), 'mo_demo');
  await seed(demoUrl);
  // The workflow gets the variable's name; the worker reads the URL (with its password) from its environment.
  process.env.MO_DEMO_DATABASE_URL = demoUrl;

  const worker = startWorkerProcess(path.join(config.dataDir, 'logs', 'demo-worker.log'));
  const client = await connectClient(config);
  try {
    await worker.ready;
    const workflowId = `migration-demo-${Date.now()}`;
    const input: MigrationInput = {
      migrationId: workflowId,
      name: 'demo',
      databaseUrlEnv: 'MO_DEMO_DATABASE_URL',
      backupDir: path.join(config.dataDir, 'backups'),
      goRoles: ['technical-lead'],
    };
    const handle = await client.workflow.start<typeof migrationWorkflow>('migrationWorkflow', {
      taskQueue: config.taskQueue,
      workflowId,
      args: [input],
    });
    console.log(`started ${workflowId}\n  UI: ${workflowUiUrl(config, workflowId)}`);
    let phase = '';
    for (;;) {
      const status = await handle.query(statusQuery);
      if (status.phase !== phase) console.log(`  phase: ${(phase = status.phase)}`);
      if (status.phase === 'gate:go') break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const approval = { gate: 'go', role: 'technical-lead', approver: 'demo-approver' };
    console.log(
      `  approving as the demo approver; by hand this is:\n    temporal workflow signal --address ${config.temporalAddress} ` +
        `--workflow-id ${workflowId} --name approve --input '${JSON.stringify(approval)}'`,
    );
    await handle.signal(approveSignal, approval);
    const result = await handle.result();
    const backup = result.backups[0]!;
    console.log(`  phase: ${result.phase}`);
    console.log(`\nbackup: ${backup.file}\n  sha256 ${backup.sha256}, ${backup.bytes} bytes, verified by restore`);
    console.log(`Temporal UI: ${workflowUiUrl(config, workflowId)}`);
  } finally {
    await client.connection.close();
    await worker.stop();
  }
}

async function seed(url: string): Promise<void> {
  const db = new PgClient({ connectionString: url });
  await db.connect();
  try {
    await db.query(
      `create table if not exists submissions (id bigserial primary key, title text not null, created_at timestamptz default now())`,
    );
    await db.query(`insert into submissions (title) select 'post ' || g from generate_series(1, 100) g`);
  } finally {
    await db.end();
  }
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});

import fs from 'node:fs';
import path from 'node:path';
import { runCommand } from '../../activities/process';
import { runDemo } from '../../demo/demo';
import { applyStackEnv, loadConfig, projectRoot, requireEnv, temporalCliArgs } from '../../lib/config';
import { rollbackWorkflowId } from '../../workflows/definitions';

const PLAN = path.join(projectRoot, 'plans', 'demo.yaml');

/**
 * Records the histories that CI replays against the current workflow code (tests/workflows/replay.test.ts): a full
 * demo migration, and one rolled back by a failed gate (the migration and its rollback workflow). Run it again only
 * when a change is meant to break replay, which a running migration could not survive either (see docs/ARCHITECTURE.md,
 * "Changing workflow code safely").
 */
async function run(): Promise<void> {
  applyStackEnv();
  const config = loadConfig();
  const save = async (name: string, workflowId: string) => {
    // The stock CLI's JSON form of a history, which historyFromJSON reads back (the SDK's historyToJSON trips over
    // two copies of protobufjs in this install).
    const r = await runCommand(
      requireEnv('TEMPORAL_CLI_PATH'),
      temporalCliArgs(config, 'workflow', 'show', '--workflow-id', workflowId, '--output', 'json'),
    );
    if (r.code !== 0) throw new Error(`temporal workflow show ${workflowId}: ${r.stderr}`);
    const file = path.join(__dirname, `${name}.json`);
    fs.writeFileSync(file, r.stdout);
    const events = (JSON.parse(r.stdout) as { events: unknown[] }).events.length;
    process.stdout.write(`${file}: ${events} events\n`);
  };
  const happy = await runDemo({ plan: PLAN, print: () => undefined });
  if (happy.phase !== 'complete') throw new Error(`happy run ended ${happy.phase}`);
  await save('migration-complete', happy.workflowId);
  const failed = await runDemo({ plan: PLAN, print: () => undefined, fault: 'error-spike' });
  if (failed.phase !== 'rolled-back') throw new Error(`fault run ended ${failed.phase}`);
  await save('migration-rolled-back', failed.workflowId);
  await save('rollback', rollbackWorkflowId(failed.workflowId));
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});

import fs from 'node:fs';
import path from 'node:path';
import { runCommand } from '../../activities/process';
import { runDemo } from '../../demo/demo';
import { applyStackEnv, loadConfig, projectRoot, requireEnv, temporalCliArgs } from '../../lib/config';
import { rollbackWorkflowId } from '../../model/status';

const PLAN = path.join(projectRoot, 'plans', 'demo.yaml');

/**
 * Records the histories that CI replays against the current workflow code (tests/workflows/replay.test.ts): a full
 * demo migration, one rolled back by a failed gate (the migration and its rollback workflow), and one such with its
 * host-bound steps on an agent's task queue, into a new
 * generation folder named by the day (or the first argument). Older generations stay: they stand for migrations
 * started with older code that may still be running (see docs/ARCHITECTURE.md, "Changing workflow code safely").
 */
async function run(): Promise<void> {
  applyStackEnv();
  const config = loadConfig();
  const generation = process.argv[2] ?? new Date().toISOString().slice(0, 10);
  const dir = path.join(__dirname, generation);
  fs.mkdirSync(dir, { recursive: true });
  const save = async (name: string, workflowId: string) => {
    // The stock CLI's JSON form of a history, which historyFromJSON reads back (the SDK's historyToJSON trips over
    // two copies of protobufjs in this install).
    const r = await runCommand(
      requireEnv('TEMPORAL_CLI_PATH'),
      temporalCliArgs(config, 'workflow', 'show', '--workflow-id', workflowId, '--output', 'json'),
      { maxOutputBytes: Infinity },
    );
    if (r.code !== 0) throw new Error(`temporal workflow show ${workflowId}: ${r.stderr}`);
    const file = path.join(dir, `${name}.json`);
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
  // The production topology: host-bound steps and undo steps on an agent's queue (plan target.agentQueue).
  const agent = await runDemo({
    plan: PLAN,
    print: () => undefined,
    fault: 'error-spike',
    agent: { queue: `record-agent-${Date.now().toString(36)}` },
  });
  if (agent.phase !== 'rolled-back') throw new Error(`agent run ended ${agent.phase}`);
  await save('migration-agent-rolled-back', agent.workflowId);
  await save('rollback-agent', rollbackWorkflowId(agent.workflowId));
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { WorkflowNotFoundError } from '@temporalio/client';
import { connectClient } from '../../client/connection';
import { loadPlan } from '../../client/plan';
import { setupDemoTarget } from '../../demo/target';
import { requireEnv } from '../../lib/config';
import { startWorkerProcess, type WorkerProcess } from '../../lib/worker-process';
import type { MigrationStatus } from '../../workflows/definitions';
import { config, tempDir, uniq } from '../helpers/stack';

const root = path.join(__dirname, '..', '..');
const PLAN = path.join(root, 'plans', 'demo.yaml');

/** Runs `bin/migrate` as an operator would; never throws, returns the exit code and output. */
async function migrate(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      path.join(root, 'bin', 'migrate'),
      args,
      { env: { ...process.env, MO_TASK_QUEUE: taskQueue } },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}
const taskQueue = `cli-${uniq()}`;

describe('the migrate CLI against a real running migration', () => {
  let worker: WorkerProcess;
  const id = `cli-${uniq()}`;

  beforeAll(async () => {
    const plan = loadPlan(PLAN);
    const target = await setupDemoTarget(plan, requireEnv('DATABASE_URL'), 'mo_cli_target', config.dockerHost);
    process.env.DEMO_DATABASE_URL = target.databaseUrl;
    worker = startWorkerProcess(path.join(config.dataDir, 'logs', `${taskQueue}.log`), { MO_TASK_QUEUE: taskQueue });
    await worker.ready;
  });
  afterAll(async () => {
    await worker?.stop();
  });

  it('refuses a bad plan with exit code 2, naming the field, and starts nothing', async () => {
    const dir = tempDir('mo-cli-plan');
    const bad = fs.readFileSync(PLAN, 'utf8').replace('steps: [10, 25, 50, 100]', 'steps: [10, 50, 25, 100]');
    fs.writeFileSync(path.join(dir, 'bad.yaml'), bad);
    const r = await migrate('start', path.join(dir, 'bad.yaml'), '--id', `${id}-bad`);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('traffic.steps[2]: expected steps to increase, got 25 after 50');
    const client = await connectClient(config);
    try {
      await expect(client.workflow.getHandle(`${id}-bad`).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
    } finally {
      await client.connection.close();
    }
  });

  it('starts, shows status as JSON, rejects a bad approval with exit code 4, pauses, resumes, lists and aborts', async () => {
    const started = await migrate('start', PLAN, '--id', id, '--as', 'alice');
    expect(started.code).toBe(0);
    expect(started.stdout).toContain(`started ${id}`);
    expect(started.stdout).toContain(`/workflows/${id}`);

    let s: MigrationStatus | undefined;
    for (let i = 0; i < 100 && s?.phase !== 'gate:go'; i++) {
      const r = await migrate('status', id, '--json');
      expect(r.code).toBe(0);
      s = JSON.parse(r.stdout) as MigrationStatus;
      if (s.phase !== 'gate:go') await new Promise((res) => setTimeout(res, 200));
    }
    expect(s?.phase).toBe('gate:go');
    expect(s?.audit[0]).toMatchObject({ kind: 'started', actor: 'alice' });

    const wrongRole = await migrate('approve', id, '--gate', 'go', '--role', 'stakeholder', '--as', 'sam');
    expect(wrongRole.code).toBe(4);
    expect(wrongRole.stderr).toContain('does not need role stakeholder');
    const ok = await migrate(
      'approve',
      id,
      '--gate',
      'go',
      '--role',
      'technical-lead',
      '--as',
      'tina',
      '--comment',
      'looks good',
    );
    expect(ok.code).toBe(0);
    const twice = await migrate('approve', id, '--role', 'engineering-manager', '--as', 'tina');
    expect(twice.code).toBe(4);
    expect(twice.stderr).toContain('separation of duties');

    expect((await migrate('resume', id, '--as', 'olga')).code).toBe(4);
    expect((await migrate('pause', id, '--as', 'olga', '--reason', 'freeze')).code).toBe(0);
    const paused = JSON.parse((await migrate('status', id, '--json')).stdout) as MigrationStatus;
    expect(paused.paused).toBe(true);
    expect(paused.gates.go?.signatures.map((x) => `${x.role}:${x.approver}`)).toEqual(['technical-lead:tina']);
    expect((await migrate('resume', id, '--as', 'olga')).code).toBe(0);

    const list = JSON.parse((await migrate('list', '--json', '--phase', 'gate:go')).stdout) as {
      id: string;
      phase: string;
    }[];
    expect(list).toContainEqual(expect.objectContaining({ id, phase: 'gate:go' }));
    const text = await migrate('status', id);
    expect(text.stdout).toContain(
      'gate go: OPEN; needs technical-lead, engineering-manager; signed technical-lead=tina',
    );

    expect((await migrate('abort', id, '--as', 'olga', '--reason', 'postponed')).code).toBe(0);
    let end: MigrationStatus | undefined;
    for (let i = 0; i < 50 && end?.phase !== 'aborted'; i++) {
      end = JSON.parse((await migrate('status', id, '--json')).stdout) as MigrationStatus;
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(end?.phase).toBe('aborted');
    expect(end?.backups).toEqual([]);
    const report = await migrate('report', id, '--kind', 'validation');
    expect(report.code).toBe(0);
    expect(report.stdout).toContain('**PASSED** (5/5 checks passed)');
    expect((await migrate('status', 'no-such-migration')).code).toBe(3);
  });
});

/**
 * Every entry is admitted: a worker with the stack's trust file (MO_TRUST_FILE, the demo starter's key) runs only
 * migrations, rollbacks and scheduled jobs a trusted starter signed, and only what their plan names; an agent runs
 * activities only for our workflows. Each path below would run `sh -c "touch <file>"` on a worker or agent host
 * without admission; each asserts the file is not there and the reason is in the workflow's failure.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, Worker } from '@temporalio/worker';
import { connectClient } from '../../client/connection';
import { loadPlan } from '../../client/plan';
import { demoStartProof } from '../../demo/keys';
import { drive } from '../../lib/drive';
import { optionalEnv, temporalCliArgs } from '../../lib/config';
import { temporalCliEnv, workerDataConverter } from '../../lib/codec';
import { startWorkerProcess, type WorkerProcess } from '../../lib/worker-process';
import { WorkflowType } from '../../model/constants';
import type { Plan } from '../../model/plan';
import { planDigest } from '../../model/signatures';
import { rollbackWorkflowId, type Compensation, type MigrationStatus } from '../../model/status';
import { rollbackSignal, statusQuery } from '../../workflows/definitions';
import { migrationWorkflow } from '../../workflows/migration';
import { admittedJob, testAdmission } from '../helpers/admission';
import { slottedPlan } from '../helpers/slot';
import { config, tempDir, uniq } from '../helpers/stack';
import { stubActivities } from '../helpers/stub-activities';
import { createWorkflowEnv, operatorOnce, quickPlan, type WorkflowEnv } from '../helpers/workflow-env';

const dir = tempDir('mo-admission');
const logs = path.join(dir, 'logs');
const queue = `admission-${uniq()}`;
const agentQueue = `admission-agent-${uniq()}`;
let client: Client;
let central: WorkerProcess;
let agent: WorkerProcess;

/** A file the forbidden command would create; the test asserts it never appears. */
const target = (name: string) => path.join(dir, `${name}-${uniq()}`);
const touch = (file: string) => ['sh', '-c', `touch ${file}`];

/** The demo plan with a `sh -c` preflight check and a `sh -c` metric: schema-valid, and every rule passes. */
function forgedPlan(checkFile: string, metricFile: string): Plan {
  const text = fs
    .readFileSync(slottedPlan(path.join(__dirname, '..', '..', 'plans', 'demo.yaml')), 'utf8')
    .replace(
      /^preflight:\n/m,
      `preflight:\n  - name: pwn\n    command: [sh, -c, "touch ${checkFile}"]\n    op: '>='\n    threshold: 0\n`,
    )
    .replace(
      /^metrics:\n/m,
      `metrics:\n  - name: pwn-metric\n    command: [sh, -c, "touch ${metricFile}"]\n    op: '>='\n    threshold: 0\n`,
    );
  const file = path.join(dir, `forged-${uniq()}.yaml`);
  fs.writeFileSync(file, text);
  return loadPlan(file);
}

/** The workflow's failure text (its cause's message), or undefined when it did not fail. */
async function failureOf(h: WorkflowHandle): Promise<string | undefined> {
  return h.result().then(
    () => undefined,
    (err: unknown) => {
      if (!(err instanceof WorkflowFailedError)) throw err;
      const cause = err.cause as (Error & { cause?: Error }) | undefined;
      return [cause?.message, cause?.cause?.message].filter(Boolean).join(' <- ');
    },
  );
}

/** The activity tasks a workflow scheduled (admission is a local activity: a marker, never one of these). */
async function activitiesScheduled(h: WorkflowHandle): Promise<number> {
  const events = (await h.fetchHistory()).events ?? [];
  return events.filter((e) => e.activityTaskScheduledEventAttributes).length;
}

beforeAll(async () => {
  client = await connectClient(config);
  central = startWorkerProcess(path.join(logs, 'central.log'), { MO_TASK_QUEUE: queue });
  agent = startWorkerProcess(path.join(logs, 'agent.log'), { MO_TASK_QUEUE: agentQueue, MO_WORKFLOW_QUEUE: queue });
  await Promise.all([central.ready, agent.ready]);
});
afterAll(async () => {
  await Promise.all([central?.stop(), agent?.stop()]);
  await client?.connection.close();
});

describe('a worker without a trust file', () => {
  it('refuses to start unless told --insecure-accept-unsigned, and names MO_TRUST_FILE; a bad line is named', async () => {
    const none = startWorkerProcess(path.join(logs, 'none.log'), {
      MO_TASK_QUEUE: `none-${uniq()}`,
      MO_TRUST_FILE: '',
    });
    await expect(none.ready).rejects.toThrow(/exited with code 1/);
    expect(fs.readFileSync(path.join(logs, 'none.log'), 'utf8')).toContain('no trust file: set MO_TRUST_FILE');
    const bad = path.join(dir, 'bad_signers');
    fs.writeFileSync(
      bad,
      'alice cert-authority ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n',
    );
    const badWorker = startWorkerProcess(path.join(logs, 'bad.log'), {
      MO_TASK_QUEUE: `bad-${uniq()}`,
      MO_TRUST_FILE: bad,
    });
    await expect(badWorker.ready).rejects.toThrow(/exited with code 1/);
    expect(fs.readFileSync(path.join(logs, 'bad.log'), 'utf8')).toContain(
      'line 1: unsupported option "cert-authority"',
    );
  });
});

describe('every entry is admitted', () => {
  it('a hand-started scheduledJobWorkflow runs no command: unsigned, or with a stolen proof and another job', async () => {
    const file = target('job');
    const job = { name: 'x', schedule: '* * * * *', command: touch(file) };
    const bare = await client.workflow.start(WorkflowType.scheduledJobWorkflow, {
      taskQueue: queue,
      workflowId: `admission-job-${uniq()}`,
      args: [{ job }],
    });
    expect(await failureOf(bare)).toMatch(/^not admitted: a scheduled job runs only from a schedule `migrate` made/);
    // A real migration's schedule input (its plan and start proof), with the job swapped for another command.
    const real = await admittedJob({ name: 'nightly', schedule: '0 3 * * *', command: ['true'] }, `job-${uniq()}`);
    const stolen = await client.workflow.start(WorkflowType.scheduledJobWorkflow, {
      taskQueue: queue,
      workflowId: `admission-job-${uniq()}`,
      args: [{ ...real, job }],
    });
    expect(await failureOf(stolen)).toBe(`not admitted: job "x" is not the plan's unified job`);
    expect(fs.existsSync(file)).toBe(false);
    expect(await activitiesScheduled(bare)).toBe(0);
    expect(await activitiesScheduled(stolen)).toBe(0);
  });

  it('a rollbackWorkflow with forged undo records changes nothing, even signed by a trusted starter', async () => {
    const file = target('router');
    const plan = forgedPlan(target('unused'), target('unused'));
    const id = `admission-rb-${uniq()}`;
    const at = new Date().toISOString();
    const forged: Compensation[] = [
      {
        kind: 'traffic',
        router: { kind: 'command', command: touch(file) } as never,
        databaseUrlEnv: plan.target.databaseUrlEnv,
        restorePercent: 0,
        at,
      },
    ];
    const cron: Compensation[] = [
      { kind: 'legacy-jobs', scheduler: { kind: 'crontab', user: 'root' }, jobs: plan.legacyJobs, at },
    ];
    const run = async (compensations: Compensation[]) =>
      client.workflow.start(WorkflowType.rollbackWorkflow, {
        taskQueue: queue,
        workflowId: rollbackWorkflowId(id),
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
        args: [
          {
            migrationId: id,
            plan,
            compensations,
            reason: 'forged',
            requestedBy: 'mallory',
            fromPhase: 'soak',
            proof: await demoStartProof('rollback', rollbackWorkflowId(id), plan, 'mallory', id),
          },
        ],
      });
    const router = await run(forged);
    expect(await failureOf(router)).toBe("not admitted: compensations[0] (traffic): its router is not the plan's");
    const user = await run(cron);
    expect(await failureOf(user)).toBe(
      "not admitted: compensations[0] (legacy-jobs): its scheduler (crontab user) is not the plan's",
    );
    expect(fs.existsSync(file)).toBe(false);
    expect(await activitiesScheduled(user)).toBe(0);
  });

  it('a forged, schema-valid plan with a sh -c check started with the stock temporal CLI runs nothing', async () => {
    const [checkFile, metricFile] = [target('check'), target('metric')];
    const plan = forgedPlan(checkFile, metricFile);
    const id = `admission-cli-${uniq()}`;
    const input = path.join(dir, `${id}.json`);
    fs.writeFileSync(input, JSON.stringify({ migrationId: id, plan, startedBy: 'mallory' }));
    const cli = optionalEnv('TEMPORAL_CLI_PATH') ?? 'temporal';
    execFileSync(
      cli,
      temporalCliArgs(
        config,
        'workflow',
        'start',
        '--type',
        WorkflowType.migrationWorkflow,
        '--task-queue',
        queue,
        '--workflow-id',
        id,
        '--input-file',
        input,
      ),
      // With the team's codec token (the input goes in sealed): the seal is not what refuses this start.
      { env: temporalCliEnv() },
    );
    const h = client.workflow.getHandle(id);
    expect(await failureOf(h)).toMatch(
      /^not admitted: unsigned: a start must be signed by a starter the worker trusts/,
    );
    expect(fs.existsSync(checkFile)).toBe(false);
    expect(await activitiesScheduled(h)).toBe(0);
  });

  it('a carried input runs nothing, even with a valid start signature: it comes only from continue-as-new', async () => {
    const [checkFile, metricFile] = [target('check'), target('metric')];
    const plan = forgedPlan(checkFile, metricFile);
    const id = `admission-carried-${uniq()}`;
    const status = {
      migrationId: id,
      name: plan.name,
      phase: 'soak',
      planDigest: planDigest(plan),
    } as unknown as MigrationStatus;
    const h = await client.workflow.start(migrationWorkflow, {
      taskQueue: queue,
      workflowId: id,
      args: [
        {
          migrationId: id,
          plan,
          startedBy: 'mallory',
          proof: await demoStartProof('start', id, plan, 'mallory'),
          carried: { status, soakStartedAt: Date.now(), soakChecksDone: 0, failures: {} },
        },
      ],
    });
    expect(await failureOf(h)).toBe(
      'not admitted: a carried input comes only from continue-as-new of an admitted run, never from a start',
    );
    expect(fs.existsSync(metricFile)).toBe(false);
    expect(await activitiesScheduled(h)).toBe(0);
  });

  it('a migration ID other than the workflow ID runs nothing, even signed', async () => {
    const [checkFile, metricFile] = [target('check'), target('metric')];
    const plan = forgedPlan(checkFile, metricFile);
    const id = `admission-id-${uniq()}`;
    const other = `someone-elses-${uniq()}`;
    const h = await client.workflow.start(migrationWorkflow, {
      taskQueue: queue,
      workflowId: id,
      args: [
        {
          migrationId: other,
          plan,
          startedBy: 'mallory',
          proof: await demoStartProof('start', id, plan, 'mallory', other),
        },
      ],
    });
    expect(await failureOf(h)).toBe(`not admitted: input.migrationId "${other}" is not the workflow ID "${id}"`);
    expect(fs.existsSync(checkFile)).toBe(false);
    expect(await activitiesScheduled(h)).toBe(0);
  });

  it("a foreign workflow scheduling our activity types on an agent's queue is refused by the agent", async () => {
    const bundle = await bundleWorkflowCode({
      workflowsPath: require.resolve('../helpers/foreign-workflow'),
      logger: new DefaultLogger('WARN'),
    });
    const foreignQueue = `foreign-${uniq()}`;
    const { NativeConnection } = await import('@temporalio/worker');
    const connection = await NativeConnection.connect(config.temporalConnection);
    // Its author holds the team's codec keys (payloads are sealed, tests/integration/sealed.test.ts refuses the
    // unsealed case): what stops it here is the admission of the caller, not the seal.
    const worker = await Worker.create({
      connection,
      namespace: config.temporalNamespace,
      taskQueue: foreignQueue,
      workflowBundle: bundle,
      dataConverter: workerDataConverter(),
    });
    const [file, named] = [target('foreign'), target('impostor')];
    try {
      await worker.runUntil(async () => {
        const foreign = await client.workflow.start('foreignWorkflow', {
          taskQueue: foreignQueue,
          workflowId: `foreign-${uniq()}`,
          args: [agentQueue, file],
        });
        expect(await failureOf(foreign)).toMatch(
          /activity runJob refused: scheduled by a foreignWorkflow workflow; only an admitted migration's workflows/,
        );
        // Named as ours, but on a queue our workers do not serve: its code is not ours.
        const impostor = await client.workflow.start('migrationWorkflow', {
          taskQueue: foreignQueue,
          workflowId: `impostor-${uniq()}`,
          args: [agentQueue, named],
        });
        expect(await failureOf(impostor)).toMatch(
          new RegExp(
            `activity runJob refused: scheduled by a migrationWorkflow on task queue ${foreignQueue}, not one of ours`,
          ),
        );
      });
    } finally {
      await connection.close();
    }
    expect(fs.existsSync(file)).toBe(false);
    expect(fs.existsSync(named)).toBe(false);
  });
});

describe('a squatted rollback ID', () => {
  let env: WorkflowEnv;
  beforeAll(async () => {
    env = await createWorkflowEnv('dev', 'admission-squat');
  });
  afterAll(async () => env?.teardown());

  it("cannot block the rollback: it runs under a fallback ID, admitted as the migration's child, and the audit says so", async () => {
    const plan = quickPlan();
    const acts = stubActivities(plan.metrics);
    const { worker, taskQueue } = await env.createWorker(acts);
    // The stubs' admission is the real one, against the stack's trust file.
    const admission = testAdmission(env.client, taskQueue);
    acts.admitRun.mockImplementation(admission.admitRun);
    const id = `admission-squat-${uniq()}`;
    const squatter = await env.client.workflow.start('squatter', {
      taskQueue: `nobody-${uniq()}`,
      workflowId: rollbackWorkflowId(id),
    });
    const result = await worker.runUntil(async () => {
      const h = await env.client.workflow.start(migrationWorkflow, {
        taskQueue,
        workflowId: id,
        args: [{ migrationId: id, plan, startedBy: 'test', proof: await demoStartProof('start', id, plan, 'test') }],
      });
      await drive(env.clock, h, plan, {
        onStatus: operatorOnce(env.client, (s) => s.compensations.length > 0, rollbackSignal, {
          requestedBy: 'olga',
          reason: 'squat test',
        }),
      });
      return { result: await h.result(), status: await h.query(statusQuery) };
    });
    expect(result.result.phase).toBe('rolled-back');
    expect(result.result.rollback?.undone.every((u) => u.ok)).toBe(true);
    const taken = result.status.audit.find((a) => a.kind === 'rollback-id-taken');
    expect(taken?.detail).toMatch(
      new RegExp(
        `^workflow ID ${rollbackWorkflowId(id)} is held by another workflow: the rollback runs as ${rollbackWorkflowId(id)}-[0-9a-f-]{36}$`,
      ),
    );
    // The rollback was admitted as the migration's own child (its parent checked, its start proof re-verified).
    const calls = acts.admitRun.mock.calls.map((c) => c[0]);
    expect(calls.map((c) => c.kind)).toEqual(['start', 'rollback']);
    expect(await acts.admitRun.mock.results[1]!.value).toMatchObject({ admitted: true, mode: 'child' });
    expect((await squatter.describe()).status.name).toBe('RUNNING');
    await squatter.terminate('test over');
  });
});

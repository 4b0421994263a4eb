import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection, WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { runJob } from '../../activities';
import { parseCodecKeys, SealingCodec, temporalCliEnv, workerDataConverter } from '../../lib/codec';
import { requireEnv, temporalCliArgs } from '../../lib/config';
import { ErrorType, WorkflowType } from '../../model/constants';
import type { MigrationStatus } from '../../model/status';
import { workerInterceptors } from '../../worker/redact';
import { pauseUpdate, rollbackSignal, statusQuery } from '../../workflows/definitions';
import { stubActivities, type StubActivities } from '../helpers/stub-activities';
import { config, tempDir, uniq } from '../helpers/stack';
import { eventually } from '../helpers/temporal';
import { createWorkflowEnv, eventsOf, productionPlan, type WorkflowEnv } from '../helpers/workflow-env';

const exec = promisify(execFile);

/**
 * Sealed payloads against the dev server: input that no known codec key sealed runs nothing and fails at once,
 * whoever sends it (a client without the keys, another team's keys, a foreign workflow scheduling our activities);
 * the stock CLI reads and drives a migration through the codec server.
 */
describe('sealed payloads on the dev server', () => {
  let env: WorkflowEnv;
  let plainClient: Client;
  const calls = (a: StubActivities) => Object.values(a).reduce((n, f: jest.Mock) => n + f.mock.calls.length, 0);

  beforeAll(async () => {
    env = await createWorkflowEnv('dev', `${config.taskQueue}-sealed`);
    // As `temporal workflow start` would send it: json/plain payloads, no codec.
    plainClient = new Client({
      connection: await Connection.connect({ address: config.temporalAddress }),
      namespace: config.temporalNamespace,
    });
  });
  afterAll(async () => {
    await plainClient?.connection.close();
    await env?.teardown();
  });

  const input = (id: string) => ({ migrationId: id, plan: productionPlan, startedBy: 'mallory' });

  /** Starts a migration through `client` on a sealed worker; returns its failure and the worker's stubs. */
  async function startThrough(client: Client) {
    const activities = stubActivities(productionPlan.metrics);
    const { worker, taskQueue } = await env.createWorker(activities);
    const id = `unsealed-${uniq()}`;
    const failure = await worker.runUntil(async () => {
      const handle = await client.workflow.start(WorkflowType.migrationWorkflow, {
        taskQueue,
        workflowId: id,
        args: [input(id)],
      });
      return handle.result().then(
        () => undefined,
        (err: unknown) => err,
      );
    });
    return { failure, activities, events: await eventsOf(env.client.workflow.getHandle(id)) };
  }

  it.each([
    ['a client without the codec (json/plain)', () => plainClient, 'not sealed (encoding json/plain)'],
    [
      "another team's key",
      () =>
        new Client({
          connection: plainClient.connection,
          namespace: config.temporalNamespace,
          dataConverter: {
            payloadCodecs: [new SealingCodec(parseCodecKeys(`zz ${randomBytes(32).toString('base64')}`, 't'), 'pass')],
          },
        }),
      'sealed by key "zz", which is not a listed codec key',
    ],
  ])('a migration started by %s fails at once, non-retryably, and runs no activity', async (_, client, reason) => {
    const { failure, activities, events } = await startThrough(client());
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    const cause = (failure as WorkflowFailedError).cause as ApplicationFailure;
    expect(cause.type).toBe(ErrorType.Unsealed);
    expect(cause.nonRetryable).toBe(true);
    expect(cause.message).toContain(`workflow migrationWorkflow: input not sealed by a known key: ${reason}`);
    // Nothing ran: no activity scheduled, no local activity (marker), one workflow task, never a failed one.
    expect(calls(activities)).toBe(0);
    expect(events.filter((e) => e.activityTaskScheduledEventAttributes || e.markerRecordedEventAttributes)).toEqual([]);
    expect(events.filter((e) => e.workflowTaskFailedEventAttributes)).toEqual([]);
    expect(events.filter((e) => e.workflowTaskStartedEventAttributes)).toHaveLength(1);
    expect(events.at(-1)?.workflowExecutionFailedEventAttributes).toBeTruthy();
  });

  it('an unsealed Update is refused by its validator (no trace in history), an unsealed signal is dropped', async () => {
    const activities = stubActivities(productionPlan.metrics);
    const { worker, taskQueue } = await env.createWorker(activities);
    const id = `sealed-${uniq()}`;
    await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(WorkflowType.migrationWorkflow, {
        taskQueue,
        workflowId: id,
        args: [input(id)],
      });
      const atGo = (): Promise<MigrationStatus> => handle.query(statusQuery);
      const before = await eventually(atGo, (s) => s.gates.go?.open === true);
      const eventsBefore = (await eventsOf(handle)).length;
      const plain = plainClient.workflow.getHandle(id);
      const err = await plain
        .executeUpdate(pauseUpdate, { args: [{ requestedBy: 'mallory', reason: 'x' }] })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
      expect(((err as WorkflowUpdateFailedError).cause as Error).message).toContain(
        'update pause: input not sealed by a known key',
      );
      await plain.signal(rollbackSignal, { requestedBy: 'mallory', reason: 'unsealed' });
      // The signal is in the history (signals cannot be refused), and changed nothing.
      await eventually(
        () => eventsOf(handle),
        (ev) =>
          ev.some((e) => e.workflowExecutionSignaledEventAttributes) &&
          ev.at(-1)?.workflowTaskCompletedEventAttributes !== undefined,
      );
      const after = await atGo();
      expect(after.phase).toBe(before.phase);
      expect(after.audit.filter((e) => e.kind === 'rollback-requested' || e.kind === 'paused')).toEqual([]);
      expect((await eventsOf(handle)).filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes)).toEqual([]);
      expect((await eventsOf(handle)).length).toBeGreaterThan(eventsBefore);
      await handle.terminate('test over');
    });
  });

  it("a foreign workflow's unsealed runJob on our queue fails non-retryably, and the command never runs", async () => {
    const dir = tempDir('sealed-foreign');
    const file = path.join(dir, 'pwned');
    const ours = `${config.taskQueue}-sealed-agent-${uniq()}`;
    const theirs = `${config.taskQueue}-foreign-${uniq()}`;
    const connection = await NativeConnection.connect({ address: config.temporalAddress });
    const agent = await Worker.create({
      connection,
      namespace: config.temporalNamespace,
      taskQueue: ours,
      activities: { runJob },
      interceptors: workerInterceptors,
      dataConverter: workerDataConverter(),
    });
    const foreign = await Worker.create({
      connection,
      namespace: config.temporalNamespace,
      taskQueue: theirs,
      workflowBundle: await bundleWorkflowCode({
        workflowsPath: require.resolve('../helpers/unsealed-workflow'),
        logger: { trace() {}, debug() {}, info() {}, warn() {}, log() {}, error: console.error },
      }),
    });
    const job = { name: 'x', schedule: '* * * * *', command: ['touch', file] };
    const id = `foreign-${uniq()}`;
    try {
      const err = await agent.runUntil(
        foreign.runUntil(
          plainClient.workflow
            .execute('foreignWorkflow', { taskQueue: theirs, workflowId: id, args: [ours, 'runJob', [job]] })
            .catch((e: unknown) => e),
        ),
      );
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const failed = (await eventsOf(plainClient.workflow.getHandle(id))).filter(
        (e) => e.activityTaskFailedEventAttributes,
      );
      expect(failed).toHaveLength(1);
      const f = failed[0]!.activityTaskFailedEventAttributes!.failure!;
      expect(f.applicationFailureInfo?.type).toBe(ErrorType.Unsealed);
      expect(f.applicationFailureInfo?.nonRetryable).toBe(true);
      expect(f.message).toContain('activity runJob: input not sealed by a known key: not sealed (encoding json/plain)');
      expect(fs.existsSync(file)).toBe(false);
    } finally {
      await connection.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the stock CLI shows and queries a sealed migration and sends it an Update through --codec-endpoint', async () => {
    // The stack's codec server (scripts/stack up starts it): the endpoint on the command line, the token in
    // TEMPORAL_CODEC_AUTH, as `migrate` prints the commands.
    const cli = (...args: string[]) =>
      exec(requireEnv('TEMPORAL_CLI_PATH'), temporalCliArgs(config, ...args), { env: temporalCliEnv() });
    expect(temporalCliArgs(config)).toContain('--codec-endpoint');
    const activities = stubActivities(productionPlan.metrics);
    const { worker, taskQueue } = await env.createWorker(activities);
    const id = `sealed-cli-${uniq()}`;
    try {
      await worker.runUntil(async () => {
        const handle = await env.client.workflow.start(WorkflowType.migrationWorkflow, {
          taskQueue,
          workflowId: id,
          args: [input(id)],
        });
        await eventually(
          () => handle.query(statusQuery),
          (s) => s.gates.go?.open === true,
        );
        // Raw, the history holds only sealed bytes; through the codec server, the plan.
        const raw = await exec(requireEnv('TEMPORAL_CLI_PATH'), [
          ...['workflow', 'show', '-w', id, '--output', 'json'],
          ...['--address', config.temporalAddress, '--namespace', config.temporalNamespace],
        ]);
        // JSON output keeps payloads as protobuf JSON (base64): the start's input, sealed as stored, then opened.
        type Shown = { events: { workflowExecutionStartedEventAttributes?: { input: { payloads: JsonPayload[] } } }[] };
        type JsonPayload = { metadata: Record<string, string>; data: string };
        const startInput = (out: string) =>
          (JSON.parse(out) as Shown).events[0]!.workflowExecutionStartedEventAttributes!.input.payloads[0]!;
        const b64 = (s: string | undefined) => Buffer.from(s ?? '', 'base64').toString('utf8');
        expect(b64(startInput(raw.stdout).metadata.encoding)).toBe('binary/encrypted');
        expect(b64(startInput(raw.stdout).data)).not.toContain(productionPlan.name);
        const shown = startInput((await cli('workflow', 'show', '-w', id, '--output', 'json')).stdout);
        expect(b64(shown.metadata.encoding)).toBe('json/plain');
        expect(JSON.parse(b64(shown.data))).toMatchObject({ migrationId: id, plan: { name: productionPlan.name } });
        const queried = await cli('workflow', 'query', '-w', id, '--name', 'status', '--output', 'json');
        expect(queried.stdout).toContain(`"migrationId": "${id}"`);
        const paused = await cli(
          'workflow',
          'update',
          'execute',
          '-w',
          id,
          '--name',
          'pause',
          '--input',
          JSON.stringify({ requestedBy: 'olga', reason: 'stock CLI' }),
        );
        expect(paused.stdout).toMatch(/paused|accepted|Result/i);
        const s = await handle.query(statusQuery);
        expect(s.audit.some((e) => e.kind === 'paused' && e.actor === 'olga')).toBe(true);
      });
    } finally {
      await env.client.workflow
        .getHandle(id)
        .terminate('test over')
        .catch(() => undefined);
    }
  });
});

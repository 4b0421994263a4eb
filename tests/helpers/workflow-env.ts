import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { Payload, SignalDefinition } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { NativeConnection, Worker } from '@temporalio/worker';
import { loadPlan } from '../../client/plan';
import { demoStartProof } from '../../demo/keys';
import { connectClient } from '../../client/connection';
import { workerDataConverter } from '../../lib/codec';
import { drive, realClock, signalHandled, virtualClock, withoutKeys, type Clock } from '../../lib/drive';
import type { GateSpec, Plan } from '../../model/plan';
import type { MigrationResult, MigrationStatus, OperatorArgs } from '../../model/status';
import { migrationWorkflow } from '../../workflows/migration';
import { config, uniq } from './stack';
import type { StubActivities } from './stub-activities';
import { bundleWorkflows, createTimeSkippingEnv, firstTaskCompleted } from './temporal';

// These tests are about the runbook and its rules, so approvals go unsigned: the production plan without its keys.
// (Signed approvals: tests/workflows/approvals.test.ts with test keys, and tests/e2e/approvals.test.ts.)
/** The production example plan, without approver keys. */
export const productionPlan = withoutKeys(
  loadPlan(path.join(__dirname, '..', '..', 'plans', 'production.example.yaml')),
);
export const DAY = 86_400_000;

/** The production plan with its `go` gate changed. */
export const withGoGate = (go: Partial<GateSpec>): Plan => ({
  ...productionPlan,
  approvals: {
    ...productionPlan.approvals,
    gates: { ...productionPlan.approvals.gates, go: { ...productionPlan.approvals.gates.go, ...go } },
  },
});

/** The production plan with every wait cut to milliseconds, for real time on the dev server. */
export const quickPlan = (durations: Partial<Plan['durations']> = {}): Plan => ({
  ...productionPlan,
  durations: {
    parallelRunMs: 50,
    bakeMs: 50,
    monitoringWindowMs: 50,
    soakIntervalMs: 100,
    soakMs: 300,
    ...durations,
  },
});

/** The traffic percentages the migration set, in order. */
export const trafficCalls = (a: StubActivities) => a.setTrafficPercent.mock.calls.map((c) => c[0].percent);
/** Every row the migration handed to the ledger, in order. */
export const ledgerRows = (a: StubActivities) => a.appendLedger.mock.calls.flatMap((c) => c[0].entries);
/** The events of a workflow's (current run's) history. */
export const eventsOf = async (h: WorkflowHandle) => (await h.fetchHistory()).events ?? [];
/**
 * Sends a signal whose argument is `json` as written, through the frontend's own API: a client need not be ours,
 * nor able to build the value (raw JSON may be deeper than JSON.stringify can write).
 */
export async function rawSignal(client: Client, workflowId: string, signalName: string, json: string): Promise<void> {
  await client.workflowService.signalWorkflowExecution({
    namespace: client.options.namespace,
    workflowExecution: { workflowId },
    signalName,
    identity: 'raw-signal',
    requestId: randomUUID(),
    // Sealed as our clients seal (the codec works on the payload's bytes, so any JSON text goes through as written).
    input: {
      payloads: await sealed(client, [{ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from(json) }]),
    },
  });
}

/** `payloads` through the client's codecs, as the SDK encodes them. */
async function sealed(client: Client, payloads: Payload[]): Promise<Payload[]> {
  for (const codec of client.options.loadedDataConverter.payloadCodecs) payloads = await codec.encode(payloads);
  return payloads;
}

/** Waits `ms` of real time. */
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Where a test file runs its workflows: the time-skipping test server (virtual time, the default for workflow
 * logic), or the stack's dev server in real time. On the time-skipping server a query racing a continue-as-new can
 * hang and hold virtual time still (seen with the Java test server 1.31), so roll-overs and runs that must see
 * activities cancelled in real time use the dev server, with short durations (`quickPlan`).
 */
export type Server = 'time-skipping' | 'dev';

/** How one migration is started and driven: the driver's options, and the workflow input's knobs. */
export type RunOptions = NonNullable<Parameters<typeof drive>[3]> & {
  /** The production plan (without keys) unless given. */
  plan?: Plan;
  soakChecksPerRun?: number;
  auditKept?: number;
  pendingLedgerMax?: number;
};

/** A migration driven to its end. */
export interface MigrationRun {
  result: MigrationResult;
  /** The last status the driver read (final phase). */
  status: MigrationStatus;
  id: string;
  handle: WorkflowHandle<typeof migrationWorkflow>;
  /** Server time from start to result: virtual on the time-skipping server. */
  elapsedMs: number;
}

/** One test file's Temporal environment: a server, a client, the workflow bundle, workers with stubbed activities. */
export interface WorkflowEnv {
  readonly server: Server;
  readonly client: Client;
  /** Virtual time on the time-skipping server, real time on the dev server. */
  readonly clock: Clock;
  /** A worker of the workflow bundle with `activities`, on a task queue of its own under the file's prefix. */
  createWorker(activities: StubActivities): Promise<{ worker: Worker; taskQueue: string }>;
  /** Starts a migration on a worker of its own and drives it to its end (every gate approved unless `approve` says no). */
  runMigration(activities: StubActivities, opts?: RunOptions): Promise<MigrationRun>;
  /** Sends a signal to a migration and waits until it has handled it. */
  signalHandled(migrationId: string, send: (h: WorkflowHandle) => Promise<void>): Promise<void>;
  teardown(): Promise<void>;
}

/**
 * Starts the file's environment (call in `beforeAll`, `teardown()` in `afterAll`): the server's connections and the
 * workflow code bundled once. Every worker polls `<queuePrefix>-<random>`, so no two files and no two tests share
 * a task queue (a workflow left over from one test is never run with another test's stubs).
 */
export async function createWorkflowEnv(server: Server, queuePrefix: string): Promise<WorkflowEnv> {
  const [{ connection, client, namespace, clock, testEnv }, workflowBundle] = await Promise.all([
    connect(server),
    bundleWorkflows(),
  ]);

  const createWorker = async (activities: StubActivities) => {
    const taskQueue = `${queuePrefix}-${uniq()}`;
    const worker = await Worker.create({
      connection,
      namespace,
      taskQueue,
      workflowBundle,
      activities,
      dataConverter: workerDataConverter(),
    });
    return { worker, taskQueue };
  };

  const runMigration = async (activities: StubActivities, opts: RunOptions = {}): Promise<MigrationRun> => {
    const plan = opts.plan ?? productionPlan;
    const { worker, taskQueue } = await createWorker(activities);
    return worker.runUntil(async () => {
      const id = server === 'time-skipping' ? `migration-${uniq()}` : `migration-real-${uniq()}`;
      const t0 = await clock.now();
      const { soakChecksPerRun, auditKept, pendingLedgerMax } = opts;
      // Signed as `migrate start` signs (the stack's starter key): a worker with real admission admits it.
      const proof = await demoStartProof('start', id, plan, 'test');
      const handle = await client.workflow.start(migrationWorkflow, {
        taskQueue,
        workflowId: id,
        args: [{ migrationId: id, plan, startedBy: 'test', proof, soakChecksPerRun, auditKept, pendingLedgerMax }],
      });
      // Awaiting the result unlocks time skipping; until the first task completes, the server could skip past it.
      if (server === 'time-skipping') await firstTaskCompleted(handle);
      const status = await drive(clock, handle, plan, opts);
      const result = await handle.result();
      return { result, status, id, handle, elapsedMs: (await clock.now()) - t0 };
    });
  };

  return {
    server,
    client,
    clock,
    createWorker,
    runMigration,
    signalHandled: (migrationId, send) => signalHandled(client.workflow.getHandle(migrationId), send),
    teardown: async () => {
      if (testEnv) await testEnv.teardown();
      else {
        await connection.close();
        await client.connection.close();
      }
    },
  };
}

/** The server's connections: the test server's own, or the stack's (as configured, like the worker's). */
async function connect(server: Server): Promise<{
  connection: NativeConnection;
  client: Client;
  namespace: string;
  clock: Clock;
  testEnv?: TestWorkflowEnvironment;
}> {
  if (server === 'time-skipping') {
    const testEnv = await createTimeSkippingEnv();
    const { nativeConnection: connection, client } = testEnv;
    return { connection, client, namespace: testEnv.namespace ?? 'default', clock: virtualClock(testEnv), testEnv };
  }
  const connection = await NativeConnection.connect(config.temporalConnection);
  const client = await connectClient(config);
  return { connection, client, namespace: config.temporalNamespace, clock: realClock(client) };
}

/** An `onStatus` hook that sends an operator signal once, the first time the status matches. */
export const operatorOnce = (
  client: Client,
  when: (s: MigrationStatus) => boolean,
  signal: SignalDefinition<[OperatorArgs]>, // rollback and abort take the same operator arguments
  args: { requestedBy: string; reason: string },
) => {
  let sent = false;
  return async (s: MigrationStatus) => {
    if (sent || !when(s)) return false;
    sent = true;
    await client.workflow.getHandle(s.migrationId).signal(signal, args);
    return true;
  };
};

import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowBundle } from '@temporalio/worker';
import { migrationNameKey, migrationPhaseKey, trafficPercentKey } from '../workflows/definitions';
import { clientDataConverter } from './codec';
import { loadConfig, requireEnv } from './config';
import { cachedWorkflowBundle } from './workflow-bundle';

/**
 * The time-skipping test server (Java, fetched from Maven by `scripts/stack up`), started for one test file or one rehearsal, with
 * the search attributes the workflows upsert (the dev server gets them from `scripts/stack`). Without them every
 * workflow task fails with "search attribute … is not defined" and the workflow never progresses.
 */
export async function createTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: requireEnv('MO_TIME_SKIPPING_SERVER') } },
    // Sealed as on the dev server; its workers take `workerDataConverter()`.
    client: { dataConverter: clientDataConverter() },
  });
  // Read here, not at load: the proto tables are heavy, and the CLI loads this module for every command.
  const { INDEXED_VALUE_TYPE_KEYWORD: KEYWORD, INDEXED_VALUE_TYPE_INT: INT } = temporal.api.enums.v1.IndexedValueType;
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: {
      [migrationNameKey.name]: KEYWORD,
      [migrationPhaseKey.name]: KEYWORD,
      [trafficPercentKey.name]: INT,
    },
  });
  // The Java server starts with time skipping unlocked and the TS SDK does not lock it (the Java SDK does): virtual
  // time would then race ahead whenever the server sees no task in flight, e.g. to a 10-year execution timeout while
  // a workflow waits for a signal. Locked, time moves only inside `result()` and `env.sleep()`.
  await env.connection.testService!.lockTimeSkipping({});
  return env;
}

/** The workflow code, bundled once per version of its sources (shared with the workers through the cache). */
export function bundleWorkflows(): Promise<WorkflowBundle> {
  return cachedWorkflowBundle(path.join(loadConfig().dataDir, 'workflow-bundles'));
}

/**
 * Waits until the workflow's first task has completed. Awaiting a result unlocks time skipping; a task that is
 * scheduled but not yet taken by a worker does not hold virtual time back, so without this wait the server can skip
 * past the first workflow task's timeout again and again.
 */
export async function firstTaskCompleted(handle: WorkflowHandle, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const history = await handle.fetchHistory();
    if (history.events?.some((e) => e.workflowTaskCompletedEventAttributes)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`workflow ${handle.workflowId} had no completed workflow task after ${timeoutMs} ms`);
}

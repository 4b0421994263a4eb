import fs from 'node:fs';
import path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { connectClient } from '../../client/connection';
import { admittedJob } from '../helpers/admission';
import { startWorkerProcess } from '../../lib/worker-process';
import type { JobSpec } from '../../model/plan';
import type { scheduledJobWorkflow } from '../../workflows/scheduled-job';
import { config, uniq } from '../helpers/stack';

const logFileFor = (name: string) => path.join(config.dataDir, 'logs', `${name}.log`);

interface LogLine {
  msg: string;
  level: string;
  activityType?: string;
  error?: { name: string; message: string; stack: string };
}

describe('the worker entry (worker/main.ts) as its own process', () => {
  it('exits at start, before connecting, when MO_LOG_LEVEL is not a level, naming the variable and the levels', async () => {
    const logFile = logFileFor(`worker-loud-${uniq()}`);
    // An address nothing listens on: had the worker tried to connect first, the error would be about that.
    const worker = startWorkerProcess(logFile, { MO_LOG_LEVEL: 'LOUD', TEMPORAL_ADDRESS: '127.0.0.1:1' });
    const exited = new Promise<number | null>((resolve) => worker.child.once('exit', (code) => resolve(code)));
    await expect(worker.ready).rejects.toThrow(/exited with code 1 before it was ready/);
    expect(await exited).toBe(1);
    const log = fs.readFileSync(logFile, 'utf8');
    expect(log).toContain('MO_LOG_LEVEL must be one of TRACE, DEBUG, INFO, WARN, ERROR (any case), got "LOUD"');
    expect(log).not.toContain('127.0.0.1:1');
    expect(log).not.toContain('worker started');
  });

  it('logs a failing activity as a JSON line whose error carries the stack of the code that threw', async () => {
    const taskQueue = `worker-logs-${uniq()}`;
    const logFile = logFileFor(taskQueue);
    const worker = startWorkerProcess(logFile, { MO_TASK_QUEUE: taskQueue });
    const client = await connectClient(config);
    // A scheduled job whose command fails: runJob throws, and the job's single attempt fails the workflow.
    const job: JobSpec = { name: 'failing-job', schedule: '@daily', command: ['sh', '-c', 'echo broken >&2; exit 3'] };
    try {
      await worker.ready;
      await expect(
        client.workflow.execute<typeof scheduledJobWorkflow>('scheduledJobWorkflow', {
          taskQueue,
          workflowId: `worker-logs-${uniq()}`,
          args: [await admittedJob(job, `worker-logs-job-${uniq()}`)],
        }),
      ).rejects.toThrow(WorkflowFailedError);
    } finally {
      await worker.stop();
      await client.connection.close();
    }
    const lines = fs
      .readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LogLine);
    const failed = lines.find((l) => l.msg === 'Activity failed' && l.activityType === 'runJob');
    expect(failed).toMatchObject({
      level: 'warn',
      error: { name: 'Error', message: 'job failing-job exited 3: broken' },
    });
    expect(failed!.error!.stack).toMatch(
      /^Error: job failing-job exited 3: broken\n\s+at runJob \(.*activities\/index\.ts:\d+:\d+\)/,
    );
  });
});

import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../activities/errors';
import { owningMigration } from '../../activities';
import { specHash } from '../../activities/containers';
import { rollbackWorkflowId } from '../../model/status';

/** `owningMigration` run inside an activity of the given workflow. */
const calledFrom = (workflowType: string, workflowId: string) => ({
  owner: (migrationId: string | undefined) =>
    new MockActivityEnvironment(
      { workflowType, workflowExecution: { workflowId, runId: 'run-1' } },
      // The refusal is the expected outcome: no warning for it.
      { logger: new DefaultLogger('ERROR') },
    ).run(async () => owningMigration(migrationId)),
});

describe('the migration that owns deployed containers', () => {
  it('is the one the input names, whoever calls', async () => {
    expect(await calledFrom('rollbackWorkflow', 'x-rollback').owner('m-7')).toBe('m-7');
  });

  it('is the calling migration workflow, or the migration a rollback workflow belongs to', async () => {
    expect(await calledFrom('migrationWorkflow', 'm-1').owner(undefined)).toBe('m-1');
    expect(await calledFrom('rollbackWorkflow', rollbackWorkflowId('m-2')).owner(undefined)).toBe('m-2');
  });

  it('must be named by any other caller', async () => {
    const refused = calledFrom('scheduledJobWorkflow', 'job-1').owner(undefined);
    await expect(refused).rejects.toBeInstanceOf(ApplicationFailure);
    await expect(refused).rejects.toMatchObject({ type: ErrorType.InvalidInput, nonRetryable: true });
    expect(() => owningMigration(undefined)).toThrow(/pass migrationId/);
  });
});

describe('the spec hash', () => {
  const spec = { service: 's', image: 'i', command: ['a'], env: { A: '1', B: '2' }, mounts: { '/h': '/c' } };

  it('ignores the order of environment and mounts, and sees every field', () => {
    expect(specHash({ ...spec, env: { B: '2', A: '1' } })).toBe(specHash(spec));
    const changed = [
      { ...spec, service: 't' },
      { ...spec, image: 'j' },
      { ...spec, command: ['b'] },
      { ...spec, env: { A: '1', B: '3' } },
      { ...spec, env: { A: '1', C: '2' } },
      { ...spec, mounts: { '/h': '/d' } },
      { ...spec, networkMode: 'none' },
    ];
    for (const c of changed) expect(specHash(c)).not.toBe(specHash(spec));
  });
});

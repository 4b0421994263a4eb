import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { runDemo } from '../../demo/demo';
import { startWorkerProcess } from '../../lib/worker-process';
import { migrateCli } from '../helpers/cli';
import { expectLegacyRestored } from '../helpers/end-state';
import { config } from '../helpers/stack';
import { slottedPlan } from '../helpers/slot';
import { shortWaits } from '../helpers/short-waits';

const PLAN = slottedPlan(path.join(__dirname, '..', '..', 'plans', 'demo-hand-written.yaml'));

describe('the demo on a crontab written by hand (cd, &&, an environment assignment, redirects, @daily)', () => {
  it('disables the real lines in place, runs the unified job alone, and a rollback restores the crontab byte for byte', async () => {
    // The crontab's handling is under test, not the waits: the plan's shortest shape (tests/helpers/short-waits.ts).
    const outcome = await runDemo({
      plan: PLAN,
      crontab: 'hand-written',
      print: () => undefined,
      adjustPlan: shortWaits,
    });
    expect(outcome.phase).toBe('complete');
    const original = outcome.crontab.split('\n');
    const legacy = original.filter((l) => l.includes('scripts/legacy/') || l.includes('legacy/api_ingest_trust.js'));
    expect(legacy).toHaveLength(2);

    const after = execFileSync('crontab', ['-l', '-u', outcome.crontabUser], { encoding: 'utf8' }).split('\n');
    // Each real legacy line is commented out where it stood, byte for byte; nothing else changed; the unified line
    // is the only one added. (Before, the real lines stayed active and disabled copies were appended.)
    expect(after.slice(0, original.length - 1)).toEqual(
      original
        .slice(0, -1)
        .map((l) =>
          l === legacy[0]
            ? `#mo-disabled:${outcome.workflowId}/batch-scorer# ${l}`
            : l === legacy[1]
              ? `#mo-disabled:${outcome.workflowId}/trust-scorer# ${l}`
              : l,
        ),
    );
    expect(after.slice(original.length - 1)).toEqual([
      expect.stringMatching(/ # mo-job:[^/\s]+\/unified-pipeline$/),
      '',
    ]);
    expect(after.filter((l) => l.startsWith('@daily '))).toHaveLength(1);

    // Rolled back by hand after the end: the legacy lines come back exactly as their owners wrote them, once.
    const worker = startWorkerProcess(path.join(config.dataDir, 'logs', 'hand-written-worker.log'));
    try {
      await worker.ready;
      const r = await migrateCli(['rollback', outcome.workflowId, '--reason', 'rehearsed', '--as', 'olga']);
      expect(r).toMatchObject({ code: 0, stdout: expect.stringMatching(/rolled back and verified/) });
      await expectLegacyRestored(outcome);
      const again = await migrateCli(['rollback', outcome.workflowId, '--reason', 'once more', '--as', 'olga']);
      expect(again.code).toBe(0);
      expect(execFileSync('crontab', ['-l', '-u', outcome.crontabUser], { encoding: 'utf8' })).toBe(outcome.crontab);
    } finally {
      await worker.stop();
    }
  });
});

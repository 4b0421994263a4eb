import fs from 'node:fs';
import path from 'node:path';
import { runDemo } from '../../demo/demo';
import { startWorkerProcess } from '../../lib/worker-process';
import { migrateCli } from '../helpers/cli';
import { expectLegacyRestored, systemSnapshot as snapshot } from '../helpers/end-state';
import { recordFaults } from '../helpers/fault-summary';
import { config } from '../helpers/stack';

const PLAN = path.join(__dirname, '..', '..', 'plans', 'demo.yaml');

describe('a rollback started by hand', () => {
  it('rolls back a terminated migration from its recorded undo list; the same rollback again changes nothing', async () => {
    const row = { suite: 'rollback', kind: 'fault' as const };
    let terminatedAt: number | undefined;
    const outcome = await runDemo({
      plan: PLAN,
      print: () => undefined,
      // Someone terminates the workflow half-way through the traffic shift: no rollback runs by itself.
      onStatus: async (s, handle) => {
        if (s.phase !== 'traffic-shift' || s.trafficPercent !== 50) return;
        terminatedAt = s.trafficPercent;
        await handle.terminate('terminated by an operator (fault test)');
        return 'stop';
      },
    });
    expect(terminatedAt).toBe(50);
    const worker = startWorkerProcess(path.join(config.dataDir, 'logs', 'hand-rollback-worker.log'));
    try {
      await worker.ready;
      const before = await snapshot(outcome);
      expect(before.routing).toEqual([{ percent: 50 }]);
      expect(before.containers.map((c) => c.running)).toEqual([true]);

      const first = await migrateCli([
        'rollback',
        outcome.workflowId,
        '--reason',
        'terminated by mistake',
        '--as',
        'olga',
      ]);
      expect(first).toMatchObject({ code: 0, stdout: expect.stringMatching(/rolled back and verified in [\d.]+ s/) });
      await expectLegacyRestored(outcome);
      const report = first.stdout.match(/report: (\S+)/)![1]!;
      expect(fs.readFileSync(report, 'utf8')).toContain('terminated by mistake');
      const after = await snapshot(outcome);
      expect(after.history?.at(-1)).toMatchObject({ old_percent: 50, new_percent: 0 });
      recordFaults([{ ...row, what: 'hand-started rollback of a terminated migration', ok: true }]);

      const second = await migrateCli(['rollback', outcome.workflowId, '--reason', 'once more', '--as', 'olga']);
      expect(second).toMatchObject({ code: 0, stdout: expect.stringMatching(/rolled back and verified/) });
      // Idempotent: the second run found everything undone and changed nothing (no routing row, commit, crontab edit).
      expect(await snapshot(outcome)).toEqual(after);
      recordFaults([{ ...row, what: 'the same rollback run twice: second changes nothing', ok: true }]);
    } catch (err) {
      recordFaults([{ ...row, what: 'hand-started rollback, twice', ok: false }]);
      throw err;
    } finally {
      await worker.stop();
    }
  }, 400_000);
});

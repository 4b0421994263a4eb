import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { runDemo } from '../../demo/demo';
import type { Phase } from '../../model/constants';
import { expectLegacyRestored } from '../helpers/end-state';
import { shortWaits } from '../helpers/short-waits';
import { slottedPlan } from '../helpers/slot';
import { sweep } from '../helpers/full';

const PLAN = slottedPlan(path.join(__dirname, '..', '..', 'plans', 'demo.yaml'));

// Rollback requested by a person in every phase that has changed production, on the real demo system. CI runs one
// phase of each set of undo steps (traffic-shift undoes what parallel-run does, soak what cutover does, in another
// order); MO_FULL=1 runs all five (tests/helpers/full.ts).
const IN_CI: Phase[] = ['parallel-run', 'cutover', 'gate:sign-off'];
const phases: [Phase, string[]][] = sweep<[Phase, string[]]>(
  [
    ['parallel-run', ['containers', 'traffic']],
    ['traffic-shift', ['traffic', 'containers']],
    ['cutover', ['legacy-jobs', 'unified-job', 'traffic', 'containers']],
    ['soak', ['legacy-jobs', 'unified-job', 'traffic', 'containers']],
    ['gate:sign-off', ['archive', 'legacy-jobs', 'unified-job', 'traffic', 'containers']],
  ],
  ([phase]) => IN_CI.includes(phase),
);

describe('rollback from every phase that changes production leaves the legacy path restored and verified', () => {
  it.each(phases)(
    'from %s (undoes %j)',
    async (phase, undone) => {
      // The undo from each phase is under test, not the waits before it.
      const outcome = await runDemo({ plan: PLAN, print: () => undefined, rollbackAt: phase, adjustPlan: shortWaits });
      expect(outcome.phase).toBe('rolled-back');
      expect(outcome.status.phaseTimeline.map((p) => p.phase)).toContain(phase);
      const report = JSON.parse(fs.readFileSync(outcome.reports.rollback!.replace(/\.md$/, '.json'), 'utf8')) as {
        fromPhase: string;
        result: { verified: boolean; undone: { kind: string; ok: boolean }[] };
      };
      expect(report.fromPhase).toBe(phase);
      expect(report.result.verified).toBe(true);
      expect(report.result.undone.map((u) => [u.kind, u.ok])).toEqual(undone.map((k) => [k, true]));

      await expectLegacyRestored(outcome);
      const log = execFileSync('git', ['log', '--format=%s'], { cwd: outcome.repository, encoding: 'utf8' });
      if (undone.includes('archive')) expect(log.split('\n')[0]).toMatch(/^Revert "Archive legacy monoliths/);
      else expect(log).not.toContain('Archive legacy monoliths');
    },
    240_000,
  );
});

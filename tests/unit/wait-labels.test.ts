import path from 'node:path';
import { loadPlan } from '../../client/plan';
import { runbookCard } from '../../model/card';
import type { MigrationStatus } from '../../model/status';
import { timerSummary, waitLabel, type Wait } from '../../model/summaries';

const plan = loadPlan(path.join(__dirname, '..', '..', 'plans', 'production.example.yaml'));

/** A status in the traffic shift, waiting for `label` until an hour after `nowMs`. */
function waiting(label: string, nowMs: number): MigrationStatus {
  const at = new Date(nowMs).toISOString();
  return {
    migrationId: 'm-1',
    name: plan.name,
    phase: 'traffic-shift',
    paused: false,
    trafficPercent: 25,
    gates: {},
    lastReadings: {},
    evaluations: [],
    backups: [],
    compensations: [],
    reports: {},
    audit: [],
    phaseTimeline: [],
    waitingSince: at,
    waitingUntil: new Date(nowMs + 3_600_000).toISOString(),
    waitingFor: label,
    startedAt: at,
    updatedAt: at,
    runs: 0,
  };
}

describe('the waits of the runbook', () => {
  // Timer summaries, audit lines and `status.waitingFor` of recorded histories carry these labels: never reworded.
  test.each<[Wait, string]>([
    [{ kind: 'parallel-run' }, 'parallel run'],
    [{ kind: 'bake', percent: 25 }, 'bake at 25%'],
    [{ kind: 'monitoring' }, 'monitoring window'],
    [{ kind: 'soak', check: 3, of: 7 }, 'soak check 3/7'],
  ])('%j is labelled as recorded', (wait, label) => {
    expect(waitLabel(wait)).toBe(label);
  });

  test('a timer summary is the label with the wait length', () => {
    expect(timerSummary(waitLabel({ kind: 'bake', percent: 25 }), 8 * 3_600_000)).toBe('bake at 25% (8 h)');
  });

  test.each<[Wait | undefined, string]>([
    [{ kind: 'parallel-run' }, 'the outputs are compared; a match below the plan rolls back'],
    [{ kind: 'bake', percent: 50 }, 'the metric gate reads the metrics; a failure rolls back'],
    [{ kind: 'monitoring' }, 'the metric gate reads the metrics; a failure rolls back'],
    [{ kind: 'soak', check: 1, of: 7 }, 'the soak check reads the metrics'],
    [undefined, 'the next step of the runbook'],
  ])('the card says what follows %j', (wait, then) => {
    const nowMs = Date.parse('2026-12-02T17:10:00Z');
    const card = runbookCard(plan, waiting(wait ? waitLabel(wait) : 'something', nowMs), nowMs, wait);
    expect(card).toContain(`- **Then:** ${then}`);
    expect(card).toContain(`- **Now:** ${wait ? waitLabel(wait) : 'something'}, until 2026-12-02 18:10 UTC (1 h left)`);
  });
});

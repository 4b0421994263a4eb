import type { Compensation, UndoOutcome } from '../../model/status';
import { keptBecause, undoLanes, undoOrder, undoPrerequisites, whatRunsNow, whatToDo } from '../../model/undo';

const scheduler = { kind: 'crontab' as const, user: 'billing' };
const job = (name: string) => ({ name, schedule: '0 * * * *', command: [`/opt/${name}.sh`] });
const at = '2026-12-07T00:00:00.000Z';
const records: Record<Compensation['kind'], Compensation> = {
  containers: { kind: 'containers', project: 'billing', at },
  traffic: {
    kind: 'traffic',
    router: { kind: 'table', table: 'migration_routing', route: 'unified' },
    databaseUrlEnv: 'DB',
    restorePercent: 0,
    at,
  },
  'unified-job': { kind: 'unified-job', scheduler, job: job('unified'), at },
  'legacy-jobs': { kind: 'legacy-jobs', scheduler, jobs: [job('score'), job('rank')], at },
  archive: { kind: 'archive', repository: '/srv/billing', at },
};
/** A whole migration's records, in the order the migration makes the changes. */
const recorded = (['containers', 'traffic', 'unified-job', 'legacy-jobs', 'archive'] as const).map((k) => records[k]);
const outcome = (kind: Compensation['kind'], ok: boolean): UndoOutcome => ({ kind, ok, attempts: 1, durationMs: 1 });

describe('undo rules: never less running than before', () => {
  it('undoes each kind once, newest first; the newest traffic record is kept', () => {
    const steps = undoOrder([
      { ...records.traffic, at: '1' },
      records.containers,
      records.traffic,
      ...recorded.slice(2),
    ]);
    expect(steps.map((s) => s.kind)).toEqual(['archive', 'legacy-jobs', 'unified-job', 'traffic', 'containers']);
    expect(steps.find((s) => s.kind === 'traffic')?.at).toBe(at);
  });

  it('brings the legacy side back before the routing, and the routing before any of the unified side', () => {
    const steps = undoOrder(recorded);
    const needs = (k: Compensation['kind']) => undoPrerequisites(records[k], steps).map((s) => s.kind);
    expect(needs('archive')).toEqual([]);
    expect(needs('legacy-jobs')).toEqual(['archive']);
    expect(needs('traffic')).toEqual(['archive', 'legacy-jobs']);
    expect(needs('unified-job')).toEqual(['archive', 'legacy-jobs', 'traffic']);
    expect(needs('containers')).toEqual(['archive', 'legacy-jobs', 'traffic']);
    // Before the cutover only the routing and the containers were changed: the containers wait for the routing only.
    const early = undoOrder(recorded.slice(0, 2));
    expect(undoPrerequisites(records.containers, early).map((s) => s.kind)).toEqual(['traffic']);
  });

  it('keeps every change that depends on an undo that failed, and says which', () => {
    const failed = new Map([['legacy-jobs' as const, outcome('legacy-jobs', false)]]);
    expect(keptBecause(records.traffic, failed)).toBe('kept: the re-enabling of the legacy jobs could not be undone');
    expect(keptBecause(records['unified-job'], failed)).toMatch(/^kept: the re-enabling/);
    expect(keptBecause(records.archive, failed)).toBeUndefined();
    // A kept step keeps what depends on it too.
    const kept = new Map([['traffic' as const, { ...outcome('traffic', false), kept: 'kept: …' }]]);
    expect(keptBecause(records.containers, kept)).toBe('kept: the routing back to legacy was kept too');
    expect(keptBecause(records.containers, new Map([['traffic' as const, outcome('traffic', true)]]))).toBeUndefined();
  });

  it('says what runs now and what a person does, step by step', () => {
    const steps = undoOrder(recorded);
    const outcomes = [
      outcome('archive', true),
      outcome('legacy-jobs', false),
      { ...outcome('unified-job', false), kept: 'kept' },
      { ...outcome('traffic', false), kept: 'kept' },
      { ...outcome('containers', false), kept: 'kept' },
    ];
    expect(whatRunsNow(steps, outcomes)).toEqual([
      'legacy scripts: back in /srv/billing',
      'legacy jobs score, rank: STILL NOT SCHEDULED',
      'unified job unified: still scheduled',
      'routing: NOT restored to 0 % unified (the unified pipeline keeps its share)',
      'unified containers of billing: still running',
    ]);
    const todo = whatToDo('billing-1', steps, outcomes);
    expect(todo[0]).toMatch(/^retry: migrate rollback billing-1 /);
    expect(todo.slice(1)).toEqual([
      'by hand 1: crontab -u billing -e: enable the lines of score, rank',
      'by hand 2: crontab -u billing -e: remove the line of unified',
      'by hand 3: set the unified share to 0 % in table migration_routing (route unified)',
      'by hand 4: docker stop the containers of compose project billing',
    ]);
    expect(
      whatToDo(
        'billing-1',
        steps,
        outcomes.map((o) => ({ ...o, ok: true })),
      ),
    ).toEqual([]);
  });

  it('keeps the lanes of rollbacks recorded before, for their replay', () => {
    expect(undoLanes(undoOrder(recorded)).map((lane) => lane.map((s) => s.kind))).toEqual([
      ['archive'],
      ['legacy-jobs', 'unified-job'],
      ['traffic', 'containers'],
    ]);
  });
});

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { readLedger } from '../../activities/ledger';
import { connectClient } from '../../client/connection';
import { runDemo, type DemoOutcome } from '../../demo/demo';
import type { migrationWorkflow } from '../../workflows/migration';
import { migrateCli } from '../helpers/cli';
import { integrity } from '../../demo/target';
import { rollbackSignal } from '../../workflows/definitions';
import { type MigrationStatus } from '../../model/status';
import { recordFaults } from '../helpers/fault-summary';
import { config, tempDir } from '../helpers/stack';
import { expectCompletedOnce, expectLegacyRestored } from '../helpers/end-state';
import { shortRetries, shortWaits } from '../helpers/short-waits';
import { FULL, sweep } from '../helpers/full';
import { slottedPlan } from '../helpers/slot';

const PLAN = slottedPlan(path.join(__dirname, '..', '..', 'plans', 'demo.yaml'));

/** A moment of the demo migration at which the worker is SIGKILLed (and a new one started). */
interface KillPoint {
  name: string;
  at: (s: MigrationStatus) => boolean;
  /** Once `at` holds, wait (polling the server) until this activity is running, then kill: for short activities. */
  inside?: string;
}

const phaseCount = (s: MigrationStatus, phase: string) => s.phaseTimeline.filter((p) => p.phase === phase).length;
const POINTS: KillPoint[] = [
  { name: 'preflight checks', at: (s) => s.phase === 'preflight' },
  { name: 'gate go', at: (s) => s.phase === 'gate:go' },
  // Backups and the deploy take a fraction of a second, less than the watcher's poll: each is armed in the step
  // before it and fired once its activity runs.
  {
    name: 'initial backup',
    at: (s) => s.phase === 'gate:go' || (s.phase === 'backup' && phaseCount(s, 'backup') === 1),
    inside: 'backupDatabase',
  },
  { name: 'deploy', at: (s) => ['gate:go', 'backup', 'deploy'].includes(s.phase), inside: 'deployUnified' },
  { name: 'parallel run', at: (s) => s.phase === 'parallel-run' },
  { name: 'bake at 25 %', at: (s) => s.phase === 'traffic-shift' && s.trafficPercent === 25 },
  { name: 'gate cutover', at: (s) => s.phase === 'gate:cutover' },
  {
    name: 'pre-cutover backup',
    at: (s) => s.phase === 'gate:cutover' || (s.phase === 'backup' && phaseCount(s, 'backup') === 2),
    inside: 'backupDatabase',
  },
  { name: 'cutover', at: (s) => s.phase === 'cutover' },
  { name: 'soak', at: (s) => s.phase === 'soak' },
  // The archive commit takes a fraction of a second: armed during the soak, fired once the activity runs.
  { name: 'archive', at: (s) => s.phase === 'soak' || s.phase === 'archive', inside: 'archiveLegacyScripts' },
  { name: 'gate sign-off', at: (s) => s.phase === 'gate:sign-off' },
];
/**
 * The kills CI makes, one of each kind of moment: inside a long activity that resumes from its heartbeats (the
 * backup), inside the deploy, in a durable timer (the bake), at a gate waiting for people, in the cutover's crontab
 * steps, inside the quick git step (the archive). MO_FULL=1 kills at all twelve points (tests/helpers/full.ts).
 */
const IN_CI = ['initial backup', 'deploy', 'bake at 25 %', 'gate cutover', 'cutover', 'archive'];
const KILLS = sweep(POINTS, (p) => IN_CI.includes(p.name));

/**
 * A folder to put first on the worker's PATH with `pg_dump` and `git` that wait a moment before running the real
 * ones: the backups and the archive commit, a fraction of a second on the demo system, then last long enough for the
 * watcher (which polls the server) to see them running and kill the worker inside them. Everything they do is real.
 */
function slowTools(): string {
  const dir = tempDir('mo-slow-tools');
  for (const [tool, pause] of [
    ['pg_dump', '1.5'],
    ['git', '0.3'],
  ] as const) {
    const real = execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
    fs.writeFileSync(
      path.join(dir, tool),
      `#!/bin/sh
sleep ${pause}
exec ${real} "$@"
`,
      { mode: 0o755 },
    );
  }
  return dir;
}

/** Runs the demo, killing the worker at each of `points` in turn; returns the outcome and what was running. */
async function runWithKills(points: KillPoint[]): Promise<{ outcome: DemoOutcome; kills: string[] }> {
  const kills: string[] = [];
  let next = 0;
  // A point that waits for its activity is armed in the background, so the watcher goes on (and signs the gate
  // that comes before the activity); no other point fires until it has.
  let armed: Promise<void> | undefined;
  let armedFailure: Error | undefined;
  const outcome = await runDemo({
    plan: PLAN,
    print: () => undefined,
    // The kills, not the waits, are under test: every kill point still lasts several of the watcher's polls. A killed
    // worker's step is noticed by its heartbeat timeout: the plan's short one (5 s), not production's 20 s (a
    // heartbeat late under load only adds an attempt, which the test survives like a kill).
    adjustPlan: (plan) => {
      shortWaits(plan);
      shortRetries(plan, 8, 5_000);
    },
    workerEnv: { PATH: `${slowTools()}:${process.env.PATH ?? ''}` },
    onStatus: async (s, handle, control) => {
      const point = points[next];
      if (armed || !point?.at(s)) return;
      next++;
      const running = async () =>
        ((await handle.describe()).raw.pendingActivities ?? [])
          .filter((a) => a.lastStartedTime)
          .map((a) => a.activityType?.name);
      const fire = async () => {
        let pending = await running();
        for (const until = Date.now() + 90_000; point.inside && !pending.includes(point.inside);) {
          if (Date.now() > until) throw new Error(`${point.inside} never ran`);
          await new Promise((r) => setTimeout(r, 20));
          pending = await running();
        }
        await control.killWorker();
        kills.push(`${point.name}${pending.length ? ` (${pending.join(', ')} running)` : ''}`);
      };
      if (!point.inside) return fire();
      armed = fire()
        .catch((err: unknown) => void (armedFailure = err instanceof Error ? err : new Error(String(err))))
        .finally(() => (armed = undefined));
    },
  });
  await armed;
  if (armedFailure) throw armedFailure;
  return { outcome, kills };
}

/**
 * The measurement ledger holds exactly one row per audit entry of the migration, in order, although workers died
 * in the middle of activities (and of ledger writes); `migrate history` prints it.
 */
async function expectLedgerOnce(outcome: DemoOutcome): Promise<void> {
  const client = await connectClient(config);
  try {
    const { status } = await client.workflow.getHandle<typeof migrationWorkflow>(outcome.workflowId).result();
    const rows = await readLedger({
      migrationId: outcome.workflowId,
      databaseUrlEnv: 'DEMO_DATABASE_URL',
      table: 'migration_ledger',
    });
    expect(rows.map((r) => r.seq)).toEqual(status.audit.map((_, i) => i));
    expect(rows.map((r) => [r.kind, r.detail])).toEqual(status.audit.map((a) => [a.kind, a.detail]));
    const history = await migrateCli(['history', outcome.workflowId]);
    expect(history.code).toBe(0);
    expect(history.stdout.trim().split('\n')).toHaveLength(rows.length + 1);
  } finally {
    await client.connection.close();
  }
}

describe('worker crashes: SIGKILL at many points of a demo migration, a new worker carries on', () => {
  it(`survives ${KILLS.length} kills in one migration (${FULL ? 'every phase' : 'one of each kind of moment'}) and ends as an uninterrupted run would`, async () => {
    const { outcome, kills } = await runWithKills(KILLS);
    const rows = kills.map((what) => ({ suite: 'crash', what: `SIGKILL worker in ${what}`, kind: 'fault' as const }));
    try {
      expect(kills).toHaveLength(KILLS.length);
      const { lost, doubled } = await expectCompletedOnce(outcome);
      await expectLedgerOnce(outcome);
      recordFaults(rows.map((r, i) => ({ ...r, ok: true, ...(i === 0 ? { lost, doubled } : {}) })));
    } catch (err) {
      recordFaults(rows.map((r) => ({ ...r, ok: false })));
      throw err;
    }
  }, 900_000);

  it('survives a kill while the rollback runs: the rollback finishes and the legacy path is restored', async () => {
    let sent = false;
    const outcome = await runDemo({
      plan: PLAN,
      print: () => undefined,
      adjustPlan: (plan) => {
        shortWaits(plan);
        shortRetries(plan, 8, 5_000);
      },
      onStatus: async (s, handle, control) => {
        if (s.phase !== 'soak' || sent) return;
        sent = true;
        await handle.signal(rollbackSignal, { reason: 'crash test', requestedBy: 'test' });
        await control.killWorker();
      },
    });
    const row = { suite: 'crash', what: 'SIGKILL worker right after a rollback signal (soak)', kind: 'fault' as const };
    try {
      expect(outcome.phase).toBe('rolled-back');
      await expectLegacyRestored(outcome);
      const check = await integrity(outcome.databaseUrl);
      recordFaults([{ ...row, ok: true, lost: check.missing, doubled: check.duplicates }]);
    } catch (err) {
      recordFaults([{ ...row, ok: false }]);
      throw err;
    }
  }, 600_000);

  // The full sample: one migration per kill point, each killed once (MO_FULL=1; about 12 × 1–2 min).
  const full = FULL ? it : it.skip;
  full.each(POINTS.map((p) => [p.name, p] as const))(
    'full sample: survives a kill in %s alone',
    async (_name, point) => {
      const { outcome, kills } = await runWithKills([point]);
      const row = { suite: 'crash-full', what: `SIGKILL worker in ${kills[0] ?? point.name}`, kind: 'fault' as const };
      try {
        expect(kills).toHaveLength(1);
        const { lost, doubled } = await expectCompletedOnce(outcome);
        recordFaults([{ ...row, ok: true, lost, doubled }]);
      } catch (err) {
        recordFaults([{ ...row, ok: false }]);
        throw err;
      }
    },
    600_000,
  );
});

/**
 * @exclusive It stops the Docker engine, PostgreSQL and the Temporal server that every other test file uses.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { RetryingActivity } from '../../client/retries';
import { runDemo } from '../../demo/demo';
import { demoApprover, demoSigner } from '../../demo/keys';
import { signRequest } from '../../lib/signing';
import { claimFor } from '../../model/auth';
import { resumeSignal, statusQuery } from '../../workflows/definitions';
import { type MigrationStatus } from '../../model/status';
import { expectCompletedOnce } from '../helpers/end-state';
import { recordFaults, type FaultRow } from '../helpers/fault-summary';
import { webhookReceiver } from '../helpers/receivers';
import { startServices, stopService, waitForRetries } from '../helpers/services';
import { shortRetries, shortWaits } from '../helpers/short-waits';
import { slottedPlan } from '../helpers/slot';

const PLAN = slottedPlan(path.join(__dirname, '..', '..', 'plans', 'demo.yaml'));
const EDITED = 'scripts/legacy/batch_scorer.js';
const git = (repo: string, ...args: string[]) => execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8' });

describe('outages of the services a migration depends on', () => {
  afterEach(() => startServices()); // whatever a failed test left stopped

  it('one migration through four: Docker during deploy, PostgreSQL during a gate, the Temporal server in the soak, a dirty repository at archive', async () => {
    const hook = await webhookReceiver();
    process.env.MO_OUTAGE_TEST_WEBHOOK_URL = hook.url;
    let repo = '';
    const seen: { docker?: RetryingActivity; postgres?: RetryingActivity; attention?: string } = {};
    const during: Record<string, MigrationStatus> = {};
    const survived: string[] = [];
    let stage = 0;
    /** The person commits their edit and tells the migration, paused at archive, to go on. */
    const decideArchive = async (handle: WorkflowHandle, s: MigrationStatus) => {
      stage = 6;
      seen.attention = s.attention;
      during.archive = s;
      expect(git(repo, 'status', '--porcelain')).toContain(EDITED);
      git(repo, '-c', 'user.name=Ops', '-c', 'user.email=ops@example.com', 'commit', '-q', '-am', 'hotfix note');
      // Resume moves the migration forward: the demo plan lists keys, so a person it lists signs it.
      const args = { requestedBy: demoApprover('technical-lead'), reason: 'committed the hotfix note' };
      const target = { migrationId: s.migrationId, planDigest: s.planDigest! };
      const signature = await signRequest(claimFor({ kind: 'resume', args }), target, demoSigner(args.requestedBy));
      await handle.signal(resumeSignal, { ...args, signature });
      survived.push('target repository dirty at archive');
    };
    try {
      const outcome = await runDemo({
        plan: PLAN,
        print: () => undefined,
        adjustPlan: (plan) => {
          repo = plan.target.repository;
          plan.notifications = { webhook: { urlEnv: 'MO_OUTAGE_TEST_WEBHOOK_URL' } };
          // The outages are under test, not the waits between them; the bake keeps the plan's 4 s, the window in which
          // PostgreSQL is stopped before the gate at 25 % measures.
          const { bakeMs } = plan.durations;
          shortWaits(plan);
          plan.durations.bakeMs = bakeMs;
          // Retried every second, for some 40 s: each outage is over well within that.
          shortRetries(plan, 40);
        },
        onStatus: async (s, handle) => {
          if (stage === 0 && s.phase === 'gate:go') {
            // The engine goes away before the deploy (the approvals and the backup do not need it).
            stage++;
            stopService('docker');
          } else if (stage === 1 && s.phase === 'deploy') {
            stage++;
            seen.docker = await waitForRetries(handle, 'deployUnified', 3);
            during.docker = await handle.query(statusQuery);
            startServices();
            survived.push('Docker engine stopped during deploy');
          } else if (stage === 2 && s.phase === 'traffic-shift' && s.trafficPercent === 25) {
            // PostgreSQL goes away during the bake at 25 %: the gate at its end cannot measure anything.
            stage++;
            stopService('postgres');
            seen.postgres = await waitForRetries(handle, 'evaluateMetrics', 3);
            during.postgres = await handle.query(statusQuery);
            startServices();
            survived.push('PostgreSQL stopped during the 25 % gate');
          } else if (stage === 3 && s.phase === 'gate:cutover') {
            // Someone leaves an uncommitted edit in a script the archive step moves. At the gate, before its approval:
            // a wait the workflow itself keeps, so no poll can miss it.
            stage++;
            fs.appendFileSync(path.join(repo, EDITED), '// hotfix note: keep\n');
          } else if (stage === 4 && (s.phase === 'soak' || (s.paused && s.attention))) {
            // The server restarts in the soak's durable wait; a watcher that polled past the short soak restarts it
            // while the archive waits for the person, the next wait the workflow keeps. Either is a durable wait.
            stage++;
            const where = s.phase === 'soak' ? 'during the soak' : 'while the archive waited for a person';
            stopService('temporal');
            await new Promise((r) => setTimeout(r, 3000));
            startServices();
            survived.push(`Temporal dev server restarted ${where}`);
            // The next status the watcher reads after the restart decides the archive (stage 5).
          } else if (stage === 5 && s.paused && s.attention) {
            await decideArchive(handle, s);
          }
        },
      });
      expect(stage).toBe(6);

      // Docker: the deploy was retried with backoff while the engine was away; nothing went on without it.
      expect(seen.docker?.lastFailure).toMatch(/docker\.sock|ECONNREFUSED|ENOENT/);
      expect(during.docker).toMatchObject({ phase: 'deploy', trafficPercent: 0 });
      // PostgreSQL: the gate could not measure, so it neither passed nor failed; traffic stayed at 25 %.
      expect(seen.postgres?.lastFailure).toMatch(/could not be measured/);
      expect(during.postgres).toMatchObject({ phase: 'traffic-shift', trafficPercent: 25 });
      expect(during.postgres!.evaluations.map((e) => e.step)).not.toContain('traffic 25%');
      const gates = outcome.status.evaluations.filter((e) => e.step.startsWith('traffic'));
      expect(gates.map((e) => [e.step, e.passed])).toEqual([
        ['traffic 10%', true],
        ['traffic 25%', true],
        ['traffic 50%', true],
        ['traffic 100%', true],
      ]);
      // Dirty repository: paused with the command that decides, announced, nothing committed over the person's edit.
      expect(seen.attention).toMatch(/archive blocked: repository .* has uncommitted changes.*migrate resume/);
      expect(during.archive).toMatchObject({ phase: 'archive', paused: true });
      const blocked = hook.requests.map((r) => JSON.parse(r.body) as { event: string; text: string });
      expect(blocked.find((n) => n.event === 'archive-blocked')?.text).toContain(EDITED);
      // The end state equals an uninterrupted run's (one archive commit, one crontab switch, every item once)…
      const { lost, doubled } = await expectCompletedOnce(outcome);
      // …and the person's edit went into the archive with the script, not lost.
      const copy = git(repo, 'ls-files', 'scripts/archive')
        .split('\n')
        .find((f) => f.endsWith(path.basename(EDITED)));
      expect(fs.readFileSync(path.join(repo, copy!), 'utf8')).toContain('// hotfix note: keep');
      recordFaults(survived.map((what) => ({ suite: 'outages', what, kind: 'fault', ok: true, lost, doubled })));
    } catch (err) {
      recordFaults(
        ['Docker during deploy', 'PostgreSQL during a gate', 'Temporal restart in the soak', 'dirty repository']
          .slice(survived.length)
          .map((what): FaultRow => ({ suite: 'outages', what, kind: 'fault', ok: false })),
      );
      throw err;
    } finally {
      startServices();
      await hook.close();
    }
  }, 600_000);
});

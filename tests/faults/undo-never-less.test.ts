import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type Docker from 'dockerode';
import { createActivities } from '../../activities/index';
import { dockerClient } from '../../activities/docker';
import { stopContainers } from '../../activities/containers';
import type { JobSpec, Plan, RouterSpec } from '../../model/plan';
import type { Compensation, RollbackResult } from '../../model/status';
import { rollbackWorkflow } from '../../workflows/rollback';
import { rollbackWorkflowId } from '../../model/status';
import { DEMO_TRUST_FILE, demoStartProof } from '../../demo/keys';
import { recordFaults } from '../helpers/fault-summary';
import { SLOT } from '../helpers/slot';
import { config, scratchDatabase, systemUser, tempDir, uniq, withPg } from '../helpers/stack';
import type { StubActivities } from '../helpers/stub-activities';
import { createWorkflowEnv, productionPlan, type WorkflowEnv } from '../helpers/workflow-env';

/**
 * A rollback whose undo fails part-way leaves at least as much running as before it started: against a crontab
 * written by hand, a real routing table or router command, and real containers on the stack's Docker engine. The
 * forward changes are made by our activities, as a migration makes them; what breaks is done by hand, as it happens.
 */
const USER = `mo-undo-${SLOT}`;
const URL_ENV = `MO_TEST_UNDO_URL_${SLOT.replace(/\W/g, '_').toUpperCase()}`;
const scheduler = { kind: 'crontab' as const, user: USER };
const legacy: JobSpec = {
  name: 'score',
  schedule: '*/10 * * * *',
  command: ['./score.sh'],
  match: './score.sh >>',
};
const unified: JobSpec = { name: 'unified', schedule: '*/5 * * * *', command: ['/usr/local/bin/unified', '--once'] };
// The crontab as the billing team keeps it.
const HAND_WRITTEN = [
  'MAILTO=ops@example.com',
  '# billing scorer (ops, 2022)',
  '*/10 * * * * cd /srv/billing && ./score.sh >> /var/log/score.log 2>&1',
  '30 2 * * 0 /usr/sbin/logrotate /etc/logrotate.conf',
  '',
].join('\n');
const crontabNow = () => execFileSync('crontab', ['-l', '-u', USER], { encoding: 'utf8' });
const activeLines = (text: string) => text.split('\n').filter((l) => l.trim() && !l.trimStart().startsWith('#'));

describe('a rollback never leaves less running than before (real crontab, router and Docker)', () => {
  let env: WorkflowEnv;
  let acts: ReturnType<typeof createActivities>;
  let db: Awaited<ReturnType<typeof scratchDatabase>>;
  const docker: Docker = dockerClient(config.dockerHost);
  const dir = tempDir('mo-undo');
  const projects: string[] = [];

  beforeAll(async () => {
    systemUser(USER);
    [env, db] = await Promise.all([createWorkflowEnv('dev', 'undo-never-less'), scratchDatabase('mo_undo')]);
    process.env[URL_ENV] = db.url;
    acts = createActivities({
      docker,
      client: env.client,
      admission: { trustFile: DEMO_TRUST_FILE, workflowQueues: [] },
    });
  });
  afterAll(async () => {
    await Promise.all(projects.map((p) => stopContainers(docker, p, { anyOwner: true }).catch(() => undefined)));
    execFileSync('crontab', ['-r', '-u', USER], { stdio: 'ignore' });
    await env?.teardown();
    await db?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The plan the rollback reads: this test's target, no notifications, a verification that reads the database. */
  function planFor(id: string, router: RouterSpec, stopGraceMs?: number): Plan {
    const project = `mo-undo-${id}`;
    projects.push(project);
    const check = productionPlan.rollback.checks[0]!;
    return {
      ...productionPlan,
      target: {
        databaseUrlEnv: URL_ENV,
        repository: dir,
        composeProject: project,
        backupDir: path.join(dir, 'backups'),
        reportDir: path.join(dir, 'reports'),
      },
      scheduler,
      legacyJobs: [legacy],
      unifiedJob: { ...unified, containers: [], ...(stopGraceMs ? { stopGraceMs } : {}) },
      traffic: { ...productionPlan.traffic, router },
      notifications: {},
      // A failing undo is retried twice, not five times: the retries are not under test, what the rollback keeps is.
      retry: { rollback: { maximumAttempts: 2, initialIntervalMs: 100 } },
      ledger: { databaseUrlEnv: URL_ENV, table: 'migration_ledger' },
      rollback: {
        budgetMs: 60_000,
        checks: [
          { ...check, name: 'target reachable', measure: { kind: 'sql', query: 'select 1' }, op: '>=', threshold: 1 },
        ],
      },
    };
  }

  /** Runs the rollback workflow on a worker with the real activities. */
  async function rollBack(id: string, plan: Plan, compensations: Compensation[]): Promise<RollbackResult> {
    const { worker, taskQueue } = await env.createWorker(acts as unknown as StubActivities);
    return worker.runUntil(async () =>
      env.client.workflow.execute(rollbackWorkflow, {
        taskQueue,
        workflowId: rollbackWorkflowId(id),
        args: [
          {
            migrationId: id,
            plan,
            compensations,
            reason: 'gate failed',
            requestedBy: 'test',
            fromPhase: 'soak',
            // Started by hand: signed by the stack's starter, as `migrate rollback` signs.
            proof: await demoStartProof('rollback', rollbackWorkflowId(id), plan, 'test', id),
          },
        ],
      }),
    );
  }

  /** Deploys a container that runs `script` under node, owned by migration `id`. */
  async function deploy(id: string, plan: Plan, containers: { service: string; script: string }[]) {
    await acts.deployUnified({
      project: plan.target.composeProject,
      migrationId: id,
      containers: containers.map((c) => ({ service: c.service, image: config.nodeImage, command: ['-e', c.script] })),
    });
    return { kind: 'containers', project: plan.target.composeProject, at: new Date().toISOString() } as Compensation;
  }

  const running = async (project: string) =>
    (await docker.listContainers({ filters: { label: [`com.docker.compose.project=${project}`] } })).length;
  const routed = (table: string, route: string) =>
    withPg(db.url, async (c) => (await c.query(`select percent from ${table} where route = $1`, [route])).rows[0]);
  const outcomes = (r: RollbackResult) => r.undone.map((u) => [u.kind, u.ok ? 'undone' : u.kept ? 'kept' : 'failed']);

  it('a legacy line edited by hand while disabled: the unified job, its share and its containers stay', async () => {
    const id = `undo-cron-${uniq()}`;
    const router: RouterSpec = { kind: 'table', table: 'migration_routing' };
    const plan = planFor(id, router);
    execFileSync('crontab', ['-u', USER, '-'], { input: HAND_WRITTEN });
    // The migration, up to its soak: containers, all traffic on unified, the cutover of the crontab.
    const at = new Date().toISOString();
    const common = { migrationId: id, scheduler, backupDir: plan.target.backupDir };
    const compensations: Compensation[] = [
      await deploy(id, plan, [{ service: 'scorer', script: 'setInterval(() => {}, 1000)' }]),
    ];
    await acts.setTrafficPercent({ migrationId: id, router, databaseUrlEnv: URL_ENV, percent: 100, actor: 'test' });
    compensations.push({ kind: 'traffic', router, databaseUrlEnv: URL_ENV, restorePercent: 0, at });
    await acts.installUnifiedJob({ ...common, job: unified });
    compensations.push({ kind: 'unified-job', scheduler, job: unified, at });
    await acts.disableLegacyJobs({ ...common, jobs: [legacy] });
    compensations.push({ kind: 'legacy-jobs', scheduler, jobs: [legacy], at });

    // Someone tidies the disabled line by hand during the soak: our prefix is gone, the line is theirs now.
    const tidied = crontabNow()
      .split('\n')
      .map((l) =>
        l.startsWith('#') && l.includes('./score.sh >>')
          ? '#*/10 * * * * cd /srv/billing && ./score.sh >> /var/log/score.log 2>&1   # off until the cutover is done'
          : l,
      )
      .join('\n');
    execFileSync('crontab', ['-u', USER, '-'], { input: tidied });

    const result = await rollBack(id, plan, compensations);
    expect(outcomes(result)).toEqual([
      ['legacy-jobs', 'failed'],
      ['unified-job', 'kept'],
      ['traffic', 'kept'],
      ['containers', 'kept'],
    ]);
    expect(result.verified).toBe(false);
    // Everything still runs: the unified job is scheduled, owns all items, and its container serves them.
    const cron = activeLines(crontabNow());
    expect(cron.some((l) => l.includes('/usr/local/bin/unified'))).toBe(true);
    expect(cron.some((l) => l.includes('./score.sh'))).toBe(false);
    expect(await routed('migration_routing', 'unified')).toEqual({ percent: 100 });
    expect(await running(plan.target.composeProject)).toBe(1);
    expect(result.runningNow).toContain('legacy jobs score: STILL NOT SCHEDULED');
    expect(result.toDo).toContain(`by hand 1: crontab -u ${USER} -e: enable the lines of score`);
    recordFaults([{ suite: 'rollback', what: 'legacy line edited by hand while disabled', kind: 'fault', ok: true }]);
  });

  it('a router that fails at the undo: the unified containers keep serving their share', async () => {
    const id = `undo-router-${uniq()}`;
    // The team's router script: records the share it was given; refuses while the load balancer is in maintenance.
    const state = path.join(dir, `${id}.percent`);
    const maintenance = path.join(dir, `${id}.maintenance`);
    const script = path.join(dir, `${id}-router.sh`);
    fs.writeFileSync(
      script,
      `#!/bin/sh\nif [ -e '${maintenance}' ]; then echo 'lb in maintenance' >&2; exit 1; fi\necho "$1" > '${state}'\n`,
      { mode: 0o755 },
    );
    const router: RouterSpec = { kind: 'command', command: [script, '{percent}'] };
    const plan = planFor(id, router);
    const at = new Date().toISOString();
    const compensations: Compensation[] = [
      await deploy(id, plan, [{ service: 'scorer', script: 'setInterval(() => {}, 1000)' }]),
    ];
    await acts.setTrafficPercent({ migrationId: id, router, databaseUrlEnv: URL_ENV, percent: 50, actor: 'test' });
    compensations.push({ kind: 'traffic', router, databaseUrlEnv: URL_ENV, restorePercent: 0, at });
    fs.writeFileSync(maintenance, '');

    const result = await rollBack(id, plan, compensations);
    expect(outcomes(result)).toEqual([
      ['traffic', 'failed'],
      ['containers', 'kept'],
    ]);
    expect(fs.readFileSync(state, 'utf8').trim()).toBe('50');
    expect(await running(plan.target.composeProject)).toBe(1);
    expect(result.runningNow).toContain(`unified containers of ${plan.target.composeProject}: still running`);
    recordFaults([{ suite: 'rollback', what: 'router command fails at the undo', kind: 'fault', ok: true }]);
  });

  it("containers stop with the plan's grace: one finishes its work, one that ignores SIGTERM is killed after it", async () => {
    const id = `undo-grace-${uniq()}`;
    const flushed: string[] = [];
    const server = http.createServer((req, res) => {
      flushed.push(req.url ?? '');
      res.end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const router: RouterSpec = { kind: 'table', table: 'migration_routing', route: `r-${id}` };
      const plan = planFor(id, router, 5_000);
      // A worker that takes 3 s to hand its last batch over on SIGTERM, and one that ignores SIGTERM.
      const flusher = `process.on('SIGTERM', () => setTimeout(() => require('http').get('http://127.0.0.1:${port}/flushed', () => process.exit(0)), 3000)); setInterval(() => {}, 1000)`;
      const stubborn = `process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)`;
      const compensations = [
        await deploy(id, plan, [
          { service: 'flusher', script: flusher },
          { service: 'stubborn', script: stubborn },
        ]),
      ];
      const t0 = Date.now();
      const result = await rollBack(id, plan, compensations);
      expect(outcomes(result)).toEqual([['containers', 'undone']]);
      expect(flushed).toEqual(['/flushed']);
      // The stubborn one was given the whole grace, then killed: the rollback still ends.
      expect(Date.now() - t0).toBeGreaterThanOrEqual(5_000);
      expect(await running(plan.target.composeProject)).toBe(0);
    } finally {
      server.close();
    }
  });
});

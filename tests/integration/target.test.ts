import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { startContainers, stopContainers } from '../../activities/containers';
import { dockerClient } from '../../activities/docker';
import { setTrafficPercent } from '../../activities/traffic';
import { createSchedulerActivities } from '../../activities/scheduler';
import { checkTarget } from '../../activities/target';
import { loadPlan } from '../../client/plan';
import type { Plan } from '../../model/plan';
import type { TargetSystem } from '../../model/constants';
import { quoteIdent } from '../../activities/database';
import { requireEnv } from '../../lib/config';
import { config, scratchDatabase, stackClient, systemUser, tempDir, uniq, withPg } from '../helpers/stack';

const USER = 'mo-targettest';
const DEMO = path.join(__dirname, '..', '..', 'plans', 'demo.yaml');

describe('preflight checks the plan against a target built by hand', () => {
  let client: Client;
  let db: Awaited<ReturnType<typeof scratchDatabase>>;
  let deps: Parameters<typeof checkTarget>[0];
  const root = tempDir('mo-target');
  const reader = `mo_target_reader_${uniq()}`;
  const readerPassword = uniq() + uniq();
  const repo = path.join(root, 'repo');
  const crontab = [
    'MAILTO=ops@example.com',
    `*/10 * * * * cd ${repo} && ./scripts/nightly_export.sh >> /var/log/export.log 2>&1`,
    '',
  ].join('\n');

  beforeAll(async () => {
    systemUser(USER);
    // The team's repository and crontab, as they made them.
    fs.mkdirSync(path.join(repo, 'scripts'), { recursive: true });
    fs.mkdirSync(path.join(repo, 'docs'), { recursive: true });
    fs.writeFileSync(path.join(repo, 'scripts', 'nightly_export.sh'), '#!/bin/sh\npsql -c "select 1"\n', {
      mode: 0o755,
    });
    fs.writeFileSync(path.join(repo, 'docs', 'exports.md'), 'Exports run from `scripts/nightly_export.sh`.\n');
    execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: repo });
    execFileSync('crontab', ['-u', USER, '-'], { input: crontab });
    db = await scratchDatabase('mo_target');
    // The read-only role gate and check SQL runs as, made by hand as a careful operator would.
    await withPg(db.url, async (c) => {
      await c.query(`create role ${quoteIdent(reader)} login password '${readerPassword}'`);
      await c.query(`grant connect on database ${quoteIdent(db.name)} to ${quoteIdent(reader)}`);
      await c.query(`grant select on all tables in schema public to ${quoteIdent(reader)}`);
    });
    const url = new URL(db.url);
    url.username = reader;
    url.password = readerPassword;
    process.env.DEMO_METRICS_DATABASE_URL = url.toString();
    client = await stackClient();
    const sched = createSchedulerActivities({ client });
    deps = {
      docker: dockerClient(config.dockerHost),
      findLegacyJobs: sched.findLegacyJobs,
      findUnifiedOwner: sched.findUnifiedOwner,
    };
  });
  afterAll(async () => {
    execFileSync('crontab', ['-r', '-u', USER], { stdio: 'ignore' });
    await db?.drop();
    await withPg(requireEnv('DATABASE_URL'), (c) => c.query(`drop role if exists ${quoteIdent(reader)}`));
    delete process.env.DEMO_METRICS_DATABASE_URL;
    await client?.connection.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  /** The demo plan pointed at this target: one legacy job found by `match:`. */
  function planFor(backupDir: string): Plan {
    process.env.MO_TARGET_DB_URL = db.url;
    const plan = loadPlan(DEMO);
    return {
      ...plan,
      target: { ...plan.target, repository: repo, backupDir, databaseUrlEnv: 'MO_TARGET_DB_URL' },
      legacyJobs: [
        {
          name: 'nightly-export',
          schedule: '*/10 * * * *',
          command: ['./scripts/nightly_export.sh'],
          match: 'scripts/nightly_export.sh',
          script: 'scripts/nightly_export.sh',
        },
      ],
      scheduler: { kind: 'crontab', user: USER },
      archive: { ...plan.archive, docs: ['docs/exports.md'] },
      ledger: { ...plan.ledger, databaseUrlEnv: 'MO_TARGET_DB_URL' },
      unifiedJob: {
        ...plan.unifiedJob,
        containers: plan.unifiedJob.containers.map((c) => ({ ...c, envFrom: { DATABASE_URL: 'MO_TARGET_DB_URL' } })),
      },
    };
  }
  const started = () => new Date().toISOString();

  it('passes a target that has everything the plan names', async () => {
    const backupDir = path.join(root, 'backups-ok', 'nested');
    const results = await checkTarget(deps, `m-${uniq()}`, { plan: planFor(backupDir), startedAt: started() });
    expect(results.filter((r) => !r.passed).map((r) => `${r.name}: ${r.error}`)).toEqual([]);
    expect(results.map((r) => r.name)).toEqual([
      'target: migration ID unused',
      'target: migration ID unused in the ledger',
      'target: legacy job nightly-export found',
      "target: unified job unified-pipeline not another migration's",
      'target: scripts/nightly_export.sh in the repository',
      'target: docs/exports.md in the repository',
      'target: image migration-orchestrator/node-runtime:latest',
      'target: compose project free',
      'target: environment variables set',
      'target: router works',
      'target: gate SQL is read-only, one statement',
      'target: SQL role cannot write files or run programs',
      'target: backup folder writable with room',
    ]);
    expect(results[2]!.detail).toBe(crontab.split('\n')[1]);
    // Read only: the backup folder was not even created.
    expect(fs.existsSync(path.join(root, 'backups-ok'))).toBe(false);
  });

  it("refuses a gate's SQL that writes or holds two statements before any change, naming the metric", async () => {
    const good = planFor(path.join(root, 'backups-sql'));
    const [first, ...rest] = good.metrics;
    const sqlOf = (query: string) => ({ ...first!, measure: { kind: 'sql' as const, query } });
    const probeOf = async (query: string) =>
      (
        await checkTarget(deps, `m-${uniq()}`, {
          plan: { ...good, metrics: [sqlOf(query), ...rest] },
          startedAt: started(),
          systems: ['central'],
        })
      ).find((r) => r.name === 'target: gate SQL is read-only, one statement')!;
    const two = await probeOf('select 1; select 2');
    expect(two.passed).toBe(false);
    expect(two.error).toMatch(
      new RegExp(`^metric ${first!.name}: its SQL must be one read-only statement: cannot insert multiple commands`),
    );
    // A table the unified pipeline creates at deploy: not runnable yet, so not proven, and no reason to stop.
    const later = await probeOf('select count(*) from mo_created_at_deploy');
    expect(later).toMatchObject({ passed: true, detail: expect.stringContaining('not runnable yet, so not proven') });
    // A sequence its owners made by hand: reading it with nextval writes.
    await withPg(db.url, (c) => c.query('create sequence if not exists mo_target_probe_seq'));
    const writes = await probeOf("select nextval('mo_target_probe_seq')");
    expect(writes.passed).toBe(false);
    expect(writes.error).toMatch(
      /its SQL must be one read-only statement: cannot execute nextval\(\) in a read-only transaction/,
    );
  });

  it('refuses a route and a compose project another migration holds, naming it, before the go gate', async () => {
    const project = `mo-held-${uniq()}`;
    const good = planFor(path.join(root, 'backups-held'));
    const plan: Plan = {
      ...good,
      target: { ...good.target, composeProject: project },
      traffic: { ...good.traffic, router: { kind: 'table', table: 'held_routing', route: 'exports' } },
    };
    // Migration A, on the same route and project, got as far as a quarter of the traffic.
    await setTrafficPercent({
      migrationId: 'mig-a',
      router: plan.traffic.router,
      databaseUrlEnv: 'MO_TARGET_DB_URL',
      percent: 25,
      actor: 'mig-a',
    });
    const docker = dockerClient(config.dockerHost);
    await startContainers(
      docker,
      project,
      [
        {
          service: 'scorer',
          image: config.nodeImage,
          command: ['-e', "process.on('SIGTERM', () => process.exit(0)); setInterval(() => {}, 1000)"],
        },
      ],
      'mig-a',
    );
    try {
      const results = await checkTarget(deps, `m-${uniq()}`, { plan, startedAt: started() });
      const failed = Object.fromEntries(results.filter((r) => !r.passed).map((r) => [r.name, r.error]));
      expect(Object.keys(failed).sort()).toEqual(['target: compose project free', 'target: router works']);
      expect(failed['target: router works']).toMatch(
        /^route exports of routing table held_routing belongs to migration mig-a \(25 % unified\)/,
      );
      expect(failed['target: compose project free']).toContain(
        `compose project ${project} (target.composeProject) holds ${project}-scorer-1 of migration mig-a`,
      );
      // A's own preflight (a re-run of the same ID) finds both its own.
      const own = await checkTarget(deps, 'mig-a', { plan, startedAt: started(), systems: ['containers'] });
      expect(own.filter((r) => !r.passed)).toEqual([]);
    } finally {
      await stopContainers(docker, project, { anyOwner: true });
    }
  });

  it('checks on each host only what its agent acts on, and centrally the rest', async () => {
    const backupDir = path.join(root, 'backups-split');
    const plan: Plan = { ...planFor(backupDir), target: { ...planFor(backupDir).target, agentQueue: 'cron-host' } };
    const on = async (systems: TargetSystem[]) =>
      (await checkTarget(deps, `m-${uniq()}`, { plan, startedAt: started(), systems })).map(
        (r) => `${r.name}: ${r.passed ? 'ok' : r.error}`,
      );
    // The agent of the cron, repository, Docker and backup host.
    expect(await on(['backup', 'containers', 'scheduler', 'repository', 'commands'])).toEqual([
      'target: migration ID unused: ok',
      'target: legacy job nightly-export found: ok',
      "target: unified job unified-pipeline not another migration's: ok",
      'target: scripts/nightly_export.sh in the repository: ok',
      'target: docs/exports.md in the repository: ok',
      'target: image migration-orchestrator/node-runtime:latest: ok',
      'target: compose project free: ok',
      'target: environment variables set (for backup, containers, scheduler, repository, commands): ok',
      'target: backup folder writable with room: ok',
    ]);
    // The central workers: the ledger, their variables (the target database's too), the routing table.
    expect(await on(['central'])).toEqual([
      'target: migration ID unused in the ledger: ok',
      'target: environment variables set (for central): ok',
      'target: router works: ok',
      'target: gate SQL is read-only, one statement: ok',
      'target: SQL role cannot write files or run programs: ok',
    ]);
    // A backup host of its own: the cron host checks the folder its crontab saves go to as well.
    const split: Plan = { ...plan, target: { ...plan.target, agentQueues: { backup: 'db-host' } } };
    const cron = await checkTarget(deps, `m-${uniq()}`, { plan: split, startedAt: started(), systems: ['scheduler'] });
    expect(cron.map((r) => r.name)).toEqual([
      'target: legacy job nightly-export found',
      "target: unified job unified-pipeline not another migration's",
      'target: crontab saves folder writable',
    ]);
  });

  it('refuses gate and check SQL that connects as a superuser, naming the variable and the role, unless allowed', async () => {
    const good = planFor(path.join(root, 'backups-role'));
    const asOwner: Plan = { ...good, target: { ...good.target, metricsDatabaseUrlEnv: 'MO_TARGET_DB_URL' } };
    // As the loader would have normalised it: SQL without a variable of its own takes the metrics variable.
    const plan: Plan = {
      ...asOwner,
      metrics: asOwner.metrics.map((m) =>
        m.measure.kind === 'sql' ? { ...m, measure: { ...m.measure, databaseUrlEnv: 'MO_TARGET_DB_URL' } } : m,
      ),
    };
    const roleOf = async (p: Plan) =>
      (await checkTarget(deps, `m-${uniq()}`, { plan: p, startedAt: started(), systems: ['central'] })).find(
        (r) => r.name === 'target: SQL role cannot write files or run programs',
      )!;
    const refused = await roleOf(plan);
    expect(refused.passed).toBe(false);
    expect(refused.error).toMatch(/^MO_TARGET_DB_URL connects as role "postgres", a superuser: .*read-only role/);
    expect(refused.error).toContain('target.allowPrivilegedSqlRole');
    expect(JSON.stringify(refused)).not.toContain(new URL(db.url).password);
    // A disposable target may allow it: passed, with a warning the report shows.
    const allowed = await roleOf({ ...plan, target: { ...plan.target, allowPrivilegedSqlRole: true } });
    expect(allowed).toMatchObject({ passed: true, warning: expect.stringContaining('role "postgres", a superuser') });
    // A role that is no superuser, but a member of pg_execute_server_program, is refused too.
    await withPg(db.url, (c) => c.query(`grant pg_execute_server_program to ${quoteIdent(reader)}`));
    try {
      const member = await roleOf(good);
      expect(member.error).toMatch(
        new RegExp(`^DEMO_METRICS_DATABASE_URL connects as role "${reader}", a member of pg_execute_server_program`),
      );
    } finally {
      await withPg(db.url, (c) => c.query(`revoke pg_execute_server_program from ${quoteIdent(reader)}`));
    }
    expect((await roleOf(good)).passed).toBe(true);
  });

  it('names each missing thing, changes nothing, and never shows a variable value', async () => {
    const backupDir = path.join(root, 'backups-used');
    const id = `m-${uniq()}`;
    // An earlier run of the same ID left its backup (as any run does).
    fs.mkdirSync(path.join(backupDir, id), { recursive: true });
    fs.writeFileSync(path.join(backupDir, id, 'initial.dump'), 'old dump');
    const good = planFor(backupDir);
    const plan: Plan = {
      ...good,
      legacyJobs: [{ ...good.legacyJobs[0]!, match: 'scripts/nightly-export.sh', script: 'scripts/export.sh' }],
      archive: { ...good.archive, docs: ['docs/missing.md'] },
      unifiedJob: {
        ...good.unifiedJob,
        containers: [
          {
            ...good.unifiedJob.containers[0]!,
            image: 'registry.example.com/unified:never-built',
            envFrom: { X: 'MO_UNSET_VAR' },
          },
        ],
      },
      traffic: { ...good.traffic, router: { kind: 'command', command: ['/opt/lb/no-such-switch', '{percent}'] } },
    };
    const results = await checkTarget(deps, id, { plan, startedAt: started() });
    const failed = Object.fromEntries(results.filter((r) => !r.passed).map((r) => [r.name, r.error]));
    expect(Object.keys(failed).sort()).toEqual([
      'target: docs/missing.md in the repository',
      'target: environment variables set',
      'target: image registry.example.com/unified:never-built',
      'target: legacy job nightly-export found',
      'target: migration ID unused',
      'target: router works',
      'target: scripts/export.sh in the repository',
    ]);
    expect(failed['target: migration ID unused']).toContain(`${id} was used before`);
    expect(failed['target: legacy job nightly-export found']).toContain(crontab.split('\n')[1]);
    expect(failed['target: environment variables set']).toBe('not set on the worker: MO_UNSET_VAR');
    expect(failed['target: image registry.example.com/unified:never-built']).toContain('is not in the Docker engine');
    expect(failed['target: router works']).toContain('no-such-switch');
    expect(JSON.stringify(results)).not.toContain(db.url);
    expect(execFileSync('crontab', ['-l', '-u', USER], { encoding: 'utf8' })).toBe(crontab);
    expect(fs.readdirSync(path.join(backupDir, id))).toEqual(['initial.dump']);
  });
});

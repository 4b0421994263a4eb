import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { dockerClient } from '../../activities/docker';
import { createSchedulerActivities } from '../../activities/scheduler';
import { checkTarget } from '../../activities/target';
import { loadPlan } from '../../client/plan';
import type { Plan } from '../../model/plan';
import type { TargetSystem } from '../../model/constants';
import { config, scratchDatabase, tempDir, uniq, withPg } from '../helpers/stack';

const USER = 'mo-targettest';
const DEMO = path.join(__dirname, '..', '..', 'plans', 'demo.yaml');

describe('preflight checks the plan against a target built by hand', () => {
  let client: Client;
  let db: Awaited<ReturnType<typeof scratchDatabase>>;
  let deps: Parameters<typeof checkTarget>[0];
  const root = tempDir('mo-target');
  const repo = path.join(root, 'repo');
  const crontab = [
    'MAILTO=ops@example.com',
    `*/10 * * * * cd ${repo} && ./scripts/nightly_export.sh >> /var/log/export.log 2>&1`,
    '',
  ].join('\n');

  beforeAll(async () => {
    try {
      execFileSync('id', [USER], { stdio: 'ignore' });
    } catch {
      execFileSync('useradd', ['--system', '--no-create-home', USER]);
    }
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
    client = new Client({
      connection: await Connection.connect({ address: config.temporalAddress }),
      namespace: config.temporalNamespace,
    });
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
      'target: environment variables set',
      'target: router works',
      'target: gate SQL is read-only, one statement',
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
      'target: environment variables set (for backup, containers, scheduler, repository, commands): ok',
      'target: backup folder writable with room: ok',
    ]);
    // The central workers: the ledger, their variables (the target database's too), the routing table.
    expect(await on(['central'])).toEqual([
      'target: migration ID unused in the ledger: ok',
      'target: environment variables set (for central): ok',
      'target: router works: ok',
      'target: gate SQL is read-only, one statement: ok',
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

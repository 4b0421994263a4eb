import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { dockerClient } from '../../activities/docker';
import { createSchedulerActivities, parseCrontab } from '../../activities/scheduler';
import { checkTarget } from '../../activities/target';
import { loadPlan } from '../../client/plan';
import { cronCommand } from '../../model/cron';
import type { JobSpec, Plan, SchedulerSpec } from '../../model/plan';
import { config, stackClient, systemUser, tempDir, uniq } from '../helpers/stack';

const USER = 'mo-crontest-own';
const cron: SchedulerSpec = { kind: 'crontab', user: USER };
const WRITER = path.join(__dirname, '..', 'helpers', 'crontab-writer.ts');
// Run through node itself (tsx as a loader), so that the process killed is the one holding the lock.
const TSX = ['--import', 'tsx', WRITER];

// Two legacy lines as the team wrote them; the two migrations each disable one of them.
const BATCH = '*/15 * * * * cd /srv/pipelines && python3 scripts/batch_scorer.py >> /var/log/b.log 2>&1';
const TRUST = '5 * * * * /usr/bin/python3 /srv/scripts/trust.py --limit 100\\% 2>/dev/null';
const HAND_WRITTEN = ['MAILTO=ops@example.com', '# scoring (ops)', BATCH, TRUST, ''].join('\n');
// The same job name in both plans, each locating another line.
const scorerA: JobSpec = { name: 'scorer', schedule: '*/15 * * * *', command: ['x'], match: 'batch_scorer.py' };
const scorerB: JobSpec = { name: 'scorer', schedule: '5 * * * *', command: ['x'], match: 'trust.py' };
const unified: JobSpec = { name: 'unified', schedule: '*/5 * * * *', command: ['/usr/local/bin/unified', '--once'] };

const installByHand = (text: string) => execFileSync('crontab', ['-u', USER, '-'], { input: text });
const crontabNow = () => execFileSync('crontab', ['-l', '-u', USER], { encoding: 'utf8' });

describe('a crontab and Temporal Schedules shared by two migrations, and by people', () => {
  let client: Client;
  let acts: ReturnType<typeof createSchedulerActivities>;
  const backupDir = tempDir('mo-owners');

  beforeAll(async () => {
    systemUser(USER);
    client = await stackClient();
    acts = createSchedulerActivities({ client });
  });
  afterAll(async () => {
    execFileSync('crontab', ['-r', '-u', USER], { stdio: 'ignore' });
    fs.rmSync(backupDir, { recursive: true, force: true });
    await client.connection.close();
  });

  it("rolls back one migration's lines and leaves the other's, in either order", async () => {
    installByHand(HAND_WRITTEN);
    const a = { migrationId: `m-a-${uniq()}`, scheduler: cron, backupDir };
    const b = { migrationId: `m-b-${uniq()}`, scheduler: cron, backupDir };
    await acts.installUnifiedJob({ ...a, job: unified });
    await acts.disableLegacyJobs({ ...a, jobs: [scorerA] });
    const afterA = crontabNow();
    await acts.installUnifiedJob({ ...b, job: unified });
    await acts.disableLegacyJobs({ ...b, jobs: [scorerB] });
    const both = parseCrontab(crontabNow());
    expect(both.filter((e) => e.name === 'unified').map((e) => [e.migrationId, e.enabled])).toEqual([
      [a.migrationId, true],
      [b.migrationId, true],
    ]);
    expect(both.filter((e) => e.name === 'scorer').map((e) => [e.migrationId, e.line])).toEqual([
      [a.migrationId, BATCH],
      [b.migrationId, TRUST],
    ]);

    // B's undo steps (the rollback workflow's, in its order): only B's lines change, A's state is as A left it.
    await acts.removeUnifiedJob({ ...b, job: unified });
    expect((await acts.enableLegacyJobs({ ...b, jobs: [scorerB] })).changed).toEqual(['scorer']);
    expect(crontabNow()).toBe(afterA);

    // Then A's: the crontab is the team's again, byte for byte.
    await acts.installUnifiedJob({ ...b, job: unified });
    await acts.disableLegacyJobs({ ...b, jobs: [scorerB] });
    const afterB = crontabNow();
    await acts.removeUnifiedJob({ ...a, job: unified });
    await acts.enableLegacyJobs({ ...a, jobs: [scorerA] });
    const left = parseCrontab(crontabNow());
    expect(left.filter((e) => e.migrationId).map((e) => [e.name, e.migrationId, e.enabled])).toEqual([
      ['scorer', b.migrationId, false],
      ['unified', b.migrationId, true],
    ]);
    expect(
      crontabNow()
        .split('\n')
        .filter((l) => !afterB.split('\n').includes(l)),
    ).toEqual([BATCH]);
    await acts.removeUnifiedJob({ ...b, job: unified });
    await acts.enableLegacyJobs({ ...b, jobs: [scorerB] });
    expect(crontabNow()).toBe(HAND_WRITTEN);
  });

  it("keeps a person's edit made between our read and our write, and names it without its secret", async () => {
    installByHand(HAND_WRITTEN);
    const handLine = '0 3 * * * /usr/local/bin/reindex --db postgres://ops:s3cret-pw@db/prod';
    let edits = 0;
    // A person's `crontab -e` (it takes no lock of ours) lands between the activity's read and its write.
    const hooked = createSchedulerActivities({
      client,
      beforeCrontabWrite: async () => {
        if (edits++ === 0) installByHand(`${crontabNow()}DB_PASSWORD=hunter2-secret\n${handLine}\n`);
      },
    });
    const io = { migrationId: `m-hand-${uniq()}`, scheduler: cron, backupDir, jobs: [scorerA] };
    const refused = await hooked.disableLegacyJobs(io).then(
      () => undefined,
      (err: Error & { type?: string; nonRetryable?: boolean }) => err,
    );
    expect(refused).toMatchObject({ type: 'CrontabChanged', nonRetryable: false });
    expect(refused!.message).toContain('+ DB_PASSWORD=***');
    expect(refused!.message).toContain('+ 0 3 * * * /usr/local/bin/reindex --db postgres://ops:***@db/prod');
    expect(refused!.message).not.toMatch(/hunter2|s3cret/);
    // Temporal's retry: read again, change on top of the person's edit.
    expect((await hooked.disableLegacyJobs(io)).changed).toEqual(['scorer']);
    const now = crontabNow();
    expect(now).toContain(`\nDB_PASSWORD=hunter2-secret\n${handLine}\n`);
    expect(now).toContain(`#mo-disabled:${io.migrationId}/scorer# ${BATCH}\n`);
    expect(edits).toBe(2);
    // The saved crontab: 0600 in a 0700 folder.
    const saved = path.join(backupDir, io.migrationId, 'crontab', 'before-disable-legacy.bak');
    expect(fs.statSync(saved).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(saved)).mode & 0o777).toBe(0o700);
  });

  it('lets two processes change one crontab at once, and both changes land', async () => {
    installByHand(HAND_WRITTEN);
    const ids = [`m-p1-${uniq()}`, `m-p2-${uniq()}`];
    const count = 12;
    const writers = ids.map(
      (id) =>
        new Promise<number | null>((resolve) => {
          const p = spawn(process.execPath, [...TSX, 'install', USER, backupDir, id, String(count)], {
            stdio: 'inherit',
          });
          p.on('close', resolve);
        }),
    );
    expect(await Promise.all(writers)).toEqual([0, 0]);
    // Each process's jobs have names of their own: a line missing is a change lost, not a shared name.
    const mine = (id: string) =>
      crontabNow()
        .split('\n')
        .filter((l) => new RegExp(`${id}-j\\d+$`).test(l)).length;
    expect(ids.map(mine)).toEqual([count, count]);
    expect(crontabNow().startsWith(HAND_WRITTEN)).toBe(true);
  });

  it('is not blocked by a lock whose holder died', async () => {
    installByHand(HAND_WRITTEN);
    const holder = spawn(process.execPath, [...TSX, 'hold', USER], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
      // The holder holds the lock: a change waits for it.
      const io = { migrationId: `m-dead-${uniq()}`, scheduler: cron, backupDir, job: unified };
      const change = acts.installUnifiedJob(io);
      await new Promise((r) => setTimeout(r, 500));
      expect(crontabNow()).toBe(HAND_WRITTEN);
      const t0 = Date.now();
      holder.kill('SIGKILL');
      expect((await change).changed).toEqual(['unified']);
      expect(Date.now() - t0).toBeLessThan(10_000);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('refuses at preflight a second migration on a unified job or a legacy line another one owns', async () => {
    installByHand(HAND_WRITTEN);
    const a = { migrationId: `m-own-${uniq()}`, scheduler: cron, backupDir };
    await acts.installUnifiedJob({ ...a, job: unified });
    await acts.disableLegacyJobs({ ...a, jobs: [scorerA] });
    process.env.DEMO_DATABASE_URL ??= 'postgres://unused@127.0.0.1:1/unused';
    const demo = loadPlan(path.join(__dirname, '..', '..', 'plans', 'demo.yaml'));
    // B's plan: the same unified job name, and a legacy job whose match picks the line A disabled.
    const plan: Plan = {
      ...demo,
      scheduler: cron,
      target: { ...demo.target, backupDir },
      unifiedJob: { ...demo.unifiedJob, name: 'unified' },
      legacyJobs: [{ ...scorerB }, { ...scorerA, name: 'batch' }],
    };
    const deps = {
      docker: dockerClient(config.dockerHost),
      findLegacyJobs: acts.findLegacyJobs,
      findUnifiedOwner: acts.findUnifiedOwner,
    };
    const b = `m-second-${uniq()}`;
    const results = await checkTarget(deps, b, {
      plan,
      startedAt: new Date().toISOString(),
      systems: ['scheduler'],
    });
    const failed = Object.fromEntries(results.filter((r) => !r.passed).map((r) => [r.name, r.error]));
    expect(Object.keys(failed).sort()).toEqual([
      'target: legacy job batch found',
      "target: unified job unified not another migration's",
    ]);
    expect(failed["target: unified job unified not another migration's"]).toMatch(
      new RegExp(
        `^unifiedJob\\.name: unified is already scheduled in the crontab of ${USER} by migration ${a.migrationId}`,
      ),
    );
    expect(failed['target: legacy job batch found']).toMatch(
      new RegExp(`^legacyJobs\\[1\\]: legacy job batch: its line .* is already disabled by migration ${a.migrationId}`),
    );
    // A itself is not refused by its own lines (a preflight of A run again sees only its own).
    const own = await acts.findUnifiedOwner({ ...a, job: unified });
    expect(own).toBeUndefined();
  });

  it("undoes a crontab written by an earlier version (old markers) for its own migration, not for another's", async () => {
    // As the earlier version left it: the unified line with `# mo-job:<name>`, the legacy line behind
    // `#mo-disabled:<name># `, and the migration's saves of the crontab before each change.
    const old = `m-old-${uniq()}`;
    const marked = '*/5 * * * * /usr/local/bin/unified --once # mo-job:unified';
    const before = ['MAILTO=ops@example.com', '# scoring (ops)', BATCH, TRUST, ''].join('\n');
    const disabled = before.replace(BATCH, `#mo-disabled:scorer# ${BATCH}`);
    installByHand(`${disabled}${marked}\n`);
    fs.mkdirSync(path.join(backupDir, old), { recursive: true });
    fs.writeFileSync(path.join(backupDir, old, 'crontab.before-install-unified.bak'), before);
    fs.writeFileSync(path.join(backupDir, old, 'crontab.before-disable-legacy.bak'), `${before}${marked}\n`);

    // Another migration's rollback with the same job names: the old lines are not its own.
    const other = { migrationId: `m-other-${uniq()}`, scheduler: cron, backupDir };
    expect((await acts.removeUnifiedJob({ ...other, job: unified })).changed).toEqual([]);
    expect(crontabNow()).toBe(`${disabled}${marked}\n`);

    const io = { migrationId: old, scheduler: cron, backupDir };
    expect((await acts.removeUnifiedJob({ ...io, job: unified })).changed).toEqual(['unified']);
    expect((await acts.enableLegacyJobs({ ...io, jobs: [scorerA] })).changed).toEqual(['scorer']);
    expect(crontabNow()).toBe(before);
  });

  it('installs an argument with % and backslashes so that cron runs exactly it', async () => {
    installByHand(HAND_WRITTEN);
    const args = ['100\\%', 'a%b', '%', "it's 50%", '\\\\%%', 'trailing\\', '"$HOME" `x`'];
    const job: JobSpec = {
      name: 'percent',
      schedule: '*/5 * * * *',
      command: [process.execPath, '-e', 'process.stdout.write(JSON.stringify(process.argv.slice(1)))', ...args],
    };
    const io = { migrationId: `m-pct-${uniq()}`, scheduler: cron, backupDir, job };
    await acts.installUnifiedJob(io);
    const entry = parseCrontab(crontabNow()).find((e) => e.name === 'percent')!;
    // What cron does with the command field (cron is not running here): split at an unescaped %, `\%` → `%`.
    const run = cronCommand(entry.command);
    expect(run.input).toBeUndefined();
    expect(JSON.parse(execFileSync('/bin/sh', ['-c', run.command], { encoding: 'utf8' }))).toEqual(args);
    await acts.removeUnifiedJob(io);
    expect(crontabNow()).toBe(HAND_WRITTEN);
  });

  it('gives each migration its own Temporal Schedule of a unified job of the same name', async () => {
    const sched: SchedulerSpec = { kind: 'temporal-schedule', idPrefix: `own-${uniq()}` };
    const a = { migrationId: `m-ta-${uniq()}`, scheduler: sched, backupDir };
    const b = { migrationId: `m-tb-${uniq()}`, scheduler: sched, backupDir };
    const idOf = (m: string) => `${sched.kind === 'temporal-schedule' ? sched.idPrefix : ''}-unified@${m}`;
    const state = async (id: string) => (await client.schedule.getHandle(id).describe()).state.paused;
    // A schedule of the earlier version (plain ID), as its migration left it.
    const old = `m-told-${uniq()}`;
    const plainId = `${sched.kind === 'temporal-schedule' ? sched.idPrefix : ''}-unified`;
    await client.schedule.create({
      scheduleId: plainId,
      spec: { cronExpressions: ['*/5 * * * *'] },
      action: { type: 'startWorkflow', workflowType: 'scheduledJobWorkflow', args: [], taskQueue: 'nowhere' },
      state: { note: `installed by migration ${old}` },
    });
    try {
      await acts.installUnifiedJob({ ...a, job: unified });
      await acts.installUnifiedJob({ ...b, job: unified });
      expect([await state(idOf(a.migrationId)), await state(idOf(b.migrationId))]).toEqual([false, false]);
      await acts.removeUnifiedJob({ ...b, job: unified });
      expect([await state(idOf(a.migrationId)), await state(idOf(b.migrationId)), await state(plainId)]).toEqual([
        false,
        true,
        false,
      ]);
      // The earlier version's schedule: paused by its own migration's rollback only.
      await acts.removeUnifiedJob({ ...a, job: unified });
      expect(await state(plainId)).toBe(false);
      await acts.removeUnifiedJob({ migrationId: old, scheduler: sched, backupDir, job: unified });
      expect(await state(plainId)).toBe(true);

      // A's schedule running again: a third migration's preflight names A (the list may lag: wait for it).
      await acts.installUnifiedJob({ ...a, job: unified });
      const third = { migrationId: `m-tc-${uniq()}`, scheduler: sched, job: unified };
      let owner: string | undefined;
      for (let i = 0; i < 50 && !owner; i++) {
        owner = await acts.findUnifiedOwner(third);
        if (!owner) await new Promise((r) => setTimeout(r, 200));
      }
      expect(owner).toBe(
        `unifiedJob.name: unified is already scheduled by migration ${a.migrationId} (schedule ${idOf(a.migrationId)}); ` +
          'finish or roll back that migration, or give this plan a unified job of another name',
      );
    } finally {
      for (const id of [idOf(a.migrationId), idOf(b.migrationId), plainId])
        await client.schedule
          .getHandle(id)
          .delete()
          .catch(() => undefined);
    }
  });

  it("refuses to pause a legacy schedule another migration paused, and never unpauses another's", async () => {
    const sched: SchedulerSpec = { kind: 'temporal-schedule', idPrefix: `own-${uniq()}` };
    const theirs = `legacy-scoring-${uniq()}`;
    await client.schedule.create({
      scheduleId: theirs,
      spec: { cronExpressions: ['*/15 * * * *'] },
      action: { type: 'startWorkflow', workflowType: 'legacyBatchScorer', args: [], taskQueue: 'legacy-jobs' },
    });
    const job: JobSpec = { name: 'scorer', schedule: '*/15 * * * *', command: ['x'], scheduleId: theirs };
    const a = { migrationId: `m-la-${uniq()}`, scheduler: sched, backupDir, jobs: [job] };
    const b = { migrationId: `m-lb-${uniq()}`, scheduler: sched, backupDir, jobs: [job] };
    try {
      await acts.disableLegacyJobs(a);
      const found = await acts.findLegacyJobs({ scheduler: sched, jobs: [job], migrationId: b.migrationId });
      expect(found[0]).toMatchObject({
        found: false,
        detail: `legacyJobs[0] (scorer): its schedule ${theirs} is already paused by migration ${a.migrationId}`,
      });
      await expect(acts.disableLegacyJobs(b)).rejects.toMatchObject({ type: 'PreconditionFailed' });
      expect((await acts.enableLegacyJobs(b)).changed).toEqual([]);
      expect((await client.schedule.getHandle(theirs).describe()).state.paused).toBe(true);
      expect((await acts.enableLegacyJobs(a)).changed).toEqual(['scorer']);
      expect((await client.schedule.getHandle(theirs).describe()).state.paused).toBe(false);
    } finally {
      await client.schedule
        .getHandle(theirs)
        .delete()
        .catch(() => undefined);
    }
  });
});

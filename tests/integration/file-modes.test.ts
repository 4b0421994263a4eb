import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { backupDatabase } from '../../activities/backup';
import { writeReportFiles } from '../../activities/report-files';
import { createSchedulerActivities } from '../../activities/scheduler';
import type { JobSpec, SchedulerSpec } from '../../model/plan';
import { scratchDatabase, stackClient, systemUser, tempDir, uniq, withPg } from '../helpers/stack';

const USER = 'mo-filetest';
const cron: SchedulerSpec = { kind: 'crontab', user: USER };
const job: JobSpec = { name: 'export', schedule: '0 * * * *', command: ['/srv/export.sh'], match: '/srv/export.sh' };
// Crontabs hold their environment's secrets: what a save must keep to the worker's user.
const CRONTAB = 'AWS_SECRET_ACCESS_KEY=not-for-others\n0 * * * * /srv/export.sh >> /var/log/export.log 2>&1\n';

const modeOf = (p: string) => fs.lstatSync(p).mode & 0o777;

describe('files as a careful operator keeps them: 0600 in 0700 folders, never written through a symlink', () => {
  const root = tempDir('mo-files');
  const outside = path.join(root, 'outside');
  let source: Awaited<ReturnType<typeof scratchDatabase>>;
  let client: Client;
  let umask: number;

  /** A file of someone else's outside our folders, a symlink to it planted at `at`, and the checks after our write. */
  function plantVictim(at: string): { victimUnchanged: () => void; ours: () => void } {
    const victim = path.join(outside, `victim-${uniq()}`);
    fs.writeFileSync(victim, 'not yours\n');
    fs.chmodSync(victim, 0o644);
    fs.symlinkSync(victim, at);
    const victimUnchanged = () => {
      expect(fs.readFileSync(victim, 'utf8')).toBe('not yours\n');
      expect(modeOf(victim)).toBe(0o644);
    };
    return {
      victimUnchanged,
      ours: () => {
        victimUnchanged();
        expect(fs.lstatSync(at).isFile()).toBe(true);
        expect(modeOf(at)).toBe(0o600);
      },
    };
  }

  /** A folder someone else made (0755), with what an earlier hand put in it. */
  function theirFolder(dir: string): string {
    fs.mkdirSync(dir, { recursive: true });
    fs.chmodSync(dir, 0o755);
    return dir;
  }

  beforeAll(async () => {
    fs.mkdirSync(outside);
    // The loosest umask a worker could run with: our modes must not depend on it.
    umask = process.umask(0);
    source = await scratchDatabase('mo_files');
    await withPg(source.url, (c) =>
      c.query(`create table orders (id int primary key, total numeric); insert into orders values (1, 9.5), (2, 3)`),
    );
    process.env.MO_TEST_FILES_URL = source.url;
    systemUser(USER);
    client = await stackClient();
  });
  afterAll(async () => {
    process.umask(umask);
    delete process.env.MO_TEST_FILES_URL;
    execFileSync('crontab', ['-r', '-u', USER], { stdio: 'ignore' });
    await client?.connection.close();
    await source?.drop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('a backup creates its folders 0700 and its dump and manifest 0600, whatever the umask', async () => {
    const backupDir = path.join(root, 'backups-new');
    const id = `m-${uniq()}`;
    const rec = await backupDatabase({
      migrationId: id,
      step: 'pre-go',
      databaseUrlEnv: 'MO_TEST_FILES_URL',
      backupDir,
    });
    expect(rec.verified).toBe(true);
    expect(modeOf(backupDir)).toBe(0o700);
    expect(modeOf(path.join(backupDir, id))).toBe(0o700);
    expect(modeOf(rec.file)).toBe(0o600);
    expect(modeOf(`${rec.file}.json`)).toBe(0o600);
    expect(fs.readdirSync(path.join(backupDir, id)).sort()).toEqual(['pre-go.dump', 'pre-go.dump.json']);
  });

  it('a backup writes through no symlink planted at the dump, its .partial, the manifest or its .partial', async () => {
    const backupDir = theirFolder(path.join(root, 'backups-theirs'));
    const id = `m-${uniq()}`;
    const dir = theirFolder(path.join(backupDir, id));
    const file = path.join(dir, 'pre-go.dump');
    const [dump, dumpPartial, manifest, manifestPartial] = [
      file,
      `${file}.partial`,
      `${file}.json`,
      `${file}.json.partial`,
    ].map(plantVictim);
    const rec = await backupDatabase({
      migrationId: id,
      step: 'pre-go',
      databaseUrlEnv: 'MO_TEST_FILES_URL',
      backupDir,
    });
    expect(rec.verified).toBe(true);
    // Nothing is written at a .partial any more: those victims are untouched too.
    for (const planted of [dump, dumpPartial, manifest, manifestPartial]) planted!.victimUnchanged();
    dump!.ours();
    manifest!.ours();
    expect(JSON.parse(fs.readFileSync(`${file}.json`, 'utf8'))).toMatchObject({ file, sha256: rec.sha256 });
    // Folders we did not create keep the mode their owner gave them.
    expect(modeOf(backupDir)).toBe(0o755);
    expect(modeOf(dir)).toBe(0o755);
  });

  it('a crontab save is 0600 in a 0700 folder', async () => {
    execFileSync('crontab', ['-u', USER, '-'], { input: CRONTAB });
    const acts = createSchedulerActivities({ client });
    const backupDir = path.join(root, 'cron-new');
    const id = `m-${uniq()}`;
    const disabled = await acts.disableLegacyJobs({ migrationId: id, scheduler: cron, jobs: [job], backupDir });
    expect(disabled.savedTo).toBe(path.join(backupDir, id, 'crontab', 'before-disable-legacy.bak'));
    expect(fs.readFileSync(disabled.savedTo!, 'utf8')).toBe(CRONTAB);
    expect(modeOf(disabled.savedTo!)).toBe(0o600);
    expect(modeOf(backupDir)).toBe(0o700);
    expect(modeOf(path.join(backupDir, id))).toBe(0o700);
  });

  it('a crontab save writes through no symlink planted where it goes, and a retry keeps the first save', async () => {
    execFileSync('crontab', ['-u', USER, '-'], { input: CRONTAB });
    const acts = createSchedulerActivities({ client });
    const id = `m-${uniq()}`;
    // Someone's folder with a symlink where the save before the disable goes.
    const theirs = theirFolder(path.join(root, 'cron-theirs'));
    const saved = path.join(theirFolder(path.join(theirs, id, 'crontab')), 'before-disable-legacy.bak');
    const planted = plantVictim(saved);
    const disabled = await acts.disableLegacyJobs({ migrationId: id, scheduler: cron, jobs: [job], backupDir: theirs });
    expect(disabled.savedTo).toBe(saved);
    planted.ours();
    expect(fs.readFileSync(saved, 'utf8')).toBe(CRONTAB);
    // A retry keeps the first save (now our regular file), not the crontab as it is after the change.
    await acts.enableLegacyJobs({ migrationId: id, scheduler: cron, jobs: [job], backupDir: theirs });
    await acts.disableLegacyJobs({ migrationId: id, scheduler: cron, jobs: [job], backupDir: theirs });
    expect(fs.readFileSync(saved, 'utf8')).toBe(CRONTAB);
    expect(modeOf(path.join(theirs, id, 'crontab'))).toBe(0o755);
  });

  it('report files are 0600 in a 0700 folder', async () => {
    const reportDir = path.join(root, 'reports');
    const id = `m-${uniq()}`;
    const chart = { file: 'metrics.svg', svg: '<svg/>' };
    const first = await writeReportFiles(reportDir, id, 'validation', '# ok', { ok: true }, { chart });
    expect(modeOf(reportDir)).toBe(0o700);
    expect(modeOf(path.join(reportDir, id))).toBe(0o700);
    for (const f of [first.markdownFile, first.jsonFile, first.chartFile!]) expect(modeOf(f)).toBe(0o600);
  });

  it('a symlink planted at each report file is replaced, not written through', async () => {
    const reportDir = theirFolder(path.join(root, 'reports-theirs'));
    const id = `m-${uniq()}`;
    const chart = { file: 'final.svg', svg: '<svg/>' };
    const dir = theirFolder(path.join(reportDir, id));
    const planted = ['final.md', 'final.json', 'final.svg'].map((n) => plantVictim(path.join(dir, n)));
    const files = await writeReportFiles(
      reportDir,
      id,
      'final',
      '# final',
      { n: 1 },
      { chart: { ...chart, file: 'final.svg' } },
    );
    for (const p of planted) p.ours();
    expect(fs.readFileSync(files.markdownFile, 'utf8')).toBe('# final');
    expect(fs.readFileSync(files.chartFile!, 'utf8')).toBe('<svg/>');
  });
});

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { backupDatabase } from '../../activities/backup';
import { quoteIdent } from '../../activities/database';
import { checkTarget } from '../../activities/target';
import { loadPlan } from '../../client/plan';
import type { Plan } from '../../model/plan';
import { requireEnv } from '../../lib/config';
import { scratchDatabase, tempDir, uniq, withPg } from '../helpers/stack';

const DEMO = path.join(__dirname, '..', '..', 'plans', 'demo.yaml');
const ROOM = 'target: backup folder writable with room';

describe('the verifying restore: on a server the plan names, else room checked on the target server', () => {
  const admin = requireEnv('DATABASE_URL');
  const root = tempDir('mo-verify');
  // The target's role as a careful operator makes it: it owns its database, and may not create databases.
  const role = `mo_nocreate_${uniq()}`;
  const password = uniq() + uniq();
  const targetDb = `mo_vtarget_${uniq()}`;
  let verifyHome: Awaited<ReturnType<typeof scratchDatabase>>;
  let targetUrl: string;
  let dataDirectory: string;

  beforeAll(async () => {
    await withPg(admin, async (c) => {
      await c.query(`create role ${quoteIdent(role)} login nocreatedb password '${password}'`);
      await c.query(`create database ${quoteIdent(targetDb)} owner ${quoteIdent(role)}`);
      dataDirectory = (await c.query<{ d: string }>(`select current_setting('data_directory') as d`)).rows[0]!.d;
    });
    const url = new URL(admin);
    url.username = role;
    url.password = password;
    url.pathname = `/${targetDb}`;
    targetUrl = url.toString();
    await withPg(targetUrl, (c) =>
      c.query(`create table orders (id int primary key, total numeric); insert into orders values (1, 9.5), (2, 3)`),
    );
    // The "other server": a database of its own, named through a variable of its own, as a role that may create.
    verifyHome = await scratchDatabase('mo_vhome');
    process.env.MO_TEST_VTARGET_URL = targetUrl;
    process.env.MO_TEST_VERIFY_URL = verifyHome.url;
  });
  afterAll(async () => {
    delete process.env.MO_TEST_VTARGET_URL;
    delete process.env.MO_TEST_VERIFY_URL;
    await verifyHome?.drop();
    await withPg(admin, async (c) => {
      await c.query(`drop database if exists ${quoteIdent(targetDb)} with (force)`);
      await c.query(`drop role if exists ${quoteIdent(role)}`);
    });
    fs.rmSync(root, { recursive: true, force: true });
  });

  /** The scratch databases of one backup (named as `verifyRestore` names them) on the stack's server. */
  const scratchCopies = async (migrationId: string) => {
    const prefix = `mo_verify_${createHash('sha256').update(`${migrationId}:pre-go`).digest('hex').slice(0, 16)}_`;
    return withPg(admin, async (c) =>
      (await c.query('select datname from pg_database where starts_with(datname, $1)', [prefix])).rows.map(
        (r) => r.datname,
      ),
    );
  };

  it('restores the scratch copy through the named server, never as the target: a target that cannot create databases is verified', async () => {
    const backupDir = path.join(root, 'backups');
    const input = { step: 'pre-go', databaseUrlEnv: 'MO_TEST_VTARGET_URL', backupDir };
    // On the target itself the copy cannot even be created: its role may not create databases.
    const onTarget = await backupDatabase({ ...input, migrationId: `m-${uniq()}` }).then(
      () => undefined,
      (e: unknown) => e as Error & { type?: string },
    );
    expect(onTarget?.type).toBe('BackupVerificationFailed');
    expect(onTarget?.message).toMatch(/permission denied to create database/);

    const id = `m-${uniq()}`;
    const rec = await backupDatabase({ ...input, migrationId: id, verifyDatabaseUrlEnv: 'MO_TEST_VERIFY_URL' });
    expect(rec).toMatchObject({ verified: true, tables: { 'public.orders': 2 } });
    // The scratch copy is dropped on the verifying server too.
    expect(await scratchCopies(id)).toEqual([]);
  });

  it('refuses an unset verify variable before any side effect, naming it', async () => {
    const backupDir = path.join(root, 'unset');
    await expect(
      backupDatabase({
        migrationId: `m-${uniq()}`,
        step: 'pre-go',
        databaseUrlEnv: 'MO_TEST_VTARGET_URL',
        backupDir,
        verifyDatabaseUrlEnv: 'MO_TEST_VERIFY_NOT_SET',
      }),
    ).rejects.toMatchObject({ type: 'MissingSecret', message: expect.stringContaining('MO_TEST_VERIFY_NOT_SET') });
    expect(fs.existsSync(backupDir)).toBe(false);
  });

  /** The demo plan's backup probes against this target. */
  async function backupProbes(target: Partial<Plan['target']>) {
    const plan = loadPlan(DEMO);
    const withTarget: Plan = { ...plan, target: { ...plan.target, backupDir: path.join(root, 'probe'), ...target } };
    const results = await checkTarget({} as never, `m-${uniq()}`, {
      plan: withTarget,
      startedAt: new Date().toISOString(),
      systems: ['backup'],
    });
    return Object.fromEntries(results.map((r) => [r.name, r]));
  }

  it("the preflight measures the target server's room for the copy in its data directory when it runs here", async () => {
    process.env.MO_TEST_ADMIN_URL = admin;
    try {
      const room = (await backupProbes({ databaseUrlEnv: 'MO_TEST_ADMIN_URL' }))[ROOM]!;
      expect(room.passed).toBe(true);
      const free = Number(
        /the target's database server has (\d+) MiB free in (\S+) for the verifying copy/.exec(room.detail)?.[1],
      );
      expect(room.detail).toContain(`free in ${dataDirectory} for the verifying copy`);
      const st = fs.statfsSync(dataDirectory);
      expect(Math.abs(free - (st.bavail * st.bsize) / 2 ** 20)).toBeLessThan(64);
    } finally {
      delete process.env.MO_TEST_ADMIN_URL;
    }
  });

  it('says it could not tell, naming the plan field, when the role may not read the data directory', async () => {
    const room = (await backupProbes({ databaseUrlEnv: 'MO_TEST_VTARGET_URL' }))[ROOM]!;
    expect(room.passed).toBe(true);
    expect(room.detail).toMatch(
      /could not tell whether the target's database server has room for the verifying copy \(\d+ MiB\): its role may not read the data directory .*target\.backupVerifyDatabaseUrlEnv/,
    );
  });

  it('with a verify server named, checks that server instead, and its variable on the backup host', async () => {
    const probes = await backupProbes({
      databaseUrlEnv: 'MO_TEST_VTARGET_URL',
      backupVerifyDatabaseUrlEnv: 'MO_TEST_VERIFY_URL',
    });
    expect(probes[ROOM]).toMatchObject({ passed: true });
    expect(probes[ROOM]!.detail).toContain(`the verifying restore's server ($MO_TEST_VERIFY_URL) has`);
    expect(probes[ROOM]!.detail).toContain(`free in ${dataDirectory}`);
    expect(probes['target: environment variables set (for backup)']!.detail).toContain('MO_TEST_VERIFY_URL');
  });
});

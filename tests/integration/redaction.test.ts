import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { measure } from '../../activities/checks';
import { compareOutputs } from '../../activities/compare';
import { waitHealthy } from '../../activities/containers';
import { dockerClient } from '../../activities/docker';
import { appendLedger, readLedger } from '../../activities/ledger';
import { writeReportFiles } from '../../activities/report-files';
import { config, scratchDatabase, tempDir, uniq, withPg } from '../helpers/stack';

const node = process.execPath;

/**
 * A secret planted in each place a value can come from on the target (a container's log, a check command's output,
 * an SQL error, an HTTP body, a production row that differs) never shows in what the activity returns or throws, nor
 * in a report or ledger row. Each secret is one the redaction knows by its shape, not by being handed it.
 */
describe('secrets planted on the target stay out of errors, results, reports and the ledger', () => {
  const docker = dockerClient(config.dockerHost);
  const urlEnv = `MO_TEST_REDACT_URL_${uniq()}`;
  const secret = `s3cr3t-${uniq()}${uniq()}`;
  let db: Awaited<ReturnType<typeof scratchDatabase>>;
  let server: http.Server;
  let base: string;

  beforeAll(async () => {
    db = await scratchDatabase('mo_redact');
    process.env[urlEnv] = db.url;
    // Two pipelines' outputs, built by hand: item 2 differs, and it holds a credential.
    await withPg(db.url, async (c) => {
      await c.query(`create table legacy_out (item_id int primary key, payload text)`);
      await c.query(`create table unified_out (item_id int primary key, payload text)`);
      await c.query(`insert into legacy_out values (1, 'same'), (2, $1)`, [`AWS_SECRET_ACCESS_KEY=${secret}`]);
      await c.query(`insert into unified_out values (1, 'same'), (2, $1)`, [`redis://:${secret}@cache:6379`]);
      await c.query(`create table creds (note text)`);
      await c.query(`insert into creds values ($1)`, [`DB_PASS=${secret}`]);
    });
    server = http.createServer((_req, res) => res.end(`status: api_key=${secret}\n`));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await db.drop();
    delete process.env[urlEnv];
  });

  const messageOf = (p: Promise<unknown>) =>
    p.then(
      () => 'no error',
      (e: Error) => `${e.message}\n${e.stack ?? ''}`,
    );

  it("a container that prints secrets and exits: its log's tail in the error is redacted", async () => {
    // Made by hand as an operator would (`docker run` without a restart policy), so it stays exited.
    const name = `mo-redact-leaky-${uniq()}`;
    const print = `console.log('API_TOKEN=' + process.env.API_TOKEN);
      console.log('connecting to postgres://svc:' + process.env.API_TOKEN + '@db/prod');
      console.log('still ' + process.env.API_TOKEN); process.exit(3)`;
    const container = await docker.createContainer({
      name,
      Image: config.nodeImage,
      Cmd: ['-e', print],
      Env: [`API_TOKEN=${secret}`],
      HostConfig: { NetworkMode: 'none' },
    });
    try {
      await container.start();
      await container.wait();
      const msg = await messageOf(waitHealthy(docker, name, 5_000));
      expect(msg).toContain(`container ${name} is exited (exit 3)`);
      expect(msg).toContain('API_TOKEN=***');
      expect(msg).toContain('postgres://***@db/prod');
      expect(msg).toContain('still ***');
      expect(msg).not.toContain(secret);
    } finally {
      await container.remove({ force: true });
    }
  });

  it("a check command's output, an SQL error and an HTTP body: the secret is in no error", async () => {
    const ctx = { databaseUrlEnv: urlEnv };
    const fromCommand = await messageOf(
      measure(
        {
          kind: 'command',
          command: [
            node,
            '-e',
            `console.error('login failed: PRIVATE_KEY=${secret.slice(0, 7)}' + '${secret.slice(7)}'); process.exit(2)`,
          ],
        },
        ctx,
      ),
    );
    expect(fromCommand).toContain('PRIVATE_KEY=***');
    // The SQL error repeats the row's value: `invalid input syntax for type integer: "DB_PASS=…"`.
    const fromSql = await messageOf(measure({ kind: 'sql', query: 'select note::int from creds' }, ctx));
    expect(fromSql).toContain('invalid input syntax');
    const fromHttp = await messageOf(measure({ kind: 'http', url: `${base}/x`, pattern: 'status: (\\S+)' }, ctx));
    expect(fromHttp).toContain('is not a number');
    for (const msg of [fromCommand, fromSql, fromHttp]) expect(msg).not.toContain(secret);
  });

  it('a mismatching production row: column names shown, values only as hashes unless the plan asks', async () => {
    const input = {
      databaseUrlEnv: urlEnv,
      comparisonQuery: `select count(*) as total, count(*) filter (where l.payload = u.payload) as matched
                          from legacy_out l join unified_out u using (item_id)`,
      mismatchQuery: `select l.item_id, l.payload as legacy, u.payload as unified
                        from legacy_out l join unified_out u using (item_id) where l.payload <> u.payload`,
      since: new Date(0).toISOString(),
    };
    const cmp = await compareOutputs(input);
    expect(cmp).toMatchObject({ total: 2, matched: 1 });
    expect(cmp.mismatches).toEqual([
      {
        item_id: expect.stringMatching(/^sha256:[0-9a-f]{12}$/),
        legacy: expect.stringMatching(/^sha256:[0-9a-f]{12}$/),
        unified: expect.stringMatching(/^sha256:[0-9a-f]{12}$/),
      },
    ]);
    expect(cmp.mismatches[0]!.legacy).not.toBe(cmp.mismatches[0]!.unified);
    expect(JSON.stringify(cmp)).not.toContain(secret);
    const shown = await compareOutputs({ ...input, showMismatchValues: true });
    expect(shown.mismatches[0]).toEqual({
      item_id: 2,
      legacy: `AWS_SECRET_ACCESS_KEY=${secret}`,
      unified: expect.any(String),
    });
  });

  it('a report and a ledger row that would carry a secret are written without it', async () => {
    const reportDir = tempDir('mo-redact-reports');
    const migrationId = `m-redact-${uniq()}`;
    const files = await writeReportFiles(reportDir, migrationId, 'rollback', `Reason: GITHUB_TOKEN=${secret}`, {
      reason: `queue amqp://mq:${secret}@rabbit/v`,
    });
    const written = [files.markdownFile, files.jsonFile].map((f) => fs.readFileSync(f, 'utf8')).join('\n');
    expect(written).toContain('GITHUB_TOKEN=***');
    expect(written).toContain('amqp://***@rabbit/v');
    expect(written).not.toContain(secret);
    expect(path.dirname(files.markdownFile)).toBe(path.join(reportDir, migrationId));

    const ledger = { migrationId, databaseUrlEnv: urlEnv, table: `ledger_${uniq()}` };
    const entry = { seq: 0, at: new Date().toISOString(), kind: 'note', detail: `check https://h/q?token=${secret}` };
    await appendLedger({ ...ledger, entries: [{ ...entry, data: { why: `PASSWORD: ${secret}` } }] });
    const rows = await withPg(db.url, async (c) => (await c.query(`select * from ${ledger.table}`)).rows);
    expect(JSON.stringify(rows)).not.toContain(secret);
    expect((await readLedger(ledger))[0]!.detail).toBe('check https://h/q?token=***');
  });
});

import path from 'node:path';
import { appendLedger, readLedgerSeal } from '../../activities/ledger';
import { loadPlan } from '../../client/plan';
import { rollbackFromLedger } from '../../client/ledger-rollback';
import { memoryKey } from '../../lib/signing';
import { chained, LEDGER_SEAL_NAMESPACE } from '../../model/ledger-chain';
import type { Plan } from '../../model/plan';
import { planDigest } from '../../model/signatures';
import type { LedgerEntry } from '../../model/status';
import { scratchDatabase, uniq, withPg } from '../helpers/stack';

const demo = loadPlan(path.join(__dirname, '..', '..', 'plans', 'demo.yaml'));
const worker = memoryKey('worker', LEDGER_SEAL_NAMESPACE);
const plan: Plan = { ...demo, ledger: { ...demo.ledger, sealKey: worker.publicKey.split(' ').slice(0, 2).join(' ') } };

describe('a ledger sealed by the worker, in PostgreSQL: a rollback from it detects rows cut from the end', () => {
  let db: Awaited<ReturnType<typeof scratchDatabase>>;
  const urlEnv = `MO_TEST_SEAL_URL_${uniq()}`;
  beforeAll(async () => {
    db = await scratchDatabase('mo_ledger_seal');
    process.env[urlEnv] = db.url;
  });
  afterAll(async () => {
    delete process.env[urlEnv];
    await db?.drop();
  });

  it('seals each append; a rollback follows the sealed rows and refuses them once the last is deleted', async () => {
    const id = `seal-${uniq()}`;
    const at = new Date().toISOString();
    const rows: LedgerEntry[] = [];
    const add = (kind: string, detail: string, data?: unknown) =>
      rows.push(chained({ seq: rows.length, at, kind, detail, ...(data ? { data } : {}) }, rows.at(-1)?.hash ?? ''));
    const where = { migrationId: id, databaseUrlEnv: urlEnv, table: 'migration_ledger' };
    add('started', 'migration started', { planDigest: planDigest(plan), plan });
    add('compensation', 'recorded undo: containers', { kind: 'containers', project: plan.target.composeProject, at });
    await appendLedger({ ...where, entries: rows.slice() }, worker.sign);
    add('compensation', 'recorded undo: legacy-jobs', {
      kind: 'legacy-jobs',
      scheduler: plan.scheduler,
      jobs: plan.legacyJobs,
      at,
    });
    await appendLedger({ ...where, entries: rows.slice(2) }, worker.sign);
    // A retried older batch does not move the seal back.
    await appendLedger({ ...where, entries: rows.slice(0, 2) }, worker.sign);
    expect(await readLedgerSeal(where)).toMatchObject({ rows: 3, head: rows[2]!.hash });

    const location = { databaseUrlEnv: urlEnv, table: 'migration_ledger' };
    const ok = await rollbackFromLedger(id, location, planDigest(plan));
    expect(ok.compensations.map((c) => c.kind)).toEqual(['containers', 'legacy-jobs']);

    // Someone with write access to the table cuts the legacy jobs' undo record: the chain of what is left verifies.
    await withPg(db.url, (c) => c.query('delete from migration_ledger where migration_id = $1 and seq = 2', [id]));
    await expect(rollbackFromLedger(id, location, planDigest(plan))).rejects.toThrow(
      /is not what the worker sealed: 3 rows ending in .* sealed, 2 rows ending in .*; its undo records are not followed/,
    );
    // And without the seal row, it says so.
    await withPg(db.url, (c) => c.query('delete from migration_ledger_seals where migration_id = $1', [id]));
    await expect(rollbackFromLedger(id, location, planDigest(plan))).rejects.toThrow(/has no seal from the worker/);
  });
});

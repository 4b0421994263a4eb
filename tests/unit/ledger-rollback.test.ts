import path from 'node:path';
import { fromRows } from '../../client/ledger-rollback';
import { loadPlan } from '../../client/plan';
import type { LedgerEntry } from '../../model/status';
import { chained, LEDGER_SEAL_NAMESPACE, ledgerSealText, type LedgerSeal } from '../../model/ledger-chain';
import { memoryKey } from '../../lib/signing';
import type { Plan } from '../../model/plan';
import { planDigest } from '../../model/signatures';

const plan = loadPlan(path.join(__dirname, '..', '..', 'plans', 'demo.yaml'));
const at = '2026-12-02T10:00:00.000Z';

/** A ledger as the workflow writes it: started (with the plan), phases, undo records, each row chained. */
function ledger(p: Plan = plan, undo: unknown[] = []): LedgerEntry[] {
  const rows: LedgerEntry[] = [];
  const add = (kind: string, detail: string, data?: unknown) =>
    rows.push(chained({ seq: rows.length, at, kind, detail, ...(data ? { data } : {}) }, rows.at(-1)?.hash ?? ''));
  add('started', 'migration started', { planDigest: planDigest(p), plan: p });
  add('phase', 'deploy');
  add('compensation', 'recorded undo: containers', { kind: 'containers', project: p.target.composeProject, at });
  for (const u of undo) add('compensation', 'recorded undo', u);
  add('phase', 'traffic-shift');
  return rows;
}

/** Re-chains rows after an edit, as someone who may write the table can (the chain has no secret). */
const rechain = (rows: LedgerEntry[]): LedgerEntry[] =>
  rows.reduce<LedgerEntry[]>((out, r) => {
    const { hash: _h, prevHash: _p, ...entry } = r;
    return [...out, chained({ ...entry, seq: out.length }, out.at(-1)?.hash ?? '')];
  }, []);

/** The worker's ledger key, and its seal of a ledger's rows as they are. */
const worker = memoryKey('worker', LEDGER_SEAL_NAMESPACE);
const sealOf = async (rows: LedgerEntry[]): Promise<LedgerSeal> => {
  const head = rows.at(-1)!.hash!;
  return {
    rows: rows.length,
    head,
    sshsig: await worker.sign(ledgerSealText('m1', 'migration_ledger', rows.length, head)),
  };
};
const sealed: Plan = {
  ...plan,
  ledger: { ...plan.ledger, sealKey: worker.publicKey.split(' ').slice(0, 2).join(' ') },
};

describe('a rollback from the ledger follows only a ledger that holds up', () => {
  it('takes the plan, the undo records and the last phase from a chained ledger', () => {
    expect(fromRows('m1', ledger(), 'migration_ledger', planDigest(plan))).toEqual({
      plan,
      compensations: [{ kind: 'containers', project: plan.target.composeProject, at }],
      fromPhase: 'traffic-shift',
    });
  });

  it.each([
    [
      'a changed undo record',
      (r: LedgerEntry[]) => ((r[2]!.data as { project: string }).project = 'payments'),
      /does not verify at row 2/,
    ],
    [
      'a row stripped of its hash',
      (r: LedgerEntry[]) => r.forEach((x) => (delete x.hash, delete x.prevHash)),
      /row 0 without its hash/,
    ],
    ['a missing row', (r: LedgerEntry[]) => r.splice(1, 1), /does not verify at row 2: expected sequence number 1/],
  ])('refuses %s', (_what, tamper, message) => {
    const rows = ledger();
    tamper(rows);
    expect(() => fromRows('m1', rows, 'migration_ledger')).toThrow(message);
  });

  it('refuses a ledger whose recorded plan is not the plan file given', () => {
    expect(() => fromRows('m1', ledger(), 'migration_ledger', 'f'.repeat(64))).toThrow(
      /records another plan than the plan file/,
    );
  });
});

describe("undo records are the plan's, and the rows are the ones the worker sealed", () => {
  it.each([
    [
      'a router command of its own',
      {
        kind: 'traffic',
        router: { ...plan.traffic.router, command: ['sh', '-c', 'id'] },
        databaseUrlEnv: plan.target.databaseUrlEnv,
        restorePercent: 0,
        at,
      },
      /row 3 \(traffic\) that is not the plan's: its router is not the plan's/,
    ],
    [
      'another database variable',
      { kind: 'traffic', router: plan.traffic.router, databaseUrlEnv: 'PAYMENTS_DB_URL', restorePercent: 0, at },
      /its database variable PAYMENTS_DB_URL is not the plan's/,
    ],
    [
      'another crontab user',
      { kind: 'legacy-jobs', scheduler: { ...plan.scheduler, user: 'root' }, jobs: plan.legacyJobs, at },
      /row 3 \(legacy-jobs\).*its scheduler/,
    ],
    [
      'a job of its own',
      { kind: 'unified-job', scheduler: plan.scheduler, job: { ...plan.unifiedJob, command: ['id'] }, at },
      /its job is not the plan's unified job/,
    ],
    ['another repository', { kind: 'archive', repository: '/etc', at }, /its repository \/etc is not the plan's/],
  ])('refuses a forged undo record with %s, naming its row', (_what, forged, message) => {
    expect(() => fromRows('m1', ledger(plan, [forged]), 'migration_ledger', planDigest(plan))).toThrow(message);
  });

  it('follows the undo records the workflow writes, sealed', async () => {
    const rows = ledger(sealed, [{ kind: 'archive', repository: plan.target.repository, at }]);
    expect(fromRows('m1', rows, 'migration_ledger', planDigest(sealed), await sealOf(rows)).compensations).toHaveLength(
      2,
    );
  });

  it('refuses rows cut from the end, rows rewritten and re-chained, and a ledger without its seal', async () => {
    const rows = ledger(sealed, [{ kind: 'legacy-jobs', scheduler: plan.scheduler, jobs: plan.legacyJobs, at }]);
    const seal = await sealOf(rows);
    // The legacy jobs' undo record cut off: the chain still verifies, the seal does not match.
    const cut = rows.slice(0, 3);
    expect(() => fromRows('m1', cut, 'migration_ledger', planDigest(sealed), seal)).toThrow(
      /is not what the worker sealed: 5 rows ending in .* sealed, 3 rows ending in/,
    );
    const rewritten = rechain(
      rows.filter((r) => r.kind !== 'compensation' || (r.data as { kind: string }).kind !== 'legacy-jobs'),
    );
    expect(() => fromRows('m1', rewritten, 'migration_ledger', planDigest(sealed), seal)).toThrow(
      /is not what the worker sealed/,
    );
    expect(() => fromRows('m1', rows, 'migration_ledger', planDigest(sealed))).toThrow(/has no seal from the worker/);
    const mallory = memoryKey('mallory', LEDGER_SEAL_NAMESPACE);
    const forgedSeal = {
      ...(await sealOf(cut)),
      sshsig: await mallory.sign(ledgerSealText('m1', 'migration_ledger', 3, cut.at(-1)!.hash!)),
    };
    expect(() => fromRows('m1', cut, 'migration_ledger', planDigest(sealed), forgedSeal)).toThrow(
      /seal that does not verify with the plan's ledger.sealKey/,
    );
  });
});

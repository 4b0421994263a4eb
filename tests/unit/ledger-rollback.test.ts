import path from 'node:path';
import { fromRows } from '../../client/ledger-rollback';
import { loadPlan } from '../../client/plan';
import type { LedgerEntry } from '../../model/status';
import { chained } from '../../model/ledger-chain';
import { planDigest } from '../../model/signatures';

const plan = loadPlan(path.join(__dirname, '..', '..', 'plans', 'demo.yaml'));
const at = '2026-12-02T10:00:00.000Z';

/** A ledger as the workflow writes it: started (with the plan), phases, undo records, each row chained. */
function ledger(): LedgerEntry[] {
  const rows: LedgerEntry[] = [];
  const add = (kind: string, detail: string, data?: unknown) =>
    rows.push(chained({ seq: rows.length, at, kind, detail, ...(data ? { data } : {}) }, rows.at(-1)?.hash ?? ''));
  add('started', 'migration started', { planDigest: planDigest(plan), plan });
  add('phase', 'deploy');
  add('compensation', 'recorded undo: containers', { kind: 'containers', project: plan.target.composeProject, at });
  add('phase', 'traffic-shift');
  return rows;
}

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

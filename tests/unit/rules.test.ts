import type { GateState, MetricReading } from '../../model/status';
import type { MetricSpec, Plan } from '../../model/plan';
import {
  approvalRefusal,
  approvedDetail,
  gateSigned,
  missingRoles,
  newGate,
  operatorRefusal,
  readingsDetail,
  rejectionRefusal,
  tallyReadings,
} from '../../model/rules';
import { type FailureCount } from '../../model/status';

/** Only what the approval rules read of a plan: the go gate's roles and separation of duties. */
function planWith(roles: Plan['approvals']['gates']['go']['roles'], separationOfDuties = true): Plan {
  const gate = { roles, timeoutMs: 60_000, onTimeout: 'notify-and-wait' as const };
  return { approvals: { separationOfDuties, gates: { go: gate, cutover: gate, 'sign-off': gate } } } as Plan;
}

const sign = (gate: GateState, role: string, approver: string) =>
  gate.signatures.push({ gate: gate.name, role, approver, at: '2026-12-01T00:00:00Z' });

describe('approval rules', () => {
  const plan = planWith([
    { role: 'technical-lead', approvers: ['tina', 'tom', 'tess'], required: 2 },
    { role: 'product-owner' },
  ]);
  const open = () => newGate('go', plan.approvals.gates.go, '2026-12-01T00:00:00Z');

  it('opens a gate with its roles and the quorum only where a role needs more than one', () => {
    expect(open()).toEqual({
      name: 'go',
      open: true,
      requiredRoles: ['technical-lead', 'product-owner'],
      signatures: [],
      openedAt: '2026-12-01T00:00:00Z',
      required: { 'technical-lead': 2 },
    });
  });

  it('accepts a fitting approval and counts it toward the quorum', () => {
    const gate = open();
    expect(approvalRefusal({ role: 'technical-lead', approver: 'tina' }, gate, plan, 'gate:go')).toBeUndefined();
    sign(gate, 'technical-lead', 'tina');
    expect(approvedDetail(gate, { role: 'technical-lead', approver: 'tina', comment: 'ok' })).toBe(
      'technical-lead tina approved gate go (1 of 2): ok',
    );
    expect(missingRoles(gate)).toEqual(['technical-lead', 'product-owner']);
    sign(gate, 'technical-lead', 'tom');
    sign(gate, 'product-owner', 'paula');
    expect(missingRoles(gate)).toEqual([]);
    expect(gateSigned(gate)).toBe(true);
  });

  const cases: [string, (g: GateState) => void, Parameters<typeof approvalRefusal>[0], string][] = [
    [
      'a malformed request',
      () => undefined,
      { role: '', approver: 'x' },
      'malformed approval: {"role":"","approver":"x"}',
    ],
    [
      'another gate than the open one',
      () => undefined,
      { gate: 'cutover', role: 'product-owner', approver: 'paula' },
      'approval by paula for gate cutover: gate is not open (phase gate:go)',
    ],
    [
      'a role the gate does not need',
      () => undefined,
      { role: 'stakeholder', approver: 'sam' },
      'approval by sam: gate go does not need role stakeholder (needs technical-lead, product-owner)',
    ],
    [
      'a person not on the allow-list',
      () => undefined,
      { role: 'technical-lead', approver: 'mallory' },
      'approval by mallory: not on the allow-list of role technical-lead',
    ],
    [
      'the same person twice for a role',
      (g) => sign(g, 'technical-lead', 'tina'),
      { role: 'technical-lead', approver: 'tina' },
      'approval by tina: already signed gate go as technical-lead',
    ],
    [
      'a role whose quorum is full',
      (g) => (sign(g, 'technical-lead', 'tina'), sign(g, 'technical-lead', 'tom')),
      { role: 'technical-lead', approver: 'tess' },
      'approval by tess: role technical-lead already signed gate go (2 of 2)',
    ],
    [
      'one person for two roles (separation of duties)',
      (g) => sign(g, 'technical-lead', 'tina'),
      { role: 'product-owner', approver: 'tina' },
      'approval by tina as product-owner: already signed gate go for another role (separation of duties)',
    ],
  ];
  it.each(cases)('refuses %s and says why', (_name, before, args, detail) => {
    const gate = open();
    before(gate);
    expect(approvalRefusal(args, gate, plan, 'gate:go')?.detail).toBe(detail);
  });

  it('refuses every approval while no gate is open, naming the phase', () => {
    expect(approvalRefusal({ role: 'technical-lead', approver: 'tina' }, undefined, plan, 'soak')).toEqual({
      detail: 'approval by tina for gate (any): gate is not open (phase soak)',
      actor: 'tina',
    });
  });

  it('lets one person sign two roles when the plan has no separation of duties', () => {
    const lax = planWith([{ role: 'technical-lead' }, { role: 'product-owner' }], false);
    const gate = newGate('go', lax.approvals.gates.go, '');
    sign(gate, 'technical-lead', 'tina');
    expect(approvalRefusal({ role: 'product-owner', approver: 'tina' }, gate, lax, 'gate:go')).toBeUndefined();
  });

  it('checks a rejection for the gate, the role and the allow-list, not for signatures', () => {
    const gate = open();
    sign(gate, 'technical-lead', 'tina');
    expect(rejectionRefusal({ role: 'technical-lead', approver: 'tina', reason: 'no' }, gate, plan, 'gate:go')).toBe(
      undefined,
    );
    expect(
      rejectionRefusal({ role: 'technical-lead', approver: 'eve', reason: 'no' }, gate, plan, 'gate:go')?.detail,
    ).toBe('rejection by eve: not on the allow-list of role technical-lead');
    expect(rejectionRefusal({ role: 'technical-lead', approver: 'tina' } as never, gate, plan, 'gate:go')).toEqual({
      detail: 'malformed rejection: {"role":"technical-lead","approver":"tina"}',
    });
  });
});

describe('operator request rules', () => {
  const running = { phase: 'soak' as const, paused: false, retryable: false };

  it('accepts a request that fits the moment', () => {
    expect(operatorRefusal('pause', { requestedBy: 'olga' }, running)).toBeUndefined();
    expect(operatorRefusal('resume', { requestedBy: 'olga' }, { ...running, paused: true })).toBeUndefined();
    expect(operatorRefusal('retry', { requestedBy: 'olga' }, { ...running, paused: true, retryable: true })).toBe(
      undefined,
    );
    expect(operatorRefusal('rollback', { requestedBy: 'olga' }, running)).toBeUndefined();
  });

  it.each([
    ['rollback', { requestedBy: '' }, running, 'malformed rollback: {"requestedBy":""}'],
    ['abort', { requestedBy: 'olga' }, { ...running, phase: 'complete' }, 'abort by olga: migration is complete'],
    ['fail', { requestedBy: 'olga' }, { ...running, phase: 'rolling-back' }, 'fail by olga: migration is rolling-back'],
    ['pause', { requestedBy: 'olga' }, { ...running, paused: true }, 'pause by olga: already paused'],
    ['resume', { requestedBy: 'olga' }, running, 'resume by olga: not paused'],
    ['retry', { requestedBy: 'olga' }, running, 'retry by olga: no gate evaluation is waiting for a decision'],
  ] as const)('refuses %s when it does not fit (%j, %j)', (kind, args, now, detail) => {
    expect(operatorRefusal(kind, args, now)?.detail).toBe(detail);
  });
});

describe('failure counting of metric gates', () => {
  const metric = (over: Partial<MetricSpec>): MetricSpec => ({
    name: 'error-rate',
    measure: { kind: 'sql', query: 'select 1' },
    op: '<=',
    threshold: 0.01,
    failureLimit: 1,
    consecutiveFailureLimit: 1,
    ...over,
  });
  const reading = (passed: boolean | null, name = 'error-rate'): MetricReading => ({
    name,
    value: passed === null ? null : passed ? 0.001 : 0.2,
    op: '<=',
    threshold: 0.01,
    passed,
    detail: '',
    at: '',
  });
  /** Feeds rounds of readings through the tally, as the gates do, and returns the last tally and all the counts. */
  function rounds(metrics: MetricSpec[], seq: (boolean | null)[]) {
    let failures: Record<string, FailureCount> = {};
    const out = seq.map((p) => {
      const t = tallyReadings([reading(p)], metrics, failures);
      failures = t.failures;
      return t;
    });
    return { last: out.at(-1)!, all: out, failures };
  }

  it('fails a metric past its consecutive limit, and a pass ends the run', () => {
    const m = [metric({ failureLimit: 5, consecutiveFailureLimit: 1 })];
    expect(rounds(m, [false, true, false]).last.failed).toEqual([]);
    expect(rounds(m, [false, false]).last.failed).toEqual(['error-rate = 0.2 (needs <= 0.01)']);
    expect(rounds(m, [false, true, false]).failures['error-rate']).toEqual({ total: 2, consecutive: 1 });
  });

  it('fails a metric past its total limit even without a run', () => {
    const m = [metric({ failureLimit: 2, consecutiveFailureLimit: 5 })];
    const r = rounds(m, [false, true, false, true, false]);
    expect(r.all.map((t) => t.failed.length)).toEqual([0, 0, 0, 0, 1]);
  });

  it('counts inconclusive readings only for metrics with an inconclusive limit', () => {
    expect(rounds([metric({})], [null, null, null]).failures['error-rate']).toEqual({ total: 0, consecutive: 0 });
    const r = rounds([metric({ inconclusiveLimit: 1 })], [null, null]);
    expect(r.all.map((t) => t.inconclusive)).toEqual([[], ['error-rate']]);
    expect(r.last.failed).toEqual([]);
  });

  it('lets dry-run metrics decide nothing and count nothing', () => {
    const r = rounds([metric({ dryRun: true, inconclusiveLimit: 0 })], [false, false, null]);
    expect(r.last).toEqual({ failures: {}, failed: [], inconclusive: [] });
  });

  it('leaves the counts it was given unchanged', () => {
    const before = { 'error-rate': { total: 1, consecutive: 1 } };
    tallyReadings([reading(false)], [metric({ failureLimit: 5, consecutiveFailureLimit: 5 })], before);
    expect(before).toEqual({ 'error-rate': { total: 1, consecutive: 1 } });
  });

  it('writes one audit line per evaluation', () => {
    expect(readingsDetail('traffic 25%', [reading(false), { ...reading(null, 'latency'), dryRun: true }])).toBe(
      'traffic 25%: error-rate=0.2 FAIL, latency=no data (inconclusive) [dry run]',
    );
  });
});

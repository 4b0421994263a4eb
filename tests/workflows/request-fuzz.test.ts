import { Worker } from '@temporalio/worker';
import { workerDataConverter } from '../../lib/codec';
import { approversFor, withTestKeys } from '../../lib/drive';
import { bundleWorkflows } from '../../lib/time-skipping';
import { REQUEST_KINDS, type RequestKind } from '../../model/requests';
import { REQUEST_DEFINITIONS, rollbackSignal, statusQuery } from '../../workflows/definitions';
import { recordFaults } from '../helpers/fault-summary';
import { stubActivities } from '../helpers/stub-activities';
import { createWorkflowEnv, quickPlan, rawSignal, type WorkflowEnv } from '../helpers/workflow-env';

/** The fuzzer's seed: MO_FUZZ_SEED replays a run that failed (its seed is in the test's name). */
const SEED = Number(process.env.MO_FUZZ_SEED ?? 20261207);
const REQUESTS_SENT = 240;

/** mulberry32: a small seeded generator, so a failing run is replayed exactly from its seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Malformed requests of every kind, never valid ones: each has its sender field (`approver` or `requestedBy`) missing,
 * of the wrong type, empty, or a name every object inherits, or is outsized, or is not an object at all. Raw JSON, as
 * any client of the frontend can send it.
 */
function junk(rnd: () => number, kind: RequestKind): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const inherited = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'prototype'];
  const value = (): unknown =>
    pick([
      () => null,
      () => Math.floor(rnd() * 1e9) - 5e8,
      () => rnd() < 0.5,
      () => [],
      () => ({}),
      () => pick(inherited),
      () => 'x'.repeat(Math.floor(rnd() * 40)),
      () => ({ [pick(inherited)]: pick(inherited) }),
      () => JSON.parse(`${'['.repeat(8)}1${']'.repeat(8)}`) as unknown,
    ])();
  const sender = kind === 'approve' || kind === 'reject' ? 'approver' : 'requestedBy';
  const badSender = pick<unknown>([undefined, null, 7, [], {}, '', { toString: 'x' }]);
  const fields: Record<string, unknown> = {
    gate: pick<unknown>(['go', 'cutover', 'sign-off', ...inherited, 3, null]),
    role: pick<unknown>(['technical-lead', '', ...inherited, 1, {}]),
    reason: value(),
    comment: value(),
    signature: pick<unknown>([undefined, value(), { migrationId: value(), nonce: value(), sshsig: value() }]),
    [pick(inherited)]: value(),
  };
  if (badSender !== undefined) fields[sender] = badSender;
  const body = JSON.stringify(fields);
  return pick([
    () => body,
    () => body,
    () => body,
    () => JSON.stringify(value()),
    () => `${'['.repeat(5_000)}${body}${']'.repeat(5_000)}`,
    () => JSON.stringify({ ...fields, comment: 'y'.repeat(20_000) }),
    () => `{"${sender}": "${pick(inherited)}", "nested": ${'{"a":'.repeat(30)}1${'}'.repeat(30)}}`,
  ])();
}

describe(`requests fuzzed (seed ${SEED}): a migration under junk still answers, opens its gates and rolls back`, () => {
  let env: WorkflowEnv;

  beforeAll(async () => {
    env = await createWorkflowEnv('dev', 'wf-fuzz');
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it(`${REQUESTS_SENT} malformed signals and Updates at the go gate, then a valid approval and a rollback`, async () => {
    const rnd = random(SEED);
    const { plan, signers } = withTestKeys(quickPlan());
    const acts = stubActivities(plan.metrics);
    let fuzzed = false;
    let updatesRefused = 0;
    const { result, status, handle } = await env.runMigration(acts, {
      plan,
      signers,
      onStatus: async (s) => {
        if (s.phase === 'traffic-shift' && fuzzed && s.trafficPercent === 25) {
          // The safe direction stays open to anyone after all the junk.
          await env.client.workflow.getHandle(s.migrationId).signal(rollbackSignal, {
            requestedBy: 'oncall',
            reason: 'after the fuzz',
          });
          return true;
        }
        if (fuzzed || s.phase !== 'gate:go') return false;
        fuzzed = true;
        const h = env.client.workflow.getHandle(s.migrationId);
        for (let i = 0; i < REQUESTS_SENT; i++) {
          const kind = REQUEST_KINDS[Math.floor(rnd() * REQUEST_KINDS.length)]!;
          const json = junk(rnd, kind);
          if (rnd() < 0.5) {
            await rawSignal(env.client, s.migrationId, REQUEST_DEFINITIONS[kind].signal.name, json);
          } else {
            // An Update as the typed client sends it: a refusal comes back as the Update's failure, at once.
            const args = JSON.parse(json) as never;
            await h.executeUpdate(REQUEST_DEFINITIONS[kind].update.name, { args: [args] }).then(
              () => undefined,
              () => updatesRefused++,
            );
          }
          // Every few requests, the migration still answers, and still waits at its gate.
          if (i % 40 === 39) expect((await h.query(statusQuery)).phase).toBe('gate:go');
        }
        expect(approversFor(plan, 'go').length).toBeGreaterThan(0);
        return true;
      },
    });
    // The driver's signed approvals opened the go gate after the junk; the rollback asked for afterwards ran.
    expect(status.gates.go?.outcome).toBe('approved');
    expect(result.phase).toBe('rolled-back');
    expect(status.audit.some((e) => e.kind === 'rollback-requested' && e.actor === 'oncall')).toBe(true);
    // None of the junk moved the migration: no pause, abort, retry or failure by hand, no foreign signature.
    expect(
      status.audit.filter((e) => ['paused', 'abort-requested', 'retry', 'fail-requested'].includes(e.kind)),
    ).toEqual([]);
    expect(status.gates.go?.signatures.every((x) => x.verified === true)).toBe(true);
    expect(updatesRefused).toBeGreaterThan(REQUESTS_SENT / 4);
    // The history replays against the workflow code: nothing the junk did made it nondeterministic.
    const history = await handle.fetchHistory();
    const replay = { workflowBundle: await bundleWorkflows(), dataConverter: workerDataConverter() };
    await Worker.runReplayHistory(replay, history, handle.workflowId);
    recordFaults([
      { suite: 'requests', what: `${REQUESTS_SENT} fuzzed requests (seed ${SEED})`, kind: 'bad-input', ok: true },
    ]);
  });
});

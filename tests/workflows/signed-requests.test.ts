import type { WorkflowHandle } from '@temporalio/client';
import { approversFor, withTestKeys } from '../../lib/drive';
import { signRequest, type Signer } from '../../lib/signing';
import { claimFor } from '../../model/auth';
import type { MigrationRequest } from '../../model/requests';
import type { MigrationStatus } from '../../model/status';
import {
  approveUpdate,
  failSignal,
  pauseSignal,
  resumeSignal,
  resumeUpdate,
  retryUpdate,
  rollbackSignal,
  statusQuery,
} from '../../workflows/definitions';
import { recordFaults } from '../helpers/fault-summary';
import { stubActivities } from '../helpers/stub-activities';
import { createWorkflowEnv, quickPlan, type WorkflowEnv } from '../helpers/workflow-env';

const MINUTE = 60_000;

/** Why an Update was refused (its validator's or its handler's message), or 'accepted'. */
const outcome = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'accepted',
    (err: Error) => (err.cause instanceof Error ? err.cause.message : err.message),
  );

describe('signatures that mean it: forward moves signed, a window, the open gate only (time-skipping server)', () => {
  let env: WorkflowEnv;

  beforeAll(async () => {
    env = await createWorkflowEnv('time-skipping', 'wf-signed');
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('with keys: resume, retry and fail need a signature; pause and rollback do not and are audited as unverified', async () => {
    const { plan, signers } = withTestKeys(quickPlan());
    const acts = stubActivities(plan.metrics);
    const olga = approversFor(plan, 'go')[0]!.approver;
    let s0: MigrationStatus | undefined;
    const refusals: Record<string, string> = {};
    const { result, status } = await env.runMigration(acts, {
      plan,
      signers,
      onStatus: async (s) => {
        if (s0 || s.phase !== 'gate:go') return false;
        s0 = s;
        const h = env.client.workflow.getHandle(s.migrationId);
        const sign = signerAt(env, s, signers);
        await env.signalHandled(s.migrationId, (x) =>
          x.signal(pauseSignal, { requestedBy: 'mallory', reason: 'hold' }),
        );
        // Unsigned forward moves: the Update's validator refuses them, the signal is audited as refused.
        refusals.resume = await outcome(h.executeUpdate(resumeUpdate, { args: [{ requestedBy: olga }] }));
        refusals.retry = await outcome(h.executeUpdate(retryUpdate, { args: [{ requestedBy: olga }] }));
        await env.signalHandled(s.migrationId, (x) => x.signal(resumeSignal, { requestedBy: 'mallory' }));
        await env.signalHandled(s.migrationId, (x) => x.signal(failSignal, { requestedBy: 'mallory', reason: 'x' }));
        const held = await h.query(statusQuery);
        expect({ paused: held.paused, failure: held.failure }).toEqual({ paused: true, failure: undefined });
        // Signed by a person the plan lists: accepted, and verified.
        const args = { requestedBy: olga, reason: 'checked' };
        const signature = await sign({ kind: 'resume', args });
        refusals.signedResume = await outcome(h.executeUpdate(resumeUpdate, { args: [{ ...args, signature }] }));
        return true;
      },
    });
    expect(result.phase).toBe('complete');
    expect(refusals).toEqual({
      resume: expect.stringMatching(
        /^resume by .*: unsigned: the plan lists approver keys, so a resume must be signed/,
      ),
      retry: expect.stringMatching(/^retry by .*: unsigned: the plan lists approver keys, so a retry must be signed/),
      signedResume: 'accepted',
    });
    const audit = status.audit.map((e) => `${e.kind}: ${e.detail}`);
    expect(audit).toContainEqual(
      'paused: hold (requester NOT verified: unsigned: the plan lists approver keys, so a pause must be signed (migrate pause --key …))',
    );
    expect(audit).toContainEqual(expect.stringMatching(/^rejected: resume by mallory: unsigned/));
    expect(audit).toContainEqual(expect.stringMatching(/^rejected: fail by mallory: unsigned/));
    expect(audit).toContainEqual('resumed: checked (requester verified)');
    expect(status.failure).toBeUndefined();
    recordFaults(
      ['unsigned resume Update', 'unsigned retry Update', 'unsigned resume signal', 'unsigned fail signal'].map(
        (what) => ({ suite: 'requests', what, kind: 'bad-input' as const, ok: true }),
      ),
    );
  });

  it('a rollback stays open to anyone with keys in the plan, audited as not verified', async () => {
    const { plan, signers } = withTestKeys(quickPlan());
    const acts = stubActivities(plan.metrics);
    let sent = false;
    const { result, status } = await env.runMigration(acts, {
      plan,
      signers,
      onStatus: async (s) => {
        if (sent || s.phase !== 'gate:go') return false;
        sent = true;
        await env.client.workflow
          .getHandle(s.migrationId)
          .signal(rollbackSignal, { requestedBy: 'anyone', reason: 'looks wrong' });
        return true;
      },
    });
    expect(result.phase).toBe('rolled-back');
    expect(status.audit.find((e) => e.kind === 'rollback-requested')?.detail).toMatch(
      /^looks wrong \(requester NOT verified: unsigned/,
    );
  });

  it('refuses an expired approval and one pre-signed for a later gate; drops fields nobody signed', async () => {
    const { plan, signers } = withTestKeys(quickPlan());
    const acts = stubActivities(plan.metrics);
    const refusals: Record<string, string> = {};
    let preSigned: object | undefined;
    let stage = 0;
    const { result, status } = await env.runMigration(acts, {
      plan,
      signers,
      approve: (gate) => gate !== 'go',
      onStatus: async (s) => {
        const h = env.client.workflow.getHandle(s.migrationId);
        if (stage === 0 && s.phase === 'gate:go') {
          stage = 1;
          await approveGo(env, h, s, plan, signers, refusals);
          // Signed now, for the cutover gate that opens later: whoever holds it cannot use it then.
          const cutover = { gate: 'cutover' as const, ...approversFor(plan, 'cutover')[0]! };
          const signature = await signerAt(env, s, signers)({ kind: 'approve', args: cutover });
          preSigned = { ...cutover, signature };
          return true;
        }
        if (stage === 1 && s.phase === 'gate:cutover') {
          stage = 2;
          refusals.preSigned = await outcome(h.executeUpdate(approveUpdate, { args: [preSigned as never] }));
          return true;
        }
        return false;
      },
    });
    expect(result.phase).toBe('complete');
    expect(refusals).toEqual({
      expired: expect.stringMatching(/: expired: signed at .*, more than 15m ago \(approvals\.signatureWindow\)/),
      preSigned: expect.stringMatching(/: not signed for this opening of gate cutover \(opened at /),
    });
    // The approval that carried extra fields was stored without them.
    const first = status.gates.go!.signatures[0]!;
    expect(Object.keys(first).sort()).toEqual(['approver', 'at', 'gate', 'role', 'verified']);
    const row = acts.appendLedger.mock.calls
      .flatMap((c) => c[0].entries)
      .find((e) => e.kind === 'approved' && e.actor === first.approver);
    expect(JSON.stringify(row?.data)).not.toContain('smuggled');
    recordFaults([
      { suite: 'requests', what: 'approval signed 16 minutes ago', kind: 'bad-input', ok: true },
      { suite: 'requests', what: 'approval pre-signed for a later gate', kind: 'bad-input', ok: true },
      { suite: 'requests', what: 'approval with unsigned extra fields', kind: 'bad-input', ok: true },
    ]);
  });
});

/** A signer of requests at the server's time, for this migration, its plan and (a gate decision) its open gate. */
function signerAt(env: WorkflowEnv, s: MigrationStatus, signers: Record<string, Signer>, offsetMs = 0) {
  return async (request: MigrationRequest) => {
    const claim = claimFor(request);
    const gateOpenedAt = claim.gate === undefined ? undefined : s.gates[claim.gate as 'go']?.openedAt;
    const target = {
      migrationId: s.migrationId,
      planDigest: s.planDigest!,
      ...(gateOpenedAt ? { gateOpenedAt } : {}),
      atMs: (await env.clock.now()) + offsetMs,
    };
    return signRequest(claim, target, signers[claim.person]!);
  };
}

/** At gate go: an expired approval (refused), then every role, the first with fields nobody signed (accepted). */
async function approveGo(
  env: WorkflowEnv,
  h: WorkflowHandle,
  s: MigrationStatus,
  plan: ReturnType<typeof withTestKeys>['plan'],
  signers: Record<string, Signer>,
  refusals: Record<string, string>,
): Promise<void> {
  const [first, ...rest] = approversFor(plan, 'go').map((a) => ({ gate: 'go' as const, ...a }));
  const old = await signerAt(env, s, signers, -16 * MINUTE)({ kind: 'approve', args: first! });
  refusals.expired = await outcome(h.executeUpdate(approveUpdate, { args: [{ ...first!, signature: old }] }));
  const signature = await signerAt(env, s, signers)({ kind: 'approve', args: first! });
  const smuggled = { ...first!, smuggled: 'x', signature: { ...signature, smuggled: 'y' } };
  await h.executeUpdate(approveUpdate, { args: [smuggled as never] });
  for (const a of rest) {
    const sig = await signerAt(env, s, signers)({ kind: 'approve', args: a });
    await h.executeUpdate(approveUpdate, { args: [{ ...a, signature: sig }] });
  }
}

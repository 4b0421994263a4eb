import { approversFor, signalHandled as handled, withTestKeys } from '../../lib/drive';
import { REQUEST_LIMITS } from '../../model/requests';
import { approveSignal, REQUEST_DEFINITIONS, statusQuery } from '../../workflows/definitions';
import { recordFaults } from '../helpers/fault-summary';
import { stubActivities } from '../helpers/stub-activities';
import { createWorkflowEnv, quickPlan, rawSignal, type WorkflowEnv } from '../helpers/workflow-env';

describe('requests that would wedge a migration are refused, and it goes on (stubbed activities, dev server)', () => {
  let env: WorkflowEnv;

  beforeAll(async () => {
    env = await createWorkflowEnv('dev', 'wf-hostile');
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('a deeply nested approval, an inherited name as requester, an outsized Update: refused; the gates still open', async () => {
    const { plan, signers } = withTestKeys(quickPlan());
    const acts = stubActivities(plan.metrics);
    let sent = false;
    let updateRefusal: unknown;
    const { result, status } = await env.runMigration(acts, {
      plan,
      signers,
      onStatus: async (s) => {
        if (sent || s.phase !== 'gate:go') return false;
        sent = true;
        const h = env.client.workflow.getHandle(s.migrationId);
        const a = approversFor(plan, 'go')[0]!;
        // An empty role and a comment nested 100,000 levels deep (about 400 KB), sent as raw JSON as any client of the
        // frontend can: it parses, but stringifying it (for the audit) overflows the stack.
        const deep = `{"gate":"go","role":"","approver":"${a.approver}","comment":${'['.repeat(100_000)}"x"${']'.repeat(100_000)}}`;
        await handled(h, () => rawSignal(env.client, s.migrationId, REQUEST_DEFINITIONS.approve.signal.name, deep));
        // `constructor` is no approver of the plan, but every object inherits it: a key lookup found a function.
        const signature = {
          migrationId: s.migrationId,
          nonce: 'n-1',
          signedAt: new Date().toISOString(),
          planDigest: s.planDigest,
          sshsig: '-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----',
        };
        await handled(h, (x) =>
          x.signal(approveSignal, { gate: 'go', role: a.role, approver: 'constructor', signature } as never),
        );
        // The Update's validator refuses what the signal handler refuses: the caller is told why, nothing is written.
        updateRefusal = await h
          .executeUpdate(REQUEST_DEFINITIONS.approve.update, {
            args: [{ gate: 'go', ...a, comment: 'y'.repeat(20_000) }],
          })
          .catch((err: Error) => (err.cause instanceof Error ? err.cause.message : err.message));
        // Still answering, and the runbook waits at its gate as before.
        expect((await h.query(statusQuery)).phase).toBe('gate:go');
        return true;
      },
    });
    // The real approvals (signed by the driver) opened every gate, and nothing rolled back.
    expect(result.phase).toBe('complete');
    const refused = status.audit.filter((e) => e.kind === 'rejected').map((e) => e.detail);
    expect(refused).toEqual([
      `approval refused: it is nested deeper than ${REQUEST_LIMITS.depth} levels`,
      'approval by constructor: constructor has no key in the plan',
    ]);
    expect(updateRefusal).toBe(`approval refused: its text is longer than ${REQUEST_LIMITS.textLength} characters`);

    recordFaults([
      { suite: 'requests', what: 'approve signal nested 2,000 levels deep', kind: 'bad-input', ok: true },
      { suite: 'requests', what: 'approve signal from "constructor" with a signature', kind: 'bad-input', ok: true },
      { suite: 'requests', what: 'approve Update with 20,000 characters of comment', kind: 'bad-input', ok: true },
    ]);
  });
});

import { approversFor, signalHandled as handled, withTestKeys } from '../../lib/drive';
import { memoryKey, signRequest } from '../../lib/signing';
import { GATES } from '../../model/constants';
import type { MigrationStatus } from '../../model/status';
import { approveSignal, pauseSignal, rejectSignal, resumeSignal, statusQuery } from '../../workflows/definitions';
import { recordFaults } from '../helpers/fault-summary';
import { stubActivities } from '../helpers/stub-activities';
import { createWorkflowEnv, DAY, productionPlan, withGoGate, type WorkflowEnv } from '../helpers/workflow-env';

describe('migration workflow on the production plan (stubbed activities, time-skipping server)', () => {
  let env: WorkflowEnv;

  beforeAll(async () => {
    env = await createWorkflowEnv('time-skipping', 'wf-approvals');
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('a plan with approver keys: signed approvals pass every gate; unsigned and forged ones are refused', async () => {
    const { plan, signers } = withTestKeys(productionPlan);
    const acts = stubActivities(plan.metrics);
    let tried = false;
    const { result, status } = await env.runMigration(acts, {
      plan,
      signers,
      onStatus: async (s) => {
        if (tried || s.phase !== 'gate:go') return false;
        tried = true;
        const h = env.client.workflow.getHandle(s.migrationId);
        const a = { gate: 'go' as const, ...approversFor(plan, 'go')[0]! };
        await handled(h, (x) => x.signal(approveSignal, a));
        const claim = { decision: 'approve', person: a.approver, gate: a.gate, role: a.role };
        const target = { migrationId: s.migrationId, planDigest: s.planDigest! };
        const forged = await signRequest(claim, target, memoryKey('mallory').sign);
        await handled(h, (x) => x.signal(approveSignal, { ...a, signature: forged }));
        return true;
      },
    });
    expect(result.phase).toBe('complete');
    expect(status.approvalsAuthenticated).toBe(true);
    for (const g of GATES) expect(status.gates[g]!.signatures.map((x) => x.verified)).not.toContain(false);
    expect(status.gates['sign-off']!.signatures.every((x) => x.verified === true)).toBe(true);
    const refused = status.audit.filter((e) => e.kind === 'rejected').map((e) => e.detail);
    expect(refused).toEqual([
      expect.stringMatching(/^approval by technical-lead-person: unsigned: the plan lists approver keys/),
      expect.stringMatching(/^approval by technical-lead-person: bad signature: signed with another key/),
    ]);
  });

  it('rejects approvals that do not fit and changes nothing else; pause holds the runbook until resume', async () => {
    const plan = withGoGate({
      roles: [{ role: 'technical-lead', approvers: ['tina', 'tom'] }, { role: 'engineering-manager' }],
    });
    const acts = stubActivities(plan.metrics);
    let stage = 0;
    let atGate: MigrationStatus | undefined;
    let afterBad: MigrationStatus | undefined;
    const { status } = await env.runMigration(acts, {
      plan,
      approve: (gate) => gate !== 'go',
      onStatus: async (s) => {
        const h = env.client.workflow.getHandle(s.migrationId);
        if (stage === 0 && s.phase === 'gate:go') {
          stage = 1;
          atGate = s;
          await h.signal(resumeSignal, { requestedBy: 'olga' }); // resume without pause
          await h.signal(approveSignal, { gate: 'cutover', role: 'technical-lead', approver: 'tina' }); // gate not open
          await h.signal(approveSignal, { role: 'stakeholder', approver: 'sam' }); // role not needed
          await h.signal(approveSignal, { role: 'technical-lead', approver: 'mallory' }); // not on allow-list
          await h.signal(approveSignal, { role: 'technical-lead', approver: 'tina' }); // ok
          await h.signal(approveSignal, { role: 'technical-lead', approver: 'tom' }); // duplicate role
          await h.signal(approveSignal, { role: 'engineering-manager', approver: 'tina' }); // separation of duties
          await h.signal(approveSignal, { approver: 'x' } as never); // malformed
          await h.signal(approveSignal, { role: 'janitor', approver: 'jim' }); // unknown role
          await h.signal(approveSignal, { role: 'engineering-manager', approver: '' }); // empty approver
          await h.signal(rejectSignal, { role: 'technical-lead', approver: 'mallory', reason: 'no' }); // reject, not allowed
          await h.signal(rejectSignal, { role: 'technical-lead' } as never); // malformed rejection
          await h.signal(pauseSignal, {} as never); // pause without who
          afterBad = await h.query(statusQuery);
          await h.signal(pauseSignal, { requestedBy: 'olga', reason: 'change freeze' });
          await h.signal(approveSignal, { role: 'engineering-manager', approver: 'erin' });
          return true;
        }
        if (stage === 1 && s.paused) {
          stage = 2;
          // Paused after the gate: no backup may start until resume.
          expect(acts.backupDatabase).not.toHaveBeenCalled();
          await h.signal(resumeSignal, { requestedBy: 'olga' });
          return true;
        }
        return false;
      },
    });
    expect(status.phase).toBe('complete');
    const rejected = afterBad!.audit.filter((a) => a.kind === 'rejected').map((a) => a.detail);
    expect(rejected).toEqual([
      expect.stringContaining('resume by olga: not paused'),
      expect.stringContaining('gate cutover: gate is not open'),
      expect.stringContaining('does not need role stakeholder'),
      expect.stringContaining('mallory: not on the allow-list of role technical-lead'),
      expect.stringContaining('role technical-lead already signed'),
      expect.stringContaining('separation of duties'),
      expect.stringContaining('malformed approval'),
      expect.stringContaining('does not need role janitor'),
      expect.stringContaining('malformed approval'),
      expect.stringContaining('mallory: not on the allow-list of role technical-lead'),
      expect.stringContaining('malformed rejection'),
      expect.stringContaining('malformed pause'),
    ]);
    recordFaults(
      [
        'resume without pause',
        'approval for a gate that is not open',
        'approval for a role the gate does not need',
        'approver not on the allow-list',
        'duplicate approval for a signed role',
        'one person signing two roles',
        'malformed approval payload',
        'unknown role',
        'empty approver',
        'rejection by someone not on the allow-list',
        'malformed rejection payload',
        'pause without requestedBy',
      ].map((what, i) => ({
        suite: 'signals',
        what,
        kind: 'bad-input' as const,
        ok: rejected[i] !== undefined,
      })),
    );
    // The rejected requests changed nothing but the audit log (and its ledger sequence).
    expect(afterBad!.gates.go?.signatures.map((x) => x.approver)).toEqual(['tina']);
    const ignoringAudit = { audit: [], updatedAt: '', ledgerSeq: 0, ledgerWritten: 0, ledgerHead: '' };
    expect({ ...afterBad, ...ignoringAudit }).toEqual({
      ...atGate,
      ...ignoringAudit,
      gates: afterBad!.gates,
    });
    expect(status.gates.go?.signatures.map((x) => `${x.role}:${x.approver}`)).toEqual([
      'technical-lead:tina',
      'engineering-manager:erin',
    ]);
    expect(status.audit.some((a) => a.kind === 'paused' && a.detail === 'change freeze')).toBe(true);

    // Approval after completion: the server refuses the signal and the closed history does not change.
    const done = env.client.workflow.getHandle(status.migrationId);
    const eventsBefore = (await done.fetchHistory()).events?.length;
    await expect(
      done.signal(approveSignal, { gate: 'sign-off', role: 'stakeholder', approver: 'late' }),
    ).rejects.toThrow(/completed|not found/i);
    expect((await done.fetchHistory()).events?.length).toBe(eventsBefore);
    recordFaults([{ suite: 'signals', what: 'approval after completion', kind: 'bad-input', ok: true }]);
  });

  it('a reject at the cutover gate rolls back what the traffic shift changed', async () => {
    const acts = stubActivities(productionPlan.metrics);
    const { result, status } = await env.runMigration(acts, {
      approve: (gate) => gate !== 'cutover',
      onStatus: async (s) => {
        if (s.phase !== 'gate:cutover' || s.gates.cutover?.outcome) return false;
        await env.client.workflow.getHandle(s.migrationId).signal(rejectSignal, {
          gate: 'cutover',
          role: 'product-owner',
          approver: 'paula',
          reason: 'numbers look off',
        });
        return true;
      },
    });
    expect(result.phase).toBe('rolled-back');
    expect(status.gates.cutover?.outcome).toBe('rejected');
    expect(result.rollback?.undone.map((u) => u.kind)).toEqual(['traffic', 'containers']);
    expect(acts.backupDatabase.mock.calls.map((c) => c[0].step)).toEqual(['initial']);
  });

  it('a quorum role needs distinct approvers; reminders go out while the gate waits', async () => {
    const HOUR = 3_600_000;
    const plan = withGoGate({
      roles: [
        { role: 'technical-lead', approvers: ['tina', 'tom', 'tess'], required: 2 },
        { role: 'engineering-manager' },
      ],
      timeoutMs: 3 * DAY,
      onTimeout: 'notify-and-wait',
      remindEveryMs: HOUR,
    });
    const acts = stubActivities(plan.metrics);
    let signedAt = 0;
    const { result, status } = await env.runMigration(acts, {
      plan,
      approve: (gate) => gate !== 'go',
      onStatus: async (s) => {
        if (s.phase !== 'gate:go' || signedAt) return false;
        // Nobody signs for 5½ hours: five hourly reminders.
        await env.clock.sleep(5.5 * HOUR);
        signedAt = await env.clock.now();
        const approve = (role: string, approver: string) =>
          env.signalHandled(s.migrationId, (h) => h.signal(approveSignal, { gate: 'go', role, approver }));
        await approve('technical-lead', 'tina');
        await approve('technical-lead', 'tina'); // the same person twice: rejected
        await approve('engineering-manager', 'tina'); // separation of duties: rejected
        await approve('engineering-manager', 'erin');
        await approve('technical-lead', 'tom'); // the second distinct approver completes the quorum
        return true;
      },
    });
    expect(result.phase).toBe('complete');
    expect(status.gates.go?.required).toEqual({ 'technical-lead': 2 });
    expect(status.gates.go?.signatures.map((x) => `${x.role}:${x.approver}`)).toEqual([
      'technical-lead:tina',
      'engineering-manager:erin',
      'technical-lead:tom',
    ]);
    const rejected = status.audit.filter((a) => a.kind === 'rejected').map((a) => a.detail);
    expect(rejected).toEqual([
      expect.stringContaining('tina: already signed gate go as technical-lead'),
      expect.stringContaining('separation of duties'),
    ]);
    expect(status.audit.find((a) => a.kind === 'approved' && a.actor === 'tom')?.detail).toContain('(2 of 2)');
    const reminders = acts.notify.mock.calls.filter((c) => c[0].event === 'gate-reminder');
    expect(reminders).toHaveLength(5);
    expect(reminders[0]![0].subject).toContain('go waits for technical-lead, engineering-manager');
    expect(status.audit.filter((a) => a.kind === 'gate-reminder')).toHaveLength(5);
  });
});

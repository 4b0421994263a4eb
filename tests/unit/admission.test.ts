import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { memoryKey } from '../../lib/signing';
import { signStart } from '../../lib/start-proof';
import {
  admissionProblem,
  parseAllowedSigners,
  principalMatches,
  startText,
  type AdmissionContext,
} from '../../model/admission';
import { loadPlan } from '../../client/plan';
import { undoRecordsProblem } from '../../model/undo';
import { planDigest } from '../../model/signatures';
import type { Compensation } from '../../model/status';

const alice = memoryKey('alice');
const olga = memoryKey('olga');
const trustText = [
  '# who may start',
  `alice,bob namespaces="migrate-start,migrate-rollback" ${alice.publicKey}`,
  `olga namespaces="migrate-rollback" ${olga.publicKey}`,
].join('\n');
const { entries: trust } = parseAllowedSigners(trustText);
const plan = loadPlan(path.join(__dirname, '..', '..', 'plans', 'production.example.yaml'));
const digest = planDigest(plan);
const now = Date.now();
const ctx = (over: Partial<AdmissionContext> = {}): AdmissionContext => ({
  kind: 'start',
  workflowId: 'm-1',
  migrationId: 'm-1',
  planDigest: digest,
  startedAtMs: now,
  claimedBy: 'alice',
  trust,
  ...over,
});
const target = { kind: 'start' as const, workflowId: 'm-1', migrationId: 'm-1', planDigest: digest, signer: 'alice' };

describe('the trust file (OpenSSH allowed_signers)', () => {
  it('reads principals, the namespaces option and the key; names each line it cannot read', () => {
    expect(trust).toHaveLength(2);
    expect(trust[0]).toMatchObject({ principals: ['alice', 'bob'], namespaces: ['migrate-start', 'migrate-rollback'] });
    expect(trust[1]).toMatchObject({ principals: ['olga'], namespaces: ['migrate-rollback'], line: 3 });
    const bad = parseAllowedSigners(
      `carol cert-authority ${alice.publicKey}\ndave ssh-rsa AAAAB3NzaC1yc2E\njust-a-name\n${alice.publicKey}`,
    );
    expect(bad.entries).toEqual([]);
    expect(bad.problems).toEqual([
      'line 1: unsupported option "cert-authority" (only namespaces="…" is supported)',
      expect.stringMatching(/^line 2: /),
      expect.stringMatching(/^line 3: expected "principals/),
      expect.stringMatching(/^line 4: expected "principals/),
    ]);
    expect(principalMatches('*', 'anyone')).toBe(true);
    expect(principalMatches('ops-?', 'ops-1')).toBe(true);
    expect(principalMatches('ops-?', 'ops-12')).toBe(false);
    expect(principalMatches('a.b', 'axb')).toBe(false);
  });

  it('is what ssh-keygen -Y verify reads: a start signed in memory verifies with the stock tool', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mo-admission-'));
    try {
      const proof = await signStart(target, alice.signIn('migrate-start'));
      fs.writeFileSync(path.join(dir, 'allowed_signers'), trustText);
      fs.writeFileSync(path.join(dir, 'sig'), proof.sshsig);
      const out = execFileSync(
        'ssh-keygen',
        ['-Y', 'verify', '-f', 'allowed_signers', '-I', 'alice', '-n', 'migrate-start', '-s', 'sig'],
        { cwd: dir, input: startText(proof) },
      ).toString();
      expect(out).toContain('Good "migrate-start" signature for alice');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a start proof', () => {
  it('admits a start signed by a listed key for its name and namespace', async () => {
    expect(admissionProblem(await signStart(target, alice.signIn('migrate-start')), ctx())).toBeUndefined();
  });

  it('refuses, saying why: unsigned, wrong namespace, not listed, another plan, another workflow, too old', async () => {
    const signed = await signStart(target, alice.signIn('migrate-start'));
    expect(admissionProblem(undefined, ctx())).toMatch(/^unsigned: a start must be signed/);
    expect(admissionProblem(await signStart(target, alice.signIn('migrate-approval')), ctx())).toMatch(
      /signed for namespace migrate-approval, not migrate-start/,
    );
    const byOlga = await signStart({ ...target, signer: 'olga' }, olga.signIn('migrate-start'));
    expect(admissionProblem(byOlga, ctx({ claimedBy: 'olga' }))).toBe(
      "olga may not start migrations: not in the worker's trust file for migrate-start",
    );
    const mallory = memoryKey('mallory');
    expect(admissionProblem(await signStart(target, mallory.signIn('migrate-start')), ctx())).toMatch(
      /^bad signature by alice: signed with another key/,
    );
    expect(admissionProblem(signed, ctx({ planDigest: 'f'.repeat(64) }))).toMatch(/^signed for another plan/);
    expect(admissionProblem(signed, ctx({ workflowId: 'm-2' }))).toBe('signed for workflow m-1, not m-2');
    expect(admissionProblem(signed, ctx({ claimedBy: 'bob' }))).toBe('signed by alice, but the input says bob');
    expect(admissionProblem(signed, ctx({ startedAtMs: now + 16 * 60_000 }))).toMatch(
      /more than 15 minutes before the workflow started: sign again$/,
    );
    expect(admissionProblem({ ...signed, migrationId: 'm-2' }, ctx({ migrationId: 'm-2' }))).toMatch(
      /^bad signature by alice: the signature does not match/,
    );
  });
});

describe('undo records against the admitted plan', () => {
  const at = new Date().toISOString();
  const own: Compensation[] = [
    { kind: 'traffic', router: plan.traffic.router, databaseUrlEnv: plan.target.databaseUrlEnv, restorePercent: 0, at },
    { kind: 'containers', project: plan.target.composeProject, at },
    { kind: 'unified-job', scheduler: plan.scheduler, job: plan.unifiedJob, at },
    { kind: 'legacy-jobs', scheduler: plan.scheduler, jobs: plan.legacyJobs, at },
    { kind: 'archive', repository: plan.target.repository, at },
  ];

  it("passes the plan's own records and refuses any that names something else", () => {
    expect(undoRecordsProblem(own, plan)).toBeUndefined();
    const bad = (i: number, over: Record<string, unknown>) =>
      undoRecordsProblem(
        own.map((c, j) => (j === i ? { ...c, ...over } : c)),
        plan,
      );
    expect(bad(0, { router: { kind: 'command', command: ['sh', '-c', 'id'] } })).toBe(
      "compensations[0] (traffic): its router is not the plan's",
    );
    expect(bad(0, { databaseUrlEnv: 'OTHER_URL' })).toMatch(/its database variable OTHER_URL is not the plan's/);
    expect(bad(1, { project: 'someone-else' })).toMatch(/its compose project someone-else is not the plan's/);
    expect(bad(2, { job: { ...plan.unifiedJob, command: ['sh', '-c', 'id'] } })).toMatch(/not the plan's unified job/);
    expect(bad(3, { scheduler: { kind: 'crontab', user: 'root' } })).toMatch(/crontab user\) is not the plan's/);
    expect(bad(4, { repository: '/etc' })).toMatch(/its repository \/etc is not the plan's/);
    expect(undoRecordsProblem({}, plan)).toBe('compensations: expected a list of undo records');
  });
});

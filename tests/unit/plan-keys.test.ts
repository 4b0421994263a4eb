import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadPlan, validatePlan } from '../../client/plan';
import { memoryKey } from '../../lib/signing';
import { planProblems } from '../../model/plan-check';
import { demoDoc, planIssues, PLANS } from '../helpers/plan-doc';

const plans = PLANS;
const keyLine = (comment: string) => memoryKey(comment).publicKey;
const bare = (line: string) => line.split(' ').slice(0, 2).join(' ');

const issues = planIssues;

/** The Ed25519 identity point, and a point of order 8: small-order keys, for which signatures can be made up. */
const IDENTITY = Uint8Array.from([1, ...new Array<number>(31).fill(0)]);
const ORDER_8 = Uint8Array.from(Buffer.from('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', 'hex'));
/** An OpenSSH key line for raw key bytes. */
function weakKey(key: Uint8Array): string {
  const wire = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  return `ssh-ed25519 ${Buffer.concat([wire(Buffer.from('ssh-ed25519')), wire(Buffer.from(key))]).toString('base64')}`;
}

describe('approver keys in the plan', () => {
  it('gathers keys from approvals.keys, allow-list entries { name, key } and a keys file, without comments', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mo-keys-'));
    const [tina, tom, sam] = [keyLine('tina@laptop'), keyLine('tom@laptop'), keyLine('sam@laptop')];
    fs.writeFileSync(path.join(dir, 'signers'), `# people\n\ntom ${tom}\n`);
    const doc = demoDoc();
    doc.approvals.keysFile = path.join(dir, 'signers');
    doc.approvals.keys = { sam };
    doc.approvals.gates.go.roles = [
      { role: 'technical-lead', approvers: [{ name: 'tina', key: tina }, 'tom'] },
      'engineering-manager',
    ];
    // Three people with keys can sign a gate of at most three roles (separation of duties).
    doc.approvals.gates['sign-off'].roles = ['technical-lead', 'product-owner', 'engineering-manager'];
    const plan = validatePlan(doc, 'plan.yaml', plans);
    expect(plan.approvals.keys).toEqual({ sam: bare(sam), tina: bare(tina), tom: bare(tom) });
    expect(plan.approvals.gates.go.roles[0]).toEqual({ role: 'technical-lead', approvers: ['tina', 'tom'] });
  });

  it.each([
    [
      'a second, different key for one person',
      (d: Record<string, any>) => {
        d.approvals.keys = { tina: keyLine('a') };
        d.approvals.gates.go.roles = [
          { role: 'technical-lead', approvers: [{ name: 'tina', key: keyLine('b') }] },
          'engineering-manager',
        ];
        delete d.approvals.keysFile;
      },
      'approvals.gates.go.roles[0].approvers[0].key',
      'a second, different key for tina',
    ],
    [
      'an allow-listed person without a key',
      (d: Record<string, any>) => {
        d.approvals.gates.go.roles = [{ role: 'technical-lead', approvers: ['mallory'] }, 'engineering-manager'];
      },
      'approvals.gates.go.roles[0].approvers[0]',
      'mallory has no key: the plan lists keys, so every approver signs',
    ],
    [
      'a key that is not Ed25519',
      (d: Record<string, any>) => (d.approvals.keys = { tina: 'ssh-rsa AAAAB3NzaC1yc2E tina@laptop' }),
      'approvals.keys.tina',
      'expected an OpenSSH "ssh-ed25519 AAAA…" public key line',
    ],
    [
      'the identity key (it verifies every message)',
      (d: Record<string, any>) => (d.approvals.keys = { tina: weakKey(IDENTITY) }),
      'approvals.keys.tina',
      'refused: a small-order Ed25519 key',
    ],
    [
      'a small-order key (a point of order 8)',
      (d: Record<string, any>) => (d.approvals.keys = { tina: weakKey(ORDER_8) }),
      'approvals.keys.tina',
      'refused: a small-order Ed25519 key',
    ],
    [
      'a small-order key on an allow-list entry',
      (d: Record<string, any>) =>
        (d.approvals.gates.go.roles = [
          { role: 'technical-lead', approvers: [{ name: 'tina', key: weakKey(IDENTITY) }] },
          'engineering-manager',
        ]),
      'approvals.gates.go.roles[0].approvers[0].key',
      'refused: a small-order Ed25519 key',
    ],
    [
      'a small-order seal key for the ledger',
      (d: Record<string, any>) => (d.ledger = { ...(d.ledger ?? {}), sealKey: weakKey(IDENTITY) }),
      'ledger.sealKey',
      'refused: a small-order Ed25519 key',
    ],
    [
      'a keys file that does not exist',
      (d: Record<string, any>) => (d.approvals.keysFile = '/nonexistent/allowed_signers'),
      'approvals.keysFile',
      'cannot read the keys file',
    ],
  ])('refuses %s, naming the field', (_name, mutate, field, fragment) => {
    const doc = demoDoc();
    mutate(doc);
    expect(issues(doc)).toContainEqual({ path: field, message: expect.stringContaining(fragment) });
  });

  it('refuses a malformed line of the keys file, naming the line', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mo-keys-'));
    fs.writeFileSync(path.join(dir, 'signers'), `tina ${keyLine('t')}\nnot a key line\n`);
    const doc = demoDoc();
    doc.approvals.keysFile = path.join(dir, 'signers');
    expect(issues(doc)).toContainEqual({
      path: 'approvals.keysFile',
      message: 'line 2 of the keys file: expected "name ssh-ed25519 AAAA…"',
    });
  });
});

describe("the workflow's own check of the plan it was started with", () => {
  const demo = () => structuredClone(loadPlan(path.join(plans, 'demo.yaml'))) as unknown as Record<string, any>;

  it('passes a plan with a retry block as migrate start normalises it', () => {
    const text = fs
      .readFileSync(path.join(plans, 'demo.yaml'), 'utf8')
      .concat(
        'retry:\n  long: { initialInterval: 200ms, maximumAttempts: 3, heartbeatTimeout: 5s }\n  rollback: { maximumInterval: 2s }\n',
      );
    const file = path.join(plans, `.retry-${process.pid}.yaml`);
    fs.writeFileSync(file, text);
    try {
      const plan = loadPlan(file);
      expect(plan.retry).toEqual({
        long: { initialIntervalMs: 200, maximumAttempts: 3, heartbeatTimeoutMs: 5_000 },
        rollback: { maximumIntervalMs: 2_000 },
      });
      expect(planProblems(plan)).toEqual([]);
    } finally {
      fs.rmSync(file, { force: true });
    }
  });

  it('passes both shipped plans as migrate start normalises them', () => {
    expect(planProblems(loadPlan(path.join(plans, 'demo.yaml')))).toEqual([]);
    expect(planProblems(loadPlan(path.join(plans, 'production.example.yaml')))).toEqual([]);
  });

  const changed = (change: (p: Record<string, any>) => void) => () => {
    const p = demo();
    change(p);
    return p;
  };
  it.each([
    [
      'steps out of order',
      changed((p) => (p.traffic.steps = [50, 10, 100])),
      'traffic.steps[1]: expected steps to increase',
    ],
    [
      'a relative repository',
      changed((p) => (p.target.repository = 'repo')),
      'target.repository: expected an absolute path',
    ],
    ['a field the schema does not know', changed((p) => (p.target.sshHost = 'db1')), 'target.sshHost'],
    [
      'shell syntax in an argument list',
      changed((p) => (p.legacyJobs[0].command = ['node', 'x.js;', 'rm', '-rf', '/'])),
      'legacyJobs[0].command[1]: contains a shell metacharacter',
    ],
    ['no plan at all', () => undefined, 'plan: expected the validated plan'],
    [
      'a retry budget the schema refuses',
      changed((p) => (p.retry = { long: { initialIntervalMs: 5_000, maximumIntervalMs: 1_000 } })),
      'retry.long.maximumInterval: expected a maximumInterval no shorter than initialInterval',
    ],
    [
      "a first wait longer than the default longest (Temporal would refuse the undo steps' policy)",
      changed((p) => (p.retry = { rollback: { initialIntervalMs: 30_000 } })),
      'retry.rollback.initialInterval: expected a maximumInterval no shorter than initialInterval: without one it is 10s',
    ],
    [
      'a heartbeat timeout on notifications',
      changed((p) => (p.retry = { notify: { heartbeatTimeoutMs: 1_000 } })),
      'retry.notify.heartbeatTimeout: unknown field',
    ],
  ])('names the field of %s', (_name, make, fragment) => {
    expect(planProblems(make()).join('\n')).toContain(fragment);
  });
});

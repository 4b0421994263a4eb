import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { memoryKey, signRequest, sshKeygenSigner, type Signer } from '../../lib/signing';
import { authenticate, type AuthContext, type RequestClaim } from '../../model/auth';
import type { LedgerEntry } from '../../model/status';
import { chained, verifyLedger } from '../../model/ledger-chain';
import { canonicalJson, planDigest, SIGNATURE_NAMESPACE, verifySshSignature } from '../../model/signatures';

const MIGRATION = 'billing-20261201T0900';
const DIGEST = planDigest({ name: 'billing', steps: [10, 25, 50, 100] });

/** A key made by `ssh-keygen`, as a person has one in ~/.ssh. */
function sshKey(dir: string, name: string): { file: string; publicKey: string } {
  const file = path.join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${name}@laptop`, '-f', file]);
  return { file, publicKey: fs.readFileSync(`${file}.pub`, 'utf8').trim() };
}

describe('SSH signatures (ssh-keygen -Y sign) verified in workflow code', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mo-sig-'));
  const tina = sshKey(dir, 'tina');

  it('verifies what ssh-keygen signs, and refuses an altered text, another key, another namespace', async () => {
    const text = 'migrate-approval v1\n{"gate":"go"}\n';
    const sig = await sshKeygenSigner(tina.file)(text);
    expect(sig).toMatch(/^-----BEGIN SSH SIGNATURE-----/);
    expect(verifySshSignature(sig, tina.publicKey, text)).toEqual({ ok: true });
    expect(verifySshSignature(sig, tina.publicKey, text.replace('go', 'cutover'))).toEqual({
      ok: false,
      reason: 'the signature does not match the request',
    });
    expect(verifySshSignature(sig, memoryKey().publicKey, text)).toMatchObject({
      reason: expect.stringMatching(/another key/),
    });
    expect(verifySshSignature(sig, tina.publicKey, text, 'git')).toMatchObject({ ok: false });
  });

  it('writes signatures that ssh-keygen -Y verify accepts (the in-memory signer of tests and the demo)', async () => {
    const key = memoryKey('tom');
    const text = 'migrate-approval v1\n{"gate":"sign-off","text":"ok ✓"}\n';
    const sig = await key.sign(text);
    fs.writeFileSync(path.join(dir, 'allowed'), `tom ${key.publicKey}\n`);
    fs.writeFileSync(path.join(dir, 'req.sig'), sig);
    const out = execFileSync(
      'ssh-keygen',
      [
        '-Y',
        'verify',
        '-f',
        path.join(dir, 'allowed'),
        '-I',
        'tom',
        '-n',
        SIGNATURE_NAMESPACE,
        '-s',
        path.join(dir, 'req.sig'),
      ],
      { input: text, encoding: 'utf8' },
    );
    expect(out).toMatch(/Good "migrate-approval" signature for tom/);
  });

  it('gives the same canonical text for the same value, whatever the key order', () => {
    expect(canonicalJson({ b: 1, a: [{ y: 2, x: undefined, w: 'é' }] })).toBe('{"a":[{"w":"é","y":2}],"b":1}');
    expect(planDigest({ a: 1, b: 2 })).toBe(planDigest({ b: 2, a: 1 }));
  });
});

describe('authenticating a request against the plan keys', () => {
  const tina = memoryKey('tina');
  const tom = memoryKey('tom');
  const ctx = (over: Partial<AuthContext> = {}): AuthContext => ({
    migrationId: MIGRATION,
    planDigest: DIGEST,
    keys: { tina: tina.publicKey, tom: tom.publicKey },
    nonces: [],
    nowMs: Date.now(),
    ...over,
  });
  const approval = { decision: 'approve', person: 'tina', gate: 'go', role: 'technical-lead', text: 'ok' };
  async function signed(claim: Omit<RequestClaim, 'signature'>, signer: Signer = tina.sign, target = {}) {
    const signature = await signRequest(claim, { migrationId: MIGRATION, planDigest: DIGEST, ...target }, signer);
    return { ...claim, signature };
  }

  it('accepts a request signed by the key the plan lists for its sender', async () => {
    const claim = await signed(approval);
    expect(authenticate(claim, ctx(), true)).toEqual({ verified: true, nonce: claim.signature.nonce });
  });

  it.each([
    ['unsigned', async () => approval, /^unsigned: the plan lists approver keys/],
    [
      'forged (signed by another key)',
      async () => signed(approval, tom.sign),
      /bad signature: signed with another key than the plan lists/,
    ],
    ['by a person without a key', async () => signed({ ...approval, person: 'mallory' }), /mallory has no key/],
    [
      'for another gate than it claims',
      async () => ({ ...(await signed(approval)), gate: 'cutover' }),
      /bad signature: the signature does not match/,
    ],
    [
      'for another migration',
      async () => signed(approval, tina.sign, { migrationId: 'other-1' }),
      /signed for migration other-1/,
    ],
    [
      'for another plan',
      async () => signed(approval, tina.sign, { planDigest: planDigest({ name: 'edited' }) }),
      /signed for another plan/,
    ],
    [
      'with a comment changed after signing',
      async () => ({ ...(await signed(approval)), text: 'LGTM' }),
      /bad signature/,
    ],
  ])('refuses an approval %s', async (_name, make, reason) => {
    const r = authenticate(await make(), ctx(), true);
    expect(r).toEqual({ refused: expect.stringMatching(reason) });
  });

  it('refuses the same signed request the second time (replay)', async () => {
    const claim = await signed(approval);
    const first = authenticate(claim, ctx(), true);
    expect(first).toMatchObject({ verified: true });
    expect(authenticate(claim, ctx({ nonces: [claim.signature.nonce] }), true)).toEqual({
      refused: expect.stringMatching(/^replayed/),
    });
  });

  it('never refuses an operator request for its signature, but says it is not verified', async () => {
    const rollback = { decision: 'rollback', person: 'olga', text: 'error rate up' };
    expect(authenticate(rollback, ctx(), false)).toEqual({
      verified: false,
      reason: expect.stringMatching(/^unsigned/),
    });
    const forged = await signed({ ...rollback, person: 'tina' }, tom.sign);
    expect(authenticate(forged, ctx(), false)).toMatchObject({
      verified: false,
      reason: expect.stringMatching(/bad signature/),
    });
    expect(authenticate(await signed({ ...rollback, person: 'tina' }), ctx(), false)).toMatchObject({ verified: true });
  });

  it('treats every request as not authenticated when the plan lists no keys', () => {
    expect(authenticate(approval, ctx({ keys: undefined }), true)).toEqual({ verified: null });
  });
});

describe('the ledger hash chain, verified from its rows alone', () => {
  const tina = memoryKey('tina');
  async function ledger(): Promise<LedgerEntry[]> {
    const claim = { decision: 'approve', person: 'tina', gate: 'go', role: 'technical-lead' };
    const signature = await signRequest(claim, { migrationId: MIGRATION, planDigest: DIGEST }, tina.sign);
    const entries = [
      {
        kind: 'started',
        detail: 'migration billing started',
        data: { planDigest: DIGEST, keys: { tina: tina.publicKey } },
      },
      { kind: 'phase', detail: 'gate:go' },
      { kind: 'approved', detail: 'technical-lead tina approved gate go', data: { verified: true, claim, signature } },
      { kind: 'gate-evaluation', detail: 'traffic 10%: error-rate=0.001', data: { readings: [{ value: 0.001 }] } },
    ];
    let prev = '';
    return entries.map((e, seq) => {
      const row = chained({ seq, at: `2026-12-01T09:00:0${seq}.000Z`, ...e }, prev);
      prev = row.hash!;
      return row;
    });
  }

  it('passes an untouched ledger and re-verifies its signatures', async () => {
    expect(verifyLedger(MIGRATION, await ledger())).toEqual({ ok: true, rows: 4, signatures: 1 });
  });

  it.each([
    [
      'a detail edited',
      (rows: LedgerEntry[]) => (rows[3]!.detail = 'traffic 10%: error-rate=0.0001'),
      3,
      /content does not match/,
    ],
    ['a row removed', (rows: LedgerEntry[]) => rows.splice(1, 1), 2, /expected sequence number 1: a row is missing/],
    [
      'a row rewritten with a fresh hash',
      (rows: LedgerEntry[]) => (rows[1] = chained({ ...rows[1]!, detail: 'gate:cutover' }, rows[0]!.hash!)),
      2,
      /does not link/,
    ],
    [
      'an approval attributed to someone else',
      (rows: LedgerEntry[]) => {
        const d = rows[2]!.data as { claim: { role: string } };
        d.claim.role = 'product-owner';
      },
      2,
      /content does not match/,
    ],
  ])('names the first row that does not verify: %s', async (_name, tamper, seq, reason) => {
    const rows = await ledger();
    tamper(rows);
    expect(verifyLedger(MIGRATION, rows)).toMatchObject({
      ok: false,
      problem: { seq, reason: expect.stringMatching(reason) },
    });
  });
});

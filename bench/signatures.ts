import { performance } from 'node:perf_hooks';
import { memoryKey, signRequest } from '../lib/signing';
import { authenticate, claimFor } from '../model/auth';
import { planDigest } from '../model/signatures';
import { loadPlan } from '../client/plan';
import path from 'node:path';
import { projectRoot } from '../lib/config';
import { quantile, type Figures } from './lib';

/**
 * What checking one signed approval costs the workflow: `authenticate` (SSHSIG parse, SHA-512, Ed25519 verify, the
 * nonce, migration and plan checks) on 300 distinct signed requests, after 30 to warm up; and the plan digest of the
 * production plan (computed once per migration start and replay). The same pure code runs in the workflow sandbox.
 */
export async function signatureBench(): Promise<Figures> {
  const key = memoryKey('tina');
  const plan = loadPlan(path.join(projectRoot, 'plans', 'production.example.yaml'));
  const digests: number[] = [];
  let digest = '';
  for (let i = 0; i < 50; i++) {
    const t = performance.now();
    digest = planDigest(plan);
    digests.push(performance.now() - t);
  }
  const target = { migrationId: 'bench-signatures', planDigest: digest };
  const claim = claimFor({ kind: 'approve', args: { gate: 'go', role: 'technical-lead', approver: 'tina' } });
  const requests = await Promise.all(
    Array.from({ length: 330 }, async () => ({ ...claim, signature: await signRequest(claim, target, key.sign) })),
  );
  const ctx = { ...target, keys: { tina: key.publicKey }, nonces: [] as string[], nowMs: Date.now() };
  const times: number[] = [];
  for (const [i, r] of requests.entries()) {
    const t = performance.now();
    const a = authenticate(r, ctx, true);
    const ms = performance.now() - t;
    if (!('verified' in a) || a.verified !== true) throw new Error(`request ${i} did not verify`);
    if (i >= 30) times.push(ms);
  }
  const r2 = (x: number | null) => (x === null ? null : Math.round(x * 100) / 100);
  return {
    signature_verify_p50_ms: r2(quantile(times, 0.5)),
    signature_verify_p95_ms: r2(quantile(times, 0.95)),
    plan_digest_ms: r2(quantile(digests.slice(10), 0.5)),
  };
}

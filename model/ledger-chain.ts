/**
 * The measurement ledger as a hash chain: each row carries the hash of the row before it and its own, SHA-256 of its
 * canonical content. The workflow builds the chain as it writes; `migrate audit verify` re-checks it, and every signed
 * approval in it, from PostgreSQL alone. Pure and workflow-safe.
 */
import { signedFieldsOf, type RequestClaim } from './auth';
import type { LedgerEntry } from './status';
import type { RequestSignature } from './signatures';
import { canonicalJson, sha256Hex, signedText, verifySshSignature } from './signatures';

/** The hash of a ledger row: its content and the hash of the row before it. */
export function ledgerHash(row: Omit<LedgerEntry, 'hash'>): string {
  const { seq, at, kind, detail, actor, data, prevHash } = row;
  return sha256Hex(canonicalJson({ seq, at, kind, detail, actor, data, prevHash }));
}

/** A ledger row linked to the one before: `hash` covers its content and `prevHash`, so an edited row breaks the chain. */
export function chained(entry: Omit<LedgerEntry, 'prevHash' | 'hash'>, prevHash: string): LedgerEntry {
  return { ...entry, prevHash, hash: ledgerHash({ ...entry, prevHash }) };
}

/** What the `started` row records: the plan's digest and the keys its approvals are checked against. */
export interface StartedData {
  planDigest: string;
  keys?: Record<string, string>;
}

/** What an approval's or rejection's row records: the claim as sent, its signature, and whether it verified. */
export interface SignedRowData {
  verified: boolean | null;
  claim?: Omit<RequestClaim, 'signature'>;
  signature?: RequestSignature;
}

/** The outcome of a verification: rows checked, signatures re-verified, and the first row that does not verify. */
export interface LedgerVerification {
  ok: boolean;
  rows: number;
  signatures: number;
  problem?: { seq: number; reason: string };
}

/** Why one signed row does not verify against the plan recorded at the start, or nothing. */
function signatureProblem(row: LedgerEntry, migrationId: string, started: StartedData | undefined): string | undefined {
  const d = row.data as SignedRowData;
  if (!d.claim || !d.signature) return 'marked verified but carries no signed request';
  const key = started?.keys?.[d.claim.person];
  if (!key) return `no key for ${d.claim.person} in the plan recorded at the start`;
  const check = verifySshSignature(d.signature.sshsig, key, signedText(signedFieldsOf(d.claim, d.signature)));
  if (!check.ok) return `signature of ${d.claim.person}: ${check.reason}`;
  if (d.signature.migrationId !== migrationId) return `signed for migration ${d.signature.migrationId}`;
  if (d.signature.planDigest !== started?.planDigest) return 'signed for another plan than the one recorded';
  return undefined;
}

/**
 * Re-checks a migration's ledger: sequence numbers without gaps, every row's hash over its content, every row linked
 * to the one before, and every signature marked verified against the key the plan recorded at the start. Rows written
 * before the chain existed (no hash) are accepted only before the first chained row.
 */
export function verifyLedger(migrationId: string, rows: LedgerEntry[]): LedgerVerification {
  let prev: LedgerEntry | undefined;
  let started: StartedData | undefined;
  let signatures = 0;
  const fail = (seq: number, reason: string) => ({
    ok: false,
    rows: rows.length,
    signatures,
    problem: { seq, reason },
  });
  for (const [i, row] of rows.entries()) {
    if (row.seq !== i) return fail(row.seq, `expected sequence number ${i}: a row is missing`);
    if (row.kind === 'started' && row.data) started = row.data as StartedData;
    if (row.hash === undefined) {
      if (prev?.hash !== undefined) return fail(row.seq, 'has no hash although the rows before it do');
      prev = row;
      continue;
    }
    if (ledgerHash(row) !== row.hash)
      return fail(row.seq, 'its content does not match its hash (changed after it was written)');
    if (row.prevHash !== (prev?.hash ?? '')) return fail(row.seq, 'does not link to the row before it');
    const signed = row.data as SignedRowData | undefined;
    if (signed?.verified === true) {
      const problem = signatureProblem(row, migrationId, started);
      if (problem) return fail(row.seq, problem);
      signatures++;
    }
    prev = row;
  }
  return { ok: true, rows: rows.length, signatures };
}

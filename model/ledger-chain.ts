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

/** The SSHSIG namespace a worker seals ledger heads in (never an approval's: one cannot pass for the other). */
export const LEDGER_SEAL_NAMESPACE = 'migrate-ledger';

/** What a worker seals after each append: how many rows the migration's ledger has, and the newest row's hash. */
export interface LedgerSeal {
  rows: number;
  head: string;
  /** `ssh-keygen -Y sign -n migrate-ledger` over `ledgerSealText` with the worker's ledger key. */
  sshsig: string;
}

/** The exact text a worker signs for a ledger's head. */
export const ledgerSealText = (migrationId: string, table: string, rows: number, head: string): string =>
  `${LEDGER_SEAL_NAMESPACE} v1\n${canonicalJson({ head, migrationId, rows, table })}\n`;

/**
 * Why a ledger's rows are not the rows the worker sealed, or undefined: the seal must verify with the key the plan
 * names (`ledger.sealKey`), and the rows must be as many as it says and end in its head. Rows cut from the end, added,
 * or rewritten (even with the chain rebuilt after them) no longer match a seal that only the worker's key can make.
 */
export function sealProblem(
  migrationId: string,
  table: string,
  rows: LedgerEntry[],
  seal: LedgerSeal | undefined,
  sealKey: string,
): string | undefined {
  if (!seal)
    return 'has no seal from the worker, though the plan names a ledger.sealKey (rows or the seal were removed)';
  const text = ledgerSealText(migrationId, table, seal.rows, seal.head);
  const check = verifySshSignature(seal.sshsig, sealKey, text, LEDGER_SEAL_NAMESPACE);
  if (!check.ok) return `has a seal that does not verify with the plan's ledger.sealKey: ${check.reason}`;
  const head = rows.at(-1)?.hash ?? '';
  if (rows.length !== seal.rows || head !== seal.head)
    return `is not what the worker sealed: ${seal.rows} rows ending in ${seal.head.slice(0, 12)}… sealed, ${rows.length} rows ending in ${head.slice(0, 12) || 'nothing'}… found (rows cut from the end, added or rewritten)`;
  return undefined;
}

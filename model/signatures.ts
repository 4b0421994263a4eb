/**
 * Signed approvals, checked inside the workflow: pure JavaScript (noble's audited Ed25519 and SHA-2), deterministic,
 * no Node crypto. A person signs with the OpenSSH key they already have (`ssh-keygen -Y sign -n migrate-approval`, or
 * through ssh-agent); the plan lists their public key as the `ssh-ed25519 AAAA…` line; the workflow verifies the
 * SSHSIG signature against that key over a canonical text of the request, which names the migration, the gate, the
 * role, the person, the decision, a nonce, the time and the plan's digest.
 */
import { ed25519 } from '@noble/curves/ed25519';
import { sha256 } from '@noble/hashes/sha256';
import { sha512 } from '@noble/hashes/sha512';

/** The SSHSIG namespace approvals are signed in (`ssh-keygen -Y sign -n migrate-approval`). */
export const SIGNATURE_NAMESPACE = 'migrate-approval';

/** What a signed request proves: these fields, as the person signed them. */
export interface SignedFields {
  migrationId: string;
  /** `approve`, `reject`, or an operator request (`rollback`, `pause` …). */
  decision: string;
  gate?: string;
  role?: string;
  /** Who signs: the approver, or the operator (`requestedBy`). */
  person: string;
  /** The comment of an approval, the reason of a rejection or request. */
  text?: string;
  /** Unique per request: the same signed request twice is refused the second time. */
  nonce: string;
  /** When it was signed (ISO 8601), as the signer's clock says. */
  signedAt: string;
  /** SHA-256 of the validated plan the migration runs (so a person approves this plan). */
  planDigest: string;
  /** When the gate decided on opened (workflow time): the signature is good for that opening of that gate only. */
  gateOpenedAt?: string;
}

/** A request's signature: what was signed besides the request's own fields, and the armored SSHSIG. */
export interface RequestSignature {
  /** The migration the person signed for (a signature for another one is refused). */
  migrationId: string;
  nonce: string;
  signedAt: string;
  planDigest: string;
  /** A gate decision: the `openedAt` of the gate as the status showed it (absent on operator requests). */
  gateOpenedAt?: string;
  /** `-----BEGIN SSH SIGNATURE----- …` as `ssh-keygen -Y sign` writes it. */
  sshsig: string;
}

/** JSON with keys sorted at every level and undefined left out: the same value gives the same text everywhere. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** UTF-8 bytes of a string (the workflow sandbox is not guaranteed a TextEncoder). */
export function utf8(text: string): Uint8Array {
  const out: number[] = [];
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return Uint8Array.from(out);
}

const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

/** SHA-256 of a text, lower-case hex. */
export const sha256Hex = (text: string): string => hex(sha256(utf8(text)));

/** The digest of a validated plan: SHA-256 of its canonical JSON (the CLI and the workflow compute the same). */
export const planDigest = (plan: unknown): string => sha256Hex(canonicalJson(plan));

/** The exact text a person signs for a request. */
export function signedText(fields: SignedFields): string {
  return `${SIGNATURE_NAMESPACE} v1\n${canonicalJson(fields)}\n`;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Standard base64 (padding and whitespace allowed); undefined when it is not base64. */
export function base64Decode(text: string): Uint8Array | undefined {
  const clean = text.replace(/\s+/g, '').replace(/=+$/, '');
  if (!/^[A-Za-z0-9+/]*$/.test(clean) || clean.length % 4 === 1) return undefined;
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of clean) {
    value = (value << 6) | B64.indexOf(ch);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >> bits) & 0xff);
    }
  }
  return Uint8Array.from(out);
}

/** Reads SSH wire-format fields (RFC 4251 strings and uint32s) from a byte array. */
class WireReader {
  private at = 0;
  constructor(private readonly bytes: Uint8Array) {}
  get done(): boolean {
    return this.at === this.bytes.length;
  }
  bytesOf(n: number): Uint8Array {
    if (this.at + n > this.bytes.length) throw new Error('truncated');
    const out = this.bytes.slice(this.at, this.at + n);
    this.at += n;
    return out;
  }
  uint32(): number {
    const b = this.bytesOf(4);
    return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  }
  string(): Uint8Array {
    return this.bytesOf(this.uint32());
  }
  text(): string {
    return String.fromCharCode(...this.string());
  }
}

const wireString = (bytes: Uint8Array): Uint8Array => {
  const n = bytes.length;
  return Uint8Array.from([(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255, ...bytes]);
};
const concat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(parts.flatMap((p) => Array.from(p)));
const equalBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/** The raw 32-byte key of an OpenSSH `ssh-ed25519 AAAA… [comment]` line, or why it is not one. */
export function parseEd25519PublicKey(line: string): Uint8Array | string {
  const [type, body] = line.trim().split(/\s+/);
  if (type !== 'ssh-ed25519' || !body) return 'expected an OpenSSH "ssh-ed25519 AAAA…" public key line';
  const blob = base64Decode(body);
  if (!blob) return 'the key is not base64';
  try {
    const r = new WireReader(blob);
    const inner = r.text();
    const key = r.string();
    if (inner !== 'ssh-ed25519' || key.length !== 32 || !r.done) return 'the key blob is not an Ed25519 key';
    return weakKeyProblem(key) ?? key;
  } catch {
    return 'the key blob is truncated';
  }
}

/**
 * Why a 32-byte Ed25519 public key must not be trusted, or undefined: a key that is no point of the curve, or a point of
 * small order (the identity among them). For such a key, signatures that verify can be made without any private key
 * (the identity key verifies every message with R = identity, s = 0), so a plan naming one lets anyone sign.
 */
export function weakKeyProblem(key: Uint8Array): string | undefined {
  try {
    if (ed25519.ExtendedPoint.fromHex(key).isSmallOrder())
      return 'a small-order Ed25519 key (such as the identity): anyone can make signatures it verifies';
  } catch {
    return 'the key is not a point of the Ed25519 curve';
  }
  return undefined;
}

/** The parts of an armored SSHSIG signature (PROTOCOL.sshsig), or why it is not one. */
function parseSshsig(
  armored: string,
): { publicKey: Uint8Array; namespace: string; reserved: Uint8Array; hash: string; signature: Uint8Array } | string {
  const m = /-----BEGIN SSH SIGNATURE-----([\s\S]*?)-----END SSH SIGNATURE-----/.exec(armored);
  const blob = m && base64Decode(m[1]!);
  if (!blob) return 'not an armored SSH signature';
  try {
    const r = new WireReader(blob);
    if (String.fromCharCode(...r.bytesOf(6)) !== 'SSHSIG' || r.uint32() !== 1) return 'not an SSHSIG v1 signature';
    const pk = new WireReader(r.string());
    if (pk.text() !== 'ssh-ed25519') return 'not an Ed25519 signature';
    const publicKey = pk.string();
    const namespace = r.text();
    const reserved = r.string();
    const hash = r.text();
    const sig = new WireReader(r.string());
    if (sig.text() !== 'ssh-ed25519') return 'not an Ed25519 signature';
    return { publicKey, namespace, reserved, hash, signature: sig.string() };
  } catch {
    return 'the signature is truncated';
  }
}

/**
 * Verifies an SSHSIG signature of `message` made with the key of `publicKeyLine` in `namespace`; the reason when it
 * does not verify (another key, another namespace, a forged or altered message).
 */
export function verifySshSignature(
  armored: string,
  publicKeyLine: string,
  message: string,
  namespace = SIGNATURE_NAMESPACE,
): { ok: true } | { ok: false; reason: string } {
  const key = parseEd25519PublicKey(publicKeyLine);
  if (typeof key === 'string') return { ok: false, reason: `the plan's key: ${key}` };
  const sig = parseSshsig(armored);
  if (typeof sig === 'string') return { ok: false, reason: sig };
  if (!equalBytes(sig.publicKey, key)) return { ok: false, reason: 'signed with another key than the plan lists' };
  if (sig.namespace !== namespace)
    return { ok: false, reason: `signed for namespace ${sig.namespace}, not ${namespace}` };
  const digest = sig.hash === 'sha512' ? sha512(utf8(message)) : sig.hash === 'sha256' ? sha256(utf8(message)) : null;
  if (!digest) return { ok: false, reason: `unsupported hash ${sig.hash}` };
  const signed = concat(
    utf8('SSHSIG'),
    wireString(utf8(sig.namespace)),
    wireString(sig.reserved),
    wireString(utf8(sig.hash)),
    wireString(digest),
  );
  let ok = false;
  try {
    ok = ed25519.verify(sig.signature, signed, key);
  } catch {
    ok = false;
  }
  return ok ? { ok: true } : { ok: false, reason: 'the signature does not match the request' };
}

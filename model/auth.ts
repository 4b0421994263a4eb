/**
 * Who sent a request, as the workflow can prove it: pure and deterministic (signatures are checked with noble's
 * Ed25519 inside the workflow). A plan with `approvals.keys` needs every approval and rejection, and every request that
 * moves the migration forward (resume, retry, fail), signed by the key of the person it names; the others (pause, abort,
 * rollback: the safe direction) are never refused for want of a signature, but the audit says whether their sender
 * was verified.
 */
import { ownValue, REQUESTS, type MigrationRequest } from './requests';
import type { RequestSignature, SignedFields } from './signatures';
import { signedText, verifySshSignature } from './signatures';

/** How far ahead of the workflow's clock a signature's time may be (clock skew between a laptop and the server). */
const MAX_CLOCK_SKEW_MS = 5 * 60_000;

/** What a request says about itself, besides its signature. */
export interface RequestClaim {
  decision: string;
  person: string;
  gate?: string;
  role?: string;
  text?: string;
  signature?: RequestSignature;
}

/** What a request claims, without its signature: what the sender signs, and what a signed ledger row records. */
export type UnsignedClaim = Omit<RequestClaim, 'signature'>;

/**
 * The claim of a request, read from its argument: the one place that says which field is the person, the gate, the
 * role and the text. The signers (CLI, demo, drivers) and the verifier (the workflow) all build it here, so the bytes
 * signed and the bytes verified cannot drift apart.
 */
export function claimFor(request: MigrationRequest): UnsignedClaim {
  const decision = request.kind;
  if (request.kind === 'approve' || request.kind === 'reject') {
    const { approver, gate, role } = request.args;
    const text = request.kind === 'approve' ? request.args.comment : request.args.reason;
    return {
      decision,
      person: approver,
      ...(gate !== undefined ? { gate } : {}),
      role,
      ...(text !== undefined ? { text } : {}),
    };
  }
  const { requestedBy, reason } = request.args;
  return { decision, person: requestedBy, ...(reason !== undefined ? { text: reason } : {}) };
}

/** What the workflow checks a signature against. */
export interface AuthContext {
  migrationId: string;
  planDigest: string;
  /** The plan's approver keys (absent: approvals are not authenticated). */
  keys?: Record<string, string>;
  /** Nonces of signed requests already accepted. */
  nonces: readonly string[];
  nowMs: number;
  /**
   * Signatures that mean it (migrations started since `strict-signatures`): good for `windowMs` after they were
   * signed, and a gate decision only for the opening of the gate that is open now (absent: no gate is open).
   */
  strict?: { windowMs: number; openGate?: { name: string; openedAt?: string } };
}

/** The outcome: who is verified (`null`: the plan has no keys), or why the request is refused. */
export type Authentication =
  { verified: boolean | null; nonce?: string; reason?: string } | { refused: string; verified?: undefined };

/** The fields the person signed, as the request claims them. */
export function signedFieldsOf(claim: RequestClaim, signature: RequestSignature): SignedFields {
  return {
    migrationId: signature.migrationId,
    decision: claim.decision,
    ...(claim.gate !== undefined ? { gate: claim.gate } : {}),
    ...(claim.role !== undefined ? { role: claim.role } : {}),
    person: claim.person,
    ...(claim.text !== undefined ? { text: claim.text } : {}),
    nonce: signature.nonce,
    signedAt: signature.signedAt,
    planDigest: signature.planDigest,
    ...(signature.gateOpenedAt !== undefined ? { gateOpenedAt: signature.gateOpenedAt } : {}),
  };
}

/** A gate decision (approve, reject): signed for one gate, and under `strict` for its current opening. */
const decidesGate = (decision: string): boolean => ownValue(REQUESTS, decision)?.sender === 'approver';

const minutes = (ms: number) => (ms % 60_000 === 0 ? `${ms / 60_000}m` : `${ms / 1000}s`);

/** Why a signature is stale or meant for another gate or another opening of it, under `strict`; else undefined. */
function strictProblem(claim: RequestClaim, signature: RequestSignature, signedMs: number, ctx: AuthContext) {
  const { strict } = ctx;
  if (!strict) return undefined;
  if (signedMs < ctx.nowMs - strict.windowMs)
    return `expired: signed at ${signature.signedAt}, more than ${minutes(strict.windowMs)} ago (approvals.signatureWindow): sign it again`;
  if (!decidesGate(claim.decision)) return undefined;
  const open = strict.openGate;
  if (!open) return 'no gate is open';
  if (claim.gate !== open.name) return `signed for gate ${claim.gate}, but the open gate is ${open.name}`;
  if (signature.gateOpenedAt !== open.openedAt)
    return signature.gateOpenedAt === undefined
      ? `not signed for this opening of gate ${open.name} (opened at ${open.openedAt}): sign it again now it is open`
      : `signed for gate ${open.name} opened at ${signature.gateOpenedAt}, not for its opening at ${open.openedAt}`;
  return undefined;
}

/** Why a signature does not prove this request for this migration and plan, or nothing when it does. */
function signatureProblem(claim: RequestClaim, signature: RequestSignature, key: string, ctx: AuthContext) {
  if (!isSignature(signature)) return 'malformed signature (expected migrationId, nonce, signedAt, planDigest, sshsig)';
  const check = verifySshSignature(signature.sshsig, key, signedText(signedFieldsOf(claim, signature)));
  if (!check.ok) return `bad signature: ${check.reason}`;
  if (signature.migrationId !== ctx.migrationId)
    return `signed for migration ${signature.migrationId}, not ${ctx.migrationId}`;
  if (signature.planDigest !== ctx.planDigest)
    return `signed for another plan (sha256 ${signature.planDigest.slice(0, 12)}…), not this migration's (sha256 ${ctx.planDigest.slice(0, 12)}…)`;
  if (ctx.nonces.includes(signature.nonce))
    return `replayed: a request signed with nonce ${signature.nonce} was already accepted`;
  const at = Date.parse(signature.signedAt);
  if (!Number.isFinite(at)) return `signedAt ${JSON.stringify(signature.signedAt)} is not a time`;
  if (at > ctx.nowMs + MAX_CLOCK_SKEW_MS) return `signed in the future (${signature.signedAt})`;
  return strictProblem(claim, signature, at, ctx);
}

const isSignature = (s: RequestSignature): boolean =>
  !!s &&
  typeof s === 'object' &&
  (['migrationId', 'nonce', 'signedAt', 'planDigest', 'sshsig'] as const).every(
    (k) => typeof s[k] === 'string' && s[k].length > 0,
  ) &&
  (s.gateOpenedAt === undefined || typeof s.gateOpenedAt === 'string');

/**
 * Authenticates a request. `required`: refuse it unless signed by the person's key (approvals and rejections of a
 * plan with keys); otherwise an unsigned or badly signed request goes on, recorded as not verified.
 */
export function authenticate(claim: RequestClaim, ctx: AuthContext, required: boolean): Authentication {
  if (!ctx.keys || Object.keys(ctx.keys).length === 0) return { verified: null };
  const unverified = (reason: string): Authentication => (required ? { refused: reason } : { verified: false, reason });
  const key = ownValue(ctx.keys, claim.person);
  if (!claim.signature)
    return unverified(
      `unsigned: the plan lists approver keys, so a ${claim.decision} must be signed (migrate ${claim.decision} --key …)`,
    );
  if (!key) return unverified(`${claim.person} has no key in the plan`);
  if (required && decidesGate(claim.decision) && claim.gate === undefined)
    return { refused: 'a signed decision names its gate (--gate)' };
  const problem = signatureProblem(claim, claim.signature, key, ctx);
  return problem ? unverified(problem) : { verified: true, nonce: claim.signature.nonce };
}

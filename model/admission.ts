/**
 * Who may start a migration or a rollback by hand, as the worker proves it: a start proof is an OpenSSH SSHSIG
 * signature (`ssh-keygen -Y sign -n migrate-start`) over the workflow ID, the migration ID, the plan's digest and the
 * time, checked against the worker's own `allowed_signers` trust file. Pure and workflow-safe: the worker's local
 * activity verifies with it, the workflow uses the plan rules (undo records, scheduled jobs) directly.
 */
import type { JobSpec, Plan } from './plan';
import { canonicalJson, parseEd25519PublicKey, verifySshSignature } from './signatures';

/** The SSHSIG namespaces of the two kinds of start (`namespaces="…"` in the trust file). */
export const ADMISSION_NAMESPACES = { start: 'migrate-start', rollback: 'migrate-rollback' } as const;
export type StartKind = keyof typeof ADMISSION_NAMESPACES;

/** How old a start signature may be when its workflow starts (a printed start command is not a bearer token). */
export const MAX_START_AGE_MS = 15 * 60_000;
/** How far ahead of the server's start time a signature may be (a laptop's clock). */
export const START_CLOCK_SKEW_MS = 5 * 60_000;

/** A start signature: what was signed, and the armored SSHSIG. Not secret: it travels in the workflow input. */
export interface StartProof {
  kind: StartKind;
  /** The workflow the signer meant to start (the migration's ID, or its rollback's). */
  workflowId: string;
  migrationId: string;
  /** SHA-256 of the validated plan (model/signatures `planDigest`). */
  planDigest: string;
  /** When it was signed (ISO 8601). */
  signedAt: string;
  /** The principal of the trust file who signed (the `--as` of `migrate start` / `migrate rollback`). */
  signer: string;
  sshsig: string;
}

/** The exact text a starter signs. */
export function startText(p: Omit<StartProof, 'sshsig'>): string {
  const fields = {
    kind: p.kind,
    workflowId: p.workflowId,
    migrationId: p.migrationId,
    planDigest: p.planDigest,
    signedAt: p.signedAt,
    signer: p.signer,
  };
  return `${ADMISSION_NAMESPACES[p.kind]} v1\n${canonicalJson(fields)}\n`;
}

/** One line of an `allowed_signers` file: principal patterns, the namespaces it may sign in (all when absent), key. */
export interface TrustEntry {
  principals: string[];
  namespaces?: string[];
  key: string;
  line: number;
}

/** Splits an allowed_signers line into fields, keeping a quoted option value (`namespaces="a,b"`) whole. */
function fieldsOf(line: string): string[] {
  return line.match(/(?:[^\s"]+|"[^"]*")+/g) ?? [];
}

/** Options before the key: only `namespaces="…"` (cert-authority, valid-after/before are refused by name). */
function optionsOf(text: string, n: number): string[] | string {
  let namespaces: string[] | undefined;
  for (const opt of text.split(/,(?=(?:[^"]*"[^"]*")*[^"]*$)/)) {
    const m = /^namespaces="([^"]*)"$/i.exec(opt);
    if (!m) return `line ${n}: unsupported option ${JSON.stringify(opt)} (only namespaces="…" is supported)`;
    namespaces = m[1]!.split(',').map((s) => s.trim());
  }
  return namespaces ?? [];
}

/**
 * Parses an OpenSSH `allowed_signers` text (`principals [namespaces="…"] ssh-ed25519 AAAA… [comment]`, `#` comments):
 * the entries, and one problem per line that is not such a line.
 */
export function parseAllowedSigners(text: string): { entries: TrustEntry[]; problems: string[] } {
  const entries: TrustEntry[] = [];
  const problems: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const n = i + 1;
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const f = fieldsOf(line);
    const keyAt = f.findIndex((x) => x.startsWith('ssh-'));
    if (keyAt < 1 || keyAt > 2 || !f[keyAt + 1])
      return void problems.push(`line ${n}: expected "principals [namespaces=\\"…\\"] ssh-ed25519 AAAA…"`);
    const keyLine = `${f[keyAt]} ${f[keyAt + 1]}`;
    const key = parseEd25519PublicKey(keyLine);
    if (typeof key === 'string') return void problems.push(`line ${n}: ${key}`);
    const options = keyAt === 2 ? optionsOf(f[1]!, n) : [];
    if (typeof options === 'string') return void problems.push(options);
    entries.push({
      principals: f[0]!.split(','),
      ...(options.length ? { namespaces: options } : {}),
      key: keyLine,
      line: n,
    });
  });
  return { entries, problems };
}

/** An OpenSSH principal pattern (`*` and `?` wildcards) against a name. */
export function principalMatches(pattern: string, name: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`).test(name);
}

/** What the worker checks a start proof against: the run as the server started it, and its trust file. */
export interface AdmissionContext {
  kind: StartKind;
  workflowId: string;
  migrationId: string;
  /** The digest of the plan in the workflow's input. */
  planDigest: string;
  /** The server's start time of the workflow (its chain's); absent: no time window (a carried soak run, a job). */
  startedAtMs?: number;
  /** Who the input says started it (`startedBy` / `requestedBy`): must be the signer. */
  claimedBy?: string;
  trust: TrustEntry[];
}

/** Why a start proof does not admit this run, or undefined when it does. */
export function admissionProblem(proof: StartProof | undefined, ctx: AdmissionContext): string | undefined {
  const ns = ADMISSION_NAMESPACES[ctx.kind];
  if (!proof || typeof proof !== 'object' || typeof proof.sshsig !== 'string')
    return `unsigned: a ${ctx.kind} must be signed by a starter the worker trusts (migrate ${ctx.kind} --key …, namespace ${ns})`;
  if (proof.kind !== ctx.kind) return `signed for a ${String(proof.kind)}, not a ${ctx.kind}`;
  if (proof.workflowId !== ctx.workflowId) return `signed for workflow ${proof.workflowId}, not ${ctx.workflowId}`;
  if (proof.migrationId !== ctx.migrationId) return `signed for migration ${proof.migrationId}, not ${ctx.migrationId}`;
  if (proof.planDigest !== ctx.planDigest)
    return `signed for another plan (sha256 ${String(proof.planDigest).slice(0, 12)}…), not this input's (sha256 ${ctx.planDigest.slice(0, 12)}…)`;
  if (ctx.claimedBy !== undefined && proof.signer !== ctx.claimedBy)
    return `signed by ${proof.signer}, but the input says ${ctx.claimedBy}`;
  const timeProblem = ctx.startedAtMs === undefined ? undefined : tooOld(proof.signedAt, ctx.startedAtMs);
  if (timeProblem) return timeProblem;
  const candidates = ctx.trust.filter(
    (e) => e.principals.some((p) => principalMatches(p, proof.signer)) && (!e.namespaces || e.namespaces.includes(ns)),
  );
  if (!candidates.length)
    return `${proof.signer} may not ${ctx.kind} migrations: not in the worker's trust file for ${ns}`;
  const text = startText(proof);
  const reasons = candidates.map((e) => verifySshSignature(proof.sshsig, e.key, text, ns));
  if (reasons.some((r) => r.ok)) return undefined;
  const why = reasons.map((r) => (r.ok ? '' : r.reason)).join('; ');
  return `bad signature by ${proof.signer}: ${why}`;
}

/** Why a signing time does not fit a start at `startedAtMs`, or undefined. */
function tooOld(signedAt: string, startedAtMs: number): string | undefined {
  const at = Date.parse(signedAt);
  if (!Number.isFinite(at)) return `signedAt ${JSON.stringify(signedAt)} is not a time`;
  if (at > startedAtMs + START_CLOCK_SKEW_MS) return `signed in the future (${signedAt})`;
  if (at < startedAtMs - MAX_START_AGE_MS)
    return `signed at ${signedAt}, more than ${MAX_START_AGE_MS / 60_000} minutes before the workflow started: sign again`;
  return undefined;
}

const same = (a: unknown, b: unknown) => canonicalJson(a) === canonicalJson(b);

/** The same job as the scheduler sees it: its name (which marks its line or schedule), schedule and command. */
export function sameJob(a: unknown, b: Pick<JobSpec, 'name' | 'schedule' | 'command'>): boolean {
  const j = (a ?? {}) as Partial<JobSpec>;
  return same([j.name, j.schedule, j.command], [b.name, b.schedule, b.command]);
}

/** Why a scheduled run's job is not the plan's unified job on the plan's commands queue, or undefined. */
export function scheduledJobProblem(
  job: JobSpec,
  runOn: string | undefined,
  plan: Plan,
  queue?: string,
): string | undefined {
  if (!sameJob(job, plan.unifiedJob)) return `job ${JSON.stringify(job?.name)} is not the plan's unified job`;
  if (runOn !== queue) return `runOn ${JSON.stringify(runOn)} is not the plan's commands queue (${queue ?? 'central'})`;
  return undefined;
}

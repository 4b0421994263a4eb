/**
 * The rules of a migration as pure functions: who may sign a gate, which operator requests fit the moment, how
 * metric readings count toward a gate's limits. No workflow API, no I/O: tested in milliseconds without a server
 * (`tests/unit/rules.test.ts`); the handlers and gates call them and record what they decide.
 */
import { isFinalPhase, type GateName, type Phase } from './constants';
import type {
  ApproveArgs,
  GateState,
  MetricReading,
  MigrationStatus,
  OperatorArgs,
  FailureCount,
  RejectArgs,
} from './status';
import type { GateSpec, MetricSpec, Plan } from './plan';
import { ownValue, REQUESTS, type GateDecision, type OperatorRequest } from './requests';

/** A request the workflow refuses: the audit entry's detail, and who is named as its actor. */
export interface Refusal {
  detail: string;
  actor?: string;
}

/** The gate that waits for signatures now, if any. */
export function openGateOf(gates: MigrationStatus['gates']): GateState | undefined {
  return Object.values(gates).find((g) => g?.open);
}

/** A new gate's state as it opens (quorums listed only for roles that need more than one approver). */
export function newGate(name: GateName, spec: GateSpec, openedAt: string): GateState {
  const quorum = spec.roles.filter((r) => (r.required ?? 1) > 1);
  return {
    name,
    open: true,
    requiredRoles: spec.roles.map((r) => r.role),
    signatures: [],
    openedAt,
    ...(quorum.length ? { required: Object.fromEntries(quorum.map((r) => [r.role, r.required!])) } : {}),
  };
}

/** Approvers a role of this gate needs (1 unless the plan sets a quorum). */
export const requiredFor = (gate: GateState, role: string): number => ownValue(gate.required, role) ?? 1;

/** Signatures a role has so far. */
export const signedFor = (gate: GateState, role: string): number =>
  gate.signatures.filter((s) => s.role === role).length;

/** Roles that still miss signatures. */
export function missingRoles(gate: GateState): string[] {
  return gate.requiredRoles.filter((r) => signedFor(gate, r) < requiredFor(gate, r));
}

/** Every role has all the signatures it needs. */
export const gateSigned = (gate: GateState): boolean => missingRoles(gate).length === 0;

/** The request names an open gate (or none, meaning the open one). */
function gateRefusal(
  gate: GateState | undefined,
  requested: GateName | undefined,
  kind: GateDecision,
  actor: string,
  phase: Phase,
): Refusal | undefined {
  if (gate && (!requested || requested === gate.name)) return undefined;
  return {
    detail: `${REQUESTS[kind].noun} by ${actor} for gate ${requested ?? '(any)'}: gate is not open (phase ${phase})`,
    actor,
  };
}

/** The gate needs this role, and the person is on the role's allow-list (if it has one). */
function roleRefusal(
  gate: GateState,
  plan: Plan,
  role: string,
  person: string,
  kind: GateDecision,
): Refusal | undefined {
  const noun = REQUESTS[kind].noun;
  const spec = plan.approvals.gates[gate.name].roles.find((r) => r.role === role);
  if (!spec)
    return {
      detail: `${noun} by ${person}: gate ${gate.name} does not need role ${role} (needs ${gate.requiredRoles.join(', ')})`,
      actor: person,
    };
  if (spec.approvers && !spec.approvers.includes(person))
    return { detail: `${noun} by ${person}: not on the allow-list of role ${role}`, actor: person };
  return undefined;
}

/** A malformed request as the audit shows it: its JSON, cut at 200 characters (it may be anyone's junk). */
function shown(args: unknown): string {
  const json = JSON.stringify(args) ?? String(args);
  return json.length > 200 ? `${json.slice(0, 200)}… (${json.length} characters)` : json;
}

/** Why an approval is refused (malformed, gate not open, role, allow-list, signed twice, quorum full, separation of duties), or nothing. */
export function approvalRefusal(
  args: ApproveArgs,
  gate: GateState | undefined,
  plan: Plan,
  phase: Phase,
): Refusal | undefined {
  if (!args || typeof args.role !== 'string' || typeof args.approver !== 'string' || !args.role || !args.approver)
    return { detail: `malformed approval: ${shown(args)}` };
  const { role, approver } = args;
  const open = gateRefusal(gate, args.gate, 'approve', approver, phase);
  if (open || !gate) return open;
  const fit = roleRefusal(gate, plan, role, approver, 'approve');
  if (fit) return fit;
  const required = requiredFor(gate, role);
  const mine = gate.signatures.filter((s) => s.role === role);
  if (mine.some((s) => s.approver === approver))
    return { detail: `approval by ${approver}: already signed gate ${gate.name} as ${role}`, actor: approver };
  if (mine.length >= required)
    return {
      detail: `approval by ${approver}: role ${role} already signed gate ${gate.name}${required > 1 ? ` (${required} of ${required})` : ''}`,
      actor: approver,
    };
  if (plan.approvals.separationOfDuties && gate.signatures.some((s) => s.approver === approver))
    return {
      detail: `approval by ${approver} as ${role}: already signed gate ${gate.name} for another role (separation of duties)`,
      actor: approver,
    };
  return undefined;
}

/** The audit line of an accepted approval, once its signature is on the gate. */
export function approvedDetail(gate: GateState, args: ApproveArgs): string {
  const required = requiredFor(gate, args.role);
  const count = required > 1 ? ` (${signedFor(gate, args.role)} of ${required})` : '';
  return `${args.role} ${args.approver} approved gate ${gate.name}${count}${args.comment ? `: ${args.comment}` : ''}`;
}

/** Why a rejection is refused (malformed, gate not open, role, allow-list), or nothing. */
export function rejectionRefusal(
  args: RejectArgs,
  gate: GateState | undefined,
  plan: Plan,
  phase: Phase,
): Refusal | undefined {
  if (!args || typeof args.role !== 'string' || typeof args.approver !== 'string' || typeof args.reason !== 'string')
    return { detail: `malformed rejection: ${shown(args)}` };
  const open = gateRefusal(gate, args.gate, 'reject', args.approver, phase);
  if (open || !gate) return open;
  return roleRefusal(gate, plan, args.role, args.approver, 'reject');
}

/** What an operator request is checked against. */
export interface OperatorContext {
  phase: Phase;
  paused: boolean;
  /** A gate evaluation waits for a person's decision, and no retry is pending yet. */
  retryable: boolean;
}

/** Why an operator request is refused (malformed, migration over, nothing to pause/resume/retry), or nothing. */
export function operatorRefusal(kind: OperatorRequest, args: OperatorArgs, now: OperatorContext): Refusal | undefined {
  if (!args || typeof args.requestedBy !== 'string' || !args.requestedBy)
    return { detail: `malformed ${kind}: ${shown(args)}` };
  const actor = args.requestedBy;
  if (isFinalPhase(now.phase) || now.phase === 'rolling-back')
    return { detail: `${kind} by ${actor}: migration is ${now.phase}`, actor };
  if (kind === 'pause' && now.paused) return { detail: `pause by ${actor}: already paused`, actor };
  if (kind === 'resume' && !now.paused) return { detail: `resume by ${actor}: not paused`, actor };
  if (kind === 'retry' && !now.retryable)
    return { detail: `retry by ${actor}: no gate evaluation is waiting for a decision`, actor };
  return undefined;
}

/** What one round of readings did to the gate. */
export interface Tally {
  /** The counts after these readings (dry-run metrics count toward nothing and are left out). */
  failures: Record<string, FailureCount>;
  /** Metrics past their failure limits, as `name = value (needs op threshold)`. */
  failed: string[];
  /** Metrics past their inconclusive limit. */
  inconclusive: string[];
}

/**
 * Counts one round of readings: a failure adds to the total and the run of consecutive failures, a pass ends the
 * run, an inconclusive reading (no data, too few samples) counts only where the metric has an inconclusive limit.
 * A metric fails the gate past `failureLimit` total or `consecutiveFailureLimit` in a row.
 */
export function tallyReadings(
  readings: MetricReading[],
  metrics: MetricSpec[],
  before: Record<string, FailureCount>,
): Tally {
  const failures = { ...before };
  const failed: string[] = [];
  const inconclusive: string[] = [];
  for (const r of readings) {
    const spec = metrics.find((m) => m.name === r.name);
    if (spec?.dryRun) continue;
    const f: FailureCount = { ...(failures[r.name] ?? { total: 0, consecutive: 0 }) };
    failures[r.name] = f;
    if (r.passed === false) {
      f.total++;
      f.consecutive++;
    } else if (r.passed === true) f.consecutive = 0;
    else if (spec?.inconclusiveLimit !== undefined) f.inconclusive = (f.inconclusive ?? 0) + 1;
    if (spec && r.passed === false && (f.total > spec.failureLimit || f.consecutive > spec.consecutiveFailureLimit))
      failed.push(`${r.name} = ${r.value ?? 'no data'} (needs ${r.op} ${r.threshold})`);
    if (spec?.inconclusiveLimit !== undefined && r.passed === null && (f.inconclusive ?? 0) > spec.inconclusiveLimit)
      inconclusive.push(r.name);
  }
  return { failures, failed, inconclusive };
}

/** The audit line of one gate evaluation: every reading, marked FAIL, inconclusive or dry run. */
export function readingsDetail(step: string, readings: MetricReading[]): string {
  const mark = (r: MetricReading) =>
    `${r.passed === false ? ' FAIL' : r.passed === null ? ' (inconclusive)' : ''}${r.dryRun ? ' [dry run]' : ''}`;
  return `${step}: ${readings.map((r) => `${r.name}=${r.value ?? 'no data'}${mark(r)}`).join(', ')}`;
}

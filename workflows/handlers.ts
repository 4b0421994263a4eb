import { ApplicationFailure, setHandler } from '@temporalio/workflow';
import type { SignalDefinition, UpdateDefinition } from '@temporalio/common';
import { ErrorType } from '../model/constants';
import { approvalsWaitingMetric } from './metrics';
import { authenticate, type Authentication, type RequestClaim } from '../model/auth';
import type { ApproveArgs, OperatorArgs, RejectArgs, RequestAnswer } from '../model/status';
import {
  abortSignal,
  abortUpdate,
  approveSignal,
  approveUpdate,
  failSignal,
  failUpdate,
  pauseSignal,
  pauseUpdate,
  rejectSignal,
  rejectUpdate,
  resumeSignal,
  resumeUpdate,
  retrySignal,
  retryUpdate,
  rollbackSignal,
  rollbackUpdate,
  statusQuery,
} from './definitions';
import {
  approvalRefusal,
  approvedDetail,
  missingRoles,
  openGateOf,
  operatorRefusal,
  rejectionRefusal,
  type OperatorRequest,
  type Refusal,
} from '../model/rules';
import { Interrupt, type MigrationState } from './state';

/** A verified sender, for what the request records. */
type Verified = Extract<Authentication, { verified: boolean | null }>;

/**
 * One kind of request, as both its signal and its Update run it. `screen` refuses malformed or unauthenticated junk
 * (an Update's validator: refused without a trace in the history; a signal, already in the history, is recorded as
 * refused). `apply` checks the rules: a request that breaks one is recorded in the audit log and the ledger and
 * refused; one that fits is applied and answered. Neither acts: the runbook sees what they recorded at its next wait.
 */
interface Request<A> {
  screen(args: A): Refusal | Verified;
  apply(args: A, who: Verified): Refusal | RequestAnswer;
}

const isRefusal = (r: Refusal | Verified | RequestAnswer): r is Refusal => 'detail' in r && !('accepted' in r);

/** Installs every request handler and the status query. */
export function installHandlers(s: MigrationState): void {
  const refuse = (r: Refusal) => s.audit('rejected', r.detail, r.actor);
  const install = <A>(signal: SignalDefinition<[A]>, update: UpdateDefinition<RequestAnswer, [A]>, r: Request<A>) => {
    const run = (args: A): Refusal | RequestAnswer => {
      const who = r.screen(args);
      return isRefusal(who) ? who : r.apply(args, who);
    };
    setHandler(signal, (args) => {
      const out = run(args);
      if (isRefusal(out)) refuse(out);
    });
    setHandler(
      update,
      (args) => {
        const out = run(args);
        if (!isRefusal(out)) return out;
        refuse(out);
        throw ApplicationFailure.create({ type: ErrorType.RequestRejected, message: out.detail, nonRetryable: true });
      },
      {
        validator: (args: A) => {
          const who = r.screen(args);
          if (isRefusal(who)) throw new Error(who.detail);
        },
      },
    );
  };
  install(approveSignal, approveUpdate, approveRequest(s));
  install(rejectSignal, rejectUpdate, rejectRequest(s));
  for (const [kind, signal, update] of [
    ['pause', pauseSignal, pauseUpdate],
    ['resume', resumeSignal, resumeUpdate],
    ['abort', abortSignal, abortUpdate],
    ['rollback', rollbackSignal, rollbackUpdate],
    ['retry', retrySignal, retryUpdate],
    ['fail', failSignal, failUpdate],
  ] as const)
    install(signal, update, operatorRequest(s, kind));
  setHandler(statusQuery, () => s.status);
}

/** Authenticates a claim against the plan's keys (required for approvals and rejections of a plan with keys). */
function screenClaim(s: MigrationState, claim: RequestClaim, kind: string, required: boolean): Refusal | Verified {
  const auth = authenticate(claim, s.authContext(), required);
  return 'refused' in auth && auth.refused !== undefined
    ? { detail: `${kind} by ${claim.person}: ${auth.refused}`, actor: claim.person }
    : (auth as Verified);
}

/** What an accepted request answers. */
function answer(s: MigrationState, detail: string, who: Verified, gate?: RequestAnswer['gate']): RequestAnswer {
  return {
    accepted: true,
    detail,
    phase: s.status.phase,
    paused: s.status.paused,
    ...(gate ? { gate } : {}),
    verified: who.verified,
  };
}

function approveRequest(s: MigrationState): Request<ApproveArgs> {
  const { status } = s;
  return {
    screen: (args) => {
      const malformed = approvalRefusal(args, undefined, s.plan, status.phase);
      if (malformed && !malformed.actor) return malformed;
      const claim = { decision: 'approve', person: args.approver, gate: args.gate, role: args.role };
      return screenClaim(s, { ...claim, text: args.comment, signature: args.signature }, 'approval', s.signed);
    },
    apply: (args, who) => {
      const gate = openGateOf(status.gates);
      const refusal = approvalRefusal(args, gate, s.plan, status.phase);
      if (refusal || !gate) return refusal ?? { detail: 'no gate is open' };
      const { gate: _named, signature, ...signed } = args;
      gate.signatures.push({ ...signed, gate: gate.name, at: new Date().toISOString(), verified: who.verified });
      approvalsWaitingMetric(s.migrationId, gate.name, missingRoles(gate).length);
      s.acceptNonce(who);
      const detail = `${approvedDetail(gate, args)}${who.verified ? ' (signature verified)' : ''}`;
      const claim = {
        decision: 'approve',
        person: args.approver,
        gate: args.gate,
        role: args.role,
        text: args.comment,
      };
      s.audit('approved', detail, args.approver, s.signed ? { verified: who.verified, claim, signature } : undefined);
      return answer(s, detail, who, gate);
    },
  };
}

function rejectRequest(s: MigrationState): Request<RejectArgs> {
  const { status } = s;
  return {
    screen: (args) => {
      const malformed = rejectionRefusal(args, undefined, s.plan, status.phase);
      if (malformed && !malformed.actor) return malformed;
      const claim = { decision: 'reject', person: args.approver, gate: args.gate, role: args.role, text: args.reason };
      return screenClaim(s, { ...claim, signature: args.signature }, 'rejection', s.signed);
    },
    apply: (args, who) => {
      const gate = openGateOf(status.gates);
      const refusal = rejectionRefusal(args, gate, s.plan, status.phase);
      if (refusal || !gate) return refusal ?? { detail: 'no gate is open' };
      gate.outcome = 'rejected';
      s.acceptNonce(who);
      const detail = `${args.role} ${args.approver} rejected gate ${gate.name}: ${args.reason}${who.verified ? ' (signature verified)' : ''}`;
      const claim = { decision: 'reject', person: args.approver, gate: args.gate, role: args.role, text: args.reason };
      const data = s.signed ? { verified: who.verified, claim, signature: args.signature } : undefined;
      s.audit('gate-rejected', detail, args.approver, data);
      const why = `gate ${gate.name} rejected by ${args.approver}: ${args.reason}`;
      s.requestInterrupt(new Interrupt('gate-rejected', 'rollback', why, args.approver));
      return answer(s, detail, who, gate);
    },
  };
}

/** What an accepted operator request does to the state, and its audit entry (kind, detail). */
const OPERATOR_EFFECTS: Record<OperatorRequest, (s: MigrationState, args: OperatorArgs) => [string, string]> = {
  pause: (s, a) => ((s.status.paused = true), ['paused', a.reason ?? 'paused']),
  resume: (s, a) => ((s.status.paused = false), ['resumed', a.reason ?? 'resumed']),
  abort: (s, a) => {
    s.requestInterrupt(new Interrupt('operator', 'abort', a.reason ?? 'aborted by operator', a.requestedBy));
    return ['abort-requested', a.reason ?? 'abort'];
  },
  rollback: (s, a) => {
    s.requestInterrupt(new Interrupt('operator', 'rollback', a.reason ?? 'rollback requested', a.requestedBy));
    return ['rollback-requested', a.reason ?? 'rollback'];
  },
  retry: (s, a) => ((s.retryRequested = a), ['retry', `measure again${a.reason ? `: ${a.reason}` : ''}`]),
  fail: (s, a) => {
    const reason = `step ${s.status.phase} failed by hand by ${a.requestedBy}${a.reason ? `: ${a.reason}` : ''}`;
    s.status.failure ??= reason;
    s.requestInterrupt(new Interrupt('step-failed', 'rollback', reason, a.requestedBy));
    return ['fail-requested', reason];
  },
};

/**
 * pause, resume, abort, rollback, retry and fail: never refused for want of a signature (a rollback is the safe
 * direction), but with approver keys in the plan the audit says whether the sender was verified.
 */
function operatorRequest(s: MigrationState, kind: OperatorRequest): Request<OperatorArgs> {
  const { status } = s;
  const context = () => ({
    phase: status.phase,
    paused: status.paused,
    retryable: s.awaitingDecision && !s.retryRequested,
  });
  return {
    screen: (args) => {
      const malformed = operatorRefusal(kind, args, { phase: 'preflight', paused: kind === 'resume', retryable: true });
      if (malformed) return malformed;
      const claim = { decision: kind, person: args.requestedBy, text: args.reason, signature: args.signature };
      return screenClaim(s, claim, kind, false);
    },
    apply: (args, who) => {
      const refusal = operatorRefusal(kind, args, context());
      if (refusal) return refusal;
      s.acceptNonce(who);
      const [auditKind, text] = OPERATOR_EFFECTS[kind](s, args);
      const detail = s.signed ? `${text} (${verifiedText(who)})` : text;
      s.audit(auditKind, detail, args.requestedBy, s.signed ? { verified: who.verified } : undefined);
      return answer(s, detail, who);
    },
  };
}

const verifiedText = (who: Verified) =>
  who.verified ? 'requester verified' : `requester NOT verified: ${who.reason ?? 'unsigned'}`;

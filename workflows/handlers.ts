import { ApplicationFailure, setHandler } from '@temporalio/workflow';
import type { SignalDefinition, UpdateDefinition } from '@temporalio/common';
import { ErrorType } from '../model/constants';
import { approvalsWaitingMetric } from './metrics';
import { authenticate, claimFor, type Authentication } from '../model/auth';
import {
  knownArgs,
  REQUEST_KINDS,
  REQUESTS,
  requestShapeProblem,
  type MigrationRequest,
  type OperatorRequest,
  type RequestArgs,
  type RequestKind,
} from '../model/requests';
import type { ApproveArgs, OperatorArgs, RejectArgs, RequestAnswer } from '../model/status';
import { REQUEST_DEFINITIONS, statusQuery } from './definitions';
import {
  approvalRefusal,
  approvedDetail,
  missingRoles,
  openGateOf,
  operatorRefusal,
  rejectionRefusal,
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
  const install = <A>(
    kind: RequestKind,
    signal: SignalDefinition<[A]>,
    update: UpdateDefinition<RequestAnswer, [A]>,
    r: Request<A>,
  ) => {
    // No argument may fail a handler: one that threw would fail the workflow task on every attempt and every replay,
    // and wedge the migration. Malformed or outsized requests are refused before any rule reads them; anything a
    // rule still throws on is refused too.
    const guarded = <T>(raw: A, step: (args: A) => Refusal | T): Refusal | T => {
      const shape = requestShapeProblem(raw);
      if (shape) return { detail: `${REQUESTS[kind].noun} refused: ${shape}` };
      try {
        // Only what the sender could sign goes on: an unsigned extra field is dropped, never stored.
        return step(knownArgs(kind, raw as never) as A);
      } catch (err) {
        return {
          detail: `${REQUESTS[kind].noun} refused: ${(err instanceof Error ? err.message : 'unreadable').slice(0, 300)}`,
        };
      }
    };
    const screen = (raw: A) => guarded(raw, (args) => r.screen(args));
    const run = (raw: A): Refusal | RequestAnswer =>
      guarded(raw, (args) => {
        const who = r.screen(args);
        return isRefusal(who) ? who : r.apply(args, who);
      });
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
          const who = screen(args);
          if (isRefusal(who)) throw new Error(who.detail);
        },
      },
    );
  };
  const installKind = <K extends RequestKind>(kind: K) =>
    install(kind, REQUEST_DEFINITIONS[kind].signal, REQUEST_DEFINITIONS[kind].update, REQUEST_HANDLERS[kind](s));
  for (const kind of REQUEST_KINDS) installKind(kind);
  setHandler(statusQuery, () => s.status);
}

/** Each kind's request, by the table of model/requests.ts: a kind added there does not compile until it has one. */
const REQUEST_HANDLERS: { readonly [K in RequestKind]: (s: MigrationState) => Request<RequestArgs[K]> } = {
  approve: (s) => approveRequest(s),
  reject: (s) => rejectRequest(s),
  pause: (s) => operatorRequest(s, 'pause'),
  resume: (s) => operatorRequest(s, 'resume'),
  abort: (s) => operatorRequest(s, 'abort'),
  rollback: (s) => operatorRequest(s, 'rollback'),
  retry: (s) => operatorRequest(s, 'retry'),
  fail: (s) => operatorRequest(s, 'fail'),
};

/** Authenticates a request's claim against the plan's keys (a signature required where its kind and the plan say so). */
function screenClaim(s: MigrationState, request: MigrationRequest): Refusal | Verified {
  const claim = claimFor(request);
  const { noun, signature, sender } = REQUESTS[request.kind];
  // Operator requests that must be signed (resume, retry, fail) are so for migrations started since the change.
  const required = signature === 'required' && s.signed && (sender === 'approver' || s.changes.strictSignatures);
  const auth = authenticate({ ...claim, signature: request.args.signature }, s.authContext(), required);
  return 'refused' in auth && auth.refused !== undefined
    ? { detail: `${noun} by ${claim.person}: ${auth.refused}`, actor: claim.person }
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
      return screenClaim(s, { kind: 'approve', args });
    },
    apply: (args, who) => {
      const gate = openGateOf(status.gates);
      const refusal = approvalRefusal(args, gate, s.plan, status.phase);
      if (refusal || !gate) return refusal ?? { detail: 'no gate is open' };
      const { gate: _named, signature, ...signed } = args;
      s.addSignature(gate, { ...signed, gate: gate.name, at: new Date().toISOString(), verified: who.verified });
      approvalsWaitingMetric(s.migrationId, gate.name, missingRoles(gate).length);
      s.acceptNonce(who);
      const detail = `${approvedDetail(gate, args)}${who.verified ? ' (signature verified)' : ''}`;
      const claim = claimFor({ kind: 'approve', args });
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
      return screenClaim(s, { kind: 'reject', args });
    },
    apply: (args, who) => {
      const gate = openGateOf(status.gates);
      const refusal = rejectionRefusal(args, gate, s.plan, status.phase);
      if (refusal || !gate) return refusal ?? { detail: 'no gate is open' };
      s.rejectGate(gate);
      s.acceptNonce(who);
      const detail = `${args.role} ${args.approver} rejected gate ${gate.name}: ${args.reason}${who.verified ? ' (signature verified)' : ''}`;
      const claim = claimFor({ kind: 'reject', args });
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
  pause: (s, a) => (s.setPaused(true), ['paused', a.reason ?? 'paused']),
  resume: (s, a) => (s.setPaused(false), ['resumed', a.reason ?? 'resumed']),
  abort: (s, a) => {
    s.requestInterrupt(new Interrupt('operator', 'abort', a.reason ?? 'aborted by operator', a.requestedBy));
    return ['abort-requested', a.reason ?? 'abort'];
  },
  rollback: (s, a) => {
    s.requestInterrupt(new Interrupt('operator', 'rollback', a.reason ?? 'rollback requested', a.requestedBy));
    return ['rollback-requested', a.reason ?? 'rollback'];
  },
  retry: (s, a) => (s.requestRetry(a), ['retry', `measure again${a.reason ? `: ${a.reason}` : ''}`]),
  fail: (s, a) => {
    const reason = `step ${s.status.phase} failed by hand by ${a.requestedBy}${a.reason ? `: ${a.reason}` : ''}`;
    s.recordFailure(reason);
    s.requestInterrupt(new Interrupt('step-failed', 'rollback', reason, a.requestedBy));
    return ['fail-requested', reason];
  },
};

/**
 * pause, resume, abort, rollback, retry and fail. With approver keys in the plan, resume, retry and fail (forward
 * moves) are refused unless signed (`screenClaim`); pause, abort and rollback never are (the safe direction), and the
 * audit says whether their sender was verified.
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
      return screenClaim(s, { kind, args });
    },
    apply: (args, who) => {
      const refusal = operatorRefusal(kind, args, context());
      if (refusal) return refusal;
      s.acceptNonce(who);
      const [auditKind, text] = OPERATOR_EFFECTS[kind](s, args);
      const detail = s.signed ? `${text} (${verifiedText(who)})` : text;
      // A verified request keeps what was signed, as an approval does: `migrate audit verify` checks it again.
      const signed = who.verified ? { claim: claimFor({ kind, args }), signature: args.signature } : {};
      s.audit(auditKind, detail, args.requestedBy, s.signed ? { verified: who.verified, ...signed } : undefined);
      return answer(s, detail, who);
    },
  };
}

const verifiedText = (who: Verified) =>
  who.verified ? 'requester verified' : `requester NOT verified: ${who.reason ?? 'unsigned'}`;

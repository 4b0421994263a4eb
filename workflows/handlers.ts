import { setHandler } from '@temporalio/workflow';
import type { OperatorArgs } from './definitions';
import {
  abortSignal,
  approveSignal,
  failSignal,
  pauseSignal,
  rejectSignal,
  resumeSignal,
  retrySignal,
  rollbackSignal,
  statusQuery,
} from './definitions';
import {
  approvalRefusal,
  approvedDetail,
  openGateOf,
  operatorRefusal,
  rejectionRefusal,
  type OperatorRequest,
  type Refusal,
} from './rules';
import { Interrupt, type MigrationState } from './state';

/**
 * The request handlers: each checks the request against the rules and records it (a refusal goes into the audit
 * log); none acts. The runbook sees what they recorded at its next wait and decides.
 */
export function installHandlers(s: MigrationState): void {
  installGateHandlers(s);
  installOperatorHandlers(s);
  setHandler(statusQuery, () => s.status);
}

/** A refused request goes into the audit log (and the ledger), naming who asked where the request says. */
const refuse = (s: MigrationState, r: Refusal) => s.audit('rejected', r.detail, r.actor);

/** `approve` signs the open gate for a role; `reject` rejects it, which rolls the migration back. */
function installGateHandlers(s: MigrationState): void {
  const { status } = s;
  setHandler(approveSignal, (args) => {
    const gate = openGateOf(status.gates);
    const refusal = approvalRefusal(args, gate, s.plan, status.phase);
    if (refusal) return refuse(s, refusal);
    if (!gate) return; // (a refusal names a gate that is not open)
    gate.signatures.push({ ...args, gate: gate.name, at: new Date().toISOString() });
    s.audit('approved', approvedDetail(gate, args), args.approver);
  });

  setHandler(rejectSignal, (args) => {
    const gate = openGateOf(status.gates);
    const refusal = rejectionRefusal(args, gate, s.plan, status.phase);
    if (refusal) return refuse(s, refusal);
    if (!gate) return;
    gate.outcome = 'rejected';
    s.audit('gate-rejected', `${args.role} ${args.approver} rejected gate ${gate.name}: ${args.reason}`, args.approver);
    s.requestInterrupt(
      new Interrupt(
        'gate-rejected',
        'rollback',
        `gate ${gate.name} rejected by ${args.approver}: ${args.reason}`,
        args.approver,
      ),
    );
  });
}

/** pause, resume, abort, rollback, retry and fail. */
function installOperatorHandlers(s: MigrationState): void {
  const { status } = s;
  /** An operator request that passes the rules runs `accept`; one that does not is recorded as refused. */
  const operator = (kind: OperatorRequest, accept: (args: OperatorArgs) => void) => (args: OperatorArgs) => {
    const refusal = operatorRefusal(kind, args, {
      phase: status.phase,
      paused: status.paused,
      retryable: s.awaitingDecision && !s.retryRequested,
    });
    if (refusal) return refuse(s, refusal);
    accept(args);
  };

  setHandler(
    pauseSignal,
    operator('pause', (args) => {
      status.paused = true;
      s.audit('paused', args.reason ?? 'paused', args.requestedBy);
    }),
  );
  setHandler(
    resumeSignal,
    operator('resume', (args) => {
      status.paused = false;
      s.audit('resumed', args.reason ?? 'resumed', args.requestedBy);
    }),
  );
  setHandler(
    abortSignal,
    operator('abort', (args) => {
      s.audit('abort-requested', args.reason ?? 'abort', args.requestedBy);
      s.requestInterrupt(new Interrupt('operator', 'abort', args.reason ?? 'aborted by operator', args.requestedBy));
    }),
  );
  setHandler(
    rollbackSignal,
    operator('rollback', (args) => {
      s.audit('rollback-requested', args.reason ?? 'rollback', args.requestedBy);
      s.requestInterrupt(new Interrupt('operator', 'rollback', args.reason ?? 'rollback requested', args.requestedBy));
    }),
  );
  setHandler(
    retrySignal,
    operator('retry', (args) => {
      s.retryRequested = args;
      s.audit('retry', `measure again${args.reason ? `: ${args.reason}` : ''}`, args.requestedBy);
    }),
  );
  setHandler(
    failSignal,
    operator('fail', (args) => {
      const reason = `step ${status.phase} failed by hand by ${args.requestedBy}${args.reason ? `: ${args.reason}` : ''}`;
      s.audit('fail-requested', reason, args.requestedBy);
      status.failure ??= reason;
      s.requestInterrupt(new Interrupt('step-failed', 'rollback', reason, args.requestedBy));
    }),
  );
}

/**
 * The requests a person sends a running migration, defined once: each kind with what it carries, who may send it,
 * whether it must be signed and what it does. The kind is the name on the wire of its signal and its Update
 * (`workflows/definitions.ts` makes both from it); the workflow installs a handler per kind, the CLI a command per kind.
 */
import type { ApproveArgs, OperatorArgs, RejectArgs } from './status';

/** Every request, in the order the workflow installs its handlers. */
export const REQUEST_KINDS = ['approve', 'reject', 'pause', 'resume', 'abort', 'rollback', 'retry', 'fail'] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];

/** The decisions on an open gate. */
export type GateDecision = Extract<RequestKind, 'approve' | 'reject'>;

/** The operator requests (pause, resume, abort, rollback, retry, fail). */
export type OperatorRequest = Exclude<RequestKind, GateDecision>;

/** What each request carries: the one argument of its signal and its Update. */
export type RequestArgs = { approve: ApproveArgs; reject: RejectArgs } & Record<OperatorRequest, OperatorArgs>;

/** One request as sent: its kind and its argument, so code that reads the argument knows its shape. */
export type MigrationRequest = { [K in RequestKind]: { kind: K; args: RequestArgs[K] } }[RequestKind];

/** What the workflow and the CLI need to know of a request kind. */
export interface RequestSpec {
  /** Who may send it: a person in a role of the open gate (and on the role's allow-list), or anyone operating it. */
  sender: 'approver' | 'operator';
  /**
   * With approver keys in the plan: `required` refuses it unless signed by the sender's key; `optional` never refuses
   * it for its signature (a rollback is the safe direction) and the audit says whether its sender was verified.
   */
  signature: 'required' | 'optional';
  /** How the audit and refusal lines name it (`approval by tina: …`). */
  noun: string;
  /** What it does, as `migrate <kind> --help` says it. */
  description: string;
}

const operator = (noun: OperatorRequest, description: string): RequestSpec => ({
  sender: 'operator',
  signature: 'optional',
  noun,
  description,
});

/** Every request kind's rules and description. */
export const REQUESTS: Readonly<Record<RequestKind, RequestSpec>> = {
  approve: {
    sender: 'approver',
    signature: 'required',
    noun: 'approval',
    description: 'sign an open gate for one role',
  },
  reject: {
    sender: 'approver',
    signature: 'required',
    noun: 'rejection',
    description: 'reject an open gate (the migration rolls back)',
  },
  pause: operator('pause', 'hold the runbook at the next step'),
  resume: operator('resume', 'go on after a pause'),
  abort: operator('abort', 'stop the migration (what changed is rolled back)'),
  rollback: operator('rollback', 'roll a migration back'),
  retry: operator('retry', 'measure a gate again that waits for a decision (inconclusive, or a failed soak check)'),
  fail: operator('fail', 'fail the running step by hand (what changed is rolled back)'),
};

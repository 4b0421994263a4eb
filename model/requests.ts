/**
 * The requests a person sends a running migration, defined once: each kind with what it carries, who may send it,
 * whether it must be signed and what it does. The kind is the name on the wire of its signal and its Update
 * (`workflows/definitions.ts` makes both from it); the workflow installs a handler per kind, the CLI a command per kind.
 */
import type { RequestSignature } from './signatures';
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

/**
 * An operator request. Those that move a migration forward past a stop a person or a check made (resume after a
 * pause, retry of a gate that waits for a decision, fail by hand) need a signature like an approval; those that go
 * the safe direction (pause, abort, rollback) never do, and are audited as verified or not.
 */
const operator = (
  noun: OperatorRequest,
  description: string,
  signature: RequestSpec['signature'] = 'optional',
): RequestSpec => ({ sender: 'operator', signature, noun, description });

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
  resume: operator('resume', 'go on after a pause', 'required'),
  abort: operator('abort', 'stop the migration (what changed is rolled back)'),
  rollback: operator('rollback', 'roll a migration back'),
  retry: operator(
    'retry',
    'measure a gate again that waits for a decision (inconclusive, or a failed soak check)',
    'required',
  ),
  fail: operator('fail', 'fail the running step by hand (what changed is rolled back)', 'required'),
};

/** The largest request a handler reads: its depth, its keys and the length of all its text together. */
export const REQUEST_LIMITS = { depth: 6, keys: 64, textLength: 16_384 } as const;

/**
 * Why a request's argument cannot be read, or undefined: it must be a plain object of plain data within
 * `REQUEST_LIMITS`. Walked without recursion, so no argument, however deep, can exhaust the workflow's stack: a
 * request that could wedge every handler that reads it is refused before any of them does.
 */
export function requestShapeProblem(args: unknown): string | undefined {
  if (args === null || typeof args !== 'object' || Array.isArray(args)) return 'its argument is not an object';
  const stack: { v: unknown; depth: number }[] = [{ v: args, depth: 1 }];
  let keys = 0;
  let text = 0;
  while (stack.length) {
    const { v, depth } = stack.pop()!;
    if (typeof v === 'string') text += v.length;
    else if (typeof v === 'object' && v !== null) {
      if (depth > REQUEST_LIMITS.depth) return `it is nested deeper than ${REQUEST_LIMITS.depth} levels`;
      const entries = Object.entries(v);
      keys += entries.length;
      if (keys > REQUEST_LIMITS.keys) return `it has more than ${REQUEST_LIMITS.keys} fields`;
      for (const [k, x] of entries) {
        text += k.length;
        stack.push({ v: x, depth: depth + 1 });
      }
    } else if (v !== undefined && typeof v !== 'number' && typeof v !== 'boolean' && v !== null)
      return 'it holds something other than plain data';
    if (text > REQUEST_LIMITS.textLength) return `its text is longer than ${REQUEST_LIMITS.textLength} characters`;
  }
  return undefined;
}

/** `record[key]` when `key` is the record's own (never `constructor` or another inherited property), else undefined. */
export function ownValue<T>(record: Readonly<Record<string, T>> | undefined, key: string): T | undefined {
  return record !== undefined && Object.prototype.hasOwnProperty.call(record, key) ? record[key] : undefined;
}

/** The fields each request's argument may carry: all of them signed (the claim, or the signature's own fields). */
const OPERATOR_FIELDS = ['reason', 'requestedBy', 'signature'] as const;
const KNOWN_FIELDS: { readonly [K in RequestKind]: readonly (keyof RequestArgs[K])[] } = {
  approve: ['gate', 'role', 'approver', 'comment', 'signature'],
  reject: ['gate', 'role', 'approver', 'reason', 'signature'],
  pause: OPERATOR_FIELDS,
  resume: OPERATOR_FIELDS,
  abort: OPERATOR_FIELDS,
  rollback: OPERATOR_FIELDS,
  retry: OPERATOR_FIELDS,
  fail: OPERATOR_FIELDS,
};

/** The fields of a request's signature (`RequestSignature`). */
const SIGNATURE_FIELDS: readonly (keyof RequestSignature)[] = [
  'migrationId',
  'nonce',
  'signedAt',
  'planDigest',
  'gateOpenedAt',
  'sshsig',
];

const pick = (v: object, keys: readonly string[]): Record<string, unknown> =>
  Object.fromEntries(keys.filter((k) => Object.prototype.hasOwnProperty.call(v, k)).map((k) => [k, (v as never)[k]]));

/**
 * A request's argument with only the fields its kind has, in its signature too: a field nobody signed is dropped
 * before anything reads or stores the request, so it can neither ride along into the status and the ledger nor be
 * mistaken for part of what the person signed. Expects an argument `requestShapeProblem` accepted.
 */
export function knownArgs<K extends RequestKind>(kind: K, args: RequestArgs[K]): RequestArgs[K] {
  const out = pick(args, KNOWN_FIELDS[kind]);
  const signature = out.signature;
  if (signature !== null && typeof signature === 'object' && !Array.isArray(signature))
    out.signature = pick(signature, SIGNATURE_FIELDS);
  return out as unknown as RequestArgs[K];
}

import { defineSearchAttributeKey, type SignalDefinition, type UpdateDefinition } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { REQUEST_KINDS, type RequestArgs, type RequestKind } from '../model/requests';
import type { MigrationStatus, RequestAnswer } from '../model/status';

export { PHASES, type Phase } from '../model/constants';

/**
 * A request's signal and its Update, both named by its kind. The Update answers at once (accepted with the new state,
 * or rejected with the reason); the signal stays for migrations started before the Updates existed.
 */
export interface RequestDefinition<K extends RequestKind> {
  signal: SignalDefinition<[RequestArgs[K]]>;
  update: UpdateDefinition<RequestAnswer, [RequestArgs[K]]>;
}

const define = <K extends RequestKind>(kind: K): RequestDefinition<K> => ({
  signal: defineSignal<[RequestArgs[K]]>(kind),
  update: defineUpdate<RequestAnswer, [RequestArgs[K]]>(kind),
});

/** Every request's signal and Update, by kind (model/requests.ts says what each one is and who may send it). */
export const REQUEST_DEFINITIONS = Object.fromEntries(REQUEST_KINDS.map((kind) => [kind, define(kind)])) as {
  readonly [K in RequestKind]: RequestDefinition<K>;
};

export const approveSignal = REQUEST_DEFINITIONS.approve.signal;
export const rejectSignal = REQUEST_DEFINITIONS.reject.signal;
export const pauseSignal = REQUEST_DEFINITIONS.pause.signal;
export const resumeSignal = REQUEST_DEFINITIONS.resume.signal;
export const abortSignal = REQUEST_DEFINITIONS.abort.signal;
export const rollbackSignal = REQUEST_DEFINITIONS.rollback.signal;
export const retrySignal = REQUEST_DEFINITIONS.retry.signal;
export const failSignal = REQUEST_DEFINITIONS.fail.signal;
export const statusQuery = defineQuery<MigrationStatus>('status');

export const approveUpdate = REQUEST_DEFINITIONS.approve.update;
export const rejectUpdate = REQUEST_DEFINITIONS.reject.update;
export const pauseUpdate = REQUEST_DEFINITIONS.pause.update;
export const resumeUpdate = REQUEST_DEFINITIONS.resume.update;
export const abortUpdate = REQUEST_DEFINITIONS.abort.update;
export const rollbackUpdate = REQUEST_DEFINITIONS.rollback.update;
export const retryUpdate = REQUEST_DEFINITIONS.retry.update;
export const failUpdate = REQUEST_DEFINITIONS.fail.update;

export const migrationNameKey = defineSearchAttributeKey('MigrationName', 'KEYWORD');
export const migrationPhaseKey = defineSearchAttributeKey('MigrationPhase', 'KEYWORD');
export const trafficPercentKey = defineSearchAttributeKey('TrafficPercent', 'INT');

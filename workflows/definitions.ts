import { defineSearchAttributeKey } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ApproveArgs, MigrationStatus, OperatorArgs, RejectArgs, RequestAnswer } from '../model/status';

export { PHASES, type Phase } from '../model/constants';

export const approveSignal = defineSignal<[ApproveArgs]>('approve');
export const rejectSignal = defineSignal<[RejectArgs]>('reject');
export const pauseSignal = defineSignal<[OperatorArgs]>('pause');
export const resumeSignal = defineSignal<[OperatorArgs]>('resume');
export const abortSignal = defineSignal<[OperatorArgs]>('abort');
export const rollbackSignal = defineSignal<[OperatorArgs]>('rollback');
/** Measure a gate again that waits for a decision (inconclusive past its limit, or a failed soak check on pause). */
export const retrySignal = defineSignal<[OperatorArgs]>('retry');
/** Fail the running step by hand: what changed is rolled back. */
export const failSignal = defineSignal<[OperatorArgs]>('fail');
export const statusQuery = defineQuery<MigrationStatus>('status');

// The same requests as Updates: the caller gets accepted (with the new state) or rejected with the reason at once.
export const approveUpdate = defineUpdate<RequestAnswer, [ApproveArgs]>('approve');
export const rejectUpdate = defineUpdate<RequestAnswer, [RejectArgs]>('reject');
export const pauseUpdate = defineUpdate<RequestAnswer, [OperatorArgs]>('pause');
export const resumeUpdate = defineUpdate<RequestAnswer, [OperatorArgs]>('resume');
export const abortUpdate = defineUpdate<RequestAnswer, [OperatorArgs]>('abort');
export const rollbackUpdate = defineUpdate<RequestAnswer, [OperatorArgs]>('rollback');
export const retryUpdate = defineUpdate<RequestAnswer, [OperatorArgs]>('retry');
export const failUpdate = defineUpdate<RequestAnswer, [OperatorArgs]>('fail');

export const migrationNameKey = defineSearchAttributeKey('MigrationName', 'KEYWORD');
export const migrationPhaseKey = defineSearchAttributeKey('MigrationPhase', 'KEYWORD');
export const trafficPercentKey = defineSearchAttributeKey('TrafficPercent', 'INT');

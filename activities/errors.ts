import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../model/constants';

export { ErrorType };

/** A permanent failure with a type from `ErrorType`. */
export function permanent(type: ErrorType, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true });
}

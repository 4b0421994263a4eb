import { ApplicationFailure } from '@temporalio/common';

/** Failure types that retrying cannot fix; the workflow's retry policy never retries them. */
export const ErrorType = {
  InvalidInput: 'InvalidInput',
  MissingSecret: 'MissingSecret',
  PreconditionFailed: 'PreconditionFailed',
  /** The target repository has uncommitted changes: a person must commit or discard them (the workflow waits). */
  RepositoryDirty: 'RepositoryDirty',
} as const;
export type ErrorType = (typeof ErrorType)[keyof typeof ErrorType];

/** A permanent failure with a type from `ErrorType`. */
export function permanent(type: ErrorType, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true });
}

/**
 * The validated, normalised migration plan as the workflow and the activities see it (workflow-safe: types and pure
 * helpers only). Durations are milliseconds; secrets appear only as the names of environment variables the worker reads.
 * The types are derived from the schema of the YAML form in `./plan-schema` (what each field means is described
 * there). The workflow checks its own plan against that schema (`plan-check.ts`), so the bundle carries zod, less its
 * locale modules (`lib/workflow-bundle.ts`).
 */

import type { z } from 'zod';
import { DEFAULT_STOP_GRACE_MS, type GateName } from './constants';
import type { planSchema } from './plan-schema';

/** The normalised plan. */
export type Plan = z.output<ReturnType<typeof planSchema>>;

/** A named measurement with its threshold (preflight checks, rollback verification, success metrics). */
export type CheckSpec = Plan['preflight'][number];

/** How to obtain one number: an SQL query, a command, or an HTTP GET. */
export type Measurement = CheckSpec['measure'];

/** A comparison of a measured value with a threshold. */
export type Comparator = CheckSpec['op'];

/** A metric gate: a check evaluated at every traffic step and soak interval, with failure limits. */
export type MetricSpec = Plan['metrics'][number];

/** A legacy job as scheduled today. */
export type JobSpec = Plan['legacyJobs'][number];

/** One container of the unified pipeline. */
export type UnifiedContainerSpec = Plan['unifiedJob']['containers'][number];

export type SchedulerSpec = Plan['scheduler'];

export type RouterSpec = Plan['traffic']['router'];

export type GateSpec = Plan['approvals']['gates'][GateName];

export type RoleSpec = GateSpec['roles'][number];

export type { GateName } from './constants';
export type { StepRetry } from './plan-schema';

/**
 * Where a plan's measurement ledger goes. Plans validated before the ledger existed (still running, recorded in
 * histories) have no `ledger`: theirs is the target database's `migration_ledger`, as the validator's default.
 */
export function ledgerOf(plan: Plan): Plan['ledger'] {
  return plan.ledger ?? { databaseUrlEnv: plan.target.databaseUrlEnv, table: 'migration_ledger' };
}

/** The longest stop grace a container is given: the undo runs as a local activity of two minutes at most. */
export const MAX_STOP_GRACE_MS = 90_000;

/** The seconds a unified container is given to stop: the plan's `unifiedJob.stopGrace` (10 s in plans before it). */
export function stopGraceSeconds(plan: Plan): number {
  const grace = plan.unifiedJob.stopGraceMs ?? DEFAULT_STOP_GRACE_MS;
  return Math.ceil(Math.min(grace, MAX_STOP_GRACE_MS) / 1000);
}

/** The route a router's record names: its own, or `unified` for plans and records from before routes. */
export function routeOf(router: RouterSpec): string {
  return router.route ?? 'unified';
}

/**
 * The retention check of `migrate start`: does the namespace keep a migration's history long enough?
 *
 * Temporal deletes a closed run's history once the namespace's retention has passed since it closed. `migrate status`
 * of a closed migration, its reports and a hand-started rollback (which reads the plan and the undo list from the
 * history) need it, and over a long soak a migration is a chain of runs (continue-as-new): the first of them can close
 * near the start and must still be there when the last has ended. So the retention must cover the whole runbook plus
 * a margin after its end.
 */

import { GATES } from '../model/constants';
import type { Plan } from '../model/plan';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** The margin after the end: a week at least, a fifth of the runbook for long ones. */
export const RETENTION_MARGIN = { minMs: 7 * DAY_MS, share: 0.2 } as const;
const marginRule = `max(${formatDuration(RETENTION_MARGIN.minMs)}, ${RETENTION_MARGIN.share * 100} % of the runbook)`;

/** One timed wait of the runbook, as the retention message lists it. */
export interface PlanWait {
  what: string;
  ms: number;
}

/**
 * The timed waits of the runbook, which it runs one after the other: the parallel run, a bake at each
 * traffic step, the monitoring window after the cutover, the soak (its checks, each after a full interval, as the
 * workflow counts them), each approval gate's timeout, and the rollback's budget (the migration waits for its
 * rollback, at the latest after a rejected sign-off). Not counted, because the plan does not bound them: a gate left
 * waiting past its timeout (`onTimeout: notify-and-wait`), a pause, a decision a person owes on an inconclusive or
 * failed reading, and the activities' own run time (checks, backups, comparison); the margin is for those.
 */
export function planWaits(plan: Plan): PlanWait[] {
  const d = plan.durations;
  const steps = plan.traffic.steps.length;
  const soakChecks = Math.max(1, Math.ceil(d.soakMs / d.soakIntervalMs));
  return [
    { what: `parallel run ${formatDuration(d.parallelRunMs)}`, ms: d.parallelRunMs },
    { what: `${steps} bakes × ${formatDuration(d.bakeMs)}`, ms: steps * d.bakeMs },
    { what: `monitoring window ${formatDuration(d.monitoringWindowMs)}`, ms: d.monitoringWindowMs },
    { what: `soak ${soakChecks} × ${formatDuration(d.soakIntervalMs)}`, ms: soakChecks * d.soakIntervalMs },
    ...GATES.map((g) => {
      const ms = plan.approvals.gates[g].timeoutMs;
      return { what: `gate ${g} timeout ${formatDuration(ms)}`, ms };
    }),
    { what: `rollback budget ${formatDuration(plan.rollback.budgetMs)}`, ms: plan.rollback.budgetMs },
  ];
}

/** The longest the runbook can take from its start to its end, in milliseconds: the sum of `planWaits`. */
export function planTotalDurationMs(plan: Plan): number {
  return planWaits(plan).reduce((sum, w) => sum + w.ms, 0);
}

/** The margin a namespace's retention needs beyond the runbook: max(7 days, 20 % of the runbook). */
export function retentionMarginMs(totalMs: number): number {
  return Math.max(RETENTION_MARGIN.minMs, Math.ceil(totalMs * RETENTION_MARGIN.share));
}

/** What `migrate start` does about the namespace's retention: start, start with a warning, or refuse. */
export type RetentionVerdict =
  | { kind: 'ok' }
  | { kind: 'warn'; message: string }
  | { kind: 'refuse'; message: string; retentionMs: number; neededMs: number };

/**
 * Compares a namespace's retention (`undefined`: the server did not say, or would not be asked) with what the plan
 * needs: too short refuses, or warns when `allowShort`. Temporal servers refuse a retention of zero (and below a day by
 * default), so zero is read as unknown, not as "forever": unknown warns and never refuses.
 */
export function checkRetention(args: {
  namespace: string;
  plan: Plan;
  retentionMs: number | undefined;
  allowShort: boolean;
  /** Why the retention is unknown (e.g. the server refused to describe the namespace). */
  unknownBecause?: string;
}): RetentionVerdict {
  const { namespace, plan, retentionMs } = args;
  const totalMs = planTotalDurationMs(plan);
  const marginMs = retentionMarginMs(totalMs);
  const neededMs = totalMs + marginMs;
  const need = formatDuration(neededMs);
  const waits = planWaits(plan).map((w) => w.what);
  const needs = [
    `  the runbook can take ${formatDuration(totalMs)}: ${waits.join(' + ')}`,
    `  the margin after its end is ${formatDuration(marginMs)} (${marginRule}): \`migrate status\`, ` +
      "reports and a hand-started rollback read the migration's history, which the namespace deletes after its retention",
  ];
  const fix = `  raise it: temporal operator namespace update --namespace ${namespace} --retention ${days(neededMs)}d`;
  if (retentionMs === undefined || retentionMs <= 0) {
    const why = args.unknownBecause ?? 'the server reports none';
    const head = `cannot check the retention of namespace ${namespace} (${why}); plan ${plan.name} needs ${need}`;
    return {
      kind: 'warn',
      message: [head, ...needs, `  make sure it keeps closed workflows ${days(neededMs)}d or more`].join('\n'),
    };
  }
  if (retentionMs >= neededMs) return { kind: 'ok' };
  const head =
    `namespace ${namespace} keeps a closed workflow's history for ${formatDuration(retentionMs)} ` +
    `(${Math.round(retentionMs / HOUR_MS)}h), shorter than the ${need} plan ${plan.name} needs`;
  if (args.allowShort) return { kind: 'warn', message: [head, ...needs, fix].join('\n') };
  return {
    kind: 'refuse',
    retentionMs,
    neededMs,
    message: [head, ...needs, fix, '  or start anyway with --allow-short-retention (nothing was started)'].join('\n'),
  };
}

/** Whole days, rounded up. */
const days = (ms: number) => Math.ceil(ms / DAY_MS);

/** `21d 10h 5m`, `90s`, `250ms`: the largest units, zero parts left out. */
export function formatDuration(ms: number): string {
  const units: [string, number][] = [
    ['d', DAY_MS],
    ['h', HOUR_MS],
    ['m', 60_000],
    ['s', 1000],
    ['ms', 1],
  ];
  const parts: string[] = [];
  let rest = Math.round(ms);
  for (const [unit, size] of units) {
    const n = Math.floor(rest / size);
    if (n > 0) parts.push(`${n}${unit}`);
    rest -= n * size;
  }
  return parts.join(' ') || '0s';
}

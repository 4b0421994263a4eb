import { metricMeter } from '@temporalio/workflow';
import { PHASES, type Phase } from '../model/constants';
import type { MetricReading } from '../model/status';

/**
 * The migration's own metrics, through the SDK's workflow metric meter (emitted by the worker's runtime, e.g. to
 * its Prometheus endpoint; never while a history replays). Names and attributes are what docs/grafana-dashboard.json
 * queries. Metric objects are made on each call: the meter works only inside a workflow's context.
 */
const gauge = (name: string, description: string, type: 'int' | 'float' = 'int') =>
  metricMeter.createGauge(name, type, undefined, description);

/**
 * The phase entered: its index in the runbook's order (PHASES). One series per migration (no phase label), so the
 * value is the current phase even when the runbook goes back to an earlier index (the second backup); the dashboard
 * maps indexes to names.
 */
export function phaseMetric(migration: string, phase: Phase): void {
  gauge('migration_phase', 'index of the current phase in the runbook (PHASES order)').set(PHASES.indexOf(phase), {
    migration,
  });
}

/** The share of items routed to the unified pipeline. */
export function trafficMetric(migration: string, percent: number): void {
  gauge('migration_traffic_percent', 'percent of items on the unified pipeline').set(percent, { migration });
}

/** Each gate reading next to its threshold (readings without a value are not set). */
export function readingMetrics(migration: string, gate: string, step: string, readings: MetricReading[]): void {
  const value = gauge('migration_gate_reading', 'the last reading of a gate metric', 'float');
  const threshold = gauge('migration_gate_threshold', 'the threshold a gate metric is held to', 'float');
  for (const r of readings) {
    const tags = { migration, gate, metric: r.name, step };
    if (typeof r.value === 'number' && Number.isFinite(r.value)) value.set(r.value, tags);
    if (typeof r.threshold === 'number' && Number.isFinite(r.threshold)) threshold.set(r.threshold, tags);
  }
}

/** Approvals still missing at an open gate (0 when it closes). */
export function approvalsWaitingMetric(migration: string, gate: string, missing: number): void {
  gauge('migration_approvals_waiting', 'approvals still missing at the open gate').set(missing, { migration, gate });
}

/** A rollback started, from which phase and why (the interrupt's kind). */
export function rollbackMetric(migration: string, fromPhase: string, reason: string): void {
  metricMeter
    .createCounter('migration_rollbacks', undefined, 'rollbacks started')
    .add(1, { migration, from_phase: fromPhase, reason });
}

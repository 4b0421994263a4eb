import fs from 'node:fs';
import path from 'node:path';
import { PHASES } from '../../model/constants';

const FILE = path.join(__dirname, '..', '..', 'docs', 'grafana-dashboard.json');

/** The migration's own metrics (workflows/metrics.ts): no prefix, and no `_total` on the counter (SDK defaults). */
const MIGRATION_METRICS = [
  'migration_phase',
  'migration_traffic_percent',
  'migration_gate_reading',
  'migration_gate_threshold',
  'migration_approvals_waiting',
  'migration_rollbacks',
];

/**
 * The SDK worker metrics the dashboard may query, as the TypeScript SDK's core names them on its Prometheus endpoint
 * (`temporal_` prefix, histograms in milliseconds with `_bucket`), checked against a scrape of a 1.24 worker.
 */
const SDK_METRICS = [
  'temporal_workflow_task_execution_failed',
  'temporal_activity_execution_failed',
  'temporal_workflow_failed',
  'temporal_workflow_task_schedule_to_start_latency_bucket',
  'temporal_activity_schedule_to_start_latency_bucket',
  'temporal_activity_execution_latency_bucket',
  'temporal_worker_task_slots_available',
];

interface Target {
  expr: string;
  refId: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  fieldConfig?: { defaults?: { mappings?: { type: string; options: Record<string, { text: string }> }[] } };
}
interface Variable {
  name: string;
  type: string;
  query: string | { query: string };
  datasource?: { uid?: string };
}
interface Dashboard {
  schemaVersion: number;
  title: string;
  uid: string;
  panels: Panel[];
  templating: { list: Variable[] };
  __inputs?: { name: string; type: string; pluginId: string }[];
}

const dashboard = JSON.parse(fs.readFileSync(FILE, 'utf8')) as Dashboard;
const queried = dashboard.panels.filter((p) => p.targets?.length);
const exprs = queried.flatMap((p) => p.targets!.map((t) => t.expr));
/** Metric names in a PromQL expression: every selector is written `name{…}`. */
const metricNames = (expr: string) => [...expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\{/g)].map((m) => m[1]!);

describe('docs/grafana-dashboard.json', () => {
  it('is an importable dashboard: a schema version, a title and uid, panels with unique ids on the 24-column grid', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.title).toBeTruthy();
    expect(dashboard.uid).toMatch(/^[\w-]{1,40}$/);
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of dashboard.panels) {
      expect(Number.isInteger(p.id)).toBe(true);
      const { x, y, w, h } = p.gridPos;
      for (const n of [x, y, w, h]) expect(Number.isInteger(n)).toBe(true);
      expect(w).toBeGreaterThan(0);
      expect(h).toBeGreaterThan(0);
      expect(x + w).toBeLessThanOrEqual(24);
    }
  });

  it('asks for its Prometheus at import and queries it only through the datasource variable', () => {
    expect(dashboard.__inputs).toEqual([expect.objectContaining({ name: 'DS_PROMETHEUS', pluginId: 'prometheus' })]);
    const ds = dashboard.templating.list.find((v) => v.name === 'datasource');
    expect(ds).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(JSON.stringify(ds)).toContain('${DS_PROMETHEUS}');
    expect(queried.length).toBeGreaterThan(0);
    for (const p of queried) {
      expect(p.datasource?.uid).toBe('${datasource}');
      for (const t of p.targets!) expect(t.datasource?.uid ?? p.datasource?.uid).toBe('${datasource}');
      expect(new Set(p.targets!.map((t) => t.refId)).size).toBe(p.targets!.length);
    }
    for (const v of dashboard.templating.list.filter((x) => x.type === 'query'))
      expect(v.datasource?.uid).toBe('${datasource}');
  });

  it('chooses the migration from the label values of its metrics', () => {
    const migration = dashboard.templating.list.find((v) => v.name === 'migration');
    const query = typeof migration?.query === 'string' ? migration.query : migration?.query.query;
    expect(query).toBe('label_values(migration_phase, migration)');
    for (const name of MIGRATION_METRICS) {
      const own = exprs.filter((e) => metricNames(e).includes(name));
      for (const e of own) expect(e).toContain('migration=~"$migration"');
    }
  });

  it('knows the metrics the workflow emits (workflows/metrics.ts), no more and no fewer', () => {
    const source = fs.readFileSync(path.join(__dirname, '..', '..', 'workflows', 'metrics.ts'), 'utf8');
    const emitted = new Set([...source.matchAll(/'(migration_[a-z_]+)'/g)].map((m) => m[1]));
    expect([...emitted].sort()).toEqual([...MIGRATION_METRICS].sort());
  });

  it('queries each migration metric in at least one panel, and no metric name outside the known ones', () => {
    const names = new Set(exprs.flatMap(metricNames));
    for (const name of MIGRATION_METRICS) expect(names).toContain(name);
    for (const name of names) expect([...MIGRATION_METRICS, ...SDK_METRICS]).toContain(name);
  });

  it('names the phase by the runbook order of PHASES in every panel that shows it', () => {
    const phasePanels = queried.filter((p) => p.targets!.some((t) => metricNames(t.expr).includes('migration_phase')));
    expect(phasePanels.map((p) => p.type).sort()).toEqual(['stat', 'state-timeline']);
    for (const p of phasePanels) {
      const mapping = p.fieldConfig?.defaults?.mappings?.find((m) => m.type === 'value');
      expect(Object.entries(mapping?.options ?? {}).map(([index, o]) => [Number(index), o.text])).toEqual(
        PHASES.map((phase, i) => [i, phase]),
      );
    }
  });
});

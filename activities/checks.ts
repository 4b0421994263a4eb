import path from 'node:path';
import type { MetricReading } from '../workflows/definitions';
import type { CheckSpec, Comparator, Measurement, MetricSpec } from '../workflows/plan';
import { connect, pgTargetFromEnv } from './database';
import { heartbeat } from './heartbeat';
import { runCommand } from './process';
import { writeReportFiles } from './report-files';

/** Where a measurement runs: the default database, the repository commands run in, the window start. */
export interface MeasureContext {
  databaseUrlEnv: string;
  repository?: string;
  since?: string;
}

/** One measured value (null: no data) and what it was read from. */
export interface Measured {
  value: number | null;
  detail: string;
}

/** Outcome of one check. */
export interface CheckResult {
  name: string;
  description?: string;
  value: number | null;
  op: Comparator;
  threshold: number;
  unit?: string;
  passed: boolean;
  error?: string;
  detail: string;
  durationMs: number;
}

/** A set of checks with its report files (the validation report of the preflight, the rollback verification). */
export interface CheckReport {
  kind: string;
  title: string;
  passed: boolean;
  results: CheckResult[];
  markdownFile: string;
  jsonFile: string;
  at: string;
}

/** `value op threshold`. */
export function evaluate(value: number, op: Comparator, threshold: number): boolean {
  switch (op) {
    case '<':
      return value < threshold;
    case '<=':
      return value <= threshold;
    case '>':
      return value > threshold;
    case '>=':
      return value >= threshold;
    case '==':
      return Math.abs(value - threshold) < 1e-9;
    case '!=':
      return Math.abs(value - threshold) >= 1e-9;
  }
}

const LAST_NUMBER = /-?\d+(?:\.\d+)?(?!.*-?\d)/s;

function extract(text: string, pattern: string | undefined, what: string): number | null {
  const m = pattern ? new RegExp(pattern, 'm').exec(text) : LAST_NUMBER.exec(text);
  const raw = pattern ? m?.[1] : m?.[0];
  if (raw === undefined) throw new Error(`${what}: no number found${pattern ? ` by pattern ${pattern}` : ''}`);
  const n = Number(raw.replace(/,/g, ''));
  if (!Number.isFinite(n)) throw new Error(`${what}: ${JSON.stringify(raw)} is not a number`);
  return n;
}

function jsonAt(body: string, dotPath: string): number | null {
  let v: unknown = JSON.parse(body);
  for (const key of dotPath.split('.').filter(Boolean)) {
    if (v === null || typeof v !== 'object') return null;
    v = (v as Record<string, unknown>)[key];
  }
  if (v === null || v === undefined) return null;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`value at ${dotPath} is not a number`);
  return n;
}

/** Reads one number: an SQL query, a command's output, or an HTTP response. */
export async function measure(m: Measurement, ctx: MeasureContext): Promise<Measured> {
  switch (m.kind) {
    case 'sql': {
      const db = await connect(pgTargetFromEnv(m.databaseUrlEnv ?? ctx.databaseUrlEnv));
      try {
        const params = m.query.includes('$1') ? [ctx.since ?? new Date(0).toISOString()] : [];
        const r = await db.query({ text: m.query, values: params, rowMode: 'array' });
        const raw = (r.rows[0] as unknown[] | undefined)?.[0];
        if (raw === null || raw === undefined) return { value: null, detail: 'query returned no value' };
        const n = Number(raw);
        if (!Number.isFinite(n)) throw new Error(`query returned ${JSON.stringify(raw)}, not a number`);
        return { value: n, detail: `sql: ${n}` };
      } finally {
        await db.end();
      }
    }
    case 'command': {
      const cwd = m.cwd || ctx.repository ? path.resolve(ctx.repository ?? '.', m.cwd ?? '.') : undefined;
      const [cmd, args] = m.shell ? ['/bin/sh', ['-c', m.command.join(' ')]] : [m.command[0]!, m.command.slice(1)];
      const r = await runCommand(cmd, args, {
        cwd,
        timeoutMs: m.timeoutMs ?? 60_000,
        onTick: () => heartbeat(`running ${m.command[0]}`),
      });
      if (r.signal === 'SIGKILL') throw new Error(`command timed out after ${m.timeoutMs ?? 60_000} ms`);
      if (r.code !== 0) throw new Error(`command exited ${r.code}: ${r.stderr.trim().slice(-300)}`);
      const value = extract(r.stdout, m.pattern, 'command output');
      return { value, detail: r.stdout.trim().split('\n').slice(-1)[0] ?? '' };
    }
    case 'http': {
      const res = await fetch(m.url, { signal: AbortSignal.timeout(m.timeoutMs ?? 30_000) });
      const body = await res.text();
      if (!res.ok) throw new Error(`HTTP ${res.status} from ${new URL(m.url).origin}`);
      const value = m.jsonPath ? jsonAt(body, m.jsonPath) : extract(body, m.pattern, 'response body');
      return { value, detail: `HTTP ${res.status}` };
    }
  }
}

/** Measures one check and compares it with its threshold; an error is a failed check, never a passed one. */
export async function runCheck(check: CheckSpec, ctx: MeasureContext): Promise<CheckResult> {
  const t0 = Date.now();
  const base = {
    name: check.name,
    ...(check.description ? { description: check.description } : {}),
    op: check.op,
    threshold: check.threshold,
    ...(check.unit ? { unit: check.unit } : {}),
  };
  try {
    const { value, detail } = await measure(check.measure, ctx);
    return {
      ...base,
      value,
      passed: value !== null && evaluate(value, check.op, check.threshold),
      detail,
      durationMs: Date.now() - t0,
    };
  } catch (err) {
    const error = (err as Error).message;
    return { ...base, value: null, passed: false, error, detail: error, durationMs: Date.now() - t0 };
  }
}

/** Markdown of a check report: one table row per check. */
export function renderCheckReport(r: Omit<CheckReport, 'markdownFile' | 'jsonFile'>, migrationId: string): string {
  const fmt = (c: CheckResult) =>
    c.value === null ? (c.error ? `error: ${c.error}` : 'no data') : `${c.value}${c.unit ? ` ${c.unit}` : ''}`;
  return [
    `# ${r.title}`,
    '',
    `Migration \`${migrationId}\`, ${r.at}: **${r.passed ? 'PASSED' : 'FAILED'}** (${r.results.filter((c) => c.passed).length}/${r.results.length} checks passed).`,
    '',
    '| Check | Value | Threshold | Result |',
    '|---|---|---|---|',
    ...r.results.map(
      (c) =>
        `| ${c.description ?? c.name} | ${fmt(c).replace(/\|/g, '\\|')} | ${c.op} ${c.threshold}${c.unit ? ` ${c.unit}` : ''} | ${c.passed ? 'pass' : 'FAIL'} |`,
    ),
    '',
  ].join('\n');
}

/** Runs every check and writes the report (`<reportDir>/<migrationId>/<kind>.md|.json`). */
export async function runChecks(input: {
  migrationId: string;
  title: string;
  kind: string;
  checks: CheckSpec[];
  databaseUrlEnv: string;
  repository?: string;
  reportDir: string;
  since?: string;
}): Promise<CheckReport> {
  const results: CheckResult[] = [];
  for (const c of input.checks) {
    heartbeat(`check ${c.name}`);
    results.push(await runCheck(c, input));
  }
  const report = {
    kind: input.kind,
    title: input.title,
    passed: results.every((r) => r.passed),
    results,
    at: new Date().toISOString(),
  };
  const files = await writeReportFiles(
    input.reportDir,
    input.migrationId,
    input.kind,
    renderCheckReport(report, input.migrationId),
    report,
  );
  return { ...report, ...files };
}

/** Reads every metric over the window since `since`; `passed: null` when there was no data. */
export async function evaluateMetrics(input: {
  migrationId: string;
  metrics: MetricSpec[];
  databaseUrlEnv: string;
  since: string;
  repository?: string;
}): Promise<MetricReading[]> {
  const readings: MetricReading[] = [];
  for (const m of input.metrics) {
    const r = await runCheck(m, input);
    // A measurement that cannot be taken (database down, command failing) is retried by Temporal with backoff,
    // never turned into a reading: a failed gate must not pass, and a blip must not roll back by itself.
    if (r.error) throw new Error(`metric ${m.name} could not be measured: ${r.error}`);
    readings.push({
      name: m.name,
      value: r.value,
      op: m.op,
      threshold: m.threshold,
      ...(m.unit ? { unit: m.unit } : {}),
      passed: r.value === null ? null : r.passed,
      detail: r.detail,
      at: new Date().toISOString(),
    });
  }
  return readings;
}

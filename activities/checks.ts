import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { CheckResult, MetricReading } from '../model/status';
import { formatExact, formatReading } from '../model/format';
import type { CheckSpec, Comparator, Measurement, MetricSpec } from '../model/plan';
import {
  connect,
  DEFAULT_STATEMENT_TIMEOUT_MS,
  inReadOnlyTransaction,
  oneStatement,
  pgTargetFromEnv,
  refuseActingSql,
  refusedSql,
  statementTimedOut,
  usesSince,
} from './database';
import { ErrorType, permanent } from './errors';
import { heartbeat, withHeartbeats } from './heartbeat';
import { envSecrets, redact, redactError } from './redact';
import type { LedgerSpec } from './ledger';
import { activitySignal, runBounded, throwIfCancelled } from './process';
import { writeReportFiles, type ReportFiles } from './report-files';
import type { TargetInput } from './target';

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
  /** How many samples the value stands on (an SQL measurement's second column), when known. */
  samples?: number;
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
  /** Asked to (`RunChecksInput.ledger`): whether it went to the ledger database too (`ReportFiles`). */
  stored?: ReportFiles['stored'];
}

/** `value op threshold`; `==` and `!=` allow 1e-9 for floating-point noise. */
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
    default:
      throw permanent(ErrorType.InvalidInput, `unknown comparator ${JSON.stringify(op satisfies never)}`);
  }
}

/** The last number in a text (what a command check reads when it names no pattern). */
const LAST_NUMBER = /(?:(?<!\w)-)?(?<![\d.])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?!.*\d)/s;

const DEFAULT_COMMAND_TIMEOUT_MS = 60_000;
const DEFAULT_HTTP_TIMEOUT_MS = 30_000;

function extract(text: string, pattern: string | undefined, what: string): number {
  let raw: string | undefined;
  if (pattern) {
    const m = new RegExp(pattern, 'm').exec(text);
    // A pattern without a capture group reads its whole match.
    raw = m ? (m[1] ?? m[0]) : undefined;
  } else raw = LAST_NUMBER.exec(text)?.[0];
  if (raw === undefined) throw new Error(`${what}: no number found${pattern ? ` by pattern ${pattern}` : ''}`);
  const n = Number(raw.trim().replace(/,/g, ''));
  if (raw.trim() === '' || !Number.isFinite(n)) throw new Error(`${what}: ${JSON.stringify(raw)} is not a number`);
  return n;
}

/** The number at a dot path (`a.b.0.c`); JSON null is "no data", a missing key is an error (likely a typo). */
function jsonAt(body: string, dotPath: string): number | null {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    throw new Error(`response body is not JSON (jsonPath ${dotPath})`);
  }
  for (const key of dotPath.split('.').filter(Boolean)) {
    if (v === null || typeof v !== 'object' || !(key in v)) throw new Error(`no value at jsonPath ${dotPath}`);
    v = (v as Record<string, unknown>)[key];
  }
  if (v === null) return null;
  const n = typeof v === 'string' && v.trim() === '' ? NaN : Number(v);
  if (typeof v === 'object' || !Number.isFinite(n)) throw new Error(`value at jsonPath ${dotPath} is not a number`);
  return n;
}

const secretsOf = (m: Measurement, ctx: MeasureContext) =>
  envSecrets([ctx.databaseUrlEnv, ...(m.kind === 'sql' && m.databaseUrlEnv ? [m.databaseUrlEnv] : [])]);

/** The worker setting that allows `shell: true` commands (off unless set to 1). */
export const ALLOW_SHELL = 'MO_ALLOW_SHELL';

const oneLine = (s: string, max: number) => s.replace(/\s+/g, ' ').trim().slice(-max);

async function measureSql(
  m: Extract<Measurement, { kind: 'sql' }>,
  ctx: MeasureContext,
  what: string,
): Promise<Measured> {
  refuseActingSql(what, m.query);
  const db = await connect(pgTargetFromEnv(m.databaseUrlEnv ?? ctx.databaseUrlEnv));
  try {
    // Without a window (preflight), `$1` means "since the beginning".
    const values = usesSince(m.query) ? [ctx.since ?? new Date(0).toISOString()] : [];
    const timeoutMs = m.timeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS;
    // A measurement, never a change: one statement, in a read-only transaction, rolled back, within its time.
    const r = await inReadOnlyTransaction(
      db,
      () => db.query<unknown[]>(oneStatement({ text: m.query, values, rowMode: 'array' as const })),
      undefined,
      timeoutMs,
    ).catch((err: unknown) => {
      if (statementTimedOut(err)) throw new Error(`${what}: its SQL ran past its statement timeout of ${timeoutMs} ms`);
      throw refusedSql(what, err);
    });
    const raw = r.rows[0]?.[0];
    // A second column, when the query returns one, is the number of samples behind the value.
    const rawSamples = r.rows[0]?.[1];
    const samples = rawSamples === null || rawSamples === undefined ? undefined : Number(rawSamples);
    const counted = samples !== undefined && Number.isFinite(samples) ? { samples } : {};
    if (raw === null || raw === undefined)
      return { value: null, detail: r.rows.length ? 'NULL' : 'no rows', ...counted };
    // numeric and bigint arrive as strings; a boolean reads as 1 or 0.
    const n = typeof raw === 'string' && raw.trim() === '' ? NaN : Number(raw);
    if (!Number.isFinite(n)) throw new Error(`query returned ${JSON.stringify(raw)}, not a number`);
    return { value: n, detail: `${r.rows.length} row(s), first value ${n}`, ...counted };
  } finally {
    await db.end().catch(() => undefined);
  }
}

async function measureCommand(m: Extract<Measurement, { kind: 'command' }>, ctx: MeasureContext): Promise<Measured> {
  if (!m.command.length || !m.command[0]) throw new Error('command is empty');
  const cwd = m.cwd !== undefined || ctx.repository ? path.resolve(ctx.repository ?? '.', m.cwd ?? '.') : undefined;
  // A shell runs only where the worker's operator allowed it: a plan cannot give itself one on a host that holds the
  // Docker socket and the crontab.
  if (m.shell && process.env[ALLOW_SHELL] !== '1')
    throw permanent(
      ErrorType.ShellNotAllowed,
      `shell: true is refused: this worker runs shell commands only when started with ${ALLOW_SHELL}=1 (off by default); split the command into arguments, or allow shells on this worker`,
    );
  // No shell unless the plan declares one: arguments such as `$(…)` or `;` reach the program literally.
  const [cmd, args] = m.shell ? ['/bin/sh', ['-c', m.command.join(' ')]] : [m.command[0], m.command.slice(1)];
  const timeoutMs = m.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const r = await runBounded(cmd, args, {
    cwd,
    timeoutMs,
    onTick: () => heartbeat(`running ${m.command[0]}`),
    signal: activitySignal(),
  });
  if (r.cancelled) throw new Error('command cancelled');
  if (r.timedOut) throw new Error(`command timed out after ${timeoutMs} ms`);
  if (r.code !== 0) {
    const how = r.code === null ? `was killed by ${r.signal}` : `exited ${r.code}`;
    const tail = oneLine(r.stderr || r.stdout, 300);
    throw new Error(`command ${how}${tail ? `: ${tail}` : ''}`);
  }
  const value = extract(r.stdout, m.pattern, 'command output');
  return { value, detail: oneLine(r.stdout.trim().split('\n').at(-1) ?? '', 200) };
}

async function measureHttp(m: Extract<Measurement, { kind: 'http' }>): Promise<Measured> {
  const timeoutMs = m.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS;
  const cancel = activitySignal();
  const timeout = AbortSignal.timeout(timeoutMs);
  // Only the origin is shown: a query string may carry a token.
  const where = new URL(m.url).origin;
  let res: Response;
  let body: string;
  try {
    res = await fetch(m.url, { signal: cancel ? AbortSignal.any([timeout, cancel]) : timeout });
    body = await res.text();
  } catch (err) {
    if (timeout.aborted) throw new Error(`HTTP request to ${where} timed out after ${timeoutMs} ms`);
    const cause = (err as Error & { cause?: Error }).cause;
    throw new Error(`HTTP request to ${where} failed: ${cause?.message ?? (err as Error).message}`);
  }
  if (!res.ok) throw new Error(`HTTP ${res.status} from ${where}`);
  const value = m.jsonPath ? jsonAt(body, m.jsonPath) : extract(body, m.pattern, 'response body');
  return { value, detail: `HTTP ${res.status} from ${where}` };
}

/**
 * Reads one number: an SQL query (one read-only statement), a command's output, or an HTTP response (null value: no
 * data). `what` names the measurement (`check x`, `metric x`) in its heartbeats and in a refusal of its SQL.
 */
export async function measure(m: Measurement, ctx: MeasureContext, what = `${m.kind} measurement`): Promise<Measured> {
  try {
    // Heartbeats from the connection on, whatever the kind: a check must not go quiet for the heartbeat timeout.
    const r = await withHeartbeats(
      what,
      m.kind === 'sql' ? measureSql(m, ctx, what) : m.kind === 'command' ? measureCommand(m, ctx) : measureHttp(m),
    );
    return { ...r, detail: redact(r.detail, secretsOf(m, ctx)) };
  } catch (err) {
    const secrets = secretsOf(m, ctx);
    // A permanent failure keeps its type; any other error is only its message (a driver's error carries more).
    throw redactError(err instanceof ApplicationFailure ? err : new Error((err as Error).message), secrets);
  }
}

/** Measures one check and compares it with its threshold; an error or no data is a failed check, never a passed one. */
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
    const { value, detail } = await measure(check.measure, ctx, `check ${check.name}`);
    return {
      ...base,
      value,
      passed: value !== null && evaluate(value, check.op, check.threshold),
      detail,
      durationMs: Date.now() - t0,
    };
  } catch (err) {
    throwIfCancelled();
    const error = (err as Error).message;
    return { ...base, value: null, passed: false, error, detail: error, durationMs: Date.now() - t0 };
  }
}

/** A Markdown table cell: one line, pipes escaped. */
const cell = (s: string) => s.replace(/\s+/g, ' ').trim().replace(/\|/g, '\\|');

/**
 * The verdict of a check report: FAILED when a check that ran failed, NOT ALL RUN when every check that ran passed
 * and some were not run (a rehearsal's commands not marked `readOnly`), else PASSED; with the counts.
 */
export function checkVerdict(results: CheckResult[]): string {
  const notRun = results.filter((c) => c.wouldRun !== undefined).length;
  const ran = results.length - notRun;
  const passed = results.filter((c) => c.passed).length;
  const verdict = passed < ran ? 'FAILED' : notRun ? 'NOT ALL RUN' : 'PASSED';
  if (!notRun) return `**${verdict}** (${passed}/${ran} checks passed)`;
  return `**${verdict}** (${passed}/${ran} checks that ran passed; ${notRun} not run, neither passed nor failed: commands not marked readOnly, which a rehearsal does not run)`;
}

/** Markdown of a check report: one table row per check (check, value, threshold, result), then the details. */
export function renderCheckReport(
  r: Omit<CheckReport, 'markdownFile' | 'jsonFile'>,
  migrationId: string,
  digest?: string,
): string {
  // For people: grouped, rounded no further than the verdict allows (formatReading); the JSON keeps the raw value.
  const value = (c: CheckResult) =>
    c.wouldRun !== undefined
      ? 'not run'
      : c.value === null
        ? c.error
          ? 'error'
          : 'no data'
        : formatReading(c.value, c.threshold, c.unit);
  const result = (c: CheckResult) => (c.wouldRun !== undefined ? 'would run' : c.passed ? 'pass' : 'FAIL');
  const lines = [
    `# ${r.title}`,
    '',
    `Migration \`${migrationId}\`, ${r.at}: ${checkVerdict(r.results)}.`,
    '',
    ...(digest ? [`Plan sha256 \`${digest}\`.`, ''] : []),
    '| Check | Value | Threshold | Result |',
    '|---|---|---|---|',
    ...r.results.map(
      (c) =>
        `| ${cell(c.name)} | ${cell(value(c))} | ${cell(`${c.op} ${formatExact(c.threshold, c.unit)}`)} | ${result(c)} |`,
    ),
    '',
  ];
  const notes = r.results.filter((c) => c.description || c.error || c.value === null || c.warning);
  if (notes.length) {
    lines.push('## Details', '');
    for (const c of notes) {
      const what =
        c.wouldRun !== undefined
          ? `not run: a real run runs \`${c.wouldRun}\``
          : c.error
            ? `error: ${c.error}`
            : c.value === null
              ? `no data (${c.detail})`
              : c.warning
                ? `warning: ${c.warning}`
                : '';
      lines.push(
        `- **${cell(c.name)}**${c.description ? `: ${cell(c.description)}` : ''}${what ? ` — ${cell(what)}` : ''}`,
      );
    }
    lines.push('');
  }
  return lines.join('\n');
}

/** What `runChecks` is asked to check. */
export interface RunChecksInput {
  migrationId: string;
  title: string;
  kind: string;
  checks: CheckSpec[];
  databaseUrlEnv: string;
  repository?: string;
  reportDir: string;
  since?: string;
  /** The plan the checks come from (shown in the report). */
  planDigest?: string;
  /** The preflight: check the plan against the target too (`activities/target.ts`), before the plan's own checks. */
  target?: TargetInput;
  /**
   * Results measured elsewhere (by the agents on the target hosts, `hostChecks`): their target findings come first,
   * and a check of `checks` with a result here is not measured again.
   */
  measured?: CheckResult[];
  /**
   * Store the report in this ledger's database too (`writeReportFiles`), for `migrate report` from any machine. Only
   * when asked: a rehearsal runs the real checks and must write nothing to the target.
   */
  ledger?: LedgerSpec;
}

/** What an agent measures for the central report: its host's target probes and the checks that run there. */
export interface HostChecksInput {
  migrationId: string;
  checks: CheckSpec[];
  databaseUrlEnv: string;
  repository?: string;
  since?: string;
  target?: TargetInput;
}

/** Runs an agent's share of a check report (no report file: the central workers write it, see `runChecks`). */
export async function hostChecks(
  input: HostChecksInput,
  checkTarget: (migrationId: string, target: TargetInput) => Promise<CheckResult[]>,
): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  if (input.target) {
    results.push(...(await withHeartbeats('target checks', checkTarget(input.migrationId, input.target))));
  }
  for (const c of input.checks) {
    heartbeat(`check ${c.name}`);
    throwIfCancelled();
    results.push(await runCheck(c, input));
  }
  return results;
}

/**
 * Runs every check and writes the report (`<reportDir>/<migrationId>/<kind>.md|.json`, overwritten on a retry).
 * `checkTarget` checks the plan against the target when the input asks for it (the worker binds it).
 */
export async function runChecks(
  input: RunChecksInput,
  checkTarget?: (migrationId: string, target: TargetInput) => Promise<CheckResult[]>,
): Promise<CheckReport> {
  const measured = input.measured ?? [];
  const results: CheckResult[] = measured.filter((r) => r.name.startsWith('target: '));
  if (input.target) {
    if (!checkTarget) throw new Error('runChecks: a target check was asked for, and this worker cannot run one');
    results.push(...(await withHeartbeats('target checks', checkTarget(input.migrationId, input.target))));
  }
  for (const c of input.checks) {
    heartbeat(`check ${c.name}`);
    throwIfCancelled();
    results.push(measured.find((r) => r.name === c.name) ?? (await runCheck(c, input)));
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
    renderCheckReport(report, input.migrationId, input.planDigest),
    report,
    input.ledger ? { ledger: input.ledger } : {},
  );
  return { ...report, ...files };
}

/**
 * Reads every metric over the window since `since` (no report files); `passed: null` when there was no data.
 * A metric that cannot be measured fails the activity instead of producing a reading (see below).
 */
export async function evaluateMetrics(input: {
  migrationId: string;
  metrics: MetricSpec[];
  databaseUrlEnv: string;
  since: string;
  repository?: string;
}): Promise<MetricReading[]> {
  const readings: MetricReading[] = [];
  for (const m of input.metrics) {
    heartbeat(`metric ${m.name}`);
    let measured: Measured;
    try {
      measured = await measure(m.measure, input, `metric ${m.name}`);
    } catch (err) {
      throwIfCancelled();
      // Permanent failures (a missing secret) stay permanent. Anything else (database down, command failing) is
      // retried by Temporal with backoff, never turned into a reading: a failed gate must not pass, and a blip must
      // not roll back by itself.
      if (err instanceof ApplicationFailure && err.nonRetryable) throw err;
      throw new Error(`metric ${m.name} could not be measured: ${(err as Error).message}`);
    }
    // Inconclusive (null), never passed or failed: no data, or fewer samples than the plan asks for.
    const tooFew = m.minSamples !== undefined && (measured.samples ?? 0) < m.minSamples;
    readings.push({
      name: m.name,
      value: measured.value,
      op: m.op,
      threshold: m.threshold,
      ...(m.unit ? { unit: m.unit } : {}),
      passed: measured.value === null || tooFew ? null : evaluate(measured.value, m.op, m.threshold),
      detail: tooFew
        ? `${measured.samples ?? 0} sample(s), fewer than ${m.minSamples}; ${measured.detail}`
        : measured.detail,
      ...(measured.samples !== undefined ? { samples: measured.samples } : {}),
      ...(m.dryRun ? { dryRun: true } : {}),
      at: new Date().toISOString(),
    });
  }
  return readings;
}

/**
 * The migration plan's YAML form as one zod schema: what a plan may say (the JSON Schema editors read is generated from
 * it), what each field means, the messages a wrong field gets, and the transform to the normalised plan the workflow
 * runs (`Plan` in `./plan`, whose types are derived from here). Workflow-safe: only `zod` and `model/`; paths on the
 * worker's disk are resolved by the caller's `resolvePath`.
 *
 * The form (`./plan-sections`, one schema builder per section, built from `./plan-form`) validates and `toPlan` here
 * normalises: no field below the top transforms its value, so the rules that read the whole plan (the inline-secret
 * sweep) see it as written, at the paths it was written at.
 */

import { z } from 'zod';
import { DEFAULT_STOP_GRACE_MS, GATES, type GateName, type RetryKind } from './constants';
import { type Key, normalizePosixPath, parseDuration, under } from './plan-form';
import { gateSignable, type KeySource, keyRules, parseAllowedSigners, type RuleIssue } from './plan-rules';
import { approverName, buildPlanForm, byGate, type CheckForm, gateRole, type PlanForm } from './plan-sections';
import { parseEd25519PublicKey } from './signatures';

export { normalizePosixPath, parseDuration };

/** How the plan's paths on the worker's disk are resolved (the client: against the plan file's folder). */
export interface PlanSchemaOptions {
  resolvePath: (p: string) => string;
  /** Reads the file `approvals.keysFile` names (already resolved); absent where no file can be read. */
  readFile?: (p: string) => string;
}

/** The plan's YAML form, validated and normalised into the plan the workflow runs. */
export function planSchema(options: PlanSchemaOptions) {
  return buildPlanForm().transform((form, ctx) => {
    const approvers = approverKeys(form, options);
    const { keys } = approvers;
    // A gate only people without a key could sign is one the workflow refuses every approval of.
    const issues = approvers.issues.length ? approvers.issues : signableWithKeys(form, Object.keys(keys));
    for (const i of issues) ctx.addIssue({ code: 'custom', path: i.path, message: i.message, params: { rule: true } });
    return issues.length ? z.NEVER : toPlan(form, options.resolvePath, keys);
  });
}

/** With keys, every gate can be signed by the people who have one (all approvals are signed). */
function signableWithKeys(f: PlanForm, keyHolders: string[]): RuleIssue[] {
  if (!keyHolders.length) return [];
  return GATES.flatMap((g) =>
    under(
      ['approvals', 'gates', g],
      gateSignable(f.approvals.gates[g].roles.map(gateRole), f.approvals.separationOfDuties, keyHolders),
    ),
  );
}

/**
 * Every approver's key, from `approvals.keys`, the allow-list entries `{ name, key }` and `approvals.keysFile`: one key
 * per person, and with keys, one for every person on an allow-list (someone without one could never sign).
 */
function approverKeys(f: PlanForm, options: PlanSchemaOptions): { keys: Record<string, string>; issues: RuleIssue[] } {
  const found: KeySource[] = Object.entries(f.approvals.keys ?? {}).map(([name, key]) => ({
    name,
    key,
    path: ['approvals', 'keys', name],
  }));
  const listed: { name: string; path: Key[] }[] = [];
  for (const g of GATES)
    f.approvals.gates[g].roles.forEach((r, i) => {
      if (typeof r === 'string') return;
      r.approvers?.forEach((a, j) => {
        const path = ['approvals', 'gates', g, 'roles', i, 'approvers', j];
        listed.push({ name: approverName(a), path });
        if (typeof a !== 'string') found.push({ name: a.name, key: a.key, path: [...path, 'key'] });
      });
    });
  const file = f.approvals.keysFile;
  const fromFile = file === undefined ? { sources: [], issues: [] } : readKeysFile(file, options);
  return keyRules([...found, ...fromFile.sources], listed, fromFile.issues);
}

function readKeysFile(file: string, options: PlanSchemaOptions): { sources: KeySource[]; issues: RuleIssue[] } {
  const path = ['approvals', 'keysFile'];
  if (!options.readFile)
    return { sources: [], issues: [{ path, message: 'cannot be read here: give the keys inline (approvals.keys)' }] };
  let text: string;
  try {
    text = options.readFile(options.resolvePath(file));
  } catch (err) {
    return { sources: [], issues: [{ path, message: `cannot read the keys file: ${(err as Error).message}` }] };
  }
  const { sources, issues } = parseAllowedSigners(text, path);
  const bad = sources.filter((s) => typeof parseEd25519PublicKey(s.key) === 'string');
  return {
    sources: sources.filter((s) => !bad.includes(s)),
    issues: [
      ...issues,
      ...bad.map((s) => ({
        path,
        message: `${s.where}: the key of ${s.name} is refused: ${String(parseEd25519PublicKey(s.key))}`,
      })),
    ],
  };
}

function toPlan(f: PlanForm, resolvePath: (p: string) => string, keys: Record<string, string>) {
  const target = {
    databaseUrlEnv: f.target.databaseUrlEnv,
    repository: resolvePath(f.target.repository),
    composeProject: f.target.composeProject,
    backupDir: resolvePath(f.target.backupDir),
    ...(f.target.backupTimeout !== undefined ? { backupTimeoutMs: ms(f.target.backupTimeout) } : {}),
    reportDir: resolvePath(f.target.reportDir),
    ...(f.target.metricsDatabaseUrlEnv !== undefined ? { metricsDatabaseUrlEnv: f.target.metricsDatabaseUrlEnv } : {}),
    ...(f.target.allowPrivilegedSqlRole ? { allowPrivilegedSqlRole: true } : {}),
    // Left out when absent, so a plan from before it normalises as it did (and its digest is the same).
    ...(f.target.backupVerifyDatabaseUrlEnv !== undefined
      ? { backupVerifyDatabaseUrlEnv: f.target.backupVerifyDatabaseUrlEnv }
      : {}),
    ...(f.target.agentQueue !== undefined ? { agentQueue: f.target.agentQueue } : {}),
    ...(f.target.agentQueues !== undefined ? { agentQueues: f.target.agentQueues } : {}),
  };
  // Gate and check SQL connects through the metrics variable (a read-only role) unless a check names its own.
  const sqlUrlEnv = f.target.metricsDatabaseUrlEnv;
  const toChecked = (c: CheckForm) => toCheck(c, sqlUrlEnv);
  // `{repository}` in a job's command stands for the target repository's absolute path.
  const inRepository = (command: string[]) => command.map((a) => a.split('{repository}').join(target.repository));
  const { parallelRun: pr, durations: d } = f;
  return {
    name: f.name,
    ...(f.description !== undefined ? { description: f.description } : {}),
    target,
    legacyJobs: f.legacyJobs.map((j) => toJob(j, inRepository)),
    unifiedJob: {
      ...toJob(f.unifiedJob, inRepository),
      containers: f.unifiedJob.containers.map((c) => toContainer(c, resolvePath)),
      // The default is left out, so a plan from before it normalises as it did (and its digest is the same).
      ...(ms(f.unifiedJob.stopGrace) !== DEFAULT_STOP_GRACE_MS ? { stopGraceMs: ms(f.unifiedJob.stopGrace) } : {}),
    },
    scheduler: toScheduler(f.scheduler),
    traffic: { router: toRouter(f.traffic.router), steps: f.traffic.steps },
    parallelRun: {
      comparisonQuery: pr.comparisonSql,
      ...(pr.mismatchSql !== undefined ? { mismatchQuery: pr.mismatchSql } : {}),
      minMatchRatio: pr.minMatchRatio,
      ...(pr.showMismatchValues !== undefined ? { showMismatchValues: pr.showMismatchValues } : {}),
    },
    metrics: f.metrics.map((m) => toMetric(m, sqlUrlEnv)),
    preflight: f.preflight.map(toChecked),
    durations: {
      parallelRunMs: ms(d.parallelRun),
      bakeMs: ms(d.bake),
      monitoringWindowMs: ms(d.monitoringWindow),
      soakMs: ms(d.soak),
      soakIntervalMs: ms(d.soakInterval),
    },
    approvals: {
      gates: byGate((g) => toGate(f.approvals.gates[g])),
      separationOfDuties: f.approvals.separationOfDuties,
      ...(Object.keys(keys).length ? { keys } : {}),
      // Left out when absent, so a plan from before it normalises as it did (and its digest is the same).
      ...(f.approvals.signatureWindow !== undefined ? { signatureWindowMs: ms(f.approvals.signatureWindow) } : {}),
    },
    soak: { onFailure: f.soak.onFailure },
    notifications: toNotifications(f.notifications),
    archive: { docs: f.archive.docs.map(normalizePosixPath), reason: f.archive.reason },
    rollback: { checks: f.rollback.checks.map(toChecked), budgetMs: ms(f.rollback.budget) },
    ledger: {
      databaseUrlEnv: f.ledger.databaseUrlEnv ?? target.databaseUrlEnv,
      table: f.ledger.table,
      // As the key line is compared: type and key, no comment.
      ...(f.ledger.sealKey !== undefined
        ? { sealKey: f.ledger.sealKey.trim().split(/\s+/).slice(0, 2).join(' ') }
        : {}),
    },
    successMetrics: f.successMetrics.map(toChecked),
    ...(f.retry !== undefined ? { retry: toRetry(f.retry) } : {}),
  };
}

/** One kind of step's retry budget, normalised: only what the plan sets, in milliseconds. */
export interface StepRetry {
  initialIntervalMs?: number;
  maximumIntervalMs?: number;
  maximumAttempts?: number;
  heartbeatTimeoutMs?: number;
}

/** The retry budgets in milliseconds, only the fields the plan sets (`workflows/proxies.ts` fills in the rest). */
function toRetry(r: NonNullable<PlanForm['retry']>) {
  const step = (s: {
    initialInterval?: string;
    maximumInterval?: string;
    maximumAttempts?: number;
    heartbeatTimeout?: string;
  }) => ({
    ...(s.initialInterval !== undefined ? { initialIntervalMs: ms(s.initialInterval) } : {}),
    ...(s.maximumInterval !== undefined ? { maximumIntervalMs: ms(s.maximumInterval) } : {}),
    ...(s.maximumAttempts !== undefined ? { maximumAttempts: s.maximumAttempts } : {}),
    ...(s.heartbeatTimeout !== undefined ? { heartbeatTimeoutMs: ms(s.heartbeatTimeout) } : {}),
  });
  return Object.fromEntries(
    Object.entries(r).flatMap(([kind, s]) => (s === undefined ? [] : [[kind, step(s)]])),
  ) as Partial<Record<RetryKind, StepRetry>>;
}

/** A value the schema has made sure of; its absence here is a bug in the schema, not in the plan. */
function sure<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`plan schema: ${what} passed validation without a value`);
  return value;
}

/** `{ [key]: true }` for a flag that is on, else nothing: the normalised plan spells out only the flags that are on. */
function onlyIfOn<K extends string>(key: K, on: boolean): Partial<Record<K, boolean>> {
  return on ? ({ [key]: on } as Record<K, boolean>) : {};
}

/** A duration the schema has checked, in milliseconds. */
const ms = (d: string) => sure(parseDuration(d), 'a duration');

function toCheck(c: CheckForm, sqlUrlEnv: string | undefined) {
  return {
    name: c.name,
    op: c.op,
    threshold: c.threshold,
    measure: toMeasurement(c, sqlUrlEnv),
    ...(c.description !== undefined ? { description: c.description } : {}),
    ...(c.unit !== undefined ? { unit: c.unit } : {}),
  };
}

/** `sqlUrlEnv`: the plan's `target.metricsDatabaseUrlEnv`, the connection of SQL that names none of its own. */
function toMeasurement(c: CheckForm, sqlUrlEnv: string | undefined) {
  const databaseUrlEnv = c.databaseUrlEnv ?? sqlUrlEnv;
  if (c.sql !== undefined)
    return {
      kind: 'sql' as const,
      query: c.sql,
      ...(databaseUrlEnv !== undefined ? { databaseUrlEnv } : {}),
      ...(c.timeout !== undefined ? { timeoutMs: ms(c.timeout) } : {}),
    };
  if (c.command !== undefined)
    return {
      kind: 'command' as const,
      command: typeof c.command === 'string' ? [c.command] : c.command,
      ...onlyIfOn('shell', c.shell),
      ...onlyIfOn('readOnly', c.readOnly),
      ...(c.pattern !== undefined ? { pattern: c.pattern } : {}),
      ...(c.timeout !== undefined ? { timeoutMs: ms(c.timeout) } : {}),
      ...(c.cwd !== undefined ? { cwd: normalizePosixPath(c.cwd) } : {}),
    };
  return {
    kind: 'http' as const,
    url: sure(c.http, 'a check source'),
    ...(c.pattern !== undefined ? { pattern: c.pattern } : {}),
    ...(c.jsonPath !== undefined ? { jsonPath: c.jsonPath } : {}),
    ...(c.timeout !== undefined ? { timeoutMs: ms(c.timeout) } : {}),
  };
}

function toMetric(m: PlanForm['metrics'][number], sqlUrlEnv: string | undefined) {
  return {
    ...toCheck(m, sqlUrlEnv),
    failureLimit: m.failureLimit,
    consecutiveFailureLimit: m.consecutiveFailureLimit,
    ...(m.inconclusiveLimit !== undefined ? { inconclusiveLimit: m.inconclusiveLimit } : {}),
    ...(m.minSamples !== undefined ? { minSamples: m.minSamples } : {}),
    ...onlyIfOn('dryRun', m.dryRun),
  };
}

type JobForm = Omit<PlanForm['unifiedJob'], 'containers' | 'stopGrace'> &
  Partial<Pick<PlanForm['legacyJobs'][number], 'line' | 'match' | 'scheduleId'>>;

function toJob(j: JobForm, inRepository: (command: string[]) => string[]) {
  return {
    name: j.name,
    schedule: j.schedule,
    command: inRepository(j.command),
    ...(j.script !== undefined ? { script: normalizePosixPath(j.script) } : {}),
    ...(j.line !== undefined ? { line: j.line.trim() } : {}),
    ...(j.match !== undefined ? { match: j.match } : {}),
    ...(j.scheduleId !== undefined ? { scheduleId: j.scheduleId } : {}),
  };
}

function toContainer(c: PlanForm['unifiedJob']['containers'][number], resolvePath: (p: string) => string) {
  const mounts = c.mounts && Object.fromEntries(Object.entries(c.mounts).map(([host, at]) => [resolvePath(host), at]));
  return {
    service: c.service,
    image: c.image,
    command: c.command,
    ...(c.env !== undefined ? { env: c.env } : {}),
    ...(c.envFrom !== undefined ? { envFrom: c.envFrom } : {}),
    ...(mounts !== undefined ? { mounts } : {}),
  };
}

function toScheduler(s: PlanForm['scheduler']) {
  return s.kind === 'crontab'
    ? { kind: 'crontab' as const, ...(s.user !== undefined ? { user: s.user } : {}) }
    : { kind: 'temporal-schedule' as const, ...(s.idPrefix !== undefined ? { idPrefix: s.idPrefix } : {}) };
}

function toRouter(r: PlanForm['traffic']['router']) {
  // The default route is left out, so a plan from before routes normalises as it did (and its digest is the same).
  const route = r.route === 'unified' ? {} : { route: r.route };
  return r.kind === 'table'
    ? { kind: 'table' as const, table: r.table, ...route }
    : { kind: 'command' as const, command: sure(r.command, 'a command router'), ...route };
}

function toGate(g: PlanForm['approvals']['gates'][GateName]) {
  return {
    roles: g.roles.map((r) =>
      typeof r === 'string'
        ? { role: r }
        : {
            role: r.role,
            ...(r.approvers !== undefined ? { approvers: r.approvers.map(approverName) } : {}),
            // A quorum of one is the default: the normalised plan spells out only a larger one.
            ...(r.required !== undefined && r.required > 1 ? { required: r.required } : {}),
          },
    ),
    timeoutMs: ms(g.timeout),
    onTimeout: g.onTimeout,
    ...(g.remindEvery !== undefined ? { remindEveryMs: ms(g.remindEvery) } : {}),
  };
}

function toNotifications(n: PlanForm['notifications']) {
  const { webhook, email } = n;
  return {
    ...(webhook !== undefined
      ? {
          webhook: {
            urlEnv: webhook.urlEnv,
            ...(webhook.tokenEnv !== undefined ? { tokenEnv: webhook.tokenEnv } : {}),
          },
        }
      : {}),
    ...(email !== undefined ? { email: { smtpUrlEnv: email.smtpUrlEnv, from: email.from, to: email.to } } : {}),
  };
}

/** One problem in a plan, located by its keys; `at: 'key'` when the key itself is wrong (unknown, secret-named). */
export interface SchemaIssue {
  keys: Key[];
  message: string;
  at: 'key' | 'value';
}

/** `metrics[0].name` for `['metrics', 0, 'name']`. */
export function issuePath(keys: readonly Key[]): string {
  return keys.reduce<string>((p, k) => (typeof k === 'number' ? `${p}[${k}]` : p ? `${p}.${k}` : k), '');
}

/** Zod's issues as the plan's: one per unknown key, and of a union only the alternative the value was meant as. */
export function schemaIssues(issues: readonly z.core.$ZodIssue[], prefix: readonly Key[] = []): SchemaIssue[] {
  // A field's first issue says it (`expected a duration`, not also `greater than zero`); every rule's issue counts.
  const seen = new Set<string>();
  const said = issues.filter((i) => {
    if (i.code === 'custom' && i.params?.rule === true) return true;
    const at = JSON.stringify(i.path);
    return !seen.has(at) && Boolean(seen.add(at));
  });
  return said.flatMap((iss): SchemaIssue[] => {
    const keys = [...prefix, ...iss.path.map((k) => (typeof k === 'number' ? k : String(k)))];
    if (iss.code === 'unrecognized_keys')
      return iss.keys.map((k) => ({ keys: [...keys, k], message: iss.message, at: 'key' }));
    if (iss.code === 'invalid_union') {
      // An alternative that failed on the value's type (a string where a mapping goes) was not the one meant.
      const meant = iss.errors.filter((alt) => !alt.some((e) => e.path.length === 0 && e.code === 'invalid_type'));
      if (meant.length === 1) return schemaIssues(meant[0]!, keys);
    }
    const at = iss.code === 'custom' && iss.params?.key === true ? 'key' : 'value';
    return [{ keys, message: iss.message, at }];
  });
}

/** Validates a plan's YAML form and normalises it, or lists every problem at once. */
export function parsePlan(doc: unknown, options: PlanSchemaOptions) {
  const result = planSchema(options).safeParse(doc);
  return result.success
    ? { success: true as const, plan: result.data }
    : { success: false as const, issues: schemaIssues(result.error.issues) };
}

/** The JSON Schema of the YAML form (draft-07, which editors' YAML language servers read). */
export function planJsonSchema() {
  return z.toJSONSchema(planSchema({ resolvePath: (p) => p }), { io: 'input', target: 'draft-07' });
}

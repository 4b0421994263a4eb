/**
 * The workflow's own check of its input: the normalised plan it was started with is written back into the plan's YAML
 * form and validated by the same schema `migrate start` uses; the result must be the plan itself. So a plan that did
 * not come through `migrate start` (a hand-made `temporal workflow start`) meets every rule the CLI enforces, and a
 * field the schema does not know cannot slip through. Workflow-safe: pure, deterministic.
 */
import type { CheckSpec, GateSpec, MetricSpec, Plan } from './plan';
import { issuePath, parsePlan } from './plan-schema';
import { canonicalJson } from './signatures';

type Form = Record<string, unknown>;

const duration = (ms: number) => `${ms}ms`;
/** Only the fields that are there (the YAML form has no `undefined`). */
const present = (o: Form): Form => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

function checkForm(c: CheckSpec): Form {
  const m = c.measure;
  const source =
    m.kind === 'sql'
      ? {
          sql: m.query,
          databaseUrlEnv: m.databaseUrlEnv,
          timeout: m.timeoutMs === undefined ? undefined : duration(m.timeoutMs),
        }
      : m.kind === 'command'
        ? {
            command: m.shell ? m.command[0] : m.command,
            shell: m.shell,
            readOnly: m.readOnly,
            pattern: m.pattern,
            timeout: m.timeoutMs === undefined ? undefined : duration(m.timeoutMs),
            cwd: m.cwd,
          }
        : {
            http: m.url,
            pattern: m.pattern,
            jsonPath: m.jsonPath,
            timeout: m.timeoutMs === undefined ? undefined : duration(m.timeoutMs),
          };
  return present({
    name: c.name,
    description: c.description,
    ...source,
    op: c.op,
    threshold: c.threshold,
    unit: c.unit,
  });
}

function metricForm(m: MetricSpec): Form {
  return present({
    ...checkForm(m),
    failureLimit: m.failureLimit,
    consecutiveFailureLimit: m.consecutiveFailureLimit,
    inconclusiveLimit: m.inconclusiveLimit,
    minSamples: m.minSamples,
    dryRun: m.dryRun,
  });
}

function gateForm(g: GateSpec): Form {
  return present({
    roles: g.roles.map((r) => present({ role: r.role, approvers: r.approvers, required: r.required })),
    timeout: duration(g.timeoutMs),
    onTimeout: g.onTimeout,
    remindEvery: g.remindEveryMs === undefined ? undefined : duration(g.remindEveryMs),
  });
}

function targetForm(t: Plan['target']): Form {
  const { backupTimeoutMs, ...rest } = t;
  return present({ ...rest, backupTimeout: backupTimeoutMs === undefined ? undefined : duration(backupTimeoutMs) });
}

/** The retry budgets written back in their YAML form (durations in milliseconds). */
function retryForm(r: Plan['retry']): Form | undefined {
  if (r === undefined) return undefined;
  const ms = (v: number | undefined) => (v === undefined ? undefined : duration(v));
  return Object.fromEntries(
    Object.entries(r).map(([kind, s]) => [
      kind,
      present({
        initialInterval: ms(s?.initialIntervalMs),
        maximumInterval: ms(s?.maximumIntervalMs),
        maximumAttempts: s?.maximumAttempts,
        heartbeatTimeout: ms(s?.heartbeatTimeoutMs),
      }),
    ]),
  );
}

/** The normalised plan written back in its YAML form (absolute paths, durations in milliseconds). */
export function planToForm(plan: Plan): Form {
  const { durations: d, parallelRun: pr, approvals: a } = plan;
  return present({
    name: plan.name,
    description: plan.description,
    target: targetForm(plan.target),
    legacyJobs: plan.legacyJobs,
    unifiedJob: plan.unifiedJob,
    scheduler: plan.scheduler,
    traffic: plan.traffic,
    parallelRun: present({
      comparisonSql: pr.comparisonQuery,
      mismatchSql: pr.mismatchQuery,
      minMatchRatio: pr.minMatchRatio,
      showMismatchValues: pr.showMismatchValues,
    }),
    metrics: plan.metrics.map(metricForm),
    preflight: plan.preflight.map(checkForm),
    durations: {
      parallelRun: duration(d.parallelRunMs),
      bake: duration(d.bakeMs),
      monitoringWindow: duration(d.monitoringWindowMs),
      soak: duration(d.soakMs),
      soakInterval: duration(d.soakIntervalMs),
    },
    approvals: present({
      separationOfDuties: a.separationOfDuties,
      keys: a.keys,
      signatureWindow: a.signatureWindowMs === undefined ? undefined : duration(a.signatureWindowMs),
      gates: Object.fromEntries(Object.entries(a.gates).map(([name, g]) => [name, gateForm(g)])),
    }),
    soak: plan.soak,
    notifications: plan.notifications,
    archive: plan.archive,
    rollback: { checks: plan.rollback.checks.map(checkForm), budget: duration(plan.rollback.budgetMs) },
    ledger: plan.ledger,
    successMetrics: plan.successMetrics.map(checkForm),
    retry: retryForm(plan.retry),
  });
}

/** The first path at which two JSON values differ (`''` for the whole value). */
function firstDifference(a: unknown, b: unknown, path = ''): string | undefined {
  if (canonicalJson(a) === canonicalJson(b)) return undefined;
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const k of keys) {
      const d = firstDifference(
        (a as Form)[k],
        (b as Form)[k],
        Array.isArray(a) ? `${path}[${k}]` : path ? `${path}.${k}` : k,
      );
      if (d !== undefined) return d;
    }
  }
  return path;
}

/** Every problem of a plan the workflow was given, each naming its field; empty when the plan is valid and normalised. */
export function planProblems(plan: unknown): string[] {
  if (!plan || typeof plan !== 'object') return ['plan: expected the validated plan (a mapping)'];
  let form: Form;
  try {
    form = planToForm(plan as Plan);
  } catch (err) {
    return [`plan: not a normalised plan (${(err as Error).message})`];
  }
  const relative = (['repository', 'backupDir', 'reportDir'] as const).filter(
    (k) => typeof (plan as Plan).target?.[k] === 'string' && !(plan as Plan).target[k].startsWith('/'),
  );
  const result = parsePlan(form, { resolvePath: (p) => p });
  if (!result.success) return result.issues.map((i) => `${issuePath(i.keys)}: ${i.message}`);
  const problems = relative.map((k) => `target.${k}: expected an absolute path (migrate start resolves them)`);
  const differs = firstDifference(result.plan, plan);
  if (differs !== undefined)
    problems.push(
      `${differs || 'plan'}: not as the schema normalises it (a field it does not know, or a default spelled out)`,
    );
  return problems;
}

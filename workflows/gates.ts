import { condition } from '@temporalio/workflow';
import { gatePhase, type GateName } from '../model/constants';
import type { GateEvaluation, GateState, MetricReading } from '../model/status';
import type { GateSpec } from '../model/plan';
import { approvalsWaitingMetric, readingMetrics } from './metrics';
import { evaluateMetricsRouted } from './proxies';
import { gateSigned, missingRoles, readingsDetail, tallyReadings } from '../model/rules';
import { Interrupt, type MigrationState } from './state';
import { timerSummary } from '../model/summaries';
import { askPerson, checkpoint, interruptible } from './waits';

const now = () => new Date().toISOString();

/**
 * An approval gate: opens, tells the channels who must sign, waits for every role (reminding, and at the timeout
 * aborting or notifying per plan), and closes approved, or leaves the forward path on a rejection or interrupt.
 */
export async function approvalGate(s: MigrationState, name: GateName): Promise<void> {
  const spec = s.plan.approvals.gates[name];
  const state = s.openGate(name, spec);
  s.enter(gatePhase(name));
  const needs = state.requiredRoles.map((r) => (state.required?.[r] ? `${r} (${state.required[r]} approvers)` : r));
  await s.notify(
    'gate-open',
    `approval needed: ${name}`,
    `Gate ${name} needs: ${needs.join(', ')}.\n` +
      state.requiredRoles
        .map((r) => `  migrate approve ${s.migrationId} --gate ${name} --role ${r} --as <you> --plan <plan file>`)
        .join('\n'),
    { gate: name, roles: state.requiredRoles },
  );
  await s.flushLedger();
  approvalsWaitingMetric(s.migrationId, name, missingRoles(state).length);
  await awaitSignatures(s, state, spec);
  s.closeGate(state);
  approvalsWaitingMetric(s.migrationId, name, 0);
  if (s.interrupt) throw s.interrupt;
  s.audit(
    'gate-approved',
    `gate ${name} approved by ${state.signatures.map((x) => `${x.role}=${x.approver}`).join(', ')}`,
  );
  await checkpoint(s);
}

/** Waits until the gate is signed or interrupted; reminds every `remindEvery`, acts on the timeout per plan. */
async function awaitSignatures(s: MigrationState, state: GateState, spec: GateSpec): Promise<void> {
  const { name } = state;
  let deadline = Date.now() + spec.timeoutMs;
  for (;;) {
    // With reminders, wake every interval until the timeout; without, wait for the timeout in one timer.
    const remind = spec.remindEveryMs;
    const wait = remind ? Math.min(remind, Math.max(deadline - Date.now(), 1)) : spec.timeoutMs;
    const who = missingRoles(state).join(', ');
    const done = await condition(() => gateSigned(state) || s.interrupt !== undefined, wait, {
      summary: timerSummary(
        `gate ${name}: waiting for ${who}${remind ? ', then a reminder' : `, then ${spec.onTimeout}`}`,
        wait,
      ),
    });
    if (done) return;
    const missing = missingRoles(state);
    if (remind && Date.now() < deadline) {
      s.audit('gate-reminder', `gate ${name} still waits for ${missing.join(', ')}`);
      await s.notify(
        'gate-reminder',
        `reminder: ${name} waits for ${missing.join(', ')}`,
        `Gate ${name} has been open since ${state.openedAt}; still needed: ${missing.join(', ')}.`,
        { gate: name, missing },
      );
      await s.flushLedger();
      continue;
    }
    deadline = Date.now() + spec.timeoutMs;
    if (spec.onTimeout === 'abort') {
      s.timeOutGate(state);
      s.requestInterrupt(new Interrupt('timeout', 'abort', `gate ${name} timed out`, 'timeout'));
      return;
    }
    s.audit('gate-timeout', `gate ${name} still waiting for ${missing.join(', ')}`);
    await s.notify('gate-reminder', `still waiting: ${name}`, `Gate ${name} is still open.`, { gate: name });
  }
}

/**
 * Evaluates every metric and records the evaluation. A metric past its failure limits throws a rollback; metrics
 * past their inconclusive limit make it return 'inconclusive'; dry-run metrics are recorded and decide nothing.
 */
async function evaluateGate(s: MigrationState, step: string, since: number): Promise<'passed' | 'inconclusive'> {
  const { plan, status } = s;
  const readings: MetricReading[] = await interruptible(s, () =>
    evaluateMetricsRouted(plan, {
      migrationId: s.migrationId,
      metrics: plan.metrics,
      databaseUrlEnv: plan.target.databaseUrlEnv,
      repository: plan.target.repository,
      since: new Date(since).toISOString(),
    }),
  );
  readingMetrics(s.migrationId, status.phase, step, readings);
  const { failures, failed, inconclusive } = tallyReadings(readings, plan.metrics, s.failures);
  const evaluation: GateEvaluation = {
    phase: status.phase,
    step,
    at: now(),
    readings,
    passed: failed.length === 0,
    ...(inconclusive.length ? { inconclusive } : {}),
  };
  s.recordEvaluation(evaluation, failures);
  s.audit('gate-evaluation', readingsDetail(step, readings), undefined, evaluation);
  if (failed.length)
    throw new Interrupt(
      'metric-gate',
      'rollback',
      `metric gate failed at ${step}: ${failed.join('; ')}`,
      'metric-gate',
    );
  return inconclusive.length ? 'inconclusive' : 'passed';
}

/**
 * A metric gate: evaluated; inconclusive past a metric's limit, the migration pauses and a person decides —
 * resume goes on (the inconclusive count starts again), retry measures again, rollback or abort leaves.
 */
export async function metricGate(s: MigrationState, step: string, since: number): Promise<void> {
  const id = s.migrationId;
  while ((await evaluateGate(s, step, since)) === 'inconclusive') {
    const names = s.status.evaluations.at(-1)?.inconclusive ?? [];
    const attention =
      `${step}: ${names.join(', ')} inconclusive past the plan's limit (no data or too few samples). Decide: ` +
      `\`migrate resume ${id}\` (go on), \`migrate retry ${id} --reason …\` (measure again) or ` +
      `\`migrate rollback ${id}\`.`;
    const answer = await askPerson(s, attention, attention, {
      event: 'inconclusive',
      subject: `gate ${step} inconclusive: decision needed`,
      text: attention,
      data: { step, metrics: names },
    });
    if (answer === 'resume') {
      s.resetInconclusive(names);
      return;
    }
  }
}

/**
 * A soak check: a metric gate whose failure, when the plan says `soak.onFailure: pause`, waits for a person —
 * resume goes on, retry measures again, rollback leaves. Any other interrupt leaves at once.
 */
export async function soakCheck(s: MigrationState, step: string, since: number): Promise<void> {
  const id = s.migrationId;
  for (;;) {
    try {
      return await metricGate(s, step, since);
    } catch (err) {
      if (!(err instanceof Interrupt) || err.kind !== 'metric-gate' || s.plan.soak.onFailure !== 'pause') throw err;
      const attention = `${err.reason}; decide with \`migrate resume ${id}\`, \`migrate retry ${id}\` or \`migrate rollback ${id}\``;
      const answer = await askPerson(
        s,
        attention,
        `${err.reason}; waiting for a decision (migrate resume | migrate retry | migrate rollback)`,
        { event: 'soak-paused', subject: 'soak check failed: decision needed', text: err.reason },
      );
      if (answer === 'resume') return;
    }
  }
}

import { isFinalPhase } from './constants';
import type { GateState, MigrationStatus } from './status';
import type { Plan } from './plan';
import { formatMs } from './format';
import { missingRoles, openGateOf } from './rules';
import { codecFlags } from './sealed';
import type { Wait } from './summaries';

/**
 * The migration's "current details" in the Temporal UI: a short Markdown card that reads like the runbook — phase,
 * traffic split, what it waits for, who must act, the exact `migrate` and `temporal` commands, and what happens at
 * the timeout. Pure: built from the status, the plan and the current wait each time the state changes
 * (`MigrationState.audit`). With a `codecEndpoint`, its stock commands carry the codec server's flags (payloads are
 * sealed: the stock CLI seals a request through it).
 */
export function runbookCard(
  plan: Plan,
  status: MigrationStatus,
  nowMs: number,
  wait?: Wait,
  codecEndpoint?: string,
): string {
  const id = status.migrationId;
  const codec = codecFlags(codecEndpoint);
  const lines = [`### ${plan.name} · ${status.phase}`, ''];
  const item = (label: string, text: string) => lines.push(`- **${label}:** ${text}`);
  item('Migration', `\`${id}\` (run ${status.runs + 1})`);
  const t = status.trafficPercent;
  item('Traffic', `${t} % unified · ${100 - t} % legacy`);
  if (isFinalPhase(status.phase)) {
    ended(status, item);
    return lines.join('\n');
  }
  const gate = openGateOf(status.gates);
  if (status.phase === 'rolling-back') {
    item('Now', `the rollback workflow undoes ${status.compensations.length} recorded changes in reverse order`);
    if (status.failure) item('Why', status.failure);
    item('Who acts', 'no one: the rollback runs by itself and writes its report');
    return lines.join('\n');
  }
  if (status.attention) {
    item('Needs a decision', status.attention);
    item('Who acts', 'an operator');
    const key = plan.approvals.keys ? ' --key <your key>' : '';
    item(
      'Commands',
      `\`migrate resume ${id}${key}\` · \`migrate retry ${id} --reason …${key}\` · \`migrate rollback ${id}\``,
    );
    if (!plan.approvals.keys)
      item(
        'Stock CLI',
        `\`temporal workflow update execute${codec} --workflow-id ${id} --name resume --input '{"requestedBy":"<you>"}'\``,
      );
  } else if (gate) {
    gateLines(plan, id, gate, nowMs, item, codec);
  } else if (status.paused) {
    item('Paused', `\`migrate resume ${id}\` goes on`);
  } else if (status.waitingFor && status.waitingUntil) {
    const left = Date.parse(status.waitingUntil) - nowMs;
    item('Now', `${status.waitingFor}, until ${clock(status.waitingUntil)} (${formatMs(Math.max(0, left))} left)`);
    item('Then', nextAfter(wait));
    item('Who acts', 'no one: the workflow goes on by itself');
  } else {
    item('Now', `${status.phase} runs (see the pending activity's summary)`);
    item('Who acts', 'no one: the workflow goes on by itself');
  }
  item('Roll back', `\`migrate rollback ${id} --reason …\` (undoes every change in reverse order)`);
  return lines.join('\n');
}

type Item = (label: string, text: string) => void;

/** What waiting on an open gate means: who, the commands, and the timeout's consequence. */
function gateLines(plan: Plan, id: string, gate: GateState, nowMs: number, item: Item, codec: string): void {
  const spec = plan.approvals.gates[gate.name];
  const missing = missingRoles(gate);
  const signed = gate.signatures.map((x) => `${x.role}=${x.approver}`).join(', ');
  item('Waiting for', `gate **${gate.name}**: ${missing.join(', ')}${signed ? ` (signed: ${signed})` : ''}`);
  item('Who acts', missing.join(', '));
  const role = missing[0] ?? '<role>';
  item(
    'Command',
    `\`migrate approve ${id} --gate ${gate.name} --role ${role} --as <you> --plan <plan file>\` (or \`migrate reject …\`)`,
  );
  item(
    'Stock CLI',
    `\`temporal workflow update execute${codec} --workflow-id ${id} --name approve --input '<request>'\`; ` +
      `\`migrate approve … --print-request\` prints the ${plan.approvals.keys ? 'signed ' : ''}request`,
  );
  if (!spec) return;
  const due = gate.openedAt ? Date.parse(gate.openedAt) + spec.timeoutMs : undefined;
  const when = due ? `${clock(new Date(due).toISOString())} (${formatMs(Math.max(0, due - nowMs))} left)` : '';
  item(
    'At the timeout',
    `${when ? `${when}: ` : ''}${spec.onTimeout === 'abort' ? 'the migration aborts' : 'a reminder goes out and the gate stays open'}`,
  );
}

/** The card of an ended migration: how it ended and where its report is. */
function ended(status: MigrationStatus, item: Item): void {
  const id = status.migrationId;
  const kind = status.phase === 'complete' ? 'completion' : status.phase === 'rolled-back' ? 'rollback' : 'validation';
  if (status.failure) item('Why', status.failure);
  item('Ended', `${status.phase} at ${clock(status.updatedAt)}`);
  item('Report', `\`migrate report ${id} --kind ${kind}\``);
  item('Who acts', 'no one: the migration has ended');
}

/** What the workflow does when a wait ends (a status without its wait's kind: the next step). */
function nextAfter(wait: Wait | undefined): string {
  switch (wait?.kind) {
    case 'bake':
    case 'monitoring':
      return 'the metric gate reads the metrics; a failure rolls back';
    case 'soak':
      return 'the soak check reads the metrics';
    case 'parallel-run':
      return 'the outputs are compared; a match below the plan rolls back';
    case undefined:
      return 'the next step of the runbook';
  }
}

/** "2026-12-02 17:10 UTC" from an ISO time. */
const clock = (iso: string): string => `${iso.slice(0, 16).replace('T', ' ')} UTC`;

/**
 * The migration's static details in the Temporal UI (set by `migrate start` and the demo): the plan's description and
 * the runbook it runs, step by step, with its durations, gates and roles, so a reader of the UI sees the whole path
 * beside the current card.
 */
export function planDetails(plan: Plan): string {
  const d = plan.durations;
  const gate = (name: keyof Plan['approvals']['gates']) => {
    const g = plan.approvals.gates[name];
    return `gate **${name}**: ${g.roles.map((r) => r.role).join(', ')} (timeout ${formatMs(g.timeoutMs)}, then ${g.onTimeout})`;
  };
  const steps = [
    `preflight: ${plan.preflight.length} checks with thresholds, and the target probes; a validation report`,
    gate('go'),
    'backup: pg_dump, verified by restore',
    `deploy: ${plan.unifiedJob.containers.map((c) => c.service).join(', ')} in ${plan.target.composeProject}`,
    `parallel run: ${formatMs(d.parallelRunMs)}, match ratio at least ${plan.parallelRun.minMatchRatio}`,
    `traffic shift: ${plan.traffic.steps.join(' → ')} %, bake ${formatMs(d.bakeMs)} each; gates on ${plan.metrics.map((m) => m.name).join(', ')}`,
    gate('cutover'),
    `backup, then cutover (${plan.scheduler.kind}): monitoring window ${formatMs(d.monitoringWindowMs)}`,
    `soak: ${formatMs(d.soakMs)}, a check every ${formatMs(d.soakIntervalMs)}`,
    'archive: legacy scripts into a dated folder with a README, git commit',
    gate('sign-off'),
    'completion report',
  ];
  return [
    ...(plan.description ? [plan.description, ''] : []),
    `**Runbook of ${plan.name}** · rollback budget ${formatMs(plan.rollback.budgetMs)}`,
    '',
    ...steps.map((s, i) => `${i + 1}. ${s}`),
  ].join('\n');
}

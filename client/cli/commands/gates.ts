import type { Command, OptionValues } from '@commander-js/extra-typings';
import { codecAuthRef, codecEndpoint } from '../../../lib/codec';
import { loadConfig, temporalCliArgs } from '../../../lib/config';
import type { GateName } from '../../../model/constants';
import { REQUESTS, type GateDecision, type MigrationRequest } from '../../../model/requests';
import type { MigrationStatus, RequestAnswer } from '../../../model/status';
import { shellCommand } from '../../../model/format';
import { planDigest } from '../../../model/signatures';
import { loadPlan } from '../../plan';
import { approveUpdate, rejectUpdate } from '../../../workflows/definitions';
import { openGateOf } from '../../../model/rules';
import { CliError, ExitCode } from '../errors';
import { asOption, EXAMPLE_ID, examples, gateOption, outputOptions, type OutputFormat } from '../options';
import { print, renderAnswer } from '../render';
import { signatureFor } from '../signing';
import { readStatus, sendRequest, withClient } from '../temporal';

/** What both gate decisions take besides their own fields. */
interface DecisionOptions {
  gate?: GateName;
  role: string;
  as: string;
  key?: string;
  plan?: string;
  yesIRead?: string;
  printRequest?: boolean;
  output: OutputFormat;
}

/** Adds the options of a signed gate decision. */
const decisionOptions = <Args extends unknown[], Opts extends OptionValues>(c: Command<Args, Opts>) =>
  outputOptions(c)
    .addOption(gateOption())
    .option('--key <file>', 'your OpenSSH Ed25519 key to sign with (default ~/.ssh/id_ed25519; ssh-agent works)')
    .option('--plan <file>', 'the plan file you read: refuse to sign if the migration runs another plan')
    .option(
      '--yes-i-read <digest>',
      'approve without the plan file: the sha256 of the plan you read, as approve prints it (at least 12 characters)',
    )
    .option('--print-request', 'print the signed request and the stock `temporal` command instead of sending it');

/**
 * Signs (when the plan lists keys) and sends one gate decision as an Update; prints the answer. `--print-request`
 * prints the request for `temporal workflow update execute` instead.
 */
async function decide(
  id: string,
  decision: GateDecision,
  o: DecisionOptions,
  fields: { comment?: string; reason?: string },
): Promise<void> {
  await withClient(async (client) => {
    const status = await readStatus(client, id);
    // A signature names its gate: the open one unless --gate says which.
    const gate = o.gate ?? (status.approvalsAuthenticated ? openGateOf(status.gates)?.name : undefined);
    if (status.approvalsAuthenticated && !gate)
      throw new CliError(`no gate of ${id} is open (phase ${status.phase})`, ExitCode.rejected);
    if (decision === 'approve') confirmPlanRead(status, gate, o);
    const base = { ...(gate ? { gate } : {}), role: o.role, approver: o.as, ...fields };
    const request: Extract<MigrationRequest, { kind: GateDecision }> =
      decision === 'approve'
        ? { kind: decision, args: base }
        : { kind: decision, args: { ...base, reason: fields.reason ?? '' } };
    const signature = await signatureFor(status, request, o);
    const signed = signature ? { signature } : {};
    if (o.printRequest) return printRequest(id, decision, { ...base, ...signed }, o.output);
    const answer: RequestAnswer =
      request.kind === 'approve'
        ? await sendRequest(client, id, approveUpdate, { ...request.args, ...signed })
        : await sendRequest(client, id, rejectUpdate, { ...request.args, ...signed });
    print(o.output, answer, () =>
      decision === 'approve'
        ? renderAnswer('approved', answer)
        : `${renderAnswer('rejected gate', answer)}\nthe migration rolls back. Follow it with: migrate status ${id} --watch`,
    );
  }, o.as);
}

/**
 * An approval is signed for a plan the person has read: `--plan <file>` (the file must be the plan the migration
 * runs) or `--yes-i-read <digest>` (the digest this prints). Before signing it shows what is approved, on stderr:
 * the plan's name and digest, and the gate's summary. Without either option it refuses as a usage error.
 */
function confirmPlanRead(status: MigrationStatus, gate: GateName | undefined, o: DecisionOptions): void {
  const digest = status.planDigest ?? '';
  process.stderr.write(`${approvalSummary(status, gate)}\n`);
  if (o.plan !== undefined) {
    const mine = planDigest(loadPlan(o.plan));
    if (mine !== digest)
      throw new CliError(
        `${o.plan} is not the plan ${status.migrationId} runs (sha256 ${mine.slice(0, 12)}… vs ${digest.slice(0, 12)}…): nothing was signed`,
        ExitCode.rejected,
      );
    return;
  }
  if (o.yesIRead === undefined)
    throw new CliError(
      `approve needs --plan <file> (the plan you read) or --yes-i-read ${digest} (the digest above): nothing was signed`,
      ExitCode.usage,
    );
  const said = o.yesIRead.toLowerCase();
  if (said.length < 12 || !digest.startsWith(said))
    throw new CliError(
      `--yes-i-read ${o.yesIRead} is not the digest of the plan ${status.migrationId} runs (sha256 ${digest}; at least its first 12 characters): nothing was signed`,
      ExitCode.rejected,
    );
}

/** What an approval approves: the plan's name and digest, the gate, who signed, and the latest measurement. */
function approvalSummary(status: MigrationStatus, gateName: GateName | undefined): string {
  const gate = gateName ? status.gates[gateName] : openGateOf(status.gates);
  const lines = [`approving ${status.name} (${status.migrationId})`, `  plan sha256 ${status.planDigest ?? '?'}`];
  if (gate) {
    const signed = gate.signatures.map((x) => `${x.role}=${x.approver}`).join(', ') || 'nobody yet';
    lines.push(
      `  gate ${gate.name}: ${gate.open ? `open since ${gate.openedAt ?? '?'}` : 'not open'}; roles ${gate.requiredRoles.join(', ')}; signed: ${signed}`,
    );
  }
  lines.push(`  phase ${status.phase}, traffic ${status.trafficPercent} % unified`);
  const last = status.evaluations.at(-1);
  if (last) {
    const readings = last.readings.map((r) => `${r.name} ${r.value ?? '?'}${r.passed === false ? ' (failed)' : ''}`);
    lines.push(
      `  last gate check: ${last.step} ${last.passed ? 'passed' : 'FAILED'} at ${last.at}: ${readings.join(', ')}`,
    );
  }
  return lines.join('\n');
}

/** The request as JSON, and the stock CLI command that sends it (in JSON: both, the command as its arguments). */
function printRequest(id: string, name: string, args: object, format: OutputFormat): void {
  const input = JSON.stringify(args);
  const cmd = temporalCliArgs(loadConfig(), 'workflow', 'update', 'execute', '--workflow-id', id, '--name', name);
  const argv = [...cmd, '--input', input];
  print(
    format,
    { workflowId: id, update: name, input: args, temporal: argv },
    // Every word quoted for the shell: a `'` in a comment must not end the input or start a command. The codec's
    // token is read from its file when the command runs, never printed.
    () =>
      `${JSON.stringify(args, null, 2)}\n\n# send it with the stock CLI:\n${shellCommand(['temporal', ...cmd])}` +
      `${codecEndpoint() ? ` --codec-auth ${codecAuthRef()}` : ''} ${shellCommand(['--input', input])}`,
  );
}

/** `migrate approve` and `migrate reject`: one role's decision on an open gate. */
export function addGateCommands(program: Command): void {
  decisionOptions(
    program
      .command('approve')
      .description(REQUESTS.approve.description)
      .argument('<id>', 'migration ID')
      .requiredOption('--role <role>', 'the role you sign for')
      .option('--comment <text>', 'comment for the audit log')
      .addOption(asOption()),
  )
    .addHelpText(
      'after',
      examples([
        `migrate approve ${EXAMPLE_ID} --gate go --role technical-lead --as alice --plan plans/billing.yaml`,
        `migrate approve ${EXAMPLE_ID} --gate sign-off --role stakeholder --as sam --yes-i-read 3f2a9c1e07b4 --comment "numbers look right"`,
        `migrate approve ${EXAMPLE_ID} --gate go --role technical-lead --as alice --plan plans/billing.yaml --key ~/.ssh/id_ed25519 --print-request`,
      ]),
    )
    .action(async (id, o) => decide(id, 'approve', o, o.comment !== undefined ? { comment: o.comment } : {}));

  decisionOptions(
    program
      .command('reject')
      .description(REQUESTS.reject.description)
      .argument('<id>', 'migration ID')
      .requiredOption('--role <role>', 'the role you reject for')
      .requiredOption('--reason <text>', 'why')
      .addOption(asOption()),
  )
    .addHelpText(
      'after',
      examples([
        `migrate reject ${EXAMPLE_ID} --gate cutover --role product-owner --reason "quarter-end freeze" --as paula`,
      ]),
    )
    .action(async (id, o) => decide(id, 'reject', o, { reason: o.reason }));
}

import type { Command } from '@commander-js/extra-typings';
import type { RequestAnswer } from '../../../model/status';
import { abortUpdate, failUpdate, pauseUpdate, resumeUpdate, retryUpdate } from '../../../workflows/definitions';
import type { OperatorArgs } from '../../../model/status';
import type { UpdateDefinition } from '@temporalio/common';
import { asOption, EXAMPLE_ID, examples, outputOptions } from '../options';
import { print, renderAnswer } from '../render';
import { signatureFor } from '../signing';
import { readStatus, sendRequest, withClient } from '../temporal';

/** The operator requests: one Update each, all with the same arguments and the same answer. */
const REQUESTS: {
  name: string;
  update: UpdateDefinition<RequestAnswer, [OperatorArgs]>;
  description: string;
  examples: string[];
}[] = [
  {
    name: 'pause',
    update: pauseUpdate,
    description: 'hold the runbook at the next step',
    examples: [`migrate pause ${EXAMPLE_ID} --reason "change freeze" --as olga`],
  },
  {
    name: 'resume',
    update: resumeUpdate,
    description: 'go on after a pause',
    examples: [`migrate resume ${EXAMPLE_ID} --as olga`],
  },
  {
    name: 'abort',
    update: abortUpdate,
    description: 'stop the migration (what changed is rolled back)',
    examples: [`migrate abort ${EXAMPLE_ID} --reason "wrong plan" --as olga`],
  },
  {
    name: 'retry',
    update: retryUpdate,
    description: 'measure a gate again that waits for a decision (inconclusive, or a failed soak check)',
    examples: [`migrate retry ${EXAMPLE_ID} --reason "metrics exporter restarted" --as olga`],
  },
  {
    name: 'fail',
    update: failUpdate,
    description: 'fail the running step by hand (what changed is rolled back)',
    examples: [`migrate fail ${EXAMPLE_ID} --reason "customer reports wrong scores" --as olga`],
  },
];

/**
 * Sends an operator request (signed when the plan lists keys and a key is at hand; never required) and returns the
 * workflow's answer; a refusal exits with `rejected`.
 */
export async function operatorRequest(
  id: string,
  name: string,
  update: UpdateDefinition<RequestAnswer, [OperatorArgs]>,
  o: { as: string; reason?: string; key?: string },
): Promise<RequestAnswer> {
  return withClient(async (client) => {
    const status = await readStatus(client, id);
    const claim = { decision: name, person: o.as, ...(o.reason !== undefined ? { text: o.reason } : {}) };
    const signature = await signatureFor(status, claim, o, false);
    const args = {
      requestedBy: o.as,
      ...(o.reason !== undefined ? { reason: o.reason } : {}),
      ...(signature ? { signature } : {}),
    };
    return sendRequest(client, id, update, args);
  }, o.as);
}

/** `migrate pause|resume|abort|retry|fail <id>`: an operator request, rejected (exit 4) when the workflow refuses it. */
export function addRequestCommands(program: Command): void {
  for (const { name, update, description, examples: lines } of REQUESTS) {
    outputOptions(
      program
        .command(name)
        .description(description)
        .argument('<id>', 'migration ID')
        .option('--reason <text>', 'why')
        .option(
          '--key <file>',
          'sign with this OpenSSH Ed25519 key (default ~/.ssh/id_ed25519 when the plan lists keys)',
        )
        .addOption(asOption()),
    )
      .addHelpText('after', examples(lines))
      .action(async (id, o) => {
        const answer = await operatorRequest(id, name, update, o);
        print(o.output, answer, () => renderAnswer(name, answer));
      });
  }
}

import type { Command } from '@commander-js/extra-typings';
import { REQUEST_KINDS, REQUESTS, type OperatorRequest, type RequestKind } from '../../../model/requests';
import type { RequestAnswer } from '../../../model/status';
import { REQUEST_DEFINITIONS } from '../../../workflows/definitions';
import { asOption, EXAMPLE_ID, examples, outputOptions } from '../options';
import { print, renderAnswer } from '../render';
import { signatureFor } from '../signing';
import { readStatus, sendRequest, withClient } from '../temporal';

/**
 * The help examples of the operator requests that are commands of their own. `migrate rollback` has its own module
 * (it also rolls back a migration that no longer runs); a new operator request does not compile without its line here.
 */
const EXAMPLES: Record<Exclude<OperatorRequest, 'rollback'>, string[]> = {
  pause: [`migrate pause ${EXAMPLE_ID} --reason "change freeze" --as olga`],
  resume: [`migrate resume ${EXAMPLE_ID} --as olga`],
  abort: [`migrate abort ${EXAMPLE_ID} --reason "wrong plan" --as olga`],
  retry: [`migrate retry ${EXAMPLE_ID} --reason "metrics exporter restarted" --as olga`],
  fail: [`migrate fail ${EXAMPLE_ID} --reason "customer reports wrong scores" --as olga`],
};

const ownCommand = (kind: RequestKind): kind is keyof typeof EXAMPLES => kind in EXAMPLES;

/**
 * Sends an operator request (signed when the plan lists keys and a key is at hand; resume, retry and fail must be)
 * and returns the workflow's answer; a refusal exits with `rejected`.
 */
export async function operatorRequest(
  id: string,
  kind: OperatorRequest,
  o: { as: string; reason?: string; key?: string },
): Promise<RequestAnswer> {
  return withClient(async (client) => {
    const status = await readStatus(client, id);
    const args = { requestedBy: o.as, ...(o.reason !== undefined ? { reason: o.reason } : {}) };
    const signature = await signatureFor(status, { kind, args }, o);
    return sendRequest(client, id, REQUEST_DEFINITIONS[kind].update, { ...args, ...(signature ? { signature } : {}) });
  }, o.as);
}

/** `migrate pause|resume|abort|retry|fail <id>`: an operator request, rejected (exit 4) when the workflow refuses it. */
export function addRequestCommands(program: Command): void {
  for (const kind of REQUEST_KINDS.filter(ownCommand)) {
    outputOptions(
      program
        .command(kind)
        .description(REQUESTS[kind].description)
        .argument('<id>', 'migration ID')
        .option('--reason <text>', 'why')
        .option(
          '--key <file>',
          REQUESTS[kind].signature === 'required'
            ? 'sign with this OpenSSH Ed25519 key (default ~/.ssh/id_ed25519; required when the plan lists keys)'
            : 'sign with this OpenSSH Ed25519 key (default ~/.ssh/id_ed25519 when the plan lists keys; never required)',
        )
        .addOption(asOption()),
    )
      .addHelpText('after', examples(EXAMPLES[kind]))
      .action(async (id, o) => {
        const answer = await operatorRequest(id, kind, o);
        print(o.output, answer, () => renderAnswer(kind, answer));
      });
  }
}

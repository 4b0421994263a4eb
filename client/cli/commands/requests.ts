import type { Command } from '@commander-js/extra-typings';
import { abortSignal, failSignal, pauseSignal, resumeSignal, retrySignal } from '../../../workflows/definitions';
import { asOption, EXAMPLE_ID, examples } from '../options';
import { signalAndCheck, withClient } from '../temporal';

/** The operator requests: one signal each, all with the same arguments and the same answer. */
const REQUESTS = [
  {
    name: 'pause',
    signal: pauseSignal,
    description: 'hold the runbook at the next step',
    examples: [`migrate pause ${EXAMPLE_ID} --reason "change freeze" --as olga`],
  },
  {
    name: 'resume',
    signal: resumeSignal,
    description: 'go on after a pause',
    examples: [`migrate resume ${EXAMPLE_ID} --as olga`],
  },
  {
    name: 'abort',
    signal: abortSignal,
    description: 'stop the migration (what changed is rolled back)',
    examples: [`migrate abort ${EXAMPLE_ID} --reason "wrong plan" --as olga`],
  },
  {
    name: 'retry',
    signal: retrySignal,
    description: 'measure a gate again that waits for a decision (inconclusive, or a failed soak check)',
    examples: [`migrate retry ${EXAMPLE_ID} --reason "metrics exporter restarted" --as olga`],
  },
  {
    name: 'fail',
    signal: failSignal,
    description: 'fail the running step by hand (what changed is rolled back)',
    examples: [`migrate fail ${EXAMPLE_ID} --reason "customer reports wrong scores" --as olga`],
  },
] as const;

/** `migrate pause|resume|abort|retry|fail <id>`: an operator request, rejected (exit 4) when the workflow refuses it. */
export function addRequestCommands(program: Command): void {
  for (const { name, signal, description, examples: lines } of REQUESTS) {
    program
      .command(name)
      .description(description)
      .argument('<id>', 'migration ID')
      .option('--reason <text>', 'why')
      .addOption(asOption())
      .addHelpText('after', examples(lines))
      .action(async (id, o) => {
        await withClient(async (client) => {
          const s = await signalAndCheck(
            client,
            id,
            () => client.workflow.getHandle(id).signal(signal, { requestedBy: o.as, reason: o.reason }),
            o.as,
          );
          process.stdout.write(`${name}: done; phase ${s.phase}${s.paused ? ' (paused)' : ''}\n`);
        });
      });
  }
}

import type { Command } from '@commander-js/extra-typings';
import { approveSignal, rejectSignal } from '../../../workflows/definitions';
import { asOption, EXAMPLE_ID, examples, gateOption } from '../options';
import { signalAndCheck, withClient } from '../temporal';

/** `migrate approve` and `migrate reject`: one role's decision on an open gate. */
export function addGateCommands(program: Command): void {
  program
    .command('approve')
    .description('sign an open gate for one role')
    .argument('<id>', 'migration ID')
    .addOption(gateOption())
    .requiredOption('--role <role>', 'the role you sign for')
    .option('--comment <text>', 'comment for the audit log')
    .addOption(asOption())
    .addHelpText(
      'after',
      examples([
        `migrate approve ${EXAMPLE_ID} --gate go --role technical-lead --as alice`,
        `migrate approve ${EXAMPLE_ID} --gate sign-off --role stakeholder --as sam --comment "numbers look right"`,
      ]),
    )
    .action(async (id, o) => {
      await withClient(async (client) => {
        const s = await signalAndCheck(
          client,
          id,
          () =>
            client.workflow
              .getHandle(id)
              .signal(approveSignal, { gate: o.gate, role: o.role, approver: o.as, comment: o.comment }),
          o.as,
        );
        process.stdout.write(`approved: ${o.role} ${o.as}; phase ${s.phase}\n`);
      });
    });

  program
    .command('reject')
    .description('reject an open gate (the migration rolls back)')
    .argument('<id>', 'migration ID')
    .addOption(gateOption())
    .requiredOption('--role <role>', 'the role you reject for')
    .requiredOption('--reason <text>', 'why')
    .addOption(asOption())
    .addHelpText(
      'after',
      examples([
        `migrate reject ${EXAMPLE_ID} --gate cutover --role product-owner --reason "quarter-end freeze" --as paula`,
      ]),
    )
    .action(async (id, o) => {
      await withClient(async (client) => {
        await signalAndCheck(
          client,
          id,
          () =>
            client.workflow
              .getHandle(id)
              .signal(rejectSignal, { gate: o.gate, role: o.role, approver: o.as, reason: o.reason }),
          o.as,
        );
        process.stdout.write(`rejected gate; the migration rolls back. Follow it with: migrate status ${id} --watch\n`);
      });
    });
}

import fs from 'node:fs';
import { Option, type Command } from '@commander-js/extra-typings';
import { CliError, ExitCode } from '../errors';
import { EXAMPLE_ID, examples } from '../options';
import { readStatus, withClient } from '../temporal';

/** The reports a migration writes, by the key the workflow files them under in `status.reports`. */
const REPORT_KINDS = ['validation', 'rollback', 'completion'] as const;

/** `migrate report <id>`: prints one of a migration's report files (Markdown, or its JSON twin). */
export function addReportCommand(program: Command): void {
  program
    .command('report')
    .description('print a report of a migration (validation, rollback, completion)')
    .argument('<id>', 'migration ID')
    .addOption(new Option('--kind <kind>', 'which report').choices(REPORT_KINDS).default('completion'))
    .option('--json', 'the JSON form')
    .addHelpText(
      'after',
      examples([
        `migrate report ${EXAMPLE_ID} --kind completion`,
        `migrate report ${EXAMPLE_ID} --kind rollback --json > rollback.json`,
      ]),
    )
    .action(async (id, o) => {
      await withClient(async (client) => {
        const s = await readStatus(client, id);
        const file = s.reports[o.kind];
        if (!file)
          throw new CliError(
            `migration ${id} has no ${o.kind} report yet (it has: ${Object.keys(s.reports).join(', ') || 'none'})`,
            ExitCode.notFound,
          );
        const wanted = o.json ? file.replace(/\.md$/, '.json') : file;
        if (!fs.existsSync(wanted))
          throw new CliError(`the ${o.kind} report of ${id} is no longer at ${wanted}`, ExitCode.notFound);
        process.stdout.write(fs.readFileSync(wanted, 'utf8'));
      });
    });
}

import { Option, type Command } from '@commander-js/extra-typings';
import { readReport } from '../../reports';
import { EXAMPLE_ID, examples, outputOptions } from '../options';
import { print } from '../render';
import { withClient } from '../temporal';

/** The reports a migration writes, by the key the workflow files them under in `status.reports`. */
const REPORT_KINDS = ['validation', 'rollback', 'completion'] as const;

/**
 * `migrate report <id>`: one of a migration's reports, as Markdown (text) or its JSON form (json, jsonl), from the
 * ledger database (any machine that can reach it) or else the worker's report folder.
 */
export function addReportCommand(program: Command): void {
  outputOptions(
    program
      .command('report')
      .description('print a report of a migration (validation, rollback, completion)')
      .argument('<id>', 'migration ID')
      .addOption(new Option('--kind <kind>', 'which report').choices(REPORT_KINDS).default('completion')),
  )
    .addHelpText(
      'after',
      examples([
        `migrate report ${EXAMPLE_ID} --kind completion`,
        `migrate report ${EXAMPLE_ID} --kind rollback -o json > rollback.json`,
      ]),
    )
    .action(async (id, o) => {
      await withClient(async (client) => {
        const report = await readReport(client, id, o.kind);
        if (o.output === 'text')
          process.stdout.write(report.markdown.endsWith('\n') ? report.markdown : `${report.markdown}\n`);
        else print(o.output, JSON.parse(report.json) as unknown, () => report.markdown);
      });
    });
}

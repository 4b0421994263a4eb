import fs from 'node:fs';
import path from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import { applyStackEnv, loadConfig } from '../../../lib/config';
import { loadPlan } from '../../plan';
import { rehearse } from '../../rehearse';
import { CliError, ExitCode } from '../errors';
import { examples } from '../options';
import { print, renderRehearsalSummary } from '../render';

/** `migrate rehearse <plan>`: the plan in virtual time against the real target, read-only; exit 4 if it would fail. */
export function addRehearseCommand(program: Command): void {
  program
    .command('rehearse')
    .description(
      'run a plan with its real durations in virtual time, against the real target in read-only mode: timeline, who must act, what would fail',
    )
    .argument('<plan>', 'YAML plan file')
    .option('--out <dir>', 'folder for rehearsal-<name>.md and .json (default: <data dir>/rehearsals)')
    .option('--json', 'print the rehearsal as JSON')
    .addHelpText(
      'after',
      examples([
        'migrate rehearse plans/production.example.yaml',
        'migrate rehearse plans/demo.yaml --out /tmp/rehearsal --json',
      ]),
    )
    .action(async (planFile, o) => {
      const plan = loadPlan(planFile);
      applyStackEnv();
      const outDir = o.out ?? path.join(loadConfig().dataDir, 'rehearsals');
      const r = await rehearse(plan, { outDir, print: (l) => process.stderr.write(`${l}\n`) });
      print(!!o.json, r, () => renderRehearsalSummary(fs.readFileSync(r.markdownFile, 'utf8'), r));
      // Exit 4 when something would have failed, so a pipeline can gate the real start on a clean rehearsal.
      if (r.outcome !== 'complete' || r.findings.some((f) => f.severity === 'would-fail'))
        throw new CliError(
          `rehearsal of ${plan.name}: ${r.findings.filter((f) => f.severity === 'would-fail').length} finding(s) would fail; outcome ${r.outcome}`,
          ExitCode.rejected,
        );
    });
}

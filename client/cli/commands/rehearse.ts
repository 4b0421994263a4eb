import fs from 'node:fs';
import path from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import { Runtime } from '@temporalio/worker';
import { applyStackEnv, loadConfig } from '../../../lib/config';
import { loadPlan } from '../../plan';
import { rehearse } from '../../rehearse';
import { CliError, ExitCode } from '../errors';
import { examples, outputOptions } from '../options';
import { print, renderRehearsalSummary } from '../render';

/**
 * `migrate rehearse <plan>`: the plan in virtual time against the real target, read-only; exit 4 if it would fail.
 * Checks not run (commands not marked `readOnly`) are said loudly but do not change the exit status: the real run's
 * preflight runs them before anything changes, and failing a rehearsal on them would push plans to mark commands
 * read-only that are not.
 */
export function addRehearseCommand(program: Command): void {
  outputOptions(
    program
      .command('rehearse')
      .description(
        'run a plan with its real durations in virtual time, against the real target in read-only mode: timeline, who must act, what would fail',
      )
      .argument('<plan>', 'YAML plan file')
      .option('--out <dir>', 'folder for rehearsal-<name>.md and .json (default: <data dir>/rehearsals)'),
  )
    .addHelpText(
      'after',
      [
        '',
        'SQL checks, metrics and comparisons run as one statement in a READ ONLY transaction; HTTP GET checks run;',
        'a command check runs only when the plan marks it readOnly: true, else it is reported as "would run"',
        '(not passed, not failed, with the command). Exit 0: nothing would fail (checks that would run are listed',
        'and do not change the exit status: the real preflight runs them before anything changes); exit 4: a check,',
        'gate or comparison would fail, or the rehearsal did not complete.',
      ].join('\n'),
    )
    .addHelpText(
      'after',
      examples([
        'migrate rehearse plans/production.example.yaml',
        'migrate rehearse plans/demo.yaml --out /tmp/rehearsal -o json',
      ]),
    )
    .action(async (planFile, o) => {
      const plan = loadPlan(planFile);
      applyStackEnv();
      // The SDK's core logs to stdout unless told otherwise; stdout is the rehearsal (JSON with -o json), so its
      // logs go where the rehearsal's progress goes, to stderr (the default logger writes there).
      Runtime.install({ telemetryOptions: { logging: { forward: {} } } });
      const outDir = o.out ?? path.join(loadConfig().dataDir, 'rehearsals');
      const r = await rehearse(plan, { outDir, print: (l) => process.stderr.write(`${l}\n`) });
      print(o.output, r, () => renderRehearsalSummary(fs.readFileSync(r.markdownFile, 'utf8'), r));
      const notRun = r.findings.filter((f) => f.severity === 'would-run');
      if (notRun.length)
        process.stderr.write(
          `rehearsal of ${plan.name}: ${notRun.length} check(s) NOT RUN (commands not marked readOnly: true), so this rehearsal says nothing of them; the real run runs them:\n${notRun.map((f) => `  - ${f.what}\n`).join('')}`,
        );
      // Exit 4 when something would have failed, so a pipeline can gate the real start on a clean rehearsal.
      if (r.outcome !== 'complete' || r.findings.some((f) => f.severity === 'would-fail'))
        throw new CliError(
          `rehearsal of ${plan.name}: ${r.findings.filter((f) => f.severity === 'would-fail').length} finding(s) would fail, ${notRun.length} check(s) not run; outcome ${r.outcome}`,
          ExitCode.rejected,
        );
    });
}

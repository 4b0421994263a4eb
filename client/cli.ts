import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command, Option } from 'commander';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { applyStackEnv, loadConfig, workflowUiUrl } from '../lib/config';
import { GATES, isFinalPhase } from '../workflows/constants';
import type { MigrationStatus } from '../workflows/definitions';
import {
  abortSignal,
  approveSignal,
  auditCount,
  failSignal,
  pauseSignal,
  rejectSignal,
  resumeSignal,
  retrySignal,
  rollbackSignal,
  rollbackWorkflowId,
  statusQuery,
} from '../workflows/definitions';
import type { migrationWorkflow } from '../workflows/migration';
import { ledgerOf, type GateName } from '../workflows/plan';
import type { rollbackWorkflow } from '../workflows/rollback';
import { connectClient } from './connection';
import { readLedger } from '../activities/ledger';
import { loadPlan, PlanValidationError } from './plan';
import { rehearse } from './rehearse';
import { renderRetries, retryingActivities } from './retries';

/** Exit codes: what went wrong, for scripts that call the CLI. */
export const ExitCode = { ok: 0, error: 1, invalidPlan: 2, notFound: 3, rejected: 4 } as const;

/** An error the top-level handler maps to an exit code, with a message that says what to do next. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

async function withClient<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  applyStackEnv();
  const client = await connectClient(loadConfig());
  try {
    return await fn(client);
  } finally {
    await client.connection.close();
  }
}

async function status(client: Client, id: string): Promise<MigrationStatus> {
  const handle = client.workflow.getHandle<typeof migrationWorkflow>(id);
  try {
    return await handle.query(statusQuery);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      throw new CliError(`no migration ${id}; \`migrate list\` shows the migrations there are`, ExitCode.notFound);
    // A closed migration answers queries only while a worker can replay it; a completed one carries its status.
    const desc = await handle.describe();
    if (desc.status.name === 'COMPLETED') return (await handle.result()).status;
    throw new CliError(
      `cannot read the status of ${id} (${desc.status.name}): start a worker (\`npm run worker\`) and try again`,
      ExitCode.error,
    );
  }
}

/** Sends a signal, then reads the audit log: a request the workflow rejected exits with `rejected`. */
async function signalAndCheck(
  client: Client,
  id: string,
  send: () => Promise<void>,
  actor: string,
): Promise<MigrationStatus> {
  const since = auditCount(await status(client, id));
  await send();
  // The handler runs in the next workflow task; wait for the audit log to grow.
  for (let i = 0; i < 50; i++) {
    const after = await status(client, id);
    const added = after.audit.filter((a, n) => (a.seq ?? n) >= since);
    const rejected = added.find((a) => a.kind === 'rejected' && (a.actor === actor || !a.actor));
    if (rejected) throw new CliError(`rejected: ${rejected.detail}`, ExitCode.rejected);
    if (added.length) return after;
    await new Promise((r) => setTimeout(r, 100));
  }
  return status(client, id);
}

function print(json: boolean, data: unknown, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : `${text()}\n`);
}

/** `[#####.....]  50%  2h 10m left (until …)` for the current bake, window or soak interval. */
export function progressBar(s: MigrationStatus, nowMs: number, width = 30): string {
  const end = Date.parse(s.waitingUntil ?? '');
  const start = Date.parse(s.waitingSince ?? s.phaseTimeline.at(-1)?.at ?? '');
  if (!Number.isFinite(end)) return '';
  const total = Math.max(end - (Number.isFinite(start) ? start : nowMs), 1);
  const done = Math.min(Math.max((nowMs - (end - total)) / total, 0), 1);
  const filled = Math.round(done * width);
  const left = Math.max(end - nowMs, 0) / 1000;
  const human =
    left >= 86_400
      ? `${Math.floor(left / 86_400)}d ${Math.floor((left % 86_400) / 3600)}h`
      : left >= 3600
        ? `${Math.floor(left / 3600)}h ${Math.floor((left % 3600) / 60)}m`
        : left >= 60
          ? `${Math.floor(left / 60)}m ${Math.floor(left % 60)}s`
          : `${Math.ceil(left)}s`;
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.round(done * 100)).padStart(3)}%  ${human} left (until ${s.waitingUntil})`;
}

/** A readable status: phase timeline, gates, last readings, undo records. */
export function renderStatus(s: MigrationStatus): string {
  const out = [
    `migration ${s.migrationId} (${s.name})`,
    `  phase     ${s.phase}${s.paused ? ' (PAUSED)' : ''}`,
    `  traffic   unified ${s.trafficPercent}% / legacy ${100 - s.trafficPercent}%`,
  ];
  if (s.waitingUntil) out.push(`  waiting   ${s.waitingFor ?? 'until'} ${progressBar(s, Date.now())}`);
  if (s.failure) out.push(`  failure   ${s.failure}`);
  if (s.attention) out.push(`  ATTENTION ${s.attention}`);
  out.push('  timeline');
  for (const p of s.phaseTimeline) out.push(`    ${p.at}  ${p.phase}`);
  for (const g of Object.values(s.gates)) {
    if (!g) continue;
    const signed = g.signatures.map((x) => `${x.role}=${x.approver}`).join(', ') || 'none';
    out.push(
      `  gate ${g.name}: ${g.open ? 'OPEN' : (g.outcome ?? 'closed')}; needs ${g.requiredRoles.map((r) => (g.required?.[r] ? `${r} ×${g.required[r]}` : r)).join(', ')}; signed ${signed}`,
    );
  }
  const readings = Object.values(s.lastReadings);
  if (readings.length) {
    out.push('  last readings');
    for (const r of readings)
      out.push(
        `    ${r.name.padEnd(18)} ${String(r.value ?? 'no data').padEnd(12)} ${r.op} ${r.threshold}  ${r.passed === null ? 'inconclusive' : r.passed ? 'pass' : 'FAIL'}`,
      );
  }
  if (s.compensations.length) out.push(`  undo records  ${s.compensations.map((c) => c.kind).join(' → ')}`);
  for (const [k, f] of Object.entries(s.reports)) out.push(`  ${k} report  ${f}`);
  return out.join('\n');
}

/** The `migrate` command line. */
export function buildCli(): Command {
  const program = new Command('migrate')
    .description('Run and operate production migrations on Temporal')
    .showHelpAfterError('(run with --help for usage)');
  const as = new Option('--as <user>', 'who you are (recorded in the audit log)').default(os.userInfo().username);

  program
    .command('start')
    .description('validate a plan and start its migration')
    .argument('<plan>', 'YAML plan file')
    .option('--id <id>', 'workflow ID (default: <plan name>-<timestamp>)')
    .addOption(as)
    .action(async (planFile: string, o: { id?: string; as: string }) => {
      // Validated before any connection is made: a bad plan never starts anything.
      const plan = loadPlan(planFile);
      await withClient(async (client) => {
        const config = loadConfig();
        const id = o.id ?? `${plan.name}-${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}`;
        await client.workflow.start<typeof migrationWorkflow>('migrationWorkflow', {
          taskQueue: config.taskQueue,
          workflowId: id,
          args: [{ migrationId: id, plan, startedBy: o.as }],
          staticSummary: `Migration ${plan.name}`,
          staticDetails: plan.description,
        });
        process.stdout.write(`started ${id}\n  ${workflowUiUrl(config, id)}\n  next: migrate status ${id} --watch\n`);
      });
    });

  const gateOpt = new Option('--gate <gate>', 'gate').choices(GATES);
  program
    .command('approve')
    .description('sign an open gate for one role')
    .argument('<id>', 'migration ID')
    .addOption(gateOpt)
    .requiredOption('--role <role>', 'the role you sign for')
    .option('--comment <text>', 'comment for the audit log')
    .addOption(as)
    .action(async (id: string, o: { gate?: GateName; role: string; comment?: string; as: string }) => {
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
    .addOption(gateOpt)
    .requiredOption('--role <role>', 'the role you reject for')
    .requiredOption('--reason <text>', 'why')
    .addOption(as)
    .action(async (id: string, o: { gate?: GateName; role: string; reason: string; as: string }) => {
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

  program
    .command('status')
    .description('phase, gates, readings and undo records of a migration')
    .argument('<id>', 'migration ID')
    .option('--json', 'machine-readable output')
    .option('--watch', 'redraw every second until the migration ends')
    .action(async (id: string, o: { json?: boolean; watch?: boolean }) => {
      await withClient(async (client) => {
        for (;;) {
          const s = await status(client, id);
          // Server-side retries (a database or engine down) are not in the workflow's state: read them alongside.
          const retrying = isFinalPhase(s.phase)
            ? []
            : await retryingActivities(client.workflow.getHandle(id)).catch(() => []);
          if (o.watch && !o.json) process.stdout.write('\x1b[2J\x1b[H');
          print(!!o.json, { ...s, retrying }, () => [renderStatus(s), ...renderRetries(retrying)].join('\n'));
          if (!o.watch || isFinalPhase(s.phase)) return;
          await new Promise((r) => setTimeout(r, 1000));
        }
      });
    });

  for (const [name, signal, help] of [
    ['pause', pauseSignal, 'hold the runbook at the next step'],
    ['resume', resumeSignal, 'go on after a pause'],
    ['abort', abortSignal, 'stop the migration (what changed is rolled back)'],
    ['retry', retrySignal, 'measure a gate again that waits for a decision (inconclusive, or a failed soak check)'],
    ['fail', failSignal, 'fail the running step by hand (what changed is rolled back)'],
  ] as const) {
    program
      .command(name)
      .description(help)
      .argument('<id>', 'migration ID')
      .option('--reason <text>', 'why')
      .addOption(as)
      .action(async (id: string, o: { reason?: string; as: string }) => {
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

  program
    .command('rollback')
    .description('roll a migration back; for a migration that no longer runs, start the rollback workflow by hand')
    .argument('<id>', 'migration ID')
    .requiredOption('--reason <text>', 'why')
    .addOption(as)
    .action(async (id: string, o: { reason: string; as: string }) => {
      await withClient(async (client) => {
        const handle = client.workflow.getHandle(id);
        const desc = await handle.describe().catch((err: unknown) => {
          if (err instanceof WorkflowNotFoundError) throw new CliError(`no migration ${id}`, ExitCode.notFound);
          throw err;
        });
        if (desc.status.name === 'RUNNING') {
          await signalAndCheck(
            client,
            id,
            () => handle.signal(rollbackSignal, { reason: o.reason, requestedBy: o.as }),
            o.as,
          );
          process.stdout.write(`rollback requested; follow it with: migrate status ${id} --watch\n`);
          return;
        }
        // Stuck or terminated: its recorded undo list (queried from its history) drives a hand-started rollback.
        const s = await status(client, id);
        const started = await client.workflow.start<typeof rollbackWorkflow>('rollbackWorkflow', {
          taskQueue: loadConfig().taskQueue,
          workflowId: rollbackWorkflowId(id),
          args: [
            {
              migrationId: id,
              plan: await planOf(client, id),
              compensations: s.compensations,
              reason: o.reason,
              requestedBy: o.as,
              fromPhase: s.phase,
            },
          ],
        });
        const r = await started.result();
        process.stdout.write(
          `rolled back ${r.verified ? 'and verified' : 'but NOT verified'} in ${(r.durationMs / 1000).toFixed(1)} s; report: ${r.reportFile}\n`,
        );
        if (!r.verified)
          throw new CliError(`rollback verification failed: ${r.failedChecks.join('; ')}`, ExitCode.error);
      });
    });

  program
    .command('list')
    .description('migrations, newest first, with their phase (Temporal visibility)')
    .option('--phase <phase>', 'only migrations in this phase')
    .option('--json', 'machine-readable output')
    .action(async (o: { phase?: string; json?: boolean }) => {
      await withClient(async (client) => {
        const query = `WorkflowType = 'migrationWorkflow'${o.phase ? ` AND MigrationPhase = '${o.phase.replace(/'/g, '')}'` : ''}`;
        const rows: { id: string; name: string; phase: string; traffic: number; status: string; started: string }[] =
          [];
        for await (const wf of client.workflow.list({ query })) {
          const sa = wf.searchAttributes;
          rows.push({
            id: wf.workflowId,
            name: String(sa.MigrationName?.[0] ?? ''),
            phase: String(sa.MigrationPhase?.[0] ?? ''),
            traffic: Number(sa.TrafficPercent?.[0] ?? 0),
            status: wf.status.name,
            started: wf.startTime.toISOString(),
          });
        }
        print(
          !!o.json,
          rows,
          () =>
            rows
              .map((r) => `${r.id.padEnd(48)} ${r.phase.padEnd(14)} ${String(r.traffic).padStart(3)}%  ${r.status}`)
              .join('\n') || 'no migrations',
        );
      });
    });

  program
    .command('report')
    .description('print a report of a migration (validation, rollback, completion)')
    .argument('<id>', 'migration ID')
    .addOption(
      new Option('--kind <kind>', 'which report')
        .choices(['validation', 'rollback', 'completion'])
        .default('completion'),
    )
    .option('--json', 'the JSON form')
    .action(async (id: string, o: { kind: string; json?: boolean }) => {
      await withClient(async (client) => {
        const s = await status(client, id);
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

  program
    .command('history')
    .description('the measurement ledger of a migration: every evaluation, reading, approval, rejection and undo')
    .argument('<id>', 'migration ID')
    .option('--json', 'machine-readable output (one object per row, readings included)')
    .action(async (id: string, o: { json?: boolean }) => {
      await withClient(async (client) => {
        const plan = await planOf(client, id).catch((err: unknown) => {
          if (err instanceof WorkflowNotFoundError) throw new CliError(`no migration ${id}`, ExitCode.notFound);
          throw err;
        });
        const ledger = ledgerOf(plan);
        if (!process.env[ledger.databaseUrlEnv])
          throw new CliError(
            `set ${ledger.databaseUrlEnv} to the ledger database's URL (the plan names it; the CLI never stores it)`,
            ExitCode.error,
          );
        const rows = await readLedger({ migrationId: id, ...ledger });
        if (!rows.length) throw new CliError(`the ledger has no rows for ${id}`, ExitCode.notFound);
        print(!!o.json, rows, () =>
          [
            `ledger of ${id} (${rows.length} rows, table ${ledger.table})`,
            ...rows.map(
              (r) =>
                `${String(r.seq).padStart(5)}  ${r.at}  ${r.kind.padEnd(18)} ${(r.actor ?? '').padEnd(20)} ${r.detail}`,
            ),
          ].join('\n'),
        );
      });
    });

  program
    .command('rehearse')
    .description(
      'run a plan with its real durations in virtual time, against the real target in read-only mode: timeline, who must act, what would fail',
    )
    .argument('<plan>', 'YAML plan file')
    .option('--out <dir>', 'folder for rehearsal-<name>.md and .json (default: <data dir>/rehearsals)')
    .option('--json', 'print the rehearsal as JSON')
    .action(async (planFile: string, o: { out?: string; json?: boolean }) => {
      const plan = loadPlan(planFile);
      applyStackEnv();
      const outDir = o.out ?? path.join(loadConfig().dataDir, 'rehearsals');
      const r = await rehearse(plan, { outDir, print: (l) => process.stderr.write(`${l}\n`) });
      print(!!o.json, r, () =>
        [
          fs.readFileSync(r.markdownFile, 'utf8').trim(),
          '',
          `written: ${r.markdownFile}`,
          `         ${r.jsonFile}`,
        ].join('\n'),
      );
      // Exit 4 when something would have failed, so a pipeline can gate the real start on a clean rehearsal.
      if (r.outcome !== 'complete' || r.findings.some((f) => f.severity === 'would-fail'))
        throw new CliError(
          `rehearsal of ${plan.name}: ${r.findings.filter((f) => f.severity === 'would-fail').length} finding(s) would fail; outcome ${r.outcome}`,
          ExitCode.rejected,
        );
    });

  for (const command of program.commands) {
    const examples = EXAMPLES[command.name()];
    if (examples) command.addHelpText('after', `\nExamples:\n${examples.map((e) => `  ${e}`).join('\n')}`);
  }
  program.addHelpText('after', `\nRun "migrate <command> --help" for examples. Operator runbook: docs/runbook.md`);
  return program;
}

const ID = 'monolith-to-unified-20261125T0900';
/** Examples shown by `migrate <command> --help`. */
const EXAMPLES: Record<string, string[]> = {
  start: [
    'migrate start plans/production.example.yaml --as alice',
    'migrate start plans/demo.yaml --id demo-rehearsal-1',
  ],
  approve: [
    `migrate approve ${ID} --gate go --role technical-lead --as alice`,
    `migrate approve ${ID} --gate sign-off --role stakeholder --as sam --comment "numbers look right"`,
  ],
  reject: [`migrate reject ${ID} --gate cutover --role product-owner --reason "quarter-end freeze" --as paula`],
  status: [`migrate status ${ID}`, `migrate status ${ID} --watch`, `migrate status ${ID} --json | jq .phase`],
  pause: [`migrate pause ${ID} --reason "change freeze" --as olga`],
  resume: [`migrate resume ${ID} --as olga`],
  retry: [`migrate retry ${ID} --reason "metrics exporter restarted" --as olga`],
  fail: [`migrate fail ${ID} --reason "customer reports wrong scores" --as olga`],
  history: [`migrate history ${ID}`, `migrate history ${ID} --json | jq '.[] | select(.kind == "gate-evaluation")'`],
  abort: [`migrate abort ${ID} --reason "wrong plan" --as olga`],
  rollback: [
    `migrate rollback ${ID} --reason "error rate up after cutover" --as olga`,
    'migrate rollback <id of a terminated migration> --reason "worker pool lost" --as olga',
  ],
  list: ['migrate list', 'migrate list --phase soak', 'migrate list --json'],
  rehearse: [
    'migrate rehearse plans/production.example.yaml',
    'migrate rehearse plans/demo.yaml --out /tmp/rehearsal --json',
  ],
  report: [`migrate report ${ID} --kind completion`, `migrate report ${ID} --kind rollback --json > rollback.json`],
};

/** The plan a migration was started with, from its first run's input. */
async function planOf(client: Client, id: string) {
  const history = await client.workflow.getHandle(id).fetchHistory();
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
  const payload = started?.input?.payloads?.[0];
  if (!payload?.data) throw new CliError(`cannot read the plan of ${id} from its history`, ExitCode.error);
  return (
    JSON.parse(Buffer.from(payload.data).toString('utf8')) as { plan: Parameters<typeof rollbackWorkflow>[0]['plan'] }
  ).plan;
}

/** Runs the CLI; maps known errors to exit codes. */
export async function main(argv: string[]): Promise<number> {
  try {
    await buildCli().parseAsync(argv);
    return ExitCode.ok;
  } catch (err) {
    if (err instanceof PlanValidationError) {
      process.stderr.write(`${err.message}\nFix the fields above and run the command again; nothing was started.\n`);
      return ExitCode.invalidPlan;
    }
    if (err instanceof CliError) {
      process.stderr.write(`${err.message}\n`);
      return err.code;
    }
    process.stderr.write(
      `${err instanceof Error ? err.message : String(err)}\nIs the stack up? \`npm run stack status\`\n`,
    );
    return ExitCode.error;
  }
}

if (require.main === module) {
  void main(process.argv).then((code) => process.exit(code));
}

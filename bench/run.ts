import fs from 'node:fs';
import path from 'node:path';
import * as prettier from 'prettier';
import { applyStackEnv, projectRoot } from '../lib/config';
import { cliBench } from './cli';
import { runFleet, p } from './fleet';
import { historyBench } from './history';
import { newcomerBench } from './newcomer';
import { signatureBench } from './signatures';
import { suiteBench } from './suite';
import { log, machine, RESULTS_FILE, round, temporalVersion, writeResults, type Figures } from './lib';
import { rehearsalBench } from './rehearsal';
import { renderBenchmarks } from './report';
import { notificationsBench, rollbackBench } from './rollback';
import { workerStartBench } from './worker-start';

const ALL = [
  'history',
  'rehearsal',
  'signatures',
  'reaction',
  'scale',
  'rollback',
  'notifications',
  'worker-start',
  'cli',
  'newcomer',
  'suite',
] as const;
type Bench = (typeof ALL)[number];
// The newcomer's first run takes minutes of downloads and builds, the suite runs CI in fresh clones for a quarter of an
// hour each: only on request (`--only newcomer`, `--only suite`).
const DEFAULT: Bench[] = ALL.filter((b) => b !== 'newcomer' && b !== 'suite');

function parseArgs(argv: string[]): { only: Bench[]; runs: number; scale: number[]; dryRun: boolean } {
  const out = { only: DEFAULT, runs: 10, scale: [50, 200], dryRun: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--dry-run') {
      out.dryRun = true;
      continue;
    }
    const v = argv[++i] ?? '';
    if (a === '--only') {
      out.only = v.split(',') as Bench[];
      const bad = out.only.filter((b) => !ALL.includes(b));
      if (bad.length) throw new Error(`--only expects some of ${ALL.join(',')}; got ${bad.join(',')}`);
    } else if (a === '--runs' && Number(v) >= 1) out.runs = Number(v);
    else if (a === '--scale' && v.split(',').every((x) => Number(x) >= 1)) out.scale = v.split(',').map(Number);
    else
      throw new Error(
        `usage: npm run bench -- [--only ${ALL.join(',')}] [--runs N (rollback runs, default 10)] [--scale 50,200] [--dry-run (newcomer: no downloads, nothing recorded)]`,
      );
  }
  return out;
}

/** Runs the chosen benchmarks in turn (never two at once: the machine has 2 cores), merging into results.json. */
async function run(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  applyStackEnv();
  log(`machine: ${machine()}; ${temporalVersion()}`);
  let results: Figures = {};
  if (args.only.includes('history')) {
    log('history footprint and simulated speed (time-skipping server)');
    results = writeResults(await historyBench(), 'history');
  }
  if (args.only.includes('rehearsal')) {
    log('rehearsal of the production plan in virtual time (read-only against a real database)');
    results = writeResults(await rehearsalBench(), 'rehearsal');
  }
  if (args.only.includes('signatures')) {
    log('signature check per approval, and the plan digest (in process, the workflow code)');
    results = writeResults(await signatureBench(), 'signatures');
  }
  if (args.only.includes('reaction')) {
    // 34 migrations × 3 gates = 102 gate decisions, one migration started every 3 s (a few run at once); then 10
    // that fail a metric gate in the traffic shift.
    log('reaction time: 34 migrations, 102 gate decisions, plus 10 failed metric gates');
    const r = await runFleet('reaction', 34, { staggerMs: 3_000 });
    const g = await runFleet('gatefail', 10, { gateFailures: 10, staggerMs: 3_000 });
    results = writeResults(
      {
        reaction_approvals: r.reactionsMs.length,
        reaction_p50_ms: p(r.reactionsMs, 0.5),
        reaction_p95_ms: p(r.reactionsMs, 0.95),
        reaction_max_ms: p(r.reactionsMs, 1),
        gate_failure_to_rollback_ms: p(g.gateFailureToRollbackMs, 0.5),
        gate_failure_to_rollback_p95_ms: p(g.gateFailureToRollbackMs, 0.95),
        gate_failure_rolled_back: g.rolledBack,
      },
      'reaction',
    );
  }
  if (args.only.includes('scale')) {
    for (const n of args.scale) {
      log(`scale: ${n} migrations at once on one worker`);
      const r = await runFleet(`scale${n}`, n);
      results = writeResults(
        {
          [`concurrent_${n}_completed`]: r.completed,
          [`concurrent_${n}_wall_s`]: round(r.wallS, 1),
          [`concurrent_${n}_worker_peak_rss_mb`]: round(r.workerPeakRssMb, 0),
          [`concurrent_${n}_reaction_p95_ms`]: p(r.reactionsMs, 0.95),
        },
        `scale${n}`,
      );
    }
  }
  if (args.only.includes('rollback')) {
    log(`rollback: ${args.runs} runs each by signal, by failed gate and by shell script (real demo system)`);
    results = writeResults(await rollbackBench(args.runs), 'rollback');
  }
  if (args.only.includes('notifications')) {
    const runs = Math.min(args.runs, 3);
    log(`notifications: ${runs} whole migrations healthy and with a hung webhook; failed gates with dead channels`);
    results = writeResults(await notificationsBench(runs), 'notifications');
  }
  if (args.only.includes('worker-start')) {
    const runs = Math.min(args.runs, 5);
    log(`worker start: ${runs} cold starts each, bundling at start and with the prebuilt bundle`);
    results = writeResults(await workerStartBench(runs), 'worker-start');
  }
  if (args.only.includes('cli')) {
    log(`cli: ${args.runs} calls each of migrate --help and migrate status (a completed migration, no worker)`);
    results = writeResults(await cliBench(args.runs), 'cli');
  }
  if (args.only.includes('newcomer')) {
    log(`newcomer: a fresh clone's npm ci and npm run demo with empty caches${args.dryRun ? ' (dry run)' : ''}`);
    const figures = await newcomerBench({ dryRun: args.dryRun });
    if (args.dryRun) return;
    results = writeResults(figures, 'newcomer');
  }
  if (args.only.includes('suite')) {
    const runs = args.runs === 10 ? 3 : args.runs;
    log(`suite: .ci/run in ${runs} fresh clones in a row, each with a stack of its own, nothing else running`);
    results = writeResults(await suiteBench(runs), 'suite');
  }
  const file = path.join(projectRoot, 'BENCHMARKS.md');
  const options = (await prettier.resolveConfig(file)) ?? {};
  fs.writeFileSync(file, await prettier.format(renderBenchmarks(results), { ...options, filepath: file }));
  process.stdout.write(`${JSON.stringify(results, null, 2)}\nwritten: ${RESULTS_FILE} and BENCHMARKS.md\n`);
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});

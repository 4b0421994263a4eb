import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadPlan } from '../client/plan';
import { ensureDemoKeys } from '../demo/keys';
import { projectRoot } from '../lib/config';
import type { Plan } from '../model/plan';

export const RESULTS_FILE = path.join(projectRoot, 'bench', 'results.json');

/** The figures one benchmark contributes to the results file. */
export type Figures = Record<string, number | string | null | Record<string, unknown>>;

/** The q-quantile (0..1) of `xs` by linear interpolation; null for no samples. */
export function quantile(xs: number[], q: number): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

/** Rounds to `digits` decimals, keeping null. */
export const round = (x: number | null, digits = 1): number | null =>
  x === null ? null : Math.round(x * 10 ** digits) / 10 ** digits;

/** What the figures were measured on. */
export function machine(): string {
  const cpu = os.cpus()[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown CPU';
  const kernel = os.release();
  return `${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${kernel}, Node ${process.version}`;
}

/** The commit the working tree is at, with `-dirty` when tracked files differ from it (a figure names its code). */
export function currentCommit(): string {
  try {
    const sha = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: projectRoot, encoding: 'utf8' }).trim();
    // The results themselves are written as the benchmarks go: they do not make the code dirty.
    const pathspec = ['--', '.', ':!bench/results.json', ':!BENCHMARKS.md'];
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no', ...pathspec], {
      cwd: projectRoot,
      encoding: 'utf8',
    });
    return dirty.trim() ? `${sha}-dirty` : sha;
  } catch {
    return 'unknown';
  }
}

/**
 * Merges `figures` into the results file (earlier keys of other benchmarks are kept) and records, for `bench`, the
 * commit and the time they were measured at: a figure measured before the last change is not a figure.
 */
export function writeResults(figures: Figures, bench: string): Figures {
  const before = fs.existsSync(RESULTS_FILE) ? (JSON.parse(fs.readFileSync(RESULTS_FILE, 'utf8')) as Figures) : {};
  const measuredAt = {
    ...((before.measuredAt as Record<string, unknown> | undefined) ?? {}),
    [bench]: { commit: currentCommit(), date: new Date().toISOString() },
  };
  const merged = { ...before, ...figures, machine: machine(), date: new Date().toISOString(), measuredAt };
  fs.writeFileSync(RESULTS_FILE, `${JSON.stringify(merged, null, 2)}\n`);
  return merged;
}

/** The demo plan with its waits shortened for benchmarks that only measure orchestration. */
export function smallPlan(overrides: Partial<Plan['durations']> = {}): Plan {
  ensureDemoKeys(); // the demo plan names the demo approvers' allowed_signers; a fresh checkout has none yet
  const plan = loadPlan(path.join(projectRoot, 'plans', 'demo.yaml'));
  plan.durations = {
    parallelRunMs: 500,
    bakeMs: 500,
    monitoringWindowMs: 500,
    soakMs: 1_000,
    soakIntervalMs: 500,
    ...overrides,
  };
  return plan;
}

/** Peak resident set size of a process (VmHWM), in MiB; null once it is gone. */
export function peakRssMb(pid: number): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** Version line of the Temporal CLI the stack runs. */
export function temporalVersion(): string {
  try {
    return execFileSync(process.env.TEMPORAL_CLI_PATH ?? 'temporal', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/** Prints one line of progress to stderr (stdout stays for the summary). */
export const log = (msg: string): void => void process.stderr.write(`[bench] ${msg}\n`);

/**
 * This process's environment without what points at the running stack or at this checkout (`.stack/env` values,
 * `npm run`'s variables, node_modules/.bin on PATH), with a stack of its own on `ports`: how a fresh clone's commands
 * run beside this one (the newcomer's shell, CI's `.ci/run`).
 */
export function cleanEnv(ports: Record<string, number>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(MO_|TEMPORAL_|DEMO_|npm_|PG)/i.test(k)) continue;
    if (['DATABASE_URL', 'DOCKER_HOST', 'INIT_CWD', 'NODE', 'NODE_OPTIONS'].includes(k)) continue;
    env[k] = v;
  }
  env.PATH = (process.env.PATH ?? '')
    .split(':')
    .filter((p) => p && !p.includes('node_modules'))
    .join(':');
  return { ...env, ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])) };
}

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../lib/config';
import { cleanEnv, log, type Figures } from './lib';

/** Ports of a stack of its own, away from the default stack's and the newcomer bench's. */
const PORTS = {
  MO_TEMPORAL_PORT: 21233,
  MO_TEMPORAL_METRICS_PORT: 21234,
  MO_TEMPORAL_HTTP_PORT: 21243,
  MO_TEMPORAL_UI_PORT: 21333,
  MO_PG_PORT: 21433,
};

/** What one `.ci/run` printed that the figures need. */
interface CiRun {
  ok: boolean;
  ciSeconds: number;
  suiteSeconds: number | null;
  passed: number;
  failed: number;
}

/** The environment CI gives `.ci/run`: a clean one (`cleanEnv`) with `CI=true`. */
const ciEnv = (): NodeJS.ProcessEnv => ({ ...cleanEnv(PORTS), CI: 'true' });

/** Runs `.ci/run` in `clone` as CI does, its output to `logFile`; resolves with what it printed. */
function ciRun(clone: string, logFile: string): Promise<CiRun> {
  return new Promise((resolve, reject) => {
    const out = fs.openSync(logFile, 'w');
    const started = Date.now();
    const child = spawn('bash', ['.ci/run'], { cwd: clone, env: ciEnv(), stdio: ['ignore', out, out] });
    child.on('error', reject);
    child.on('exit', (code) => {
      fs.closeSync(out);
      const text = fs.readFileSync(logFile, 'utf8');
      const total = /\[ci\] total (\d+) s/.exec(text);
      const suite = /wall time of the run ([\d.]+) s/.exec(text);
      const counts = /^(\d+) passed, (\d+) failed/m.exec(text);
      resolve({
        ok: code === 0,
        ciSeconds: total ? Number(total[1]) : Math.round((Date.now() - started) / 1000),
        suiteSeconds: suite ? Number(suite[1]) : null,
        passed: Number(counts?.[1] ?? 0),
        failed: Number(counts?.[2] ?? 0),
      });
    });
  });
}

/**
 * The test suite as CI runs it: `runs` times in a row, each in a fresh clone of HEAD with a stack of its own on other
 * ports, nothing else running. `ci_wall_s` is `.ci/run` as a whole (install, stack, typecheck, lint, tests);
 * `test_suite_wall_s` is `npm test` alone (the timing reporter's wall time). The worst run is the figure.
 */
export async function suiteBench(runs: number): Promise<Figures> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mo-suite-'));
  const results: CiRun[] = [];
  try {
    for (let i = 1; i <= runs; i++) {
      const clone = path.join(tmp, `clone-${i}`);
      execFileSync('git', ['clone', '--quiet', projectRoot, clone]);
      const logFile = path.join(projectRoot, 'bench', `.suite-run-${i}.log`);
      const r = await ciRun(clone, logFile);
      log(
        `  run ${i}: ${r.ok ? 'green' : 'RED'}, .ci/run ${r.ciSeconds} s, npm test ${r.suiteSeconds ?? '?'} s, ${r.passed} passed, ${r.failed} failed (log ${path.relative(projectRoot, logFile)})`,
      );
      results.push(r);
      fs.rmSync(clone, { recursive: true, force: true });
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const worst = (xs: (number | null)[]) => Math.max(...xs.map((x) => x ?? Infinity));
  return {
    ci_wall_s: worst(results.map((r) => r.ciSeconds)),
    test_suite_wall_s: worst(results.map((r) => r.suiteSeconds)),
    ci_runs: results.length,
    ci_runs_green: results.filter((r) => r.ok && r.failed === 0).length,
    ci_wall_s_each: results.map((r) => r.ciSeconds).join(', '),
    test_suite_wall_s_each: results.map((r) => r.suiteSeconds ?? '?').join(', '),
    test_suite_tests_passed: Math.min(...results.map((r) => r.passed)),
  };
}

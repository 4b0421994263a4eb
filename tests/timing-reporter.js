/**
 * Prints every test file's wall time at the end of a run, slowest first, with each tier's total and the run's wall
 * time. With MO_RECORD_TIMINGS=1 a run without failures also writes them to tests/file-timings.json, the order the
 * sequencer gives the workers (slowest first).
 */
const fs = require('node:fs');
const path = require('node:path');
const { WAITS } = require('./machine-environment');

/** Milliseconds each file waited for the machine (tests/machine-environment.js), by path. */
function lockWaits() {
  const waited = new Map();
  try {
    for (const line of fs.readFileSync(WAITS, 'utf8').split('\n').filter(Boolean)) {
      const { file, ms } = JSON.parse(line);
      waited.set(file, (waited.get(file) ?? 0) + ms);
    }
  } catch {
    // No file waited (or none ran in the machine environment).
  }
  return waited;
}

class TimingReporter {
  constructor(globalConfig) {
    this.rootDir = globalConfig.rootDir;
  }

  onRunStart() {
    fs.rmSync(WAITS, { force: true });
  }

  onRunComplete(_contexts, results) {
    const waited = lockWaits();
    const rows = results.testResults.map((r) => ({
      file: path.relative(this.rootDir, r.testFilePath),
      tier: r.displayName?.name ?? '',
      // A file's own time: without what it waited for another file that had the machine to itself.
      seconds: (r.perfStats.end - r.perfStats.start - (waited.get(r.testFilePath) ?? 0)) / 1000,
      failed: r.numFailingTests > 0 || Boolean(r.testExecError),
    }));
    if (!rows.length) return;
    const tiers = new Map();
    for (const r of rows) tiers.set(r.tier, (tiers.get(r.tier) ?? 0) + r.seconds);
    const width = Math.max(...rows.map((r) => r.file.length));
    const lines = ['', 'Time per test file (s, waits for an exclusive file left out)'];
    for (const r of [...rows].sort((a, b) => b.seconds - a.seconds))
      lines.push(`  ${r.file.padEnd(width)}  ${r.seconds.toFixed(1).padStart(7)}${r.failed ? '  FAILED' : ''}`);
    lines.push(
      `  tiers: ${[...tiers].map(([t, s]) => `${t} ${s.toFixed(1)}`).join(', ')}; all files ${rows.reduce((a, r) => a + r.seconds, 0).toFixed(1)}`,
    );
    const wall = (Date.now() - results.startTime) / 1000;
    lines.push(`  wall time of the run ${wall.toFixed(1)} s`);
    process.stdout.write(`${lines.join('\n')}\n`);
    if (process.env.MO_RECORD_TIMINGS === '1' && !rows.some((r) => r.failed)) {
      const timings = Object.fromEntries(
        [...rows].sort((a, b) => a.file.localeCompare(b.file)).map((r) => [r.file, Number(r.seconds.toFixed(1))]),
      );
      fs.writeFileSync(path.join(__dirname, 'file-timings.json'), `${JSON.stringify(timings, null, 2)}\n`);
    }
  }
}

module.exports = TimingReporter;

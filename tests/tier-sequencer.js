/**
 * The order the Jest workers take the files in: files marked `@exclusive` first (they run alone, so they go before the
 * others start; the unit tier, which takes no lock, runs beside the first of them), then the slowest first by the durations of the last full run (`tests/file-timings.json`, written by
 * tests/timing-reporter.js), so the workers finish close together; files with no recorded duration by tier, then
 * name. Fixed by the file, not by Jest's own timing cache, so a fresh clone runs in the same order.
 */
const fs = require('node:fs');
const path = require('node:path');
const Sequencer = require('@jest/test-sequencer').default;

const TIERS = ['unit', 'workflows', 'integration', 'e2e', 'faults'];
const TIMINGS = path.join(__dirname, 'file-timings.json');

/** Whether a test file says, in its first doc comment, that it needs the whole machine. */
const exclusive = (file) =>
  /^\s*\/\*\*[\s\S]*?@exclusive\b[\s\S]*?\*\//.test(fs.readFileSync(file, 'utf8').slice(0, 2000));

class TierSequencer extends Sequencer {
  sort(tests) {
    let timings = {};
    try {
      timings = JSON.parse(fs.readFileSync(TIMINGS, 'utf8'));
    } catch {
      // No recorded run: tier and name order.
    }
    const root = path.join(__dirname, '..');
    const seconds = (t) => timings[path.relative(root, t.path)] ?? -1;
    const tier = (t) => {
      const i = TIERS.indexOf(t.context.config.displayName?.name ?? '');
      return i < 0 ? TIERS.length : i;
    };
    const bySize = (a, b) => seconds(b) - seconds(a) || tier(a) - tier(b) || a.path.localeCompare(b.path);
    const exclusives = tests.filter((t) => exclusive(t.path)).sort(bySize);
    const units = tests.filter((t) => !exclusive(t.path) && tier(t) === 0).sort(bySize);
    const rest = tests.filter((t) => !exclusive(t.path) && tier(t) !== 0).sort(bySize);
    // While the first exclusive file has the machine, the other workers run the unit tier, which needs no stack and
    // takes no lock; the next exclusive file waits for the first, and then the rest start.
    return [...exclusives.slice(0, 1), ...units, ...exclusives.slice(1), ...rest];
  }
}

module.exports = TierSequencer;

/**
 * Runs the tiers in order (unit, workflows, integration, e2e, faults) and the files of a tier by name, so a run's
 * order does not depend on Jest's timing cache and the fast tiers report first.
 */
const Sequencer = require('@jest/test-sequencer').default;

const TIERS = ['unit', 'workflows', 'integration', 'e2e', 'faults'];

class TierSequencer extends Sequencer {
  sort(tests) {
    const tier = (t) => {
      const i = TIERS.indexOf(t.context.config.displayName?.name ?? '');
      return i < 0 ? TIERS.length : i;
    };
    return [...tests].sort((a, b) => tier(a) - tier(b) || a.path.localeCompare(b.path));
  }
}

module.exports = TierSequencer;

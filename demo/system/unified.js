'use strict';
// The unified pipeline: scores what it owns (quality and trust at once) and, during the parallel run, shadows
// the legacy pipeline's items. `--once` runs one batch (the cron line); `--loop` runs until stopped (the container).
const { withDb, scoreBatch, shadowBatch } = require('./pipeline');

async function once() {
  return withDb(async (db) => {
    const scored = await scoreBatch(db, 'unified', 'unified', 500);
    const shadowed = await shadowBatch(db, 500);
    return { scored, shadowed };
  });
}

async function main() {
  const loop = process.argv.includes('--loop');
  const every = Number(process.env.UNIFIED_INTERVAL_MS || 500);
  let stop = false;
  process.on('SIGTERM', () => (stop = true));
  do {
    try {
      const r = await once();
      if (r.scored || r.shadowed) console.log(`unified: scored ${r.scored}, shadowed ${r.shadowed}`);
    } catch (err) {
      console.error(`unified: ${err.message}`);
      if (!loop) throw err;
    }
    if (loop && !stop) await new Promise((r) => setTimeout(r, every));
  } while (loop && !stop);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

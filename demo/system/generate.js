'use strict';
// Submission generator: inserts Reddit-like posts at a steady rate.
// `node generate.js --rate 20 --seconds 60` (rate per second), or `--count 500` for a burst.
const { exitWithParent, withDb } = require('./pipeline');

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const SUBS = ['programming', 'dataengineering', 'postgres', 'news', 'AskReddit', 'typescript'];

/** Inserts `n` random submissions in one statement. */
async function insertSubmissions(db, n) {
  if (n <= 0) return;
  await db.query(
    `insert into submissions (title, body, subreddit, score)
     select 'Post ' || g || ' ' || md5(random()::text), repeat('word ', (random() * 80)::int), ($2::text[])[1 + (random() * 5)::int],
            (random() * 2000)::int
       from generate_series(1, $1) g`,
    [n, SUBS],
  );
}

async function main() {
  const count = arg('count', 0);
  if (count) return withDb((db) => insertSubmissions(db, count));
  exitWithParent();
  const rate = arg('rate', 10);
  const seconds = arg('seconds', 60);
  const until = Date.now() + seconds * 1000;
  let stop = false;
  process.on('SIGTERM', () => (stop = true));
  process.on('SIGINT', () => (stop = true));
  // Like a real source, it outlives a database outage: it reconnects and goes on (the fault tests stop PostgreSQL).
  while (!stop && Date.now() < until) {
    try {
      await withDb(async (db) => {
        while (!stop && Date.now() < until) {
          await insertSubmissions(db, Math.max(1, Math.round(rate / 4)));
          await new Promise((r) => setTimeout(r, 250));
        }
      });
    } catch (err) {
      console.error(`generate: ${err.message}; reconnecting`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

module.exports = { insertSubmissions };

if (require.main === module)
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });

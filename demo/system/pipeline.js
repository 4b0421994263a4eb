'use strict';
// The demo's scoring pipelines, in plain JavaScript so the same file runs on the host (legacy jobs, started by
// cron lines) and inside the unified pipeline's container. Both pipelines apply the same scoring rules, so their
// outputs match unless the `divergent` fault is switched on.
const { Client } = require('pg');

/** Quality of a submission: deterministic, depends on its title, body and votes. */
function qualityScore(s) {
  const words = s.body.split(/\s+/).filter(Boolean).length;
  return (
    Math.round((Math.log10(Math.max(s.score, 0) + 1) * 10 + Math.min(words, 200) / 20 + (s.title.length % 7)) * 1000) /
    1000
  );
}

/** Trust of a submission: deterministic, depends on its subreddit and age of the text. */
function trustScore(s) {
  let h = 0;
  for (const ch of s.subreddit) h = (h * 31 + ch.charCodeAt(0)) % 1000;
  return Math.round((h / 10 + (s.title.match(/!/g) || []).length * -5 + 50) * 1000) / 1000;
}

const OWNED = {
  legacy: "unified_share(s.id) >= coalesce((select percent from migration_routing where route = 'unified'), 0)",
  unified: "unified_share(s.id) < coalesce((select percent from migration_routing where route = 'unified'), 0)",
};

/**
 * Ends this process once the process that started it is gone: a demo or test killed with SIGKILL must not leave a
 * submission source (or a cron) running, which would feed the next run of the same database for an hour.
 */
function exitWithParent() {
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.exit(0);
  }, 1000).unref();
}

async function faults(db) {
  const r = await db.query('select name from demo_faults where enabled');
  return new Set(r.rows.map((x) => x.name));
}

async function routingExists(db) {
  const r = await db.query("select to_regclass('migration_routing') is not null as ok");
  return r.rows[0].ok;
}

/**
 * Scores up to `limit` unscored submissions this pipeline owns, in one transaction: the score row's primary key and
 * SKIP LOCKED make every submission scored exactly once, whichever pipeline gets it.
 */
async function scoreBatch(db, pipeline, job, limit) {
  const owned = (await routingExists(db)) ? OWNED[pipeline] : pipeline === 'legacy' ? 'true' : 'false';
  const f = pipeline === 'unified' ? await faults(db) : new Set();
  await db.query('begin');
  try {
    const items = await db.query(
      `select s.* from submissions s where not exists (select 1 from scores c where c.submission_id = s.id)
         and ${owned} order by s.id limit $1 for update of s skip locked`,
      [limit],
    );
    let done = 0;
    for (const s of items.rows) {
      const t0 = Date.now();
      const error = f.has('error-spike') && Number(s.id) % 4 === 0;
      const slowMs = f.has('slow') ? 8000 : 0;
      const cost = pipeline === 'legacy' ? 0.00091 : 0.0005;
      if (!error) {
        const q = qualityScore(s) + (f.has('divergent') ? 1 : 0);
        const trust = pipeline === 'unified' ? trustScore(s) : null;
        const ins = await db.query(
          'insert into scores (submission_id, pipeline, quality_score, trust_score) values ($1, $2, $3, $4) on conflict do nothing',
          [s.id, pipeline, q, trust],
        );
        if (ins.rowCount === 0) continue;
        done++;
      }
      await db.query(
        'insert into item_runs (submission_id, pipeline, job, status, duration_ms, cost) values ($1, $2, $3, $4, $5, $6)',
        [s.id, pipeline, job, error ? 'error' : 'ok', Date.now() - t0 + 40 + slowMs, cost],
      );
    }
    await db.query('commit');
    return done;
  } catch (err) {
    await db.query('rollback');
    throw err;
  }
}

/** The legacy trust scorer: fills in the trust score of legacy-scored rows. */
async function trustBatch(db, limit) {
  const rows = await db.query(
    `select s.* from submissions s join scores c on c.submission_id = s.id
      where c.pipeline = 'legacy' and c.trust_score is null order by s.id limit $1`,
    [limit],
  );
  for (const s of rows.rows) {
    await db.query('update scores set trust_score = $2 where submission_id = $1 and trust_score is null', [
      s.id,
      trustScore(s),
    ]);
  }
  return rows.rowCount;
}

/** Parallel run: the unified pipeline scores, into shadow_scores, the items the legacy pipeline owns and scored. */
async function shadowBatch(db, limit) {
  const f = await faults(db);
  const rows = await db.query(
    `select s.* from submissions s join scores c on c.submission_id = s.id
      where c.pipeline = 'legacy' and c.trust_score is not null
        and not exists (select 1 from shadow_scores x where x.submission_id = s.id)
      order by s.id limit $1`,
    [limit],
  );
  for (const s of rows.rows) {
    await db.query(
      'insert into shadow_scores (submission_id, quality_score, trust_score) values ($1, $2, $3) on conflict do nothing',
      [s.id, qualityScore(s) + (f.has('divergent') ? 1 : 0), trustScore(s)],
    );
  }
  return rows.rowCount;
}

async function withDb(fn) {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL is not set');
  const db = new Client({ connectionString: url });
  // A connection the server drops (restart, outage) fails the query in flight; without a listener it would also
  // crash the process with an unhandled 'error' event.
  db.on('error', () => undefined);
  await db.connect();
  try {
    return await fn(db);
  } finally {
    await db.end().catch(() => undefined);
  }
}

module.exports = { exitWithParent, qualityScore, trustScore, scoreBatch, trustBatch, shadowBatch, withDb };

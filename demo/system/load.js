'use strict';
// Load test of the unified pipeline: the submission generator feeds a scratch copy of the schema (its own PostgreSQL
// schema in the target database, dropped afterwards, so production rows are never touched) at a fixed offered rate
// while the unified scorer drains it; prints the sustained throughput it kept up with.
const fs = require('node:fs');
const path = require('node:path');
const { Client } = require('pg');
const { scoreBatch } = require('./pipeline');
const { insertSubmissions } = require('./generate');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function connect(url, schema) {
  const db = new Client({ connectionString: url, options: `-c search_path=${schema},public` });
  await db.connect();
  return db;
}

/**
 * Offers `ratePerSecond` submissions for `seconds`, scoring them as they arrive, then waits (at most `drainSeconds`)
 * for the backlog to empty. Sustained throughput = items scored / wall time from the first insert to the last score.
 */
async function loadTest(url, { ratePerSecond = 25, seconds = 4, drainSeconds = 20 } = {}) {
  const schema = `mo_loadtest_${process.pid}_${Date.now()}`;
  const admin = new Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(`create schema ${schema}`);
    const setup = await connect(url, schema);
    try {
      await setup.query(fs.readFileSync(path.join(__dirname, 'schema.sql'), 'utf8'));
      await setup.query('create table migration_routing (route text primary key, percent integer not null)');
      await setup.query("insert into migration_routing values ('unified', 100)");
      // The production fault switches apply to the load test too: a slow or failing pipeline must not pass it.
      await setup.query('insert into demo_faults select * from public.demo_faults');
    } finally {
      await setup.end();
    }
    const gen = await connect(url, schema);
    const scorer = await connect(url, schema);
    try {
      const started = Date.now();
      let offered = 0;
      let generating = true;
      const generator = (async () => {
        const until = started + seconds * 1000;
        for (let tick = 1; Date.now() < until; tick++) {
          // Keep to the schedule: after tick k, k/4 of a second's rate has been offered.
          const due = Math.round((ratePerSecond * tick) / 4) - offered;
          await insertSubmissions(gen, due);
          offered += Math.max(due, 0);
          await sleep(Math.max(0, started + tick * 250 - Date.now()));
        }
        generating = false;
      })();
      let scored = 0;
      let lastScoredAt = started;
      const drainBy = started + (seconds + drainSeconds) * 1000;
      while (Date.now() < drainBy) {
        // Read before the batch: a batch that began while the generator was still inserting may miss its last rows.
        const wasGenerating = generating;
        const n = await scoreBatch(scorer, 'unified', 'load-test', 200);
        if (n) lastScoredAt = Date.now();
        scored += n;
        // Nothing left that the pipeline can score (items that keep failing stay as backlog).
        if (!wasGenerating && n === 0) break;
        if (!n) await sleep(50);
      }
      await generator;
      const r = await scorer.query(
        "select count(distinct submission_id) filter (where status = 'error') as errors from item_runs",
      );
      const hours = Math.max(lastScoredAt - started, 1) / 3_600_000;
      return {
        offeredPerHour: Math.round(ratePerSecond * 3600),
        offered,
        scored,
        backlog: offered - scored,
        errors: Number(r.rows[0].errors),
        sustainedPerHour: Math.round(scored / hours),
      };
    } finally {
      await gen.end();
      await scorer.end();
    }
  } finally {
    await admin.query(`drop schema if exists ${schema} cascade`).catch(() => undefined);
    await admin.end();
  }
}

module.exports = { loadTest };

'use strict';
// Legacy monolith #2: the API-ingest trust scorer (run by cron).
const { withDb, trustBatch } = require('../pipeline');

withDb((db) => trustBatch(db, 500))
  .then((n) => console.log(`trust-scorer: scored ${n}`))
  .catch((err) => {
    console.error(err);
    process.exit(1);
  });

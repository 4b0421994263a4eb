'use strict';
// Legacy monolith #1: the database batch scorer (run by cron).
const { withDb, scoreBatch } = require('../pipeline');

withDb((db) => scoreBatch(db, 'legacy', 'batch-scorer', 500))
  .then((n) => console.log(`batch-scorer: scored ${n}`))
  .catch((err) => {
    console.error(err);
    process.exit(1);
  });

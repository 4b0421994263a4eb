'use strict';
// A compressed-time cron for the demo: every `--every` seconds it runs each enabled line of a user's real crontab
// (what cron would run, without waiting for the line's minute). Disabled (commented-out) lines do not run.
const { execFileSync, spawnSync } = require('node:child_process');

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const user = arg('user');
const everyMs = Number(arg('every', '2')) * 1000;

function enabledCommands() {
  let text = '';
  try {
    text = execFileSync('crontab', user ? ['-l', '-u', user] : ['-l'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  } catch {
    return [];
  }
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#') && !/^[A-Z_]+=/.test(l))
    .map((l) => (l.startsWith('@') ? l.split(/\s+/).slice(1) : l.split(/\s+/).slice(5)).join(' '));
}

let stop = false;
// Gone with the demo or test that started it (the process that started it is no longer its parent).
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) stop = true;
}, 1000).unref();
process.on('SIGTERM', () => (stop = true));
process.on('SIGINT', () => (stop = true));
(async () => {
  while (!stop) {
    for (const cmd of enabledCommands()) {
      const r = spawnSync('/bin/sh', ['-c', cmd], { encoding: 'utf8', env: process.env, timeout: 60_000 });
      if (r.status !== 0) process.stderr.write(`cron-runner: ${cmd} exited ${r.status}: ${r.stderr}\n`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
})();

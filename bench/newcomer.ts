import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../lib/config';
import { cleanEnv, log, round, type Figures } from './lib';

// A stack of its own beside the running one: ports below Linux's ephemeral range (32768+) and away from the default
// stack's 15433, 17233, 17234, 17243 and 18233.
const PORTS = {
  MO_TEMPORAL_PORT: 19233,
  MO_TEMPORAL_METRICS_PORT: 19234,
  MO_TEMPORAL_HTTP_PORT: 19243,
  MO_TEMPORAL_UI_PORT: 19333,
  MO_PG_PORT: 19433,
};
// The demo's crontab belongs to a system user, one per machine: the clone's demo gets a user of its own, so it never
// rewrites the crontab of a demo or test running in another checkout. Nothing else in the plan changes.
const CRONTAB_USER = 'mo-newcomer';
const STEP_TIMEOUT_MS = 20 * 60_000;

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * The environment of a newcomer's shell: this process's, without what points at the running stack or at this
 * checkout (`.stack/env` values, `npm run`'s variables, node_modules/.bin on PATH), with every cache a fresh folder.
 */
function newcomerEnv(tmp: string, clone: string, warmCaches: boolean): NodeJS.ProcessEnv {
  const env = cleanEnv(PORTS);
  const fresh = (name: string) => {
    const dir = path.join(tmp, 'caches', name);
    fs.mkdirSync(dir, { recursive: true });
    return dir;
  };
  env.MO_STACK_DIR = path.join(clone, '.stack');
  if (!warmCaches)
    Object.assign(env, {
      npm_config_cache: fresh('npm'),
      MO_CACHE_DIR: fresh('migration-orchestrator'),
      XDG_CACHE_HOME: fresh('xdg'),
      PIP_NO_CACHE_DIR: '1',
      // The time-skipping test server comes from Maven Central, the Go fallback from the module proxy: empty too.
      MAVEN_OPTS: `-Dmaven.repo.local=${fresh('maven')}`,
      GOPATH: fresh('go'),
    });
  return env;
}

/** Runs one command in the clone, its output appended to `logFile`; resolves with its wall time in seconds. */
function timed(what: string, cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, logFile: string) {
  return new Promise<number>((resolve, reject) => {
    fs.appendFileSync(logFile, `\n$ ${[cmd, ...args].join(' ')}\n`);
    const out = fs.openSync(logFile, 'a');
    const t0 = performance.now();
    // Its own process group, so a time-out kills what it started too.
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', out, out], detached: true });
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }, STEP_TIMEOUT_MS);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      fs.closeSync(out);
      const s = (performance.now() - t0) / 1000;
      if (code === 0) resolve(s);
      else reject(new Error(`${what} failed (${signal ?? `exit ${code}`}) after ${s.toFixed(0)} s; see ${logFile}`));
    });
  });
}

/** Removes a folder the stack made outside the clone (the PostgreSQL cluster when the clone is closed to others). */
function removeOutside(clone: string): void {
  const pgDir = path.join(clone, '.stack', 'pg', 'dir');
  if (fs.existsSync(pgDir)) {
    const dir = fs.readFileSync(pgDir, 'utf8').trim();
    if (dir && !dir.startsWith(clone)) fs.rmSync(dir, { recursive: true, force: true });
  }
  // scripts/stack keeps sockets in /tmp/mo-<md5 of the checkout's path>.
  fs.rmSync(`/tmp/mo-${createHash('md5').update(clone).digest('hex').slice(0, 10)}`, { recursive: true, force: true });
}

/**
 * A newcomer's first run: a fresh clone of HEAD, then `npm ci` and `npm run demo` as the README's quick start says, with
 * empty caches (npm, pip, the stack's tool cache, XDG, Maven, Go), its own stack state and ports, and Node.js 22 from
 * `scripts/node22` when the machine's is older (timed apart: a machine with Node.js 22 skips it). Its stack is stopped
 * and the clone removed whatever happens. Takes minutes; not part of the default set.
 *
 * `dryRun`: the same clone, environment, ports and teardown, with the user's warm caches and `scripts/stack up`
 * instead of `npm ci` and the demo; nothing is recorded.
 */
export async function newcomerBench(opts: { dryRun: boolean }): Promise<Figures> {
  const busy: string[] = [];
  for (const [name, port] of Object.entries(PORTS)) if (!(await portFree(port))) busy.push(`${name}=${port}`);
  if (busy.length) throw new Error(`newcomer: ports in use (${busy.join(', ')}); is an earlier run's stack still up?`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mo-newcomer-'));
  // Open to others as a checkout usually is, so PostgreSQL's cluster (run as the postgres user) stays inside it.
  fs.chmodSync(tmp, 0o755);
  const clone = path.join(tmp, 'migration-orchestrator');
  // Outside the folder that is removed, so a failure can be read afterwards.
  const logFile = path.join(os.tmpdir(), `mo-newcomer-${Date.now().toString(36)}.log`);
  const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: projectRoot, encoding: 'utf8' }).trim();
  execFileSync('git', ['clone', '-q', projectRoot, clone]);
  const env = newcomerEnv(tmp, clone, opts.dryRun);
  log(`newcomer: clone of ${commit.slice(0, 12)} in ${clone}; output in ${logFile}`);
  const plan = path.join(clone, 'plans', 'demo-newcomer.yaml');
  fs.writeFileSync(
    plan,
    fs
      .readFileSync(path.join(clone, 'plans', 'demo.yaml'), 'utf8')
      .replace(/^(\s+user:\s*)mo-demo\s*$/m, `$1${CRONTAB_USER}`),
  );
  try {
    const node22S = await timed(
      'scripts/node22',
      'bash',
      ['-c', 'bash scripts/node22 >node22.path'],
      clone,
      env,
      logFile,
    );
    const nodeBin = fs.readFileSync(path.join(clone, 'node22.path'), 'utf8').trim();
    env.PATH = `${nodeBin}:${env.PATH}`;
    // Native addons build against this node's headers, whatever a ~/.npmrc `nodedir` says (as .ci/run does).
    if (fs.existsSync(path.join(nodeBin, '..', 'include', 'node', 'node.h')))
      env.npm_config_nodedir = path.dirname(nodeBin);
    log(`  Node.js 22 ready in ${node22S.toFixed(1)} s (${nodeBin})`);
    if (opts.dryRun) {
      const upS = await timed('stack up', 'bash', ['scripts/stack', 'up'], clone, env, logFile);
      log(`  dry run: stack up in ${upS.toFixed(1)} s (warm caches); nothing recorded`);
      return {};
    }
    const npmCiS = await timed('npm ci', 'npm', ['ci', '--no-audit', '--no-fund'], clone, env, logFile);
    log(`  npm ci: ${npmCiS.toFixed(1)} s`);
    const demoS = await timed('npm run demo', 'npm', ['run', 'demo', '--', '--plan', plan], clone, env, logFile);
    log(`  npm run demo: ${demoS.toFixed(1)} s`);
    return {
      newcomer_first_demo_s: round(npmCiS + demoS, 1),
      newcomer_npm_ci_s: round(npmCiS, 1),
      newcomer_demo_s: round(demoS, 1),
      newcomer_node22_s: round(node22S, 1),
      newcomer_commit: commit,
    };
  } finally {
    await timed('stack down', 'npm', ['run', 'stack', 'down'], clone, env, logFile).catch((err: Error) =>
      log(`  ${err.message}`),
    );
    try {
      execFileSync('crontab', ['-r', '-u', CRONTAB_USER], { stdio: 'ignore' });
    } catch {
      // No crontab: the demo did not get that far.
    }
    try {
      removeOutside(clone);
      fs.rmSync(tmp, { recursive: true, force: true });
      log(`  removed ${tmp}`);
    } catch (err) {
      // Never hides the measurement's own error; says what is left.
      log(`  could not remove everything under ${tmp}: ${(err as Error).message}`);
    }
  }
}

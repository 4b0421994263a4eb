import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';
import type { Configuration, NormalModuleReplacementPlugin as ReplacementPlugin } from 'webpack';
import { projectRoot } from './config';

const WORKFLOWS = path.join(projectRoot, 'workflows');
/** The domain model under the workflows: workflow-safe code the bundle carries (plan, rules, signatures, formats). */
const MODEL = path.join(projectRoot, 'model');
/**
 * zod's locale barrel, replaced by an empty module: 64 modules that every workflow would evaluate (a reusable V8 context
 * still gives each workflow its own module instances) and that the plan schema never uses. Measured with 200
 * migrations at once on one worker (bench scale): the worker's peak memory.
 */
const ZOD_LOCALES = /zod[\\/]v4[\\/]locales[\\/]index\.js$/;
const ZOD_LOCALES_STUB = path.join(__dirname, 'zod-locales-stub.mjs');

/** Refuses input no known codec key sealed, before any workflow code runs (`workflows/interceptors.ts`). */
const INTERCEPTORS = [path.join(WORKFLOWS, 'interceptors.ts')];

/** Modules loaded once per worker and shared by its workflows (see `workflows/shared-libraries.ts`). */
const PRELOAD = [path.join(WORKFLOWS, 'shared-libraries.ts')];

/** The bundler's webpack configuration, with zod's locales left out. */
function withoutZodLocales(config: Configuration): Configuration {
  // webpack comes with @temporalio/worker's bundler.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { NormalModuleReplacementPlugin } = require('webpack') as {
    NormalModuleReplacementPlugin: typeof ReplacementPlugin;
  };
  return {
    ...config,
    plugins: [...(config.plugins ?? []), new NormalModuleReplacementPlugin(ZOD_LOCALES, ZOD_LOCALES_STUB)],
  };
}

/** Bundles kept in the cache folder besides the current one (other checkouts' or branches' code). */
const KEPT = 4;

const noop = () => undefined;
const quietLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: console.error, log: noop };

/**
 * What the workflow bundle is built from: every file under `workflows/` and `model/` (which import nothing else at
 * run time, ESLint rules hold them to that) and the locked dependency tree (the SDK's sandbox and any package a workflow imports).
 */
export function workflowSourceKey(): string {
  const hash = createHash('sha256');
  const walk = (dir: string): string[] =>
    fs
      .readdirSync(dir, { withFileTypes: true })
      .flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
  // This file and the stub too: how the bundle is built is one of its inputs.
  const inputs = [
    ...walk(WORKFLOWS),
    ...walk(MODEL),
    path.join(projectRoot, 'package-lock.json'),
    __filename,
    ZOD_LOCALES_STUB,
  ];
  for (const file of inputs.sort()) {
    hash.update(path.relative(projectRoot, file)).update('\0').update(fs.readFileSync(file)).update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

/** Bundles `workflows/` as every worker runs it (the cache below and `scripts/build-bundle.ts` both call this). */
export function bundleWorkflows(): Promise<WorkflowBundle> {
  return bundleWorkflowCode({
    workflowsPath: WORKFLOWS,
    logger: quietLogger,
    webpackConfigHook: withoutZodLocales,
    preloadModules: PRELOAD,
    workflowInterceptorModules: INTERCEPTORS,
  });
}

/** Writes `code` to `file` through a temporary file and a rename, so a reader never sees half a bundle. */
export function writeAtomically(file: string, code: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, code);
  fs.renameSync(tmp, file);
}

/**
 * The workflow code, bundled once per version of its sources: a worker that starts again (after a crash, in the next
 * test, in the next demo run) reads the bundle from `cacheDir` instead of running webpack for seconds. The key covers
 * every input of the bundle, so changed code is always bundled afresh; writes are atomic, so workers that start at
 * the same moment at worst bundle twice.
 */
export async function cachedWorkflowBundle(cacheDir: string): Promise<WorkflowBundle> {
  const file = path.join(cacheDir, `workflows-${workflowSourceKey()}.js`);
  if (fs.existsSync(file)) return { code: fs.readFileSync(file, 'utf8') };
  const { code } = await bundleWorkflows();
  try {
    writeAtomically(file, code);
    pruneCache(cacheDir, file);
  } catch (err) {
    // A read-only folder only costs the next start its bundling.
    console.error(`workflow bundle not cached in ${cacheDir}: ${(err as Error).message}`);
  }
  return { code };
}

/**
 * The bundle a worker runs: the prebuilt file `MO_WORKFLOW_BUNDLE` names (a production image builds it once), else the
 * cached bundle of the current sources.
 */
export async function workflowBundleFor(dataDir: string): Promise<WorkflowBundle | { codePath: string }> {
  const prebuilt = process.env.MO_WORKFLOW_BUNDLE;
  if (prebuilt) return { codePath: prebuilt };
  return cachedWorkflowBundle(path.join(dataDir, 'workflow-bundles'));
}

/** Removes all but the newest bundles (the one just written stays). */
function pruneCache(cacheDir: string, keep: string): void {
  const old = fs
    .readdirSync(cacheDir)
    .filter((f) => /^workflows-[0-9a-f]+\.js$/.test(f) && path.join(cacheDir, f) !== keep)
    .map((f) => ({ f: path.join(cacheDir, f), at: fs.statSync(path.join(cacheDir, f)).mtimeMs }))
    .sort((a, b) => b.at - a.at)
    .slice(KEPT);
  for (const { f } of old) fs.rmSync(f, { force: true });
}

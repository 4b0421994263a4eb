/**
 * Bundles the operator CLI (client/cli.ts) into one CommonJS file, dist/migrate.cjs, that bin/migrate runs with plain
 * node (`node scripts/build-cli.mjs`; npm runs it at `npm ci` through `prepare`). Plain JavaScript, so bin/migrate
 * can rebuild a stale bundle without tsx.
 *
 * Our code and the light libraries it needs at start (commander, zod without its locales, @noble) are bundled. The
 * Temporal SDK and the drivers stay in node_modules: @temporalio/common and @temporalio/workflow are required at start
 * (the workflow-safe definitions call them at module level), the rest only when a command first touches them, through
 * a stand-in (`lazyModule` below), so `migrate --help` does not pay for gRPC, protobuf, the worker, the engine or the
 * chart code.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
/** The bundle bin/migrate runs. */
export const BUNDLE = path.join(dist, 'migrate.cjs');
/** The files the bundle was built from, one per line, relative to the root: bin/migrate rebuilds when one is newer. */
export const INPUTS = path.join(dist, 'migrate.inputs');
/** What each lazy module exports (names only), by package version: introspecting the SDK takes seconds. */
const EXPORTS_CACHE = path.join(dist, 'lazy-exports.json');

/** Required from node_modules when first used: each costs 10 ms to over a second to load (measured one by one). */
const LAZY = [
  // ed25519's curve is precomputed when its module loads; only signing and verifying need it.
  '@noble/curves',
  '@noble/hashes',
  '@temporalio/activity',
  '@temporalio/client',
  '@temporalio/envconfig',
  '@temporalio/proto',
  '@temporalio/testing',
  '@temporalio/worker',
  'dockerode',
  'echarts',
  'nodemailer',
  'pg',
  'webpack',
  'yaml',
];
/**
 * Required from node_modules at start: used at module level, and shared with the lazy SDK packages, so errors and
 * definitions are one copy's (`instanceof`).
 */
const EXTERNAL = ['@temporalio/common', '@temporalio/workflow'];

const packageOf = (request) =>
  request
    .split('/')
    .slice(0, request.startsWith('@') ? 2 : 1)
    .join('/');
/** Node's own modules that `migrate --help` need not load (commander requires child_process, which loads net). */
const LAZY_BUILTINS = [
  'child_process',
  'crypto',
  'dns',
  'fs/promises',
  'http',
  'https',
  'net',
  'os',
  'readline',
  'tls',
];
const builtinName = (request) => request.replace(/^node:/, '');
const isBuiltin = (request) => LAZY_BUILTINS.includes(builtinName(request));
const isLazy = (request) => LAZY.includes(packageOf(request)) || isBuiltin(request);
const requireHere = createRequire(path.join(root, 'package.json'));

/**
 * The stand-in for a lazy module, in the bundle's preamble: answers the bundler's interop (`__esModule`, the export
 * names) from what the build recorded, and requires the real module on the first real use (a property read, a call,
 * `new`). A function-shaped target, so a module that is a class (dockerode) can be called and constructed.
 */
const LAZY_RUNTIME = `
const lazyModule = (request, meta) => {
  let real;
  const load = () => (real ??= require(request));
  const names = new Map(meta.names);
  const target = meta.callable ? function () { 'use strict'; } : {};
  const proxy = new Proxy(target, {
    get: (t, key) => (key === '__esModule' && !real ? meta.esModule : load()[key]),
    set: (t, key, value) => Reflect.set(load(), key, value),
    has: (t, key) => names.has(key) || key in load(),
    ownKeys: (t) => [...new Set([...Reflect.ownKeys(t), ...names.keys()])],
    getOwnPropertyDescriptor: (t, key) => {
      const own = Reflect.getOwnPropertyDescriptor(t, key);
      if (own && !own.configurable) return own;
      if (!names.has(key)) return real ? Reflect.getOwnPropertyDescriptor(real, key) : undefined;
      return { configurable: true, enumerable: names.get(key), get: () => load()[key] };
    },
    apply: (t, self, args) => Reflect.apply(load(), self, args),
    construct: (t, args, newTarget) => Reflect.construct(load(), args, newTarget === proxy ? load() : newTarget),
  });
  return proxy;
};`;

function packageVersion(request) {
  if (isBuiltin(request)) return process.version;
  try {
    return JSON.parse(fs.readFileSync(requireHere.resolve(`${packageOf(request)}/package.json`), 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

/** Export names of a module (by loading it once, here), cached by the package's version. */
function exportsOf(request, cache) {
  const version = packageVersion(request);
  const hit = cache[request];
  if (hit && hit.version === version) return hit;
  const m = requireHere(request);
  const entry = {
    version,
    callable: typeof m === 'function',
    esModule: !!m.__esModule,
    names: Object.getOwnPropertyNames(m).map((n) => [n, !!Object.getOwnPropertyDescriptor(m, n)?.enumerable]),
  };
  cache[request] = entry;
  return entry;
}

/**
 * Our files' `__dirname` and `__filename` stay where the source is (lib/config.ts finds the project root so): renamed
 * per file, since a bundle-level `var __dirname` would shadow the real one for every module after it.
 */
const sourcePaths = {
  name: 'source-paths',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, (args) => {
      if (args.path.includes(`${path.sep}node_modules${path.sep}`)) return undefined;
      const source = fs.readFileSync(args.path, 'utf8');
      if (!/\b__(dirname|filename)\b/.test(source)) return { contents: source, loader: 'ts' };
      const id = createHash('sha1').update(args.path).digest('hex').slice(0, 8);
      const rel = path.relative(dist, args.path);
      const contents =
        `const __filename_${id} = require('node:path').join(__bundleDir, ${JSON.stringify(rel)});\n` +
        `const __dirname_${id} = require('node:path').dirname(__filename_${id});\n` +
        source.replace(/\b__(dirname|filename)\b/g, `__$1_${id}`);
      return { contents, loader: 'ts' };
    });
  },
};

/**
 * zod's 64 locale modules (its `locales` namespace), 40 % of the bundle, replaced by the stub the workflow bundle uses
 * (lib/zod-locales-stub.mjs): nothing switches zod's locale, and its English messages are a module of their own.
 */
const zodLocales = {
  name: 'zod-locales',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]node_modules[\\/]zod[\\/]v4[\\/]/.test(args.resolveDir)
        ? { path: path.join(root, 'lib', 'zod-locales-stub.mjs') }
        : undefined,
    );
  },
};

/** Lazy modules become stand-ins; their real `require` (from the stand-in) stays external. */
function lazyModules(cache) {
  return {
    name: 'lazy-modules',
    setup(b) {
      b.onResolve({ filter: /^[@a-z]/ }, (args) => {
        if (args.namespace === 'lazy' || !isLazy(args.path)) return undefined;
        return { path: args.path, namespace: 'lazy' };
      });
      b.onLoad({ filter: /.*/, namespace: 'lazy' }, (args) => {
        const { callable, esModule, names } = exportsOf(args.path, cache);
        const meta = JSON.stringify({ callable, esModule, names });
        return { contents: `module.exports = lazyModule(${JSON.stringify(args.path)}, ${meta});`, loader: 'js' };
      });
    },
  };
}

function readCache() {
  try {
    return JSON.parse(fs.readFileSync(EXPORTS_CACHE, 'utf8'));
  } catch {
    return {};
  }
}

/** Writes `file` whole or not at all: another bin/migrate may read or build it at the same moment. */
function writeAtomically(file, contents, mtime) {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, contents);
  if (mtime) fs.utimesSync(tmp, mtime, mtime);
  fs.renameSync(tmp, file);
}

/** Builds dist/migrate.cjs, its source map and its list of inputs; returns the bundle's path and size. */
export async function buildCli() {
  // A source saved while the build runs must count as newer than the bundle: the bundle gets the start time.
  const started = new Date();
  const cache = readCache();
  const result = await build({
    absWorkingDir: root,
    entryPoints: [path.join(root, 'client', 'cli.ts')],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    write: false,
    outfile: BUNDLE,
    sourcemap: 'linked',
    sourcesContent: false,
    metafile: true,
    logLevel: 'warning',
    external: EXTERNAL,
    banner: { js: `const __bundleDir = __dirname;${LAZY_RUNTIME}` },
    plugins: [lazyModules(cache), zodLocales, sourcePaths],
  });
  fs.mkdirSync(dist, { recursive: true });
  writeAtomically(EXPORTS_CACHE, JSON.stringify(cache, null, 1));
  for (const out of result.outputFiles) writeAtomically(out.path, out.contents, out.path === BUNDLE ? started : null);
  const inputs = Object.keys(result.metafile.inputs)
    .filter((f) => !f.includes(':') && !f.startsWith('node_modules/'))
    // The bundled libraries change with an install, which rewrites npm's own lock file in node_modules.
    .concat(['package-lock.json', 'node_modules/.package-lock.json', 'scripts/build-cli.mjs'])
    .filter((f) => fs.existsSync(path.join(root, f)));
  writeAtomically(INPUTS, `${inputs.join('\n')}\n`);
  return { file: BUNDLE, bytes: result.outputFiles.find((o) => o.path === BUNDLE).contents.length };
}

/** Whether a file the bundle was built from is newer than it (or gone): bin/migrate's test, in JavaScript. */
export function isStale() {
  try {
    const built = fs.statSync(BUNDLE).mtimeMs;
    const inputs = fs.readFileSync(INPUTS, 'utf8').split('\n').filter(Boolean);
    return inputs.some((f) => fs.statSync(path.join(root, f)).mtimeMs > built);
  } catch {
    return true;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const t0 = Date.now();
  const quiet = process.argv.includes('--quiet');
  if (process.argv.includes('--if-stale') && !isStale()) {
    if (!quiet) process.stdout.write(`${path.relative(root, BUNDLE)} is up to date\n`);
  } else {
    buildCli().then(
      ({ file, bytes }) => {
        if (!quiet) process.stdout.write(`${path.relative(root, file)} ${bytes} bytes in ${Date.now() - t0} ms\n`);
      },
      (err) => {
        process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
      },
    );
  }
}

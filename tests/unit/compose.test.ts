import fs from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import YAML from 'yaml';

// Registry images cannot be pulled on this project's machines, so docker-compose.yml is never started here: these
// checks hold its structure (and worker/Dockerfile's) against the repository, the workflows and the production plan.

const root = path.join(__dirname, '..', '..');
const composeFile = path.join(root, 'docker-compose.yml');
const productionPlan = path.join(root, 'plans', 'production.example.yaml');

type EnvValue = string | number | boolean | null;
interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  environment?: Record<string, EnvValue> | string[];
  env_file?: string | (string | { path: string; required?: boolean })[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  volumes?: (string | { type?: string; source?: string; target: string })[];
  ports?: (string | number | { target: number; published?: string | number; host_ip?: string; protocol?: string })[];
  healthcheck?: { test?: string | string[]; disable?: boolean };
  command?: string | string[];
  entrypoint?: string | string[];
}
interface ComposeFile {
  services?: Record<string, Service>;
  volumes?: Record<string, unknown>;
  configs?: Record<string, { file?: string }>;
  secrets?: Record<string, { file?: string }>;
}

const readCompose = (): ComposeFile => YAML.parse(fs.readFileSync(composeFile, 'utf8')) as ComposeFile;
const exists = (p: string) => fs.existsSync(path.resolve(root, p));

/** `environment` as a map; list entries without `=` pass a variable through from the shell (value null). */
function envOf(s: Service): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  if (Array.isArray(s.environment)) {
    for (const e of s.environment) {
      const eq = e.indexOf('=');
      if (eq < 0) out[e] = null;
      else out[e.slice(0, eq)] = e.slice(eq + 1);
    }
  } else {
    for (const [k, v] of Object.entries(s.environment ?? {})) out[k] = v === null ? null : String(v);
  }
  return out;
}

function dependsOn(s: Service): Record<string, string> {
  if (Array.isArray(s.depends_on)) return Object.fromEntries(s.depends_on.map((d) => [d, 'service_started']));
  return Object.fromEntries(Object.entries(s.depends_on ?? {}).map(([d, o]) => [d, o?.condition ?? 'service_started']));
}

/** Splits a short-syntax volume on `:`, except inside `${…}` (defaults may hold colons). */
function splitColons(spec: string): string[] {
  const parts: string[] = [];
  let cur = '';
  let depth = 0;
  for (let i = 0; i < spec.length; i++) {
    const c = spec[i]!;
    if (c === '$' && spec[i + 1] === '{') depth++;
    else if (c === '}' && depth > 0) depth--;
    if (c === ':' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  return [...parts, cur];
}

function volumesOf(s: Service): { source?: string; target: string; kind: 'named' | 'bind' | 'anonymous' }[] {
  return (s.volumes ?? []).map((v) => {
    const [source, target] =
      typeof v === 'string'
        ? (() => {
            const p = splitColons(v);
            return p.length === 1 ? [undefined, p[0]!] : [p[0]!, p[1]!];
          })()
        : [v.source, v.target];
    const kind = !source ? 'anonymous' : /^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(source) ? 'named' : 'bind';
    return { ...(source ? { source } : {}), target, kind };
  });
}

function portsOf(s: Service): { hostIp: string; published?: string; target: string; protocol: string }[] {
  return (s.ports ?? []).map((p) => {
    if (typeof p === 'number') return { hostIp: '0.0.0.0', target: String(p), protocol: 'tcp' };
    if (typeof p === 'object')
      return {
        hostIp: p.host_ip ?? '0.0.0.0',
        ...(p.published !== undefined ? { published: String(p.published) } : {}),
        target: String(p.target),
        protocol: p.protocol ?? 'tcp',
      };
    const [spec, protocol = 'tcp'] = p.split('/');
    const parts = spec!.split(':');
    const target = parts.pop()!;
    const published = parts.pop();
    return { hostIp: parts.pop() ?? '0.0.0.0', ...(published ? { published } : {}), target, protocol };
  });
}

const textOf = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join(' ') : (v ?? ''));
const isPostgres = (s: Service) => /^postgres(:|$)/.test(s.image ?? '');
// The setup job runs the server image with its own entrypoint; the server is the one that keeps the image's.
const isTemporalServer = (s: Service) => /^temporalio\/(auto-setup|server):/.test(s.image ?? '') && !s.entrypoint;
const isTemporalUi = (s: Service) => /^temporalio\/ui:/.test(s.image ?? '');

const SECRET_KEY = /(PASSWORD|PASSWD|PWD|SECRET|TOKEN|API_?KEY|PRIVATE_KEY|CREDENTIALS?)$|(^|_)(DATABASE_URL|DSN)$/i;
const REQUIRED_SUBSTITUTION = /^\$\{([A-Za-z_][A-Za-z0-9_]*):?\?[^}]*\}$/;
const URL_WITH_PASSWORD = /:\/\/[^/\s:@]+:([^@\s]+)@/;
const substitutedVar = (v: string | null | undefined) => /^\$\{([A-Za-z_][A-Za-z0-9_]*)/.exec(v ?? '')?.[1];

/** Environment-variable names a plan refers to (`…Env` fields and `envFrom` values): the worker must carry them. */
function planEnvNames(node: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(node)) {
    for (const n of node) planEnvNames(n, out);
  } else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
      if (/Env$/.test(k) && typeof v === 'string') {
        out.add(v);
      } else if (k === 'envFrom' && v && typeof v === 'object') {
        for (const n of Object.values(v)) if (typeof n === 'string') out.add(n);
      } else {
        planEnvNames(v, out);
      }
    }
  }
  return out;
}

/** Search attributes the workflows set, with the type names the `temporal` CLI takes. */
function searchAttributes(): { name: string; type: string }[] {
  const src = fs.readFileSync(path.join(root, 'workflows', 'definitions.ts'), 'utf8');
  const cliType: Record<string, string> = {
    KEYWORD: 'Keyword',
    INT: 'Int',
    TEXT: 'Text',
    DOUBLE: 'Double',
    BOOL: 'Bool',
    DATETIME: 'Datetime',
    KEYWORD_LIST: 'KeywordList',
  };
  return [...src.matchAll(/defineSearchAttributeKey\('(\w+)', '(\w+)'\)/g)].map((m) => ({
    name: m[1]!,
    type: cliType[m[2]!] ?? m[2]!,
  }));
}

/** Everything wrong with a parsed compose file, as readable sentences (empty: nothing). */
function composeProblems(doc: ComposeFile): string[] {
  const problems: string[] = [];
  const services = doc.services ?? {};
  const names = Object.keys(services);
  const named = (pred: (s: Service) => boolean) => names.filter((n) => pred(services[n]!));

  for (const [name, s] of Object.entries(services)) {
    if (!s.image && !s.build) problems.push(`${name}: neither image nor build`);
    if (s.image && (!/:[^/:]+$/.test(s.image) || s.image.endsWith(':latest')))
      problems.push(`${name}: image ${s.image} is not pinned to a version`);
    for (const dep of Object.keys(dependsOn(s)))
      if (!services[dep]) problems.push(`${name}: depends_on ${dep}, which is no service`);
    for (const v of volumesOf(s)) {
      if (v.kind === 'named' && !(doc.volumes && v.source! in doc.volumes))
        problems.push(`${name}: volume ${v.source} is not declared under top-level volumes`);
      if (v.kind === 'bind' && v.source!.startsWith('.') && !exists(v.source!))
        problems.push(`${name}: mounted file ${v.source} does not exist`);
    }
    const envFiles = typeof s.env_file === 'string' ? [s.env_file] : (s.env_file ?? []);
    for (const f of envFiles)
      if (typeof f === 'string' ? !exists(f) : f.required !== false && !exists(f.path))
        problems.push(`${name}: env_file ${typeof f === 'string' ? f : f.path} does not exist`);
    for (const [key, value] of Object.entries(envOf(s))) {
      if (SECRET_KEY.test(key) && value !== null && !REQUIRED_SUBSTITUTION.test(value))
        problems.push(
          // A literal is not echoed: it may be a real secret.
          `${name}: ${key} must come from the environment as \${VAR:?message} (or pass through), not ${value.startsWith('${') ? value : 'a literal'}`,
        );
      const pw = value && URL_WITH_PASSWORD.exec(value)?.[1];
      if (pw && !pw.startsWith('${')) problems.push(`${name}: ${key} holds a URL with a literal password`);
    }
  }
  for (const [kind, entries] of [
    ['configs', doc.configs],
    ['secrets', doc.secrets],
  ] as const)
    for (const [n, c] of Object.entries(entries ?? {}))
      if (c.file && !exists(c.file)) problems.push(`${kind}.${n}: file ${c.file} does not exist`);

  const published = new Map<string, string>();
  for (const [name, s] of Object.entries(services))
    for (const p of portsOf(s)) {
      if (!p.published) continue;
      const key = `${p.published}/${p.protocol}`;
      const other = published.get(key);
      if (other) problems.push(`host port ${key} is published by both ${other} and ${name}`);
      published.set(key, name);
    }

  // PostgreSQL for Temporal's persistence.
  const dbs = named(isPostgres);
  if (dbs.length !== 1) return [...problems, `expected one PostgreSQL service, found ${dbs.length}`];
  const dbName = dbs[0]!;
  const db = services[dbName]!;
  const dbEnv = envOf(db);
  const pgdata = dbEnv.PGDATA ?? '/var/lib/postgresql/data';
  const dataVolume = volumesOf(db).find((v) => v.target === pgdata || v.target === path.posix.dirname(pgdata));
  if (!dataVolume || dataVolume.kind !== 'named')
    problems.push(`${dbName}: its data directory ${pgdata} is not on a named volume`);
  if (!db.healthcheck || db.healthcheck.disable || !textOf(db.healthcheck.test).includes('pg_isready'))
    problems.push(`${dbName}: no pg_isready healthcheck`);

  // The Temporal server, persisted in that PostgreSQL.
  const servers = named(isTemporalServer);
  if (servers.length !== 1) return [...problems, `expected one Temporal server service, found ${servers.length}`];
  const serverName = servers[0]!;
  const server = services[serverName]!;
  const env = envOf(server);
  if (!['postgres12', 'postgres12_pgx'].includes(env.DB ?? ''))
    problems.push(`${serverName}: DB=${env.DB} is not PostgreSQL`);
  if (env.POSTGRES_SEEDS !== dbName)
    problems.push(`${serverName}: POSTGRES_SEEDS=${env.POSTGRES_SEEDS}, not ${dbName}`);
  if (env.DB_PORT !== (dbEnv.PGPORT ?? '5432'))
    problems.push(`${serverName}: DB_PORT=${env.DB_PORT}, not ${dbEnv.PGPORT ?? '5432'}`);
  if (env.POSTGRES_USER !== dbEnv.POSTGRES_USER)
    problems.push(`${serverName}: POSTGRES_USER=${env.POSTGRES_USER}, but ${dbName} creates ${dbEnv.POSTGRES_USER}`);
  if (!substitutedVar(env.POSTGRES_PWD) || substitutedVar(env.POSTGRES_PWD) !== substitutedVar(dbEnv.POSTGRES_PASSWORD))
    problems.push(`${serverName}: POSTGRES_PWD is not the variable ${dbName} takes its POSTGRES_PASSWORD from`);
  if (dependsOn(server)[dbName] !== 'service_healthy')
    problems.push(`${serverName}: does not wait for ${dbName} to be healthy`);
  if (!server.healthcheck || server.healthcheck.disable) problems.push(`${serverName}: no healthcheck`);
  const frontendPort = env.FRONTEND_GRPC_PORT ?? '7233';
  if (!portsOf(server).some((p) => p.target === frontendPort && p.published))
    problems.push(`${serverName}: frontend port ${frontendPort} is not published`);
  const frontend = `${serverName}:${frontendPort}`;
  const namespace = env.DEFAULT_NAMESPACE ?? 'default';

  // The Web UI.
  const uis = named(isTemporalUi);
  if (uis.length !== 1) problems.push(`expected one Temporal UI service, found ${uis.length}`);
  for (const ui of uis) {
    if (envOf(services[ui]!).TEMPORAL_ADDRESS !== frontend) problems.push(`${ui}: TEMPORAL_ADDRESS is not ${frontend}`);
    if (!(serverName in dependsOn(services[ui]!))) problems.push(`${ui}: does not depend on ${serverName}`);
  }

  // Search attributes the workflows upsert must be registered before a worker runs them.
  const attrs = searchAttributes();
  const registrars = names.filter((n) => {
    const script = `${textOf(services[n]!.entrypoint)} ${textOf(services[n]!.command)}`.replace(/\\\s*/g, ' ');
    return attrs.every((a) => new RegExp(`--name\\s+${a.name}\\s+--type\\s+${a.type}\\b`).test(script));
  });
  if (!attrs.length) problems.push('no search attributes found in workflows/definitions.ts');
  if (!registrars.length)
    problems.push(`no service registers the search attributes ${attrs.map((a) => `${a.name}:${a.type}`).join(', ')}`);
  for (const r of registrars)
    if (envOf(services[r]!).TEMPORAL_ADDRESS !== frontend) problems.push(`${r}: TEMPORAL_ADDRESS is not ${frontend}`);

  // Our worker, built from this repository.
  const workers = names.filter((n) => services[n]!.build);
  if (workers.length !== 1)
    return [...problems, `expected one service built from this repository, found ${workers.length}`];
  const workerName = workers[0]!;
  const worker = services[workerName]!;
  const build = typeof worker.build === 'string' ? { context: worker.build } : worker.build!;
  const context = build.context ?? '.';
  const dockerfile = path.join(context, build.dockerfile ?? 'Dockerfile');
  if (!fs.existsSync(path.resolve(root, context)) || !fs.statSync(path.resolve(root, context)).isDirectory())
    problems.push(`${workerName}: build context ${context} is not a directory`);
  if (!exists(dockerfile)) problems.push(`${workerName}: ${dockerfile} does not exist`);
  const deps = dependsOn(worker);
  if (deps[serverName] !== (server.healthcheck ? 'service_healthy' : 'service_started'))
    problems.push(`${workerName}: does not wait for ${serverName} to be healthy`);
  for (const r of registrars)
    if (deps[r] !== 'service_completed_successfully')
      problems.push(`${workerName}: does not wait for ${r} to complete successfully`);
  const workerEnv = envOf(worker);
  if (workerEnv.TEMPORAL_ADDRESS !== frontend)
    problems.push(`${workerName}: TEMPORAL_ADDRESS=${workerEnv.TEMPORAL_ADDRESS}, not ${frontend}`);
  if ((workerEnv.TEMPORAL_NAMESPACE ?? 'default') !== namespace)
    problems.push(`${workerName}: TEMPORAL_NAMESPACE is not the server's namespace ${namespace}`);
  if (!workerEnv.MO_TASK_QUEUE) problems.push(`${workerName}: MO_TASK_QUEUE is not set`);

  // What the production plan needs from the worker: the variables it names and its folders, persisted.
  const plan = YAML.parse(fs.readFileSync(productionPlan, 'utf8')) as {
    target: { backupDir: string; reportDir: string; repository: string };
  };
  for (const v of planEnvNames(plan))
    if (!(v in workerEnv))
      problems.push(`${workerName}: ${v}, named by the production plan, is not in its environment`);
  const mounts = volumesOf(worker);
  for (const dir of [plan.target.backupDir, plan.target.reportDir, plan.target.repository])
    if (!mounts.some((m) => m.kind !== 'anonymous' && (dir === m.target || dir.startsWith(`${m.target}/`))))
      problems.push(`${workerName}: ${dir} (production plan) is not on a volume or mount`);
  return problems;
}

interface Instruction {
  op: string;
  args: string;
}

/** Dockerfile instructions, comments dropped and continuation lines joined. */
function instructions(text: string): Instruction[] {
  const joined = text
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((l) => /^\s*([A-Za-z]+)\s+(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ op: m[1]!.toUpperCase(), args: m[2]!.trim() }));
}

/** Relative files and bare packages an entry point loads at run time (type-only imports are erased). */
function importClosure(entry: string): { files: string[]; packages: Set<string>; unresolved: string[] } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const unresolved: string[] = [];
  const resolve = (from: string, spec: string) =>
    [`${spec}.ts`, `${spec}.js`, path.join(spec, 'index.ts'), spec]
      .map((c) => path.join(path.dirname(from), c))
      .find((c) => fs.existsSync(path.join(root, c)) && fs.statSync(path.join(root, c)).isFile());
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const src = fs.readFileSync(path.join(root, file), 'utf8');
    const specs = [
      ...[...src.matchAll(/^\s*(?:import|export)\s+(type\s+)?[^'";]*?\bfrom\s+'([^']+)'/gm)]
        .filter((m) => !m[1])
        .map((m) => m[2]!),
      ...[...src.matchAll(/^\s*import\s+'([^']+)'/gm)].map((m) => m[1]!),
      ...[...src.matchAll(/\brequire(?:\.resolve)?\(\s*'([^']+)'\s*\)/g)].map((m) => m[1]!),
    ];
    for (const spec of specs) {
      if (spec.startsWith('.')) {
        const target = resolve(file, spec);
        if (target) visit(target);
        else unresolved.push(`${file}: ${spec}`);
      } else if (!spec.startsWith('node:') && !builtinModules.includes(spec)) {
        packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
      }
    }
  };
  visit(entry);
  return { files: [...files], packages, unresolved };
}

/** Programs each system package provides, for the tools the activities run. */
const TOOL_PACKAGES: Record<string, RegExp> = {
  pg_dump: /^postgresql-client/,
  pg_restore: /^postgresql-client/,
  psql: /^postgresql-client/,
  git: /^git$/,
  crontab: /^cron$/,
};

/** Everything wrong with the worker's Dockerfile (empty: nothing). */
function dockerfileProblems(text: string): string[] {
  const problems: string[] = [];
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
    engines?: { node?: string };
    dependencies?: Record<string, string>;
  };
  const ins = instructions(text);
  const from = ins.find((i) => i.op === 'FROM');
  const nodeMajor = Number(/^node:(\d+)/.exec(from?.args ?? '')?.[1]);
  const needed = Number(/(\d+)/.exec(pkg.engines?.node ?? '0')?.[1]);
  if (!(nodeMajor >= needed)) problems.push(`FROM ${from?.args}: not a Node.js ${needed}+ image`);

  // The image's files: each COPY maps repository paths onto the work directory.
  let workdir = '/';
  const copies: { src: string; dest: string }[] = [];
  let npmCi: number | undefined;
  const runs: string[] = [];
  ins.forEach((i, n) => {
    if (i.op === 'WORKDIR') workdir = path.posix.resolve(workdir, i.args);
    if (i.op === 'COPY') {
      const words = i.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      const dest = words.pop()!;
      for (const src of words) {
        if (!exists(src)) problems.push(`COPY ${src}: no such file in the repository`);
        const base = path.posix.resolve(workdir, dest);
        copies.push({ src, dest: dest.endsWith('/') || words.length > 1 ? path.posix.join(base, src) : base });
      }
    }
    if (i.op === 'RUN') {
      runs.push(i.args);
      if (npmCi === undefined && /\bnpm ci\b/.test(i.args)) npmCi = n;
    }
  });
  const inImage = (file: string) =>
    copies.some(
      (c) =>
        (c.src === '.' || file === c.src || file.startsWith(`${c.src}/`)) &&
        path.posix.join(c.dest, path.posix.relative(c.src, file)) === path.posix.join(workdir, file),
    );
  if (npmCi === undefined) problems.push('no RUN npm ci (a reproducible install from package-lock.json)');
  else {
    // The package files must be in place before npm ci runs.
    const before = ins.slice(0, npmCi).filter((i) => i.op === 'COPY');
    for (const f of ['package.json', 'package-lock.json'])
      if (!before.some((i) => i.args.split(/\s+/).includes(f) || i.args.split(/\s+/)[0] === '.'))
        problems.push(`${f} is not copied before npm ci`);
  }
  const omitDev = runs.some((r) => /\bnpm ci\b.*--omit=dev|--only=prod/.test(r));

  // CMD: the worker entry point, in the image, with what it loads.
  const cmdLine = ins.filter((i) => i.op === 'CMD').pop();
  let cmd: string[] = [];
  try {
    cmd = JSON.parse(cmdLine?.args ?? '') as string[];
  } catch {
    problems.push(`CMD ${cmdLine?.args}: not in exec form (the stop signal would go to a shell)`);
  }
  const entry = cmd.find((a) => /\.(ts|js|mjs|cjs)$/.test(a));
  if (!entry || !exists(entry)) problems.push(`CMD ${JSON.stringify(cmd)}: its entry point does not exist`);
  else {
    const closure = importClosure(entry);
    problems.push(...closure.unresolved.map((u) => `${u}: import does not resolve`));
    for (const f of closure.files)
      if (!inImage(f)) problems.push(`${f} (loaded by ${entry}) is not copied into the image`);
    const loaders = cmd.flatMap((a, n) =>
      ['--import', '--loader', '--require', '-r'].includes(a) ? [cmd[n + 1]!] : [],
    );
    if (/node_modules\/\.bin\/(.+)$/.test(cmd[0] ?? '')) loaders.push(/node_modules\/\.bin\/(.+)$/.exec(cmd[0]!)![1]!);
    if (omitDev)
      for (const p of [...closure.packages, ...loaders])
        if (!pkg.dependencies?.[p]) problems.push(`${p} is needed at run time but npm ci --omit=dev leaves it out`);
  }

  // System tools the activities spawn.
  const aptPackages = runs.flatMap((r) =>
    [...r.matchAll(/apt-get install((?:\s+[^&;|]+)+)/g)].flatMap((m) =>
      m[1]!
        .trim()
        .split(/\s+/)
        .filter((w) => !w.startsWith('-'))
        .map((w) => w.replace(/^["']|["']$/g, '')),
    ),
  );
  const activities = fs.readdirSync(path.join(root, 'activities')).filter((f) => f.endsWith('.ts'));
  const tools = new Set(
    activities.flatMap((f) =>
      [
        ...fs
          .readFileSync(path.join(root, 'activities', f), 'utf8')
          .matchAll(/(?:runCommand|runBounded)\(\s*'([\w-]+)'/g),
      ].map((m) => m[1]!),
    ),
  );
  for (const tool of tools) {
    const provider = TOOL_PACKAGES[tool];
    if (!provider)
      problems.push(`activities run ${tool}: add the package that provides it to this test's TOOL_PACKAGES`);
    else if (!aptPackages.some((p) => provider.test(p)))
      problems.push(`activities run ${tool}, which the image does not install`);
  }
  return problems;
}

const workerDockerfile = (doc: ComposeFile): string => {
  const build = Object.values(doc.services ?? {}).find((s) => s.build)?.build;
  const b = typeof build === 'string' ? { context: build } : (build ?? {});
  return path.join(root, b.context ?? '.', b.dockerfile ?? 'Dockerfile');
};

describe('docker-compose.yml (validated structurally: its images cannot be pulled here)', () => {
  it('has Temporal on PostgreSQL, the UI, the search-attribute setup and the worker, wired together', () => {
    expect(composeProblems(readCompose())).toEqual([]);
  });

  it('documents every variable it substitutes in its header', () => {
    const text = fs.readFileSync(composeFile, 'utf8');
    const lines = text.split('\n');
    const header = lines
      .slice(
        0,
        lines.findIndex((l) => !l.startsWith('#')),
      )
      .join('\n');
    const used = new Set([...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!));
    const passedThrough = Object.entries(envOf(Object.values(readCompose().services ?? {}).find((s) => s.build)!))
      .filter(([, v]) => v === null)
      .map(([k]) => k);
    expect([...used, ...passedThrough].filter((v) => !new RegExp(`^#\\s+${v}\\s`, 'm').test(header))).toEqual([]);
  });

  it('builds the worker from a Dockerfile that installs with npm ci and runs the real worker entry point', () => {
    const dockerfile = workerDockerfile(readCompose());
    expect(dockerfileProblems(fs.readFileSync(dockerfile, 'utf8'))).toEqual([]);
  });

  // The checks above must catch a broken file: each case breaks a copy and names what should be reported.
  const cases: [string, (d: ComposeFile) => void, RegExp][] = [
    ['Temporal on SQLite', (d) => void (svcEnv(d, 'temporal').DB = 'sqlite'), /DB=sqlite is not PostgreSQL/],
    [
      'seeds pointing nowhere',
      (d) => void (svcEnv(d, 'temporal').POSTGRES_SEEDS = 'postgres'),
      /POSTGRES_SEEDS=postgres/,
    ],
    [
      'database without healthcheck',
      (d) => delete d.services!['temporal-db']!.healthcheck,
      /no pg_isready healthcheck/,
    ],
    ['database without volume', (d) => delete d.services!['temporal-db']!.volumes, /not on a named volume/],
    [
      'UI at the wrong port',
      (d) => void (svcEnv(d, 'temporal-ui').TEMPORAL_ADDRESS = 'temporal:7234'),
      /temporal-ui: TEMPORAL_ADDRESS/,
    ],
    [
      'worker at localhost',
      (d) => void (svcEnv(d, 'worker').TEMPORAL_ADDRESS = 'localhost:7233'),
      /worker: TEMPORAL_ADDRESS=localhost/,
    ],
    [
      'missing Dockerfile',
      (d) => void ((d.services!.worker!.build as { dockerfile: string }).dockerfile = 'worker/Nope'),
      /does not exist/,
    ],
    ['worker not waiting for the server', (d) => delete d.services!.worker!.depends_on, /does not wait for temporal /],
    [
      'literal password',
      (d) => void (svcEnv(d, 'temporal-db').POSTGRES_PASSWORD = 'hunter2'),
      /POSTGRES_PASSWORD must come from the environment/,
    ],
    [
      'password default',
      (d) => void (svcEnv(d, 'temporal').POSTGRES_PWD = '${TEMPORAL_DB_PASSWORD:-temporal}'),
      /POSTGRES_PWD must come from the environment/,
    ],
    [
      'URL with a password',
      (d) => void (svcEnv(d, 'worker').MIGRATION_SMTP_URL = 'smtp://mo:s3cret@mail:587'),
      /literal password/,
    ],
    [
      'unknown dependency',
      (d) => void (d.services!['temporal-ui']!.depends_on = ['temporal-server']),
      /depends_on temporal-server, which is no service/,
    ],
    [
      'port collision',
      (d) => void (d.services!['temporal-ui']!.ports = ['7233:8080']),
      /host port 7233\/tcp is published by both/,
    ],
    ['undeclared volume', (d) => delete d.volumes!.backups, /volume backups is not declared/],
    [
      'missing mounted file',
      (d) => void d.services!.worker!.volumes!.push('./config/worker.yaml:/app/config.yaml:ro'),
      /mounted file \.\/config\/worker\.yaml/,
    ],
    [
      'no search-attribute setup',
      (d) => delete d.services!['temporal-setup'],
      /no service registers the search attributes/,
    ],
    [
      'backups off the volume',
      (d) =>
        void (d.services!.worker!.volumes = d.services!.worker!.volumes!.filter(
          (v) => typeof v !== 'string' || !v.startsWith('backups:'),
        )),
      /\/var\/backups\/migrations \(production plan\)/,
    ],
    [
      'plan variable missing',
      (d) => delete (d.services!.worker!.environment as Record<string, EnvValue>).MIGRATION_SMTP_URL,
      /MIGRATION_SMTP_URL, named by the production plan/,
    ],
  ];
  it.each(cases)('reports a compose file with %s', (_, breakIt, expected) => {
    const doc = structuredClone(readCompose());
    breakIt(doc);
    expect(composeProblems(doc)).toContainEqual(expect.stringMatching(expected));
  });

  const dockerCases: [string, [RegExp, string], RegExp][] = [
    ['a missing entry point', [/worker\/main\.ts/, 'worker/start.ts'], /entry point does not exist/],
    ['lib/ not copied', [/^COPY lib lib\n/m, ''], /lib\/config\.ts \(loaded by worker\/main\.ts\) is not copied/],
    ['npm install', [/npm ci/, 'npm install'], /no RUN npm ci/],
    [
      'no lock file',
      [/COPY package\.json package-lock\.json/, 'COPY package.json'],
      /package-lock\.json is not copied/,
    ],
    ['no PostgreSQL client', [/"postgresql-client-\$\{PG_CLIENT_MAJOR\}"/, 'less'], /activities run pg_dump/],
    ['a shell-form CMD', [/^CMD .*$/m, 'CMD node --import tsx worker/main.ts'], /not in exec form/],
  ];
  it.each(dockerCases)('reports a worker Dockerfile with %s', (_, [from, to], expected) => {
    const text = fs.readFileSync(workerDockerfile(readCompose()), 'utf8');
    expect(from.test(text)).toBe(true);
    expect(dockerfileProblems(text.replace(from, to))).toContainEqual(expect.stringMatching(expected));
  });
});

/** The environment map of a service in a parsed copy, for the cases above to edit. */
function svcEnv(d: ComposeFile, name: string): Record<string, EnvValue> {
  return d.services![name]!.environment as Record<string, EnvValue>;
}

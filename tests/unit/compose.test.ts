import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import YAML from 'yaml';
import { loadPlan } from '../../client/plan';
import { planTotalDurationMs, retentionMarginMs } from '../../client/retention';
import { parseDuration } from '../../model/plan-schema';

// Registry images cannot be pulled on this project's machines, so docker-compose.yml is never started here: these
// checks hold its structure (and worker/Dockerfile's) against the repository, the workflows and the production plan,
// and a real Compose implementation, where one is installed, parses it.

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

/** Splits a short-syntax volume or port on `:`, except inside `${…}` (defaults may hold colons) and `[…]` (IPv6). */
function splitColons(spec: string): string[] {
  const parts: string[] = [];
  let cur = '';
  let depth = 0;
  for (let i = 0; i < spec.length; i++) {
    const c = spec[i]!;
    if ((c === '$' && spec[i + 1] === '{') || c === '[') depth++;
    else if ((c === '}' || c === ']') && depth > 0) depth--;
    if (c === ':' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  return [...parts, cur];
}

/** A value as Compose reads it with no variable set: `${VAR:-default}` is its default, `${VAR}` is empty. */
const withDefaults = (v: string) =>
  v.replace(/\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-([^}]*)|:?\?[^}]*)?\}/g, (_m, def: string | undefined) => def ?? '');

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

/** Published ports; `hostIp` is the address on the host with no variable set ('' and 0.0.0.0: every interface). */
function portsOf(s: Service): { hostIp: string; published?: string; target: string; protocol: string }[] {
  return (s.ports ?? []).map((p) => {
    if (typeof p === 'number') return { hostIp: '', target: String(p), protocol: 'tcp' };
    if (typeof p === 'object')
      return {
        hostIp: withDefaults(p.host_ip ?? ''),
        ...(p.published !== undefined ? { published: String(p.published) } : {}),
        target: String(p.target),
        protocol: p.protocol ?? 'tcp',
      };
    const [spec, protocol = 'tcp'] = p.split('/');
    const parts = splitColons(spec!);
    const target = parts.pop()!;
    const published = parts.pop();
    return { hostIp: withDefaults(parts.pop() ?? ''), ...(published ? { published } : {}), target, protocol };
  });
}
const ALL_INTERFACES = new Set(['', '0.0.0.0', '::', '[::]']);

const textOf = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join(' ') : (v ?? ''));
/** The shell a one-shot job runs, as its shell sees it: `$$` is Compose's escape for `$`. */
const scriptOf = (s: Service) =>
  `${textOf(s.entrypoint)} ${textOf(s.command)}`.replace(/\\\n\s*/g, ' ').replace(/\$\$/g, '$');
/** The script with its simple assignments (`name=value`) expanded in the lines after them. */
function expandAssignments(script: string): string {
  const vars: Record<string, string> = {};
  return script
    .split('\n')
    .map((line) => {
      const expanded = line.replace(/\$\{?([A-Za-z_]\w*)\}?/g, (m, n: string) => vars[n] ?? m);
      const assignment = /^\s*([A-Za-z_]\w*)=(['"]?)([^'"\s]*)\2\s*$/.exec(expanded);
      if (assignment) vars[assignment[1]!] = assignment[3]!;
      return expanded;
    })
    .join('\n');
}

const imageName = (s: Service) => (s.image ?? '').replace(/:[^/:]+$/, '');
const imageTag = (s: Service) => /:([^/:]+)$/.exec(s.image ?? '')?.[1];
const isPostgres = (s: Service) => imageName(s) === 'postgres';
// A job may run a Temporal image with its own entrypoint; the server is the one that keeps the image's.
const isTemporalServer = (s: Service) => imageName(s) === 'temporalio/server' && !s.entrypoint;
const isTemporalUi = (s: Service) => imageName(s) === 'temporalio/ui';
/** An exact release: at least major.minor (`postgres:16` or `:latest` would move under the file). */
const EXACT_TAG = /^v?\d+\.\d+(\.\d+)?([-_.][A-Za-z0-9.]+)?$/;
/** Where temporalio/admin-tools keeps the PostgreSQL schemas of its release. */
const SCHEMA_ROOT = '/etc/temporal/schema/postgresql/v12';
/** What the stock CLI and @temporalio/envconfig read to reach a Temporal with TLS or an API key. */
const CONNECTION_VARIABLES = [
  'TEMPORAL_ADDRESS',
  'TEMPORAL_NAMESPACE',
  'TEMPORAL_API_KEY',
  'TEMPORAL_TLS',
  'TEMPORAL_TLS_CLIENT_CERT_PATH',
  'TEMPORAL_TLS_CLIENT_KEY_PATH',
  'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
  'TEMPORAL_TLS_SERVER_NAME',
  'TEMPORAL_PROFILE',
];
const MIN_RETENTION_MS = parseDuration('30d')!;

const SECRET_KEY = /(PASSWORD|PASSWD|PWD|SECRET|TOKEN|API_?KEY|PRIVATE_KEY|CREDENTIALS?)$|(^|_)(DATABASE_URL|DSN)$/i;
/** Switches named like secrets: the UI's "send credentials to the codec server" is true or false, nothing more. */
const NOT_SECRET = /_INCLUDE_CREDENTIALS$/;
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

interface ProductionPlan {
  target: { backupDir: string; reportDir: string; repository: string };
}
const readPlan = () => YAML.parse(fs.readFileSync(productionPlan, 'utf8')) as ProductionPlan;

/**
 * The retention the namespace needs: 30 days at least, and what `migrate start` requires for the production plan
 * (the longest the runbook can take, plus the margin after its end).
 */
function requiredRetentionMs(): number {
  const total = planTotalDurationMs(loadPlan(productionPlan));
  return Math.max(MIN_RETENTION_MS, total + retentionMarginMs(total));
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
  const problems = fileProblems(doc);
  const services = doc.services ?? {};
  const named = (pred: (s: Service) => boolean) => Object.keys(services).filter((n) => pred(services[n]!));

  const dbs = named(isPostgres);
  if (dbs.length !== 1) return [...problems, `expected one PostgreSQL service, found ${dbs.length}`];
  const servers = named(isTemporalServer);
  if (servers.length !== 1) return [...problems, `expected one Temporal server service, found ${servers.length}`];
  // The worker runs its image's CMD; other services built from this repository (the codec server) run a command.
  const workers = named((s) => !!s.build && !s.command);
  if (workers.length !== 1)
    return [...problems, `expected one service built from this repository, found ${workers.length}`];
  const stack: Stack = { services, db: dbs[0]!, server: servers[0]!, worker: workers[0]!, registrars: [] };
  problems.push(...persistenceProblems(stack));
  problems.push(...setupProblems(stack));
  problems.push(...workerProblems(stack));
  problems.push(...tlsProblems(stack));
  problems.push(...codecProblems(stack));
  return problems;
}

/** Where a service mounts the keys folder read-only, if it does. */
const keysMount = (s: Service) => readOnlyMount(s, 'MO_KEYS_DIR');

/**
 * Sealed payloads: the worker and a codec server read one key file from the same mounted folder; the codec server is
 * the worker's image running `migrate codec-server` with a token file; the UI points its browser at the port the codec
 * server publishes, with credentials (the session cookie).
 */
function codecProblems(st: Stack): string[] {
  const problems: string[] = [];
  const worker = st.services[st.worker]!;
  const codecs = Object.entries(st.services).filter(([, s]) =>
    JSON.stringify(s.command ?? '').includes('codec-server'),
  );
  if (codecs.length !== 1) return [`expected one codec server service, found ${codecs.length}`];
  const [name, codec] = codecs[0]!;
  if (JSON.stringify(codec.build) !== JSON.stringify(worker.build))
    problems.push(`${name}: not built as ${st.worker} is (the codec server is the worker's image)`);
  const keysFile = (n: string, s: Service) => {
    const file = envOf(s).MO_CODEC_KEYS_FILE;
    const dir = keysMount(s);
    if (!file || !dir || path.posix.dirname(file) !== dir)
      problems.push(`${n}: MO_CODEC_KEYS_FILE ${file ?? '(unset)'} is not in its read-only keys folder`);
    return file;
  };
  if (keysFile(st.worker, worker) !== keysFile(name, codec)) problems.push(`${name}: reads other keys than the worker`);
  const token = envOf(codec).MO_CODEC_SERVER_TOKEN_FILE;
  if (!token || path.posix.dirname(token) !== keysMount(codec))
    problems.push(`${name}: no token file in its keys folder (MO_CODEC_SERVER_TOKEN_FILE)`);
  const ui = Object.entries(st.services).find(([, s]) => imageName(s) === 'temporalio/ui');
  const endpoint = ui ? envOf(ui[1]).TEMPORAL_CODEC_ENDPOINT : undefined;
  const published = portsOf(codec).map((p) => p.published);
  if (!endpoint || !published.includes(new URL(endpoint).port))
    problems.push(
      `${ui?.[0] ?? 'UI'}: TEMPORAL_CODEC_ENDPOINT ${endpoint ?? '(unset)'} is not the port ${name} publishes`,
    );
  else if (envOf(ui![1]).TEMPORAL_CODEC_INCLUDE_CREDENTIALS !== 'true')
    problems.push(`${ui![0]}: the codec endpoint is called without credentials (the token's session cookie)`);
  return problems;
}

/** The files scripts/make-certs writes by default: the CA, the server's, and one per default client. */
function madeCertificates(): Set<string> {
  const script = fs.readFileSync(path.join(root, 'scripts', 'make-certs'), 'utf8');
  const clients = /clients=\(([^)]+)\)/.exec(script)?.[1]?.split(/\s+/).filter(Boolean) ?? [];
  return new Set(['ca.crt', ...['server', ...clients].flatMap((c) => [`${c}.crt`, `${c}.key`])]);
}

/** Where a service mounts the host folder named by `variable` (`${VARIABLE:-…}:/target:ro`) read-only, if it does. */
function readOnlyMount(s: Service, variable: string): string | undefined {
  for (const v of s.volumes ?? []) {
    if (typeof v !== 'string') continue;
    const [source, target, mode] = splitColons(v);
    if ((source ?? '').includes(variable) && target && mode === 'ro') return target;
  }
  return undefined;
}

/** Where a service mounts the certificates folder (`…:/certs:ro`), if it does. */
const certsMount = (s: Service) => readOnlyMount(s, 'TEMPORAL_CERTS_DIR');

/**
 * mTLS: the frontend requires client certificates signed by the stack's CA, and every service that talks to it shows
 * one that scripts/make-certs makes, from the certificates folder mounted read-only.
 */
function tlsProblems(st: Stack): string[] {
  const problems: string[] = [];
  const made = madeCertificates();
  const fileIn = (name: string, s: Service, p: string | null | undefined, what: string) => {
    const dir = certsMount(s);
    const file = withDefaults(p ?? '');
    if (!file) problems.push(`${name}: no ${what}`);
    else if (!dir) problems.push(`${name}: ${what} ${file}, but the certificates folder is not mounted read-only`);
    else if (path.posix.dirname(file) !== dir || !made.has(path.posix.basename(file)))
      problems.push(`${name}: ${what} ${file} is not a file scripts/make-certs makes in ${dir}`);
  };
  const server = st.services[st.server]!;
  const env = envOf(server);
  if (env.TEMPORAL_TLS_REQUIRE_CLIENT_AUTH !== 'true')
    problems.push(`${st.server}: the frontend does not require client certificates (TEMPORAL_TLS_REQUIRE_CLIENT_AUTH)`);
  fileIn(st.server, server, env.TEMPORAL_TLS_CLIENT1_CA_CERT, 'CA for client certificates');
  fileIn(st.server, server, env.TEMPORAL_TLS_FRONTEND_CERT, 'frontend certificate');
  fileIn(st.server, server, env.TEMPORAL_TLS_FRONTEND_KEY, 'frontend key');
  fileIn(st.server, server, env.TEMPORAL_TLS_SERVER_CERT, 'internode certificate');
  for (const [name, s] of Object.entries(st.services)) {
    if (name === st.server || !/temporal:7233/.test(envOf(s).TEMPORAL_ADDRESS ?? '')) continue;
    const e = envOf(s);
    // The UI server reads its own variable names; the CLI, admin-tools and the worker read envconfig's.
    const ui = imageName(s) === 'temporalio/ui';
    fileIn(name, s, ui ? e.TEMPORAL_TLS_CERT : e.TEMPORAL_TLS_CLIENT_CERT_PATH, 'client certificate');
    fileIn(name, s, ui ? e.TEMPORAL_TLS_KEY : e.TEMPORAL_TLS_CLIENT_KEY_PATH, 'client key');
    fileIn(name, s, ui ? e.TEMPORAL_TLS_CA : e.TEMPORAL_TLS_SERVER_CA_CERT_PATH, 'server CA');
  }
  return problems;
}

/** The services the checks below are about, by name. */
interface Stack {
  services: Record<string, Service>;
  db: string;
  server: string;
  worker: string;
  /** The services that register the workflows' search attributes (filled by setupProblems). */
  registrars: string[];
}
const frontendOf = (st: Stack) => `${st.server}:${envOf(st.services[st.server]!).FRONTEND_GRPC_PORT ?? '7233'}`;

/** What any service can get wrong: images, references, secrets, published ports. */
function fileProblems(doc: ComposeFile): string[] {
  const problems: string[] = [];
  const services = doc.services ?? {};
  for (const [name, s] of Object.entries(services)) {
    if (!s.image && !s.build) problems.push(`${name}: neither image nor build`);
    if (s.image && !EXACT_TAG.test(imageTag(s) ?? ''))
      problems.push(`${name}: image ${s.image} is not pinned to an exact version`);
    if (imageName(s) === 'temporalio/auto-setup')
      problems.push(`${name}: temporalio/auto-setup is deprecated (temporalio/server with admin-tools jobs instead)`);
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
      if (SECRET_KEY.test(key) && !NOT_SECRET.test(key) && value !== null && !REQUIRED_SUBSTITUTION.test(value))
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
      // Neither the frontend nor the UI authenticates: the host's other interfaces must not reach them by default.
      if (ALL_INTERFACES.has(p.hostIp))
        problems.push(`${name}: port ${p.published} binds every interface (${p.hostIp || 'no host address'})`);
      const key = `${p.published}/${p.protocol}`;
      const other = published.get(key);
      if (other) problems.push(`host port ${key} is published by both ${other} and ${name}`);
      published.set(key, name);
    }
  return problems;
}

/** Temporal's PostgreSQL, the schema job that prepares it, and the server on top, started in that order. */
function persistenceProblems(st: Stack): string[] {
  const problems: string[] = [];
  const db = st.services[st.db]!;
  const dbEnv = envOf(db);
  const pgdata = dbEnv.PGDATA ?? '/var/lib/postgresql/data';
  const dataVolume = volumesOf(db).find((v) => v.target === pgdata || v.target === path.posix.dirname(pgdata));
  if (!dataVolume || dataVolume.kind !== 'named')
    problems.push(`${st.db}: its data directory ${pgdata} is not on a named volume`);
  if (!db.healthcheck || db.healthcheck.disable || !textOf(db.healthcheck.test).includes('pg_isready'))
    problems.push(`${st.db}: no pg_isready healthcheck`);

  const server = st.services[st.server]!;
  const env = envOf(server);
  if (!['postgres12', 'postgres12_pgx'].includes(env.DB ?? ''))
    problems.push(`${st.server}: DB=${env.DB} is not PostgreSQL`);
  if (env.POSTGRES_SEEDS !== st.db) problems.push(`${st.server}: POSTGRES_SEEDS=${env.POSTGRES_SEEDS}, not ${st.db}`);
  if (env.DB_PORT !== (dbEnv.PGPORT ?? '5432'))
    problems.push(`${st.server}: DB_PORT=${env.DB_PORT}, not ${dbEnv.PGPORT ?? '5432'}`);
  if (env.POSTGRES_USER !== dbEnv.POSTGRES_USER)
    problems.push(`${st.server}: POSTGRES_USER=${env.POSTGRES_USER}, but ${st.db} creates ${dbEnv.POSTGRES_USER}`);
  if (!substitutedVar(env.POSTGRES_PWD) || substitutedVar(env.POSTGRES_PWD) !== substitutedVar(dbEnv.POSTGRES_PASSWORD))
    problems.push(`${st.server}: POSTGRES_PWD is not the variable ${st.db} takes its POSTGRES_PASSWORD from`);
  // The image's configuration template binds to 127.0.0.1 unless told otherwise: no other container could reach it.
  if (!env.BIND_ON_IP || env.BIND_ON_IP.startsWith('127.'))
    problems.push(`${st.server}: BIND_ON_IP=${env.BIND_ON_IP}, so the other containers cannot reach the frontend`);
  if (dependsOn(server)[st.db] !== 'service_healthy')
    problems.push(`${st.server}: does not wait for ${st.db} to be healthy`);
  if (!server.healthcheck || server.healthcheck.disable) problems.push(`${st.server}: no healthcheck`);
  const frontendPort = env.FRONTEND_GRPC_PORT ?? '7233';
  if (!portsOf(server).some((p) => p.target === frontendPort && p.published))
    problems.push(`${st.server}: frontend port ${frontendPort} is not published`);

  const uis = Object.keys(st.services).filter((n) => isTemporalUi(st.services[n]!));
  if (uis.length !== 1) problems.push(`expected one Temporal UI service, found ${uis.length}`);
  for (const ui of uis) {
    if (envOf(st.services[ui]!).TEMPORAL_ADDRESS !== frontendOf(st))
      problems.push(`${ui}: TEMPORAL_ADDRESS is not ${frontendOf(st)}`);
    if (!(st.server in dependsOn(st.services[ui]!))) problems.push(`${ui}: does not depend on ${st.server}`);
  }
  return [...problems, ...schemaProblems(st)];
}

/** The one-shot job(s) that create and upgrade the persistence and visibility databases before the server starts. */
function schemaProblems(st: Stack): string[] {
  const problems: string[] = [];
  const server = st.services[st.server]!;
  const env = envOf(server);
  const dbEnv = envOf(st.services[st.db]!);
  const jobs = Object.keys(st.services).filter((n) => scriptOf(st.services[n]!).includes('temporal-sql-tool'));
  if (!jobs.length) return [`no service runs temporal-sql-tool to set up ${st.server}'s databases`];
  const databases = [
    { name: env.DBNAME ?? 'temporal', dir: `${SCHEMA_ROOT}/temporal/versioned` },
    { name: env.VISIBILITY_DBNAME ?? 'temporal_visibility', dir: `${SCHEMA_ROOT}/visibility/versioned` },
  ];
  for (const job of jobs) {
    const s = st.services[job]!;
    const jobEnv = envOf(s);
    const lines = expandAssignments(scriptOf(s))
      .split('\n')
      .filter((l) => l.includes('temporal-sql-tool'));
    const option = (l: string, variable: string, flags: string) =>
      new RegExp(`(?:^|\\s)(?:${flags})[\\s=]+"?([^"\\s]+)`).exec(l)?.[1] ?? jobEnv[variable] ?? undefined;
    for (const l of lines) {
      const expected: [string, string, string, string | undefined][] = [
        ['plugin', 'SQL_PLUGIN', '--plugin|--pl', env.DB ?? undefined],
        ['host', 'SQL_HOST', '--endpoint|--ep', st.db],
        ['port', 'SQL_PORT', '--port|-p', dbEnv.PGPORT ?? '5432'],
        ['user', 'SQL_USER', '--user|-u', dbEnv.POSTGRES_USER ?? undefined],
      ];
      for (const [what, variable, flags, want] of expected)
        if (option(l, variable, flags) !== want)
          problems.push(`${job}: temporal-sql-tool's ${what} is ${option(l, variable, flags)}, not ${want}`);
      const password = option(l, 'SQL_PASSWORD', '--password|--pw');
      if (!substitutedVar(password) || substitutedVar(password) !== substitutedVar(dbEnv.POSTGRES_PASSWORD))
        problems.push(`${job}: temporal-sql-tool's password is not the variable ${st.db} takes its password from`);
    }
    if (dependsOn(s)[st.db] !== 'service_healthy') problems.push(`${job}: does not wait for ${st.db} to be healthy`);
    if (dependsOn(server)[job] !== 'service_completed_successfully')
      problems.push(`${st.server}: does not wait for ${job} to complete successfully`);
    // The schema versions an admin-tools release applies are the ones the server of the same release expects.
    if (imageName(s) === 'temporalio/admin-tools' && imageTag(s) !== imageTag(server))
      problems.push(`${job}: admin-tools ${imageTag(s)} but server ${imageTag(server)}`);
  }
  const steps = jobs.flatMap((job) =>
    expandAssignments(scriptOf(st.services[job]!))
      .split('\n')
      .filter((l) => l.includes('temporal-sql-tool'))
      .map((l) => ({
        db: /(?:^|\s)(?:--database|--db)[\s=]+"?([^"\s]+)/.exec(l)?.[1] ?? envOf(st.services[job]!).SQL_DATABASE,
        line: l.replace(/"/g, ''),
      })),
  );
  for (const { name, dir } of databases) {
    const own = steps.filter((s) => s.db === name).map((s) => s.line);
    const at = (re: RegExp) => own.findIndex((l) => re.test(l));
    const create = at(/\s(create|create-database)(\s|$)/);
    const setup = at(/\s(setup-schema|setup)\s.*-v\s+0\.0(\s|$)/);
    const update = at(new RegExp(`\\s(update-schema|update)\\s.*-d\\s+${dir.replace(/\//g, '\\/')}(\\s|$)`));
    if (create < 0) problems.push(`no job creates the database ${name}`);
    if (setup < 0) problems.push(`no job runs setup-schema -v 0.0 on ${name}`);
    if (update < 0) problems.push(`no job runs update-schema -d ${dir} on ${name}`);
    if (create >= 0 && setup >= 0 && update >= 0 && !(create < setup && setup < update))
      problems.push(`${name}: create, setup-schema and update-schema run out of order`);
  }
  // Each temporal-sql-tool line is checked on its own: one wrong setting would be reported once per line.
  return [...new Set(problems)];
}

/** The one-shot job that creates the namespace with its retention and registers the workflows' search attributes. */
function setupProblems(st: Stack): string[] {
  const problems: string[] = [];
  const attrs = searchAttributes();
  if (!attrs.length) return ['no search attributes found in workflows/definitions.ts'];
  st.registrars = Object.keys(st.services).filter((n) =>
    attrs.every((a) =>
      new RegExp(`--name\\s+${a.name}\\s+--type\\s+${a.type}\\b`).test(scriptOf(st.services[n]!).replace(/\n/g, ' ')),
    ),
  );
  if (!st.registrars.length)
    return [`no service registers the search attributes ${attrs.map((a) => `${a.name}:${a.type}`).join(', ')}`];
  const required = requiredRetentionMs();
  const workerNamespace = envOf(st.services[st.worker]!).TEMPORAL_NAMESPACE ?? 'default';
  for (const r of st.registrars) {
    const s = st.services[r]!;
    const env = envOf(s);
    if (env.TEMPORAL_ADDRESS !== frontendOf(st)) problems.push(`${r}: TEMPORAL_ADDRESS is not ${frontendOf(st)}`);
    if (dependsOn(s)[st.server] !== 'service_healthy')
      problems.push(`${r}: does not wait for ${st.server} to be healthy`);
    const script = expandAssignments(scriptOf(s));
    if (!/search-attribute list/.test(script)) problems.push(`${r}: creates search attributes without listing them`);
    // A value as the job's shell sees it: `"$VAR"` is the job's environment, with Compose's defaults applied.
    const resolve = (raw: string) => {
      const v = raw.replace(/^"|"$/g, '');
      const ref = /^\$\{?([A-Za-z_]\w*)\}?$/.exec(v)?.[1];
      return ref ? withDefaults(env[ref] ?? '') : v;
    };
    const nsLines = script.split('\n').filter((l) => /operator namespace (create|update|describe)/.test(l));
    if (!nsLines.some((l) => /operator namespace create/.test(l))) problems.push(`${r}: does not create the namespace`);
    for (const l of nsLines) {
      // Measured with the CLI: `operator namespace …` ignores TEMPORAL_NAMESPACE and acts on `default`.
      const ns = /(?:--namespace|-n)[\s=]+(\S+)/.exec(l)?.[1];
      if (!ns) problems.push(`${r}: \`${l.trim()}\` has no --namespace, so it acts on the default namespace`);
      else if (resolve(ns) !== workerNamespace)
        problems.push(`${r}: namespace ${resolve(ns)} is not the worker's ${workerNamespace}`);
    }
    const retentions = nsLines.filter((l) => /namespace (create|update)/.test(l));
    for (const l of retentions) {
      const raw = /--retention[\s=]+(\S+)/.exec(l)?.[1];
      const value = raw && resolve(raw);
      const ms = value ? parseDuration(value) : undefined;
      if (!raw) problems.push(`${r}: \`${l.trim()}\` sets no explicit retention`);
      else if (ms === undefined) problems.push(`${r}: retention ${value} is not a duration`);
      else if (ms < required)
        problems.push(
          `${r}: retention ${value} is shorter than ${Math.ceil(required / 86_400_000)} days (30, or the plan's)`,
        );
    }
  }
  return problems;
}

/** Our worker, built from this repository, and what the production plan needs of it. */
function workerProblems(st: Stack): string[] {
  const problems: string[] = [];
  const name = st.worker;
  const worker = st.services[name]!;
  const build = typeof worker.build === 'string' ? { context: worker.build } : worker.build!;
  const context = build.context ?? '.';
  const dockerfile = path.join(context, build.dockerfile ?? 'Dockerfile');
  if (!fs.existsSync(path.resolve(root, context)) || !fs.statSync(path.resolve(root, context)).isDirectory())
    problems.push(`${name}: build context ${context} is not a directory`);
  if (!exists(dockerfile)) problems.push(`${name}: ${dockerfile} does not exist`);
  const deps = dependsOn(worker);
  const server = st.services[st.server]!;
  if (deps[st.server] !== (server.healthcheck ? 'service_healthy' : 'service_started'))
    problems.push(`${name}: does not wait for ${st.server} to be healthy`);
  for (const r of st.registrars)
    if (deps[r] !== 'service_completed_successfully')
      problems.push(`${name}: does not wait for ${r} to complete successfully`);
  const env = envOf(worker);
  if (env.TEMPORAL_ADDRESS !== frontendOf(st))
    problems.push(`${name}: TEMPORAL_ADDRESS=${env.TEMPORAL_ADDRESS}, not ${frontendOf(st)}`);
  for (const v of CONNECTION_VARIABLES)
    if (!(v in env)) problems.push(`${name}: ${v} is not in its environment (set or passed through)`);
  if (!env.MO_TASK_QUEUE) problems.push(`${name}: MO_TASK_QUEUE is not set`);

  const plan = readPlan();
  for (const v of planEnvNames(plan))
    if (!(v in env)) problems.push(`${name}: ${v}, named by the production plan, is not in its environment`);
  const mounts = volumesOf(worker);
  for (const dir of [plan.target.backupDir, plan.target.reportDir, plan.target.repository])
    if (!mounts.some((m) => m.kind !== 'anonymous' && (dir === m.target || dir.startsWith(`${m.target}/`))))
      problems.push(`${name}: ${dir} (production plan) is not on a volume or mount`);
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
/** The script that writes the prebuilt workflow bundle (`npm run build:bundle`). */
const BUNDLE_SCRIPT = 'scripts/build-bundle.ts';

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
  const needed = Math.max(22, Number(/(\d+)/.exec(pkg.engines?.node ?? '0')?.[1]));
  // Even majors become LTS; 20 reached its end of life in April 2026.
  if (!(nodeMajor >= needed && nodeMajor % 2 === 0))
    problems.push(`FROM ${from?.args}: not a maintained Node.js LTS image (${needed} or later)`);

  // The image's files: each COPY maps repository paths onto the work directory, from its instruction on.
  let workdir = '/';
  const copies: { src: string; dest: string; at: number }[] = [];
  const env: Record<string, string> = {};
  let npmCi: number | undefined;
  const runs: { args: string; at: number }[] = [];
  ins.forEach((i, n) => {
    if (i.op === 'WORKDIR') workdir = path.posix.resolve(workdir, i.args);
    if (i.op === 'COPY') {
      const words = i.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      const dest = words.pop()!;
      for (const src of words) {
        if (!exists(src)) problems.push(`COPY ${src}: no such file in the repository`);
        const base = path.posix.resolve(workdir, dest);
        copies.push({ src, dest: dest.endsWith('/') || words.length > 1 ? path.posix.join(base, src) : base, at: n });
      }
    }
    if (i.op === 'ENV') {
      const pairs = [...i.args.matchAll(/([A-Za-z_]\w*)=("[^"]*"|\S*)/g)];
      if (pairs.length) for (const m of pairs) env[m[1]!] = m[2]!.replace(/^"|"$/g, '');
      else if (/^([A-Za-z_]\w*)\s+(.*)$/.test(i.args)) env[i.args.split(/\s+/)[0]!] = i.args.replace(/^\S+\s+/, '');
    }
    if (i.op === 'RUN') {
      runs.push({ args: i.args, at: n });
      if (npmCi === undefined && /\bnpm ci\b/.test(i.args)) npmCi = n;
    }
  });
  const inImage = (file: string, before = Infinity) =>
    copies.some(
      (c) =>
        c.at < before &&
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
  const omitDev = runs.some((r) => /\bnpm ci\b.*--omit=dev|--only=prod/.test(r.args));
  /** Problems of a TypeScript entry point that node runs in the image with `loaders`. */
  const runnable = (entry: string, loaders: string[], before = Infinity) => {
    const closure = importClosure(entry);
    problems.push(...closure.unresolved.map((u) => `${u}: import does not resolve`));
    for (const f of closure.files)
      if (!inImage(f, before)) problems.push(`${f} (loaded by ${entry}) is not copied into the image`);
    if (omitDev)
      for (const p of [...closure.packages, ...loaders])
        if (!pkg.dependencies?.[p]) problems.push(`${p} is needed at run time but npm ci --omit=dev leaves it out`);
  };

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
    const loaders = cmd.flatMap((a, n) =>
      ['--import', '--loader', '--require', '-r'].includes(a) ? [cmd[n + 1]!] : [],
    );
    if (/node_modules\/\.bin\/(.+)$/.test(cmd[0] ?? '')) loaders.push(/node_modules\/\.bin\/(.+)$/.exec(cmd[0]!)![1]!);
    runnable(entry, loaders);
  }

  // The workflow bundle: built into the image after the install and the sources, and named to the worker.
  const bundle = env.MO_WORKFLOW_BUNDLE;
  const build = runs.find((r) => r.args.includes(BUNDLE_SCRIPT) || r.args.includes('build:bundle'));
  const out = build && /(?:scripts\/build-bundle\.ts|build:bundle\s+--)\s+(\S+)/.exec(build.args)?.[1];
  if (!bundle) problems.push('no ENV MO_WORKFLOW_BUNDLE: every worker start would bundle the workflows itself');
  else if (!build) problems.push(`MO_WORKFLOW_BUNDLE=${bundle} is not built by a RUN of ${BUNDLE_SCRIPT}`);
  else if (!out || path.posix.resolve(workdir, out) !== path.posix.resolve(workdir, bundle))
    problems.push(`${BUNDLE_SCRIPT} writes ${out}, not MO_WORKFLOW_BUNDLE=${bundle}`);
  if (build) {
    if (npmCi === undefined || build.at < npmCi) problems.push(`${BUNDLE_SCRIPT} runs before npm ci`);
    if (!inImage('workflows/index.ts', build.at)) problems.push(`${BUNDLE_SCRIPT} runs before workflows/ is copied`);
    runnable(BUNDLE_SCRIPT, /--import\s+(\S+)/.exec(build.args)?.slice(1) ?? [], build.at);
  }

  // System tools the activities spawn.
  const aptPackages = runs.flatMap((r) =>
    [...r.args.matchAll(/apt-get install((?:\s+[^&;|]+)+)/g)].flatMap((m) =>
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
  const build = Object.values(doc.services ?? {}).find((s) => s.build && !s.command)?.build;
  const b = typeof build === 'string' ? { context: build } : (build ?? {});
  return path.join(root, b.context ?? '.', b.dockerfile ?? 'Dockerfile');
};

/**
 * The Compose implementations on this machine, each once: `docker-compose` on PATH (Debian's package is 1.x),
 * the `docker compose` plugin, and the binary `MO_COMPOSE_V2` names (a v2 build run directly, not as a plugin).
 */
function composeImplementations(): { label: string; argv: string[] }[] {
  const candidates = [
    ['docker-compose'],
    ['docker', 'compose'],
    ...(process.env.MO_COMPOSE_V2 ? [[process.env.MO_COMPOSE_V2]] : []),
  ];
  const found = new Map<string, string[]>();
  for (const argv of candidates) {
    const r = spawnSync(argv[0]!, [...argv.slice(1), 'version', '--short'], { encoding: 'utf8', timeout: 30_000 });
    const version = r.status === 0 ? r.stdout.trim().replace(/^v/, '') : '';
    if (version && ![...found.keys()].some((k) => k.endsWith(` ${version}`)))
      found.set(`${argv.join(' ')} ${version}`, argv);
  }
  return [...found].map(([label, argv]) => ({ label, argv }));
}

describe('docker-compose.yml (validated structurally: its images cannot be pulled here)', () => {
  it('wires Temporal on PostgreSQL after its schema job, the UI, the namespace setup and the worker together', () => {
    expect(composeProblems(readCompose())).toEqual([]);
  });

  it('documents every variable it substitutes or passes through in its header', () => {
    const text = fs.readFileSync(composeFile, 'utf8');
    const lines = text.split('\n');
    const header = lines
      .slice(
        0,
        lines.findIndex((l) => !l.startsWith('#')),
      )
      .join('\n');
    const used = new Set([...text.matchAll(/(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!));
    const passedThrough = Object.entries(
      envOf(Object.values(readCompose().services ?? {}).find((s) => s.build && !s.command)!),
    )
      .filter(([, v]) => v === null)
      .map(([k]) => k);
    expect([...used, ...passedThrough].filter((v) => !new RegExp(`^#\\s+${v}\\s`, 'm').test(header))).toEqual([]);
  });

  it('builds the worker from a Dockerfile that installs with npm ci, bundles the workflows and runs the worker', () => {
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
      (d) => void (d.services!['temporal-ui']!.ports = ['127.0.0.1:7233:8080']),
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
    [
      'the deprecated auto-setup image',
      (d) => void (d.services!.temporal!.image = 'temporalio/auto-setup:1.29.1'),
      /auto-setup is deprecated/,
    ],
    ['a major-only tag', (d) => void (d.services!['temporal-db']!.image = 'postgres:16'), /not pinned to an exact/],
    ['latest', (d) => void (d.services!['temporal-ui']!.image = 'temporalio/ui:latest'), /not pinned to an exact/],
    [
      'the UI on every interface',
      (d) => void (d.services!['temporal-ui']!.ports = ['8080:8080']),
      /temporal-ui: port 8080 binds every interface/,
    ],
    [
      'the frontend on 0.0.0.0',
      (d) => void (d.services!.temporal!.ports = ['${TEMPORAL_BIND_IP:-0.0.0.0}:7233:7233']),
      /temporal: port 7233 binds every interface \(0\.0\.0\.0\)/,
    ],
    [
      'a server bound to its loopback',
      (d) => delete svcEnv(d, 'temporal').BIND_ON_IP,
      /BIND_ON_IP=undefined, so the other containers cannot reach/,
    ],
    [
      'a server that does not wait for its schema',
      (d) => delete (d.services!.temporal!.depends_on as Record<string, unknown>)['temporal-schema'],
      /temporal: does not wait for temporal-schema to complete successfully/,
    ],
    ['no schema job', (d) => delete d.services!['temporal-schema'], /no service runs temporal-sql-tool/],
    [
      'no visibility schema',
      (d) => void editScript(d, 'temporal-schema', (s) => s.replace(/.*temporal_visibility update-schema.*\n/, '')),
      /no job runs update-schema -d \S+\/v12\/visibility\/versioned on temporal_visibility/,
    ],
    [
      'the wrong schema directory',
      (d) => void editScript(d, 'temporal-schema', (s) => s.replace('/temporal/versioned', '/visibility/versioned')),
      /update-schema -d .*\/v12\/temporal\/versioned on temporal$/,
    ],
    [
      'schema steps out of order',
      (d) =>
        void editScript(d, 'temporal-schema', (s) =>
          s.replace(/(.*--db temporal setup-schema.*\n)(.*--db temporal update-schema.*\n)/, '$2$1'),
        ),
      /^temporal: create, setup-schema and update-schema run out of order/,
    ],
    [
      'schema job on another database host',
      (d) => void (svcEnv(d, 'temporal-schema').SQL_HOST = 'postgres'),
      /temporal-schema: temporal-sql-tool's host is postgres, not temporal-db/,
    ],
    [
      'admin-tools of another release',
      (d) => void (d.services!['temporal-schema']!.image = 'temporalio/admin-tools:1.31.0'),
      /temporal-schema: admin-tools 1\.31\.0 but server/,
    ],
    [
      'setup before the server is healthy',
      (d) => void (d.services!['temporal-setup']!.depends_on = ['temporal']),
      /temporal-setup: does not wait for temporal to be healthy/,
    ],
    [
      'a short retention',
      (d) => void (svcEnv(d, 'temporal-setup').TEMPORAL_NAMESPACE_RETENTION = '${TEMPORAL_NAMESPACE_RETENTION:-7d}'),
      /retention 7d is shorter than 30 days/,
    ],
    [
      'no explicit retention',
      (d) => void editScript(d, 'temporal-setup', (s) => s.replace(/ --retention "\$\$\w+"/g, '')),
      /sets no explicit retention/,
    ],
    [
      'a namespace command without --namespace',
      (d) =>
        void editScript(d, 'temporal-setup', (s) =>
          s.replace(/namespace create --namespace "\$\$ns"/, 'namespace create'),
        ),
      /has no --namespace, so it acts on the default namespace/,
    ],
    [
      'a namespace other than the worker',
      (d) => void (svcEnv(d, 'temporal-setup').TEMPORAL_NAMESPACE = 'prod'),
      /namespace prod is not the worker's default/,
    ],
    [
      'a frontend that does not require client certificates',
      (d) => void delete svcEnv(d, 'temporal').TEMPORAL_TLS_REQUIRE_CLIENT_AUTH,
      /temporal: the frontend does not require client certificates/,
    ],
    [
      'a UI without a client certificate',
      (d) => void delete svcEnv(d, 'temporal-ui').TEMPORAL_TLS_CERT,
      /temporal-ui: no client certificate/,
    ],
    [
      'a setup job whose certificate scripts/make-certs does not make',
      (d) => void (svcEnv(d, 'temporal-setup').TEMPORAL_TLS_CLIENT_CERT_PATH = '/certs/admin.crt'),
      /temporal-setup: client certificate \/certs\/admin\.crt is not a file scripts\/make-certs makes/,
    ],
    [
      'a worker without the certificates folder',
      (d) =>
        void (d.services!.worker!.volumes = d.services!.worker!.volumes!.filter(
          (v) => typeof v !== 'string' || !v.includes('CERTS'),
        )),
      /worker: client certificate \/certs\/worker\.crt, but the certificates folder is not mounted/,
    ],
    [
      'a codec server reading other keys than the worker',
      (d) => void (svcEnv(d, 'codec-server').MO_CODEC_KEYS_FILE = '/keys/other-keys'),
      /codec-server: reads other keys than the worker/,
    ],
    [
      'a UI pointed at another port than the codec server',
      (d) => void (svcEnv(d, 'temporal-ui').TEMPORAL_CODEC_ENDPOINT = 'http://localhost:9999'),
      /temporal-ui: TEMPORAL_CODEC_ENDPOINT http:\/\/localhost:9999 is not the port codec-server publishes/,
    ],
    [
      'a codec server without a token',
      (d) => void delete svcEnv(d, 'codec-server').MO_CODEC_SERVER_TOKEN_FILE,
      /codec-server: no token file/,
    ],
    [
      'a worker without the TLS variables',
      (d) => delete svcEnv(d, 'worker').TEMPORAL_TLS_CLIENT_CERT_PATH,
      /worker: TEMPORAL_TLS_CLIENT_CERT_PATH is not in its environment/,
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
    ['Node.js 20', [/^FROM node:22-/m, 'FROM node:20-'], /not a maintained Node\.js LTS image \(22 or later\)/],
    ['no prebuilt bundle', [/^ENV MO_WORKFLOW_BUNDLE=.*\n/m, ''], /no ENV MO_WORKFLOW_BUNDLE/],
    ['the bundle not built', [/^RUN .*build-bundle\.ts.*\n/m, ''], /is not built by a RUN of scripts\/build-bundle/],
    [
      'the bundle written elsewhere',
      [/(RUN .*build-bundle\.ts) \S+/, '$1 /tmp/bundle.js'],
      /writes \/tmp\/bundle\.js, not MO_WORKFLOW_BUNDLE/,
    ],
    [
      'the bundle script not copied',
      [/^COPY scripts\/build-bundle\.ts .*\n/m, ''],
      /scripts\/build-bundle\.ts \(loaded by scripts\/build-bundle\.ts\) is not copied/,
    ],
  ];
  it.each(dockerCases)('reports a worker Dockerfile with %s', (_, [from, to], expected) => {
    const text = fs.readFileSync(workerDockerfile(readCompose()), 'utf8');
    expect(from.test(text)).toBe(true);
    expect(dockerfileProblems(text.replace(from, to))).toContainEqual(expect.stringMatching(expected));
  });
});

describe('docker-compose.yml, parsed by a real Compose implementation', () => {
  const implementations = composeImplementations();
  const required = { TEMPORAL_DB_PASSWORD: 'unit-test', TARGET_DATABASE_URL: 'postgres://mo@db.invalid/target' };
  const compose = (argv: string[], env: Record<string, string | undefined>) => {
    const childEnv: Record<string, string | undefined> = { ...process.env, ...env };
    for (const k of Object.keys(required)) if (env[k] === undefined) delete childEnv[k];
    return spawnSync(argv[0]!, [...argv.slice(1), '-f', composeFile, 'config', '-q'], {
      cwd: root,
      env: childEnv,
      encoding: 'utf8',
      timeout: 60_000,
    });
  };

  if (!implementations.length)
    it.skip('config -q: no Compose here (apt-get install docker-compose, or set MO_COMPOSE_V2)', () => undefined);
  for (const { label, argv } of implementations) {
    it(`${label}: config -q accepts it with the required variables set`, () => {
      const r = compose(argv, required);
      expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    });

    it(`${label}: config -q refuses it without TEMPORAL_DB_PASSWORD, naming the variable`, () => {
      const r = compose(argv, { ...required, TEMPORAL_DB_PASSWORD: undefined });
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain('TEMPORAL_DB_PASSWORD');
    });
  }
});

/** The environment map of a service in a parsed copy, for the cases above to edit. */
function svcEnv(d: ComposeFile, name: string): Record<string, EnvValue> {
  return d.services![name]!.environment as Record<string, EnvValue>;
}

/** Rewrites the script of a one-shot job in a parsed copy (as written in the file, `$$` and all). */
function editScript(d: ComposeFile, name: string, edit: (script: string) => string): void {
  const s = d.services![name]!;
  s.command = Array.isArray(s.command) ? s.command.map(edit) : edit(s.command ?? '');
}

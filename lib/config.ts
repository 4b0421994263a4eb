import fs from 'node:fs';
import path from 'node:path';
import { loadClientConnectConfig } from '@temporalio/envconfig';

/** The project's root folder (where package.json is). */
export const projectRoot = path.resolve(__dirname, '..');

/** Where `scripts/stack up` records the environment of the local stack. */
export const stackEnvFile = path.join(process.env.MO_STACK_DIR ?? path.join(projectRoot, '.stack'), 'env');

/** A configuration value that is missing; the message names the variable and how to get it. */
export class MissingConfigError extends Error {
  constructor(readonly variable: string) {
    super(
      `environment variable ${variable} is not set: run \`npm run stack up\` (it writes ${stackEnvFile}) or export it`,
    );
    this.name = 'MissingConfigError';
  }
}

let stackEnv: Record<string, string> | undefined;

/** Reads `.stack/env` (KEY=VALUE lines) once; absent file means an empty map. */
function readStackEnv(): Record<string, string> {
  if (stackEnv) return stackEnv;
  stackEnv = {};
  if (fs.existsSync(stackEnvFile)) {
    for (const line of fs.readFileSync(stackEnvFile, 'utf8').split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0 && !line.startsWith('#')) stackEnv[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
    }
  }
  return stackEnv;
}

/** A variable from the process environment, else from the local stack's env file, else undefined. */
export function optionalEnv(name: string): string | undefined {
  const v = process.env[name];
  if (v !== undefined && v !== '') return v;
  return readStackEnv()[name];
}

/** Like `optionalEnv`, but a missing variable is an error naming it. */
export function requireEnv(name: string): string {
  const v = optionalEnv(name);
  if (v === undefined) throw new MissingConfigError(name);
  return v;
}

/** How to reach Temporal: what `Connection.connect` and `NativeConnection.connect` both take. */
export interface TemporalConnectionOptions {
  address: string;
  tls?: ReturnType<typeof loadClientConnectConfig>['connectionOptions']['tls'];
  apiKey?: string;
  metadata?: Record<string, string>;
}

/** Everything the worker, the CLI and the tests need to reach the stack. */
export interface StackConfig {
  temporalAddress: string;
  temporalNamespace: string;
  /** The full connection settings (address, TLS, mTLS client certificate, API key, gRPC metadata). */
  temporalConnection: TemporalConnectionOptions;
  /** Where they came from, for error messages: the profile and file, or the defaults. */
  temporalSource: string;
  temporalUiUrl: string;
  taskQueue: string;
  dockerHost: string | undefined;
  nodeImage: string;
  dataDir: string;
  /** Where the worker serves Prometheus metrics (`host:port`), or undefined for none (`MO_METRICS_ADDRESS=off`). */
  metricsAddress: string | undefined;
  /** How long a stopping worker lets running activities finish before cancelling them, in ms. */
  shutdownGraceMs: number;
  /** The worker's OpenSSH allowed_signers file of who may start migrations and rollbacks (`MO_TRUST_FILE`). */
  trustFile: string | undefined;
  /** `MO_INSECURE_ACCEPT_UNSIGNED=1` (or the worker's `--insecure-accept-unsigned`): admit every run. */
  insecureAcceptUnsigned: boolean;
  /** The task queues our workflows run on: this one and `MO_WORKFLOW_QUEUE` (comma-separated; default `migrations`). */
  workflowQueues: string[];
  /** The worker's OpenSSH Ed25519 key file that seals ledger heads (`MO_LEDGER_SEAL_KEY`), or undefined. */
  ledgerSealKey: string | undefined;
}

/** The stack configuration from the environment (process first, then `.stack/env`). */
export function loadConfig(): StackConfig {
  const temporal = temporalSettings();
  return {
    temporalAddress: temporal.connection.address,
    temporalNamespace: temporal.namespace,
    temporalConnection: temporal.connection,
    temporalSource: temporal.source,
    temporalUiUrl: optionalEnv('TEMPORAL_UI_URL') ?? 'http://127.0.0.1:18233',
    taskQueue: optionalEnv('MO_TASK_QUEUE') ?? 'migrations',
    dockerHost: optionalEnv('DOCKER_HOST'),
    nodeImage: optionalEnv('MO_NODE_IMAGE') ?? `migration-orchestrator/node-runtime:${process.versions.node}`,
    dataDir: optionalEnv('MO_DATA_DIR') ?? path.join(projectRoot, '.stack', 'data'),
    metricsAddress: metricsAddress(optionalEnv('MO_METRICS_ADDRESS')),
    shutdownGraceMs: positiveInt('MO_SHUTDOWN_GRACE_MS', 30_000),
    trustFile: optionalEnv('MO_TRUST_FILE'),
    insecureAcceptUnsigned: optionalEnv('MO_INSECURE_ACCEPT_UNSIGNED') === '1',
    workflowQueues: workflowQueues(optionalEnv('MO_TASK_QUEUE') ?? 'migrations'),
    ledgerSealKey: optionalEnv('MO_LEDGER_SEAL_KEY'),
  };
}

/**
 * The queues our workflows run on: this worker's own (every worker registers our workflows) and `MO_WORKFLOW_QUEUE`
 * (the central queue an agent serves), else `migrations`.
 */
function workflowQueues(own: string): string[] {
  const named = optionalEnv('MO_WORKFLOW_QUEUE');
  const list = [own, ...(named ? named.split(',').map((q) => q.trim()) : ['migrations'])];
  return [...new Set(list.filter(Boolean))];
}

/** The local dev server of `scripts/stack`, when nothing else is configured. */
const LOCAL_TEMPORAL = '127.0.0.1:17233';

/**
 * Connection settings read as the stock `temporal` CLI reads them (`@temporalio/envconfig`): the `TEMPORAL_*`
 * variables (`TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, `TEMPORAL_API_KEY`, `TEMPORAL_TLS`, `TEMPORAL_TLS_*`,
 * `TEMPORAL_GRPC_META_*`) over the profile `TEMPORAL_PROFILE` names (else `default`) of the TOML file
 * `TEMPORAL_CONFIG_FILE` names (else `~/.config/temporalio/temporal.toml`). Where neither gives an address or a
 * namespace, the local stack's (`.stack/env`), else the local dev server's defaults.
 */
function temporalSettings(): { connection: TemporalConnectionOptions; namespace: string; source: string } {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && v !== '') env[k] = v;
  const local = readStackEnv();
  if (env.TEMPORAL_CONFIG_FILE && !fs.existsSync(env.TEMPORAL_CONFIG_FILE))
    throw new Error(
      `Temporal connection settings: TEMPORAL_CONFIG_FILE names ${env.TEMPORAL_CONFIG_FILE}, which does not exist`,
    );
  // In a checkout with a local stack, its server wins over the default profile of ~/.config/temporalio/temporal.toml
  // (which may well be production's) unless a profile or a file is asked for by name.
  const disableFile =
    local.TEMPORAL_ADDRESS !== undefined && !env.TEMPORAL_PROFILE && !env.TEMPORAL_CONFIG_FILE && !env.TEMPORAL_ADDRESS;
  let loaded: ReturnType<typeof loadClientConnectConfig>;
  try {
    loaded = loadClientConnectConfig({ overrideEnvVars: env, disableFile });
  } catch (err) {
    const file = env.TEMPORAL_CONFIG_FILE ?? '~/.config/temporalio/temporal.toml';
    throw new Error(
      `Temporal connection settings: ${(err as Error).message} (profile ${env.TEMPORAL_PROFILE ?? 'default'} of ${file})`,
    );
  }
  const o = loaded.connectionOptions;
  const connection: TemporalConnectionOptions = {
    address: o.address ?? local.TEMPORAL_ADDRESS ?? LOCAL_TEMPORAL,
    ...(o.tls !== undefined ? { tls: o.tls } : {}),
    ...(o.apiKey ? { apiKey: o.apiKey } : {}),
    ...(o.metadata && Object.keys(o.metadata).length ? { metadata: o.metadata as Record<string, string> } : {}),
  };
  const source = o.address
    ? `${connection.address}${env.TEMPORAL_PROFILE ? ` (profile ${env.TEMPORAL_PROFILE})` : ''}`
    : `${connection.address} (the local stack: no TEMPORAL_ADDRESS and no profile address)`;
  return { connection, namespace: loaded.namespace ?? local.TEMPORAL_NAMESPACE ?? 'default', source };
}

function metricsAddress(raw: string | undefined): string | undefined {
  if (raw === 'off') return undefined;
  const v = raw ?? '127.0.0.1:9464';
  if (!/^[\w.-]+:\d{1,5}$/.test(v))
    throw new Error(`MO_METRICS_ADDRESS must be host:port or off, got ${JSON.stringify(v)}`);
  return v;
}

function positiveInt(name: string, dflt: number): number {
  const raw = optionalEnv(name);
  if (raw === undefined) return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number of milliseconds, got ${raw}`);
  return n;
}

/** Arguments for the stock `temporal` CLI, pointed at this stack's server and namespace. */
export function temporalCliArgs(config: StackConfig, ...args: string[]): string[] {
  // A profile carries TLS and keys the address alone does not; the stock CLI reads the same file.
  const profile = optionalEnv('TEMPORAL_PROFILE');
  // Payloads are sealed (lib/codec.ts): the stock CLI opens and seals them through the codec server. The token goes
  // by TEMPORAL_CODEC_AUTH (`temporalCliEnv` in lib/codec.ts), never on a command line.
  const codec = optionalEnv('MO_CODEC_ENDPOINT');
  return [
    ...args,
    ...(codec ? ['--codec-endpoint', codec] : []),
    '--address',
    config.temporalAddress,
    '--namespace',
    config.temporalNamespace,
    ...(profile ? ['--profile', profile] : []),
  ];
}

/** The Web UI page of one workflow. */
export function workflowUiUrl(config: StackConfig, workflowId: string): string {
  return `${config.temporalUiUrl}/namespaces/${encodeURIComponent(config.temporalNamespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

/**
 * Copies the local stack's variables into `process.env` where the process has none (activities read names). Not the
 * connection's (`TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`): as variables they would win over a `--profile`; the
 * connection settings fall back to them themselves.
 */
export function applyStackEnv(): void {
  for (const [k, v] of Object.entries(readStackEnv()))
    if (!process.env[k] && k !== 'TEMPORAL_ADDRESS' && k !== 'TEMPORAL_NAMESPACE') process.env[k] = v;
}

import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import { sshKeygenSigner } from '../lib/signing';
import { LEDGER_SEAL_NAMESPACE } from '../model/ledger-chain';
import { connectClient, connectionProblem } from '../client/connection';
import { dockerClient } from '../activities/docker';
import { workerDataConverter } from '../lib/codec';
import { applyStackEnv, loadConfig } from '../lib/config';
import { workflowBundleFor } from '../lib/workflow-bundle';
import { formatLogLine, logLevel } from './logging';
import { workerInterceptors } from './redact';
import { callerCheck } from './admission';
import { loadTrust } from '../activities/admission';

/**
 * Starts the worker: registers the workflows and activities on the task queue and runs until SIGTERM/SIGINT. Logs are
 * JSON lines on stdout; metrics are served for Prometheus at `MO_METRICS_ADDRESS` (default 127.0.0.1:9464, `off` for
 * none). On SIGTERM the worker stops polling and lets running activities finish for `MO_SHUTDOWN_GRACE_MS` (default
 * 30 s) before cancelling them; a cancelled activity is retried by another worker, so nothing is lost either way.
 */
async function run(): Promise<void> {
  applyStackEnv();
  // Checked before anything connects, so a typo stops the worker at once instead of logging at every level.
  const level = logLevel(process.env.MO_LOG_LEVEL);
  const config = loadConfig();
  const insecure = config.insecureAcceptUnsigned || process.argv.includes('--insecure-accept-unsigned');
  refuseWithoutTrust(config.trustFile, insecure);
  // Sealed payloads (lib/codec.ts): without codec keys the worker refuses to start, unless --insecure-unsealed.
  const dataConverter = workerDataConverter();
  Runtime.install({
    // JSON lines on stdout; a logged error keeps its stack and causes.
    logger: new DefaultLogger(level, (entry) => void process.stdout.write(`${formatLogLine(entry)}\n`)),
    telemetryOptions: {
      logging: { forward: {}, filter: { core: 'WARN', other: 'WARN' } },
      ...(config.metricsAddress ? { metrics: { prometheus: { bindAddress: config.metricsAddress } } } : {}),
    },
  });
  const log = Runtime.instance().logger;
  // Address, TLS, mTLS client certificate and API key as the stock `temporal` CLI reads them (lib/config.ts).
  const connection = await NativeConnection.connect(config.temporalConnection).catch((err: unknown) => {
    throw connectionProblem(config, err);
  });
  // A client for the Temporal Schedules scheduler adapter, connected as the CLI connects.
  const client = await connectClient(config);
  const worker = await Worker.create({
    connection,
    namespace: config.temporalNamespace,
    taskQueue: config.taskQueue,
    workflowBundle: await workflowBundleFor(config.dataDir),
    dataConverter,
    activities: createActivities({
      docker: dockerClient(config.dockerHost),
      client,
      taskQueue: config.taskQueue,
      admission: { trustFile: config.trustFile, insecure, client, workflowQueues: config.workflowQueues },
      ...(config.ledgerSealKey ? { ledgerSealer: sshKeygenSigner(config.ledgerSealKey, LEDGER_SEAL_NAMESPACE) } : {}),
    }),
    shutdownGraceTime: config.shutdownGraceMs,
    // Nothing secret reaches history: every activity's result and error is redacted on its way out. Activities run
    // only for our own workflows (not a foreign workflow scheduling our activity types here).
    interceptors: {
      ...workerInterceptors,
      activity: [
        ...(insecure ? [] : [callerCheck(client, config.workflowQueues)]),
        ...(workerInterceptors.activity ?? []),
      ],
    },
  });
  log.info('worker started', {
    taskQueue: config.taskQueue,
    pid: process.pid,
    metrics: config.metricsAddress ? `http://${config.metricsAddress}/metrics` : 'off',
    shutdownGraceMs: config.shutdownGraceMs,
    admission: insecure ? 'INSECURE: every run admitted unsigned' : `trust file ${config.trustFile}`,
    workflowQueues: config.workflowQueues,
    sealed: dataConverter.payloadCodecs?.length ? 'yes' : 'NO (--insecure-unsealed)',
  });
  // The SDK turns SIGTERM/SIGINT into a graceful shutdown (see above); run() resolves once every task has drained.
  await worker.run();
  log.info('worker stopped', { taskQueue: config.taskQueue });
  await client.connection.close();
  await connection.close();
}

/**
 * A worker without a trust file would run whatever anyone with access to the Temporal frontend starts: it refuses to
 * start unless told so explicitly. A trust file that cannot be read or parsed stops it too, naming the line.
 */
function refuseWithoutTrust(trustFile: string | undefined, insecure: boolean): void {
  if (insecure) return;
  if (!trustFile)
    throw new Error(
      'no trust file: set MO_TRUST_FILE to an OpenSSH allowed_signers file of who may start migrations (namespaces="migrate-start") and rollbacks (namespaces="migrate-rollback"), or run with --insecure-accept-unsigned (MO_INSECURE_ACCEPT_UNSIGNED=1) to admit every run unsigned',
    );
  loadTrust(trustFile);
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});

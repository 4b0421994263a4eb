import fs from 'node:fs';
import path from 'node:path';
import { runDemo } from '../../demo/demo';
import { startWorkerProcess } from '../../lib/worker-process';
import { migrateCli } from '../helpers/cli';
import { config, uniq } from '../helpers/stack';
import { startTlsProxy, type TlsProxy } from '../helpers/tls-proxy';
import { slottedPlan } from '../helpers/slot';
import { shortWaits } from '../helpers/short-waits';

const PLAN = slottedPlan(path.join(__dirname, '..', '..', 'plans', 'demo.yaml'));

/** The connection variables of the stock `temporal` CLI, pointed at the proxy; `cert: false` leaves the client's out. */
function tlsEnv(proxy: TlsProxy, cert = true): Record<string, string> {
  return {
    TEMPORAL_ADDRESS: proxy.address,
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: proxy.caFile,
    TEMPORAL_TLS_SERVER_NAME: proxy.serverName,
    ...(cert
      ? { TEMPORAL_TLS_CLIENT_CERT_PATH: proxy.clientCertFile, TEMPORAL_TLS_CLIENT_KEY_PATH: proxy.clientKeyFile }
      : {}),
  };
}

describe('secured connections: the CLI and a worker through a TLS proxy that requires client certificates', () => {
  let proxy: TlsProxy;
  const saved = { ...process.env };
  beforeAll(async () => {
    proxy = await startTlsProxy(config.temporalAddress);
  });
  afterAll(async () => {
    process.env = saved;
    await proxy?.stop();
  });

  it('runs a migration with the worker and the client on mTLS, and the CLI reads it with the variables or a profile', async () => {
    // The demo's client and its worker process both read the TEMPORAL_* variables (lib/config.ts).
    Object.assign(process.env, tlsEnv(proxy));
    const taskQueue = `tls-${uniq()}`;
    process.env.MO_TASK_QUEUE = taskQueue;
    let outcome;
    try {
      // mTLS is under test, not the waits: the demo plan's shortest shape (tests/helpers/short-waits.ts).
      outcome = await runDemo({ plan: PLAN, print: () => undefined, adjustPlan: shortWaits });
    } finally {
      process.env = { ...saved };
    }
    expect(outcome.phase).toBe('complete');
    // Everything went through the proxy: its access log has the worker's polls and the client's requests.
    const access = fs.readFileSync(path.join(proxy.dir, 'access.log'), 'utf8');
    expect(access).toMatch(/PollWorkflowTaskQueue/);
    expect(access).toMatch(/StartWorkflowExecution/);

    // `list` reads the namespace's visibility (no worker needed: the demo's has stopped).
    const listed = (r: { stdout: string }) =>
      (JSON.parse(r.stdout) as { id: string; phase: string }[]).find((row) => row.id === outcome.workflowId);
    const list = await migrateCli(['list', '--json'], tlsEnv(proxy));
    expect(list.code).toBe(0);
    expect(listed(list)).toMatchObject({ phase: 'complete', status: 'COMPLETED' });

    // The same settings as a temporal.toml profile, chosen with --profile; the address from the flag.
    const toml = path.join(proxy.dir, 'temporal.toml');
    fs.writeFileSync(
      toml,
      [
        '[profile.secure]',
        'address = "127.0.0.1:1"',
        '[profile.secure.tls]',
        `server_ca_cert_path = "${proxy.caFile}"`,
        `server_name = "${proxy.serverName}"`,
        `client_cert_path = "${proxy.clientCertFile}"`,
        `client_key_path = "${proxy.clientKeyFile}"`,
        '',
      ].join('\n'),
    );
    const viaProfile = await migrateCli(['list', '--json', '--profile', 'secure', '--address', proxy.address], {
      TEMPORAL_CONFIG_FILE: toml,
    });
    expect(viaProfile.stderr).toBe('');
    expect(listed(viaProfile)).toMatchObject({ phase: 'complete' });
    // Without the flag, the profile's own address (nothing listens there): it is the profile that was read.
    const profileAddress = await migrateCli(['list', '--profile', 'secure'], { TEMPORAL_CONFIG_FILE: toml });
    expect(profileAddress.stderr).toMatch(
      /cannot reach Temporal at 127\.0\.0\.1:1 \(profile secure\) over TLS with a client certificate/,
    );
  }, 240_000);

  it('refuses a CLI and a worker without a client certificate, with an error that says what is missing', async () => {
    const t0 = Date.now();
    const list = await migrateCli(['list'], tlsEnv(proxy, false));
    expect(list.code).toBe(1);
    expect(list.stderr).toMatch(
      new RegExp(
        `cannot reach Temporal at ${proxy.address.replace(/\./g, '\\.')} over TLS without a client certificate`,
      ),
    );
    expect(list.stderr).toMatch(/needs TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH/);
    expect(Date.now() - t0).toBeLessThan(15_000);

    const log = path.join(config.dataDir, 'logs', `tls-refused-${uniq()}.log`);
    const worker = startWorkerProcess(log, { ...tlsEnv(proxy, false), MO_TASK_QUEUE: `tls-refused-${uniq()}` });
    await expect(worker.ready).rejects.toThrow(/exited with code 1/);
    expect(fs.readFileSync(log, 'utf8')).toMatch(/cannot reach Temporal at .* over TLS without a client certificate/);
  });
});

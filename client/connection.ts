import { Client, Connection } from '@temporalio/client';
import type { StackConfig } from '../lib/config';

/** Why a connection failed, in the words an operator acts on: which server, which settings, what to check. */
export function connectionProblem(config: StackConfig, err: unknown): Error {
  const message = err instanceof Error ? err.message : String(err);
  const tls = config.temporalConnection.tls;
  const how = tls
    ? `TLS${typeof tls === 'object' && tls.clientCertPair ? ' with a client certificate' : ' without a client certificate'}`
    : config.temporalConnection.apiKey
      ? 'TLS with an API key'
      : 'plain gRPC (no TLS)';
  const hint = /certificate|handshake|tls|ssl|alert|EOF|reset|closed/i.test(message)
    ? tls && typeof tls === 'object' && tls.clientCertPair
      ? 'check TEMPORAL_TLS_SERVER_CA_CERT_PATH and TEMPORAL_TLS_SERVER_NAME against the server certificate'
      : 'a server that requires a client certificate needs TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH (or a temporal.toml profile with them)'
    : 'is the server up and the address right? (`npm run stack status` for the local stack)';
  return new Error(`cannot reach Temporal at ${config.temporalSource} over ${how}: ${message}; ${hint}`, {
    cause: err,
  });
}

/**
 * A Temporal client for the configured server and namespace (address, TLS, mTLS, API key as the stock CLI reads
 * them, see `loadConfig`); close it with `client.connection.close()`. `identity` is what the server records as the
 * caller of every request (the CLI sends `--as`).
 */
export async function connectClient(config: StackConfig, identity?: string): Promise<Client> {
  const connection = await Connection.connect({ ...config.temporalConnection, connectTimeout: '10 seconds' }).catch(
    (err: unknown) => {
      throw connectionProblem(config, err);
    },
  );
  return new Client({ connection, namespace: config.temporalNamespace, ...(identity ? { identity } : {}) });
}

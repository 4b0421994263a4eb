import { Client, Connection } from '@temporalio/client';
import { clientDataConverter } from '../lib/codec';
import type { StackConfig } from '../lib/config';

/** Why a connection failed, in the words an operator acts on: which server, which settings, what to check. */
export function connectionProblem(config: StackConfig, err: unknown): Error {
  const e = err instanceof Error ? err : new Error(String(err));
  // grpc-js wraps the transport's reason ("Received HTTP status code 400") in a generic message.
  const cause = e.cause instanceof Error && e.cause.message !== e.message ? ` (${e.cause.message})` : '';
  const message = `${e.message}${cause}`;
  const { tls, apiKey } = config.temporalConnection;
  const withCert = typeof tls === 'object' && !!tls?.clientCertPair;
  const how =
    tls || apiKey
      ? `TLS${withCert ? ' with a client certificate' : apiKey ? ' with an API key' : ' without a client certificate'}`
      : 'plain gRPC (no TLS)';
  const hints: string[] = [];
  if (tls && !withCert && !apiKey)
    hints.push(
      'a server that requires a client certificate (mTLS) needs TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH, or a temporal.toml profile with them (--profile)',
    );
  if (tls && /certificate|UnknownIssuer|handshake|deadline/i.test(message))
    hints.push('check TEMPORAL_TLS_SERVER_CA_CERT_PATH and TEMPORAL_TLS_SERVER_NAME against the server certificate');
  if (!tls && !apiKey) hints.push('a TLS endpoint needs TEMPORAL_TLS=true (or the TLS variables)');
  hints.push('is the server up and the address right? (`npm run stack status` for the local stack)');
  return new Error(`cannot reach Temporal at ${config.temporalSource} over ${how}: ${message}; ${hints.join('; ')}`, {
    cause: err,
  });
}

/**
 * A Temporal client for the configured server and namespace (address, TLS, mTLS, API key as the stock CLI reads
 * them, see `loadConfig`); close it with `client.connection.close()`. `identity` is what the server records as the
 * caller of every request (the CLI sends `--as`). Payloads are sealed with the codec keys (`lib/codec.ts`); without
 * keys it throws `CodecKeyError` before connecting.
 */
export async function connectClient(config: StackConfig, identity?: string): Promise<Client> {
  const dataConverter = clientDataConverter();
  const connection = await Connection.connect({ ...config.temporalConnection, connectTimeout: '10 seconds' }).catch(
    (err: unknown) => {
      throw connectionProblem(config, err);
    },
  );
  return new Client({
    connection,
    namespace: config.temporalNamespace,
    dataConverter,
    ...(identity ? { identity } : {}),
  });
}

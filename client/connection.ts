import { Client, Connection } from '@temporalio/client';
import type { StackConfig } from '../lib/config';

/**
 * A Temporal client for the configured server and namespace; close it with `client.connection.close()`. `identity` is
 * what the server records as the caller of every request (the CLI sends `--as`).
 */
export async function connectClient(config: StackConfig, identity?: string): Promise<Client> {
  const connection = await Connection.connect({ address: config.temporalAddress });
  return new Client({ connection, namespace: config.temporalNamespace, ...(identity ? { identity } : {}) });
}

import { Client, Connection } from '@temporalio/client';
import type { StackConfig } from '../lib/config';

/** A Temporal client for the configured server and namespace; close it with `client.connection.close()`. */
export async function connectClient(config: StackConfig): Promise<Client> {
  const connection = await Connection.connect({ address: config.temporalAddress });
  return new Client({ connection, namespace: config.temporalNamespace });
}

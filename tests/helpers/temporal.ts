import type { Payload } from '@temporalio/common';
import { requiredCodecKeys, SealingCodec } from '../../lib/codec';
import { SEALED_ENCODING } from '../../model/sealed';
export { bundleWorkflows, createTimeSkippingEnv, firstTaskCompleted } from '../../lib/time-skipping';

/** Polls `read` until `done` holds for its value (real time), returning that value. */
export async function eventually<T>(read: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await read();
  while (!done(last)) {
    if (Date.now() > deadline)
      throw new Error(`condition not reached in ${timeoutMs} ms; last value: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 50));
    last = await read();
  }
  return last;
}

/**
 * A history as searchable text: every payload sealed by our codec opened with the stack's keys (a scan of ciphertext
 * finds nothing, whatever the payloads hold), then every payload's bytes decoded as UTF-8, so secrets inside show. A
 * sealed payload that does not open fails the scan rather than hide its content.
 */
export async function historyText(history: unknown): Promise<string> {
  const keys = requiredCodecKeys();
  const codec = keys ? new SealingCodec(keys, 'refuse') : undefined;
  const open = async (v: unknown): Promise<unknown> => {
    if (v instanceof Uint8Array || !v || typeof v !== 'object') return v;
    if (Array.isArray(v)) return Promise.all(v.map(open));
    const p = v as Payload;
    if (codec && p.metadata?.encoding && utf8(p.metadata.encoding) === SEALED_ENCODING)
      return (await codec.decode([p]))[0];
    return Object.fromEntries(await Promise.all(Object.entries(v).map(async ([k, x]) => [k, await open(x)])));
  };
  return plainText(await open(history));
}

const utf8 = (b: Uint8Array) => Buffer.from(b).toString('utf8');

/** Any value as searchable text, with every byte array decoded as UTF-8. */
function plainText(history: unknown): string {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (v instanceof Uint8Array) out.push(Buffer.from(v).toString('utf8'));
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        out.push(k);
        walk(x);
      }
    } else if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out.push(String(v));
  };
  walk(history);
  return out.join('\n');
}

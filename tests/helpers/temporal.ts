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

/** A history as searchable text, with every payload's bytes decoded as UTF-8 (so secrets inside payloads show). */
export function historyText(history: unknown): string {
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

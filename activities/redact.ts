/**
 * The one redaction module for every message that leaves the target (errors, results, reports, ledger rows,
 * notifications): the values of the plan's variables (and their URL passwords) and every secret-shaped part of the text
 * (`model/redact.ts`: URL userinfo, token query parameters, `SECRET_NAME=value`) become `***`. The worker's activity
 * interceptor (`worker/redact.ts`) runs every activity inside `withSecrets`, so code that builds a message outside an
 * activity's return (a report file, an e-mail) hides the same values by calling `redact(text)`.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { ApplicationFailure } from '@temporalio/common';
import { redactText } from '../model/redact';

/** Every environment variable a plan (or an activity's input) names: fields ending in `Env`, and `envFrom` values. */
export function planEnvNames(v: unknown, key = ''): string[] {
  if (typeof v === 'string') return /Env$/.test(key) ? [v] : [];
  if (Array.isArray(v)) return v.flatMap((x) => planEnvNames(x));
  if (v === null || typeof v !== 'object') return [];
  return Object.entries(v).flatMap(([k, x]) =>
    k === 'envFrom' && x && typeof x === 'object' ? Object.values(x as Record<string, string>) : planEnvNames(x, k),
  );
}

/** Values of the named environment variables and their URL passwords: never shown in a result or error. */
export function envSecrets(envNames: string[]): string[] {
  const out: string[] = [];
  for (const name of new Set(envNames)) {
    const raw = process.env[name];
    if (!raw) continue;
    out.push(raw);
    try {
      const pw = decodeURIComponent(new URL(raw).password);
      if (pw) out.push(pw, encodeURIComponent(pw));
    } catch {
      // Not a URL: the raw value is hidden all the same.
    }
  }
  // Longest first, so a URL is replaced whole before its password.
  return out.sort((x, y) => y.length - x.length);
}

const current = new AsyncLocalStorage<string[]>();

/** Runs `fn` with `secrets` hidden by every `redact` it calls (the interceptor runs each activity so). */
export function withSecrets<T>(secrets: string[], fn: () => T): T {
  return current.run([...(current.getStore() ?? []), ...secrets], fn);
}

/** `text` with the given secrets, those of the running activity's plan, and every secret-shaped part as `***`. */
export function redact(text: string, secrets: string[] = []): string {
  return redactText(text, [...secrets, ...(current.getStore() ?? [])]);
}

/** Every string in plain data (objects, arrays) redacted; keys, numbers and other objects as they are. */
export function redactDeep<T>(value: T, secrets: string[] = []): T {
  if (typeof value === 'string') return redact(value, secrets) as T;
  if (Array.isArray(value)) return value.map((x: unknown) => redactDeep(x, secrets)) as T;
  if (value === null || typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) return value;
  return Object.fromEntries(Object.entries(value).map(([k, x]) => [k, redactDeep(x, secrets)])) as T;
}

// Deep enough for wrapped errors, bounded against cycles.
const MAX_CAUSES = 8;

/**
 * The error with its message, stack (which repeats the message), causes and failure details redacted, in place, so
 * its class, type and retry flag stay what the activity threw.
 */
export function redactError<E>(err: E, secrets: string[] = [], depth = 0): E {
  if (!(err instanceof Error) || depth > MAX_CAUSES) return err;
  const set = (key: string, value: unknown) =>
    Object.defineProperty(err, key, { value, writable: true, configurable: true, enumerable: false });
  set('message', redact(err.message, secrets));
  if (err.stack) set('stack', redact(err.stack, secrets));
  if (err.cause !== undefined)
    set(
      'cause',
      typeof err.cause === 'string' ? redact(err.cause, secrets) : redactError(err.cause, secrets, depth + 1),
    );
  if (err instanceof ApplicationFailure && err.details) set('details', redactDeep(err.details, secrets));
  return err;
}

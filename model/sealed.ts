/**
 * Sealed payloads, the workflow-safe half: what a worker's codec (lib/codec.ts) hands on in place of a payload that no
 * known key sealed, and how the workflow and activity interceptors recognise it. The codec never throws for such a
 * payload, because a decode error fails the workflow task again and again (a stuck workflow); it replaces the payload
 * with this marker, and the interceptors refuse the task at once, before any of our code runs.
 */

/** The one field of a marker object: why the payload it replaced was refused. */
export const UNSEALED_FIELD = '__moUnsealed';

/** The encoding a sealed payload's metadata names, and the metadata field with the ID of the key that sealed it. */
export const SEALED_ENCODING = 'binary/encrypted';
export const SEALED_KEY_ID_FIELD = 'encryption-key-id';

/** The value a refused payload decodes to. */
export interface UnsealedMarker {
  [UNSEALED_FIELD]: string;
}

/** The marker a worker's codec puts in place of a payload that no known key sealed. */
export function unsealedMarker(reason: string): UnsealedMarker {
  return { [UNSEALED_FIELD]: reason };
}

/** Whether `v` is a marker (an own field with a string reason; nothing inherited counts). */
export function isUnsealedMarker(v: unknown): v is UnsealedMarker {
  return (
    typeof v === 'object' &&
    v !== null &&
    Object.prototype.hasOwnProperty.call(v, UNSEALED_FIELD) &&
    typeof (v as Record<string, unknown>)[UNSEALED_FIELD] === 'string'
  );
}

/** Why a call's arguments cannot be run (the first marker's reason), or undefined when every argument was sealed. */
export function unsealedReason(args: readonly unknown[]): string | undefined {
  const marker = args.find(isUnsealedMarker);
  return marker ? marker[UNSEALED_FIELD] : undefined;
}

/** The refusal's text: the same words in a workflow's failure, an activity's failure and a refused Update. */
export function unsealedMessage(what: string, reason: string): string {
  return `${what}: input not sealed by a known key: ${reason}; nothing ran (start it with \`migrate\`, or a client with the team's codec keys)`;
}

/** Shapes a codec endpoint may have in a printed command (no quotes, spaces or Markdown to break out of it). */
const CODEC_ENDPOINT = /^https?:\/\/[A-Za-z0-9.\-:[\]]+(?::\d+)?(?:\/[A-Za-z0-9._~\-/%]*)?$/;

/** What is wrong with a codec server's URL, or undefined. */
export function codecEndpointProblem(url: string): string | undefined {
  return url.length <= 500 && CODEC_ENDPOINT.test(url)
    ? undefined
    : `expected an http(s) URL such as http://127.0.0.1:18234, got ${JSON.stringify(url.slice(0, 80))}`;
}

/**
 * The stock CLI's flags for the codec server: the endpoint, and the token by reference (the variable the stock CLI
 * also reads by itself), never its value. Empty without an endpoint, or with one that is not a plain URL.
 */
export function codecFlags(endpoint: string | undefined, auth = '"$TEMPORAL_CODEC_AUTH"'): string {
  if (!endpoint || codecEndpointProblem(endpoint)) return '';
  return ` --codec-endpoint ${endpoint} --codec-auth ${auth}`;
}

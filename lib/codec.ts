import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { defaultPayloadConverter, type DataConverter, type Payload, type PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { codecEndpointProblem, SEALED_ENCODING, SEALED_KEY_ID_FIELD, unsealedMarker } from '../model/sealed';
import { optionalEnv } from './config';

/**
 * Sealed payloads: every payload our clients and workers write is encrypted and authenticated with AES-256-GCM under
 * the newest of the team's codec keys, and named by that key's ID; any listed key opens it, so keys rotate by adding a
 * line (and later removing the old one). Keys come from the file `MO_CODEC_KEYS_FILE` names (mode 0600) or from the
 * variable `MO_CODEC_KEYS`, one `<id> <base64 of 32 bytes>` per line, newest last.
 */

/** One codec key. */
export interface CodecKey {
  id: string;
  key: Buffer;
}

/** A key file, key text or codec setting that cannot be used; the message names the variable or file and the line. */
export class CodecKeyError extends Error {
  override name = 'CodecKeyError';
}

/** A payload a client was handed that no known key sealed (a client never acts on one). */
export class UnsealedPayloadError extends Error {
  override name = 'UnsealedPayloadError';
}

const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Bound into every seal, so a ciphertext cannot be relabelled with another key's ID or reused by another scheme. */
const aad = (id: string) => Buffer.from(`mo-seal v1\0${id}`);
const utf8 = (b: Uint8Array | null | undefined) => (b ? Buffer.from(b).toString('utf8') : '');

/** Parses key text (`<id> <base64 32-byte key>` per line, `#` comments); `source` names it in errors. */
export function parseCodecKeys(text: string, source: string): CodecKey[] {
  const keys: CodecKey[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const where = `${source} line ${i + 1}`;
    const [id, b64, extra] = line.split(/\s+/);
    if (!id || !b64 || extra !== undefined)
      throw new CodecKeyError(
        `${where}: expected "<key id> <base64 of a 32-byte key>", got ${line.split(/\s+/).length} fields`,
      );
    if (!KEY_ID.test(id)) throw new CodecKeyError(`${where}: key id: expected 1 to 64 of A-Z a-z 0-9 . _ -`);
    const key = Buffer.from(b64, 'base64');
    if (key.length !== 32 || key.toString('base64') !== b64)
      throw new CodecKeyError(`${where}: key ${id}: expected the base64 of exactly 32 bytes (openssl rand -base64 32)`);
    if (keys.some((k) => k.id === id)) throw new CodecKeyError(`${where}: key id ${id} is listed twice`);
    keys.push({ id, key });
  });
  if (!keys.length) throw new CodecKeyError(`${source}: no keys (expected "<key id> <base64 of 32 bytes>" lines)`);
  return keys;
}

/** Reads a key file, refusing one that others than its owner can read or write. */
export function readCodecKeyFile(file: string): CodecKey[] {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (err) {
    throw new CodecKeyError(`MO_CODEC_KEYS_FILE ${file}: cannot read it (${(err as NodeJS.ErrnoException).code})`);
  }
  const mode = stat.mode & 0o777;
  if (mode & 0o077)
    throw new CodecKeyError(
      `MO_CODEC_KEYS_FILE ${file}: expected mode 0600 (only its owner may read the team's keys), is 0${mode.toString(8)}; run chmod 600 ${file}`,
    );
  return parseCodecKeys(fs.readFileSync(file, 'utf8'), `MO_CODEC_KEYS_FILE ${file}`);
}

/** The configured codec keys (`MO_CODEC_KEYS_FILE` or `MO_CODEC_KEYS`, the process's or the local stack's), if any. */
export function codecKeysFromEnv(): CodecKey[] | undefined {
  const file = optionalEnv('MO_CODEC_KEYS_FILE');
  const text = process.env.MO_CODEC_KEYS;
  if (file && text) throw new CodecKeyError('set MO_CODEC_KEYS_FILE or MO_CODEC_KEYS, not both');
  if (file) return readCodecKeyFile(file);
  if (text) return parseCodecKeys(text, 'MO_CODEC_KEYS');
  return undefined;
}

/**
 * What a codec does with a payload no listed key sealed: a worker hands the workflow or activity a marker that its
 * interceptors refuse (`model/sealed.ts`; throwing would fail the workflow task on every attempt), a client refuses
 * to read it, the codec server's /decode shows it as it is (a person may look at anything the namespace holds).
 */
export type UnsealedPolicy = 'mark' | 'refuse' | 'pass';

/** The payload codec: seals with the newest key, opens with any listed one. */
export class SealingCodec implements PayloadCodec {
  private readonly byId: Map<string, Buffer>;
  private readonly newest: CodecKey;

  constructor(
    keys: CodecKey[],
    private readonly unsealed: UnsealedPolicy,
  ) {
    if (!keys.length) throw new CodecKeyError('a sealing codec needs at least one key');
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
    this.newest = keys[keys.length - 1]!;
  }

  /** The ID of the key new payloads are sealed with. */
  get keyId(): string {
    return this.newest.id;
  }

  // Async, so a refusal is a rejected promise like any codec failure.
  // eslint-disable-next-line @typescript-eslint/require-await
  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => this.seal(p));
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => this.open(p));
  }

  private seal(payload: Payload): Payload {
    const { id, key } = this.newest;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(aad(id));
    const plain = temporal.api.common.v1.Payload.encode(payload).finish();
    const data = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return {
      metadata: { encoding: Buffer.from(SEALED_ENCODING), [SEALED_KEY_ID_FIELD]: Buffer.from(id) },
      data,
    };
  }

  private open(payload: Payload): Payload {
    const encoding = utf8(payload.metadata?.encoding);
    if (encoding !== SEALED_ENCODING) return this.refused(payload, `not sealed (encoding ${encoding || 'none'})`);
    const id = utf8(payload.metadata?.[SEALED_KEY_ID_FIELD]);
    const key = this.byId.get(id);
    if (!key) return this.refused(payload, `sealed by key ${JSON.stringify(id)}, which is not a listed codec key`);
    const data = Buffer.from(payload.data ?? []);
    if (data.length < IV_BYTES + TAG_BYTES) return this.refused(payload, `sealed payload of key ${id} is truncated`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES)).setAAD(aad(id));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const plain = Buffer.concat([
        decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
        decipher.final(),
      ]);
      return temporal.api.common.v1.Payload.decode(plain);
    } catch {
      return this.refused(payload, `sealed payload of key ${id} does not authenticate (altered, or another key)`);
    }
  }

  private refused(payload: Payload, reason: string): Payload {
    switch (this.unsealed) {
      case 'pass':
        return payload;
      case 'refuse':
        throw new UnsealedPayloadError(`payload not sealed by a known key: ${reason}`);
      case 'mark':
        return defaultPayloadConverter.toPayload(unsealedMarker(reason));
    }
  }
}

/**
 * Running without codec keys: the worker's `--insecure-unsealed` or `MO_INSECURE_UNSEALED=1`, for a throwaway
 * namespace only. Nothing is sealed, and unsealed input runs.
 */
export function insecureUnsealed(argv: readonly string[] = process.argv): boolean {
  return argv.includes('--insecure-unsealed') || optionalEnv('MO_INSECURE_UNSEALED') === '1';
}

/** The codec keys, or a `CodecKeyError` that says how to get them (unless running insecure: then undefined). */
export function requiredCodecKeys(): CodecKey[] | undefined {
  const keys = codecKeysFromEnv();
  if (keys || insecureUnsealed()) return keys;
  throw new CodecKeyError(
    'no codec keys: set MO_CODEC_KEYS_FILE to the team\'s key file (mode 0600, "<id> <base64 32-byte key>" lines) or MO_CODEC_KEYS to its text; `npm run stack up` makes one for the local stack (docs/sealed-payloads.md). Only for a throwaway namespace: MO_INSECURE_UNSEALED=1',
  );
}

/** The data converter of a client or worker: sealed with the configured keys (none when running insecure). */
export function sealedDataConverter(unsealed: UnsealedPolicy): DataConverter {
  const keys = requiredCodecKeys();
  return keys ? { payloadCodecs: [new SealingCodec(keys, unsealed)] } : {};
}

/** A worker's data converter: input no listed key sealed reaches the interceptors as a marker they refuse. */
export const workerDataConverter = (): DataConverter => sealedDataConverter('mark');
/** A client's data converter: it refuses to read a payload no listed key sealed. */
export const clientDataConverter = (): DataConverter => sealedDataConverter('refuse');

/** The token from `MO_CODEC_SERVER_TOKEN` or the file `MO_CODEC_SERVER_TOKEN_FILE` names. */
export function codecServerToken(): string {
  const file = optionalEnv('MO_CODEC_SERVER_TOKEN_FILE');
  const token = file ? fs.readFileSync(file, 'utf8').trim() : optionalEnv('MO_CODEC_SERVER_TOKEN');
  if (!token || token.length < 16)
    throw new CodecKeyError(
      'the codec server needs a token of at least 16 characters: set MO_CODEC_SERVER_TOKEN_FILE (a 0600 file) or MO_CODEC_SERVER_TOKEN',
    );
  return token;
}

/** The codec server's URL (`MO_CODEC_ENDPOINT`, the local stack's by default), checked; undefined when none is set. */
export function codecEndpoint(): string | undefined {
  const url = optionalEnv('MO_CODEC_ENDPOINT');
  if (!url) return undefined;
  const problem = codecEndpointProblem(url);
  if (problem) throw new CodecKeyError(`MO_CODEC_ENDPOINT: ${problem}`);
  return url;
}

/** The environment a stock `temporal` command run by us needs for the codec server (the token, never on its command line). */
export function temporalCliEnv(): NodeJS.ProcessEnv {
  return codecEndpoint() ? { ...process.env, TEMPORAL_CODEC_AUTH: `Bearer ${codecServerToken()}` } : process.env;
}

/** How a printed stock command passes the token: by the file that holds it, or the variable; never the value. */
export function codecAuthRef(): string {
  const file = optionalEnv('MO_CODEC_SERVER_TOKEN_FILE');
  return file ? `"Bearer $(cat ${file})"` : '"$TEMPORAL_CODEC_AUTH"';
}

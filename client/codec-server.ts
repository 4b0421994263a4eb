import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { codecServerToken, CodecKeyError, requiredCodecKeys, SealingCodec } from '../lib/codec';
import { optionalEnv } from '../lib/config';

/**
 * The codec server: the Temporal Web UI and the stock `temporal` CLI (`--codec-endpoint`) send it payloads to open
 * (POST /decode) or seal (POST /encode), in the codec-server JSON form `{"payloads":[{"metadata":{k:base64},
 * "data":base64}]}`. Every call needs the token: `Authorization: Bearer <token>` (the CLI's `--codec-auth`), or the
 * cookie that GET /session?token=… sets for a browser (the UI then sends it with "include cross-origin credentials").
 * Whoever holds the token can read and seal like a key holder: give it to the people who may.
 */
export interface CodecServerOptions {
  codec: PayloadCodec;
  token: string;
  /** Browser origins (the UI's) allowed to call it. */
  corsOrigins: readonly string[];
  host?: string;
  port?: number;
}

const COOKIE = 'mo_codec_token';
const MAX_BODY = 8 * 1024 * 1024;

/** Base64 in the JSON form, bytes in the SDK's. */
interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const digest = (s: string) => createHash('sha256').update(s).digest();
/** Constant-time comparison (of digests, so lengths never leak either). */
const sameToken = (given: string | undefined, token: string) =>
  given !== undefined && timingSafeEqual(digest(given), digest(token));

function presentedToken(req: http.IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) return auth.slice('Bearer '.length).trim();
  const cookie = (req.headers.cookie ?? '').split(';').map((c) => c.trim().split('='));
  const found = cookie.find(([k]) => k === COOKIE);
  return found?.[1] !== undefined ? decodeURIComponent(found[1]) : undefined;
}

function fromJson(body: unknown): Payload[] {
  if (typeof body !== 'object' || body === null) throw new Error('expected an object');
  // Proto3 JSON leaves an empty list out: `{}` is no payloads (the stock CLI sends it).
  const payloads = (body as { payloads?: unknown }).payloads ?? [];
  if (!Array.isArray(payloads)) throw new Error('payloads: expected an array of {metadata, data}');
  return payloads.map((p: JsonPayload, i) => {
    if (typeof p !== 'object' || p === null) throw new Error(`payloads[${i}]: expected an object`);
    const metadata: Record<string, Uint8Array> = {};
    for (const [k, v] of Object.entries(p.metadata ?? {})) {
      if (typeof v !== 'string') throw new Error(`payloads[${i}].metadata.${k}: expected base64 text`);
      metadata[k] = Buffer.from(v, 'base64');
    }
    if (p.data !== undefined && typeof p.data !== 'string')
      throw new Error(`payloads[${i}].data: expected base64 text`);
    return { metadata, data: Buffer.from(p.data ?? '', 'base64') };
  });
}

function toJson(payloads: Payload[]): { payloads: JsonPayload[] } {
  return {
    payloads: payloads.map((p) => ({
      metadata: Object.fromEntries(
        Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? []).toString('base64')]),
      ),
      data: Buffer.from(p.data ?? []).toString('base64'),
    })),
  };
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** CORS headers for an allowed origin (with credentials: the UI may send the session cookie). */
function corsHeaders(req: http.IncomingMessage, origins: readonly string[]): Record<string, string> {
  const origin = req.headers.origin;
  if (!origin || !origins.includes(origin)) return {};
  return {
    'Access-Control-Allow-Origin': origin,
    'Access-Control-Allow-Credentials': 'true',
    'Access-Control-Allow-Methods': 'POST, OPTIONS',
    'Access-Control-Allow-Headers': 'Content-Type, Authorization, X-Namespace',
    'Access-Control-Max-Age': '600',
    Vary: 'Origin',
  };
}

/** Answers one request (see the module's comment). */
async function handle(req: http.IncomingMessage, res: http.ServerResponse, o: CodecServerOptions): Promise<void> {
  const cors = corsHeaders(req, o.corsOrigins);
  const send = (status: number, body: string, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'Content-Type': 'application/json', ...cors, ...headers }).end(body);
  };
  const url = new URL(req.url ?? '/', 'http://codec');
  // Preflight: browsers send no credentials with it; an origin not listed gets no CORS headers and is refused.
  if (req.method === 'OPTIONS')
    return void send(req.headers.origin && !cors['Access-Control-Allow-Origin'] ? 403 : 204, '');
  if (req.method === 'GET' && url.pathname === '/session') return session(url, o, send);
  // As the protocol asks, only the URL's last part says which: the server may be mounted under any path.
  const op = url.pathname.endsWith('/encode') ? 'encode' : url.pathname.endsWith('/decode') ? 'decode' : undefined;
  if (req.method !== 'POST' || !op)
    return void send(404, JSON.stringify({ error: 'expected POST /encode or POST /decode' }));
  if (!sameToken(presentedToken(req), o.token))
    return void send(401, JSON.stringify({ error: 'a valid token is required (Authorization: Bearer …)' }), {
      'WWW-Authenticate': 'Bearer realm="codec"',
    });
  let payloads: Payload[];
  try {
    payloads = fromJson(JSON.parse(await readBody(req)));
  } catch (err) {
    return void send(400, JSON.stringify({ error: `expected {"payloads": [...]}: ${(err as Error).message}` }));
  }
  const out = op === 'encode' ? await o.codec.encode(payloads) : await o.codec.decode(payloads);
  send(200, JSON.stringify(toJson(out)));
}

/** GET /session?token=…: sets the token as an HttpOnly cookie, so a browser's UI can decode. */
function session(url: URL, o: CodecServerOptions, send: (s: number, b: string, h?: Record<string, string>) => void) {
  const token = url.searchParams.get('token') ?? undefined;
  if (!sameToken(token, o.token)) return void send(401, JSON.stringify({ error: 'wrong or missing token' }));
  send(200, JSON.stringify({ ok: 'this browser may now decode through the codec server' }), {
    'Set-Cookie': `${COOKIE}=${encodeURIComponent(token!)}; HttpOnly; SameSite=Strict; Path=/`,
  });
}

/** Starts the codec server; resolves once it listens, with its address. */
export async function startCodecServer(o: CodecServerOptions): Promise<{ server: http.Server; url: string }> {
  const server = http.createServer((req, res) => {
    handle(req, res, o).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: (err as Error).message }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, o.host ?? '127.0.0.1', () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  return { server, url: `http://${address}:${port}` };
}

/** The server's options from the environment: keys, token, UI origins (`MO_CODEC_CORS_ORIGINS`, else the stack's UI). */
export function codecServerOptionsFromEnv(): CodecServerOptions {
  const keys = requiredCodecKeys();
  if (!keys) throw new CodecKeyError('the codec server needs codec keys (MO_CODEC_KEYS_FILE or MO_CODEC_KEYS)');
  const origins = (optionalEnv('MO_CODEC_CORS_ORIGINS') ?? optionalEnv('TEMPORAL_UI_URL') ?? '')
    .split(',')
    .map((s) => s.trim().replace(/\/+$/, ''))
    .filter(Boolean);
  return { codec: new SealingCodec(keys, 'pass'), token: codecServerToken(), corsOrigins: origins };
}

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { startCodecServer } from '../../client/codec-server';
import {
  CodecKeyError,
  parseCodecKeys,
  readCodecKeyFile,
  SealingCodec,
  UnsealedPayloadError,
  type CodecKey,
} from '../../lib/codec';
import { runbookCard } from '../../model/card';
import { codecEndpointProblem, SEALED_ENCODING, unsealedReason } from '../../model/sealed';

const keyLine = (id: string) => `${id} ${randomBytes(32).toString('base64')}`;
const value = { plan: 'p', n: 1 };
const plain = (): Payload => defaultPayloadConverter.toPayload(value);
const read = (p: Payload | undefined) => (p ? defaultPayloadConverter.fromPayload(p) : undefined);
const text = (b: Uint8Array | null | undefined) => Buffer.from(b ?? []).toString('utf8');

describe('codec keys', () => {
  it('reads "<id> <base64>" lines, comments and blanks; the newest (last) seals', async () => {
    const keys = parseCodecKeys(`# team keys\n${keyLine('k1')}\n\n${keyLine('k2')}\n`, 'test');
    expect(keys.map((k) => k.id)).toEqual(['k1', 'k2']);
    const [sealed] = await new SealingCodec(keys, 'refuse').encode([plain()]);
    expect(text(sealed?.metadata?.encoding)).toBe(SEALED_ENCODING);
    expect(text(sealed?.metadata?.['encryption-key-id'])).toBe('k2');
    expect(text(sealed?.data)).not.toContain('plan');
  });

  it.each([
    ['k1 c2hvcnQ=', /test line 1: key k1: expected the base64 of exactly 32 bytes/],
    ['k1', /test line 1: expected "<key id> <base64 of a 32-byte key>"/],
    [`k/1 ${randomBytes(32).toString('base64')}`, /test line 1: key id: expected 1 to 64 of/],
    [`${keyLine('k1')}\n${keyLine('k1')}`, /test line 2: key id k1 is listed twice/],
    ['# nothing', /test: no keys/],
  ])('refuses %j, naming the line and what was expected', (bad, message) => {
    expect(() => parseCodecKeys(bad, 'test')).toThrow(message);
  });

  it('refuses a key file others can read, naming the file, its mode and the fix; reads it at 0600', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'codec-')), 'keys');
    fs.writeFileSync(file, `${keyLine('k1')}\n`, { mode: 0o644 });
    fs.chmodSync(file, 0o644);
    expect(() => readCodecKeyFile(file)).toThrow(CodecKeyError);
    expect(() => readCodecKeyFile(file)).toThrow(
      `expected mode 0600 (only its owner may read the team's keys), is 0644; run chmod 600 ${file}`,
    );
    fs.chmodSync(file, 0o600);
    expect(readCodecKeyFile(file).map((k) => k.id)).toEqual(['k1']);
  });
});

describe('sealing and rotation', () => {
  const [old, current, foreign] = ['k1', 'k2', 'x9'].map((id) => parseCodecKeys(keyLine(id), 't')[0]!) as [
    CodecKey,
    CodecKey,
    CodecKey,
  ];
  const sealedBy = async (key: CodecKey) => (await new SealingCodec([key], 'refuse').encode([plain()]))[0]!;

  it('a payload sealed with an old key opens while that key is still listed', async () => {
    const [opened] = await new SealingCodec([old, current], 'refuse').decode([await sealedBy(old)]);
    expect(read(opened)).toEqual(value);
  });

  it("a key no longer listed (or another team's): the worker marks it, the client refuses, the codec server shows it", async () => {
    const p = await sealedBy(foreign);
    const [marked] = await new SealingCodec([old, current], 'mark').decode([p]);
    expect(unsealedReason([read(marked)])).toBe('sealed by key "x9", which is not a listed codec key');
    await expect(new SealingCodec([old, current], 'refuse').decode([p])).rejects.toThrow(UnsealedPayloadError);
    expect((await new SealingCodec([current], 'pass').decode([p]))[0]).toBe(p);
  });

  it('a plain payload, a relabelled one and a tampered one never open', async () => {
    const codec = new SealingCodec([old, current], 'mark');
    const relabelled = { ...(await sealedBy(old)) };
    relabelled.metadata = { ...relabelled.metadata, 'encryption-key-id': Buffer.from('k2') };
    const tampered = await sealedBy(current);
    tampered.data = Buffer.from(tampered.data!).map((b, i) => (i === 20 ? b ^ 1 : b));
    const reasons = (await codec.decode([plain(), relabelled, tampered])).map((p) => unsealedReason([read(p)]));
    expect(reasons).toEqual([
      'not sealed (encoding json/plain)',
      'sealed payload of key k2 does not authenticate (altered, or another key)',
      'sealed payload of key k2 does not authenticate (altered, or another key)',
    ]);
  });
});

describe('codec server', () => {
  const keys = parseCodecKeys(keyLine('k1'), 't');
  const token = randomBytes(24).toString('hex');
  const origin = 'http://127.0.0.1:18233';
  let url: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    const s = await startCodecServer({ codec: new SealingCodec(keys, 'pass'), token, corsOrigins: [origin] });
    url = s.url;
    close = () => new Promise((r) => s.server.close(() => r()));
  });
  afterAll(() => close());

  const body = async () => {
    const [p] = await new SealingCodec(keys, 'refuse').encode([plain()]);
    const b64 = (b: Uint8Array | null | undefined) => Buffer.from(b ?? []).toString('base64');
    const metadata = Object.fromEntries(Object.entries(p!.metadata!).map(([k, v]) => [k, b64(v)]));
    return JSON.stringify({ payloads: [{ metadata, data: b64(p!.data) }] });
  };
  const decode = async (headers: Record<string, string>) =>
    fetch(`${url}/decode`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...headers },
      body: await body(),
    });

  it('refuses /decode without a token and with a wrong one (401), decodes with it', async () => {
    expect((await decode({})).status).toBe(401);
    expect((await decode({ Authorization: `Bearer ${token}x` })).status).toBe(401);
    const ok = await decode({ Authorization: `Bearer ${token}` });
    expect(ok.status).toBe(200);
    const { payloads } = (await ok.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
    expect(Buffer.from(payloads[0]!.metadata.encoding!, 'base64').toString()).toBe('json/plain');
    expect(JSON.parse(Buffer.from(payloads[0]!.data, 'base64').toString())).toEqual(value);
  });

  it("answers the UI origin's preflight, with credentials allowed; refuses another origin", async () => {
    const preflight = (o: string) =>
      fetch(`${url}/decode`, {
        method: 'OPTIONS',
        headers: {
          Origin: o,
          'Access-Control-Request-Method': 'POST',
          'Access-Control-Request-Headers': 'x-namespace',
        },
      });
    const ok = await preflight(origin);
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe(origin);
    expect(ok.headers.get('access-control-allow-credentials')).toBe('true');
    expect(ok.headers.get('access-control-allow-headers')).toMatch(/X-Namespace/);
    const other = await preflight('http://evil.example');
    expect(other.status).toBe(403);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('a browser session cookie from /session?token= authorises /decode; a wrong token sets none', async () => {
    expect((await fetch(`${url}/session?token=nope`)).headers.get('set-cookie')).toBeNull();
    const session = await fetch(`${url}/session?token=${token}`);
    const cookie = session.headers.get('set-cookie')!.split(';')[0]!;
    expect(session.headers.get('set-cookie')).toMatch(/HttpOnly; SameSite=Strict/);
    expect((await decode({ Cookie: cookie })).status).toBe(200);
  });

  it('refuses a body that is not {"payloads": [...]} with 400, naming the field', async () => {
    const r = await fetch(`${url}/encode`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}` },
      body: '{"payloads": {}}',
    });
    expect(r.status).toBe(400);
    expect(await r.text()).toContain('payloads: expected an array');
    // Proto3 JSON leaves an empty list out: the stock CLI sends `{}` for no payloads.
    const empty = await fetch(`${url}/decode`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}` },
      body: '{}',
    });
    expect(await empty.json()).toEqual({ payloads: [] });
  });
});

describe('the stock commands on the card', () => {
  it('carry the codec endpoint and the token only by its variable', () => {
    expect(codecEndpointProblem('http://127.0.0.1:18234')).toBeUndefined();
    expect(codecEndpointProblem("http://x' ; rm -rf /")).toMatch(/expected an http\(s\) URL/);
    const status = { migrationId: 'm1', phase: 'soak', runs: 0, trafficPercent: 100, gates: {}, compensations: [] };
    const card = (endpoint?: string) =>
      runbookCard(
        { name: 'p', approvals: {} } as never,
        { ...status, attention: 'decide' } as never,
        0,
        undefined,
        endpoint,
      );
    expect(card('http://127.0.0.1:18234')).toContain(
      'temporal workflow update execute --codec-endpoint http://127.0.0.1:18234 --codec-auth "$TEMPORAL_CODEC_AUTH" --workflow-id m1',
    );
    expect(card()).toContain('temporal workflow update execute --workflow-id m1');
    expect(card("http://x' ; rm")).toContain('temporal workflow update execute --workflow-id m1');
  });
});

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

/**
 * A local webhook receiver that records every request. `/fail` always answers 503; `/hook` answers 204, except that
 * the requests whose 0-based positions are in `failAt` (counting every request) get `failStatus` (default 500).
 */
export async function webhookReceiver(opts: { failAt?: number[]; failStatus?: number } = {}): Promise<{
  url: string;
  requests: { headers: http.IncomingHttpHeaders; body: string }[];
  close: () => Promise<void>;
}> {
  const requests: { headers: http.IncomingHttpHeaders; body: string }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const failing = opts.failAt?.includes(requests.length) ?? false;
      requests.push({ headers: req.headers, body });
      res.writeHead(req.url === '/fail' ? 503 : failing ? (opts.failStatus ?? 500) : 204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    requests,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/**
 * A local SMTP sink (with authentication, offering no STARTTLS) that records every message and every AUTH attempt
 * (the user named, whether the session was secure).
 */
export async function smtpSink(
  user: string,
  pass: string,
): Promise<{
  port: number;
  messages: { from: string; to: string[]; raw: string }[];
  auths: { user: string; secure: boolean }[];
  close: () => Promise<void>;
}> {
  const messages: { from: string; to: string[]; raw: string }[] = [];
  const auths: { user: string; secure: boolean }[] = [];
  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    authOptional: false,
    allowInsecureAuth: true,
    onAuth(auth, session, cb) {
      auths.push({ user: auth.username ?? '', secure: session.secure });
      if (auth.username === user && auth.password === pass) cb(null, { user });
      else cb(new Error('bad credentials'));
    },
    onData(stream, session, cb) {
      let raw = '';
      stream.on('data', (d: Buffer) => (raw += d.toString()));
      stream.on('end', () => {
        messages.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw,
        });
        cb();
      });
    },
    logger: false,
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.server.address() as AddressInfo).port,
    messages,
    auths,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** A TLS-terminating gRPC proxy in front of a plaintext Temporal server that demands a client certificate. */
export interface TlsProxy {
  /** `127.0.0.1:<port>`, what a client dials. */
  address: string;
  /** The name the server certificate is issued to; pass it as `serverNameOverride` / `--tls-server-name`. */
  serverName: string;
  /** PEM of the throw-away CA that signed both certificates: the clients' trust root and the proxy's client CA. */
  caFile: string;
  /** PEM client certificate (clientAuth) the proxy accepts. */
  clientCertFile: string;
  /** PKCS#8 PEM key of the client certificate. */
  clientKeyFile: string;
  /** The temporary folder holding certificates, nginx configuration and logs; removed by `stop()`. */
  dir: string;
  /** Stops nginx and removes `dir`. */
  stop(): Promise<void>;
}

const SERVER_NAME = 'localhost';
const NGINX_CANDIDATES = [process.env.MO_NGINX_PATH, '/usr/sbin/nginx', '/usr/bin/nginx'];
const INSTALL_HINT = 'install it with `apt-get update && apt-get install -y nginx` (or run `bash scripts/stack up`)';

/** Starts nginx on a free local port, terminating mTLS and forwarding gRPC to `upstream` (`host:port`, plaintext). */
export async function startTlsProxy(upstream: string, timeoutMs = 10_000): Promise<TlsProxy> {
  const nginx = findNginx();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mo-tls-proxy-'));
  let child: ChildProcess | undefined;
  try {
    const files = makeCertificates(dir);
    const port = await freePort();
    const conf = path.join(dir, 'nginx.conf');
    fs.writeFileSync(conf, nginxConf(dir, port, upstream, files));
    fs.mkdirSync(path.join(dir, 'temp'));
    // `-e` moves the error log nginx opens before it has read the configuration away from /var/log/nginx.
    const nginxProcess = spawn(nginx, ['-p', dir, '-c', conf, '-e', path.join(dir, 'error.log')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child = nginxProcess;
    let stderr = '';
    nginxProcess.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    nginxProcess.once('error', (err) => (stderr += String(err)));
    await waitForPort(port, timeoutMs, () =>
      running(nginxProcess) ? undefined : `nginx failed to start: ${stderr.trim() || readLog(dir)}`,
    );
    const { serverCertFile: _c, serverKeyFile: _k, ...clientFiles } = files;
    return {
      address: `127.0.0.1:${port}`,
      serverName: SERVER_NAME,
      ...clientFiles,
      dir,
      stop: async () => {
        await kill(nginxProcess);
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    if (child) await kill(child);
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

function running(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** SIGTERM (nginx's fast shutdown), SIGKILL after 5 s; resolves once the process has exited. */
async function kill(child: ChildProcess): Promise<void> {
  if (!running(child)) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

function findNginx(): string {
  for (const p of NGINX_CANDIDATES) {
    if (!p) continue;
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // try the next place
    }
  }
  throw new Error(`nginx is not installed (looked in ${NGINX_CANDIDATES.filter(Boolean).join(', ')}): ${INSTALL_HINT}`);
}

interface CertFiles {
  caFile: string;
  clientCertFile: string;
  clientKeyFile: string;
  serverCertFile: string;
  serverKeyFile: string;
}

/**
 * The CA, the server certificate and one client certificate, made by the script we ship for the compose stack's mTLS
 * (scripts/make-certs): the test's proxy trusts exactly what an operator's server would.
 */
function makeCertificates(dir: string): CertFiles {
  const f = (name: string) => path.join(dir, name);
  const script = path.join(__dirname, '..', '..', 'scripts', 'make-certs');
  const args = ['--server-name', SERVER_NAME, '--server-name', '127.0.0.1', '--client', 'client', '--days', '7'];
  try {
    execFileSync('bash', [script, dir, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`scripts/make-certs failed: ${stderr || String(err)}`);
  }
  return {
    caFile: f('ca.crt'),
    clientCertFile: f('client.crt'),
    clientKeyFile: f('client.key'),
    serverCertFile: f('server.crt'),
    serverKeyFile: f('server.key'),
  };
}

function nginxConf(dir: string, port: number, upstream: string, files: CertFiles): string {
  const temp = path.join(dir, 'temp');
  return `daemon off;
master_process off;
pid ${path.join(dir, 'nginx.pid')};
error_log ${path.join(dir, 'error.log')} info;
events { worker_connections 1024; }
http {
  access_log ${path.join(dir, 'access.log')};
  client_body_temp_path ${temp}/body;
  proxy_temp_path ${temp}/proxy;
  fastcgi_temp_path ${temp}/fastcgi;
  uwsgi_temp_path ${temp}/uwsgi;
  scgi_temp_path ${temp}/scgi;
  # gRPC messages may exceed nginx's 1 MB default; a worker keeps one connection for its whole life.
  client_max_body_size 0;
  keepalive_requests 1000000;
  keepalive_timeout 1h;
  http2_idle_timeout 1h;
  server {
    listen 127.0.0.1:${port} ssl http2;
    server_name ${SERVER_NAME};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate ${files.serverCertFile};
    ssl_certificate_key ${files.serverKeyFile};
    ssl_client_certificate ${files.caFile};
    ssl_verify_client on;
    location / {
      grpc_pass grpc://${upstream};
      # Temporal long-polls for up to 70 s.
      grpc_read_timeout 1h;
      grpc_send_timeout 1h;
      grpc_socket_keepalive on;
    }
  }
}
`;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, timeoutMs: number, failed: () => string | undefined): Promise<void> {
  for (const until = Date.now() + timeoutMs; ;) {
    const why = failed();
    if (why) throw new Error(why);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nginx did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function readLog(dir: string): string {
  try {
    return fs.readFileSync(path.join(dir, 'error.log'), 'utf8').trim().split('\n').slice(-5).join('\n');
  } catch {
    return '(no error log)';
  }
}

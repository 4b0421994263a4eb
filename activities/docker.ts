import Docker from 'dockerode';

/** A dockerode client for `DOCKER_HOST` (unix:// or tcp://), or the default socket when unset. */
export function dockerClient(dockerHost: string | undefined): Docker {
  if (!dockerHost) return new Docker();
  if (dockerHost.startsWith('unix://')) return new Docker({ socketPath: dockerHost.slice('unix://'.length) });
  const u = new URL(dockerHost.replace(/^tcp:/, 'http:'));
  return new Docker({ host: u.hostname, port: Number(u.port || 2375) });
}

import type Docker from 'dockerode';
import { heartbeat } from './heartbeat';

/** Label that marks every container the orchestrator manages, and the compose-style project label. */
export const MANAGED_LABEL = 'org.migration-orchestrator.managed';
export const PROJECT_LABEL = 'com.docker.compose.project';
export const SERVICE_LABEL = 'com.docker.compose.service';

/** One container of the unified pipeline. */
export interface ContainerSpec {
  service: string;
  image: string;
  command: string[];
  env?: Record<string, string>;
  /** Host folders mounted into the container: host path → container path (read-only). */
  mounts?: Record<string, string>;
  networkMode?: string;
}

/** State of one managed container, as the engine reports it. */
export interface ContainerState {
  name: string;
  id: string;
  service: string;
  running: boolean;
  status: string;
}

/** Container name for a project's service: stable, so a retried start finds the one already made. */
export const containerName = (project: string, service: string) => `${project}-${service}-1`;

/** The equivalent of `docker compose up -d` for a project: creates missing containers and starts stopped ones. */
export async function startContainers(
  docker: Docker,
  project: string,
  specs: ContainerSpec[],
): Promise<ContainerState[]> {
  for (const spec of specs) {
    const name = containerName(project, spec.service);
    let container = docker.getContainer(name);
    const info = await container.inspect().catch((err: { statusCode?: number }) => {
      if (err.statusCode === 404) return undefined;
      throw err;
    });
    if (!info) {
      container = await docker.createContainer({
        name,
        Image: spec.image,
        Cmd: spec.command,
        Env: Object.entries(spec.env ?? {}).map(([k, v]) => `${k}=${v}`),
        Labels: { [MANAGED_LABEL]: 'true', [PROJECT_LABEL]: project, [SERVICE_LABEL]: spec.service },
        HostConfig: {
          NetworkMode: spec.networkMode ?? 'host',
          Binds: Object.entries(spec.mounts ?? {}).map(([host, inside]) => `${host}:${inside}:ro`),
          RestartPolicy: { Name: 'unless-stopped' },
        },
      });
    }
    if (!info?.State.Running) await container.start().catch(ignoreStatus(304));
    heartbeat(`started ${name}`);
  }
  for (const spec of specs) await waitHealthy(docker, containerName(project, spec.service));
  return listContainers(docker, project);
}

/**
 * Waits until a container runs and, when its image defines a health check, reports healthy; a container that exits
 * instead fails the step with the end of its log.
 */
export async function waitHealthy(docker: Docker, name: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await docker.getContainer(name).inspect();
    const health = info.State.Health?.Status;
    if (info.State.Running && (health === undefined || health === 'healthy')) return;
    if (!info.State.Running && info.State.Status !== 'created' && info.State.Status !== 'restarting') {
      const logs = await docker.getContainer(name).logs({ stdout: true, stderr: true, tail: 20 });
      throw new Error(
        `container ${name} is ${info.State.Status} (exit ${info.State.ExitCode}): ${logs.toString('utf8').trim().slice(-800)}`,
      );
    }
    if (Date.now() > deadline)
      throw new Error(
        `container ${name} not healthy after ${timeoutMs} ms (state ${info.State.Status}, health ${health ?? 'none'})`,
      );
    heartbeat(`waiting for ${name}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The equivalent of `docker compose down` for a project: stops and removes its containers; none left is success. */
export async function stopContainers(docker: Docker, project: string): Promise<ContainerState[]> {
  const before = await listContainers(docker, project);
  for (const c of before) {
    const container = docker.getContainer(c.id);
    await container.stop({ t: 2 }).catch(ignoreStatus(304, 404));
    await container.remove({ force: true }).catch(ignoreStatus(404, 409));
    heartbeat(`removed ${c.name}`);
  }
  return before;
}

/** Managed containers of a project, running or not. */
export async function listContainers(docker: Docker, project: string): Promise<ContainerState[]> {
  const list = await docker.listContainers({
    all: true,
    filters: { label: [`${MANAGED_LABEL}=true`, `${PROJECT_LABEL}=${project}`] },
  });
  return list.map((c) => ({
    name: (c.Names[0] ?? '').replace(/^\//, ''),
    id: c.Id,
    service: c.Labels[SERVICE_LABEL] ?? '',
    running: c.State === 'running',
    status: c.Status,
  }));
}

function ignoreStatus(...codes: number[]) {
  return (err: Error & { statusCode?: number }) => {
    if (err.statusCode !== undefined && codes.includes(err.statusCode)) return;
    throw err;
  };
}

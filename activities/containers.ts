import { createHash } from 'node:crypto';
import type Docker from 'dockerode';
import { ErrorType, permanent } from './errors';
import { heartbeat, withHeartbeats } from './heartbeat';
import { isSecretName } from '../model/redact';
import { redact } from './redact';

/** Label that marks every container the orchestrator manages, and the compose-style project label. */
export const MANAGED_LABEL = 'org.migration-orchestrator.managed';
export const PROJECT_LABEL = 'com.docker.compose.project';
export const SERVICE_LABEL = 'com.docker.compose.service';
/** The migration that created a container: only that migration adopts, replaces or removes it. */
export const OWNER_LABEL = 'org.migration-orchestrator.migration-id';
/** One-way hash of the spec a container was created from (`specHash`): a retry adopts only what it would create. */
export const SPEC_LABEL = 'org.migration-orchestrator.spec-hash';

/**
 * Bumped when `createContainer` below starts setting something the hash does not cover (restart policy, bind mode):
 * containers made the old way are then replaced by their owner instead of adopted.
 */
const SPEC_VERSION = 1;

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

/** State of one container of a project, as the engine reports it. */
export interface ContainerState {
  name: string;
  id: string;
  service: string;
  running: boolean;
  status: string;
  /** The migration that owns it (`OWNER_LABEL`); absent on a container someone else made. */
  owner?: string;
}

/** What a removal did: the containers it removed, and those it left because another migration (or no one) owns them. */
export interface RemovalResult {
  removed: ContainerState[];
  skipped: ContainerState[];
}

/**
 * Whose containers a removal may touch: one migration's (rollback, cleanup), or, said explicitly, every container of
 * the project (`docker compose down`: the demo clearing its own target between runs).
 */
export type RemovalScope = { owner: string } | { anyOwner: true };

/** Container name for a project's service: stable, so a retried start finds the one already made. */
export const containerName = (project: string, service: string) => `${project}-${service}-1`;

/**
 * SHA-256 over everything that makes a container what it is: service, image, command, environment (names and
 * values), mounts, network. Values from `envFrom` are secrets: they enter only this one-way hash, never a label, so
 * that a rotated secret still makes the owner replace its container. (Whoever can read labels can read `Env` through
 * `docker inspect` anyway; the hash adds nothing to that.)
 */
export function specHash(spec: ContainerSpec): string {
  const sorted = (m: Record<string, string> | undefined) =>
    Object.entries(m ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const canonical = JSON.stringify([
    SPEC_VERSION,
    spec.service,
    spec.image,
    spec.command,
    sorted(spec.env),
    sorted(spec.mounts),
    spec.networkMode ?? 'host',
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}

/**
 * The equivalent of `docker compose up -d` for one migration's containers. Per container name: none → created with
 * the owner and spec labels; the owner's with the same spec → adopted (a retried deploy); the owner's with another
 * spec → removed and created again; anyone else's (another migration's, or one without an owner label) → the deploy
 * refuses, before it changes any container, naming the container and its owner.
 */
export async function startContainers(
  docker: Docker,
  project: string,
  specs: ContainerSpec[],
  owner: string,
): Promise<ContainerState[]> {
  if (!owner) throw permanent(ErrorType.InvalidInput, `deploying ${project} needs the owning migration's ID`);
  const found = await Promise.all(
    specs.map(async (spec) => {
      const name = containerName(project, spec.service);
      return { spec, name, hash: specHash(spec), info: await inspectOrUndefined(docker, name) };
    }),
  );
  for (const { name, info } of found) {
    const holder = info?.Config.Labels?.[OWNER_LABEL];
    if (info && holder !== owner)
      throw permanent(
        ErrorType.PreconditionFailed,
        `container ${name} (${info.Id.slice(0, 12)}) belongs to ${holder ? `migration ${holder}` : 'no migration (it has no owner label)'}, not to migration ${owner}: it was left as it is. ` +
          `Give this plan a compose project of its own, or remove the container once its owner is done with it.`,
      );
  }
  const ids: string[] = [];
  for (const { spec, name, hash, info } of found) {
    let existing = info;
    if (existing && existing.Config.Labels?.[SPEC_LABEL] !== hash) {
      await removeContainer(docker, existing.Id, DEFAULT_STOP_GRACE_S);
      heartbeat(`removed ${name}: its spec changed`);
      existing = undefined;
    }
    const container = existing
      ? docker.getContainer(existing.Id)
      : await docker.createContainer({
          name,
          Image: spec.image,
          Cmd: spec.command,
          Env: Object.entries(spec.env ?? {}).map(([k, v]) => `${k}=${v}`),
          Labels: {
            [MANAGED_LABEL]: 'true',
            [PROJECT_LABEL]: project,
            [SERVICE_LABEL]: spec.service,
            [OWNER_LABEL]: owner,
            [SPEC_LABEL]: hash,
          },
          HostConfig: {
            NetworkMode: spec.networkMode ?? 'host',
            Binds: Object.entries(spec.mounts ?? {}).map(([host, inside]) => `${host}:${inside}:ro`),
            RestartPolicy: { Name: 'unless-stopped' },
            // An init as PID 1 (Docker's `--init`): it passes SIGTERM on, so a program without a handler of its own
            // stops at once instead of being given the whole stop grace and killed (PID 1 ignores SIGTERM).
            Init: true,
          },
        });
    if (!existing?.State.Running) await container.start().catch(ignoreStatus(304));
    ids.push(container.id);
    heartbeat(`started ${name}`);
  }
  for (const { name } of found) await waitHealthy(docker, name);
  const mine = await listContainers(docker, project);
  return mine.filter((c) => ids.includes(c.id));
}

/** The values of a container's `NAME=value` environment whose names are secrets' (`isSecretName`). */
function secretEnvValues(env: string[]): string[] {
  return env.flatMap((e) => {
    const eq = e.indexOf('=');
    return eq > 0 && isSecretName(e.slice(0, eq)) ? [e.slice(eq + 1)] : [];
  });
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
      // Redacted before it is cut, so a cut never leaves part of a secret: the container's secret-named variables,
      // the plan's (when run as an activity), and every secret-shaped part of what it printed.
      const tail = redact(logs.toString('utf8'), secretEnvValues(info.Config.Env ?? []))
        .trim()
        .slice(-800);
      throw new Error(`container ${name} is ${info.State.Status} (exit ${info.State.ExitCode}): ${tail}`);
    }
    if (Date.now() > deadline)
      throw new Error(
        `container ${name} not healthy after ${timeoutMs} ms (state ${info.State.Status}, health ${health ?? 'none'})`,
      );
    heartbeat(`waiting for ${name}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * The equivalent of `docker compose down` for one migration: stops and removes the project's containers that the
 * scope allows, and reports the others (another migration's, or someone's without an owner label) as skipped, left
 * untouched. None left to remove is success.
 */
export async function stopContainers(
  docker: Docker,
  project: string,
  scope: RemovalScope,
  graceSeconds = DEFAULT_STOP_GRACE_S,
): Promise<RemovalResult> {
  // Every container with the project label, the orchestrator's or not: one made by hand is seen, and reported.
  const list = await docker.listContainers({ all: true, filters: { label: [`${PROJECT_LABEL}=${project}`] } });
  const states = list.map(toState);
  const mine = (c: ContainerState) => 'anyOwner' in scope || c.owner === scope.owner;
  const result: RemovalResult = { removed: states.filter(mine), skipped: states.filter((c) => !mine(c)) };
  // All at once, as `docker stop a b c` does: a rollback waits for the slowest container, not for their sum.
  await Promise.all(
    result.removed.map(async (c) => {
      await removeContainer(docker, c.id, graceSeconds);
      heartbeat(`removed ${c.name}`);
    }),
  );
  return result;
}

/** Managed containers of a project, running or not, whoever owns them. */
export async function listContainers(docker: Docker, project: string): Promise<ContainerState[]> {
  const list = await docker.listContainers({
    all: true,
    filters: { label: [`${MANAGED_LABEL}=true`, `${PROJECT_LABEL}=${project}`] },
  });
  return list.map(toState);
}

function toState(c: Docker.ContainerInfo): ContainerState {
  const owner = c.Labels[OWNER_LABEL];
  return {
    name: (c.Names[0] ?? '').replace(/^\//, ''),
    id: c.Id,
    service: c.Labels[SERVICE_LABEL] ?? '',
    running: c.State === 'running',
    status: c.Status,
    ...(owner ? { owner } : {}),
  };
}

/** Docker's own default: what a container is given to stop when the undo names no grace (undos recorded before). */
const DEFAULT_STOP_GRACE_S = 10;

/** Stops a container as `docker stop -t <grace>` does (SIGTERM, then SIGKILL after the grace), then removes it. */
async function removeContainer(docker: Docker, id: string, graceSeconds: number): Promise<void> {
  const container = docker.getContainer(id);
  await withHeartbeats(
    `stopping ${id.slice(0, 12)} (grace ${graceSeconds} s)`,
    container.stop({ t: graceSeconds }),
  ).catch(ignoreStatus(304, 404));
  await container.remove({ force: true }).catch(ignoreStatus(404, 409));
}

async function inspectOrUndefined(docker: Docker, name: string): Promise<Docker.ContainerInspectInfo | undefined> {
  return docker
    .getContainer(name)
    .inspect()
    .catch((err: { statusCode?: number }) => {
      if (err.statusCode === 404) return undefined;
      throw err;
    });
}

function ignoreStatus(...codes: number[]) {
  return (err: Error & { statusCode?: number }) => {
    if (err.statusCode !== undefined && codes.includes(err.statusCode)) return;
    throw err;
  };
}

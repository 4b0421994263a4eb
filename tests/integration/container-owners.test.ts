import { execFileSync } from 'node:child_process';
import type Docker from 'dockerode';
import { ErrorType } from '../../activities/errors';
import { dockerClient } from '../../activities/docker';
import {
  OWNER_LABEL,
  SPEC_LABEL,
  containerName,
  specHash,
  startContainers,
  stopContainers,
  type ContainerSpec,
} from '../../activities/containers';
import { config, uniq } from '../helpers/stack';

/** The docker CLI against the stack's engine: how an operator makes containers by hand. */
const cli = (...args: string[]): string =>
  execFileSync('docker', args, {
    encoding: 'utf8',
    env: { ...process.env, ...(config.dockerHost ? { DOCKER_HOST: config.dockerHost } : {}) },
  }).trim();

// A service that stops when asked (SIGTERM), as any real one does.
const idle = ['-e', "process.on('SIGTERM', () => process.exit(0)); setInterval(() => {}, 1000)"];
const scorer = (over: Partial<ContainerSpec> = {}): ContainerSpec => ({
  service: 'scorer',
  image: config.nodeImage,
  command: idle,
  networkMode: 'none',
  ...over,
});

/** A running container in the compose project, made by hand (`docker run`), with no owner label. */
function handMade(project: string, service: string, extraLabels: string[] = []): string {
  const labels = [`com.docker.compose.project=${project}`, `com.docker.compose.service=${service}`, ...extraLabels];
  return cli(
    'run',
    '-d',
    '--name',
    `${project}-${service}-1`,
    '--network',
    'none',
    ...labels.flatMap((l) => ['--label', l]),
    config.nodeImage,
    ...idle,
  );
}

const inspect = (docker: Docker, id: string) => docker.getContainer(id).inspect();
const gone = (docker: Docker, id: string) => expect(inspect(docker, id)).rejects.toMatchObject({ statusCode: 404 });

describe('containers are owned by the migration that deployed them', () => {
  const docker = dockerClient(config.dockerHost);
  const projects: string[] = [];
  const images: string[] = [];
  const newProject = () => {
    const p = `mo-own-${uniq()}`;
    projects.push(p);
    return p;
  };

  afterAll(async () => {
    for (const p of projects) await stopContainers(docker, p, { anyOwner: true });
    for (const i of images) cli('image', 'rm', '-f', i);
  });

  it('two migrations on one compose project: B refuses A’s container, each cleanup removes only its own', async () => {
    const project = newProject();
    const a = `mig-a-${uniq()}`;
    const b = `mig-b-${uniq()}`;
    const sidecar = handMade(project, 'sidecar');

    const [deployedA] = await startContainers(docker, project, [scorer()], a);
    const before = await inspect(docker, deployedA!.id);
    expect(before.State.Running).toBe(true);
    expect(before.Config.Labels[OWNER_LABEL]).toBe(a);
    expect(before.Config.Labels[SPEC_LABEL]).toBe(specHash(scorer()));

    // B's plan reuses the project, with a spec of its own (another database, say): refused, naming A.
    const specB = scorer({ env: { DATABASE_URL: 'postgres://other/b' } });
    const refusal = startContainers(docker, project, [specB], b);
    await expect(refusal).rejects.toMatchObject({
      type: ErrorType.PreconditionFailed,
      nonRetryable: true,
      message: expect.stringMatching(new RegExp(`${containerName(project, 'scorer')}.*migration ${a}`)),
    });
    // A's container was not touched: same one, still running, never restarted, its environment unchanged.
    const after = await inspect(docker, deployedA!.id);
    expect(after.State).toMatchObject({ Running: true, StartedAt: before.State.StartedAt });
    expect(after.Config.Env).toEqual(before.Config.Env);

    // B's rollback leaves A's container and the hand-made one, and says so.
    const rollbackB = await stopContainers(docker, project, { owner: b });
    expect(rollbackB.removed).toEqual([]);
    expect(rollbackB.skipped.map((c) => c.id).sort()).toEqual([deployedA!.id, sidecar].sort());
    expect((await inspect(docker, deployedA!.id)).State.Running).toBe(true);

    // A's cleanup removes A's container only.
    const cleanupA = await stopContainers(docker, project, { owner: a });
    expect(cleanupA.removed.map((c) => c.id)).toEqual([deployedA!.id]);
    await gone(docker, deployedA!.id);
    expect((await inspect(docker, sidecar)).State.Running).toBe(true);

    // With A gone, B deploys; B's cleanup removes B's and leaves the hand-made container in the same project.
    const [deployedB] = await startContainers(docker, project, [specB], b);
    const infoB = await inspect(docker, deployedB!.id);
    expect(infoB.Config.Labels[OWNER_LABEL]).toBe(b);
    expect(infoB.Config.Env).toContain('DATABASE_URL=postgres://other/b');
    const cleanupB = await stopContainers(docker, project, { owner: b });
    expect(cleanupB.removed.map((c) => c.id)).toEqual([deployedB!.id]);
    expect(cleanupB.skipped.map((c) => c.id)).toEqual([sidecar]);
    await gone(docker, deployedB!.id);
    expect((await inspect(docker, sidecar)).State.Running).toBe(true);
  });

  it('refuses a container of the expected name that has no owner label, before creating any of the others', async () => {
    const project = newProject();
    const owner = `mig-${uniq()}`;
    // Made by hand, or by the orchestrator before containers had owners: the managed label alone proves nothing.
    const foreign = handMade(project, 'scorer', ['org.migration-orchestrator.managed=true']);
    const started = (await inspect(docker, foreign)).State.StartedAt;

    await expect(
      startContainers(docker, project, [scorer({ service: 'ranker' }), scorer()], owner),
    ).rejects.toMatchObject({
      type: ErrorType.PreconditionFailed,
      nonRetryable: true,
      message: expect.stringContaining(
        `${containerName(project, 'scorer')} (${foreign.slice(0, 12)}) belongs to no migration`,
      ),
    });
    await expect(docker.getContainer(containerName(project, 'ranker')).inspect()).rejects.toMatchObject({
      statusCode: 404,
    });
    expect((await inspect(docker, foreign)).State).toMatchObject({ Running: true, StartedAt: started });

    const cleanup = await stopContainers(docker, project, { owner });
    expect(cleanup).toMatchObject({ removed: [], skipped: [{ id: foreign }] });
    expect((await inspect(docker, foreign)).State.Running).toBe(true);
  });

  it('a retry with the same spec adopts; a changed spec (image, command, secret) replaces', async () => {
    const project = newProject();
    const owner = `mig-${uniq()}`;
    const secret = `s3cret-${uniq()}`;
    const first = scorer({ env: { API_TOKEN: secret } });

    const [c1] = await startContainers(docker, project, [first], owner);
    const i1 = await inspect(docker, c1!.id);
    // The secret is in the container's environment, never in a label.
    expect(i1.Config.Env).toContain(`API_TOKEN=${secret}`);
    expect(Object.values(i1.Config.Labels).filter((v) => v.includes(secret))).toEqual([]);

    // Same owner, same spec: the very container, not restarted.
    const [again] = await startContainers(docker, project, [first], owner);
    expect(again!.id).toBe(c1!.id);
    expect((await inspect(docker, c1!.id)).State.StartedAt).toBe(i1.State.StartedAt);

    // A rotated secret: replaced, the new value inside.
    const rotated = scorer({ env: { API_TOKEN: `${secret}-2` } });
    const [c2] = await startContainers(docker, project, [rotated], owner);
    expect(c2!.id).not.toBe(c1!.id);
    await gone(docker, c1!.id);
    expect((await inspect(docker, c2!.id)).Config.Env).toContain(`API_TOKEN=${secret}-2`);

    // A new image (a distinct image ID, committed by hand) and command: replaced, visible on inspect.
    const image = `mo-test/scorer-next:${uniq()}`;
    const base = cli('create', '--network', 'none', config.nodeImage, ...idle);
    cli('commit', '--change', 'LABEL org.migration-orchestrator.test=next', base, image);
    cli('rm', base);
    images.push(image);
    const imageId = cli('image', 'inspect', '--format', '{{.Id}}', image);
    expect(imageId).not.toBe(i1.Image);
    const next = scorer({
      image,
      command: ['-e', "process.on('SIGTERM', () => process.exit(0)); setInterval(() => {}, 2000)"],
      env: { API_TOKEN: `${secret}-2` },
    });
    const [c3] = await startContainers(docker, project, [next], owner);
    expect(c3!.id).not.toBe(c2!.id);
    await gone(docker, c2!.id);
    const i3 = await inspect(docker, c3!.id);
    expect(i3.State.Running).toBe(true);
    expect(i3.Image).toBe(imageId);
    expect(i3.Config.Image).toBe(image);
    expect(i3.Config.Cmd).toEqual(next.command);
    expect(i3.Config.Labels).toMatchObject({ [OWNER_LABEL]: owner, [SPEC_LABEL]: specHash(next) });
  });
});

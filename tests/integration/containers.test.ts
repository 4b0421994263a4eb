import { dockerClient } from '../../activities/docker';
import { containerName, listContainers, startContainers, stopContainers } from '../../activities/containers';
import { config, uniq } from '../helpers/stack';

describe('containers through dockerode against the real Docker engine', () => {
  const docker = dockerClient(config.dockerHost);
  const project = `mo-smoke-${uniq()}`;
  const owner = `mig-smoke-${uniq()}`;

  afterAll(async () => {
    await stopContainers(docker, project, { anyOwner: true });
  });

  it('starts a container from the locally built image, sees it running, stops and removes it', async () => {
    const spec = {
      service: 'sleeper',
      image: config.nodeImage,
      command: ['-e', "process.on('SIGTERM', () => process.exit(0)); setInterval(() => {}, 1000)"],
      networkMode: 'none',
    };
    const started = await startContainers(docker, project, [spec], owner);
    expect(started).toHaveLength(1);
    expect(started[0]).toMatchObject({ name: containerName(project, 'sleeper'), running: true, owner });
    const inspected = await docker.getContainer(started[0]!.id).inspect();
    expect(inspected.State.Running).toBe(true);
    expect(inspected.Config.Labels['com.docker.compose.project']).toBe(project);

    // Starting again is a no-op: same container, still one.
    const again = await startContainers(docker, project, [spec], owner);
    expect(again.map((c) => c.id)).toEqual([started[0]!.id]);

    const stopped = await stopContainers(docker, project, { owner });
    expect(stopped.removed.map((c) => c.id)).toEqual([started[0]!.id]);
    expect(stopped.skipped).toEqual([]);
    expect(await listContainers(docker, project)).toEqual([]);
    await expect(docker.getContainer(started[0]!.id).inspect()).rejects.toMatchObject({ statusCode: 404 });
    // Stopping what is already gone is a success.
    expect(await stopContainers(docker, project, { owner })).toEqual({ removed: [], skipped: [] });
  });
});

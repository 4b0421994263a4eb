import path from 'node:path';
import { dockerClient } from '../../activities/docker';
import { loadPlan } from '../../client/plan';
import { imageWarnings, variableWarnings } from '../../client/start-warnings';
import type { Plan } from '../../model/plan';
import { config, uniq } from '../helpers/stack';

const DEMO = loadPlan(path.join(__dirname, '..', '..', 'plans', 'demo.yaml'));

/** The demo plan with these images for its unified containers. */
const withImages = (...images: string[]): Plan => ({
  ...DEMO,
  unifiedJob: {
    ...DEMO.unifiedJob,
    containers: images.map((image, i) => ({ ...DEMO.unifiedJob.containers[0]!, image, service: `s${i}` })),
  },
});

describe('migrate start warns of what it can see: images in a reachable engine, variables in its shell', () => {
  it('names each image the real Docker engine does not have, by its field', async () => {
    const missing = `mo-missing-${uniq()}:1`;
    const warnings = await imageWarnings(withImages(config.nodeImage, missing), dockerClient(config.dockerHost));
    expect(warnings).toEqual([
      expect.stringMatching(new RegExp(`^unifiedJob.containers\\[1\\].image ${missing} is not in the Docker engine`)),
    ]);
  });

  it('says nothing of images when no engine answers (a laptop without Docker)', async () => {
    const none = dockerClient(`unix:///tmp/mo-no-docker-${uniq()}.sock`);
    expect(await imageWarnings(withImages(`mo-missing-${uniq()}:1`), none)).toEqual([]);
  });

  it("names the variables unset here only when this shell has some of the plan's", () => {
    const container = { ...DEMO.unifiedJob.containers[0]!, envFrom: { API_TOKEN: 'MO_TEST_API_TOKEN' } };
    const plan: Plan = { ...DEMO, unifiedJob: { ...DEMO.unifiedJob, containers: [container] } };
    const db = {
      [DEMO.target.databaseUrlEnv]: 'postgres://x@h/db',
      [DEMO.target.metricsDatabaseUrlEnv!]: 'postgres://reader@h/db',
    };
    expect(variableWarnings(plan, db)).toEqual([
      'MO_TEST_API_TOKEN is not set here, though other variables of the plan are: the workers that read it need it set',
    ]);
    expect(variableWarnings(plan, { ...db, MO_TEST_API_TOKEN: 't' })).toEqual([]);
    // None set: this shell is not the workers' (an operator's laptop), so nothing can be told.
    expect(variableWarnings(plan, {})).toEqual([]);
  });
});

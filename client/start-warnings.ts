import type Docker from 'dockerode';
import { dockerClient } from '../activities/docker';
import { planEnvNames } from '../activities/redact';
import type { Plan } from '../model/plan';

/** How long `migrate start` gives a Docker engine to answer before it leaves images unchecked. */
const DOCKER_PING_MS = 1_500;

/**
 * What `migrate start` can see from where it runs, as warnings (the preflight on the workers decides): the plan's
 * variables unset here, when this shell evidently shares the workers' environment (at least one of them is set), and
 * images missing from a Docker engine this shell reaches. Nothing is changed and no value is printed.
 */
export async function startWarnings(plan: Plan, dockerHost: string | undefined): Promise<string[]> {
  return [...variableWarnings(plan), ...(await imageWarnings(plan, dockerClient(dockerHost)))];
}

/** The plan's variables not set in this environment (only if some are: a laptop without any is no evidence). */
export function variableWarnings(plan: Plan, env: NodeJS.ProcessEnv = process.env): string[] {
  const names = [...new Set(planEnvNames(plan))].sort();
  const unset = names.filter((n) => !env[n]);
  if (unset.length === 0 || unset.length === names.length) return [];
  return unset.map(
    (n) => `${n} is not set here, though other variables of the plan are: the workers that read it need it set`,
  );
}

/** The unified containers' images a reachable Docker engine does not have. */
export async function imageWarnings(plan: Plan, docker: Docker): Promise<string[]> {
  const ping = docker.ping().then(
    () => true,
    () => false,
  );
  const reachable = await Promise.race([
    ping,
    new Promise<false>((r) => setTimeout(() => r(false), DOCKER_PING_MS).unref()),
  ]);
  if (!reachable) return [];
  const found = await Promise.all(
    plan.unifiedJob.containers.map(async (c, i) => ({
      i,
      image: c.image,
      present: await docker
        .getImage(c.image)
        .inspect()
        .then(
          () => true,
          () => false,
        ),
    })),
  );
  return found
    .filter((f) => !f.present)
    .map(
      (f) =>
        `unifiedJob.containers[${f.i}].image ${f.image} is not in the Docker engine this shell reaches (build or load it there before the deploy; the preflight checks the target's engine)`,
    );
}

import type Docker from 'dockerode';
import { backupDatabase } from './backup';
import type { ContainerSpec } from './containers';
import { listContainers, startContainers, stopContainers } from './containers';

/** What the activities need from the worker: built once, passed in (tests pass the same real dependencies). */
export interface ActivityDeps {
  docker: Docker;
}

/** All activities of the orchestrator, bound to their dependencies. */
export function createActivities(deps: ActivityDeps) {
  return {
    backupDatabase,
    startContainers: (project: string, specs: ContainerSpec[]) => startContainers(deps.docker, project, specs),
    stopContainers: (project: string) => stopContainers(deps.docker, project),
    listContainers: (project: string) => listContainers(deps.docker, project),
  };
}

/** The activity interface workflows proxy. */
export type Activities = ReturnType<typeof createActivities>;

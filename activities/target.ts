import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import { migrationIdProblem } from '../model/constants';
import type { Plan } from '../model/plan';
import { agentQueueFor } from '../model/routing';
import { HOST_SYSTEMS, type TargetSystem } from '../model/constants';
import type { CheckResult } from '../model/status';
import { envSecrets, redact } from './redact';
import { refusedSql, usesSince } from './database';
import { connect, inReadOnlyTransaction, oneStatement, pgTargetFromEnv, quoteIdent } from './database';
import { getTrafficPercent } from './traffic';
import type { FoundJob, OwnerInput } from './scheduler';

/** What the preflight checks the plan against: the plan, and when this run started (to tell its traces from others'). */
export interface TargetInput {
  plan: Plan;
  /** The workflow's start time (ISO): ledger rows or backups of this ID from before it belong to an earlier run. */
  startedAt: string;
  /** Only the probes of these systems (the agent's host, or the central workers'); absent: all of them. */
  systems?: TargetSystem[];
}

/** What checking the target needs from the worker. */
export interface TargetDeps {
  docker: Docker;
  findLegacyJobs: (i: {
    scheduler: Plan['scheduler'];
    jobs: Plan['legacyJobs'];
    migrationId?: string;
  }) => Promise<FoundJob[]>;
  /** Another migration that already schedules a unified job of the plan's name, in words, or undefined. */
  findUnifiedOwner: (i: OwnerInput) => Promise<string | undefined>;
}

/** Every environment variable the plan names (fields ending in `Env`, and the values of `envFrom`). */
export function planEnvNames(v: unknown, key = ''): string[] {
  if (typeof v === 'string') return /Env$/.test(key) ? [v] : [];
  if (Array.isArray(v)) return v.flatMap((x) => planEnvNames(x));
  if (v === null || typeof v !== 'object') return [];
  return Object.entries(v).flatMap(([k, x]) =>
    k === 'envFrom' && x && typeof x === 'object' ? Object.values(x as Record<string, string>) : planEnvNames(x, k),
  );
}

/** One pass/fail finding about the target as a check result (value 1: as the plan needs it). */
function finding(name: string, ok: boolean, detail: string, t0: number): CheckResult {
  return {
    name,
    value: ok ? 1 : 0,
    op: '==',
    threshold: 1,
    passed: ok,
    ...(ok ? {} : { error: detail }),
    detail,
    durationMs: Date.now() - t0,
  };
}

/** Runs one probe; a probe that throws is a failed finding with its message. */
async function probe(name: string, run: () => Promise<string>): Promise<CheckResult> {
  const t0 = Date.now();
  try {
    return finding(name, true, await run(), t0);
  } catch (err) {
    return finding(name, false, (err as Error).message, t0);
  }
}

async function exists(p: string): Promise<boolean> {
  return fs.stat(p).then(
    () => true,
    () => false,
  );
}

/** Fails unless `program` (a path, or a name on the worker's PATH) is an executable file. */
async function executable(program: string): Promise<string> {
  const candidates = program.includes('/')
    ? [program]
    : (process.env.PATH ?? '')
        .split(':')
        .filter(Boolean)
        .map((d) => path.join(d, program));
  for (const c of candidates)
    if (
      await fs.access(c, fsConstants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return c;
  throw new Error(`router command ${JSON.stringify(program)} is not an executable on the worker`);
}

/** The database's size in bytes (what its dump needs at most, compressed dumps need less). */
async function databaseBytes(databaseUrlEnv: string): Promise<number> {
  const db = await connect(pgTargetFromEnv(databaseUrlEnv));
  try {
    const r = await db.query<{ n: string }>('select pg_database_size(current_database())::text as n');
    return Number(r.rows[0]!.n);
  } finally {
    await db.end().catch(() => undefined);
  }
}

/** Rows of this migration ID in the ledger written before this run started (an earlier run of the same ID). */
async function earlierLedgerRows(plan: Plan, migrationId: string, startedAt: string): Promise<number> {
  const db = await connect(pgTargetFromEnv(plan.ledger.databaseUrlEnv));
  try {
    const t = await db.query<{ t: string | null }>('select to_regclass($1)::text as t', [plan.ledger.table]);
    if (!t.rows[0]?.t) return 0;
    const r = await db.query<{ n: string }>(
      `select count(*)::text as n from ${quoteIdent(plan.ledger.table)} where migration_id = $1 and at < $2`,
      [migrationId, startedAt],
    );
    return Number(r.rows[0]!.n);
  } finally {
    await db.end().catch(() => undefined);
  }
}

const MiB = 1024 * 1024;

/** One check of the target, run where its system is (see `model/routing.ts`). */
interface TargetProbe {
  /** `router`: where the router runs (commands for a command router, else central); `variables`: every system. */
  system: TargetSystem | 'router' | 'variables';
  run: (
    deps: TargetDeps,
    migrationId: string,
    input: TargetInput,
    systems: Set<TargetSystem>,
  ) => Promise<CheckResult[]>;
}

/**
 * The variables each system's activities read: the engine's for `envFrom`, the database URL for backups, every other
 * variable the plan names (the target database's too, for the ledger, the metrics and the routing table) centrally.
 */
function envNamesFor(plan: Plan, system: TargetSystem): string[] {
  if (system === 'containers')
    return [...new Set(plan.unifiedJob.containers.flatMap((c) => Object.values(c.envFrom ?? {})))].sort();
  if (system === 'backup') return [plan.target.databaseUrlEnv];
  if (system === 'central') {
    const withoutEnvFrom = {
      ...plan,
      unifiedJob: { ...plan.unifiedJob, containers: plan.unifiedJob.containers.map(({ envFrom: _, ...c }) => c) },
    };
    return [...new Set(planEnvNames(withoutEnvFrom))].sort();
  }
  return [];
}

/** The folder, or the nearest folder above it that exists (the step creates the rest), written to and cleaned. */
async function writableFolder(folder: string): Promise<string> {
  let dir = folder;
  while (!(await exists(dir)) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  const probeFile = path.join(dir, `.mo-write-probe-${process.pid}`);
  await fs.writeFile(probeFile, 'probe');
  await fs.rm(probeFile, { force: true });
  return dir;
}

const PROBES: TargetProbe[] = [
  {
    // Backups of the ID are files on the backup host.
    system: 'backup',
    run: async (_deps, migrationId, { plan }) => [
      await probe('target: migration ID unused', async () => {
        const bad = migrationIdProblem(migrationId);
        if (bad) throw new Error(`migration ID: ${bad}`);
        const dir = path.join(plan.target.backupDir, migrationId);
        const files = await fs.readdir(dir).catch(() => [] as string[]);
        if (files.length)
          throw new Error(
            `migration ID ${migrationId} was used before: ${dir} holds ${files.sort().join(', ')} (start with a new --id)`,
          );
        return `no backups of ${migrationId} from an earlier run`;
      }),
    ],
  },
  {
    // The ledger is the central workers': rows of the ID from before this run belong to an earlier run.
    system: 'central',
    run: async (_deps, migrationId, { plan, startedAt }) => [
      await probe('target: migration ID unused in the ledger', async () => {
        const rows = await earlierLedgerRows(plan, migrationId, startedAt);
        if (rows)
          throw new Error(
            `migration ID ${migrationId} was used before: the ledger ${plan.ledger.table} has ${rows} row(s) of it from before this run`,
          );
        return `no ledger rows of ${migrationId} from an earlier run`;
      }),
    ],
  },
  {
    system: 'scheduler',
    run: async (deps, migrationId, { plan }) => {
      const t0 = Date.now();
      const { scheduler, legacyJobs, unifiedJob } = plan;
      const jobs = await deps.findLegacyJobs({ scheduler, jobs: legacyJobs, migrationId }).catch((err: Error) =>
        // The scheduler cannot be read at all (no such crontab user, Temporal unreachable): no job is found.
        legacyJobs.map((j) => ({ name: j.name, found: false, detail: `${j.name}: ${err.message}` })),
      );
      // A unified job of this name that another migration still schedules: two would run, and undo each other.
      const owned = await probe(`target: unified job ${unifiedJob.name} not another migration's`, async () => {
        const owner = await deps.findUnifiedOwner({ migrationId, scheduler, job: unifiedJob });
        if (owner) throw new Error(owner);
        return `no other migration schedules a unified job ${unifiedJob.name}`;
      });
      return [...jobs.map((job) => finding(`target: legacy job ${job.name} found`, job.found, job.detail, t0)), owned];
    },
  },
  {
    system: 'repository',
    run: async (_deps, _id, { plan }) => {
      const paths = [...plan.legacyJobs.flatMap((j) => (j.script ? [j.script] : [])), ...plan.archive.docs];
      return Promise.all(
        paths.map((p) =>
          probe(`target: ${p} in the repository`, async () => {
            if (!(await exists(path.join(plan.target.repository, p))))
              throw new Error(`${p} does not exist in ${plan.target.repository}`);
            return `${p} exists`;
          }),
        ),
      );
    },
  },
  {
    system: 'containers',
    run: async (deps, _id, { plan }) =>
      Promise.all(
        [...new Set(plan.unifiedJob.containers.map((c) => c.image))].map((image) =>
          probe(`target: image ${image}`, async () => {
            const info = await deps.docker
              .getImage(image)
              .inspect()
              .catch((err: Error & { statusCode?: number }) => {
                throw new Error(
                  err.statusCode === 404
                    ? `image ${image} is not in the Docker engine`
                    : `image ${image}: ${err.message}`,
                );
              });
            return `image ${image} (${info.Id.slice(0, 19)})`;
          }),
        ),
      ),
  },
  {
    // The variables this worker's activities read (all of them when every system is here).
    system: 'variables',
    run: (_deps, _id, { plan, systems: asked }, systems) => {
      const names = [...new Set([...systems].flatMap((sys) => envNamesFor(plan, sys)))].sort();
      if (!names.length && asked) return Promise.resolve([]);
      const unset = names.filter((n) => !process.env[n]);
      const where = asked ? ` (for ${[...systems].join(', ')})` : '';
      return Promise.resolve([
        finding(
          `target: environment variables set${where}`,
          unset.length === 0,
          unset.length
            ? `not set on the worker: ${unset.join(', ')}`
            : `${names.length} set: ${names.join(', ') || '(none named)'}`,
          Date.now(),
        ),
      ]);
    },
  },
  {
    // A command router is read on the commands host, the routing table centrally.
    system: 'router',
    run: async (_deps, _id, { plan }) => [
      await probe('target: router works', async () => {
        // A command router: its program must be there to run (running it would change the routing).
        if (plan.traffic.router.kind === 'command') await executable(plan.traffic.router.command[0] ?? '');
        const percent = await getTrafficPercent({
          router: plan.traffic.router,
          databaseUrlEnv: plan.target.databaseUrlEnv,
        });
        return `the ${plan.traffic.router.kind} router reads ${percent}% unified`;
      }),
    ],
  },
  {
    // The gates' SQL, run once now as it will run at every gate (one statement, read only, rolled back): a metric that
    // writes or holds several statements is refused here, before any change, not at a gate half-way through the
    // traffic shift (where its refusal would fail the step and roll back).
    system: 'central',
    run: async (_deps, _id, { plan }) => {
      const sql = [...plan.metrics, ...plan.successMetrics].filter((m) => m.measure.kind === 'sql');
      if (!sql.length) return [];
      return [
        await probe('target: gate SQL is read-only, one statement', async () => {
          const notYet: string[] = [];
          for (const m of sql) {
            const problem = await readOnlyOnce(m.name, m.measure as SqlMeasure, plan.target.databaseUrlEnv);
            if (problem) notYet.push(`${m.name} (${problem})`);
          }
          const ran = `${sql.length - notYet.length} of ${sql.length} metric queries ran read-only`;
          return notYet.length ? `${ran}; not runnable yet, so not proven: ${notYet.join(', ')}` : ran;
        }),
      ];
    },
  },
  {
    system: 'backup',
    run: async (_deps, _id, { plan }) => [
      await probe('target: backup folder writable with room', async () => {
        const dir = await writableFolder(plan.target.backupDir);
        const st = await fs.statfs(dir);
        const free = st.bavail * st.bsize;
        const need = await databaseBytes(plan.target.databaseUrlEnv);
        // Two dumps (initial and pre-cutover) and the scratch database each verification restores into.
        if (free < need * 2)
          throw new Error(
            `${plan.target.backupDir} (on ${dir}) has ${(free / MiB).toFixed(0)} MiB free; two dumps of the database (${(need / MiB).toFixed(0)} MiB) need more`,
          );
        return `${plan.target.backupDir} writable (${dir}), ${(free / MiB).toFixed(0)} MiB free for a ${(need / MiB).toFixed(1)} MiB database`;
      }),
    ],
  },
  {
    // The crontab edits keep the crontab as it was under the backup folder of the cron host: when that is another
    // host than the backup's, its folder is checked there too.
    system: 'scheduler',
    run: async (_deps, _id, { plan }) =>
      plan.scheduler.kind === 'crontab' && agentQueueFor(plan, 'scheduler') !== agentQueueFor(plan, 'backup')
        ? [
            await probe('target: crontab saves folder writable', async () => {
              const dir = await writableFolder(plan.target.backupDir);
              return `${plan.target.backupDir} writable (${dir}) for the saved crontabs`;
            }),
          ]
        : [],
  },
];

type SqlMeasure = Extract<Plan['metrics'][number]['measure'], { kind: 'sql' }>;

/**
 * Runs one metric's query as the gates will (its value unused here). PostgreSQL's refusal (more than one statement,
 * a write) fails the probe, naming the metric; any other error (a table the unified pipeline creates at deploy) is
 * returned as why the query could not be proven yet.
 */
async function readOnlyOnce(name: string, m: SqlMeasure, databaseUrlEnv: string): Promise<string | undefined> {
  const db = await connect(pgTargetFromEnv(m.databaseUrlEnv ?? databaseUrlEnv));
  try {
    const values = usesSince(m.query) ? [new Date(Date.now() - 3_600_000).toISOString()] : [];
    await inReadOnlyTransaction(db, () => db.query(oneStatement({ text: m.query, values })));
    return undefined;
  } catch (err) {
    const refused = refusedSql(`metric ${name}`, err);
    if (refused !== err) throw refused;
    return (err as Error).message;
  } finally {
    await db.end().catch(() => undefined);
  }
}

/**
 * Checks the plan against the target before the go gate, changing nothing: every legacy job found exactly once,
 * every script and doc path in the repository, every image in the engine, every variable the plan names set on the
 * worker, the router readable, the backup folder writable with room for a dump, and the migration ID unused.
 * Each missing thing is its own failed finding, named; messages are redacted of the variables' values.
 * `input.systems` limits it to the probes of those systems (an agent checks its host's, the central workers the
 * rest); absent, every probe runs here.
 */
export async function checkTarget(deps: TargetDeps, migrationId: string, input: TargetInput): Promise<CheckResult[]> {
  const { plan } = input;
  const systems = new Set<TargetSystem>(input.systems ?? ['central', ...HOST_SYSTEMS]);
  const routerSystem: TargetSystem = plan.traffic.router.kind === 'command' ? 'commands' : 'central';
  const here = (sys: TargetSystem | 'router' | 'variables') =>
    systems.has(sys === 'router' ? routerSystem : (sys as TargetSystem));
  const results: CheckResult[] = [];
  for (const p of PROBES)
    if (p.system === 'variables' || here(p.system)) results.push(...(await p.run(deps, migrationId, input, systems)));
  const secrets = envSecrets([...new Set(planEnvNames(plan))]);
  return results.map((r) => ({
    ...r,
    detail: redact(r.detail, secrets),
    ...(r.error ? { error: redact(r.error, secrets) } : {}),
  }));
}

import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type Docker from 'dockerode';
import { migrationIdProblem } from '../model/constants';
import { routeOf, type Plan } from '../model/plan';
import { agentQueueFor } from '../model/routing';
import { HOST_SYSTEMS, type TargetSystem } from '../model/constants';
import type { CheckResult } from '../model/status';
import { envSecrets, planEnvNames, redact } from './redact';
import { DEFAULT_STATEMENT_TIMEOUT_MS, refuseActingSql, refusedSql, statementTimedOut, usesSince } from './database';
import { connect, inReadOnlyTransaction, oneStatement, pgTargetFromEnv, quoteIdent } from './database';
import { readTraffic } from './traffic';
import { listContainers } from './containers';
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
const mib = (bytes: number) => `${(bytes / MiB).toFixed(0)} MiB`;

/** This host's own addresses: a server that answers on one of them runs here. */
function localAddresses(): Set<string> {
  const out = new Set(['127.0.0.1', '::1']);
  for (const list of Object.values(os.networkInterfaces())) for (const a of list ?? []) out.add(a.address);
  return out;
}

/** How much room the server of `envName` has where it keeps its databases, or why this worker cannot tell. */
type ServerRoom = { dir: string; free: number } | { unknown: string };

/**
 * The free space of the data directory of the server `envName` connects to, when that server is on this host (a unix
 * socket, or one of this host's addresses) and our role may read `data_directory`: a database copy made by `create
 * database` and `pg_restore` lands there (with the WAL it writes). A server elsewhere cannot be measured from here.
 */
async function serverRoom(envName: string): Promise<ServerRoom> {
  const db = await connect(pgTargetFromEnv(envName));
  let addr: string | null, dir: string | null;
  try {
    // pg_settings hides data_directory from a role that may not read it (current_setting would fail).
    const r = await db.query<{ addr: string | null; dir: string | null }>(
      `select host(inet_server_addr()) as addr, (select setting from pg_settings where name = 'data_directory') as dir`,
    );
    ({ addr, dir } = r.rows[0]!);
  } finally {
    await db.end().catch(() => undefined);
  }
  if (addr !== null && !/^127\./.test(addr) && !localAddresses().has(addr.replace(/^::ffff:/, '')))
    return { unknown: `its server (${addr}) is not on this host` };
  if (!dir) return { unknown: 'its role may not read the data directory (data_directory)' };
  const st = await fs.statfs(dir).catch(() => undefined);
  if (!st) return { unknown: `its data directory ${dir} is not visible on this host` };
  return { dir, free: st.bavail * st.bsize };
}

/**
 * Whether the server the verifying restore copies the database to has room for the copy (`need` bytes): the plan's
 * `target.backupVerifyDatabaseUrlEnv` server, else the target's own, where a full disk stops production. Where this
 * worker cannot tell, it says so and passes, naming the plan field that takes the question away.
 */
async function verifyRoom(plan: Plan, need: number): Promise<string> {
  const env = plan.target.backupVerifyDatabaseUrlEnv;
  const where = env ? `the verifying restore's server ($${env})` : `the target's database server`;
  const room = await serverRoom(env ?? plan.target.databaseUrlEnv);
  if ('unknown' in room) {
    const avoid = env ? '' : `; name another server for it with target.backupVerifyDatabaseUrlEnv`;
    return `could not tell whether ${where} has room for the verifying copy (${mib(need)}): ${room.unknown}${avoid}`;
  }
  if (room.free < need)
    throw new Error(
      `${where} has ${mib(room.free)} free in ${room.dir}, less than the verifying restore's copy of the database (${mib(need)}) needs: free space there, or name another server for it with target.backupVerifyDatabaseUrlEnv`,
    );
  return `${where} has ${mib(room.free)} free in ${room.dir} for the verifying copy`;
}

/** The predefined roles whose members can write server files or run programs from SQL. */
const PRIVILEGED_ROLES = ['pg_execute_server_program', 'pg_write_server_files'];

/** Every database variable gate and check SQL connects with (a check's own, else the target's). */
function sqlUrlEnvs(plan: Plan): string[] {
  const checks = [...plan.metrics, ...plan.successMetrics, ...plan.preflight, ...plan.rollback.checks];
  return [
    ...new Set(
      checks.flatMap((c) => (c.measure.kind === 'sql' ? [c.measure.databaseUrlEnv ?? plan.target.databaseUrlEnv] : [])),
    ),
  ].sort();
}

/** Why the role `envName` connects as could act beyond reading (superuser, a member of a file/program role), or ''. */
async function privilegedRole(envName: string): Promise<string> {
  const db = await connect(pgTargetFromEnv(envName));
  try {
    const r = await db.query<{ role: string; super: boolean; groups: string[] }>(
      `select current_user::text as role, r.rolsuper as super,
              array(select g.rolname::text from pg_roles g
                     where g.rolname = any($1) and pg_has_role(current_user, g.oid, 'member') order by 1) as groups
         from pg_roles r where r.rolname = current_user`,
      [PRIVILEGED_ROLES],
    );
    const row = r.rows[0];
    if (!row) return '';
    const why = row.super ? 'a superuser' : row.groups.length ? `a member of ${row.groups.join(' and ')}` : '';
    return why ? `${envName} connects as role "${row.role}", ${why}` : '';
  } finally {
    await db.end().catch(() => undefined);
  }
}

/**
 * The role check of gate and check SQL: a role that can write server files or run programs fails the preflight,
 * unless the plan allows it for a disposable target (then a warning).
 */
async function sqlRoleFinding(plan: Plan, envs: string[]): Promise<CheckResult> {
  const t0 = Date.now();
  const name = 'target: SQL role cannot write files or run programs';
  try {
    const privileged = (await Promise.all(envs.map(privilegedRole))).filter(Boolean);
    if (!privileged.length) return finding(name, true, `${envs.join(', ')}: no superuser, no file or program role`, t0);
    const what = `${privileged.join('; ')}: gate and check SQL run as it could write server files and run programs`;
    if (plan.target.allowPrivilegedSqlRole)
      return { ...finding(name, true, what, t0), warning: `${what} (allowed by target.allowPrivilegedSqlRole)` };
    return finding(
      name,
      false,
      `${what}. Connect that SQL as a read-only role (LOGIN, SELECT on the tables it reads, nothing more), named by target.metricsDatabaseUrlEnv; or, for a disposable target only, set target.allowPrivilegedSqlRole: true`,
      t0,
    );
  } catch (err) {
    return finding(name, false, (err as Error).message, t0);
  }
}

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
  if (system === 'backup')
    return [
      plan.target.databaseUrlEnv,
      ...(plan.target.backupVerifyDatabaseUrlEnv ? [plan.target.backupVerifyDatabaseUrlEnv] : []),
    ];
  if (system === 'central') {
    // The verifying restore's server is the backup host's alone.
    const { backupVerifyDatabaseUrlEnv: _verify, ...target } = plan.target;
    const withoutEnvFrom = {
      ...plan,
      target,
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
  // A fresh folder, not a file: creating it proves the folder writable and follows no symlink planted in the way.
  await fs.rmdir(await fs.mkdtemp(path.join(dir, '.mo-write-probe-')));
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
    // Another migration's containers in the compose project: found now, before the go gate and the backup, not at the
    // deploy (where the refusal rolls the new migration back).
    system: 'containers',
    run: async (deps, migrationId, { plan }) => [
      await probe('target: compose project free', async () => {
        const project = plan.target.composeProject;
        const others = (await listContainers(deps.docker, project)).filter((c) => c.owner !== migrationId);
        if (others.length)
          throw new Error(
            `compose project ${project} (target.composeProject) holds ${others
              .map((c) => `${c.name} of ${c.owner ? `migration ${c.owner}` : 'no migration (no owner label)'}`)
              .join(', ')}: give this plan a compose project of its own, or remove them once their owner is done`,
          );
        return `compose project ${project} holds no other migration's containers`;
      }),
    ],
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
    run: async (_deps, migrationId, { plan }) => [
      await probe('target: router works', async () => {
        // A command router: its program must be there to run (running it would change the routing).
        if (plan.traffic.router.kind === 'command') await executable(plan.traffic.router.command[0] ?? '');
        const read = await readTraffic({
          router: plan.traffic.router,
          databaseUrlEnv: plan.target.databaseUrlEnv,
          migrationId,
        });
        // Another migration's route: refused now, before the go gate, not at the first traffic step.
        if (read.refusal) throw new Error(read.refusal);
        return `the ${plan.traffic.router.kind} router reads ${read.percent}% unified on route ${routeOf(plan.traffic.router)}`;
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
    // Who gate and check SQL runs as: no role that can act on the server's files or programs.
    system: 'central',
    run: async (_deps, _id, { plan }) => {
      const envs = sqlUrlEnvs(plan);
      return envs.length ? [await sqlRoleFinding(plan, envs)] : [];
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
        // Two dumps (initial and pre-cutover) here; the scratch database each verification restores into is on the
        // database server (`verifyRoom`).
        if (free < need * 2)
          throw new Error(
            `${plan.target.backupDir} (on ${dir}) has ${mib(free)} free; two dumps of the database (${mib(need)}) need more`,
          );
        const room = await verifyRoom(plan, need);
        return `${plan.target.backupDir} writable (${dir}), ${mib(free)} free for a ${(need / MiB).toFixed(1)} MiB database; ${room}`;
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
  refuseActingSql(`metric ${name}`, m.query);
  const db = await connect(pgTargetFromEnv(m.databaseUrlEnv ?? databaseUrlEnv));
  const timeoutMs = m.timeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS;
  try {
    const values = usesSince(m.query) ? [new Date(Date.now() - 3_600_000).toISOString()] : [];
    await inReadOnlyTransaction(db, () => db.query(oneStatement({ text: m.query, values })), undefined, timeoutMs);
    return undefined;
  } catch (err) {
    // As slow now as at every gate: refused here, before any change.
    if (statementTimedOut(err))
      throw new Error(`metric ${name}: its SQL ran past its statement timeout of ${timeoutMs} ms`);
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
    ...(r.warning ? { warning: redact(r.warning, secrets) } : {}),
  }));
}

import fs from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { getTrafficPercent } from '../activities/traffic';
import { connectClient } from '../client/connection';
import { loadPlan } from '../client/plan';
import {
  applyStackEnv,
  loadConfig,
  projectRoot,
  requireEnv,
  temporalCliArgs,
  workflowUiUrl,
  type StackConfig,
} from '../lib/config';
import { codecAuthRef, codecEndpoint } from '../lib/codec';
import { planDigest } from '../model/signatures';
import { startWorkerProcess, type WorkerProcess } from '../lib/worker-process';
import { isFinalPhase, WorkflowType } from '../model/constants';
import type { MigrationStatus } from '../model/status';
import type { Phase } from '../model/constants';
import type { ApproveArgs, GateState } from '../model/status';
import { approveUpdate, rollbackSignal, statusQuery } from '../workflows/definitions';
import { rollbackWorkflowId } from '../model/status';
import { signRequest } from '../lib/signing';
import { shellCommand } from '../model/format';
import { claimFor } from '../model/auth';
import { DEMO_TRUST_FILE, demoApprover, demoKeyFile, demoSigner, demoStartProof, ensureDemoKeys } from './keys';
import { planDetails } from '../model/card';
import type { migrationWorkflow } from '../workflows/migration';
import type { GateName, Plan } from '../model/plan';
import {
  integrity,
  setupDemoTarget,
  startProcess,
  stopProcess,
  withDb,
  type CrontabStyle,
  type DemoTarget,
} from './target';

/** The database `runDemo` makes (anew, each run) for the demo system, on the stack's PostgreSQL. */
/** The demo target's database (`MO_DEMO_DATABASE` moves it: the tests give each Jest worker its own). */
export const DEMO_DATABASE = process.env.MO_DEMO_DATABASE ?? 'mo_demo_target';

const FAULTS = ['error-spike', 'slow', 'divergent'] as const;
type Fault = (typeof FAULTS)[number];

function parseArgs(argv: string[]): DemoOptions {
  const out: DemoOptions = {
    manual: false,
    plan: path.join(projectRoot, 'plans', 'demo.yaml'),
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--manual') out.manual = true;
    else if (a === '--fault') {
      const f = argv[++i] as Fault;
      if (!FAULTS.includes(f)) throw new Error(`--fault expects one of ${FAULTS.join(', ')}, got ${String(argv[i])}`);
      out.fault = f;
    } else if (a === '--plan') out.plan = path.resolve(argv[++i] ?? '');
    else if (a === '--variant') {
      const v = argv[++i];
      if (v !== 'hand-written') throw new Error(`--variant expects hand-written, got ${String(v)}`);
      // A crontab as an operations team writes it, and the plan that finds its lines by `match:`.
      out.crontab = 'hand-written';
      out.plan = path.join(projectRoot, 'plans', 'demo-hand-written.yaml');
    } else if (a === '--agent') {
      // The production topology on one machine: a central worker and the target host's agent on its own queue.
      const queue = argv[++i];
      if (!queue || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(queue))
        throw new Error(`--agent expects a task queue name (letters, digits, _ . -), got ${String(queue)}`);
      out.agent = { queue };
    } else
      throw new Error(
        `unknown option ${a}; usage: npm run demo -- [--manual] [--fault ${FAULTS.join('|')}] [--plan FILE] [--variant hand-written] [--agent QUEUE]`,
      );
  }
  return out;
}

/** An approval signed with the demo approver's key, for this migration and its plan (as `migrate approve` signs it). */
async function signedApproval(
  s: MigrationStatus,
  a: { gate: GateName; role: string; approver: string },
): Promise<ApproveArgs> {
  if (!s.approvalsAuthenticated || !s.planDigest) return a;
  const signature = await signRequest(
    claimFor({ kind: 'approve', args: a }),
    { migrationId: s.migrationId, planDigest: s.planDigest, gateOpenedAt: s.gates[a.gate]?.openedAt },
    demoSigner(a.approver),
  );
  return { ...a, signature };
}

/** What a caller may do to the demo while it runs (fault tests). */
export interface DemoControl {
  /** SIGKILLs the worker process and starts a new one (resolves once it polls again). */
  killWorker(): Promise<void>;
  /** Starts the host agent (for `agent.startLater`); resolves once it polls its queue. */
  startAgent(): Promise<void>;
}

/** Options of one demo run. */
export interface DemoOptions {
  plan: string;
  manual?: boolean;
  fault?: Fault;
  /** How the target's legacy crontab is written (default: one plain line per job). */
  crontab?: CrontabStyle;
  /** Where progress lines go (stdout by default). */
  print?: (line: string) => void;
  /** Submissions generated per second while the migration runs. */
  rate?: number;
  /** Sends a `rollback` signal as soon as the migration reaches this phase (tests of the rollback from each phase). */
  rollbackAt?: Phase;
  /** Extra environment of the worker process (fault tests put a failing tool first on its PATH). */
  workerEnv?: NodeJS.ProcessEnv;
  /** Changes the loaded plan before the run (benchmarks shorten or lengthen its waits). */
  adjustPlan?: (plan: Plan) => void;
  /** Sees every status first; returning 'stop' ends the watch without waiting for the workflow's result. */
  onStatus?: (status: MigrationStatus, handle: WorkflowHandle, control: DemoControl) => Promise<'stop' | void>;
  /** Sends one approval, already signed with the approver's demo key (default: an `approve` Update). */
  approve?: (workflowId: string, approval: ApproveArgs) => Promise<void>;
  /**
   * The production topology: a second worker process, the target host's agent, on its own task queue (the plan's
   * `target.agentQueue` is set to it), so every host-bound step runs there and the rest on the central worker.
   * `startLater`: the agent is down at the start (the migration waits for it) until `control.startAgent()`.
   */
  agent?: { queue: string; startLater?: boolean };
}

/** What a demo run leaves behind, for the caller (and the end-to-end test) to check. */
export interface DemoOutcome {
  workflowId: string;
  phase: string;
  status: MigrationStatus;
  reports: Record<string, string>;
  databaseUrl: string;
  repository: string;
  crontabUser: string;
  /** The legacy crontab as the setup wrote it. */
  crontab: string;
  composeProject: string;
  /** Process IDs of the central worker(s) and of the agent(s), in start order (a killed worker's successor last). */
  workerPids: { central: number[]; agent: number[] };
}

/** Migrates the demo scorer from its legacy cron monoliths to the unified container pipeline. */
export async function runDemo(args: DemoOptions): Promise<DemoOutcome> {
  const log = args.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  applyStackEnv();
  const config = loadConfig();
  // The demo plan reads its approvers' keys (made once per checkout, printed below).
  const keys = ensureDemoKeys();
  // The workers admit runs signed by the demo's starter (a worker without a trust file refuses to start).
  process.env.MO_TRUST_FILE ??= DEMO_TRUST_FILE;
  const plan = loadDemoPlan(args);
  const logs = path.join(config.dataDir, 'logs');

  const client = await connectClient(config);
  await endEarlierRuns(client, plan, log);
  log(`demo approvers' keys (throwaway, ssh-keygen Ed25519): ${path.dirname(keys)} (public keys in ${keys})`);
  const target = await prepareTarget(args, config, plan, log);
  const system = startDemoSystem(args, target, logs);
  let workflowId = '';
  const workers = startWorkers(args, logs, () => resetStickyQueues(client, config, workflowId));
  try {
    await workers.ready();
    if (args.agent && !args.agent.startLater) await workers.control.startAgent();
    workflowId = `${plan.name}-${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}`;
    const handle = await startMigration(client, config, plan, workflowId);
    log(`started migration ${workflowId}\n  Temporal UI: ${workflowUiUrl(config, workflowId)}\n`);

    const operator = demoOperator({ args, config, handle, log });
    let stopped = false;
    const final = await watch(client, workflowId, log, async (s) => {
      if (args.onStatus && (await args.onStatus(s, handle, workers.control)) === 'stop') return (stopped = true);
      await operator(s);
    });

    const result = stopped ? { phase: 'stopped', reports: {} as Record<string, string> } : await handle.result();
    await drainDemoSystem(system, target);
    await printSummary({ config, plan, target, workflowId, result, final }, log);
    return {
      workflowId,
      phase: result.phase,
      status: final,
      reports: result.reports,
      databaseUrl: target.databaseUrl,
      repository: target.repository,
      crontabUser: target.crontabUser,
      crontab: target.crontab,
      composeProject: plan.target.composeProject,
      workerPids: workers.pids,
    };
  } finally {
    await Promise.all(system.map((p) => stopProcess(p)));
    await client.connection.close();
    await workers.stop();
  }
}

type Log = (line: string) => void;

/** The plan the demo runs: the file's, on the agent's queue with `--agent`, changed by `adjustPlan`. */
function loadDemoPlan(args: DemoOptions): Plan {
  const plan = loadPlan(args.plan);
  if (args.agent) plan.target = { ...plan.target, agentQueue: args.agent.queue };
  args.adjustPlan?.(plan);
  return plan;
}

/** Terminates the plan's migrations still running from an earlier (interrupted) demo run. */
async function endEarlierRuns(client: Client, plan: Plan, log: Log): Promise<void> {
  // A demo run from before (interrupted) would go on migrating the target this run prepares afresh: end it first.
  for await (const wf of client.workflow.list({
    query: `MigrationName = '${plan.name}' AND ExecutionStatus = 'Running'`,
  })) {
    await client.workflow.getHandle(wf.workflowId).terminate('superseded by a new demo run');
    log(`terminated the earlier demo migration ${wf.workflowId}`);
  }
}

/** Sets up the demo system afresh (database, git repository, legacy crontab), with the fault asked for switched on. */
async function prepareTarget(args: DemoOptions, config: StackConfig, plan: Plan, log: Log): Promise<DemoTarget> {
  log(
    `preparing the demo system (database, git repository ${plan.target.repository}, crontab of ${plan.scheduler.kind === 'crontab' ? plan.scheduler.user : '?'})`,
  );
  const target = await setupDemoTarget(
    plan,
    requireEnv('DATABASE_URL'),
    DEMO_DATABASE,
    config.dockerHost,
    args.crontab,
  );
  // The plan names DEMO_DATABASE_URL; the worker and the demo system read the URL from their environment.
  process.env[plan.target.databaseUrlEnv] = target.databaseUrl;
  // Gate and check SQL runs as the read-only role, as a production plan's should.
  if (plan.target.metricsDatabaseUrlEnv) process.env[plan.target.metricsDatabaseUrlEnv] = target.metricsDatabaseUrl;
  if (args.fault) {
    await withDb(target.databaseUrl, (db) =>
      db.query('insert into demo_faults (name, enabled) values ($1, true)', [args.fault]),
    );
    log(`fault switched on in the unified pipeline: ${args.fault}`);
  }
  return target;
}

/** Starts the demo system's processes: the submissions generator (first) and the runner that plays cron. */
function startDemoSystem(args: DemoOptions, target: DemoTarget, logs: string): ChildProcess[] {
  const systemEnv = { DATABASE_URL: target.databaseUrl };
  return [
    startProcess(
      'generate.js',
      ['--rate', String(args.rate ?? 20), '--seconds', '3600'],
      systemEnv,
      path.join(logs, 'demo-generator.log'),
    ),
    startProcess(
      'cron-runner.js',
      ['--user', target.crontabUser, '--every', '1'],
      systemEnv,
      path.join(logs, 'demo-cron.log'),
    ),
  ];
}

/** The demo's worker processes: the central worker (which `killWorker` replaces) and, with `agent`, the host agent. */
interface DemoWorkers {
  control: DemoControl;
  pids: DemoOutcome['workerPids'];
  /** Resolves once the central worker polls its task queue. */
  ready(): Promise<void>;
  stop(): Promise<void>;
}

/** The log file of the demo's worker or agent: one per task queue, so demos on other queues keep their own. */
export function demoLogFile(logs: string, role: 'worker' | 'agent', taskQueue = loadConfig().taskQueue): string {
  return path.join(logs, taskQueue === 'migrations' ? `demo-${role}.log` : `demo-${role}-${taskQueue}.log`);
}

/** Starts the central worker; the agent starts on `control.startAgent()`. */
function startWorkers(args: DemoOptions, logs: string, releaseSticky: () => Promise<void>): DemoWorkers {
  const workerLog = demoLogFile(logs, 'worker');
  let worker = startWorkerProcess(workerLog, args.workerEnv);
  const pids = { central: [worker.child.pid!], agent: [] as number[] };
  let agent: WorkerProcess | undefined;
  const startAgent = async () => {
    if (!args.agent || agent) return;
    agent = startWorkerProcess(demoLogFile(logs, 'agent'), {
      ...args.workerEnv,
      MO_TASK_QUEUE: args.agent.queue,
      // The agent runs activities only for our workflows on the central queue.
      MO_WORKFLOW_QUEUE: loadConfig().taskQueue,
    });
    pids.agent.push(agent.child.pid!);
    await agent.ready;
  };
  const killWorker = async () => {
    const gone = new Promise<void>((r) => worker.child.once('exit', () => r()));
    worker.child.kill('SIGKILL');
    await gone;
    worker = startWorkerProcess(workerLog, args.workerEnv);
    pids.central.push(worker.child.pid!);
    // The dead worker held the migration (and its rollback) on its sticky queue: without this the server would
    // wait out the sticky schedule-to-start timeout (10 s) before the new worker replays them from history.
    await releaseSticky();
    await worker.ready;
  };
  return {
    control: { startAgent, killWorker },
    pids,
    ready: () => worker.ready,
    stop: async () => {
      await Promise.all([worker.stop(), agent?.stop()]);
    },
  };
}

/** Moves the migration and its rollback off a worker's sticky task queue (either may not exist: no matter). */
async function resetStickyQueues(client: Client, config: StackConfig, workflowId: string): Promise<void> {
  await Promise.all(
    [workflowId, rollbackWorkflowId(workflowId)].map((id) =>
      client.workflowService
        .resetStickyTaskQueue({ namespace: config.temporalNamespace, execution: { workflowId: id } })
        .catch(() => undefined),
    ),
  );
}

/** Starts the migration of the demo plan, as `migrate start` would: signed with the demo starter's key. */
async function startMigration(client: Client, config: StackConfig, plan: Plan, workflowId: string) {
  const proof = await demoStartProof('start', workflowId, plan, 'demo');
  return client.workflow.start<typeof migrationWorkflow>(WorkflowType.migrationWorkflow, {
    taskQueue: config.taskQueue,
    workflowId,
    args: [{ migrationId: workflowId, plan, startedBy: 'demo', proof }],
    staticSummary: `Migration ${plan.name} (demo)`,
    staticDetails: planDetails(plan),
  });
}

/** What the demo's operator and approvers act on. */
interface OperatorContext {
  args: DemoOptions;
  config: StackConfig;
  handle: WorkflowHandle;
  log: Log;
}

/**
 * The demo's operator and approvers, called with each status: the rehearsed rollback at `rollbackAt`, else an approval
 * for each role the open gate still misses (asked once per opening of the gate).
 */
function demoOperator(ctx: OperatorContext): (s: MigrationStatus) => Promise<void> {
  const { args, handle, log } = ctx;
  let rollbackSent = false;
  const asked = new Set<string>();
  return async (s) => {
    if (args.rollbackAt && s.phase === args.rollbackAt && !rollbackSent) {
      rollbackSent = true;
      log(`  operator: migrate rollback ${handle.workflowId} --reason "rehearsed rollback from ${s.phase}"`);
      await handle.signal(rollbackSignal, {
        reason: `rehearsed rollback from ${s.phase}`,
        requestedBy: 'demo-operator',
      });
      return;
    }
    const gate = Object.values(s.gates).find((g) => g?.open);
    if (!gate) return;
    const missing = gate.requiredRoles.filter((r) => !gate.signatures.some((x) => x.role === r));
    for (const role of missing) {
      const key = `${gate.name}:${gate.openedAt}:${role}`;
      if (asked.has(key)) continue;
      asked.add(key);
      await approveRole(ctx, s, gate, role);
    }
  };
}

/** The approver of `role` signs the gate's approval and sends it (`manual`: prints the commands that would). */
async function approveRole(ctx: OperatorContext, s: MigrationStatus, gate: GateState, role: string): Promise<void> {
  const { args, config, handle, log } = ctx;
  const workflowId = handle.workflowId;
  // Each role is a different person (separation of duties) with a key of their own, which signs the request.
  const approver = demoApprover(role);
  const approval = await signedApproval(s, { gate: gate.name, role, approver });
  const keyFile = path.relative(process.cwd(), demoKeyFile(approver));
  // The approver names the plan they read: approve signs only for the plan the migration runs. A plan the demo changed
  // (a test's shorter waits) is not the file's: the approver confirms its digest instead.
  const digest = s.planDigest;
  const read =
    digest && digest !== planDigest(loadPlan(args.plan))
      ? ['--yes-i-read', digest]
      : ['--plan', path.relative(process.cwd(), args.plan)];
  const approve = shellCommand([
    ...['migrate', 'approve', workflowId, '--gate', gate.name, '--role', role, '--as', approver],
    ...['--key', keyFile, ...read],
  ]);
  if (args.manual) {
    log(`  gate ${gate.name} waits for ${role}; ${approver} runs one of:`);
    log(`    npx ${approve}`);
    // Payloads are sealed: the stock CLI goes through the codec server, its token read from its file when it runs.
    const stock = temporalCliArgs(config, 'workflow', 'update', 'execute', '--workflow-id', workflowId);
    const auth = codecEndpoint() ? ` --codec-auth ${codecAuthRef()}` : '';
    log(
      `    ${shellCommand(['temporal', ...stock, '--name', 'approve'])}${auth} ${shellCommand(['--input', JSON.stringify(approval)])}`,
    );
  } else {
    log(`  demo approver: ${approve}`);
    await (args.approve
      ? args.approve(workflowId, approval)
      : handle.executeUpdate(approveUpdate, { args: [approval] }).then(() => undefined));
  }
}

/** Prints progress until the migration ends, or until `onStatus` returns true (stop watching). */
async function watch(
  client: Client,
  workflowId: string,
  log: Log,
  onStatus: (s: MigrationStatus) => Promise<unknown>,
): Promise<MigrationStatus> {
  const handle = client.workflow.getHandle(workflowId);
  let seen = 0;
  let evaluations = 0;
  let unanswered = 0;
  for (;;) {
    let s: MigrationStatus;
    try {
      s = await handle.query(statusQuery);
      unanswered = 0;
    } catch (err) {
      // A query needs a running worker: while it is down (crashed, restarting) the migration waits durably, and so
      // does the watcher.
      if (++unanswered > 120) throw err;
      if (unanswered === 1) log(`  (no worker answers: ${(err as Error).message}; waiting)`);
      await new Promise((r) => setTimeout(r, 1000));
      continue;
    }
    for (const p of s.phaseTimeline.slice(seen))
      log(`[${p.at.slice(11, 19)}] phase ${p.phase}${p.phase === 'traffic-shift' ? '' : ''}`);
    seen = s.phaseTimeline.length;
    for (const e of s.evaluations.slice(evaluations)) {
      log(
        `    gate ${e.step}: ${e.passed ? 'pass' : 'FAIL'} — ${e.readings.map((r) => `${r.name} ${r.value === null ? 'no data' : Number(r.value.toFixed(3))}`).join(', ')}`,
      );
    }
    evaluations = s.evaluations.length;
    if (isFinalPhase(s.phase)) return s;
    if ((await onStatus(s)) === true) return s;
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** Stops the input, then lets whichever pipeline owns the traffic finish what is queued, then stops the rest. */
async function drainDemoSystem(system: ChildProcess[], target: DemoTarget): Promise<void> {
  await stopProcess(system[0]);
  for (let i = 0; i < 60 && (await integrity(target.databaseUrl)).missing > 0; i++)
    await new Promise((r) => setTimeout(r, 500));
  await Promise.all(system.map((p) => stopProcess(p)));
}

/** How the run ended, as the summary prints it. */
interface DemoRun {
  config: StackConfig;
  plan: Plan;
  target: DemoTarget;
  workflowId: string;
  result: { phase: string; reports: Record<string, string> };
  final: MigrationStatus;
}

/** Prints how the migration ended: the demo system's integrity, the routing, the reports and where to look. */
async function printSummary(run: DemoRun, log: Log): Promise<void> {
  const { config, plan, target, workflowId, result, final } = run;
  const check = await integrity(target.databaseUrl);
  const routing = await getTrafficPercent({
    router: plan.traffic.router,
    databaseUrlEnv: plan.target.databaseUrlEnv,
  });
  log(`\nmigration ${result.phase}${final.failure ? `: ${final.failure}` : ''}`);
  log(
    `  submissions ${check.submissions}, scored ${check.scored} (${Object.entries(check.byPipeline)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}), missing ${check.missing}, scored twice ${check.duplicates}`,
  );
  log(`  routing: unified ${routing}%, legacy ${100 - routing}%`);
  for (const [kind, file] of Object.entries(result.reports)) log(`  ${kind} report: ${file}`);
  if (result.reports.rollback && fs.existsSync(result.reports.rollback))
    log(`\n${fs.readFileSync(result.reports.rollback, 'utf8').trim()}\n`);
  const archive = final.audit.find((a) => a.kind === 'archive');
  if (archive && result.phase === 'complete') log(`  archive: ${archive.detail} in ${target.repository}`);
  log(`  Temporal UI: ${workflowUiUrl(config, workflowId)}`);
  const codec = codecEndpoint();
  const tokenFile = process.env.MO_CODEC_SERVER_TOKEN_FILE;
  if (codec && tokenFile)
    log(
      `  payloads are sealed: the UI shows them once your browser has the codec server's session (open ${codec}/session?token=<the token in ${tokenFile}>) and the UI's Data Encoder setting "include cross-origin credentials" is on`,
    );
}

if (require.main === module) {
  runDemo(parseArgs(process.argv.slice(2))).catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}

import fs from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { WorkflowHandle } from '@temporalio/client';
import { getTrafficPercent } from '../activities/traffic';
import { connectClient } from '../client/connection';
import { loadPlan } from '../client/plan';
import { applyStackEnv, loadConfig, projectRoot, requireEnv, workflowUiUrl } from '../lib/config';
import { startWorkerProcess, type WorkerProcess } from '../lib/worker-process';
import { isFinalPhase } from '../model/constants';
import type { MigrationStatus } from '../model/status';
import type { Phase } from '../model/constants';
import type { ApproveArgs } from '../model/status';
import { approveUpdate, rollbackSignal, statusQuery } from '../workflows/definitions';
import { rollbackWorkflowId } from '../model/status';
import { signRequest } from '../lib/signing';
import { demoApprover, demoKeyFile, demoSigner, ensureDemoKeys } from './keys';
import { planDetails } from '../model/card';
import type { migrationWorkflow } from '../workflows/migration';
import type { GateName, Plan } from '../model/plan';
import { integrity, setupDemoTarget, startProcess, stopProcess, withDb, type CrontabStyle } from './target';

/** The database `runDemo` makes (anew, each run) for the demo system, on the stack's PostgreSQL. */
export const DEMO_DATABASE = 'mo_demo_target';

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
  const claim = { decision: 'approve', person: a.approver, gate: a.gate, role: a.role };
  const signature = await signRequest(
    claim,
    { migrationId: s.migrationId, planDigest: s.planDigest },
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
  const out = { log: args.print ?? ((line: string) => process.stdout.write(`${line}\n`)) };
  applyStackEnv();
  const config = loadConfig();
  // The demo plan reads its approvers' keys (made once per checkout, printed below).
  const keys = ensureDemoKeys();
  const plan = loadPlan(args.plan);
  if (args.agent) plan.target = { ...plan.target, agentQueue: args.agent.queue };
  args.adjustPlan?.(plan);
  const logs = path.join(config.dataDir, 'logs');

  const client = await connectClient(config);
  // A demo run from before (interrupted) would go on migrating the target this run prepares afresh: end it first.
  for await (const wf of client.workflow.list({
    query: `MigrationName = '${plan.name}' AND ExecutionStatus = 'Running'`,
  })) {
    await client.workflow.getHandle(wf.workflowId).terminate('superseded by a new demo run');
    out.log(`terminated the earlier demo migration ${wf.workflowId}`);
  }
  out.log(`demo approvers' keys (throwaway, ssh-keygen Ed25519): ${path.dirname(keys)} (public keys in ${keys})`);
  out.log(
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
  const systemEnv = { DATABASE_URL: target.databaseUrl };
  if (args.fault) {
    await withDb(target.databaseUrl, (db) =>
      db.query('insert into demo_faults (name, enabled) values ($1, true)', [args.fault]),
    );
    out.log(`fault switched on in the unified pipeline: ${args.fault}`);
  }

  const background: ChildProcess[] = [
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
  const workerLog = path.join(logs, 'demo-worker.log');
  let worker = startWorkerProcess(workerLog, args.workerEnv);
  const workerPids = { central: [worker.child.pid!], agent: [] as number[] };
  let agent: WorkerProcess | undefined;
  const startAgent = async () => {
    if (!args.agent || agent) return;
    agent = startWorkerProcess(path.join(logs, 'demo-agent.log'), {
      ...args.workerEnv,
      MO_TASK_QUEUE: args.agent.queue,
    });
    workerPids.agent.push(agent.child.pid!);
    await agent.ready;
  };
  let workflowId = '';
  const control: DemoControl = {
    startAgent,
    killWorker: async () => {
      const gone = new Promise<void>((r) => worker.child.once('exit', () => r()));
      worker.child.kill('SIGKILL');
      await gone;
      worker = startWorkerProcess(workerLog, args.workerEnv);
      workerPids.central.push(worker.child.pid!);
      // The dead worker held the migration (and its rollback) on its sticky queue: without this the server would
      // wait out the sticky schedule-to-start timeout (10 s) before the new worker replays them from history.
      await Promise.all(
        [workflowId, rollbackWorkflowId(workflowId)].map((id) =>
          client.workflowService
            .resetStickyTaskQueue({ namespace: config.temporalNamespace, execution: { workflowId: id } })
            .catch(() => undefined),
        ),
      );
      await worker.ready;
    },
  };
  try {
    await worker.ready;
    if (args.agent && !args.agent.startLater) await startAgent();
    workflowId = `${plan.name}-${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}`;
    const handle = await client.workflow.start<typeof migrationWorkflow>('migrationWorkflow', {
      taskQueue: config.taskQueue,
      workflowId,
      args: [{ migrationId: workflowId, plan, startedBy: 'demo' }],
      staticSummary: `Migration ${plan.name} (demo)`,
      staticDetails: planDetails(plan),
    });
    out.log(`started migration ${workflowId}\n  Temporal UI: ${workflowUiUrl(config, workflowId)}\n`);

    let rollbackSent = false;
    const asked = new Set<string>();
    let stopped = false;
    const final = await watch(handle.workflowId, async (s) => {
      if (args.onStatus && (await args.onStatus(s, handle, control)) === 'stop') return (stopped = true);
      if (args.rollbackAt && s.phase === args.rollbackAt && !rollbackSent) {
        rollbackSent = true;
        out.log(`  operator: migrate rollback ${workflowId} --reason "rehearsed rollback from ${s.phase}"`);
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
        // Each role is a different person (separation of duties) with a key of their own, which signs the request.
        const approver = demoApprover(role);
        const approval = await signedApproval(s, { gate: gate.name, role, approver });
        const keyFile = path.relative(process.cwd(), demoKeyFile(approver));
        if (args.manual) {
          out.log(`  gate ${gate.name} waits for ${role}; ${approver} runs one of:`);
          out.log(
            `    npx migrate approve ${workflowId} --gate ${gate.name} --role ${role} --as ${approver} --key ${keyFile}`,
          );
          out.log(
            `    temporal workflow update execute --address ${config.temporalAddress} --workflow-id ${workflowId} --name approve --input '${JSON.stringify(approval)}'`,
          );
        } else {
          out.log(
            `  demo approver: migrate approve ${workflowId} --gate ${gate.name} --role ${role} --as ${approver} --key ${keyFile}`,
          );
          await (args.approve
            ? args.approve(workflowId, approval)
            : handle.executeUpdate(approveUpdate, { args: [approval] }).then(() => undefined));
        }
      }
    });

    const result = stopped ? { phase: 'stopped', reports: {} as Record<string, string> } : await handle.result();
    // Stop the input, then let whichever pipeline owns the traffic finish what is queued.
    await stopProcess(background[0]);
    for (let i = 0; i < 60 && (await integrity(target.databaseUrl)).missing > 0; i++)
      await new Promise((r) => setTimeout(r, 500));
    await Promise.all(background.map((p) => stopProcess(p)));
    const check = await integrity(target.databaseUrl);
    const routing = await getTrafficPercent({
      router: plan.traffic.router,
      databaseUrlEnv: plan.target.databaseUrlEnv,
    });
    out.log(`\nmigration ${result.phase}${final.failure ? `: ${final.failure}` : ''}`);
    out.log(
      `  submissions ${check.submissions}, scored ${check.scored} (${Object.entries(check.byPipeline)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}), missing ${check.missing}, scored twice ${check.duplicates}`,
    );
    out.log(`  routing: unified ${routing}%, legacy ${100 - routing}%`);
    for (const [kind, file] of Object.entries(result.reports)) out.log(`  ${kind} report: ${file}`);
    if (result.reports.rollback && fs.existsSync(result.reports.rollback))
      out.log(`\n${fs.readFileSync(result.reports.rollback, 'utf8').trim()}\n`);
    const archive = final.audit.find((a) => a.kind === 'archive');
    if (archive && result.phase === 'complete') out.log(`  archive: ${archive.detail} in ${target.repository}`);
    out.log(`  Temporal UI: ${workflowUiUrl(config, workflowId)}`);
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
      workerPids,
    };
  } finally {
    await Promise.all(background.map((p) => stopProcess(p)));
    await client.connection.close();
    await Promise.all([worker.stop(), agent?.stop()]);
  }

  /** Prints progress until the migration ends, or until `onStatus` returns true (stop watching). */
  async function watch(
    workflowId: string,
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
        if (unanswered === 1) out.log(`  (no worker answers: ${(err as Error).message}; waiting)`);
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      for (const p of s.phaseTimeline.slice(seen))
        out.log(`[${p.at.slice(11, 19)}] phase ${p.phase}${p.phase === 'traffic-shift' ? '' : ''}`);
      seen = s.phaseTimeline.length;
      for (const e of s.evaluations.slice(evaluations)) {
        out.log(
          `    gate ${e.step}: ${e.passed ? 'pass' : 'FAIL'} — ${e.readings.map((r) => `${r.name} ${r.value === null ? 'no data' : Number(r.value.toFixed(3))}`).join(', ')}`,
        );
      }
      evaluations = s.evaluations.length;
      if (isFinalPhase(s.phase)) return s;
      if ((await onStatus(s)) === true) return s;
      await new Promise((r) => setTimeout(r, 300));
    }
  }
}

if (require.main === module) {
  runDemo(parseArgs(process.argv.slice(2))).catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}

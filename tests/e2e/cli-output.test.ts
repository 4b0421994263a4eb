import { execFile, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { stopContainers } from '../../activities/containers';
import { dockerClient } from '../../activities/docker';
import type { LedgerRow } from '../../activities/ledger';
import { ExitCode } from '../../client/cli/errors';
import type { ListRow } from '../../client/cli/render';
import { connectClient } from '../../client/connection';
import { loadPlan } from '../../client/plan';
import type { Rehearsal } from '../../client/rehearse';
import { demoApprover, demoKeyFile } from '../../demo/keys';
import { setupDemoTarget, startProcess, stopProcess } from '../../demo/target';
import { setTrafficPercent } from '../../activities/traffic';
import { requireEnv } from '../../lib/config';
import { startWorkerProcess, type WorkerProcess } from '../../lib/worker-process';
import { version } from '../../package.json';
import { HAPPY_PHASES, type GateName } from '../../model/constants';
import type { MigrationStatus, RequestAnswer } from '../../model/status';
import { migrationPhaseKey, statusQuery } from '../../workflows/definitions';
import { rollbackWorkflowId } from '../../model/status';
import type { LedgerVerification } from '../../model/ledger-chain';
import { planDigest } from '../../model/signatures';
import { jsonLines, MIGRATE_BIN, migrateCli, type CliRun } from '../helpers/cli';
import { config, tempDir, uniq, withPg } from '../helpers/stack';

const root = path.join(__dirname, '..', '..');
const suffix = uniq();
const taskQueue = `cli-output-${suffix}`;
// The demo plan on a target of this file's own (repository, crontab user, containers, name), so that a demo or CLI test
// running at the same time on the stack neither resets it nor terminates its migrations. Next to the demo plan,
// because its paths are relative to the plan file.
const PLAN = path.join(root, 'plans', `.cli-output-${suffix}.yaml`);
const repository = path.join(root, '.stack', 'demo', `repo-cli-output-${suffix}`);
const composeProject = `mo-cli-output-${suffix}`;
// Own backup and report folders too: setting up a demo target empties the plan's (the shared ones, for the demo plan).
const backupDir = path.join(root, '.stack', 'demo', `backups-cli-output-${suffix}`);
const reportDir = path.join(root, '.stack', 'demo', `reports-cli-output-${suffix}`);
const crontabUser = 'mo-cli-output';

const migrate = (...args: string[]) => migrateCli(args, { MO_TASK_QUEUE: taskQueue });

/** Waits until a running `migrate status --watch` has printed `text` (it exits only when the migration ends). */
async function watcherShows(watcher: ReturnType<typeof migrate>, text: string, timeoutMs = 60_000): Promise<void> {
  for (const until = Date.now() + timeoutMs; !watcher.out().includes(text); await sleep(100))
    if (Date.now() > until)
      throw new Error(`the watcher did not print ${JSON.stringify(text)} within ${timeoutMs} ms:\n${watcher.out()}`);
}
/** `--as <role>-demo --key <its key>`: the demo plan lists its approvers' keys, so every decision is signed. */
/** `--as <role>-demo --key <their key>`: a person the plan lists, signing (operator requests). */
const signedAs = (role: string) => ['--as', demoApprover(role), '--key', demoKeyFile(demoApprover(role))];
/** The same, for a gate decision: with the plan file they read. */
const as = (role: string) => [...signedAs(role), '--plan', PLAN];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `migrate … -o json` (or the given form), expects exit 0 and returns the parsed output. */
async function json<T>(...args: string[]): Promise<T> {
  const r = await migrate(...args);
  expect({ args, code: r.code, stderr: r.code === 0 ? '' : r.stderr }).toEqual({ args, code: 0, stderr: '' });
  return JSON.parse(r.stdout) as T;
}

/** The roles of each gate in the demo plan, in the order the test signs them. */
const GATE_ROLES: Record<GateName, string[]> = {
  go: ['technical-lead', 'engineering-manager'],
  cutover: ['technical-lead', 'product-owner'],
  'sign-off': ['technical-lead', 'product-owner', 'engineering-manager', 'stakeholder'],
};

describe('migrate -o json|jsonl, status --watch, usage errors, --version and completion, against a real worker', () => {
  let worker: WorkerProcess;
  let client: Client;
  let background: ChildProcess[] = [];
  let databaseUrl = '';
  // A completes; B is rejected, C aborted, D failed and E rolled back by request, all at gate go (before A changes
  // anything, so that their rollback checks see the legacy path alone).
  const [A, B, C, D, E] = ['done', 'rej', 'abort', 'fail', 'rb'].map((k) => `cli-out-${suffix}-${k}`) as [
    string,
    string,
    string,
    string,
    string,
  ];
  // The `migrate` runs that go on in the background: the `status --watch` runs, and the rehearsal.
  const watchers: Record<string, ReturnType<typeof migrate>> = {};

  /** The workflow's own answer to the status query, polled until `done` holds. */
  async function statusUntil(id: string, done: (s: MigrationStatus) => boolean): Promise<MigrationStatus> {
    let s: MigrationStatus | undefined;
    for (let i = 0; i < 600; i++) {
      s = await client.workflow
        .getHandle(id)
        .query(statusQuery)
        .catch(() => undefined);
      if (s && done(s)) return s;
      await sleep(250);
    }
    throw new Error(`${id} never reached the expected state; last phase ${s?.phase}`);
  }
  const query = (id: string) => client.workflow.getHandle(id).query(statusQuery);

  beforeAll(async () => {
    fs.writeFileSync(
      PLAN,
      fs
        .readFileSync(path.join(root, 'plans', 'demo.yaml'), 'utf8')
        .replace('name: demo-monolith-to-unified', 'name: cli-output-demo')
        .replace('repository: ../.stack/demo/repo', `repository: ${path.relative(path.dirname(PLAN), repository)}`)
        .replace('composeProject: mo-demo-unified', `composeProject: ${composeProject}`)
        .replace('backupDir: ../.stack/demo/backups', `backupDir: ${path.relative(path.dirname(PLAN), backupDir)}`)
        .replace('reportDir: ../.stack/demo/reports', `reportDir: ${path.relative(path.dirname(PLAN), reportDir)}`)
        .replace('user: mo-demo', `user: ${crontabUser}`),
    );
    const plan = loadPlan(PLAN);
    expect(plan.target).toMatchObject({ repository, composeProject, backupDir, reportDir });
    const target = await setupDemoTarget(plan, requireEnv('DATABASE_URL'), 'mo_cli_output_target', config.dockerHost);
    databaseUrl = target.databaseUrl;
    process.env.DEMO_DATABASE_URL = databaseUrl;
    process.env.DEMO_METRICS_DATABASE_URL = target.metricsDatabaseUrl;
    // The routing table exists before the migrations, at 0 % unified, as on a system whose router was set up ahead
    // (the demo's is created at deploy): the rollback checks of B and E, which end before any deploy, read it.
    await setTrafficPercent({
      migrationId: 'cli-output-setup',
      router: plan.traffic.router,
      databaseUrlEnv: plan.target.databaseUrlEnv,
      percent: 0,
      actor: 'cli-output test',
      reason: 'routing table set up before the migrations',
    });
    const logs = path.join(config.dataDir, 'logs');
    // New submissions and the legacy cron jobs, as in the demo: the traffic gates measure real work.
    background = [
      startProcess(
        'generate.js',
        ['--rate', '20', '--seconds', '600'],
        { DATABASE_URL: databaseUrl },
        path.join(logs, `${taskQueue}-generator.log`),
      ),
      startProcess(
        'cron-runner.js',
        ['--user', crontabUser, '--every', '1'],
        { DATABASE_URL: databaseUrl },
        path.join(logs, `${taskQueue}-cron.log`),
      ),
    ];
    worker = startWorkerProcess(path.join(logs, `${taskQueue}.log`), { MO_TASK_QUEUE: taskQueue });
    client = await connectClient(config);
    await worker.ready;
  });

  afterAll(async () => {
    // A watcher (or the rehearsal) that a failed test left running.
    for (const w of Object.values(watchers))
      if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill();
    await Promise.all(background.map((p) => stopProcess(p)));
    await worker?.stop();
    // A migration a failed test left running would wait for a worker for ever.
    if (client)
      for (const id of [A, B, C, D, E]) {
        const handle = client.workflow.getHandle(id);
        const running = await handle
          .describe()
          .then((d) => d.status.name === 'RUNNING')
          .catch(() => false);
        if (running) await handle.terminate('left running by a failed cli-output test');
      }
    await client?.connection.close();
    // What the completed migration left running: its containers and its crontab (the unified job).
    await stopContainers(dockerClient(config.dockerHost), composeProject, { anyOwner: true });
    try {
      execFileSync('crontab', ['-r', '-u', crontabUser], { stdio: 'ignore' });
    } catch {
      // No crontab left.
    }
    fs.rmSync(PLAN, { force: true });
    for (const dir of [repository, backupDir, reportDir]) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('exits 64 on usage errors (not 1), prints package.json version for --version, and documents the exit codes', async () => {
    // One run first: a bundle older than its sources is rebuilt by it, not by twelve runs at once.
    await migrateCli(['--version']);
    const runs = await Promise.all([
      migrateCli(['--version']),
      migrateCli(['--help']),
      migrateCli(['list', '--phase', 'gate:maybe']),
      migrateCli(['status']),
      migrateCli(['frobnicate']),
      migrateCli(['status', 'x', '--bogus']),
      migrateCli(['status', 'x', '-o', 'yaml']),
      migrateCli(['status', 'x', '--watch', '--interval', 'soon']),
      migrateCli(['status', 'x', '--timeout', '1s']),
      migrateCli(['history', 'x', '--limit', '0']),
      migrateCli(['completion', 'tcsh']),
      migrateCli(['approve', 'x', '--role', 'technical-lead', '--gate', 'launch']),
    ]);
    const [ver, help, ...usage] = runs;
    expect(ver).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
    expect(help.code).toBe(0);
    for (const code of Object.values(ExitCode)) expect(help.stdout).toMatch(new RegExp(`^ +${code}  \\S`, 'm'));
    for (const r of usage) expect({ code: r.code, stdout: r.stdout }).toEqual({ code: ExitCode.usage, stdout: '' });
    expect(usage[0].stderr).toContain('Allowed choices are preflight, gate:go');
    // A runtime error is not a usage error: a migration that does not exist.
    expect((await migrateCli(['status', `no-such-${suffix}`])).code).toBe(ExitCode.notFound);
  });

  it('completes `migrate sta` to start and status in a real bash, from the script `migrate completion bash` prints', async () => {
    const r = await migrateCli(['completion', 'bash']);
    expect(r.code).toBe(0);
    const dir = tempDir('mo-completion');
    const script = path.join(dir, 'migrate.bash');
    fs.writeFileSync(script, r.stdout);
    // Drive the completion function as readline does: COMP_LINE/COMP_POINT and COMP_WORDS/COMP_CWORD (split at
    // COMP_WORDBREAKS, so "gate:" is three words), then print what it offers.
    const driver = `
      set -u
      source ${JSON.stringify(script)}
      complete -p migrate
      offer() {
        COMP_LINE=$1; COMP_POINT=\${#1}
        COMP_WORDS=(); while IFS= read -r w; do COMP_WORDS+=("$w"); done < <(printf '%s' "$1" | grep -oE '[^ :=]+|[:=]')
        [[ $1 == *' ' ]] && COMP_WORDS+=("")
        COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 ))
        COMPREPLY=()
        _migrate migrate "\${COMP_WORDS[COMP_CWORD]}" "\${COMP_WORDS[COMP_CWORD-1]:-}"
        echo "$1=>$(compgen -W "\${COMPREPLY[*]}" | sort | tr '\\n' ' ')"
      }
      offer 'migrate sta'
      offer 'migrate stat'
      offer 'migrate status x -o '
      offer 'migrate list --phase gate:'
      offer 'migrate report x --kind '
      offer 'migrate approve x --gate c'
      offer 'migrate audit '
      offer 'migrate --address 127.0.0.1:1 complet'
      offer 'migrate completion '
      offer 'migrate status x --wa'
    `;
    const out = await new Promise<string>((resolve, reject) =>
      execFile('bash', ['--norc', '--noprofile', '-c', driver], (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
      ),
    );
    const offered = Object.fromEntries(
      out
        .split('\n')
        .filter((l) => l.includes('=>'))
        .map((l) => l.split('=>').map((x) => x.trim()) as [string, string]),
    );
    expect(out).toContain('complete -o default -F _migrate migrate');
    expect(offered).toEqual({
      'migrate sta': 'start status',
      'migrate stat': 'status',
      'migrate status x -o': 'json jsonl text',
      // Readline replaces the part after the last ":" only.
      'migrate list --phase gate:': 'cutover go sign-off',
      'migrate report x --kind': 'completion rollback validation',
      'migrate approve x --gate c': 'cutover',
      'migrate audit': 'verify',
      'migrate --address 127.0.0.1:1 complet': 'completion',
      'migrate completion': 'bash fish zsh',
      'migrate status x --wa': '--watch',
    });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('rehearse answers in JSON the rehearsal it wrote, and exits 4 only when a finding would fail', async () => {
    // Before the migrations start: the target is as its legacy jobs run it, and the machine is quiet (the rehearsal
    // starts a Java test server, which has 5 s to come up).
    const rehearsalDir = tempDir('mo-cli-rehearsal');
    const rehearsal = (watchers.rehearsal = migrate('rehearse', PLAN, '--out', rehearsalDir, '-o', 'json'));
    const rehearsed = await rehearsal;
    expect(rehearsed.stdout.startsWith('{') ? 'JSON on stdout' : rehearsed).toBe('JSON on stdout');
    const r = JSON.parse(rehearsed.stdout) as Rehearsal;
    expect(r).toMatchObject({ plan: 'cli-output-demo', outcome: 'complete' });
    expect(JSON.parse(fs.readFileSync(r.jsonFile, 'utf8'))).toEqual(r);
    // The exit code says what the JSON says: 4 when a finding would fail (the gates' SQL read the live target).
    const wouldFail = r.findings.filter((f) => f.severity === 'would-fail').length;
    expect(rehearsed.code).toBe(wouldFail ? ExitCode.rejected : ExitCode.ok);
    fs.rmSync(rehearsalDir, { recursive: true, force: true });
  }, 120_000);

  it('start, status, list and the requests answer in JSON what Temporal and the workflow say', async () => {
    const started = await Promise.all(
      [A, B, C, D, E].map((id) =>
        json<Record<string, unknown>>('start', PLAN, '--id', id, '--as', 'alice', '-o', 'json'),
      ),
    );
    const plan = loadPlan(PLAN);
    for (const [i, id] of [A, B, C, D, E].entries()) {
      const desc = await client.workflow.getHandle(id).describe();
      expect(started[i]).toEqual({
        migrationId: id,
        runId: desc.runId,
        namespace: config.temporalNamespace,
        taskQueue,
        uiUrl: expect.stringContaining(`/workflows/${id}`),
        planDigest: planDigest(plan),
        approvalsAuthenticated: true,
        startedBy: 'alice',
      });
      expect(desc.taskQueue).toBe(taskQueue);
      // The UI shows the runbook the plan runs beside the card the workflow keeps current.
      expect(await desc.staticSummary()).toBe(`Migration ${plan.name}`);
      expect(await desc.staticDetails()).toContain(`**Runbook of ${plan.name}**`);
      expect(await desc.staticDetails()).toContain(plan.description!);
    }
    // Followed from the start to the end: A as text and as JSON Lines, the others in one form each.
    const watch = (id: string, ...more: string[]) => migrate('status', id, '--watch', '--timeout', '15m', ...more);
    watchers.A = watch(A);
    watchers.Ajsonl = watch(A, '-o', 'jsonl');
    watchers.B = watch(B);
    watchers.C = watch(C, '--interval', '500ms');
    watchers.D = watch(D, '--interval', '2s');
    watchers.E = watch(E, '-o', 'jsonl');

    for (const id of [A, B, C, D, E]) await statusUntil(id, (s) => s.phase === 'gate:go');

    const s = await json<MigrationStatus & { retrying: unknown[]; agents: unknown[] }>('status', A, '-o', 'json');
    const q = await query(A);
    expect(s).toMatchObject({
      migrationId: A,
      phase: q.phase,
      paused: false,
      trafficPercent: q.trafficPercent,
      planDigest: q.planDigest,
      gates: q.gates,
      retrying: [],
      agents: [],
    });
    expect(s.audit.map((a) => a.seq)).toEqual(q.audit.map((a) => a.seq));
    // --json is -o json.
    expect(await json<MigrationStatus>('status', A, '--json')).toMatchObject({ migrationId: A, phase: 'gate:go' });
    expect(jsonLines<MigrationStatus>((await migrate('status', A, '-o', 'jsonl')).stdout)).toEqual([
      expect.objectContaining({ migrationId: A, phase: 'gate:go' }),
    ]);

    // list: each migration with the phase its search attribute has (visibility catches up within a moment).
    const described = await client.workflow.getHandle(A).describe();
    const phaseOfA = described.typedSearchAttributes.get(migrationPhaseKey);
    expect(phaseOfA).toBe('gate:go');
    let rows: ListRow[] = [];
    for (let i = 0; i < 40; i++) {
      rows = await json<ListRow[]>('list', '--phase', 'gate:go', '-o', 'json');
      if ([A, B, C, D, E].every((id) => rows.some((r) => r.id === id))) break;
      await sleep(250);
    }
    expect(rows.find((r) => r.id === A)).toEqual({
      id: A,
      name: 'cli-output-demo',
      phase: phaseOfA,
      traffic: 0,
      status: 'RUNNING',
      started: described.startTime.toISOString(),
    });
    expect(rows.every((r) => r.phase === 'gate:go')).toBe(true);
    const all = await json<ListRow[]>('list', '-o', 'json');
    // The same rows as JSON Lines: this file's own, which nothing else changes (the other files' migrations start and
    // end between the two reads, and a run that closes moves in the namespace's order).
    const ours = (rows: ListRow[]) => rows.map((r) => r.id).filter((i) => i.includes(suffix));
    expect(ours(jsonLines<ListRow>((await migrate('list', '-o', 'jsonl')).stdout))).toEqual(ours(all));
    expect(ours(all)).toEqual(expect.arrayContaining([A, B, C, D, E]));
    // Newest first, at most --limit (other tests may start migrations in the namespace meanwhile).
    const two = await json<ListRow[]>('list', '--limit', '2', '-o', 'json');
    expect(two).toHaveLength(2);
    expect(Date.parse(two[0]!.started)).toBeGreaterThanOrEqual(Date.parse(two[1]!.started));
    expect(Date.parse(two[1]!.started)).toBeGreaterThanOrEqual(Date.parse(all[1]!.started));
    const table = (await migrate('list', '--phase', 'gate:go', '--limit', '5')).stdout.trimEnd().split('\n');
    expect(table[0]).toMatch(/^ID +PHASE +TRAFFIC +STATUS +AGE$/);
    expect(table).toHaveLength(6);
    expect(table.find((l) => l.startsWith(A))).toMatch(/ gate:go +0% +RUNNING +\d+(s|m)$/);

    const paused = await json<RequestAnswer>('pause', A, '--as', 'olga', '--reason', 'freeze', '-o', 'json');
    // Not signed (olga has no key in the plan): accepted, and said to be unverified.
    expect(paused).toMatchObject({ accepted: true, phase: 'gate:go', paused: true, verified: false });
    expect((await query(A)).paused).toBe(true);
    // Held until both watchers of A have printed the pause (they read every second; slower on a busy machine).
    await watcherShows(watchers.A, ' (paused) ');
    await watcherShows(watchers.Ajsonl, '"paused":true');
    // A forward move: signed by a person the plan lists (the plan lists keys), and verified.
    const resumed = await json<RequestAnswer>('resume', A, ...signedAs('technical-lead'), '-o', 'json');
    expect(resumed).toMatchObject({ accepted: true, paused: false, verified: true });
    expect((await query(A)).paused).toBe(false);
    // A refusal is an exit code and a reason on stderr, with nothing on stdout to mistake for an answer.
    const retry = await migrate('retry', A, ...signedAs('technical-lead'), '--reason', 'again', '-o', 'json');
    expect(retry).toMatchObject({ code: ExitCode.rejected, stdout: '' });
    expect(retry.stderr).toContain('no gate evaluation is waiting for a decision');

    // --timeout passes first: exit 7, after what it saw.
    const t0 = Date.now();
    const timedOut = await migrate('status', A, '--watch', '--timeout', '1500ms', '-o', 'jsonl');
    expect(timedOut.code).toBe(ExitCode.watchTimeout);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(jsonLines<MigrationStatus>(timedOut.stdout)).toEqual([expect.objectContaining({ phase: 'gate:go' })]);
    expect(timedOut.stderr).toContain(`${A} did not end within 1.5 s (phase gate:go)`);
  }, 150_000);

  it('reject, abort, fail and rollback answer in JSON; status --watch exits 5 when rolled back, 6 when aborted or failed', async () => {
    const rejected = await json<RequestAnswer>(
      'reject',
      B,
      '--gate',
      'go',
      '--role',
      'technical-lead',
      '--reason',
      'not now',
      ...as('technical-lead'),
      '-o',
      'json',
    );
    expect(rejected).toMatchObject({ accepted: true, verified: true, gate: { name: 'go', outcome: 'rejected' } });
    const aborted = await json<RequestAnswer>('abort', C, '--as', 'olga', '--reason', 'postponed', '-o', 'json');
    expect(aborted).toMatchObject({ accepted: true, phase: 'gate:go' });
    const failed = await json<RequestAnswer>(
      'fail',
      D,
      ...signedAs('technical-lead'),
      '--reason',
      'wrong scores',
      '-o',
      'json',
    );
    expect(failed).toMatchObject({ accepted: true, verified: true });
    const rolledBack = await json<RequestAnswer>('rollback', E, '--as', 'olga', '--reason', 'cli test', '-o', 'json');
    expect(rolledBack).toMatchObject({ accepted: true });

    const [b, c, d, e] = await Promise.all([watchers.B!, watchers.C!, watchers.D!, watchers.E!]);
    expect([b, c, d, e].map((r) => ({ code: r.code, stderr: r.stderr }))).toEqual([
      { code: ExitCode.rolledBack, stderr: expect.stringContaining(`${B} ended rolled-back`) },
      { code: ExitCode.failed, stderr: expect.stringContaining(`${C} ended aborted`) },
      { code: ExitCode.failed, stderr: expect.stringContaining(`${D} ended failed`) },
      { code: ExitCode.rolledBack, stderr: expect.stringContaining(`${E} ended rolled-back`) },
    ]);
    // What the watchers exited with is what the workflows say.
    const ends = await Promise.all([B, C, D, E].map(query));
    expect(ends.map((s) => s.phase)).toEqual(['rolled-back', 'aborted', 'failed', 'rolled-back']);
    // The last line, or JSON object, a watcher printed is the end state the workflow reports.
    expect(c.stdout.trimEnd().split('\n').at(-1)).toMatch(/Z {2}aborted {2}traffic 0% {2}failure: aborted by olga/);
    expect(d.stdout.trimEnd().split('\n').at(-1)).toMatch(/Z {2}failed {2}traffic 0% {2}failure: step gate:go failed/);
    expect(jsonLines<MigrationStatus>(e.stdout).at(-1)).toMatchObject({
      phase: 'rolled-back',
      updatedAt: ends[3]!.updatedAt,
    });
    expect(b.stdout.trimEnd().split('\n').at(-1)).toMatch(/Z {2}rolled-back {2}traffic 0%/);

    // A closed migration: the rollback workflow is started by hand and its result is the answer.
    const again = await json<{ migrationId: string; workflowId: string; runId: string; result: { verified: boolean } }>(
      'rollback',
      B,
      '--as',
      'olga',
      '--reason',
      'once more',
      '-o',
      'json',
    );
    const desc = await client.workflow.getHandle(rollbackWorkflowId(B)).describe();
    expect(again).toMatchObject({ migrationId: B, workflowId: rollbackWorkflowId(B), runId: desc.runId });
    expect(again.result.verified).toBe(true);
    expect(desc.status.name).toBe('COMPLETED');
  }, 120_000);

  it('approve answers in JSON through every gate; status --watch prints one line (text) or object (jsonl) per change and exits 0', async () => {
    for (const gate of ['go', 'cutover', 'sign-off'] as const) {
      await statusUntil(A, (s) => s.phase === `gate:${gate}`);
      let answer: RequestAnswer | undefined;
      for (const [i, role] of GATE_ROLES[gate].entries()) {
        // Each state of the gate is held until the text watcher has printed it (it reads every second, slower on a
        // busy machine): who the gate still waits for.
        await watcherShows(watchers.A!, `waiting for gate ${gate}: ${GATE_ROLES[gate].slice(i).join(', ')}\n`);
        answer = await json<RequestAnswer>('approve', A, '--gate', gate, '--role', role, ...as(role), '-o', 'json');
        expect(answer).toMatchObject({ accepted: true, verified: true, gate: { name: gate } });
        expect(answer.gate!.signatures.at(-1)).toMatchObject({ role, approver: demoApprover(role), verified: true });
      }
      // The last answer has every signature the gate needs, as the workflow keeps them; its main body closes it.
      const q = await statusUntil(A, (s) => s.gates[gate]?.outcome === 'approved');
      expect(answer!.gate!.signatures).toEqual(q.gates[gate]!.signatures);
      expect(answer!.gate!.signatures.map((x) => x.role)).toEqual(GATE_ROLES[gate]);
    }
    const [text, lines] = await Promise.all([watchers.A!, watchers.Ajsonl!]);
    expect([text, lines].map((r) => ({ code: r.code, stderr: r.stderr }))).toEqual([
      // Nothing but, on a busy machine, a read tried again.
      { code: ExitCode.ok, stderr: expect.stringMatching(/^(cannot read the status of [^\n]*\n)*$/) },
      { code: ExitCode.ok, stderr: expect.stringMatching(/^(cannot read the status of [^\n]*\n)*$/) },
    ]);
    const end = await query(A);
    expect(end.phase).toBe('complete');

    // Not a terminal: no screen clearing, one compact line per change, none repeated.
    expect(text.stdout).not.toContain('\x1b');
    const LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ {2}(\S+)( \(paused\))? {2}traffic (\d+)%(?: {2}(.*))?$/;
    const parsed = text.stdout
      .trimEnd()
      .split('\n')
      .map((l) => {
        const m = LINE.exec(l);
        expect({ line: l, matches: !!m }).toEqual({ line: l, matches: true });
        return { rest: l.slice(22), phase: m![1]!, paused: !!m![2], traffic: Number(m![3]), waiting: m![4] ?? '' };
      });
    for (let i = 1; i < parsed.length; i++) expect(parsed[i]!.rest).not.toBe(parsed[i - 1]!.rest);
    expectRunbookOrder(parsed.map((p) => p.phase));
    expect(parsed.at(-1)!.phase).toBe('complete');
    expect(parsed.some((p) => p.phase === 'gate:go' && p.paused)).toBe(true);
    expect(parsed.map((p) => p.waiting)).toEqual(
      expect.arrayContaining([
        'waiting for gate go: technical-lead, engineering-manager',
        'waiting for gate go: engineering-manager',
        'waiting for gate sign-off: technical-lead, product-owner, engineering-manager, stakeholder',
      ]),
    );
    expect([...new Set(parsed.map((p) => p.traffic))]).toEqual([0, 10, 25, 50, 100]);

    const snapshots = jsonLines<MigrationStatus>(lines.stdout);
    for (let i = 1; i < snapshots.length; i++)
      expect(JSON.stringify(snapshots[i])).not.toBe(JSON.stringify(snapshots[i - 1]));
    expectRunbookOrder(snapshots.map((s) => s.phase));
    expect(snapshots.at(-1)).toMatchObject({ phase: 'complete', updatedAt: end.updatedAt, trafficPercent: 100 });

    // On a terminal it redraws in place (and exits 0 at once: the migration has ended).
    const tty = await new Promise<CliRun>((resolve) =>
      execFile('script', ['-qec', `${MIGRATE_BIN} status ${A} --watch`, '/dev/null'], (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      ),
    );
    expect(tty.code).toBe(0);
    expect(tty.stdout).toContain('\x1b[2J\x1b[H');
    expect(tty.stdout).toMatch(/phase {5}complete/);
  }, 180_000);

  it('history, audit verify and report answer in JSON what the ledger table and the report files hold', async () => {
    const s = await statusUntil(A, (x) => x.phase === 'complete' && !!x.ledgerSeq && x.ledgerWritten === x.ledgerSeq);
    const db = await withPg(databaseUrl, (c) =>
      c.query<{ seq: number; kind: string; verified: string | null }>(
        `select seq, kind, data->>'verified' as verified from migration_ledger where migration_id = $1 order by seq`,
        [A],
      ),
    );
    expect(db.rows).toHaveLength(s.ledgerSeq!);

    const history = await migrate('history', A, '-o', 'jsonl');
    expect(history.code).toBe(0);
    const rows = jsonLines<LedgerRow>(history.stdout);
    expect(rows.map((r) => [r.seq, r.kind])).toEqual(db.rows.map((r) => [r.seq, r.kind]));
    expect((await json<LedgerRow[]>('history', A, '-o', 'json')).map((r) => r.hash)).toEqual(rows.map((r) => r.hash));
    expect((await json<LedgerRow[]>('history', A, '--limit', '3', '-o', 'json')).map((r) => r.seq)).toEqual(
      db.rows.slice(-3).map((r) => r.seq),
    );
    // The text: a header row and a row per ledger row (the caption on stderr); readings with units, rounded.
    const text = await migrate('history', A);
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(db.rows.length + 1);
    expect(lines[0]).toMatch(/^SEQ +TIME +AGE +KIND +ACTOR +DETAIL$/);
    expect(text.stderr).toBe(`ledger of ${A} (${db.rows.length} rows, table migration_ledger)\n`);
    const evaluations = lines.filter((l) => / gate-evaluation /.test(l));
    expect(evaluations.length).toBeGreaterThanOrEqual(4);
    for (const l of evaluations) {
      expect(l).toMatch(/throughput=[\d,.]+ items\/h/);
      expect(l).not.toMatch(/\d\.\d{4,}/);
    }

    // Verified rows: the eight approvals of the three gates, and the resume, a forward move signed by technical-lead
    // (the plan lists keys; the signed retry was refused, the unsigned pause is audited as not verified).
    const signed = db.rows.filter((r) => r.verified === 'true').length;
    expect(signed).toBe(9);
    const verdict = await json<LedgerVerification>('audit', 'verify', A, '--plan', PLAN, '-o', 'json');
    expect(verdict).toEqual({ ok: true, rows: db.rows.length, signatures: signed });
    const perRow = await migrate('audit', 'verify', A, '--plan', PLAN, '-o', 'jsonl');
    expect(perRow.code).toBe(0);
    const verdicts = jsonLines<{ seq: number; ok: boolean; signatureVerified?: true }>(perRow.stdout);
    expect(verdicts.map((v) => [v.seq, v.ok])).toEqual(db.rows.map((r) => [r.seq, true]));
    expect(verdicts.filter((v) => v.signatureVerified).length).toBe(signed);

    const completionFile = s.reports.completion!.replace(/\.md$/, '.json');
    const onDisk: unknown = JSON.parse(fs.readFileSync(completionFile, 'utf8'));
    expect(await json('report', A, '--kind', 'completion', '-o', 'json')).toEqual(onDisk);
    expect(jsonLines((await migrate('report', A, '-o', 'jsonl')).stdout)).toEqual([onDisk]);
    expect(await json('report', A, '--kind', 'validation', '--json')).toMatchObject({ passed: true });
    expect((await migrate('report', A, '--kind', 'rollback', '-o', 'json')).code).toBe(ExitCode.notFound);
  }, 60_000);
});

/** The phases seen are the runbook's, in its order (a short phase may fall between two reads). */
function expectRunbookOrder(phases: string[]): void {
  const distinct = phases.filter((p, i) => p !== phases[i - 1]);
  let at = 0;
  for (const p of distinct) {
    const next = HAPPY_PHASES.indexOf(p as (typeof HAPPY_PHASES)[number], at);
    expect({ phase: p, inOrder: next >= 0 }).toEqual({ phase: p, inOrder: true });
    at = next + 1;
  }
  expect(distinct).toEqual(
    expect.arrayContaining(['gate:go', 'traffic-shift', 'gate:cutover', 'soak', 'gate:sign-off']),
  );
}

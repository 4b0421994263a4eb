import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Client } from '@temporalio/client';
import { connectClient } from '../../client/connection';
import { loadPlan } from '../../client/plan';
import { demoApprover, demoKeyFile, demoSigner } from '../../demo/keys';
import { setupDemoTarget } from '../../demo/target';
import { temporalCliEnv } from '../../lib/codec';
import { requireEnv, temporalCliArgs } from '../../lib/config';
import { signRequest } from '../../lib/signing';
import { startWorkerProcess, type WorkerProcess } from '../../lib/worker-process';
import { isFinalPhase } from '../../model/constants';
import type { ApproveArgs, MigrationStatus } from '../../model/status';
import { approveUpdate, statusQuery } from '../../workflows/definitions';
import { planDigest } from '../../model/signatures';
import { migrateCli } from '../helpers/cli';
import { config, tempDir, uniq, withPg } from '../helpers/stack';
import { slottedPlan } from '../helpers/slot';

const exec = promisify(execFile);
const root = path.join(__dirname, '..', '..');
const PLAN = slottedPlan(path.join(root, 'plans', 'demo.yaml'));
const taskQueue = `approvals-${uniq()}`;
const migrate = (...args: string[]) => migrateCli(args, { MO_TASK_QUEUE: taskQueue });
/** `--as <role>-demo --key <their key>`. */
const as = (role: string, keyOf = role) => [
  ...['--as', demoApprover(role), '--key', demoKeyFile(demoApprover(keyOf))],
  ...['--plan', PLAN],
];

/** The stock `temporal workflow update execute`, as a person without our CLI would send a request. */
async function stockUpdate(id: string, name: string, input: unknown): Promise<{ code: number; out: string }> {
  const args = temporalCliArgs(config, 'workflow', 'update', 'execute', '--workflow-id', id, '--name', name);
  try {
    const r = await exec(requireEnv('TEMPORAL_CLI_PATH'), [...args, '--input', JSON.stringify(input)], {
      env: temporalCliEnv(),
    });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe('signed approvals against the dev server: Updates with answers, signatures the workflow checks', () => {
  let worker: WorkerProcess;
  let client: Client;
  const id = `approvals-${uniq()}`;
  const events = async (wid: string) => (await client.workflow.getHandle(wid).fetchHistory()).events?.length ?? 0;
  const status = (wid: string) => client.workflow.getHandle(wid).query(statusQuery);

  async function until(wid: string, done: (s: MigrationStatus) => boolean): Promise<MigrationStatus> {
    for (let i = 0; i < 300; i++) {
      const s = await status(wid).catch(() => undefined);
      if (s && done(s)) return s;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`${wid} never reached the expected state`);
  }

  beforeAll(async () => {
    const plan = loadPlan(PLAN);
    const target = await setupDemoTarget(plan, requireEnv('DATABASE_URL'), 'mo_approvals_target', config.dockerHost);
    process.env.DEMO_DATABASE_URL = target.databaseUrl;
    process.env.DEMO_METRICS_DATABASE_URL = target.metricsDatabaseUrl;
    worker = startWorkerProcess(path.join(config.dataDir, 'logs', `${taskQueue}.log`), { MO_TASK_QUEUE: taskQueue });
    await worker.ready;
    client = await connectClient(config);
  });
  afterAll(async () => {
    await client?.connection.close();
    await worker?.stop();
  });

  it('accepts a signed approval at once, refuses every bad one with its reason (exit 4), and verifies the ledger', async () => {
    const started = await migrate('start', PLAN, '--id', id, '--as', 'alice');
    expect(started.code).toBe(0);
    expect(started.stdout).toContain(`plan sha256 ${planDigest(loadPlan(PLAN))}`);
    expect(started.stdout).toContain('approvals signed: every approval and rejection is verified');
    const atGate = await until(id, (s) => s.phase === 'gate:go');
    expect(atGate.approvalsAuthenticated).toBe(true);
    const target = { migrationId: id, planDigest: atGate.planDigest! };
    const claim = { decision: 'approve', person: demoApprover('technical-lead'), gate: 'go', role: 'technical-lead' };
    const approval: ApproveArgs = { gate: 'go', role: 'technical-lead', approver: claim.person };

    // Unauthenticated junk is refused by the validator: an answer at once, and no trace in the history.
    const before = await events(id);
    const unsigned = await stockUpdate(id, 'approve', approval);
    expect(unsigned.code).not.toBe(0);
    expect(unsigned.out).toContain('unsigned: the plan lists approver keys');
    const mallory = path.join(tempDir('mo-mallory'), 'id_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', mallory]);
    const cases: [string, string[], RegExp][] = [
      ['forged (a key of their own)', ['--key', mallory], /bad signature: signed with another key than the plan lists/],
      ['signed with another listed key', as('technical-lead', 'engineering-manager').slice(2), /another key/],
    ];
    for (const [, key, reason] of cases) {
      const t0 = Date.now();
      const r = await migrate(
        'approve',
        id,
        '--gate',
        'go',
        '--role',
        'technical-lead',
        '--as',
        claim.person,
        ...key,
        '--plan',
        PLAN,
      );
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 4, stderr: expect.stringMatching(reason) });
      // An answer, not a poll: well inside the 30-s answer timeout.
      expect(Date.now() - t0).toBeLessThan(15_000);
    }
    for (const [signature, reason] of [
      [
        await signRequest(claim, { ...target, migrationId: `${id}-other` }, demoSigner(claim.person)),
        /signed for migration/,
      ],
      [
        await signRequest(claim, { ...target, planDigest: planDigest({ edited: true }) }, demoSigner(claim.person)),
        /signed for another plan/,
      ],
      [await signRequest({ ...claim, gate: 'cutover' }, target, demoSigner(claim.person)), /bad signature/],
    ] as const) {
      const r = await stockUpdate(id, 'approve', { ...approval, signature });
      expect(r.code).not.toBe(0);
      expect(r.out).toMatch(reason);
    }
    expect(await events(id)).toBe(before);

    // Our CLI refuses to sign a plan the person did not read.
    const edited = path.join(root, 'plans', `.approvals-test-${uniq()}.yaml`);
    fs.writeFileSync(edited, fs.readFileSync(PLAN, 'utf8').replace('bake: 4s', 'bake: 5s'));
    try {
      const other = await migrate('approve', id, '--role', 'technical-lead', ...as('technical-lead'), '--plan', edited);
      expect(other.code).toBe(4);
      expect(other.stderr).toContain('is not the plan');
    } finally {
      fs.rmSync(edited, { force: true });
    }

    // A signed request that breaks a rule is recorded (audit, ledger) and refused with the rule.
    const wrongRole = await migrate('approve', id, '--gate', 'go', '--role', 'stakeholder', ...as('stakeholder'));
    expect(wrongRole.code).toBe(4);
    expect(wrongRole.stderr).toContain('gate go does not need role stakeholder');
    expect((await status(id)).audit.at(-1)).toMatchObject({ kind: 'rejected', actor: 'stakeholder-demo' });

    // Approve shows what is approved, and signs only for a plan the person read: --plan, or --yes-i-read <digest>.
    const key = ['--as', demoApprover('technical-lead'), '--key', demoKeyFile(demoApprover('technical-lead'))];
    const go = ['approve', id, '--gate', 'go', '--role', 'technical-lead', ...key];
    const unread = await migrate(...go);
    expect(unread.code).toBe(64);
    expect(unread.stderr).toContain(`plan sha256 ${atGate.planDigest}`);
    expect(unread.stderr).toContain(
      `approve needs --plan <file> (the plan you read) or --yes-i-read ${atGate.planDigest}`,
    );
    const misread = await migrate(...go, '--yes-i-read', 'f'.repeat(64));
    expect(misread.code).toBe(4);
    expect(misread.stderr).toContain('is not the digest of the plan');
    expect((await status(id)).gates.go?.signatures).toEqual([]);

    // The stock CLI with a request our CLI signed, run as printed through a shell: a quote and a command
    // substitution in the comment stay text. Accepted once; the same request again is a replay.
    const marker = path.join(tempDir('mo-quote'), 'ran');
    const comment = `it's fine; $(touch ${marker})`;
    const printed = await migrate(
      ...go,
      '--yes-i-read',
      atGate.planDigest!.slice(0, 12),
      '--comment',
      comment,
      '--print-request',
    );
    expect(printed.code).toBe(0);
    const request = JSON.parse(printed.stdout.slice(0, printed.stdout.indexOf('\n\n'))) as ApproveArgs;
    const line = printed.stdout.trim().split('\n').at(-1)!;
    expect(line).toMatch(/^temporal workflow update execute /);
    const cli = requireEnv('TEMPORAL_CLI_PATH');
    const first = await exec('bash', ['-c', `temporal() { "$MO_TEMPORAL" "$@"; }\n${line}`], {
      env: { ...process.env, MO_TEMPORAL: cli },
    }).then(
      (r) => ({ code: 0, out: r.stdout + r.stderr }),
      (e: { code?: number; stdout?: string; stderr?: string }) => ({
        code: e.code ?? 1,
        out: `${e.stdout}${e.stderr}`,
      }),
    );
    expect(first.code).toBe(0);
    expect(first.out).toContain('signature verified');
    expect(fs.existsSync(marker)).toBe(false);
    expect((await status(id)).gates.go?.signatures[0]?.comment).toBe(comment);
    const again = await stockUpdate(id, 'approve', request);
    expect(again.code).not.toBe(0);
    expect(again.out).toContain('replayed');

    // Through our CLI: the answer carries the gate's new state; the gate opens the way.
    const ok = await migrate(
      'approve',
      id,
      '--gate',
      'go',
      '--role',
      'engineering-manager',
      ...as('engineering-manager'),
    );
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('engineering-manager engineering-manager-demo approved gate go (signature verified)');
    expect(ok.stdout).toContain('gate go: signed');
    // --as is the client identity too: the history names who sent the Update.
    const accepted = (await client.workflow.getHandle(id).fetchHistory()).events?.flatMap((e) => {
      const meta = e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.meta;
      return meta ? [meta.identity] : [];
    });
    expect(accepted).toContain('engineering-manager-demo');
    const past = await until(id, (s) => s.phase !== 'gate:go');
    expect(past.gates.go?.signatures.map((x) => [x.approver, x.verified])).toEqual([
      ['technical-lead-demo', true],
      ['engineering-manager-demo', true],
    ]);

    // A rollback is never blocked by authentication, and the audit says its requester was not verified.
    const rb = await migrate('rollback', id, '--reason', 'approvals test', '--as', 'olga');
    expect(rb.code).toBe(0);
    const end = await until(id, (s) => isFinalPhase(s.phase));
    expect(end.audit.find((a) => a.kind === 'rollback-requested')?.detail).toContain('requester NOT verified');

    // The ledger verifies from PostgreSQL alone; a row edited by hand is named.
    const ledgerRows = end.ledgerSeq!;
    for (let i = 0; i < 50 && (await status(id)).ledgerWritten !== ledgerRows; i++)
      await new Promise((r) => setTimeout(r, 100));
    const verify = () =>
      migrateCli(['audit', 'verify', id, '--plan', PLAN], {
        MO_TASK_QUEUE: taskQueue,
        TEMPORAL_ADDRESS: '127.0.0.1:1',
      });
    const clean = await verify();
    expect(clean.code).toBe(0);
    expect(clean.stdout).toMatch(
      new RegExp(`ledger of ${id}: ${ledgerRows} rows chained, 2 signature\\(s\\) verified`),
    );
    await withPg(process.env.DEMO_DATABASE_URL!, (db) =>
      db.query(`update migration_ledger set detail = detail || ' (edited)' where migration_id = $1 and seq = 5`, [id]),
    );
    const tampered = await verify();
    expect(tampered.code).toBe(4);
    expect(tampered.stdout).toContain('row 5: its content does not match its hash');
  }, 180_000);

  it('fails a migration started with the stock CLI and a hand-edited invalid plan before any activity', async () => {
    const plan = loadPlan(PLAN) as unknown as Record<string, any>;
    plan.traffic.steps = [50, 10, 100];
    plan.preflight[0].measure = { kind: 'command', command: ['sh -c "id > /tmp/pwned"'], shell: true };
    const bad = `${id}-stock`;
    const args = temporalCliArgs(config, 'workflow', 'start', '--type', 'migrationWorkflow', '--task-queue', taskQueue);
    await exec(
      requireEnv('TEMPORAL_CLI_PATH'),
      [...args, '--workflow-id', bad, '--input', JSON.stringify({ migrationId: bad, plan, startedBy: 'mallory' })],
      { env: temporalCliEnv() },
    );
    const handle = client.workflow.getHandle(bad);
    await expect(handle.result()).rejects.toThrow();
    const history = await handle.fetchHistory();
    expect(history.events?.some((e) => e.activityTaskScheduledEventAttributes)).toBe(false);
    const failure = history.events?.find((e) => e.workflowExecutionFailedEventAttributes)
      ?.workflowExecutionFailedEventAttributes?.failure;
    expect(failure?.message).toContain('traffic.steps[1]: expected steps to increase, got 10 after 50');
  });

  it('refuses shell: true on a worker that does not allow shells, naming the setting', async () => {
    const marker = path.join(tempDir('mo-shell'), 'ran');
    const shellPlan = path.join(root, 'plans', `.shell-test-${uniq()}.yaml`);
    const text = fs.readFileSync(PLAN, 'utf8');
    const check = `preflight:\n  - name: shell-check\n    command: "touch ${marker}; echo 100"\n    shell: true\n    op: '>='\n    threshold: 1\n`;
    fs.writeFileSync(shellPlan, text.replace(/^preflight:\n/m, check));
    const sid = `${id}-shell`;
    try {
      expect((await migrate('start', shellPlan, '--id', sid)).code).toBe(0);
    } finally {
      fs.rmSync(shellPlan, { force: true });
    }
    const end = await until(sid, (s) => isFinalPhase(s.phase));
    expect(end.phase).toBe('failed');
    expect(end.failure).toContain('shell-check');
    expect(end.failure).toContain('MO_ALLOW_SHELL=1');
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('runs a plan without keys, and its answers say plainly that approvals are not authenticated', async () => {
    const unkeyed = path.join(root, 'plans', `.unkeyed-test-${uniq()}.yaml`);
    fs.writeFileSync(unkeyed, fs.readFileSync(PLAN, 'utf8').replace(/^ {2}keysFile: .*\n/m, ''));
    const uid = `${id}-unkeyed`;
    try {
      const started = await migrate('start', unkeyed, '--id', uid);
      expect(started.stdout).toContain('approvals NOT authenticated');
    } finally {
      fs.rmSync(unkeyed, { force: true });
    }
    await until(uid, (s) => s.phase === 'gate:go');
    const answer = await client.workflow
      .getHandle(uid)
      .executeUpdate(approveUpdate, { args: [{ gate: 'go', role: 'technical-lead', approver: 'tina' }] });
    expect(answer).toMatchObject({ accepted: true, verified: null, phase: 'gate:go' });
    const r = await migrate('abort', uid, '--as', 'olga');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('not authenticated');
  });
});

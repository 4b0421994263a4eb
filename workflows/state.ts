import {
  allHandlersFinished,
  condition,
  log,
  patched,
  setCurrentDetails,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { DEFAULT_SIGNATURE_WINDOW_MS, type GateName, type InterruptKind, type Phase } from '../model/constants';
import type {
  BackupRecord,
  CarriedState,
  Compensation,
  GateEvaluation,
  GateState,
  LedgerEntry,
  MigrationInput,
  MigrationResult,
  MigrationStatus,
  OperatorArgs,
} from '../model/status';
import { migrationPhaseKey, trafficPercentKey } from './definitions';
import { ledgerOf, type GateSpec, type Plan } from '../model/plan';
import { ledgerActs, noticeActs, quick } from './proxies';
import type { AuthContext, Authentication } from '../model/auth';
import type { FailureCount } from '../model/status';
import type { RollbackResult } from '../model/status';
import { runbookCard } from '../model/card';
import { newGate, openGateOf } from '../model/rules';
import { waitLabel, type Wait } from '../model/summaries';
import { chained } from '../model/ledger-chain';
import { phaseMetric } from './metrics';
import { planDigest } from '../model/signatures';

/** How long the end of a run waits for notifications still on their way. */
const NOTICE_GRACE_MS = 3_000;

/** Audit entries the status keeps by default (a 7-day soak at 5 minutes writes some 4,000). */
const DEFAULT_AUDIT_KEPT = 500;

/**
 * Unwritten ledger entries a run may hold (and carry through the soak's continue-as-new) before the migration stops
 * and asks: some 300 KiB of input, a day of a soak at 5 minutes with its ledger database down.
 */
const DEFAULT_PENDING_LEDGER_MAX = 1_000;

/** Evaluations the status keeps (and so the carried state, over a long soak); the ledger keeps them all. */
const EVALUATIONS_KEPT = 200;

/** A notification: its event, subject, text and data (see `MigrationState.notify`). */
export interface Notice {
  event: string;
  subject: string;
  text: string;
  data?: Record<string, unknown>;
}

/** How a failure's text meets the one recorded before: the first cause stays, is replaced, or is followed. */
type FailureMerge = 'first' | 'replace' | 'append';

/** Raised inside the workflow body to leave the forward path for rollback or abort. */
export class Interrupt extends Error {
  constructor(
    /** Why: decisions depend on this, never on `requestedBy`. */
    readonly kind: InterruptKind,
    readonly action: 'rollback' | 'abort',
    readonly reason: string,
    /** Who asked (a person, or the part of the workflow that decided: recorded in the rollback's input and audit). */
    readonly requestedBy: string,
  ) {
    super(reason);
  }
}

const now = () => new Date().toISOString();

/**
 * Everything a migration knows while it runs: the status the query answers, the failure counts of the metric gates,
 * the ledger rows not yet written, the pending interrupt and the decision a gate waits for. Only its own methods
 * change it (as the `safe-message-handlers` sample's ClusterManager): handlers record requests through them, the
 * runbook, gates and waits read it, decide, and call them.
 */
export class MigrationState {
  readonly plan: Plan;
  readonly migrationId: string;
  /** The status, written here only (`status` reads it). */
  private readonly current: MigrationStatus;
  private tally: Record<string, FailureCount>;
  private pendingInterrupt?: Interrupt;
  private retry?: OperatorArgs;
  private deciding = false;
  private rolledBack?: RollbackResult;
  /** The current `hold`'s wait, typed (the status carries its label): the card says what follows it. */
  private wait?: Wait;
  /** Ledger rows not yet written (written at the next checkpoint; kept on failure and written later). */
  private readonly pendingLedger: LedgerEntry[];
  /** Notifications on their way (sent beside the runbook; see `notify`). */
  private readonly notices = new Set<Promise<void>>();
  private readonly auditKept: number;

  /**
   * The changes of running workflow code this run follows, decided once at the start of the run, before anything can
   * be in flight: a `patched()` call later, in the same workflow task as a local activity's result, can replay in
   * another order than it ran (seen in CI: "patch marker encountered ... but there is no corresponding change").
   */
  readonly changes: {
    notifyBeside: boolean;
    rollbackFirst: boolean;
    askAfterSoak: boolean;
    /** Each undo record is written to the ledger before its change is made (`migrate rollback` from the ledger). */
    undoInLedger: boolean;
    /** A ledger that cannot be written past `pendingLedgerMax` entries stops the migration (nothing is dropped). */
    boundedLedger: boolean;
    /**
     * The changes older code decided later, on first use (`measurement-ledger`, `interrupt-cancels-neutral-activity`,
     * `archive-blocked`, `fail-without-rollback-when-nothing-changed`), all on from the start: a run that records this
     * never calls those `patched()`, so none of them can land beside a local activity's result and replay out of
     * order (seen in CI as a query's replay failing on the `interrupt-cancels-neutral-activity` marker). A run from
     * before has no such marker and still decides each on first use, as it did.
     */
    settledAtStart: boolean;
    /** The run is admitted by the worker (start proof, trust file) before anything else; its rollback child too. */
    admission: boolean;
    /**
     * Signatures that mean it: resume, retry and fail signed like approvals, every signature good for the plan's
     * window only, and a gate decision only for the opening of the gate that is open.
     */
    strictSignatures: boolean;
  };
  private readonly pendingLedgerMax: number;

  constructor(readonly input: MigrationInput) {
    this.changes = {
      notifyBeside: patched('notify-beside'),
      rollbackFirst: patched('rollback-first'),
      askAfterSoak: patched('ask-after-soak'),
      undoInLedger: patched('undo-in-ledger'),
      boundedLedger: patched('bounded-ledger'),
      settledAtStart: patched('lazy-changes-at-start'),
      admission: patched('admission'),
      strictSignatures: patched('strict-signatures'),
    };
    this.pendingLedgerMax = input.pendingLedgerMax ?? DEFAULT_PENDING_LEDGER_MAX;
    this.plan = input.plan;
    this.migrationId = input.migrationId;
    this.current = input.carried?.status ?? {
      migrationId: input.migrationId,
      name: input.plan.name,
      phase: 'preflight',
      paused: false,
      trafficPercent: 0,
      gates: {},
      lastReadings: {},
      evaluations: [],
      backups: [],
      compensations: [],
      reports: {},
      audit: [],
      phaseTimeline: [],
      startedAt: now(),
      updatedAt: now(),
      runs: 0,
    };
    // What signed approvals name; computed once (a carried status has it).
    this.current.planDigest ??= planDigest(input.plan);
    this.current.approvalsAuthenticated = this.signed;
    this.tally = input.carried?.failures ?? {};
    this.pendingLedger = [...(input.carried?.pendingLedger ?? [])];
    this.auditKept = input.auditKept ?? DEFAULT_AUDIT_KEPT;
  }

  /** What the `status` query answers: read-only outside this class. */
  get status(): Readonly<MigrationStatus> {
    return this.current;
  }

  /** The failed, consecutive and inconclusive evaluations of each metric so far. */
  get failures(): Readonly<Record<string, FailureCount>> {
    return this.tally;
  }

  /** The first rollback/abort/fail asked for (later ones are recorded, not queued). */
  get interrupt(): Interrupt | undefined {
    return this.pendingInterrupt;
  }

  /** Set by `retry` while a gate evaluation waits for a decision. */
  get retryRequested(): OperatorArgs | undefined {
    return this.retry;
  }

  /** A gate evaluation waits for a person's decision (`retry` is possible). */
  get awaitingDecision(): boolean {
    return this.deciding;
  }

  /** Appends to the audit log (the status keeps the latest entries) and queues the entry for the ledger. */
  audit(kind: string, detail: string, actor?: string, data?: unknown): void {
    const status = this.current;
    const seq = status.ledgerSeq ?? 0;
    status.ledgerSeq = seq + 1;
    const entry = { at: now(), kind, detail, ...(actor ? { actor } : {}), seq };
    status.audit.push(entry);
    // The status (queried, and carried through the soak's continue-as-new) keeps the latest entries; the ledger all.
    if (status.audit.length > this.auditKept) status.audit.splice(0, status.audit.length - this.auditKept);
    this.pendingLedger.push(chained({ ...entry, ...(data === undefined ? {} : { data }) }, status.ledgerHead ?? ''));
    status.ledgerHead = this.pendingLedger.at(-1)!.hash;
    status.updatedAt = now();
    // Every change of state is audited: the UI's card follows it.
    this.showCard();
  }

  /** The Temporal UI's current details: the runbook card of the state as it is now. */
  showCard(): void {
    setCurrentDetails(runbookCard(this.plan, this.current, Date.now(), this.wait, this.input.codecEndpoint));
  }

  /** The plan lists approver keys: approvals and rejections must be signed. */
  get signed(): boolean {
    return Object.keys(this.plan.approvals.keys ?? {}).length > 0;
  }

  /** What a request's signature is checked against now. */
  authContext(): AuthContext {
    return {
      migrationId: this.migrationId,
      planDigest: this.status.planDigest!,
      ...(this.plan.approvals.keys ? { keys: this.plan.approvals.keys } : {}),
      nonces: this.status.nonces ?? [],
      nowMs: Date.now(),
      ...(this.changes.strictSignatures ? { strict: this.strictAuth() } : {}),
    };
  }

  /** The window of a signature and the gate it may decide on now. */
  private strictAuth(): NonNullable<AuthContext['strict']> {
    const open = openGateOf(this.current.gates);
    return {
      windowMs: this.plan.approvals.signatureWindowMs ?? DEFAULT_SIGNATURE_WINDOW_MS,
      ...(open ? { openGate: { name: open.name, ...(open.openedAt ? { openedAt: open.openedAt } : {}) } } : {}),
    };
  }

  /** A signed request was accepted: its nonce cannot be used again. */
  acceptNonce(who: Authentication): void {
    if ('nonce' in who && who.nonce) (this.current.nonces ??= []).push(who.nonce);
  }

  /** Moves to a phase: timeline, audit, search attribute, log. */
  enter(phase: Phase): void {
    this.current.phase = phase;
    this.current.phaseTimeline.push({ phase, at: now() });
    this.audit('phase', phase);
    upsertSearchAttributes([{ key: migrationPhaseKey, value: phase }]);
    phaseMetric(this.migrationId, phase);
    log.info('migration phase', { migrationId: this.migrationId, phase });
  }

  /**
   * Records how to undo a production change, before the change is made: in the status, and in the ledger with its
   * data, written before the change, so `migrate rollback` can undo it from the ledger alone once the workflow's
   * history is gone (retention, `temporal workflow delete`).
   */
  async record(c: Compensation): Promise<void> {
    this.current.compensations.push(c);
    if (!this.changes.undoInLedger) return this.audit('compensation', `recorded undo: ${c.kind}`);
    this.audit('compensation', `recorded undo: ${c.kind}`, undefined, c);
    // Not waited for beyond the write's own retries: a ledger hiccup (connections exhausted under load, seen in the
    // scale bench) must not stop a migration before its change; the record stays pending and is written at the next
    // checkpoint, and the bound below stops a migration whose ledger stays down.
    await this.flushLedger();
  }

  /**
   * The ledger cannot be written: rather than go on without it (an undo record only Temporal knows, entries dropped or
   * carried without bound), the migration stops and asks. Resume writes the ledger again; rollback and abort still
   * work (their report shows the newest unwritten entries).
   */
  async ledgerBlocked(why: string): Promise<void> {
    const ledger = ledgerOf(this.plan);
    const attention = `the ledger (${ledger.table} at $${ledger.databaseUrlEnv}) cannot be written: ${this.pendingLedger.length} entries wait; ${why}. Nothing is dropped; the migration stops here until they are written. Fix the database, then \`migrate resume ${this.migrationId}\` (or \`migrate rollback ${this.migrationId}\`).`;
    await this.pauseAndAsk(attention, {
      event: 'ledger-blocked',
      subject: 'ledger not written: migration stopped',
      text: attention,
    });
    await condition(() => !this.current.paused || this.interrupt !== undefined);
    this.clearAttention();
    await this.flushLedger();
  }

  /** More ledger entries unwritten than a run may hold: the migration must stop until the ledger is written. */
  ledgerBacklogged(): boolean {
    return this.changes.boundedLedger && this.pendingLedger.length > this.pendingLedgerMax;
  }

  /** How many ledger entries are not written yet. */
  get ledgerUnwritten(): number {
    return this.pendingLedger.length;
  }

  /** Keeps the first interrupt: a second rollback or abort while one is pending changes nothing. */
  requestInterrupt(i: Interrupt): void {
    this.pendingInterrupt ??= i;
  }

  /** A step failed for good: its failure becomes the interrupt (replacing a pending one) and the recorded failure. */
  stepFailed(reason: string): Interrupt {
    this.pendingInterrupt = new Interrupt('step-failed', 'rollback', reason, 'migration-workflow');
    this.current.failure = reason;
    return this.pendingInterrupt;
  }

  /** Records why the migration fails (by default the first cause stays) and returns the failure as it now reads. */
  recordFailure(text: string, merge: FailureMerge = 'first'): string {
    const status = this.current;
    switch (merge) {
      case 'first':
        return (status.failure ??= text);
      case 'replace':
        return (status.failure = text);
      case 'append':
        // The cause stays first: what followed is added to it, never replaces it.
        return (status.failure = `${status.failure ? `${status.failure}; ` : ''}${text}`);
    }
  }

  /** `pause` and `resume`: the runbook stops at its next checkpoint while paused. */
  setPaused(paused: boolean): void {
    this.current.paused = paused;
  }

  /** `retry`: the gate evaluation waiting for a decision measures again. */
  requestRetry(args: OperatorArgs): void {
    this.retry = args;
  }

  /**
   * The one way the migration asks a person: it pauses with what is wrong and which command decides (`attention`),
   * audits it (as `audited`, if given) and notifies. The caller waits for the answer its way, then `clearAttention`.
   */
  async pauseAndAsk(attention: string, notice: Notice, audited = attention): Promise<void> {
    this.current.paused = true;
    this.current.attention = attention;
    this.audit('paused', audited);
    await this.notify(notice.event, notice.subject, notice.text, notice.data);
  }

  /** The question `pauseAndAsk` put is settled. */
  clearAttention(): void {
    this.current.attention = undefined;
  }

  /** Waits for a person's decision on a gate evaluation: resume (go on), retry (measure again) or rollback/abort. */
  async decision(): Promise<'resume' | 'retry'> {
    await this.flushLedger();
    this.deciding = true;
    this.retry = undefined;
    await condition(() => !this.current.paused || this.retry !== undefined || this.interrupt !== undefined);
    this.deciding = false;
    this.clearAttention();
    if (this.interrupt) throw this.interrupt;
    if (this.retry) {
      this.current.paused = false;
      return 'retry';
    }
    return 'resume';
  }

  /** A durable wait begins: what it waits for (`status.waitingFor` carries its label), since and until when. */
  setWaiting(wait: Wait, ms: number): void {
    const status = this.current;
    status.waitingSince = new Date(Date.now()).toISOString();
    status.waitingUntil = new Date(Date.now() + ms).toISOString();
    status.waitingFor = waitLabel(wait);
    this.wait = wait;
  }

  /** The durable wait ended (or was interrupted). */
  clearWaiting(): void {
    const status = this.current;
    status.waitingUntil = status.waitingSince = status.waitingFor = undefined;
    this.wait = undefined;
    this.showCard();
  }

  /** The unified share of the traffic as the router now has it: status and search attribute. */
  setTrafficPercent(percent: number): void {
    this.current.trafficPercent = percent;
    upsertSearchAttributes([{ key: trafficPercentKey, value: percent }]);
  }

  /** A report written (validation, completion, rollback): its file. */
  recordReport(kind: string, file: string): void {
    this.current.reports[kind] = file;
  }

  /** A verified backup; a step's backup is kept once (a retried step does not list it twice). */
  recordBackup(rec: BackupRecord): void {
    const { backups } = this.current;
    if (!backups.some((b) => b.step === rec.step)) backups.push(rec);
  }

  /** A metric gate's evaluation: its readings as the latest, the metrics' failure counts after it, the evaluation. */
  recordEvaluation(evaluation: GateEvaluation, failures: Record<string, FailureCount>): void {
    const status = this.current;
    for (const r of evaluation.readings) status.lastReadings[r.name] = r;
    this.tally = failures;
    status.evaluations.push(evaluation);
    if (status.evaluations.length > EVALUATIONS_KEPT)
      status.evaluations.splice(0, status.evaluations.length - EVALUATIONS_KEPT);
  }

  /** A person decided to go on past inconclusive metrics: their inconclusive counts start again. */
  resetInconclusive(names: string[]): void {
    for (const n of names) this.tally[n]!.inconclusive = 0;
  }

  /** Opens an approval gate (the status shows it, the handlers find it) and returns it. */
  openGate(name: GateName, spec: GateSpec): GateState {
    const gate = newGate(name, spec, now());
    this.current.gates[name] = gate;
    return gate;
  }

  /** A verified approval of the open gate. */
  addSignature(gate: GateState, signature: GateState['signatures'][number]): void {
    gate.signatures.push(signature);
  }

  /** A rejection of the open gate (the handler asks for the rollback). */
  rejectGate(gate: GateState): void {
    gate.outcome = 'rejected';
  }

  /** The gate timed out and its plan says abort: it stops waiting (`closeGate` dates it). */
  timeOutGate(gate: GateState): void {
    gate.outcome = 'timed-out';
    gate.open = false;
  }

  /** Closes a gate: approved, or with an interrupt pending, aborted (a rejection or timeout keeps its outcome). */
  closeGate(gate: GateState): void {
    gate.open = false;
    gate.decidedAt = now();
    if (this.interrupt) gate.outcome ??= 'aborted';
    else gate.outcome = 'approved';
  }

  /** The rollback workflow ended: its report, the traffic back on the legacy path, its result in this one's. */
  recordRollback(rollback: RollbackResult): void {
    this.current.reports.rollback = rollback.reportFile;
    this.setTrafficPercent(0);
    this.rolledBack = rollback;
  }

  /** The entries not written to the ledger table yet (the rollback's report shows them with the table's). */
  unwritten(): LedgerEntry[] {
    return this.pendingLedger.slice(-50);
  }

  /** Appends the pending entries to the ledger table; a ledger that cannot be written never stops a migration. */
  async flushLedger(): Promise<void> {
    // Patched: histories recorded before the ledger existed wrote nothing here. Not in `changes`: recorded histories
    // have its marker after the first activity, and called at the start they no longer replay.
    if (!this.pendingLedger.length || !(this.changes.settledAtStart || patched('measurement-ledger'))) return;
    const batch = this.pendingLedger.splice(0);
    const ledger = ledgerOf(this.plan);
    try {
      await ledgerActs.appendLedger({
        migrationId: this.migrationId,
        databaseUrlEnv: ledger.databaseUrlEnv,
        table: ledger.table,
        entries: batch,
      });
      this.current.ledgerWritten = batch.at(-1)!.seq + 1;
    } catch (err) {
      this.pendingLedger.unshift(...batch);
      log.warn('ledger not written; kept for the next checkpoint', {
        migrationId: this.migrationId,
        error: (err as Error).message,
      });
    }
  }

  /**
   * Sends a notification to the plan's channels beside the runbook (its own workflow, with its own retries): the
   * runbook waits only for it to start. One that cannot be delivered is recorded (`notificationFailed`), never fatal.
   */
  async notify(event: string, subject: string, text: string, data?: Record<string, unknown>): Promise<void> {
    const { plan } = this;
    if (!plan.notifications.webhook && !plan.notifications.email) return;
    const notice = {
      migrationId: this.migrationId,
      event,
      subject: `[${plan.name}] ${subject}`,
      text,
      data,
      channels: plan.notifications,
    };
    // Patched: histories recorded before this change awaited the delivery here (up to minutes for a dead receiver).
    if (this.changes.notifyBeside) {
      const sent = noticeActs.notify(notice).then(
        () => undefined,
        (err: Error) => {
          // Every attempt failed: recorded, never fatal.
          this.audit('notify-failed', `${event}: ${err.cause instanceof Error ? err.cause.message : err.message}`);
        },
      );
      this.notices.add(sent);
      void sent.finally(() => this.notices.delete(sent));
      return;
    }
    try {
      await quick.notify(notice);
    } catch (err) {
      // A notification that cannot be delivered never stops or rolls back a migration; it is recorded.
      this.audit('notify-failed', `${event}: ${(err as Error).message}`);
    }
  }

  /** What the next run of a soak rolled over with continue-as-new starts from (one more run in the status). */
  carryOver(soakStartedAt: number, soakChecksDone: number): CarriedState {
    this.current.runs++;
    return {
      status: this.current,
      soakStartedAt,
      soakChecksDone,
      failures: this.tally,
      ...(this.pendingLedger.length ? { pendingLedger: this.pendingLedger } : {}),
    };
  }

  /**
   * Gives the notifications still on their way up to `NOTICE_GRACE_MS` to arrive (the last one of a migration is sent
   * just before its end); those still pending after that are recorded as abandoned, and the run ends.
   */
  async lastNotices(): Promise<void> {
    if (!this.notices.size) return;
    if (
      await condition(() => this.notices.size === 0, NOTICE_GRACE_MS, {
        summary: 'notifications on their way (at most 3 s)',
      })
    )
      return;
    this.audit(
      'notify-failed',
      `${this.notices.size} notification(s) still undelivered at the end of this run: abandoned`,
    );
  }

  /** Ends the run: the ledger written and every handler done. */
  async settle(): Promise<void> {
    await this.lastNotices();
    await this.flushLedger();
    await condition(allHandlersFinished);
  }

  /** The workflow's result. */
  result(): MigrationResult {
    const status = this.current;
    return {
      migrationId: this.migrationId,
      phase: status.phase,
      trafficPercent: status.trafficPercent,
      reports: status.reports,
      ...(this.rolledBack ? { rollback: this.rolledBack } : {}),
      status,
    };
  }
}

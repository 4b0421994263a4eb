import fs from 'node:fs';
import type { Client } from '@temporalio/client';
import {
  admissionProblem,
  parseAllowedSigners,
  type StartKind,
  type StartProof,
  type TrustEntry,
} from '../model/admission';
import { WorkflowType } from '../model/constants';

/** What the workflow asks the worker to admit (its first step, a local activity). */
export interface AdmitInput {
  /** `start` a migration (also a carried soak run), `rollback` by hand or as a migration's child, a scheduled `job`. */
  kind: StartKind | 'job';
  workflowId: string;
  migrationId: string;
  /** The digest of the plan in the workflow's input. */
  planDigest: string;
  /** The server's start time of the workflow chain; absent where no window applies (a carried run, a job). */
  startedAtMs?: number;
  /** Who the input says started it. */
  claimedBy?: string;
  proof?: StartProof;
  /**
   * The run this one comes from, as the server recorded it: a rollback's parent (started by its migration), or the run
   * a carried soak run continued from. It must be our migration workflow, for this migration, on our queue.
   */
  from?: { workflowId: string; runId: string };
}

/** The worker's answer: admitted (by whom, how), or refused with the reason. */
export type Admission =
  { admitted: true; by: string; mode: 'signed' | 'child' | 'insecure' } | { admitted: false; reason: string };

/** How a worker admits runs: its trust file, or (explicitly) none at all. */
export interface AdmissionConfig {
  /** The OpenSSH allowed_signers file of who may start migrations and rollbacks (`MO_TRUST_FILE`). */
  trustFile?: string;
  /** `--insecure-accept-unsigned`: admit every run (tests of workflow logic, a throwaway local worker). */
  insecure?: boolean;
  /** To look up a rollback's parent run. */
  client?: Client;
  /** The task queues our workflows run on (the central workers'). */
  workflowQueues: string[];
}

/** Reads and parses a trust file; every bad line is an error naming the file and the line. */
export function loadTrust(file: string): TrustEntry[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`trust file ${file} (MO_TRUST_FILE) cannot be read: ${(err as Error).message}`);
  }
  const { entries, problems } = parseAllowedSigners(text);
  if (problems.length) throw new Error(`trust file ${file} (MO_TRUST_FILE): ${problems.join('; ')}`);
  if (!entries.length) throw new Error(`trust file ${file} (MO_TRUST_FILE) lists nobody: no run could be admitted`);
  return entries;
}

/** Why the run this one comes from is not a migration run of ours for this migration, or undefined. */
async function fromProblem(cfg: AdmissionConfig, i: AdmitInput): Promise<string | undefined> {
  const from = i.from!;
  if (from.workflowId !== i.migrationId)
    return `started from workflow ${from.workflowId}, not from migration ${i.migrationId}`;
  if (!cfg.client) return 'the worker has no Temporal client to look at the run this one comes from';
  const d = await cfg.client.workflow.getHandle(from.workflowId, from.runId).describe();
  if (d.type !== WorkflowType.migrationWorkflow || !cfg.workflowQueues.includes(d.taskQueue))
    return `started by a ${d.type} on task queue ${d.taskQueue}, not by our migration workflow (${cfg.workflowQueues.join(', ')})`;
  return undefined;
}

/** The admission activity, bound to the worker's trust file (read at each call, so an edit needs no restart). */
export function createAdmission(cfg: AdmissionConfig) {
  return {
    /** Admits a run or says why not: never throws for a refusal (the workflow fails with the reason). */
    admitRun: async (i: AdmitInput): Promise<Admission> => {
      if (cfg.insecure) return { admitted: true, by: i.claimedBy ?? 'unknown', mode: 'insecure' };
      if (!cfg.trustFile) return { admitted: false, reason: 'the worker has no trust file (MO_TRUST_FILE)' };
      if (i.from) {
        const bad = await fromProblem(cfg, i);
        if (bad) return { admitted: false, reason: bad };
        // A migration started before admission carries no proof; one started since carries its own, re-verified.
        if (!i.proof) return { admitted: true, by: i.migrationId, mode: 'child' };
      }
      // A job, a migration's own rollback and a carried run re-verify the migration's start proof, with no window.
      const asStart = i.kind === 'job' || i.from !== undefined;
      const problem = admissionProblem(i.proof, {
        kind: asStart ? 'start' : (i.kind as StartKind),
        workflowId: asStart ? i.migrationId : i.workflowId,
        migrationId: i.migrationId,
        planDigest: i.planDigest,
        ...(i.startedAtMs !== undefined && !asStart ? { startedAtMs: i.startedAtMs } : {}),
        ...(i.claimedBy !== undefined && i.kind !== 'job' ? { claimedBy: i.claimedBy } : {}),
        trust: loadTrust(cfg.trustFile),
      });
      if (problem) return { admitted: false, reason: problem };
      return { admitted: true, by: i.proof!.signer, mode: i.from ? 'child' : 'signed' };
    },
  };
}

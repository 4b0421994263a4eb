import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { signRequest, sshKeygenSigner } from '../../lib/signing';
import { claimFor } from '../../model/auth';
import { ownValue, REQUESTS, type MigrationRequest } from '../../model/requests';
import type { MigrationStatus } from '../../model/status';
import { planDigest, type RequestSignature } from '../../model/signatures';
import { loadPlan } from '../plan';
import { CliError, ExitCode } from './errors';

/** The key a person signs with unless `--key` names another: OpenSSH's default Ed25519 key. */
export const DEFAULT_KEY = path.join(os.homedir(), '.ssh', 'id_ed25519');

/** What signing needs from the command line. */
export interface SignOptions {
  /** The private key file (or, with ssh-agent holding the key, its .pub file). */
  key?: string;
  /** The plan file the person read: signing refuses when the migration runs another plan. */
  plan?: string;
}

/**
 * The signature of a request when the migration's plan lists approver keys, made with `ssh-keygen -Y sign` over the
 * migration, the request's claim (as the workflow reads it), a fresh nonce, the time and the plan's digest. A kind that
 * requires a signature (approve, reject, resume, retry, fail) fails without a key; the others go unsigned and the
 * audit says so.
 */
export async function signatureFor(
  status: MigrationStatus,
  request: MigrationRequest,
  o: SignOptions,
): Promise<RequestSignature | undefined> {
  if (!status.approvalsAuthenticated || !status.planDigest) return undefined;
  const claim = claimFor(request);
  const required = REQUESTS[request.kind].signature === 'required';
  const key = o.key ?? DEFAULT_KEY;
  if (!fs.existsSync(key)) {
    if (!required) return undefined;
    throw new CliError(
      `${status.migrationId} needs a signed ${request.kind} (its plan lists keys), and there is no key at ${key}: name yours with --key <file> (an OpenSSH Ed25519 key whose public half the plan lists for ${claim.person})`,
      ExitCode.error,
    );
  }
  if (o.plan) {
    const mine = planDigest(loadPlan(o.plan));
    if (mine !== status.planDigest)
      throw new CliError(
        `${o.plan} is not the plan ${status.migrationId} runs (sha256 ${mine.slice(0, 12)}… vs ${status.planDigest.slice(0, 12)}…): nothing was signed`,
        ExitCode.rejected,
      );
  }
  // A gate decision is good for the opening of its gate the status shows, and only that one.
  const gateOpenedAt = claim.gate === undefined ? undefined : ownValue(status.gates, claim.gate)?.openedAt;
  const target = {
    migrationId: status.migrationId,
    planDigest: status.planDigest,
    ...(gateOpenedAt !== undefined ? { gateOpenedAt } : {}),
  };
  return signRequest(claim, target, sshKeygenSigner(key));
}

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ADMISSION_NAMESPACES, startText, type StartKind, type StartProof } from '../model/admission';
import { sshKeygenSigner, type Signer } from './signing';

/**
 * The key a starter signs with unless `--key` names another: `MO_SIGNING_KEY`, else OpenSSH's default Ed25519 key
 * (the same default as `migrate approve`).
 */
export const defaultStartKey = (): string =>
  process.env.MO_SIGNING_KEY || path.join(os.homedir(), '.ssh', 'id_ed25519');

/** What a start proof names: the workflow to start, its migration and plan, and who starts it. */
export interface StartTarget {
  kind: StartKind;
  workflowId: string;
  migrationId: string;
  planDigest: string;
  signer: string;
}

/** Signs a start (`migrate start`) or a hand-started rollback (`migrate rollback`) now, with `signer`. */
export async function signStart(target: StartTarget, signer: Signer): Promise<StartProof> {
  const base = { ...target, signedAt: new Date().toISOString() };
  return { ...base, sshsig: await signer(startText(base)) };
}

/**
 * Signs with an OpenSSH key file through `ssh-keygen -Y sign -n migrate-start|migrate-rollback`; a missing key file is
 * an error that says which option names one.
 */
export async function signStartWithKey(target: StartTarget, keyFile = defaultStartKey()): Promise<StartProof> {
  if (!fs.existsSync(keyFile))
    throw new Error(
      `no key at ${keyFile}: a ${target.kind} is signed by a starter the worker trusts; name your OpenSSH Ed25519 key with --key <file> (or MO_SIGNING_KEY), whose public half the worker's trust file (MO_TRUST_FILE) lists for ${target.signer}`,
    );
  return signStart(target, sshKeygenSigner(keyFile, ADMISSION_NAMESPACES[target.kind]));
}

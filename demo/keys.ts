import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../lib/config';
import { sshKeygenSigner, type Signer } from '../lib/signing';
import { signStartWithKey } from '../lib/start-proof';
import type { StartKind, StartProof } from '../model/admission';
import type { Plan } from '../model/plan';
import { planDigest } from '../model/signatures';

/** Where the demo keeps its approvers' throwaway keys (per checkout; `plans/demo.yaml` names the allowed_signers). */
export const DEMO_KEYS = path.join(projectRoot, '.stack', 'demo', 'keys');

/** The demo's approvers: one per role, each with a key of their own (separation of duties holds). */
export const DEMO_ROLES = ['technical-lead', 'engineering-manager', 'product-owner', 'stakeholder'] as const;
export const demoApprover = (role: string) => `${role}-demo`;

/** The private key file of a demo approver. */
export const demoKeyFile = (approver: string) => path.join(DEMO_KEYS, approver);

/**
 * Makes the demo approvers' keys once (OpenSSH Ed25519, no passphrase, with `ssh-keygen` as a person would) and the
 * `allowed_signers` file the demo plan reads. Throwaway keys for the demo only: never list them in a real plan.
 */
export function ensureDemoKeys(): string {
  fs.mkdirSync(DEMO_KEYS, { recursive: true, mode: 0o700 });
  const lines = ['# The demo approvers (throwaway keys made by demo/keys.ts; never use them for a real plan).'];
  for (const role of DEMO_ROLES) {
    const name = demoApprover(role);
    const file = demoKeyFile(name);
    if (!fs.existsSync(`${file}.pub`)) {
      fs.rmSync(file, { force: true });
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${name}@demo`, '-f', file]);
    }
    lines.push(`${name} ${fs.readFileSync(`${file}.pub`, 'utf8').trim()}`);
  }
  const signers = path.join(DEMO_KEYS, 'allowed_signers');
  // Another demo or test may be reading the file this moment.
  writeIfChanged(signers, `${lines.join('\n')}\n`);
  ensureDemoTrust();
  return signers;
}

/** The demo's starter: signs `migrate start` and hand-started rollbacks; the workers' trust file lists the key. */
export const DEMO_STARTER = 'operator-demo';

/** The demo workers' trust file (MO_TRUST_FILE): who may start migrations and rollbacks on them. */
export const DEMO_TRUST_FILE = path.join(DEMO_KEYS, 'trusted_starters');

/**
 * Makes the demo starter's key once and the workers' trust file: its key may start migrations and rollbacks under any
 * name (principal `*`, so the demo's and the tests' `--as` names all sign with it). Demo only: a real trust file names
 * each starter.
 */
export function ensureDemoTrust(): string {
  const file = demoKeyFile(DEMO_STARTER);
  if (!fs.existsSync(`${file}.pub`)) {
    fs.rmSync(file, { force: true });
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${DEMO_STARTER}@demo`, '-f', file]);
  }
  const key = fs.readFileSync(`${file}.pub`, 'utf8').trim();
  writeIfChanged(
    DEMO_TRUST_FILE,
    `# Who may start migrations and rollbacks on the demo's workers (demo/keys.ts; throwaway key).\n* namespaces="migrate-start,migrate-rollback" ${key}\n`,
  );
  return DEMO_TRUST_FILE;
}

/** Rewrites a file only when it changes, by a rename, so a reader never sees it empty or half written. */
function writeIfChanged(file: string, text: string): void {
  if (fs.existsSync(file) && fs.readFileSync(file, 'utf8') === text) return;
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

/** A start (or hand-started rollback) signed by the demo's starter, as `migrate start` signs one. */
export function demoStartProof(
  kind: StartKind,
  workflowId: string,
  plan: Plan,
  signer: string,
  migrationId = workflowId,
): Promise<StartProof> {
  ensureDemoTrust();
  const target = { kind, workflowId, migrationId, planDigest: planDigest(plan), signer };
  return signStartWithKey(target, demoKeyFile(DEMO_STARTER));
}

/** The signer of a demo approver (their key, through `ssh-keygen -Y sign`). */
export const demoSigner = (approver: string): Signer => sshKeygenSigner(demoKeyFile(approver));

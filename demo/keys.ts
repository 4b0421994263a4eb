import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../lib/config';
import { sshKeygenSigner, type Signer } from '../lib/signing';

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
  const text = `${lines.join('\n')}\n`;
  // Another demo or test may be reading the file this moment: rewritten only when it changes, and by a rename, so a
  // reader never sees it empty or half written.
  if (!fs.existsSync(signers) || fs.readFileSync(signers, 'utf8') !== text) {
    const tmp = `${signers}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, signers);
  }
  return signers;
}

/** The signer of a demo approver (their key, through `ssh-keygen -Y sign`). */
export const demoSigner = (approver: string): Signer => sshKeygenSigner(demoKeyFile(approver));

import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ed25519 } from '@noble/curves/ed25519';
import { sha512 } from '@noble/hashes/sha512';
import { signedFieldsOf, type UnsignedClaim } from '../model/auth';
import { SIGNATURE_NAMESPACE, signedText, utf8, type RequestSignature } from '../model/signatures';

const run = promisify(execFile);

/** What a signer signs with: an OpenSSH key file (through `ssh-keygen -Y sign`), or an in-memory key (tests). */
export type Signer = (text: string) => Promise<string>;

/**
 * Signs with `ssh-keygen -Y sign`, as a person would: the private key file (passphrase and ssh-agent work as with
 * ssh), or the public key file of a key held by ssh-agent.
 */
export function sshKeygenSigner(keyFile: string, namespace = SIGNATURE_NAMESPACE): Signer {
  return async (text) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'migrate-sign-'));
    try {
      const file = path.join(dir, 'request');
      fs.writeFileSync(file, text);
      await run('ssh-keygen', ['-Y', 'sign', '-q', '-f', keyFile, '-n', namespace, file]);
      return fs.readFileSync(`${file}.sig`, 'utf8');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
}

/** An RFC 4251 string: its length as uint32, then its bytes. */
function wireString(bytes: Uint8Array | string): Buffer {
  const b = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : Buffer.from(bytes);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

/** An Ed25519 key pair in memory: its OpenSSH public key line and a signer that writes what `ssh-keygen -Y sign` does. */
export function memoryKey(
  comment = 'migrate-test',
  namespace = SIGNATURE_NAMESPACE,
): { publicKey: string; sign: Signer; signIn: (namespace: string) => Signer } {
  const seed = randomBytes(32);
  const pub = ed25519.getPublicKey(seed);
  const pubBlob = Buffer.concat([wireString('ssh-ed25519'), wireString(pub)]);
  const signIn =
    (ns: string): Signer =>
    (text) => {
      const hash = 'sha512';
      const signed = Buffer.concat([
        Buffer.from('SSHSIG'),
        wireString(ns),
        wireString(''),
        wireString(hash),
        wireString(sha512(utf8(text))),
      ]);
      const sig = ed25519.sign(signed, seed);
      const blob = Buffer.concat([
        Buffer.from('SSHSIG'),
        Buffer.from([0, 0, 0, 1]),
        wireString(pubBlob),
        wireString(ns),
        wireString(''),
        wireString(hash),
        wireString(Buffer.concat([wireString('ssh-ed25519'), wireString(sig)])),
      ]);
      const b64 = blob.toString('base64').replace(/.{1,70}/g, '$&\n');
      return Promise.resolve(`-----BEGIN SSH SIGNATURE-----\n${b64}-----END SSH SIGNATURE-----\n`);
    };
  return { publicKey: `ssh-ed25519 ${pubBlob.toString('base64')} ${comment}`, sign: signIn(namespace), signIn };
}

/** What a signature is made for: the migration and plan, and for a gate decision the opening of its gate. */
export interface SignTarget {
  migrationId: string;
  planDigest: string;
  /** A gate decision: the open gate's `openedAt` as the status shows it (the signature is good for that opening). */
  gateOpenedAt?: string;
  /** The signing time (ms); now unless given (a driver on the time-skipping server signs at virtual time). */
  atMs?: number;
}

/**
 * Signs a request's claim (`claimFor`, so it is what the workflow verifies) for a migration and plan: a fresh nonce,
 * the time, and the SSHSIG over the canonical text.
 */
export async function signRequest(claim: UnsignedClaim, target: SignTarget, signer: Signer): Promise<RequestSignature> {
  const base = {
    migrationId: target.migrationId,
    nonce: randomUUID(),
    signedAt: new Date(target.atMs ?? Date.now()).toISOString(),
    planDigest: target.planDigest,
    ...(target.gateOpenedAt !== undefined ? { gateOpenedAt: target.gateOpenedAt } : {}),
    sshsig: '',
  };
  const sshsig = await signer(signedText(signedFieldsOf(claim, base)));
  return { ...base, sshsig };
}

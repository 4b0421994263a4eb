/**
 * The signature check's libraries, loaded once per worker and shared by all its workflows instead of once per
 * workflow (`lib/workflow-bundle.ts` preloads this module; a bare import of the packages would be dropped by webpack,
 * as they declare no side effects). Shared matters: the first verification builds Ed25519's table of base-point
 * multiples, about 4 MiB, which every cached migration would otherwise hold a copy of. The table is a pure function
 * of the curve, so sharing it changes no workflow's behaviour. (zod cannot be shared: it writes to its frozen config.)
 */
import { ed25519 } from '@noble/curves/ed25519';
import { sha256 } from '@noble/hashes/sha256';
import { sha512 } from '@noble/hashes/sha512';

export const sharedLibraries = { ed25519, sha256, sha512 };

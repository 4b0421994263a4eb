import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';

/**
 * This Jest worker's slot: three workers run test files side by side on one stack, so each has a demo target of its
 * own (`MO_SLOT_PREFIX` sets a second checkout's runs apart on the same stack). `tests/setup-slot.ts` gives the slot's processes their task queue and demo database; `slottedPlan` gives a plan
 * file its own repository, backup and report folders, crontab user, compose project and name.
 */
export const SLOT = `${process.env.MO_SLOT_PREFIX ?? ''}w${process.env.JEST_WORKER_ID ?? '1'}`;

const root = path.join(__dirname, '..', '..');
const stackDir = process.env.MO_STACK_DIR ?? path.join(root, '.stack');
const SLOT_DIR = path.join(stackDir, 'slots', SLOT);

/**
 * A copy of the plan at `file` for this slot, written under `.stack/slots/<slot>/` and returned as a path: relative
 * paths made absolute (they are relative to the plan file), the demo target's folders moved into the slot's, and the
 * names other slots would share (plan name, crontab user, compose project) suffixed with the slot. The YAML document
 * keeps its comments and layout, so a test that edits the copy's text finds what it finds in the original.
 */
export function slottedPlan(file: string): string {
  const planDir = path.dirname(path.resolve(file));
  const doc = YAML.parseDocument(fs.readFileSync(file, 'utf8'));
  const absolute = (p: string) => path.resolve(planDir, p);
  // The target's folders go into the slot's folder whatever the plan says: two slots never share a repository
  // (the target's setup removes it) or a backup or report folder.
  const inSlot = (p: string) => path.join(SLOT_DIR, path.basename(absolute(p)));
  const edit = (keys: string[], change: (v: string) => string) => {
    const v = doc.getIn(keys);
    if (typeof v === 'string') doc.setIn(keys, change(v));
  };
  edit(['name'], (v) => `${v}-${SLOT}`);
  for (const key of ['repository', 'backupDir', 'reportDir']) edit(['target', key], inSlot);
  edit(['target', 'composeProject'], (v) => `${v}-${SLOT}`);
  if (doc.getIn(['scheduler', 'kind']) === 'crontab') edit(['scheduler', 'user'], (v) => `${v}-${SLOT}`);
  edit(['approvals', 'keysFile'], absolute);
  absoluteMounts(doc, absolute);
  const out = path.join(SLOT_DIR, path.basename(file));
  fs.mkdirSync(SLOT_DIR, { recursive: true });
  fs.writeFileSync(out, doc.toString({ lineWidth: 0, flowCollectionPadding: false }));
  return out;
}

/** Makes the containers' relative mount sources absolute. */
function absoluteMounts(doc: YAML.Document, absolute: (p: string) => string): void {
  const containers = doc.getIn(['unifiedJob', 'containers']);
  if (!YAML.isSeq(containers)) return;
  for (const c of containers.items) {
    const mounts = YAML.isMap(c) ? c.get('mounts') : undefined;
    if (!YAML.isMap(mounts)) continue;
    for (const pair of mounts.items) {
      if (YAML.isScalar(pair.key) && typeof pair.key.value === 'string' && pair.key.value.startsWith('.'))
        pair.key.value = absolute(pair.key.value);
    }
  }
}

import { SLOT } from './helpers/slot';
import { DEMO_STARTER, DEMO_TRUST_FILE, demoKeyFile } from '../demo/keys';

// This Jest worker's own task queue and demo database (tests/helpers/slot.ts): the worker processes, the CLI and the
// demo it starts inherit them, so the workers' migrations never take each other's tasks or targets.
process.env.MO_TASK_QUEUE ??= `migrations-${SLOT}`;
process.env.MO_DEMO_DATABASE ??= `mo_demo_target_${SLOT.replace(/\W/g, '_')}`;

// Workers admit runs signed by the demo's starter (tests/global-setup.ts makes the key and the trust file), the CLI
// signs `migrate start` and `migrate rollback` with that key, and an agent takes activities only from the slot's
// central queue.
process.env.MO_TRUST_FILE ??= DEMO_TRUST_FILE;
process.env.MO_SIGNING_KEY ??= demoKeyFile(DEMO_STARTER);
process.env.MO_WORKFLOW_QUEUE ??= process.env.MO_TASK_QUEUE;

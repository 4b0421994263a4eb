import { SLOT } from './helpers/slot';

// This Jest worker's own task queue and demo database (tests/helpers/slot.ts): the worker processes, the CLI and the
// demo it starts inherit them, so the workers' migrations never take each other's tasks or targets.
process.env.MO_TASK_QUEUE ??= `migrations-${SLOT}`;
process.env.MO_DEMO_DATABASE ??= `mo_demo_target_${SLOT.replace(/\W/g, '_')}`;

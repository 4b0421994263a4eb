export { migrationWorkflow } from './migration';
export { rollbackWorkflow } from './rollback';
export { scheduledJobWorkflow } from './scheduled-job';

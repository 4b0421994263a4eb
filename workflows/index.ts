export { migrationWorkflow } from './migration';
export { rollbackWorkflow } from './rollback';

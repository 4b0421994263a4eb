import type * as workflows from '../../workflows';
import { WorkflowType } from '../../model/constants';

/**
 * The worker registers each workflow under the name of the function `workflows/index.ts` exports; clients start and
 * list them by `WorkflowType`. Type-checked (`npm run typecheck`): a workflow renamed, added or removed without its
 * entry fails to compile here.
 */
const byFunction: { readonly [K in keyof typeof workflows]: K } = WorkflowType;
type Extra = Exclude<keyof typeof WorkflowType, keyof typeof workflows>;
const noExtra: [Extra] extends [never] ? true : false = true;

test('names every workflow type as the function the worker registers', () => {
  expect(noExtra).toBe(true);
  for (const [name, type] of Object.entries(byFunction)) expect(type).toBe(name);
});

import os from 'node:os';
import { Option } from '@commander-js/extra-typings';
import { GATES } from '../../workflows/constants';

/** `--as <user>`: who runs the command, recorded in the audit log; the login name unless given. */
export const asOption = () =>
  new Option('--as <user>', 'who you are (recorded in the audit log)').default(os.userInfo().username);

/** `--gate <gate>`: one of the plan's approval gates. */
export const gateOption = () => new Option('--gate <gate>', 'gate').choices(GATES);

/** The migration ID the examples use. */
export const EXAMPLE_ID = 'monolith-to-unified-20261125T0900';

/** The `Examples:` block shown after a command's help. */
export const examples = (lines: readonly string[]): string => `\nExamples:\n${lines.map((e) => `  ${e}`).join('\n')}`;

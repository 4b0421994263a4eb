import os from 'node:os';
import { InvalidArgumentError, Option, type Command, type OptionValues } from '@commander-js/extra-typings';
import { GATES } from '../../model/constants';
import { parseDuration } from '../../model/plan-schema';

/** `--as <user>`: who runs the command, recorded in the audit log; the login name unless given. */
export const asOption = () =>
  new Option('--as <user>', 'who you are (recorded in the audit log)').default(os.userInfo().username);

/** `--gate <gate>`: one of the plan's approval gates. */
export const gateOption = () => new Option('--gate <gate>', 'gate').choices(GATES);

/** The forms every command can print: text for people, JSON, or JSON Lines (one object per line) for pipes. */
export const OUTPUT_FORMATS = ['text', 'json', 'jsonl'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/**
 * Adds `-o, --output text|json|jsonl` and its alias `--json` (kept for scripts written against it: it means
 * `-o json` unless `-o` is given too).
 */
export const outputOptions = <Args extends unknown[], Opts extends OptionValues>(c: Command<Args, Opts>) =>
  c
    .addOption(
      new Option('-o, --output <format>', 'output format: text, json, or jsonl (one JSON object per line)')
        .choices(OUTPUT_FORMATS)
        .default('text'),
    )
    .addOption(new Option('--json', 'the same as -o json').implies({ output: 'json' }));

/** `<duration>` values such as 500ms, 2s, 1m, 1h30m (the plan's duration syntax), in milliseconds. */
export function durationArg(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) throw new InvalidArgumentError('expected a duration such as 500ms, 2s or 1m.');
  return ms;
}

/** A whole number of at least 1 (`--limit`). */
export function positiveIntArg(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1)
    throw new InvalidArgumentError('expected a whole number of at least 1.');
  return n;
}

/** The migration ID the examples use. */
export const EXAMPLE_ID = 'monolith-to-unified-20261125T0900';

/** The `Examples:` block shown after a command's help. */
export const examples = (lines: readonly string[]): string => `\nExamples:\n${lines.map((e) => `  ${e}`).join('\n')}`;

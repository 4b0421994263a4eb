/**
 * The building blocks of the plan's zod form (`./plan-sections`): the forms its strings take, strict mappings, and
 * the plan's messages in place of zod's; and rules that run over a partly parsed value (`withRules`, `Parsed`).
 * Workflow-safe: only `zod` and `./plan-rules`. Everything here builds a schema only when called, never at load.
 */

import { z } from 'zod';
import { crontabTextProblem, describeValue, proseProblem, type RuleIssue, singleLineProblem } from './plan-rules';

// No regular-expression flags: JSON Schema's `pattern` has none, and editors check these patterns too.
export const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
export const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;
export const LOWER_NAME = /^[a-z0-9][a-z0-9_-]*$/;
export const TABLE = /^[a-z_][a-z0-9_]*$/;
export const USER = /^[a-z_][a-z0-9_-]*$/;
export const EMAIL = /^[^@\s]+@[^@\s]+$/;
export const HTTP_URL = /^https?:\/\//;
export const DURATION = /^(\d+(\.\d+)?(ms|s|m|h|d|w))+$/;
const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};
export const COMPARATORS = ['<', '<=', '>', '>=', '==', '!='] as const;

/** Parses `24h`, `7d`, `90s`, `1h30m`, `250ms` into milliseconds; undefined when it is not a duration. */
export function parseDuration(text: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    matched = re.lastIndex;
  }
  return matched === text.length && matched > 0 ? Math.round(total) : undefined;
}

/** What Node's `path.posix.normalize` gives: `.` and `..` segments resolved, repeated slashes folded. */
export function normalizePosixPath(p: string): string {
  if (p === '') return '.';
  const absolute = p.startsWith('/');
  const trailing = p.endsWith('/');
  const out: string[] = [];
  for (const segment of p.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment !== '..') out.push(segment);
    else if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
    else if (!absolute) out.push('..');
  }
  const joined = out.join('/');
  if (joined === '') return absolute ? '/' : trailing ? './' : '.';
  return `${absolute ? '/' : ''}${joined}${trailing ? '/' : ''}`;
}

/** A path that stays inside the repository it is relative to. */
export function insideRepository(p: string): boolean {
  return !p.startsWith('/') && !normalizePosixPath(p).split('/').includes('..');
}

/** Whether `source` compiles as a regular expression. */
export function isRegExp(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}

type RawIssue = z.core.$ZodRawIssue;
const TYPE_NAMES: Record<string, string> = {
  object: 'a mapping',
  record: 'a mapping',
  array: 'a list',
  boolean: 'true or false',
  number: 'a number',
};

/** A field's own issue in the plan's words: `is required`, or `expected …, got …` (`expected` names a string's form). */
export function messageOf(iss: RawIssue, expected?: string): string {
  if (iss.input === undefined) return 'is required';
  const got = describeValue(iss.input);
  // Numbers' range messages show the number as it is (`got 150`).
  const number = typeof iss.input === 'number' ? String(iss.input) : got;
  switch (iss.code) {
    case 'invalid_type':
      return `expected ${TYPE_NAMES[iss.expected] ?? expected ?? 'a non-empty string'}, got ${got}`;
    case 'too_small':
      if (iss.origin === 'array') return 'expected at least one entry';
      if (iss.origin === 'string') return `expected ${expected ?? 'a non-empty string'}, got ${got}`;
      return `expected a number ${iss.inclusive ? '>=' : '>'} ${iss.minimum}, got ${number}`;
    case 'not_multiple_of':
      return `expected a whole number, got ${number}`;
    case 'too_big':
      return `expected a number <= ${iss.maximum}, got ${number}`;
    case 'invalid_format':
      return `expected ${expected ?? `a string matching ${iss.pattern}`}, got ${JSON.stringify(iss.input)}`;
    case 'invalid_value':
      return `expected one of ${iss.values.join(', ')}, got ${got}`;
    default:
      return iss.message ?? `expected ${expected ?? 'a valid value'}, got ${got}`;
  }
}

/**
 * The `error` parameter that gives a schema (and its checks) the plan's messages instead of zod's. A field's checks
 * all run (`abort` would also stop the rules of every mapping around it); `schemaIssues` keeps a field's first issue.
 */
export const says = (expected?: string) => ({ error: (iss: RawIssue) => messageOf(iss, expected) });

/** The message of a string refused by `problem` (a control character in it), or nothing. */
const refusedBy = (problem: (s: string) => string | undefined) => ({
  error: (iss: RawIssue) => (typeof iss.input === 'string' ? problem(iss.input) : undefined),
});

/**
 * A non-empty string on one line, the form of most of the plan's strings (commands, paths, schedules, names): no
 * control character, tab included, so nothing written from it (a crontab line above all) gains a line. `expected`
 * names it in messages (`expected <expected>, got …`). Free text that may span lines is `prose`.
 */
export function text(expected?: string, pattern?: RegExp) {
  const s = z.string(says(expected)).min(1);
  return (pattern ? s.regex(pattern) : s).refine((v) => !singleLineProblem(v), refusedBy(singleLineProblem));
}

/** Text matched against a crontab line as written (a job's `line` or `match`): one line, tabs allowed. */
export function crontabText(expected: string) {
  return z
    .string(says(expected))
    .min(1)
    .refine((v) => !crontabTextProblem(v), refusedBy(crontabTextProblem));
}

/** A non-empty free text (a description, an SQL query): tabs and line breaks allowed, no other control character. */
export function prose(expected?: string) {
  return z
    .string(says(expected))
    .min(1)
    .refine((v) => !proseProblem(v), refusedBy(proseProblem));
}

/** A mapping with exactly these fields; an unknown one is reported at its own key, with the fields allowed there. */
export function mapping<S extends z.core.$ZodLooseShape>(shape: S) {
  const allowed = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (iss) => (iss.code === 'unrecognized_keys' ? `unknown field (allowed here: ${allowed})` : messageOf(iss)),
  });
}

/** A list of `item`s. */
export const list = <T extends z.ZodType>(item: T) => z.array(item, says());
/** A list of at least one `item`. */
export const nonEmpty = <T extends z.ZodType>(item: T) => list(item).min(1);
/** `true` or `false`. */
export const flag = () => z.boolean(says());
// Whole numbers as `multipleOf(1)`, not `.int()`: zod's integer check stops every rule of the mappings around it.
/** A whole number. */
export const whole = () => z.number(says()).multipleOf(1);
/** A whole number of at least `min`. */
export const count = (min: number) => whole().min(min);
/** A mapping from any key to `value`. */
export const stringMap = <T extends z.ZodType>(value: T) => z.record(z.string(), value, says());

export type Key = string | number;
type Issues = readonly { readonly path?: readonly PropertyKey[]; readonly code?: string; readonly input?: unknown }[];
type ElementOf<T> = T extends readonly (infer E)[] ? E : never;

/**
 * A partly parsed value as a rule sees it: a field counts only if it parsed cleanly (nothing failed at or under it);
 * an unknown field fails only itself. `T` is the form's type, which a cleanly parsed field has.
 */
export class Parsed<T> {
  constructor(
    private readonly data: unknown,
    private readonly issues: Issues,
  ) {}

  private clean(path: readonly Key[]): boolean {
    return !this.issues.some((i) => i.code !== 'unrecognized_keys' && path.every((k, n) => i.path?.[n] === k));
  }

  /** The whole value, if nothing in it failed. */
  value(): T | undefined {
    return this.clean([]) ? (this.data as T) : undefined;
  }

  /** A field as written, valid or not: for rules that ask whether it is there at all. */
  raw(key: keyof T & Key): unknown {
    return this.data !== null && typeof this.data === 'object' ? (this.data as Record<Key, unknown>)[key] : undefined;
  }

  /** A field that parsed cleanly, else undefined. */
  field<K extends keyof T & Key>(key: K): T[K] | undefined {
    return this.clean([key]) ? (this.raw(key) as T[K]) : undefined;
  }

  /** The view of one field (a nested mapping or list). */
  view<K extends keyof T & Key>(key: K): Parsed<NonNullable<T[K]>> {
    return new Parsed(this.raw(key), rebase(this.issues, key));
  }

  /** Each entry of this list, read through its own view. */
  entries<R>(read: (entry: Parsed<ElementOf<T>>) => R): R[] {
    if (!Array.isArray(this.data)) return [];
    return this.data.map((x, i) => read(new Parsed(x, rebase(this.issues, i))));
  }

  /** The value as written: the parsed form, with the raw mapping put back wherever fields were dropped as unknown. */
  written(): unknown {
    return this.issues
      .filter((i) => i.code === 'unrecognized_keys' || i.code === 'invalid_union')
      .reduce((doc, i) => graft(doc, i.path ?? [], i.input), this.data);
  }
}

/** The issues under `key`, with paths from there. */
function rebase(issues: Issues, key: Key): Issues {
  return issues.filter((i) => i.path?.[0] === key).map((i) => ({ ...i, path: i.path?.slice(1) }));
}

function graft(doc: unknown, path: readonly PropertyKey[], raw: unknown): unknown {
  const [k, ...rest] = path;
  if (k === undefined) return raw;
  if (Array.isArray(doc)) return doc.map((x: unknown, i) => (i === k ? graft(x, rest, raw) : x));
  if (doc === null || typeof doc !== 'object') return doc;
  const o = doc as Record<PropertyKey, unknown>;
  return { ...o, [k]: graft(o[k], rest, raw) };
}

/**
 * Applies rules to a schema; they run even when other fields failed, and read only the fields that did not. A value
 * of the wrong type (a string where a mapping goes) has no fields to relate: its rules run only if `anyValue`.
 */
export function withRules<S extends z.ZodType>(
  schema: S,
  rules: (p: Parsed<z.output<S>>) => RuleIssue[],
  { anyValue = false } = {},
): S {
  return schema.superRefine(
    (value, ctx) => {
      if (!anyValue && ctx.issues.some((i) => !i.path?.length && i.code === 'invalid_type')) return;
      for (const i of rules(new Parsed(value, ctx.issues)))
        ctx.addIssue({ code: 'custom', path: i.path, message: i.message, params: { rule: true, key: i.key === true } });
    },
    { when: () => true },
  );
}

/** Rule issues found in a part of the plan, with paths from the whole of it. */
export const under = (prefix: Key[], issues: RuleIssue[]): RuleIssue[] =>
  issues.map((i) => ({ ...i, path: [...prefix, ...i.path] }));

/** The keys of a mapping as written (none of anything else). */
export const keysOf = (v: unknown): string[] => (v !== null && typeof v === 'object' ? Object.keys(v) : []);

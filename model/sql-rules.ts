/**
 * What a plan's measurement SQL may not do, read from its text before it is ever sent (workflow-safe, pure). A
 * measurement runs as one statement in a read-only transaction, yet PostgreSQL still lets such a statement write
 * server files or run programs (`COPY … TO`), reach other servers (`dblink`), end other sessions, hold locks, sleep or
 * change who it runs as. These rules refuse those by name; the role check at preflight and the statement timeout
 * cover what a function the role may call does behind a name the rules cannot see.
 */

/** One refused form: where it matches the masked, lower-cased statement, and why it is refused. */
interface StatementRule {
  pattern: RegExp;
  why: string;
}

/** Functions are matched as calls (`name (`), so a column or table that merely shares the word is not refused. */
const call = (names: string) => new RegExp(`(?<![\\w$])(?:${names})\\s*\\(`);

const RULES: readonly StatementRule[] = [
  { pattern: /^copy\b/, why: 'COPY (writes server files or runs programs)' },
  { pattern: /^(do|call)\b/, why: 'a DO block or CALL (runs procedural code)' },
  { pattern: /^(set|reset)\b/, why: 'SET/RESET (changes the role or the session, e.g. SET ROLE)' },
  { pattern: /^(lock|load|listen|notify)\b/, why: 'LOCK, LOAD, LISTEN or NOTIFY (not a query)' },
  { pattern: call('dblink\\w*'), why: 'dblink (runs SQL on another connection)' },
  {
    pattern: call(
      'pg_terminate_backend|pg_cancel_backend|pg_signal_backend|pg_reload_conf|pg_rotate_logfile|pg_promote',
    ),
    why: 'a signal function (ends sessions or signals the server)',
  },
  { pattern: call('pg_advisory\\w*|pg_try_advisory\\w*'), why: 'an advisory lock function' },
  {
    pattern: call('pg_read_file|pg_read_binary_file|pg_ls_\\w+|pg_stat_file|pg_file_\\w+|lo_import|lo_export'),
    why: 'a server file function',
  },
  { pattern: call('pg_sleep\\w*'), why: 'pg_sleep (holds a connection and a snapshot)' },
  { pattern: call('set_config'), why: 'set_config (changes the role or the session)' },
  {
    pattern: call('query_to_xml\\w*|cursor_to_xml\\w*|query_to_xmlschema|table_to_xml\\w*'),
    why: 'a function that runs SQL given as text (hidden from these rules)',
  },
];

/** Whether `c` may continue an unquoted identifier (so `e'…'` after a name is not an escape string). */
const identChar = (c: string | undefined) => c !== undefined && /[\w$]/.test(c);

/** The end (exclusive) of a `'…'` literal starting at `i`; `escapes`: backslash escapes (an `E'…'` string). */
function stringEnd(s: string, i: number, escapes: boolean): number {
  let j = i + 1;
  while (j < s.length) {
    if (escapes && s[j] === '\\') j += 2;
    else if (s[j] === "'" && s[j + 1] === "'") j += 2;
    else if (s[j] === "'") return j + 1;
    else j++;
  }
  return s.length;
}

/** The end (exclusive) of a nested `/* … *\/` comment starting at `i`. */
function blockCommentEnd(s: string, i: number): number {
  let depth = 0;
  let j = i;
  while (j < s.length) {
    if (s.startsWith('/*', j)) {
      depth++;
      j += 2;
    } else if (s.startsWith('*/', j)) {
      depth--;
      j += 2;
      if (depth === 0) return j;
    } else j++;
  }
  return s.length;
}

/**
 * The statement with its comments blanked, its string literals (quoted, escape and dollar-quoted) emptied and its
 * quoted identifiers unquoted, lower-cased: what the rules read. A word inside a literal or a comment is not code.
 */
export function maskSql(sql: string): string {
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    const dollar = c === '$' && !identChar(sql[i - 1]) ? /^\$([A-Za-z_][\w]*)?\$/.exec(sql.slice(i)) : null;
    if (sql.startsWith('--', i)) {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? sql.length : end;
      out += ' ';
    } else if (sql.startsWith('/*', i)) {
      i = blockCommentEnd(sql, i);
      out += ' ';
    } else if (c === "'") {
      const escapes = /e/i.test(sql[i - 1] ?? '') && !identChar(sql[i - 2]);
      i = stringEnd(sql, i, escapes);
      out += "''";
    } else if (dollar) {
      const close = sql.indexOf(dollar[0], i + dollar[0].length);
      i = close < 0 ? sql.length : close + dollar[0].length;
      out += "''";
    } else if (c === '"') {
      const close = sql.indexOf('"', i + 1);
      // `""` inside a quoted identifier is one quote: the name's letters are what the rules need.
      const end = close < 0 ? sql.length : close;
      out += sql.slice(i + 1, end);
      i = end + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out.toLowerCase().trim();
}

/**
 * Why a measurement's SQL is refused before it runs, or undefined: what it does that a measurement must not
 * (`COPY`, `dblink`, signal, lock, file and sleep functions, `SET ROLE`, `DO`, `CALL`), read with its comments and
 * string literals set aside and in any letter case.
 */
export function sqlStatementProblem(sql: string): string | undefined {
  // A leading parenthesis does not hide the statement under it.
  const masked = maskSql(sql).replace(/^[(\s]+/, '');
  const hits = RULES.filter((r) => r.pattern.test(masked)).map((r) => r.why);
  return hits.length
    ? `expected one read-only query; ${hits.join(', ')} is refused in measurement SQL (it could act on the server, not just read)`
    : undefined;
}

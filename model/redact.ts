/**
 * What a secret looks like in text, as pure patterns (workflow-safe, no imports): URL userinfo of any scheme,
 * token-like query parameters, `NAME=value` / `NAME: value` for secret-named variables, Authorization headers and
 * private key blocks. The plan's rules refuse these forms written literally; `activities/redact.ts` hides them, with
 * the values of the plan's variables, in every message that leaves the target.
 */

/** What hidden text is replaced with. */
export const HIDDEN = '***';

/**
 * A variable or key name whose value is a secret: `*SECRET*`, `*TOKEN*`, `*PASSWORD*`, `*_PASS`, `*PRIVATE_KEY*`,
 * `*API_KEY*`, `*ACCESS_KEY*`, `*CREDENTIAL*` (any case, `_` or `-` or nothing between words). Names that end in
 * `Env`/`_ENV` (they name a variable) or `_FILE` (they name a file) are not secrets themselves.
 */
export function isSecretName(name: string): boolean {
  if (/(?:env|file)$/i.test(name)) return false;
  return /secret|token|passw(?:or)?d|(?:^|[_.-])pass(?:$|[_.-])|private[_-]?key|api[_-]?key|access[_-]?key|credential/i.test(
    name,
  );
}

// Userinfo: everything between `scheme://` and the last `@` before the host (a password may hold `@`).
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#"'<>`]*@/gi;
const SECRET_PARAM =
  /^(?:[\w.-]*(?:token|secret|passw|pwd|api[_-]?key|apikey|signature|credential|private)[\w.-]*|key|sig|auth)$/i;
const QUERY_PARAM = /([?&;])([\w.-]+)=([^&#\s"'<>`]*)/g;
const AUTHORIZATION = /(authorization["']?\s*[:=]\s*["']?)(?:(?:bearer|basic|token|digest)\s+)?[^\s"',;]+/gi;
const BEARER = /\b(bearer\s+)[\w.~+/=-]{8,}/gi;
const PRIVATE_KEY_BLOCK = /-----BEGIN ([A-Z ]*)PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g;
// NAME=value, NAME: value, "name": "value" (a quoted value whole, else up to a separator).
const ASSIGNMENT = /(?<![\w.-])([A-Za-z_][\w.-]*)(["']?[ \t]*[:=][ \t]*)("[^"\n]*"|'[^'\n]*'|[^\s,;&"'}\]`]+)/g;

/** Whether `url` (or any text) carries a token-like query parameter with a value: `?api_key=…`, `&token=…`. */
export function hasSecretParam(text: string): boolean {
  for (const m of text.matchAll(QUERY_PARAM)) if (SECRET_PARAM.test(m[2]!) && m[3]) return true;
  return false;
}

/** Whether `text` holds a URL with userinfo (`scheme://user:pw@host`, `redis://:pw@host`, `https://token@host`). */
export function hasUserinfo(text: string): boolean {
  return new RegExp(USERINFO.source, 'i').test(text);
}

/**
 * `text` with the value of every `NAME=value` / `NAME: value` whose name is a secret's (`isSecretName`) and whose value
 * is not a reference (`$VAR`) hidden. A match whose name is not a secret's gives back its value to be read again, so
 * `failed: PRIVATE_KEY=…` is seen as `PRIVATE_KEY=…`, not as `failed` set to `PRIVATE_KEY=…`.
 */
function hideAssignments(text: string): string {
  const re = new RegExp(ASSIGNMENT.source, 'g');
  let out = '';
  let from = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const [, name, sep, value] = m as unknown as [string, string, string, string];
    if (isSecretName(name) && value !== HIDDEN && !value.startsWith('$')) {
      out += `${text.slice(from, m.index)}${name}${sep}${quoteLike(value)}`;
      from = re.lastIndex;
    } else re.lastIndex = m.index + name.length + sep.length;
  }
  return out + text.slice(from);
}

/** Replaces every secret-shaped part of `text` (see the module's comment) with `***`. */
export function redactPatterns(text: string): string {
  const shaped = text
    .replace(PRIVATE_KEY_BLOCK, (_m, kind: string) => `-----BEGIN ${kind}PRIVATE KEY----- ${HIDDEN}`)
    .replace(USERINFO, `$1${HIDDEN}@`)
    .replace(QUERY_PARAM, (m, sep: string, name: string) => (SECRET_PARAM.test(name) ? `${sep}${name}=${HIDDEN}` : m))
    .replace(AUTHORIZATION, `$1${HIDDEN}`)
    .replace(BEARER, `$1${HIDDEN}`);
  return hideAssignments(shaped);
}

const quoteLike = (value: string) => (/^["']/.test(value) ? `${value[0]}${HIDDEN}${value[0]}` : HIDDEN);

/** Replaces every occurrence of each value (longest first, so a URL goes whole before its password) with `***`. */
export function hideValues(text: string, values: readonly string[]): string {
  const sorted = [...new Set(values)].filter((v) => v.length >= 4).sort((a, b) => b.length - a.length);
  return sorted.reduce((t, s) => t.split(s).join(HIDDEN), text);
}

/** `text` with the given values and every secret-shaped part hidden. */
export function redactText(text: string, values: readonly string[] = []): string {
  return redactPatterns(hideValues(text, values));
}

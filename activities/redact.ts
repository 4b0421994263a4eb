/**
 * What never leaves the target in a message: the values of the plan's secret variables (database URLs and their
 * passwords), replaced with `***` in every result, error and report an activity writes.
 */

/** Values of the named environment variables (database URLs) and their passwords: never shown in a result or error. */
export function envSecrets(envNames: string[]): string[] {
  const out: string[] = [];
  for (const name of envNames) {
    const raw = process.env[name];
    if (!raw) continue;
    out.push(raw);
    try {
      const pw = decodeURIComponent(new URL(raw).password);
      if (pw.length >= 4) out.push(pw, encodeURIComponent(pw));
    } catch {
      // Not a URL: the raw value is hidden all the same.
    }
  }
  // Longest first, so a URL is replaced whole before its password.
  return out.sort((x, y) => y.length - x.length);
}

/** Replaces every secret in `text` with `***`. */
export function redact(text: string, secrets: string[]): string {
  return secrets.reduce((t, s) => t.split(s).join('***'), text);
}

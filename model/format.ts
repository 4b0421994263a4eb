/**
 * Numbers for people: thousands separators, a precision that fits the size, units. Pure and locale-free (the same
 * text on every machine and in the workflow sandbox), so reports, notices, the UI card and the CLI agree. JSON output
 * keeps the raw numbers; only text goes through here.
 */

/** Digits after the point for a value of this size: 3 significant digits below 100, none from 100 up. */
function decimalsFor(abs: number): number {
  if (abs === 0 || abs >= 100) return 0;
  if (abs >= 10) return 1;
  if (abs >= 1) return 2;
  // Below 1: enough digits for 2 significant ones (0.0042 → "0.0042"), at most 6.
  return Math.min(6, Math.max(2, 1 - Math.floor(Math.log10(abs))));
}

/** Groups the integer part in threes with a comma: 71571.5 → "71,572"; 0.25 → "0.25"; -1234.5 → "-1,235". */
export function formatNumber(value: number, decimals?: number): string {
  if (!Number.isFinite(value)) return String(value);
  const d = decimals ?? decimalsFor(Math.abs(value));
  const fixed = Math.abs(value).toFixed(d);
  const [int, frac] = fixed.split('.');
  const grouped = int!.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  // Trailing zeros of a chosen precision say nothing ("2.50" → "2.5"); an explicit precision keeps them.
  const fraction = frac === undefined ? '' : decimals === undefined ? frac.replace(/0+$/, '') : frac;
  const sign = value < 0 && Number(fixed) !== 0 ? '-' : '';
  return `${sign}${grouped}${fraction ? `.${fraction}` : ''}`;
}

/** A number with its unit, a space between (SI style): "71,572 items/h", "2.5 %", "420 ms". */
export function formatQuantity(value: number, unit?: string, decimals?: number): string {
  const n = formatNumber(value, decimals);
  return unit ? `${n} ${unit}` : n;
}

/** A count of bytes in B, KiB, MiB or GiB: 1536 → "1.5 KiB". */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${formatNumber(v, i === 0 ? 0 : undefined)} ${units[i]}`;
}

/** A duration in the largest units that keep it exact enough: 950 → "950 ms", 61_000 → "1 min 1 s", 7 d → "7 d". */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (Math.abs(ms) < 1000) return `${formatNumber(ms, 0)} ms`;
  if (Math.abs(ms) < 60_000) return `${formatNumber(ms / 1000)} s`;
  const parts: string[] = [];
  let rest = Math.round(ms / 1000);
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3600],
    ['min', 60],
    ['s', 1],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n) parts.push(`${n} ${unit}`);
    rest -= n * size;
    if (parts.length === 2) break;
  }
  return parts.join(' ');
}

/** Digits after the point a number is written with in full (0.015 → 3, 1e-7 → 7, 3528 → 0), at most 20. */
function exactDecimals(value: number): number {
  const [mantissa = '', exponent] = String(Math.abs(value)).split('e');
  const fraction = mantissa.split('.')[1]?.length ?? 0;
  return Math.min(20, Math.max(0, fraction - Number(exponent ?? 0)));
}

/**
 * A number as it was written, every digit kept, the integer part grouped: a plan's threshold must read as itself
 * (99.95 → "99.95", not "100"; 3528 → "3,528"), with its unit when given.
 */
export function formatExact(value: number, unit?: string): string {
  if (!Number.isFinite(value)) return formatQuantity(value, unit);
  return formatQuantity(value, unit, exactDecimals(value));
}

/**
 * A reading beside the threshold it is compared with, for people: formatNumber's precision, with more digits when
 * rounding would put it on the threshold or on its other side (0.0104 against 0.01 reads "0.0104", not "0.01";
 * 499.99 against 500 reads "499.99", not "500"), so the text never contradicts the verdict next to it.
 */
export function formatReading(value: number, threshold: number, unit?: string): string {
  if (!Number.isFinite(value) || !Number.isFinite(threshold)) return formatQuantity(value, unit);
  const side = Math.sign(value - threshold);
  const shownSide = (text: string) => Math.sign(Number(text.replace(/,/g, '')) - threshold);
  let text = formatNumber(value);
  for (let d = (text.split('.')[1]?.length ?? 0) + 1; shownSide(text) !== side && d <= 20; d++) {
    // The digits that tell the value from the threshold, without zeros after them.
    text = formatNumber(value, d)
      .replace(/(\.\d*?)0+$/, '$1')
      .replace(/\.$/, '');
  }
  return unit ? `${text} ${unit}` : text;
}

/**
 * One shell word that a POSIX shell reads back as `text` exactly: bare when it is only safe characters, else in
 * single quotes with each `'` written as `'\''` (a quote in a comment cannot end the word or start a command).
 */
export function shellQuote(text: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/** A command line of shell words, each quoted as `shellQuote` does. */
export const shellCommand = (words: readonly string[]): string => words.map(shellQuote).join(' ');

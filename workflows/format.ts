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

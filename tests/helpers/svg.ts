import { XMLParser, XMLValidator } from 'fast-xml-parser';

/** One element of a parsed SVG: its tag, its attributes and, for a `<text>`, what it says. */
export interface SvgElement {
  tag: string;
  attrs: Record<string, string>;
  text?: string;
}

/** Every element of a parsed SVG, depth first, with its attributes. */
function elements(node: unknown, out: SvgElement[] = [], tag = 'svg') {
  if (Array.isArray(node)) node.forEach((n) => elements(n, out, tag));
  else if (node !== null && (typeof node === 'string' || typeof node === 'number')) {
    // An element with nothing but text (no attributes) parses to its text.
    out.push({ tag, attrs: {}, text: String(node) });
  } else if (node && typeof node === 'object') {
    const attrs: Record<string, string> = {};
    for (const [k, v] of Object.entries(node)) {
      if (k.startsWith('@_')) attrs[k.slice(2)] = String(v);
    }
    // With parseTagValue off, an element's text is always a string.
    const text = (node as Record<string, unknown>)['#text'];
    out.push({ tag, attrs, ...(typeof text === 'string' ? { text } : {}) });
    for (const [k, v] of Object.entries(node)) if (!k.startsWith('@_') && k !== '#text') elements(v, out, k);
  }
  return out;
}

/** Parses an SVG (failing the test unless it is well-formed XML with an <svg> root) into its elements. */
export function parseSvg(svg: string) {
  expect(XMLValidator.validate(svg)).toBe(true);
  // Texts as written ("20,000", "0.010"), not as numbers.
  const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@_', parseTagValue: false });
  const doc = parser.parse(svg) as { svg?: unknown };
  expect(doc.svg).toBeDefined();
  return elements(doc.svg);
}

/** Points per series, keyed by the series index ECharts writes on each point. */
export function pointsPerSeries(all: { attrs: Record<string, string> }[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const e of all) {
    const s = e.attrs.ecmeta_series_index;
    if (s === undefined || e.attrs.ecmeta_data_index === undefined) continue;
    out.set(s, (out.get(s) ?? new Set()).add(e.attrs.ecmeta_data_index));
  }
  return out;
}

/** The vertical extent (top and bottom y) of a `<polygon>`'s points or a `<path>`'s `M`/`L` coordinates. */
export function yExtent(e: SvgElement): { top: number; bottom: number } {
  const coords = (e.attrs.points ?? e.attrs.d ?? '').match(/-?\d+(?:\.\d+)?/g)?.map(Number) ?? [];
  const ys = coords.filter((_, i) => i % 2 === 1);
  if (!ys.length) throw new Error(`no coordinates in <${e.tag}>`);
  return { top: Math.min(...ys), bottom: Math.max(...ys) };
}

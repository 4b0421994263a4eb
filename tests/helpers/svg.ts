import { XMLParser, XMLValidator } from 'fast-xml-parser';

/** Every element of a parsed SVG, depth first, with its attributes. */
function elements(node: unknown, out: { tag: string; attrs: Record<string, string> }[] = [], tag = 'svg') {
  if (Array.isArray(node)) node.forEach((n) => elements(n, out, tag));
  else if (node && typeof node === 'object') {
    const attrs: Record<string, string> = {};
    for (const [k, v] of Object.entries(node)) {
      if (k.startsWith('@_')) attrs[k.slice(2)] = String(v);
    }
    out.push({ tag, attrs });
    for (const [k, v] of Object.entries(node)) if (!k.startsWith('@_') && k !== '#text') elements(v, out, k);
  }
  return out;
}

/** Parses an SVG (failing the test unless it is well-formed XML with an <svg> root) into its elements. */
export function parseSvg(svg: string) {
  expect(XMLValidator.validate(svg)).toBe(true);
  const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@_' }).parse(svg) as { svg?: unknown };
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

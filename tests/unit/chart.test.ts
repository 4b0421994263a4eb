import { naturalFloor, renderMetricsChart, ZONE_COLOURS, zones } from '../../activities/chart';
import type { GateEvaluation, MetricReading } from '../../model/status';
import { parseSvg, pointsPerSeries, yExtent, type SvgElement } from '../helpers/svg';

const METRICS: Omit<MetricReading, 'value' | 'passed' | 'detail' | 'at'>[] = [
  { name: 'error-rate', op: '<=', threshold: 0.01 },
  { name: 'processing-time', op: '<=', threshold: 7, unit: 's' },
  { name: 'throughput', op: '>=', threshold: 500, unit: 'items/h' },
  { name: 'annual-savings', op: '>=', threshold: 3528, unit: 'USD/year' },
];
const STEPS = ['traffic 10%', 'traffic 25%', 'traffic 50%', 'traffic 100%', 'soak check 1', 'soak check 2'];

function evaluations(missing: { metric: string; step: number }[] = []): GateEvaluation[] {
  return STEPS.map((step, i) => ({
    phase: step.startsWith('soak') ? 'soak' : 'traffic-shift',
    step,
    at: new Date(Date.UTC(2026, 10, 25, 9, i)).toISOString(),
    passed: true,
    readings: METRICS.map((m, j) => {
      const value = missing.some((x) => x.metric === m.name && x.step === i) ? null : (j + 1) * 10 + i;
      return { ...m, value, passed: value === null ? null : true, detail: 'test', at: '' };
    }),
  }));
}

/** A metric's threshold line carries its series index too, but is silent (see renderMetricsChart): not a point. */
const points = (svg: string) => pointsPerSeries(parseSvg(svg).filter((e) => e.attrs.ecmeta_silent !== 'true'));
/** The dashed threshold lines per series index. */
function thresholdLines(svg: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of parseSvg(svg)) {
    const s = e.attrs.ecmeta_series_index;
    if (s !== undefined && e.attrs.ecmeta_silent === 'true' && e.attrs['stroke-dasharray'])
      out.set(s, (out.get(s) ?? 0) + 1);
  }
  return out;
}

describe('completion report chart (SVG, Apache ECharts)', () => {
  it('is well-formed SVG with one series per gate metric, a point per reading and a threshold line per metric', () => {
    const svg = renderMetricsChart(evaluations(), 'Gate metrics');
    const series = points(svg);
    expect([...series.keys()].sort()).toEqual(['0', '1', '2', '3']);
    for (const p of series.values()) expect(p.size).toBe(STEPS.length);
    expect([...thresholdLines(svg).entries()].sort()).toEqual([
      ['0', 1],
      ['1', 1],
      ['2', 1],
      ['3', 1],
    ]);
    const text = svg.replace(/&lt;/g, '<').replace(/&gt;/g, '>');
    // Thresholds as the plan wrote them, grouped in thousands, with their units.
    for (const t of ['<= 0.01', '<= 7 s', '>= 500 items/h', '>= 3,528 USD/year']) {
      expect(text).toContain(`threshold ${t}`);
    }
    expect(svg).toContain('soak check 2');
    // Axis names: the steps below, the metric (and its unit) beside.
    expect(text).toContain('traffic step / soak check');
    expect(text).toContain('throughput (items/h)');
  });

  it('leaves a gap where a metric had no reading, and renders the same input the same way', () => {
    const input = evaluations([
      { metric: 'throughput', step: 2 },
      { metric: 'error-rate', step: 0 },
      { metric: 'error-rate', step: 5 },
    ]);
    const svg = renderMetricsChart(input, 'Gate metrics');
    const series = points(svg);
    expect(series.size).toBe(METRICS.length);
    expect(series.get('2')?.size).toBe(STEPS.length - 1);
    expect(series.get('2')?.has('2')).toBe(false);
    expect([...(series.get('0') ?? [])].sort()).toEqual(['1', '2', '3', '4']);
    expect(series.get('1')?.size).toBe(STEPS.length);
    expect(renderMetricsChart(input, 'Gate metrics')).toBe(svg);
  });
});

type Reading = Omit<MetricReading, 'passed' | 'detail' | 'at'>;

/** One evaluation per step, each with one reading of every metric given (values by step; null: no reading). */
function evaluationsOf(metrics: (Omit<Reading, 'value'> & { values: (number | null)[] })[]): GateEvaluation[] {
  const steps = Math.max(...metrics.map((m) => m.values.length));
  return Array.from({ length: steps }, (_, i) => ({
    phase: 'traffic-shift' as const,
    step: `traffic step ${i + 1}`,
    at: new Date(Date.UTC(2026, 10, 25, 9, i)).toISOString(),
    passed: true,
    readings: metrics.map(({ values, ...m }) => ({ ...m, value: values[i] ?? null, passed: true, detail: '', at: '' })),
  }));
}

/** The value axis's tick labels, top to bottom, as numbers (the axis names and step labels are not numbers). */
function valueLabels(svg: string): number[] {
  return parseSvg(svg)
    .filter((e) => e.tag === 'text' && e.attrs['text-anchor'] === 'end' && /^-?[\d,]+(\.\d+)?$/.test(e.text ?? ''))
    .map((e) => Number(e.text!.replace(/,/g, '')));
}

/** A zone's band in the SVG: ECharts writes `rgba(r,g,b,a)` as `fill="rgb(r,g,b)"` with `fill-opacity="a"`. */
function bands(svg: string, zone: keyof typeof ZONE_COLOURS): SvgElement[] {
  const [, rgb, alpha] = /^rgba\((\d+,\d+,\d+),([\d.]+)\)$/.exec(ZONE_COLOURS[zone])!;
  return parseSvg(svg).filter(
    (e) => e.attrs.fill === `rgb(${rgb})` && e.attrs['fill-opacity'] === alpha && e.attrs.ecmeta_silent === 'true',
  );
}

/** The y of each metric's dashed threshold line, by series index. */
function thresholdY(svg: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of parseSvg(svg)) {
    if (e.attrs.ecmeta_silent === 'true' && e.attrs['stroke-dasharray'] && e.attrs.ecmeta_series_index)
      out.set(e.attrs.ecmeta_series_index, yExtent(e).top);
  }
  return out;
}

describe("value axes: from the metric's natural floor, numbers for people", () => {
  it.each([
    ['an error rate (no unit)', { name: 'error-rate', op: '<=', threshold: 0.01 }, [0, 0.0004, 0, 0.001, 0]],
    ['a latency in seconds', { name: 'p95', op: '<=', threshold: 0.5, unit: 's' }, [0.002, 0, 0.001, 0.003, 0]],
    ['a rate', { name: 'throughput', op: '>=', threshold: 2, unit: 'items/h' }, [0, 1, 0, 3, 0]],
    ['a percentage', { name: 'cpu', op: '<=', threshold: 1, unit: '%' }, [0, 0.01, 0.02, 0, 0]],
  ] as const)('starts %s at 0 and draws no negative label when its readings are near 0', (_, metric, values) => {
    const svg = renderMetricsChart(evaluationsOf([{ ...metric, values: [...values] }]), 'near zero');
    const labels = valueLabels(svg);
    expect(labels.length).toBeGreaterThanOrEqual(3);
    expect(labels.filter((v) => v < 0)).toEqual([]);
    expect(Math.min(...labels)).toBe(0);
    expect(naturalFloor(metric)).toBe(0);
  });

  it('keeps a money metric off 0 when it reads far from it, and below 0 only when a reading is', () => {
    const savings = { name: 'annual-savings', op: '>=', threshold: 3528, unit: 'USD/year' } as const;
    expect(naturalFloor(savings)).toBeUndefined();
    const far = valueLabels(renderMetricsChart(evaluationsOf([{ ...savings, values: [3700, 3650, 3800] }]), 's'));
    expect(Math.min(...far)).toBeGreaterThan(0);
    expect(Math.min(...far)).toBeLessThanOrEqual(3528);
    const loss = valueLabels(renderMetricsChart(evaluationsOf([{ ...savings, values: [3700, -1200, 3800] }]), 's'));
    expect(Math.min(...loss)).toBeLessThanOrEqual(-1200);
    // A latency that read below 0 (a broken measurement) is still on its axis.
    const broken = { name: 'p95', op: '<=', threshold: 0.5, unit: 's', values: [0.1, -0.2] } as const;
    const brokenLabels = valueLabels(
      renderMetricsChart(evaluationsOf([{ ...broken, values: [...broken.values] }]), 'b'),
    );
    expect(Math.min(...brokenLabels)).toBeLessThanOrEqual(-0.2);
  });

  it("groups tick labels in thousands with the tick step's precision", () => {
    const svg = renderMetricsChart(
      evaluationsOf([{ name: 'throughput', op: '>=', threshold: 500, unit: 'items/h', values: [71571.5177, 69000] }]),
      'rates',
    );
    const text = parseSvg(svg)
      .filter((e) => e.tag === 'text')
      .map((e) => e.text);
    expect(text).toEqual(expect.arrayContaining(['0', '20,000', '40,000', '60,000', '80,000']));
    expect(text.join('\n')).not.toMatch(/\d{5}/);
  });
});

describe('pass and fail zones', () => {
  it('shades the pass zone below a "<=" threshold and the fail zone above it (and the other way round for ">=")', () => {
    const svg = renderMetricsChart(
      evaluationsOf([
        { name: 'error-rate', op: '<=', threshold: 0.01, values: [0, 0.002, 0.004] },
        { name: 'throughput', op: '>=', threshold: 500, unit: 'items/h', values: [900, 1200, 700] },
      ]),
      'zones',
    );
    const pass = bands(svg, 'pass');
    const fail = bands(svg, 'fail');
    expect(pass).toHaveLength(2);
    expect(fail).toHaveLength(2);
    const lines = thresholdY(svg);
    const band = (of: SvgElement[], series: string) => yExtent(of.find((e) => e.attrs.ecmeta_series_index === series)!);
    const [errPass, errFail] = [band(pass, '0'), band(fail, '0')];
    const [thrPass, thrFail] = [band(pass, '1'), band(fail, '1')];
    // SVG y grows downwards: "below the threshold" is the larger y. Each pair of bands meets at the threshold line.
    const near = (a: number, b: number) => expect(Math.abs(a - b)).toBeLessThanOrEqual(1);
    near(errPass.top, lines.get('0')!);
    near(errFail.bottom, lines.get('0')!);
    expect(errPass.bottom).toBeGreaterThan(errFail.bottom);
    near(thrPass.bottom, lines.get('1')!);
    near(thrFail.top, lines.get('1')!);
    expect(thrPass.top).toBeLessThan(thrFail.top);
    // Each band says what it is.
    const labels = parseSvg(svg)
      .filter((e) => e.tag === 'text')
      .map((e) => e.text);
    expect(labels.filter((t) => t === 'pass')).toHaveLength(2);
    expect(labels.filter((t) => t === 'fail')).toHaveLength(2);
  });

  it.each([
    ['<=', ['pass', 'fail']],
    ['<', ['pass', 'fail']],
    ['>=', ['fail', 'pass']],
    ['>', ['fail', 'pass']],
    ['==', ['fail', 'fail']],
    ['!=', ['pass', 'pass']],
  ] as const)('"%s": below and above the threshold, %j', (op, expected) => {
    expect(zones(op, 5, 0, 10)).toEqual([
      { zone: expected[0], from: 0, to: 5 },
      { zone: expected[1], from: 5, to: 10 },
    ]);
  });

  it('leaves out a band without height (a threshold on the axis floor)', () => {
    expect(zones('<=', 0, 0, 10)).toEqual([{ zone: 'fail', from: 0, to: 10 }]);
  });
});

import { renderMetricsChart } from '../../activities/chart';
import type { GateEvaluation, MetricReading } from '../../workflows/definitions';
import { parseSvg, pointsPerSeries } from '../helpers/svg';

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
    for (const m of METRICS) expect(text).toContain(`threshold ${m.op} ${m.threshold}`);
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

import { renderMetricsChart } from '../../activities/chart';
import type { GateEvaluation, MetricReading } from '../../workflows/definitions';
import { parseSvg as parse, pointsPerSeries } from '../helpers/svg';

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

describe('completion report chart (SVG, Apache ECharts)', () => {
  it('is well-formed SVG with one series per gate metric, a point per reading and a threshold line per metric', () => {
    const svg = renderMetricsChart(evaluations(), 'Gate metrics');
    const all = parse(svg);
    const series = pointsPerSeries(all);
    expect([...series.keys()].sort()).toEqual(['0', '1', '2', '3']);
    for (const points of series.values()) expect(points.size).toBe(STEPS.length);
    const text = svg.replace(/&lt;/g, '<').replace(/&gt;/g, '>');
    for (const m of METRICS) expect(text).toContain(`threshold ${m.op} ${m.threshold}`);
    expect(svg).toContain('soak check 2');
  });

  it('leaves a gap where a metric had no reading, and renders the same input the same way', () => {
    const input = evaluations([{ metric: 'throughput', step: 2 }]);
    const svg = renderMetricsChart(input, 'Gate metrics');
    const series = pointsPerSeries(parse(svg));
    expect(series.get('2')?.size).toBe(STEPS.length - 1);
    expect(series.get('2')?.has('2')).toBe(false);
    expect(series.get('0')?.size).toBe(STEPS.length);
    expect(renderMetricsChart(input, 'Gate metrics')).toBe(svg);
  });
});

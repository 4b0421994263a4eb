import * as echarts from 'echarts';
import type { GateEvaluation } from '../workflows/definitions';

const PANEL_HEIGHT = 170;
const WIDTH = 760;

/** One gate metric's readings across the evaluations (null: no reading at that step). */
export interface MetricSeries {
  name: string;
  unit?: string;
  op: string;
  threshold: number;
  values: (number | null)[];
}

/** The gate metrics of a migration, one series per metric, over the evaluation steps in order. */
export function metricSeries(evaluations: GateEvaluation[]): { steps: string[]; series: MetricSeries[] } {
  const steps = evaluations.map((e) => e.step);
  const names = [...new Set(evaluations.flatMap((e) => e.readings.map((r) => r.name)))];
  const series = names.map((name) => {
    const first = evaluations.flatMap((e) => e.readings).find((r) => r.name === name)!;
    return {
      name,
      ...(first.unit ? { unit: first.unit } : {}),
      op: first.op,
      threshold: first.threshold,
      values: evaluations.map((e) => e.readings.find((r) => r.name === name)?.value ?? null),
    };
  });
  return { steps, series };
}

/**
 * An SVG chart (Apache ECharts, rendered on the server without a browser) of every gate metric across the traffic
 * steps and the soak checks: one panel per metric, its readings as a line (a step with no reading is a gap, not a
 * zero) and its threshold as a dashed line. Each reading's point carries ECharts' `ecmeta_series_index` attribute,
 * the metric's index, so a reader (or a test) can tell the series apart. Same input, same SVG.
 */
export function renderMetricsChart(evaluations: GateEvaluation[], title: string): string {
  const { steps, series } = metricSeries(evaluations);
  const height = 50 + Math.max(series.length, 1) * PANEL_HEIGHT;
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width: WIDTH, height });
  const grid = series.map((_, i) => ({ left: 80, right: 30, top: 60 + i * PANEL_HEIGHT, height: PANEL_HEIGHT - 70 }));
  chart.setOption({
    animation: false,
    title: [
      { text: title, left: 'center', textStyle: { fontSize: 14 } },
      ...series.map((s, i) => ({
        text: `${s.name} (threshold ${s.op} ${s.threshold}${s.unit ? ` ${s.unit}` : ''})`,
        top: 38 + i * PANEL_HEIGHT,
        left: 80,
        textStyle: { fontSize: 12 },
      })),
    ],
    grid,
    xAxis: series.map((_, i) => ({
      type: 'category',
      gridIndex: i,
      data: steps,
      axisLabel: { fontSize: 9, interval: 'auto' },
    })),
    yAxis: series.map((s, i) => ({
      type: 'value',
      gridIndex: i,
      scale: true,
      name: s.unit ?? '',
      // The threshold must be on the axis even when every reading is far from it.
      min: (v: { min: number }) => Math.min(v.min, s.threshold),
      max: (v: { max: number }) => Math.max(v.max, s.threshold),
    })),
    series: series.map((s, i) => ({
      name: s.name,
      type: 'line',
      xAxisIndex: i,
      yAxisIndex: i,
      data: s.values,
      connectNulls: false,
      showAllSymbol: true,
      symbolSize: 6,
      markLine: {
        symbol: 'none',
        silent: true,
        lineStyle: { type: 'dashed', color: '#c23531' },
        label: { formatter: `threshold ${s.op} ${s.threshold}`, fontSize: 9 },
        data: [{ yAxis: s.threshold, name: 'threshold' }],
      },
    })),
  });
  const svg = chart.renderToSVGString();
  chart.dispose();
  // zrender numbers its CSS classes (and clip-path ids) per process; renumbered in order of appearance, the same
  // input gives the same SVG.
  const names = new Map<string, string>();
  return svg.replace(/\bzr\d+-[a-z]+-?\d+\b/g, (m) => {
    if (!names.has(m)) names.set(m, `mc-${names.size}`);
    return names.get(m)!;
  });
}

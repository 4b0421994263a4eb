import * as echarts from 'echarts';
import type { GateEvaluation } from '../workflows/definitions';

const PANEL_HEIGHT = 200;
const GRID_HEIGHT = 100;
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

/** Axis bounds and tick step that hold every reading and the threshold, with room around them, on round numbers. */
function axisBounds(s: MetricSeries): { min: number; max: number; interval: number } {
  const values = [...s.values.filter((v): v is number => v !== null), s.threshold];
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  // A flat series (or one reading) still needs a visible range around it.
  const range = hi - lo || Math.abs(hi) * 0.2 || 1;
  const interval = echarts.number.nice(range / 4, true);
  const decimals = Math.max(0, -Math.floor(Math.log10(interval)));
  const round = (v: number) => Number(v.toFixed(decimals));
  // The padding keeps the threshold line and the extreme readings off the panel's border.
  return {
    min: round(Math.floor((lo - range * 0.05) / interval) * interval),
    max: round(Math.ceil((hi + range * 0.05) / interval) * interval),
    interval,
  };
}

/**
 * An SVG chart (Apache ECharts, rendered on the server without a browser) of every gate metric across the traffic
 * steps and the soak checks: one panel per metric, its readings as a line (a step with no reading is a gap, not a
 * zero) and its threshold as a dashed line. How to tell the series apart in the SVG: every reading's point is an
 * element with ECharts' `ecmeta_series_index` (the metric's index, in order of first appearance) and
 * `ecmeta_data_index` (the step's index) attributes; the metric's threshold line carries the same series index but is
 * silent (`ecmeta_silent="true"`), which no point is. Same input, same SVG.
 */
export function renderMetricsChart(evaluations: GateEvaluation[], title: string): string {
  const { steps, series } = metricSeries(evaluations);
  const height = 50 + Math.max(series.length, 1) * PANEL_HEIGHT;
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width: WIDTH, height });
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
    grid: series.map((_, i) => ({ left: 80, right: 30, top: 66 + i * PANEL_HEIGHT, height: GRID_HEIGHT })),
    xAxis: series.map((_, i) => ({
      type: 'category',
      gridIndex: i,
      data: steps,
      name: 'traffic step / soak check',
      nameLocation: 'middle',
      nameGap: 42,
      nameTextStyle: { fontSize: 10, color: '#666' },
      axisLabel: { fontSize: 9, rotate: 20, interval: 'auto', hideOverlap: true },
    })),
    yAxis: series.map((s, i) => ({
      type: 'value',
      gridIndex: i,
      name: s.unit ? `${s.name} (${s.unit})` : s.name,
      nameLocation: 'middle',
      nameGap: 58,
      nameTextStyle: { fontSize: 10, color: '#666' },
      axisLabel: { fontSize: 9 },
      // Fixed bounds: the threshold must be on the axis even when every reading is far from it.
      ...axisBounds(s),
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
        label: { formatter: `threshold ${s.op} ${s.threshold}`, fontSize: 9, position: 'insideEndTop' },
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

import * as echarts from 'echarts';
import type { GateEvaluation } from '../model/status';
import { formatExact, formatNumber } from '../model/format';

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

/** The fill of a metric's pass and fail zones (light: the readings and the threshold stay readable on top). */
export const ZONE_COLOURS = { pass: 'rgba(46,160,67,0.12)', fail: 'rgba(218,54,51,0.12)' } as const;
/** The text of the zones' labels, darker than their fill. */
const ZONE_TEXT = { pass: '#2e7d32', fail: '#c62828' } as const;

const TIME_UNIT = /^(ns|µs|us|ms|s|sec|min|h|d|w)$/;
const BYTE_UNIT = /^([kKMGTP]i?)?B$/;
const COUNT_UNIT = /^(items?|rows?|lines?|jobs?|runs?|requests?|errors?|count)$/;
/** Something per unit of time (items/h, req/s), unless the something is money (savings per year can be negative). */
const RATE_UNIT = /^[^/]+\/(ms|s|sec|min|h|hr|hour|d|day)$/;
const MONEY_UNIT = /^([A-Z]{3}|[$€£¥])(\/|$)/;
/** A metric without a unit that names a rate, a ratio, a time, a size or a count. */
const NON_NEGATIVE_NAME = /(error|rate|ratio|count|latency|duration|time|size|coverage|match|depth|lag)/i;

/**
 * Where a metric's axis starts when nothing reads below it: 0 for what cannot be negative (rates, latencies, counts,
 * percentages, error rates: told by the unit the plan gives, or for a metric without one by its name), none for what
 * may be (money, unknown units). The plan gives no kind, so the unit is what the evaluations carry that says one.
 */
export function naturalFloor(metric: { name: string; unit?: string }): number | undefined {
  const unit = metric.unit?.trim();
  if (!unit) return NON_NEGATIVE_NAME.test(metric.name) ? 0 : undefined;
  if (MONEY_UNIT.test(unit)) return undefined;
  if (unit === '%' || TIME_UNIT.test(unit) || BYTE_UNIT.test(unit) || COUNT_UNIT.test(unit) || RATE_UNIT.test(unit))
    return 0;
  return undefined;
}

/**
 * Axis bounds and tick step that hold every reading and the threshold, with room around them, on round numbers; the
 * axis starts at the metric's natural floor, and is never negative when nothing read is.
 */
function axisBounds(s: MetricSeries): { min: number; max: number; interval: number } {
  const values = [...s.values.filter((v): v is number => v !== null), s.threshold];
  const floor = naturalFloor(s);
  const read = Math.min(...values);
  // A reading below the floor (a broken measurement) is still shown: the axis extends to it.
  const lo = floor !== undefined && read >= floor ? floor : read;
  const hi = Math.max(...values);
  // A flat series (or one reading) still needs a visible range around it.
  const range = hi - lo || Math.abs(hi) * 0.2 || 1;
  const interval = echarts.number.nice(range / 4, true);
  const decimals = Math.max(0, -Math.floor(Math.log10(interval)));
  const round = (v: number) => Number(v.toFixed(decimals));
  // The padding keeps the threshold line and the extreme readings off the panel's border; below the floor there is
  // nothing to keep off it, and a metric that read nothing negative gets no negative axis.
  const padded = round(Math.floor((lo - range * 0.05) / interval) * interval);
  const min = lo === floor ? floor : read >= 0 ? Math.max(0, padded) : padded;
  return { min, max: round(Math.ceil((hi + range * 0.05) / interval) * interval), interval };
}

/** Tick labels with the tick step's decimals, grouped in thousands: 0, 20,000, 40,000; 0.000, 0.005, 0.010. */
function tickLabel(interval: number): (v: number) => string {
  const decimals = Math.max(0, -Math.floor(Math.log10(interval)));
  return (v) => (v === 0 ? '0' : formatNumber(v, decimals));
}

type Zone = keyof typeof ZONE_COLOURS;

/**
 * The bands of an axis from `min` to `max` where a reading passes or fails against `threshold`: below and above it,
 * by the comparison (`==` passes only on the line, `!=` everywhere but on it). Bands without height are left out.
 */
export function zones(
  op: string,
  threshold: number,
  min: number,
  max: number,
): { zone: Zone; from: number; to: number }[] {
  const [below, above]: [Zone, Zone] =
    op === '<' || op === '<='
      ? ['pass', 'fail']
      : op === '>' || op === '>='
        ? ['fail', 'pass']
        : op === '=='
          ? ['fail', 'fail']
          : ['pass', 'pass'];
  const t = Math.min(max, Math.max(min, threshold));
  return [
    { zone: below, from: min, to: t },
    { zone: above, from: t, to: max },
  ].filter((z) => z.to > z.from);
}

/**
 * An SVG chart (Apache ECharts, rendered on the server without a browser) of every gate metric across the traffic
 * steps and the soak checks: one panel per metric, its readings as a line (a step with no reading is a gap, not a
 * zero), its threshold as a dashed line, and the bands where a reading passes or fails shaded in ZONE_COLOURS and
 * labelled "pass" and "fail". The value axis starts at the metric's natural floor (see naturalFloor); numbers are
 * grouped in thousands. How to tell the series apart in the SVG: every reading's point is an element with ECharts'
 * `ecmeta_series_index` (the metric's index, in order of first appearance) and `ecmeta_data_index` (the step's index)
 * attributes; the metric's threshold line and its zones carry the same series index but are silent
 * (`ecmeta_silent="true"`), which no point is. Same input, same SVG.
 */
export function renderMetricsChart(evaluations: GateEvaluation[], title: string): string {
  const { steps, series } = metricSeries(evaluations);
  const height = 50 + Math.max(series.length, 1) * PANEL_HEIGHT;
  const bounds = series.map(axisBounds);
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width: WIDTH, height });
  chart.setOption({
    animation: false,
    title: [
      { text: title, left: 'center', textStyle: { fontSize: 14 } },
      ...series.map((s, i) => ({
        text: `${s.name} (threshold ${thresholdText(s)})`,
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
      axisLabel: { fontSize: 9, formatter: tickLabel(bounds[i]!.interval) },
      // Fixed bounds: the threshold must be on the axis even when every reading is far from it.
      ...bounds[i]!,
    })),
    series: series.map((s, i) => metricLine(s, i, bounds[i]!)),
  });
  const svg = chart.renderToSVGString();
  chart.dispose();
  return renumberIds(svg);
}

/** A metric's threshold as the chart writes it, every digit kept: `< 0.05`, `>= 3,528`. */
const thresholdText = (s: MetricSeries) => `${s.op} ${formatExact(s.threshold, s.unit)}`;

/** The line series of panel `i`: the metric's readings, its dashed threshold line and its shaded pass and fail zones. */
function metricLine(s: MetricSeries, i: number, bounds: { min: number; max: number }): echarts.LineSeriesOption {
  return {
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
      label: { formatter: `threshold ${thresholdText(s)}`, fontSize: 9, position: 'insideEndTop' },
      data: [{ yAxis: s.threshold, name: 'threshold' }],
    },
    markArea: {
      silent: true,
      data: zones(s.op, s.threshold, bounds.min, bounds.max).map(({ zone, from, to }) => [
        {
          yAxis: from,
          name: zone,
          itemStyle: { color: ZONE_COLOURS[zone] },
          // The label sits at the band's far edge, away from the threshold line and its label.
          label: {
            color: ZONE_TEXT[zone],
            fontSize: 9,
            position: from === bounds.min ? 'insideBottomLeft' : 'insideTopLeft',
          },
        },
        { yAxis: to },
      ]),
    },
  };
}

/**
 * zrender numbers its CSS classes (and clip-path ids) per process; renumbered in order of appearance, the same input
 * gives the same SVG.
 */
function renumberIds(svg: string): string {
  const names = new Map<string, string>();
  return svg.replace(/\bzr\d+-[a-z]+-?\d+\b/g, (m) => {
    if (!names.has(m)) names.set(m, `mc-${names.size}`);
    return names.get(m)!;
  });
}

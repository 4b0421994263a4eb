import path from 'node:path';
import { loadPlan } from '../../client/plan';
import { checkRetention, formatDuration, planTotalDurationMs, retentionMarginMs } from '../../client/retention';
import type { Plan } from '../../model/plan';

const plans = path.join(__dirname, '..', '..', 'plans');
const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

describe('planTotalDurationMs', () => {
  it('sums the production plan: parallel run, four bakes, window, soak, three gate timeouts, rollback budget', () => {
    const prod = loadPlan(path.join(plans, 'production.example.yaml'));
    // 24h + 4 × 8h + 2h + 7 × 1d + (3d + 2d + 7d) + 5m, read off the YAML by hand.
    expect(planTotalDurationMs(prod)).toBe(24 * H + 4 * 8 * H + 2 * H + 7 * D + 12 * D + 5 * M);
    expect(planTotalDurationMs(prod)).toBe(1_850_700_000);
    expect(formatDuration(planTotalDurationMs(prod))).toBe('21d 10h 5m');
  });

  it('sums the demo plan: seconds for the phases, ten minutes per gate, a minute of rollback', () => {
    const demo = loadPlan(path.join(plans, 'demo.yaml'));
    // 6s + 4 × 4s + 4s + 3 × 3s + 3 × 10m + 1m.
    expect(planTotalDurationMs(demo)).toBe(35 * S + 31 * M);
  });

  it('counts the soak as whole intervals, as the workflow runs them', () => {
    const demo = loadPlan(path.join(plans, 'demo.yaml'));
    // A 10 s soak with a check every 3 s is four checks, 12 s.
    const uneven: Plan = { ...demo, durations: { ...demo.durations, soakMs: 10 * S } };
    expect(planTotalDurationMs(uneven)).toBe(planTotalDurationMs(demo) - 9 * S + 12 * S);
  });
});

describe('the retention margin', () => {
  it('is a week, or a fifth of a runbook longer than 35 days', () => {
    expect(retentionMarginMs(31 * M)).toBe(7 * D);
    expect(retentionMarginMs(1_850_700_000)).toBe(7 * D);
    expect(retentionMarginMs(35 * D)).toBe(7 * D);
    expect(retentionMarginMs(74 * D + 10 * H + 5 * M)).toBe(1_285_980_000);
  });
});

describe('checkRetention', () => {
  const prod = loadPlan(path.join(plans, 'production.example.yaml'));
  const demo = loadPlan(path.join(plans, 'demo.yaml'));
  const needed = 28 * D + 10 * H + 5 * M;
  const check = (plan: Plan, retentionMs: number | undefined, allowShort = false) =>
    checkRetention({ namespace: 'n', plan, retentionMs, allowShort }).kind;

  it('refuses the production plan on a namespace of the dev server default (24h), naming both numbers and the fix', () => {
    const v = checkRetention({ namespace: 'default', plan: prod, retentionMs: 24 * H, allowShort: false });
    expect(v).toMatchObject({ kind: 'refuse', retentionMs: 24 * H, neededMs: needed });
    if (v.kind !== 'refuse') throw new Error(v.kind);
    expect(v.message).toContain("namespace default keeps a closed workflow's history for 1d (24h)");
    expect(v.message).toContain('shorter than the 28d 10h 5m plan monolith-to-unified needs');
    expect(v.message).toContain('the runbook can take 21d 10h 5m: parallel run 1d + 4 bakes × 8h');
    expect(v.message).toContain('the margin after its end is 7d (max(7d, 20 % of the runbook))');
    expect(v.message).toContain('temporal operator namespace update --namespace default --retention 29d');
    expect(v.message).toContain('--allow-short-retention');
  });

  it('with allowShort, warns with the same numbers and the fix instead', () => {
    const v = checkRetention({ namespace: 'default', plan: prod, retentionMs: 24 * H, allowShort: true });
    expect(v.kind).toBe('warn');
    if (v.kind !== 'warn') throw new Error(v.kind);
    expect(v.message).toContain('for 1d (24h), shorter than the 28d 10h 5m');
    expect(v.message).toContain('--retention 29d');
    expect(v.message).not.toContain('--allow-short-retention');
  });

  it('refuses one millisecond short and accepts what is needed exactly, and more', () => {
    expect(check(prod, needed - 1)).toBe('refuse');
    expect(check(prod, 28 * D)).toBe('refuse');
    expect(check(prod, needed)).toBe('ok');
    expect(check(prod, 30 * D)).toBe('ok');
    expect(check(prod, 30 * D, true)).toBe('ok');
  });

  it('holds the margin for the demo too: a day is too short, eight days are enough', () => {
    expect(check(demo, 24 * H)).toBe('refuse');
    expect(check(demo, 7 * D)).toBe('refuse');
    expect(check(demo, 8 * D)).toBe('ok');
  });

  it('warns, never refuses, when the retention is unknown (none reported, zero, or not allowed to ask)', () => {
    for (const retentionMs of [undefined, 0]) {
      const v = checkRetention({ namespace: 'n', plan: prod, retentionMs, allowShort: false });
      expect(v.kind).toBe('warn');
      if (v.kind === 'warn') expect(v.message).toContain('keeps closed workflows 29d or more');
    }
    const denied = checkRetention({
      namespace: 'cloud.acct',
      plan: prod,
      retentionMs: undefined,
      allowShort: false,
      unknownBecause: 'not allowed to describe it: permission denied',
    });
    expect(denied.kind).toBe('warn');
    if (denied.kind === 'warn')
      expect(denied.message).toContain('namespace cloud.acct (not allowed to describe it: permission denied)');
  });
});

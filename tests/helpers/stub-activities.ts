import type { Activities } from '../../activities';
import type { MetricSpec } from '../../model/plan';
import { noopActivities } from '../../lib/noop-activities';

export { passingReadings } from '../../lib/noop-activities';

/** Every activity replaced by a `jest.fn` typed against the real factory: a renamed activity breaks compilation. */
export type StubActivities = {
  [K in keyof Activities]: jest.Mock<ReturnType<Activities[K]>, Parameters<Activities[K]>>;
};

/** Stubs with happy-path answers; tests override single activities with `mockImplementation…`. */
export function stubActivities(metrics: MetricSpec[]): StubActivities {
  const plain = noopActivities(metrics) as unknown as Record<string, (...args: never[]) => unknown>;
  return Object.fromEntries(Object.entries(plain).map(([k, f]) => [k, jest.fn(f)])) as unknown as StubActivities;
}

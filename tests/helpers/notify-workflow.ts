import { proxyActivities } from '@temporalio/workflow';
import type { createActivities } from '../../activities';
import type { NotifyInput } from '../../activities/notify';

type Activities = ReturnType<typeof createActivities>;

/** Retries quickly, so a test sees several attempts of one notification within a second. */
const { notify } = proxyActivities<Pick<Activities, 'notify'>>({
  startToCloseTimeout: '20 seconds',
  retry: { initialInterval: '100 milliseconds', backoffCoefficient: 1, maximumAttempts: 5 },
});

/** Sends the notices one after another, each its own activity with its own retries, as a migration sends them. */
export async function notifyEach(notices: NotifyInput[]): Promise<Awaited<ReturnType<Activities['notify']>>[]> {
  const results: Awaited<ReturnType<Activities['notify']>>[] = [];
  for (const notice of notices) results.push(await notify(notice));
  return results;
}

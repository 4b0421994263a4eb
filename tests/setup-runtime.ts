import { DefaultLogger, Runtime } from '@temporalio/worker';

// Workers inside the test process log errors only (the tests provoke failed activities and retries on purpose, and
// a warning for each buries the log CI shows), and the native core errors only (the time-skipping
// server does not advertise a capability the core warns about on every worker start).
Runtime.install({
  logger: new DefaultLogger('ERROR'),
  telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' } } },
});

import { DefaultLogger, Runtime } from '@temporalio/worker';

// Workers inside the test process log warnings and errors only, and the native core errors only (the time-skipping
// server does not advertise a capability the core warns about on every worker start).
Runtime.install({
  logger: new DefaultLogger('WARN'),
  telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' } } },
});

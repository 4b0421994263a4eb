import { DefaultLogger, Runtime } from '@temporalio/worker';

// Workers inside the test process log warnings and errors only; the phase logs of each run would drown the report.
Runtime.install({ logger: new DefaultLogger('WARN') });

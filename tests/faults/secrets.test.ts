import fs from 'node:fs';
import path from 'node:path';
import { connectClient } from '../../client/connection';
import { demoLogFile, runDemo } from '../../demo/demo';
import { rollbackWorkflowId } from '../../model/status';
import { recordFaults } from '../helpers/fault-summary';
import { webhookReceiver, smtpSink } from '../helpers/receivers';
import { config } from '../helpers/stack';
import { historyText } from '../helpers/temporal';
import { slottedPlan } from '../helpers/slot';
import { shortWaits } from '../helpers/short-waits';

const PLAN = slottedPlan(path.join(__dirname, '..', '..', 'plans', 'demo.yaml'));

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? filesUnder(p) : [p];
  });
}

describe('secrets never reach workflow histories, logs, reports or notifications', () => {
  it('a full demo migration with a database password, a webhook token and an SMTP password set leaks none of them', async () => {
    const token = `tok-${Math.random().toString(36).slice(2)}-${Date.now()}`;
    const smtpPass = `smtp-${Math.random().toString(36).slice(2)}`;
    const hook = await webhookReceiver();
    const smtp = await smtpSink('mailer', smtpPass);
    process.env.MO_SECRET_TEST_WEBHOOK_URL = hook.url;
    process.env.MO_SECRET_TEST_WEBHOOK_TOKEN = token;
    // The sink offers no STARTTLS: the URL says so, as an operator would for a local relay.
    process.env.MO_SECRET_TEST_SMTP_URL = `smtp://mailer:${smtpPass}@127.0.0.1:${smtp.port}?tls=off`;
    const workerLog = demoLogFile(path.join(config.dataDir, 'logs'), 'worker');
    const logStart = fs.existsSync(workerLog) ? fs.statSync(workerLog).size : 0;
    let reportDir = '';
    try {
      const outcome = await runDemo({
        plan: PLAN,
        print: () => undefined,
        adjustPlan: (plan) => {
          // Where secrets could leak is under test, not the waits: the plan's shortest shape; every step still runs.
          shortWaits(plan);
          reportDir = plan.target.reportDir;
          plan.notifications = {
            webhook: { urlEnv: 'MO_SECRET_TEST_WEBHOOK_URL', tokenEnv: 'MO_SECRET_TEST_WEBHOOK_TOKEN' },
            email: { smtpUrlEnv: 'MO_SECRET_TEST_SMTP_URL', from: 'migrations@example.com', to: ['ops@example.com'] },
          };
        },
      });
      expect(outcome.phase).toBe('complete');
      const dbPassword = decodeURIComponent(new URL(outcome.databaseUrl).password);
      expect(dbPassword.length).toBeGreaterThan(8);
      // The secrets were really in use: the token authenticated the webhook, the password the SMTP session.
      expect(hook.requests.length).toBeGreaterThan(3);
      expect(hook.requests.every((r) => r.headers.authorization === `Bearer ${token}`)).toBe(true);
      expect(smtp.messages.length).toBeGreaterThan(3);

      const client = await connectClient(config);
      const places: [string, string][] = [];
      try {
        for (const id of [outcome.workflowId, rollbackWorkflowId(outcome.workflowId)]) {
          const h = await client.workflow
            .getHandle(id)
            .fetchHistory()
            .catch(() => undefined);
          if (h) places.push([`history ${id}`, await historyText(h)]);
        }
      } finally {
        await client.connection.close();
      }
      // The histories were read opened, not as ciphertext: the plan's variable names are in the migration's input.
      expect(places[0]?.[1]).toContain('MO_SECRET_TEST_WEBHOOK_TOKEN');
      places.push(['worker log', fs.readFileSync(workerLog, 'utf8').slice(logStart)]);
      for (const f of filesUnder(reportDir)) places.push([f, fs.readFileSync(f, 'utf8')]);
      hook.requests.forEach((r, i) => places.push([`webhook body ${i}`, r.body]));
      smtp.messages.forEach((m, i) => places.push([`e-mail ${i}`, m.raw]));
      expect(places.length).toBeGreaterThan(10);

      const secrets = { 'database password': dbPassword, 'webhook token': token, 'SMTP password': smtpPass };
      const found = Object.entries(secrets).flatMap(([name, value]) =>
        places.filter(([, text]) => text.includes(value)).map(([where]) => `${name} in ${where}`),
      );
      recordFaults([
        {
          suite: 'secrets',
          what: `sweep of ${places.length} histories, logs, reports and notifications for 3 secrets`,
          kind: 'secret-sweep',
          ok: found.length === 0,
          secretsFound: found.length,
        },
      ]);
      expect(found).toEqual([]);
    } finally {
      delete process.env.MO_SECRET_TEST_WEBHOOK_URL;
      delete process.env.MO_SECRET_TEST_WEBHOOK_TOKEN;
      delete process.env.MO_SECRET_TEST_SMTP_URL;
      await hook.close();
      await smtp.close();
    }
  }, 300_000);
});

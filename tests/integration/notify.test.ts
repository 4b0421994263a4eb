import type { Client } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkflowBundle } from '@temporalio/worker';
import { messageIdFor, notify, type NotifyInput } from '../../activities/notify';
import { notifyEach } from '../helpers/notify-workflow';
import { smtpSink, webhookReceiver } from '../helpers/receivers';
import { config, stackClient, uniq } from '../helpers/stack';
import { workerDataConverter } from '../../lib/codec';

describe('notifications to a local webhook receiver and a local SMTP sink', () => {
  const TOKEN = 'tok-5f2b9c7e1d';
  const SMTP_PASS = 'smtp-pw-8a7e6d';
  let hook: Awaited<ReturnType<typeof webhookReceiver>>;
  let smtp: Awaited<ReturnType<typeof smtpSink>>;

  beforeAll(async () => {
    hook = await webhookReceiver();
    smtp = await smtpSink('mailer', SMTP_PASS);
    process.env.MO_TEST_HOOK_URL = hook.url;
    process.env.MO_TEST_HOOK_TOKEN = TOKEN;
    process.env.MO_TEST_SMTP_URL = `smtp://mailer:${SMTP_PASS}@127.0.0.1:${smtp.port}?tls=off`;
  });
  afterAll(async () => {
    await hook.close();
    await smtp.close();
  });

  const channels = {
    webhook: { urlEnv: 'MO_TEST_HOOK_URL', tokenEnv: 'MO_TEST_HOOK_TOKEN' },
    email: {
      smtpUrlEnv: 'MO_TEST_SMTP_URL',
      from: 'migrations@example.com',
      to: ['platform@example.com', 'oncall@example.com'],
    },
  };

  it('posts JSON with the token only in the Authorization header, and sends the e-mail; no secret in any body', async () => {
    const res = await notify({
      migrationId: 'm-n',
      event: 'gate-open',
      subject: 'approval needed: go',
      text: 'Gate go needs: technical-lead',
      data: { gate: 'go' },
      channels,
    });
    expect(res.delivered).toEqual([
      { channel: 'webhook', ok: true, status: 204 },
      { channel: 'email', ok: true },
    ]);
    expect(hook.requests).toHaveLength(1);
    const req = hook.requests[0]!;
    expect(req.headers.authorization).toBe(`Bearer ${TOKEN}`);
    // Outside an activity (no attempt to name it) the key is the body's hash.
    expect(req.headers['idempotency-key']).toMatch(/^m-n:gate-open:[0-9a-f]{16}$/);
    expect(JSON.parse(req.body)).toEqual({
      migrationId: 'm-n',
      event: 'gate-open',
      subject: 'approval needed: go',
      text: 'Gate go needs: technical-lead',
      data: { gate: 'go' },
    });
    expect(smtp.messages).toHaveLength(1);
    const mail = smtp.messages[0]!;
    expect(mail.from).toBe('migrations@example.com');
    expect(mail.to).toEqual(['platform@example.com', 'oncall@example.com']);
    expect(mail.raw).toContain('Subject: approval needed: go');
    expect(mail.raw).toContain('Gate go needs: technical-lead');
    expect(mail.raw).toContain(
      `Message-ID: ${messageIdFor(req.headers['idempotency-key'] as string, 'migrations@example.com')}`,
    );
    for (const body of [req.body, mail.raw, JSON.stringify(res)]) {
      expect(body).not.toContain(TOKEN);
      expect(body).not.toContain(SMTP_PASS);
    }
  });

  it('fails (for a retry) naming the channel when a delivery fails, without leaking the secret in the error', async () => {
    process.env.MO_TEST_HOOK_FAIL = hook.url.replace('/hook', '/fail');
    const err = (await notify({
      migrationId: 'm-n',
      event: 'x',
      subject: 's',
      text: 't',
      channels: { webhook: { urlEnv: 'MO_TEST_HOOK_FAIL', tokenEnv: 'MO_TEST_HOOK_TOKEN' } },
    }).catch((e: unknown) => e)) as Error;
    expect(err.message).toBe('notification x not delivered: webhook: HTTP 503');
    process.env.MO_TEST_SMTP_BAD = `smtp://mailer:${SMTP_PASS}-wrong@127.0.0.1:${smtp.port}?tls=off`;
    const mailErr = (await notify({
      migrationId: 'm-n',
      event: 'y',
      subject: 's',
      text: 't',
      channels: { email: { ...channels.email, smtpUrlEnv: 'MO_TEST_SMTP_BAD' } },
    }).catch((e: unknown) => e)) as Error;
    expect(mailErr.message).toMatch(/^notification y not delivered: email: /);
    expect(mailErr.message).not.toContain(SMTP_PASS);
  });

  it('over smtp: refuses a server without STARTTLS before AUTH, unless the URL says tls=off or requireTLS=false', async () => {
    const [mails, auths] = [smtp.messages.length, smtp.auths.length];
    process.env.MO_TEST_SMTP_PLAIN = `smtp://mailer:${SMTP_PASS}@127.0.0.1:${smtp.port}`;
    const err = (await notify({
      migrationId: 'm-tls',
      event: 'z',
      subject: 's',
      text: 't',
      channels: { email: { ...channels.email, smtpUrlEnv: 'MO_TEST_SMTP_PLAIN' } },
    }).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/^notification z not delivered: email: .*STARTTLS/);
    expect(err.message).not.toContain(SMTP_PASS);
    // The password was never sent: the sink saw no AUTH and no message.
    expect(smtp.auths.length).toBe(auths);
    expect(smtp.messages.length).toBe(mails);

    process.env.MO_TEST_SMTP_PLAIN = `smtp://mailer:${SMTP_PASS}@127.0.0.1:${smtp.port}?requireTLS=false`;
    const sent = await notify({
      migrationId: 'm-tls',
      event: 'z2',
      subject: 's',
      text: 't',
      channels: { email: { ...channels.email, smtpUrlEnv: 'MO_TEST_SMTP_PLAIN' } },
    });
    expect(sent.delivered).toEqual([{ channel: 'email', ok: true }]);
    expect(smtp.auths.slice(auths)).toEqual([{ user: 'mailer', secure: false }]);
    delete process.env.MO_TEST_SMTP_PLAIN;
  });

  it('sends no secret a message carries: the text and data are redacted on both channels', async () => {
    const key = `wJalrXUtnFEMI-${Date.now()}`;
    const [hooks, mails] = [hook.requests.length, smtp.messages.length];
    await notify({
      migrationId: 'm-secret',
      event: 'rollback',
      subject: 'rolled back',
      text: `check failed: AWS_SECRET_ACCESS_KEY=${key} from https://m.example.com/q?api_key=${key}`,
      data: { reason: `redis://:${key}@cache:6379` },
      channels,
    });
    const sent = [...hook.requests.slice(hooks).map((r) => r.body), ...smtp.messages.slice(mails).map((m) => m.raw)];
    // One webhook body, one e-mail (to both recipients).
    expect(sent).toHaveLength(2);
    expect(sent[0]).toContain('AWS_SECRET_ACCESS_KEY=***');
    expect(sent[1]).toContain('***');
    for (const body of sent) expect(body).not.toContain(key);
  });

  it('names the missing variable before sending anything', async () => {
    const before = hook.requests.length;
    await expect(
      notify({
        migrationId: 'm',
        event: 'e',
        subject: 's',
        text: 't',
        channels: { webhook: { urlEnv: 'MO_TEST_UNSET_HOOK' } },
      }),
    ).rejects.toMatchObject({ type: 'MissingSecret', message: expect.stringContaining('MO_TEST_UNSET_HOOK') });
    expect(hook.requests.length).toBe(before);
  });
});

describe('notifications sent by a workflow through a Temporal worker, with retries', () => {
  const quiet = () => undefined;
  const SMTP_PASS = 'smtp-pw-3c9d1e';
  let bundle: WorkflowBundle;
  let connection: NativeConnection;
  let client: Client;
  let smtp: Awaited<ReturnType<typeof smtpSink>>;

  beforeAll(async () => {
    bundle = await bundleWorkflowCode({
      workflowsPath: require.resolve('../helpers/notify-workflow'),
      // The bundler reports its progress at info level; errors only.
      logger: { trace: quiet, debug: quiet, info: quiet, warn: quiet, log: quiet, error: console.error },
    });
    connection = await NativeConnection.connect({ address: config.temporalAddress });
    client = await stackClient();
    smtp = await smtpSink('mailer', SMTP_PASS);
    process.env.MO_TEST_WF_SMTP_URL = `smtp://mailer:${SMTP_PASS}@127.0.0.1:${smtp.port}?tls=off`;
  });
  afterAll(async () => {
    await connection?.close();
    await client?.connection.close();
    await smtp?.close();
  });

  /** Runs `notifyEach` with the real `notify` activity on a worker of its own, to the workflow's end. */
  async function sendAll(notices: NotifyInput[]): Promise<Awaited<ReturnType<typeof notifyEach>>> {
    const taskQueue = `notify-${uniq()}`;
    const worker = await Worker.create({
      connection,
      namespace: config.temporalNamespace,
      taskQueue,
      workflowBundle: bundle,
      dataConverter: workerDataConverter(),
      activities: { notify },
    });
    return worker.runUntil(
      client.workflow.execute(notifyEach, { taskQueue, workflowId: `notify-${uniq()}`, args: [notices] }),
    );
  }

  const reminder = (channels: NotifyInput['channels']): NotifyInput => ({
    migrationId: 'm-wf',
    event: 'gate-reminder',
    subject: 'still waiting: go',
    text: 'Gate go is still open.',
    data: { gate: 'go' },
    channels,
  });

  it('gives two reminders with the same event and subject two keys, and a retried one the same key twice', async () => {
    // The first request fails: the first reminder arrives on its second attempt, the second on its first.
    const hook = await webhookReceiver({ failAt: [0] });
    try {
      process.env.MO_TEST_WF_HOOK_URL = hook.url;
      const channels = { webhook: { urlEnv: 'MO_TEST_WF_HOOK_URL' } };
      await sendAll([reminder(channels), reminder(channels)]);
      const keys = hook.requests.map((r) => r.headers['idempotency-key']);
      expect(keys).toHaveLength(3);
      expect(keys[1]).toBe(keys[0]);
      expect(keys[2]).not.toBe(keys[1]);
      for (const key of keys) expect(key).toMatch(/^m-wf:gate-reminder:[0-9a-f-]{36}:\d+$/);
    } finally {
      await hook.close();
    }
  });

  it('sends the e-mail once when the webhook fails twice and then arrives', async () => {
    const hook = await webhookReceiver({ failAt: [0, 1] });
    try {
      process.env.MO_TEST_WF_HOOK_URL = hook.url;
      const before = smtp.messages.length;
      const [result] = await sendAll([
        reminder({
          webhook: { urlEnv: 'MO_TEST_WF_HOOK_URL' },
          email: { smtpUrlEnv: 'MO_TEST_WF_SMTP_URL', from: 'migrations@example.com', to: ['oncall@example.com'] },
        }),
      ]);
      expect(hook.requests.map((r) => r.headers['idempotency-key'])).toEqual(
        Array(3).fill(hook.requests[0]!.headers['idempotency-key']),
      );
      const mails = smtp.messages.slice(before);
      expect(mails).toHaveLength(1);
      expect(mails[0]!.raw).toContain(
        `Message-ID: ${messageIdFor(hook.requests[0]!.headers['idempotency-key'] as string, 'migrations@example.com')}`,
      );
      expect(result!.delivered).toEqual([
        { channel: 'webhook', ok: true, status: 204 },
        { channel: 'email', ok: true, earlierAttempt: true },
      ]);
    } finally {
      await hook.close();
    }
  });
});

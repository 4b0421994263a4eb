import { notify } from '../../activities/notify';
import { smtpSink, webhookReceiver } from '../helpers/receivers';

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
    expect(req.headers['idempotency-key']).toBe('m-n:gate-open:approval needed: go');
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

import nodemailer from 'nodemailer';
import type { Plan } from '../workflows/plan';
import { ErrorType, permanent } from './errors';

/** A notification: what happened in which migration. */
export interface NotifyInput {
  migrationId: string;
  event: string;
  subject: string;
  text: string;
  data?: Record<string, unknown>;
  channels: Plan['notifications'];
}

/** One channel's delivery. */
export interface Delivery {
  channel: 'webhook' | 'email';
  ok: boolean;
  status?: number;
  error?: string;
}

function secret(name: string, what: string): string {
  const v = process.env[name];
  if (!v) throw permanent(ErrorType.MissingSecret, `environment variable ${name} (${what}) is not set on the worker`);
  return v;
}

/** Removes every secret value from a message before it is returned or thrown. */
function scrub(message: string, secrets: string[]): string {
  return secrets.filter((s) => s.length >= 4).reduce((m, s) => m.split(s).join('***'), message);
}

/**
 * Sends a notification to the plan's webhook (JSON POST, token only in the Authorization header, an Idempotency-Key
 * so the receiver can drop a retried delivery) and e-mail (SMTP). Every channel is tried; if any failed, the activity
 * fails (retryable) naming the channel, so Temporal retries it.
 */
export async function notify(input: NotifyInput): Promise<{ delivered: Delivery[] }> {
  const delivered: Delivery[] = [];
  const secrets: string[] = [];
  const body = {
    migrationId: input.migrationId,
    event: input.event,
    subject: input.subject,
    text: input.text,
    data: input.data ?? {},
  };
  const { webhook, email } = input.channels;
  if (webhook) {
    const url = secret(webhook.urlEnv, 'webhook URL');
    const token = webhook.tokenEnv ? secret(webhook.tokenEnv, 'webhook token') : undefined;
    secrets.push(url, ...(token ? [token] : []));
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'idempotency-key': `${input.migrationId}:${input.event}:${input.subject}`,
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
      delivered.push({
        channel: 'webhook',
        ok: res.ok,
        status: res.status,
        ...(res.ok ? {} : { error: `HTTP ${res.status}` }),
      });
    } catch (err) {
      delivered.push({ channel: 'webhook', ok: false, error: scrub((err as Error).message, secrets) });
    }
  }
  if (email) {
    const smtpUrl = secret(email.smtpUrlEnv, 'SMTP URL');
    const u = new URL(smtpUrl);
    secrets.push(smtpUrl, decodeURIComponent(u.password));
    try {
      const transport = nodemailer.createTransport({
        host: u.hostname,
        port: Number(u.port || 25),
        secure: u.protocol === 'smtps:',
        ignoreTLS: u.searchParams.get('tls') === 'off',
        ...(u.username ? { auth: { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) } } : {}),
        connectionTimeout: 10_000,
      });
      await transport.sendMail({
        from: email.from,
        to: email.to,
        subject: input.subject,
        text: `${input.text}\n\nMigration: ${input.migrationId}\nEvent: ${input.event}\n`,
        headers: { 'X-Migration-Id': input.migrationId, 'X-Migration-Event': input.event },
      });
      transport.close();
      delivered.push({ channel: 'email', ok: true });
    } catch (err) {
      delivered.push({ channel: 'email', ok: false, error: scrub((err as Error).message, secrets) });
    }
  }
  const failed = delivered.filter((d) => !d.ok);
  if (failed.length)
    throw new Error(
      `notification ${input.event} not delivered: ${failed.map((d) => `${d.channel}: ${d.error}`).join('; ')}`,
    );
  return { delivered };
}

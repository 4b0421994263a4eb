import { createHash } from 'node:crypto';
import { Context } from '@temporalio/activity';
import nodemailer from 'nodemailer';
import type { Plan } from '../model/plan';
import { ErrorType, permanent } from './errors';
import { envSecrets, planEnvNames, redact, redactDeep } from './redact';

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
  /** Delivered by an earlier attempt of this activity, so not sent again. */
  earlierAttempt?: boolean;
}

type Channel = Delivery['channel'];

function secret(name: string, what: string): string {
  const v = process.env[name];
  if (!v) throw permanent(ErrorType.MissingSecret, `environment variable ${name} (${what}) is not set on the worker`);
  return v;
}

/** The running activity's context; undefined when `notify` is called outside an activity (scripts, tests). */
function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * The notification's identity: the same on every attempt, different for every notification. Event and subject do not
 * tell notifications apart (a gate's reminders repeat both); the activity does, as the workflow schedules one per
 * notification: its run (activity IDs restart after continue-as-new) and its ID. Outside an activity, the body's hash.
 */
function notificationKey(input: NotifyInput, body: unknown, ctx: Context | undefined): string {
  const info = ctx?.info;
  const run = info?.workflowExecution?.runId ?? info?.activityRunId;
  const id = info && run ? `${run}:${info.activityId}` : sha256(JSON.stringify(body)).slice(0, 16);
  return `${input.migrationId}:${input.event}:${id}`;
}

/**
 * The e-mail's Message-ID, derived from the notification's key, so a copy that is sent again (a worker that died
 * between sending and recording it) carries the same ID and receivers that dedupe by it drop the copy.
 */
export function messageIdFor(key: string, from: string): string {
  const domain = /@([^\s<>@]+?)>?\s*$/.exec(from)?.[1] ?? 'migration-orchestrator.invalid';
  return `<${sha256(key).slice(0, 32)}@${domain}>`;
}

/** The channels an earlier attempt of this activity delivered, from its heartbeat details. */
function deliveredBefore(ctx: Context | undefined): Set<Channel> {
  const details = ctx?.info.heartbeatDetails as { delivered?: unknown } | undefined;
  const list = Array.isArray(details?.delivered) ? (details.delivered as unknown[]) : [];
  return new Set(list.filter((c): c is Channel => c === 'webhook' || c === 'email'));
}

/** Posts the notification to the webhook; a missing variable throws, a failed delivery is returned. */
async function postWebhook(
  webhook: NonNullable<Plan['notifications']['webhook']>,
  key: string,
  body: unknown,
  secrets: string[],
): Promise<Delivery> {
  const url = secret(webhook.urlEnv, 'webhook URL');
  const token = webhook.tokenEnv ? secret(webhook.tokenEnv, 'webhook token') : undefined;
  secrets.push(url, ...(token ? [token] : []));
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'idempotency-key': key,
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    return { channel: 'webhook', ok: res.ok, status: res.status, ...(res.ok ? {} : { error: `HTTP ${res.status}` }) };
  } catch (err) {
    return { channel: 'webhook', ok: false, error: redact((err as Error).message, secrets) };
  }
}

/**
 * How the SMTP session is protected: `smtps:` is TLS from the start; `smtp:` must upgrade with STARTTLS before it
 * authenticates (`requireTLS`), so a server or a man in the middle that offers no STARTTLS never sees the password in
 * the clear. Only the URL can say otherwise: `?requireTLS=false` (STARTTLS if offered) or `?tls=off` (never TLS).
 */
export function smtpTls(u: URL): { secure: boolean; requireTLS: boolean; ignoreTLS: boolean } {
  const secure = u.protocol === 'smtps:';
  const ignoreTLS = !secure && u.searchParams.get('tls') === 'off';
  return { secure, ignoreTLS, requireTLS: !secure && !ignoreTLS && u.searchParams.get('requireTLS') !== 'false' };
}

/** Sends the notification by e-mail; a missing variable throws, a failed delivery is returned. */
async function sendEmail(
  email: NonNullable<Plan['notifications']['email']>,
  key: string,
  input: NotifyInput,
  secrets: string[],
): Promise<Delivery> {
  const smtpUrl = secret(email.smtpUrlEnv, 'SMTP URL');
  const u = new URL(smtpUrl);
  secrets.push(smtpUrl, decodeURIComponent(u.password));
  try {
    const transport = nodemailer.createTransport({
      host: u.hostname,
      port: Number(u.port || 25),
      ...smtpTls(u),
      ...(u.username ? { auth: { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) } } : {}),
      connectionTimeout: 10_000,
    });
    await transport.sendMail({
      from: email.from,
      to: email.to,
      subject: input.subject,
      text: `${input.text}\n\nMigration: ${input.migrationId}\nEvent: ${input.event}\n`,
      messageId: messageIdFor(key, email.from),
      headers: { 'X-Migration-Id': input.migrationId, 'X-Migration-Event': input.event },
    });
    transport.close();
    return { channel: 'email', ok: true };
  } catch (err) {
    return { channel: 'email', ok: false, error: redact((err as Error).message, secrets) };
  }
}

/**
 * Sends a notification to the plan's webhook (JSON POST, token only in the Authorization header, an Idempotency-Key
 * that names this notification, the same on every retry, so the receiver can drop a retried delivery) and e-mail
 * (SMTP, with a Message-ID derived from that key). Every channel is tried; if any failed, the activity fails
 * (retryable) naming the channel, so Temporal retries it. Each channel delivered is recorded in the activity's
 * heartbeat details, which the server keeps for the next attempt (the worker sends the last ones with the failure):
 * a retry sends only what has not arrived yet, so an e-mail is not sent again because the webhook failed.
 */
export async function notify(input: NotifyInput): Promise<{ delivered: Delivery[] }> {
  const ctx = activityContext();
  const done = deliveredBefore(ctx);
  const secrets: string[] = [];
  // What is sent is redacted like every other message: the channels' own variables and the running plan's.
  const hidden = envSecrets(planEnvNames(input.channels));
  const clean = { ...input, subject: redact(input.subject, hidden), text: redact(input.text, hidden) };
  const body = {
    migrationId: input.migrationId,
    event: input.event,
    subject: clean.subject,
    text: clean.text,
    data: redactDeep(input.data ?? {}, hidden),
  };
  const key = notificationKey(input, body, ctx);
  const { webhook, email } = input.channels;
  const channels: [Channel, (() => Promise<Delivery>) | undefined][] = [
    ['webhook', webhook && (() => postWebhook(webhook, key, body, secrets))],
    ['email', email && (() => sendEmail(email, key, clean, secrets))],
  ];
  const delivered: Delivery[] = [];
  for (const [channel, send] of channels) {
    if (!send) continue;
    if (done.has(channel)) {
      delivered.push({ channel, ok: true, earlierAttempt: true });
      continue;
    }
    const delivery = await send();
    delivered.push(delivery);
    if (!delivery.ok) continue;
    done.add(channel);
    // At once: should the worker die before this attempt ends, the next attempt still knows.
    ctx?.heartbeat({ delivered: [...done] });
  }
  const failed = delivered.filter((d) => !d.ok);
  if (failed.length) {
    // Again, so that this attempt's failure carries what arrived in the attempts before it too.
    if (done.size) ctx?.heartbeat({ delivered: [...done] });
    throw new Error(
      `notification ${input.event} not delivered: ${failed.map((d) => `${d.channel}: ${d.error}`).join('; ')}`,
    );
  }
  return { delivered };
}

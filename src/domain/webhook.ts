import { createHmac, timingSafeEqual } from 'node:crypto';

/** The events a webhook can subscribe to. */
export const WEBHOOK_EVENTS = ['certificate.issued', 'certificate.revoked', 'certificate.expiring', 'certificate.renewed'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

export interface Webhook {
  readonly id: string;
  /** null: an admin webhook that receives every account's events. */
  readonly account: string | null;
  readonly url: string;
  readonly events: readonly WebhookEvent[];
  readonly identity: string | null;
  readonly serverCa: string | null;
  readonly createdBy: string;
  readonly createdAt: Date;
}

export type DeliveryState = 'pending' | 'delivered' | 'dead';

export interface WebhookDelivery {
  readonly id: string;
  readonly webhookId: string;
  readonly eventId: string;
  readonly type: string;
  readonly serialNumber: string;
  readonly state: DeliveryState;
  readonly attempts: number;
  readonly nextAttemptAt: Date;
  readonly lastStatus: number | null;
  readonly lastError: string | null;
  readonly deliveredAt: Date | null;
}

/** One outbox event (its data is certificate metadata only: never key material). */
export interface OutboxEvent {
  readonly eventId: string;
  readonly type: string;
  readonly account: string;
  readonly serialNumber: string;
  readonly data: Record<string, unknown>;
  readonly occurredAt: Date;
}

/** The CloudEvents 1.0 (structured JSON) body of a delivery. */
export function cloudEvent(event: OutboxEvent, source: string): Record<string, unknown> {
  return {
    specversion: '1.0',
    id: event.eventId,
    source,
    type: event.type,
    time: event.occurredAt.toISOString(),
    subject: event.serialNumber,
    datacontenttype: 'application/json',
    data: event.data,
  };
}

/** Standard Webhooks secret: `whsec_` + base64 of the key bytes. */
export function secretString(key: Uint8Array): string {
  return `whsec_${Buffer.from(key).toString('base64')}`;
}

/** `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` (Standard Webhooks). */
export function webhookSignature(key: Uint8Array, id: string, timestampSeconds: number, body: string): string {
  return `v1,${createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64')}`;
}

/** Verifies a `webhook-signature` header (space-separated list) against a `whsec_` secret, as a receiver does. */
export function verifyWebhookSignature(secret: string, id: string, timestamp: string, body: string, header: string): boolean {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = Buffer.from(webhookSignature(key, id, Number(timestamp), body));
  return header.split(' ').some((s) => {
    const got = Buffer.from(s);
    return got.length === expected.length && timingSafeEqual(got, expected);
  });
}

/** Exponential backoff with full jitter: attempt 1 → up to base, doubling, capped. */
export function backoffMs(attempts: number, baseMs: number, capMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempts - 1));
  return Math.floor(ceiling / 2 + (random() * ceiling) / 2);
}

import type { DeliveryState, OutboxEvent, Webhook, WebhookDelivery, WebhookEvent } from '../domain/webhook';
import { ledgerCall } from './ledger-errors';
import { SecretRepository } from './secret-repository';
import type { SqlDatabase, SqlRunner } from './sql';

/** The advisory lock that keeps the expiry scan on one replica at a time. */
export const WEBHOOK_EXPIRY_LOCK_KEY = 0x6d7477686b; // 'mtwhk'

interface WebhookRow {
  id: string;
  account: string | null;
  url: string;
  events: string[];
  identity: string | null;
  server_ca: string | null;
  created_by: string;
  created_at: Date | string;
}

function toWebhook(r: WebhookRow): Webhook {
  return {
    id: r.id,
    account: r.account,
    url: r.url,
    events: r.events as WebhookEvent[],
    identity: r.identity,
    serverCa: r.server_ca,
    createdBy: r.created_by,
    createdAt: new Date(r.created_at),
  };
}

interface DeliveryRow {
  id: string | number;
  webhook_id: string;
  event_id: string;
  type: string;
  serial_number: string;
  state: DeliveryState;
  attempts: number;
  next_attempt_at: Date | string;
  last_status: number | null;
  last_error: string | null;
  delivered_at: Date | string | null;
}

function toDelivery(r: DeliveryRow): WebhookDelivery {
  return {
    id: String(r.id),
    webhookId: r.webhook_id,
    eventId: r.event_id,
    type: r.type,
    serialNumber: r.serial_number,
    state: r.state,
    attempts: Number(r.attempts),
    nextAttemptAt: new Date(r.next_attempt_at),
    lastStatus: r.last_status,
    lastError: r.last_error,
    deliveredAt: r.delivered_at === null ? null : new Date(r.delivered_at),
  };
}

/** A delivery claimed by this worker (leased), with its event and endpoint. */
export interface ClaimedDelivery {
  readonly id: string;
  readonly attempts: number;
  readonly webhook: Webhook;
  readonly event: OutboxEvent;
}

const WEBHOOK_COLUMNS = 'id, account, url, events, identity, server_ca, created_by, created_at';

/**
 * Webhook endpoints, the event outbox and the deliveries (migration 0014). Events are written by the
 * certificates triggers (same transaction as the certificate), or by `emit` for events other code raises.
 */
export class WebhookRepository {
  constructor(private readonly sql: SqlDatabase) {}

  async create(w: Webhook): Promise<void> {
    await ledgerCall('recording the webhook', () =>
      this.sql.query(
        `INSERT INTO webhooks (id, account, url, events, identity, server_ca, created_by, created_at) VALUES ($1, $2, $3, $4::text[], $5, $6, $7, $8)`,
        [w.id, w.account, w.url, [...w.events], w.identity, w.serverCa, w.createdBy, w.createdAt],
      ),
    );
  }

  async find(id: string): Promise<Webhook | null> {
    const rows = await ledgerCall('reading a webhook', () =>
      this.sql.query<WebhookRow>(`SELECT ${WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1 AND deleted_at IS NULL`, [id]),
    );
    return rows.length ? toWebhook(rows[0]) : null;
  }

  /** Live webhooks; of one account when `account` is given (admins: every one). */
  async list(account?: string): Promise<Webhook[]> {
    const rows = await ledgerCall('listing webhooks', () =>
      account === undefined
        ? this.sql.query<WebhookRow>(`SELECT ${WEBHOOK_COLUMNS} FROM webhooks WHERE deleted_at IS NULL ORDER BY created_at, id`)
        : this.sql.query<WebhookRow>(`SELECT ${WEBHOOK_COLUMNS} FROM webhooks WHERE deleted_at IS NULL AND account = $1 ORDER BY created_at, id`, [account]),
    );
    return rows.map(toWebhook);
  }

  /** Deletes (soft: its deliveries stay listed), stops its pending deliveries and destroys its wrapped signing secret. */
  async delete(id: string, at: Date, secretPurpose: string): Promise<boolean> {
    return ledgerCall('deleting the webhook', () =>
      this.sql.transaction(async (tx) => {
        const rows = await tx.query(`UPDATE webhooks SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL RETURNING id`, [id, at]);
        if (rows.length) {
          await tx.query(`UPDATE webhook_deliveries SET state = 'dead', last_error = 'webhook deleted' WHERE webhook_id = $1 AND state = 'pending'`, [id]);
          await new SecretRepository(tx).remove(secretPurpose);
        }
        return rows.length === 1;
      }),
    );
  }

  async deliveries(webhookId: string, limit: number): Promise<WebhookDelivery[]> {
    const rows = await ledgerCall('listing deliveries', () =>
      this.sql.query<DeliveryRow>(
        `SELECT d.id, d.webhook_id, e.event_id, e.type, e.serial_number, d.state, d.attempts, d.next_attempt_at, d.last_status, d.last_error, d.delivered_at
           FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
          WHERE d.webhook_id = $1 ORDER BY d.id DESC LIMIT $2`,
        [webhookId, limit],
      ),
    );
    return rows.map(toDelivery);
  }

  /**
   * Claims up to `limit` due deliveries for `leaseMs` (FOR UPDATE SKIP LOCKED: replicas never claim the
   * same row; a lease that runs out — a crashed worker — makes the row due again). Counts the attempt.
   */
  async claim(limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
    const rows = await this.sql.query<Record<string, unknown>>(
      `WITH due AS (
         SELECT id FROM webhook_deliveries
          WHERE state = 'pending' AND next_attempt_at <= now() AND (lease_until IS NULL OR lease_until < now())
          ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED),
       claimed AS (
         UPDATE webhook_deliveries d SET lease_until = now() + make_interval(secs => $2::double precision / 1000), attempts = d.attempts + 1
           FROM due WHERE d.id = due.id RETURNING d.id, d.attempts, d.webhook_id, d.event_id)
       SELECT c.id AS delivery_id, c.attempts, ${WEBHOOK_COLUMNS.split(', ').map((c) => `w.${c}`).join(', ')},
              e.event_id AS evt_id, e.type AS evt_type, e.account AS evt_account, e.serial_number AS evt_serial, e.data AS evt_data, e.occurred_at AS evt_at
         FROM claimed c JOIN webhooks w ON w.id = c.webhook_id JOIN webhook_events e ON e.id = c.event_id`,
      [limit, leaseMs],
    );
    return rows.map((r) => ({
      id: String(r.delivery_id),
      attempts: Number(r.attempts),
      webhook: toWebhook(r as unknown as WebhookRow),
      event: {
        eventId: String(r.evt_id),
        type: String(r.evt_type),
        account: String(r.evt_account),
        serialNumber: String(r.evt_serial),
        data: (typeof r.evt_data === 'string' ? JSON.parse(r.evt_data) : r.evt_data) as Record<string, unknown>,
        occurredAt: new Date(r.evt_at as string),
      },
    }));
  }

  async delivered(id: string, status: number): Promise<void> {
    await this.sql.query(`UPDATE webhook_deliveries SET state = 'delivered', last_status = $2, last_error = NULL, delivered_at = now(), lease_until = NULL WHERE id = $1`, [id, status]);
  }

  /** A failed attempt: retried after `retryInMs`, or dead when `dead`. */
  async failed(id: string, status: number | null, error: string, retryInMs: number, dead: boolean): Promise<void> {
    await this.sql.query(
      `UPDATE webhook_deliveries SET state = $5, last_status = $2, last_error = $3, lease_until = NULL,
         next_attempt_at = now() + make_interval(secs => $4::double precision / 1000) WHERE id = $1`,
      [id, status, error.slice(0, 500), retryInMs, dead ? 'dead' : 'pending'],
    );
  }

  /**
   * Emits `certificate.expiring` for certificates within each threshold (days, any order) of their
   * notAfter, at most once per (serial, threshold), and only the nearest threshold a certificate has
   * reached (one issued for 5 days hears "7", never "30" too). Runs only where it takes the advisory
   * lock (one replica at a time); returns how many events it wrote, or null when another replica holds it.
   */
  async scanExpiring(now: Date, thresholdsDays: readonly number[]): Promise<number | null> {
    return this.sql.transaction(async (tx) => {
      if (this.sql.kind === 'postgres') {
        const [{ locked }] = await tx.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS locked', [WEBHOOK_EXPIRY_LOCK_KEY]);
        if (!locked) return null;
      }
      let emitted = 0;
      for (const days of [...thresholdsDays].sort((a, b) => a - b)) {
        const marked = await tx.query<{ serial_number: string }>(
          `INSERT INTO webhook_expiry_marks (serial_number, threshold_days)
           SELECT serial_number, $2 FROM certificates
            WHERE revoked_at IS NULL AND not_after > $1 AND not_after <= $1::timestamptz + make_interval(days => $2)
           ON CONFLICT DO NOTHING RETURNING serial_number`,
          [now, days],
        );
        if (!marked.length) continue;
        const rows = await emitExpiring(tx, marked.map((m) => m.serial_number), days, now);
        emitted += rows;
      }
      return emitted;
    });
  }

  /** `certificate.renewed`: the one call the renewal path makes, inside its own transaction (`tx`). */
  static async emitRenewed(tx: SqlRunner, renewed: { serialNumber: string; renewedFrom: string }): Promise<void> {
    await tx.query(
      `SELECT webhook_emit('certificate.renewed', c.account, c.serial_number, webhook_certificate_data(c) || jsonb_build_object('renewedFrom', $2::text))
         FROM certificates c WHERE c.serial_number = $1`,
      [renewed.serialNumber, renewed.renewedFrom],
    );
  }
}

async function emitExpiring(tx: SqlRunner, serials: string[], days: number, now: Date): Promise<number> {
  const rows = await tx.query(
    `SELECT webhook_emit('certificate.expiring', c.account, c.serial_number,
              webhook_certificate_data(c) || jsonb_build_object('thresholdDays', $2::int, 'scannedAt', $3::timestamptz))
       FROM certificates c
      WHERE c.serial_number = ANY ($1::text[])
        AND NOT EXISTS (SELECT 1 FROM webhook_expiry_marks m WHERE m.serial_number = c.serial_number AND m.threshold_days < $2)`,
    [serials, days, now],
  );
  return rows.length;
}

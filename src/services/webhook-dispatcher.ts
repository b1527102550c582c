import { Client } from 'pg';
import type { Logger } from 'pino';
import type { SecretVault } from '../ca/secret-vault';
import type { IdentityKeyring } from '../domain/client-identity';
import type { Clock } from '../domain/clock';
import { reasonFromCode } from '../domain/revocation-reasons';
import { backoffMs, cloudEvent, webhookSignature, type OutboxEvent } from '../domain/webhook';
import type { OutboundConnector } from '../outbound/connector';
import { OutboundError } from '../outbound/outbound-error';
import type { ClaimedDelivery, WebhookRepository } from '../store/webhook-repository';
import { webhookSecretPurpose } from './webhook-service';

export interface WebhookDispatcherParams {
  readonly maxAttempts: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  readonly timeoutMs: number;
  /** Poll interval for due deliveries (also woken at once by NOTIFY on PostgreSQL). */
  readonly pollMs: number;
  readonly expiryDays: readonly number[];
  readonly expiryScanMs: number;
  /** CloudEvents `source` (PUBLIC_BASE_URL). */
  readonly source: string;
  /** PostgreSQL URL for LISTEN; absent on PGlite (one process: the poll suffices). */
  readonly listenUrl?: string;
}

/** How long a claimed delivery stays ours: the request's time plus margin; past it another replica may retry. */
const leaseMs = (timeoutMs: number) => timeoutMs * 2 + 5000;
const BATCH = 16;

/**
 * Delivers the outbox: claims due deliveries (SKIP LOCKED, leased), signs each as Standard Webhooks,
 * sends it through the outbound connector (SSRF-safe, client identity, pinned server CA), and records
 * the outcome: delivered on 2xx, else retried with exponential backoff and jitter until dead after
 * `maxAttempts`. Also runs the `certificate.expiring` scan (one replica at a time, advisory lock).
 */
export class WebhookDispatcher {
  private pollTimer: NodeJS.Timeout | null = null;
  private scanTimer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private listener: Client | null = null;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly deps: {
      repo: WebhookRepository;
      vault: SecretVault | null;
      connector: OutboundConnector;
      keyring?: IdentityKeyring;
      clock: Clock;
      logger: Logger;
      params: WebhookDispatcherParams;
    },
  ) {}

  async start(): Promise<void> {
    const { params } = this.deps;
    if (params.listenUrl) {
      try {
        const client = new Client({ connectionString: params.listenUrl });
        client.on('error', (e) => this.deps.logger.warn({ err: e }, 'webhook LISTEN connection lost; polling only'));
        client.on('notification', () => this.wake());
        await client.connect();
        await client.query('LISTEN mtls_ca_webhooks');
        this.listener = client;
      } catch (e) {
        this.deps.logger.warn({ err: e }, 'webhook LISTEN unavailable; polling only');
      }
    }
    this.pollTimer = setInterval(() => this.wake(), params.pollMs);
    this.pollTimer.unref();
    this.scanTimer = setInterval(() => void this.scanExpiring(), params.expiryScanMs);
    this.scanTimer.unref();
    void this.scanExpiring();
    this.wake();
  }

  /** Looks for due deliveries now (coalesced: one pass at a time, another right after if asked meanwhile). */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.pass()
      .catch((e) => this.deps.logger.warn({ err: e }, 'webhook delivery pass failed'))
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          this.wake();
        }
      });
  }

  /** One expiry scan; returns the events written (null when another replica holds the scan). */
  async scanExpiring(): Promise<number | null> {
    if (this.stopped || this.deps.params.expiryDays.length === 0) return 0;
    try {
      const n = await this.deps.repo.scanExpiring(this.deps.clock.now(), this.deps.params.expiryDays);
      if (n) this.wake();
      return n;
    } catch (e) {
      this.deps.logger.warn({ err: e }, 'webhook expiry scan failed');
      return 0;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.scanTimer) clearInterval(this.scanTimer);
    await this.running;
    await Promise.allSettled([...this.inFlight]);
    await this.listener?.end().catch(() => undefined);
  }

  private async pass(): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      const claimed = await this.deps.repo.claim(BATCH, leaseMs(this.deps.params.timeoutMs));
      if (!claimed.length) return;
      const work = Promise.all(claimed.map((d) => this.deliver(d))).then(() => undefined);
      this.inFlight.add(work);
      await work.finally(() => this.inFlight.delete(work));
      if (claimed.length < BATCH) return;
    }
  }

  private async deliver(d: ClaimedDelivery): Promise<void> {
    const { params, repo, logger } = this.deps;
    let status: number | null = null;
    let error: string;
    try {
      const key = await this.deps.vault?.unwrap(webhookSecretPurpose(d.webhook.id));
      if (!key) throw new Error('the webhook signing secret is not readable (MTLS_CA_MASTER_KEY missing?)');
      const body = JSON.stringify(cloudEvent(publicEvent(d.event), params.source));
      const timestamp = Math.floor(this.deps.clock.now().getTime() / 1000);
      const clientTls = d.webhook.identity && d.webhook.account && this.deps.keyring
        ? await this.deps.keyring.tlsMaterial(d.webhook.account, d.webhook.identity)
        : undefined;
      if (d.webhook.identity && !clientTls) throw new Error('client identities are not available on this server');
      const answer = await this.deps.connector.request({
        url: d.webhook.url,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'mtls-ca-webhooks',
          'webhook-id': d.event.eventId,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': webhookSignature(key, d.event.eventId, timestamp, body),
        },
        body,
        clientTls,
        serverCaPem: d.webhook.serverCa ?? undefined,
        signal: AbortSignal.timeout(params.timeoutMs),
      });
      status = answer.statusCode;
      await answer.body.dump().catch(() => undefined);
      if (status >= 200 && status < 300) {
        await repo.delivered(d.id, status);
        return;
      }
      error = `the receiver answered ${status}`;
    } catch (e) {
      error = e instanceof OutboundError ? `${e.type}: ${e.message}` : (e as Error).message;
    }
    const dead = d.attempts >= params.maxAttempts;
    logger.info({ webhook: d.webhook.id, event: d.event.eventId, attempts: d.attempts, status, error, dead }, 'webhook delivery failed');
    await repo.failed(d.id, status, error, backoffMs(d.attempts, params.backoffBaseMs, params.backoffMaxMs), dead).catch((e) =>
      logger.warn({ err: e }, 'recording a webhook delivery failure failed (the lease will expire and it is retried)'),
    );
  }
}

/** The event as receivers see it: the revocation reason by name. */
function publicEvent(e: OutboxEvent): OutboxEvent {
  const code = e.data.revocationReason;
  if (typeof code !== 'number') return e;
  return { ...e, data: { ...e.data, revocationReason: reasonFromCode(code) } };
}

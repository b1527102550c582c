import type { Logger } from 'pino';
import type { SecretVault } from '../ca/secret-vault';
import type { Config } from '../config';
import type { IdentityKeyring } from '../domain/client-identity';
import type { Clock } from '../domain/clock';
import { OutboundConnector, type HostResolver } from '../outbound/connector';
import { Forwarder } from '../services/forwarder';
import { OutboundRouteService } from '../services/outbound-route-service';
import type { RateLimiter } from '../services/rate-limiter';
import { WebhookDispatcher } from '../services/webhook-dispatcher';
import { WebhookService } from '../services/webhook-service';
import type { SqlDatabase } from '../store/sql';
import { OutboundRouteRepository } from '../store/outbound-route-repository';
import { WebhookRepository } from '../store/webhook-repository';

export interface OutgoingDeps {
  readonly ledger: { readonly sql: SqlDatabase };
  /** Null without MTLS_CA_MASTER_KEY (webhooks then refuse to be created: their secrets could only be kept in clear). */
  readonly vault: SecretVault | null;
  /** Where client identities' TLS material comes from (the identity service; tests replace it). */
  readonly keyring: IdentityKeyring;
  readonly limiter: RateLimiter;
  readonly clock: Clock;
  readonly crypto: Crypto;
  readonly logger: Logger;
  /** Host name resolution (tests answer private addresses). */
  readonly resolver?: HostResolver;
  /** Webhook worker timing (tests shorten the poll and the expiry scan). */
  readonly webhookTiming?: { pollMs?: number; expiryScanMs?: number };
  /** PostgreSQL URL the dispatcher LISTENs on for new events (none on the embedded database). */
  readonly listenUrl?: string;
}

export interface Outgoing {
  /** Routes and the forwarder (/outbound-routes, /forward, the egress proxy). */
  readonly outbound: { readonly routes: OutboundRouteService; readonly forwarder: Forwarder };
  /** The SSRF-safe connector of /forward (the P12 tester's live handshake uses it too). */
  readonly connector: OutboundConnector;
  readonly webhooks: WebhookService;
  readonly webhookDispatcher: WebhookDispatcher;
  close(): Promise<void>;
}

/**
 * The outgoing side (issue 13): routes read fresh on every request, the forwarder over the SSRF-safe
 * connector, and webhooks — events enter the outbox by triggers on certificates (same transaction); the
 * dispatcher delivers them through a connector of its own (its timeout, WEBHOOK_ALLOW_HTTP).
 */
export async function startOutgoing(config: Config, deps: OutgoingDeps): Promise<Outgoing> {
  const { ledger, keyring, clock, crypto } = deps;
  const connector = new OutboundConnector({
    allowedNetworks: config.EGRESS_ALLOWED_NETWORKS,
    resolver: deps.resolver,
    connectTimeoutMs: config.FORWARD_CONNECT_TIMEOUT_MS,
    responseTimeoutMs: config.FORWARD_TIMEOUT_MS,
    bodyTimeoutMs: config.FORWARD_TIMEOUT_MS,
  });
  const routeRepository = new OutboundRouteRepository(ledger.sql);
  const outbound = {
    routes: new OutboundRouteService(routeRepository, keyring, crypto),
    forwarder: new Forwarder({
      routes: routeRepository,
      keyring,
      connector,
      limiter: deps.limiter,
      limits: {
        maxBodyBytes: config.FORWARD_MAX_BODY_BYTES,
        timeoutMs: config.FORWARD_TIMEOUT_MS,
        concurrentPerAccount: config.FORWARD_MAX_CONCURRENT_PER_ACCOUNT,
        ratePerKey: config.FORWARD_RATE_PER_KEY,
      },
    }),
  };
  const webhookRepository = new WebhookRepository(ledger.sql);
  const webhookConnector = new OutboundConnector({
    allowedNetworks: config.EGRESS_ALLOWED_NETWORKS,
    resolver: deps.resolver,
    connectTimeoutMs: Math.min(config.WEBHOOK_TIMEOUT_MS, config.FORWARD_CONNECT_TIMEOUT_MS),
    responseTimeoutMs: config.WEBHOOK_TIMEOUT_MS,
    bodyTimeoutMs: config.WEBHOOK_TIMEOUT_MS,
    allowPlainHttp: config.WEBHOOK_ALLOW_HTTP,
  });
  const webhookDispatcher = new WebhookDispatcher({
    repo: webhookRepository,
    vault: deps.vault,
    connector: webhookConnector,
    keyring,
    clock,
    logger: deps.logger,
    params: {
      maxAttempts: config.WEBHOOK_MAX_ATTEMPTS,
      backoffBaseMs: config.WEBHOOK_BACKOFF_BASE_MS,
      backoffMaxMs: config.WEBHOOK_BACKOFF_MAX_MS,
      timeoutMs: config.WEBHOOK_TIMEOUT_MS,
      pollMs: deps.webhookTiming?.pollMs ?? config.WEBHOOK_POLL_MS,
      expiryDays: config.WEBHOOK_EXPIRY_DAYS,
      expiryScanMs: deps.webhookTiming?.expiryScanMs ?? config.WEBHOOK_EXPIRY_SCAN_SECONDS * 1000,
      source: config.PUBLIC_BASE_URL,
      listenUrl: deps.listenUrl,
    },
  });
  await webhookDispatcher.start();
  const webhooks = new WebhookService(webhookRepository, deps.vault, keyring, clock, crypto, { allowHttp: config.WEBHOOK_ALLOW_HTTP });
  return {
    outbound,
    connector,
    webhooks,
    webhookDispatcher,
    close: async () => {
      await webhookDispatcher.stop();
      await webhookConnector.close();
      await connector.close();
    },
  };
}

import type { SecretVault } from '../ca/secret-vault';
import type { IdentityKeyring } from '../domain/client-identity';
import type { Clock } from '../domain/clock';
import { CaError } from '../domain/errors';
import { isAdmin, mayActOnAccount, type Principal } from '../domain/permissions';
import { secretString, type Webhook, type WebhookDelivery, type WebhookEvent } from '../domain/webhook';
import type { WebhookRepository } from '../store/webhook-repository';
import { checkServerCa } from './outbound-route-service';

export interface WebhookInput {
  url: string;
  events: WebhookEvent[];
  account?: string;
  identity?: string;
  serverCa?: string;
}

/** The vault purpose of a webhook's signing secret. */
export function webhookSecretPurpose(id: string): string {
  return `webhook:${id.replace(/^wh_/, '')}`;
}

const notFound = () => new CaError('not-found', 'no webhook with that id in your account');

/**
 * Webhook endpoints: tenant-scoped (a tenant manages its own account's, which receive only that
 * account's events; an admin any, and an admin webhook without an account receives every event).
 * The signing secret is kept wrapped by the vault (MTLS_CA_MASTER_KEY) and shown once, on creation.
 */
export class WebhookService {
  constructor(
    private readonly repo: WebhookRepository,
    private readonly vault: SecretVault | null,
    private readonly keyring: IdentityKeyring | undefined,
    private readonly clock: Clock,
    private readonly crypto: Crypto,
    private readonly options: { allowHttp: boolean },
  ) {}

  async create(principal: Principal, input: WebhookInput): Promise<Webhook & { secret: string }> {
    // Fail closed: without the master key the secret could only be kept in clear.
    if (!this.vault) throw new CaError('conflict', 'webhooks need MTLS_CA_MASTER_KEY (their signing secrets are kept wrapped by it); set it and restart');
    const account = input.account ?? (isAdmin(principal) ? null : principal.account);
    if (account !== null && !mayActOnAccount(principal, account)) {
      throw new CaError('account-mismatch', `this API key may not manage webhooks of account "${account}"`);
    }
    const url = this.checkUrl(input.url);
    if (input.identity !== undefined) {
      if (account === null) throw new CaError('invalid-request', 'a webhook with an identity needs an account (the identity\'s)', { extensions: { field: 'account' } });
      if (!this.keyring) throw new CaError('conflict', 'client identities are not available on this server', { extensions: { field: 'identity' } });
      try {
        await this.keyring.tlsMaterial(account, input.identity);
      } catch (e) {
        if (e instanceof CaError && e.kind === 'not-found') {
          throw new CaError('invalid-request', `no identity "${input.identity}" in account "${account}"`, { extensions: { field: 'identity' } });
        }
        if (!(e instanceof CaError && e.kind === 'conflict')) throw e;
      }
    }
    const key = new Uint8Array(32);
    this.crypto.getRandomValues(key);
    const webhook: Webhook = {
      id: `wh_${this.crypto.randomUUID().replace(/-/g, '')}`,
      account,
      url,
      events: [...new Set(input.events)],
      identity: input.identity ?? null,
      serverCa: input.serverCa ? checkServerCa(input.serverCa) : null,
      createdBy: principal.appKey,
      createdAt: this.clock.now(),
    };
    await this.vault.wrap(webhookSecretPurpose(webhook.id), key);
    await this.repo.create(webhook);
    return { ...webhook, secret: secretString(key) };
  }

  async get(principal: Principal, id: string): Promise<Webhook> {
    const webhook = await this.repo.find(id);
    if (!webhook || !(isAdmin(principal) || (webhook.account !== null && mayActOnAccount(principal, webhook.account)))) throw notFound();
    return webhook;
  }

  async list(principal: Principal): Promise<Webhook[]> {
    return this.repo.list(isAdmin(principal) ? undefined : principal.account);
  }

  async delete(principal: Principal, id: string): Promise<void> {
    await this.get(principal, id);
    if (!(await this.repo.delete(id, this.clock.now(), webhookSecretPurpose(id)))) throw notFound();
  }

  async deliveries(principal: Principal, id: string, limit: number): Promise<WebhookDelivery[]> {
    await this.get(principal, id);
    return this.repo.deliveries(id, limit);
  }

  private checkUrl(text: string): string {
    const bad = (detail: string) => new CaError('invalid-request', `url: ${detail}`, { extensions: { field: 'url' } });
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw bad('not an absolute URL');
    }
    if (url.protocol === 'http:' && !this.options.allowHttp) throw bad('must be https:// (plain http is allowed only with WEBHOOK_ALLOW_HTTP=true)');
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw bad('must be https://');
    if (url.username || url.password) throw bad('must not carry credentials');
    if (url.hash) throw bad('must not have a fragment');
    return url.toString();
  }
}

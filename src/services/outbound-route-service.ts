import type { IdentityKeyring } from '../domain/client-identity';
import { CaError } from '../domain/errors';
import { normalizeHost, normalizePathPrefix, type OutboundRoute } from '../domain/outbound-route';
import { decodePem } from '../domain/pem';
import { isAdmin, mayActOnAccount, type Principal } from '../domain/permissions';
import type { OutboundRouteRepository, RouteFields } from '../store/outbound-route-repository';
import { X509Certificate } from 'node:crypto';

export interface RouteInput {
  account?: string;
  match: { host: string; port?: number; pathPrefix?: string };
  identity: string;
  serverCa?: string | null;
}

const notFound = () => new CaError('not-found', 'no outbound route with that id in your account');

/** Outbound routes, tenant-scoped like certificates (a tenant sees and changes only its account's; admins any). */
export class OutboundRouteService {
  constructor(
    private readonly repo: OutboundRouteRepository,
    private readonly keyring: IdentityKeyring,
    private readonly crypto: Crypto,
  ) {}

  async create(principal: Principal, input: RouteInput): Promise<OutboundRoute> {
    const account = input.account ?? principal.account;
    if (!mayActOnAccount(principal, account)) throw new CaError('account-mismatch', `this API key may not manage routes of account "${account}"`);
    const fields = await this.fields(account, input);
    const route = await this.repo.insert(this.crypto.randomUUID(), fields);
    if (!route) throw duplicate(fields);
    return route;
  }

  async get(principal: Principal, id: string): Promise<OutboundRoute> {
    const route = await this.repo.get(id);
    if (!route || !mayActOnAccount(principal, route.account)) throw notFound();
    return route;
  }

  async list(principal: Principal, account?: string): Promise<OutboundRoute[]> {
    if (account !== undefined && !mayActOnAccount(principal, account)) throw new CaError('forbidden', 'only admins may list other accounts');
    return this.repo.list(isAdmin(principal) ? account : principal.account);
  }

  /** Replaces the route's match, identity and pinned CA (the account never changes). */
  async update(principal: Principal, id: string, input: RouteInput): Promise<OutboundRoute> {
    const existing = await this.get(principal, id);
    if (input.account !== undefined && input.account !== existing.account) {
      throw new CaError('invalid-request', "a route's account cannot change; delete it and create one in the other account", { extensions: { field: 'account' } });
    }
    const fields = await this.fields(existing.account, input);
    const updated = await this.repo.update(id, fields);
    if (updated === 'conflict') throw duplicate(fields);
    if (!updated) throw notFound();
    return updated;
  }

  async delete(principal: Principal, id: string): Promise<void> {
    await this.get(principal, id);
    if (!(await this.repo.delete(id))) throw notFound();
  }

  private async fields(account: string, input: RouteInput): Promise<RouteFields> {
    const host = normalizeHost(input.match.host);
    const port = input.match.port ?? 443;
    const pathPrefix = normalizePathPrefix(input.match.pathPrefix ?? '/');
    // The identity must be the account's: an unknown one and another account's answer alike (404).
    try {
      await this.keyring.tlsMaterial(account, input.identity);
    } catch (e) {
      // 'conflict': the identity exists but waits for its certificate (a CSR at the partner's CA); the
      // route may be made now and works once the certificate is in.
      if (!(e instanceof CaError && e.kind === 'conflict')) {
        if (e instanceof CaError && e.kind === 'not-found') {
          throw new CaError('invalid-request', `no identity "${input.identity}" in account "${account}"`, { extensions: { field: 'identity' } });
        }
        throw e;
      }
    }
    return { account, host, port, pathPrefix, identityId: input.identity, serverCaPem: input.serverCa ? checkServerCa(input.serverCa) : null };
  }
}

/** The pinned CA bundle: one or more PEM CERTIFICATE blocks Node can read, returned as is. */
export function checkServerCa(pem: string): string {
  const bad = (detail: string) => new CaError('invalid-request', `serverCa: ${detail}`, { extensions: { field: 'serverCa' } });
  let blocks;
  try {
    blocks = decodePem(pem);
  } catch {
    throw bad('not valid PEM');
  }
  if (blocks.length === 0 || blocks.some((b) => b.label !== 'CERTIFICATE')) throw bad('send one or more PEM CERTIFICATE blocks');
  for (const b of blocks) {
    try {
      new X509Certificate(b.der);
    } catch {
      throw bad('a block is not an X.509 certificate');
    }
  }
  return pem;
}

function duplicate(f: RouteFields): CaError {
  return new CaError('conflict', `account "${f.account}" already has a route for ${f.host}:${f.port}${f.pathPrefix === '/' ? '' : f.pathPrefix}`);
}

import { normalizeRequestTarget } from './request-target';

/**
 * GATEWAY_ALLOW: which accounts (the certificate's OU) may use which paths. A rule's prefix is
 * normalised like a request path and matched on whole segments: `/acme/` (or `/acme`) covers `/acme`,
 * `/acme/` and everything below, never `/acme-corp`. A segment's `;parameters` are ignored when
 * matching (`/globex;v=1/x` is under `/globex/`, as a servlet container would route it). The rule
 * with the most segments wins. Case-sensitive unless `caseInsensitive` (ASCII letters folded).
 */
export interface AllowRule {
  readonly prefix: string;
  readonly accounts: ReadonlySet<string>;
}

export interface AllowListOptions {
  readonly caseInsensitive: boolean;
  /** A path under no rule is let through (when false it is refused; an empty list lets everything through). */
  readonly allowUnlisted: boolean;
}

export type AllowDecision =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly reason: 'account-not-allowed'; readonly prefix: string }
  | { readonly allowed: false; readonly reason: 'path-not-allowed' };

export class AllowListError extends Error {}

export class AllowList {
  private readonly rules: ReadonlyArray<AllowRule & { readonly segments: readonly string[] }>;

  constructor(
    rules: readonly AllowRule[],
    private readonly options: AllowListOptions,
  ) {
    this.rules = rules
      .map((r) => ({ ...r, segments: this.segmentsOf(r.prefix) }))
      .sort((a, b) => b.segments.length - a.segments.length);
  }

  /** `/acme/=acme,/shared/=acme|globex`; throws AllowListError naming a bad rule. */
  static parse(text: string, options: AllowListOptions): AllowList {
    const rules = text
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .map((rule) => {
        const [prefix, accounts, extra] = rule.split('=');
        const names = new Set((accounts ?? '').split('|').map((a) => a.trim()).filter(Boolean));
        if (!prefix?.startsWith('/') || names.size === 0 || extra !== undefined) throw new AllowListError(`"${rule}" is not /prefix=account[|account...]`);
        const target = normalizeRequestTarget(prefix);
        if (!target.ok || target.query) throw new AllowListError(`"${prefix}" is not a plain path: ${target.ok ? 'it holds a query' : target.detail}`);
        return { prefix: target.path, accounts: names };
      });
    const list = new AllowList(rules, options);
    const seen = new Set<string>();
    for (const r of list.rules) {
      const key = r.segments.join('/');
      if (seen.has(key)) throw new AllowListError(`"${r.prefix}" appears twice`);
      seen.add(key);
    }
    return list;
  }

  get empty(): boolean {
    return this.rules.length === 0;
  }

  /** `path` is a normalised path (normalizeRequestTarget); `account` the certificate's, if it has one. */
  decide(path: string, account: string | undefined): AllowDecision {
    if (this.rules.length === 0) return { allowed: true };
    const segments = this.segmentsOf(path);
    const rule = this.rules.find((r) => r.segments.every((s, i) => segments[i] === s));
    if (!rule) return this.options.allowUnlisted ? { allowed: true } : { allowed: false, reason: 'path-not-allowed' };
    if (account !== undefined && rule.accounts.has(account)) return { allowed: true };
    return { allowed: false, reason: 'account-not-allowed', prefix: rule.prefix };
  }

  private segmentsOf(path: string): string[] {
    const folded = this.options.caseInsensitive ? path.replace(/[A-Z]/g, (c) => c.toLowerCase()) : path;
    return folded
      .split('/')
      .map((s) => s.replace(/;.*$/, ''))
      .filter((s) => s !== '');
  }
}

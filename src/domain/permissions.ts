/** What an API key may do. `admin` is the platform operator: manage keys, act on any account. */
export const PERMISSIONS = [
  'certificates:sign',
  'certificates:read',
  'certificates:revoke',
  /** Client identities of the outgoing side (keys kept here) and their routes. */
  'identities:manage',
  /** Send requests through /forward and the egress proxy with the account's identities. */
  'forward',
  /** Webhook endpoints of the account and their deliveries. */
  'webhooks:manage',
  /** The gateway's own key: read the trust material (partner CAs, registered client certificates). */
  'gateway:read',
  'admin',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** Named roles that group permissions; expanded when a key is created. */
export const ROLES: Record<string, readonly Permission[]> = {
  'role:tenant': ['certificates:sign', 'certificates:read', 'certificates:revoke'],
  'role:signer': ['certificates:sign', 'certificates:read'],
  'role:auditor': ['certificates:read'],
  'role:admin': ['admin', 'certificates:sign', 'certificates:read', 'certificates:revoke', 'identities:manage', 'forward', 'webhooks:manage'],
  'role:gateway': ['gateway:read'],
};

export const PERMISSION_OR_ROLE = [...PERMISSIONS, ...Object.keys(ROLES)] as [string, ...string[]];

export function expandPermissions(names: readonly string[]): Permission[] {
  const out = new Set<Permission>();
  for (const name of names) {
    const role = ROLES[name];
    if (role) role.forEach((p) => out.add(p));
    else if ((PERMISSIONS as readonly string[]).includes(name)) out.add(name as Permission);
  }
  return PERMISSIONS.filter((p) => out.has(p));
}

/** Who is calling: the authenticated API key. */
export interface Principal {
  readonly appKey: string;
  readonly account: string;
  readonly permissions: ReadonlySet<Permission>;
}

export function isAdmin(p: Principal): boolean {
  return p.permissions.has('admin');
}

/** Admins hold every permission; others only what they were given. */
export function hasPermission(p: Principal, permission: Permission): boolean {
  return p.permissions.has('admin') || p.permissions.has(permission);
}

/**
 * The account under which the service records its own certificates (delegated OCSP signers). It is
 * reserved: no API key is created for it, no CSR is signed into it, and only admins see its entries.
 */
export const SYSTEM_ACCOUNT = 'mtls-ca';

export function isReservedAccount(account: string): boolean {
  return account === SYSTEM_ACCOUNT;
}

/** A tenant acts within its own account (never the reserved one, even with a key of it); an admin anywhere. */
export function mayActOnAccount(p: Principal, account: string): boolean {
  return isAdmin(p) || (p.account === account && !isReservedAccount(account));
}

import { z } from 'zod';
import { cidrList, ConfigError } from '../config';
import { AllowList, AllowListError } from './allow-list';
import { isPlainHttpOffHost } from './ca-trust';

const flag = z.enum(['true', 'false']).default('false').transform((v) => v === 'true');

/** `mtls-ca gateway` settings, from the environment (parsed once; a bad value names the variable). */
const schema = z.object({
  GATEWAY_PORT: z.coerce.number().int().min(0).max(65535).default(8443),
  GATEWAY_HOST: z.string().min(1).default('0.0.0.0'),
  GATEWAY_UPSTREAM: z.url({ protocol: /^https?$/ }),
  GATEWAY_CA_URL: z.url({ protocol: /^https?$/ }).default('http://127.0.0.1:8080'),
  GATEWAY_TLS_CERT_FILE: z.string().min(1),
  GATEWAY_TLS_KEY_FILE: z.string().min(1),
  /** The CA (issuing CA first, then its chain) from a file: pinned, nothing on the network can change it. */
  GATEWAY_CA_FILE: z.string().min(1).optional(),
  /** SHA-256 of the issuing CA's DER (hex, colons allowed): the CA fetched or read must have it. */
  GATEWAY_CA_FINGERPRINT: z
    .string()
    .transform((v) => v.replace(/:/g, '').toLowerCase())
    .pipe(z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 hex digits (SHA-256), colons allowed'))
    .optional(),
  GATEWAY_CRL_REFRESH_SECONDS: z.coerce.number().int().min(1).max(3600).default(5),
  /** `/acme/=acme,/shared/=acme|globex`: only those accounts (the certificate's OU) may use the prefix. */
  GATEWAY_ALLOW: z.string().default(''),
  /** A path under no GATEWAY_ALLOW rule: refused (default) or let through. */
  GATEWAY_ALLOW_UNLISTED: flag,
  /** Match GATEWAY_ALLOW prefixes ignoring ASCII case (for upstreams that route case-insensitively). */
  GATEWAY_ALLOW_CASE_INSENSITIVE: flag,
  /** After the last CRL's nextUpdate with the CA unreachable: refuse (default) or keep admitting. */
  GATEWAY_FAIL_OPEN: flag,
  /** An upstream that has not started answering after this long gets the client a 504. */
  GATEWAY_UPSTREAM_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
  /** Time for a client to send a whole request (headers within at most 10 s); slower ones get 408. */
  GATEWAY_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
  /** Largest request head accepted; beyond: 431. */
  GATEWAY_MAX_HEADER_BYTES: z.coerce.number().int().min(1024).max(256 * 1024).default(16 * 1024),
  /** The gateway's own API key (role:gateway) for GET /gateway/trust-material; unset: partners' PKI off. */
  GATEWAY_APP_KEY: z.string().min(1).max(256).optional(),
  GATEWAY_APP_TOKEN: z.string().min(1).max(512).optional(),
  /** Partner trust material older than this (no successful fetch): partner certificates refused unless GATEWAY_FAIL_OPEN. Default 3 × GATEWAY_CRL_REFRESH_SECONDS. */
  GATEWAY_TRUST_MAX_STALE_SECONDS: z.coerce.number().int().min(1).max(86_400).optional(),
  /** CIDRs a partner CA's CRL distribution point may resolve to although special (loopback, private, link-local…); public addresses need no entry. */
  GATEWAY_PARTNER_CRL_ALLOWED_NETWORKS: cidrList(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type GatewayConfig = z.infer<typeof schema> & { readonly allow: AllowList };

export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const input: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) if (env[key]) input[key] = env[key] as string;
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  if (!parsed.data.GATEWAY_APP_KEY !== !parsed.data.GATEWAY_APP_TOKEN) throw new ConfigError(['GATEWAY_APP_KEY and GATEWAY_APP_TOKEN: set both or neither']);
  // The partner trust material is unsigned JSON that decides who is admitted, fetched with the gateway's key:
  // never over plain HTTP to another host (an on-path attacker would read the key and name its own CA).
  if (parsed.data.GATEWAY_APP_KEY && isPlainHttpOffHost(parsed.data.GATEWAY_CA_URL)) {
    throw new ConfigError(['GATEWAY_APP_KEY: partner trust needs GATEWAY_CA_URL over https (or http to this host only)']);
  }
  try {
    const allow = AllowList.parse(parsed.data.GATEWAY_ALLOW, {
      caseInsensitive: parsed.data.GATEWAY_ALLOW_CASE_INSENSITIVE,
      allowUnlisted: parsed.data.GATEWAY_ALLOW_UNLISTED,
    });
    return Object.freeze({ ...parsed.data, allow });
  } catch (e) {
    if (e instanceof AllowListError) throw new ConfigError([`GATEWAY_ALLOW: ${e.message}`]);
    throw e;
  }
}

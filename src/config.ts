import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { parseCidr } from './outbound/address-policy';
import { parsePkcs11Uri } from './ca/pkcs11/pkcs11-uri';

/** Environment variables, parsed once at start. A bad value stops the start naming the variable. */
const booleanish = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const positiveInt = (def: number) => z.coerce.number().int().positive().default(def);

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** A duration as `90s`, `15m`, `24h`, `7d` or plain seconds; parsed to milliseconds. */
function duration(def?: string) {
  const schema = z
    .string()
    .regex(/^\d{1,7}(s|m|h|d)?$/, 'a duration such as 90s, 15m, 24h or 7d')
    .transform((v) => {
      const m = /^(\d+)(s|m|h|d)?$/.exec(v)!;
      return Number(m[1]) * UNITS[m[2] ?? 's'];
    })
    .pipe(z.number().min(60_000, 'at least one minute').max(366 * 86_400_000, 'at most a year'));
  return def === undefined ? schema : schema.prefault(def);
}

/**
 * Which X-Forwarded-For hops to believe for the client IP. `false` (default): none, the socket address
 * is the client. `true`: one reverse proxy in front. A number: that many proxies. Otherwise a comma list
 * of proxy addresses/subnets or the names loopback, linklocal, uniquelocal (Express "trust proxy").
 */
const trustProxy = z
  .string()
  .max(1000)
  .default('false')
  .transform((v, ctx): boolean | number | string[] => {
    const t = v.trim().toLowerCase();
    if (['false', '0', 'no'].includes(t)) return false;
    if (['true', 'yes'].includes(t)) return 1;
    if (/^\d{1,2}$/.test(t)) return Number(t);
    const list = t.split(',').map((s) => s.trim()).filter(Boolean);
    if (list.length > 0 && list.every((s) => /^(loopback|linklocal|uniquelocal|[0-9a-f:.]+(\/\d{1,3})?)$/.test(s))) return list;
    ctx.addIssue({ code: 'custom', message: 'true, false, a number of proxies, or a comma list of proxy addresses/subnets' });
    return z.NEVER;
  });

export const configSchema = z
  .object({
    PORT: z.coerce.number().int().min(0).max(65535).default(8080),
    HOST: z.string().min(1).default('0.0.0.0'),
    PUBLIC_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
    MTLS_CA_DATA_DIR: z.string().min(1).default('./data'),
    DATABASE_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgresql:// connection URL')
      .optional(),
    DATABASE_POOL_SIZE: positiveInt(10),
    DATABASE_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(5000),
    SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(0).max(600_000).default(10_000),
    WORKERS: z
      .union([z.literal('auto'), z.string().regex(/^\d{1,3}$/, 'a number of processes or "auto"')])
      .default('1')
      .transform((v) => (v === 'auto' ? Math.max(1, availableParallelism()) : Number(v)))
      .pipe(z.number().int().min(1).max(64)),
    MTLS_CA_BOOTSTRAP_APP_KEY: z.string().regex(/^[A-Za-z0-9._-]{8,128}$/, 'must be 8-128 characters of A-Z a-z 0-9 . _ -').optional(),
    MTLS_CA_BOOTSTRAP_APP_TOKEN: z.string().min(32, 'must be at least 32 characters (128 bits or more)').max(256).optional(),
    API_KEY_CACHE_MS: z.coerce.number().int().min(0).max(60_000).default(1000),
    API_TOKEN_PEPPER: z.string().min(32, 'must be at least 32 characters').optional(),
    MTLS_CA_MASTER_KEY: z.string().min(32, 'must be at least 32 characters (e.g. openssl rand -base64 32)').max(1024).optional(),
    CA_CERT_FILE: z.string().min(1).optional(),
    CA_KEY_FILE: z.string().min(1).optional(),
    CA_CHAIN_FILE: z.string().min(1).optional(),
    CA_KEY_PASSPHRASE: z.string().min(1).optional(),
    CA_KEY_PKCS11_URI: z
      .string()
      .max(4096)
      .superRefine((v, ctx) => {
        try {
          parsePkcs11Uri(v);
        } catch (e) {
          ctx.addIssue({ code: 'custom', message: (e as Error).message.replace(/^CA_KEY_PKCS11_URI: /, '') });
        }
      })
      .optional(),
    CA_KEY_PKCS11_PIN: z.string().min(1).max(256).optional(),
    CA_KEY_PKCS11_SESSIONS: z.coerce.number().int().min(1).max(64).default(4),
    // Unset: a generated root is named `CN=mtls-ca Root CA <6 random hex>,O=mtls-ca` (unique per install).
    CA_SUBJECT: z.string().min(3).optional(),
    CA_VALIDITY_DAYS: positiveInt(3650),
    CA_KEY_ALGORITHM: z.enum(['ECDSA-P256', 'ECDSA-P384', 'RSA-2048', 'RSA-3072', 'RSA-4096']).default('ECDSA-P256'),
    CERT_VALIDITY_DAYS: positiveInt(365),
    CERT_MAX_VALIDITY_DAYS: positiveInt(825),
    CERT_BACKDATE_SECONDS: z.coerce.number().int().min(0).max(86400).default(300),
    CRL_VALIDITY: duration('24h'),
    CRL_REFRESH_INTERVAL: duration().optional(),
    CRL_CACHE_MAX_AGE_SECONDS: z.coerce.number().int().min(0).max(86400).default(60),
    OCSP_VALIDITY: duration('1h'),
    OCSP_SIGN_WITH_CA: booleanish.default(false),
    OCSP_SIGNER_VALIDITY: duration('7d'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    TRUST_PROXY: trustProxy,
    MAX_BODY_BYTES: z.coerce.number().int().min(1024).max(16 * 1024 * 1024).default(64 * 1024),
    MAX_HEADER_BYTES: z.coerce.number().int().min(1024).max(256 * 1024).default(16 * 1024),
    MAX_URL_LENGTH: z.coerce.number().int().min(64).max(64 * 1024).default(2048),
    MAX_JSON_DEPTH: z.coerce.number().int().min(2).max(64).default(8),
    REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
    RATE_LIMIT_SIGN_PER_IP: z.coerce.number().int().min(0).max(1_000_000).default(10),
    RATE_LIMIT_PER_KEY: z.coerce.number().int().min(0).max(1_000_000).default(20),
    AUTH_FAILURE_LIMIT: z.coerce.number().int().min(0).max(1_000_000).default(10),
    AUTH_FAILURE_LIMIT_PER_IP: z.coerce.number().int().min(0).max(1_000_000).default(50),
    AUTH_FAILURE_WINDOW_MS: z.coerce.number().int().min(1000).max(86_400_000).default(60_000),
    AUTH_FAILURE_MAX_BLOCK_MS: z.coerce.number().int().min(1000).max(604_800_000).default(3_600_000),
    METRICS_ENABLED: booleanish.default(true),
    // Renewal with the certificate in hand (issue 12): HTTPS on its own port, and the proxy header.
    HTTPS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
    TLS_CERT_FILE: z.string().min(1).optional(),
    TLS_KEY_FILE: z.string().min(1).optional(),
    TLS_SERVER_NAMES: z
      .string()
      .max(4000)
      .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
      .pipe(z.array(z.string().regex(/^([A-Za-z0-9*]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$|^[0-9a-fA-F:.]+$/, 'DNS names or IP addresses, comma-separated')).max(50))
      .default([]),
    TLS_SERVER_CERT_VALIDITY: duration('30d'),
    CLIENT_CERT_HEADER: z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'an HTTP header name such as X-Client-Cert').optional(),
    RENEW_AFTER_EXPIRY: duration().optional(),
    RENEW_MIN_INTERVAL_SECONDS: z.coerce.number().int().min(0).max(31_536_000).default(60),
    /** CIDRs the outgoing side (/forward, the egress proxy, webhooks, the PKCS#12 tester) may reach although special (loopback, private, link-local…). */
    EGRESS_ALLOWED_NETWORKS: cidrList(),
    FORWARD_MAX_BODY_BYTES: z.coerce.number().int().min(0).max(1024 * 1024 * 1024).default(10 * 1024 * 1024),
    FORWARD_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
    FORWARD_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
    FORWARD_MAX_CONCURRENT_PER_ACCOUNT: z.coerce.number().int().min(0).max(100_000).default(64),
    FORWARD_RATE_PER_KEY: z.coerce.number().int().min(0).max(1_000_000).default(50),
    METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').max(1024).regex(/^[!-~]+$/, 'printable ASCII without spaces').optional(),
    // Webhooks (issue 13): delivery attempts before a delivery is dead, backoff, expiry thresholds and scan.
    WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(12),
    WEBHOOK_BACKOFF_BASE_MS: z.coerce.number().int().min(10).max(3_600_000).default(1000),
    WEBHOOK_BACKOFF_MAX_MS: z.coerce.number().int().min(10).max(86_400_000).default(3_600_000),
    WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
    WEBHOOK_POLL_MS: z.coerce.number().int().min(20).max(60_000).default(1000),
    WEBHOOK_EXPIRY_DAYS: z
      .string()
      .regex(/^\s*\d{1,4}(\s*,\s*\d{1,4})*\s*$/, 'comma-separated whole days, e.g. 30,7,1')
      .default('30,7,1')
      .transform((v) => [...new Set(v.split(',').map((d) => Number(d.trim())))].filter((d) => d > 0)),
    WEBHOOK_EXPIRY_SCAN_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),
    /** Plain http:// webhook URLs (no TLS, no client identity): refused unless set. */
    WEBHOOK_ALLOW_HTTP: booleanish.default(false),
  })
  .superRefine((env, ctx) => {
    if (Boolean(env.MTLS_CA_BOOTSTRAP_APP_KEY) !== Boolean(env.MTLS_CA_BOOTSTRAP_APP_TOKEN)) {
      ctx.addIssue({
        code: 'custom',
        path: [env.MTLS_CA_BOOTSTRAP_APP_KEY ? 'MTLS_CA_BOOTSTRAP_APP_TOKEN' : 'MTLS_CA_BOOTSTRAP_APP_KEY'],
        message: 'MTLS_CA_BOOTSTRAP_APP_KEY and MTLS_CA_BOOTSTRAP_APP_TOKEN must be set together',
      });
    }
    if (env.CA_KEY_PKCS11_URI && env.CA_KEY_FILE) {
      ctx.addIssue({ code: 'custom', path: ['CA_KEY_PKCS11_URI'], message: 'the CA key is in a token or in CA_KEY_FILE, not both' });
    } else if (Boolean(env.CA_CERT_FILE) !== Boolean(env.CA_KEY_FILE) && !(env.CA_CERT_FILE && env.CA_KEY_PKCS11_URI)) {
      // With CA_KEY_PKCS11_URI, CA_CERT_FILE alone is the certificate of the token's key.
      ctx.addIssue({
        code: 'custom',
        path: [env.CA_CERT_FILE ? 'CA_KEY_FILE' : 'CA_CERT_FILE'],
        message: 'CA_CERT_FILE and CA_KEY_FILE must be set together',
      });
    }
    if (env.CA_KEY_PKCS11_PIN && !env.CA_KEY_PKCS11_URI) {
      ctx.addIssue({ code: 'custom', path: ['CA_KEY_PKCS11_PIN'], message: 'needs CA_KEY_PKCS11_URI' });
    }
    if (env.CA_CHAIN_FILE && !env.CA_CERT_FILE) {
      ctx.addIssue({ code: 'custom', path: ['CA_CHAIN_FILE'], message: 'CA_CHAIN_FILE needs CA_CERT_FILE (and CA_KEY_FILE or CA_KEY_PKCS11_URI)' });
    }
    if (env.WORKERS > 1 && !env.DATABASE_URL) {
      ctx.addIssue({ code: 'custom', path: ['WORKERS'], message: 'more than one worker needs DATABASE_URL (the embedded database is single-process)' });
    }
    if (env.CRL_REFRESH_INTERVAL !== undefined && env.CRL_REFRESH_INTERVAL >= env.CRL_VALIDITY) {
      ctx.addIssue({ code: 'custom', path: ['CRL_REFRESH_INTERVAL'], message: 'must be shorter than CRL_VALIDITY' });
    }
    if (env.CLIENT_CERT_HEADER && !Array.isArray(env.TRUST_PROXY)) {
      // A hop count trusts whoever connects directly: anyone could then name any certificate in the header.
      ctx.addIssue({
        code: 'custom',
        path: ['CLIENT_CERT_HEADER'],
        message: 'needs TRUST_PROXY set to the proxies\' addresses or subnets (e.g. 10.0.0.5 or loopback), not a hop count: the header is believed only from them',
      });
    }
    if (Boolean(env.TLS_CERT_FILE) !== Boolean(env.TLS_KEY_FILE)) {
      ctx.addIssue({ code: 'custom', path: [env.TLS_CERT_FILE ? 'TLS_KEY_FILE' : 'TLS_CERT_FILE'], message: 'TLS_CERT_FILE and TLS_KEY_FILE must be set together' });
    }
    if ((env.TLS_CERT_FILE || env.TLS_SERVER_NAMES.length > 0) && env.HTTPS_PORT === undefined) {
      ctx.addIssue({ code: 'custom', path: [env.TLS_CERT_FILE ? 'TLS_CERT_FILE' : 'TLS_SERVER_NAMES'], message: 'needs HTTPS_PORT' });
    }
    if (env.CERT_VALIDITY_DAYS > env.CERT_MAX_VALIDITY_DAYS) {
      ctx.addIssue({
        code: 'custom',
        path: ['CERT_VALIDITY_DAYS'],
        message: `must not exceed CERT_MAX_VALIDITY_DAYS (${env.CERT_MAX_VALIDITY_DAYS})`,
      });
    }
  });

export type RawConfig = z.infer<typeof configSchema>;

export interface Config extends Omit<RawConfig, 'PUBLIC_BASE_URL'> {
  /** Base URL the certificates point at (CRL distribution point, AIA); no trailing slash. */
  readonly PUBLIC_BASE_URL: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/** A comma-separated list of CIDRs (bare addresses taken as /32 or /128), e.g. EGRESS_ALLOWED_NETWORKS. */
export function cidrList() {
  return z
    .string()
    .default('')
    .transform((v, ctx) => {
      const list = v.split(',').map((s) => s.trim()).filter(Boolean);
      for (const cidr of list) {
        try {
          parseCidr(cidr);
        } catch (e) {
          ctx.addIssue({ code: 'custom', message: (e as Error).message });
        }
      }
      return list;
    });
}

/** Parses the environment once; throws ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  const input: Record<string, string> = {};
  for (const key of Object.keys(configSchema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`));
  }
  const raw = parsed.data;
  const host = raw.HOST === '0.0.0.0' || raw.HOST === '::' ? 'localhost' : raw.HOST;
  const base = (raw.PUBLIC_BASE_URL ?? `http://${host}:${raw.PORT}`).replace(/\/+$/, '');
  return Object.freeze({ ...raw, PUBLIC_BASE_URL: base });
}

import { z } from 'zod';
import { ConfigError } from '../config';

/** `mtls-ca gateway` settings, from the environment (parsed once; a bad value names the variable). */
const schema = z.object({
  GATEWAY_PORT: z.coerce.number().int().min(0).max(65535).default(8443),
  GATEWAY_HOST: z.string().min(1).default('0.0.0.0'),
  GATEWAY_UPSTREAM: z.url({ protocol: /^https?$/ }),
  GATEWAY_CA_URL: z.url({ protocol: /^https?$/ }).default('http://127.0.0.1:8080'),
  GATEWAY_TLS_CERT_FILE: z.string().min(1),
  GATEWAY_TLS_KEY_FILE: z.string().min(1),
  GATEWAY_CRL_REFRESH_SECONDS: z.coerce.number().int().min(1).max(3600).default(5),
  /** `/acme/=acme,/shared/=acme|globex`: only those accounts (the certificate's OU) may use the prefix. */
  GATEWAY_ALLOW: z.string().default(''),
  /** After the last CRL's nextUpdate with the CA unreachable: refuse (default) or keep admitting. */
  GATEWAY_FAIL_OPEN: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
  /** An upstream that has not started answering after this long gets the client a 504. */
  GATEWAY_UPSTREAM_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
  /** Time for a client to send a whole request (headers within at most 10 s); slower ones get 408. */
  GATEWAY_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
  /** Largest request head accepted; beyond: 431. */
  GATEWAY_MAX_HEADER_BYTES: z.coerce.number().int().min(1024).max(256 * 1024).default(16 * 1024),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type GatewayConfig = z.infer<typeof schema> & { readonly allow: ReadonlyArray<{ prefix: string; accounts: ReadonlySet<string> }> };

export function parseAllowList(text: string): GatewayConfig['allow'] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((rule) => {
      const [prefix, accounts] = rule.split('=');
      if (!prefix?.startsWith('/') || !accounts) throw new ConfigError([`GATEWAY_ALLOW: "${rule}" is not /prefix=account[|account...]`]);
      return { prefix, accounts: new Set(accounts.split('|').map((a) => a.trim()).filter(Boolean)) };
    })
    .sort((a, b) => b.prefix.length - a.prefix.length);
}

export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const input: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) if (env[key]) input[key] = env[key] as string;
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  return Object.freeze({ ...parsed.data, allow: parseAllowList(parsed.data.GATEWAY_ALLOW) });
}

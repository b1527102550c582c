import { z } from 'zod';
import { ConfigError } from '../config';

/**
 * `mtls-ca egress` settings of its own (the proxy's listener), from the environment. The ledger, the
 * master key, EGRESS_ALLOWED_NETWORKS and the FORWARD_* limits are the service's settings (src/config.ts):
 * the egress proxy opens the same ledger the service does.
 */
const schema = z.object({
  EGRESS_PORT: z.coerce.number().int().min(0).max(65535).default(3128),
  /** Loopback by default: an egress proxy is for the services next to it (a sidecar), not the world. */
  EGRESS_HOST: z.string().min(1).default('127.0.0.1'),
  /** Time for a client to send a whole request head; slower ones are dropped. */
  EGRESS_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
  EGRESS_MAX_HEADER_BYTES: z.coerce.number().int().min(1024).max(256 * 1024).default(16 * 1024),
});

export type EgressConfig = z.infer<typeof schema>;

export function loadEgressConfig(env: NodeJS.ProcessEnv = process.env): Readonly<EgressConfig> {
  const input: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  return Object.freeze(parsed.data);
}

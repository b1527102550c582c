import type { Logger } from 'pino';
import type { Clock } from '../domain/clock';
import type { IssuerRegistry } from './issuer-registry';

/**
 * The warning about the active issuer's remaining life: when it is shorter than the longest certificate
 * lifetime (CERT_MAX_VALIDITY_DAYS), new certificates are clamped to it and a rotation is due. Logged
 * once per issuer and day, exported as a metric, and returned as a /readyz detail.
 */
export function issuerLifeWarning(
  registry: IssuerRegistry,
  clock: Clock,
  maxValidityDays: number,
  logger: Logger,
  metrics: { watchActiveIssuer(notAfter: () => Date | null, clock: Clock): void } | null,
): () => Promise<Record<string, unknown>> {
  const notAfter = () => registry.issuers.active()?.ca?.notAfter ?? null;
  metrics?.watchActiveIssuer(notAfter, clock);
  let lastLogged = '';
  const check = async (): Promise<Record<string, unknown>> => {
    const active = registry.issuers.active();
    const at = notAfter();
    if (!active || !at) return {};
    const daysLeft = (at.getTime() - clock.now().getTime()) / 86_400_000;
    if (daysLeft >= maxValidityDays) return { activeIssuer: active.record.id };
    const warning = `the active issuer ${active.record.id} expires on ${at.toISOString()} (in ${Math.max(0, Math.floor(daysLeft))} days), sooner than CERT_MAX_VALIDITY_DAYS=${maxValidityDays}: new certificates end with it; rotate the CA`;
    const key = `${active.record.id}:${Math.floor(daysLeft)}`;
    if (key !== lastLogged) {
      lastLogged = key;
      logger.warn({ issuer: active.record.id, notAfter: at.toISOString() }, warning);
    }
    return { activeIssuer: active.record.id, activeIssuerWarning: warning };
  };
  void check();
  return check;
}

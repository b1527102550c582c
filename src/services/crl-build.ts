import type { CertificateAuthority } from '../ca/certificate-authority';
import { buildCrl, crlEntries, type CrlParams } from '../domain/crl-builder';
import type { CrlBuildContext, CrlHead } from '../store/crl-repository';

/** The last full CRL's entry list, which incremental CRLs extend. */
export interface CrlBase {
  readonly crlNumber: bigint;
  readonly lastRevocationSeq: bigint;
  readonly entries: Buffer;
  readonly count: number;
}

export interface CrlBuildTiming {
  /** nextUpdate - thisUpdate. */
  readonly validityMs: number;
  /** A full build (expired entries drop off) when the last one is this old. */
  readonly refreshMs: number;
}

export interface BuiltCrl {
  readonly head: CrlHead;
  readonly der: Buffer;
  readonly base: CrlBase;
  readonly full: boolean;
}

/** The CRL fields of one issuer for a header and an entry list. */
export function crlParamsOf(ca: CertificateAuthority, head: Pick<CrlHead, 'crlNumber' | 'thisUpdate' | 'nextUpdate'>, entries: Buffer): CrlParams {
  return {
    issuerDer: ca.issuerDer,
    signatureAlgorithmDer: ca.signatureAlgorithmDer,
    authorityKeyId: ca.keyId,
    crlNumber: head.crlNumber,
    thisUpdate: head.thisUpdate,
    nextUpdate: head.nextUpdate,
    entries,
  };
}

/** The base a stored incremental CRL extends, from its DER. */
export function baseFrom(der: Buffer | null, head: CrlHead): CrlBase {
  if (!der) throw new Error('the stored CRL has no base');
  return { crlNumber: head.baseCrlNumber, lastRevocationSeq: head.baseLastRevocationSeq, entries: crlEntries(der), count: head.baseEntries };
}

/**
 * One CRL build of one issuer, inside the build lock (`ctx`): the next number after the stored one;
 * a full build (every revoked, unexpired certificate) when none is stored or the last full one is
 * `refreshMs` old, else the base's entries plus the revocations since; signed by the issuer and stored.
 * No timer and no clock of its own: `now` is given.
 */
export async function buildIssuerCrl(ca: CertificateAuthority, ctx: CrlBuildContext, now: Date, timing: CrlBuildTiming, cachedBase: CrlBase | null): Promise<BuiltCrl> {
  const previous = ctx.previous;
  const thisUpdate = new Date(Math.floor(now.getTime() / 1000) * 1000);
  const nextUpdate = new Date(thisUpdate.getTime() + timing.validityMs);
  const crlNumber = (ctx.previousNumber ?? 0n) + 1n;
  const full = !previous || thisUpdate.getTime() - previous.fullBuildAt.getTime() >= timing.refreshMs;
  let base: CrlBase;
  let entries: Buffer;
  let count: number;
  let lastRevocationSeq: bigint;
  if (full) {
    // An expired certificate stays listed until one CRL issued after its expiry, then drops off.
    const cutoff = previous && previous.thisUpdate < thisUpdate ? previous.thisUpdate : thisUpdate;
    const all = await ctx.allEntries(cutoff);
    base = { crlNumber, lastRevocationSeq: all.lastRevocationSeq, entries: all.der, count: all.count };
    [entries, count, lastRevocationSeq] = [all.der, all.count, all.lastRevocationSeq];
  } else {
    base = cachedBase && cachedBase.crlNumber === previous.baseCrlNumber ? cachedBase : baseFrom(await ctx.baseDer(), previous);
    const added = await ctx.entriesAfter(base.lastRevocationSeq);
    entries = added.count > 0 ? Buffer.concat([base.entries, added.der]) : base.entries;
    [count, lastRevocationSeq] = [base.count + added.count, added.lastRevocationSeq];
  }
  const header = { crlNumber, thisUpdate, nextUpdate };
  const { der, signature } = await buildCrl(crlParamsOf(ca, header, entries), (tbs) => ca.signTbs(tbs));
  const head: CrlHead = {
    ...header,
    entries: count,
    lastRevocationSeq,
    fullBuildAt: full ? thisUpdate : previous!.fullBuildAt,
    signature,
    baseCrlNumber: base.crlNumber,
    baseLastRevocationSeq: base.lastRevocationSeq,
    baseEntries: base.count,
  };
  if (full) await ctx.saveFull(head, der);
  else await ctx.saveIncremental(head);
  return { head, der, base, full };
}

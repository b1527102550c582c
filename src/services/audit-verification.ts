import { ChainVerifier, type ChainBreak, type ChainHead } from '../domain/audit-chain';
import type { AuditRecord } from '../domain/audit-event';

/** Reads the chain in seq order, a page at a time. */
export interface AuditChainReader {
  chainPage(afterSeq: number, limit: number): Promise<AuditRecord[]>;
}

export type ChainReport =
  | { readonly intact: true; readonly count: number; readonly head: ChainHead }
  | { readonly intact: false; /** Records verified before the break. */ readonly count: number; readonly break: ChainBreak };

/** Walks the whole chain from seq 1 with memory bounded by one page; stops at the first broken link. */
export async function verifyAuditChain(reader: AuditChainReader, pageSize = 1000): Promise<ChainReport> {
  const verifier = new ChainVerifier();
  let after = 0;
  for (;;) {
    const page = await reader.chainPage(after, pageSize);
    for (const record of page) {
      const broken = verifier.next(record);
      if (broken) return { intact: false, count: verifier.verifiedHead.seq, break: broken };
    }
    if (page.length < pageSize) return { intact: true, count: verifier.verifiedHead.seq, head: verifier.verifiedHead };
    after = page[page.length - 1].seq;
  }
}

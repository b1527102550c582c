-- Incremental CRLs without rewriting tens of MB per revocation: the row keeps the DER of the last
-- full CRL (the base) and, for the newest CRL, only its header fields and signature. Every replica
-- rebuilds the newest CRL from base + revocations (base_last_revocation_seq, last_revocation_seq]
-- in revocation order, and checks the signature before serving it.
ALTER TABLE "crls" ADD COLUMN "signature" BYTEA;
ALTER TABLE "crls" ADD COLUMN "base_crl_number" BIGINT;
ALTER TABLE "crls" ADD COLUMN "base_last_revocation_seq" BIGINT;
ALTER TABLE "crls" ADD COLUMN "base_entries" INTEGER;
COMMENT ON COLUMN "crls"."der" IS 'DER of the base (last full) CRL';

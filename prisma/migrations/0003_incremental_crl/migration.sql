-- Incremental CRLs: every revocation takes the next number of a sequence, so a CRL build can append
-- exactly the revocations made since the last CRL (revokes hold a shared advisory lock, builds an
-- exclusive one, so no revocation is in flight while a build reads).
CREATE SEQUENCE "certificates_revocation_seq" AS BIGINT;
ALTER TABLE "certificates" ADD COLUMN "revocation_seq" BIGINT;
UPDATE "certificates" SET "revocation_seq" = nextval('certificates_revocation_seq') WHERE "revoked_at" IS NOT NULL;
CREATE UNIQUE INDEX "certificates_revocation_seq_idx" ON "certificates" ("revocation_seq") WHERE "revocation_seq" IS NOT NULL;

-- The CRL remembers the last revocation it holds and when it was last rebuilt from scratch.
ALTER TABLE "crls" ADD COLUMN "last_revocation_seq" BIGINT NOT NULL DEFAULT 0;
ALTER TABLE "crls" ADD COLUMN "full_build_at" TIMESTAMPTZ(3);
-- A signed CRL does not compress; store it out of line without trying.
ALTER TABLE "crls" ALTER COLUMN "der" SET STORAGE EXTERNAL;

-- Revocation and the CRL.

-- The CRL reads revoked, unexpired certificates in serial order from this partial index only.
CREATE INDEX "certificates_revoked_idx" ON "certificates" ("serial_number") INCLUDE ("revoked_at", "revocation_reason", "not_after")
    WHERE "revoked_at" IS NOT NULL;

-- The newest signed CRL, shared by every replica. One row per CA key (issuer_key_id).
-- crl_number only ever grows: it is incremented inside the transaction that stores the new CRL,
-- under an advisory lock, so replicas and restarts can never reuse or lower it.
CREATE TABLE "crls" (
    "issuer_key_id" TEXT           NOT NULL,
    "crl_number"    BIGINT         NOT NULL,
    "this_update"   TIMESTAMPTZ(3) NOT NULL,
    "next_update"   TIMESTAMPTZ(3) NOT NULL,
    "entries"       INTEGER        NOT NULL,
    "der"           BYTEA          NOT NULL,
    "built_at"      TIMESTAMPTZ(3) NOT NULL,
    CONSTRAINT "crls_pkey" PRIMARY KEY ("issuer_key_id")
);

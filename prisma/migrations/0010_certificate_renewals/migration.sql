-- Renewal with the certificate in hand: a certificate issued by POST /private-certificates/renew names
-- the one it renews. NULL for everything signed from a CSR with an API key (and every earlier row).
ALTER TABLE "certificates" ADD COLUMN "renewed_from" TEXT;
ALTER TABLE "certificates" ADD CONSTRAINT "certificates_renewed_from_fkey"
    FOREIGN KEY ("renewed_from") REFERENCES "certificates" ("serial_number");
CREATE INDEX "certificates_renewed_from_idx" ON "certificates" ("renewed_from") WHERE "renewed_from" IS NOT NULL;

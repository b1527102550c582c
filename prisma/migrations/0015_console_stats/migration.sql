-- The console's dashboard counts revocations by reason over a recent window, per account for tenants:
-- without these, that count would read every revoked row.
CREATE INDEX IF NOT EXISTS "certificates_revoked_at_idx" ON "certificates" ("revoked_at") WHERE "revoked_at" IS NOT NULL;
CREATE INDEX IF NOT EXISTS "certificates_account_revoked_at_idx" ON "certificates" ("account", "revoked_at") WHERE "revoked_at" IS NOT NULL;

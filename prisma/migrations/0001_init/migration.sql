-- The certificate ledger and the API keys.
CREATE TABLE "certificates" (
    "serial_number"     TEXT         NOT NULL,
    "account"           TEXT         NOT NULL,
    "common_name"       TEXT         NOT NULL,
    "subject"           TEXT         NOT NULL,
    "public_key_sha256" TEXT         NOT NULL,
    "not_before"        TIMESTAMPTZ(3) NOT NULL,
    "not_after"         TIMESTAMPTZ(3) NOT NULL,
    "issuer_key_id"     TEXT         NOT NULL,
    "pem"               TEXT         NOT NULL,
    "issued_at"         TIMESTAMPTZ(3) NOT NULL,
    "requested_by"      TEXT         NOT NULL,
    "revoked_at"        TIMESTAMPTZ(3),
    "revocation_reason" SMALLINT,
    "revoked_by"        TEXT,
    CONSTRAINT "certificates_pkey" PRIMARY KEY ("serial_number"),
    CONSTRAINT "certificates_serial_format" CHECK ("serial_number" ~ '^[0-9A-F]{2,40}$'),
    CONSTRAINT "certificates_revocation_complete" CHECK (("revoked_at" IS NULL) = ("revocation_reason" IS NULL))
);

CREATE INDEX "certificates_account_issued_idx" ON "certificates" ("account", "issued_at" DESC, "serial_number" DESC);
CREATE INDEX "certificates_issued_idx" ON "certificates" ("issued_at" DESC, "serial_number" DESC);
CREATE INDEX "certificates_account_not_after_idx" ON "certificates" ("account", "not_after");
CREATE INDEX "certificates_not_after_idx" ON "certificates" ("not_after");

CREATE TABLE "api_keys" (
    "app_key"     TEXT         NOT NULL,
    "account"     TEXT         NOT NULL,
    "permissions" TEXT[]       NOT NULL,
    "token_hash"  TEXT         NOT NULL,
    "created_at"  TIMESTAMPTZ(3) NOT NULL,
    "created_by"  TEXT,
    "disabled_at" TIMESTAMPTZ(3),
    CONSTRAINT "api_keys_pkey" PRIMARY KEY ("app_key")
);

CREATE INDEX "api_keys_account_idx" ON "api_keys" ("account");

-- Webhooks (issue 13): endpoints, an outbox of certificate events and one delivery row per event and endpoint.
-- The events are written by triggers on "certificates", so an event commits in the same transaction as the
-- insert or revocation that caused it (outbox), whatever code path wrote the certificate.
CREATE TABLE "webhooks" (
  "id" TEXT PRIMARY KEY,
  "account" TEXT,                      -- NULL: an admin webhook receiving every account's events
  "url" TEXT NOT NULL,
  "events" TEXT[] NOT NULL,
  "identity" TEXT,
  "server_ca" TEXT,
  "created_by" TEXT NOT NULL,
  "created_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
  "deleted_at" TIMESTAMPTZ
);
CREATE INDEX "webhooks_account_idx" ON "webhooks" ("account");

CREATE TABLE "webhook_events" (
  "id" BIGSERIAL PRIMARY KEY,
  "event_id" TEXT NOT NULL UNIQUE,
  "type" TEXT NOT NULL,
  "account" TEXT NOT NULL,
  "serial_number" TEXT NOT NULL,
  "data" JSONB NOT NULL,
  "occurred_at" TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE "webhook_deliveries" (
  "id" BIGSERIAL PRIMARY KEY,
  "webhook_id" TEXT NOT NULL REFERENCES "webhooks" ("id"),
  "event_id" BIGINT NOT NULL REFERENCES "webhook_events" ("id"),
  "state" TEXT NOT NULL DEFAULT 'pending',   -- pending | delivered | dead
  "attempts" INTEGER NOT NULL DEFAULT 0,
  "next_attempt_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
  "lease_until" TIMESTAMPTZ,
  "last_status" INTEGER,
  "last_error" TEXT,
  "delivered_at" TIMESTAMPTZ,
  UNIQUE ("webhook_id", "event_id")
);
CREATE INDEX "webhook_deliveries_due_idx" ON "webhook_deliveries" ("next_attempt_at") WHERE "state" = 'pending';
CREATE INDEX "webhook_deliveries_webhook_idx" ON "webhook_deliveries" ("webhook_id", "id");

-- (serial, threshold) pairs the expiry scan has emitted: never twice.
CREATE TABLE "webhook_expiry_marks" (
  "serial_number" TEXT NOT NULL,
  "threshold_days" INTEGER NOT NULL,
  PRIMARY KEY ("serial_number", "threshold_days")
);

-- Writes one event and a pending delivery for every live webhook that subscribes to it (an account's
-- webhooks and the admin webhooks with no account). The one place events enter the outbox.
CREATE FUNCTION "webhook_emit"(p_type TEXT, p_account TEXT, p_serial TEXT, p_data JSONB) RETURNS BIGINT
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_id BIGINT;
BEGIN
  -- Nothing subscribes (the common case on the signing path): write nothing.
  IF NOT EXISTS (SELECT 1 FROM "webhooks" w WHERE w."deleted_at" IS NULL AND p_type = ANY (w."events")
                 AND (w."account" IS NULL OR w."account" = p_account)) THEN
    RETURN NULL;
  END IF;
  INSERT INTO "webhook_events" ("event_id", "type", "account", "serial_number", "data")
  VALUES ('evt_' || md5(random()::text || clock_timestamp()::text || p_serial || p_type), p_type, p_account, p_serial, p_data)
  RETURNING "id" INTO v_id;
  INSERT INTO "webhook_deliveries" ("webhook_id", "event_id")
  SELECT w."id", v_id FROM "webhooks" w
   WHERE w."deleted_at" IS NULL AND p_type = ANY (w."events") AND (w."account" IS NULL OR w."account" = p_account);
  PERFORM pg_notify('mtls_ca_webhooks', '');
  RETURN v_id;
END $$;

CREATE FUNCTION "webhook_certificate_data"(c "certificates") RETURNS JSONB LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object('serial', c."serial_number", 'account', c."account", 'subject', c."subject",
    'commonName', c."common_name", 'notBefore', c."not_before", 'notAfter', c."not_after",
    'issuedAt', c."issued_at", 'publicKeySha256', c."public_key_sha256")
$$;

CREATE FUNCTION "webhook_on_certificate"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM webhook_emit('certificate.issued', NEW."account", NEW."serial_number", webhook_certificate_data(NEW));
  ELSIF OLD."revoked_at" IS NULL AND NEW."revoked_at" IS NOT NULL THEN
    PERFORM webhook_emit('certificate.revoked', NEW."account", NEW."serial_number",
      webhook_certificate_data(NEW) || jsonb_build_object('revokedAt', NEW."revoked_at", 'revocationReason', NEW."revocation_reason"));
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER "certificates_webhook_insert" AFTER INSERT ON "certificates" FOR EACH ROW EXECUTE FUNCTION webhook_on_certificate();
CREATE TRIGGER "certificates_webhook_revoke" AFTER UPDATE OF "revoked_at" ON "certificates" FOR EACH ROW EXECUTE FUNCTION webhook_on_certificate();

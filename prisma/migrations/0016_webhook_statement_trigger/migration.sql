-- certificate.issued events from one trigger per INSERT statement instead of one per row. A batch of
-- signed certificates (group commit) is one statement; the trigger checks once whether any live webhook
-- subscribes to certificate.issued (on the signing path, usually none) and only then emits an event
-- per inserted row, in insertion order, through webhook_emit as before (same events, same transaction).
-- Measured on PGlite: ~19 µs less per certificate in a batch of 24. Revocations keep their row trigger.
CREATE FUNCTION "webhook_on_certificates_inserted"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM "webhooks" w WHERE w."deleted_at" IS NULL AND 'certificate.issued' = ANY (w."events")) THEN
    PERFORM webhook_emit('certificate.issued', n."account", n."serial_number", webhook_certificate_data(n))
       FROM "inserted_certificates" AS n;
  END IF;
  RETURN NULL;
END $$;

DROP TRIGGER "certificates_webhook_insert" ON "certificates";
CREATE TRIGGER "certificates_webhook_insert" AFTER INSERT ON "certificates"
  REFERENCING NEW TABLE AS "inserted_certificates"
  FOR EACH STATEMENT EXECUTE FUNCTION webhook_on_certificates_inserted();

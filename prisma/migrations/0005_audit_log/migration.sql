-- The audit trail: append-only and hash-chained. src/domain/audit-chain.ts specifies the hash and
-- verifies chains; audit_append below writes them (and tests check both agree, byte for byte).
-- seq is 1, 2, 3, … with no gaps: audit_append assigns it while it holds the audit advisory lock,
-- right after reading the newest row, so replicas append one batch at a time.
CREATE TABLE "audit_log" (
    "seq"           BIGINT         NOT NULL,
    "at"            TIMESTAMPTZ(3) NOT NULL,
    "action"        TEXT           NOT NULL,
    "outcome"       TEXT           NOT NULL,
    "problem"       TEXT,
    "actor"         TEXT,
    "account"       TEXT,
    "serial_number" TEXT,
    "request_id"    TEXT,
    "client_ip"     TEXT,
    "details"       JSONB,
    "prev_hash"     TEXT           NOT NULL,
    "hash"          TEXT           NOT NULL,
    CONSTRAINT "audit_log_pkey" PRIMARY KEY ("seq"),
    CONSTRAINT "audit_log_seq_positive" CHECK ("seq" > 0),
    CONSTRAINT "audit_log_outcome" CHECK ("outcome" IN ('success', 'failure')),
    CONSTRAINT "audit_log_problem_on_failure" CHECK (("outcome" = 'failure') = ("problem" IS NOT NULL)),
    CONSTRAINT "audit_log_hash_format" CHECK ("hash" ~ '^[0-9a-f]{64}$' AND "prev_hash" ~ '^[0-9a-f]{64}$'),
    CONSTRAINT "audit_log_details_object" CHECK ("details" IS NULL OR jsonb_typeof("details") = 'object')
);

-- GET /audit pages newest first by seq; each filter has an index that keeps that order.
CREATE INDEX "audit_log_action_idx" ON "audit_log" ("action", "seq" DESC);
CREATE INDEX "audit_log_account_idx" ON "audit_log" ("account", "seq" DESC);
CREATE INDEX "audit_log_actor_idx" ON "audit_log" ("actor", "seq" DESC);
CREATE INDEX "audit_log_serial_idx" ON "audit_log" ("serial_number", "seq" DESC) WHERE "serial_number" IS NOT NULL;
CREATE INDEX "audit_log_failure_idx" ON "audit_log" ("seq" DESC) WHERE "outcome" = 'failure';
CREATE INDEX "audit_log_at_idx" ON "audit_log" ("at");

-- Append-only, enforced by the database: UPDATE, DELETE and TRUNCATE raise, whatever the client.
-- (Statement-level, so even a statement that would touch no row is refused.) A table owner can still
-- disable triggers; the hash chain is what detects that kind of tampering.
CREATE FUNCTION "audit_log_refuse_change"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER "audit_log_no_update_or_delete" BEFORE UPDATE OR DELETE ON "audit_log"
    FOR EACH STATEMENT EXECUTE FUNCTION "audit_log_refuse_change"();
CREATE TRIGGER "audit_log_no_truncate" BEFORE TRUNCATE ON "audit_log"
    FOR EACH STATEMENT EXECUTE FUNCTION "audit_log_refuse_change"();

-- Appends a batch in one call (one array element per record, all arrays the same length): takes the
-- audit lock (held to the end of the caller's transaction), reads the newest row, chains the batch
-- after it and inserts it. VOLATILE, so the head is read with a snapshot taken after the lock is
-- granted. Used alone, or in the statement that inserts the certificates the records describe.
-- The hash is the one of src/domain/audit-chain.ts: SHA-256(previous hash ‖ encoding), where the
-- encoding is the label item, the seq item (only known here) and p_body, the encoding of the other
-- fields made by that module from the very values stored (hex).
CREATE FUNCTION "audit_append"(p_at TIMESTAMPTZ[], p_action TEXT[], p_outcome TEXT[], p_problem TEXT[], p_actor TEXT[],
                               p_account TEXT[], p_serial_number TEXT[], p_request_id TEXT[], p_client_ip TEXT[], p_details JSONB[],
                               p_body TEXT[])
RETURNS TABLE (appended_seq BIGINT, appended_prev_hash TEXT, appended_hash TEXT) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    n INT := coalesce(array_length(p_body, 1), 0);
    head_seq BIGINT;
    head_hash TEXT;
    hashes TEXT[] := '{}';
    h BYTEA;
    s TEXT;
BEGIN
    IF n = 0 THEN RETURN; END IF;
    PERFORM pg_advisory_xact_lock(7270381158);
    SELECT a.seq, a.hash INTO head_seq, head_hash FROM audit_log AS a ORDER BY a.seq DESC LIMIT 1;
    head_seq := coalesce(head_seq, 0);
    head_hash := coalesce(head_hash, repeat('0', 64));
    h := decode(head_hash, 'hex');
    FOR i IN 1 .. n LOOP
        s := (head_seq + i)::text;
        -- 0x01 ‖ uint32 16 ‖ "mtls-ca audit v1", then 0x01 ‖ uint32 length ‖ seq in decimal, then the body.
        h := sha256(h || '\x01000000106d746c732d636120617564697420763101'::bytea
                      || int4send(length(s)) || convert_to(s, 'UTF8') || decode(p_body[i], 'hex'));
        hashes[i] := encode(h, 'hex');
    END LOOP;
    INSERT INTO audit_log (seq, at, action, outcome, problem, actor, account, serial_number, request_id, client_ip, details, prev_hash, hash)
    SELECT head_seq + u.o, u.t, u.act, u.res, u.prob, u.who, u.acc, u.sn, u.rid, u.ip, u.det,
           CASE WHEN u.o = 1 THEN head_hash ELSE hashes[u.o - 1] END, hashes[u.o]
    FROM unnest(p_at, p_action, p_outcome, p_problem, p_actor, p_account, p_serial_number, p_request_id, p_client_ip, p_details)
         WITH ORDINALITY AS u(t, act, res, prob, who, acc, sn, rid, ip, det, o);
    RETURN QUERY SELECT head_seq + o, CASE WHEN o = 1 THEN head_hash ELSE hashes[o - 1] END, hashes[o] FROM generate_series(1, n) AS o;
END;
$$;

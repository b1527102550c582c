-- Client identities of the outgoing side (issue 13): a private key kept wrapped by MTLS_CA_MASTER_KEY in
-- wrapped_secrets (purpose `identity-key:<id>`), and the certificate it presents. Raw SQL only
-- (src/store/identity-repository.ts), like 0008. The key never appears in this table.
CREATE TABLE client_identities (
  id                 uuid        PRIMARY KEY,
  account            text        NOT NULL,
  name               text        NOT NULL,
  -- Where the certificate came from: issued by this CA, signed by a partner's CA from our CSR, imported.
  origin             text        NOT NULL CHECK (origin IN ('issued', 'partner-ca', 'imported')),
  -- e.g. EC-P-256, RSA-2048.
  key_type           text        NOT NULL,
  -- SHA-256 of the kept key's SubjectPublicKeyInfo (DER), hex.
  public_key_sha256  text        NOT NULL CHECK (public_key_sha256 ~ '^[0-9a-f]{64}$'),
  -- The wrapped private key: deleting the secret needs the identity gone first (same transaction).
  key_purpose        text        NOT NULL UNIQUE REFERENCES wrapped_secrets (purpose),
  exportable         boolean     NOT NULL DEFAULT false,
  -- The CSR answered for a partner's CA (partner-ca origin), PEM.
  csr_pem            text,
  -- The leaf (PEM) and the certificates above it (PEM, leaf's issuer first); null while pending.
  certificate_pem    text,
  chain_pem          text        NOT NULL DEFAULT '',
  fingerprint_sha256 text        CHECK (fingerprint_sha256 ~ '^[0-9a-f]{64}$'),
  serial_number      text,
  subject            text,
  issuer             text,
  not_before         timestamptz,
  not_after          timestamptz,
  -- Bumped whenever the certificate changes (connection pools key on it).
  revision           integer     NOT NULL DEFAULT 1,
  created_by         text        NOT NULL,
  created_at         timestamptz NOT NULL,
  updated_at         timestamptz NOT NULL,
  CONSTRAINT client_identities_certificate_complete CHECK (
    (certificate_pem IS NULL) = (fingerprint_sha256 IS NULL) AND (certificate_pem IS NULL) = (not_after IS NULL)),
  CONSTRAINT client_identities_name_unique UNIQUE (account, name)
);

CREATE INDEX client_identities_account_idx ON client_identities (account, created_at DESC, id);

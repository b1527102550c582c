-- Partners' own PKI at the gateway (issue 12). Reached by raw SQL only (src/store/partner-trust-repository.ts).

-- A partner's own CA: the gateway admits client certificates chaining to it, for `account` only.
CREATE TABLE trust_anchors (
  id           text        PRIMARY KEY,
  account      text        NOT NULL,
  subject      text        NOT NULL,
  -- SHA-256 of the certificate's DER, hex.
  sha256       text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  certificate  text        NOT NULL,
  not_after    timestamptz NOT NULL,
  created_by   text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  UNIQUE (account, sha256)
);

-- Client certificates registered directly (self-signed included), matched by their exact DER.
CREATE TABLE registered_client_certificates (
  id           text        PRIMARY KEY,
  account      text        NOT NULL,
  subject      text        NOT NULL,
  sha256       text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  certificate  text        NOT NULL,
  not_before   timestamptz NOT NULL,
  not_after    timestamptz NOT NULL,
  created_by   text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  UNIQUE (account, sha256)
);
CREATE INDEX registered_client_certificates_account_subject ON registered_client_certificates (account, subject);

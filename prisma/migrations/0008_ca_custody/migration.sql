-- The CA identity of this ledger and the secrets it keeps wrapped by MTLS_CA_MASTER_KEY (issue 11).
-- Reached by raw SQL only (src/store/ca-identity-repository.ts, src/store/secret-repository.ts), like 0006.

-- One row: the CA every replica must sign as. Written once, under an advisory lock, by the first start;
-- every later start compares its CA key with it and refuses another one.
CREATE TABLE ca_identity (
  id          smallint    PRIMARY KEY DEFAULT 1 CHECK (id = 1),
  -- The CA certificate followed by the certificates above it (PEM).
  chain_pem   text        NOT NULL,
  -- SHA-256 of the CA key's SubjectPublicKeyInfo (DER), hex: the identity itself.
  spki_sha256 text        NOT NULL CHECK (spki_sha256 ~ '^[0-9a-f]{64}$'),
  -- Where the private key is kept: files of a replica, wrapped in this ledger, or a PKCS#11 token.
  backend     text        NOT NULL CHECK (backend IN ('file', 'ledger', 'pkcs11')),
  pinned_at   timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Each version of MTLS_CA_MASTER_KEY: what derives the wrapping key from it (KDF, parameters, random
-- salt) and a verifier that tells a wrong master key apart from a damaged secret. Never the key itself.
CREATE TABLE master_key_versions (
  version     integer     PRIMARY KEY CHECK (version > 0),
  kdf         text        NOT NULL CHECK (kdf IN ('scrypt')),
  kdf_params  jsonb       NOT NULL,
  salt        bytea       NOT NULL,
  verifier    bytea       NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Secrets wrapped with AES-256-GCM under a master-key version (the CA private key, the API-token
-- pepper, later ones). The GCM additional data binds each ciphertext to its purpose and key version.
CREATE TABLE wrapped_secrets (
  purpose     text        PRIMARY KEY CHECK (purpose ~ '^[a-z0-9][a-z0-9.:-]{0,63}$'),
  key_version integer     NOT NULL REFERENCES master_key_versions (version),
  nonce       bytea       NOT NULL CHECK (length(nonce) = 12),
  ciphertext  bytea       NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

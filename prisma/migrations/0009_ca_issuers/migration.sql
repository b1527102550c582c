-- Several issuers, one CA service (issue 12). Reached by raw SQL only (src/store/issuer-repository.ts), like 0008.
-- ca_identity (0008) keeps pinning the original CA; every issuer, that one included, is a row here.

CREATE TABLE ca_issuers (
  -- A short public id: it appears in URLs (/crl/{id}, /ca/{id}.crt) of the certificates it signs.
  id              text        PRIMARY KEY CHECK (id ~ '^[a-z0-9-]{1,64}$'),
  -- Hex SKI of the key: what certificates.issuer_key_id and crls.issuer_key_id hold (every certificate row records its issuer by it).
  key_id          text        NOT NULL UNIQUE,
  spki_sha256     text        NOT NULL CHECK (spki_sha256 ~ '^[0-9a-f]{64}$'),
  -- pending: published, not issuing; active: signs new certificates (exactly one); retired: signs its CRL and OCSP only.
  state           text        NOT NULL CHECK (state IN ('pending', 'active', 'retired')),
  -- Where the private key is kept: a replica's files (the embedded database only), wrapped in this ledger, or a PKCS#11 token.
  backend         text        NOT NULL CHECK (backend IN ('file', 'ledger', 'pkcs11')),
  -- The certificate followed by its chain (PEM); null while a CSR waits for an offline root's signature.
  chain_pem       text,
  csr_pem         text,
  -- The issuer made from the CA identity of 0008: its certificates name /crl and /ca.crt.
  original        boolean     NOT NULL DEFAULT false,
  created_at      timestamptz NOT NULL DEFAULT now(),
  activated_at    timestamptz,
  retired_at      timestamptz,
  CHECK (state = 'pending' OR chain_pem IS NOT NULL)
);
CREATE UNIQUE INDEX ca_issuers_one_active ON ca_issuers ((true)) WHERE state = 'active';
CREATE UNIQUE INDEX ca_issuers_one_original ON ca_issuers ((true)) WHERE original;

-- What replicas poll (every 250 ms) to follow a rotation: bumped by every change of ca_issuers.
CREATE TABLE ca_issuers_version (
  id      smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
  version bigint   NOT NULL
);
INSERT INTO ca_issuers_version (id, version) VALUES (1, 0);

-- Outbound routes (issue 13): requests of an account to a target (host, port, path prefix) present one of
-- the account's client identities, and optionally pin the CA the target's certificate must chain to.
-- Reached by raw SQL only (src/store/outbound-route-repository.ts), like 0006 and 0008. Read on every
-- forwarded request (no cache), so a changed identity applies on every replica at once.
CREATE TABLE outbound_routes (
  id            text        PRIMARY KEY,
  account       text        NOT NULL,
  -- lower case, no trailing dot, IPv6 without brackets (the domain normalises before writing)
  host          text        NOT NULL CHECK (host = lower(host) AND host NOT LIKE '%.' AND length(host) BETWEEN 1 AND 253),
  port          integer     NOT NULL CHECK (port BETWEEN 1 AND 65535),
  -- '/' or a normalised path without a trailing '/', matched on whole segments
  path_prefix   text        NOT NULL CHECK (path_prefix LIKE '/%'),
  identity_id   text        NOT NULL,
  server_ca_pem text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  UNIQUE (account, host, port, path_prefix)
);
CREATE INDEX outbound_routes_identity_idx ON outbound_routes (identity_id);

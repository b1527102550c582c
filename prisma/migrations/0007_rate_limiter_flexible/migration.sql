-- The rate limiter's counters move to rate-limiter-flexible's RateLimiterPostgres (created with
-- tableCreated: true, so the library never runs DDL itself). Its layout: one row per key, `points`
-- consumed, `expire` in ms since the epoch. `key` is text (the library's default varchar(255) is too short
-- for an appKey of up to 256 characters plus a client address). Losing the rows in a crash only resets the
-- counts and blocks, so the table is UNLOGGED. Reached by raw SQL only (not in schema.prisma).
DROP TABLE rate_limit_counters;
CREATE UNLOGGED TABLE rate_limits (
  key    text    PRIMARY KEY,
  points integer NOT NULL DEFAULT 0,
  expire bigint
);
-- The library deletes expired rows by `expire < $1`.
CREATE INDEX rate_limits_expire_idx ON rate_limits (expire);

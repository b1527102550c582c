-- Request counters shared by every replica, one row per (bucket, fixed window). Used by the rate limiter
-- (signing per client IP, requests per API key) and by the wrong-token throttle. Losing them in a crash
-- only resets the counts, so the table is UNLOGGED (no WAL, cheap upserts). Reached by raw SQL only.
CREATE UNLOGGED TABLE rate_limit_counters (
  bucket       text    NOT NULL,
  window_start bigint  NOT NULL,
  hits         integer NOT NULL,
  PRIMARY KEY (bucket, window_start)
);
CREATE INDEX rate_limit_counters_window_idx ON rate_limit_counters (window_start);

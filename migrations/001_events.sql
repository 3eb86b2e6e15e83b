-- Raw events: one row per accepted, de-duplicated event. The source of every rollup.
-- Ordered for per-stream reads; the projection makes the dedup look-up by event_id an
-- index read. A projection is written inside the same part as its rows, so that
-- look-up can never miss a row that is stored.
-- https://clickhouse.com/docs/sql-reference/statements/alter/projection
CREATE TABLE IF NOT EXISTS events (
  event_id String,
  type LowCardinality(String),
  stream_id String,
  ts DateTime64(3, 'UTC'),
  viewer_id String,
  product_id String,
  order_id String,
  amount Decimal(18, 2),
  quantity UInt32,
  source LowCardinality(String),
  creator_id String,
  title String,
  vertical LowCardinality(String),
  campaign_id String,
  label String,
  received_at DateTime64(3, 'UTC'),
  PROJECTION by_event_id (SELECT event_id, received_at ORDER BY event_id)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (stream_id, ts);

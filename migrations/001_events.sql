-- Raw events: one row per accepted, de-duplicated event. The source of every rollup.
-- Ordered for per-stream reads; the two projections make the dedup look-ups by
-- event_id / order_id index reads. A projection is written inside the same part as
-- its rows, so a look-up can never miss a row that is stored.
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
  PROJECTION by_event_id (SELECT event_id, received_at ORDER BY event_id),
  PROJECTION by_order_id (SELECT order_id, type, received_at ORDER BY order_id)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (stream_id, ts);

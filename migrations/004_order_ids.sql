-- Accepted orders by order_id, for "one order, one count" (SPEC §2): the dedup
-- look-up of a repeated order_paid reads this small table (order_paid rows only)
-- rather than a projection over every event.
CREATE TABLE IF NOT EXISTS order_ids (
  order_id String,
  stream_id String,
  event_id String,
  received_at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY order_id
TTL toDateTime(received_at) + INTERVAL 8 DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS order_ids_mv TO order_ids AS
SELECT order_id, stream_id, event_id, received_at
FROM events
WHERE type = 'order_paid';

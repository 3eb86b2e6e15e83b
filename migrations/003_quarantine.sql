-- Every rejected event, with its raw text (cut at 64 KiB) and the reason, so nothing a
-- producer sent is silently dropped. Kept 30 days.
CREATE TABLE IF NOT EXISTS quarantine (
  received_at DateTime64(3, 'UTC'),
  reason String,
  idx UInt32,
  event_id String,
  stream_id String,
  raw String,
  key_id LowCardinality(String)
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(received_at)
ORDER BY received_at
TTL toDateTime(received_at) + INTERVAL 30 DAY;

-- Pre-aggregated metric states (SPEC §3) that live and replay queries read instead of
-- raw rows. Counts and money are summed; viewers and buyers keep exact distinct-sets
-- (uniqExact) so they can be merged across buckets without double counting.
-- Materialized views fill them on every insert into `events`.
-- https://clickhouse.com/docs/engines/table-engines/mergetree-family/aggregatingmergetree

CREATE TABLE IF NOT EXISTS stream_buckets_1s (
  stream_id String,
  bucket DateTime('UTC'),
  views SimpleAggregateFunction(sum, UInt64),
  view_ends SimpleAggregateFunction(sum, UInt64),
  viewers AggregateFunction(uniqExact, String),
  impressions SimpleAggregateFunction(sum, UInt64),
  clicks SimpleAggregateFunction(sum, UInt64),
  carts SimpleAggregateFunction(sum, UInt64),
  orders SimpleAggregateFunction(sum, UInt64),
  items SimpleAggregateFunction(sum, UInt64),
  buyers AggregateFunction(uniqExact, String),
  gmv SimpleAggregateFunction(sum, Decimal(38, 2)),
  refunds SimpleAggregateFunction(sum, Decimal(38, 2)),
  comments SimpleAggregateFunction(sum, UInt64),
  likes SimpleAggregateFunction(sum, UInt64),
  shares SimpleAggregateFunction(sum, UInt64),
  follows SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(bucket)
ORDER BY (stream_id, bucket);

CREATE TABLE IF NOT EXISTS stream_buckets_1m AS stream_buckets_1s;

-- One row per stream (after merges): totals since the stream began, plus its metadata
-- and status inputs, so reading totals costs the same for a 5-minute and a 5-hour stream.
CREATE TABLE IF NOT EXISTS stream_totals (
  stream_id String,
  first_ts SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
  last_ts SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
  -- 0 (1970) = no stream_end seen
  ended_at SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
  meta AggregateFunction(argMin, Tuple(String, String, String, String), DateTime64(3, 'UTC')),
  views SimpleAggregateFunction(sum, UInt64),
  view_ends SimpleAggregateFunction(sum, UInt64),
  viewers AggregateFunction(uniqExact, String),
  impressions SimpleAggregateFunction(sum, UInt64),
  clicks SimpleAggregateFunction(sum, UInt64),
  carts SimpleAggregateFunction(sum, UInt64),
  orders SimpleAggregateFunction(sum, UInt64),
  items SimpleAggregateFunction(sum, UInt64),
  buyers AggregateFunction(uniqExact, String),
  gmv SimpleAggregateFunction(sum, Decimal(38, 2)),
  refunds SimpleAggregateFunction(sum, Decimal(38, 2)),
  comments SimpleAggregateFunction(sum, UInt64),
  likes SimpleAggregateFunction(sum, UInt64),
  shares SimpleAggregateFunction(sum, UInt64),
  follows SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
ORDER BY stream_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS stream_buckets_1s_mv TO stream_buckets_1s AS
SELECT
  stream_id,
  toDateTime(ts, 'UTC') AS bucket,
  countIf(type = 'view_start') AS views,
  countIf(type = 'view_end') AS view_ends,
  uniqExactStateIf(viewer_id, type = 'view_start') AS viewers,
  countIf(type = 'product_impression') AS impressions,
  countIf(type = 'product_click') AS clicks,
  countIf(type = 'add_to_cart') AS carts,
  countIf(type = 'order_paid') AS orders,
  sumIf(toUInt64(quantity), type = 'order_paid') AS items,
  uniqExactStateIf(viewer_id, type = 'order_paid') AS buyers,
  sumIf(amount, type = 'order_paid') AS gmv,
  sumIf(amount, type = 'order_refunded') AS refunds,
  countIf(type = 'comment') AS comments,
  sumIf(toUInt64(quantity), type = 'like') AS likes,
  countIf(type = 'share') AS shares,
  countIf(type = 'follow') AS follows
FROM events
GROUP BY stream_id, bucket;

CREATE MATERIALIZED VIEW IF NOT EXISTS stream_buckets_1m_mv TO stream_buckets_1m AS
SELECT
  stream_id,
  toStartOfMinute(ts) AS bucket,
  countIf(type = 'view_start') AS views,
  countIf(type = 'view_end') AS view_ends,
  uniqExactStateIf(viewer_id, type = 'view_start') AS viewers,
  countIf(type = 'product_impression') AS impressions,
  countIf(type = 'product_click') AS clicks,
  countIf(type = 'add_to_cart') AS carts,
  countIf(type = 'order_paid') AS orders,
  sumIf(toUInt64(quantity), type = 'order_paid') AS items,
  uniqExactStateIf(viewer_id, type = 'order_paid') AS buyers,
  sumIf(amount, type = 'order_paid') AS gmv,
  sumIf(amount, type = 'order_refunded') AS refunds,
  countIf(type = 'comment') AS comments,
  sumIf(toUInt64(quantity), type = 'like') AS likes,
  countIf(type = 'share') AS shares,
  countIf(type = 'follow') AS follows
FROM events
GROUP BY stream_id, bucket;

CREATE MATERIALIZED VIEW IF NOT EXISTS stream_totals_mv TO stream_totals AS
SELECT
  stream_id,
  min(ts) AS first_ts,
  max(ts) AS last_ts,
  maxIf(ts, type = 'stream_end') AS ended_at,
  argMinStateIf((creator_id, title, vertical, campaign_id), ts, type = 'stream_start') AS meta,
  countIf(type = 'view_start') AS views,
  countIf(type = 'view_end') AS view_ends,
  uniqExactStateIf(viewer_id, type = 'view_start') AS viewers,
  countIf(type = 'product_impression') AS impressions,
  countIf(type = 'product_click') AS clicks,
  countIf(type = 'add_to_cart') AS carts,
  countIf(type = 'order_paid') AS orders,
  sumIf(toUInt64(quantity), type = 'order_paid') AS items,
  uniqExactStateIf(viewer_id, type = 'order_paid') AS buyers,
  sumIf(amount, type = 'order_paid') AS gmv,
  sumIf(amount, type = 'order_refunded') AS refunds,
  countIf(type = 'comment') AS comments,
  sumIf(toUInt64(quantity), type = 'like') AS likes,
  countIf(type = 'share') AS shares,
  countIf(type = 'follow') AS follows
FROM events
GROUP BY stream_id;

-- Per product of a stream: the hero-product ranking.
CREATE TABLE IF NOT EXISTS stream_products (
  stream_id String,
  product_id String,
  impressions SimpleAggregateFunction(sum, UInt64),
  clicks SimpleAggregateFunction(sum, UInt64),
  carts SimpleAggregateFunction(sum, UInt64),
  orders SimpleAggregateFunction(sum, UInt64),
  items SimpleAggregateFunction(sum, UInt64),
  gmv SimpleAggregateFunction(sum, Decimal(38, 2))
)
ENGINE = AggregatingMergeTree
ORDER BY (stream_id, product_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS stream_products_mv TO stream_products AS
SELECT
  stream_id,
  product_id,
  countIf(type = 'product_impression') AS impressions,
  countIf(type = 'product_click') AS clicks,
  countIf(type = 'add_to_cart') AS carts,
  countIf(type = 'order_paid') AS orders,
  sumIf(toUInt64(quantity), type = 'order_paid') AS items,
  sumIf(amount, type = 'order_paid') AS gmv
FROM events
WHERE product_id != '' AND type IN ('product_impression', 'product_click', 'add_to_cart', 'order_paid')
GROUP BY stream_id, product_id;

-- Traffic-source mix of a stream's views.
CREATE TABLE IF NOT EXISTS stream_sources (
  stream_id String,
  source LowCardinality(String),
  views SimpleAggregateFunction(sum, UInt64),
  viewers AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
ORDER BY (stream_id, source);

CREATE MATERIALIZED VIEW IF NOT EXISTS stream_sources_mv TO stream_sources AS
SELECT stream_id, source, count() AS views, uniqExactState(viewer_id) AS viewers
FROM events
WHERE type = 'view_start'
GROUP BY stream_id, source;

-- Product pins and markers, for drawing on the time axis.
CREATE TABLE IF NOT EXISTS stream_markers (
  stream_id String,
  ts DateTime64(3, 'UTC'),
  type LowCardinality(String),
  product_id String,
  label String,
  event_id String
)
ENGINE = MergeTree
ORDER BY (stream_id, ts);

CREATE MATERIALIZED VIEW IF NOT EXISTS stream_markers_mv TO stream_markers AS
SELECT stream_id, ts, type, product_id, label, event_id
FROM events
WHERE type IN ('product_pin', 'marker');

-- One rollup table fed by one materialized view, in place of the five views of 002.
--
-- Why: chDB pays a large fixed cost per materialized view per INSERT (planning the view's
-- SELECT, writing one more part, merging it later): measured here, each view took
-- ~10–30 ms of every INSERT, so five views capped ingest near 90 000 events/s in
-- 10 000-event inserts. One view that emits every grain of an event (its 1 s bucket,
-- its 1 min bucket, the stream's totals, its product, its traffic source) through
-- ARRAY JOIN does the same aggregation in one pass and writes one part.
--
-- `grain`: 1 = 1 s bucket, 2 = 1 min bucket, 3 = stream totals (bucket 0),
-- 4 = per product (key = product_id), 5 = per traffic source (key = source).
-- Sorted by grain first, so each read (totals of all streams, one stream's buckets,
-- one stream's products) is one contiguous key range.
CREATE TABLE IF NOT EXISTS rollups (
  grain UInt8,
  stream_id String,
  key String,
  bucket DateTime('UTC'),
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
ORDER BY (grain, stream_id, key, bucket);

DROP VIEW IF EXISTS stream_buckets_1s_mv;
DROP VIEW IF EXISTS stream_buckets_1m_mv;
DROP VIEW IF EXISTS stream_totals_mv;
DROP VIEW IF EXISTS stream_products_mv;
DROP VIEW IF EXISTS stream_sources_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollups_mv TO rollups AS
SELECT
  g.1 AS grain,
  stream_id,
  g.2 AS key,
  g.3 AS bucket,
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
ARRAY JOIN arrayConcat(
  [
    (toUInt8(1), '', toDateTime(ts, 'UTC')),
    (toUInt8(2), '', toDateTime(toStartOfMinute(ts), 'UTC')),
    (toUInt8(3), '', toDateTime(0, 'UTC'))
  ],
  if(product_id != '' AND type IN ('product_impression', 'product_click', 'add_to_cart', 'order_paid'),
     [(toUInt8(4), product_id, toDateTime(0, 'UTC'))], []),
  if(type = 'view_start', [(toUInt8(5), toString(source), toDateTime(0, 'UTC'))], [])
) AS g
GROUP BY grain, stream_id, key, bucket;

-- Rebuild every rollup from the raw events, the source of truth. Nothing is ingested
-- while migrations run, and a re-run (after a crash half-way) starts from empty again.
TRUNCATE TABLE rollups;

INSERT INTO rollups
SELECT
  g.1 AS grain,
  stream_id,
  g.2 AS key,
  g.3 AS bucket,
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
ARRAY JOIN arrayConcat(
  [
    (toUInt8(1), '', toDateTime(ts, 'UTC')),
    (toUInt8(2), '', toDateTime(toStartOfMinute(ts), 'UTC')),
    (toUInt8(3), '', toDateTime(0, 'UTC'))
  ],
  if(product_id != '' AND type IN ('product_impression', 'product_click', 'add_to_cart', 'order_paid'),
     [(toUInt8(4), product_id, toDateTime(0, 'UTC'))], []),
  if(type = 'view_start', [(toUInt8(5), toString(source), toDateTime(0, 'UTC'))], [])
) AS g
GROUP BY grain, stream_id, key, bucket;

-- The old rollup tables become plain views over `rollups`, with the same names and
-- columns, so every reader keeps its SQL; their predicates reach the rollup's key.
DROP TABLE IF EXISTS stream_buckets_1s;
DROP TABLE IF EXISTS stream_buckets_1m;
DROP TABLE IF EXISTS stream_totals;
DROP TABLE IF EXISTS stream_products;
DROP TABLE IF EXISTS stream_sources;

CREATE VIEW IF NOT EXISTS stream_buckets_1s AS
SELECT stream_id, bucket, views, view_ends, viewers, impressions, clicks, carts, orders, items,
       buyers, gmv, refunds, comments, likes, shares, follows
FROM rollups WHERE grain = 1;

CREATE VIEW IF NOT EXISTS stream_buckets_1m AS
SELECT stream_id, bucket, views, view_ends, viewers, impressions, clicks, carts, orders, items,
       buyers, gmv, refunds, comments, likes, shares, follows
FROM rollups WHERE grain = 2;

CREATE VIEW IF NOT EXISTS stream_totals AS
SELECT stream_id, first_ts, last_ts, ended_at, meta, views, view_ends, viewers, impressions,
       clicks, carts, orders, items, buyers, gmv, refunds, comments, likes, shares, follows
FROM rollups WHERE grain = 3;

CREATE VIEW IF NOT EXISTS stream_products AS
SELECT stream_id, key AS product_id, impressions, clicks, carts, orders, items, gmv
FROM rollups WHERE grain = 4;

CREATE VIEW IF NOT EXISTS stream_sources AS
SELECT stream_id, key AS source, views, viewers
FROM rollups WHERE grain = 5;

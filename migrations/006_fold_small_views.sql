-- Two more materialized views folded away, for the same reason as 005: each view costs
-- chDB a fixed slice of every INSERT, which at the small group commits of a lightly
-- loaded server is most of the ack latency.
--
-- Accepted orders (the order_id dedup look-up) become grain 6 of `rollups`: one row per
-- order_id and second of acceptance, under stream_id '' so that a look-up by order_id
-- is a key range. They are kept 8 days (order_paid may arrive 7 days late), then
-- dropped by TTL. `order_ids` stays as a view of the same name and columns.
ALTER TABLE rollups MODIFY TTL bucket + INTERVAL 8 DAY DELETE WHERE grain = 6;

DROP VIEW IF EXISTS rollups_mv;
DROP VIEW IF EXISTS order_ids_mv;
DROP VIEW IF EXISTS stream_markers_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollups_mv TO rollups AS
SELECT
  g.1 AS grain,
  -- (qualified inside the array: the bare name would mean this alias)
  g.2 AS stream_id,
  g.3 AS key,
  g.4 AS bucket,
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
    (toUInt8(1), events.stream_id, '', toDateTime(ts, 'UTC')),
    (toUInt8(2), events.stream_id, '', toDateTime(toStartOfMinute(ts), 'UTC')),
    (toUInt8(3), events.stream_id, '', toDateTime(0, 'UTC'))
  ],
  if(product_id != '' AND type IN ('product_impression', 'product_click', 'add_to_cart', 'order_paid'),
     [(toUInt8(4), events.stream_id, product_id, toDateTime(0, 'UTC'))], []),
  if(type = 'view_start', [(toUInt8(5), events.stream_id, toString(source), toDateTime(0, 'UTC'))], []),
  if(type = 'order_paid', [(toUInt8(6), '', order_id, toDateTime(received_at, 'UTC'))], [])
) AS g
-- By the tuple itself: `stream_id` here could mean the column or the alias, depending on
-- prefer_column_name_to_alias.
GROUP BY g;

-- Orders accepted before this migration. Nothing is ingested while migrations run; a
-- re-run after a crash half-way starts grain 6 from empty again.
DELETE FROM rollups WHERE grain = 6;

-- The look-up reads only the key and the second; the other columns keep their defaults.
INSERT INTO rollups (grain, stream_id, key, bucket, orders)
SELECT toUInt8(6), '', order_id, toDateTime(received_at, 'UTC') AS second, count()
FROM events
WHERE type = 'order_paid'
GROUP BY order_id, second;

DROP TABLE IF EXISTS order_ids;

CREATE VIEW IF NOT EXISTS order_ids AS
SELECT key AS order_id, bucket AS received_at
FROM rollups WHERE grain = 6 AND stream_id = '';

-- Pins and markers are single events, not aggregates: read them from `events`, whose
-- key (stream_id, ts) makes one stream's markers a key range read of the `type` column.
DROP TABLE IF EXISTS stream_markers;

CREATE VIEW IF NOT EXISTS stream_markers AS
SELECT stream_id, ts, type, product_id, label, event_id
FROM events WHERE type IN ('product_pin', 'marker');

-- The rollups leave the acknowledgement's path: the writer stores a group commit's rows in
-- `events` (no view), answers its requests, and then sends the same rows, gathered over a
-- few commits, to `rollup_input`, whose view aggregates them into `rollups` as the view on
-- `events` did. Nothing is kept in `rollup_input` (engine Null): it only feeds the view.
--
-- Why: a materialized view costs chDB a fixed ~9 ms per INSERT (planning the view's SELECT
-- with its ARRAY JOIN and twenty aggregates, writing one more part), whatever the rows:
-- half of a 2 500-event commit, and every request of the commit waited for it. Gathered,
-- it is paid once per several commits, and no request waits for it (BENCHMARKS.md).
--
-- Reads wait for the rollups of what was acknowledged before them (the writer's
-- `rollupsCaughtUp`), so a 200 is still followed by numbers that count it; a crash in
-- between leaves those commits in the commit journal, and the start-up repair rebuilds
-- their streams from `events` (repair.ts), as after a view that failed half-way.
CREATE TABLE IF NOT EXISTS rollup_input (
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
  received_at DateTime64(3, 'UTC')
)
ENGINE = Null;

DROP VIEW IF EXISTS rollups_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_input_mv TO rollups AS
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
FROM rollup_input
ARRAY JOIN arrayConcat(
  [
    (toUInt8(1), rollup_input.stream_id, '', toDateTime(ts, 'UTC')),
    (toUInt8(2), rollup_input.stream_id, '', toDateTime(toStartOfMinute(ts), 'UTC')),
    (toUInt8(3), rollup_input.stream_id, '', toDateTime(0, 'UTC'))
  ],
  if(product_id != '' AND type IN ('product_impression', 'product_click', 'add_to_cart', 'order_paid'),
     [(toUInt8(4), rollup_input.stream_id, product_id, toDateTime(0, 'UTC'))], []),
  if(type = 'view_start', [(toUInt8(5), rollup_input.stream_id, toString(source), toDateTime(0, 'UTC'))], []),
  if(type = 'order_paid', [(toUInt8(6), '', order_id, toDateTime(received_at, 'UTC'))], [])
) AS g
-- By the tuple itself: `stream_id` here could mean the column or the alias, depending on
-- prefer_column_name_to_alias.
GROUP BY g;

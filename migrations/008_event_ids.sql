-- The event_id dedup look-up gets a table of its own, in place of the projection of
-- `events` ordered by event_id (001).
--
-- Why: at the seen-filters' design fill (~1 % false positives) a commit of a thousand
-- events holds a maybe-seen id and makes one look-up, so its cost is paid by nearly every
-- commit. Through the projection it cost ~5 ms idle and 10–25 ms under load: the query is
-- planned against every part of the wide `events` table and reads one 8 192-row granule of
-- the projection per part. Here, with 6 M ids stored, a look-up of a few ids never seen
-- took ~2.6 ms against ~5.1 through the projection, and the projection's share of every
-- commit INSERT (~15 % of its CPU) goes (BENCHMARKS.md, session 21).
--
-- Fed by a view on `rollup_input`, so after the acknowledgement, with the rollups (+1–3 ms
-- per rollups write, measured). Until a commit's rollups are written its event_ids are in
-- the writer's memory (its rollups debt), and the look-up answers from there; a commit
-- whose rollups write failed or never came (a crash) is in the commit journal, and the
-- repair restores its event_ids from `events` before any later commit runs (repair.ts), as
-- it restores its accepted orders.
--
-- 1 024-row granules: a retried request's thousand stored ids read a quarter of what 8 192
-- would (measured 10 ms against 14), for a primary index of ~40 bytes per 1 024 ids
-- (~35 MB a day at 10 000 events/s). Partitioned by day of acceptance so that ids past the
-- 24 h window leave by whole parts, not by rewriting merges.
CREATE TABLE IF NOT EXISTS event_ids (
  event_id String,
  received_at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
PARTITION BY toDate(received_at)
ORDER BY event_id
TTL toDateTime(received_at) + INTERVAL 2 DAY
SETTINGS index_granularity = 1024, ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS event_ids_mv TO event_ids AS
SELECT event_id, received_at
FROM rollup_input;

-- The ids already accepted within the window (a second copy of one is harmless: the
-- look-up is DISTINCT).
INSERT INTO event_ids (event_id, received_at)
SELECT event_id, received_at
FROM events
WHERE received_at >= now64(3) - INTERVAL 25 HOUR;

ALTER TABLE events DROP PROJECTION IF EXISTS by_event_id;

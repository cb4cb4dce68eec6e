-- BRIN against btree on detections.captured_at: index size, time-range query time, insert throughput.
-- Run against a scratch database (it creates and drops its own tables):
--   createdb -h 127.0.0.1 -p PORT -U postgres yf_brin_bench
--   psql -h 127.0.0.1 -p PORT -U postgres -d yf_brin_bench -v rows=2000000 -f cloud/YoloFleet.Cloud.Data/Benchmarks/brin-vs-btree.sql
-- Rows arrive in time order, as ingest writes them: 200 devices interleaved, 20 boxes/s overall, small jitter.
\set ON_ERROR_STOP on
\timing on
DROP TABLE IF EXISTS det_btree, det_brin, det_none;
CREATE UNLOGGED TABLE det_src AS
SELECT 'dev-' || (g % 200) AS device_id, (g / 200)::bigint AS sequence, (g % 3)::smallint AS idx,
       timestamptz '2026-01-01' + g * interval '50 ms' + (random() * interval '2 s') AS captured_at,
       (g % 80)::smallint AS class_id, random()::real AS score, 1::real AS x1, 2::real AS y1, 3::real AS x2, 4::real AS y2
FROM generate_series(1, :rows) g;

CREATE TABLE det_none  (LIKE det_src, PRIMARY KEY (device_id, sequence, idx));
CREATE TABLE det_btree (LIKE det_src, PRIMARY KEY (device_id, sequence, idx));
CREATE TABLE det_brin  (LIKE det_src, PRIMARY KEY (device_id, sequence, idx));
CREATE INDEX ON det_btree (captured_at);
CREATE INDEX ON det_brin USING brin (captured_at);

\echo '== insert (primary key only, then + btree, then + brin)'
INSERT INTO det_none  SELECT * FROM det_src;
INSERT INTO det_btree SELECT * FROM det_src;
INSERT INTO det_brin  SELECT * FROM det_src;
VACUUM ANALYZE det_btree;
VACUUM ANALYZE det_brin;

\echo '== index sizes'
SELECT c.relname, pg_size_pretty(pg_relation_size(c.oid)) AS size, pg_relation_size(c.oid) AS bytes
FROM pg_class c WHERE c.relname IN ('det_btree_captured_at_idx', 'det_brin_captured_at_idx', 'det_btree_pkey');

\echo '== one hour of boxes (about 72,000 rows), each query three times; the last is warm'
\timing off
SELECT timestamptz '2026-01-01 10:00' AS h0 \gset
\timing on
SELECT count(*), avg(score) FROM det_btree WHERE captured_at >= :'h0' AND captured_at < timestamptz :'h0' + interval '1 hour';
SELECT count(*), avg(score) FROM det_btree WHERE captured_at >= :'h0' AND captured_at < timestamptz :'h0' + interval '1 hour';
SELECT count(*), avg(score) FROM det_btree WHERE captured_at >= :'h0' AND captured_at < timestamptz :'h0' + interval '1 hour';
SELECT count(*), avg(score) FROM det_brin  WHERE captured_at >= :'h0' AND captured_at < timestamptz :'h0' + interval '1 hour';
SELECT count(*), avg(score) FROM det_brin  WHERE captured_at >= :'h0' AND captured_at < timestamptz :'h0' + interval '1 hour';
SELECT count(*), avg(score) FROM det_brin  WHERE captured_at >= :'h0' AND captured_at < timestamptz :'h0' + interval '1 hour';

\echo '== one minute of boxes (about 1,200 rows)'
SELECT count(*), avg(score) FROM det_btree WHERE captured_at >= :'h0' AND captured_at < timestamptz :'h0' + interval '1 minute';
SELECT count(*), avg(score) FROM det_btree WHERE captured_at >= :'h0' AND captured_at < timestamptz :'h0' + interval '1 minute';
SELECT count(*), avg(score) FROM det_brin  WHERE captured_at >= :'h0' AND captured_at < timestamptz :'h0' + interval '1 minute';
SELECT count(*), avg(score) FROM det_brin  WHERE captured_at >= :'h0' AND captured_at < timestamptz :'h0' + interval '1 minute';

\echo '== retention: delete the oldest 100,000 boxes in batches of 5,000 (first batch timed)'
DELETE FROM det_btree WHERE ctid = ANY(ARRAY(SELECT ctid FROM det_btree WHERE captured_at < timestamptz '2026-01-01' + interval '5000 s' LIMIT 5000));
DELETE FROM det_brin  WHERE ctid = ANY(ARRAY(SELECT ctid FROM det_brin  WHERE captured_at < timestamptz '2026-01-01' + interval '5000 s' LIMIT 5000));

\echo '== the time index alone (no primary key), each twice, alternating: what the time index costs an insert'
CREATE TABLE ins_none (LIKE det_src);
CREATE TABLE ins_btree (LIKE det_src);
CREATE TABLE ins_brin (LIKE det_src);
CREATE INDEX ON ins_btree (captured_at);
CREATE INDEX ON ins_brin USING brin (captured_at);
INSERT INTO ins_none SELECT * FROM det_src;
INSERT INTO ins_btree SELECT * FROM det_src;
INSERT INTO ins_brin SELECT * FROM det_src;
TRUNCATE ins_none, ins_btree, ins_brin;
INSERT INTO ins_brin SELECT * FROM det_src;
INSERT INTO ins_btree SELECT * FROM det_src;
INSERT INTO ins_none SELECT * FROM det_src;

\timing off
DROP TABLE det_src, det_none, det_btree, det_brin, ins_none, ins_btree, ins_brin;

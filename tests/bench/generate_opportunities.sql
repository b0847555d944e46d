-- Benchmark data for the forecast: :n opportunities of the demo
-- organisation spread over the :reps reps of generate.sql (created here
-- when missing, under five managers), one customer each when they have
-- none, the default pipeline's stages, close dates over the 24 months
-- around today, and amounts with cents. Run as the superuser on a
-- migrated database with the demo data:
--   psql -v n=1000000 -v reps=50 -f tests/bench/generate_opportunities.sql
-- Triggers are off for the load (session_replication_role = replica), so
-- the forecast rollup is rebuilt once at the end, as after any bulk load.

\set ON_ERROR_STOP 1
SET session_replication_role = replica;

INSERT INTO users (id, org_id, email, name, role, manager_id)
SELECT ('00000000-0000-4000-9000-' || lpad(m::text, 12, '0'))::uuid,
    '00000000-0000-4000-8000-000000000001',
    'bench-manager' || m || '@example.com', '经理' || m, 'sales_manager',
    NULL
FROM generate_series(1, 5) m
ON CONFLICT DO NOTHING;

INSERT INTO users (id, org_id, email, name, role, manager_id)
SELECT ('00000000-0000-4000-a000-' || lpad(r::text, 12, '0'))::uuid,
    '00000000-0000-4000-8000-000000000001',
    'bench-rep' || r || '@example.com', '销售' || r, 'sales_rep',
    ('00000000-0000-4000-9000-' || lpad((r % 5 + 1)::text, 12, '0'))::uuid
FROM generate_series(1, :reps) r
ON CONFLICT DO NOTHING;

INSERT INTO customers (id, org_id, owner_id, name, region)
SELECT ('00000000-0000-4000-b000-' || lpad(r::text, 12, '0'))::uuid,
    '00000000-0000-4000-8000-000000000001',
    ('00000000-0000-4000-a000-' || lpad(r::text, 12, '0'))::uuid,
    '商机测试客户' || r,
    (ARRAY['华东', '华南', '华北', '西南', '西北'])[1 + r % 5]
FROM generate_series(1, :reps) r
ON CONFLICT DO NOTHING;

WITH s AS (
	SELECT array_agg(st.id ORDER BY st.position) AS ids,
	    array_agg(st.kind ORDER BY st.position) AS kinds,
	    min(p.id::text)::uuid AS pipeline
	FROM pipelines p JOIN pipeline_stages st ON st.pipeline_id = p.id
	WHERE p.org_id = '00000000-0000-4000-8000-000000000001'
	  AND p.is_default
)
INSERT INTO opportunities (org_id, owner_id, customer_id, name, pipeline_id,
    stage_id, status, amount, expected_close_date, closed_at, created_at)
SELECT '00000000-0000-4000-8000-000000000001',
    ('00000000-0000-4000-a000-' || lpad((i % :reps + 1)::text, 12,
	'0'))::uuid,
    ('00000000-0000-4000-b000-' || lpad((i % :reps + 1)::text, 12,
	'0'))::uuid,
    '商机' || i, s.pipeline, s.ids[1 + i % 6], s.kinds[1 + i % 6],
    round(((i::bigint * 7919) % 10000000) / 100.0, 2),
    current_date - 365 + (i % 730),
    CASE WHEN s.kinds[1 + i % 6] <> 'open' THEN
	(current_date - 365 + (i % 730))::timestamptz END,
    now() - make_interval(secs => i)
FROM generate_series(1, :n) i, s;

RESET session_replication_role;
SELECT crm_forecast_rebuild('00000000-0000-4000-8000-000000000001')
    AS rollup_rows;
ANALYZE opportunities;
ANALYZE forecast_rollup;

-- Benchmark data: :reps sales reps (under five managers) in the demo
-- organisation and :n customers spread evenly over them, with Chinese
-- names, phones, emails, grades, stages, tags and a few parent companies.
-- Run as the superuser on a migrated database with the demo data:
--   psql -v n=1000000 -v reps=50 -f tests/bench/generate.sql
-- Triggers are off for the load (session_replication_role = replica): a
-- bulk load has no audit trail or stage history to write.

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

WITH words AS (
	SELECT ARRAY['四川','重庆','北京','上海','广州','深圳','杭州','南京',
	    '武汉','西安','成都','天津','苏州','长沙','郑州','青岛'] AS city,
	    ARRAY['糖酒','机械','出版','传媒','贸易','电子','食品','建材',
	    '医药','物流','软件','纺织','化工','能源','旅游','酒店'] AS trade,
	    ARRAY['有限公司','集团','股份有限公司','商行','厂','研究院'] AS kind,
	    ARRAY['A','B','C','D'] AS grade,
	    ARRAY['potential','intent','won','repeat','churned','won_back']
		AS stage
)
INSERT INTO customers (org_id, owner_id, kind, name, industry, province,
    city, phone, email, grade, lifecycle_stage, tags, created_at)
SELECT '00000000-0000-4000-8000-000000000001',
    ('00000000-0000-4000-a000-' || lpad((i % :reps + 1)::text, 12,
	'0'))::uuid,
    'company',
    w.city[1 + i % 16] || w.trade[1 + (i / 16) % 16] ||
	(i / 256)::text || w.kind[1 + i % 6],
    w.trade[1 + (i / 16) % 16], w.city[1 + i % 16], w.city[1 + i % 16],
    '0' || (20 + i % 80)::text || '-' || lpad((i::bigint * 7919 % 100000000)::text,
	8, '0'),
    'contact' || i || '@c' || (i % 1000) || '.example.cn',
    w.grade[1 + i % 4], w.stage[1 + i % 6],
    CASE WHEN i % 10 = 0 THEN ARRAY['重点客户'] ELSE '{}' END,
    now() - make_interval(secs => i)
FROM generate_series(1, :n) i, words w;

RESET session_replication_role;
ANALYZE users;
ANALYZE customers;

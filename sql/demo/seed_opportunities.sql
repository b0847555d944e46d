-- Demo opportunities (sql/0011): a few deals of the two reps in the
-- default pipeline, one of them won and one lost, so that the board, the
-- stage history and the funnel have something to show. Loaded after
-- seed.sql, as the superuser; re-running changes nothing (fixed ids, ON
-- CONFLICT DO NOTHING, and each move guarded by the stage history).

INSERT INTO opportunities (id, org_id, owner_id, customer_id, name,
    pipeline_id, stage_id, amount, expected_close_date, source, next_step)
SELECT v.id::uuid, p.org_id, v.owner::uuid, v.customer::uuid, v.name, p.id,
    s.id, v.amount::numeric, v.close_date::date, v.source, v.next_step
FROM (VALUES
	('00000000-0000-4000-8000-000000002101',
	 '00000000-0000-4000-8000-000000000104',
	 '00000000-0000-4000-8000-000000001001', '2027 春季糖酒会展位广告',
	 '方案报价', '128000.00', '2027-03-15', '糖酒会', '寄送展位效果图'),
	('00000000-0000-4000-8000-000000002102',
	 '00000000-0000-4000-8000-000000000104',
	 '00000000-0000-4000-8000-000000001002', '年度设备期刊广告投放',
	 '需求确认', '56000.50', '2027-01-31', '电话营销', '确认刊登期数'),
	('00000000-0000-4000-8000-000000002103',
	 '00000000-0000-4000-8000-000000000105',
	 '00000000-0000-4000-8000-000000001003', '期刊联合征订合作',
	 '商务谈判', '300000.00', '2026-11-30', '展会', NULL),
	('00000000-0000-4000-8000-000000002104',
	 '00000000-0000-4000-8000-000000000105',
	 '00000000-0000-4000-8000-000000001004', '个人年度订阅',
	 '初步接触', '1200.00', '2026-12-15', '网站', NULL))
    AS v(id, owner, customer, name, stage, amount, close_date, source,
	next_step)
JOIN pipelines p ON p.org_id = '00000000-0000-4000-8000-000000000001'
    AND p.is_default
JOIN pipeline_stages s ON s.pipeline_id = p.id AND s.name = v.stage
ON CONFLICT (id) DO NOTHING;

-- The moves since: each once (the triggers write the history).
UPDATE opportunities o SET stage_id = s.id, close_reason = v.reason
FROM (VALUES
	('00000000-0000-4000-8000-000000002102', '商务谈判', NULL),
	('00000000-0000-4000-8000-000000002103', '签订合同',
	 '合作条款与价格均获认可'),
	('00000000-0000-4000-8000-000000002104', '丢单', '客户已订阅竞品刊物'))
    AS v(id, stage, reason)
JOIN pipeline_stages s ON s.name = v.stage
WHERE o.id = v.id::uuid AND s.pipeline_id = o.pipeline_id
  AND NOT EXISTS (SELECT 1 FROM opportunity_stage_history h
	WHERE h.opportunity_id = o.id AND h.to_stage_id = s.id);

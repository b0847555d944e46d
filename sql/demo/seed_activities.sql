-- Demo data of activities and tasks (0013): a few days of the reps' daily
-- log on the demo customers, a service call on a rep's customer, and
-- open tasks, so the daily log and the agenda show something. Times are
-- relative to the first load; re-running changes nothing (fixed ids, ON
-- CONFLICT DO NOTHING). Loaded after seed.sql, as the superuser.

INSERT INTO activities (id, org_id, owner_id, type, subject, body,
    direction, occurred_at, duration_minutes, outcome, customer_id,
    next_follow_up_at)
VALUES
	('00000000-0000-4000-8000-000000013001',
	 '00000000-0000-4000-8000-000000000001',
	 '00000000-0000-4000-8000-000000000104', 'call', '电话确认春季订货会',
	 '李总确认参会，希望提前拿到新品目录。', 'outbound',
	 now() - interval '1 day', 20, '寄送新品目录',
	 '00000000-0000-4000-8000-000000001001', NULL),
	('00000000-0000-4000-8000-000000013002',
	 '00000000-0000-4000-8000-000000000001',
	 '00000000-0000-4000-8000-000000000104', 'visit', '拜访四川糖酒采购部',
	 '现场演示新品，客户关注川渝地区配送时效。', 'outbound',
	 now() - interval '2 hours', 90, '客户同意下周提交采购计划',
	 '00000000-0000-4000-8000-000000001001', now() + interval '7 days'),
	('00000000-0000-4000-8000-000000013003',
	 '00000000-0000-4000-8000-000000000001',
	 '00000000-0000-4000-8000-000000000104', 'email', '发送重庆山城机械报价',
	 NULL, 'outbound', now() - interval '3 days', NULL, NULL,
	 '00000000-0000-4000-8000-000000001002', now() - interval '1 day'),
	('00000000-0000-4000-8000-000000013004',
	 '00000000-0000-4000-8000-000000000001',
	 '00000000-0000-4000-8000-000000000105', 'meeting', '华夏出版年度合作会议',
	 '讨论明年期刊征订和广告投放计划。', NULL, now() - interval '5 hours', 60,
	 '对方将内部评审合作方案', '00000000-0000-4000-8000-000000001003',
	 now() + interval '3 days'),
	('00000000-0000-4000-8000-000000013005',
	 '00000000-0000-4000-8000-000000000001',
	 '00000000-0000-4000-8000-000000000107', 'call', '客户来电咨询发货进度',
	 NULL, 'inbound', now() - interval '4 hours', 10, '已告知预计到货时间',
	 '00000000-0000-4000-8000-000000001001', NULL)
ON CONFLICT (id) DO NOTHING;

INSERT INTO tasks (id, org_id, title, description, assignee_id, created_by,
    due_at, remind_at, priority, customer_id)
VALUES
	('00000000-0000-4000-8000-000000013101',
	 '00000000-0000-4000-8000-000000000001', '准备四川糖酒春季报价单',
	 '按拜访确认的品类和数量报价，含配送方案。',
	 '00000000-0000-4000-8000-000000000104',
	 '00000000-0000-4000-8000-000000000104',
	 now() + interval '2 days', now() + interval '1 day', 'high',
	 '00000000-0000-4000-8000-000000001001'),
	('00000000-0000-4000-8000-000000013102',
	 '00000000-0000-4000-8000-000000000001', '华夏出版合同续签',
	 NULL, '00000000-0000-4000-8000-000000000105',
	 '00000000-0000-4000-8000-000000000103',
	 now() + interval '1 day', now() - interval '1 hour', 'urgent',
	 '00000000-0000-4000-8000-000000001003'),
	('00000000-0000-4000-8000-000000013103',
	 '00000000-0000-4000-8000-000000000001', '整理本周客户拜访纪要',
	 NULL, '00000000-0000-4000-8000-000000000104',
	 '00000000-0000-4000-8000-000000000103',
	 now() - interval '1 day', NULL, 'normal', NULL)
ON CONFLICT (id) DO NOTHING;

-- Demo leads (R20): a few prospects of the demo organisation's reps and
-- marketing, in several statuses. Loaded after seed.sql in demo mode
-- only; re-running changes nothing (fixed ids, ON CONFLICT DO NOTHING).
-- Their scores and grades are the database's (no scoring rules yet: 0, D).

INSERT INTO leads (id, org_id, owner_id, name, company, title, phone, email,
    source, industry, region, province, city, status, notes)
VALUES
	('00000000-0000-4000-8000-000000002001',
	 '00000000-0000-4000-8000-000000000001',
	 '00000000-0000-4000-8000-000000000104', '王建国',
	 '成都天府软件园有限公司', '采购经理', '028-85001234',
	 'wangjg@tfsp.example.cn', '展会', '软件', '西南', '四川', '成都',
	 'working', '糖酒会上交换名片，关注年度软件采购'),
	('00000000-0000-4000-8000-000000002002',
	 '00000000-0000-4000-8000-000000000001',
	 '00000000-0000-4000-8000-000000000104', '李娜',
	 '重庆山城火锅餐饮连锁', '店长', '023-63001111',
	 'lina@schg.example.cn', '电话', '餐饮', '西南', '重庆', '重庆',
	 'new', NULL),
	('00000000-0000-4000-8000-000000002003',
	 '00000000-0000-4000-8000-000000000001',
	 '00000000-0000-4000-8000-000000000105', '陈刚',
	 '北京京华印务有限公司', '总经理', '010-65002222',
	 'chengang@jhyw.example.cn', '官网', '印刷', '华北', '北京', '北京',
	 'mql', '官网下载了期刊征订方案'),
	('00000000-0000-4000-8000-000000002004',
	 '00000000-0000-4000-8000-000000000001',
	 '00000000-0000-4000-8000-000000000106', '刘洋', NULL, NULL,
	 '13700137000', 'liuyang@example.cn', '公众号', NULL, '华东', '浙江',
	 '杭州', 'new', '公众号留言咨询订阅')
ON CONFLICT (id) DO NOTHING;

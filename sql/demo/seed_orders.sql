-- Demo data of orders and subscriptions (sql/0015): the periodicals and
-- services a trade publisher sells (002: 期刊征订). Loaded after seed.sql
-- in demo mode; re-running changes nothing (fixed ids, ON CONFLICT DO
-- NOTHING).

INSERT INTO products (id, org_id, sku, name, description, category, unit,
    unit_price, currency, tax_rate, period, issues_per_period, active)
VALUES
	('00000000-0000-4000-8000-000000015001',
	 '00000000-0000-4000-8000-000000000001', 'QK-ZGCB-M',
	 '《中国出版》月刊', '每月一期，纸质版邮寄', '期刊', '份',
	 38.00, 'CNY', 9.00, 'monthly', 1, true),
	('00000000-0000-4000-8000-000000015002',
	 '00000000-0000-4000-8000-000000000001', 'QK-SYZK-W',
	 '《商业周刊》中文版', '每周一期', '期刊', '份',
	 15.50, 'CNY', 9.00, 'weekly', 1, true),
	('00000000-0000-4000-8000-000000015003',
	 '00000000-0000-4000-8000-000000000001', 'QK-HYNJ-Y',
	 '《行业年鉴》', '每年两卷', '期刊', '套',
	 680.00, 'CNY', 9.00, 'yearly', 2, true),
	('00000000-0000-4000-8000-000000015004',
	 '00000000-0000-4000-8000-000000000001', 'GG-NY-QB',
	 '期刊内页整版广告', '单期整版彩色广告', '广告', '版',
	 12000.00, 'CNY', 6.00, NULL, NULL, true),
	('00000000-0000-4000-8000-000000015005',
	 '00000000-0000-4000-8000-000000000001', 'ZL-2019-HB',
	 '2019 年展会会刊（已停售）', '旧版会刊', '图书', '本',
	 45.00, 'CNY', 9.00, NULL, NULL, false)
ON CONFLICT DO NOTHING;

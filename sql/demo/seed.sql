-- Demo data: one organisation, one user of each role (two reps reporting
-- to the sales manager), and customers with Chinese names. Loaded by
-- `sh .dev/up` in demo mode only; never by migrations. Re-running changes
-- nothing (fixed ids, ON CONFLICT DO NOTHING).
--
-- psql variable :pwhash is the scrypt hash of the demo password, computed
-- by the loader so that no hash is committed.

INSERT INTO organizations (id, name) VALUES
	('00000000-0000-4000-8000-000000000001', '成都示例贸易有限公司')
ON CONFLICT (id) DO NOTHING;

INSERT INTO users (id, org_id, email, name, role, manager_id, password_hash)
VALUES
	('00000000-0000-4000-8000-000000000101',
	 '00000000-0000-4000-8000-000000000001',
	 'admin@example.com', '系统管理员', 'admin', NULL, :'pwhash'),
	('00000000-0000-4000-8000-000000000102',
	 '00000000-0000-4000-8000-000000000001',
	 'ceo@example.com', '王总', 'executive', NULL, :'pwhash'),
	('00000000-0000-4000-8000-000000000103',
	 '00000000-0000-4000-8000-000000000001',
	 'manager@example.com', '李经理', 'sales_manager', NULL, :'pwhash'),
	('00000000-0000-4000-8000-000000000104',
	 '00000000-0000-4000-8000-000000000001',
	 'rep1@example.com', '张伟', 'sales_rep',
	 '00000000-0000-4000-8000-000000000103', :'pwhash'),
	('00000000-0000-4000-8000-000000000105',
	 '00000000-0000-4000-8000-000000000001',
	 'rep2@example.com', '刘芳', 'sales_rep',
	 '00000000-0000-4000-8000-000000000103', :'pwhash'),
	('00000000-0000-4000-8000-000000000106',
	 '00000000-0000-4000-8000-000000000001',
	 'marketing@example.com', '陈静', 'marketing', NULL, :'pwhash'),
	('00000000-0000-4000-8000-000000000107',
	 '00000000-0000-4000-8000-000000000001',
	 'service@example.com', '赵磊', 'service', NULL, :'pwhash')
ON CONFLICT (id) DO NOTHING;

INSERT INTO customers (id, org_id, owner_id, kind, name, industry, province,
    city, phone, email, grade)
VALUES
	('00000000-0000-4000-8000-000000001001',
	 '00000000-0000-4000-8000-000000000001',
	 '00000000-0000-4000-8000-000000000104', 'company',
	 '四川糖酒有限公司', '食品饮料', '四川', '成都',
	 '028-86001234', 'contact@sctj.example.cn', 'A'),
	('00000000-0000-4000-8000-000000001002',
	 '00000000-0000-4000-8000-000000000001',
	 '00000000-0000-4000-8000-000000000104', 'company',
	 '重庆山城机械制造厂', '制造业', '重庆', '重庆',
	 '023-63005678', 'sales@cqsc.example.cn', 'B'),
	('00000000-0000-4000-8000-000000001003',
	 '00000000-0000-4000-8000-000000000001',
	 '00000000-0000-4000-8000-000000000105', 'company',
	 '北京华夏出版传媒集团', '出版传媒', '北京', '北京',
	 '010-65009876', 'info@hxcm.example.cn', 'A'),
	('00000000-0000-4000-8000-000000001004',
	 '00000000-0000-4000-8000-000000000001',
	 '00000000-0000-4000-8000-000000000105', 'person',
	 '周晓明', '个人客户', '广东', '深圳',
	 '13800138000', 'zhou.xm@example.cn', 'C'),
	('00000000-0000-4000-8000-000000001005',
	 '00000000-0000-4000-8000-000000000001',
	 '00000000-0000-4000-8000-000000000103', 'company',
	 '上海浦江国际贸易有限公司', '贸易', '上海', '上海',
	 '021-58001122', 'trade@pjgj.example.cn', 'B')
ON CONFLICT (id) DO NOTHING;

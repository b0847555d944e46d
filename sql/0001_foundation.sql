-- 0001 foundation: organisations, users with roles and a reporting line,
-- and the first business table (customers), every row carrying org_id.
--
-- Runs as the schema owner (crm_owner). The server connects as crm_app,
-- which owns nothing and cannot bypass row-level security: visibility
-- policies arrive with the access-control migration.

CREATE TABLE organizations (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	name		text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
	created_at	timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	org_id		uuid NOT NULL REFERENCES organizations (id),
	email		text NOT NULL CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+$'
			    AND length(email) <= 254),
	name		text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
	role		text NOT NULL CHECK (role IN ('admin', 'executive',
			    'sales_manager', 'sales_rep', 'marketing', 'service',
			    'integration')),
	manager_id	uuid,
	password_hash	text,
	active		boolean NOT NULL DEFAULT true,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	UNIQUE (org_id, id),
	-- A manager is in the same organisation: (org_id, manager_id) must
	-- name a user of that org.
	FOREIGN KEY (org_id, manager_id) REFERENCES users (org_id, id),
	CHECK (manager_id IS NULL OR manager_id <> id)
);
-- One login per address, whatever its case.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_org_manager_idx ON users (org_id, manager_id);

CREATE TABLE customers (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	org_id		uuid NOT NULL REFERENCES organizations (id),
	owner_id	uuid NOT NULL,
	kind		text NOT NULL DEFAULT 'company'
			    CHECK (kind IN ('company', 'person')),
	name		text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
	industry	text CHECK (length(industry) <= 100),
	province	text CHECK (length(province) <= 50),
	city		text CHECK (length(city) <= 50),
	phone		text CHECK (length(phone) <= 40),
	email		text CHECK (length(email) <= 254),
	grade		text CHECK (grade IN ('A', 'B', 'C', 'D')),
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	FOREIGN KEY (org_id, owner_id) REFERENCES users (org_id, id)
);
CREATE INDEX customers_org_owner_idx ON customers (org_id, owner_id);

GRANT SELECT ON schema_migrations TO crm_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON organizations, users, customers
    TO crm_app;

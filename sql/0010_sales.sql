-- 0010 the sales core (R20-R25): exact money, the rules every sales
-- module shares (who works on a record, legal status transitions),
-- configurable pipelines with their stages, opportunities with their stage
-- history, leads with their status history, activities and the product
-- catalogue. The API's statements for each module come in their own
-- migrations (0011 onwards); this one holds the tables that several
-- modules reference, so that each of them can rely on the same keys and
-- policies.

-- --- money -----------------------------------------------------------------

-- An amount of money: exact, never negative, at most 2 decimal places and
-- 13 integer digits. The domain refuses '1.234' instead of rounding it.
CREATE DOMAIN crm_money AS numeric
	CHECK (VALUE >= 0 AND VALUE < 1e13 AND scale(VALUE) <= 2);

-- Money as the API shows it: a string with exactly two decimals.
CREATE FUNCTION crm_money_text(v numeric) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT round(v, 2)::text
$$;

-- --- who works on a record ---------------------------------------------------

-- Whether the bound caller works on records owned by `owner`: org-wide
-- roles on all of them, everyone else on their own and their team's
-- (crm_team() is self and everyone below in the reporting line).
CREATE FUNCTION crm_mine(owner uuid) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT crm_org_wide() OR owner = ANY (crm_team())
$$;

-- Refuse an illegal status change with 409, naming the statuses `cur`
-- may move to (`allowed`), so a client can correct itself.
CREATE FUNCTION crm_transition_check(what text, cur text, want text,
    allowed text[])
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	IF cur IS DISTINCT FROM want AND NOT want = ANY (allowed) THEN
		PERFORM crm_raise('409', format('%s cannot go from %s to %s; '
		    'allowed from %s: %s.', what, cur, want, cur,
		    CASE WHEN cardinality(allowed) = 0 THEN 'none (final)'
		    ELSE array_to_string(allowed, ', ') END));
	END IF;
END
$$;

-- --- pipelines and stages (R21) ----------------------------------------------

CREATE TABLE pipelines (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	org_id		uuid NOT NULL REFERENCES organizations (id),
	name		text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
	is_default	boolean NOT NULL DEFAULT false,
	active		boolean NOT NULL DEFAULT true,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	version		integer NOT NULL DEFAULT 1,
	UNIQUE (org_id, id),
	UNIQUE (org_id, name)
);
-- One default pipeline per organisation.
CREATE UNIQUE INDEX pipelines_default_key ON pipelines (org_id)
    WHERE is_default;

-- A stage is open (the deal goes on), won or lost. Its probability weighs
-- the forecast; its category groups it (Salesforce's forecast categories:
-- lost deals are omitted).
CREATE TABLE pipeline_stages (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	org_id		uuid NOT NULL,
	pipeline_id	uuid NOT NULL,
	name		text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
	position	integer NOT NULL CHECK (position BETWEEN 1 AND 100),
	probability	integer NOT NULL CHECK (probability BETWEEN 0 AND 100),
	forecast_category text NOT NULL CHECK (forecast_category IN
			    ('pipeline', 'best_case', 'commit', 'closed',
			    'omitted')),
	kind		text NOT NULL DEFAULT 'open'
			    CHECK (kind IN ('open', 'won', 'lost')),
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	version		integer NOT NULL DEFAULT 1,
	UNIQUE (org_id, id),
	-- Lets an opportunity's foreign key say "a stage of *this* pipeline".
	UNIQUE (org_id, pipeline_id, id),
	UNIQUE (org_id, pipeline_id, name),
	FOREIGN KEY (org_id, pipeline_id) REFERENCES pipelines (org_id, id),
	CHECK (kind <> 'won' OR (probability = 100 AND
	    forecast_category = 'closed')),
	CHECK (kind <> 'lost' OR (probability = 0 AND
	    forecast_category = 'omitted')),
	CHECK (kind <> 'open' OR forecast_category IN ('pipeline',
	    'best_case', 'commit'))
);
CREATE INDEX pipeline_stages_order_idx ON pipeline_stages (org_id,
    pipeline_id, position, id);

-- Every organisation starts with the default pipeline of the requirement
-- documents: initial contact, needs confirmed, proposal, negotiation,
-- contract signed, and a stage for lost deals.
CREATE FUNCTION crm_default_pipeline(p_org uuid) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	pid	uuid;
BEGIN
	INSERT INTO pipelines (org_id, name, is_default)
	VALUES (p_org, '标准销售流程', true)
	RETURNING id INTO pid;
	INSERT INTO pipeline_stages (org_id, pipeline_id, name, position,
	    probability, forecast_category, kind)
	VALUES (p_org, pid, '初步接触', 1, 10, 'pipeline', 'open'),
	    (p_org, pid, '需求确认', 2, 25, 'pipeline', 'open'),
	    (p_org, pid, '方案报价', 3, 50, 'best_case', 'open'),
	    (p_org, pid, '商务谈判', 4, 75, 'commit', 'open'),
	    (p_org, pid, '签订合同', 5, 100, 'closed', 'won'),
	    (p_org, pid, '丢单', 6, 0, 'omitted', 'lost');
	RETURN pid;
END
$$;
REVOKE ALL ON FUNCTION crm_default_pipeline(uuid) FROM PUBLIC;

CREATE FUNCTION crm_organizations_pipeline() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
	PERFORM crm_default_pipeline(NEW.id);
	RETURN NULL;
END
$$;
CREATE TRIGGER organizations_pipeline AFTER INSERT ON organizations
	FOR EACH ROW EXECUTE FUNCTION crm_organizations_pipeline();
SELECT crm_default_pipeline(id) FROM organizations;

-- Everyone in the organisation reads its pipelines (to show the board);
-- admins configure them (R6).
ALTER TABLE pipelines ENABLE ROW LEVEL SECURITY;
ALTER TABLE pipelines FORCE ROW LEVEL SECURITY;
CREATE POLICY pipelines_read ON pipelines FOR SELECT
	USING (org_id = crm_org());
CREATE POLICY pipelines_admin_insert ON pipelines FOR INSERT
	WITH CHECK (org_id = crm_org() AND crm_role() = 'admin');
CREATE POLICY pipelines_admin_update ON pipelines FOR UPDATE
	USING (org_id = crm_org() AND crm_role() = 'admin')
	WITH CHECK (org_id = crm_org() AND crm_role() = 'admin');
GRANT SELECT, INSERT, UPDATE ON pipelines TO crm_app;

ALTER TABLE pipeline_stages ENABLE ROW LEVEL SECURITY;
ALTER TABLE pipeline_stages FORCE ROW LEVEL SECURITY;
CREATE POLICY pipeline_stages_read ON pipeline_stages FOR SELECT
	USING (org_id = crm_org());
CREATE POLICY pipeline_stages_admin_insert ON pipeline_stages FOR INSERT
	WITH CHECK (org_id = crm_org() AND crm_role() = 'admin');
CREATE POLICY pipeline_stages_admin_update ON pipeline_stages FOR UPDATE
	USING (org_id = crm_org() AND crm_role() = 'admin')
	WITH CHECK (org_id = crm_org() AND crm_role() = 'admin');
CREATE POLICY pipeline_stages_admin_delete ON pipeline_stages FOR DELETE
	USING (org_id = crm_org() AND crm_role() = 'admin');
GRANT SELECT, INSERT, UPDATE, DELETE ON pipeline_stages TO crm_app;

CREATE TRIGGER pipelines_touch BEFORE UPDATE ON pipelines
	FOR EACH ROW EXECUTE FUNCTION crm_touch();
CREATE TRIGGER pipelines_audit AFTER INSERT OR UPDATE OR DELETE ON pipelines
	FOR EACH ROW EXECUTE FUNCTION crm_audit_row();
CREATE TRIGGER pipeline_stages_touch BEFORE UPDATE ON pipeline_stages
	FOR EACH ROW EXECUTE FUNCTION crm_touch();
CREATE TRIGGER pipeline_stages_audit AFTER INSERT OR UPDATE OR DELETE
	ON pipeline_stages FOR EACH ROW EXECUTE FUNCTION crm_audit_row();

-- --- opportunities (R21) ---------------------------------------------------

CREATE TABLE opportunities (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	org_id		uuid NOT NULL REFERENCES organizations (id),
	owner_id	uuid NOT NULL,
	customer_id	uuid NOT NULL,
	contact_id	uuid,
	name		text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
	pipeline_id	uuid NOT NULL,
	stage_id	uuid NOT NULL,
	-- The stage's kind, kept by the database (crm_opportunity_stage):
	-- forecasts and funnels filter on it through an index.
	status		text NOT NULL DEFAULT 'open'
			    CHECK (status IN ('open', 'won', 'lost')),
	amount		crm_money NOT NULL DEFAULT 0,
	currency	text NOT NULL DEFAULT 'CNY'
			    CHECK (currency ~ '^[A-Z]{3}$'),
	expected_close_date date,
	source		text CHECK (length(source) <= 100),
	lead_id		uuid,
	campaign_id	uuid,
	next_step	text CHECK (length(next_step) <= 500),
	description	text CHECK (length(description) <= 10000),
	close_reason	text CHECK (length(close_reason) <= 500),
	closed_at	timestamptz,
	stage_changed_at timestamptz NOT NULL DEFAULT now(),
	external_id	text CHECK (length(external_id) <= 100),
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	deleted_at	timestamptz,
	version		integer NOT NULL DEFAULT 1,
	UNIQUE (org_id, id),
	FOREIGN KEY (org_id, owner_id) REFERENCES users (org_id, id),
	FOREIGN KEY (org_id, customer_id) REFERENCES customers (org_id, id),
	FOREIGN KEY (org_id, contact_id) REFERENCES contacts (org_id, id),
	FOREIGN KEY (org_id, pipeline_id, stage_id)
	    REFERENCES pipeline_stages (org_id, pipeline_id, id),
	CHECK ((status = 'open') = (closed_at IS NULL))
);
CREATE UNIQUE INDEX opportunities_external_id_key ON opportunities (org_id,
    external_id) WHERE external_id IS NOT NULL;
-- A rep's page, and the organisation's.
CREATE INDEX opportunities_owner_page_idx ON opportunities (org_id, owner_id,
    created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX opportunities_org_page_idx ON opportunities (org_id,
    created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX opportunities_customer_idx ON opportunities (org_id,
    customer_id) WHERE deleted_at IS NULL;
-- Funnels and forecasts: open deals by stage and close date.
CREATE INDEX opportunities_stage_idx ON opportunities (org_id, stage_id)
    WHERE deleted_at IS NULL;
CREATE INDEX opportunities_close_idx ON opportunities (org_id,
    expected_close_date, owner_id) WHERE deleted_at IS NULL;

-- Keep status, closed_at and stage_changed_at in step with the stage.
CREATE FUNCTION crm_opportunity_stage() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	k	text;
BEGIN
	IF TG_OP = 'UPDATE' AND NEW.stage_id IS NOT DISTINCT FROM OLD.stage_id
	THEN
		RETURN NEW;
	END IF;
	SELECT kind INTO k FROM pipeline_stages
	WHERE id = NEW.stage_id AND pipeline_id = NEW.pipeline_id;
	IF k IS NULL THEN
		PERFORM crm_raise('422', 'stage_id names no stage of the '
		    'opportunity''s pipeline.');
	END IF;
	NEW.status := k;
	NEW.stage_changed_at := now();
	IF k = 'open' THEN
		NEW.closed_at := NULL;
	ELSIF TG_OP = 'INSERT' OR OLD.status = 'open' THEN
		NEW.closed_at := now();
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER opportunities_stage BEFORE INSERT OR UPDATE OF stage_id,
    pipeline_id ON opportunities
	FOR EACH ROW EXECUTE FUNCTION crm_opportunity_stage();

CREATE TABLE opportunity_stage_history (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	org_id		uuid NOT NULL,
	opportunity_id	uuid NOT NULL,
	from_stage_id	uuid,
	to_stage_id	uuid NOT NULL,
	amount		crm_money NOT NULL,
	probability	integer NOT NULL,
	changed_by	uuid,
	changed_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	FOREIGN KEY (org_id, opportunity_id)
	    REFERENCES opportunities (org_id, id),
	FOREIGN KEY (org_id, to_stage_id) REFERENCES pipeline_stages (org_id, id)
);
CREATE INDEX opportunity_stage_history_idx ON opportunity_stage_history
    (org_id, opportunity_id, id);
CREATE INDEX opportunity_stage_history_stage_idx ON opportunity_stage_history
    (org_id, to_stage_id);

CREATE FUNCTION crm_opportunity_history() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
	IF TG_OP = 'INSERT' OR NEW.stage_id IS DISTINCT FROM OLD.stage_id THEN
		INSERT INTO opportunity_stage_history (org_id, opportunity_id,
		    from_stage_id, to_stage_id, amount, probability, changed_by)
		SELECT NEW.org_id, NEW.id,
		    CASE WHEN TG_OP = 'UPDATE' THEN OLD.stage_id END,
		    NEW.stage_id, NEW.amount, s.probability, crm_user()
		FROM pipeline_stages s WHERE s.id = NEW.stage_id;
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER opportunities_history AFTER INSERT OR UPDATE OF stage_id
	ON opportunities FOR EACH ROW EXECUTE FUNCTION crm_opportunity_history();

ALTER TABLE opportunities ENABLE ROW LEVEL SECURITY;
ALTER TABLE opportunities FORCE ROW LEVEL SECURITY;
CREATE POLICY opportunities_read ON opportunities FOR SELECT
	USING (org_id = crm_org() AND crm_mine(owner_id));
CREATE POLICY opportunities_insert ON opportunities FOR INSERT
	WITH CHECK (org_id = crm_org() AND crm_mine(owner_id));
CREATE POLICY opportunities_update ON opportunities FOR UPDATE
	USING (org_id = crm_org() AND crm_mine(owner_id))
	WITH CHECK (org_id = crm_org() AND crm_mine(owner_id));
GRANT SELECT, INSERT, UPDATE ON opportunities TO crm_app;

ALTER TABLE opportunity_stage_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE opportunity_stage_history FORCE ROW LEVEL SECURITY;
-- Visible exactly when its opportunity is.
CREATE POLICY opportunity_stage_history_read ON opportunity_stage_history
	FOR SELECT USING (org_id = crm_org() AND EXISTS (
	    SELECT 1 FROM opportunities o WHERE o.id = opportunity_id));
GRANT SELECT ON opportunity_stage_history TO crm_app;

CREATE TRIGGER opportunities_touch BEFORE UPDATE ON opportunities
	FOR EACH ROW EXECUTE FUNCTION crm_touch();
CREATE TRIGGER opportunities_audit AFTER INSERT OR UPDATE OR DELETE
	ON opportunities FOR EACH ROW EXECUTE FUNCTION crm_audit_row();

-- --- leads (R20) -------------------------------------------------------------

CREATE TABLE leads (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	org_id		uuid NOT NULL REFERENCES organizations (id),
	owner_id	uuid NOT NULL,
	name		text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
	company		text CHECK (length(company) <= 200),
	title		text CHECK (length(title) <= 100),
	phone		text CHECK (length(phone) <= 40),
	email		text CHECK (length(email) <= 254),
	source		text CHECK (length(source) <= 100),
	campaign_id	uuid,
	industry	text CHECK (length(industry) <= 100),
	region		text CHECK (length(region) <= 50),
	province	text CHECK (length(province) <= 50),
	city		text CHECK (length(city) <= 50),
	notes		text CHECK (length(notes) <= 10000),
	status		text NOT NULL DEFAULT 'new' CHECK (status IN ('new',
			    'working', 'mql', 'sql', 'converted',
			    'disqualified')),
	disqualified_reason text CHECK (length(disqualified_reason) <= 500),
	score		integer NOT NULL DEFAULT 0
			    CHECK (score BETWEEN -100000 AND 100000),
	grade		text CHECK (grade IN ('A', 'B', 'C', 'D')),
	-- What the conversion created or linked (R20).
	customer_id	uuid,
	contact_id	uuid,
	opportunity_id	uuid,
	converted_at	timestamptz,
	external_id	text CHECK (length(external_id) <= 100),
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	deleted_at	timestamptz,
	version		integer NOT NULL DEFAULT 1,
	UNIQUE (org_id, id),
	FOREIGN KEY (org_id, owner_id) REFERENCES users (org_id, id),
	FOREIGN KEY (org_id, customer_id) REFERENCES customers (org_id, id),
	FOREIGN KEY (org_id, contact_id) REFERENCES contacts (org_id, id),
	FOREIGN KEY (org_id, opportunity_id)
	    REFERENCES opportunities (org_id, id),
	CHECK ((status = 'converted') = (converted_at IS NOT NULL AND
	    customer_id IS NOT NULL))
);
CREATE UNIQUE INDEX leads_external_id_key ON leads (org_id, external_id)
    WHERE external_id IS NOT NULL;
CREATE INDEX leads_owner_page_idx ON leads (org_id, owner_id,
    created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX leads_org_page_idx ON leads (org_id, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;
CREATE INDEX leads_email_idx ON leads (org_id, lower(email))
    WHERE email IS NOT NULL;

ALTER TABLE opportunities ADD CONSTRAINT opportunities_lead_fk
    FOREIGN KEY (org_id, lead_id) REFERENCES leads (org_id, id);

CREATE TABLE lead_status_history (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	org_id		uuid NOT NULL,
	lead_id		uuid NOT NULL,
	from_status	text,
	to_status	text NOT NULL,
	changed_by	uuid,
	changed_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	FOREIGN KEY (org_id, lead_id) REFERENCES leads (org_id, id)
);
CREATE INDEX lead_status_history_idx ON lead_status_history (org_id, lead_id,
    id);

CREATE FUNCTION crm_lead_history() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
	IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
		INSERT INTO lead_status_history (org_id, lead_id, from_status,
		    to_status, changed_by)
		VALUES (NEW.org_id, NEW.id,
		    CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END,
		    NEW.status, crm_user());
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER leads_history AFTER INSERT OR UPDATE OF status ON leads
	FOR EACH ROW EXECUTE FUNCTION crm_lead_history();

-- Marketing works every lead of the organisation (campaigns produce them,
-- marketing qualifies them, R3); sales people their own and their team's.
ALTER TABLE leads ENABLE ROW LEVEL SECURITY;
ALTER TABLE leads FORCE ROW LEVEL SECURITY;
CREATE POLICY leads_read ON leads FOR SELECT
	USING (org_id = crm_org() AND (crm_mine(owner_id) OR
	    crm_role() = 'marketing'));
CREATE POLICY leads_insert ON leads FOR INSERT
	WITH CHECK (org_id = crm_org() AND (crm_mine(owner_id) OR
	    crm_role() = 'marketing'));
CREATE POLICY leads_update ON leads FOR UPDATE
	USING (org_id = crm_org() AND (crm_mine(owner_id) OR
	    crm_role() = 'marketing'))
	WITH CHECK (org_id = crm_org() AND (crm_mine(owner_id) OR
	    crm_role() = 'marketing'));
GRANT SELECT, INSERT, UPDATE ON leads TO crm_app;

ALTER TABLE lead_status_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE lead_status_history FORCE ROW LEVEL SECURITY;
CREATE POLICY lead_status_history_read ON lead_status_history FOR SELECT
	USING (org_id = crm_org() AND EXISTS (
	    SELECT 1 FROM leads l WHERE l.id = lead_id));
GRANT SELECT ON lead_status_history TO crm_app;

CREATE TRIGGER leads_touch BEFORE UPDATE ON leads
	FOR EACH ROW EXECUTE FUNCTION crm_touch();
CREATE TRIGGER leads_audit AFTER INSERT OR UPDATE OR DELETE ON leads
	FOR EACH ROW EXECUTE FUNCTION crm_audit_row();

-- --- activities (R23) --------------------------------------------------------

-- Calls, emails, meetings, visits and notes: the sales daily log. The
-- owner is who did it; each may link a customer, a contact, an
-- opportunity and a lead (lead scoring counts them, 0012).
CREATE TABLE activities (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	org_id		uuid NOT NULL REFERENCES organizations (id),
	owner_id	uuid NOT NULL,
	type		text NOT NULL CHECK (type IN ('call', 'email', 'meeting',
			    'visit', 'note')),
	subject		text NOT NULL CHECK (length(subject) BETWEEN 1 AND 200),
	body		text CHECK (length(body) <= 10000),
	direction	text CHECK (direction IN ('inbound', 'outbound')),
	occurred_at	timestamptz NOT NULL DEFAULT now(),
	duration_minutes integer CHECK (duration_minutes BETWEEN 0 AND 1440),
	outcome		text CHECK (length(outcome) <= 500),
	customer_id	uuid,
	contact_id	uuid,
	opportunity_id	uuid,
	lead_id		uuid,
	next_follow_up_at timestamptz,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	deleted_at	timestamptz,
	version		integer NOT NULL DEFAULT 1,
	UNIQUE (org_id, id),
	FOREIGN KEY (org_id, owner_id) REFERENCES users (org_id, id),
	FOREIGN KEY (org_id, customer_id) REFERENCES customers (org_id, id),
	FOREIGN KEY (org_id, contact_id) REFERENCES contacts (org_id, id),
	FOREIGN KEY (org_id, opportunity_id)
	    REFERENCES opportunities (org_id, id),
	FOREIGN KEY (org_id, lead_id) REFERENCES leads (org_id, id)
);
CREATE INDEX activities_owner_idx ON activities (org_id, owner_id,
    occurred_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX activities_customer_idx ON activities (org_id, customer_id,
    occurred_at DESC) WHERE deleted_at IS NULL AND customer_id IS NOT NULL;
CREATE INDEX activities_opportunity_idx ON activities (org_id,
    opportunity_id) WHERE opportunity_id IS NOT NULL;
CREATE INDEX activities_lead_idx ON activities (org_id, lead_id)
    WHERE lead_id IS NOT NULL;
CREATE INDEX activities_follow_up_idx ON activities (org_id, owner_id,
    next_follow_up_at) WHERE next_follow_up_at IS NOT NULL
    AND deleted_at IS NULL;

-- Read by whoever works on the owner's records, and by whoever works on
-- the customer it is about (a service call on a rep's customer shows in
-- the rep's history); changed only by the former.
ALTER TABLE activities ENABLE ROW LEVEL SECURITY;
ALTER TABLE activities FORCE ROW LEVEL SECURITY;
CREATE POLICY activities_read ON activities FOR SELECT
	USING (org_id = crm_org() AND (crm_mine(owner_id) OR
	    (customer_id IS NOT NULL AND EXISTS (SELECT 1 FROM customers c
	    WHERE c.id = customer_id AND crm_mine(c.owner_id)))));
CREATE POLICY activities_insert ON activities FOR INSERT
	WITH CHECK (org_id = crm_org() AND crm_mine(owner_id));
CREATE POLICY activities_update ON activities FOR UPDATE
	USING (org_id = crm_org() AND crm_mine(owner_id))
	WITH CHECK (org_id = crm_org() AND crm_mine(owner_id));
GRANT SELECT, INSERT, UPDATE ON activities TO crm_app;

CREATE TRIGGER activities_touch BEFORE UPDATE ON activities
	FOR EACH ROW EXECUTE FUNCTION crm_touch();
CREATE TRIGGER activities_audit AFTER INSERT OR UPDATE OR DELETE
	ON activities FOR EACH ROW EXECUTE FUNCTION crm_audit_row();

-- --- products (R25) ----------------------------------------------------------

-- The catalogue: quotes and orders copy name and price from it, so a
-- price change never rewrites a signed document. `period` marks a
-- periodical subscription product (002: 期刊征订) and how often it ships.
CREATE TABLE products (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	org_id		uuid NOT NULL REFERENCES organizations (id),
	sku		text NOT NULL CHECK (length(sku) BETWEEN 1 AND 64),
	name		text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
	description	text CHECK (length(description) <= 10000),
	category	text CHECK (length(category) <= 100),
	unit		text NOT NULL DEFAULT '件'
			    CHECK (length(unit) BETWEEN 1 AND 20),
	unit_price	crm_money NOT NULL,
	currency	text NOT NULL DEFAULT 'CNY'
			    CHECK (currency ~ '^[A-Z]{3}$'),
	-- Percent, e.g. 13.00 for China's standard VAT.
	tax_rate	numeric(5, 2) NOT NULL DEFAULT 0
			    CHECK (tax_rate BETWEEN 0 AND 100),
	period		text CHECK (period IN ('weekly', 'monthly',
			    'bimonthly', 'quarterly', 'yearly')),
	issues_per_period integer CHECK (issues_per_period BETWEEN 1 AND 366),
	active		boolean NOT NULL DEFAULT true,
	external_id	text CHECK (length(external_id) <= 100),
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	version		integer NOT NULL DEFAULT 1,
	UNIQUE (org_id, id),
	UNIQUE (org_id, sku),
	CHECK ((period IS NULL) = (issues_per_period IS NULL))
);
CREATE UNIQUE INDEX products_external_id_key ON products (org_id,
    external_id) WHERE external_id IS NOT NULL;
CREATE INDEX products_name_idx ON products (org_id, name, id);

-- Everyone in the organisation reads the catalogue; admins (and the
-- other org-wide roles: executives, integrations) maintain it.
ALTER TABLE products ENABLE ROW LEVEL SECURITY;
ALTER TABLE products FORCE ROW LEVEL SECURITY;
CREATE POLICY products_read ON products FOR SELECT
	USING (org_id = crm_org());
CREATE POLICY products_insert ON products FOR INSERT
	WITH CHECK (org_id = crm_org() AND crm_org_wide());
CREATE POLICY products_update ON products FOR UPDATE
	USING (org_id = crm_org() AND crm_org_wide())
	WITH CHECK (org_id = crm_org() AND crm_org_wide());
GRANT SELECT, INSERT, UPDATE ON products TO crm_app;

CREATE TRIGGER products_touch BEFORE UPDATE ON products
	FOR EACH ROW EXECUTE FUNCTION crm_touch();
CREATE TRIGGER products_audit AFTER INSERT OR UPDATE OR DELETE ON products
	FOR EACH ROW EXECUTE FUNCTION crm_audit_row();

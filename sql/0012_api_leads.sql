-- 0012 the API's statements for leads (R20): capture by hand and from
-- public web forms, scoring and grading by rules the admin configures,
-- assignment rules with round robin, qualification (new -> working -> mql
-- -> sql) and conversion into customer + contact + opportunity in one
-- statement. The tables leads and lead_status_history are 0010's; this
-- migration adds the configuration tables, a column (form_id) and a
-- constraint on leads, and the triggers that keep scores, grades and
-- automatic MQL.
-- Visibility is row-level security's (0010: marketing works every lead,
-- everyone else their own and their team's); these functions bind the
-- caller and shape the answers.

-- --- leads: the status machine ----------------------------------------------

-- The public web form a lead came through (lead_forms, below).
ALTER TABLE leads ADD COLUMN form_id uuid;

-- A lead keeps its disqualification reason exactly while it is
-- disqualified (moving it back to working clears it).
ALTER TABLE leads ADD CONSTRAINT leads_disqualified_reason CHECK
    ((status = 'disqualified') = (disqualified_reason IS NOT NULL));

-- The statuses a lead in `cur` may move to by PATCH or the shortcut
-- actions; converted is reached only through POST /convert and is final.
CREATE FUNCTION crm_lead_next(cur text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE cur
	    WHEN 'new' THEN ARRAY['working', 'mql', 'disqualified']
	    WHEN 'working' THEN ARRAY['mql', 'disqualified']
	    WHEN 'mql' THEN ARRAY['sql', 'working', 'disqualified']
	    WHEN 'sql' THEN ARRAY['working', 'disqualified']
	    WHEN 'disqualified' THEN ARRAY['working']
	    ELSE '{}'::text[] END
$$;

-- Check moving lead `cur` to `want` with disqualification reason
-- `reason` (the patched or current value) and return the reason to
-- store. Fails 409 for an illegal move (naming the allowed ones), 422 when
-- a disqualification has no reason or a lead that is not disqualified is
-- given one.
CREATE FUNCTION crm_lead_transition(cur leads, want text, reason text)
RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_transition_check('lead', cur.status, want,
	    crm_lead_next(cur.status));
	IF want = 'disqualified' AND reason IS NULL THEN
		PERFORM crm_raise_fields('422', 'A disqualified lead needs a '
		    'reason; see errors.', jsonb_build_array(crm_field_error(
		    'disqualified_reason', 'required', 'disqualified_reason is '
		    'required to disqualify a lead.')));
	END IF;
	IF want <> 'disqualified' AND reason IS NOT NULL THEN
		PERFORM crm_raise_fields('422', 'Only disqualified leads have a '
		    'reason; see errors.', jsonb_build_array(crm_field_error(
		    'disqualified_reason', 'not_allowed', 'disqualified_reason '
		    'is kept only while a lead is disqualified.')));
	END IF;
	RETURN CASE WHEN want = 'disqualified' THEN reason END;
END
$$;

-- --- the public shape --------------------------------------------------------

-- The public shape of a lead.
CREATE FUNCTION lead_json(l leads) RETURNS json
LANGUAGE sql STABLE AS $$
	SELECT json_build_object('id', l.id, 'owner_id', l.owner_id,
	    'name', l.name, 'company', l.company, 'title', l.title,
	    'phone', l.phone, 'email', l.email, 'source', l.source,
	    'campaign_id', l.campaign_id, 'industry', l.industry,
	    'region', l.region, 'province', l.province, 'city', l.city,
	    'notes', l.notes, 'status', l.status,
	    'disqualified_reason', l.disqualified_reason, 'score', l.score,
	    'grade', l.grade, 'customer_id', l.customer_id,
	    'contact_id', l.contact_id, 'opportunity_id', l.opportunity_id,
	    'converted_at', l.converted_at, 'external_id', l.external_id,
	    'form_id', l.form_id, 'created_at', l.created_at,
	    'updated_at', l.updated_at, 'version', l.version)
$$;

-- --- scoring and grading (admin configures) ---------------------------------

-- A field rule adds `points` when a lead's field (email_domain: the part
-- after @) equals `value`, contains it (both ignoring case) or is present;
-- an activity rule adds `points` for each live activity of its type linked
-- to the lead (activities.lead_id).
CREATE TABLE lead_scoring_rules (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	org_id		uuid NOT NULL REFERENCES organizations (id),
	kind		text NOT NULL CHECK (kind IN ('field', 'activity')),
	field		text CHECK (field IN ('source', 'industry', 'region',
			    'province', 'city', 'title', 'company',
			    'email_domain')),
	op		text CHECK (op IN ('eq', 'contains', 'present')),
	value		text CHECK (length(value) BETWEEN 1 AND 200),
	activity_type	text CHECK (activity_type IN ('call', 'email',
			    'meeting', 'visit', 'note')),
	points		integer NOT NULL CHECK (points BETWEEN -100 AND 100),
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	version		integer NOT NULL DEFAULT 1,
	CHECK (kind <> 'field' OR (field IS NOT NULL AND op IS NOT NULL AND
	    activity_type IS NULL AND (op = 'present') = (value IS NULL))),
	CHECK (kind <> 'activity' OR (activity_type IS NOT NULL AND
	    field IS NULL AND op IS NULL AND value IS NULL))
);
CREATE INDEX lead_scoring_rules_org_idx ON lead_scoring_rules (org_id,
    created_at, id);

-- Grade thresholds (A from `a` points, B from `b`, C from `c`, else D)
-- and the automatic MQL threshold; an organisation without a row has the
-- defaults of crm_lead_grading().
CREATE TABLE lead_grading (
	org_id		uuid PRIMARY KEY REFERENCES organizations (id),
	a		integer NOT NULL,
	b		integer NOT NULL,
	c		integer NOT NULL,
	mql_score	integer,
	updated_at	timestamptz NOT NULL DEFAULT now(),
	version		integer NOT NULL DEFAULT 1,
	CHECK (a > b AND b > c),
	CHECK (a BETWEEN -100000 AND 100000 AND c BETWEEN -100000 AND 100000),
	CHECK (mql_score BETWEEN -100000 AND 100000)
);

-- Everyone in the organisation reads the configuration (why a lead has
-- its score); admins change it (R6).
ALTER TABLE lead_scoring_rules ENABLE ROW LEVEL SECURITY;
ALTER TABLE lead_scoring_rules FORCE ROW LEVEL SECURITY;
CREATE POLICY lead_scoring_rules_read ON lead_scoring_rules FOR SELECT
	USING (org_id = crm_org());
CREATE POLICY lead_scoring_rules_admin ON lead_scoring_rules FOR ALL
	USING (org_id = crm_org() AND crm_role() = 'admin')
	WITH CHECK (org_id = crm_org() AND crm_role() = 'admin');
GRANT SELECT, INSERT, UPDATE, DELETE ON lead_scoring_rules TO crm_app;

ALTER TABLE lead_grading ENABLE ROW LEVEL SECURITY;
ALTER TABLE lead_grading FORCE ROW LEVEL SECURITY;
CREATE POLICY lead_grading_read ON lead_grading FOR SELECT
	USING (org_id = crm_org());
CREATE POLICY lead_grading_admin ON lead_grading FOR ALL
	USING (org_id = crm_org() AND crm_role() = 'admin')
	WITH CHECK (org_id = crm_org() AND crm_role() = 'admin');
GRANT SELECT, INSERT, UPDATE ON lead_grading TO crm_app;

CREATE TRIGGER lead_scoring_rules_touch BEFORE UPDATE ON lead_scoring_rules
	FOR EACH ROW EXECUTE FUNCTION crm_touch();
CREATE TRIGGER lead_scoring_rules_audit AFTER INSERT OR UPDATE OR DELETE
	ON lead_scoring_rules FOR EACH ROW EXECUTE FUNCTION crm_audit_row();
CREATE TRIGGER lead_grading_touch BEFORE UPDATE ON lead_grading
	FOR EACH ROW EXECUTE FUNCTION crm_touch();
CREATE TRIGGER lead_grading_audit AFTER INSERT OR UPDATE OR DELETE
	ON lead_grading FOR EACH ROW EXECUTE FUNCTION crm_audit_row();

-- The organisation's thresholds, defaults filled in (a=80, b=50, c=20, no
-- automatic MQL). SECURITY DEFINER: scores are the database's, whoever
-- writes the lead (a web form has no caller at all).
CREATE FUNCTION crm_lead_grading(p_org uuid, OUT a integer, OUT b integer,
    OUT c integer, OUT mql_score integer)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
	SELECT coalesce(g.a, 80), coalesce(g.b, 50), coalesce(g.c, 20),
	    g.mql_score
	FROM (SELECT 1) one LEFT JOIN lead_grading g ON g.org_id = p_org
	    -- A bound caller learns only their own organisation's.
	    AND (crm_org() IS NULL OR crm_org() = p_org)
$$;

-- The grade of `score` under thresholds a > b > c.
CREATE FUNCTION crm_lead_grade_of(score integer, a integer, b integer,
    c integer)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN score >= a THEN 'A' WHEN score >= b THEN 'B'
	    WHEN score >= c THEN 'C' ELSE 'D' END
$$;

-- The value of a scored field of lead `l`.
CREATE FUNCTION crm_lead_field(l leads, field text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE field WHEN 'source' THEN l.source
	    WHEN 'industry' THEN l.industry WHEN 'region' THEN l.region
	    WHEN 'province' THEN l.province WHEN 'city' THEN l.city
	    WHEN 'title' THEN l.title WHEN 'company' THEN l.company
	    WHEN 'email_domain' THEN nullif(lower(split_part(l.email, '@', 2)),
		'') END
$$;

-- Whether field value `v` satisfies a field rule (op, value).
CREATE FUNCTION crm_lead_rule_matches(v text, op text, value text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT coalesce(CASE op
	    WHEN 'present' THEN btrim(v) <> ''
	    WHEN 'eq' THEN lower(v) = lower(value)
	    WHEN 'contains' THEN strpos(lower(v), lower(value)) > 0 END, false)
$$;

-- The score of lead `l`: its matching field rules, plus each activity
-- rule's points times the lead's live activities of that type; kept
-- within the column's range.
CREATE FUNCTION crm_lead_score(l leads) RETURNS integer
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
	SELECT greatest(-100000, least(100000,
	    coalesce((SELECT sum(r.points) FROM lead_scoring_rules r
		WHERE r.org_id = l.org_id AND r.kind = 'field'
		  AND crm_lead_rule_matches(crm_lead_field(l, r.field), r.op,
		      r.value)), 0) +
	    coalesce((SELECT sum(r.points * a.n) FROM lead_scoring_rules r
		JOIN (SELECT type, count(*) AS n FROM activities
		      WHERE org_id = l.org_id AND lead_id = l.id
			AND deleted_at IS NULL
		      GROUP BY type) a ON a.type = r.activity_type
		WHERE r.org_id = l.org_id AND r.kind = 'activity'), 0)))::integer
$$;

-- Keep score and grade on every insert and update of a lead.
CREATE FUNCTION crm_lead_scoring() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	g	record;
BEGIN
	SELECT * INTO g FROM crm_lead_grading(NEW.org_id);
	NEW.score := crm_lead_score(NEW);
	NEW.grade := crm_lead_grade_of(NEW.score, g.a, g.b, g.c);
	RETURN NEW;
END
$$;
CREATE TRIGGER leads_score BEFORE INSERT OR UPDATE ON leads
	FOR EACH ROW EXECUTE FUNCTION crm_lead_scoring();

-- Automatic MQL: a new lead whose score reaches the threshold, or a new or
-- working lead whose score crosses it (and whose status this statement did
-- not set), becomes mql by an update of its own, so that the history
-- trigger records the change (and runs after the creation's own entry:
-- leads_mql fires after leads_history).
CREATE FUNCTION crm_lead_auto_mql() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	t	integer;
BEGIN
	SELECT mql_score INTO t FROM crm_lead_grading(NEW.org_id);
	IF t IS NULL OR NEW.score < t OR NEW.deleted_at IS NOT NULL THEN
		RETURN NULL;
	END IF;
	IF (TG_OP = 'INSERT' AND NEW.status = 'new') OR (TG_OP = 'UPDATE' AND
	    NEW.status = OLD.status AND NEW.status IN ('new', 'working') AND
	    OLD.score < t) THEN
		UPDATE leads SET status = 'mql' WHERE id = NEW.id;
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER leads_mql AFTER INSERT OR UPDATE ON leads
	FOR EACH ROW EXECUTE FUNCTION crm_lead_auto_mql();

-- Recompute the scores of the bound organisation's open leads (not
-- converted, disqualified or deleted) whose rules changed: the update
-- runs the scoring trigger, and automatic MQL after it.
CREATE FUNCTION crm_leads_rescore() RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
	UPDATE leads l SET status = l.status
	WHERE l.org_id = crm_org() AND l.deleted_at IS NULL
	  AND l.status NOT IN ('converted', 'disqualified')
	  AND crm_lead_score(l) IS DISTINCT FROM l.score
$$;

-- Activities move the score of the lead they are linked to (before and
-- after a change of link, type or deletion).
CREATE FUNCTION crm_activity_lead_score() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
	UPDATE leads l SET status = l.status
	WHERE l.id IN (CASE WHEN TG_OP <> 'INSERT' THEN OLD.lead_id END,
	    CASE WHEN TG_OP <> 'DELETE' THEN NEW.lead_id END)
	  AND l.deleted_at IS NULL
	  AND l.status NOT IN ('converted', 'disqualified')
	  AND crm_lead_score(l) IS DISTINCT FROM l.score;
	RETURN NULL;
END
$$;
CREATE TRIGGER activities_lead_score AFTER INSERT OR DELETE OR UPDATE OF
    lead_id, type, deleted_at ON activities
	FOR EACH ROW EXECUTE FUNCTION crm_activity_lead_score();

-- --- assignment rules (admin configures; R20 "rules, round robin") ---------

-- Rules in order of position: the first whose conditions all hold (each
-- given one is an equality; none given matches every lead) assigns the
-- lead to its user, or to the next active user of its rotation. The
-- rotation's state (next_index) lives in the rule and moves under the
-- rule row's lock, so concurrent creates take turns.
CREATE TABLE assignment_rules (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	org_id		uuid NOT NULL REFERENCES organizations (id),
	name		text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
	position	integer NOT NULL CHECK (position BETWEEN 1 AND 100000),
	active		boolean NOT NULL DEFAULT true,
	source		text CHECK (length(source) <= 100),
	industry	text CHECK (length(industry) <= 100),
	region		text CHECK (length(region) <= 50),
	province	text CHECK (length(province) <= 50),
	city		text CHECK (length(city) <= 50),
	campaign_id	uuid,
	user_id		uuid,
	round_robin_user_ids uuid[] NOT NULL DEFAULT '{}'
			    CHECK (cardinality(round_robin_user_ids) <= 50),
	next_index	integer NOT NULL DEFAULT 0 CHECK (next_index >= 0),
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	version		integer NOT NULL DEFAULT 1,
	UNIQUE (org_id, id),
	FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id),
	CHECK ((user_id IS NULL) <> (cardinality(round_robin_user_ids) = 0))
);
CREATE INDEX assignment_rules_order_idx ON assignment_rules (org_id,
    position, created_at, id);

ALTER TABLE assignment_rules ENABLE ROW LEVEL SECURITY;
ALTER TABLE assignment_rules FORCE ROW LEVEL SECURITY;
CREATE POLICY assignment_rules_read ON assignment_rules FOR SELECT
	USING (org_id = crm_org());
CREATE POLICY assignment_rules_admin ON assignment_rules FOR ALL
	USING (org_id = crm_org() AND crm_role() = 'admin')
	WITH CHECK (org_id = crm_org() AND crm_role() = 'admin');
GRANT SELECT, INSERT, UPDATE, DELETE ON assignment_rules TO crm_app;

-- The rotation moving is not a change of configuration: neither versioned
-- nor audited (the lead's new owner is, on the lead).
CREATE TRIGGER assignment_rules_touch BEFORE UPDATE OF name, position,
    active, source, industry, region, province, city, campaign_id, user_id,
    round_robin_user_ids ON assignment_rules
	FOR EACH ROW EXECUTE FUNCTION crm_touch();
CREATE TRIGGER assignment_rules_audit AFTER INSERT OR DELETE OR UPDATE OF
    name, position, active, source, industry, region, province, city,
    campaign_id, user_id, round_robin_user_ids ON assignment_rules
	FOR EACH ROW EXECUTE FUNCTION crm_audit_row();

-- The owner the rules of `p_org` give a lead with attributes `l` (source,
-- industry, region, province, city, campaign_id), or NULL when no rule
-- matches or a matching rule's users are all inactive (the next rule is
-- tried). A round-robin pick locks its rule row and advances it.
-- SECURITY DEFINER: whoever creates the lead (a rep, a web form) moves a
-- rotation only an admin may configure.
CREATE FUNCTION crm_lead_route(p_org uuid, l jsonb) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	m	assignment_rules;
	r	assignment_rules;
	pick	uuid;
	n	integer;
	i	integer;
BEGIN
	FOR m IN SELECT * FROM assignment_rules
	    WHERE org_id = p_org AND active
	      AND (source IS NULL OR source = l->>'source')
	      AND (industry IS NULL OR industry = l->>'industry')
	      AND (region IS NULL OR region = l->>'region')
	      AND (province IS NULL OR province = l->>'province')
	      AND (city IS NULL OR city = l->>'city')
	      AND (campaign_id IS NULL OR
		   campaign_id = (l->>'campaign_id')::uuid)
	    ORDER BY position, created_at, id
	LOOP
		IF m.user_id IS NOT NULL THEN
			IF EXISTS (SELECT 1 FROM users WHERE id = m.user_id
			    AND org_id = p_org AND active) THEN
				RETURN m.user_id;
			END IF;
			CONTINUE;
		END IF;
		SELECT * INTO r FROM assignment_rules WHERE id = m.id FOR UPDATE;
		n := cardinality(r.round_robin_user_ids);
		FOR i IN 0 .. n - 1 LOOP
			pick := r.round_robin_user_ids[(r.next_index + i) % n + 1];
			IF EXISTS (SELECT 1 FROM users WHERE id = pick
			    AND org_id = p_org AND active) THEN
				UPDATE assignment_rules
				SET next_index = (r.next_index + i + 1) % n
				WHERE id = r.id;
				RETURN pick;
			END IF;
		END LOOP;
	END LOOP;
	RETURN NULL;
END
$$;

-- --- owners and new leads ---------------------------------------------------

-- Check an owner the caller names for a lead: an active user of the
-- organisation (422), and one the caller may give leads to (403):
-- anyone for org-wide roles and marketing (which distributes leads), else
-- themselves and the people below them.
CREATE FUNCTION crm_lead_owner_check(p_owner uuid) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM users WHERE id = p_owner AND active) THEN
		PERFORM crm_raise_fields('422', 'The owner is not valid; see '
		    'errors.', jsonb_build_array(crm_field_error('owner_id',
		    'unknown', 'owner_id names no active user of this '
		    'organization.')));
	END IF;
	IF NOT (crm_org_wide() OR crm_role() = 'marketing' OR
	    p_owner = ANY (crm_team())) THEN
		PERFORM crm_raise('403', 'Only managers, marketing and admins '
		    'give leads to people outside their team.');
	END IF;
END
$$;

-- Insert a lead of `p_org` owned by `p_owner` from the fields of `b`
-- (checked by the server), created through web form `p_form` (or NULL),
-- and return it as stored once its triggers ran (score, grade, automatic
-- MQL). Runs with the caller's rights: under row-level security from the
-- API, as the schema owner from the SECURITY DEFINER callers. 409 on a
-- duplicate external_id.
CREATE FUNCTION crm_lead_new(p_org uuid, p_owner uuid, p_form uuid, b jsonb)
RETURNS leads
LANGUAGE plpgsql AS $$
DECLARE
	nid	uuid;
	l	leads;
BEGIN
	BEGIN
		INSERT INTO leads (org_id, owner_id, name, company, title,
		    phone, email, source, campaign_id, industry, region,
		    province, city, notes, external_id, form_id)
		VALUES (p_org, p_owner, b->>'name', b->>'company', b->>'title',
		    b->>'phone', b->>'email', b->>'source',
		    (b->>'campaign_id')::uuid, b->>'industry', b->>'region',
		    b->>'province', b->>'city', b->>'notes', b->>'external_id',
		    p_form)
		RETURNING id INTO nid;
	EXCEPTION WHEN unique_violation THEN
		PERFORM crm_raise('409', 'A lead with this external_id already '
		    'exists.');
	END;
	-- The AFTER triggers may have moved it on (automatic MQL).
	SELECT * INTO l FROM leads WHERE id = nid;
	RETURN l;
END
$$;

-- A lead of the bound caller's organisation from `b`, owned by whom the
-- assignment rules say, else by the caller. SECURITY DEFINER: the rules
-- may give it to someone whose leads the caller does not work (the admin
-- decided so); the owner is never the caller's choice here.
CREATE FUNCTION crm_lead_new_routed(b jsonb) RETURNS leads
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
	IF crm_user() IS NULL THEN
		PERFORM crm_raise('401', 'The credentials are invalid.');
	END IF;
	RETURN crm_lead_new(crm_org(), coalesce(crm_lead_route(crm_org(), b),
	    crm_user()), NULL, b);
END
$$;

-- Give visible lead `p_id` of the bound organisation to whom the
-- assignment rules say now (unchanged when none matches), and return it.
-- SECURITY DEFINER for the same reason as crm_lead_new_routed; the caller
-- established that they may change the lead.
CREATE FUNCTION crm_lead_reroute(p_id uuid) RETURNS leads
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	l	leads;
	o	uuid;
BEGIN
	SELECT * INTO l FROM leads WHERE id = p_id AND org_id = crm_org();
	o := crm_lead_route(l.org_id, to_jsonb(l));
	IF o IS NOT NULL AND o <> l.owner_id THEN
		UPDATE leads SET owner_id = o, status = status WHERE id = p_id;
		SELECT * INTO l FROM leads WHERE id = p_id;
	END IF;
	RETURN l;
END
$$;

-- --- leads: the API ----------------------------------------------------------

-- POST /v1/leads: owned by owner_id when given (owner rules as for
-- customers), else by the assignment rules' choice, else by the caller.
-- 403/422 for an owner the caller may not name, 409 for a duplicate
-- external_id.
CREATE FUNCTION api_leads_create(p jsonb, b jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	l	leads;
BEGIN
	PERFORM crm_bind(p);
	IF b ? 'owner_id' THEN
		PERFORM crm_lead_owner_check((b->>'owner_id')::uuid);
		l := crm_lead_new(crm_org(), (b->>'owner_id')::uuid, NULL, b);
	ELSE
		l := crm_lead_new_routed(b);
	END IF;
	RETURN lead_json(l)::text;
END
$$;

-- POST /v1/leads/{id}/assign {owner_id?}: with owner_id a manual
-- reassignment (owner rules as for create: 403/422), without it the
-- assignment rules run again (the owner stays when none matches). 404
-- when the caller cannot see the lead, 409 when it is converted (its
-- customer carries the ownership on). The audit trigger records the
-- owner change.
CREATE FUNCTION api_leads_assign(p jsonb, p_id uuid, b jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	cur	leads;
	l	leads;
BEGIN
	PERFORM crm_bind(p);
	SELECT * INTO cur FROM leads WHERE id = p_id AND deleted_at IS NULL
	FOR UPDATE;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF cur.status = 'converted' THEN
		PERFORM crm_raise('409', 'A converted lead keeps its owner; '
		    'reassign its customer instead.');
	END IF;
	IF b ? 'owner_id' THEN
		PERFORM crm_lead_owner_check((b->>'owner_id')::uuid);
		UPDATE leads SET owner_id = (b->>'owner_id')::uuid,
		    status = status
		WHERE id = p_id;
		SELECT * INTO l FROM leads WHERE id = p_id;
	ELSE
		l := crm_lead_reroute(p_id);
	END IF;
	RETURN lead_json(l)::text;
END
$$;

-- GET /v1/leads/{id}
CREATE FUNCTION api_leads_get(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	RETURN (SELECT lead_json(l) FROM leads l
	    WHERE id = p_id AND deleted_at IS NULL)::text;
END
$$;

-- PATCH /v1/leads/{id}: JSON merge patch, If-Match optional (412 when
-- stale). A status change obeys the status machine (409 naming the
-- allowed next statuses; converted only through /convert); disqualifying
-- needs disqualified_reason (422). 404 when the caller cannot see it.
CREATE FUNCTION api_leads_update(p jsonb, p_id uuid, b jsonb,
    p_if_match integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	cur	leads;
	want	text;
	reason	text;
BEGIN
	PERFORM crm_bind(p);
	SELECT * INTO cur FROM leads WHERE id = p_id AND deleted_at IS NULL
	FOR UPDATE;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF p_if_match IS NOT NULL AND p_if_match <> cur.version THEN
		PERFORM crm_raise('412', 'The lead changed since you read it '
		    '(version ' || cur.version || ').');
	END IF;
	IF b ? 'owner_id' THEN
		PERFORM crm_lead_owner_check((b->>'owner_id')::uuid);
	END IF;
	want := coalesce(b->>'status', cur.status);
	reason := crm_lead_transition(cur, want,
	    CASE WHEN b ? 'disqualified_reason' THEN b->>'disqualified_reason'
	    WHEN want = cur.status THEN cur.disqualified_reason END);
	BEGIN
		-- status is always named: the history trigger (UPDATE OF
		-- status) then sees every change, automatic ones included.
		UPDATE leads SET
		    name = CASE WHEN b ? 'name' THEN b->>'name' ELSE name END,
		    company = CASE WHEN b ? 'company' THEN b->>'company'
			ELSE company END,
		    title = CASE WHEN b ? 'title' THEN b->>'title' ELSE title END,
		    phone = CASE WHEN b ? 'phone' THEN b->>'phone' ELSE phone END,
		    email = CASE WHEN b ? 'email' THEN b->>'email' ELSE email END,
		    source = CASE WHEN b ? 'source' THEN b->>'source'
			ELSE source END,
		    campaign_id = CASE WHEN b ? 'campaign_id' THEN
			(b->>'campaign_id')::uuid ELSE campaign_id END,
		    industry = CASE WHEN b ? 'industry' THEN b->>'industry'
			ELSE industry END,
		    region = CASE WHEN b ? 'region' THEN b->>'region'
			ELSE region END,
		    province = CASE WHEN b ? 'province' THEN b->>'province'
			ELSE province END,
		    city = CASE WHEN b ? 'city' THEN b->>'city' ELSE city END,
		    notes = CASE WHEN b ? 'notes' THEN b->>'notes' ELSE notes END,
		    owner_id = CASE WHEN b ? 'owner_id' THEN
			(b->>'owner_id')::uuid ELSE owner_id END,
		    external_id = CASE WHEN b ? 'external_id' THEN
			b->>'external_id' ELSE external_id END,
		    status = want,
		    disqualified_reason = reason
		WHERE id = p_id;
	EXCEPTION WHEN unique_violation THEN
		PERFORM crm_raise('409', 'A lead with this external_id already '
		    'exists.');
	END;
	RETURN (SELECT lead_json(l) FROM leads l WHERE id = p_id)::text;
END
$$;

-- Move visible lead `p_id` to `want` (the shortcut actions), with
-- `reason` for a disqualification. NULL when the caller cannot see it;
-- 409/422 as crm_lead_transition says.
CREATE FUNCTION crm_lead_move(p_id uuid, want text, reason text)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	cur	leads;
	keep	text;
BEGIN
	SELECT * INTO cur FROM leads WHERE id = p_id AND deleted_at IS NULL
	FOR UPDATE;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	keep := crm_lead_transition(cur, want, reason);
	UPDATE leads SET status = want, disqualified_reason = keep
	WHERE id = p_id;
	RETURN (SELECT lead_json(l) FROM leads l WHERE id = p_id)::text;
END
$$;

-- POST /v1/leads/{id}/qualify {to: mql|sql}
CREATE FUNCTION api_leads_qualify(p jsonb, p_id uuid, b jsonb) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	RETURN crm_lead_move(p_id, b->>'to', NULL);
END
$$;

-- POST /v1/leads/{id}/disqualify {reason}
CREATE FUNCTION api_leads_disqualify(p jsonb, p_id uuid, b jsonb)
RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	RETURN crm_lead_move(p_id, 'disqualified', b->>'reason');
END
$$;

-- DELETE /v1/leads/{id}: soft delete; If-Match optional (412 when stale).
CREATE FUNCTION api_leads_delete(p jsonb, p_id uuid, p_if_match integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	cur	leads;
BEGIN
	PERFORM crm_bind(p);
	SELECT * INTO cur FROM leads WHERE id = p_id AND deleted_at IS NULL
	FOR UPDATE;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF p_if_match IS NOT NULL AND p_if_match <> cur.version THEN
		PERFORM crm_raise('412', 'The lead changed since you read it '
		    '(version ' || cur.version || ').');
	END IF;
	UPDATE leads SET deleted_at = now() WHERE id = p_id;
	RETURN '{}';
END
$$;

-- GET /v1/leads/{id}/history: status changes, oldest first.
CREATE FUNCTION api_leads_history(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	IF NOT EXISTS (SELECT 1 FROM leads WHERE id = p_id
	    AND deleted_at IS NULL) THEN
		RETURN NULL;
	END IF;
	RETURN json_build_object('data', coalesce((SELECT json_agg(
	    json_build_object('from_status', h.from_status,
		'to_status', h.to_status, 'changed_by', h.changed_by,
		'changed_at', h.changed_at) ORDER BY h.id)
	    FROM lead_status_history h WHERE h.lead_id = p_id), '[]'))::text;
END
$$;

-- GET /v1/leads: newest first, keyset pages over (created_at, id); the
-- filters of f were checked by the server. q is a substring of the name,
-- company, phone or email (Chinese included), case-insensitive.
CREATE FUNCTION api_leads_list(p jsonb, f jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	lim	integer := coalesce((f->>'limit')::int, 50);
	q	text := lower(f->>'q');
	cur_t	timestamptz;
	cur_i	text;
	rows	json;
	nxt	text;
BEGIN
	PERFORM crm_bind(p);
	IF f ? 'cursor' THEN
		SELECT t, i INTO cur_t, cur_i FROM crm_cursor_decode(f->>'cursor');
	END IF;
	WITH page AS (
		SELECT l, l.created_at, l.id, row_number() OVER (ORDER BY
		    l.created_at DESC, l.id DESC) AS n
		FROM leads l
		WHERE l.deleted_at IS NULL
		  AND (NOT f ? 'status' OR l.status = f->>'status')
		  AND (NOT f ? 'owner_id' OR l.owner_id = (f->>'owner_id')::uuid)
		  AND (NOT f ? 'source' OR l.source = f->>'source')
		  AND (NOT f ? 'campaign_id' OR
		       l.campaign_id = (f->>'campaign_id')::uuid)
		  AND (NOT f ? 'grade' OR l.grade = f->>'grade')
		  AND (q IS NULL OR strpos(lower(concat_ws(' ', l.name,
		       l.company, l.phone, l.email)), q) > 0)
		  AND (NOT f ? 'created_after' OR
		       l.created_at >= (f->>'created_after')::timestamptz)
		  AND (NOT f ? 'created_before' OR
		       l.created_at < (f->>'created_before')::timestamptz)
		  AND (cur_t IS NULL OR (l.created_at, l.id) <
		       (cur_t, cur_i::uuid))
		ORDER BY l.created_at DESC, l.id DESC
		LIMIT lim + 1
	)
	SELECT coalesce(json_agg(lead_json(page.l) ORDER BY n)
		FILTER (WHERE n <= lim), '[]'),
	    CASE WHEN count(*) > lim THEN (array_agg(crm_cursor_encode(
		page.created_at, page.id::text)) FILTER (WHERE n = lim))[1] END
	INTO rows, nxt
	FROM page;
	RETURN json_build_object('data', rows, 'next_cursor', nxt)::text;
END
$$;

-- --- scoring rules and grading: the API (admin configures) -------------------

-- The public shape of a scoring rule.
CREATE FUNCTION lead_scoring_rule_json(r lead_scoring_rules) RETURNS json
LANGUAGE sql STABLE AS $$
	SELECT json_build_object('id', r.id, 'kind', r.kind, 'field', r.field,
	    'op', r.op, 'value', r.value, 'activity_type', r.activity_type,
	    'points', r.points, 'created_at', r.created_at,
	    'updated_at', r.updated_at, 'version', r.version)
$$;

-- The field errors of scoring rule `m` (a whole rule: the body, or the
-- stored rule with the patch applied); [] when it is consistent. A field
-- rule names field and op, and a value unless op is present; an activity
-- rule names activity_type and nothing of a field rule.
CREATE FUNCTION crm_lead_scoring_rule_errors(m jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	e	jsonb := '[]';
	f	text;
BEGIN
	IF m->>'kind' = 'field' THEN
		IF m->>'field' IS NULL THEN
			e := e || crm_field_error('field', 'required',
			    'A field rule names its field.');
		END IF;
		IF m->>'op' IS NULL THEN
			e := e || crm_field_error('op', 'required',
			    'A field rule names its op: eq, contains or present.');
		ELSIF m->>'op' = 'present' AND m->>'value' IS NOT NULL THEN
			e := e || crm_field_error('value', 'not_allowed',
			    'op present takes no value.');
		ELSIF m->>'op' <> 'present' AND m->>'value' IS NULL THEN
			e := e || crm_field_error('value', 'required',
			    'op ' || (m->>'op') || ' needs a value.');
		END IF;
		IF m->>'activity_type' IS NOT NULL THEN
			e := e || crm_field_error('activity_type', 'not_allowed',
			    'A field rule has no activity_type.');
		END IF;
	ELSE
		IF m->>'activity_type' IS NULL THEN
			e := e || crm_field_error('activity_type', 'required',
			    'An activity rule names its activity_type.');
		END IF;
		FOREACH f IN ARRAY ARRAY['field', 'op', 'value'] LOOP
			IF m->>f IS NOT NULL THEN
				e := e || crm_field_error(f, 'not_allowed',
				    'An activity rule has no ' || f || '.');
			END IF;
		END LOOP;
	END IF;
	RETURN e;
END
$$;

-- GET /v1/lead-scoring-rules: the organisation's rules, oldest first.
CREATE FUNCTION api_lead_scoring_rules_list(p jsonb) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	RETURN json_build_object('data', coalesce((SELECT json_agg(
	    lead_scoring_rule_json(r) ORDER BY r.created_at, r.id)
	    FROM lead_scoring_rules r), '[]'), 'next_cursor', NULL)::text;
END
$$;

-- POST /v1/lead-scoring-rules (admin; 403 otherwise): 422 listing every
-- inconsistency; the organisation's open leads are rescored in the same
-- statement.
CREATE FUNCTION api_lead_scoring_rules_create(p jsonb, b jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	e	jsonb;
	r	lead_scoring_rules;
BEGIN
	PERFORM crm_bind(p);
	PERFORM crm_require_role('admin');
	e := crm_lead_scoring_rule_errors(b);
	IF jsonb_array_length(e) > 0 THEN
		PERFORM crm_raise_fields('422', 'The rule is not consistent; see '
		    'errors.', e);
	END IF;
	INSERT INTO lead_scoring_rules (org_id, kind, field, op, value,
	    activity_type, points)
	VALUES (crm_org(), b->>'kind', b->>'field', b->>'op', b->>'value',
	    b->>'activity_type', (b->>'points')::int)
	RETURNING * INTO r;
	PERFORM crm_leads_rescore();
	RETURN lead_scoring_rule_json(r)::text;
END
$$;

-- PATCH /v1/lead-scoring-rules/{id} (admin): merge patch, If-Match
-- optional; the patched rule must be consistent (422); rescores as create.
CREATE FUNCTION api_lead_scoring_rules_update(p jsonb, p_id uuid, b jsonb,
    p_if_match integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	cur	lead_scoring_rules;
	m	jsonb;
	e	jsonb;
	r	lead_scoring_rules;
BEGIN
	PERFORM crm_bind(p);
	PERFORM crm_require_role('admin');
	SELECT * INTO cur FROM lead_scoring_rules WHERE id = p_id FOR UPDATE;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF p_if_match IS NOT NULL AND p_if_match <> cur.version THEN
		PERFORM crm_raise('412', 'The rule changed since you read it '
		    '(version ' || cur.version || ').');
	END IF;
	m := to_jsonb(cur) || b;
	e := crm_lead_scoring_rule_errors(m);
	IF jsonb_array_length(e) > 0 THEN
		PERFORM crm_raise_fields('422', 'The rule is not consistent; see '
		    'errors.', e);
	END IF;
	UPDATE lead_scoring_rules SET kind = m->>'kind', field = m->>'field',
	    op = m->>'op', value = m->>'value',
	    activity_type = m->>'activity_type', points = (m->>'points')::int
	WHERE id = p_id
	RETURNING * INTO r;
	PERFORM crm_leads_rescore();
	RETURN lead_scoring_rule_json(r)::text;
END
$$;

-- DELETE /v1/lead-scoring-rules/{id} (admin): the rule goes, the open
-- leads are rescored without it.
CREATE FUNCTION api_lead_scoring_rules_delete(p jsonb, p_id uuid)
RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	PERFORM crm_require_role('admin');
	DELETE FROM lead_scoring_rules WHERE id = p_id;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	PERFORM crm_leads_rescore();
	RETURN '{}';
END
$$;

-- The public shape of an organisation's thresholds.
CREATE FUNCTION lead_grading_json(p_org uuid) RETURNS json
LANGUAGE sql STABLE AS $$
	SELECT json_build_object('a', g.a, 'b', g.b, 'c', g.c,
	    'mql_score', g.mql_score)
	FROM crm_lead_grading(p_org) g
$$;

-- GET /v1/lead-grading: the thresholds (defaults when never set).
CREATE FUNCTION api_lead_grading_get(p jsonb) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	RETURN lead_grading_json(crm_org())::text;
END
$$;

-- PUT /v1/lead-grading {a, b, c, mql_score} (admin): a > b > c (422
-- otherwise). In the same statement the open leads are regraded, and
-- new or working ones that the new MQL threshold reaches (and the old one
-- did not) become mql.
CREATE FUNCTION api_lead_grading_put(p jsonb, b jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	na	integer := (b->>'a')::int;
	nb	integer := (b->>'b')::int;
	nc	integer := (b->>'c')::int;
	nt	integer := (b->>'mql_score')::int;
	ot	integer;
	e	jsonb := '[]';
BEGIN
	PERFORM crm_bind(p);
	PERFORM crm_require_role('admin');
	IF nb >= na THEN
		e := e || crm_field_error('b', 'order', 'b must be below a.');
	END IF;
	IF nc >= nb THEN
		e := e || crm_field_error('c', 'order', 'c must be below b.');
	END IF;
	IF jsonb_array_length(e) > 0 THEN
		PERFORM crm_raise_fields('422', 'The thresholds must fall from a '
		    'to c; see errors.', e);
	END IF;
	SELECT mql_score INTO ot FROM crm_lead_grading(crm_org());
	INSERT INTO lead_grading (org_id, a, b, c, mql_score)
	VALUES (crm_org(), na, nb, nc, nt)
	ON CONFLICT (org_id) DO UPDATE SET a = EXCLUDED.a, b = EXCLUDED.b,
	    c = EXCLUDED.c, mql_score = EXCLUDED.mql_score;
	UPDATE leads l SET status = CASE WHEN l.status IN ('new', 'working')
	    AND l.score >= nt AND (ot IS NULL OR l.score < ot) THEN 'mql'
	    ELSE l.status END
	WHERE l.org_id = crm_org() AND l.deleted_at IS NULL
	  AND l.status NOT IN ('converted', 'disqualified')
	  AND ((l.status IN ('new', 'working') AND l.score >= nt AND
		(ot IS NULL OR l.score < ot)) OR
	       l.grade IS DISTINCT FROM crm_lead_grade_of(l.score, na, nb, nc));
	RETURN lead_grading_json(crm_org())::text;
END
$$;

-- --- assignment rules: the API (admin configures) ----------------------------

-- The public shape of an assignment rule.
CREATE FUNCTION assignment_rule_json(r assignment_rules) RETURNS json
LANGUAGE sql STABLE AS $$
	SELECT json_build_object('id', r.id, 'name', r.name,
	    'position', r.position, 'active', r.active, 'source', r.source,
	    'industry', r.industry, 'region', r.region,
	    'province', r.province, 'city', r.city,
	    'campaign_id', r.campaign_id, 'user_id', r.user_id,
	    'round_robin_user_ids', r.round_robin_user_ids,
	    'next_index', r.next_index, 'created_at', r.created_at,
	    'updated_at', r.updated_at, 'version', r.version)
$$;

-- The users of the rotation in `j` (a JSON array or null), in its order.
CREATE FUNCTION crm_uuid_list(j jsonb) RETURNS uuid[]
LANGUAGE sql IMMUTABLE AS $$
	SELECT coalesce(ARRAY(SELECT e::uuid FROM jsonb_array_elements_text(
	    CASE WHEN jsonb_typeof(j) = 'array' THEN j ELSE '[]' END)
	    WITH ORDINALITY AS t(e, n) ORDER BY n), '{}')
$$;

-- The field errors of assignment rule `m` (a whole rule); [] when fine:
-- exactly one of user_id and round_robin_user_ids, naming active users of
-- the organisation.
CREATE FUNCTION crm_assignment_rule_errors(m jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	e	jsonb := '[]';
	rr	uuid[] := crm_uuid_list(m->'round_robin_user_ids');
	u	uuid;
BEGIN
	IF m->>'user_id' IS NULL AND cardinality(rr) = 0 THEN
		e := e || crm_field_error('user_id', 'required', 'Give user_id '
		    '(one owner) or round_robin_user_ids (a rotation).');
	ELSIF m->>'user_id' IS NOT NULL AND cardinality(rr) > 0 THEN
		e := e || crm_field_error('round_robin_user_ids', 'not_allowed',
		    'Give user_id or round_robin_user_ids, not both.');
	END IF;
	IF m->>'user_id' IS NOT NULL AND NOT EXISTS (SELECT 1 FROM users
	    WHERE id = (m->>'user_id')::uuid AND active) THEN
		e := e || crm_field_error('user_id', 'unknown', 'user_id names no '
		    'active user of this organization.');
	END IF;
	FOREACH u IN ARRAY rr LOOP
		IF NOT EXISTS (SELECT 1 FROM users WHERE id = u AND active) THEN
			e := e || crm_field_error('round_robin_user_ids',
			    'unknown', u || ' is no active user of this '
			    'organization.');
		END IF;
	END LOOP;
	RETURN e;
END
$$;

-- GET /v1/assignment-rules: in the order they are tried.
CREATE FUNCTION api_assignment_rules_list(p jsonb) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	RETURN json_build_object('data', coalesce((SELECT json_agg(
	    assignment_rule_json(r) ORDER BY r.position, r.created_at, r.id)
	    FROM assignment_rules r), '[]'), 'next_cursor', NULL)::text;
END
$$;

-- POST /v1/assignment-rules (admin; 403 otherwise): position defaults to
-- after the last rule; 422 listing every problem.
CREATE FUNCTION api_assignment_rules_create(p jsonb, b jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	e	jsonb;
	r	assignment_rules;
BEGIN
	PERFORM crm_bind(p);
	PERFORM crm_require_role('admin');
	e := crm_assignment_rule_errors(b);
	IF jsonb_array_length(e) > 0 THEN
		PERFORM crm_raise_fields('422', 'The rule is not valid; see '
		    'errors.', e);
	END IF;
	INSERT INTO assignment_rules (org_id, name, position, active, source,
	    industry, region, province, city, campaign_id, user_id,
	    round_robin_user_ids)
	VALUES (crm_org(), b->>'name', coalesce((b->>'position')::int,
	    (SELECT least(coalesce(max(position), 0) + 1, 100000)
	     FROM assignment_rules)),
	    coalesce((b->>'active')::boolean, true), b->>'source',
	    b->>'industry', b->>'region', b->>'province', b->>'city',
	    (b->>'campaign_id')::uuid, (b->>'user_id')::uuid,
	    crm_uuid_list(b->'round_robin_user_ids'))
	RETURNING * INTO r;
	RETURN assignment_rule_json(r)::text;
END
$$;

-- PATCH /v1/assignment-rules/{id} (admin): merge patch, If-Match
-- optional; a new rotation starts from its first user.
CREATE FUNCTION api_assignment_rules_update(p jsonb, p_id uuid, b jsonb,
    p_if_match integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	cur	assignment_rules;
	m	jsonb;
	e	jsonb;
	r	assignment_rules;
BEGIN
	PERFORM crm_bind(p);
	PERFORM crm_require_role('admin');
	SELECT * INTO cur FROM assignment_rules WHERE id = p_id FOR UPDATE;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF p_if_match IS NOT NULL AND p_if_match <> cur.version THEN
		PERFORM crm_raise('412', 'The rule changed since you read it '
		    '(version ' || cur.version || ').');
	END IF;
	m := to_jsonb(cur) || b;
	e := crm_assignment_rule_errors(m);
	IF jsonb_array_length(e) > 0 THEN
		PERFORM crm_raise_fields('422', 'The rule is not valid; see '
		    'errors.', e);
	END IF;
	UPDATE assignment_rules SET name = m->>'name',
	    position = (m->>'position')::int, active = (m->>'active')::boolean,
	    source = m->>'source', industry = m->>'industry',
	    region = m->>'region', province = m->>'province',
	    city = m->>'city', campaign_id = (m->>'campaign_id')::uuid,
	    user_id = (m->>'user_id')::uuid,
	    round_robin_user_ids = crm_uuid_list(m->'round_robin_user_ids'),
	    next_index = CASE WHEN crm_uuid_list(m->'round_robin_user_ids') =
		cur.round_robin_user_ids THEN next_index ELSE 0 END
	WHERE id = p_id
	RETURNING * INTO r;
	RETURN assignment_rule_json(r)::text;
END
$$;

-- DELETE /v1/assignment-rules/{id} (admin)
CREATE FUNCTION api_assignment_rules_delete(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	PERFORM crm_require_role('admin');
	DELETE FROM assignment_rules WHERE id = p_id;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	RETURN '{}';
END
$$;

-- --- conversion (R20) --------------------------------------------------------

-- The answer of a conversion: the lead and what it became.
CREATE FUNCTION crm_lead_conversion_json(l leads) RETURNS json
LANGUAGE sql STABLE AS $$
	SELECT json_build_object('lead', lead_json(l),
	    'customer_id', l.customer_id, 'contact_id', l.contact_id,
	    'opportunity_id', l.opportunity_id)
$$;

-- The field errors of what conversion body `b` names for lead owner
-- `p_owner`'s new records, with the pipeline and stage the opportunity
-- goes to (the default pipeline's first open stage unless named); [] and
-- the pair when everything can be used. customer_id must be a customer
-- the caller may change, contact_id one of its contacts.
CREATE FUNCTION crm_lead_conversion_check(b jsonb, OUT errors jsonb,
    OUT pipe uuid, OUT stage uuid)
LANGUAGE plpgsql STABLE AS $$
DECLARE
	o	jsonb := coalesce(b->'opportunity', '{}');
	cust	uuid := (b->>'customer_id')::uuid;
	cont	uuid := (b->>'contact_id')::uuid;
BEGIN
	errors := '[]';
	pipe := (o->>'pipeline_id')::uuid;
	stage := (o->>'stage_id')::uuid;
	IF cust IS NOT NULL AND NOT EXISTS (SELECT 1 FROM customers c
	    WHERE c.id = cust AND c.deleted_at IS NULL AND crm_mine(c.owner_id))
	THEN
		errors := errors || crm_field_error('customer_id', 'unknown',
		    'customer_id names no customer you may change.');
	END IF;
	IF cont IS NOT NULL AND cust IS NULL THEN
		errors := errors || crm_field_error('contact_id', 'requires',
		    'contact_id needs the customer_id it belongs to.');
	ELSIF cont IS NOT NULL AND NOT EXISTS (SELECT 1 FROM contacts
	    WHERE id = cont AND customer_id = cust AND deleted_at IS NULL) THEN
		errors := errors || crm_field_error('contact_id', 'unknown',
		    'contact_id names no contact of that customer.');
	END IF;
	IF NOT coalesce((b->>'create_opportunity')::boolean, true) THEN
		IF b ? 'opportunity' THEN
			errors := errors || crm_field_error('opportunity',
			    'not_allowed', 'opportunity needs create_opportunity '
			    'true.');
		END IF;
		pipe := NULL;
		stage := NULL;
		RETURN;
	END IF;
	IF pipe IS NULL AND stage IS NOT NULL THEN
		SELECT pipeline_id INTO pipe FROM pipeline_stages WHERE id = stage;
		IF pipe IS NULL THEN
			errors := errors || crm_field_error('opportunity.stage_id',
			    'unknown', 'stage_id names no stage.');
			RETURN;
		END IF;
	ELSIF pipe IS NULL THEN
		SELECT id INTO pipe FROM pipelines WHERE is_default AND active;
		IF pipe IS NULL THEN
			errors := errors || crm_field_error(
			    'opportunity.pipeline_id', 'required', 'There is no '
			    'default pipeline; name pipeline_id.');
			RETURN;
		END IF;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pipelines WHERE id = pipe AND active) THEN
		errors := errors || crm_field_error('opportunity.pipeline_id',
		    'unknown', 'pipeline_id names no active pipeline.');
	ELSIF stage IS NULL THEN
		SELECT id INTO stage FROM pipeline_stages
		WHERE pipeline_id = pipe AND kind = 'open'
		ORDER BY position, id LIMIT 1;
		IF stage IS NULL THEN
			errors := errors || crm_field_error(
			    'opportunity.pipeline_id', 'no_open_stage',
			    'The pipeline has no open stage.');
		END IF;
	ELSIF NOT EXISTS (SELECT 1 FROM pipeline_stages WHERE id = stage
	    AND pipeline_id = pipe) THEN
		errors := errors || crm_field_error('opportunity.stage_id',
		    'unknown', 'stage_id names no stage of the pipeline.');
	END IF;
END
$$;

-- POST /v1/leads/{id}/convert {customer_id?, contact_id?,
-- create_opportunity?, opportunity?}: in this one statement, the customer
-- (linked, or new from the lead, owned by the lead's owner), the contact
-- (linked, or new from the lead), unless create_opportunity is false an
-- opportunity (lead, campaign and source copied), and the lead becomes
-- converted. Answers {"status": 201, "body": ...} the first time and
-- {"status": 200, ...} with the same ids, writing nothing, after (the
-- lead row's lock makes concurrent conversions queue). NULL (404) when the
-- caller cannot see the lead; 403 when its owner is not in their team;
-- 409 for a disqualified lead; 422 listing what cannot be used.
CREATE FUNCTION api_leads_convert(p jsonb, p_id uuid, b jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	l	leads;
	o	jsonb := coalesce(b->'opportunity', '{}');
	chk	record;
	cust	uuid := (b->>'customer_id')::uuid;
	cont	uuid := (b->>'contact_id')::uuid;
	opp	uuid;
BEGIN
	PERFORM crm_bind(p);
	SELECT * INTO l FROM leads WHERE id = p_id AND deleted_at IS NULL
	FOR UPDATE;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF l.status = 'converted' THEN
		RETURN json_build_object('status', 200,
		    'body', crm_lead_conversion_json(l))::text;
	END IF;
	IF l.status = 'disqualified' THEN
		PERFORM crm_raise('409', 'A disqualified lead cannot be converted; '
		    'move it back to working first.');
	END IF;
	IF NOT crm_mine(l.owner_id) THEN
		PERFORM crm_raise('403', 'Only the lead''s owner, their managers '
		    'and admins convert it.');
	END IF;
	SELECT * INTO chk FROM crm_lead_conversion_check(b);
	IF jsonb_array_length(chk.errors) > 0 THEN
		PERFORM crm_raise_fields('422', 'The conversion cannot use what '
		    'it names; see errors.', chk.errors);
	END IF;

	IF cust IS NULL THEN
		INSERT INTO customers (org_id, owner_id, kind, name, industry,
		    region, province, city, phone, email, source)
		VALUES (crm_org(), l.owner_id, CASE WHEN l.company IS NULL
		    THEN 'person' ELSE 'company' END, coalesce(l.company, l.name),
		    l.industry, l.region, l.province, l.city, l.phone, l.email,
		    l.source)
		RETURNING id INTO cust;
	END IF;
	IF cont IS NULL THEN
		INSERT INTO contacts (org_id, customer_id, name, title, phones,
		    email)
		VALUES (crm_org(), cust, l.name, l.title, CASE WHEN l.phone IS NULL
		    THEN '{}' ELSE ARRAY[l.phone] END, l.email)
		RETURNING id INTO cont;
	END IF;
	IF chk.stage IS NOT NULL THEN
		INSERT INTO opportunities (org_id, owner_id, customer_id,
		    contact_id, name, pipeline_id, stage_id, amount,
		    expected_close_date, source, lead_id, campaign_id)
		VALUES (crm_org(), l.owner_id, cust, cont,
		    coalesce(o->>'name', l.company, l.name), chk.pipe, chk.stage,
		    coalesce((o->>'amount')::crm_money, 0),
		    (o->>'expected_close_date')::date, l.source, l.id,
		    l.campaign_id)
		RETURNING id INTO opp;
	END IF;
	UPDATE leads SET status = 'converted', customer_id = cust,
	    contact_id = cont, opportunity_id = opp, converted_at = now(),
	    disqualified_reason = NULL
	WHERE id = p_id;
	SELECT * INTO l FROM leads WHERE id = p_id;
	RETURN json_build_object('status', 201,
	    'body', crm_lead_conversion_json(l))::text;
END
$$;

-- --- public web forms (R20) -------------------------------------------------

-- A form an organisation embeds in its web site. Its key is random and
-- shown once; only its SHA-256 is stored (as for API keys). The key can
-- only create leads, at most rate_limit_per_minute a minute.
CREATE TABLE lead_forms (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	org_id		uuid NOT NULL REFERENCES organizations (id),
	name		text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
	source		text CHECK (length(source) <= 100),
	campaign_id	uuid,
	default_owner_id uuid NOT NULL,
	rate_limit_per_minute integer NOT NULL DEFAULT 20
			    CHECK (rate_limit_per_minute BETWEEN 1 AND 600),
	prefix		text NOT NULL,
	key_hash	text NOT NULL UNIQUE,
	created_by	uuid NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	version		integer NOT NULL DEFAULT 1,
	revoked_at	timestamptz,
	UNIQUE (org_id, id),
	FOREIGN KEY (org_id, default_owner_id) REFERENCES users (org_id, id),
	FOREIGN KEY (org_id, created_by) REFERENCES users (org_id, id)
);
CREATE INDEX lead_forms_org_idx ON lead_forms (org_id, created_at DESC);

ALTER TABLE leads ADD CONSTRAINT leads_form_fk FOREIGN KEY (org_id, form_id)
    REFERENCES lead_forms (org_id, id);
-- The rate limit counts a form's leads of the last minute.
CREATE INDEX leads_form_recent_idx ON leads (form_id, created_at)
    WHERE form_id IS NOT NULL;

ALTER TABLE lead_forms ENABLE ROW LEVEL SECURITY;
ALTER TABLE lead_forms FORCE ROW LEVEL SECURITY;
CREATE POLICY lead_forms_admin ON lead_forms FOR ALL
	USING (org_id = crm_org() AND crm_role() = 'admin')
	WITH CHECK (org_id = crm_org() AND crm_role() = 'admin');
GRANT SELECT (id, org_id, name, source, campaign_id, default_owner_id,
    rate_limit_per_minute, prefix, created_by, created_at, updated_at,
    version, revoked_at) ON lead_forms TO crm_app;
GRANT INSERT (org_id, name, source, campaign_id, default_owner_id,
    rate_limit_per_minute, prefix, key_hash, created_by) ON lead_forms
    TO crm_app;
GRANT UPDATE (revoked_at) ON lead_forms TO crm_app;

CREATE TRIGGER lead_forms_touch BEFORE UPDATE ON lead_forms
	FOR EACH ROW EXECUTE FUNCTION crm_touch();
CREATE TRIGGER lead_forms_audit AFTER INSERT OR UPDATE OR DELETE ON lead_forms
	FOR EACH ROW EXECUTE FUNCTION crm_audit_row();

-- The public shape of a form (never its key or hash).
CREATE FUNCTION lead_form_json(p_id uuid) RETURNS json
LANGUAGE sql STABLE AS $$
	SELECT json_build_object('id', id, 'name', name, 'source', source,
	    'campaign_id', campaign_id, 'default_owner_id', default_owner_id,
	    'rate_limit_per_minute', rate_limit_per_minute, 'prefix', prefix,
	    'created_by', created_by, 'created_at', created_at,
	    'revoked_at', revoked_at, 'version', version)
	FROM lead_forms WHERE id = p_id
$$;

-- POST /v1/lead-forms (admin): the server generated the key and sends
-- its prefix and hash; it adds the key itself to the answer, once. 422
-- when default_owner_id names no active user.
CREATE FUNCTION api_lead_forms_create(p jsonb, b jsonb, p_prefix text,
    p_hash text)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	nid	uuid;
BEGIN
	PERFORM crm_bind(p);
	PERFORM crm_require_role('admin');
	IF NOT EXISTS (SELECT 1 FROM users
	    WHERE id = (b->>'default_owner_id')::uuid AND active) THEN
		PERFORM crm_raise_fields('422', 'The form is not valid; see '
		    'errors.', jsonb_build_array(crm_field_error(
		    'default_owner_id', 'unknown', 'default_owner_id names no '
		    'active user of this organization.')));
	END IF;
	INSERT INTO lead_forms (org_id, name, source, campaign_id,
	    default_owner_id, rate_limit_per_minute, prefix, key_hash,
	    created_by)
	VALUES (crm_org(), b->>'name', b->>'source', (b->>'campaign_id')::uuid,
	    (b->>'default_owner_id')::uuid,
	    coalesce((b->>'rate_limit_per_minute')::int, 20), p_prefix, p_hash,
	    crm_user())
	RETURNING id INTO nid;
	RETURN lead_form_json(nid)::text;
END
$$;

-- GET /v1/lead-forms (admin): newest first, revoked ones included.
CREATE FUNCTION api_lead_forms_list(p jsonb) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	PERFORM crm_require_role('admin');
	RETURN json_build_object('data', coalesce((SELECT json_agg(
	    lead_form_json(id) ORDER BY created_at DESC, id) FROM lead_forms),
	    '[]'), 'next_cursor', NULL)::text;
END
$$;

-- DELETE /v1/lead-forms/{id} (admin): revoke; idempotent. Its key then
-- answers 404, as an unknown key does.
CREATE FUNCTION api_lead_forms_revoke(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	PERFORM crm_require_role('admin');
	UPDATE lead_forms SET revoked_at = coalesce(revoked_at, now())
	WHERE id = p_id;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	RETURN '{}';
END
$$;

-- POST /v1/forms/{form_key}/leads: public, no caller. The key (its hash,
-- `p_hash`) can only create a lead: from the form's fields of `b` (message
-- becomes notes), with the form's source and campaign, owned by whom the
-- assignment rules say, else the form's default owner. Answers only
-- {id, status}; NULL (404) for an unknown or revoked key;
-- {"retry_after": seconds} (429) when the form's leads of the last minute
-- reached its limit. Submissions of one form queue on its row, so the
-- count holds under concurrency. The audit log records the creation with
-- no actor. SECURITY DEFINER: no principal exists to bind.
CREATE FUNCTION api_lead_forms_submit(p_hash text, b jsonb, p_rid text,
    p_ip text)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	f	lead_forms;
	used	integer;
	wait	integer;
	attrs	jsonb;
	l	leads;
BEGIN
	PERFORM set_config('app.request_id', coalesce(p_rid, ''), true);
	PERFORM set_config('app.ip', coalesce(p_ip, ''), true);
	SELECT * INTO f FROM lead_forms
	WHERE key_hash = p_hash AND revoked_at IS NULL
	FOR UPDATE;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	SELECT count(*) INTO used FROM leads
	WHERE form_id = f.id AND created_at > now() - interval '1 minute';
	IF used >= f.rate_limit_per_minute THEN
		-- A place frees when the oldest of the last `limit` ages out.
		SELECT greatest(1, ceil(extract(epoch FROM created_at +
		    interval '1 minute' - now())))::int INTO wait
		FROM leads
		WHERE form_id = f.id AND created_at > now() - interval '1 minute'
		ORDER BY created_at DESC
		OFFSET f.rate_limit_per_minute - 1 LIMIT 1;
		RETURN json_build_object('retry_after', wait)::text;
	END IF;
	attrs := jsonb_strip_nulls(jsonb_build_object('name', b->>'name',
	    'company', b->>'company', 'title', b->>'title',
	    'phone', b->>'phone', 'email', b->>'email',
	    'notes', b->>'message', 'source', f.source,
	    'campaign_id', f.campaign_id));
	l := crm_lead_new(f.org_id, coalesce(crm_lead_route(f.org_id, attrs),
	    f.default_owner_id), f.id, attrs);
	RETURN json_build_object('id', l.id, 'status', l.status)::text;
END
$$;

-- --- who may call what -------------------------------------------------------

-- The helpers that act past row-level security are reached only through
-- the functions above (which run as the schema owner, or bind and check
-- the caller first).
REVOKE ALL ON FUNCTION crm_lead_score(leads) FROM PUBLIC;
REVOKE ALL ON FUNCTION crm_lead_route(uuid, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION crm_lead_new_routed(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION crm_lead_reroute(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm_lead_new_routed(jsonb),
    crm_lead_reroute(uuid) TO crm_app;
-- The one door a form key opens.
REVOKE ALL ON FUNCTION api_lead_forms_submit(text, jsonb, text, text)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_lead_forms_submit(text, jsonb, text, text)
    TO crm_app;

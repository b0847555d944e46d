-- 0020 the pipeline forecast (R28): quotas, the weighted forecast by
-- owner, team, region, stage or month, daily snapshots with the trend and
-- the forecast as it stood on a day, and slippage.
--
-- Speed: a forecast must not scan a million opportunities. The database
-- keeps forecast_rollup, one row per (owner, month, stage) with the count
-- and the amount of the opportunities in it, up to date through
-- statement-level triggers on opportunities (one upsert per statement, so
-- a bulk import pays once, not per row). Open deals count in the month of
-- their expected close date, closed ones in the month they closed (China
-- time). Probabilities and categories are joined from the live stages, so
-- an admin's change of a stage's probability shows at once. Visibility is
-- the rollup's own policy (crm_mine(owner_id)), the same as the
-- opportunities': a rep's forecast sums only their rows.

CREATE EXTENSION IF NOT EXISTS btree_gist;

-- The organisation's calendar: periods and "today" are in its time zone
-- (crm_org_timezone, 0013).
CREATE FUNCTION crm_today() RETURNS date
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT (now() AT TIME ZONE crm_org_timezone())::date
$$;

-- A period label as a half-open range of days: YYYY, YYYY-Hn, YYYY-Qn or
-- YYYY-MM. Anything else is a 422 on `field`.
CREATE FUNCTION crm_period(p text, field text DEFAULT 'period',
    OUT starts date, OUT ends date)
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	y	integer := CASE WHEN p ~ '^[0-9]{4}' THEN left(p, 4)::int END;
BEGIN
	IF y BETWEEN 1900 AND 2999 AND p ~ '^[0-9]{4}$' THEN
		starts := make_date(y, 1, 1);
		ends := make_date(y + 1, 1, 1);
	ELSIF y BETWEEN 1900 AND 2999 AND p ~ '^[0-9]{4}-H[12]$' THEN
		starts := make_date(y, 6 * right(p, 1)::int - 5, 1);
		ends := (starts + interval '6 months')::date;
	ELSIF y BETWEEN 1900 AND 2999 AND p ~ '^[0-9]{4}-Q[1-4]$' THEN
		starts := make_date(y, 3 * right(p, 1)::int - 2, 1);
		ends := (starts + interval '3 months')::date;
	ELSIF y BETWEEN 1900 AND 2999 AND p ~ '^[0-9]{4}-(0[1-9]|1[0-2])$' THEN
		starts := make_date(y, right(p, 2)::int, 1);
		ends := (starts + interval '1 month')::date;
	ELSE
		PERFORM crm_raise_fields('422', 'The query has invalid '
		    'parameters; see errors.', jsonb_build_array(
		    crm_field_error(field, 'format', field || ' must be YYYY, '
		    'YYYY-Hn, YYYY-Qn or YYYY-MM, e.g. 2026-Q4.')));
	END IF;
END
$$;

-- The label of the quarter `d` falls in, e.g. 2026-Q4: the default
-- period of forecasts.
CREATE FUNCTION crm_quarter(d date) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT to_char(d, 'YYYY') || '-Q' || to_char(d, 'Q')
$$;

-- The month an opportunity counts in: open deals by expected close date,
-- closed ones by the day they closed; an open deal without a close date
-- in the month 'infinity', which no period reaches but the open pipeline
-- counts.
CREATE FUNCTION crm_forecast_month(status text, close date,
    closed_at timestamptz)
RETURNS date
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT coalesce(date_trunc('month', CASE WHEN status = 'open' THEN
	    close ELSE (closed_at AT TIME ZONE crm_org_timezone())::date
	    END)::date, 'infinity')
$$;

-- --- the rollup ------------------------------------------------------------

-- Per (owner, month, stage, customer region): count and amount. Region ''
-- is a customer without one (a key cannot be NULL).
CREATE TABLE forecast_rollup (
	org_id		uuid NOT NULL,
	owner_id	uuid NOT NULL,
	month		date NOT NULL,
	stage_id	uuid NOT NULL,
	region		text NOT NULL,
	n		bigint NOT NULL,
	amount		numeric NOT NULL,
	PRIMARY KEY (org_id, owner_id, month, stage_id, region)
);
CREATE INDEX forecast_rollup_month_idx ON forecast_rollup (org_id, month);
ALTER TABLE forecast_rollup ENABLE ROW LEVEL SECURITY;
ALTER TABLE forecast_rollup FORCE ROW LEVEL SECURITY;
-- The policy spells crm_mine() out with each setting in a sub-SELECT: the
-- planner then reads the caller once per query (an InitPlan) instead of
-- once per row, which took a manager's forecast from 12 ms to 2.
CREATE POLICY forecast_rollup_read ON forecast_rollup FOR SELECT
	USING (org_id = (SELECT crm_org()) AND ((SELECT crm_org_wide()) OR
	    owner_id = ANY ((SELECT crm_team())::uuid[])));
GRANT SELECT ON forecast_rollup TO crm_app;

-- The statement that adds `rows` (a query over opportunity rows with two
-- more columns: s, 1 in or -1 out, and rg, the customer's region) to the
-- rollup: summed per key first, then one upsert, keys in order so that
-- concurrent statements lock them in one order. The triggers EXECUTE it
-- themselves: only their own queries see their transition tables.
CREATE FUNCTION crm_forecast_add(rows text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT format($q$
	INSERT INTO forecast_rollup AS r (org_id, owner_id, month, stage_id,
	    region, n, amount)
	SELECT o.org_id, o.owner_id, m.m, o.stage_id, coalesce(o.rg, ''),
	    sum(o.s), sum(o.s * o.amount)
	FROM (%s) o
	CROSS JOIN LATERAL (SELECT crm_forecast_month(o.status,
	    o.expected_close_date, o.closed_at) AS m) m
	WHERE o.deleted_at IS NULL
	GROUP BY 1, 2, 3, 4, 5
	HAVING sum(o.s) <> 0 OR sum(o.s * o.amount) <> 0
	ORDER BY 1, 2, 3, 4, 5
	ON CONFLICT (org_id, owner_id, month, stage_id, region) DO UPDATE
	SET n = r.n + excluded.n, amount = r.amount + excluded.amount
	$q$, rows)
$$;

-- Opportunity rows of relation `rel` with sign `s` and their customer's
-- region, as crm_forecast_add takes them.
CREATE FUNCTION crm_forecast_rows(rel text, s integer) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT format('SELECT o.*, %s AS s, c.region AS rg FROM %s o '
	    'LEFT JOIN customers c ON c.id = o.customer_id', s, rel)
$$;

-- A deal's change and its customer's change of region must not read each
-- other's rows uncommitted (the rollup would keep the deal in the old
-- region): both first take a transaction lock per customer, in customer
-- order, and read after it. The statement (run by the trigger itself,
-- which sees its transition tables) for the customer ids `q` selects.
CREATE FUNCTION crm_forecast_lock(q text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT 'SELECT count(pg_advisory_xact_lock(hashtextextended('
	    '''crm_forecast:'' || x.id, 0))) FROM (SELECT DISTINCT id FROM ('
	    || q || ') q WHERE id IS NOT NULL ORDER BY id) x'
$$;

-- The statement-level trigger on opportunities: the statement's old rows
-- out, its new rows in.
CREATE FUNCTION crm_forecast_delta() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
	EXECUTE crm_forecast_lock(CASE TG_OP
	    WHEN 'INSERT' THEN 'SELECT customer_id AS id FROM new_rows'
	    WHEN 'DELETE' THEN 'SELECT customer_id AS id FROM old_rows'
	    ELSE 'SELECT customer_id AS id FROM new_rows UNION ALL '
		'SELECT customer_id FROM old_rows' END);
	EXECUTE crm_forecast_add(CASE TG_OP
	    WHEN 'INSERT' THEN crm_forecast_rows('new_rows', 1)
	    WHEN 'DELETE' THEN crm_forecast_rows('old_rows', -1)
	    ELSE crm_forecast_rows('new_rows', 1) || ' UNION ALL ' ||
		crm_forecast_rows('old_rows', -1) END);
	RETURN NULL;
END
$$;
CREATE TRIGGER opportunities_forecast_ins AFTER INSERT ON opportunities
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_forecast_delta();
CREATE TRIGGER opportunities_forecast_upd AFTER UPDATE ON opportunities
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_forecast_delta();
CREATE TRIGGER opportunities_forecast_del AFTER DELETE ON opportunities
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_forecast_delta();

-- A customer's new region moves its opportunities' rollup rows with it.
CREATE FUNCTION crm_forecast_region() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM new_rows n JOIN old_rows p ON p.id = n.id
	    WHERE n.region IS DISTINCT FROM p.region) THEN
		EXECUTE crm_forecast_lock('SELECT n.id FROM new_rows n JOIN '
		    'old_rows p ON p.id = n.id WHERE n.region IS DISTINCT FROM '
		    'p.region');
		EXECUTE crm_forecast_add('SELECT o.*, x.s, x.region AS rg '
		    'FROM opportunities o JOIN (SELECT n.org_id, n.id, '
		    'n.region, 1 AS s FROM new_rows n UNION ALL SELECT '
		    'p.org_id, p.id, p.region, -1 FROM old_rows p) x '
		    'ON o.org_id = x.org_id AND o.customer_id = x.id '
		    'WHERE x.id IN (SELECT n.id FROM new_rows n JOIN old_rows p '
		    'ON p.id = n.id WHERE n.region IS DISTINCT FROM p.region)');
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER customers_forecast_region AFTER UPDATE ON customers
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_forecast_region();

-- Rebuild an organisation's rollup from the opportunities (after a bulk
-- load with triggers off, or to prove the rollup right). Schema owner only.
CREATE FUNCTION crm_forecast_rebuild(p_org uuid) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	n	bigint;
BEGIN
	DELETE FROM forecast_rollup WHERE org_id = p_org;
	EXECUTE crm_forecast_add(crm_forecast_rows(format('(SELECT * FROM '
	    'opportunities WHERE org_id = %L)', p_org), 1));
	SELECT count(*) INTO n FROM forecast_rollup WHERE org_id = p_org;
	RETURN n;
END
$$;
REVOKE ALL ON FUNCTION crm_forecast_rebuild(uuid) FROM PUBLIC;
SELECT crm_forecast_rebuild(id) FROM organizations;

-- --- quotas ------------------------------------------------------------------

-- A target per person (kind user) or per manager's team (kind team) for
-- a period. A person's periods of one kind never overlap, so a quarter's
-- quota is unambiguous: its own row, or the sum of its months'.
CREATE TABLE quotas (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	org_id		uuid NOT NULL REFERENCES organizations (id),
	user_id		uuid NOT NULL,
	kind		text NOT NULL DEFAULT 'user'
			    CHECK (kind IN ('user', 'team')),
	period		text NOT NULL,
	period_start	date NOT NULL,
	period_end	date NOT NULL,
	amount		crm_money NOT NULL,
	currency	text NOT NULL DEFAULT 'CNY'
			    CHECK (currency ~ '^[A-Z]{3}$'),
	created_by	uuid,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	version		integer NOT NULL DEFAULT 1,
	UNIQUE (org_id, id),
	FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id),
	CHECK (period_start < period_end),
	EXCLUDE USING gist (org_id WITH =, user_id WITH =, kind WITH =,
	    daterange(period_start, period_end) WITH &&)
);
CREATE INDEX quotas_period_idx ON quotas (org_id, period_start, user_id);

-- Who may set `target`'s quotas: admins and executives anyone's, managers
-- those of the people below them (never their own).
CREATE FUNCTION crm_quota_setter(target uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
	SELECT crm_role() IN ('admin', 'executive') OR
	    (crm_role() = 'sales_manager' AND target = ANY (crm_team()) AND
	    target <> crm_user())
$$;

-- People read their own quotas, managers their team's, org-wide roles all.
ALTER TABLE quotas ENABLE ROW LEVEL SECURITY;
ALTER TABLE quotas FORCE ROW LEVEL SECURITY;
CREATE POLICY quotas_read ON quotas FOR SELECT
	USING (org_id = crm_org() AND crm_mine(user_id));
CREATE POLICY quotas_insert ON quotas FOR INSERT
	WITH CHECK (org_id = crm_org() AND crm_quota_setter(user_id));
CREATE POLICY quotas_update ON quotas FOR UPDATE
	USING (org_id = crm_org() AND crm_quota_setter(user_id))
	WITH CHECK (org_id = crm_org() AND crm_quota_setter(user_id));
CREATE POLICY quotas_delete ON quotas FOR DELETE
	USING (org_id = crm_org() AND crm_quota_setter(user_id));
GRANT SELECT, INSERT, UPDATE, DELETE ON quotas TO crm_app;
CREATE TRIGGER quotas_touch BEFORE UPDATE ON quotas
	FOR EACH ROW EXECUTE FUNCTION crm_touch();
CREATE TRIGGER quotas_audit AFTER INSERT OR UPDATE OR DELETE ON quotas
	FOR EACH ROW EXECUTE FUNCTION crm_audit_row();

-- The public shape of a quota, with its attainment so far: closed-won
-- amount in the period (the person's, or the whole team's below the
-- manager for a team quota) over the quota.
CREATE FUNCTION quota_json(q quotas) RETURNS json
LANGUAGE sql STABLE AS $$
	WITH RECURSIVE team(id) AS (
		SELECT q.user_id
		UNION
		SELECT u.id FROM users u JOIN team t ON u.manager_id = t.id
		WHERE q.kind = 'team'
	), won AS (
		SELECT coalesce(sum(r.amount), 0) AS a
		FROM forecast_rollup r JOIN pipeline_stages s ON s.id = r.stage_id
		WHERE r.org_id = q.org_id AND r.owner_id IN (SELECT id FROM team)
		  AND r.month >= q.period_start AND r.month < q.period_end
		  AND s.kind = 'won'
	)
	SELECT json_build_object('id', q.id, 'user_id', q.user_id,
	    'kind', q.kind, 'period', q.period,
	    'period_start', q.period_start, 'period_end', q.period_end,
	    'amount', crm_money_text(q.amount), 'currency', q.currency,
	    'closed_won', crm_money_text(won.a),
	    'attainment', CASE WHEN q.amount > 0 THEN
		round(won.a / q.amount, 4)::text END,
	    'created_by', q.created_by, 'created_at', q.created_at,
	    'updated_at', q.updated_at, 'version', q.version)
	FROM won
$$;

-- Refuse a quota the caller may not set: 422 for a user who is not an
-- active member of the organisation, 403 for someone outside their reach.
CREATE FUNCTION crm_quota_target(target uuid, kind text) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM users WHERE id = target AND active) THEN
		PERFORM crm_raise_fields('422', 'The request has invalid '
		    'fields; see errors.', jsonb_build_array(crm_field_error(
		    'user_id', 'unknown', 'user_id names no active user of '
		    'this organization.')));
	END IF;
	IF kind = 'team' AND NOT EXISTS (SELECT 1 FROM users
	    WHERE manager_id = target) THEN
		PERFORM crm_raise_fields('422', 'The request has invalid '
		    'fields; see errors.', jsonb_build_array(crm_field_error(
		    'kind', 'no_team', 'A team quota needs a user who manages '
		    'someone.')));
	END IF;
	IF NOT crm_quota_setter(target) THEN
		PERFORM crm_raise('403', 'Managers set the quotas of the people '
		    'below them; admins and executives anyone''s.');
	END IF;
END
$$;

-- POST /v1/quotas {user_id, kind, period, amount, currency}
CREATE FUNCTION api_quotas_create(p jsonb, b jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	per	record;
	q	quotas;
BEGIN
	PERFORM crm_bind(p);
	SELECT * INTO per FROM crm_period(b->>'period', 'period');
	PERFORM crm_quota_target((b->>'user_id')::uuid,
	    coalesce(b->>'kind', 'user'));
	BEGIN
		INSERT INTO quotas (org_id, user_id, kind, period,
		    period_start, period_end, amount, currency, created_by)
		VALUES (crm_org(), (b->>'user_id')::uuid,
		    coalesce(b->>'kind', 'user'), b->>'period', per.starts,
		    per.ends, (b->>'amount')::numeric,
		    coalesce(b->>'currency', 'CNY'), crm_user())
		RETURNING * INTO q;
	EXCEPTION WHEN exclusion_violation THEN
		PERFORM crm_raise('409', 'This user already has a quota of '
		    'this kind for a period overlapping ' || (b->>'period') ||
		    '.');
	END;
	RETURN quota_json(q)::text;
END
$$;

-- GET /v1/quotas?period=&user_id=&kind=: quotas within the period, by
-- start and user; keyset pages.
CREATE FUNCTION api_quotas_list(p jsonb, f jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	lim	integer := coalesce((f->>'limit')::int, 50);
	per	record;
	cur_t	timestamptz;
	cur_i	text;
	rows	json;
	nxt	text;
BEGIN
	PERFORM crm_bind(p);
	IF f ? 'period' THEN
		SELECT * INTO per FROM crm_period(f->>'period');
	END IF;
	IF f ? 'cursor' THEN
		SELECT t, i INTO cur_t, cur_i FROM crm_cursor_decode(f->>'cursor');
	END IF;
	WITH page AS (
		SELECT q, q.created_at, q.id, row_number() OVER (ORDER BY
		    q.created_at, q.id) AS n
		FROM quotas q
		WHERE (per.starts IS NULL OR (q.period_start >= per.starts AND
			q.period_end <= per.ends))
		  AND (NOT f ? 'user_id' OR q.user_id = (f->>'user_id')::uuid)
		  AND (NOT f ? 'kind' OR q.kind = f->>'kind')
		  AND (cur_t IS NULL OR (q.created_at, q.id) >
		       (cur_t, cur_i::uuid))
		ORDER BY q.created_at, q.id
		LIMIT lim + 1
	)
	SELECT coalesce(json_agg(quota_json(page.q) ORDER BY n)
		FILTER (WHERE n <= lim), '[]'),
	    CASE WHEN count(*) > lim THEN (array_agg(crm_cursor_encode(
		page.created_at, page.id::text)) FILTER (WHERE n = lim))[1] END
	INTO rows, nxt
	FROM page;
	RETURN json_build_object('data', rows, 'next_cursor', nxt)::text;
END
$$;

-- GET /v1/quotas/{id}
CREATE FUNCTION api_quotas_get(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	RETURN (SELECT quota_json(q) FROM quotas q WHERE id = p_id)::text;
END
$$;

-- PATCH /v1/quotas/{id} {amount, currency}: If-Match optional.
CREATE FUNCTION api_quotas_update(p jsonb, p_id uuid, b jsonb,
    p_if_match integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	cur	quotas;
	q	quotas;
BEGIN
	PERFORM crm_bind(p);
	SELECT * INTO cur FROM quotas WHERE id = p_id;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF NOT crm_quota_setter(cur.user_id) THEN
		PERFORM crm_raise('403', 'You may read this quota but not '
		    'change it.');
	END IF;
	-- Locked only now: FOR UPDATE applies the update policy, which would
	-- turn the 403 above into a 404.
	SELECT * INTO cur FROM quotas WHERE id = p_id FOR UPDATE;
	IF p_if_match IS NOT NULL AND p_if_match <> cur.version THEN
		PERFORM crm_raise('412', 'The quota changed since you read it '
		    '(version ' || cur.version || ').');
	END IF;
	UPDATE quotas SET
	    amount = CASE WHEN b ? 'amount' THEN (b->>'amount')::numeric
		ELSE amount END,
	    currency = CASE WHEN b ? 'currency' THEN b->>'currency'
		ELSE currency END
	WHERE id = p_id
	RETURNING * INTO q;
	RETURN quota_json(q)::text;
END
$$;

-- DELETE /v1/quotas/{id}: quotas are configuration, removed for good
-- (the audit log keeps what they were).
CREATE FUNCTION api_quotas_delete(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	cur	quotas;
BEGIN
	PERFORM crm_bind(p);
	SELECT * INTO cur FROM quotas WHERE id = p_id;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF NOT crm_quota_setter(cur.user_id) THEN
		PERFORM crm_raise('403', 'You may read this quota but not '
		    'remove it.');
	END IF;
	DELETE FROM quotas WHERE id = p_id;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	RETURN '{}';
END
$$;

-- --- snapshots, the trend, and the forecast as of a day -----------------------

-- A copy of the rollup as it stood on `snapshot_date`, with the stages'
-- probabilities and categories of that day, a year back and a year ahead.
CREATE TABLE forecast_snapshots (
	org_id		uuid NOT NULL,
	snapshot_date	date NOT NULL,
	owner_id	uuid NOT NULL,
	month		date NOT NULL,
	stage_id	uuid NOT NULL,
	region		text NOT NULL,
	n		bigint NOT NULL,
	amount		numeric NOT NULL,
	probability	integer NOT NULL,
	forecast_category text NOT NULL,
	kind		text NOT NULL,
	PRIMARY KEY (org_id, snapshot_date, owner_id, month, stage_id, region)
);
CREATE INDEX forecast_snapshots_month_idx ON forecast_snapshots (org_id,
    month, snapshot_date);
ALTER TABLE forecast_snapshots ENABLE ROW LEVEL SECURITY;
ALTER TABLE forecast_snapshots FORCE ROW LEVEL SECURITY;
CREATE POLICY forecast_snapshots_read ON forecast_snapshots FOR SELECT
	USING (org_id = (SELECT crm_org()) AND ((SELECT crm_org_wide()) OR
	    owner_id = ANY ((SELECT crm_team())::uuid[])));
CREATE POLICY forecast_snapshots_take ON forecast_snapshots FOR INSERT
	WITH CHECK (org_id = crm_org() AND crm_org_wide());
CREATE POLICY forecast_snapshots_retake ON forecast_snapshots FOR DELETE
	USING (org_id = crm_org() AND crm_org_wide());
GRANT SELECT, INSERT, DELETE ON forecast_snapshots TO crm_app;

-- POST /v1/forecast/snapshots: today's snapshot of the organisation (for
-- a scheduler with an API key, or an admin). Idempotent per day: taking
-- it again replaces the day's rows with the current ones.
CREATE FUNCTION api_forecast_snapshot(p jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	today	date;
	n	bigint;
BEGIN
	PERFORM crm_bind(p);
	IF NOT crm_org_wide() THEN
		PERFORM crm_raise('403', 'Forecast snapshots are taken by '
		    'admins, executives and integrations.');
	END IF;
	today := crm_today();
	-- One snapshot at a time per organisation: a second caller waits and
	-- then replaces the day's rows, instead of colliding on them.
	PERFORM pg_advisory_xact_lock(hashtext('crm.snapshot'),
	    hashtext(crm_org()::text));
	DELETE FROM forecast_snapshots WHERE org_id = crm_org()
	    AND snapshot_date = today;
	INSERT INTO forecast_snapshots (org_id, snapshot_date, owner_id,
	    month, stage_id, region, n, amount, probability,
	    forecast_category, kind)
	SELECT r.org_id, today, r.owner_id, r.month, r.stage_id, r.region,
	    r.n, r.amount, s.probability, s.forecast_category, s.kind
	FROM forecast_rollup r JOIN pipeline_stages s ON s.id = r.stage_id
	WHERE r.org_id = crm_org() AND r.n <> 0
	  AND r.month >= (date_trunc('month', today) - interval '12 months')
	  AND r.month < (date_trunc('month', today) + interval '13 months');
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN json_build_object('snapshot_date', today, 'rows', n,
	    'taken_at', now())::text;
END
$$;

-- --- the forecast ------------------------------------------------------------

-- The members of two JSON objects as one object, in order (json keeps
-- the order in which members were written; jsonb would sort them).
CREATE FUNCTION crm_json_merge(a json, b json) RETURNS json
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN a::text ~ '^\{\s*\}$' THEN b
	    WHEN b::text ~ '^\{\s*\}$' THEN a
	    ELSE (left(rtrim(a::text), -1) || ', ' ||
		substr(ltrim(b::text), 2))::json END
$$;

-- The figures of one group of rollup-shaped rows as the API shows them.
CREATE FUNCTION crm_forecast_figures(cnt numeric, amount numeric,
    weighted numeric, pipeline numeric, best numeric, commit_ numeric,
    closed numeric, omitted numeric, won numeric, quota numeric)
RETURNS json
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT json_build_object('count', coalesce(cnt, 0),
	    'amount', crm_money_text(coalesce(amount, 0)),
	    'weighted_amount', crm_money_text(round(coalesce(weighted, 0), 2)),
	    'by_category', json_build_object(
		'pipeline', crm_money_text(coalesce(pipeline, 0)),
		'best_case', crm_money_text(coalesce(best, 0)),
		'commit', crm_money_text(coalesce(commit_, 0)),
		'closed', crm_money_text(coalesce(closed, 0)),
		'omitted', crm_money_text(coalesce(omitted, 0))),
	    'closed_won', crm_money_text(coalesce(closed, 0)),
	    'won_count', coalesce(won, 0),
	    'quota', crm_money_text(quota),
	    'attainment', CASE WHEN quota > 0 THEN
		round(coalesce(closed, 0) / quota, 4)::text END)
$$;

-- GET /v1/forecast?period=&group_by=owner|team|region|stage|month
-- &pipeline_id=&as_of=: for the deals the caller can see, per group: open
-- deals expected to close in the period (count, amount, weighted amount =
-- amount x stage probability / 100, rounded to the cent once per group),
-- amounts per forecast category, deals won in the period (closed_won), and
-- the quota beside them; then the total. `as_of` reads the day's snapshot
-- instead of the live rollup. Team = the owner's manager (or the owner,
-- for someone without one); a team's quota is its team quota, else the
-- sum of its members' quotas. total.quota is the sum of the visible
-- personal quotas. One statement over the rollup; RLS decides whose rows.
CREATE FUNCTION api_forecast(p jsonb, f jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	g	text := coalesce(f->>'group_by', 'owner');
	as_of	date := (f->>'as_of')::date;
	pipe	uuid := (f->>'pipeline_id')::uuid;
	per	record;
	result	json;
BEGIN
	PERFORM crm_bind(p);
	f := f || jsonb_build_object('period', coalesce(f->>'period',
	    crm_quarter(crm_today())));
	SELECT * INTO per FROM crm_period(f->>'period');
	IF as_of > crm_today() THEN
		PERFORM crm_raise_fields('422', 'The query has invalid '
		    'parameters; see errors.', jsonb_build_array(
		    crm_field_error('as_of', 'range', 'as_of cannot be in the '
		    'future.')));
	END IF;

	WITH r AS (
		SELECT x.owner_id, x.month, x.stage_id, x.region, x.n,
		    x.amount, s.probability, s.forecast_category AS cat, s.kind
		FROM forecast_rollup x
		JOIN pipeline_stages s ON s.id = x.stage_id
		WHERE as_of IS NULL AND x.org_id = crm_org()
		  AND x.month >= per.starts AND x.month < per.ends
		  AND x.n <> 0 AND (pipe IS NULL OR s.pipeline_id = pipe)
		UNION ALL
		SELECT x.owner_id, x.month, x.stage_id, x.region, x.n,
		    x.amount, x.probability, x.forecast_category, x.kind
		FROM forecast_snapshots x
		JOIN pipeline_stages s ON s.id = x.stage_id
		WHERE as_of IS NOT NULL AND x.org_id = crm_org()
		  AND x.snapshot_date = as_of AND x.month >= per.starts
		  AND x.month < per.ends
		  AND (pipe IS NULL OR s.pipeline_id = pipe)
	), figures AS (
		SELECT CASE g WHEN 'owner' THEN r.owner_id::text
		    WHEN 'team' THEN coalesce(u.manager_id, u.id)::text
		    WHEN 'stage' THEN r.stage_id::text
		    WHEN 'month' THEN to_char(r.month, 'YYYY-MM')
		    ELSE nullif(r.region, '') END AS key,
		    sum(n) FILTER (WHERE kind = 'open') AS cnt,
		    sum(amount) FILTER (WHERE kind = 'open') AS amount,
		    sum(amount * probability) FILTER (WHERE kind = 'open') / 100
			AS weighted,
		    sum(amount) FILTER (WHERE cat = 'pipeline') AS pipeline,
		    sum(amount) FILTER (WHERE cat = 'best_case') AS best,
		    sum(amount) FILTER (WHERE cat = 'commit') AS commit_,
		    sum(amount) FILTER (WHERE kind = 'won') AS closed,
		    sum(amount) FILTER (WHERE kind = 'lost') AS omitted,
		    sum(n) FILTER (WHERE kind = 'won') AS won
		FROM r JOIN users u ON u.id = r.owner_id
		GROUP BY 1
	), personal AS (
		SELECT q.user_id, sum(q.amount) AS amount
		FROM quotas q
		WHERE g IN ('owner', 'team') AND q.kind = 'user'
		  AND q.period_start >= per.starts AND q.period_end <= per.ends
		GROUP BY q.user_id
	), quota AS (
		SELECT q.user_id::text AS key, q.amount FROM personal q
		WHERE g = 'owner'
		UNION ALL
		SELECT coalesce(t.key, m.key), coalesce(t.amount, m.amount)
		FROM (SELECT q.user_id::text AS key, sum(q.amount) AS amount
		    FROM quotas q WHERE q.kind = 'team'
		      AND q.period_start >= per.starts
		      AND q.period_end <= per.ends
		    GROUP BY q.user_id) t
		FULL JOIN (SELECT coalesce(u.manager_id, u.id)::text AS key,
			sum(q.amount) AS amount
		    FROM personal q JOIN users u ON u.id = q.user_id
		    GROUP BY 1) m ON m.key = t.key
		WHERE g = 'team'
	), members AS (
		-- A manager's or a rep's forecast by owner has a row for
		-- every member of their team, even one with nothing yet.
		SELECT id::text AS key FROM users
		WHERE g = 'owner' AND NOT crm_org_wide() AND active
		  AND id = ANY (crm_team())
	), groups AS (
		SELECT k.key, x.cnt, x.amount, x.weighted, x.pipeline, x.best,
		    x.commit_, x.closed, x.omitted, x.won, q.amount AS quota,
		    CASE WHEN g IN ('owner', 'team') THEN u.name
			WHEN g = 'stage' THEN s.name
			ELSE coalesce(k.key, '未填写') END AS label,
		    s.position
		FROM (SELECT key FROM figures UNION SELECT key FROM quota
		    UNION SELECT key FROM members) k
		LEFT JOIN figures x ON x.key IS NOT DISTINCT FROM k.key
		LEFT JOIN quota q ON q.key = k.key
		LEFT JOIN users u ON g IN ('owner', 'team')
		    AND u.id::text = k.key
		LEFT JOIN pipeline_stages s ON g = 'stage'
		    AND s.id::text = k.key
	)
	SELECT json_build_object('period', f->>'period',
	    'period_start', per.starts, 'period_end', per.ends,
	    'group_by', g, 'as_of', as_of,
	    'groups', coalesce((SELECT json_agg(crm_json_merge(
		json_build_object('key', x.key, 'label', x.label),
		crm_forecast_figures(x.cnt, x.amount, x.weighted, x.pipeline,
		x.best, x.commit_, x.closed, x.omitted, x.won, x.quota))
		ORDER BY x.position, CASE WHEN g IN ('owner', 'team') THEN
		x.label END, x.key NULLS LAST) FROM groups x), '[]'),
	    'total', crm_json_merge(json_build_object('key', NULL,
		'label', '合计'), crm_forecast_figures(sum(x.cnt),
		sum(x.amount), sum(x.weighted), sum(x.pipeline), sum(x.best),
		sum(x.commit_), sum(x.closed), sum(x.omitted), sum(x.won),
		(SELECT sum(amount) FROM quotas
		 WHERE kind = 'user' AND period_start >= per.starts
		   AND period_end <= per.ends))))
	INTO result
	FROM figures x;
	RETURN result::text;
END
$$;

-- GET /v1/forecast/trend?period=&owner_id=&from=&to=: how the forecast
-- for the period moved, one point per snapshot day (oldest first), over
-- the owners the caller can see (or one of them).
CREATE FUNCTION api_forecast_trend(p jsonb, f jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	per	record;
	result	json;
BEGIN
	PERFORM crm_bind(p);
	f := f || jsonb_build_object('period', coalesce(f->>'period',
	    crm_quarter(crm_today())));
	SELECT * INTO per FROM crm_period(f->>'period');
	SELECT coalesce(json_agg(crm_json_merge(json_build_object('date', d),
	    crm_forecast_figures(cnt, amount, weighted, pipeline, best,
	    commit_, closed, omitted, won, NULL)) ORDER BY d), '[]')
	INTO result
	FROM (SELECT x.snapshot_date AS d,
		sum(n) FILTER (WHERE kind = 'open') AS cnt,
		sum(amount) FILTER (WHERE kind = 'open') AS amount,
		sum(amount * probability) FILTER (WHERE kind = 'open') / 100
		    AS weighted,
		sum(amount) FILTER (WHERE forecast_category = 'pipeline')
		    AS pipeline,
		sum(amount) FILTER (WHERE forecast_category = 'best_case')
		    AS best,
		sum(amount) FILTER (WHERE forecast_category = 'commit')
		    AS commit_,
		sum(amount) FILTER (WHERE kind = 'won') AS closed,
		sum(amount) FILTER (WHERE kind = 'lost') AS omitted,
		sum(n) FILTER (WHERE kind = 'won') AS won
	    FROM forecast_snapshots x
	    WHERE x.org_id = crm_org() AND x.month >= per.starts
	      AND x.month < per.ends
	      AND (NOT f ? 'owner_id' OR x.owner_id = (f->>'owner_id')::uuid)
	      AND (NOT f ? 'from' OR x.snapshot_date >= (f->>'from')::date)
	      AND (NOT f ? 'to' OR x.snapshot_date <= (f->>'to')::date)
	    GROUP BY x.snapshot_date) s;
	RETURN json_build_object('period', f->>'period', 'points',
	    result)::text;
END
$$;

-- --- slippage ------------------------------------------------------------------

CREATE TABLE opportunity_close_date_changes (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	org_id		uuid NOT NULL,
	opportunity_id	uuid NOT NULL,
	from_date	date,
	to_date		date,
	changed_by	uuid,
	changed_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	FOREIGN KEY (org_id, opportunity_id)
	    REFERENCES opportunities (org_id, id)
);
CREATE INDEX opportunity_close_date_changes_idx ON
    opportunity_close_date_changes (org_id, from_date, changed_at);
ALTER TABLE opportunity_close_date_changes ENABLE ROW LEVEL SECURITY;
ALTER TABLE opportunity_close_date_changes FORCE ROW LEVEL SECURITY;
CREATE POLICY opportunity_close_date_changes_read ON
    opportunity_close_date_changes FOR SELECT
	USING (org_id = crm_org() AND EXISTS (
	    SELECT 1 FROM opportunities o WHERE o.id = opportunity_id));
GRANT SELECT ON opportunity_close_date_changes TO crm_app;

CREATE FUNCTION crm_opportunity_close_date() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
	INSERT INTO opportunity_close_date_changes (org_id, opportunity_id,
	    from_date, to_date, changed_by)
	VALUES (NEW.org_id, NEW.id, OLD.expected_close_date,
	    NEW.expected_close_date, crm_user());
	RETURN NULL;
END
$$;
CREATE TRIGGER opportunities_close_date AFTER UPDATE OF expected_close_date
	ON opportunities FOR EACH ROW
	WHEN (OLD.expected_close_date IS DISTINCT FROM NEW.expected_close_date)
	EXECUTE FUNCTION crm_opportunity_close_date();

-- GET /v1/forecast/slippage?period=&since=: open deals the caller can see
-- whose expected close date was moved out of the period (on or after
-- `since`, if given) and is still outside it; the latest such move of
-- each, with the amount that slipped.
CREATE FUNCTION api_forecast_slippage(p jsonb, f jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	per	record;
	since	timestamptz;
	result	json;
BEGIN
	PERFORM crm_bind(p);
	f := f || jsonb_build_object('period', coalesce(f->>'period',
	    crm_quarter(crm_today())));
	SELECT * INTO per FROM crm_period(f->>'period');
	since := (f->>'since')::date::timestamp AT TIME ZONE crm_org_timezone();
	WITH moves AS (
		SELECT DISTINCT ON (h.opportunity_id) h.*
		FROM opportunity_close_date_changes h
		WHERE h.org_id = crm_org() AND h.from_date >= per.starts
		  AND h.from_date < per.ends
		  AND (since IS NULL OR h.changed_at >= since)
		  AND (h.to_date IS NULL OR h.to_date < per.starts OR
		       h.to_date >= per.ends)
		ORDER BY h.opportunity_id, h.id DESC
	), slipped AS (
		SELECT o, m.from_date, m.changed_at, m.changed_by
		FROM moves m JOIN opportunities o ON o.id = m.opportunity_id
		WHERE o.deleted_at IS NULL AND o.status = 'open'
		  AND (o.expected_close_date IS NULL OR
		       o.expected_close_date < per.starts OR
		       o.expected_close_date >= per.ends)
	)
	SELECT json_build_object('period', f->>'period',
	    'count', count(*),
	    'amount', crm_money_text(coalesce(sum((s.o).amount), 0)),
	    'data', coalesce(json_agg(json_build_object(
		'opportunity_id', (s.o).id, 'name', (s.o).name,
		'owner_id', (s.o).owner_id, 'customer_id', (s.o).customer_id,
		'stage_id', (s.o).stage_id,
		'amount', crm_money_text((s.o).amount),
		'from_date', s.from_date,
		'to_date', (s.o).expected_close_date,
		'direction', CASE WHEN (s.o).expected_close_date < per.starts
		    THEN 'earlier' ELSE 'later' END,
		'changed_at', s.changed_at, 'changed_by', s.changed_by)
		ORDER BY (s.o).amount DESC, (s.o).id), '[]'))
	INTO result
	FROM slipped s;
	RETURN result::text;
END
$$;

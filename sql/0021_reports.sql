-- 0021 sales and customer analytics (R29, R50-R53): sales performance by
-- owner, team, region or month; customer value (RFM), value change,
-- problem customers, churn and customers at risk; the executive
-- dashboard. Every report sums what the caller may see (row-level
-- security on the underlying tables) in one statement, with exact
-- decimals, and can be had as CSV (Accept: text/csv).

-- Closed deals by the day they closed, and lists of an organisation's
-- orders by date.
CREATE INDEX opportunities_closed_idx ON opportunities (org_id, closed_at)
    WHERE closed_at IS NOT NULL AND deleted_at IS NULL;
CREATE INDEX orders_date_idx ON orders (org_id, order_date)
    WHERE status IN ('confirmed', 'fulfilled');

-- The period of a report's query `f` (default: the current quarter), as
-- days and as the instants they begin and end in the organisation's
-- time zone.
CREATE FUNCTION crm_report_period(f jsonb, OUT label text, OUT starts date,
    OUT ends date, OUT t0 timestamptz, OUT t1 timestamptz)
LANGUAGE plpgsql STABLE AS $$
BEGIN
	label := coalesce(f->>'period', crm_quarter(crm_today()));
	SELECT p.starts, p.ends INTO starts, ends FROM crm_period(label) p;
	t0 := starts::timestamp AT TIME ZONE crm_org_timezone();
	t1 := ends::timestamp AT TIME ZONE crm_org_timezone();
END
$$;

-- A ratio with 4 decimals, NULL when there is nothing to divide by.
CREATE FUNCTION crm_ratio(a numeric, b numeric) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN b > 0 THEN round(a / b, 4)::text END
$$;

-- --- sales performance (R29) -------------------------------------------------

-- GET /v1/reports/sales-performance?period=&group_by=owner|team|region|
-- month&pipeline_id=: per group of the deals the caller can see: deals
-- created in the period (count, amount), deals closed in it (won and lost,
-- by the day they closed), the win rate (won / closed, by count and by
-- amount), the average won deal and the average sales cycle (days from
-- creation to winning); and for the whole set, each stage's conversion:
-- of the deals created in the period that reached a stage (by their stage
-- history), the share that went further.
CREATE FUNCTION api_reports_sales_performance(p jsonb, f jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	g	text := coalesce(f->>'group_by', 'owner');
	pipe	uuid;
	per	record;
	result	json;
BEGIN
	PERFORM crm_bind(p);
	SELECT * INTO per FROM crm_report_period(f);
	pipe := coalesce((f->>'pipeline_id')::uuid, (SELECT id FROM pipelines
	    WHERE is_default));

	WITH deals AS (
		SELECT o.*, c.region,
		    o.created_at >= per.t0 AND o.created_at < per.t1 AS created,
		    o.closed_at >= per.t0 AND o.closed_at < per.t1 AS closed
		-- A deal stays even when its customer is out of sight.
		FROM opportunities o LEFT JOIN customers c
		    ON c.id = o.customer_id
		WHERE o.deleted_at IS NULL AND o.pipeline_id = pipe
		  AND ((o.created_at >= per.t0 AND o.created_at < per.t1) OR
		       (o.closed_at >= per.t0 AND o.closed_at < per.t1))
	), keyed AS (
		-- By month, a deal counts as created in the month it was
		-- created and as won or lost in the month it closed: two rows
		-- when those differ. Every other grouping: one row.
		SELECT CASE g WHEN 'owner' THEN d.owner_id::text
		    WHEN 'team' THEN coalesce(u.manager_id, u.id)::text
		    WHEN 'month' THEN to_char(k.at AT TIME ZONE
			crm_org_timezone(), 'YYYY-MM')
		    ELSE d.region END AS key,
		    d.amount, d.status, d.created_at, d.closed_at,
		    k.created, k.closed
		FROM deals d JOIN users u ON u.id = d.owner_id
		CROSS JOIN LATERAL (
			SELECT d.created_at AS at, true AS created,
			    false AS closed
			WHERE g = 'month' AND d.created
			UNION ALL
			SELECT d.closed_at, false, true
			WHERE g = 'month' AND d.closed
			UNION ALL
			SELECT NULL, d.created, d.closed WHERE g <> 'month'
		) k
	), groups AS (
		SELECT key,
		    count(*) FILTER (WHERE created) AS created_count,
		    coalesce(sum(amount) FILTER (WHERE created), 0)
			AS created_amount,
		    count(*) FILTER (WHERE closed AND status = 'won') AS won,
		    coalesce(sum(amount) FILTER (WHERE closed AND
			status = 'won'), 0) AS won_amount,
		    count(*) FILTER (WHERE closed AND status = 'lost') AS lost,
		    coalesce(sum(amount) FILTER (WHERE closed AND
			status = 'lost'), 0) AS lost_amount,
		    avg(extract(epoch FROM closed_at - created_at) / 86400)
			FILTER (WHERE closed AND status = 'won') AS cycle
		FROM keyed GROUP BY key
	), shaped AS (
		SELECT x.*, CASE WHEN g IN ('owner', 'team') THEN u.name
		    ELSE coalesce(x.key, '未填写') END AS label
		FROM groups x
		LEFT JOIN users u ON g IN ('owner', 'team')
		    AND u.id::text = x.key
	), stages AS (
		SELECT s.id, s.name, s.position, (SELECT count(DISTINCT
			h.opportunity_id)
		    FROM opportunity_stage_history h
		    JOIN pipeline_stages t ON t.id = h.to_stage_id
		    JOIN deals d ON d.id = h.opportunity_id AND d.created
		    WHERE t.kind <> 'lost' AND t.position >= s.position)
			AS reached
		FROM pipeline_stages s
		WHERE s.pipeline_id = pipe AND s.kind <> 'lost'
	)
	SELECT json_build_object('period', per.label,
	    'period_start', per.starts, 'period_end', per.ends,
	    'group_by', g, 'pipeline_id', pipe,
	    'groups', coalesce((SELECT json_agg(crm_perf_json(x.key, x.label,
		x.created_count, x.created_amount, x.won, x.won_amount, x.lost,
		x.lost_amount, x.cycle) ORDER BY CASE WHEN g IN ('owner',
		'team') THEN x.label END, x.key NULLS LAST)
		FROM shaped x), '[]'),
	    'total', (SELECT crm_perf_json(NULL, '合计',
		coalesce(sum(x.created_count), 0)::bigint,
		coalesce(sum(x.created_amount), 0),
		coalesce(sum(x.won), 0)::bigint,
		coalesce(sum(x.won_amount), 0),
		coalesce(sum(x.lost), 0)::bigint,
		coalesce(sum(x.lost_amount), 0),
		(SELECT avg(extract(epoch FROM closed_at - created_at) / 86400)
		 FROM deals WHERE closed AND status = 'won')) FROM groups x),
	    'stages', coalesce((SELECT json_agg(json_build_object(
		'stage_id', s.id, 'name', s.name, 'position', s.position,
		'reached', s.reached, 'advanced', s.advanced,
		'conversion_rate', crm_ratio(s.advanced, s.reached))
		ORDER BY s.position)
		FROM (SELECT x.*, lead(x.reached) OVER (ORDER BY x.position)
		    AS advanced FROM stages x) s), '[]'))
	INTO result;
	RETURN result::text;
END
$$;

-- One group of the sales performance report.
CREATE FUNCTION crm_perf_json(key text, label text, created bigint,
    created_amount numeric, won bigint, won_amount numeric, lost bigint,
    lost_amount numeric, cycle numeric)
RETURNS json
LANGUAGE sql IMMUTABLE AS $$
	SELECT json_build_object('key', key, 'label', label,
	    'created_count', created,
	    'created_amount', crm_money_text(created_amount),
	    'won_count', won, 'won_amount', crm_money_text(won_amount),
	    'lost_count', lost, 'lost_amount', crm_money_text(lost_amount),
	    'win_rate', crm_ratio(won, won + lost),
	    'win_rate_by_amount', crm_ratio(won_amount, won_amount +
		lost_amount),
	    'average_deal_size', CASE WHEN won > 0 THEN
		crm_money_text(round(won_amount / won, 2)) END,
	    'average_cycle_days', round(cycle, 1))
$$;

-- --- customers: value, change, problems, churn (R33, R51, R52) ---------------

-- Revenue is what confirmed and fulfilled orders bring, by order date.

-- GET /v1/reports/customer-value?as_of=&window_days=&limit=: RFM over the
-- customers the caller can see that ordered within the window (default 365
-- days up to as_of, default today): recency (days since the last order),
-- frequency (orders) and monetary value (revenue), each scored 1-5 by
-- quintile among them (5 best), a segment from the scores, and whether the
-- customer is a key customer (flagged, or in the top fifth by value). The
-- answer counts every segment and lists the most valuable first.
CREATE FUNCTION api_reports_customer_value(p jsonb, f jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	as_of	date := coalesce((f->>'as_of')::date, crm_today());
	win	integer := coalesce((f->>'window_days')::int, 365);
	lim	integer := coalesce((f->>'limit')::int, 50);
	result	json;
BEGIN
	PERFORM crm_bind(p);
	-- Scored among exactly the customers listed (live, visible), ties
	-- broken by id, so the same data always scores the same.
	WITH base AS (
		SELECT o.customer_id, max(o.order_date) AS last_order,
		    count(*) AS frequency, sum(o.grand_total) AS monetary
		FROM orders o JOIN customers c ON c.id = o.customer_id
		WHERE o.status IN ('confirmed', 'fulfilled')
		  AND o.order_date > as_of - win AND o.order_date <= as_of
		  AND c.deleted_at IS NULL
		GROUP BY o.customer_id
	), scored AS (
		SELECT b.*, as_of - b.last_order AS recency,
		    ntile(5) OVER (ORDER BY b.last_order, b.customer_id) AS r,
		    ntile(5) OVER (ORDER BY b.frequency, b.customer_id) AS fq,
		    ntile(5) OVER (ORDER BY b.monetary, b.customer_id) AS m
		FROM base b
	), segmented AS (
		SELECT s.*, c.name, c.owner_id, c.is_key_customer OR s.m = 5
			AS is_key,
		    CASE WHEN s.r >= 4 AND s.fq >= 4 AND s.m >= 4
			THEN 'champion'
			WHEN s.r >= 3 AND s.fq >= 3 THEN 'loyal'
			WHEN s.r >= 4 AND s.fq <= 2 THEN 'new'
			WHEN s.r <= 2 AND (s.fq >= 3 OR s.m >= 3)
			THEN 'at_risk'
			WHEN s.r <= 2 THEN 'hibernating'
			ELSE 'regular' END AS segment
		FROM scored s JOIN customers c ON c.id = s.customer_id
		WHERE c.deleted_at IS NULL
	)
	SELECT json_build_object('as_of', as_of, 'window_days', win,
	    'customers', (SELECT count(*) FROM segmented),
	    'revenue', crm_money_text(coalesce((SELECT sum(monetary)
		FROM segmented), 0)),
	    'segments', (SELECT coalesce(json_object_agg(seg, n), '{}')
		FROM (SELECT segment AS seg, count(*) AS n FROM segmented
		GROUP BY 1 ORDER BY 1) x),
	    'data', coalesce((SELECT json_agg(json_build_object(
		'customer_id', x.customer_id, 'name', x.name,
		'owner_id', x.owner_id, 'last_order_date', x.last_order,
		'recency_days', x.recency, 'frequency', x.frequency,
		'monetary', crm_money_text(x.monetary),
		'r', x.r, 'f', x.fq, 'm', x.m, 'rfm', x.r::text ||
		    x.fq::text || x.m::text,
		'segment', x.segment, 'is_key_customer', x.is_key)
		ORDER BY x.monetary DESC, x.customer_id)
		FROM (SELECT * FROM segmented ORDER BY monetary DESC,
		    customer_id LIMIT lim) x), '[]'))
	INTO result;
	RETURN result::text;
END
$$;

-- GET /v1/reports/customer-value-change?period=&compare_to=&limit=: each
-- visible customer's revenue in the period and in the one compared (default
-- the period just before, of the same length), the change in money and in
-- percent: the `limit` largest risers, then the `limit` largest fallers.
CREATE FUNCTION api_reports_value_change(p jsonb, f jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	lim	integer := coalesce((f->>'limit')::int, 20);
	per	record;
	b0	date;
	b1	date;
	result	json;
BEGIN
	PERFORM crm_bind(p);
	SELECT * INTO per FROM crm_report_period(f);
	IF f ? 'compare_to' THEN
		SELECT c.starts, c.ends INTO b0, b1
		FROM crm_period(f->>'compare_to', 'compare_to') c;
	ELSE
		-- The previous month, quarter, half or year.
		b1 := per.starts;
		b0 := CASE WHEN per.label ~ '-Q' THEN (per.starts -
			interval '3 months')::date
		    WHEN per.label ~ '-H' THEN (per.starts -
			interval '6 months')::date
		    WHEN per.label ~ '^[0-9]{4}-[0-9]{2}$' THEN (per.starts -
			interval '1 month')::date
		    ELSE (per.starts - interval '1 year')::date END;
	END IF;
	WITH rev AS (
		SELECT o.customer_id,
		    coalesce(sum(o.grand_total) FILTER (WHERE o.order_date >=
			per.starts AND o.order_date < per.ends), 0) AS now_,
		    coalesce(sum(o.grand_total) FILTER (WHERE o.order_date >=
			b0 AND o.order_date < b1), 0) AS before_
		FROM orders o
		WHERE o.status IN ('confirmed', 'fulfilled')
		  AND ((o.order_date >= per.starts AND o.order_date < per.ends)
		       OR (o.order_date >= b0 AND o.order_date < b1))
		GROUP BY o.customer_id
	), rows AS (
		SELECT r.*, r.now_ - r.before_ AS change, c.name, c.owner_id
		FROM rev r JOIN customers c ON c.id = r.customer_id
		WHERE c.deleted_at IS NULL AND r.now_ <> r.before_
	)
	SELECT json_build_object('period', per.label,
	    'period_start', per.starts, 'period_end', per.ends,
	    'compare_start', b0, 'compare_end', b1,
	    'data', coalesce((SELECT json_agg(crm_change_json(x) ORDER BY
		x.change > 0 DESC, abs(x.change) DESC, x.customer_id)
		FROM ((SELECT * FROM rows
		WHERE change > 0 ORDER BY change DESC, customer_id LIMIT lim)
		UNION ALL (SELECT * FROM rows WHERE change < 0
		ORDER BY change, customer_id LIMIT lim)) x), '[]'))
	INTO result;
	RETURN result::text;
END
$$;

-- One customer's revenue change.
CREATE FUNCTION crm_change_json(x record) RETURNS json
LANGUAGE plpgsql STABLE AS $$
BEGIN
	RETURN json_build_object('customer_id', x.customer_id,
	    'name', x.name, 'owner_id', x.owner_id,
	    'revenue', crm_money_text(x.now_),
	    'previous_revenue', crm_money_text(x.before_),
	    'direction', CASE WHEN x.change > 0 THEN 'up' ELSE 'down' END,
	    'change', crm_money_text(x.change),
	    'change_percent', CASE WHEN x.before_ > 0 THEN
		round(100 * x.change / x.before_, 2)::text END);
END
$$;

-- GET /v1/reports/problem-customers?limit=: visible customers with
-- overdue payments (confirmed or fulfilled orders past their due date
-- with a balance), the amount overdue and since when, largest first.
CREATE FUNCTION api_reports_problem_customers(p jsonb, f jsonb)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	lim	integer := coalesce((f->>'limit')::int, 50);
	today	date;
	result	json;
BEGIN
	PERFORM crm_bind(p);
	today := crm_today();
	WITH overdue AS (
		SELECT o.customer_id, count(*) AS orders,
		    sum(o.grand_total - o.amount_paid) AS amount,
		    min(o.due_date) AS since
		FROM orders o
		WHERE o.status IN ('confirmed', 'fulfilled')
		  AND o.payment_status <> 'paid' AND o.due_date < today
		GROUP BY o.customer_id
	)
	SELECT json_build_object('as_of', today,
	    'customers', count(*),
	    'overdue_amount', crm_money_text(coalesce(sum(x.amount), 0)),
	    'data', coalesce(json_agg(json_build_object(
		'customer_id', x.customer_id, 'name', c.name,
		'owner_id', c.owner_id, 'reasons', json_build_array(
		    'overdue_payment'),
		'overdue_orders', x.orders,
		'overdue_amount', crm_money_text(x.amount),
		'overdue_since', x.since, 'days_overdue', today - x.since)
		ORDER BY x.amount DESC, x.customer_id)
		FILTER (WHERE x.rank <= lim), '[]'))
	INTO result
	FROM (SELECT o.*, row_number() OVER (ORDER BY o.amount DESC,
		o.customer_id) AS rank FROM overdue o
	    JOIN customers c ON c.id = o.customer_id
	    WHERE c.deleted_at IS NULL) x
	JOIN customers c ON c.id = x.customer_id;
	RETURN result::text;
END
$$;

-- GET /v1/reports/churn?window_days=&as_of=&limit=: of the visible
-- customers that ordered in the window before the last one, the share
-- that did not order in the last (the churn rate); and the customers at
-- risk: those that have ordered before but have neither ordered nor been
-- in touch (an activity) within the window, most valuable first.
CREATE FUNCTION api_reports_churn(p jsonb, f jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	as_of	date := coalesce((f->>'as_of')::date, crm_today());
	win	integer := coalesce((f->>'window_days')::int, 180);
	lim	integer := coalesce((f->>'limit')::int, 50);
	since	timestamptz;
	result	json;
BEGIN
	PERFORM crm_bind(p);
	since := (as_of - win + 1)::timestamp AT TIME ZONE crm_org_timezone();
	WITH per_customer AS (
		SELECT o.customer_id, max(o.order_date) AS last_order,
		    sum(o.grand_total) AS lifetime,
		    bool_or(o.order_date > as_of - 2 * win AND
			o.order_date <= as_of - win) AS before_,
		    bool_or(o.order_date > as_of - win AND
			o.order_date <= as_of) AS now_
		FROM orders o
		WHERE o.status IN ('confirmed', 'fulfilled')
		  AND o.order_date <= as_of
		GROUP BY o.customer_id
	), live AS (
		SELECT x.*, c.name, c.owner_id,
		    (SELECT max(a.occurred_at) FROM activities a
		     WHERE a.customer_id = x.customer_id
		       AND a.deleted_at IS NULL) AS last_touch
		FROM per_customer x JOIN customers c ON c.id = x.customer_id
		WHERE c.deleted_at IS NULL
	), risk AS (
		SELECT * FROM live
		WHERE NOT now_ AND (last_touch IS NULL OR last_touch < since)
	)
	SELECT json_build_object('as_of', as_of, 'window_days', win,
	    'active_before', (SELECT count(*) FROM live WHERE before_),
	    'retained', (SELECT count(*) FROM live WHERE before_ AND now_),
	    'churned', (SELECT count(*) FROM live WHERE before_ AND NOT now_),
	    'churn_rate', crm_ratio((SELECT count(*) FROM live
		WHERE before_ AND NOT now_), (SELECT count(*) FROM live
		WHERE before_)),
	    'at_risk', (SELECT count(*) FROM risk),
	    'data', coalesce((SELECT json_agg(json_build_object(
		'customer_id', r.customer_id, 'name', r.name,
		'owner_id', r.owner_id, 'last_order_date', r.last_order,
		'last_activity_at', r.last_touch,
		'days_since_order', as_of - r.last_order,
		'lifetime_revenue', crm_money_text(r.lifetime))
		ORDER BY r.lifetime DESC, r.customer_id)
		FROM (SELECT * FROM risk ORDER BY lifetime DESC, customer_id
		    LIMIT lim) r), '[]'))
	INTO result;
	RETURN result::text;
END
$$;

-- --- the executive dashboard (R50) ---------------------------------------------

-- GET /v1/dashboard?months=: over what the caller can see: revenue by
-- month (confirmed and fulfilled orders) and deals won by month, the last
-- `months` months (default 12) including this one; new customers by month;
-- the open pipeline (all open deals: amount and weighted); this quarter's
-- win rate; and this quarter's forecast against quota (the forecast's own
-- total).
CREATE FUNCTION api_dashboard(p jsonb, f jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	n	integer := coalesce((f->>'months')::int, 12);
	first	date;
	tz	text := crm_org_timezone();
	q	record;
	fc	json;
	result	json;
BEGIN
	PERFORM crm_bind(p);
	first := (date_trunc('month', crm_today()) -
	    make_interval(months => n - 1))::date;
	SELECT * INTO q FROM crm_report_period('{}');
	fc := api_forecast(p, '{"group_by": "owner"}')::json;
	WITH months AS (
		SELECT m::date AS m FROM generate_series(first,
		    date_trunc('month', crm_today()), interval '1 month') m
	), revenue AS (
		SELECT date_trunc('month', o.order_date)::date AS m,
		    sum(o.grand_total) AS amount, count(*) AS orders
		FROM orders o
		WHERE o.status IN ('confirmed', 'fulfilled')
		  AND o.order_date >= first
		GROUP BY 1
	), won AS (
		SELECT r.month AS m, sum(r.amount) AS amount, sum(r.n) AS deals
		FROM forecast_rollup r JOIN pipeline_stages s ON s.id = r.stage_id
		WHERE r.org_id = crm_org() AND s.kind = 'won'
		  AND r.month >= first
		GROUP BY 1
	), fresh AS (
		SELECT date_trunc('month', c.created_at AT TIME ZONE tz)::date
		    AS m, count(*) AS n
		FROM customers c
		WHERE c.deleted_at IS NULL
		  AND c.created_at >= first::timestamp AT TIME ZONE tz
		GROUP BY 1
	)
	SELECT json_build_object('as_of', crm_today(), 'months', n,
	    'trend', (SELECT json_agg(json_build_object(
		'month', to_char(x.m, 'YYYY-MM'),
		'revenue', crm_money_text(coalesce(r.amount, 0)),
		'orders', coalesce(r.orders, 0),
		'won_amount', crm_money_text(coalesce(w.amount, 0)),
		'won_deals', coalesce(w.deals, 0),
		'new_customers', coalesce(c.n, 0)) ORDER BY x.m)
		FROM months x LEFT JOIN revenue r ON r.m = x.m
		LEFT JOIN won w ON w.m = x.m LEFT JOIN fresh c ON c.m = x.m),
	    'pipeline', (SELECT json_build_object(
		'open_deals', coalesce(sum(o.n), 0),
		'amount', crm_money_text(coalesce(sum(o.amount), 0)),
		'weighted_amount', crm_money_text(round(coalesce(sum(
		    o.amount * s.probability), 0) / 100, 2)))
		FROM forecast_rollup o JOIN pipeline_stages s
		ON s.id = o.stage_id
		WHERE o.org_id = crm_org() AND s.kind = 'open'),
	    'quarter', json_build_object('period', q.label,
		'win_rate', (SELECT crm_ratio(count(*) FILTER (WHERE
		    status = 'won'), count(*))
		    FROM opportunities
		    WHERE deleted_at IS NULL AND status <> 'open'
		      AND closed_at >= q.t0 AND closed_at < q.t1),
		'forecast', fc->'total'))
	INTO result;
	RETURN result::text;
END
$$;

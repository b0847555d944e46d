-- 0015 orders, payments, periodical subscriptions and their deliveries
-- (R27; 002: 期刊征订, 发刊管理). One customer has many orders; an order
-- copies its lines from the catalogue and its totals are computed here,
-- exactly; payments reduce its balance; a line of a subscription product
-- starts a subscription in the same transaction; deliveries record the
-- issues sent to a subscriber; renewing a subscription creates the next
-- one and its order in one statement.
--
-- Orders and subscriptions are owned records: whoever works on the owner's
-- records (crm_mine) reads and changes them; the service role reads all of
-- them (customer history, R4) and changes none. Lines, payments and
-- deliveries are visible exactly when their order or subscription is.
-- Contracts come from another migration: orders.contract_id has no
-- foreign key here.

-- --- shared rules -----------------------------------------------------------

-- Whether the bound caller may change records owned by `owner`: as
-- crm_mine, except that the service role only reads orders.
CREATE FUNCTION crm_order_writer(owner uuid) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT crm_mine(owner) AND crm_role() IS DISTINCT FROM 'service'
$$;

-- The field error for `v` unless it is a decimal string that is not
-- negative, with at most `decimals` places and `digits` digits before the
-- point (the same rules and codes as CRM_T_DECIMAL in src/validate.c);
-- NULL when it is one.
CREATE FUNCTION crm_order_decimal_error(field text, v jsonb,
    decimals integer, digits integer)
RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE
	    WHEN jsonb_typeof(v) IS DISTINCT FROM 'string' THEN
		crm_field_error(field, 'type', format('''%s'' must be a decimal '
		    'string such as "12.50" (never a JSON number).', field))
	    WHEN v #>> '{}' ~ '^-[0-9.]+$' THEN
		crm_field_error(field, 'range', format('''%s'' cannot be '
		    'negative.', field))
	    WHEN v #>> '{}' !~ '^[0-9]+(\.[0-9]+)?$' THEN
		crm_field_error(field, 'format', format('''%s'' must be a '
		    'decimal such as "12.50".', field))
	    WHEN length(substring(v #>> '{}' FROM '\.([0-9]+)$')) > decimals
	    THEN
		crm_field_error(field, 'scale', format('''%s'' has at most %s '
		    'decimal places.', field, decimals))
	    WHEN length(ltrim(split_part(v #>> '{}', '.', 1), '0')) > digits
	    THEN
		crm_field_error(field, 'range', format('''%s'' has at most %s '
		    'digits before the point.', field, digits))
	END
$$;

-- `s` as a date when it is a real YYYY-MM-DD day, else NULL.
CREATE FUNCTION crm_order_date_or_null(s text) RETURNS date
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	IF s IS NULL OR s !~ '^\d{4}-\d{2}-\d{2}$' THEN
		RETURN NULL;
	END IF;
	RETURN s::date;
EXCEPTION WHEN OTHERS THEN
	RETURN NULL;
END
$$;

-- How long one period of a subscription product lasts.
CREATE FUNCTION crm_subscription_period(period text) RETURNS interval
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE period WHEN 'weekly' THEN interval '1 week'
	    WHEN 'monthly' THEN interval '1 month'
	    WHEN 'bimonthly' THEN interval '2 months'
	    WHEN 'quarterly' THEN interval '3 months'
	    WHEN 'yearly' THEN interval '1 year' END
$$;

-- --- tables -----------------------------------------------------------------

-- The last order number given per organisation and year. Reached only
-- through crm_order_number (SECURITY DEFINER); its row lock serialises
-- concurrent orders, and a rolled-back order gives its number back.
CREATE TABLE order_numbers (
	org_id		uuid NOT NULL REFERENCES organizations (id),
	year		integer NOT NULL,
	last		integer NOT NULL,
	PRIMARY KEY (org_id, year)
);
ALTER TABLE order_numbers ENABLE ROW LEVEL SECURITY;
ALTER TABLE order_numbers FORCE ROW LEVEL SECURITY;

-- The next number of the bound caller's organisation for an order dated
-- `d`: SO-2026-000001, SO-2026-000002, ... gapless, per year.
CREATE FUNCTION crm_order_number(d date) RETURNS text
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
	INSERT INTO order_numbers AS n (org_id, year, last)
	VALUES (crm_org(), extract(year FROM d)::integer, 1)
	ON CONFLICT (org_id, year) DO UPDATE SET last = n.last + 1
	RETURNING format('SO-%s-%s', n.year, lpad(n.last::text, 6, '0'))
$$;

CREATE TABLE orders (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	org_id		uuid NOT NULL REFERENCES organizations (id),
	number		text NOT NULL,
	owner_id	uuid NOT NULL,
	customer_id	uuid NOT NULL,
	opportunity_id	uuid,
	-- The contract it fulfils (0014); the foreign key comes at merge.
	contract_id	uuid,
	order_date	date NOT NULL DEFAULT current_date,
	due_date	date,
	currency	text NOT NULL DEFAULT 'CNY'
			    CHECK (currency ~ '^[A-Z]{3}$'),
	status		text NOT NULL DEFAULT 'pending' CHECK (status IN
			    ('pending', 'confirmed', 'fulfilled', 'cancelled')),
	-- Sums of the lines, kept by the api_orders_* functions.
	subtotal	crm_money NOT NULL DEFAULT 0,
	tax_total	crm_money NOT NULL DEFAULT 0,
	grand_total	crm_money NOT NULL DEFAULT 0,
	amount_paid	crm_money NOT NULL DEFAULT 0,
	payment_status	text GENERATED ALWAYS AS (CASE
			    WHEN amount_paid >= grand_total THEN 'paid'
			    WHEN amount_paid > 0 THEN 'partial'
			    ELSE 'unpaid' END) STORED,
	-- The terms of the subscriptions its lines start (start_date,
	-- periods, contact_id, delivery_address, auto_renew), kept so that
	-- a pending order's lines can be replaced.
	subscription_terms jsonb,
	external_id	text CHECK (length(external_id) <= 100),
	notes		text CHECK (length(notes) <= 10000),
	cancel_reason	text CHECK (length(cancel_reason) <= 500),
	confirmed_at	timestamptz,
	fulfilled_at	timestamptz,
	cancelled_at	timestamptz,
	created_by	uuid,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	version		integer NOT NULL DEFAULT 1,
	UNIQUE (org_id, id),
	UNIQUE (org_id, number),
	FOREIGN KEY (org_id, owner_id) REFERENCES users (org_id, id),
	FOREIGN KEY (org_id, customer_id) REFERENCES customers (org_id, id),
	FOREIGN KEY (org_id, opportunity_id)
	    REFERENCES opportunities (org_id, id),
	CHECK (grand_total = subtotal + tax_total),
	CHECK (amount_paid <= grand_total),
	CHECK (due_date IS NULL OR due_date >= order_date)
);
CREATE UNIQUE INDEX orders_external_id_key ON orders (org_id, external_id)
    WHERE external_id IS NOT NULL;
CREATE INDEX orders_owner_page_idx ON orders (org_id, owner_id,
    created_at DESC, id DESC);
CREATE INDEX orders_org_page_idx ON orders (org_id, created_at DESC, id DESC);
CREATE INDEX orders_customer_idx ON orders (org_id, customer_id,
    created_at DESC);
-- Receivables: what is still owed, by due date.
CREATE INDEX orders_receivable_idx ON orders (org_id, due_date)
    WHERE payment_status <> 'paid' AND status <> 'cancelled';

CREATE TABLE subscriptions (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	org_id		uuid NOT NULL REFERENCES organizations (id),
	owner_id	uuid NOT NULL,
	customer_id	uuid NOT NULL,
	-- The recipient.
	contact_id	uuid,
	product_id	uuid NOT NULL,
	order_id	uuid NOT NULL,
	-- Copies of each issue.
	quantity	integer NOT NULL CHECK (quantity BETWEEN 1 AND 1000000),
	start_date	date NOT NULL,
	-- The last day covered: start + periods x period - 1 day, so that a
	-- renewal starts the day after.
	end_date	date NOT NULL,
	periods		integer NOT NULL CHECK (periods BETWEEN 1 AND 120),
	-- periods x the product's issues_per_period, at the time of the order.
	issues_expected	integer NOT NULL CHECK (issues_expected >= 1),
	-- 'expired' is computed from end_date (crm_subscription_status),
	-- never stored, so it cannot go stale.
	status		text NOT NULL DEFAULT 'active'
			    CHECK (status IN ('active', 'cancelled')),
	cancelled_at	timestamptz,
	auto_renew	boolean NOT NULL DEFAULT false,
	renewed_from_id	uuid,
	delivery_address text CHECK (length(delivery_address) <= 500),
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	version		integer NOT NULL DEFAULT 1,
	UNIQUE (org_id, id),
	FOREIGN KEY (org_id, owner_id) REFERENCES users (org_id, id),
	FOREIGN KEY (org_id, customer_id) REFERENCES customers (org_id, id),
	FOREIGN KEY (org_id, contact_id) REFERENCES contacts (org_id, id),
	FOREIGN KEY (org_id, product_id) REFERENCES products (org_id, id),
	FOREIGN KEY (org_id, order_id) REFERENCES orders (org_id, id),
	FOREIGN KEY (org_id, renewed_from_id)
	    REFERENCES subscriptions (org_id, id),
	CHECK (end_date >= start_date),
	CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL))
);
-- A subscription is renewed once: the second renewal fails here even when
-- two arrive at the same time.
CREATE UNIQUE INDEX subscriptions_renewed_from_key ON subscriptions
    (org_id, renewed_from_id) WHERE renewed_from_id IS NOT NULL;
CREATE INDEX subscriptions_page_idx ON subscriptions (org_id,
    created_at DESC, id DESC);
CREATE INDEX subscriptions_customer_idx ON subscriptions (org_id,
    customer_id);
CREATE INDEX subscriptions_order_idx ON subscriptions (org_id, order_id);
-- The renewal campaign: active subscriptions by end date.
CREATE INDEX subscriptions_ending_idx ON subscriptions (org_id, end_date, id)
    WHERE status = 'active';

CREATE TABLE order_lines (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	org_id		uuid NOT NULL REFERENCES organizations (id),
	order_id	uuid NOT NULL,
	position	integer NOT NULL CHECK (position BETWEEN 1 AND 1000),
	product_id	uuid NOT NULL,
	-- Copied from the catalogue when the line was written.
	sku		text NOT NULL,
	name		text NOT NULL,
	unit		text NOT NULL,
	tax_rate	numeric(5, 2) NOT NULL CHECK (tax_rate BETWEEN 0 AND 100),
	unit_price	crm_money NOT NULL,
	quantity	numeric(12, 3) NOT NULL CHECK (quantity > 0),
	discount_percent numeric(5, 2) NOT NULL DEFAULT 0
			    CHECK (discount_percent BETWEEN 0 AND 100),
	-- round(quantity x unit_price x (1 - discount/100), 2) and
	-- round(net x tax_rate/100, 2).
	net		crm_money NOT NULL,
	tax		crm_money NOT NULL,
	subscription_id	uuid,
	created_at	timestamptz NOT NULL DEFAULT now(),
	UNIQUE (org_id, id),
	UNIQUE (order_id, position),
	FOREIGN KEY (org_id, order_id) REFERENCES orders (org_id, id),
	FOREIGN KEY (org_id, product_id) REFERENCES products (org_id, id),
	FOREIGN KEY (org_id, subscription_id)
	    REFERENCES subscriptions (org_id, id)
);
CREATE INDEX order_lines_product_idx ON order_lines (org_id, product_id);

CREATE TABLE order_payments (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	org_id		uuid NOT NULL REFERENCES organizations (id),
	order_id	uuid NOT NULL,
	amount		crm_money NOT NULL CHECK (amount > 0),
	paid_at		timestamptz NOT NULL DEFAULT now(),
	method		text CHECK (method IN ('bank_transfer', 'cash', 'card',
			    'alipay', 'wechat_pay', 'cheque', 'other')),
	reference	text CHECK (length(reference) <= 100),
	recorded_by	uuid,
	created_at	timestamptz NOT NULL DEFAULT now(),
	UNIQUE (org_id, id),
	FOREIGN KEY (org_id, order_id) REFERENCES orders (org_id, id)
);
CREATE INDEX order_payments_order_idx ON order_payments (org_id, order_id,
    paid_at, id);

CREATE TABLE deliveries (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	org_id		uuid NOT NULL REFERENCES organizations (id),
	subscription_id	uuid NOT NULL,
	-- The issue as printed: 2026年第12期.
	issue		text NOT NULL CHECK (length(issue) BETWEEN 1 AND 100),
	issue_date	date NOT NULL,
	quantity	integer NOT NULL CHECK (quantity BETWEEN 1 AND 1000000),
	status		text NOT NULL DEFAULT 'planned' CHECK (status IN
			    ('planned', 'shipped', 'delivered', 'returned')),
	tracking_no	text CHECK (length(tracking_no) <= 100),
	shipped_at	timestamptz,
	delivered_at	timestamptz,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	version		integer NOT NULL DEFAULT 1,
	UNIQUE (org_id, id),
	-- One issue once per subscription.
	UNIQUE (org_id, subscription_id, issue),
	FOREIGN KEY (org_id, subscription_id)
	    REFERENCES subscriptions (org_id, id)
);
CREATE INDEX deliveries_subscription_idx ON deliveries (org_id,
    subscription_id, issue_date, id);

-- --- row-level security -----------------------------------------------------

ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE orders FORCE ROW LEVEL SECURITY;
CREATE POLICY orders_read ON orders FOR SELECT
	USING (org_id = crm_org() AND (crm_mine(owner_id) OR
	    crm_role() = 'service'));
CREATE POLICY orders_insert ON orders FOR INSERT
	WITH CHECK (org_id = crm_org() AND crm_order_writer(owner_id));
CREATE POLICY orders_update ON orders FOR UPDATE
	USING (org_id = crm_org() AND crm_order_writer(owner_id))
	WITH CHECK (org_id = crm_org() AND crm_order_writer(owner_id));
GRANT SELECT, INSERT, UPDATE ON orders TO crm_app;

ALTER TABLE subscriptions ENABLE ROW LEVEL SECURITY;
ALTER TABLE subscriptions FORCE ROW LEVEL SECURITY;
CREATE POLICY subscriptions_read ON subscriptions FOR SELECT
	USING (org_id = crm_org() AND (crm_mine(owner_id) OR
	    crm_role() = 'service'));
CREATE POLICY subscriptions_insert ON subscriptions FOR INSERT
	WITH CHECK (org_id = crm_org() AND crm_order_writer(owner_id));
CREATE POLICY subscriptions_update ON subscriptions FOR UPDATE
	USING (org_id = crm_org() AND crm_order_writer(owner_id))
	WITH CHECK (org_id = crm_org() AND crm_order_writer(owner_id));
-- Only a pending order's lines are replaced, and their subscriptions
-- with them.
CREATE POLICY subscriptions_delete ON subscriptions FOR DELETE
	USING (org_id = crm_org() AND crm_order_writer(owner_id));
GRANT SELECT, INSERT, UPDATE, DELETE ON subscriptions TO crm_app;

-- The subqueries run under the orders and subscriptions policies above.
ALTER TABLE order_lines ENABLE ROW LEVEL SECURITY;
ALTER TABLE order_lines FORCE ROW LEVEL SECURITY;
CREATE POLICY order_lines_read ON order_lines FOR SELECT
	USING (org_id = crm_org() AND EXISTS (
	    SELECT 1 FROM orders o WHERE o.id = order_id));
CREATE POLICY order_lines_insert ON order_lines FOR INSERT
	WITH CHECK (org_id = crm_org() AND EXISTS (
	    SELECT 1 FROM orders o WHERE o.id = order_id
	    AND crm_order_writer(o.owner_id)));
CREATE POLICY order_lines_delete ON order_lines FOR DELETE
	USING (org_id = crm_org() AND EXISTS (
	    SELECT 1 FROM orders o WHERE o.id = order_id
	    AND crm_order_writer(o.owner_id)));
GRANT SELECT, INSERT, DELETE ON order_lines TO crm_app;

ALTER TABLE order_payments ENABLE ROW LEVEL SECURITY;
ALTER TABLE order_payments FORCE ROW LEVEL SECURITY;
CREATE POLICY order_payments_read ON order_payments FOR SELECT
	USING (org_id = crm_org() AND EXISTS (
	    SELECT 1 FROM orders o WHERE o.id = order_id));
CREATE POLICY order_payments_insert ON order_payments FOR INSERT
	WITH CHECK (org_id = crm_org() AND EXISTS (
	    SELECT 1 FROM orders o WHERE o.id = order_id
	    AND crm_order_writer(o.owner_id)));
GRANT SELECT, INSERT ON order_payments TO crm_app;

ALTER TABLE deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY deliveries_read ON deliveries FOR SELECT
	USING (org_id = crm_org() AND EXISTS (
	    SELECT 1 FROM subscriptions s WHERE s.id = subscription_id));
CREATE POLICY deliveries_insert ON deliveries FOR INSERT
	WITH CHECK (org_id = crm_org() AND EXISTS (
	    SELECT 1 FROM subscriptions s WHERE s.id = subscription_id
	    AND crm_order_writer(s.owner_id)));
CREATE POLICY deliveries_update ON deliveries FOR UPDATE
	USING (org_id = crm_org() AND EXISTS (
	    SELECT 1 FROM subscriptions s WHERE s.id = subscription_id
	    AND crm_order_writer(s.owner_id)))
	WITH CHECK (org_id = crm_org() AND EXISTS (
	    SELECT 1 FROM subscriptions s WHERE s.id = subscription_id
	    AND crm_order_writer(s.owner_id)));
GRANT SELECT, INSERT, UPDATE ON deliveries TO crm_app;

CREATE TRIGGER orders_touch BEFORE UPDATE ON orders
	FOR EACH ROW EXECUTE FUNCTION crm_touch();
CREATE TRIGGER orders_audit AFTER INSERT OR UPDATE OR DELETE ON orders
	FOR EACH ROW EXECUTE FUNCTION crm_audit_row();
CREATE TRIGGER order_lines_audit AFTER INSERT OR UPDATE OR DELETE
	ON order_lines FOR EACH ROW EXECUTE FUNCTION crm_audit_row();
CREATE TRIGGER order_payments_audit AFTER INSERT OR UPDATE OR DELETE
	ON order_payments FOR EACH ROW EXECUTE FUNCTION crm_audit_row();
CREATE TRIGGER subscriptions_touch BEFORE UPDATE ON subscriptions
	FOR EACH ROW EXECUTE FUNCTION crm_touch();
CREATE TRIGGER subscriptions_audit AFTER INSERT OR UPDATE OR DELETE
	ON subscriptions FOR EACH ROW EXECUTE FUNCTION crm_audit_row();
CREATE TRIGGER deliveries_touch BEFORE UPDATE ON deliveries
	FOR EACH ROW EXECUTE FUNCTION crm_touch();
CREATE TRIGGER deliveries_audit AFTER INSERT OR UPDATE OR DELETE
	ON deliveries FOR EACH ROW EXECUTE FUNCTION crm_audit_row();

-- --- public shapes ----------------------------------------------------------

-- Whether an order is overdue: its due date has passed and something is
-- still owed (a cancelled order owes nothing).
CREATE FUNCTION crm_order_overdue(o orders) RETURNS boolean
LANGUAGE sql STABLE AS $$
	SELECT coalesce(o.status <> 'cancelled' AND o.due_date < current_date
	    AND o.amount_paid < o.grand_total, false)
$$;

CREATE FUNCTION order_line_json(l order_lines) RETURNS json
LANGUAGE sql STABLE AS $$
	SELECT json_build_object('id', l.id, 'position', l.position,
	    'product_id', l.product_id, 'sku', l.sku, 'name', l.name,
	    'unit', l.unit, 'quantity', l.quantity::text,
	    'unit_price', crm_money_text(l.unit_price),
	    'discount_percent', l.discount_percent::text,
	    'tax_rate', l.tax_rate::text, 'net', crm_money_text(l.net),
	    'tax', crm_money_text(l.tax),
	    'total', crm_money_text(l.net + l.tax),
	    'subscription_id', l.subscription_id)
$$;

-- The public shape of an order, with its lines (the customer overview
-- lists these).
CREATE FUNCTION order_json(o orders) RETURNS json
LANGUAGE sql STABLE AS $$
	SELECT json_build_object('id', o.id, 'number', o.number,
	    'customer_id', o.customer_id, 'owner_id', o.owner_id,
	    'opportunity_id', o.opportunity_id, 'contract_id', o.contract_id,
	    'order_date', o.order_date, 'due_date', o.due_date,
	    'currency', o.currency, 'status', o.status,
	    'subtotal', crm_money_text(o.subtotal),
	    'tax_total', crm_money_text(o.tax_total),
	    'grand_total', crm_money_text(o.grand_total),
	    'amount_paid', crm_money_text(o.amount_paid),
	    'balance', crm_money_text(o.grand_total - o.amount_paid),
	    'payment_status', o.payment_status,
	    'overdue', crm_order_overdue(o),
	    'external_id', o.external_id, 'notes', o.notes,
	    'cancel_reason', o.cancel_reason,
	    'confirmed_at', o.confirmed_at, 'fulfilled_at', o.fulfilled_at,
	    'cancelled_at', o.cancelled_at,
	    'lines', coalesce((SELECT json_agg(order_line_json(l)
		ORDER BY l.position) FROM order_lines l
		WHERE l.order_id = o.id), '[]'),
	    'created_at', o.created_at, 'updated_at', o.updated_at,
	    'version', o.version)
$$;

CREATE FUNCTION order_payment_json(x order_payments) RETURNS json
LANGUAGE sql STABLE AS $$
	SELECT json_build_object('id', x.id, 'order_id', x.order_id,
	    'amount', crm_money_text(x.amount), 'paid_at', x.paid_at,
	    'method', x.method, 'reference', x.reference,
	    'recorded_by', x.recorded_by, 'created_at', x.created_at)
$$;

-- active, expired (end_date passed) or cancelled, as of today.
CREATE FUNCTION crm_subscription_status(s subscriptions) RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN s.status = 'cancelled' THEN 'cancelled'
	    WHEN s.end_date < current_date THEN 'expired' ELSE 'active' END
$$;

-- The public shape of a subscription: delivered issues against the
-- expected ones, and the renewal that follows it, if any.
CREATE FUNCTION subscription_json(s subscriptions) RETURNS json
LANGUAGE sql STABLE AS $$
	SELECT json_build_object('id', s.id, 'customer_id', s.customer_id,
	    'contact_id', s.contact_id, 'product_id', s.product_id,
	    'order_id', s.order_id, 'owner_id', s.owner_id,
	    'quantity', s.quantity, 'start_date', s.start_date,
	    'end_date', s.end_date, 'periods', s.periods,
	    'status', crm_subscription_status(s),
	    'auto_renew', s.auto_renew, 'renewed_from_id', s.renewed_from_id,
	    'renewed_by_id', (SELECT r.id FROM subscriptions r
		WHERE r.renewed_from_id = s.id),
	    'delivery_address', s.delivery_address,
	    'issues_expected', s.issues_expected,
	    'issues_delivered', (SELECT count(*) FROM deliveries d
		WHERE d.subscription_id = s.id AND d.status = 'delivered'),
	    'cancelled_at', s.cancelled_at, 'created_at', s.created_at,
	    'updated_at', s.updated_at, 'version', s.version)
$$;

CREATE FUNCTION delivery_json(d deliveries) RETURNS json
LANGUAGE sql STABLE AS $$
	SELECT json_build_object('id', d.id,
	    'subscription_id', d.subscription_id, 'issue', d.issue,
	    'issue_date', d.issue_date, 'quantity', d.quantity,
	    'status', d.status, 'tracking_no', d.tracking_no,
	    'shipped_at', d.shipped_at, 'delivered_at', d.delivered_at,
	    'created_at', d.created_at, 'updated_at', d.updated_at,
	    'version', d.version)
$$;

-- --- lines, totals and subscription terms -----------------------------------

-- Check the subscription terms `t` of an order (an object from the client,
-- or the ones stored on the order) for customer `p_customer`: field errors
-- named subscription.<field> are appended to `errors`. Returns the terms
-- normalised (start_date, periods, contact_id, delivery_address,
-- auto_renew).
CREATE FUNCTION crm_subscription_terms(t jsonb, p_customer uuid,
    INOUT errors jsonb, OUT terms jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
	k	text;
BEGIN
	FOR k IN SELECT jsonb_object_keys(t) LOOP
		IF k <> ALL (ARRAY['start_date', 'periods', 'contact_id',
		    'delivery_address', 'auto_renew']) THEN
			errors := errors || crm_field_error('subscription.' || k,
			    'unknown_field', format('''%s'' is not a field of '
			    'the subscription terms.', k));
		END IF;
	END LOOP;
	IF crm_order_date_or_null(t->>'start_date') IS NULL OR
	    jsonb_typeof(t->'start_date') <> 'string' THEN
		errors := errors || crm_field_error('subscription.start_date',
		    CASE WHEN t ? 'start_date' THEN 'format' ELSE 'required' END,
		    '''subscription.start_date'' must be a date, YYYY-MM-DD.');
	END IF;
	IF jsonb_typeof(t->'periods') IS DISTINCT FROM 'number' OR
	    (t->>'periods')::numeric NOT BETWEEN 1 AND 120 OR
	    scale((t->>'periods')::numeric) > 0 THEN
		errors := errors || crm_field_error('subscription.periods',
		    CASE WHEN t ? 'periods' THEN 'range' ELSE 'required' END,
		    '''subscription.periods'' must be a whole number from 1 '
		    'to 120.');
	END IF;
	IF t->'contact_id' IS NOT NULL AND jsonb_typeof(t->'contact_id') <>
	    'null' AND (jsonb_typeof(t->'contact_id') <> 'string' OR
	    t->>'contact_id' !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-'
	    '[0-9a-f]{4}-[0-9a-f]{12}$' OR NOT EXISTS (SELECT 1 FROM contacts c
	    WHERE c.id = (t->>'contact_id')::uuid AND c.customer_id = p_customer
	    AND c.deleted_at IS NULL)) THEN
		errors := errors || crm_field_error('subscription.contact_id',
		    'not_found', '''subscription.contact_id'' names no contact '
		    'of the order''s customer.');
	END IF;
	IF t->'delivery_address' IS NOT NULL AND
	    jsonb_typeof(t->'delivery_address') <> 'null' AND
	    (jsonb_typeof(t->'delivery_address') <> 'string' OR
	    length(t->>'delivery_address') NOT BETWEEN 1 AND 500) THEN
		errors := errors || crm_field_error(
		    'subscription.delivery_address', 'length',
		    '''subscription.delivery_address'' must be 1 to 500 '
		    'characters.');
	END IF;
	IF t->'auto_renew' IS NOT NULL AND
	    jsonb_typeof(t->'auto_renew') <> 'boolean' THEN
		errors := errors || crm_field_error('subscription.auto_renew',
		    'type', '''subscription.auto_renew'' must be true or false.');
	END IF;
	terms := jsonb_strip_nulls(jsonb_build_object(
	    'start_date', t->'start_date', 'periods', t->'periods',
	    'contact_id', t->'contact_id',
	    'delivery_address', t->'delivery_address',
	    'auto_renew', t->'auto_renew'));
END
$$;

-- Check one order line `l` (named `f`, e.g. lines[0]) of an order in
-- `currency`: field errors are appended to `errors`. Returns the line as
-- written (catalogue values copied, exact net and tax), or NULL when it
-- is invalid; `subscribes` tells whether its product is a subscription.
CREATE FUNCTION crm_order_line(l jsonb, f text, currency text,
    INOUT errors jsonb, OUT item jsonb, OUT subscribes boolean)
LANGUAGE plpgsql STABLE AS $$
DECLARE
	n	integer := jsonb_array_length(errors);
	k	text;
	e	jsonb;
	pr	products;
	net	numeric;
BEGIN
	FOR k IN SELECT jsonb_object_keys(l) LOOP
		IF k <> ALL (ARRAY['product_id', 'quantity', 'unit_price',
		    'discount_percent']) THEN
			errors := errors || crm_field_error(f || '.' || k,
			    'unknown_field', format('''%s'' is not a field of an '
			    'order line.', k));
		END IF;
	END LOOP;

	IF NOT l ? 'product_id' THEN
		e := crm_field_error(f || '.product_id', 'required',
		    format('''%s.product_id'' is required.', f));
	ELSIF jsonb_typeof(l->'product_id') <> 'string' OR
	    l->>'product_id' !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-'
	    '[0-9a-f]{4}-[0-9a-f]{12}$' THEN
		e := crm_field_error(f || '.product_id', 'format',
		    format('''%s.product_id'' must be a UUID.', f));
	ELSE
		SELECT * INTO pr FROM products
		WHERE id = (l->>'product_id')::uuid;
		e := CASE WHEN pr.id IS NULL THEN
			crm_field_error(f || '.product_id', 'not_found',
			    format('''%s.product_id'' names no product of the '
			    'catalogue.', f))
		    WHEN NOT pr.active THEN
			crm_field_error(f || '.product_id', 'inactive',
			    format('''%s.product_id'': %s (%s) is no longer '
			    'sold.', f, pr.name, pr.sku))
		    WHEN pr.currency <> currency AND NOT l ? 'unit_price' THEN
			crm_field_error(f || '.product_id', 'currency',
			    format('''%s.product_id'' is priced in %s, the order '
			    'is in %s: give unit_price.', f, pr.currency,
			    currency))
		    END;
	END IF;
	errors := errors || coalesce(e, '[]');
	subscribes := pr.period IS NOT NULL;

	e := CASE WHEN NOT l ? 'quantity' THEN
		crm_field_error(f || '.quantity', 'required',
		    format('''%s.quantity'' is required.', f))
	    ELSE crm_order_decimal_error(f || '.quantity', l->'quantity', 3, 9) END;
	IF e IS NULL AND (l->>'quantity')::numeric = 0 THEN
		e := crm_field_error(f || '.quantity', 'range',
		    format('''%s.quantity'' must be more than 0.', f));
	ELSIF e IS NULL AND subscribes AND (l->>'quantity')::numeric % 1 <> 0
	THEN
		e := crm_field_error(f || '.quantity', 'format',
		    format('''%s.quantity'' counts copies of a subscription: a '
		    'whole number.', f));
	END IF;
	errors := errors || coalesce(e, '[]');

	IF l ? 'unit_price' THEN
		errors := errors || coalesce(crm_order_decimal_error(f || '.unit_price',
		    l->'unit_price', 2, 13), '[]');
	END IF;
	IF l ? 'discount_percent' THEN
		e := crm_order_decimal_error(f || '.discount_percent',
		    l->'discount_percent', 2, 3);
		IF e IS NULL AND (l->>'discount_percent')::numeric > 100 THEN
			e := crm_field_error(f || '.discount_percent', 'range',
			    format('''%s.discount_percent'' must be from 0 to '
			    '100.', f));
		END IF;
		errors := errors || coalesce(e, '[]');
	END IF;

	IF jsonb_array_length(errors) > n THEN
		RETURN;
	END IF;
	-- net = round(quantity x unit_price x (1 - discount/100), 2),
	-- tax = round(net x tax_rate/100, 2): exact numeric arithmetic.
	net := round((l->>'quantity')::numeric *
	    coalesce((l->>'unit_price')::numeric, pr.unit_price) *
	    (1 - coalesce((l->>'discount_percent')::numeric, 0) / 100), 2);
	item := jsonb_build_object('product_id', pr.id, 'sku', pr.sku,
	    'name', pr.name, 'unit', pr.unit, 'tax_rate', pr.tax_rate,
	    'unit_price', coalesce((l->>'unit_price')::numeric, pr.unit_price),
	    'quantity', (l->>'quantity')::numeric,
	    'discount_percent', coalesce((l->>'discount_percent')::numeric, 0),
	    'net', net, 'tax', round(net * pr.tax_rate / 100, 2),
	    'period', pr.period, 'issues_per_period', pr.issues_per_period);
END
$$;

-- Check an order's lines (`lines`, an array of objects: product_id,
-- quantity, unit_price?, discount_percent?) in `currency`, and the
-- subscription terms `t` they need, for customer `p_customer`; `errors`
-- holds what the caller found already. Every problem is listed by its
-- place (lines[0].quantity, subscription.start_date) and raised as one
-- 422; nothing is written. Returns the plan crm_order_lines_insert
-- writes: the lines with their copied catalogue values and exact amounts,
-- subtotal, tax_total and the terms.
CREATE FUNCTION crm_order_plan(currency text, p_customer uuid, lines jsonb,
    t jsonb, errors jsonb DEFAULT '[]')
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	l	jsonb;
	i	bigint;
	x	record;
	planned	jsonb := '[]';
	sub	numeric := 0;
	taxes	numeric := 0;
	subs	boolean := false;
	terms	jsonb;
BEGIN
	FOR l, i IN SELECT value, ordinality
	    FROM jsonb_array_elements(lines) WITH ORDINALITY LOOP
		SELECT * INTO x FROM crm_order_line(l, format('lines[%s]', i - 1),
		    currency, errors);
		errors := x.errors;
		subs := subs OR coalesce(x.subscribes, false);
		IF x.item IS NOT NULL THEN
			planned := planned || (x.item ||
			    jsonb_build_object('position', i));
			sub := sub + (x.item->>'net')::numeric;
			taxes := taxes + (x.item->>'tax')::numeric;
		END IF;
	END LOOP;

	IF subs AND (t IS NULL OR jsonb_typeof(t) <> 'object') THEN
		errors := errors || crm_field_error('subscription', 'required',
		    'A line is a subscription product: give subscription '
		    '{start_date, periods}.');
	ELSIF subs THEN
		SELECT y.errors, y.terms INTO errors, terms
		FROM crm_subscription_terms(t, p_customer, errors) y;
	ELSIF t IS NOT NULL AND jsonb_typeof(t) <> 'null' THEN
		errors := errors || crm_field_error('subscription', 'unused',
		    'No line is a subscription product.');
	END IF;
	IF sub + taxes >= 1e13 THEN
		errors := errors || crm_field_error('lines', 'range',
		    'The order''s total is too large.');
	END IF;

	IF jsonb_array_length(errors) > 0 THEN
		PERFORM crm_raise_fields('422', 'The order has invalid fields; '
		    'see errors.', errors);
	END IF;
	RETURN jsonb_build_object('lines', planned, 'subtotal', sub,
	    'tax_total', taxes, 'terms', terms);
END
$$;

-- Write the lines of `plan` (crm_order_plan) for order `o`, and a
-- subscription for each line of a subscription product (copies = the
-- line's quantity; `p_renewed_from` marks a renewal). The order must have
-- no lines yet.
CREATE FUNCTION crm_order_lines_insert(o orders, plan jsonb,
    p_renewed_from uuid DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	l	jsonb;
	t	jsonb := plan->'terms';
	sid	uuid;
	start	date;
BEGIN
	FOR l IN SELECT value FROM jsonb_array_elements(plan->'lines') LOOP
		sid := NULL;
		IF l->>'period' IS NOT NULL THEN
			start := (t->>'start_date')::date;
			INSERT INTO subscriptions (org_id, owner_id, customer_id,
			    contact_id, product_id, order_id, quantity,
			    start_date, end_date, periods, issues_expected,
			    auto_renew, renewed_from_id, delivery_address)
			VALUES (o.org_id, o.owner_id, o.customer_id,
			    (t->>'contact_id')::uuid, (l->>'product_id')::uuid,
			    o.id, (l->>'quantity')::numeric, start,
			    (start + (t->>'periods')::integer *
				crm_subscription_period(l->>'period'))::date - 1,
			    (t->>'periods')::integer,
			    (t->>'periods')::integer *
				(l->>'issues_per_period')::integer,
			    coalesce((t->>'auto_renew')::boolean, false),
			    p_renewed_from, t->>'delivery_address')
			RETURNING id INTO sid;
		END IF;
		INSERT INTO order_lines (org_id, order_id, position, product_id,
		    sku, name, unit, tax_rate, unit_price, quantity,
		    discount_percent, net, tax, subscription_id)
		VALUES (o.org_id, o.id, (l->>'position')::integer,
		    (l->>'product_id')::uuid, l->>'sku', l->>'name', l->>'unit',
		    (l->>'tax_rate')::numeric, (l->>'unit_price')::numeric,
		    (l->>'quantity')::numeric,
		    (l->>'discount_percent')::numeric, (l->>'net')::numeric,
		    (l->>'tax')::numeric, sid);
	END LOOP;
END
$$;

-- The owner of a new order (or an order's new owner): owner_id when
-- given, under the rules for customers (self or the team; anyone for
-- org-wide roles: 403 otherwise, 422 for no such user); else the
-- customer's owner when the caller works on their records, else the
-- caller.
CREATE FUNCTION crm_order_owner(b jsonb, p_customer_owner uuid)
RETURNS uuid
LANGUAGE plpgsql STABLE AS $$
BEGIN
	IF b->>'owner_id' IS NULL THEN
		RETURN CASE WHEN crm_mine(p_customer_owner) THEN
		    p_customer_owner ELSE crm_user() END;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM users
	    WHERE id = (b->>'owner_id')::uuid AND active) THEN
		PERFORM crm_raise_fields('422', 'The order has invalid fields; '
		    'see errors.', jsonb_build_array(crm_field_error('owner_id',
		    'not_found', 'owner_id names no active user of this '
		    'organization.')));
	END IF;
	IF NOT crm_mine((b->>'owner_id')::uuid) THEN
		PERFORM crm_raise('403', 'Only managers and admins assign '
		    'records to people outside their team.');
	END IF;
	RETURN (b->>'owner_id')::uuid;
END
$$;

-- Field errors for the references and dates of an order body `b` (for
-- customer `p_customer`; `cur` the order being changed, or NULL).
CREATE FUNCTION crm_order_refs(b jsonb, p_customer uuid, cur orders)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	errors	jsonb := '[]';
	od	date;
	dd	date;
BEGIN
	IF b->>'opportunity_id' IS NOT NULL AND NOT EXISTS (SELECT 1
	    FROM opportunities WHERE id = (b->>'opportunity_id')::uuid
	    AND customer_id = p_customer AND deleted_at IS NULL) THEN
		errors := errors || crm_field_error('opportunity_id',
		    'not_found', 'opportunity_id names no opportunity of this '
		    'customer that you can see.');
	END IF;
	od := CASE WHEN b ? 'order_date' THEN (b->>'order_date')::date
	    WHEN cur.id IS NOT NULL THEN cur.order_date ELSE current_date END;
	dd := CASE WHEN b ? 'due_date' THEN (b->>'due_date')::date
	    ELSE cur.due_date END;
	IF b ? 'currency' AND b->>'currency' !~ '^[A-Z]{3}$' THEN
		errors := errors || crm_field_error('currency', 'format',
		    'currency must be an ISO 4217 code such as CNY.');
	END IF;
	IF dd < od THEN
		errors := errors || crm_field_error('due_date', 'range',
		    'due_date cannot be before order_date.');
	END IF;
	RETURN errors;
END
$$;

-- The order `p_id` for a change: NULL when the caller cannot see it (404),
-- 403 when they see but may not change it, 412 when `p_if_match` names
-- another version. Locks the row.
CREATE FUNCTION crm_order_for_change(p_id uuid, p_if_match integer)
RETURNS orders
LANGUAGE plpgsql AS $$
DECLARE
	o	orders;
BEGIN
	SELECT * INTO o FROM orders WHERE id = p_id;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF NOT crm_order_writer(o.owner_id) THEN
		PERFORM crm_raise('403', 'You may read this order but not '
		    'change it.');
	END IF;
	SELECT * INTO o FROM orders WHERE id = p_id FOR UPDATE;
	IF p_if_match IS NOT NULL AND p_if_match <> o.version THEN
		PERFORM crm_raise('412', 'The order changed since you read it '
		    '(version ' || o.version || ').');
	END IF;
	RETURN o;
END
$$;

-- --- orders -----------------------------------------------------------------

-- POST /v1/orders: the order, its lines and the subscriptions they start,
-- in one transaction. 422 lists every bad field (a customer the caller
-- cannot see reads exactly as one that does not exist); 409 for a
-- duplicate external_id; 403 for the service role.
CREATE FUNCTION api_orders_create(p jsonb, b jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	cust	customers;
	o	orders;
	plan	jsonb;
	errors	jsonb := '[]';
	cur	text := coalesce(b->>'currency', 'CNY');
BEGIN
	PERFORM crm_bind(p);
	IF NOT crm_order_writer(crm_user()) THEN
		PERFORM crm_raise('403', 'The service role reads orders but '
		    'does not change them.');
	END IF;
	SELECT * INTO cust FROM customers
	WHERE id = (b->>'customer_id')::uuid AND deleted_at IS NULL;
	IF NOT FOUND THEN
		errors := errors || crm_field_error('customer_id', 'not_found',
		    'customer_id names no customer you can see.');
	END IF;
	errors := errors || crm_order_refs(b, cust.id, NULL);
	plan := crm_order_plan(cur, cust.id, b->'lines', b->'subscription',
	    errors);
	BEGIN
		INSERT INTO orders (org_id, number, owner_id, customer_id,
		    opportunity_id, contract_id, order_date, due_date, currency,
		    subtotal, tax_total, grand_total, subscription_terms,
		    external_id, notes, created_by)
		VALUES (crm_org(), crm_order_number(coalesce(
			(b->>'order_date')::date, current_date)),
		    crm_order_owner(b, cust.owner_id), cust.id,
		    (b->>'opportunity_id')::uuid, (b->>'contract_id')::uuid,
		    coalesce((b->>'order_date')::date, current_date),
		    (b->>'due_date')::date, cur,
		    (plan->>'subtotal')::numeric, (plan->>'tax_total')::numeric,
		    (plan->>'subtotal')::numeric + (plan->>'tax_total')::numeric,
		    plan->'terms', b->>'external_id', b->>'notes', crm_user())
		RETURNING * INTO o;
	EXCEPTION WHEN unique_violation THEN
		PERFORM crm_raise('409', 'An order with this external_id '
		    'already exists.');
	END;
	PERFORM crm_order_lines_insert(o, plan);
	RETURN order_json(o)::text;
END
$$;

-- GET /v1/orders/{id}
CREATE FUNCTION api_orders_get(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	RETURN (SELECT order_json(o) FROM orders o WHERE id = p_id)::text;
END
$$;

-- PATCH /v1/orders/{id}: merge patch, If-Match optional. lines, currency
-- and subscription change only while the order is pending (409 otherwise,
-- and when its subscriptions already have deliveries or a renewal); lines
-- replace the old ones wholly. 404 unseen, 403 read-only, 412 stale, 422
-- fields, 409 duplicate external_id.
CREATE FUNCTION api_orders_update(p jsonb, p_id uuid, b jsonb,
    p_if_match integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	cur	orders;
	o	orders;
	plan	jsonb;
	errors	jsonb;
	relines	boolean := b ?| ARRAY['lines', 'currency', 'subscription'];
	renewed	uuid;
	owner	uuid;
BEGIN
	PERFORM crm_bind(p);
	cur := crm_order_for_change(p_id, p_if_match);
	IF cur.id IS NULL THEN
		RETURN NULL;
	END IF;
	IF relines AND cur.status <> 'pending' THEN
		PERFORM crm_raise('409', format('The order is %s: its lines, '
		    'currency and subscription change only while it is '
		    'pending.', cur.status));
	END IF;
	-- The lines' prices are in the order's currency: another currency
	-- comes with lines priced in it, never as a relabelling.
	IF b->>'currency' IS DISTINCT FROM cur.currency AND b ? 'currency'
	    AND NOT b ? 'lines' THEN
		PERFORM crm_raise_fields('422', 'The order has invalid '
		    'fields; see errors.', jsonb_build_array(crm_field_error(
			'currency', 'lines_required', 'A new currency needs the '
			'lines priced in it: send lines as well.')));
	END IF;
	owner := CASE WHEN b ? 'owner_id' THEN crm_order_owner(b, NULL)
	    ELSE cur.owner_id END;
	errors := crm_order_refs(b, cur.customer_id, cur);
	IF relines THEN
		IF EXISTS (SELECT 1 FROM subscriptions s WHERE s.order_id = p_id
		    AND (EXISTS (SELECT 1 FROM deliveries d
			WHERE d.subscription_id = s.id) OR
		    EXISTS (SELECT 1 FROM subscriptions r
			WHERE r.renewed_from_id = s.id))) THEN
			PERFORM crm_raise('409', 'The order''s subscriptions '
			    'already have deliveries or a renewal; its lines '
			    'can no longer change.');
		END IF;
		plan := crm_order_plan(coalesce(b->>'currency', cur.currency),
		    cur.customer_id, coalesce(b->'lines', (SELECT jsonb_agg(
			jsonb_build_object('product_id', l.product_id,
			'quantity', l.quantity::text,
			'unit_price', l.unit_price::text,
			'discount_percent', l.discount_percent::text)
			ORDER BY l.position) FROM order_lines l
			WHERE l.order_id = p_id)),
		    CASE WHEN b ? 'subscription' THEN b->'subscription'
			ELSE cur.subscription_terms END, errors);
		IF (plan->>'subtotal')::numeric + (plan->>'tax_total')::numeric
		    < cur.amount_paid THEN
			PERFORM crm_raise('409', format('The new total would be '
			    'less than the %s already paid.',
			    crm_money_text(cur.amount_paid)));
		END IF;
		SELECT renewed_from_id INTO renewed FROM subscriptions
		WHERE order_id = p_id AND renewed_from_id IS NOT NULL LIMIT 1;
		DELETE FROM order_lines WHERE order_id = p_id;
		DELETE FROM subscriptions WHERE order_id = p_id;
	ELSIF jsonb_array_length(errors) > 0 THEN
		PERFORM crm_raise_fields('422', 'The order has invalid fields; '
		    'see errors.', errors);
	END IF;
	BEGIN
		UPDATE orders SET
		    owner_id = owner,
		    opportunity_id = CASE WHEN b ? 'opportunity_id' THEN
			(b->>'opportunity_id')::uuid ELSE opportunity_id END,
		    contract_id = CASE WHEN b ? 'contract_id' THEN
			(b->>'contract_id')::uuid ELSE contract_id END,
		    order_date = CASE WHEN b ? 'order_date' THEN
			(b->>'order_date')::date ELSE order_date END,
		    due_date = CASE WHEN b ? 'due_date' THEN
			(b->>'due_date')::date ELSE due_date END,
		    currency = coalesce(b->>'currency', currency),
		    external_id = CASE WHEN b ? 'external_id' THEN
			b->>'external_id' ELSE external_id END,
		    notes = CASE WHEN b ? 'notes' THEN b->>'notes' ELSE notes END,
		    subtotal = CASE WHEN relines THEN
			(plan->>'subtotal')::numeric ELSE subtotal END,
		    tax_total = CASE WHEN relines THEN
			(plan->>'tax_total')::numeric ELSE tax_total END,
		    grand_total = CASE WHEN relines THEN
			(plan->>'subtotal')::numeric +
			(plan->>'tax_total')::numeric ELSE grand_total END,
		    subscription_terms = CASE WHEN relines THEN plan->'terms'
			ELSE subscription_terms END
		WHERE id = p_id
		RETURNING * INTO o;
	EXCEPTION WHEN unique_violation THEN
		PERFORM crm_raise('409', 'An order with this external_id '
		    'already exists.');
	END;
	IF relines THEN
		PERFORM crm_order_lines_insert(o, plan, renewed);
	END IF;
	-- The subscriptions follow their order's owner.
	IF o.owner_id <> cur.owner_id THEN
		UPDATE subscriptions SET owner_id = o.owner_id
		WHERE order_id = p_id;
	END IF;
	RETURN order_json(o)::text;
END
$$;

-- POST /v1/orders/{id}/confirm | fulfil | cancel: pending -> confirmed ->
-- fulfilled, or cancelled from pending or confirmed (with a reason; the
-- order's subscriptions are cancelled with it). 409 names the statuses
-- the order may move to; 404 unseen, 403 read-only.
CREATE FUNCTION api_orders_transition(p jsonb, p_id uuid, p_to text, b jsonb)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	cur	orders;
	o	orders;
	allowed	text[];
BEGIN
	PERFORM crm_bind(p);
	cur := crm_order_for_change(p_id, NULL);
	IF cur.id IS NULL THEN
		RETURN NULL;
	END IF;
	allowed := CASE cur.status
	    WHEN 'pending' THEN ARRAY['confirmed', 'cancelled']
	    WHEN 'confirmed' THEN ARRAY['fulfilled', 'cancelled']
	    ELSE '{}' END;
	IF cur.status = p_to THEN
		PERFORM crm_raise('409', format('The order is already %s; '
		    'allowed from %s: %s.', p_to, cur.status,
		    CASE WHEN cardinality(allowed) = 0 THEN 'none (final)'
		    ELSE array_to_string(allowed, ', ') END));
	END IF;
	PERFORM crm_transition_check('order', cur.status, p_to, allowed);
	UPDATE orders SET status = p_to,
	    confirmed_at = CASE WHEN p_to = 'confirmed' THEN now()
		ELSE confirmed_at END,
	    fulfilled_at = CASE WHEN p_to = 'fulfilled' THEN now()
		ELSE fulfilled_at END,
	    cancelled_at = CASE WHEN p_to = 'cancelled' THEN now()
		ELSE cancelled_at END,
	    cancel_reason = CASE WHEN p_to = 'cancelled' THEN b->>'reason'
		ELSE cancel_reason END
	WHERE id = p_id
	RETURNING * INTO o;
	IF p_to = 'cancelled' THEN
		UPDATE subscriptions SET status = 'cancelled',
		    cancelled_at = now()
		WHERE order_id = p_id AND status = 'active';
	END IF;
	RETURN order_json(o)::text;
END
$$;

-- GET /v1/orders: newest first, keyset pages (created_at, id); filters
-- customer_id, status, owner_id, payment_status, overdue, ordered_after
-- (order_date on or after) and ordered_before (before).
CREATE FUNCTION api_orders_list(p jsonb, f jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	lim	integer := coalesce((f->>'limit')::int, 50);
	cur_t	timestamptz;
	cur_i	text;
	rows	json;
	nxt	text;
BEGIN
	PERFORM crm_bind(p);
	IF f ? 'cursor' THEN
		BEGIN
			SELECT t, i INTO cur_t, cur_i
			FROM crm_cursor_decode(f->>'cursor');
			PERFORM cur_i::uuid;
		EXCEPTION WHEN OTHERS THEN
			PERFORM crm_raise('400', 'The cursor is not valid for '
			    'this list.');
		END;
	END IF;
	WITH page AS (
		SELECT o, o.created_at, o.id, row_number() OVER (ORDER BY
		    o.created_at DESC, o.id DESC) AS n
		FROM orders o
		WHERE (NOT f ? 'customer_id' OR
		       o.customer_id = (f->>'customer_id')::uuid)
		  AND (NOT f ? 'status' OR o.status = f->>'status')
		  AND (NOT f ? 'owner_id' OR o.owner_id = (f->>'owner_id')::uuid)
		  AND (NOT f ? 'payment_status' OR
		       o.payment_status = f->>'payment_status')
		  AND (NOT f ? 'overdue' OR
		       crm_order_overdue(o) = (f->>'overdue')::boolean)
		  AND (NOT f ? 'ordered_after' OR
		       o.order_date >= (f->>'ordered_after')::date)
		  AND (NOT f ? 'ordered_before' OR
		       o.order_date < (f->>'ordered_before')::date)
		  AND (cur_t IS NULL OR (o.created_at, o.id) <
		       (cur_t, cur_i::uuid))
		ORDER BY o.created_at DESC, o.id DESC
		LIMIT lim + 1
	)
	SELECT coalesce(json_agg(order_json(page.o) ORDER BY n)
		FILTER (WHERE n <= lim), '[]'),
	    CASE WHEN count(*) > lim THEN (array_agg(crm_cursor_encode(
		page.created_at, page.id::text)) FILTER (WHERE n = lim))[1] END
	INTO rows, nxt
	FROM page;
	RETURN json_build_object('data', rows, 'next_cursor', nxt)::text;
END
$$;

-- --- payments ---------------------------------------------------------------

-- POST /v1/orders/{id}/payments: amount > 0 (422) and never more than the
-- balance (409, also when two payments race: the balance is re-checked
-- on the locked row); 409 on a cancelled order; 404 unseen, 403 read-only.
CREATE FUNCTION api_order_payments_create(p jsonb, p_id uuid, b jsonb)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	o	orders;
	x	order_payments;
	amt	numeric := (b->>'amount')::numeric;
BEGIN
	PERFORM crm_bind(p);
	o := crm_order_for_change(p_id, NULL);
	IF o.id IS NULL THEN
		RETURN NULL;
	END IF;
	IF amt = 0 THEN
		PERFORM crm_raise_fields('422', 'The payment has invalid fields; '
		    'see errors.', jsonb_build_array(crm_field_error('amount',
		    'range', '''amount'' must be more than 0.')));
	END IF;
	IF o.status = 'cancelled' THEN
		PERFORM crm_raise('409', 'The order is cancelled; it takes no '
		    'payments.');
	END IF;
	IF amt > o.grand_total - o.amount_paid THEN
		PERFORM crm_raise('409', format('The payment of %s exceeds the '
		    'balance of %s.', crm_money_text(amt),
		    crm_money_text(o.grand_total - o.amount_paid)));
	END IF;
	UPDATE orders SET amount_paid = amount_paid + amt WHERE id = p_id;
	INSERT INTO order_payments (org_id, order_id, amount, paid_at, method,
	    reference, recorded_by)
	VALUES (o.org_id, p_id, amt,
	    coalesce((b->>'paid_at')::timestamptz, now()), b->>'method',
	    b->>'reference', crm_user())
	RETURNING * INTO x;
	RETURN order_payment_json(x)::text;
END
$$;

-- GET /v1/orders/{id}/payments: oldest first.
CREATE FUNCTION api_order_payments_list(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	IF NOT EXISTS (SELECT 1 FROM orders WHERE id = p_id) THEN
		RETURN NULL;
	END IF;
	RETURN json_build_object('data', coalesce((SELECT json_agg(
	    order_payment_json(x) ORDER BY x.paid_at, x.id)
	    FROM order_payments x WHERE x.order_id = p_id), '[]'))::text;
END
$$;

-- --- subscriptions (002: 期刊征订) ------------------------------------------

-- The subscription `p_id` for a change: NULL when the caller cannot see
-- it (404), 403 when they may only read it, 412 when `p_if_match` names
-- another version, 409 when it is cancelled. Locks the row.
CREATE FUNCTION crm_subscription_for_change(p_id uuid, p_if_match integer)
RETURNS subscriptions
LANGUAGE plpgsql AS $$
DECLARE
	s	subscriptions;
BEGIN
	SELECT * INTO s FROM subscriptions WHERE id = p_id;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF NOT crm_order_writer(s.owner_id) THEN
		PERFORM crm_raise('403', 'You may read this subscription but '
		    'not change it.');
	END IF;
	SELECT * INTO s FROM subscriptions WHERE id = p_id FOR UPDATE;
	IF p_if_match IS NOT NULL AND p_if_match <> s.version THEN
		PERFORM crm_raise('412', 'The subscription changed since you '
		    'read it (version ' || s.version || ').');
	END IF;
	IF s.status = 'cancelled' THEN
		PERFORM crm_raise('409', 'The subscription is cancelled; it '
		    'does not change any more.');
	END IF;
	RETURN s;
END
$$;

-- GET /v1/subscriptions/{id}
CREATE FUNCTION api_subscriptions_get(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	RETURN (SELECT subscription_json(s) FROM subscriptions s
	    WHERE id = p_id)::text;
END
$$;

-- GET /v1/subscriptions: newest first, keyset pages (created_at, id);
-- filters customer_id, product_id, status (active|expired|cancelled, as
-- of today) and ends_before (end_date before that day).
CREATE FUNCTION api_subscriptions_list(p jsonb, f jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	lim	integer := coalesce((f->>'limit')::int, 50);
	cur_t	timestamptz;
	cur_i	text;
	rows	json;
	nxt	text;
BEGIN
	PERFORM crm_bind(p);
	IF f ? 'cursor' THEN
		BEGIN
			SELECT t, i INTO cur_t, cur_i
			FROM crm_cursor_decode(f->>'cursor');
			PERFORM cur_i::uuid;
		EXCEPTION WHEN OTHERS THEN
			PERFORM crm_raise('400', 'The cursor is not valid for '
			    'this list.');
		END;
	END IF;
	WITH page AS (
		SELECT s, s.created_at, s.id, row_number() OVER (ORDER BY
		    s.created_at DESC, s.id DESC) AS n
		FROM subscriptions s
		WHERE (NOT f ? 'customer_id' OR
		       s.customer_id = (f->>'customer_id')::uuid)
		  AND (NOT f ? 'product_id' OR
		       s.product_id = (f->>'product_id')::uuid)
		  AND (NOT f ? 'status' OR
		       crm_subscription_status(s) = f->>'status')
		  AND (NOT f ? 'ends_before' OR
		       s.end_date < (f->>'ends_before')::date)
		  AND (cur_t IS NULL OR (s.created_at, s.id) <
		       (cur_t, cur_i::uuid))
		ORDER BY s.created_at DESC, s.id DESC
		LIMIT lim + 1
	)
	SELECT coalesce(json_agg(subscription_json(page.s) ORDER BY n)
		FILTER (WHERE n <= lim), '[]'),
	    CASE WHEN count(*) > lim THEN (array_agg(crm_cursor_encode(
		page.created_at, page.id::text)) FILTER (WHERE n = lim))[1] END
	INTO rows, nxt
	FROM page;
	RETURN json_build_object('data', rows, 'next_cursor', nxt)::text;
END
$$;

-- GET /v1/subscriptions/renewals?within_days=30: the renewal campaign of
-- the telephone subscription team: active subscriptions not yet renewed
-- that end within N days (default 30), soonest first, each with its
-- customer and recipient to call. Keyset pages over (end_date, id).
CREATE FUNCTION api_subscriptions_renewals(p jsonb, f jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	lim	integer := coalesce((f->>'limit')::int, 50);
	days	integer := coalesce((f->>'within_days')::int, 30);
	cur_d	date;
	cur_i	text;
	rows	json;
	nxt	text;
BEGIN
	PERFORM crm_bind(p);
	IF f ? 'cursor' THEN
		BEGIN
			SELECT t::date, i INTO cur_d, cur_i
			FROM crm_cursor_decode(f->>'cursor');
			PERFORM cur_i::uuid;
		EXCEPTION WHEN OTHERS THEN
			PERFORM crm_raise('400', 'The cursor is not valid for '
			    'this list.');
		END;
	END IF;
	WITH page AS (
		SELECT s, s.end_date, s.id, row_number() OVER (ORDER BY
		    s.end_date, s.id) AS n
		FROM subscriptions s
		WHERE s.status = 'active' AND s.end_date >= current_date
		  AND s.end_date <= current_date + days
		  AND NOT EXISTS (SELECT 1 FROM subscriptions r
		      WHERE r.renewed_from_id = s.id)
		  AND (cur_d IS NULL OR (s.end_date, s.id) >
		       (cur_d, cur_i::uuid))
		ORDER BY s.end_date, s.id
		LIMIT lim + 1
	)
	SELECT coalesce(json_agg(json_build_object(
		'subscription', subscription_json(page.s),
		'days_left', page.end_date - current_date,
		'customer', (SELECT json_build_object('id', c.id,
		    'name', c.name, 'phone', c.phone) FROM customers c
		    WHERE c.id = (page.s).customer_id),
		'contact', (SELECT json_build_object('id', ct.id,
		    'name', ct.name, 'phones', ct.phones) FROM contacts ct
		    WHERE ct.id = (page.s).contact_id
		    AND ct.deleted_at IS NULL))
		ORDER BY n) FILTER (WHERE n <= lim), '[]'),
	    CASE WHEN count(*) > lim THEN (array_agg(crm_cursor_encode(
		page.end_date::timestamptz, page.id::text))
		FILTER (WHERE n = lim))[1] END
	INTO rows, nxt
	FROM page;
	RETURN json_build_object('data', rows, 'next_cursor', nxt)::text;
END
$$;

-- PATCH /v1/subscriptions/{id}: quantity, auto_renew, delivery_address,
-- contact_id (a contact of the subscriber, 422 otherwise). 404 unseen,
-- 403 read-only, 412 stale, 409 cancelled.
CREATE FUNCTION api_subscriptions_update(p jsonb, p_id uuid, b jsonb,
    p_if_match integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	cur	subscriptions;
	s	subscriptions;
BEGIN
	PERFORM crm_bind(p);
	cur := crm_subscription_for_change(p_id, p_if_match);
	IF cur.id IS NULL THEN
		RETURN NULL;
	END IF;
	IF b->>'contact_id' IS NOT NULL AND NOT EXISTS (SELECT 1 FROM contacts
	    WHERE id = (b->>'contact_id')::uuid AND customer_id = cur.customer_id
	    AND deleted_at IS NULL) THEN
		PERFORM crm_raise_fields('422', 'The subscription has invalid '
		    'fields; see errors.', jsonb_build_array(crm_field_error(
		    'contact_id', 'not_found', 'contact_id names no contact of '
		    'the subscriber.')));
	END IF;
	UPDATE subscriptions SET
	    quantity = coalesce((b->>'quantity')::integer, quantity),
	    auto_renew = coalesce((b->>'auto_renew')::boolean, auto_renew),
	    delivery_address = CASE WHEN b ? 'delivery_address' THEN
		b->>'delivery_address' ELSE delivery_address END,
	    contact_id = CASE WHEN b ? 'contact_id' THEN
		(b->>'contact_id')::uuid ELSE contact_id END
	WHERE id = p_id
	RETURNING * INTO s;
	RETURN subscription_json(s)::text;
END
$$;

-- POST /v1/subscriptions/{id}/cancel: active -> cancelled; 409 when it is
-- cancelled already or expired (naming what is allowed). 404 unseen, 403
-- read-only.
CREATE FUNCTION api_subscriptions_cancel(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	cur	subscriptions;
	s	subscriptions;
BEGIN
	PERFORM crm_bind(p);
	cur := crm_subscription_for_change(p_id, NULL);
	IF cur.id IS NULL THEN
		RETURN NULL;
	END IF;
	PERFORM crm_transition_check('subscription',
	    crm_subscription_status(cur), 'cancelled',
	    CASE crm_subscription_status(cur) WHEN 'active' THEN
		ARRAY['cancelled'] ELSE '{}' END);
	UPDATE subscriptions SET status = 'cancelled', cancelled_at = now()
	WHERE id = p_id
	RETURNING * INTO s;
	RETURN subscription_json(s)::text;
END
$$;

-- POST /v1/subscriptions/{id}/renew {periods}: the next subscription,
-- starting the day after end_date with the same copies, recipient and
-- address, and a pending order for it at today's catalogue price, in one
-- transaction. 409 when it was renewed already (also when two renewals
-- race: a unique index), is cancelled, or its product is no longer sold.
CREATE FUNCTION api_subscriptions_renew(p jsonb, p_id uuid, b jsonb)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	cur	subscriptions;
	pr	products;
	src	orders;
	o	orders;
	plan	jsonb;
	s	subscriptions;
BEGIN
	PERFORM crm_bind(p);
	cur := crm_subscription_for_change(p_id, NULL);
	IF cur.id IS NULL THEN
		RETURN NULL;
	END IF;
	IF EXISTS (SELECT 1 FROM subscriptions
	    WHERE renewed_from_id = p_id) THEN
		PERFORM crm_raise('409', 'The subscription was renewed '
		    'already.');
	END IF;
	SELECT * INTO pr FROM products WHERE id = cur.product_id;
	IF NOT pr.active THEN
		PERFORM crm_raise('409', format('%s (%s) is no longer sold; '
		    'the subscription cannot be renewed.', pr.name, pr.sku));
	END IF;
	SELECT * INTO src FROM orders WHERE id = cur.order_id;
	plan := crm_order_plan(pr.currency, cur.customer_id,
	    jsonb_build_array(jsonb_build_object('product_id', pr.id,
		'quantity', cur.quantity::text)),
	    jsonb_strip_nulls(jsonb_build_object(
		'start_date', (cur.end_date + 1)::text,
		'periods', (b->>'periods')::integer,
		'contact_id', (SELECT c.id FROM contacts c
		    WHERE c.id = cur.contact_id AND c.deleted_at IS NULL),
		'delivery_address', cur.delivery_address,
		'auto_renew', cur.auto_renew)));
	BEGIN
		INSERT INTO orders (org_id, number, owner_id, customer_id,
		    currency, subtotal, tax_total, grand_total,
		    subscription_terms, notes, created_by)
		VALUES (cur.org_id, crm_order_number(current_date),
		    cur.owner_id, cur.customer_id, pr.currency,
		    (plan->>'subtotal')::numeric, (plan->>'tax_total')::numeric,
		    (plan->>'subtotal')::numeric + (plan->>'tax_total')::numeric,
		    plan->'terms', format('续订：%s 的订阅（原订单 %s）',
		    pr.name, src.number), crm_user())
		RETURNING * INTO o;
		PERFORM crm_order_lines_insert(o, plan, p_id);
	EXCEPTION WHEN unique_violation THEN
		PERFORM crm_raise('409', 'The subscription was renewed '
		    'already.');
	END;
	SELECT * INTO s FROM subscriptions WHERE renewed_from_id = p_id;
	RETURN subscription_json(s)::text;
END
$$;

-- --- deliveries (002: 发刊管理) ---------------------------------------------

-- What a delivery may move to from each status.
CREATE FUNCTION crm_delivery_next(status text) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE status WHEN 'planned' THEN ARRAY['shipped', 'delivered']
	    WHEN 'shipped' THEN ARRAY['delivered', 'returned']
	    WHEN 'delivered' THEN ARRAY['returned']
	    WHEN 'returned' THEN ARRAY['shipped'] END
$$;

-- POST /v1/subscriptions/{id}/deliveries: one issue once per
-- subscription (409), issue_date within the subscription's period (422),
-- nothing for a cancelled subscription (409). 404 unseen, 403 read-only.
CREATE FUNCTION api_deliveries_create(p jsonb, p_id uuid, b jsonb)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	s	subscriptions;
	d	deliveries;
	st	text := coalesce(b->>'status', 'planned');
BEGIN
	PERFORM crm_bind(p);
	s := crm_subscription_for_change(p_id, NULL);
	IF s.id IS NULL THEN
		RETURN NULL;
	END IF;
	IF (b->>'issue_date')::date NOT BETWEEN s.start_date AND s.end_date
	THEN
		PERFORM crm_raise_fields('422', 'The delivery has invalid '
		    'fields; see errors.', jsonb_build_array(crm_field_error(
		    'issue_date', 'range', format('issue_date must be within '
		    'the subscription, %s to %s.', s.start_date, s.end_date))));
	END IF;
	BEGIN
		INSERT INTO deliveries (org_id, subscription_id, issue,
		    issue_date, quantity, status, tracking_no, shipped_at,
		    delivered_at)
		VALUES (s.org_id, p_id, b->>'issue', (b->>'issue_date')::date,
		    coalesce((b->>'quantity')::integer, s.quantity), st,
		    b->>'tracking_no',
		    CASE WHEN st IN ('shipped', 'delivered', 'returned') THEN
			now() END,
		    CASE WHEN st IN ('delivered', 'returned') THEN now() END)
		RETURNING * INTO d;
	EXCEPTION WHEN unique_violation THEN
		PERFORM crm_raise('409', format('Issue %s is already recorded '
		    'for this subscription.', b->>'issue'));
	END;
	RETURN delivery_json(d)::text;
END
$$;

-- GET /v1/subscriptions/{id}/deliveries: by issue date.
CREATE FUNCTION api_deliveries_list(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	IF NOT EXISTS (SELECT 1 FROM subscriptions WHERE id = p_id) THEN
		RETURN NULL;
	END IF;
	RETURN json_build_object('data', coalesce((SELECT json_agg(
	    delivery_json(d) ORDER BY d.issue_date, d.id) FROM deliveries d
	    WHERE d.subscription_id = p_id), '[]'))::text;
END
$$;

-- PATCH /v1/subscriptions/{id}/deliveries/{delivery_id}: status (planned
-- -> shipped | delivered, shipped -> delivered | returned, delivered ->
-- returned, returned -> shipped; 409 names the allowed), tracking_no,
-- quantity. 404 unseen, 403 read-only, 409 on a cancelled subscription.
CREATE FUNCTION api_deliveries_update(p jsonb, p_id uuid, p_delivery uuid,
    b jsonb)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	cur	deliveries;
	d	deliveries;
BEGIN
	PERFORM crm_bind(p);
	SELECT * INTO cur FROM deliveries
	WHERE id = p_delivery AND subscription_id = p_id;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	PERFORM crm_subscription_for_change(p_id, NULL);
	IF b ? 'status' THEN
		PERFORM crm_transition_check('delivery', cur.status,
		    b->>'status', crm_delivery_next(cur.status));
	END IF;
	UPDATE deliveries SET
	    status = coalesce(b->>'status', status),
	    tracking_no = CASE WHEN b ? 'tracking_no' THEN b->>'tracking_no'
		ELSE tracking_no END,
	    quantity = coalesce((b->>'quantity')::integer, quantity),
	    shipped_at = CASE WHEN b->>'status' = 'shipped' OR
		(b->>'status' IN ('delivered', 'returned') AND
		shipped_at IS NULL) THEN now() ELSE shipped_at END,
	    delivered_at = CASE WHEN b->>'status' = 'delivered' THEN now()
		ELSE delivered_at END
	WHERE id = p_delivery
	RETURNING * INTO d;
	RETURN delivery_json(d)::text;
END
$$;

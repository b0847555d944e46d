-- 0017 fixes from the review of the sales modules (0011-0016). Migrations
-- are never edited once applied, so each fix replaces the functions and
-- policies it corrects here (CREATE OR REPLACE, ALTER/DROP + CREATE
-- POLICY); it runs after 0016 and before 0020, so it changes nothing of
-- 0020 and 0021 (their functions do not exist yet).

-- --- orders name only contracts the caller can see (0015, 0016) -------------

-- Field errors for the references, currency and dates of an order body
-- `b` (for customer `p_customer`; `cur` the order being changed, or
-- NULL). An opportunity or a contract must be the customer's and one the
-- caller can see: one they cannot see answers exactly as one that does
-- not exist (no foreign-key error tells them apart). The currency is
-- checked by crm_currency_error (0014), as for products and contracts.
CREATE OR REPLACE FUNCTION crm_order_refs(b jsonb, p_customer uuid,
    cur orders)
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
	IF b->>'contract_id' IS NOT NULL AND NOT EXISTS (SELECT 1
	    FROM contracts WHERE id = (b->>'contract_id')::uuid
	    AND customer_id = p_customer) THEN
		errors := errors || crm_field_error('contract_id',
		    'not_found', 'contract_id names no contract of this '
		    'customer that you can see.');
	END IF;
	od := CASE WHEN b ? 'order_date' THEN (b->>'order_date')::date
	    WHEN cur.id IS NOT NULL THEN cur.order_date ELSE current_date END;
	dd := CASE WHEN b ? 'due_date' THEN (b->>'due_date')::date
	    ELSE cur.due_date END;
	errors := errors || coalesce(crm_currency_error('currency',
	    b->>'currency'), '[]');
	IF dd < od THEN
		errors := errors || crm_field_error('due_date', 'range',
		    'due_date cannot be before order_date.');
	END IF;
	RETURN errors;
END
$$;

-- --- task transfers: one locked step that keeps every rule (0013) -----------

-- The old crm_task_reassign(uuid, uuid) moved any task the caller could
-- change to anyone, whatever its status, and left the history to its
-- caller: granted to crm_app, it was a way round the transfer rules.
DROP FUNCTION crm_task_reassign(uuid, uuid);

-- Give task `p_id` to `p_to`, recording the transfer (with `p_note`) in
-- its history; the one way a task changes hands. Runs as the schema owner
-- because the new assignee may take the task out of the caller's sight,
-- which row-level security would refuse as a write of a row they cannot
-- read; so it applies every rule itself, whoever calls it: the task must
-- be one the bound caller may change (the tasks_update policy's verdict:
-- same organisation, they work on the assignee's or the creator's
-- records; 404 otherwise, exactly as for a task that does not exist),
-- open or in progress (409), and `p_to` an active user of the
-- organisation other than the assignee (422). The row is locked before
-- anything is checked, so concurrent transfers queue and each one sees
-- the assignee the one before it left (or no task at all, when that one
-- took it out of the caller's sight); a refused transfer writes nothing.
CREATE FUNCTION crm_task_reassign(p_id uuid, p_to uuid,
    p_note text DEFAULT NULL)
RETURNS tasks
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	cur	tasks;
	t	tasks;
BEGIN
	IF crm_org() IS NULL THEN
		PERFORM crm_raise('401', 'The credentials are invalid.');
	END IF;
	SELECT * INTO cur FROM tasks
	WHERE id = p_id AND org_id = crm_org() AND deleted_at IS NULL
	  AND (crm_mine(assignee_id) OR crm_mine(created_by))
	FOR UPDATE;
	IF NOT FOUND THEN
		PERFORM crm_raise('404', 'The resource does not exist.');
	END IF;
	IF p_to IS NULL OR NOT EXISTS (SELECT 1 FROM users
	    WHERE id = p_to AND org_id = cur.org_id AND active) THEN
		PERFORM crm_raise_if(jsonb_build_array(crm_field_error(
		    'assignee_id', 'not_found', 'assignee_id names no active '
		    'user of this organization.')));
	END IF;
	IF p_to = cur.assignee_id THEN
		PERFORM crm_raise_if(jsonb_build_array(crm_field_error(
		    'assignee_id', 'unchanged', 'The task is already assigned '
		    'to this user.')));
	END IF;
	IF cur.status NOT IN ('open', 'in_progress') THEN
		PERFORM crm_raise('409', 'A ' || cur.status || ' task cannot '
		    'be transferred; reopen it first.');
	END IF;
	UPDATE tasks SET assignee_id = p_to WHERE id = p_id
	RETURNING * INTO t;
	INSERT INTO task_transfers (org_id, task_id, from_id, to_id, by_id,
	    note)
	VALUES (cur.org_id, cur.id, cur.assignee_id, p_to, crm_user(), p_note);
	RETURN t;
END
$$;
REVOKE ALL ON FUNCTION crm_task_reassign(uuid, uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm_task_reassign(uuid, uuid, text) TO crm_app;

-- POST /v1/tasks/{id}/transfer {assignee_id, note?}: hand an open or
-- in-progress task to another active user (422 unknown, inactive or the
-- same assignee; 409 for a done or cancelled task; 404 for a task the
-- caller cannot see), recorded in the transfer history and the audit log,
-- all by crm_task_reassign. The answer is the task as it now is, even
-- when the new assignee takes it out of the caller's sight.
CREATE OR REPLACE FUNCTION api_tasks_transfer(p jsonb, p_id uuid, b jsonb)
RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	RETURN task_json(crm_task_reassign(p_id, (b->>'assignee_id')::uuid,
	    b->>'note'))::text;
END
$$;

-- --- one document-number allocator, orders included (0014, 0015) ------------

-- Orders had an allocator of their own (crm_order_number over
-- order_numbers, 0015) that anyone could execute; document_numbers and
-- crm_next_number (0014) now number orders too, as kind 'order'. An
-- order's year is its order date's, which may be any year from 1900 (as
-- the server's date check allows).
ALTER TABLE document_numbers DROP CONSTRAINT document_numbers_kind_check;
ALTER TABLE document_numbers ADD CONSTRAINT document_numbers_kind_check
    CHECK (kind IN ('quote', 'contract', 'order'));
ALTER TABLE document_numbers DROP CONSTRAINT document_numbers_year_check;
ALTER TABLE document_numbers ADD CONSTRAINT document_numbers_year_check
    CHECK (year BETWEEN 1900 AND 9999);
INSERT INTO document_numbers AS d (org_id, kind, year, last)
SELECT org_id, 'order', year, last FROM order_numbers
ON CONFLICT (org_id, kind, year) DO UPDATE
    SET last = greatest(d.last, EXCLUDED.last);

-- The next number of `p_kind` (quote, contract, order) for the bound
-- caller's organisation, in the year of `p_day` (default today):
-- Q-2026-000001, C-2026-000001, SO-2026-000001. The upsert locks the
-- counter's row until the transaction ends, so concurrent requests get
-- distinct numbers, and a request that fails gives its number back (no
-- gaps). 401 with no caller bound. Callers that name no day (quotes,
-- contracts) reach this one function as before.
DROP FUNCTION crm_next_number(text);
CREATE FUNCTION crm_next_number(p_kind text, p_day date DEFAULT current_date)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	y	integer := extract(year FROM p_day)::integer;
	n	integer;
BEGIN
	IF crm_org() IS NULL THEN
		PERFORM crm_raise('401', 'The credentials are invalid.');
	END IF;
	INSERT INTO document_numbers AS d (org_id, kind, year, last)
	VALUES (crm_org(), p_kind, y, 1)
	ON CONFLICT (org_id, kind, year) DO UPDATE SET last = d.last + 1
	RETURNING last INTO n;
	RETURN CASE p_kind WHEN 'quote' THEN 'Q' WHEN 'contract' THEN 'C'
	    ELSE 'SO' END || '-' || y || '-' ||
	    lpad(n::text, greatest(6, length(n::text)), '0');
END
$$;
REVOKE ALL ON FUNCTION crm_next_number(text, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm_next_number(text, date) TO crm_app;

-- POST /v1/orders: the order, its lines and the subscriptions they start,
-- in one transaction, numbered by crm_next_number in the year of its
-- order date. 422 lists every bad field (a customer the caller cannot see
-- reads exactly as one that does not exist); 409 for a duplicate
-- external_id; 403 for the service role.
CREATE OR REPLACE FUNCTION api_orders_create(p jsonb, b jsonb) RETURNS text
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
		VALUES (crm_org(), crm_next_number('order', coalesce(
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

-- POST /v1/subscriptions/{id}/renew {periods}: the next subscription,
-- starting the day after end_date with the same copies, recipient and
-- address, and a pending order for it (numbered by crm_next_number) at
-- today's catalogue price, in one transaction. 409 when it was renewed
-- already (also when two renewals race: a unique index), is cancelled, or
-- its product is no longer sold.
CREATE OR REPLACE FUNCTION api_subscriptions_renew(p jsonb, p_id uuid, b jsonb)
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
		VALUES (cur.org_id, crm_next_number('order'),
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

-- Nothing numbers orders the old way any more.
DROP FUNCTION crm_order_number(date);
DROP TABLE order_numbers;

-- Every SECURITY DEFINER function that is not a trigger is executable by
-- the roles named in its grants only. Two of 0012 were still PUBLIC's:
-- crm_lead_grading (any role could read any organisation's thresholds)
-- and crm_leads_rescore.
REVOKE ALL ON FUNCTION crm_lead_grading(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm_lead_grading(uuid) TO crm_app;
REVOKE ALL ON FUNCTION crm_leads_rescore() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm_leads_rescore() TO crm_app;

-- --- lines and subscriptions are deleted with pending orders only (0015) ----

-- A pending order's lines are replaced wholly, and their subscriptions
-- with them (api_orders_update); once it is confirmed, fulfilled or
-- cancelled its lines and subscriptions stay, whoever asks.
ALTER POLICY order_lines_delete ON order_lines
	USING (org_id = crm_org() AND EXISTS (
	    SELECT 1 FROM orders o WHERE o.id = order_id
	    AND o.status = 'pending' AND crm_order_writer(o.owner_id)));
ALTER POLICY subscriptions_delete ON subscriptions
	USING (org_id = crm_org() AND crm_order_writer(owner_id) AND EXISTS (
	    SELECT 1 FROM orders o WHERE o.id = order_id
	    AND o.status = 'pending'));

-- --- row locks before the checks they guard (0013, 0014, 0015) --------------

-- Each change below read its row without a lock and then checked If-Match
-- or a status against that read: a change committed in between was
-- overwritten (a lost update) or a status rule was judged on a status
-- that no longer held. Now the row is locked (SELECT ... FOR UPDATE) once
-- the 404/403 answer is settled, and the checks read the locked row. A
-- locking read applies the table's UPDATE policies, so where those are
-- narrower than the SELECT ones the plain read decides 404 versus 403
-- first.

-- PATCH /v1/tasks/{id}: JSON merge patch, If-Match optional (412). A
-- status change follows the task's status machine (409 naming the
-- statuses allowed from the current one); the assignee changes only by a
-- transfer. Links as on create (422). The task's row is locked first (its
-- update policy is its read policy: the locking read answers 404 alike).
CREATE OR REPLACE FUNCTION api_tasks_update(p jsonb, p_id uuid, b jsonb,
    p_if_match integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	cur	tasks;
	l	jsonb;
	e	jsonb;
	t	tasks;
BEGIN
	PERFORM crm_bind(p);
	SELECT * INTO cur FROM tasks WHERE id = p_id AND deleted_at IS NULL
	FOR UPDATE;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF p_if_match IS NOT NULL AND p_if_match <> cur.version THEN
		PERFORM crm_raise('412', 'The task changed since you read it '
		    '(version ' || cur.version || ').');
	END IF;
	IF b ? 'status' THEN
		PERFORM crm_transition_check('A task', cur.status,
		    b->>'status', crm_task_next(cur.status));
	END IF;
	SELECT links, errors INTO l, e FROM crm_links_check(
	    jsonb_build_object('customer_id', cur.customer_id,
	    'contact_id', cur.contact_id, 'opportunity_id', cur.opportunity_id,
	    'lead_id', cur.lead_id), b, false);
	PERFORM crm_raise_if(e);
	UPDATE tasks SET
	    title = CASE WHEN b ? 'title' THEN b->>'title' ELSE title END,
	    description = CASE WHEN b ? 'description' THEN b->>'description'
		ELSE description END,
	    due_at = CASE WHEN b ? 'due_at' THEN (b->>'due_at')::timestamptz
		ELSE due_at END,
	    remind_at = CASE WHEN b ? 'remind_at' THEN
		(b->>'remind_at')::timestamptz ELSE remind_at END,
	    priority = CASE WHEN b ? 'priority' THEN b->>'priority'
		ELSE priority END,
	    status = CASE WHEN b ? 'status' THEN b->>'status' ELSE status END,
	    customer_id = (l->>'customer_id')::uuid,
	    contact_id = (l->>'contact_id')::uuid,
	    opportunity_id = (l->>'opportunity_id')::uuid,
	    lead_id = (l->>'lead_id')::uuid
	WHERE id = p_id
	RETURNING * INTO t;
	RETURN task_json(t)::text;
END
$$;

-- DELETE /v1/tasks/{id}: soft delete; If-Match optional (412), checked on
-- the locked row.
CREATE OR REPLACE FUNCTION api_tasks_delete(p jsonb, p_id uuid,
    p_if_match integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	cur	tasks;
BEGIN
	PERFORM crm_bind(p);
	SELECT * INTO cur FROM tasks WHERE id = p_id AND deleted_at IS NULL
	FOR UPDATE;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF p_if_match IS NOT NULL AND p_if_match <> cur.version THEN
		PERFORM crm_raise('412', 'The task changed since you read it '
		    '(version ' || cur.version || ').');
	END IF;
	UPDATE tasks SET deleted_at = now() WHERE id = p_id;
	RETURN '{}';
END
$$;

-- The activity `p_id` the caller may change, for PATCH and DELETE: NULL
-- (404) when they cannot see it, 403 when they see it through its
-- customer only, 412 when If-Match names another version. Locks the row
-- (so it is VOLATILE) once the 404/403 answer is settled.
CREATE OR REPLACE FUNCTION crm_activity_writable(p_id uuid,
    p_if_match integer)
RETURNS activities
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	cur	activities;
BEGIN
	SELECT * INTO cur FROM activities WHERE id = p_id AND deleted_at IS NULL;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF NOT crm_mine(cur.owner_id) THEN
		PERFORM crm_raise('403', 'You may read this activity but not '
		    'change it.');
	END IF;
	SELECT * INTO cur FROM activities
	WHERE id = p_id AND deleted_at IS NULL FOR UPDATE;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF p_if_match IS NOT NULL AND p_if_match <> cur.version THEN
		PERFORM crm_raise('412', 'The activity changed since you read '
		    'it (version ' || cur.version || ').');
	END IF;
	RETURN cur;
END
$$;

-- PATCH /v1/products/{id}: merge patch (active=false retires a product;
-- there is no delete), If-Match optional. 404 unknown, 403 for roles
-- that only read the catalogue, 412 stale (on the locked row), 422 broken
-- rules, 409 duplicates.
CREATE OR REPLACE FUNCTION api_products_update(p jsonb, p_id uuid, b jsonb,
    p_if_match integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	r	products;
	cn	text;
BEGIN
	PERFORM crm_bind(p);
	SELECT * INTO r FROM products WHERE id = p_id;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	PERFORM crm_product_writer();
	SELECT * INTO r FROM products WHERE id = p_id FOR UPDATE;
	IF p_if_match IS NOT NULL AND p_if_match <> r.version THEN
		PERFORM crm_raise('412', 'The product changed since you read '
		    'it (version ' || r.version || ').');
	END IF;
	r := crm_product_apply(r, b);
	PERFORM crm_product_check(r);
	BEGIN
		UPDATE products SET sku = r.sku, name = r.name,
		    description = r.description, category = r.category,
		    unit = r.unit, unit_price = r.unit_price,
		    currency = r.currency, tax_rate = r.tax_rate,
		    period = r.period, issues_per_period = r.issues_per_period,
		    active = r.active, external_id = r.external_id
		WHERE id = p_id
		RETURNING * INTO r;
	EXCEPTION WHEN unique_violation THEN
		GET STACKED DIAGNOSTICS cn = CONSTRAINT_NAME;
		PERFORM crm_product_conflict(cn);
	END;
	RETURN product_json(r)::text;
END
$$;

-- The live template `p_id` for an admin's change, locked: NULL when there
-- is none, 403 for other roles, 412 when `p_if_match` names another
-- version.
CREATE OR REPLACE FUNCTION crm_template_for_change(p_id uuid,
    p_if_match integer)
RETURNS contract_templates
LANGUAGE plpgsql AS $$
DECLARE
	t	contract_templates;
BEGIN
	SELECT * INTO t FROM contract_templates
	WHERE id = p_id AND deleted_at IS NULL;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	PERFORM crm_require_role('admin');
	SELECT * INTO t FROM contract_templates
	WHERE id = p_id AND deleted_at IS NULL FOR UPDATE;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF p_if_match IS NOT NULL AND p_if_match <> t.version THEN
		PERFORM crm_raise('412', 'The template changed since you read '
		    'it (version ' || t.version || ').');
	END IF;
	RETURN t;
END
$$;

-- PATCH /v1/subscriptions/{id}/deliveries/{delivery_id}: status (planned
-- -> shipped | delivered, shipped -> delivered | returned, delivered ->
-- returned, returned -> shipped; 409 names the allowed), tracking_no,
-- quantity. 404 unseen, 403 read-only, 409 on a cancelled subscription.
-- The status rule reads the delivery locked after its subscription, so
-- concurrent changes of one delivery queue and each sees the last one's
-- status.
CREATE OR REPLACE FUNCTION api_deliveries_update(p jsonb, p_id uuid,
    p_delivery uuid, b jsonb)
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
	-- Gone from sight while we waited for a lock: as if never seen.
	IF (crm_subscription_for_change(p_id, NULL)).id IS NULL THEN
		RETURN NULL;
	END IF;
	SELECT * INTO cur FROM deliveries WHERE id = p_delivery FOR UPDATE;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
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

-- --- a contract from a quote keeps the quote's amount (0014) ----------------

-- PATCH /v1/contracts/{id} {title?, amount?, currency?, start_date?,
-- end_date?, terms?}: drafts and rejected contracts only (409 otherwise);
-- If-Match optional. A contract written from a quote has the quote's
-- grand total and currency: a patch naming an amount, or another
-- currency, is refused with 422, as on create.
CREATE OR REPLACE FUNCTION api_contracts_update(p jsonb, p_id uuid, b jsonb,
    p_if_match integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	c	contracts;
	errors	jsonb;
BEGIN
	PERFORM crm_bind(p);
	c := crm_contract_for_change(p_id, p_if_match);
	IF c.id IS NULL THEN
		RETURN NULL;
	END IF;
	IF c.status NOT IN ('draft', 'rejected') THEN
		PERFORM crm_raise('409', format('Only draft or rejected '
		    'contracts can be changed; this one is %s.', c.status));
	END IF;
	errors := coalesce(crm_currency_error('currency', b->>'currency'),
	    '[]') || coalesce(crm_contract_dates_error(
	    CASE WHEN b ? 'start_date' THEN (b->>'start_date')::date
		ELSE c.start_date END,
	    CASE WHEN b ? 'end_date' THEN (b->>'end_date')::date
		ELSE c.end_date END), '[]');
	IF c.quote_id IS NOT NULL AND b ? 'amount' THEN
		errors := errors || crm_field_error('amount', 'conflict',
		    'A contract from a quote takes its grand total; leave out '
		    'amount.');
	END IF;
	IF c.quote_id IS NOT NULL AND b ? 'currency' AND
	    b->>'currency' IS DISTINCT FROM c.currency THEN
		errors := errors || crm_field_error('currency', 'conflict',
		    'A contract from a quote takes its currency.');
	END IF;
	IF jsonb_array_length(errors) > 0 THEN
		PERFORM crm_raise_fields('422', 'The contract is invalid; see '
		    'errors.', errors);
	END IF;
	UPDATE contracts SET
	    title = CASE WHEN b ? 'title' THEN b->>'title' ELSE title END,
	    amount = CASE WHEN b ? 'amount' THEN (b->>'amount')::numeric
		ELSE amount END,
	    currency = CASE WHEN b ? 'currency' THEN b->>'currency'
		ELSE currency END,
	    start_date = CASE WHEN b ? 'start_date' THEN
		(b->>'start_date')::date ELSE start_date END,
	    end_date = CASE WHEN b ? 'end_date' THEN (b->>'end_date')::date
		ELSE end_date END,
	    terms = CASE WHEN b ? 'terms' THEN b->>'terms' ELSE terms END
	WHERE id = p_id
	RETURNING * INTO c;
	RETURN contract_json(c)::text;
END
$$;

-- --- separation of duties, and no sale on a lost deal (0014) ----------------

-- Who submitted a contract for approval (the last submission): whoever
-- submitted it does not approve it, even where the reporting line would
-- let them (a manager submitting a subordinate's contract). Filled in
-- from the contracts' history for those submitted before; that is no
-- change of the contracts themselves, so their version and audit stay.
ALTER TABLE contracts ADD COLUMN submitted_by uuid;
ALTER TABLE contracts ADD CONSTRAINT contracts_submitted_by_fk
    FOREIGN KEY (org_id, submitted_by) REFERENCES users (org_id, id);
ALTER TABLE contracts DISABLE TRIGGER contracts_touch;
ALTER TABLE contracts DISABLE TRIGGER contracts_audit;
UPDATE contracts c SET submitted_by = e.actor_id
FROM (SELECT DISTINCT ON (contract_id) contract_id, actor_id
    FROM contract_events WHERE to_status = 'pending_approval'
    ORDER BY contract_id, id DESC) e
WHERE e.contract_id = c.id;
ALTER TABLE contracts ENABLE TRIGGER contracts_touch;
ALTER TABLE contracts ENABLE TRIGGER contracts_audit;

-- Move contract `c` (locked by crm_contract_for_change) to `want`, with
-- `note` in its event: 409 naming the allowed statuses when the move is
-- not one of crm_contract_next; a move to the status it has changes
-- nothing. A submission records who submitted. Returns the row as it is
-- afterwards.
CREATE OR REPLACE FUNCTION crm_contract_move(c contracts, want text, note text)
RETURNS contracts
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_transition_check('contract', c.status, want,
	    crm_contract_next(c.status));
	IF c.status = want THEN
		RETURN c;
	END IF;
	PERFORM set_config('app.note', coalesce(note, ''), true);
	UPDATE contracts SET status = want,
	    submitted_at = CASE WHEN want = 'pending_approval' THEN now()
		ELSE submitted_at END,
	    submitted_by = CASE WHEN want = 'pending_approval' THEN crm_user()
		ELSE submitted_by END,
	    approved_by = CASE WHEN want = 'approved' THEN crm_user()
		ELSE approved_by END,
	    approved_at = CASE WHEN want = 'approved' THEN now()
		ELSE approved_at END,
	    rejection_reason = CASE WHEN want = 'rejected' THEN note
		WHEN want = 'pending_approval' THEN NULL
		ELSE rejection_reason END,
	    fulfilled_at = CASE WHEN want = 'fulfilled' THEN now()
		ELSE fulfilled_at END,
	    cancelled_at = CASE WHEN want = 'cancelled' THEN now()
		ELSE cancelled_at END
	WHERE id = c.id
	RETURNING * INTO c;
	RETURN c;
END
$$;

-- POST /v1/contracts/{id}/approve and /reject {reason}: pending_approval
-- -> approved | rejected, decided by an admin or someone above the owner
-- in the reporting line (crm_contract_approver), and approved only by
-- someone other than who submitted it. 404 for a contract the caller
-- cannot see; 403 for anyone else who sees it, the owner and executives
-- included, and for the submitter approving (they may still reject it,
-- which hands it back); 409 naming the allowed statuses.
CREATE OR REPLACE FUNCTION api_contracts_decide(p jsonb, p_id uuid, want text, b jsonb,
    p_if_match integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	c	contracts;
BEGIN
	PERFORM crm_bind(p);
	IF want NOT IN ('approved', 'rejected') THEN
		PERFORM crm_raise('500', 'No such contract decision.');
	END IF;
	SELECT * INTO c FROM contracts WHERE id = p_id FOR UPDATE;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF c.owner_id = crm_user() THEN
		PERFORM crm_raise('403', 'Nobody approves their own contract; '
		    'your manager does.');
	END IF;
	IF NOT crm_contract_approver(c) THEN
		PERFORM crm_raise('403', 'Only an admin or a manager above the '
		    'contract''s owner may approve or reject it.');
	END IF;
	IF want = 'approved' AND c.submitted_by = crm_user() THEN
		PERFORM crm_raise('403', 'You submitted this contract for '
		    'approval, so someone else approves it: an admin or a '
		    'manager above its owner.');
	END IF;
	IF p_if_match IS NOT NULL AND p_if_match <> c.version THEN
		PERFORM crm_raise('412', 'The contract changed since you read '
		    'it (version ' || c.version || ').');
	END IF;
	RETURN contract_json(crm_contract_move(c, want, b->>'reason'))::text;
END
$$;

-- 409 when `o`, the opportunity of a quote being accepted or of a
-- contract being signed (`what`), is lost: that sale goes ahead on an
-- open deal, or on a won one when the request is repeated, and a lost
-- deal is reopened first. NULL (no opportunity, or one the caller cannot
-- see) passes: the caller's own rules decide.
CREATE FUNCTION crm_sale_check(o opportunities, what text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	IF o.status = 'lost' THEN
		PERFORM crm_raise('409', format('The %s''s opportunity is lost; '
		    'reopen it first (POST /v1/opportunities/%s/reopen).',
		    what, o.id));
	END IF;
END
$$;

-- POST /v1/contracts/{id}/sign {signed_at?}: approved -> signed (409
-- naming the allowed statuses otherwise), signed now unless said (not in
-- the future: 422). In the same transaction the linked opportunity, if
-- still open, moves to its pipeline's won stage, so its history, the
-- funnel and the forecast see the win; 409 when it is lost (also for a
-- repeated signature), 403 when the caller cannot change it (someone who
-- works on it must sign). The opportunity is locked with the contract, so
-- a concurrent loss waits for the signature or is seen by it.
CREATE OR REPLACE FUNCTION api_contracts_sign(p jsonb, p_id uuid, b jsonb,
    p_if_match integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	c	contracts;
	o	opportunities;
	at	timestamptz := coalesce((b->>'signed_at')::timestamptz, now());
	won	uuid;
BEGIN
	PERFORM crm_bind(p);
	c := crm_contract_for_change(p_id, p_if_match);
	IF c.id IS NULL THEN
		RETURN NULL;
	END IF;
	PERFORM crm_transition_check('contract', c.status, 'signed',
	    crm_contract_next(c.status));
	IF c.opportunity_id IS NOT NULL THEN
		-- Its update policy is its read policy: NULL when the caller
		-- may not change it.
		SELECT * INTO o FROM opportunities WHERE id = c.opportunity_id
		FOR UPDATE;
		PERFORM crm_sale_check(o, 'contract');
	END IF;
	IF c.status = 'signed' THEN
		RETURN contract_json(c)::text;
	END IF;
	IF at > now() + interval '5 minutes' THEN
		PERFORM crm_raise_fields('422', 'The signature is invalid; see '
		    'errors.', jsonb_build_array(crm_field_error('signed_at',
		    'range', '''signed_at'' cannot be in the future.')));
	END IF;
	IF c.opportunity_id IS NOT NULL AND o.id IS NULL THEN
		PERFORM crm_raise('403', 'You cannot change the contract''s '
		    'opportunity; someone who works on it must sign.');
	END IF;
	UPDATE contracts SET status = 'signed', signed_at = at
	WHERE id = p_id
	RETURNING * INTO c;

	IF o.id IS NOT NULL THEN
		IF o.status = 'open' AND o.deleted_at IS NULL THEN
			SELECT id INTO won FROM pipeline_stages
			WHERE org_id = o.org_id AND pipeline_id = o.pipeline_id
			    AND kind = 'won'
			ORDER BY position, id LIMIT 1;
			IF won IS NULL THEN
				PERFORM crm_raise('409', 'The opportunity''s '
				    'pipeline has no won stage to move it to.');
			END IF;
			UPDATE opportunities SET stage_id = won
			WHERE id = o.id;
		END IF;
	END IF;
	RETURN contract_json(c)::text;
END
$$;

-- POST /v1/quotes/{id}/accept: sent -> accepted, and in the same
-- transaction the contract in draft (amount = the grand total; customer,
-- opportunity, quote and owner from the quote). Answers {quote,
-- contract_id}. Accepting an accepted quote answers the same contract
-- again (the quote row is locked first, so concurrent accepts queue and
-- the second finds the first's contract). 409 naming the allowed statuses
-- for a draft, a rejected or an expired quote, and 409 when the quote's
-- opportunity is lost (it is locked against a concurrent loss).
CREATE OR REPLACE FUNCTION api_quotes_accept(p jsonb, p_id uuid, p_if_match integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	q	quotes;
	shown	text;
	cid	uuid;
	o	opportunities;
BEGIN
	PERFORM crm_bind(p);
	q := crm_quote_for_change(p_id, p_if_match);
	IF q.id IS NULL THEN
		RETURN NULL;
	END IF;
	shown := crm_quote_status(q.status, q.valid_until);
	PERFORM crm_transition_check('quote', shown, 'accepted',
	    crm_quote_next(shown));
	SELECT * INTO o FROM opportunities WHERE id = q.opportunity_id
	FOR SHARE;
	PERFORM crm_sale_check(o, 'quote');
	IF q.status <> 'accepted' THEN
		UPDATE quotes SET status = 'accepted', accepted_at = now()
		WHERE id = p_id
		RETURNING * INTO q;
	END IF;
	-- A contract written from this quote before (POST /v1/contracts)
	-- is the one; otherwise it is made now.
	SELECT id INTO cid FROM contracts
	WHERE org_id = q.org_id AND quote_id = q.id;
	IF cid IS NULL THEN
		PERFORM set_config('app.note', format('Created from quote %s '
		    'revision %s on its acceptance.', q.number, q.revision),
		    true);
		INSERT INTO contracts (org_id, owner_id, number, customer_id,
		    opportunity_id, quote_id, title, amount, currency)
		VALUES (q.org_id, q.owner_id, crm_next_number('contract'),
		    q.customer_id, q.opportunity_id, q.id,
		    left(coalesce(o.name, '报价') || '（' || q.number || '）', 200),
		    (SELECT coalesce(sum(l.gross), 0) FROM quote_lines l
		     WHERE l.org_id = q.org_id AND l.quote_id = q.id),
		    q.currency)
		RETURNING id INTO cid;
	END IF;
	RETURN json_build_object('quote', quote_detail_json(q),
	    'contract_id', cid)::text;
END
$$;

-- --- weighted amounts round once, at the figure shown (0011) ----------------

-- The rule for weighted amounts (amount x probability / 100): a single
-- deal may show its own rounded to the cent (opportunity_json), but every
-- aggregate sums the exact values and rounds once, at the figure shown,
-- totals included. The funnel's totals used to add up its stages' rounded
-- figures, a cent or more away from the rounded sum.

-- GET /v1/opportunities/funnel?pipeline_id=&owner_id=&created_after=
-- &created_before=: one row per stage of the pipeline (default: the
-- organisation's default), in position order, over the opportunities the
-- caller can see that are in the pipeline, not deleted, and match the
-- filters (owner; created_at >= created_after, < created_before):
--   count, amount: those currently in the stage (for an open stage, its
--     open opportunities; for the won and lost stages, the closed ones);
--   weighted_amount: the exact sum of amount x probability / 100, rounded
--     once to the cent, half away from zero; the totals round the exact
--     sum over the open stages the same way (not the sum of the stages'
--     rounded figures);
--   reached (open and won stages): how many were ever, by their stage
--     history, in a stage of this pipeline at this position or later,
--     the lost stage excluded;
--   advanced (open stages): how many of those reached the next stage
--     (the next position, the lost stage skipped);
--   conversion_rate: advanced / reached, 4 decimals, null when nothing
--     reached the stage or no stage follows.
-- One statement; row-level security makes a rep's funnel theirs, a
-- manager's their team's, an admin's the organisation's. 422
-- (pipeline_id) for a pipeline the caller's organisation does not have.
CREATE OR REPLACE FUNCTION api_opportunities_funnel(p jsonb, f jsonb) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	IF f ? 'pipeline_id' AND NOT EXISTS (SELECT 1 FROM pipelines
	    WHERE id = (f->>'pipeline_id')::uuid) THEN
		PERFORM crm_raise_fields('422', 'The funnel query is invalid; '
		    'see errors.', jsonb_build_array(crm_field_error(
		    'pipeline_id', 'not_found', 'pipeline_id names no pipeline '
		    'of this organization.')));
	END IF;
	RETURN (
	WITH pl AS (
		SELECT * FROM pipelines
		WHERE CASE WHEN f ? 'pipeline_id' THEN
		    id = (f->>'pipeline_id')::uuid ELSE is_default END
	), st AS (
		SELECT s.*, (SELECT min(x.position) FROM pipeline_stages x
		    WHERE x.pipeline_id = s.pipeline_id AND x.kind <> 'lost'
		    AND x.position > s.position) AS next_position
		FROM pipeline_stages s JOIN pl ON s.pipeline_id = pl.id
	), opp AS (
		SELECT o.id, o.stage_id, o.amount
		FROM opportunities o JOIN pl ON o.pipeline_id = pl.id
		WHERE o.deleted_at IS NULL
		  AND (NOT f ? 'owner_id' OR
		       o.owner_id = (f->>'owner_id')::uuid)
		  AND (NOT f ? 'created_after' OR
		       o.created_at >= (f->>'created_after')::timestamptz)
		  AND (NOT f ? 'created_before' OR
		       o.created_at < (f->>'created_before')::timestamptz)
	), reach AS (
		SELECT h.opportunity_id, max(s.position) AS top
		FROM opportunity_stage_history h
		JOIN opp ON opp.id = h.opportunity_id
		JOIN st s ON s.id = h.to_stage_id AND s.kind <> 'lost'
		GROUP BY h.opportunity_id
	), rows AS (
		SELECT s.*, x.cnt, x.amt,
		    x.amt * s.probability * 0.01 AS weighted,
		    CASE WHEN s.kind <> 'lost' THEN (SELECT count(*) FROM reach
			WHERE reach.top >= s.position) END AS reached,
		    CASE WHEN s.kind = 'open' AND s.next_position IS NOT NULL
			THEN (SELECT count(*) FROM reach
			WHERE reach.top >= s.next_position) END AS advanced
		FROM st s, LATERAL (SELECT count(opp.id) AS cnt,
		    coalesce(sum(opp.amount), 0) AS amt FROM opp
		    WHERE opp.stage_id = s.id) x
	)
	SELECT json_build_object(
	    'pipeline', json_build_object('id', pl.id, 'name', pl.name),
	    'stages', coalesce((SELECT json_agg(json_build_object(
		'stage_id', r.id, 'name', r.name, 'position', r.position,
		'probability', r.probability,
		'forecast_category', r.forecast_category, 'kind', r.kind,
		'count', r.cnt, 'amount', crm_money_text(r.amt),
		'weighted_amount', crm_money_text(round(r.weighted, 2)),
		'reached', r.reached, 'advanced', r.advanced,
		'conversion_rate', CASE WHEN r.reached > 0 AND
		    r.advanced IS NOT NULL THEN round(r.advanced::numeric /
		    r.reached, 4)::text END)
		ORDER BY r.position, r.id) FROM rows r), '[]'),
	    'totals', (SELECT json_build_object('count',
		coalesce(sum(r.cnt), 0),
		'amount', crm_money_text(coalesce(sum(r.amt), 0)),
		'weighted_amount', crm_money_text(round(coalesce(
		sum(r.weighted), 0), 2))) FROM rows r WHERE r.kind = 'open'))
	FROM pl)::text;
END
$$;

-- --- a cursor of another list is a 400, everywhere (0014) --------------------

-- The id of a (created_at, id) keyset cursor as a UUID: 400 when the
-- cursor decodes but carries another kind of id (it came from another
-- list), as crm_cursor_decode answers for one that does not decode.
-- The quote, template and contract lists cast it in their query and
-- answered 422 (22P02) instead.
CREATE FUNCTION crm_cursor_uuid(i text) RETURNS uuid
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	RETURN i::uuid;
EXCEPTION WHEN invalid_text_representation THEN
	PERFORM crm_raise('400', 'The cursor is not valid for this list.');
	RETURN NULL;
END
$$;

-- GET /v1/quotes: filters opportunity_id, customer_id, status (as shown:
-- expired included), owner_id; newest first, keyset on (created_at, id);
-- 400 for a cursor that is not one of this list's.
CREATE OR REPLACE FUNCTION api_quotes_list(p jsonb, f jsonb) RETURNS text
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
		SELECT t, i INTO cur_t, cur_i FROM crm_cursor_decode(f->>'cursor');
		PERFORM crm_cursor_uuid(cur_i);
	END IF;
	WITH page AS (
		SELECT q, q.created_at, q.id, row_number() OVER (ORDER BY
		    q.created_at DESC, q.id DESC) AS n
		FROM quotes q
		WHERE (NOT f ? 'opportunity_id' OR
		       q.opportunity_id = (f->>'opportunity_id')::uuid)
		  AND (NOT f ? 'customer_id' OR
		       q.customer_id = (f->>'customer_id')::uuid)
		  AND (NOT f ? 'owner_id' OR q.owner_id = (f->>'owner_id')::uuid)
		  AND (NOT f ? 'status' OR
		       crm_quote_status(q.status, q.valid_until) = f->>'status')
		  AND (cur_t IS NULL OR (q.created_at, q.id) <
		       (cur_t, cur_i::uuid))
		ORDER BY q.created_at DESC, q.id DESC
		LIMIT lim + 1
	)
	SELECT coalesce(json_agg(quote_json(page.q) ORDER BY n)
		FILTER (WHERE n <= lim), '[]'),
	    CASE WHEN count(*) > lim THEN (array_agg(crm_cursor_encode(
		page.created_at, page.id::text)) FILTER (WHERE n = lim))[1] END
	INTO rows, nxt
	FROM page;
	RETURN json_build_object('data', rows, 'next_cursor', nxt)::text;
END
$$;

-- GET /v1/contract-templates: oldest first, keyset on (created_at, id);
-- 400 for a cursor that is not one of this list's.
CREATE OR REPLACE FUNCTION api_contract_templates_list(p jsonb, f jsonb) RETURNS text
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
		SELECT t, i INTO cur_t, cur_i FROM crm_cursor_decode(f->>'cursor');
		PERFORM crm_cursor_uuid(cur_i);
	END IF;
	WITH page AS (
		SELECT t, t.created_at, t.id, row_number() OVER (ORDER BY
		    t.created_at, t.id) AS n
		FROM contract_templates t
		WHERE t.deleted_at IS NULL
		  AND (cur_t IS NULL OR (t.created_at, t.id) >
		       (cur_t, cur_i::uuid))
		ORDER BY t.created_at, t.id
		LIMIT lim + 1
	)
	SELECT coalesce(json_agg(contract_template_json(page.t) ORDER BY n)
		FILTER (WHERE n <= lim), '[]'),
	    CASE WHEN count(*) > lim THEN (array_agg(crm_cursor_encode(
		page.created_at, page.id::text)) FILTER (WHERE n = lim))[1] END
	INTO rows, nxt
	FROM page;
	RETURN json_build_object('data', rows, 'next_cursor', nxt)::text;
END
$$;

-- GET /v1/contracts: filters status, customer_id, opportunity_id,
-- owner_id; newest first, keyset on (created_at, id); 400 for a cursor
-- that is not one of this list's.
CREATE OR REPLACE FUNCTION api_contracts_list(p jsonb, f jsonb) RETURNS text
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
		SELECT t, i INTO cur_t, cur_i FROM crm_cursor_decode(f->>'cursor');
		PERFORM crm_cursor_uuid(cur_i);
	END IF;
	WITH page AS (
		SELECT c, c.created_at, c.id, row_number() OVER (ORDER BY
		    c.created_at DESC, c.id DESC) AS n
		FROM contracts c
		WHERE (NOT f ? 'status' OR c.status = f->>'status')
		  AND (NOT f ? 'customer_id' OR
		       c.customer_id = (f->>'customer_id')::uuid)
		  AND (NOT f ? 'opportunity_id' OR
		       c.opportunity_id = (f->>'opportunity_id')::uuid)
		  AND (NOT f ? 'owner_id' OR c.owner_id = (f->>'owner_id')::uuid)
		  AND (cur_t IS NULL OR (c.created_at, c.id) <
		       (cur_t, cur_i::uuid))
		ORDER BY c.created_at DESC, c.id DESC
		LIMIT lim + 1
	)
	SELECT coalesce(json_agg(contract_json(page.c) ORDER BY n)
		FILTER (WHERE n <= lim), '[]'),
	    CASE WHEN count(*) > lim THEN (array_agg(crm_cursor_encode(
		page.created_at, page.id::text)) FILTER (WHERE n = lim))[1] END
	INTO rows, nxt
	FROM page;
	RETURN json_build_object('data', rows, 'next_cursor', nxt)::text;
END
$$;

-- --- one decimal check (0014, 0015) ------------------------------------------

-- crm_order_decimal_error (0015) repeated crm_decimal_error (0014), rule
-- for rule and code for code. It stays only as a name for its caller
-- (crm_order_line, too large to copy here for this); the rules live in
-- crm_decimal_error alone.
CREATE OR REPLACE FUNCTION crm_order_decimal_error(field text, v jsonb,
    decimals integer, digits integer)
RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
	SELECT crm_decimal_error(field, v, decimals, digits)
$$;

-- --- the organisation's calendar is the database's (0013-0016) -------------

-- Dates were the server's in places (current_date, now()::date, the year
-- of a document number) and the organisation's elsewhere (crm_today,
-- 0020): around midnight they were different days. Organisations are all
-- in China (crm_org_timezone, 0013), so the database's own time zone
-- becomes theirs: every new session reads current_date, now()::date and
-- date_trunc in China time, and timestamps render with +08:00 (still RFC
-- 3339). crm_today() (0020) then agrees with current_date. When
-- organisations get time zones of their own, crm_today(), not
-- current_date, is the one to use.
DO $$
BEGIN
	EXECUTE format('ALTER DATABASE %I SET timezone = %L',
	    current_database(), crm_org_timezone());
END
$$;

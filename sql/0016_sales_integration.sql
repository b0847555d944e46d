-- 0016 the sales modules joined up: orders name the contracts they fulfil,
-- the customer's 360° view shows everything sold and done for it (R14),
-- and a merge of customers carries all of it to the survivor (R17).

ALTER TABLE orders ADD CONSTRAINT orders_contract_fk
    FOREIGN KEY (org_id, contract_id) REFERENCES contracts (org_id, id);
CREATE INDEX orders_contract_idx ON orders (org_id, contract_id)
    WHERE contract_id IS NOT NULL;

-- --- the 360° view (R14) ---------------------------------------------------

-- GET /v1/customers/{id}/overview: one call, one statement. Beside the
-- customer, its company tree, contacts and lifecycle (0008): a summary,
-- then the latest opportunities, activities, open tasks, quotes (not
-- superseded), contracts, orders and subscriptions, each the caller can
-- see (row-level security) and, with an API key, only the modules its
-- scopes cover. Tickets and campaigns stay empty until their modules
-- exist.
CREATE OR REPLACE FUNCTION api_customers_overview(p jsonb, p_id uuid)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	c	customers;
	opp	boolean;
	ord	boolean;
BEGIN
	PERFORM crm_bind(p);
	SELECT * INTO c FROM customers WHERE id = p_id AND deleted_at IS NULL;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	opp := crm_scope_ok('opportunities:read');
	ord := crm_scope_ok('orders:read');
	RETURN json_build_object(
	    'customer', customer_json(c),
	    'parent', (SELECT json_build_object('id', x.id, 'name', x.name)
		FROM customers x WHERE x.id = c.parent_id),
	    'children', coalesce((SELECT json_agg(json_build_object('id', x.id,
		'name', x.name) ORDER BY x.name, x.id) FROM customers x
		WHERE x.parent_id = c.id AND x.deleted_at IS NULL), '[]'),
	    'contacts', coalesce((SELECT json_agg(contact_json(ct)
		ORDER BY ct.created_at, ct.id) FROM contacts ct
		WHERE ct.customer_id = c.id AND ct.deleted_at IS NULL
		  AND crm_scope_ok('contacts:read')), '[]'),
	    'lifecycle', coalesce((SELECT json_agg(json_build_object(
		'from_stage', h.from_stage, 'to_stage', h.to_stage,
		'changed_by', h.changed_by, 'changed_at', h.changed_at)
		ORDER BY h.id DESC) FROM (SELECT * FROM customer_stage_history
		WHERE customer_id = c.id ORDER BY id DESC LIMIT 10) h), '[]'),
	    'summary', json_build_object(
		'open_opportunities', (SELECT count(*) FROM opportunities o
		    WHERE opp AND o.customer_id = c.id
		      AND o.deleted_at IS NULL AND o.status = 'open'),
		'open_pipeline', crm_money_text((SELECT coalesce(sum(o.amount),
		    0) FROM opportunities o
		    WHERE opp AND o.customer_id = c.id
		      AND o.deleted_at IS NULL AND o.status = 'open')),
		'won_amount', crm_money_text((SELECT coalesce(sum(o.amount),
		    0) FROM opportunities o
		    WHERE opp AND o.customer_id = c.id
		      AND o.deleted_at IS NULL AND o.status = 'won')),
		'revenue_12m', crm_money_text((SELECT coalesce(sum(
		    o.grand_total), 0) FROM orders o
		    WHERE ord AND o.customer_id = c.id
		      AND o.status IN ('confirmed', 'fulfilled')
		      AND o.order_date > crm_today() - 365)),
		'balance_due', crm_money_text((SELECT coalesce(sum(
		    o.grand_total - o.amount_paid), 0) FROM orders o
		    WHERE ord AND o.customer_id = c.id
		      AND o.status IN ('confirmed', 'fulfilled'))),
		'last_activity_at', (SELECT max(a.occurred_at) FROM activities a
		    WHERE a.customer_id = c.id AND a.deleted_at IS NULL
		      AND crm_scope_ok('activities:read'))),
	    'opportunities', coalesce((SELECT json_agg(opportunity_json(o)
		ORDER BY o.created_at DESC, o.id) FROM (SELECT * FROM
		opportunities x WHERE opp AND x.customer_id = c.id
		  AND x.deleted_at IS NULL
		ORDER BY x.created_at DESC, x.id LIMIT 20) o), '[]'),
	    'activities', coalesce((SELECT json_agg(activity_json(a)
		ORDER BY a.occurred_at DESC, a.id) FROM (SELECT * FROM
		activities x WHERE crm_scope_ok('activities:read')
		  AND x.customer_id = c.id AND x.deleted_at IS NULL
		ORDER BY x.occurred_at DESC, x.id LIMIT 20) a), '[]'),
	    'tasks', coalesce((SELECT json_agg(task_json(t)
		ORDER BY t.due_at NULLS LAST, t.id) FROM (SELECT * FROM tasks x
		WHERE crm_scope_ok('tasks:read') AND x.customer_id = c.id
		  AND x.deleted_at IS NULL
		  AND x.status IN ('open', 'in_progress')
		ORDER BY x.due_at NULLS LAST, x.id LIMIT 20) t), '[]'),
	    'quotes', coalesce((SELECT json_agg(quote_json(q)
		ORDER BY q.created_at DESC, q.id) FROM (SELECT * FROM quotes x
		WHERE crm_scope_ok('quotes:read') AND x.customer_id = c.id
		  AND x.status <> 'superseded'
		ORDER BY x.created_at DESC, x.id LIMIT 10) q), '[]'),
	    'contracts', coalesce((SELECT json_agg(contract_json(k)
		ORDER BY k.created_at DESC, k.id) FROM (SELECT * FROM
		contracts x WHERE crm_scope_ok('contracts:read')
		  AND x.customer_id = c.id
		ORDER BY x.created_at DESC, x.id LIMIT 10) k), '[]'),
	    'orders', coalesce((SELECT json_agg(order_json(o)
		ORDER BY o.created_at DESC, o.id) FROM (SELECT * FROM orders x
		WHERE ord AND x.customer_id = c.id
		ORDER BY x.created_at DESC, x.id LIMIT 10) o), '[]'),
	    'subscriptions', coalesce((SELECT json_agg(subscription_json(s)
		ORDER BY s.end_date DESC, s.id) FROM (SELECT * FROM
		subscriptions x WHERE ord AND x.customer_id = c.id
		ORDER BY x.end_date DESC, x.id LIMIT 10) s), '[]'),
	    'tickets', '[]'::json,
	    'campaigns', '[]'::json)::text;
END
$$;

-- --- merging customers (R17) -------------------------------------------------

-- When a customer is merged into another (api_customers_merge, 0008, which
-- checks the caller may change both), everything sold and done for it
-- moves to the survivor: opportunities, activities, tasks, quotes,
-- contracts, orders, subscriptions and the leads converted into it. They
-- keep their owners, and move whoever owns them, so that nothing is left
-- pointing at a retired customer; the audit triggers record every move.
CREATE FUNCTION crm_customer_merged() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
	UPDATE opportunities SET customer_id = NEW.merged_into
	WHERE org_id = NEW.org_id AND customer_id = NEW.id;
	UPDATE activities SET customer_id = NEW.merged_into
	WHERE org_id = NEW.org_id AND customer_id = NEW.id;
	UPDATE tasks SET customer_id = NEW.merged_into
	WHERE org_id = NEW.org_id AND customer_id = NEW.id;
	UPDATE quotes SET customer_id = NEW.merged_into
	WHERE org_id = NEW.org_id AND customer_id = NEW.id;
	UPDATE contracts SET customer_id = NEW.merged_into
	WHERE org_id = NEW.org_id AND customer_id = NEW.id;
	UPDATE orders SET customer_id = NEW.merged_into
	WHERE org_id = NEW.org_id AND customer_id = NEW.id;
	UPDATE subscriptions SET customer_id = NEW.merged_into
	WHERE org_id = NEW.org_id AND customer_id = NEW.id;
	UPDATE leads SET customer_id = NEW.merged_into
	WHERE org_id = NEW.org_id AND customer_id = NEW.id;
	RETURN NULL;
END
$$;
CREATE TRIGGER customers_merged AFTER UPDATE OF merged_into ON customers
	FOR EACH ROW WHEN (OLD.merged_into IS NULL AND
	    NEW.merged_into IS NOT NULL)
	EXECUTE FUNCTION crm_customer_merged();

-- --- a converted lead's history (R20) -------------------------------------------

-- When a lead is converted, the activities and tasks logged on it join
-- what it became (as Salesforce carries them to the account, contact and
-- opportunity): those without a customer get the lead's new customer, and
-- its contact and opportunity where they name none, so the 360° view and
-- the opportunity show the history that won the deal.
CREATE FUNCTION crm_lead_converted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
	UPDATE activities SET customer_id = NEW.customer_id,
	    contact_id = coalesce(contact_id, NEW.contact_id),
	    opportunity_id = coalesce(opportunity_id, NEW.opportunity_id)
	WHERE org_id = NEW.org_id AND lead_id = NEW.id AND customer_id IS NULL;
	UPDATE tasks SET customer_id = NEW.customer_id,
	    contact_id = coalesce(contact_id, NEW.contact_id),
	    opportunity_id = coalesce(opportunity_id, NEW.opportunity_id)
	WHERE org_id = NEW.org_id AND lead_id = NEW.id AND customer_id IS NULL;
	RETURN NULL;
END
$$;
CREATE TRIGGER leads_converted AFTER UPDATE OF status ON leads
	FOR EACH ROW WHEN (OLD.status <> 'converted' AND
	    NEW.status = 'converted')
	EXECUTE FUNCTION crm_lead_converted();

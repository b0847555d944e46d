-- 0031 outbound events (R61): an outbox written in the same transaction
-- as the change that causes it, the event feed (GET /v1/events), webhook
-- subscriptions with their signing secrets and delivery log, and the only
-- functions the delivery worker (crm-webhookd, role crm_webhookd) may call.
--
-- Events are written by deferred constraint triggers on the business
-- tables: they run at COMMIT, inside the transaction, so an event exists
-- exactly when its change committed, and its payload (`data`, the
-- module's <x>_json) is the record as committed (an order with its lines,
-- which are written after the order row). Each organisation numbers its
-- events 1, 2, 3, ... through one counter row taken at commit, so ids are
-- gapless and in commit order: a reader that has seen id n has seen every
-- event up to n, which makes the id a safe cursor.
--
-- Who sees an event: its organisation, and within it whoever could read
-- the record when the event happened, judged by the owner it had then
-- (crm_event_visible mirrors the tables' read policies); an API key also
-- needs the module's read scope. Webhooks are an admin's: a subscription
-- receives every event of its types in the organisation.

DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crm_webhookd')
	THEN
		RAISE EXCEPTION 'role crm_webhookd does not exist'
		    USING HINT = 'Create it before migrating: CREATE ROLE '
		    'crm_webhookd LOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT '
		    '(.dev/lib.sh and docker/initdb do).';
	END IF;
END
$$;
GRANT USAGE ON SCHEMA public TO crm_webhookd;

-- --- the catalogue of events ---------------------------------------------

-- Every event type the triggers below write (openapi.yaml: EventType).
CREATE FUNCTION crm_event_types() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
	SELECT ARRAY['customer.created', 'customer.updated', 'customer.deleted',
	    'customer.restored', 'contact.created', 'contact.updated',
	    'contact.deleted', 'lead.created', 'lead.updated',
	    'lead.status_changed', 'lead.converted', 'lead.deleted',
	    'opportunity.created', 'opportunity.updated',
	    'opportunity.stage_changed', 'opportunity.won', 'opportunity.lost',
	    'opportunity.reopened', 'opportunity.deleted', 'quote.created',
	    'quote.sent', 'quote.accepted', 'quote.rejected',
	    'contract.created', 'contract.submitted', 'contract.approved',
	    'contract.rejected', 'contract.signed', 'contract.fulfilled',
	    'contract.cancelled', 'order.created', 'order.confirmed',
	    'order.paid', 'order.fulfilled', 'order.cancelled',
	    'subscription.created', 'subscription.renewed',
	    'subscription.cancelled', 'subscription.deleted',
	    'product.created', 'product.updated']
$$;

-- Whether `t` names events: a type, "<record type>.*" or "*" (all).
CREATE FUNCTION crm_event_pattern_ok(t text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
	SELECT t = '*' OR t = ANY (crm_event_types()) OR (t LIKE '%.*' AND
	    EXISTS (SELECT 1 FROM unnest(crm_event_types()) x
		WHERE split_part(x, '.', 1) = left(t, -2)))
$$;

-- Whether event type `t` matches one of `patterns` (crm_event_pattern_ok).
CREATE FUNCTION crm_event_matches(t text, patterns text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
	SELECT t = ANY (patterns) OR '*' = ANY (patterns) OR
	    split_part(t, '.', 1) || '.*' = ANY (patterns)
$$;

-- The API-key module whose read scope an event of record type `r` needs.
CREATE FUNCTION crm_event_module(r text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE r WHEN 'customer' THEN 'customers'
	    WHEN 'contact' THEN 'contacts' WHEN 'lead' THEN 'leads'
	    WHEN 'opportunity' THEN 'opportunities' WHEN 'quote' THEN 'quotes'
	    WHEN 'contract' THEN 'contracts' WHEN 'order' THEN 'orders'
	    WHEN 'subscription' THEN 'orders' WHEN 'product' THEN 'products'
	    END
$$;

-- Whether the bound caller sees an event about a record of type `r`
-- owned by `owner` (its owner when the event happened): the read policies
-- of the record's table, applied to that owner. Products are read by
-- everyone; marketing and service read every customer (and its
-- contacts), marketing every lead, service every order and subscription.
CREATE FUNCTION crm_event_visible(r text, owner uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
	SELECT crm_scope_ok(crm_event_module(r) || ':read') AND CASE
	    WHEN r = 'product' THEN true
	    WHEN crm_mine(owner) THEN true
	    WHEN r IN ('customer', 'contact') THEN
		crm_role() IN ('marketing', 'service')
	    WHEN r = 'lead' THEN crm_role() = 'marketing'
	    WHEN r IN ('order', 'subscription') THEN crm_role() = 'service'
	    ELSE false END
$$;

-- --- the outbox ---------------------------------------------------------

CREATE TABLE event_counters (
	org_id		uuid PRIMARY KEY REFERENCES organizations (id),
	last		bigint NOT NULL
);

CREATE TABLE events (
	org_id		uuid NOT NULL REFERENCES organizations (id),
	id		bigint NOT NULL CHECK (id > 0),
	type		text NOT NULL,
	record_type	text NOT NULL,
	record_id	uuid NOT NULL,
	-- The record's owner when it happened (visibility); NULL for
	-- records without one (products).
	owner_id	uuid,
	actor_id	uuid,
	api_key_id	uuid,
	occurred_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	data		jsonb NOT NULL,
	-- The public fields that changed, with their values before.
	previous	jsonb,
	PRIMARY KEY (org_id, id)
);
CREATE INDEX events_record_idx ON events (org_id, record_id, id);
CREATE INDEX events_age_idx ON events (occurred_at);

ALTER TABLE event_counters ENABLE ROW LEVEL SECURITY;
ALTER TABLE event_counters FORCE ROW LEVEL SECURITY;
ALTER TABLE events ENABLE ROW LEVEL SECURITY;
ALTER TABLE events FORCE ROW LEVEL SECURITY;
CREATE POLICY events_read ON events FOR SELECT
	USING (org_id = crm_org() AND crm_event_visible(record_type, owner_id));
GRANT SELECT ON events TO crm_app;

-- The public shape of an event: what the feed lists and a webhook posts.
CREATE FUNCTION event_json(e events) RETURNS json
LANGUAGE sql STABLE AS $$
	SELECT json_build_object('id', e.id, 'type', e.type,
	    'occurred_at', e.occurred_at, 'organization_id', e.org_id,
	    'record_type', e.record_type, 'record_id', e.record_id,
	    'owner_id', e.owner_id, 'actor_id', e.actor_id, 'data', e.data,
	    'previous', e.previous)
$$;

-- --- webhook subscriptions, secrets and deliveries ----------------------

CREATE TABLE webhook_subscriptions (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	org_id		uuid NOT NULL REFERENCES organizations (id),
	url		text NOT NULL CHECK (url ~ '^https?://'
			    AND length(url) <= 2000),
	description	text CHECK (length(description) <= 500),
	events		text[] NOT NULL
			    CHECK (cardinality(events) BETWEEN 1 AND 100),
	active		boolean NOT NULL DEFAULT true,
	-- Deliveries to internal addresses (loopback, private networks)
	-- and over plain http only when an admin allows them.
	allow_internal	boolean NOT NULL DEFAULT false,
	-- Whether the URL's host was internal when it was last checked.
	url_internal	boolean NOT NULL DEFAULT false,
	secret_prefix	text NOT NULL,
	created_by	uuid NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	deleted_at	timestamptz,
	version		integer NOT NULL DEFAULT 1,
	UNIQUE (org_id, id),
	FOREIGN KEY (org_id, created_by) REFERENCES users (org_id, id),
	CHECK (allow_internal OR (url LIKE 'https://%' AND NOT url_internal))
);
CREATE INDEX webhook_subscriptions_page_idx ON webhook_subscriptions
    (org_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX webhook_subscriptions_live_idx ON webhook_subscriptions (org_id)
    WHERE active AND deleted_at IS NULL;

-- The signing secrets, apart: the server's role can neither read nor
-- write this table (crm_webhook_secret_set stores one), the audit trigger
-- never sees it, and only the worker's claim function reads it.
CREATE TABLE webhook_secrets (
	subscription_id	uuid PRIMARY KEY REFERENCES webhook_subscriptions (id),
	secret		text NOT NULL CHECK (length(secret) >= 32)
);

-- One event for one subscription. `pending` waits for next_attempt_at;
-- `sending` is claimed by a worker until next_attempt_at (its lease);
-- then `delivered` (2xx), `failed` (attempts exhausted) or `cancelled`
-- (the subscription was deleted).
CREATE TABLE webhook_deliveries (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	org_id		uuid NOT NULL,
	subscription_id	uuid NOT NULL,
	event_id	bigint NOT NULL,
	status		text NOT NULL DEFAULT 'pending' CHECK (status IN
			    ('pending', 'sending', 'delivered', 'failed',
			    'cancelled')),
	attempts	integer NOT NULL DEFAULT 0,
	next_attempt_at	timestamptz DEFAULT clock_timestamp(),
	locked_by	text,
	last_status_code integer,
	last_error	text,
	delivered_at	timestamptz,
	redelivery_of	uuid REFERENCES webhook_deliveries (id)
			    ON DELETE SET NULL,
	created_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	UNIQUE (org_id, id),
	FOREIGN KEY (org_id, subscription_id)
	    REFERENCES webhook_subscriptions (org_id, id),
	FOREIGN KEY (org_id, event_id) REFERENCES events (org_id, id)
	    ON DELETE CASCADE,
	CHECK ((status IN ('pending', 'sending')) =
	    (next_attempt_at IS NOT NULL))
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries
    (next_attempt_at) WHERE status IN ('pending', 'sending');
CREATE INDEX webhook_deliveries_page_idx ON webhook_deliveries (org_id,
    subscription_id, created_at DESC, id DESC);

-- The delivery log: one row per attempt.
CREATE TABLE webhook_attempts (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	org_id		uuid NOT NULL,
	delivery_id	uuid NOT NULL REFERENCES webhook_deliveries (id)
			    ON DELETE CASCADE,
	attempt		integer NOT NULL CHECK (attempt >= 1),
	started_at	timestamptz NOT NULL,
	duration_ms	integer NOT NULL CHECK (duration_ms >= 0),
	status_code	integer CHECK (status_code BETWEEN 100 AND 999),
	error		text CHECK (length(error) <= 500),
	next_retry_at	timestamptz,
	worker		text
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id,
    attempt);

-- Admins manage webhooks and read their log; nobody else sees them.
ALTER TABLE webhook_subscriptions ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_subscriptions FORCE ROW LEVEL SECURITY;
CREATE POLICY webhook_subscriptions_admin ON webhook_subscriptions FOR ALL
	USING (org_id = crm_org() AND crm_role() = 'admin')
	WITH CHECK (org_id = crm_org() AND crm_role() = 'admin');
GRANT SELECT (id, org_id, url, description, events, active, allow_internal,
    url_internal, secret_prefix, created_by, created_at, updated_at,
    deleted_at, version) ON webhook_subscriptions TO crm_app;
GRANT INSERT (org_id, url, description, events, active, allow_internal,
    url_internal, secret_prefix, created_by) ON webhook_subscriptions
    TO crm_app;
GRANT UPDATE (url, description, events, active, allow_internal,
    url_internal, deleted_at) ON webhook_subscriptions TO crm_app;

ALTER TABLE webhook_secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_secrets FORCE ROW LEVEL SECURITY;

ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY webhook_deliveries_admin ON webhook_deliveries FOR ALL
	USING (org_id = crm_org() AND crm_role() = 'admin')
	WITH CHECK (org_id = crm_org() AND crm_role() = 'admin');
GRANT SELECT ON webhook_deliveries TO crm_app;
GRANT INSERT (org_id, subscription_id, event_id, redelivery_of)
    ON webhook_deliveries TO crm_app;
GRANT UPDATE (status, next_attempt_at) ON webhook_deliveries TO crm_app;

ALTER TABLE webhook_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_attempts FORCE ROW LEVEL SECURITY;
CREATE POLICY webhook_attempts_admin ON webhook_attempts FOR SELECT
	USING (org_id = crm_org() AND crm_role() = 'admin');
GRANT SELECT ON webhook_attempts TO crm_app;

CREATE TRIGGER webhook_subscriptions_touch BEFORE UPDATE
	ON webhook_subscriptions FOR EACH ROW EXECUTE FUNCTION crm_touch();
CREATE TRIGGER webhook_subscriptions_audit AFTER INSERT OR UPDATE OR DELETE
	ON webhook_subscriptions FOR EACH ROW EXECUTE FUNCTION crm_audit_row();
-- Deliveries are the worker's bookkeeping; a redelivery is someone's act.
CREATE TRIGGER webhook_deliveries_audit AFTER INSERT ON webhook_deliveries
	FOR EACH ROW WHEN (NEW.redelivery_of IS NOT NULL)
	EXECUTE FUNCTION crm_audit_row();

-- --- writing events -----------------------------------------------------

-- Append one event to organisation `p_org`'s outbox and queue it for the
-- subscriptions that want it (waking the workers). The first event of a
-- transaction locks the organisation's counter row, which the
-- transaction then holds until it commits, so ids follow commit order;
-- the next id is the larger of the last one written and the counter (the
-- floor the purge keeps), and the transaction counts on from there in a
-- transaction-local setting: the counter row is never updated per event
-- (a bulk change would pile up versions of it). Within one transaction an
-- event of the same type for the same record is written once, and
-- `.updated` after `.created` not at all (the payload is the committed
-- record either way). Needs READ COMMITTED, as every request runs: a
-- repeatable-read transaction could not see the ids committed while it
-- waited, and fails on the primary key instead.
CREATE FUNCTION crm_event_emit(p_org uuid, p_type text, p_record text,
    p_id uuid, p_owner uuid, p_data jsonb, p_previous jsonb)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	mark	text := 'crm.events_' || replace(p_org::text, '-', '');
	first	bigint := nullif(current_setting(mark || '_first', true),
		    '')::bigint;
	n	bigint;
BEGIN
	IF first IS NULL THEN
		INSERT INTO event_counters (org_id, last) VALUES (p_org, 0)
		ON CONFLICT (org_id) DO NOTHING;
		PERFORM 1 FROM event_counters WHERE org_id = p_org FOR UPDATE;
		-- A statement of its own: its snapshot, taken once the lock is
		-- ours, sees the ids of whoever held it before.
		SELECT greatest(c.last, (SELECT max(e.id) FROM events e
		    WHERE e.org_id = p_org)) INTO n
		FROM event_counters c WHERE c.org_id = p_org;
		n := coalesce(n, 0) + 1;
		PERFORM set_config(mark || '_first', n::text, true);
	ELSE
		IF EXISTS (SELECT 1 FROM events WHERE org_id = p_org
		    AND record_id = p_id AND id >= first
		    AND (type = p_type OR (p_type = p_record || '.updated'
			AND type = p_record || '.created'))) THEN
			RETURN;
		END IF;
		n := current_setting(mark || '_next')::bigint;
	END IF;
	PERFORM set_config(mark || '_next', (n + 1)::text, true);
	INSERT INTO events (org_id, id, type, record_type, record_id,
	    owner_id, actor_id, api_key_id, data, previous)
	VALUES (p_org, n, p_type, p_record, p_id, p_owner, crm_user(),
	    crm_setting('app.key_id')::uuid, p_data, p_previous);
	INSERT INTO webhook_deliveries (org_id, subscription_id, event_id)
	SELECT s.org_id, s.id, n FROM webhook_subscriptions s
	WHERE s.org_id = p_org AND s.active AND s.deleted_at IS NULL
	  AND crm_event_matches(p_type, s.events);
	IF FOUND THEN
		PERFORM pg_notify('crm_webhooks', '');
	END IF;
END
$$;
REVOKE ALL ON FUNCTION crm_event_emit(uuid, text, text, uuid, uuid, jsonb,
    jsonb) FROM PUBLIC;

-- The fields of `before` (a record's public JSON) whose values differ in
-- `after`, with their values before; NULL when none did. Bookkeeping
-- (updated_at, version) does not count.
CREATE FUNCTION crm_event_diff(before jsonb, after jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
	SELECT jsonb_object_agg(b.key, b.value) FROM jsonb_each(before) b
	WHERE b.key NOT IN ('updated_at', 'version')
	  AND b.value IS DISTINCT FROM after->b.key
$$;

-- Whether `diff` (crm_event_diff) has a field other than `covered`.
CREATE FUNCTION crm_event_other_changes(diff jsonb, covered text[])
RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
	SELECT EXISTS (SELECT 1 FROM jsonb_object_keys(diff) k
	    WHERE NOT k = ANY (covered))
$$;

-- The triggers. Each runs at commit (deferred) for one changed row,
-- re-reads the row as committed for the payload, and decides the event
-- types from the row before and after that change.

CREATE FUNCTION crm_events_customers() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	c	customers;
	j	jsonb;
	d	jsonb;
	t	text;
BEGIN
	SELECT * INTO c FROM customers WHERE id = NEW.id;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	j := customer_json(c)::jsonb;
	IF TG_OP = 'INSERT' THEN
		t := 'customer.created';
	ELSE
		d := crm_event_diff(customer_json(OLD)::jsonb, j);
		t := CASE WHEN OLD.deleted_at IS NULL AND
			NEW.deleted_at IS NOT NULL THEN 'customer.deleted'
		    WHEN OLD.deleted_at IS NOT NULL AND
			NEW.deleted_at IS NULL THEN 'customer.restored'
		    WHEN d IS NOT NULL AND c.deleted_at IS NULL THEN
			'customer.updated' END;
	END IF;
	IF t IS NOT NULL THEN
		PERFORM crm_event_emit(c.org_id, t, 'customer', c.id,
		    c.owner_id, j, d);
	END IF;
	RETURN NULL;
END
$$;

CREATE FUNCTION crm_events_contacts() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	c	contacts;
	j	jsonb;
	d	jsonb;
	t	text;
BEGIN
	SELECT * INTO c FROM contacts WHERE id = NEW.id;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	j := contact_json(c)::jsonb;
	IF TG_OP = 'INSERT' THEN
		t := 'contact.created';
	ELSE
		d := crm_event_diff(contact_json(OLD)::jsonb, j);
		t := CASE WHEN OLD.deleted_at IS NULL AND
			NEW.deleted_at IS NOT NULL THEN 'contact.deleted'
		    WHEN d IS NOT NULL AND c.deleted_at IS NULL THEN
			'contact.updated' END;
	END IF;
	IF t IS NOT NULL THEN
		PERFORM crm_event_emit(c.org_id, t, 'contact', c.id,
		    (SELECT owner_id FROM customers WHERE id = c.customer_id),
		    j, d);
	END IF;
	RETURN NULL;
END
$$;

CREATE FUNCTION crm_events_leads() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	l	leads;
	j	jsonb;
	d	jsonb;
BEGIN
	SELECT * INTO l FROM leads WHERE id = NEW.id;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	j := lead_json(l)::jsonb;
	IF TG_OP = 'INSERT' THEN
		PERFORM crm_event_emit(l.org_id, 'lead.created', 'lead', l.id,
		    l.owner_id, j, NULL);
		RETURN NULL;
	END IF;
	d := crm_event_diff(lead_json(OLD)::jsonb, j);
	IF OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL THEN
		PERFORM crm_event_emit(l.org_id, 'lead.deleted', 'lead', l.id,
		    l.owner_id, j, d);
		RETURN NULL;
	END IF;
	IF OLD.status IS DISTINCT FROM NEW.status THEN
		PERFORM crm_event_emit(l.org_id, 'lead.status_changed', 'lead',
		    l.id, l.owner_id, j, d);
	END IF;
	IF NEW.status = 'converted' AND OLD.status <> 'converted' THEN
		PERFORM crm_event_emit(l.org_id, 'lead.converted', 'lead',
		    l.id, l.owner_id, j, d);
	END IF;
	IF d IS NOT NULL AND l.deleted_at IS NULL AND
	    crm_event_other_changes(d, ARRAY['status', 'converted_at',
		'customer_id', 'contact_id', 'opportunity_id',
		'disqualified_reason']) THEN
		PERFORM crm_event_emit(l.org_id, 'lead.updated', 'lead', l.id,
		    l.owner_id, j, d);
	END IF;
	RETURN NULL;
END
$$;

CREATE FUNCTION crm_events_opportunities() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	o	opportunities;
	j	jsonb;
	d	jsonb;
BEGIN
	SELECT * INTO o FROM opportunities WHERE id = NEW.id;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	j := opportunity_json(o)::jsonb;
	IF TG_OP = 'INSERT' THEN
		PERFORM crm_event_emit(o.org_id, 'opportunity.created',
		    'opportunity', o.id, o.owner_id, j, NULL);
		RETURN NULL;
	END IF;
	d := crm_event_diff(opportunity_json(OLD)::jsonb, j);
	IF OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL THEN
		PERFORM crm_event_emit(o.org_id, 'opportunity.deleted',
		    'opportunity', o.id, o.owner_id, j, d);
		RETURN NULL;
	END IF;
	IF OLD.stage_id IS DISTINCT FROM NEW.stage_id THEN
		PERFORM crm_event_emit(o.org_id, 'opportunity.stage_changed',
		    'opportunity', o.id, o.owner_id, j, d);
	END IF;
	IF OLD.status IS DISTINCT FROM NEW.status THEN
		PERFORM crm_event_emit(o.org_id, CASE NEW.status
		    WHEN 'won' THEN 'opportunity.won'
		    WHEN 'lost' THEN 'opportunity.lost'
		    ELSE 'opportunity.reopened' END,
		    'opportunity', o.id, o.owner_id, j, d);
	END IF;
	IF d IS NOT NULL AND o.deleted_at IS NULL AND
	    crm_event_other_changes(d, ARRAY['stage_id', 'stage', 'status',
		'closed_at', 'close_reason', 'stage_changed_at',
		'weighted_amount']) THEN
		PERFORM crm_event_emit(o.org_id, 'opportunity.updated',
		    'opportunity', o.id, o.owner_id, j, d);
	END IF;
	RETURN NULL;
END
$$;

CREATE FUNCTION crm_events_quotes() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	q	quotes;
	j	jsonb;
	t	text;
BEGIN
	SELECT * INTO q FROM quotes WHERE id = NEW.id;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	j := quote_json(q)::jsonb;
	IF TG_OP = 'INSERT' THEN
		t := 'quote.created';
	ELSIF OLD.status IS DISTINCT FROM NEW.status AND
	    NEW.status IN ('sent', 'accepted', 'rejected') THEN
		t := 'quote.' || NEW.status;
	END IF;
	IF t IS NOT NULL THEN
		PERFORM crm_event_emit(q.org_id, t, 'quote', q.id, q.owner_id,
		    j, CASE WHEN TG_OP = 'UPDATE' THEN
			crm_event_diff(quote_json(OLD)::jsonb, j) END);
	END IF;
	RETURN NULL;
END
$$;

CREATE FUNCTION crm_events_contracts() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	c	contracts;
	j	jsonb;
	t	text;
BEGIN
	SELECT * INTO c FROM contracts WHERE id = NEW.id;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	j := contract_json(c)::jsonb;
	IF TG_OP = 'INSERT' THEN
		t := 'contract.created';
	ELSIF OLD.status IS DISTINCT FROM NEW.status THEN
		t := CASE NEW.status WHEN 'pending_approval' THEN
			'contract.submitted'
		    WHEN 'draft' THEN NULL
		    ELSE 'contract.' || NEW.status END;
	END IF;
	IF t IS NOT NULL THEN
		PERFORM crm_event_emit(c.org_id, t, 'contract', c.id,
		    c.owner_id, j, CASE WHEN TG_OP = 'UPDATE' THEN
			crm_event_diff(contract_json(OLD)::jsonb, j) END);
	END IF;
	RETURN NULL;
END
$$;

CREATE FUNCTION crm_events_orders() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	o	orders;
	j	jsonb;
	d	jsonb;
BEGIN
	SELECT * INTO o FROM orders WHERE id = NEW.id;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	j := order_json(o)::jsonb;
	IF TG_OP = 'INSERT' THEN
		PERFORM crm_event_emit(o.org_id, 'order.created', 'order', o.id,
		    o.owner_id, j, NULL);
		RETURN NULL;
	END IF;
	d := crm_event_diff(order_json(OLD)::jsonb, j);
	IF OLD.status IS DISTINCT FROM NEW.status AND NEW.status IN
	    ('confirmed', 'fulfilled', 'cancelled') THEN
		PERFORM crm_event_emit(o.org_id, 'order.' || NEW.status,
		    'order', o.id, o.owner_id, j, d);
	END IF;
	IF NEW.payment_status = 'paid' AND
	    OLD.payment_status IS DISTINCT FROM 'paid' THEN
		PERFORM crm_event_emit(o.org_id, 'order.paid', 'order', o.id,
		    o.owner_id, j, d);
	END IF;
	RETURN NULL;
END
$$;

-- Subscriptions are also deleted (with the lines of a pending order that
-- are replaced): the payload is then the row as it was. A deleted row
-- never runs its earlier triggers' re-read (they find nothing and stay
-- silent).
CREATE FUNCTION crm_events_subscriptions() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	s	subscriptions;
	j	jsonb;
BEGIN
	IF TG_OP = 'DELETE' THEN
		-- created_at = now(): written by this very transaction,
		-- so its creation was never announced either.
		IF OLD.created_at <> now() THEN
			PERFORM crm_event_emit(OLD.org_id,
			    'subscription.deleted', 'subscription', OLD.id,
			    OLD.owner_id, subscription_json(OLD)::jsonb, NULL);
		END IF;
		RETURN NULL;
	END IF;
	SELECT * INTO s FROM subscriptions WHERE id = NEW.id;
	IF NOT FOUND THEN
		-- Written and deleted in one transaction: nothing happened.
		RETURN NULL;
	END IF;
	j := subscription_json(s)::jsonb;
	IF TG_OP = 'INSERT' THEN
		PERFORM crm_event_emit(s.org_id, CASE WHEN
		    NEW.renewed_from_id IS NULL THEN 'subscription.created'
		    ELSE 'subscription.renewed' END, 'subscription', s.id,
		    s.owner_id, j, NULL);
	ELSIF NEW.status = 'cancelled' AND OLD.status <> 'cancelled' THEN
		PERFORM crm_event_emit(s.org_id, 'subscription.cancelled',
		    'subscription', s.id, s.owner_id, j,
		    crm_event_diff(subscription_json(OLD)::jsonb, j));
	END IF;
	RETURN NULL;
END
$$;

CREATE FUNCTION crm_events_products() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	p	products;
	j	jsonb;
	d	jsonb;
BEGIN
	SELECT * INTO p FROM products WHERE id = NEW.id;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	j := product_json(p)::jsonb;
	IF TG_OP = 'INSERT' THEN
		PERFORM crm_event_emit(p.org_id, 'product.created', 'product',
		    p.id, NULL, j, NULL);
		RETURN NULL;
	END IF;
	d := crm_event_diff(product_json(OLD)::jsonb, j);
	IF d IS NOT NULL THEN
		PERFORM crm_event_emit(p.org_id, 'product.updated', 'product',
		    p.id, NULL, j, d);
	END IF;
	RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER customers_events AFTER INSERT OR UPDATE
	ON customers DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW EXECUTE FUNCTION crm_events_customers();
CREATE CONSTRAINT TRIGGER contacts_events AFTER INSERT OR UPDATE
	ON contacts DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW EXECUTE FUNCTION crm_events_contacts();
CREATE CONSTRAINT TRIGGER leads_events AFTER INSERT OR UPDATE
	ON leads DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW EXECUTE FUNCTION crm_events_leads();
CREATE CONSTRAINT TRIGGER opportunities_events AFTER INSERT OR UPDATE
	ON opportunities DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW EXECUTE FUNCTION crm_events_opportunities();
CREATE CONSTRAINT TRIGGER quotes_events AFTER INSERT OR UPDATE
	ON quotes DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW EXECUTE FUNCTION crm_events_quotes();
CREATE CONSTRAINT TRIGGER contracts_events AFTER INSERT OR UPDATE
	ON contracts DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW EXECUTE FUNCTION crm_events_contracts();
CREATE CONSTRAINT TRIGGER orders_events AFTER INSERT OR UPDATE
	ON orders DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW EXECUTE FUNCTION crm_events_orders();
CREATE CONSTRAINT TRIGGER subscriptions_events AFTER INSERT OR UPDATE OR
	DELETE ON subscriptions DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW EXECUTE FUNCTION crm_events_subscriptions();
CREATE CONSTRAINT TRIGGER products_events AFTER INSERT OR UPDATE
	ON products DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW EXECUTE FUNCTION crm_events_products();

-- --- the event feed -----------------------------------------------------

-- GET /v1/events?after=&types=&record_id=&limit=: the events the caller
-- may see with ids above `after`, oldest first. `types` is a comma-
-- separated list of types, "<record type>.*" or "*" (422 for any other).
-- next_cursor is the id of the last event returned (else `after`): pass
-- it as `after` to continue, now or later.
CREATE FUNCTION api_events_list(p jsonb, f jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	lim	integer := coalesce((f->>'limit')::int, 100);
	after	bigint := coalesce((f->>'after')::bigint, 0);
	rec	uuid := (f->>'record_id')::uuid;
	want	text[];
	bad	text[];
	rows	json;
	last	bigint;
	more	boolean;
BEGIN
	PERFORM crm_bind(p);
	IF f ? 'types' THEN
		want := ARRAY(SELECT DISTINCT btrim(t)
		    FROM unnest(string_to_array(f->>'types', ',')) t);
		bad := ARRAY(SELECT t FROM unnest(want) t
		    WHERE NOT crm_event_pattern_ok(t));
		IF cardinality(bad) > 0 THEN
			PERFORM crm_raise_fields('422', 'The query has invalid '
			    'parameters; see errors.', jsonb_build_array(
			    crm_field_error('types', 'enum', format('types '
			    'names no event type: %s.', array_to_string(bad,
			    ', ')))));
		END IF;
	END IF;
	-- One scan: a row beyond the page says there is more.
	SELECT coalesce(json_agg(event_json(s.e) ORDER BY (s.e).id)
		FILTER (WHERE s.n <= lim), '[]'),
	    max((s.e).id) FILTER (WHERE s.n <= lim), count(*) > lim
	INTO rows, last, more
	FROM (SELECT e, row_number() OVER (ORDER BY e.id) AS n FROM events e
	      WHERE e.id > after
		AND (want IS NULL OR crm_event_matches(e.type, want))
		AND (rec IS NULL OR e.record_id = rec)
	      ORDER BY e.id LIMIT lim + 1) s;
	RETURN json_build_object('data', rows,
	    'next_cursor', coalesce(last, after), 'has_more', more)::text;
END
$$;

-- --- webhooks: the API's statements (admins) ---------------------------

-- The public shape of a subscription (never its secret: only a prefix).
CREATE FUNCTION webhook_json(w webhook_subscriptions) RETURNS json
LANGUAGE sql STABLE AS $$
	SELECT json_build_object('id', w.id, 'url', w.url,
	    'description', w.description, 'events', w.events,
	    'active', w.active, 'allow_internal', w.allow_internal,
	    'secret_prefix', w.secret_prefix, 'created_by', w.created_by,
	    'created_at', w.created_at, 'updated_at', w.updated_at,
	    'version', w.version)
$$;

-- The field errors of a subscription's final state: events must name
-- event types; plain http and internal hosts need allow_internal; and
-- `url_error`, what the server found wrong with a new url (it does not
-- parse or resolve, or resolves to an address no webhook may reach).
CREATE FUNCTION crm_webhook_errors(w webhook_subscriptions, url_error text)
RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
	SELECT coalesce(jsonb_agg(e), '[]') FROM (
	    SELECT crm_field_error('url', 'address', url_error) e
	    WHERE url_error IS NOT NULL
	    UNION ALL
	    SELECT crm_field_error('events', 'enum', format('events names no '
		'event type: %s.', string_agg(t, ', '))) e
	    FROM unnest(w.events) t WHERE NOT crm_event_pattern_ok(t)
	    HAVING count(*) > 0
	    UNION ALL
	    SELECT crm_field_error('events', 'required', 'events must name at '
		'least one event type (or "*").')
	    WHERE coalesce(cardinality(w.events), 0) = 0
	    UNION ALL
	    SELECT crm_field_error('url', 'scheme', 'url must use https '
		'unless allow_internal is true.')
	    WHERE w.url NOT LIKE 'https://%' AND NOT w.allow_internal
		AND url_error IS NULL
	    UNION ALL
	    SELECT crm_field_error('url', 'internal', 'url names an internal '
		'address (loopback, private, link-local); only an admin''s '
		'allow_internal permits it.')
	    WHERE w.url_internal AND NOT w.allow_internal) x
$$;

-- Store the signing secret of subscription `p_id`, which must be the
-- caller's organisation's (admins only): the one way into
-- webhook_secrets.
CREATE FUNCTION crm_webhook_secret_set(p_id uuid, p_secret text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
	IF crm_role() IS DISTINCT FROM 'admin' OR NOT EXISTS (SELECT 1
	    FROM webhook_subscriptions WHERE id = p_id AND org_id = crm_org())
	THEN
		PERFORM crm_raise('403', 'Only admins manage webhooks.');
	END IF;
	INSERT INTO webhook_secrets (subscription_id, secret)
	VALUES (p_id, p_secret)
	ON CONFLICT (subscription_id) DO UPDATE SET secret = EXCLUDED.secret;
END
$$;
REVOKE ALL ON FUNCTION crm_webhook_secret_set(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm_webhook_secret_set(uuid, text) TO crm_app;

-- POST /v1/webhooks (admin): b = {url, events, description, active,
-- allow_internal}; the server made the secret (shown once, by the server)
-- and checked the URL: `p_internal` says its host is internal,
-- `p_url_error` what is wrong with it. 422 lists every bad field.
CREATE FUNCTION api_webhooks_create(p jsonb, b jsonb, p_secret text,
    p_internal boolean, p_url_error text)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	w	webhook_subscriptions;
	errors	jsonb;
BEGIN
	PERFORM crm_bind(p);
	PERFORM crm_require_role('admin');
	w.url := b->>'url';
	w.events := crm_text_array(b->'events');
	w.allow_internal := coalesce((b->>'allow_internal')::boolean, false);
	w.url_internal := coalesce(p_internal, false);
	errors := crm_webhook_errors(w, p_url_error);
	IF jsonb_array_length(errors) > 0 THEN
		PERFORM crm_raise_fields('422', 'The webhook has invalid '
		    'fields; see errors.', errors);
	END IF;
	INSERT INTO webhook_subscriptions (org_id, url, description, events,
	    active, allow_internal, url_internal, secret_prefix, created_by)
	VALUES (crm_org(), w.url, b->>'description', w.events,
	    coalesce((b->>'active')::boolean, true), w.allow_internal,
	    p_internal, left(p_secret, 12), crm_user())
	RETURNING * INTO w;
	PERFORM crm_webhook_secret_set(w.id, p_secret);
	RETURN webhook_json(w)::text;
END
$$;

-- GET /v1/webhooks?limit=&cursor= (admin), newest first.
CREATE FUNCTION api_webhooks_list(p jsonb, f jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	lim	integer := coalesce((f->>'limit')::int, 50);
	cur_t	timestamptz;
	cur_i	text;
	rows	json;
	nxt	text;
BEGIN
	PERFORM crm_bind(p);
	PERFORM crm_require_role('admin');
	IF f ? 'cursor' THEN
		SELECT t, i INTO cur_t, cur_i FROM crm_cursor_decode(f->>'cursor');
	END IF;
	WITH page AS (
		SELECT w, w.created_at, w.id, row_number() OVER (ORDER BY
		    w.created_at DESC, w.id DESC) AS n
		FROM webhook_subscriptions w
		WHERE w.deleted_at IS NULL
		  AND (cur_t IS NULL OR (w.created_at, w.id) <
		       (cur_t, cur_i::uuid))
		ORDER BY w.created_at DESC, w.id DESC
		LIMIT lim + 1
	)
	SELECT coalesce(json_agg(webhook_json(page.w) ORDER BY n)
		FILTER (WHERE n <= lim), '[]'),
	    CASE WHEN count(*) > lim THEN (array_agg(crm_cursor_encode(
		page.created_at, page.id::text)) FILTER (WHERE n = lim))[1] END
	INTO rows, nxt
	FROM page;
	RETURN json_build_object('data', rows, 'next_cursor', nxt)::text;
END
$$;

-- GET /v1/webhooks/{id} (admin)
CREATE FUNCTION api_webhooks_get(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	PERFORM crm_require_role('admin');
	RETURN (SELECT webhook_json(w) FROM webhook_subscriptions w
	    WHERE id = p_id AND deleted_at IS NULL)::text;
END
$$;

-- PATCH /v1/webhooks/{id} (admin): merge patch of url, events,
-- description, active, allow_internal; If-Match optional (412). When the
-- body has a url the server checked it (`p_internal`, `p_url_error` as
-- for create); otherwise the last check stands. 422 lists every bad field
-- of the result.
CREATE FUNCTION api_webhooks_update(p jsonb, p_id uuid, b jsonb,
    p_internal boolean, p_url_error text, p_if_match integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	w	webhook_subscriptions;
	errors	jsonb;
BEGIN
	PERFORM crm_bind(p);
	PERFORM crm_require_role('admin');
	SELECT * INTO w FROM webhook_subscriptions
	WHERE id = p_id AND deleted_at IS NULL FOR UPDATE;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF p_if_match IS NOT NULL AND p_if_match <> w.version THEN
		PERFORM crm_raise('412', 'The webhook changed since you read it '
		    '(version ' || w.version || ').');
	END IF;
	IF b ? 'url' THEN
		w.url := b->>'url';
		w.url_internal := coalesce(p_internal, false);
	END IF;
	IF b ? 'events' THEN
		w.events := crm_text_array(b->'events');
	END IF;
	IF b ? 'allow_internal' THEN
		w.allow_internal := (b->>'allow_internal')::boolean;
	END IF;
	IF b ? 'active' THEN
		-- Back on: what waited while it was paused goes out now.
		IF (b->>'active')::boolean AND NOT w.active THEN
			PERFORM pg_notify('crm_webhooks', '');
		END IF;
		w.active := (b->>'active')::boolean;
	END IF;
	IF b ? 'description' THEN
		w.description := b->>'description';
	END IF;
	errors := crm_webhook_errors(w, p_url_error);
	IF jsonb_array_length(errors) > 0 THEN
		PERFORM crm_raise_fields('422', 'The webhook has invalid '
		    'fields; see errors.', errors);
	END IF;
	UPDATE webhook_subscriptions SET url = w.url, events = w.events,
	    allow_internal = w.allow_internal, url_internal = w.url_internal,
	    active = w.active, description = w.description
	WHERE id = p_id
	RETURNING * INTO w;
	RETURN webhook_json(w)::text;
END
$$;

-- DELETE /v1/webhooks/{id} (admin): the subscription stops and its
-- waiting deliveries are cancelled; the delivery log stays.
CREATE FUNCTION api_webhooks_delete(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	PERFORM crm_require_role('admin');
	UPDATE webhook_subscriptions SET deleted_at = now(), active = false
	WHERE id = p_id AND deleted_at IS NULL;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	UPDATE webhook_deliveries SET status = 'cancelled',
	    next_attempt_at = NULL
	WHERE subscription_id = p_id AND status = 'pending';
	RETURN '{}';
END
$$;

-- The public shape of a delivery, with its log of attempts.
CREATE FUNCTION webhook_delivery_json(d webhook_deliveries) RETURNS json
LANGUAGE sql STABLE AS $$
	SELECT json_build_object('id', d.id,
	    'subscription_id', d.subscription_id, 'event_id', d.event_id,
	    'event_type', (SELECT e.type FROM events e
		WHERE e.org_id = d.org_id AND e.id = d.event_id),
	    'status', d.status, 'attempt_count', d.attempts,
	    'next_attempt_at', CASE WHEN d.status = 'pending' THEN
		d.next_attempt_at END,
	    'last_status_code', d.last_status_code,
	    'last_error', d.last_error, 'delivered_at', d.delivered_at,
	    'redelivery_of', d.redelivery_of, 'created_at', d.created_at,
	    'attempts', coalesce((SELECT json_agg(json_build_object(
		'attempt', a.attempt, 'started_at', a.started_at,
		'duration_ms', a.duration_ms, 'status_code', a.status_code,
		'error', a.error, 'next_retry_at', a.next_retry_at)
		ORDER BY a.attempt, a.id)
		FROM webhook_attempts a WHERE a.delivery_id = d.id), '[]'))
$$;

-- GET /v1/webhooks/{id}/deliveries?status=&limit=&cursor= (admin),
-- newest first. NULL (404) for a subscription the caller cannot see.
CREATE FUNCTION api_webhook_deliveries_list(p jsonb, p_id uuid, f jsonb)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	lim	integer := coalesce((f->>'limit')::int, 50);
	cur_t	timestamptz;
	cur_i	text;
	rows	json;
	nxt	text;
BEGIN
	PERFORM crm_bind(p);
	PERFORM crm_require_role('admin');
	IF NOT EXISTS (SELECT 1 FROM webhook_subscriptions WHERE id = p_id)
	THEN
		RETURN NULL;
	END IF;
	IF f ? 'cursor' THEN
		SELECT t, i INTO cur_t, cur_i FROM crm_cursor_decode(f->>'cursor');
	END IF;
	WITH page AS (
		SELECT d, d.created_at, d.id, row_number() OVER (ORDER BY
		    d.created_at DESC, d.id DESC) AS n
		FROM webhook_deliveries d
		WHERE d.subscription_id = p_id
		  AND (NOT f ? 'status' OR d.status = f->>'status')
		  AND (cur_t IS NULL OR (d.created_at, d.id) <
		       (cur_t, cur_i::uuid))
		ORDER BY d.created_at DESC, d.id DESC
		LIMIT lim + 1
	)
	SELECT coalesce(json_agg(webhook_delivery_json(page.d) ORDER BY n)
		FILTER (WHERE n <= lim), '[]'),
	    CASE WHEN count(*) > lim THEN (array_agg(crm_cursor_encode(
		page.created_at, page.id::text)) FILTER (WHERE n = lim))[1] END
	INTO rows, nxt
	FROM page;
	RETURN json_build_object('data', rows, 'next_cursor', nxt)::text;
END
$$;

-- POST /v1/webhooks/{id}/deliveries/{delivery_id}/redeliver (admin): the
-- same event again, as a new delivery due now (whatever became of the
-- first). 404 for an unseen subscription or a delivery not of it; 409
-- when the subscription is paused.
CREATE FUNCTION api_webhook_deliveries_redeliver(p jsonb, p_id uuid,
    p_delivery uuid)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	w	webhook_subscriptions;
	d	webhook_deliveries;
BEGIN
	PERFORM crm_bind(p);
	PERFORM crm_require_role('admin');
	SELECT * INTO w FROM webhook_subscriptions
	WHERE id = p_id AND deleted_at IS NULL;
	SELECT * INTO d FROM webhook_deliveries
	WHERE id = p_delivery AND subscription_id = w.id;
	IF d.id IS NULL THEN
		RETURN NULL;
	END IF;
	IF NOT w.active THEN
		PERFORM crm_raise('409', 'The webhook is paused; activate it '
		    'first.');
	END IF;
	INSERT INTO webhook_deliveries (org_id, subscription_id, event_id,
	    redelivery_of)
	VALUES (d.org_id, d.subscription_id, d.event_id, d.id)
	RETURNING * INTO d;
	PERFORM pg_notify('crm_webhooks', '');
	RETURN webhook_delivery_json(d)::text;
END
$$;

-- --- the delivery worker (role crm_webhookd) ---------------------------

-- Claim up to `p_limit` due deliveries for worker `p_worker` for
-- `p_lease_s` seconds: pending ones whose time has come, and claimed ones
-- whose worker let the lease run out (logged as a failed attempt). Several
-- workers claim at once without waiting on each other (SKIP LOCKED).
-- Returns {"deliveries": [{id, attempt, url, allow_internal, secret,
-- event_type, body}], "next_in_ms"}: `body` is the exact JSON to post,
-- next_in_ms how long until the next delivery falls due (NULL: none).
CREATE FUNCTION webhookd_claim(p_worker text, p_limit integer,
    p_lease_s integer)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	out	json;
	nxt	timestamptz;
BEGIN
	WITH due AS (
		SELECT d.id, d.status AS was, d.locked_by AS was_by,
		    d.next_attempt_at AS was_until
		FROM webhook_deliveries d
		JOIN webhook_subscriptions s ON s.id = d.subscription_id
		WHERE d.status IN ('pending', 'sending')
		  AND d.next_attempt_at <= clock_timestamp()
		  AND s.active AND s.deleted_at IS NULL
		ORDER BY d.next_attempt_at
		LIMIT p_limit
		FOR UPDATE OF d SKIP LOCKED
	), lost AS (
		INSERT INTO webhook_attempts (org_id, delivery_id, attempt,
		    started_at, duration_ms, error, next_retry_at, worker)
		SELECT d.org_id, d.id, d.attempts, due.was_until, 0,
		    'No result: worker ' || coalesce(due.was_by, '?') ||
		    ' let its lease expire.', clock_timestamp(), due.was_by
		FROM due JOIN webhook_deliveries d ON d.id = due.id
		WHERE due.was = 'sending' AND d.attempts >= 1
	), claimed AS (
		UPDATE webhook_deliveries d SET status = 'sending',
		    locked_by = p_worker, attempts = d.attempts + 1,
		    next_attempt_at = clock_timestamp() +
			make_interval(secs => p_lease_s)
		FROM due WHERE d.id = due.id
		RETURNING d.*
	)
	SELECT coalesce(json_agg(json_build_object('id', c.id,
	    'attempt', c.attempts, 'url', s.url,
	    'allow_internal', s.allow_internal, 'secret', k.secret,
	    'event_type', e.type, 'body', event_json(e)::text)
	    ORDER BY c.next_attempt_at), '[]')
	INTO out
	FROM claimed c
	JOIN webhook_subscriptions s ON s.id = c.subscription_id
	JOIN webhook_secrets k ON k.subscription_id = s.id
	JOIN events e ON e.org_id = c.org_id AND e.id = c.event_id;

	SELECT min(d.next_attempt_at) INTO nxt
	FROM webhook_deliveries d
	JOIN webhook_subscriptions s ON s.id = d.subscription_id
	WHERE d.status = 'pending' AND s.active AND s.deleted_at IS NULL;
	RETURN json_build_object('deliveries', out, 'next_in_ms',
	    CASE WHEN nxt IS NOT NULL THEN greatest(0, ceil(extract(epoch
		FROM nxt - clock_timestamp()) * 1000))::bigint END)::text;
END
$$;

-- Record attempt `p_attempt` of delivery `p_id` by worker `p_worker`: the
-- HTTP status (NULL when none came), how long it took, the error, and in
-- how many seconds to try again (NULL: never). A 2xx delivers it; else it
-- waits for its retry or, without one, has failed. Returns false, and
-- changes nothing, when the worker no longer holds the delivery (its
-- lease ran out and another worker took it).
CREATE FUNCTION webhookd_complete(p_worker text, p_id uuid,
    p_attempt integer, p_status integer, p_duration_ms integer,
    p_error text, p_retry_in_s integer)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	d	webhook_deliveries;
	ok	boolean := coalesce(p_status BETWEEN 200 AND 299, false);
	retry	timestamptz;
BEGIN
	IF NOT ok AND p_retry_in_s IS NOT NULL THEN
		retry := clock_timestamp() + make_interval(secs => p_retry_in_s);
	END IF;
	UPDATE webhook_deliveries SET
	    status = CASE WHEN ok THEN 'delivered'
		WHEN retry IS NULL THEN 'failed' ELSE 'pending' END,
	    next_attempt_at = retry, locked_by = NULL,
	    last_status_code = p_status, last_error = left(p_error, 500),
	    delivered_at = CASE WHEN ok THEN clock_timestamp() END
	WHERE id = p_id AND status = 'sending' AND locked_by = p_worker
	  AND attempts = p_attempt
	RETURNING * INTO d;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	INSERT INTO webhook_attempts (org_id, delivery_id, attempt,
	    started_at, duration_ms, status_code, error, next_retry_at,
	    worker)
	VALUES (d.org_id, d.id, p_attempt, clock_timestamp() -
	    make_interval(secs => p_duration_ms / 1000.0), p_duration_ms,
	    p_status, left(p_error, 500), retry, p_worker);
	RETURN true;
END
$$;

-- Delete up to `p_batch` events older than `p_days` days, with their
-- deliveries and attempts; each organisation's counter keeps the largest
-- id deleted, so ids are never reused. Returns how many went.
CREATE FUNCTION webhookd_purge(p_days integer, p_batch integer)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	n	integer;
BEGIN
	WITH gone AS (
		DELETE FROM events WHERE (org_id, id) IN (SELECT org_id, id
		    FROM events WHERE occurred_at < now() -
			make_interval(days => p_days)
		    LIMIT p_batch)
		RETURNING org_id, id
	), top AS (
		SELECT org_id, max(id) AS last FROM gone GROUP BY org_id
	), floor AS (
		UPDATE event_counters c SET last = greatest(c.last, top.last)
		FROM top WHERE c.org_id = top.org_id
	)
	SELECT count(*) INTO n FROM gone;
	RETURN n;
END
$$;

REVOKE ALL ON FUNCTION webhookd_claim(text, integer, integer),
    webhookd_complete(text, uuid, integer, integer, integer, text, integer),
    webhookd_purge(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhookd_claim(text, integer, integer),
    webhookd_complete(text, uuid, integer, integer, integer, text, integer),
    webhookd_purge(integer, integer) TO crm_webhookd;

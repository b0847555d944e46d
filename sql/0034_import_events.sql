-- 0034 the events of a bulk import, set-based (issue 7, R61, R63).
--
-- 0031 writes each change's events at commit, row by row: a deferred
-- trigger re-reads the row, builds its JSON and numbers the event. For a
-- million imported customers that is a million trigger calls at commit,
-- more time than the import itself. Rows an import inserts (customers,
-- contacts, leads, products: those carrying its import_id) now get their
-- `<record>.created` events from the import guard of 0032 instead, the
-- statement-level trigger that already sees every new row of the insert:
-- one INSERT ... SELECT numbered in one go, and one more for their webhook
-- deliveries. The events are the ones the row trigger would write: the
-- same type, owner, actor, API key and payload (the record's public JSON,
-- as its GET shows it), in the same gapless sequence of the organisation.
-- Updates by an upsert, and everything written one by one (orders), keep
-- the row triggers.
--
-- Nothing else may take the shortcut: the guard lets a row carry an
-- import_id only while that import is open in the same transaction (and
-- an import cannot commit unclosed), and writes the events of exactly the
-- rows it has checked.

-- Reserve `p_count` consecutive event ids of organisation `p_org` for this
-- transaction (0031's numbering, taken out of crm_event_emit): the counter
-- row is locked by the transaction's first event, later ones continue from
-- it. Returns the first id reserved.
CREATE FUNCTION crm_event_reserve(p_org uuid, p_count bigint)
RETURNS bigint
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
		n := current_setting(mark || '_next')::bigint;
	END IF;
	PERFORM set_config(mark || '_next', (n + p_count)::text, true);
	RETURN n;
END
$$;
REVOKE ALL ON FUNCTION crm_event_reserve(uuid, bigint) FROM PUBLIC;

-- Queue events `p_first` .. `p_first + p_count - 1` of organisation
-- `p_org`, all of type `p_type`, for every live subscription to that type,
-- and wake the delivery workers when there is any.
CREATE FUNCTION crm_event_queue(p_org uuid, p_type text, p_first bigint,
    p_count bigint)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
	INSERT INTO webhook_deliveries (org_id, subscription_id, event_id)
	SELECT s.org_id, s.id, e
	FROM webhook_subscriptions s,
	    generate_series(p_first, p_first + p_count - 1) e
	WHERE s.org_id = p_org AND s.active AND s.deleted_at IS NULL
	  AND crm_event_matches(p_type, s.events);
	IF FOUND THEN
		PERFORM pg_notify('crm_webhooks', '');
	END IF;
END
$$;
REVOKE ALL ON FUNCTION crm_event_queue(uuid, text, bigint, bigint)
    FROM PUBLIC;

-- 0031's crm_event_emit, numbering through crm_event_reserve (the same
-- steps, now in one place).
CREATE OR REPLACE FUNCTION crm_event_emit(p_org uuid, p_type text,
    p_record text, p_id uuid, p_owner uuid, p_data jsonb, p_previous jsonb)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	first	bigint := nullif(current_setting('crm.events_' ||
		    replace(p_org::text, '-', '') || '_first', true), '')::bigint;
	n	bigint;
BEGIN
	-- Once per record and type in a transaction; an update of a record
	-- created in it is part of its creation.
	IF first IS NOT NULL AND EXISTS (SELECT 1 FROM events
	    WHERE org_id = p_org AND record_id = p_id AND id >= first
	    AND (type = p_type OR (p_type = p_record || '.updated'
		AND type = p_record || '.created'))) THEN
		RETURN;
	END IF;
	n := crm_event_reserve(p_org, 1);
	INSERT INTO events (org_id, id, type, record_type, record_id,
	    owner_id, actor_id, api_key_id, data, previous)
	VALUES (p_org, n, p_type, p_record, p_id, p_owner, crm_user(),
	    crm_setting('app.key_id')::uuid, p_data, p_previous);
	PERFORM crm_event_queue(p_org, p_type, n, 1);
END
$$;

-- 0032's guard (statement level, after insert, with the statement's new
-- rows), which now also writes the `<record>.created` events of the rows
-- that name an import it has checked, and their webhook deliveries: one
-- INSERT each, numbered in the order the rows were written, whatever
-- their number, without reading the table again.
CREATE OR REPLACE FUNCTION crm_import_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	r	record;
	kind	text := CASE TG_TABLE_NAME WHEN 'customers' THEN 'customer'
		    WHEN 'contacts' THEN 'contact' WHEN 'leads' THEN 'lead'
		    WHEN 'products' THEN 'product' END;
	first	bigint;
BEGIN
	FOR r IN SELECT n.import_id, n.org_id, count(*) AS n FROM new_rows n
	    WHERE n.import_id IS NOT NULL GROUP BY 1, 2 LOOP
		UPDATE imports SET inserted = inserted + r.n
		WHERE id = r.import_id AND org_id = r.org_id
		    AND resource = TG_ARGV[0] AND status = 'running'
		    AND xact = pg_current_xact_id();
		IF NOT FOUND THEN
			RAISE EXCEPTION 'rows of % name import %, which is not '
			    'open in this transaction', TG_TABLE_NAME,
			    r.import_id USING ERRCODE = 'insufficient_privilege';
		END IF;

		-- The record's public JSON (<kind>_json, as its GET shows it)
		-- and its owner, from the row as it stands now that the
		-- statement's row triggers have run (a lead's automatic MQL
		-- has changed it), in the order the statement wrote the rows.
		first := crm_event_reserve(r.org_id, r.n);
		EXECUTE format($q$
			INSERT INTO events (org_id, id, type, record_type,
			    record_id, owner_id, actor_id, api_key_id, data)
			SELECT $1, $2 + row_number() OVER () - 1, $3 || '.created',
			    $3, t.id, %s, crm_user(),
			    crm_setting('app.key_id')::uuid, %I(t)::jsonb
			FROM new_rows n JOIN %I t ON t.id = n.id
			WHERE n.import_id = $4$q$,
		    CASE kind WHEN 'product' THEN 'NULL::uuid'
			WHEN 'contact' THEN '(SELECT c.owner_id FROM customers c '
			    'WHERE c.id = t.customer_id)'
			ELSE 't.owner_id' END,
		    kind || '_json', TG_TABLE_NAME)
		USING r.org_id, first, kind, r.import_id;
		PERFORM crm_event_queue(r.org_id, kind || '.created', first,
		    r.n);
	END LOOP;
	RETURN NULL;
END
$$;

-- The event triggers of 0031 for these four tables, split as their audit
-- triggers are in 0032: inserts by an import are announced by its guard.
DROP TRIGGER customers_events ON customers;
CREATE CONSTRAINT TRIGGER customers_events AFTER UPDATE
	ON customers DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW EXECUTE FUNCTION crm_events_customers();
CREATE CONSTRAINT TRIGGER customers_events_insert AFTER INSERT
	ON customers DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW WHEN (NEW.import_id IS NULL)
	EXECUTE FUNCTION crm_events_customers();

DROP TRIGGER contacts_events ON contacts;
CREATE CONSTRAINT TRIGGER contacts_events AFTER UPDATE
	ON contacts DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW EXECUTE FUNCTION crm_events_contacts();
CREATE CONSTRAINT TRIGGER contacts_events_insert AFTER INSERT
	ON contacts DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW WHEN (NEW.import_id IS NULL)
	EXECUTE FUNCTION crm_events_contacts();

DROP TRIGGER leads_events ON leads;
CREATE CONSTRAINT TRIGGER leads_events AFTER UPDATE
	ON leads DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW EXECUTE FUNCTION crm_events_leads();
CREATE CONSTRAINT TRIGGER leads_events_insert AFTER INSERT
	ON leads DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW WHEN (NEW.import_id IS NULL)
	EXECUTE FUNCTION crm_events_leads();

DROP TRIGGER products_events ON products;
CREATE CONSTRAINT TRIGGER products_events AFTER UPDATE
	ON products DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW EXECUTE FUNCTION crm_events_products();
CREATE CONSTRAINT TRIGGER products_events_insert AFTER INSERT
	ON products DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW WHEN (NEW.import_id IS NULL)
	EXECUTE FUNCTION crm_events_products();

-- 0031's webhookd_complete: a failed attempt of a subscription deleted
-- while it was being sent ends the delivery `cancelled`, as the deletion
-- did to those waiting, instead of going back to `pending` (which no
-- worker would claim again).
CREATE OR REPLACE FUNCTION webhookd_complete(p_worker text, p_id uuid,
    p_attempt integer, p_status integer, p_duration_ms integer,
    p_error text, p_retry_in_s integer)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	d	webhook_deliveries;
	ok	boolean := coalesce(p_status BETWEEN 200 AND 299, false);
	retry	timestamptz;
	gone	boolean;
BEGIN
	SELECT s.deleted_at IS NOT NULL INTO gone
	FROM webhook_deliveries w JOIN webhook_subscriptions s
	    ON s.id = w.subscription_id
	WHERE w.id = p_id;
	IF NOT ok AND p_retry_in_s IS NOT NULL AND NOT coalesce(gone, false)
	THEN
		retry := clock_timestamp() + make_interval(secs => p_retry_in_s);
	END IF;
	UPDATE webhook_deliveries SET
	    status = CASE WHEN ok THEN 'delivered' WHEN gone THEN 'cancelled'
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

-- 0033 batch writes (issue 7, R61): POST /v1/{resource}/batch runs up to
-- 500 creates, updates and upserts (by external_id) in one statement. Each
-- item is one call of the same api_* function the single-record route
-- runs, in a subtransaction of its own, so every rule, every error and
-- every visibility answer is the one the item would get alone: another
-- rep's id answers 404 for that item, exactly as it would by itself. The
-- server checks each item's fields first (the route's own field lists)
-- and turns the per-item errors below into problem documents.
--
-- Nothing here bypasses row-level security: the functions run as the
-- caller (crm_app, bound by crm_bind) like every api_* function.

-- The resources a batch writes, and the operations each one takes there:
-- contacts and activities have no external_id, hence no upsert.
CREATE FUNCTION crm_batch_ops(p_resource text) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE p_resource
	    WHEN 'customers' THEN ARRAY['create', 'update', 'upsert']
	    WHEN 'contacts' THEN ARRAY['create', 'update']
	    WHEN 'leads' THEN ARRAY['create', 'update', 'upsert']
	    WHEN 'opportunities' THEN ARRAY['create', 'update', 'upsert']
	    WHEN 'products' THEN ARRAY['create', 'update', 'upsert']
	    WHEN 'activities' THEN ARRAY['create', 'update']
	    END
$$;

-- The live record of `p_resource` with external id `p_ext` that the bound
-- caller can see (row-level security decides), or NULL. An upsert updates
-- what this finds and creates otherwise; a record the caller cannot see
-- is not found, so its creation meets the unique key (409), as a create
-- of that external_id through the single-record route does.
CREATE FUNCTION crm_batch_find(p_resource text, p_ext text) RETURNS uuid
LANGUAGE plpgsql STABLE AS $$
BEGIN
	CASE p_resource
	WHEN 'customers' THEN
		RETURN (SELECT id FROM customers WHERE external_id = p_ext
		    AND deleted_at IS NULL);
	WHEN 'leads' THEN
		RETURN (SELECT id FROM leads WHERE external_id = p_ext
		    AND deleted_at IS NULL);
	WHEN 'opportunities' THEN
		RETURN (SELECT id FROM opportunities WHERE external_id = p_ext
		    AND deleted_at IS NULL);
	WHEN 'products' THEN
		RETURN (SELECT id FROM products WHERE external_id = p_ext);
	END CASE;
END
$$;

-- Run one create or update of `p_resource` through its single-record
-- api_* function: `p_id` the record (update), `b` the checked fields,
-- `p_version` the If-Match version (or NULL), `p_parent` the customer of
-- a new contact (the path's id on the single route). Returns what that
-- function returns (NULL: 404) and raises what it raises.
CREATE FUNCTION crm_batch_apply(p jsonb, p_resource text, p_op text,
    p_id uuid, b jsonb, p_version integer, p_parent uuid)
RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	CASE p_resource || ' ' || p_op
	WHEN 'customers create' THEN
		RETURN api_customers_create(p, b);
	WHEN 'customers update' THEN
		RETURN api_customers_update(p, p_id, b, p_version);
	WHEN 'contacts create' THEN
		RETURN api_contacts_create(p, p_parent, b);
	WHEN 'contacts update' THEN
		RETURN api_contacts_update(p, p_id, b, p_version);
	WHEN 'leads create' THEN
		RETURN api_leads_create(p, b);
	WHEN 'leads update' THEN
		RETURN api_leads_update(p, p_id, b, p_version);
	WHEN 'opportunities create' THEN
		RETURN api_opportunities_create(p, b);
	WHEN 'opportunities update' THEN
		RETURN api_opportunities_update(p, p_id, b, p_version);
	WHEN 'products create' THEN
		RETURN api_products_create(p, b);
	WHEN 'products update' THEN
		RETURN api_products_update(p, p_id, b, p_version);
	WHEN 'activities create' THEN
		RETURN api_activities_create(p, b);
	WHEN 'activities update' THEN
		RETURN api_activities_update(p, p_id, b, p_version);
	END CASE;
END
$$;

-- POST /v1/{resource}/batch. `p_items` are the items the server accepted,
-- in order: [{index, op, id?, external_id?, if_match?, customer_id?,
-- data}]. `p_opts`: all_or_none (nothing is written unless every item
-- succeeds), failed (the server already refused an item, so an
-- all-or-none batch cannot be written but is still tried, to report every
-- item's fate), keep_owner (X-Skip-Assignment-Rules: a new lead without
-- owner_id is the caller's, the assignment rules do not run).
--
-- Each item runs in its own subtransaction: a failed one is rolled back
-- alone and reported as {index, id, state, message, detail} (SQLSTATE,
-- message and DETAIL, which the server maps to a problem exactly as for a
-- single request, never showing PostgreSQL's own text); a NULL answer is
-- {index, status: 404, id}; a success {index, status: 201 | 200, body}.
-- `id` is the record an update (or an upsert that found one) named. With
-- all_or_none and any failure, everything is rolled back and `written` is
-- false (plpgsql variables survive the rollback, so the results are still
-- reported). Query cancellation (statement timeout) is not caught: the
-- whole statement fails and nothing is written.
CREATE FUNCTION api_batch(p jsonb, p_resource text, p_items jsonb,
    p_opts jsonb)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	all_or_none	boolean := coalesce((p_opts->>'all_or_none')::boolean,
			    false);
	failed		boolean := coalesce((p_opts->>'failed')::boolean, false);
	keep_owner	boolean := coalesce((p_opts->>'keep_owner')::boolean,
			    false);
	it		jsonb;
	op		text;
	rid		uuid;
	b		jsonb;
	status		integer;
	body		text;
	st		text;
	msg		text;
	det		text;
	out		json[] := '{}';
	written		boolean := true;
BEGIN
	PERFORM crm_bind(p);
	IF crm_batch_ops(p_resource) IS NULL THEN
		PERFORM crm_raise('500', 'No batch for this resource.');
	END IF;
	BEGIN
		FOR it IN SELECT value FROM jsonb_array_elements(p_items) LOOP
			BEGIN
				op := it->>'op';
				rid := (it->>'id')::uuid;
				b := it->'data';
				IF NOT op = ANY (crm_batch_ops(p_resource)) THEN
					PERFORM crm_raise('422', 'This resource '
					    'has no ' || op || ' in a batch.');
				END IF;
				IF op = 'upsert' THEN
					rid := crm_batch_find(p_resource,
					    it->>'external_id');
					op := CASE WHEN rid IS NULL THEN 'create'
					    ELSE 'update' END;
					b := b || jsonb_build_object('external_id',
					    it->>'external_id');
				END IF;
				IF op = 'create' AND keep_owner AND
				    p_resource = 'leads' AND NOT b ? 'owner_id'
				THEN
					b := b || jsonb_build_object('owner_id',
					    crm_user());
				END IF;
				status := CASE op WHEN 'create' THEN 201
				    ELSE 200 END;
				body := crm_batch_apply(p, p_resource, op, rid, b,
				    (it->>'if_match')::integer,
				    (it->>'customer_id')::uuid);
				IF body IS NULL THEN
					failed := true;
					out := out || json_build_object('index',
					    it->'index', 'status', 404, 'id', rid);
				ELSE
					out := out || json_build_object('index',
					    it->'index', 'status', status, 'body',
					    body::json);
				END IF;
			EXCEPTION WHEN OTHERS THEN
				GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE,
				    msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
				failed := true;
				out := out || json_build_object('index',
				    it->'index', 'id', rid, 'state', st,
				    'message', msg, 'detail', nullif(det, ''));
			END;
		END LOOP;
		IF all_or_none AND failed THEN
			-- Undo every item's work; `out` is not transactional.
			RAISE EXCEPTION USING ERRCODE = 'CRB00',
			    MESSAGE = 'all-or-none batch rolled back';
		END IF;
	EXCEPTION WHEN SQLSTATE 'CRB00' THEN
		written := false;
	END;
	RETURN json_build_object('written', written,
	    'results', array_to_json(out))::text;
END
$$;

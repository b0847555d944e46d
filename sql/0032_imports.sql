-- 0032 bulk imports by curl (R17, R61): POST /v1/imports/{customers,
-- contacts,leads,products,orders}; and the first step of the CSV exports,
-- GET /v1/{customers,contacts,leads,opportunities,orders}/export (the rest
-- of an export is the resource's own list function, page after page).
--
-- The server parses and validates each line of the file in C (the same
-- field lists as the single-record routes), then, in ONE transaction on a
-- connection of its own:
--   SELECT api_import_begin(principal, resource, options)   binds the caller
--   COPY import_rows (line, ok, data) FROM STDIN             the parsed lines
--   SELECT api_import_merge(principal, import_id, read, failed) checks, writes
--   COMMIT (or ROLLBACK: a dry run, or an atomic import with errors)
-- api_import_merge runs the database's own checks on every line at once
-- (owners, references, duplicates, custom fields), records each problem
-- against its line, and writes the good lines with one set-based statement
-- per table, under the caller's row-level security. Orders are the
-- exception: each is written by the single-record order functions, in a
-- savepoint of its own (numbers, prices, totals, subscriptions are theirs).
--
-- The audit trail of an import. Per-row triggers cost more than the write
-- itself (the audit trigger alone ~190 µs a row, measured), so:
--   - every import is a row of `imports` (who, through which key or token,
--     request id, resource, mode, counts), opened and closed only by
--     SECURITY DEFINER functions, and closing it writes ONE audit entry
--     (action 'import', entity 'imports') with the counts;
--   - rows an import inserts carry its id (import_id) and skip the
--     per-row insert audit; a statement-level guard on each table refuses
--     an import_id that is not an import open in the same transaction (so
--     no other write can borrow an import to escape the audit), and counts
--     the inserted rows itself; a deferred check refuses to commit an
--     import that was not closed;
--   - updates made by an upsert are audited row by row as any update,
--     field by field before and after: overwriting data stays traceable.
-- Customers' stage history on insert is written by a statement-level
-- trigger for every insert (one set-based insert instead of one trigger
-- call per row), and the custom-field check of imported inserts runs
-- set-based in the import (with the very function the trigger uses).

-- --- imports -------------------------------------------------------------

CREATE TABLE imports (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	org_id		uuid NOT NULL REFERENCES organizations (id),
	user_id		uuid NOT NULL,
	api_key_id	uuid,
	token_id	text,
	request_id	text,
	resource	text NOT NULL CHECK (resource IN ('customers', 'contacts',
			    'leads', 'products', 'orders')),
	mode		text NOT NULL CHECK (mode IN ('insert', 'upsert')),
	atomic		boolean NOT NULL,
	format		text NOT NULL CHECK (format IN ('csv', 'ndjson')),
	status		text NOT NULL DEFAULT 'running'
			    CHECK (status IN ('running', 'done')),
	xact		xid8 NOT NULL DEFAULT pg_current_xact_id(),
	read		integer NOT NULL DEFAULT 0,
	inserted	integer NOT NULL DEFAULT 0,
	updated		integer NOT NULL DEFAULT 0,
	failed		integer NOT NULL DEFAULT 0,
	started_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	finished_at	timestamptz,
	UNIQUE (org_id, id),
	FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id)
);
CREATE INDEX imports_org_idx ON imports (org_id, started_at DESC);
ALTER TABLE imports ENABLE ROW LEVEL SECURITY;
ALTER TABLE imports FORCE ROW LEVEL SECURITY;
-- Admins see every import of the organisation, others their own. Only
-- the SECURITY DEFINER functions below write them.
CREATE POLICY imports_read ON imports FOR SELECT
	USING (org_id = crm_org() AND (crm_role() = 'admin' OR
	    user_id = crm_user()));
GRANT SELECT ON imports TO crm_app;

-- Open an import of `p_resource` for the bound caller, in this
-- transaction. Returns its id. Errors: CR401 when no caller is bound.
CREATE FUNCTION crm_import_open(p_resource text, p_mode text,
    p_atomic boolean, p_format text)
RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	v_id	uuid;
BEGIN
	IF crm_user() IS NULL OR crm_org() IS NULL THEN
		PERFORM crm_raise('401', 'The credentials are invalid.');
	END IF;
	INSERT INTO imports (org_id, user_id, api_key_id, token_id,
	    request_id, resource, mode, atomic, format)
	VALUES (crm_org(), crm_user(), crm_setting('app.key_id')::uuid,
	    crm_setting('app.jti'), crm_setting('app.request_id'),
	    p_resource, p_mode, p_atomic, p_format)
	RETURNING id INTO v_id;
	RETURN v_id;
END
$$;

-- Close the caller's import `p_id`, open in this transaction, with its
-- counts, and write its one audit entry. Rows that skipped their own
-- audit were counted by the guard; `p_inserted` are those written one by
-- one through the single-record functions (orders), audited as such.
-- Errors: CR404 when there is no such open import.
CREATE FUNCTION crm_import_close(p_id uuid, p_read integer,
    p_inserted integer, p_updated integer, p_failed integer)
RETURNS imports
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	i	imports;
BEGIN
	UPDATE imports SET status = 'done', read = p_read,
	    inserted = inserted + p_inserted, updated = p_updated,
	    failed = p_failed,
	    finished_at = clock_timestamp()
	WHERE id = p_id AND org_id = crm_org() AND user_id = crm_user()
	    AND status = 'running' AND xact = pg_current_xact_id()
	RETURNING * INTO i;
	IF NOT FOUND THEN
		PERFORM crm_raise('404', 'No such import is running.');
	END IF;
	PERFORM crm_audit_write(i.org_id, 'import', 'imports', i.id,
	    jsonb_build_object('resource', i.resource, 'mode', i.mode,
		'atomic', i.atomic, 'read', i.read, 'inserted', i.inserted,
		'updated', i.updated, 'failed', i.failed));
	RETURN i;
END
$$;

-- At commit: every import opened in the transaction was closed (and so
-- audited).
CREATE FUNCTION crm_import_closed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
	IF (SELECT status FROM imports WHERE id = NEW.id) <> 'done' THEN
		RAISE EXCEPTION 'import % was opened but not closed', NEW.id
		    USING ERRCODE = 'integrity_constraint_violation';
	END IF;
	RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER imports_closed AFTER INSERT ON imports
	DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW EXECUTE FUNCTION crm_import_closed();

-- The guard of each importable table (statement level, after insert):
-- rows that name an import must name one of this table's resource
-- (TG_ARGV[0]) that is open in this transaction in the row's
-- organisation; their number is added to its count.
CREATE FUNCTION crm_import_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	r	record;
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
	END LOOP;
	RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION crm_import_open(text, text, boolean, text)
    FROM PUBLIC;
REVOKE ALL ON FUNCTION crm_import_close(uuid, integer, integer, integer,
    integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm_import_open(text, text, boolean, text)
    TO crm_app;
GRANT EXECUTE ON FUNCTION crm_import_close(uuid, integer, integer, integer,
    integer) TO crm_app;

-- --- customers: the import's triggers ----------------------------------------

ALTER TABLE customers ADD COLUMN import_id uuid;

CREATE TRIGGER customers_import_guard AFTER INSERT ON customers
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_import_guard('customers');

-- The audit trigger of 0002, split: inserts by an import are audited by
-- the import's entry; everything else row by row as before.
DROP TRIGGER customers_audit ON customers;
CREATE TRIGGER customers_audit AFTER UPDATE OR DELETE ON customers
	FOR EACH ROW EXECUTE FUNCTION crm_audit_row();
CREATE TRIGGER customers_audit_insert AFTER INSERT ON customers
	FOR EACH ROW WHEN (NEW.import_id IS NULL)
	EXECUTE FUNCTION crm_audit_row();

-- The custom-field check of 0009, split: imported inserts were checked by
-- the import (crm_import_customers), with the same function.
DROP TRIGGER customers_custom ON customers;
CREATE TRIGGER customers_custom BEFORE UPDATE OF custom ON customers
	FOR EACH ROW WHEN (crm_org() IS NOT NULL)
	EXECUTE FUNCTION crm_customers_custom();
CREATE TRIGGER customers_custom_insert BEFORE INSERT ON customers
	FOR EACH ROW WHEN (crm_org() IS NOT NULL AND NEW.import_id IS NULL)
	EXECUTE FUNCTION crm_customers_custom();

-- The cycle check of 0005 has nothing to do without a parent.
DROP TRIGGER customers_no_cycle ON customers;
CREATE TRIGGER customers_no_cycle BEFORE INSERT OR UPDATE OF parent_id
	ON customers FOR EACH ROW WHEN (NEW.parent_id IS NOT NULL)
	EXECUTE FUNCTION crm_customers_no_cycle();

-- The stage history of 0005: the first entry of new customers in one
-- statement per insert; changes of stage row by row as before.
CREATE FUNCTION crm_customer_stage_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
	INSERT INTO customer_stage_history (org_id, customer_id, from_stage,
	    to_stage, changed_by)
	SELECT n.org_id, n.id, NULL, n.lifecycle_stage, crm_user()
	FROM new_rows n;
	RETURN NULL;
END
$$;
DROP TRIGGER customers_stage ON customers;
CREATE TRIGGER customers_stage AFTER UPDATE OF lifecycle_stage ON customers
	FOR EACH ROW EXECUTE FUNCTION crm_customer_stage();
CREATE TRIGGER customers_stage_insert AFTER INSERT ON customers
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_customer_stage_insert();

-- --- contacts, leads, products: the same split ----------------------------------

ALTER TABLE contacts ADD COLUMN import_id uuid;
ALTER TABLE leads ADD COLUMN import_id uuid;
ALTER TABLE products ADD COLUMN import_id uuid;

CREATE TRIGGER contacts_import_guard AFTER INSERT ON contacts
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_import_guard('contacts');
DROP TRIGGER contacts_audit ON contacts;
CREATE TRIGGER contacts_audit AFTER UPDATE OR DELETE ON contacts
	FOR EACH ROW EXECUTE FUNCTION crm_audit_row();
CREATE TRIGGER contacts_audit_insert AFTER INSERT ON contacts
	FOR EACH ROW WHEN (NEW.import_id IS NULL)
	EXECUTE FUNCTION crm_audit_row();

-- Leads keep their per-row triggers (scoring, automatic MQL and the
-- status history are the lead's own data); only the audit is split.
CREATE TRIGGER leads_import_guard AFTER INSERT ON leads
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_import_guard('leads');
DROP TRIGGER leads_audit ON leads;
CREATE TRIGGER leads_audit AFTER UPDATE OR DELETE ON leads
	FOR EACH ROW EXECUTE FUNCTION crm_audit_row();
CREATE TRIGGER leads_audit_insert AFTER INSERT ON leads
	FOR EACH ROW WHEN (NEW.import_id IS NULL)
	EXECUTE FUNCTION crm_audit_row();

CREATE TRIGGER products_import_guard AFTER INSERT ON products
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm_import_guard('products');
DROP TRIGGER products_audit ON products;
CREATE TRIGGER products_audit AFTER UPDATE OR DELETE ON products
	FOR EACH ROW EXECUTE FUNCTION crm_audit_row();
CREATE TRIGGER products_audit_insert AFTER INSERT ON products
	FOR EACH ROW WHEN (NEW.import_id IS NULL)
	EXECUTE FUNCTION crm_audit_row();

-- --- custom fields: the errors as data -----------------------------------------

-- Every problem of applying the custom values `patch` to `current` (as
-- crm_custom_apply does: unknown keys, types, options, dates, lengths,
-- required fields), as a JSON array of field errors; [] when none.
CREATE FUNCTION crm_custom_errors(current jsonb, patch jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	result	jsonb := coalesce(current, '{}');
	errors	jsonb := '[]';
	k	text;
	v	jsonb;
	d	custom_fields;
BEGIN
	IF patch IS NOT NULL AND jsonb_typeof(patch) <> 'object' THEN
		RETURN jsonb_build_array(crm_field_error('custom', 'type',
		    '''custom'' must be an object.'));
	END IF;
	IF patch IS NOT NULL THEN
		FOR k, v IN SELECT * FROM jsonb_each(patch) LOOP
			SELECT * INTO d FROM custom_fields
			WHERE entity = 'customers' AND key = k;
			IF NOT FOUND THEN
				errors := errors || crm_field_error('custom.' || k,
				    'unknown_field', 'No custom field ''' || k ||
				    ''' is defined.');
			ELSIF jsonb_typeof(v) = 'null' THEN
				result := result - k;
			ELSIF (d.type IN ('text', 'enum', 'date') AND
			    jsonb_typeof(v) <> 'string') OR
			    (d.type = 'number' AND jsonb_typeof(v) <> 'number') OR
			    (d.type = 'bool' AND jsonb_typeof(v) <> 'boolean') THEN
				errors := errors || crm_field_error('custom.' || k,
				    'type', '''' || k || ''' must be a ' || d.type ||
				    '.');
			ELSIF d.type = 'enum' AND NOT (v #>> '{}') = ANY (d.options)
			THEN
				errors := errors || crm_field_error('custom.' || k,
				    'enum', '''' || k || ''' must be one of ' ||
				    array_to_string(d.options, ', ') || '.');
			ELSIF d.type = 'date' AND (v #>> '{}') !~
			    '^\d{4}-\d{2}-\d{2}$' THEN
				errors := errors || crm_field_error('custom.' || k,
				    'format', '''' || k || ''' must be a date, '
				    'YYYY-MM-DD.');
			ELSIF d.type = 'text' AND length(v #>> '{}') > 1000 THEN
				errors := errors || crm_field_error('custom.' || k,
				    'length', '''' || k || ''' is too long.');
			ELSE
				result := result || jsonb_build_object(k, v);
			END IF;
		END LOOP;
	END IF;
	FOR d IN SELECT * FROM custom_fields WHERE entity = 'customers'
	    AND required AND NOT result ? key LOOP
		errors := errors || crm_field_error('custom.' || d.key,
		    'required', '''' || d.key || ''' is required.');
	END LOOP;
	RETURN errors;
END
$$;

-- 0009's crm_custom_apply, now on top of crm_custom_errors: one list of
-- rules for single writes and imports. Same answers: the values after the
-- merge patch, or CR422 listing every problem.
CREATE OR REPLACE FUNCTION crm_custom_apply(current jsonb, patch jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	errors	jsonb := crm_custom_errors(current, patch);
BEGIN
	IF jsonb_array_length(errors) > 0 THEN
		PERFORM crm_raise_fields('422', 'The custom fields are invalid; '
		    'see errors.', errors);
	END IF;
	RETURN jsonb_strip_nulls(coalesce(current, '{}') ||
	    coalesce(patch, '{}'));
END
$$;

-- --- the import's statements -----------------------------------------------------

-- Step 1 of POST /v1/imports/{resource}: bind the caller (an API key needs
-- the route's write scope), open the import, and create the staging
-- tables the server copies the parsed lines into. `o` holds mode, atomic
-- and format (csv or ndjson). Answers {import_id, custom: {key: type}}: the organisation's
-- custom fields of the resource, so the server can read custom.<key>
-- columns. Errors: CR401, CR403 from the binding.
CREATE FUNCTION api_import_begin(p jsonb, p_resource text, o jsonb)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	v_id	uuid;
BEGIN
	PERFORM crm_bind(p);
	-- Whoever may not write a single product may not import any.
	IF p_resource = 'products' THEN
		PERFORM crm_product_writer();
	END IF;
	v_id := crm_import_open(p_resource, coalesce(o->>'mode', 'insert'),
	    coalesce((o->>'atomic')::boolean, false),
	    coalesce(o->>'format', 'csv'));
	-- line: the file's line; ok: the server accepted it (else data holds
	-- only its external_id, for the duplicate check); data: the record.
	CREATE TEMP TABLE import_rows (
		line	integer NOT NULL,
		ok	boolean NOT NULL,
		data	jsonb NOT NULL
	) ON COMMIT DROP;
	CREATE TEMP TABLE import_errors (
		seq	bigint GENERATED ALWAYS AS IDENTITY,
		line	integer NOT NULL,
		field	text NOT NULL,
		code	text NOT NULL,
		message	text NOT NULL
	) ON COMMIT DROP;
	RETURN json_build_object('import_id', v_id,
	    'custom', (SELECT coalesce(json_object_agg(f.key, f.type), '{}')
		FROM custom_fields f WHERE f.entity = p_resource))::text;
END
$$;

-- Step 3: check the copied lines, write the good ones, close the import.
-- `p_read` lines were read and `p_failed` refused by the server. Writes
-- nothing when the import is atomic and any line failed. Answers
-- {inserted, updated, failed, errors_total, errors: [{line, field, code,
-- message}]} for the database's part (errors: the first 1000 by line).
-- Errors: CR404 when the import is not the caller's open one.
CREATE FUNCTION api_import_merge(p jsonb, p_import uuid, p_read integer,
    p_failed integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	imp	imports;
	updated	integer;
	inserted integer := 0;
	failed	integer;
BEGIN
	PERFORM crm_bind(p);
	-- The checks sort and hash every line at once: room for that in
	-- memory rather than on disk, for this transaction only.
	PERFORM set_config('work_mem', '64MB', true);
	SELECT * INTO imp FROM imports WHERE id = p_import
	    AND user_id = crm_user() AND status = 'running';
	IF NOT FOUND THEN
		PERFORM crm_raise('404', 'No such import is running.');
	END IF;
	ANALYZE import_rows;
	CASE imp.resource
	WHEN 'customers' THEN
		updated := crm_import_customers(imp, p_failed > 0);
	WHEN 'contacts' THEN
		updated := crm_import_contacts(imp, p_failed > 0);
	WHEN 'leads' THEN
		updated := crm_import_leads(imp, p_failed > 0);
	WHEN 'products' THEN
		updated := crm_import_products(imp, p_failed > 0);
	WHEN 'orders' THEN
		SELECT o.inserted, o.updated INTO inserted, updated
		FROM crm_import_orders(imp, p, p_failed > 0) o;
	END CASE;
	SELECT count(DISTINCT line) INTO failed FROM import_errors;
	imp := crm_import_close(imp.id, p_read, inserted, updated,
	    p_failed + failed);
	RETURN json_build_object('inserted', imp.inserted,
	    'updated', imp.updated, 'failed', failed,
	    'errors_total', (SELECT count(*) FROM import_errors),
	    'errors', coalesce((SELECT json_agg(json_build_object('line',
		e.line, 'field', e.field, 'code', e.code, 'message',
		e.message) ORDER BY e.line, e.seq) FROM (SELECT * FROM
		import_errors ORDER BY line, seq LIMIT 1000) e), '[]'))::text;
END
$$;

-- Whether giving customer `p_id` the parent `p_parent` closes a cycle in
-- the company tree (the check crm_customers_no_cycle makes on write).
CREATE FUNCTION crm_customer_cycle(p_id uuid, p_parent uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
	WITH RECURSIVE up(id, depth) AS (
		SELECT p_parent, 1
		UNION ALL
		SELECT c.parent_id, up.depth + 1 FROM customers c
		JOIN up ON c.id = up.id
		WHERE c.parent_id IS NOT NULL AND up.depth < 100
	)
	SELECT EXISTS (SELECT 1 FROM up WHERE id = p_id)
$$;

-- The customers of an import (mode insert or upsert by external_id), as
-- POST /v1/customers and PATCH /v1/customers/{id} would write them one by
-- one, with each refusal recorded against its line in import_errors:
-- owner_email or owner_id naming no active user, or someone outside the
-- caller's team (org-wide roles assign anyone); a parent the caller cannot
-- see; an external_id met on an earlier line; custom values the
-- organisation's fields refuse; in upsert mode a missing external_id or a
-- parent closing a cycle. An external_id held by a customer the caller
-- may not change (another rep's, a deleted one, one they may only read)
-- fails its line with one message whatever the case: the import neither
-- changes that customer nor says whose it is or what it holds.
-- `p_server_failed`: the server refused lines already. Writes nothing when
-- the import is atomic and any line failed. Returns the number updated.
CREATE FUNCTION crm_import_customers(imp imports, p_server_failed boolean)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
	upsert	boolean := imp.mode = 'upsert';
	n	integer := 0;
BEGIN
	CREATE TEMP TABLE import_plan ON COMMIT DROP AS
	SELECT r.line, r.ok, r.data, r.data->>'external_id' AS ext,
	    CASE WHEN r.data ? 'owner_email' THEN ou.id
		WHEN r.data ? 'owner_id' THEN oi.id ELSE crm_user() END
		AS owner_id,
	    CASE WHEN r.data->>'external_id' IS NOT NULL THEN
		min(r.line) OVER (PARTITION BY r.data->>'external_id') END
		AS first_line,
	    t.id AS target, t.custom AS target_custom
	FROM import_rows r
	LEFT JOIN users ou ON r.ok AND r.data ? 'owner_email'
	    AND lower(ou.email) = lower(r.data->>'owner_email') AND ou.active
	LEFT JOIN users oi ON r.ok AND r.data ? 'owner_id'
	    AND oi.id = (r.data->>'owner_id')::uuid AND oi.active
	LEFT JOIN customers t ON upsert AND r.ok
	    AND t.org_id = imp.org_id AND t.external_id = r.data->>'external_id'
	    AND t.deleted_at IS NULL;
	ANALYZE import_plan;

	INSERT INTO import_errors (line, field, code, message)
	SELECT p.line, e.field, e.code, e.message
	FROM import_plan p CROSS JOIN LATERAL (VALUES
	    (p.data ? 'owner_email' AND p.data ? 'owner_id', 'owner_email',
		'conflict', 'Give owner_email or owner_id, not both.'),
	    (p.data ? 'owner_email' AND p.owner_id IS NULL, 'owner_email',
		'not_found', 'owner_email names no active user of this '
		'organization.'),
	    (p.data ? 'owner_id' AND NOT p.data ? 'owner_email' AND
		p.owner_id IS NULL, 'owner_id', 'not_found',
		'owner_id names no active user of this organization.'),
	    (p.owner_id IS NOT NULL AND NOT crm_mine(p.owner_id),
		CASE WHEN p.data ?
		'owner_email' THEN 'owner_email' ELSE 'owner_id' END,
		'forbidden', 'Only managers and admins assign records to '
		'people outside their team.'),
	    (p.data->>'parent_id' IS NOT NULL AND NOT EXISTS (SELECT 1
		FROM customers c WHERE c.id = (p.data->>'parent_id')::uuid
		AND c.deleted_at IS NULL), 'parent_id', 'not_found',
		'parent_id names no customer you can see.'),
	    (p.line > p.first_line, 'external_id', 'duplicate',
		'external_id is already on line ' || p.first_line ||
		' of this file.'),
	    (upsert AND p.ext IS NULL, 'external_id', 'required',
		'external_id is required to upsert.'),

	    (p.target IS NOT NULL AND p.data->>'parent_id' IS NOT NULL AND
		crm_customer_cycle(p.target, (p.data->>'parent_id')::uuid),
		'parent_id', 'cycle',
		'parent_id would make the company tree a cycle.'))
	    AS e(bad, field, code, message)
	WHERE p.ok AND e.bad;

	-- An upsert's line that inserts needs what a create needs (the
	-- server named the required fields it lacks).
	INSERT INTO import_errors (line, field, code, message)
	SELECT p.line, m, 'required', '''' || m || ''' is required.'
	FROM import_plan p, jsonb_array_elements_text(p.data->'$missing') m
	WHERE p.ok AND upsert AND p.target IS NULL AND p.ext IS NOT NULL;

	-- Custom values: lines that give some are checked whole; the others
	-- only for the organisation's required fields.
	INSERT INTO import_errors (line, field, code, message)
	SELECT p.line, e->>'field', e->>'code', e->>'message'
	FROM import_plan p, jsonb_array_elements(crm_custom_errors(
	    p.target_custom, p.data->'custom')) e
	WHERE p.ok AND p.data ? 'custom';
	INSERT INTO import_errors (line, field, code, message)
	SELECT p.line, 'custom.' || d.key, 'required',
	    '''' || d.key || ''' is required.'
	FROM import_plan p JOIN custom_fields d ON d.entity = 'customers'
	    AND d.required
	WHERE p.ok AND NOT p.data ? 'custom'
	    AND NOT coalesce(p.target_custom, '{}') ? d.key;

	-- Cycles that lines close between them (A's parent B, B's parent
	-- A: each alone passes the check above against the stored tree).
	-- The walk takes a customer's parent from the file where a line
	-- still to be written gives one, else from the table.
	WITH RECURSIVE edge AS (
		SELECT p.target AS id, (p.data->>'parent_id')::uuid AS parent
		FROM import_plan p
		WHERE p.ok AND p.target IS NOT NULL AND p.data ? 'parent_id'
		  AND NOT EXISTS (SELECT 1 FROM import_errors x
		    WHERE x.line = p.line)
	), walk(start, id, depth) AS (
		SELECT e.id, e.parent, 1 FROM edge e WHERE e.parent IS NOT NULL
		UNION ALL
		SELECT w.start, coalesce(e.parent, c.parent_id), w.depth + 1
		FROM walk w LEFT JOIN edge e ON e.id = w.id
		LEFT JOIN customers c ON e.id IS NULL AND c.id = w.id
		WHERE w.depth < 100 AND w.id <> w.start
		  AND coalesce(e.parent, c.parent_id) IS NOT NULL
	)
	INSERT INTO import_errors (line, field, code, message)
	SELECT DISTINCT p.line, 'parent_id', 'cycle', 'parent_id would make '
	    'the company tree a cycle with other lines of this file.'
	FROM walk w JOIN import_plan p ON p.target = w.start
	    AND p.data ? 'parent_id'
	WHERE w.id = w.start AND NOT EXISTS (SELECT 1 FROM import_errors x
	    WHERE x.line = p.line);

	IF imp.atomic AND (p_server_failed OR
	    EXISTS (SELECT 1 FROM import_errors)) THEN
		RETURN 0;
	END IF;

	CREATE TEMP TABLE import_good ON COMMIT DROP AS
	SELECT p.* FROM import_plan p
	WHERE p.ok AND NOT EXISTS (SELECT 1 FROM import_errors e
	    WHERE e.line = p.line);
	ALTER TABLE import_good ADD COLUMN done boolean NOT NULL DEFAULT false;

	IF upsert THEN
		-- As api_customers_update: what a line gives replaces, the
		-- rest stays; custom values merge. Row-level security leaves
		-- out the customers the caller may only read.
		WITH u AS (
			UPDATE customers c SET
			    kind = CASE WHEN g.data ? 'kind' THEN g.data->>'kind'
				ELSE c.kind END,
			    name = CASE WHEN g.data ? 'name' THEN g.data->>'name'
				ELSE c.name END,
			    industry = CASE WHEN g.data ? 'industry' THEN
				g.data->>'industry' ELSE c.industry END,
			    size = CASE WHEN g.data ? 'size' THEN g.data->>'size'
				ELSE c.size END,
			    region = CASE WHEN g.data ? 'region' THEN
				g.data->>'region' ELSE c.region END,
			    province = CASE WHEN g.data ? 'province' THEN
				g.data->>'province' ELSE c.province END,
			    city = CASE WHEN g.data ? 'city' THEN g.data->>'city'
				ELSE c.city END,
			    address = CASE WHEN g.data ? 'address' THEN
				g.data->>'address' ELSE c.address END,
			    phone = CASE WHEN g.data ? 'phone' THEN
				g.data->>'phone' ELSE c.phone END,
			    email = CASE WHEN g.data ? 'email' THEN
				g.data->>'email' ELSE c.email END,
			    website = CASE WHEN g.data ? 'website' THEN
				g.data->>'website' ELSE c.website END,
			    source = CASE WHEN g.data ? 'source' THEN
				g.data->>'source' ELSE c.source END,
			    owner_id = CASE WHEN g.data ? 'owner_email' OR
				g.data ? 'owner_id' THEN g.owner_id
				ELSE c.owner_id END,
			    grade = CASE WHEN g.data ? 'grade' THEN
				g.data->>'grade' ELSE c.grade END,
			    is_key_customer = CASE WHEN g.data ? 'is_key_customer'
				THEN (g.data->>'is_key_customer')::boolean
				ELSE c.is_key_customer END,
			    lifecycle_stage = CASE WHEN g.data ? 'lifecycle_stage'
				THEN g.data->>'lifecycle_stage'
				ELSE c.lifecycle_stage END,
			    tags = CASE WHEN g.data ? 'tags' THEN
				coalesce(crm_text_array(g.data->'tags'), '{}')
				ELSE c.tags END,
			    parent_id = CASE WHEN g.data ? 'parent_id' THEN
				(g.data->>'parent_id')::uuid ELSE c.parent_id END,
			    notes = CASE WHEN g.data ? 'notes' THEN
				g.data->>'notes' ELSE c.notes END,
			    custom = CASE WHEN g.data ? 'custom' THEN
				crm_custom_apply(c.custom, g.data->'custom')
				ELSE c.custom END
			FROM import_good g
			WHERE c.id = g.target
			RETURNING g.line
		)
		UPDATE import_good g SET done = true FROM u
		WHERE g.line = u.line;
		GET DIAGNOSTICS n = ROW_COUNT;
	END IF;

	-- As api_customers_create; an external_id taken by any customer of
	-- the organisation (visible or not) leaves its line unwritten.
	WITH i AS (
		INSERT INTO customers (org_id, owner_id, kind, name, industry,
		    size, region, province, city, address, phone, email, website,
		    source, grade, is_key_customer, lifecycle_stage, tags,
		    parent_id, external_id, notes, custom, import_id)
		SELECT imp.org_id, g.owner_id,
		    coalesce(g.data->>'kind', 'company'), g.data->>'name',
		    g.data->>'industry', g.data->>'size', g.data->>'region',
		    g.data->>'province', g.data->>'city', g.data->>'address',
		    g.data->>'phone', g.data->>'email', g.data->>'website',
		    g.data->>'source', g.data->>'grade',
		    coalesce((g.data->>'is_key_customer')::boolean, false),
		    coalesce(g.data->>'lifecycle_stage', 'potential'),
		    coalesce(crm_text_array(g.data->'tags'), '{}'),
		    (g.data->>'parent_id')::uuid, g.ext, g.data->>'notes',
		    jsonb_strip_nulls(coalesce(g.data->'custom', '{}')), imp.id
		FROM import_good g WHERE NOT g.done
		ON CONFLICT (org_id, external_id) WHERE external_id IS NOT NULL
		DO NOTHING
		RETURNING external_id
	)
	INSERT INTO import_errors (line, field, code, message)
	SELECT g.line, 'external_id', 'taken', 'external_id is already used '
	    'by a customer you cannot change; nothing was written for this '
	    'line.'
	FROM import_good g
	WHERE NOT g.done AND g.ext IS NOT NULL
	    AND NOT EXISTS (SELECT 1 FROM i WHERE i.external_id = g.ext);
	RETURN n;
END
$$;

-- The contacts of an import, as POST /v1/customers/{id}/contacts and
-- PATCH /v1/contacts/{id} would write them. Each line names its customer
-- by customer_id or customer_external_id: one the caller can see (else
-- not_found) and may change (else forbidden, the single route's 403).
-- mode=upsert matches the customer's live contact with the same email
-- (case-insensitive; email is then required; several such contacts make
-- the line ambiguous). A (customer, email) met on an earlier line fails.
-- Contacts are visible exactly when their customer is, so nothing of an
-- unseen customer can be matched or learnt. Returns the number updated.
CREATE FUNCTION crm_import_contacts(imp imports, p_server_failed boolean)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
	upsert	boolean := imp.mode = 'upsert';
	n	integer := 0;
BEGIN
	CREATE TEMP TABLE import_plan ON COMMIT DROP AS
	SELECT x.*, CASE WHEN x.customer_id IS NOT NULL AND
		x.email_key IS NOT NULL THEN min(x.line) OVER (PARTITION BY
		x.customer_id, x.email_key) END AS first_line,
	    t.id AS target, t.n AS matches
	FROM (SELECT r.line, r.ok, r.data, lower(r.data->>'email') AS email_key,
		coalesce(ci.id, ce.id) AS customer_id,
		crm_mine(coalesce(ci.owner_id, ce.owner_id)) AS writable
	    FROM import_rows r
	    LEFT JOIN customers ci ON r.ok AND r.data ? 'customer_id'
		AND ci.id = (r.data->>'customer_id')::uuid
		AND ci.deleted_at IS NULL
	    LEFT JOIN customers ce ON r.ok AND r.data ? 'customer_external_id'
		AND NOT r.data ? 'customer_id' AND ce.org_id = imp.org_id
		AND ce.external_id = r.data->>'customer_external_id'
		AND ce.deleted_at IS NULL) x
	LEFT JOIN LATERAL (SELECT (array_agg(c.id))[1] AS id, count(*) AS n
	    FROM contacts c WHERE upsert AND x.customer_id IS NOT NULL
	    AND c.customer_id = x.customer_id AND lower(c.email) = x.email_key
	    AND c.deleted_at IS NULL) t ON true;
	ANALYZE import_plan;

	INSERT INTO import_errors (line, field, code, message)
	SELECT p.line, e.field, e.code, e.message
	FROM import_plan p CROSS JOIN LATERAL (VALUES
	    (NOT p.data ? 'customer_id' AND NOT p.data ?
		'customer_external_id', 'customer_id', 'required',
		'Give customer_id or customer_external_id.'),
	    (p.data ? 'customer_id' AND p.data ? 'customer_external_id',
		'customer_external_id', 'conflict',
		'Give customer_id or customer_external_id, not both.'),
	    (p.customer_id IS NULL AND p.data ? 'customer_id', 'customer_id',
		'not_found', 'customer_id names no customer you can see.'),
	    (p.customer_id IS NULL AND p.data ? 'customer_external_id' AND
		NOT p.data ? 'customer_id', 'customer_external_id',
		'not_found', 'customer_external_id names no customer you can '
		'see.'),
	    (p.customer_id IS NOT NULL AND NOT p.writable,
		CASE WHEN p.data ? 'customer_id' THEN 'customer_id'
		ELSE 'customer_external_id' END, 'forbidden',
		'You may read this customer but not change it.'),
	    (upsert AND p.email_key IS NULL, 'email', 'required',
		'email is required to upsert.'),
	    (p.line > p.first_line, 'email', 'duplicate',
		'This customer''s email is already on line ' || p.first_line ||
		' of this file.'),
	    (p.matches > 1, 'email', 'ambiguous', 'email matches several '
		'contacts of this customer; change them one by one.'))
	    AS e(bad, field, code, message)
	WHERE p.ok AND e.bad;
	INSERT INTO import_errors (line, field, code, message)
	SELECT p.line, m, 'required', '''' || m || ''' is required.'
	FROM import_plan p, jsonb_array_elements_text(p.data->'$missing') m
	WHERE p.ok AND upsert AND p.target IS NULL AND p.email_key IS NOT NULL;

	IF imp.atomic AND (p_server_failed OR
	    EXISTS (SELECT 1 FROM import_errors)) THEN
		RETURN 0;
	END IF;

	CREATE TEMP TABLE import_good ON COMMIT DROP AS
	SELECT p.* FROM import_plan p
	WHERE p.ok AND NOT EXISTS (SELECT 1 FROM import_errors e
	    WHERE e.line = p.line);

	IF upsert THEN
		-- As api_contacts_update: what a line gives replaces.
		UPDATE contacts c SET
		    name = CASE WHEN g.data ? 'name' THEN g.data->>'name'
			ELSE c.name END,
		    title = CASE WHEN g.data ? 'title' THEN g.data->>'title'
			ELSE c.title END,
		    phones = CASE WHEN g.data ? 'phones' THEN coalesce(ARRAY(
			SELECT jsonb_array_elements_text(g.data->'phones')), '{}')
			ELSE c.phones END,
		    email = CASE WHEN g.data ? 'email' THEN g.data->>'email'
			ELSE c.email END,
		    birthday = CASE WHEN g.data ? 'birthday' THEN
			(g.data->>'birthday')::date ELSE c.birthday END,
		    buying_role = CASE WHEN g.data ? 'buying_role' THEN
			g.data->>'buying_role' ELSE c.buying_role END,
		    notes = CASE WHEN g.data ? 'notes' THEN g.data->>'notes'
			ELSE c.notes END
		FROM import_good g
		WHERE g.matches = 1 AND c.id = g.target;
		GET DIAGNOSTICS n = ROW_COUNT;
	END IF;

	-- As api_contacts_create.
	INSERT INTO contacts (org_id, customer_id, name, title, phones, email,
	    birthday, buying_role, notes, import_id)
	SELECT imp.org_id, g.customer_id, g.data->>'name', g.data->>'title',
	    coalesce(ARRAY(SELECT jsonb_array_elements_text(g.data->'phones')),
		'{}'),
	    g.data->>'email', (g.data->>'birthday')::date,
	    coalesce(g.data->>'buying_role', 'other'), g.data->>'notes', imp.id
	FROM import_good g WHERE g.target IS NULL;
	RETURN n;
END
$$;

-- The leads of an import, as POST /v1/leads and PATCH /v1/leads/{id}
-- would write them, except that a line without an owner is the caller's
-- (an import's rows are the caller's or owner_email's, never the
-- assignment rules'). Owners as crm_lead_owner_check: an active user of
-- the organisation whom the caller may give leads to (org-wide roles and
-- marketing anyone, others their team). mode=upsert by external_id; an
-- external_id held by a lead the caller may not change fails its line
-- with one message whatever the case. Scores, grades, automatic MQL and
-- the status history come from the leads' own triggers. Returns the
-- number updated.
CREATE FUNCTION crm_import_leads(imp imports, p_server_failed boolean)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
	upsert	boolean := imp.mode = 'upsert';
	n	integer := 0;
BEGIN
	CREATE TEMP TABLE import_plan ON COMMIT DROP AS
	SELECT r.line, r.ok, r.data, r.data->>'external_id' AS ext,
	    CASE WHEN r.data ? 'owner_email' THEN ou.id
		WHEN r.data ? 'owner_id' THEN oi.id ELSE crm_user() END
		AS owner_id,
	    CASE WHEN r.data->>'external_id' IS NOT NULL THEN
		min(r.line) OVER (PARTITION BY r.data->>'external_id') END
		AS first_line,
	    t.id AS target, t.status AS target_status
	FROM import_rows r
	LEFT JOIN users ou ON r.ok AND r.data ? 'owner_email'
	    AND lower(ou.email) = lower(r.data->>'owner_email') AND ou.active
	LEFT JOIN users oi ON r.ok AND r.data ? 'owner_id'
	    AND oi.id = (r.data->>'owner_id')::uuid AND oi.active
	LEFT JOIN leads t ON upsert AND r.ok
	    AND t.org_id = imp.org_id AND t.external_id = r.data->>'external_id'
	    AND t.deleted_at IS NULL;
	ANALYZE import_plan;

	INSERT INTO import_errors (line, field, code, message)
	SELECT p.line, e.field, e.code, e.message
	FROM import_plan p CROSS JOIN LATERAL (VALUES
	    (p.data ? 'owner_email' AND p.data ? 'owner_id', 'owner_email',
		'conflict', 'Give owner_email or owner_id, not both.'),
	    (p.data ? 'owner_email' AND p.owner_id IS NULL, 'owner_email',
		'not_found', 'owner_email names no active user of this '
		'organization.'),
	    (p.data ? 'owner_id' AND NOT p.data ? 'owner_email' AND
		p.owner_id IS NULL, 'owner_id', 'not_found',
		'owner_id names no active user of this organization.'),
	    (p.owner_id IS NOT NULL AND NOT (crm_mine(p.owner_id) OR
		crm_role() = 'marketing'),
		CASE WHEN p.data ? 'owner_email' THEN 'owner_email'
		ELSE 'owner_id' END, 'forbidden', 'Only managers, marketing '
		'and admins give leads to people outside their team.'),
	    (p.line > p.first_line, 'external_id', 'duplicate',
		'external_id is already on line ' || p.first_line ||
		' of this file.'),
	    (upsert AND p.ext IS NULL, 'external_id', 'required',
		'external_id is required to upsert.'),
	    (p.target_status = 'converted' AND (p.data ? 'owner_email' OR
		p.data ? 'owner_id'), CASE WHEN p.data ? 'owner_email' THEN
		'owner_email' ELSE 'owner_id' END, 'conflict',
		'A converted lead keeps its owner; reassign its customer '
		'instead.'))
	    AS e(bad, field, code, message)
	WHERE p.ok AND e.bad;
	INSERT INTO import_errors (line, field, code, message)
	SELECT p.line, m, 'required', '''' || m || ''' is required.'
	FROM import_plan p, jsonb_array_elements_text(p.data->'$missing') m
	WHERE p.ok AND upsert AND p.target IS NULL AND p.ext IS NOT NULL;

	IF imp.atomic AND (p_server_failed OR
	    EXISTS (SELECT 1 FROM import_errors)) THEN
		RETURN 0;
	END IF;

	CREATE TEMP TABLE import_good ON COMMIT DROP AS
	SELECT p.* FROM import_plan p
	WHERE p.ok AND NOT EXISTS (SELECT 1 FROM import_errors e
	    WHERE e.line = p.line);
	ALTER TABLE import_good ADD COLUMN done boolean NOT NULL DEFAULT false;

	IF upsert THEN
		-- As api_leads_update, for the fields of a create.
		WITH u AS (
			UPDATE leads l SET
			    name = CASE WHEN g.data ? 'name' THEN g.data->>'name'
				ELSE l.name END,
			    company = CASE WHEN g.data ? 'company' THEN
				g.data->>'company' ELSE l.company END,
			    title = CASE WHEN g.data ? 'title' THEN
				g.data->>'title' ELSE l.title END,
			    phone = CASE WHEN g.data ? 'phone' THEN
				g.data->>'phone' ELSE l.phone END,
			    email = CASE WHEN g.data ? 'email' THEN
				g.data->>'email' ELSE l.email END,
			    source = CASE WHEN g.data ? 'source' THEN
				g.data->>'source' ELSE l.source END,
			    campaign_id = CASE WHEN g.data ? 'campaign_id' THEN
				(g.data->>'campaign_id')::uuid
				ELSE l.campaign_id END,
			    industry = CASE WHEN g.data ? 'industry' THEN
				g.data->>'industry' ELSE l.industry END,
			    region = CASE WHEN g.data ? 'region' THEN
				g.data->>'region' ELSE l.region END,
			    province = CASE WHEN g.data ? 'province' THEN
				g.data->>'province' ELSE l.province END,
			    city = CASE WHEN g.data ? 'city' THEN g.data->>'city'
				ELSE l.city END,
			    notes = CASE WHEN g.data ? 'notes' THEN
				g.data->>'notes' ELSE l.notes END,
			    owner_id = CASE WHEN g.data ? 'owner_email' OR
				g.data ? 'owner_id' THEN g.owner_id
				ELSE l.owner_id END
			FROM import_good g
			WHERE l.id = g.target
			RETURNING g.line
		)
		UPDATE import_good g SET done = true FROM u
		WHERE g.line = u.line;
		GET DIAGNOSTICS n = ROW_COUNT;
	END IF;

	-- As crm_lead_new, one statement for all the lines.
	WITH i AS (
		INSERT INTO leads (org_id, owner_id, name, company, title,
		    phone, email, source, campaign_id, industry, region,
		    province, city, notes, external_id, import_id)
		SELECT imp.org_id, g.owner_id, g.data->>'name',
		    g.data->>'company', g.data->>'title', g.data->>'phone',
		    g.data->>'email', g.data->>'source',
		    (g.data->>'campaign_id')::uuid, g.data->>'industry',
		    g.data->>'region', g.data->>'province', g.data->>'city',
		    g.data->>'notes', g.ext, imp.id
		FROM import_good g WHERE NOT g.done
		ON CONFLICT (org_id, external_id) WHERE external_id IS NOT NULL
		DO NOTHING
		RETURNING external_id
	)
	INSERT INTO import_errors (line, field, code, message)
	SELECT g.line, 'external_id', 'taken', 'external_id is already used '
	    'by a lead you cannot change; nothing was written for this line.'
	FROM import_good g
	WHERE NOT g.done AND g.ext IS NOT NULL
	    AND NOT EXISTS (SELECT 1 FROM i WHERE i.external_id = g.ext);
	RETURN n;
END
$$;

-- The products of an import, as POST /v1/products and PATCH
-- /v1/products/{id} would write them (the caller must maintain the
-- catalogue: api_import_begin checked). mode=upsert matches by
-- external_id when the line gives one, else by sku. The catalogue is the
-- whole organisation's to read, so a taken sku or external_id is named
-- as the single routes name it (409 there, a line error here). The rules
-- of crm_product_check hold for the values as they will be (the stored
-- ones where a line gives none). Returns the number updated.
CREATE FUNCTION crm_import_products(imp imports, p_server_failed boolean)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
	upsert	boolean := imp.mode = 'upsert';
	n	integer := 0;
BEGIN
	CREATE TEMP TABLE import_plan ON COMMIT DROP AS
	SELECT x.*,
	    CASE WHEN x.data ? 'period' THEN x.data->>'period'
		ELSE x.cur_period END AS new_period,
	    CASE WHEN x.data ? 'issues_per_period' THEN
		x.data->>'issues_per_period' ELSE x.cur_issues::text END
		AS new_issues
	FROM (SELECT r.line, r.ok, r.data, r.data->>'external_id' AS ext,
		r.data->>'sku' AS sku,
		CASE WHEN r.data->>'external_id' IS NOT NULL THEN
		    min(r.line) OVER (PARTITION BY r.data->>'external_id') END
		    AS first_ext,
		CASE WHEN r.data->>'sku' IS NOT NULL THEN
		    min(r.line) OVER (PARTITION BY r.data->>'sku') END
		    AS first_sku,
		t.id AS target, t.period AS cur_period,
		t.issues_per_period AS cur_issues,
		ts.id AS sku_holder, te.id AS ext_holder
	    FROM import_rows r
	    LEFT JOIN products ts ON r.ok AND ts.org_id = imp.org_id
		AND ts.sku = r.data->>'sku'
	    LEFT JOIN products te ON r.ok AND te.org_id = imp.org_id
		AND te.external_id = r.data->>'external_id'
	    LEFT JOIN products t ON upsert AND t.id = CASE WHEN
		r.data->>'external_id' IS NOT NULL THEN te.id ELSE ts.id END) x;
	ANALYZE import_plan;

	INSERT INTO import_errors (line, field, code, message)
	SELECT p.line, e.field, e.code, e.message
	FROM import_plan p CROSS JOIN LATERAL (VALUES
	    (p.line > p.first_ext, 'external_id', 'duplicate',
		'external_id is already on line ' || p.first_ext ||
		' of this file.'),
	    (p.line > p.first_sku, 'sku', 'duplicate',
		'sku is already on line ' || p.first_sku || ' of this file.'),
	    (p.ext_holder IS NOT NULL AND p.ext_holder IS DISTINCT FROM
		p.target, 'external_id', 'taken',
		'A product with this external_id already exists.'),
	    (p.sku_holder IS NOT NULL AND p.sku_holder IS DISTINCT FROM
		p.target, 'sku', 'taken',
		'A product with this SKU already exists.'),
	    ((p.data->>'tax_rate')::numeric > 100, 'tax_rate', 'range',
		'''tax_rate'' is a percentage from 0 to 100.'),
	    (p.data->>'currency' !~ '^[A-Z]{3}$', 'currency', 'format',
		'''currency'' must be an ISO 4217 code such as CNY.'),
	    (p.new_period IS NULL AND p.new_issues IS NOT NULL, 'period',
		'required', '''period'' and ''issues_per_period'' go '
		'together: give both or neither.'),
	    (p.new_period IS NOT NULL AND p.new_issues IS NULL,
		'issues_per_period', 'required', '''period'' and '
		'''issues_per_period'' go together: give both or neither.'))
	    AS e(bad, field, code, message)
	WHERE p.ok AND e.bad;
	INSERT INTO import_errors (line, field, code, message)
	SELECT p.line, m, 'required', '''' || m || ''' is required.'
	FROM import_plan p, jsonb_array_elements_text(p.data->'$missing') m
	WHERE p.ok AND upsert AND p.target IS NULL;

	IF imp.atomic AND (p_server_failed OR
	    EXISTS (SELECT 1 FROM import_errors)) THEN
		RETURN 0;
	END IF;

	CREATE TEMP TABLE import_good ON COMMIT DROP AS
	SELECT p.* FROM import_plan p
	WHERE p.ok AND NOT EXISTS (SELECT 1 FROM import_errors e
	    WHERE e.line = p.line);

	IF upsert THEN
		-- As crm_product_apply on the stored product.
		UPDATE products r SET
		    sku = CASE WHEN g.data ? 'sku' THEN g.data->>'sku'
			ELSE r.sku END,
		    name = CASE WHEN g.data ? 'name' THEN g.data->>'name'
			ELSE r.name END,
		    description = CASE WHEN g.data ? 'description' THEN
			g.data->>'description' ELSE r.description END,
		    category = CASE WHEN g.data ? 'category' THEN
			g.data->>'category' ELSE r.category END,
		    unit = CASE WHEN g.data ? 'unit' THEN g.data->>'unit'
			ELSE r.unit END,
		    unit_price = CASE WHEN g.data ? 'unit_price' THEN
			(g.data->>'unit_price')::numeric ELSE r.unit_price END,
		    currency = CASE WHEN g.data ? 'currency' THEN
			g.data->>'currency' ELSE r.currency END,
		    tax_rate = CASE WHEN g.data ? 'tax_rate' THEN
			(g.data->>'tax_rate')::numeric ELSE r.tax_rate END,
		    period = CASE WHEN g.data ? 'period' THEN g.data->>'period'
			ELSE r.period END,
		    issues_per_period = CASE WHEN g.data ? 'issues_per_period'
			THEN (g.data->>'issues_per_period')::integer
			ELSE r.issues_per_period END,
		    active = CASE WHEN g.data ? 'active' THEN
			(g.data->>'active')::boolean ELSE r.active END,
		    external_id = CASE WHEN g.data ? 'external_id' THEN
			g.data->>'external_id' ELSE r.external_id END
		FROM import_good g
		WHERE r.id = g.target;
		GET DIAGNOSTICS n = ROW_COUNT;
	END IF;

	-- As api_products_create, with its defaults.
	INSERT INTO products (org_id, sku, name, description, category, unit,
	    unit_price, currency, tax_rate, period, issues_per_period, active,
	    external_id, import_id)
	SELECT imp.org_id, g.sku, g.data->>'name', g.data->>'description',
	    g.data->>'category', coalesce(g.data->>'unit', '件'),
	    (g.data->>'unit_price')::numeric,
	    coalesce(g.data->>'currency', 'CNY'),
	    coalesce((g.data->>'tax_rate')::numeric, 0), g.data->>'period',
	    (g.data->>'issues_per_period')::integer,
	    coalesce((g.data->>'active')::boolean, true), g.ext, imp.id
	FROM import_good g WHERE g.target IS NULL;
	RETURN n;
END
$$;

-- The code of a line error for one of the API's own errors (CRnnn).
CREATE FUNCTION crm_import_code(state text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE state WHEN 'CR403' THEN 'forbidden'
	    WHEN 'CR404' THEN 'not_found' WHEN 'CR409' THEN 'conflict'
	    WHEN 'CR422' THEN 'invalid' ELSE 'refused' END
$$;

-- The orders of an import, each written by POST /v1/orders's own function
-- (api_orders_create; for an upsert's match PATCH's api_orders_update),
-- one after the other, each in a savepoint: numbers, catalogue prices,
-- exact totals, subscriptions, owners and every refusal are exactly the
-- single routes' (their field errors become the line's, lines[i] errors
-- the line that gave lines[i]). Orders are few beside customers, and
-- these functions hold the rules: they are not written again here.
-- CSV: the lines that share an external_id are one order, one order line
-- each (lines.<key> columns); the order's other columns may repeat on
-- each line but not differ. NDJSON: one order per line, with its lines.
-- customer_external_id, owner_email and lines[].sku name the customer,
-- the owner and the products. mode=upsert by external_id (then
-- required); one held by an order the caller may not change fails its
-- line as for customers. Returns what was inserted and updated.
CREATE FUNCTION crm_import_orders(imp imports, p jsonb,
    p_server_failed boolean, OUT inserted integer, OUT updated integer)
LANGUAGE plpgsql AS $$
DECLARE
	upsert	boolean := imp.mode = 'upsert';
	g	record;
	rw	jsonb;
	head	jsonb;
	lines	jsonb;
	line_at	integer[];
	b	jsonb;
	l	jsonb;
	k	text;
	v	jsonb;
	e	jsonb;
	i	integer;
	bad	boolean;
	ref	uuid;
	target	orders;
	st	text;
	msg	text;
	det	text;
	at	integer;
BEGIN
	inserted := 0;
	updated := 0;
	FOR g IN SELECT min(r.line) AS first,
		array_agg(r.line ORDER BY r.line) AS at,
		array_agg(r.line ORDER BY r.line) FILTER (WHERE NOT r.ok)
		    AS refused,
		jsonb_agg(r.data ORDER BY r.line) AS rows,
		min(d.first) AS first_ext
	    FROM import_rows r
	    LEFT JOIN (SELECT data->>'external_id' AS ext, min(line) AS first
		FROM import_rows GROUP BY 1) d ON d.ext = r.data->>'external_id'
	    GROUP BY CASE WHEN imp.format = 'csv' AND
		r.data->>'external_id' IS NOT NULL THEN
		'x' || (r.data->>'external_id') ELSE 'l' || r.line END
	    ORDER BY 1
	LOOP
		IF g.refused IS NOT NULL THEN
			-- A CSV order with a refused line is not written.
			IF cardinality(g.refused) < cardinality(g.at) THEN
				INSERT INTO import_errors (line, field, code,
				    message)
				SELECT min(a), '', 'order', 'Line(s) ' ||
				    array_to_string(g.refused, ', ') || ' of this '
				    'order cannot be imported: the order is not '
				    'written.'
				FROM unnest(g.at) a WHERE a <> ALL (g.refused);
			END IF;
			CONTINUE;
		END IF;
		IF g.first > g.first_ext THEN
			INSERT INTO import_errors (line, field, code, message)
			VALUES (g.first, 'external_id', 'duplicate',
			    'external_id is already on line ' || g.first_ext ||
			    ' of this file.');
			CONTINUE;
		END IF;

		-- The order: its columns (the same on each of its lines), and
		-- the order lines of all its lines, remembering where each came
		-- from.
		head := '{}';
		lines := '[]';
		line_at := '{}';
		bad := false;
		FOR i IN 1 .. cardinality(g.at) LOOP
			rw := g.rows->(i - 1);
			FOR k, v IN SELECT * FROM jsonb_each(rw - 'lines' -
			    '$missing') LOOP
				IF head ? k AND head->k <> v THEN
					INSERT INTO import_errors (line, field,
					    code, message)
					VALUES (g.at[i], k, 'conflict', format(
					    '''%s'' differs from line %s of the '
					    'same order.', k, g.first));
					bad := true;
				END IF;
				head := head || jsonb_build_object(k, v);
			END LOOP;
			FOR l IN SELECT * FROM jsonb_array_elements(
			    coalesce(rw->'lines', '[]')) LOOP
				lines := lines || jsonb_build_array(l);
				line_at := line_at || g.at[i];
			END LOOP;
		END LOOP;
		CONTINUE WHEN bad;

		b := head - 'customer_external_id' - 'owner_email';
		IF head ? 'customer_external_id' THEN
			SELECT id INTO ref FROM customers
			WHERE org_id = imp.org_id AND deleted_at IS NULL
			    AND external_id = head->>'customer_external_id';
			IF head ? 'customer_id' OR ref IS NULL THEN
				INSERT INTO import_errors (line, field, code,
				    message)
				VALUES (g.first, 'customer_external_id',
				    CASE WHEN head ? 'customer_id' THEN
				    'conflict' ELSE 'not_found' END,
				    CASE WHEN head ? 'customer_id' THEN 'Give '
				    'customer_id or customer_external_id, not '
				    'both.' ELSE 'customer_external_id names no '
				    'customer you can see.' END);
				CONTINUE;
			END IF;
			b := b || jsonb_build_object('customer_id', ref);
		END IF;
		IF head ? 'owner_email' THEN
			SELECT id INTO ref FROM users
			WHERE lower(email) = lower(head->>'owner_email')
			    AND active;
			IF head ? 'owner_id' OR ref IS NULL THEN
				INSERT INTO import_errors (line, field, code,
				    message)
				VALUES (g.first, 'owner_email',
				    CASE WHEN head ? 'owner_id' THEN 'conflict'
				    ELSE 'not_found' END,
				    CASE WHEN head ? 'owner_id' THEN 'Give '
				    'owner_email or owner_id, not both.' ELSE
				    'owner_email names no active user of this '
				    'organization.' END);
				CONTINUE;
			END IF;
			b := b || jsonb_build_object('owner_id', ref);
		END IF;
		FOR i IN 0 .. jsonb_array_length(lines) - 1 LOOP
			l := lines->i;
			CONTINUE WHEN NOT l ? 'sku';
			SELECT id INTO ref FROM products
			WHERE org_id = imp.org_id AND sku = l->>'sku';
			IF l ? 'product_id' OR ref IS NULL THEN
				INSERT INTO import_errors (line, field, code,
				    message)
				VALUES (line_at[i + 1], format('lines[%s].sku', i),
				    CASE WHEN l ? 'product_id' THEN 'conflict'
				    ELSE 'not_found' END,
				    CASE WHEN l ? 'product_id' THEN 'Give sku or '
				    'product_id, not both.' ELSE format(
				    '''lines[%s].sku'' names no product of the '
				    'catalogue.', i) END);
				bad := true;
			END IF;
			lines := jsonb_set(lines, ARRAY[i::text],
			    (l - 'sku') || jsonb_build_object('product_id', ref));
		END LOOP;
		CONTINUE WHEN bad;

		target := NULL;
		IF upsert AND head->>'external_id' IS NULL THEN
			INSERT INTO import_errors (line, field, code, message)
			VALUES (g.first, 'external_id', 'required',
			    'external_id is required to upsert.');
			CONTINUE;
		ELSIF upsert THEN
			SELECT * INTO target FROM orders
			WHERE org_id = imp.org_id
			    AND external_id = head->>'external_id';
		END IF;
		IF target.id IS NOT NULL THEN
			IF b ? 'customer_id' AND (b->>'customer_id')::uuid <>
			    target.customer_id THEN
				INSERT INTO import_errors (line, field, code,
				    message)
				VALUES (g.first, CASE WHEN head ?
				    'customer_external_id' THEN
				    'customer_external_id' ELSE 'customer_id'
				    END, 'conflict', 'The order belongs to '
				    'another customer; an order stays with its '
				    'customer.');
				CONTINUE;
			END IF;
			b := b - 'customer_id';
		ELSIF jsonb_array_length(lines) = 0 THEN
			INSERT INTO import_errors (line, field, code, message)
			VALUES (g.first, 'lines', 'required',
			    '''lines'' is required.');
			CONTINUE;
		END IF;
		IF jsonb_array_length(lines) > 0 THEN
			b := b || jsonb_build_object('lines', lines);
		END IF;

		BEGIN
			IF target.id IS NULL THEN
				PERFORM api_orders_create(p, b);
				inserted := inserted + 1;
			ELSE
				PERFORM api_orders_update(p, target.id, b, NULL);
				updated := updated + 1;
			END IF;
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE,
			    msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
			IF st NOT LIKE 'CR%' THEN
				RAISE;
			END IF;
			IF det LIKE '[%' THEN
				FOR e IN SELECT * FROM jsonb_array_elements(
				    det::jsonb) LOOP
					at := line_at[substring(e->>'field'
					    FROM '^lines\[([0-9]+)\]')::integer
					    + 1];
					INSERT INTO import_errors (line, field,
					    code, message)
					VALUES (coalesce(at, g.first), e->>'field',
					    e->>'code', e->>'message');
				END LOOP;
			ELSIF st = 'CR409' AND msg LIKE '%external_id%' THEN
				INSERT INTO import_errors (line, field, code,
				    message)
				VALUES (g.first, 'external_id', 'taken',
				    'external_id is already used by an order '
				    'you cannot change; nothing was written for '
				    'this line.');
			ELSE
				INSERT INTO import_errors (line, field, code,
				    message)
				VALUES (g.first, '', crm_import_code(st), msg);
			END IF;
		END;
	END LOOP;
END
$$;

-- --- exports -------------------------------------------------------------------

-- GET /v1/{customers,contacts,leads,opportunities,orders}/export, step 1
-- (the server then pages through the resource's own list function, with
-- the list's own filters, in one repeatable-read transaction): bind the
-- caller (an API key needs the read scope) and name the CSV's columns,
-- the keys of the rows the list answers, in their order: a nested
-- object's as <key>.<sub> (stage.name), the organisation's custom fields
-- as custom.<key>. Answers {columns: [...]}. Errors: CR401, CR403.
CREATE FUNCTION api_export_begin(p jsonb, p_resource text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	t	json;
BEGIN
	PERFORM crm_bind(p);
	t := CASE p_resource
	    WHEN 'customers' THEN customer_json(NULL::customers)
	    WHEN 'contacts' THEN contact_json(NULL::contacts)
	    WHEN 'leads' THEN lead_json(NULL::leads)
	    WHEN 'opportunities' THEN opportunity_json(NULL::opportunities)
	    WHEN 'orders' THEN order_json(NULL::orders) END;
	RETURN json_build_object('columns', (SELECT json_agg(x.c ORDER BY x.o1,
	    x.o2) FROM (
		SELECT k.key || coalesce('.' || s.key, '') AS c,
		    k.ordinality AS o1, s.ordinality AS o2
		FROM json_each(t) WITH ORDINALITY k
		LEFT JOIN LATERAL json_each(CASE WHEN json_typeof(k.value) =
		    'object' THEN k.value END) WITH ORDINALITY s ON true
		WHERE NOT (k.key = 'custom' AND p_resource = 'customers')
		UNION ALL
		SELECT 'custom.' || f.key, k.ordinality,
		    row_number() OVER (ORDER BY f.key)
		FROM json_each(t) WITH ORDINALITY k, custom_fields f
		WHERE p_resource = 'customers' AND k.key = 'custom'
		    AND f.entity = 'customers') x))::text;
END
$$;

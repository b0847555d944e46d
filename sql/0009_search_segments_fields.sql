-- 0009 rich search (R15), saved segments (R12) and custom fields (R18).

-- Raise an API error that lists every bad field: the DETAIL carries the
-- field errors as JSON, which the server puts in the problem's errors.
CREATE FUNCTION crm_raise_fields(code text, message text, errors jsonb)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = 'CR' || code, MESSAGE = message,
	    DETAIL = errors::text;
END
$$;

CREATE FUNCTION crm_field_error(field text, code text, message text)
RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
	SELECT jsonb_build_object('field', field, 'code', code,
	    'message', message)
$$;

-- --- custom fields (R18) ---------------------------------------------------

CREATE TABLE custom_fields (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	org_id		uuid NOT NULL REFERENCES organizations (id),
	entity		text NOT NULL DEFAULT 'customers'
			    CHECK (entity IN ('customers')),
	key		text NOT NULL CHECK (key ~ '^[a-z][a-z0-9_]{0,39}$'),
	label		text NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
	type		text NOT NULL CHECK (type IN ('text', 'number', 'date',
			    'bool', 'enum')),
	required	boolean NOT NULL DEFAULT false,
	options		text[] NOT NULL DEFAULT '{}',
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	version		integer NOT NULL DEFAULT 1,
	UNIQUE (org_id, entity, key),
	CHECK ((type = 'enum') = (cardinality(options) > 0))
);
ALTER TABLE custom_fields ENABLE ROW LEVEL SECURITY;
ALTER TABLE custom_fields FORCE ROW LEVEL SECURITY;
CREATE POLICY custom_fields_read ON custom_fields FOR SELECT
	USING (org_id = crm_org());
CREATE POLICY custom_fields_admin ON custom_fields FOR ALL
	USING (org_id = crm_org() AND crm_role() = 'admin')
	WITH CHECK (org_id = crm_org() AND crm_role() = 'admin');
GRANT SELECT, INSERT, UPDATE, DELETE ON custom_fields TO crm_app;
CREATE TRIGGER custom_fields_touch BEFORE UPDATE ON custom_fields
	FOR EACH ROW EXECUTE FUNCTION crm_touch();
CREATE TRIGGER custom_fields_audit AFTER INSERT OR UPDATE OR DELETE
	ON custom_fields FOR EACH ROW EXECUTE FUNCTION crm_audit_row();

CREATE INDEX customers_custom_idx ON customers USING gin (custom
    jsonb_path_ops);

CREATE FUNCTION custom_field_json(f custom_fields) RETURNS json
LANGUAGE sql STABLE AS $$
	SELECT json_build_object('id', f.id, 'entity', f.entity, 'key', f.key,
	    'label', f.label, 'type', f.type, 'required', f.required,
	    'options', f.options, 'created_at', f.created_at,
	    'updated_at', f.updated_at, 'version', f.version)
$$;

-- The organisation's custom values after applying `patch` (a merge patch:
-- null removes a key) to `current`, checked against the definitions:
-- unknown keys, wrong types, unknown options and missing required values
-- are all reported at once (CR422 with every field).
CREATE FUNCTION crm_custom_apply(current jsonb, patch jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	result	jsonb := coalesce(current, '{}');
	errors	jsonb := '[]';
	k	text;
	v	jsonb;
	d	custom_fields;
BEGIN
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
	IF jsonb_array_length(errors) > 0 THEN
		PERFORM crm_raise_fields('422', 'The custom fields are invalid; '
		    'see errors.', errors);
	END IF;
	RETURN result;
END
$$;

-- Customers validate their custom values on every write.
CREATE FUNCTION crm_customers_custom() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		NEW.custom := crm_custom_apply('{}', NEW.custom);
	ELSIF NEW.custom IS DISTINCT FROM OLD.custom THEN
		-- Only what changed is checked: values of fields deleted
		-- since stay, untouched, without blocking other edits.
		NEW.custom := crm_custom_apply(OLD.custom,
		    (SELECT coalesce(jsonb_object_agg(k, NEW.custom->k), '{}')
		     FROM jsonb_object_keys(NEW.custom) k
		     WHERE NEW.custom->k IS DISTINCT FROM OLD.custom->k) ||
		    (SELECT coalesce(jsonb_object_agg(k, 'null'::jsonb), '{}')
		     FROM jsonb_object_keys(OLD.custom) k
		     WHERE NOT NEW.custom ? k));
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER customers_custom BEFORE INSERT OR UPDATE OF custom
	ON customers FOR EACH ROW WHEN (crm_org() IS NOT NULL)
	EXECUTE FUNCTION crm_customers_custom();

-- GET /v1/custom-fields
CREATE FUNCTION api_custom_fields_list(p jsonb) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	RETURN json_build_object('data', coalesce((SELECT json_agg(
	    custom_field_json(f) ORDER BY f.key) FROM custom_fields f),
	    '[]'))::text;
END
$$;

-- POST /v1/custom-fields (admin)
CREATE FUNCTION api_custom_fields_create(p jsonb, b jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	f	custom_fields;
BEGIN
	PERFORM crm_bind(p);
	PERFORM crm_require_role('admin');
	IF (b->>'type' = 'enum') <> (jsonb_array_length(coalesce(b->'options',
	    '[]')) > 0) THEN
		PERFORM crm_raise_fields('422', 'Invalid custom field.',
		    jsonb_build_array(crm_field_error('options', 'required',
		    'Enum fields need options; other types take none.')));
	END IF;
	BEGIN
		INSERT INTO custom_fields (org_id, key, label, type, required,
		    options)
		VALUES (crm_org(), b->>'key', b->>'label', b->>'type',
		    coalesce((b->>'required')::boolean, false),
		    coalesce(crm_text_array(b->'options'), '{}'))
		RETURNING * INTO f;
	EXCEPTION WHEN unique_violation THEN
		PERFORM crm_raise('409', 'A custom field with this key '
		    'exists.');
	END;
	RETURN custom_field_json(f)::text;
END
$$;

-- DELETE /v1/custom-fields/{id} (admin): values stay in records but are
-- no longer accepted in writes.
CREATE FUNCTION api_custom_fields_delete(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	IF NOT EXISTS (SELECT 1 FROM custom_fields WHERE id = p_id) THEN
		RETURN NULL;
	END IF;
	PERFORM crm_require_role('admin');
	DELETE FROM custom_fields WHERE id = p_id;
	RETURN '{}';
END
$$;

-- --- the filter tree (R15) -------------------------------------------------

-- Compile a filter tree into a condition on customers. Nodes:
--   {"and": [node, ...]}  {"or": [node, ...]}  {"not": node}
--   {"field": F, "op": "eq"|"in"|"range"|"contains", "value": V}
-- F is a column from a fixed list or "custom.<key>"; every value goes in
-- as a quoted literal of the column's type, never as SQL. Problems are
-- collected into `errors` with the path of the node that has them.
CREATE FUNCTION crm_customer_filter(node jsonb, path text, depth integer,
    INOUT errors jsonb, OUT cond text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
	field	text := node->>'field';
	op	text := node->>'op';
	v	jsonb := node->'value';
	col	text;
	typ	text;
	parts	text[] := '{}';
	child	jsonb;
	i	integer := 0;
	sub	record;
	d	custom_fields;
BEGIN
	cond := 'true';
	IF depth > 5 THEN
		errors := errors || crm_field_error(path, 'depth',
		    'The filter nests deeper than 5 levels.');
		RETURN;
	END IF;
	IF jsonb_typeof(node) <> 'object' THEN
		errors := errors || crm_field_error(path, 'type',
		    'A filter node must be an object.');
		RETURN;
	END IF;
	IF node ? 'and' OR node ? 'or' THEN
		IF jsonb_typeof(node->coalesce(CASE WHEN node ? 'and' THEN 'and'
		    END, 'or')) <> 'array' OR (SELECT count(*) FROM
		    jsonb_object_keys(node)) <> 1 OR
		    jsonb_array_length(node->coalesce(CASE WHEN node ? 'and'
		    THEN 'and' END, 'or')) NOT BETWEEN 1 AND 50 THEN
			errors := errors || crm_field_error(path, 'type',
			    'and/or take an array of 1 to 50 filters, alone.');
			RETURN;
		END IF;
		FOR child IN SELECT * FROM jsonb_array_elements(
		    node->coalesce(CASE WHEN node ? 'and' THEN 'and' END, 'or'))
		LOOP
			sub := crm_customer_filter(child, path || '.' ||
			    CASE WHEN node ? 'and' THEN 'and' ELSE 'or' END ||
			    '[' || i || ']', depth + 1, errors);
			errors := sub.errors;
			parts := parts || sub.cond;
			i := i + 1;
		END LOOP;
		cond := '(' || array_to_string(parts, CASE WHEN node ? 'and'
		    THEN ' AND ' ELSE ' OR ' END) || ')';
		RETURN;
	END IF;
	IF node ? 'not' THEN
		sub := crm_customer_filter(node->'not', path || '.not',
		    depth + 1, errors);
		errors := sub.errors;
		cond := '(NOT ' || sub.cond || ')';
		RETURN;
	END IF;

	-- A leaf: the column and its type.
	IF field LIKE 'custom.%' THEN
		SELECT * INTO d FROM custom_fields WHERE entity = 'customers'
		    AND key = substr(field, 8);
		IF NOT FOUND THEN
			errors := errors || crm_field_error(path || '.field',
			    'unknown_field', 'No custom field ''' ||
			    substr(field, 8) || ''' is defined.');
			RETURN;
		END IF;
		typ := CASE d.type WHEN 'number' THEN 'numeric'
		    WHEN 'bool' THEN 'boolean' WHEN 'date' THEN 'date'
		    ELSE 'text' END;
		col := format('(custom->>%L)::%s', d.key, typ);
	ELSE
		typ := CASE field
		    WHEN 'name' THEN 'text' WHEN 'kind' THEN 'text'
		    WHEN 'industry' THEN 'text' WHEN 'size' THEN 'text'
		    WHEN 'region' THEN 'text' WHEN 'province' THEN 'text'
		    WHEN 'city' THEN 'text' WHEN 'source' THEN 'text'
		    WHEN 'grade' THEN 'text' WHEN 'lifecycle_stage' THEN 'text'
		    WHEN 'email' THEN 'text' WHEN 'phone' THEN 'text'
		    WHEN 'external_id' THEN 'text'
		    WHEN 'owner_id' THEN 'uuid' WHEN 'parent_id' THEN 'uuid'
		    WHEN 'is_key_customer' THEN 'boolean'
		    WHEN 'created_at' THEN 'timestamptz'
		    WHEN 'updated_at' THEN 'timestamptz'
		    WHEN 'tags' THEN 'tags' END;
		IF typ IS NULL THEN
			errors := errors || crm_field_error(path || '.field',
			    'unknown_field', 'Cannot filter on ''' ||
			    coalesce(field, '(none)') || '''.');
			RETURN;
		END IF;
		col := quote_ident(field);
	END IF;

	BEGIN
		IF op = 'eq' AND typ = 'tags' THEN
			cond := format('tags @> ARRAY[%L]::text[]', v #>> '{}');
		ELSIF op = 'eq' AND jsonb_typeof(v) IN ('string', 'number',
		    'boolean') THEN
			cond := format('%s = %L::%s', col, v #>> '{}', typ);
			EXECUTE format('SELECT %L::%s', v #>> '{}', typ);
		ELSIF op = 'in' AND jsonb_typeof(v) = 'array' AND
		    jsonb_array_length(v) BETWEEN 1 AND 500 AND typ <> 'tags' THEN
			cond := format('%s IN (%s)', col, (SELECT string_agg(
			    format('%L::%s', x, typ), ', ')
			    FROM jsonb_array_elements_text(v) x));
			EXECUTE format('SELECT ARRAY[%s]', (SELECT string_agg(
			    format('%L::%s', x, typ), ', ')
			    FROM jsonb_array_elements_text(v) x));
		ELSIF op = 'range' AND jsonb_typeof(v) = 'object' AND
		    typ NOT IN ('tags', 'boolean', 'uuid') AND v <> '{}' AND
		    NOT EXISTS (SELECT 1 FROM jsonb_object_keys(v) k
			WHERE k NOT IN ('gt', 'gte', 'lt', 'lte')) THEN
			cond := '(' || (SELECT string_agg(format('%s %s %L::%s',
			    col, CASE k WHEN 'gt' THEN '>' WHEN 'gte' THEN '>='
			    WHEN 'lt' THEN '<' ELSE '<=' END, x, typ), ' AND ')
			    FROM jsonb_each_text(v) AS e(k, x)) || ')';
			PERFORM 1 FROM jsonb_each_text(v) AS e(k, x),
			    LATERAL (SELECT crm_cast_check(x, typ)) c;
		ELSIF op = 'contains' AND jsonb_typeof(v) = 'string' AND
		    typ IN ('text', 'tags') THEN
			cond := CASE typ WHEN 'tags' THEN
			    format('tags @> ARRAY[%L]::text[]', v #>> '{}')
			    ELSE format('strpos(lower(%s), lower(%L)) > 0', col,
			    v #>> '{}') END;
		ELSE
			errors := errors || crm_field_error(path || '.op',
			    'operator', 'op must be eq, in (an array), range ('
			    'gt/gte/lt/lte) or contains (text), fitting the '
			    'field''s type.');
			cond := 'true';
		END IF;
	EXCEPTION WHEN data_exception OR invalid_text_representation THEN
		errors := errors || crm_field_error(path || '.value', 'type',
		    'The value does not fit ' || field || '.');
		cond := 'true';
	END;
END
$$;

CREATE FUNCTION crm_cast_check(x text, typ text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('SELECT %L::%s', x, typ);
END
$$;

-- Compile or refuse: the condition of a filter tree, or CR422 with every
-- problem.
CREATE FUNCTION crm_customer_filter_or_raise(node jsonb) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
	r	record;
BEGIN
	r := crm_customer_filter(node, 'filter', 1, '[]');
	IF jsonb_array_length(r.errors) > 0 THEN
		PERFORM crm_raise_fields('422', 'The filter is invalid; see '
		    'errors.', r.errors);
	END IF;
	RETURN r.cond;
END
$$;

-- POST /v1/customers/search {filter, sort, limit, cursor, count, q}
CREATE FUNCTION api_customers_search(p jsonb, b jsonb) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	RETURN crm_customers_page(b - 'filter', CASE WHEN b ? 'filter' THEN
	    crm_customer_filter_or_raise(b->'filter') END);
END
$$;

-- --- segments (R12) --------------------------------------------------------

CREATE TABLE segments (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	org_id		uuid NOT NULL REFERENCES organizations (id),
	owner_id	uuid NOT NULL,
	name		text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
	filter		jsonb NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	version		integer NOT NULL DEFAULT 1,
	FOREIGN KEY (org_id, owner_id) REFERENCES users (org_id, id),
	UNIQUE (org_id, name)
);
ALTER TABLE segments ENABLE ROW LEVEL SECURITY;
ALTER TABLE segments FORCE ROW LEVEL SECURITY;
-- Shared in the organisation (members still see only their customers);
-- changed by their owner or an admin.
CREATE POLICY segments_read ON segments FOR SELECT USING (org_id = crm_org());
CREATE POLICY segments_insert ON segments FOR INSERT
	WITH CHECK (org_id = crm_org() AND owner_id = crm_user());
CREATE POLICY segments_change ON segments FOR UPDATE
	USING (org_id = crm_org() AND (owner_id = crm_user() OR
	    crm_role() = 'admin'))
	WITH CHECK (org_id = crm_org());
CREATE POLICY segments_delete ON segments FOR DELETE
	USING (org_id = crm_org() AND (owner_id = crm_user() OR
	    crm_role() = 'admin'));
GRANT SELECT, INSERT, UPDATE, DELETE ON segments TO crm_app;
CREATE TRIGGER segments_touch BEFORE UPDATE ON segments
	FOR EACH ROW EXECUTE FUNCTION crm_touch();
CREATE TRIGGER segments_audit AFTER INSERT OR UPDATE OR DELETE ON segments
	FOR EACH ROW EXECUTE FUNCTION crm_audit_row();

CREATE FUNCTION segment_json(s segments) RETURNS json
LANGUAGE sql STABLE AS $$
	SELECT json_build_object('id', s.id, 'name', s.name,
	    'owner_id', s.owner_id, 'filter', s.filter,
	    'created_at', s.created_at, 'updated_at', s.updated_at,
	    'version', s.version)
$$;

-- POST /v1/segments {name, filter}: the filter is checked now.
CREATE FUNCTION api_segments_create(p jsonb, b jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	s	segments;
BEGIN
	PERFORM crm_bind(p);
	PERFORM crm_customer_filter_or_raise(b->'filter');
	BEGIN
		INSERT INTO segments (org_id, owner_id, name, filter)
		VALUES (crm_org(), crm_user(), b->>'name', b->'filter')
		RETURNING * INTO s;
	EXCEPTION WHEN unique_violation THEN
		PERFORM crm_raise('409', 'A segment with this name exists.');
	END;
	RETURN segment_json(s)::text;
END
$$;

-- GET /v1/segments
CREATE FUNCTION api_segments_list(p jsonb) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	RETURN json_build_object('data', coalesce((SELECT json_agg(
	    segment_json(s) ORDER BY s.name, s.id) FROM segments s),
	    '[]'))::text;
END
$$;

-- GET /v1/segments/{id}
CREATE FUNCTION api_segments_get(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	RETURN (SELECT segment_json(s) FROM segments s WHERE id = p_id)::text;
END
$$;

-- DELETE /v1/segments/{id}
CREATE FUNCTION api_segments_delete(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	IF NOT EXISTS (SELECT 1 FROM segments WHERE id = p_id) THEN
		RETURN NULL;
	END IF;
	DELETE FROM segments WHERE id = p_id;
	IF NOT FOUND THEN
		PERFORM crm_raise('403', 'Only its owner or an admin deletes a '
		    'segment.');
	END IF;
	RETURN '{}';
END
$$;

-- GET /v1/segments/{id}/members: the customers matching the segment's
-- filter, of those the caller can see; paged like the list.
CREATE FUNCTION api_segments_members(p jsonb, p_id uuid, f jsonb)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	flt	jsonb;
BEGIN
	PERFORM crm_bind(p);
	SELECT filter INTO flt FROM segments WHERE id = p_id;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	RETURN crm_customers_page(f, crm_customer_filter_or_raise(flt));
END
$$;

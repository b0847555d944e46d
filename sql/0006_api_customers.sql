-- 0006 the API's statements for customers: create, read, merge-patch
-- update with If-Match, soft delete and restore, the lifecycle history,
-- and the list with filters, whitelisted sorts, keyset cursors, counts and
-- search. Visibility is row-level security's (0002); these functions only
-- bind the caller and shape the answers.

-- The public shape of a customer.
CREATE FUNCTION customer_json(c customers) RETURNS json
LANGUAGE sql STABLE AS $$
	SELECT json_build_object('id', c.id, 'kind', c.kind, 'name', c.name,
	    'industry', c.industry, 'size', c.size, 'region', c.region,
	    'province', c.province, 'city', c.city, 'address', c.address,
	    'phone', c.phone, 'email', c.email, 'website', c.website,
	    'source', c.source, 'owner_id', c.owner_id, 'grade', c.grade,
	    'is_key_customer', c.is_key_customer,
	    'lifecycle_stage', c.lifecycle_stage, 'tags', c.tags,
	    'parent_id', c.parent_id, 'external_id', c.external_id,
	    'notes', c.notes, 'custom', c.custom, 'created_at', c.created_at,
	    'updated_at', c.updated_at, 'deleted_at', c.deleted_at,
	    'version', c.version)
$$;

-- Check what a create or update names: the owner must be someone the
-- caller may give records to (self or their team; anyone for org-wide
-- roles), the parent a customer the caller can see.
CREATE FUNCTION crm_customer_refs(b jsonb) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
	IF b ? 'owner_id' AND NOT (crm_org_wide() OR
	    (b->>'owner_id')::uuid = ANY (crm_team())) THEN
		IF NOT EXISTS (SELECT 1 FROM users
		    WHERE id = (b->>'owner_id')::uuid AND active) THEN
			PERFORM crm_raise('422', 'owner_id names no active '
			    'user of this organization.');
		END IF;
		PERFORM crm_raise('403', 'Only managers and admins assign '
		    'records to people outside their team.');
	END IF;
	IF b ? 'owner_id' AND NOT EXISTS (SELECT 1 FROM users
	    WHERE id = (b->>'owner_id')::uuid AND active) THEN
		PERFORM crm_raise('422', 'owner_id names no active user of '
		    'this organization.');
	END IF;
	IF b->>'parent_id' IS NOT NULL AND NOT EXISTS (SELECT 1 FROM customers
	    WHERE id = (b->>'parent_id')::uuid AND deleted_at IS NULL) THEN
		PERFORM crm_raise('422', 'parent_id names no customer you can '
		    'see.');
	END IF;
END
$$;

CREATE FUNCTION crm_text_array(j jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
	SELECT ARRAY(SELECT DISTINCT jsonb_array_elements_text(j) ORDER BY 1)
$$;

-- POST /v1/customers
CREATE FUNCTION api_customers_create(p jsonb, b jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	c	customers;
BEGIN
	PERFORM crm_bind(p);
	PERFORM crm_customer_refs(b);
	BEGIN
		INSERT INTO customers (org_id, owner_id, kind, name, industry,
		    size, region, province, city, address, phone, email, website,
		    source, grade, is_key_customer, lifecycle_stage, tags,
		    parent_id, external_id, notes, custom)
		VALUES (crm_org(), coalesce((b->>'owner_id')::uuid, crm_user()),
		    coalesce(b->>'kind', 'company'), b->>'name', b->>'industry',
		    b->>'size', b->>'region', b->>'province', b->>'city',
		    b->>'address', b->>'phone', b->>'email', b->>'website',
		    b->>'source', b->>'grade',
		    coalesce((b->>'is_key_customer')::boolean, false),
		    coalesce(b->>'lifecycle_stage', 'potential'),
		    coalesce(crm_text_array(b->'tags'), '{}'),
		    (b->>'parent_id')::uuid, b->>'external_id', b->>'notes',
		    coalesce(b->'custom', '{}'))
		RETURNING * INTO c;
	EXCEPTION WHEN unique_violation THEN
		PERFORM crm_raise('409', 'A customer with this external_id '
		    'already exists.');
	END;
	RETURN customer_json(c)::text;
END
$$;

-- GET /v1/customers/{id}
CREATE FUNCTION api_customers_get(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	RETURN (SELECT customer_json(c) FROM customers c
	    WHERE id = p_id AND deleted_at IS NULL)::text;
END
$$;

-- PATCH /v1/customers/{id}: JSON merge patch; If-Match version optional.
-- 404 when the caller cannot see it, 403 when they see but may not change
-- it (marketing, service on others' records), 412 when stale.
CREATE FUNCTION api_customers_update(p jsonb, p_id uuid, b jsonb,
    p_if_match integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	cur	customers;
	c	customers;
BEGIN
	PERFORM crm_bind(p);
	SELECT * INTO cur FROM customers WHERE id = p_id AND deleted_at IS NULL;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF p_if_match IS NOT NULL AND p_if_match <> cur.version THEN
		PERFORM crm_raise('412', 'The customer changed since you read '
		    'it (version ' || cur.version || ').');
	END IF;
	PERFORM crm_customer_refs(b);
	BEGIN
		UPDATE customers SET
		    kind = CASE WHEN b ? 'kind' THEN b->>'kind' ELSE kind END,
		    name = CASE WHEN b ? 'name' THEN b->>'name' ELSE name END,
		    industry = CASE WHEN b ? 'industry' THEN b->>'industry'
			ELSE industry END,
		    size = CASE WHEN b ? 'size' THEN b->>'size' ELSE size END,
		    region = CASE WHEN b ? 'region' THEN b->>'region'
			ELSE region END,
		    province = CASE WHEN b ? 'province' THEN b->>'province'
			ELSE province END,
		    city = CASE WHEN b ? 'city' THEN b->>'city' ELSE city END,
		    address = CASE WHEN b ? 'address' THEN b->>'address'
			ELSE address END,
		    phone = CASE WHEN b ? 'phone' THEN b->>'phone' ELSE phone END,
		    email = CASE WHEN b ? 'email' THEN b->>'email' ELSE email END,
		    website = CASE WHEN b ? 'website' THEN b->>'website'
			ELSE website END,
		    source = CASE WHEN b ? 'source' THEN b->>'source'
			ELSE source END,
		    owner_id = CASE WHEN b ? 'owner_id' THEN
			(b->>'owner_id')::uuid ELSE owner_id END,
		    grade = CASE WHEN b ? 'grade' THEN b->>'grade' ELSE grade END,
		    is_key_customer = CASE WHEN b ? 'is_key_customer' THEN
			(b->>'is_key_customer')::boolean ELSE is_key_customer END,
		    lifecycle_stage = CASE WHEN b ? 'lifecycle_stage' THEN
			b->>'lifecycle_stage' ELSE lifecycle_stage END,
		    tags = CASE WHEN b ? 'tags' THEN
			coalesce(crm_text_array(b->'tags'), '{}') ELSE tags END,
		    parent_id = CASE WHEN b ? 'parent_id' THEN
			(b->>'parent_id')::uuid ELSE parent_id END,
		    external_id = CASE WHEN b ? 'external_id' THEN
			b->>'external_id' ELSE external_id END,
		    notes = CASE WHEN b ? 'notes' THEN b->>'notes' ELSE notes END,
		    custom = CASE WHEN b ? 'custom' THEN
			crm_custom_apply(custom, b->'custom') ELSE custom END
		WHERE id = p_id
		RETURNING * INTO c;
	EXCEPTION WHEN unique_violation THEN
		PERFORM crm_raise('409', 'A customer with this external_id '
		    'already exists.');
	END;
	IF c.id IS NULL THEN
		PERFORM crm_raise('403', 'You may read this customer but not '
		    'change it.');
	END IF;
	RETURN customer_json(c)::text;
END
$$;

-- DELETE /v1/customers/{id}: soft delete (restorable); If-Match optional.
CREATE FUNCTION api_customers_delete(p jsonb, p_id uuid, p_if_match integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	cur	customers;
BEGIN
	PERFORM crm_bind(p);
	SELECT * INTO cur FROM customers WHERE id = p_id AND deleted_at IS NULL;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF p_if_match IS NOT NULL AND p_if_match <> cur.version THEN
		PERFORM crm_raise('412', 'The customer changed since you read '
		    'it (version ' || cur.version || ').');
	END IF;
	UPDATE customers SET deleted_at = now() WHERE id = p_id;
	IF NOT FOUND THEN
		PERFORM crm_raise('403', 'You may read this customer but not '
		    'delete it.');
	END IF;
	RETURN '{}';
END
$$;

-- POST /v1/customers/{id}/restore
CREATE FUNCTION api_customers_restore(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	c	customers;
BEGIN
	PERFORM crm_bind(p);
	SELECT * INTO c FROM customers WHERE id = p_id;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	-- A merged customer lives on in its survivor (0008).
	IF c.merged_into IS NOT NULL THEN
		PERFORM crm_raise('409', 'This customer was merged into '
		    'another; it cannot be restored.');
	END IF;
	c := NULL;
	UPDATE customers SET deleted_at = NULL WHERE id = p_id
	RETURNING * INTO c;
	IF c.id IS NULL THEN
		PERFORM crm_raise('403', 'You may read this customer but not '
		    'restore it.');
	END IF;
	RETURN customer_json(c)::text;
END
$$;

-- GET /v1/customers/{id}/lifecycle: stage changes, oldest first.
CREATE FUNCTION api_customers_lifecycle(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	IF NOT EXISTS (SELECT 1 FROM customers WHERE id = p_id
	    AND deleted_at IS NULL) THEN
		RETURN NULL;
	END IF;
	RETURN json_build_object('data', coalesce((SELECT json_agg(
	    json_build_object('from_stage', h.from_stage,
		'to_stage', h.to_stage, 'changed_by', h.changed_by,
		'changed_at', h.changed_at) ORDER BY h.id)
	    FROM customer_stage_history h WHERE h.customer_id = p_id),
	    '[]'))::text;
END
$$;

-- A page of customers: the simple filters of f (checked by the server),
-- plus `extra` (a condition compiled from a filter tree, or NULL), sort
-- from a whitelist, keyset cursor over (sort key, id), count
-- none|exact|estimated. The caller must be bound.
CREATE FUNCTION crm_customers_page(f jsonb, extra text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	lim	integer := coalesce((f->>'limit')::int, 50);
	sort	text := coalesce(f->>'sort', '-created_at');
	key	text;
	dir	text;
	cmp	text;
	cond	text := 'deleted_at IS NULL';
	q	text;
	cur	jsonb;
	rows	json;
	total	bigint;
	plan	json;
	nxt	text;
	n	integer;
BEGIN
	-- The sort key is one of a fixed set of columns, never user text.
	key := CASE ltrim(sort, '-') WHEN 'created_at' THEN 'created_at'
	    WHEN 'updated_at' THEN 'updated_at' WHEN 'name' THEN 'name' END;
	IF key IS NULL THEN
		PERFORM crm_raise('422', 'sort must be one of created_at, '
		    'updated_at, name, each optionally with a leading -.');
	END IF;
	dir := CASE WHEN left(sort, 1) = '-' THEN 'DESC' ELSE 'ASC' END;
	cmp := CASE dir WHEN 'DESC' THEN '<' ELSE '>' END;

	IF f ? 'owner_id' THEN
		cond := cond || ' AND owner_id = ($1->>''owner_id'')::uuid';
	END IF;
	IF f ? 'grade' THEN
		cond := cond || ' AND grade = $1->>''grade''';
	END IF;
	IF f ? 'lifecycle_stage' THEN
		cond := cond || ' AND lifecycle_stage = $1->>''lifecycle_stage''';
	END IF;
	IF f ? 'tag' THEN
		cond := cond || ' AND tags @> ARRAY[$1->>''tag'']';
	END IF;
	IF f ? 'industry' THEN
		cond := cond || ' AND industry = $1->>''industry''';
	END IF;
	IF f ? 'region' THEN
		cond := cond || ' AND region = $1->>''region''';
	END IF;
	IF f ? 'province' THEN
		cond := cond || ' AND province = $1->>''province''';
	END IF;
	IF f ? 'city' THEN
		cond := cond || ' AND city = $1->>''city''';
	END IF;
	IF f ? 'is_key_customer' THEN
		cond := cond || ' AND is_key_customer = ($1->>''is_key_customer'')::boolean';
	END IF;
	IF f ? 'created_after' THEN
		cond := cond || ' AND created_at >= ($1->>''created_after'')::timestamptz';
	END IF;
	IF f ? 'created_before' THEN
		cond := cond || ' AND created_at < ($1->>''created_before'')::timestamptz';
	END IF;
	IF f ? 'updated_after' THEN
		cond := cond || ' AND updated_at >= ($1->>''updated_after'')::timestamptz';
	END IF;
	IF f ? 'updated_before' THEN
		cond := cond || ' AND updated_at < ($1->>''updated_before'')::timestamptz';
	END IF;
	IF f ? 'q' THEN
		-- Spelt out with the query as a literal, so the planner sees
		-- constants: the bigram and trigram indexes then serve it.
		cond := cond || format(' AND ((strpos(search, %1$L) > 0 AND '
		    'crm_bigrams(search) @> crm_bigrams(%1$L))%2$s)',
		    lower(f->>'q'), CASE WHEN length(f->>'q') >= 4 THEN
		    format(' OR id IN (SELECT t.id FROM customers t WHERE %L <%% '
		    'lower(t.name))', lower(f->>'q')) ELSE '' END);
	END IF;
	IF extra IS NOT NULL THEN
		cond := cond || ' AND ' || extra;
	END IF;
	-- Row-level security decides; these repeat its verdict as plain
	-- conditions the planner can use (the policies' function calls hide
	-- it): a rep's page then walks their own index entries, not the
	-- organisation's. The values are the bound caller's, never input.
	cond := cond || format(' AND org_id = %L::uuid', crm_org());
	IF NOT crm_org_wide() AND crm_role() NOT IN ('marketing', 'service')
	THEN
		-- One owner (a rep): an equality, so the page is read in
		-- index order and the scan stops after one page.
		cond := cond || CASE WHEN cardinality(crm_team()) = 1 THEN
		    format(' AND owner_id = %L::uuid', (crm_team())[1])
		    ELSE format(' AND owner_id = ANY (%L::uuid[])', crm_team())
		    END;
	END IF;

	-- Counts cover the filters, not the cursor.
	IF f->>'count' = 'exact' THEN
		EXECUTE 'SELECT count(*) FROM customers WHERE ' || cond
		INTO total USING f;
	ELSIF f->>'count' = 'estimated' THEN
		EXECUTE 'EXPLAIN (FORMAT JSON) SELECT 1 FROM customers WHERE ' ||
		    cond INTO plan USING f;
		total := (plan->0->'Plan'->>'Plan Rows')::bigint;
	END IF;

	IF f ? 'cursor' THEN
		BEGIN
			cur := convert_from(decode(translate(f->>'cursor',
			    '-_', '+/') || repeat('=', (4 - length(f->>'cursor')
			    % 4) % 4), 'base64'), 'UTF8')::jsonb;
			IF cur->>'s' IS DISTINCT FROM sort OR
			    (cur->>'id')::uuid IS NULL THEN
				RAISE EXCEPTION 'cursor of another sort';
			END IF;
		EXCEPTION WHEN OTHERS THEN
			PERFORM crm_raise('400', 'The cursor is not valid for '
			    'this list.');
		END;
		cond := cond || format(' AND (%I, id) %s ((($2->>''k'')::%s), '
		    '($2->>''id'')::uuid)', key, cmp,
		    CASE key WHEN 'name' THEN 'text' ELSE 'timestamptz' END);
	END IF;

	-- One statement: the page, whether there is more, and the cursor
	-- (sort key and id of the page's last row).
	q := format('SELECT coalesce(json_agg(customer_json(c.r) ORDER BY '
	    'c.n) FILTER (WHERE c.n <= $3), ''[]''), count(*), '
	    '(array_agg(jsonb_build_object(''s'', $4::text, ''k'', (c.r).%1$I, '
	    '''id'', (c.r).id)) FILTER (WHERE c.n = $3))[1] '
	    'FROM (SELECT customers AS r, row_number() OVER (ORDER BY '
	    '%1$I %2$s, id %2$s) AS n FROM customers WHERE %3$s '
	    'ORDER BY %1$I %2$s, id %2$s LIMIT $3 + 1) c', key, dir, cond);
	EXECUTE q INTO rows, n, cur USING f, cur, lim, sort;

	IF n > lim THEN
		nxt := translate(encode(convert_to(cur::text, 'UTF8'),
		    'base64'), E'+/=\n', '-_');
	END IF;

	RETURN json_build_object('data', rows, 'next_cursor', nxt,
	    'total', total, 'total_kind', coalesce(f->>'count', 'none'))::text;
END
$$;

-- GET /v1/customers
CREATE FUNCTION api_customers_list(p jsonb, f jsonb) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	RETURN crm_customers_page(f, NULL);
END
$$;

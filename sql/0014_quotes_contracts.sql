-- 0014 products, quotes and contracts (R25, R26). First the API's
-- statements for the product catalogue (its table is in 0010): everyone
-- in the organisation reads it, the org-wide roles maintain it.

-- --- products: the API's statements ------------------------------------------

-- The public shape of a product; money and the tax rate as decimal strings.
CREATE FUNCTION product_json(p products) RETURNS json
LANGUAGE sql STABLE AS $$
	SELECT json_build_object('id', p.id, 'sku', p.sku, 'name', p.name,
	    'description', p.description, 'category', p.category,
	    'unit', p.unit, 'unit_price', crm_money_text(p.unit_price),
	    'currency', p.currency, 'tax_rate', p.tax_rate::text,
	    'period', p.period, 'issues_per_period', p.issues_per_period,
	    'active', p.active, 'external_id', p.external_id,
	    'created_at', p.created_at, 'updated_at', p.updated_at,
	    'version', p.version)
$$;

-- A currency code as the tables require it (three capitals), or the field
-- error.
CREATE FUNCTION crm_currency_error(field text, v text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN v IS NOT NULL AND v !~ '^[A-Z]{3}$' THEN
	    crm_field_error(field, 'format', format('''%s'' must be an ISO 4217 '
	    'code such as CNY.', field)) END
$$;

-- The rules of a product the server's field checks cannot see: the tax
-- rate is a percentage, the currency three capitals, and a subscription
-- product names both its period and its issues per period (or neither).
-- 422 listing every broken rule.
CREATE FUNCTION crm_product_check(r products) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	errors	jsonb := '[]';
BEGIN
	IF r.tax_rate > 100 THEN
		errors := errors || crm_field_error('tax_rate', 'range',
		    '''tax_rate'' is a percentage from 0 to 100.');
	END IF;
	errors := errors || coalesce(crm_currency_error('currency',
	    r.currency), '[]');
	IF r.period IS NULL AND r.issues_per_period IS NOT NULL THEN
		errors := errors || crm_field_error('period', 'required',
		    '''period'' and ''issues_per_period'' go together: give '
		    'both or neither.');
	ELSIF r.period IS NOT NULL AND r.issues_per_period IS NULL THEN
		errors := errors || crm_field_error('issues_per_period',
		    'required', '''period'' and ''issues_per_period'' go '
		    'together: give both or neither.');
	END IF;
	IF jsonb_array_length(errors) > 0 THEN
		PERFORM crm_raise_fields('422', 'The product is invalid; see '
		    'errors.', errors);
	END IF;
END
$$;

-- Apply the fields `b` names to product `r` (a create starts from the
-- defaults, a merge patch from the current row).
CREATE FUNCTION crm_product_apply(r products, b jsonb) RETURNS products
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	IF b ? 'sku' THEN r.sku := b->>'sku'; END IF;
	IF b ? 'name' THEN r.name := b->>'name'; END IF;
	IF b ? 'description' THEN r.description := b->>'description'; END IF;
	IF b ? 'category' THEN r.category := b->>'category'; END IF;
	IF b ? 'unit' THEN r.unit := b->>'unit'; END IF;
	IF b ? 'unit_price' THEN
		r.unit_price := (b->>'unit_price')::numeric;
	END IF;
	IF b ? 'currency' THEN r.currency := b->>'currency'; END IF;
	IF b ? 'tax_rate' THEN r.tax_rate := (b->>'tax_rate')::numeric; END IF;
	IF b ? 'period' THEN r.period := b->>'period'; END IF;
	IF b ? 'issues_per_period' THEN
		r.issues_per_period := (b->>'issues_per_period')::integer;
	END IF;
	IF b ? 'active' THEN r.active := (b->>'active')::boolean; END IF;
	IF b ? 'external_id' THEN r.external_id := b->>'external_id'; END IF;
	RETURN r;
END
$$;

-- Refuse a change of the catalogue by anyone but the org-wide roles.
CREATE FUNCTION crm_product_writer() RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
	IF NOT crm_org_wide() THEN
		PERFORM crm_raise('403', 'Only admins, executives and '
		    'integrations maintain the product catalogue.');
	END IF;
END
$$;

-- 409 for a unique key a product write broke.
CREATE FUNCTION crm_product_conflict(constraint_name text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	IF constraint_name = 'products_external_id_key' THEN
		PERFORM crm_raise('409', 'A product with this external_id '
		    'already exists.');
	END IF;
	PERFORM crm_raise('409', 'A product with this SKU already exists.');
END
$$;

-- POST /v1/products: org-wide roles only (403); 422 for broken rules, 409
-- for a duplicate SKU or external_id.
CREATE FUNCTION api_products_create(p jsonb, b jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	r	products;
	cn	text;
BEGIN
	PERFORM crm_bind(p);
	PERFORM crm_product_writer();
	r.unit := '件';
	r.currency := 'CNY';
	r.tax_rate := 0;
	r.active := true;
	r := crm_product_apply(r, b);
	PERFORM crm_product_check(r);
	BEGIN
		INSERT INTO products (org_id, sku, name, description, category,
		    unit, unit_price, currency, tax_rate, period,
		    issues_per_period, active, external_id)
		VALUES (crm_org(), r.sku, r.name, r.description, r.category,
		    r.unit, r.unit_price, r.currency, r.tax_rate, r.period,
		    r.issues_per_period, r.active, r.external_id)
		RETURNING * INTO r;
	EXCEPTION WHEN unique_violation THEN
		GET STACKED DIAGNOSTICS cn = CONSTRAINT_NAME;
		PERFORM crm_product_conflict(cn);
	END;
	RETURN product_json(r)::text;
END
$$;

-- GET /v1/products/{id}: NULL (404) outside the caller's organisation.
CREATE FUNCTION api_products_get(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	RETURN (SELECT product_json(r) FROM products r WHERE id = p_id)::text;
END
$$;

-- PATCH /v1/products/{id}: merge patch (active=false retires a product;
-- there is no delete), If-Match optional. 404 unknown, 403 for roles
-- that only read the catalogue, 412 stale, 422 broken rules, 409
-- duplicates.
CREATE FUNCTION api_products_update(p jsonb, p_id uuid, b jsonb,
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

-- A product list's cursor: the id of the page's last product (its name,
-- the sort key, is looked up again: a CJK name would not fit a cursor).
CREATE FUNCTION crm_product_cursor_encode(p_id uuid) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT translate(encode(convert_to(json_build_array('products',
	    p_id)::text, 'UTF8'), 'base64'), E'+/=\n', '-_')
$$;

CREATE FUNCTION crm_product_cursor_decode(c text) RETURNS uuid
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	b64	text := translate(c, '-_', '+/');
	j	jsonb;
BEGIN
	b64 := b64 || repeat('=', (4 - length(b64) % 4) % 4);
	j := convert_from(decode(b64, 'base64'), 'UTF8')::jsonb;
	IF j->>0 IS DISTINCT FROM 'products' OR jsonb_array_length(j) <> 2 THEN
		RAISE EXCEPTION 'bad cursor';
	END IF;
	RETURN (j->>1)::uuid;
EXCEPTION WHEN OTHERS THEN
	PERFORM crm_raise('400', 'The cursor is not valid.');
END
$$;

-- GET /v1/products: filters active, category, q (a substring of the name
-- or SKU, any case, CJK included); keyset pages by (name, id).
CREATE FUNCTION api_products_list(p jsonb, f jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	lim	integer := coalesce((f->>'limit')::int, 50);
	q	text := lower(f->>'q');
	cur_n	text;
	cur_i	uuid;
	rows	json;
	nxt	text;
BEGIN
	PERFORM crm_bind(p);
	IF f ? 'cursor' THEN
		cur_i := crm_product_cursor_decode(f->>'cursor');
		SELECT name INTO cur_n FROM products WHERE id = cur_i;
		IF NOT FOUND THEN
			PERFORM crm_raise('400', 'The cursor is not valid.');
		END IF;
	END IF;
	WITH page AS (
		SELECT r, r.id, row_number() OVER (ORDER BY r.name, r.id) AS n
		FROM products r
		WHERE (NOT f ? 'active' OR r.active = (f->>'active')::boolean)
		  AND (NOT f ? 'category' OR r.category = f->>'category')
		  AND (q IS NULL OR strpos(lower(r.name), q) > 0 OR
		       strpos(lower(r.sku), q) > 0)
		  AND (cur_i IS NULL OR (r.name, r.id) > (cur_n, cur_i))
		ORDER BY r.name, r.id
		LIMIT lim + 1
	)
	SELECT coalesce(json_agg(product_json(page.r) ORDER BY n)
		FILTER (WHERE n <= lim), '[]'),
	    CASE WHEN count(*) > lim THEN crm_product_cursor_encode(
		(array_agg(page.id) FILTER (WHERE n = lim))[1]) END
	INTO rows, nxt
	FROM page;
	RETURN json_build_object('data', rows, 'next_cursor', nxt)::text;
END
$$;

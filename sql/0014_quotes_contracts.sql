-- 0014 products, quotes and contracts (R25, R26): the API's statements for
-- the catalogue (its table is in 0010), quotes built from catalogue lines
-- with exact totals, per-organisation document numbers, contract templates
-- with placeholders, and contracts from draft through the manager's
-- approval to signature (which wins the opportunity) and fulfilment, with
-- their event history. Visibility is row-level security's: quotes and
-- contracts belong to an owner (normally the opportunity's) and are seen
-- by whoever works on that owner's records (crm_mine).

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

-- The product id in a cursor of crm_product_cursor_encode; 400 for
-- anything else.
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

-- --- document numbers -------------------------------------------------------

-- The last number given per organisation, kind and year. Reached only
-- through crm_next_number (SECURITY DEFINER): the server's role can
-- neither read nor reset it.
CREATE TABLE document_numbers (
	org_id		uuid NOT NULL REFERENCES organizations (id),
	kind		text NOT NULL CHECK (kind IN ('quote', 'contract')),
	year		integer NOT NULL CHECK (year BETWEEN 2000 AND 9999),
	last		integer NOT NULL CHECK (last >= 1),
	PRIMARY KEY (org_id, kind, year)
);
ALTER TABLE document_numbers ENABLE ROW LEVEL SECURITY;
ALTER TABLE document_numbers FORCE ROW LEVEL SECURITY;

-- The next number of `kind` for the bound caller's organisation this year:
-- Q-2026-000001, C-2026-000001. The upsert locks the counter's row until
-- the transaction ends, so concurrent requests get distinct numbers, and a
-- request that fails gives its number back (no gaps).
CREATE FUNCTION crm_next_number(p_kind text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	y	integer := extract(year FROM now())::integer;
	n	integer;
BEGIN
	IF crm_org() IS NULL THEN
		PERFORM crm_raise('401', 'The credentials are invalid.');
	END IF;
	INSERT INTO document_numbers AS d (org_id, kind, year, last)
	VALUES (crm_org(), p_kind, y, 1)
	ON CONFLICT (org_id, kind, year) DO UPDATE SET last = d.last + 1
	RETURNING last INTO n;
	RETURN CASE p_kind WHEN 'quote' THEN 'Q' ELSE 'C' END || '-' || y ||
	    '-' || lpad(n::text, greatest(6, length(n::text)), '0');
END
$$;
REVOKE ALL ON FUNCTION crm_next_number(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm_next_number(text) TO crm_app;

-- --- exact line arithmetic --------------------------------------------------

-- A line's net: quantity x unit price less the discount (a percentage),
-- rounded to the cent. Multiplying by 0.01 instead of dividing by 100
-- keeps every intermediate exact, so the only rounding is the last one.
CREATE FUNCTION crm_line_net(quantity numeric, unit_price numeric,
    discount_percent numeric)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT round(quantity * unit_price * (100 - discount_percent) * 0.01, 2)
$$;

-- The tax on a line's (rounded) net at `rate` percent, rounded to the cent.
CREATE FUNCTION crm_line_tax(net numeric, rate numeric) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT round(net * rate * 0.01, 2)
$$;

-- One decimal string of a request, checked as the server checks money:
-- NULL when `v` is a decimal with at most `places` decimals and `digits`
-- digits before the point, else the field error (codes as src/validate.c
-- gives them: type, format, scale, range).
CREATE FUNCTION crm_decimal_error(field text, v jsonb, places integer,
    digits integer)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	s	text;
BEGIN
	IF jsonb_typeof(v) IS DISTINCT FROM 'string' THEN
		RETURN crm_field_error(field, 'type', format('''%s'' must be a '
		    'decimal string such as "12.50" (never a JSON number).',
		    field));
	END IF;
	s := v #>> '{}';
	IF s ~ '^-[0-9.]+$' THEN
		RETURN crm_field_error(field, 'range',
		    format('''%s'' cannot be negative.', field));
	END IF;
	IF s !~ '^[0-9]+(\.[0-9]+)?$' THEN
		RETURN crm_field_error(field, 'format', format('''%s'' must be a '
		    'decimal such as "12.50".', field));
	END IF;
	IF length(split_part(s, '.', 2)) > places THEN
		RETURN crm_field_error(field, 'scale', format('''%s'' has at most '
		    '%s decimal places.', field, places));
	END IF;
	IF length(ltrim(split_part(s, '.', 1), '0')) > digits THEN
		RETURN crm_field_error(field, 'range', format('''%s'' has at most '
		    '%s digits before the point.', field, digits));
	END IF;
	RETURN NULL;
END
$$;

-- --- quotes (R25) ------------------------------------------------------------

-- A quote is one revision of a numbered offer on an opportunity. Revising
-- a sent or rejected one supersedes it with a new draft of the same number
-- (revision + 1), so at most one revision of a number is live. `expired`
-- is never stored: a sent quote whose valid_until has passed reads as
-- expired (crm_quote_status), whenever it is read.
CREATE TABLE quotes (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	org_id		uuid NOT NULL REFERENCES organizations (id),
	owner_id	uuid NOT NULL,
	opportunity_id	uuid NOT NULL,
	customer_id	uuid NOT NULL,
	number		text NOT NULL CHECK (number ~ '^Q-[0-9]{4}-[0-9]{6,}$'),
	revision	integer NOT NULL DEFAULT 1 CHECK (revision >= 1),
	previous_id	uuid,
	status		text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft',
			    'sent', 'accepted', 'rejected', 'superseded')),
	valid_until	date NOT NULL,
	currency	text NOT NULL DEFAULT 'CNY'
			    CHECK (currency ~ '^[A-Z]{3}$'),
	notes		text CHECK (length(notes) <= 10000),
	sent_at		timestamptz,
	accepted_at	timestamptz,
	rejected_at	timestamptz,
	rejection_reason text CHECK (length(rejection_reason) <= 500),
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	version		integer NOT NULL DEFAULT 1,
	UNIQUE (org_id, id),
	UNIQUE (org_id, number, revision),
	FOREIGN KEY (org_id, owner_id) REFERENCES users (org_id, id),
	FOREIGN KEY (org_id, opportunity_id)
	    REFERENCES opportunities (org_id, id),
	FOREIGN KEY (org_id, customer_id) REFERENCES customers (org_id, id),
	FOREIGN KEY (org_id, previous_id) REFERENCES quotes (org_id, id),
	CHECK ((status = 'draft') = (sent_at IS NULL)),
	CHECK ((status = 'accepted') = (accepted_at IS NOT NULL)),
	CHECK (status <> 'rejected' OR rejected_at IS NOT NULL)
);
-- One live revision per number.
CREATE UNIQUE INDEX quotes_live_number_key ON quotes (org_id, number)
    WHERE status <> 'superseded';
CREATE INDEX quotes_owner_page_idx ON quotes (org_id, owner_id,
    created_at DESC, id DESC);
CREATE INDEX quotes_org_page_idx ON quotes (org_id, created_at DESC, id DESC);
CREATE INDEX quotes_opportunity_idx ON quotes (org_id, opportunity_id);
CREATE INDEX quotes_customer_idx ON quotes (org_id, customer_id);

-- The lines: what the catalogue said when the line was written (sku, name,
-- unit, list price, tax rate), the price actually offered, and the amounts
-- the database computes from them (they cannot disagree with the formula).
CREATE TABLE quote_lines (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	org_id		uuid NOT NULL,
	quote_id	uuid NOT NULL,
	position	integer NOT NULL CHECK (position BETWEEN 1 AND 1000),
	product_id	uuid NOT NULL,
	sku		text NOT NULL,
	name		text NOT NULL,
	unit		text NOT NULL,
	list_price	crm_money NOT NULL,
	unit_price	crm_money NOT NULL,
	tax_rate	numeric(5, 2) NOT NULL CHECK (tax_rate BETWEEN 0 AND 100),
	quantity	numeric(12, 3) NOT NULL CHECK (quantity > 0),
	discount_percent numeric(5, 2) NOT NULL DEFAULT 0
			    CHECK (discount_percent BETWEEN 0 AND 100),
	net		crm_money GENERATED ALWAYS AS (crm_line_net(quantity,
			    unit_price, discount_percent)) STORED,
	discount	crm_money GENERATED ALWAYS AS (round(quantity *
			    unit_price, 2) - crm_line_net(quantity, unit_price,
			    discount_percent)) STORED,
	tax		crm_money GENERATED ALWAYS AS (crm_line_tax(
			    crm_line_net(quantity, unit_price,
			    discount_percent), tax_rate)) STORED,
	gross		crm_money GENERATED ALWAYS AS (crm_line_net(quantity,
			    unit_price, discount_percent) + crm_line_tax(
			    crm_line_net(quantity, unit_price,
			    discount_percent), tax_rate)) STORED,
	created_at	timestamptz NOT NULL DEFAULT now(),
	UNIQUE (org_id, quote_id, position),
	FOREIGN KEY (org_id, quote_id) REFERENCES quotes (org_id, id),
	FOREIGN KEY (org_id, product_id) REFERENCES products (org_id, id)
);

-- --- contract templates and contracts (R26) ----------------------------------

CREATE TABLE contract_templates (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	org_id		uuid NOT NULL REFERENCES organizations (id),
	name		text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
	body		text NOT NULL CHECK (length(body) BETWEEN 1 AND 100000),
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	deleted_at	timestamptz,
	version		integer NOT NULL DEFAULT 1,
	UNIQUE (org_id, id)
);
CREATE UNIQUE INDEX contract_templates_name_key ON contract_templates
    (org_id, name) WHERE deleted_at IS NULL;
CREATE INDEX contract_templates_page_idx ON contract_templates (org_id,
    created_at, id) WHERE deleted_at IS NULL;

CREATE TABLE contracts (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	org_id		uuid NOT NULL REFERENCES organizations (id),
	owner_id	uuid NOT NULL,
	number		text NOT NULL CHECK (number ~ '^C-[0-9]{4}-[0-9]{6,}$'),
	customer_id	uuid NOT NULL,
	opportunity_id	uuid,
	quote_id	uuid,
	template_id	uuid,
	title		text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
	amount		crm_money NOT NULL DEFAULT 0,
	currency	text NOT NULL DEFAULT 'CNY'
			    CHECK (currency ~ '^[A-Z]{3}$'),
	start_date	date,
	end_date	date,
	terms		text CHECK (length(terms) <= 200000),
	status		text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft',
			    'pending_approval', 'approved', 'rejected', 'signed',
			    'fulfilled', 'cancelled')),
	submitted_at	timestamptz,
	approved_by	uuid,
	approved_at	timestamptz,
	rejection_reason text CHECK (length(rejection_reason) <= 500),
	signed_at	timestamptz,
	fulfilled_at	timestamptz,
	cancelled_at	timestamptz,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	version		integer NOT NULL DEFAULT 1,
	UNIQUE (org_id, id),
	UNIQUE (org_id, number),
	FOREIGN KEY (org_id, owner_id) REFERENCES users (org_id, id),
	FOREIGN KEY (org_id, customer_id) REFERENCES customers (org_id, id),
	FOREIGN KEY (org_id, opportunity_id)
	    REFERENCES opportunities (org_id, id),
	FOREIGN KEY (org_id, quote_id) REFERENCES quotes (org_id, id),
	FOREIGN KEY (org_id, template_id)
	    REFERENCES contract_templates (org_id, id),
	FOREIGN KEY (org_id, approved_by) REFERENCES users (org_id, id),
	CHECK (end_date IS NULL OR start_date IS NULL OR end_date >= start_date),
	CHECK (status NOT IN ('approved', 'signed', 'fulfilled') OR
	    approved_at IS NOT NULL),
	CHECK (status NOT IN ('signed', 'fulfilled') OR signed_at IS NOT NULL)
);
-- One contract per quote: accepting twice finds the first.
CREATE UNIQUE INDEX contracts_quote_key ON contracts (org_id, quote_id)
    WHERE quote_id IS NOT NULL;
CREATE INDEX contracts_owner_page_idx ON contracts (org_id, owner_id,
    created_at DESC, id DESC);
CREATE INDEX contracts_org_page_idx ON contracts (org_id, created_at DESC,
    id DESC);
CREATE INDEX contracts_customer_idx ON contracts (org_id, customer_id);
CREATE INDEX contracts_opportunity_idx ON contracts (org_id, opportunity_id)
    WHERE opportunity_id IS NOT NULL;

-- Every status a contract took: who, from, to, when, and the note the
-- action gave (a rejection's reason). Written by a trigger only.
CREATE TABLE contract_events (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	org_id		uuid NOT NULL,
	contract_id	uuid NOT NULL,
	from_status	text,
	to_status	text NOT NULL,
	actor_id	uuid,
	note		text,
	at		timestamptz NOT NULL DEFAULT clock_timestamp(),
	FOREIGN KEY (org_id, contract_id) REFERENCES contracts (org_id, id)
);
CREATE INDEX contract_events_idx ON contract_events (org_id, contract_id, id);

-- Record a contract's new status. The action's note travels in the
-- transaction-local setting app.note (crm_contract_move sets it), which
-- is cleared once used.
CREATE FUNCTION crm_contract_event() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
	IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
		INSERT INTO contract_events (org_id, contract_id, from_status,
		    to_status, actor_id, note)
		VALUES (NEW.org_id, NEW.id,
		    CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END, NEW.status,
		    crm_user(), crm_setting('app.note'));
		PERFORM set_config('app.note', '', true);
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER contracts_event AFTER INSERT OR UPDATE OF status ON contracts
	FOR EACH ROW EXECUTE FUNCTION crm_contract_event();

-- --- row-level security -------------------------------------------------------

-- Quotes and contracts: whoever works on the owner's records (the owner,
-- their managers up the line, org-wide roles).
ALTER TABLE quotes ENABLE ROW LEVEL SECURITY;
ALTER TABLE quotes FORCE ROW LEVEL SECURITY;
CREATE POLICY quotes_read ON quotes FOR SELECT
	USING (org_id = crm_org() AND crm_mine(owner_id));
CREATE POLICY quotes_insert ON quotes FOR INSERT
	WITH CHECK (org_id = crm_org() AND crm_mine(owner_id));
CREATE POLICY quotes_update ON quotes FOR UPDATE
	USING (org_id = crm_org() AND crm_mine(owner_id))
	WITH CHECK (org_id = crm_org() AND crm_mine(owner_id));
GRANT SELECT, INSERT, UPDATE ON quotes TO crm_app;

-- Lines are seen with their quote, and written only while it is a draft.
ALTER TABLE quote_lines ENABLE ROW LEVEL SECURITY;
ALTER TABLE quote_lines FORCE ROW LEVEL SECURITY;
CREATE POLICY quote_lines_read ON quote_lines FOR SELECT
	USING (org_id = crm_org() AND EXISTS (
	    SELECT 1 FROM quotes q WHERE q.id = quote_id));
CREATE POLICY quote_lines_insert ON quote_lines FOR INSERT
	WITH CHECK (org_id = crm_org() AND EXISTS (
	    SELECT 1 FROM quotes q WHERE q.id = quote_id
	    AND q.status = 'draft'));
CREATE POLICY quote_lines_delete ON quote_lines FOR DELETE
	USING (org_id = crm_org() AND EXISTS (
	    SELECT 1 FROM quotes q WHERE q.id = quote_id
	    AND q.status = 'draft'));
GRANT SELECT, INSERT, DELETE ON quote_lines TO crm_app;

-- Everyone in the organisation reads the templates (to write contracts
-- from them); admins maintain them.
ALTER TABLE contract_templates ENABLE ROW LEVEL SECURITY;
ALTER TABLE contract_templates FORCE ROW LEVEL SECURITY;
CREATE POLICY contract_templates_read ON contract_templates FOR SELECT
	USING (org_id = crm_org());
CREATE POLICY contract_templates_admin_insert ON contract_templates
	FOR INSERT WITH CHECK (org_id = crm_org() AND crm_role() = 'admin');
CREATE POLICY contract_templates_admin_update ON contract_templates
	FOR UPDATE USING (org_id = crm_org() AND crm_role() = 'admin')
	WITH CHECK (org_id = crm_org() AND crm_role() = 'admin');
GRANT SELECT, INSERT, UPDATE ON contract_templates TO crm_app;

ALTER TABLE contracts ENABLE ROW LEVEL SECURITY;
ALTER TABLE contracts FORCE ROW LEVEL SECURITY;
CREATE POLICY contracts_read ON contracts FOR SELECT
	USING (org_id = crm_org() AND crm_mine(owner_id));
CREATE POLICY contracts_insert ON contracts FOR INSERT
	WITH CHECK (org_id = crm_org() AND crm_mine(owner_id));
CREATE POLICY contracts_update ON contracts FOR UPDATE
	USING (org_id = crm_org() AND crm_mine(owner_id))
	WITH CHECK (org_id = crm_org() AND crm_mine(owner_id));
GRANT SELECT, INSERT, UPDATE ON contracts TO crm_app;

ALTER TABLE contract_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE contract_events FORCE ROW LEVEL SECURITY;
CREATE POLICY contract_events_read ON contract_events FOR SELECT
	USING (org_id = crm_org() AND EXISTS (
	    SELECT 1 FROM contracts c WHERE c.id = contract_id));
GRANT SELECT ON contract_events TO crm_app;

CREATE TRIGGER quotes_touch BEFORE UPDATE ON quotes
	FOR EACH ROW EXECUTE FUNCTION crm_touch();
CREATE TRIGGER quotes_audit AFTER INSERT OR UPDATE OR DELETE ON quotes
	FOR EACH ROW EXECUTE FUNCTION crm_audit_row();
CREATE TRIGGER quote_lines_audit AFTER INSERT OR UPDATE OR DELETE
	ON quote_lines FOR EACH ROW EXECUTE FUNCTION crm_audit_row();
CREATE TRIGGER contract_templates_touch BEFORE UPDATE ON contract_templates
	FOR EACH ROW EXECUTE FUNCTION crm_touch();
CREATE TRIGGER contract_templates_audit AFTER INSERT OR UPDATE OR DELETE
	ON contract_templates FOR EACH ROW EXECUTE FUNCTION crm_audit_row();
CREATE TRIGGER contracts_touch BEFORE UPDATE ON contracts
	FOR EACH ROW EXECUTE FUNCTION crm_touch();
CREATE TRIGGER contracts_audit AFTER INSERT OR UPDATE OR DELETE ON contracts
	FOR EACH ROW EXECUTE FUNCTION crm_audit_row();

-- --- quotes: the API's statements --------------------------------------------

-- A quote's status as the API shows it: a sent quote past its validity
-- reads as expired.
CREATE FUNCTION crm_quote_status(status text, valid_until date) RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN status = 'sent' AND valid_until < current_date
	    THEN 'expired' ELSE status END
$$;

-- The statuses a quote in (shown) status `s` may move to. `superseded`
-- is what revising does to it.
CREATE FUNCTION crm_quote_next(s text) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE s WHEN 'draft' THEN ARRAY['sent']
	    WHEN 'sent' THEN ARRAY['accepted', 'rejected', 'superseded']
	    WHEN 'expired' THEN ARRAY['superseded']
	    WHEN 'rejected' THEN ARRAY['superseded']
	    ELSE ARRAY[]::text[] END
$$;

-- The public shape of a quote, with its totals (sums of the rounded
-- lines) but without the lines themselves: lists and the customer
-- overview use it.
CREATE FUNCTION quote_json(q quotes) RETURNS json
LANGUAGE sql STABLE AS $$
	SELECT json_build_object('id', q.id, 'number', q.number,
	    'revision', q.revision,
	    'status', crm_quote_status(q.status, q.valid_until),
	    'opportunity_id', q.opportunity_id, 'customer_id', q.customer_id,
	    'owner_id', q.owner_id, 'previous_id', q.previous_id,
	    'valid_until', q.valid_until, 'currency', q.currency,
	    'notes', q.notes, 'line_count', t.n,
	    'subtotal', crm_money_text(t.subtotal),
	    'discount_total', crm_money_text(t.discount_total),
	    'tax_total', crm_money_text(t.tax_total),
	    'grand_total', crm_money_text(t.grand_total),
	    'contract_id', (SELECT c.id FROM contracts c
		WHERE c.org_id = q.org_id AND c.quote_id = q.id),
	    'sent_at', q.sent_at, 'accepted_at', q.accepted_at,
	    'rejected_at', q.rejected_at,
	    'rejection_reason', q.rejection_reason,
	    'created_at', q.created_at, 'updated_at', q.updated_at,
	    'version', q.version)
	FROM (SELECT count(*) AS n, coalesce(sum(l.net), 0) AS subtotal,
		coalesce(sum(l.discount), 0) AS discount_total,
		coalesce(sum(l.tax), 0) AS tax_total,
		coalesce(sum(l.gross), 0) AS grand_total
	    FROM quote_lines l
	    WHERE l.org_id = q.org_id AND l.quote_id = q.id) t
$$;

-- The public shape of a quote line: the catalogue values it copied, the
-- amounts as decimal strings (quantity with its 3 decimals).
CREATE FUNCTION quote_line_json(l quote_lines) RETURNS json
LANGUAGE sql STABLE AS $$
	SELECT json_build_object('id', l.id, 'position', l.position,
	    'product_id', l.product_id, 'sku', l.sku, 'name', l.name,
	    'unit', l.unit, 'quantity', l.quantity::text,
	    'list_price', crm_money_text(l.list_price),
	    'unit_price', crm_money_text(l.unit_price),
	    'discount_percent', l.discount_percent::text,
	    'tax_rate', l.tax_rate::text, 'net', crm_money_text(l.net),
	    'discount', crm_money_text(l.discount),
	    'tax', crm_money_text(l.tax), 'gross', crm_money_text(l.gross))
$$;

-- A quote with its lines, in order: what the quote routes answer.
CREATE FUNCTION quote_detail_json(q quotes) RETURNS json
LANGUAGE sql STABLE AS $$
	SELECT (quote_json(q)::jsonb || jsonb_build_object('lines',
	    coalesce((SELECT jsonb_agg(quote_line_json(l)::jsonb
		ORDER BY l.position)
	    FROM quote_lines l WHERE l.org_id = q.org_id
	    AND l.quote_id = q.id), '[]')))::json
$$;

-- Check and price the lines of a request (`ls`, an array of objects) for
-- a quote in `currency`: every problem becomes a field error naming the
-- line by its index in the array, from 0 (`lines[2].quantity`): unknown
-- fields, a product that is not in the catalogue, inactive or in another
-- currency, quantities (> 0, 3 decimals), discounts (0-100, 2 decimals),
-- prices (money), and amounts beyond what money can hold. Returns the
-- lines ready to insert (catalogue values copied, the price offered
-- defaulting to the list price) and the errors.
CREATE FUNCTION crm_quote_lines(ls jsonb, currency text, OUT lines jsonb,
    OUT errors jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
	line	jsonb;
	f	text;
	k	text;
	e	jsonb;
	pr	products;
	ok	boolean;
	qty	numeric;
	disc	numeric;
	price	numeric;
	net	numeric;
	total	numeric := 0;
BEGIN
	lines := '[]';
	errors := '[]';
	IF jsonb_typeof(ls) IS DISTINCT FROM 'array' OR
	    jsonb_array_length(ls) NOT BETWEEN 1 AND 200 THEN
		errors := jsonb_build_array(crm_field_error('lines', 'type',
		    '''lines'' must be an array of 1 to 200 objects.'));
		RETURN;
	END IF;
	FOR i IN 0 .. jsonb_array_length(ls) - 1 LOOP
		line := ls->i;
		f := 'lines[' || i || ']';
		IF jsonb_typeof(line) <> 'object' THEN
			errors := errors || crm_field_error(f, 'type',
			    format('''%s'' must be an object.', f));
			CONTINUE;
		END IF;
		ok := true;
		FOR k IN SELECT jsonb_object_keys(line) LOOP
			IF k NOT IN ('product_id', 'quantity',
			    'discount_percent', 'unit_price') THEN
				errors := errors || crm_field_error(f || '.' || k,
				    'unknown_field', format('''%s'' is not a '
				    'field of a quote line.', k));
				ok := false;
			END IF;
		END LOOP;

		pr := NULL;
		IF jsonb_typeof(line->'product_id') IS NULL OR
		    jsonb_typeof(line->'product_id') = 'null' THEN
			errors := errors || crm_field_error(f || '.product_id',
			    'required', format('''%s.product_id'' is required.',
			    f));
		ELSIF jsonb_typeof(line->'product_id') <> 'string' OR
		    line->>'product_id' !~* ('^[0-9a-f]{8}-[0-9a-f]{4}-'
		    '[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$') THEN
			errors := errors || crm_field_error(f || '.product_id',
			    'format', format('''%s.product_id'' must be a UUID.',
			    f));
		ELSE
			SELECT * INTO pr FROM products
			WHERE id = (line->>'product_id')::uuid;
			IF NOT FOUND THEN
				errors := errors || crm_field_error(f ||
				    '.product_id', 'unknown', format('''%s.'
				    'product_id'' names no product of the '
				    'catalogue.', f));
			ELSIF NOT pr.active THEN
				errors := errors || crm_field_error(f ||
				    '.product_id', 'inactive', format('''%s.'
				    'product_id'' names an inactive product (%s).',
				    f, pr.sku));
				pr := NULL;
			ELSIF pr.currency <> currency THEN
				errors := errors || crm_field_error(f ||
				    '.product_id', 'currency', format('''%s.'
				    'product_id'' is priced in %s; the quote is in '
				    '%s.', f, pr.currency, currency));
				pr := NULL;
			END IF;
		END IF;

		IF NOT line ? 'quantity' THEN
			e := crm_field_error(f || '.quantity', 'required',
			    format('''%s.quantity'' is required.', f));
		ELSE
			e := crm_decimal_error(f || '.quantity',
			    line->'quantity', 3, 9);
			IF e IS NULL AND (line->>'quantity')::numeric = 0 THEN
				e := crm_field_error(f || '.quantity', 'range',
				    format('''%s.quantity'' must be greater '
				    'than 0.', f));
			END IF;
		END IF;
		IF e IS NOT NULL THEN
			errors := errors || e;
			ok := false;
		END IF;

		disc := 0;
		IF jsonb_typeof(line->'discount_percent') <> 'null' THEN
			e := crm_decimal_error(f || '.discount_percent',
			    line->'discount_percent', 2, 3);
			IF e IS NULL AND (line->>'discount_percent')::numeric >
			    100 THEN
				e := crm_field_error(f || '.discount_percent',
				    'range', format('''%s.discount_percent'' is a '
				    'percentage from 0 to 100.', f));
			END IF;
			IF e IS NOT NULL THEN
				errors := errors || e;
				ok := false;
			ELSE
				disc := (line->>'discount_percent')::numeric;
			END IF;
		END IF;

		price := NULL;
		IF jsonb_typeof(line->'unit_price') <> 'null' THEN
			e := crm_decimal_error(f || '.unit_price',
			    line->'unit_price', 2, 13);
			IF e IS NOT NULL THEN
				errors := errors || e;
				ok := false;
			ELSE
				price := (line->>'unit_price')::numeric;
			END IF;
		END IF;

		CONTINUE WHEN NOT ok OR pr IS NULL;
		qty := (line->>'quantity')::numeric;
		price := coalesce(price, pr.unit_price);
		net := crm_line_net(qty, price, disc);
		IF round(qty * price, 2) + crm_line_tax(net, pr.tax_rate) >= 1e13
		THEN
			errors := errors || crm_field_error(f || '.quantity',
			    'range', format('''%s'' comes to more than the '
			    'largest amount of money.', f));
			CONTINUE;
		END IF;
		total := total + net + crm_line_tax(net, pr.tax_rate);
		lines := lines || jsonb_build_object('position', i + 1,
		    'product_id', pr.id, 'sku', pr.sku, 'name', pr.name,
		    'unit', pr.unit, 'list_price', pr.unit_price,
		    'unit_price', price, 'tax_rate', pr.tax_rate,
		    'quantity', qty, 'discount_percent', disc);
	END LOOP;
	IF total >= 1e13 THEN
		errors := errors || crm_field_error('lines', 'range',
		    'The quote comes to more than the largest amount of money.');
	END IF;
END
$$;

-- Write the lines crm_quote_lines returned into quote `q` (a draft).
CREATE FUNCTION crm_quote_lines_insert(q quotes, lines jsonb) RETURNS void
LANGUAGE sql AS $$
	INSERT INTO quote_lines (org_id, quote_id, position, product_id, sku,
	    name, unit, list_price, unit_price, tax_rate, quantity,
	    discount_percent)
	SELECT q.org_id, q.id, x.position, x.product_id, x.sku, x.name, x.unit,
	    x.list_price, x.unit_price, x.tax_rate, x.quantity,
	    x.discount_percent
	FROM jsonb_to_recordset(lines) AS x(position integer, product_id uuid,
	    sku text, name text, unit text, list_price numeric,
	    unit_price numeric, tax_rate numeric, quantity numeric,
	    discount_percent numeric)
$$;

-- The field error of a validity date in the past, or NULL.
CREATE FUNCTION crm_valid_until_error(d date) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN d < current_date THEN crm_field_error('valid_until',
	    'range', '''valid_until'' cannot be in the past.') END
$$;

-- POST /v1/quotes {opportunity_id, valid_until?, notes?, lines}: revision
-- 1 of a new number, in the opportunity's currency, owned by the
-- opportunity's owner, valid 30 days unless said otherwise. 422 lists
-- every problem at once: an opportunity the caller cannot see (the same
-- answer as one that does not exist) or that is closed, a validity in the
-- past, and each bad line; 403 for an opportunity they see but may not
-- change.
CREATE FUNCTION api_quotes_create(p jsonb, b jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	o	opportunities;
	q	quotes;
	chk	record;
	errors	jsonb := '[]';
BEGIN
	PERFORM crm_bind(p);
	SELECT * INTO o FROM opportunities
	WHERE id = (b->>'opportunity_id')::uuid AND deleted_at IS NULL;
	IF NOT FOUND THEN
		errors := errors || crm_field_error('opportunity_id', 'unknown',
		    '''opportunity_id'' names no opportunity you can see.');
	ELSIF NOT crm_mine(o.owner_id) THEN
		PERFORM crm_raise('403', 'You may read this opportunity but '
		    'not quote on it.');
	ELSIF o.status <> 'open' THEN
		errors := errors || crm_field_error('opportunity_id', 'closed',
		    format('The opportunity is %s; quotes are made on open '
		    'ones.', o.status));
	END IF;
	errors := errors || coalesce(crm_valid_until_error(
	    (b->>'valid_until')::date), '[]');
	chk := crm_quote_lines(b->'lines', coalesce(o.currency, 'CNY'));
	errors := errors || chk.errors;
	IF jsonb_array_length(errors) > 0 THEN
		PERFORM crm_raise_fields('422', 'The quote is invalid; see '
		    'errors.', errors);
	END IF;

	INSERT INTO quotes (org_id, owner_id, opportunity_id, customer_id,
	    number, valid_until, currency, notes)
	VALUES (crm_org(), o.owner_id, o.id, o.customer_id,
	    crm_next_number('quote'),
	    coalesce((b->>'valid_until')::date, current_date + 30),
	    o.currency, b->>'notes')
	RETURNING * INTO q;
	PERFORM crm_quote_lines_insert(q, chk.lines);
	RETURN quote_detail_json(q)::text;
END
$$;

-- GET /v1/quotes/{id}: with lines and totals; NULL (404) when unseen.
CREATE FUNCTION api_quotes_get(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	RETURN (SELECT quote_detail_json(q) FROM quotes q
	    WHERE id = p_id)::text;
END
$$;

-- GET /v1/quotes: filters opportunity_id, customer_id, status (as shown:
-- expired included), owner_id; newest first, keyset on (created_at, id).
CREATE FUNCTION api_quotes_list(p jsonb, f jsonb) RETURNS text
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

-- The quote `p_id` for a change, locked: NULL when the caller cannot see
-- it; 403 when they see it but may not change it; 412 when `p_if_match`
-- names another version.
CREATE FUNCTION crm_quote_for_change(p_id uuid, p_if_match integer)
RETURNS quotes
LANGUAGE plpgsql AS $$
DECLARE
	q	quotes;
BEGIN
	SELECT * INTO q FROM quotes WHERE id = p_id FOR UPDATE;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF NOT crm_mine(q.owner_id) THEN
		PERFORM crm_raise('403', 'You may read this quote but not '
		    'change it.');
	END IF;
	IF p_if_match IS NOT NULL AND p_if_match <> q.version THEN
		PERFORM crm_raise('412', 'The quote changed since you read it '
		    '(version ' || q.version || ').');
	END IF;
	RETURN q;
END
$$;

-- PATCH /v1/quotes/{id} {valid_until?, notes?, lines?}: drafts only (409
-- otherwise: revise a sent quote instead); `lines` replaces them all.
-- If-Match optional. 422 lists every bad field.
CREATE FUNCTION api_quotes_update(p jsonb, p_id uuid, b jsonb,
    p_if_match integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	q	quotes;
	chk	record;
	errors	jsonb := '[]';
BEGIN
	PERFORM crm_bind(p);
	q := crm_quote_for_change(p_id, p_if_match);
	IF q.id IS NULL THEN
		RETURN NULL;
	END IF;
	IF q.status <> 'draft' THEN
		PERFORM crm_raise('409', format('Only a draft quote can be '
		    'changed; this one is %s. Revise it to get a new draft.',
		    crm_quote_status(q.status, q.valid_until)));
	END IF;
	errors := errors || coalesce(crm_valid_until_error(
	    (b->>'valid_until')::date), '[]');
	IF b ? 'lines' THEN
		chk := crm_quote_lines(b->'lines', q.currency);
		errors := errors || chk.errors;
	END IF;
	IF jsonb_array_length(errors) > 0 THEN
		PERFORM crm_raise_fields('422', 'The quote is invalid; see '
		    'errors.', errors);
	END IF;
	-- Always an update, so that new lines alone bump the version too.
	UPDATE quotes SET
	    valid_until = CASE WHEN b ? 'valid_until' THEN
		(b->>'valid_until')::date ELSE valid_until END,
	    notes = CASE WHEN b ? 'notes' THEN b->>'notes' ELSE notes END
	WHERE id = p_id
	RETURNING * INTO q;
	IF b ? 'lines' THEN
		DELETE FROM quote_lines WHERE org_id = q.org_id
		    AND quote_id = q.id;
		PERFORM crm_quote_lines_insert(q, chk.lines);
	END IF;
	RETURN quote_detail_json(q)::text;
END
$$;

-- POST /v1/quotes/{id}/send: draft -> sent (409 naming the allowed
-- statuses otherwise, or when its validity has passed). Sending a sent
-- quote again changes nothing.
CREATE FUNCTION api_quotes_send(p jsonb, p_id uuid, p_if_match integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	q	quotes;
	shown	text;
BEGIN
	PERFORM crm_bind(p);
	q := crm_quote_for_change(p_id, p_if_match);
	IF q.id IS NULL THEN
		RETURN NULL;
	END IF;
	shown := crm_quote_status(q.status, q.valid_until);
	PERFORM crm_transition_check('quote', shown, 'sent',
	    crm_quote_next(shown));
	IF q.status = 'draft' THEN
		IF q.valid_until < current_date THEN
			PERFORM crm_raise('409', format('The quote was valid '
			    'until %s; change valid_until before sending it.',
			    q.valid_until));
		END IF;
		UPDATE quotes SET status = 'sent', sent_at = now()
		WHERE id = p_id
		RETURNING * INTO q;
	END IF;
	RETURN quote_detail_json(q)::text;
END
$$;

-- POST /v1/quotes/{id}/reject {reason?}: sent -> rejected (the customer
-- said no); 409 naming the allowed statuses otherwise. Repeating it
-- changes nothing.
CREATE FUNCTION api_quotes_reject(p jsonb, p_id uuid, b jsonb,
    p_if_match integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	q	quotes;
	shown	text;
BEGIN
	PERFORM crm_bind(p);
	q := crm_quote_for_change(p_id, p_if_match);
	IF q.id IS NULL THEN
		RETURN NULL;
	END IF;
	shown := crm_quote_status(q.status, q.valid_until);
	PERFORM crm_transition_check('quote', shown, 'rejected',
	    crm_quote_next(shown));
	IF q.status <> 'rejected' THEN
		UPDATE quotes SET status = 'rejected', rejected_at = now(),
		    rejection_reason = b->>'reason'
		WHERE id = p_id
		RETURNING * INTO q;
	END IF;
	RETURN quote_detail_json(q)::text;
END
$$;

-- POST /v1/quotes/{id}/revise: a sent, expired or rejected quote is
-- superseded by a new draft of the same number (revision + 1) with a copy
-- of its lines, valid as long as the old one was (30 days from today if
-- that has passed). 409 naming the allowed statuses otherwise; a
-- superseded revision cannot be revised again.
CREATE FUNCTION api_quotes_revise(p jsonb, p_id uuid, p_if_match integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	old	quotes;
	q	quotes;
	shown	text;
BEGIN
	PERFORM crm_bind(p);
	old := crm_quote_for_change(p_id, p_if_match);
	IF old.id IS NULL THEN
		RETURN NULL;
	END IF;
	shown := crm_quote_status(old.status, old.valid_until);
	IF shown = 'superseded' THEN
		PERFORM crm_raise('409', format('Revision %s of %s is already '
		    'superseded; revise the latest revision.', old.revision,
		    old.number));
	END IF;
	PERFORM crm_transition_check('quote', shown, 'superseded',
	    crm_quote_next(shown));
	UPDATE quotes SET status = 'superseded' WHERE id = p_id;
	INSERT INTO quotes (org_id, owner_id, opportunity_id, customer_id,
	    number, revision, previous_id, valid_until, currency, notes)
	VALUES (old.org_id, old.owner_id, old.opportunity_id, old.customer_id,
	    old.number, old.revision + 1, old.id,
	    CASE WHEN old.valid_until >= current_date THEN old.valid_until
		ELSE current_date + 30 END,
	    old.currency, old.notes)
	RETURNING * INTO q;
	INSERT INTO quote_lines (org_id, quote_id, position, product_id, sku,
	    name, unit, list_price, unit_price, tax_rate, quantity,
	    discount_percent)
	SELECT q.org_id, q.id, l.position, l.product_id, l.sku, l.name, l.unit,
	    l.list_price, l.unit_price, l.tax_rate, l.quantity,
	    l.discount_percent
	FROM quote_lines l WHERE l.org_id = old.org_id AND l.quote_id = old.id;
	RETURN quote_detail_json(q)::text;
END
$$;

-- POST /v1/quotes/{id}/accept: sent -> accepted, and in the same
-- transaction the contract in draft (amount = the grand total; customer,
-- opportunity, quote and owner from the quote). Answers {quote,
-- contract_id}. Accepting an accepted quote answers the same contract
-- again (the quote row is locked first, so concurrent accepts queue and
-- the second finds the first's contract). 409 naming the allowed statuses
-- for a draft, a rejected or an expired quote.
CREATE FUNCTION api_quotes_accept(p jsonb, p_id uuid, p_if_match integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	q	quotes;
	shown	text;
	cid	uuid;
	oname	text;
BEGIN
	PERFORM crm_bind(p);
	q := crm_quote_for_change(p_id, p_if_match);
	IF q.id IS NULL THEN
		RETURN NULL;
	END IF;
	shown := crm_quote_status(q.status, q.valid_until);
	PERFORM crm_transition_check('quote', shown, 'accepted',
	    crm_quote_next(shown));
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
		SELECT name INTO oname FROM opportunities
		WHERE id = q.opportunity_id;
		PERFORM set_config('app.note', format('Created from quote %s '
		    'revision %s on its acceptance.', q.number, q.revision),
		    true);
		INSERT INTO contracts (org_id, owner_id, number, customer_id,
		    opportunity_id, quote_id, title, amount, currency)
		VALUES (q.org_id, q.owner_id, crm_next_number('contract'),
		    q.customer_id, q.opportunity_id, q.id,
		    left(coalesce(oname, '报价') || '（' || q.number || '）', 200),
		    (SELECT coalesce(sum(l.gross), 0) FROM quote_lines l
		     WHERE l.org_id = q.org_id AND l.quote_id = q.id),
		    q.currency)
		RETURNING id INTO cid;
	END IF;
	RETURN json_build_object('quote', quote_detail_json(q),
	    'contract_id', cid)::text;
END
$$;

-- --- contract templates: the API's statements --------------------------------

-- The placeholders a template may use, filled when a contract is written
-- from it.
CREATE FUNCTION crm_template_placeholders() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
	SELECT ARRAY['customer_name', 'amount', 'currency', 'contract_number',
	    'start_date', 'end_date', 'owner_name']
$$;

-- 422 when template `body` uses a placeholder ({{...}}) that is not one of
-- crm_template_placeholders(), naming each unknown one.
CREATE FUNCTION crm_template_check(body text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	unknown	text[];
BEGIN
	SELECT array_agg(DISTINCT m[1] ORDER BY m[1]) INTO unknown
	FROM regexp_matches(body, '\{\{([^{}]*)\}\}', 'g') AS m
	WHERE NOT m[1] = ANY (crm_template_placeholders());
	IF unknown IS NOT NULL THEN
		PERFORM crm_raise_fields('422', 'The template is invalid; see '
		    'errors.', jsonb_build_array(crm_field_error('body',
		    'placeholder', format('Unknown placeholder(s) %s; known: '
		    '%s.', (SELECT string_agg('{{' || u || '}}', ', ')
		    FROM unnest(unknown) AS u), (SELECT string_agg('{{' || k ||
		    '}}', ', ') FROM unnest(crm_template_placeholders()) AS k)))));
	END IF;
END
$$;

-- Fill template `body` with `vals` (placeholder name -> text; missing
-- values become empty). One pass from left to right: a value that looks
-- like a placeholder is not filled again.
CREATE FUNCTION crm_template_render(body text, vals jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	rx	text := '\{\{(' || array_to_string(crm_template_placeholders(),
		    '|') || ')\}\}';
	rest	text := body;
	result	text := '';
	pos	integer;
	name	text;
BEGIN
	LOOP
		pos := regexp_instr(rest, rx);
		EXIT WHEN pos = 0;
		name := regexp_substr(rest, rx, 1, 1, '', 1);
		result := result || substr(rest, 1, pos - 1) ||
		    coalesce(vals->>name, '');
		rest := substr(rest, pos + length(name) + 4);
	END LOOP;
	RETURN result || rest;
END
$$;

-- The public shape of a contract template.
CREATE FUNCTION contract_template_json(t contract_templates) RETURNS json
LANGUAGE sql STABLE AS $$
	SELECT json_build_object('id', t.id, 'name', t.name, 'body', t.body,
	    'created_at', t.created_at, 'updated_at', t.updated_at,
	    'version', t.version)
$$;

-- 409 for a second live template of the same name.
CREATE FUNCTION crm_template_conflict() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_raise('409', 'A contract template with this name already '
	    'exists.');
END
$$;

-- POST /v1/contract-templates {name, body}: admins only (403); 422 for an
-- unknown placeholder, 409 for a duplicate name.
CREATE FUNCTION api_contract_templates_create(p jsonb, b jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	t	contract_templates;
BEGIN
	PERFORM crm_bind(p);
	PERFORM crm_require_role('admin');
	PERFORM crm_template_check(b->>'body');
	BEGIN
		INSERT INTO contract_templates (org_id, name, body)
		VALUES (crm_org(), b->>'name', b->>'body')
		RETURNING * INTO t;
	EXCEPTION WHEN unique_violation THEN
		PERFORM crm_template_conflict();
	END;
	RETURN contract_template_json(t)::text;
END
$$;

-- GET /v1/contract-templates: oldest first, keyset on (created_at, id).
CREATE FUNCTION api_contract_templates_list(p jsonb, f jsonb) RETURNS text
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

-- GET /v1/contract-templates/{id}
CREATE FUNCTION api_contract_templates_get(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	RETURN (SELECT contract_template_json(t) FROM contract_templates t
	    WHERE id = p_id AND deleted_at IS NULL)::text;
END
$$;

-- The live template `p_id` for an admin's change: NULL when there is none,
-- 403 for other roles, 412 when `p_if_match` names another version.
CREATE FUNCTION crm_template_for_change(p_id uuid, p_if_match integer)
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
	IF p_if_match IS NOT NULL AND p_if_match <> t.version THEN
		PERFORM crm_raise('412', 'The template changed since you read '
		    'it (version ' || t.version || ').');
	END IF;
	RETURN t;
END
$$;

-- PATCH /v1/contract-templates/{id} {name?, body?}: admins (403 for
-- others); contracts written before keep their terms.
CREATE FUNCTION api_contract_templates_update(p jsonb, p_id uuid, b jsonb,
    p_if_match integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	t	contract_templates;
BEGIN
	PERFORM crm_bind(p);
	t := crm_template_for_change(p_id, p_if_match);
	IF t.id IS NULL THEN
		RETURN NULL;
	END IF;
	IF b ? 'body' THEN
		PERFORM crm_template_check(b->>'body');
	END IF;
	BEGIN
		UPDATE contract_templates SET
		    name = CASE WHEN b ? 'name' THEN b->>'name' ELSE name END,
		    body = CASE WHEN b ? 'body' THEN b->>'body' ELSE body END
		WHERE id = p_id
		RETURNING * INTO t;
	EXCEPTION WHEN unique_violation THEN
		PERFORM crm_template_conflict();
	END;
	RETURN contract_template_json(t)::text;
END
$$;

-- DELETE /v1/contract-templates/{id}: soft (contracts keep their link);
-- admins only, If-Match optional.
CREATE FUNCTION api_contract_templates_delete(p jsonb, p_id uuid,
    p_if_match integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	t	contract_templates;
BEGIN
	PERFORM crm_bind(p);
	t := crm_template_for_change(p_id, p_if_match);
	IF t.id IS NULL THEN
		RETURN NULL;
	END IF;
	UPDATE contract_templates SET deleted_at = now() WHERE id = p_id;
	RETURN '{}';
END
$$;

-- --- contracts: the API's statements -----------------------------------------

-- The public shape of a contract; the amount as a decimal string.
CREATE FUNCTION contract_json(c contracts) RETURNS json
LANGUAGE sql STABLE AS $$
	SELECT json_build_object('id', c.id, 'number', c.number,
	    'title', c.title, 'status', c.status,
	    'customer_id', c.customer_id, 'opportunity_id', c.opportunity_id,
	    'quote_id', c.quote_id, 'template_id', c.template_id,
	    'owner_id', c.owner_id, 'amount', crm_money_text(c.amount),
	    'currency', c.currency, 'start_date', c.start_date,
	    'end_date', c.end_date, 'terms', c.terms,
	    'submitted_at', c.submitted_at, 'approved_by', c.approved_by,
	    'approved_at', c.approved_at,
	    'rejection_reason', c.rejection_reason,
	    'signed_at', c.signed_at, 'fulfilled_at', c.fulfilled_at,
	    'cancelled_at', c.cancelled_at, 'created_at', c.created_at,
	    'updated_at', c.updated_at, 'version', c.version)
$$;

-- The statuses a contract in status `s` may move to.
CREATE FUNCTION crm_contract_next(s text) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE s WHEN 'draft' THEN ARRAY['pending_approval', 'cancelled']
	    WHEN 'pending_approval' THEN ARRAY['approved', 'rejected']
	    WHEN 'rejected' THEN ARRAY['pending_approval', 'cancelled']
	    WHEN 'approved' THEN ARRAY['signed']
	    WHEN 'signed' THEN ARRAY['fulfilled']
	    ELSE ARRAY[]::text[] END
$$;

-- The field error of an end before the start, or NULL.
CREATE FUNCTION crm_contract_dates_error(s date, e date) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN e < s THEN crm_field_error('end_date', 'range',
	    '''end_date'' cannot be before ''start_date''.') END
$$;

-- POST /v1/contracts {customer_id, opportunity_id?, quote_id?,
-- template_id?, title, amount?, currency?, start_date?, end_date?,
-- terms?}: a draft with the next contract number. From a quote (sent or
-- accepted, one contract per quote) the amount and currency are its; from
-- a template the terms are rendered from it. Owned by the quote's, else
-- the opportunity's, else the customer's owner. 422 lists every problem
-- (records the caller cannot see are named like records that do not
-- exist); 403 for a customer they see but may not change; 409 for a quote
-- that already has its contract.
CREATE FUNCTION api_contracts_create(p jsonb, b jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	cu	customers;
	o	opportunities;
	q	quotes;
	t	contract_templates;
	c	contracts;
	errors	jsonb := '[]';
	owner	uuid;
	amount	numeric;
	cur	text;
	num	text;
BEGIN
	PERFORM crm_bind(p);
	SELECT * INTO cu FROM customers
	WHERE id = (b->>'customer_id')::uuid AND deleted_at IS NULL;
	IF NOT FOUND THEN
		errors := errors || crm_field_error('customer_id', 'unknown',
		    '''customer_id'' names no customer you can see.');
	ELSIF NOT crm_mine(cu.owner_id) THEN
		PERFORM crm_raise('403', 'You may read this customer but not '
		    'write contracts for it.');
	END IF;
	IF b->>'opportunity_id' IS NOT NULL THEN
		SELECT * INTO o FROM opportunities
		WHERE id = (b->>'opportunity_id')::uuid AND deleted_at IS NULL;
		IF NOT FOUND THEN
			errors := errors || crm_field_error('opportunity_id',
			    'unknown', '''opportunity_id'' names no '
			    'opportunity you can see.');
		ELSIF cu.id IS NOT NULL AND o.customer_id <> cu.id THEN
			errors := errors || crm_field_error('opportunity_id',
			    'mismatch', 'The opportunity is another '
			    'customer''s.');
		END IF;
	END IF;
	IF b->>'quote_id' IS NOT NULL THEN
		SELECT * INTO q FROM quotes WHERE id = (b->>'quote_id')::uuid;
		IF NOT FOUND THEN
			errors := errors || crm_field_error('quote_id',
			    'unknown', '''quote_id'' names no quote you can '
			    'see.');
		ELSIF crm_quote_status(q.status, q.valid_until) NOT IN ('sent',
		    'accepted') THEN
			errors := errors || crm_field_error('quote_id', 'status',
			    format('A contract is written from a sent or '
			    'accepted quote; this one is %s.',
			    crm_quote_status(q.status, q.valid_until)));
		ELSIF cu.id IS NOT NULL AND q.customer_id <> cu.id THEN
			errors := errors || crm_field_error('quote_id',
			    'mismatch', 'The quote is another customer''s.');
		ELSIF o.id IS NOT NULL AND q.opportunity_id <> o.id THEN
			errors := errors || crm_field_error('quote_id',
			    'mismatch', 'The quote is on another opportunity.');
		END IF;
		IF b ? 'amount' THEN
			errors := errors || crm_field_error('amount', 'conflict',
			    'A contract from a quote takes its grand total; '
			    'leave out amount.');
		END IF;
		IF b ? 'currency' AND b->>'currency' IS DISTINCT FROM
		    q.currency THEN
			errors := errors || crm_field_error('currency',
			    'conflict', 'A contract from a quote takes its '
			    'currency.');
		END IF;
	END IF;
	IF b->>'template_id' IS NOT NULL THEN
		SELECT * INTO t FROM contract_templates
		WHERE id = (b->>'template_id')::uuid AND deleted_at IS NULL;
		IF NOT FOUND THEN
			errors := errors || crm_field_error('template_id',
			    'unknown', '''template_id'' names no contract '
			    'template.');
		END IF;
		IF b->>'terms' IS NOT NULL THEN
			errors := errors || crm_field_error('terms', 'conflict',
			    'The terms of a contract from a template are '
			    'rendered from it; leave out terms.');
		END IF;
	END IF;
	errors := errors || coalesce(crm_currency_error('currency',
	    b->>'currency'), '[]') || coalesce(crm_contract_dates_error(
	    (b->>'start_date')::date, (b->>'end_date')::date), '[]');
	IF jsonb_array_length(errors) > 0 THEN
		PERFORM crm_raise_fields('422', 'The contract is invalid; see '
		    'errors.', errors);
	END IF;

	owner := coalesce(q.owner_id, o.owner_id, cu.owner_id);
	cur := coalesce(q.currency, b->>'currency', o.currency, 'CNY');
	IF q.id IS NOT NULL THEN
		SELECT coalesce(sum(l.gross), 0) INTO amount FROM quote_lines l
		WHERE l.org_id = q.org_id AND l.quote_id = q.id;
	ELSE
		amount := coalesce((b->>'amount')::numeric, 0);
	END IF;
	num := crm_next_number('contract');
	BEGIN
		INSERT INTO contracts (org_id, owner_id, number, customer_id,
		    opportunity_id, quote_id, template_id, title, amount,
		    currency, start_date, end_date, terms)
		VALUES (crm_org(), owner, num, cu.id,
		    coalesce(o.id, q.opportunity_id), q.id, t.id, b->>'title',
		    amount, cur, (b->>'start_date')::date,
		    (b->>'end_date')::date,
		    CASE WHEN t.id IS NOT NULL THEN crm_template_render(t.body,
			jsonb_build_object('customer_name', cu.name,
			'amount', crm_money_text(amount), 'currency', cur,
			'contract_number', num,
			'start_date', b->>'start_date',
			'end_date', b->>'end_date',
			'owner_name', (SELECT u.name FROM users u
			    WHERE u.id = owner)))
		    ELSE b->>'terms' END)
		RETURNING * INTO c;
	EXCEPTION WHEN unique_violation THEN
		PERFORM crm_raise('409', 'This quote already has its contract.');
	END;
	RETURN contract_json(c)::text;
END
$$;

-- GET /v1/contracts/{id}: NULL (404) when unseen.
CREATE FUNCTION api_contracts_get(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	RETURN (SELECT contract_json(c) FROM contracts c
	    WHERE id = p_id)::text;
END
$$;

-- GET /v1/contracts: filters status, customer_id, opportunity_id,
-- owner_id; newest first, keyset on (created_at, id).
CREATE FUNCTION api_contracts_list(p jsonb, f jsonb) RETURNS text
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

-- The contract `p_id` for a change, locked: NULL when the caller cannot
-- see it; 403 when they see it but may not change it; 412 when
-- `p_if_match` names another version.
CREATE FUNCTION crm_contract_for_change(p_id uuid, p_if_match integer)
RETURNS contracts
LANGUAGE plpgsql AS $$
DECLARE
	c	contracts;
BEGIN
	SELECT * INTO c FROM contracts WHERE id = p_id FOR UPDATE;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF NOT crm_mine(c.owner_id) THEN
		PERFORM crm_raise('403', 'You may read this contract but not '
		    'change it.');
	END IF;
	IF p_if_match IS NOT NULL AND p_if_match <> c.version THEN
		PERFORM crm_raise('412', 'The contract changed since you read '
		    'it (version ' || c.version || ').');
	END IF;
	RETURN c;
END
$$;

-- PATCH /v1/contracts/{id} {title?, amount?, currency?, start_date?,
-- end_date?, terms?}: drafts and rejected contracts only (409 otherwise);
-- If-Match optional.
CREATE FUNCTION api_contracts_update(p jsonb, p_id uuid, b jsonb,
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

-- Whether the bound caller may approve or reject contract `c`: an admin,
-- or the owner's manager or anyone above them in the reporting line; never
-- the owner.
CREATE FUNCTION crm_contract_approver(c contracts) RETURNS boolean
LANGUAGE sql STABLE AS $$
	SELECT crm_user() IS DISTINCT FROM c.owner_id AND
	    (crm_role() = 'admin' OR crm_user() IN (
		WITH RECURSIVE up(id) AS (
			SELECT u.manager_id FROM users u WHERE u.id = c.owner_id
			UNION
			SELECT u.manager_id FROM users u JOIN up ON u.id = up.id
		)
		SELECT id FROM up WHERE id IS NOT NULL))
$$;

-- Move contract `c` (locked by crm_contract_for_change) to `want`, with
-- `note` in its event: 409 naming the allowed statuses when the move is
-- not one of crm_contract_next; a move to the status it has changes
-- nothing. Returns the row as it is afterwards.
CREATE FUNCTION crm_contract_move(c contracts, want text, note text)
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

-- The contract actions without their own rules: POST
-- /v1/contracts/{id}/submit (draft|rejected -> pending_approval),
-- /fulfil (signed -> fulfilled), /cancel (draft|rejected -> cancelled).
-- NULL (404) when unseen; 409 naming the allowed statuses; If-Match
-- optional.
CREATE FUNCTION api_contracts_move(p jsonb, p_id uuid, want text,
    p_if_match integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	c	contracts;
BEGIN
	PERFORM crm_bind(p);
	IF want NOT IN ('pending_approval', 'fulfilled', 'cancelled') THEN
		PERFORM crm_raise('500', 'No such contract action.');
	END IF;
	c := crm_contract_for_change(p_id, p_if_match);
	IF c.id IS NULL THEN
		RETURN NULL;
	END IF;
	RETURN contract_json(crm_contract_move(c, want, NULL))::text;
END
$$;

-- POST /v1/contracts/{id}/approve and /reject {reason}: pending_approval
-- -> approved | rejected, decided by an admin or someone above the owner
-- in the reporting line (crm_contract_approver). 404 for a contract the
-- caller cannot see; 403 for anyone else who sees it, the owner and
-- executives included; 409 naming the allowed statuses.
CREATE FUNCTION api_contracts_decide(p jsonb, p_id uuid, want text, b jsonb,
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
	IF p_if_match IS NOT NULL AND p_if_match <> c.version THEN
		PERFORM crm_raise('412', 'The contract changed since you read '
		    'it (version ' || c.version || ').');
	END IF;
	RETURN contract_json(crm_contract_move(c, want, b->>'reason'))::text;
END
$$;

-- POST /v1/contracts/{id}/sign {signed_at?}: approved -> signed (409
-- naming the allowed statuses otherwise), signed now unless said (not in
-- the future: 422). In the same transaction the linked opportunity, if
-- still open, moves to its pipeline's won stage, so its history, the
-- funnel and the forecast see the win; 403 when the caller cannot change
-- that opportunity (someone who works on it must sign).
CREATE FUNCTION api_contracts_sign(p jsonb, p_id uuid, b jsonb,
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
	IF c.status = 'signed' THEN
		RETURN contract_json(c)::text;
	END IF;
	IF at > now() + interval '5 minutes' THEN
		PERFORM crm_raise_fields('422', 'The signature is invalid; see '
		    'errors.', jsonb_build_array(crm_field_error('signed_at',
		    'range', '''signed_at'' cannot be in the future.')));
	END IF;
	UPDATE contracts SET status = 'signed', signed_at = at
	WHERE id = p_id
	RETURNING * INTO c;

	IF c.opportunity_id IS NOT NULL THEN
		SELECT * INTO o FROM opportunities WHERE id = c.opportunity_id;
		IF NOT FOUND OR NOT crm_mine(o.owner_id) THEN
			PERFORM crm_raise('403', 'You cannot change the '
			    'contract''s opportunity; someone who works on it '
			    'must sign.');
		END IF;
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

-- GET /v1/contracts/{id}/events: every status the contract took, oldest
-- first; NULL (404) when unseen.
CREATE FUNCTION api_contracts_events(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	IF NOT EXISTS (SELECT 1 FROM contracts WHERE id = p_id) THEN
		RETURN NULL;
	END IF;
	RETURN json_build_object('data', coalesce((SELECT json_agg(
	    json_build_object('from_status', e.from_status,
		'to_status', e.to_status, 'actor_id', e.actor_id,
		'note', e.note, 'at', e.at) ORDER BY e.id)
	    FROM contract_events e WHERE e.contract_id = p_id), '[]'))::text;
END
$$;

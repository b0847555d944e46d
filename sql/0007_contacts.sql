-- 0007 contacts (R11): many per customer, with their buying role. A
-- contact is visible exactly when its customer is, and changeable exactly
-- when its customer is (row-level security through the customer).

CREATE TABLE contacts (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	org_id		uuid NOT NULL REFERENCES organizations (id),
	customer_id	uuid NOT NULL,
	name		text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
	title		text CHECK (length(title) <= 100),
	phones		text[] NOT NULL DEFAULT '{}'
			    CHECK (cardinality(phones) <= 10),
	email		text CHECK (length(email) <= 254),
	birthday	date,
	buying_role	text NOT NULL DEFAULT 'other' CHECK (buying_role IN
			    ('decision_maker', 'influencer', 'user',
			    'gatekeeper', 'other')),
	notes		text CHECK (length(notes) <= 10000),
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	deleted_at	timestamptz,
	version		integer NOT NULL DEFAULT 1,
	UNIQUE (org_id, id),
	FOREIGN KEY (org_id, customer_id) REFERENCES customers (org_id, id)
);
CREATE INDEX contacts_customer_idx ON contacts (org_id, customer_id,
    created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX contacts_org_page_idx ON contacts (org_id, created_at DESC,
    id DESC) WHERE deleted_at IS NULL;

ALTER TABLE contacts ENABLE ROW LEVEL SECURITY;
ALTER TABLE contacts FORCE ROW LEVEL SECURITY;
-- The subqueries run under the customers policies of the caller.
CREATE POLICY contacts_read ON contacts FOR SELECT
	USING (org_id = crm_org() AND EXISTS (
	    SELECT 1 FROM customers c WHERE c.id = customer_id
	    AND c.deleted_at IS NULL));
CREATE POLICY contacts_insert ON contacts FOR INSERT
	WITH CHECK (org_id = crm_org() AND EXISTS (
	    SELECT 1 FROM customers c WHERE c.id = customer_id
	    AND c.deleted_at IS NULL
	    AND (crm_org_wide() OR c.owner_id = ANY (crm_team()))));
CREATE POLICY contacts_update ON contacts FOR UPDATE
	USING (org_id = crm_org() AND EXISTS (
	    SELECT 1 FROM customers c WHERE c.id = customer_id
	    AND (crm_org_wide() OR c.owner_id = ANY (crm_team()))))
	WITH CHECK (org_id = crm_org() AND EXISTS (
	    SELECT 1 FROM customers c WHERE c.id = customer_id
	    AND (crm_org_wide() OR c.owner_id = ANY (crm_team()))));
GRANT SELECT, INSERT, UPDATE ON contacts TO crm_app;

CREATE TRIGGER contacts_touch BEFORE UPDATE ON contacts
	FOR EACH ROW EXECUTE FUNCTION crm_touch();
CREATE TRIGGER contacts_audit AFTER INSERT OR UPDATE OR DELETE ON contacts
	FOR EACH ROW EXECUTE FUNCTION crm_audit_row();

CREATE FUNCTION contact_json(c contacts) RETURNS json
LANGUAGE sql STABLE AS $$
	SELECT json_build_object('id', c.id, 'customer_id', c.customer_id,
	    'name', c.name, 'title', c.title, 'phones', c.phones,
	    'email', c.email, 'birthday', c.birthday,
	    'buying_role', c.buying_role, 'notes', c.notes,
	    'created_at', c.created_at, 'updated_at', c.updated_at,
	    'version', c.version)
$$;

-- Answer for a customer the caller cannot see (NULL: 404), or may see
-- but not change (403).
CREATE FUNCTION crm_customer_writable(p_id uuid) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
	owner	uuid;
BEGIN
	SELECT owner_id INTO owner FROM customers
	WHERE id = p_id AND deleted_at IS NULL;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF NOT (crm_org_wide() OR owner = ANY (crm_team())) THEN
		PERFORM crm_raise('403', 'You may read this customer but not '
		    'change it.');
	END IF;
	RETURN true;
END
$$;

-- POST /v1/customers/{id}/contacts
CREATE FUNCTION api_contacts_create(p jsonb, p_customer uuid, b jsonb)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	c	contacts;
BEGIN
	PERFORM crm_bind(p);
	IF crm_customer_writable(p_customer) IS NULL THEN
		RETURN NULL;
	END IF;
	INSERT INTO contacts (org_id, customer_id, name, title, phones, email,
	    birthday, buying_role, notes)
	VALUES (crm_org(), p_customer, b->>'name', b->>'title',
	    coalesce(ARRAY(SELECT jsonb_array_elements_text(b->'phones')),
		'{}'),
	    b->>'email', (b->>'birthday')::date,
	    coalesce(b->>'buying_role', 'other'), b->>'notes')
	RETURNING * INTO c;
	RETURN contact_json(c)::text;
END
$$;

-- GET /v1/customers/{id}/contacts and GET /v1/contacts: keyset pages
-- (created_at, id), oldest first; p_customer NULL lists every visible one.
CREATE FUNCTION api_contacts_list(p jsonb, p_customer uuid, f jsonb)
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
	IF p_customer IS NOT NULL AND NOT EXISTS (SELECT 1 FROM customers
	    WHERE id = p_customer AND deleted_at IS NULL) THEN
		RETURN NULL;
	END IF;
	IF f ? 'cursor' THEN
		SELECT t, i INTO cur_t, cur_i FROM crm_cursor_decode(f->>'cursor');
	END IF;
	WITH page AS (
		SELECT c, c.created_at, c.id, row_number() OVER (ORDER BY
		    c.created_at, c.id) AS n
		FROM contacts c
		WHERE c.deleted_at IS NULL
		  AND (p_customer IS NULL OR c.customer_id = p_customer)
		  AND (NOT f ? 'buying_role' OR c.buying_role = f->>'buying_role')
		  AND (NOT f ? 'q' OR strpos(lower(c.name || ' ' ||
		       coalesce(c.email, '') || ' ' ||
		       array_to_string(c.phones, ' ')), lower(f->>'q')) > 0)
		  AND (cur_t IS NULL OR (c.created_at, c.id) >
		       (cur_t, cur_i::uuid))
		ORDER BY c.created_at, c.id
		LIMIT lim + 1
	)
	SELECT coalesce(json_agg(contact_json(page.c) ORDER BY n)
		FILTER (WHERE n <= lim), '[]'),
	    CASE WHEN count(*) > lim THEN (array_agg(crm_cursor_encode(
		page.created_at, page.id::text)) FILTER (WHERE n = lim))[1] END
	INTO rows, nxt
	FROM page;
	RETURN json_build_object('data', rows, 'next_cursor', nxt)::text;
END
$$;

-- GET /v1/contacts/{id}
CREATE FUNCTION api_contacts_get(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	RETURN (SELECT contact_json(c) FROM contacts c
	    WHERE id = p_id AND deleted_at IS NULL)::text;
END
$$;

-- PATCH /v1/contacts/{id}: merge patch, If-Match optional.
CREATE FUNCTION api_contacts_update(p jsonb, p_id uuid, b jsonb,
    p_if_match integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	cur	contacts;
	c	contacts;
BEGIN
	PERFORM crm_bind(p);
	SELECT * INTO cur FROM contacts WHERE id = p_id AND deleted_at IS NULL;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	PERFORM crm_customer_writable(cur.customer_id);
	IF p_if_match IS NOT NULL AND p_if_match <> cur.version THEN
		PERFORM crm_raise('412', 'The contact changed since you read '
		    'it (version ' || cur.version || ').');
	END IF;
	UPDATE contacts SET
	    name = CASE WHEN b ? 'name' THEN b->>'name' ELSE name END,
	    title = CASE WHEN b ? 'title' THEN b->>'title' ELSE title END,
	    phones = CASE WHEN b ? 'phones' THEN coalesce(ARRAY(SELECT
		jsonb_array_elements_text(b->'phones')), '{}') ELSE phones END,
	    email = CASE WHEN b ? 'email' THEN b->>'email' ELSE email END,
	    birthday = CASE WHEN b ? 'birthday' THEN (b->>'birthday')::date
		ELSE birthday END,
	    buying_role = CASE WHEN b ? 'buying_role' THEN b->>'buying_role'
		ELSE buying_role END,
	    notes = CASE WHEN b ? 'notes' THEN b->>'notes' ELSE notes END
	WHERE id = p_id
	RETURNING * INTO c;
	RETURN contact_json(c)::text;
END
$$;

-- DELETE /v1/contacts/{id}: soft delete.
CREATE FUNCTION api_contacts_delete(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	cur	contacts;
BEGIN
	PERFORM crm_bind(p);
	SELECT * INTO cur FROM contacts WHERE id = p_id AND deleted_at IS NULL;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	PERFORM crm_customer_writable(cur.customer_id);
	UPDATE contacts SET deleted_at = now() WHERE id = p_id;
	RETURN '{}';
END
$$;

-- 0008 the customer's surroundings: the 360° view (R14), the company tree
-- and contact influence relations (R16), duplicates and merge (R17).

-- --- contact relations (R16) ----------------------------------------------

CREATE TABLE contact_relations (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	org_id		uuid NOT NULL,
	from_contact	uuid NOT NULL,
	to_contact	uuid NOT NULL,
	kind		text NOT NULL CHECK (kind IN ('reports_to', 'influences')),
	created_at	timestamptz NOT NULL DEFAULT now(),
	FOREIGN KEY (org_id, from_contact) REFERENCES contacts (org_id, id),
	FOREIGN KEY (org_id, to_contact) REFERENCES contacts (org_id, id),
	UNIQUE (org_id, from_contact, to_contact, kind),
	CHECK (from_contact <> to_contact)
);
CREATE INDEX contact_relations_to_idx ON contact_relations (org_id,
    to_contact);
ALTER TABLE contact_relations ENABLE ROW LEVEL SECURITY;
ALTER TABLE contact_relations FORCE ROW LEVEL SECURITY;
-- Visible when both ends are; written when the caller may change both.
CREATE POLICY contact_relations_read ON contact_relations FOR SELECT
	USING (org_id = crm_org()
	    AND EXISTS (SELECT 1 FROM contacts c WHERE c.id = from_contact)
	    AND EXISTS (SELECT 1 FROM contacts c WHERE c.id = to_contact));
CREATE POLICY contact_relations_write ON contact_relations FOR INSERT
	WITH CHECK (org_id = crm_org() AND NOT EXISTS (
	    SELECT 1 FROM contacts ct JOIN customers cu ON cu.id = ct.customer_id
	    WHERE ct.id IN (from_contact, to_contact)
	    AND NOT (crm_org_wide() OR cu.owner_id = ANY (crm_team()))));
CREATE POLICY contact_relations_delete ON contact_relations FOR DELETE
	USING (org_id = crm_org() AND NOT EXISTS (
	    SELECT 1 FROM contacts ct JOIN customers cu ON cu.id = ct.customer_id
	    WHERE ct.id IN (from_contact, to_contact)
	    AND NOT (crm_org_wide() OR cu.owner_id = ANY (crm_team()))));
GRANT SELECT, INSERT, DELETE ON contact_relations TO crm_app;
CREATE TRIGGER contact_relations_audit AFTER INSERT OR DELETE
	ON contact_relations FOR EACH ROW EXECUTE FUNCTION crm_audit_row();

-- "Reports to" is a tree too.
CREATE FUNCTION crm_contact_relations_no_cycle() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
	IF NEW.kind = 'reports_to' AND EXISTS (
		WITH RECURSIVE up(id, depth) AS (
			SELECT NEW.to_contact, 1
			UNION ALL
			SELECT r.to_contact, up.depth + 1 FROM contact_relations r
			JOIN up ON r.from_contact = up.id
			WHERE r.kind = 'reports_to' AND up.depth < 100
		)
		SELECT 1 FROM up WHERE id = NEW.from_contact)
	THEN
		PERFORM crm_raise('422', 'reports_to would make a cycle.');
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER contact_relations_no_cycle BEFORE INSERT ON contact_relations
	FOR EACH ROW EXECUTE FUNCTION crm_contact_relations_no_cycle();

CREATE FUNCTION relation_json(r contact_relations) RETURNS json
LANGUAGE sql STABLE AS $$
	SELECT json_build_object('id', r.id, 'from_contact_id', r.from_contact,
	    'to_contact_id', r.to_contact, 'kind', r.kind,
	    'created_at', r.created_at)
$$;

-- GET /v1/contacts/{id}/relations: both directions.
CREATE FUNCTION api_contact_relations_list(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	IF NOT EXISTS (SELECT 1 FROM contacts WHERE id = p_id
	    AND deleted_at IS NULL) THEN
		RETURN NULL;
	END IF;
	RETURN json_build_object('data', coalesce((SELECT json_agg(
	    relation_json(r) ORDER BY r.created_at, r.id)
	    FROM contact_relations r
	    WHERE p_id IN (r.from_contact, r.to_contact)), '[]'))::text;
END
$$;

-- POST /v1/contacts/{id}/relations {to_contact_id, kind}
CREATE FUNCTION api_contact_relations_create(p jsonb, p_id uuid, b jsonb)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	r	contact_relations;
	cust	uuid;
BEGIN
	PERFORM crm_bind(p);
	SELECT customer_id INTO cust FROM contacts
	WHERE id = p_id AND deleted_at IS NULL;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	PERFORM crm_customer_writable(cust);
	IF NOT EXISTS (SELECT 1 FROM contacts WHERE deleted_at IS NULL
	    AND id = (b->>'to_contact_id')::uuid) THEN
		PERFORM crm_raise('422', 'to_contact_id names no contact you '
		    'can see.');
	END IF;
	IF (b->>'to_contact_id')::uuid = p_id THEN
		PERFORM crm_raise('422', 'A contact cannot relate to itself.');
	END IF;
	BEGIN
		INSERT INTO contact_relations (org_id, from_contact,
		    to_contact, kind)
		VALUES (crm_org(), p_id, (b->>'to_contact_id')::uuid,
		    b->>'kind')
		RETURNING * INTO r;
	EXCEPTION
		WHEN unique_violation THEN
			PERFORM crm_raise('409', 'This relation exists '
			    'already.');
		WHEN insufficient_privilege THEN
			PERFORM crm_raise('403', 'You may not change both '
			    'contacts.');
	END;
	RETURN relation_json(r)::text;
END
$$;

-- DELETE /v1/contacts/{id}/relations/{relation_id}
CREATE FUNCTION api_contact_relations_delete(p jsonb, p_id uuid,
    p_relation uuid)
RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	IF NOT EXISTS (SELECT 1 FROM contact_relations WHERE id = p_relation
	    AND p_id IN (from_contact, to_contact)) THEN
		RETURN NULL;
	END IF;
	DELETE FROM contact_relations WHERE id = p_relation;
	IF NOT FOUND THEN
		PERFORM crm_raise('403', 'You may not change both contacts.');
	END IF;
	RETURN '{}';
END
$$;

-- --- the company tree (R16) ------------------------------------------------

-- GET /v1/customers/{id}/graph?depth=: ancestors and descendants up to
-- `depth` levels (the tree walks only customers the caller can see), the
-- contacts of all of them and the relations among those contacts.
CREATE FUNCTION api_customers_graph(p jsonb, p_id uuid, f jsonb)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	max_depth	integer := coalesce((f->>'depth')::int, 3);
	result		json;
BEGIN
	PERFORM crm_bind(p);
	IF NOT EXISTS (SELECT 1 FROM customers WHERE id = p_id
	    AND deleted_at IS NULL) THEN
		RETURN NULL;
	END IF;
	WITH RECURSIVE up(id, depth) AS (
		SELECT parent_id, 1 FROM customers WHERE id = p_id
		    AND parent_id IS NOT NULL
		UNION ALL
		SELECT c.parent_id, up.depth + 1 FROM customers c
		JOIN up ON c.id = up.id
		WHERE c.parent_id IS NOT NULL AND up.depth < max_depth
	), down(id, parent_id, depth) AS (
		SELECT id, parent_id, 1 FROM customers
		WHERE parent_id = p_id AND deleted_at IS NULL
		UNION ALL
		SELECT c.id, c.parent_id, down.depth + 1 FROM customers c
		JOIN down ON c.parent_id = down.id
		WHERE c.deleted_at IS NULL AND down.depth < max_depth
	), nodes AS (
		SELECT p_id AS id
		UNION SELECT up.id FROM up JOIN customers c ON c.id = up.id
		UNION SELECT id FROM down
	), people AS (
		-- An API key without contacts:read gets the tree only.
		SELECT ct FROM contacts ct JOIN nodes n ON ct.customer_id = n.id
		WHERE ct.deleted_at IS NULL AND crm_scope_ok('contacts:read')
	)
	SELECT json_build_object(
	    'customer_id', p_id,
	    'ancestors', coalesce((SELECT json_agg(json_build_object(
		'id', c.id, 'name', c.name, 'parent_id', c.parent_id,
		'depth', up.depth) ORDER BY up.depth)
		FROM up JOIN customers c ON c.id = up.id), '[]'),
	    'descendants', coalesce((SELECT json_agg(json_build_object(
		'id', c.id, 'name', c.name, 'parent_id', down.parent_id,
		'depth', down.depth) ORDER BY down.depth, c.name, c.id)
		FROM down JOIN customers c ON c.id = down.id), '[]'),
	    'contacts', coalesce((SELECT json_agg(contact_json((people).ct)
		ORDER BY (people).ct.created_at, (people).ct.id) FROM people),
		'[]'),
	    'relations', coalesce((SELECT json_agg(relation_json(r)
		ORDER BY r.created_at, r.id) FROM contact_relations r
		WHERE r.from_contact IN (SELECT (people).ct.id FROM people)
		  AND r.to_contact IN (SELECT (people).ct.id FROM people)),
		'[]'))
	INTO result;
	RETURN result::text;
END
$$;

-- --- the 360° view (R14) ---------------------------------------------------

-- GET /v1/customers/{id}/overview: one call, one statement. Modules that
-- do not exist yet (opportunities, activities, orders, tickets, campaigns)
-- answer empty arrays until their migrations fill them in.
CREATE FUNCTION api_customers_overview(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	c	customers;
BEGIN
	PERFORM crm_bind(p);
	SELECT * INTO c FROM customers WHERE id = p_id AND deleted_at IS NULL;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
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
	    'opportunities', '[]'::json,
	    'activities', '[]'::json,
	    'orders', '[]'::json,
	    'subscriptions', '[]'::json,
	    'tickets', '[]'::json,
	    'campaigns', '[]'::json)::text;
END
$$;

-- --- duplicates and merge (R17) --------------------------------------------

ALTER TABLE customers ADD COLUMN merged_into uuid;
CREATE INDEX customers_phone_digits_idx ON customers (org_id,
    regexp_replace(phone, '[^0-9]', '', 'g')) WHERE phone IS NOT NULL;
CREATE INDEX customers_email_idx ON customers (org_id, lower(email))
    WHERE email IS NOT NULL;
CREATE INDEX customers_name_trgm_idx ON customers USING gin
    (lower(name) gin_trgm_ops);

-- GET /v1/customers/{id}/duplicates: likely duplicates the caller can see,
-- scored: the same phone digits 0.5, the same email 0.5, name similarity
-- up to 0.5 (pg_trgm); at most 20, best first.
CREATE FUNCTION api_customers_duplicates(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	c	customers;
	digits	text;
BEGIN
	PERFORM crm_bind(p);
	SELECT * INTO c FROM customers WHERE id = p_id AND deleted_at IS NULL;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	digits := nullif(regexp_replace(coalesce(c.phone, ''), '[^0-9]', '',
	    'g'), '');
	RETURN json_build_object('data', coalesce((
	    SELECT json_agg(json_build_object('customer', customer_json(x.r),
		'score', round(x.score::numeric, 2), 'reasons', x.reasons)
		ORDER BY x.score DESC, (x.r).id)
	    FROM (
		SELECT d AS r, s.score, s.reasons FROM customers d,
		LATERAL (SELECT
		    (CASE WHEN digits IS NOT NULL AND regexp_replace(d.phone,
			'[^0-9]', '', 'g') = digits THEN 0.5 ELSE 0 END) +
		    (CASE WHEN lower(d.email) = lower(c.email) THEN 0.5
			ELSE 0 END) +
		    0.5 * similarity(lower(d.name), lower(c.name)) AS score,
		    array_remove(ARRAY[
			CASE WHEN digits IS NOT NULL AND regexp_replace(
			    d.phone, '[^0-9]', '', 'g') = digits
			    THEN 'phone' END,
			CASE WHEN lower(d.email) = lower(c.email)
			    THEN 'email' END,
			CASE WHEN similarity(lower(d.name), lower(c.name))
			    >= 0.3 THEN 'name' END], NULL) AS reasons) s
		WHERE d.id <> c.id AND d.deleted_at IS NULL
		  AND (regexp_replace(d.phone, '[^0-9]', '', 'g') = digits
		       OR lower(d.email) = lower(c.email)
		       OR lower(d.name) % lower(c.name))
		ORDER BY s.score DESC, d.id
		LIMIT 20) x), '[]'))::text;
END
$$;

-- The "merge" audit entry, written only for a merge that happened (each
-- merged customer points at the survivor): crm_app cannot write the audit
-- log otherwise.
CREATE FUNCTION crm_audit_merge(p_survivor uuid, p_merged uuid[])
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	org	uuid;
BEGIN
	SELECT org_id INTO org FROM customers WHERE id = p_survivor
	    AND org_id = crm_org();
	IF org IS NULL OR (SELECT count(*) FROM customers WHERE id = ANY
	    (p_merged) AND merged_into = p_survivor AND org_id = org) <>
	    cardinality(p_merged) THEN
		PERFORM crm_raise('500', 'merge audit without a merge');
	END IF;
	PERFORM crm_audit_write(org, 'merge', 'customers', p_survivor,
	    jsonb_build_object('merged_ids', to_jsonb(p_merged)));
END
$$;
REVOKE ALL ON FUNCTION crm_audit_merge(uuid, uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm_audit_merge(uuid, uuid[]) TO crm_app;

-- POST /v1/customers/merge {survivor_id, merged_ids}: in one transaction,
-- move every contact and child company to the survivor, add the merged
-- ones' tags, and retire them (soft-deleted, merged_into the survivor).
-- Every change goes through the audit triggers, plus one "merge" entry.
CREATE FUNCTION api_customers_merge(p jsonb, b jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	survivor	uuid := (b->>'survivor_id')::uuid;
	merged		uuid[] := ARRAY(SELECT DISTINCT
			    jsonb_array_elements_text(b->'merged_ids')::uuid);
	s		customers;
	n		integer;
BEGIN
	PERFORM crm_bind(p);
	IF NOT crm_scope_ok('contacts:write') THEN
		PERFORM crm_raise('403', 'Merging moves contacts: the API key '
		    'needs contacts:write too.');
	END IF;
	IF survivor = ANY (merged) THEN
		PERFORM crm_raise('422', 'survivor_id cannot be among '
		    'merged_ids.');
	END IF;
	-- Every record must be one the caller sees and may change: an
	-- unseen one is reported exactly like one that does not exist.
	SELECT count(*) INTO n FROM customers
	WHERE id = ANY (merged || survivor) AND deleted_at IS NULL;
	IF n <> cardinality(merged) + 1 THEN
		PERFORM crm_raise('404', 'A customer to merge does not exist.');
	END IF;
	PERFORM crm_customer_writable(x) FROM unnest(merged || survivor) x;

	UPDATE contacts SET customer_id = survivor
	WHERE customer_id = ANY (merged);
	UPDATE customers SET parent_id = survivor
	WHERE parent_id = ANY (merged) AND id <> survivor;
	UPDATE customers SET tags = ARRAY(SELECT DISTINCT t FROM (
		SELECT unnest(tags) t FROM customers
		WHERE id = ANY (merged || survivor)) u ORDER BY 1)
	WHERE id = survivor;
	UPDATE customers SET deleted_at = now(), merged_into = survivor,
	    external_id = NULL, parent_id = NULL
	WHERE id = ANY (merged);
	PERFORM crm_audit_merge(survivor, merged);
	SELECT * INTO s FROM customers WHERE id = survivor;
	RETURN customer_json(s)::text;
END
$$;

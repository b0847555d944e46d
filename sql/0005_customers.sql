-- 0005 customers (R10, R12, R13, R15): the full record, soft delete, stage
-- history, and the indexes that keep a rep's list page and a search in
-- single-digit milliseconds at a million rows.

ALTER TABLE customers
	ADD COLUMN size text CHECK (size IN ('micro', 'small', 'medium',
	    'large', 'enterprise')),
	ADD COLUMN region text CHECK (length(region) <= 50),
	ADD COLUMN address text CHECK (length(address) <= 500),
	ADD COLUMN website text CHECK (length(website) <= 500),
	ADD COLUMN source text CHECK (length(source) <= 100),
	ADD COLUMN is_key_customer boolean NOT NULL DEFAULT false,
	ADD COLUMN lifecycle_stage text NOT NULL DEFAULT 'potential'
	    CHECK (lifecycle_stage IN ('potential', 'intent', 'won', 'repeat',
	    'churned', 'won_back')),
	ADD COLUMN tags text[] NOT NULL DEFAULT '{}'
	    CHECK (cardinality(tags) <= 50),
	ADD COLUMN parent_id uuid,
	ADD COLUMN external_id text CHECK (length(external_id) <= 100),
	ADD COLUMN notes text CHECK (length(notes) <= 10000),
	ADD COLUMN deleted_at timestamptz,
	ADD COLUMN custom jsonb NOT NULL DEFAULT '{}'
	    CHECK (jsonb_typeof(custom) = 'object'),
	ADD CONSTRAINT customers_org_id_key UNIQUE (org_id, id),
	ADD CONSTRAINT customers_parent_fk FOREIGN KEY (org_id, parent_id)
	    REFERENCES customers (org_id, id),
	ADD CONSTRAINT customers_parent_not_self CHECK (parent_id <> id);

CREATE UNIQUE INDEX customers_external_id_key ON customers (org_id,
    external_id) WHERE external_id IS NOT NULL;
-- A rep's page: their live customers, newest first.
CREATE INDEX customers_owner_page_idx ON customers (org_id, owner_id,
    created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX customers_org_page_idx ON customers (org_id, created_at DESC,
    id DESC) WHERE deleted_at IS NULL;
CREATE INDEX customers_tags_idx ON customers USING gin (tags);
CREATE INDEX customers_parent_idx ON customers (org_id, parent_id)
    WHERE parent_id IS NOT NULL;
DROP INDEX customers_org_owner_idx;

GRANT SELECT, INSERT, UPDATE ON customers TO crm_app;
REVOKE DELETE ON customers FROM crm_app;

-- --- lifecycle history (R13) --------------------------------------------

CREATE TABLE customer_stage_history (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	org_id		uuid NOT NULL,
	customer_id	uuid NOT NULL,
	from_stage	text,
	to_stage	text NOT NULL,
	changed_by	uuid,
	changed_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	FOREIGN KEY (org_id, customer_id) REFERENCES customers (org_id, id)
);
CREATE INDEX customer_stage_history_idx ON customer_stage_history
    (org_id, customer_id, id);
ALTER TABLE customer_stage_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_stage_history FORCE ROW LEVEL SECURITY;
-- Visible exactly when its customer is (the subquery runs under the
-- customers policies of the caller).
CREATE POLICY customer_stage_history_read ON customer_stage_history
	FOR SELECT USING (org_id = crm_org() AND EXISTS (
	    SELECT 1 FROM customers c WHERE c.id = customer_id));
GRANT SELECT ON customer_stage_history TO crm_app;

CREATE FUNCTION crm_customer_stage() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
	IF TG_OP = 'INSERT' OR
	    NEW.lifecycle_stage IS DISTINCT FROM OLD.lifecycle_stage THEN
		INSERT INTO customer_stage_history (org_id, customer_id,
		    from_stage, to_stage, changed_by)
		VALUES (NEW.org_id, NEW.id,
		    CASE WHEN TG_OP = 'UPDATE' THEN OLD.lifecycle_stage END,
		    NEW.lifecycle_stage, crm_user());
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER customers_stage AFTER INSERT OR UPDATE OF lifecycle_stage
	ON customers FOR EACH ROW EXECUTE FUNCTION crm_customer_stage();

-- --- the company tree: no cycles (R16) -----------------------------------

CREATE FUNCTION crm_customers_no_cycle() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
	IF NEW.parent_id IS NOT NULL AND EXISTS (
		WITH RECURSIVE up(id, depth) AS (
			SELECT NEW.parent_id, 1
			UNION ALL
			SELECT c.parent_id, up.depth + 1 FROM customers c
			JOIN up ON c.id = up.id
			WHERE c.parent_id IS NOT NULL AND up.depth < 100
		)
		SELECT 1 FROM up WHERE id = NEW.id)
	THEN
		PERFORM crm_raise('422',
		    'parent_id would make the company tree a cycle.');
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER customers_no_cycle BEFORE INSERT OR UPDATE OF parent_id
	ON customers FOR EACH ROW EXECUTE FUNCTION crm_customers_no_cycle();

-- --- search (R15): CJK substrings and Latin typos ------------------------
-- pg_trgm's trigrams cannot serve a two-character Chinese query (糖酒), so
-- a GIN index over the character bigrams of the searchable text finds
-- candidates for any query of two or more characters, rechecked with a
-- substring test; trigram word similarity catches misspelt Latin names.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE FUNCTION crm_bigrams(t text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
	SELECT coalesce(array_agg(DISTINCT substr(t, i, 2)), '{}')
	FROM generate_series(1, length(t) - 1) AS i
$$;

ALTER TABLE customers ADD COLUMN search text GENERATED ALWAYS AS (
	lower(name || ' ' || coalesce(phone, '') || ' ' || coalesce(email, ''))
) STORED;
CREATE INDEX customers_search_bigram_idx ON customers
    USING gin (crm_bigrams(search));
CREATE INDEX customers_search_trgm_idx ON customers
    USING gin (search gin_trgm_ops);

-- Whether customer text `search` matches the query `q` (lowercased).
CREATE FUNCTION crm_matches(search text, q text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT (crm_bigrams(search) @> crm_bigrams(q) AND
	    strpos(search, q) > 0) OR (length(q) >= 4 AND q <% search)
$$;

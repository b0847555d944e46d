-- 0030 Idempotency-Key on POST (issue 7, after Stripe and
-- draft-ietf-httpapi-idempotency-key-header).
--
-- A POST sent with an Idempotency-Key runs its one statement through
-- crm_idempotent(): in the request's single transaction it claims the key
-- for the caller, runs the statement the handler would have run, and
-- stores its answer. So the work and the stored answer commit together or
-- not at all: a crash in between leaves neither, and the retry runs the
-- work once. A retry of a committed request gets the stored answer back
-- without running anything; a concurrent one waits for the first (its
-- insert blocks on the key's unique index) and then gets its answer.
-- Requests that fail roll back, key included: an error is never stored,
-- since it wrote nothing, and the same key may be retried.
--
-- Keys belong to (organisation, caller): the API key when one is used,
-- else the person. They live 24 hours; expired ones are purged lazily,
-- a few with every idempotent request.

-- The caller that owns idempotency keys: the API key, else the person.
CREATE FUNCTION crm_caller() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT coalesce(crm_setting('app.key_id')::uuid, crm_user())
$$;

CREATE TABLE idempotency_keys (
	org_id		uuid NOT NULL REFERENCES organizations (id),
	caller_id	uuid NOT NULL,
	key		text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
	user_id		uuid NOT NULL,
	api_key_id	uuid,
	-- HMAC-SHA256 (server key) of method, path and canonical body
	request_hash	text NOT NULL,
	-- the statement's answer, as the handler got it (NULL: 404)
	response	text,
	request_id	text,
	created_at	timestamptz NOT NULL DEFAULT now(),
	expires_at	timestamptz NOT NULL,
	PRIMARY KEY (org_id, caller_id, key)
);
CREATE INDEX idempotency_keys_expiry_idx ON idempotency_keys (expires_at);

ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY idempotency_keys_caller ON idempotency_keys FOR ALL
	USING (org_id = crm_org() AND caller_id = crm_caller())
	WITH CHECK (org_id = crm_org() AND caller_id = crm_caller());
GRANT SELECT, INSERT, UPDATE ON idempotency_keys TO crm_app;

-- Delete up to `n` expired keys of any organisation (oldest first,
-- skipping rows another transaction holds). Called by crm_idempotent()
-- with every idempotent request, so expired keys never pile up faster
-- than they are removed; an operator may call it with a larger `n`.
CREATE FUNCTION crm_idempotency_purge(n integer) RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
	WITH old AS (
		SELECT org_id, caller_id, key FROM idempotency_keys
		WHERE expires_at <= now()
		ORDER BY expires_at
		LIMIT n
		FOR UPDATE SKIP LOCKED
	), gone AS (
		DELETE FROM idempotency_keys k USING old
		WHERE (k.org_id, k.caller_id, k.key) =
		    (old.org_id, old.caller_id, old.key)
		RETURNING 1
	)
	SELECT count(*)::integer FROM gone
$$;
REVOKE ALL ON FUNCTION crm_idempotency_purge(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm_idempotency_purge(integer) TO crm_app;

-- The statement `stmt` with each placeholder $n replaced by the n-th
-- element of `args` (a JSON array of strings and nulls) as a quoted
-- literal. A literal is typed by the function it is passed to, as the
-- placeholder was, so the statement means what it meant prepared. The
-- statement is the server's own constant; only the values come from the
-- request, and they only as literals (quote_nullable).
CREATE FUNCTION crm_idempotent_sql(stmt text, args jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	parts	text[] := regexp_split_to_array(stmt, '\$[0-9]+');
	m	text[];
	n	integer;
	i	integer := 2;
	result	text := parts[1];
BEGIN
	FOR m IN SELECT regexp_matches(stmt, '\$([0-9]+)', 'g') LOOP
		n := m[1]::integer;
		IF n < 1 OR n > jsonb_array_length(args) THEN
			RAISE EXCEPTION 'crm_idempotent_sql: no value for $%', n;
		END IF;
		result := result || quote_nullable(args->>(n - 1)) || parts[i];
		i := i + 1;
	END LOOP;
	RETURN result;
END
$$;

-- Every POST with an Idempotency-Key: `p_key` (1-255 printable ASCII,
-- checked by the server), `p_hash` the request's hash, `p_statement` the
-- handler's statement (a constant "SELECT api_...(...)" whose $1 is the
-- caller's principal) and `p_args` its parameters. Answers the
-- statement's value and whether it is a replay of a stored one.
-- Errors: CR409 while a request with the key is still running after 5 s
-- of waiting; CR422 when the key was used for a different request; the
-- statement's own errors (nothing is stored then).
CREATE FUNCTION crm_idempotent(p_key text, p_hash text, p_statement text,
    p_args jsonb, OUT value text, OUT replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
	k		idempotency_keys;
	claimed		boolean;
	timeout		text := current_setting('lock_timeout');
BEGIN
	IF p_statement !~ '^SELECT api_[a-z0-9_]+\([^;]*\)$' OR
	    jsonb_typeof(p_args) IS DISTINCT FROM 'array' THEN
		RAISE EXCEPTION 'crm_idempotent: not an api_* call: %',
		    p_statement;
	END IF;
	PERFORM crm_bind((p_args->>0)::jsonb);
	PERFORM crm_idempotency_purge(10);

	-- Claim the key, or take over an expired one. A request that holds
	-- it (running, or replaying) makes this wait; not beyond 5 s.
	PERFORM set_config('lock_timeout', '5s', true);
	BEGIN
		INSERT INTO idempotency_keys AS i (org_id, caller_id, key,
		    user_id, api_key_id, request_hash, request_id, expires_at)
		VALUES (crm_org(), crm_caller(), p_key, crm_user(),
		    crm_setting('app.key_id')::uuid, p_hash,
		    crm_setting('app.request_id'), now() + interval '24 hours')
		ON CONFLICT (org_id, caller_id, key) DO UPDATE SET
		    user_id = EXCLUDED.user_id,
		    api_key_id = EXCLUDED.api_key_id,
		    request_hash = EXCLUDED.request_hash, response = NULL,
		    request_id = EXCLUDED.request_id, created_at = now(),
		    expires_at = EXCLUDED.expires_at
		WHERE i.expires_at <= now()
		RETURNING true INTO claimed;
	EXCEPTION WHEN lock_not_available THEN
		PERFORM crm_raise('409', 'A request with this Idempotency-Key '
		    'is still running; retry it shortly.');
	END;
	PERFORM set_config('lock_timeout', timeout, true);

	IF claimed IS NULL THEN
		-- Committed before: ON CONFLICT locked the row, it stays.
		SELECT * INTO k FROM idempotency_keys
		WHERE org_id = crm_org() AND caller_id = crm_caller()
		  AND key = p_key;
		IF NOT FOUND THEN
			PERFORM crm_raise('409', 'A request with this '
			    'Idempotency-Key just ended; retry it.');
		END IF;
		IF k.request_hash <> p_hash THEN
			PERFORM crm_raise_fields('422', 'This Idempotency-Key '
			    'was used for a different request; use a new key.',
			    jsonb_build_array(crm_field_error('Idempotency-Key',
			    'reused', 'The key was first sent with another '
			    'method, path or body.')));
		END IF;
		value := k.response;
		replayed := true;
		RETURN;
	END IF;

	EXECUTE crm_idempotent_sql(p_statement, p_args) INTO value;
	UPDATE idempotency_keys SET response = value
	WHERE org_id = crm_org() AND caller_id = crm_caller() AND key = p_key;
	replayed := false;
END
$$;

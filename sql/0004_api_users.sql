-- 0004 the API's statements for users, the caller, API keys and the audit
-- log. Each api_* function is one request: it binds the caller first
-- (crm_bind), runs as crm_app under row-level security (SECURITY
-- INVOKER), and returns the response body as JSON text. NULL means 404.
-- Errors are raised as CRnnn (HTTP nnn, message shown to the client).

-- The public shape of a user.
CREATE FUNCTION user_json(u_id uuid) RETURNS json
LANGUAGE sql STABLE AS $$
	SELECT json_build_object('id', id, 'email', email, 'name', name,
	    'role', role, 'manager_id', manager_id, 'active', active,
	    'created_at', created_at, 'updated_at', updated_at,
	    'version', version)
	FROM users WHERE id = u_id
$$;

-- Keyset cursors: opaque to clients, (created_at, id) inside.
CREATE FUNCTION crm_cursor_encode(t timestamptz, i text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT translate(encode(convert_to(json_build_array(t, i)::text,
	    'UTF8'), 'base64'), E'+/=\n', '-_')
$$;

CREATE FUNCTION crm_cursor_decode(c text, OUT t timestamptz, OUT i text)
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	b64	text := translate(c, '-_', '+/');
	j	jsonb;
BEGIN
	b64 := b64 || repeat('=', (4 - length(b64) % 4) % 4);
	j := convert_from(decode(b64, 'base64'), 'UTF8')::jsonb;
	t := (j->>0)::timestamptz;
	i := j->>1;
	IF t IS NULL OR i IS NULL OR jsonb_array_length(j) <> 2 THEN
		RAISE EXCEPTION 'bad cursor';
	END IF;
EXCEPTION WHEN OTHERS THEN
	PERFORM crm_raise('400', 'The cursor is not valid.');
END
$$;

CREATE FUNCTION crm_require_role(VARIADIC roles text[]) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
	IF NOT crm_role() = ANY (roles) THEN
		PERFORM crm_raise('403', 'Your role may not do this.');
	END IF;
END
$$;

-- GET /v1/me
CREATE FUNCTION api_me(p jsonb) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	RETURN (SELECT json_build_object(
	    'user', user_json(crm_user()),
	    'organization', (SELECT json_build_object('id', o.id,
		'name', o.name) FROM organizations o WHERE o.id = crm_org()),
	    'visibility', CASE WHEN crm_org_wide() THEN 'organization'
		WHEN crm_role() IN ('marketing', 'service') THEN
		    'organization_read'
		WHEN cardinality(crm_team()) > 1 THEN 'team'
		ELSE 'own' END,
	    'team', to_json(crm_team()),
	    'api_key_id', crm_setting('app.key_id'))::text);
END
$$;

-- GET /v1/users?role=&active=&manager_id=&q=&limit=&cursor=
CREATE FUNCTION api_users_list(p jsonb, f jsonb) RETURNS text
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
		SELECT t, i INTO cur_t, cur_i
		FROM crm_cursor_decode(f->>'cursor');
	END IF;
	WITH page AS (
		SELECT id, created_at FROM users
		WHERE (NOT f ? 'role' OR role = f->>'role')
		  AND (NOT f ? 'active' OR active = (f->>'active')::boolean)
		  AND (NOT f ? 'manager_id' OR
		       manager_id = (f->>'manager_id')::uuid)
		  AND (NOT f ? 'q' OR strpos(lower(name || ' ' || email),
		       lower(f->>'q')) > 0)
		  AND (cur_t IS NULL OR (created_at, id) > (cur_t, cur_i::uuid))
		ORDER BY created_at, id
		LIMIT lim + 1
	), numbered AS (
		SELECT id, created_at, row_number() OVER (ORDER BY created_at,
		    id) AS n FROM page
	)
	SELECT coalesce(json_agg(user_json(id) ORDER BY n)
		FILTER (WHERE n <= lim), '[]'),
	    (SELECT crm_cursor_encode(x.created_at, x.id::text)
	     FROM numbered x WHERE x.n = lim AND EXISTS (
		SELECT 1 FROM numbered y WHERE y.n = lim + 1))
	INTO rows, nxt
	FROM numbered;
	RETURN json_build_object('data', rows, 'next_cursor', nxt)::text;
END
$$;

-- GET /v1/users/{id}
CREATE FUNCTION api_users_get(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	RETURN user_json(p_id)::text;
END
$$;

-- POST /v1/users (admin): b = {email, name, role, manager_id}; the
-- password arrives already hashed by the server.
CREATE FUNCTION api_users_create(p jsonb, b jsonb, p_hash text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	new_id	uuid;
BEGIN
	PERFORM crm_bind(p);
	PERFORM crm_require_role('admin');
	IF b ? 'manager_id' AND b->>'manager_id' IS NOT NULL AND NOT EXISTS (
	    SELECT 1 FROM users WHERE id = (b->>'manager_id')::uuid) THEN
		PERFORM crm_raise('422', 'manager_id names no user of this '
		    'organization.');
	END IF;
	BEGIN
		INSERT INTO users (org_id, email, name, role, manager_id,
		    password_hash)
		VALUES (crm_org(), b->>'email', b->>'name', b->>'role',
		    (b->>'manager_id')::uuid, p_hash)
		RETURNING id INTO new_id;
	EXCEPTION WHEN unique_violation THEN
		PERFORM crm_raise('409', 'A user with this email already '
		    'exists.');
	END;
	RETURN user_json(new_id)::text;
END
$$;

-- PATCH /v1/users/{id} (admin): merge patch of name, role, manager_id,
-- active, password (hashed by the server); If-Match version optional.
CREATE FUNCTION api_users_update(p jsonb, p_id uuid, b jsonb, p_hash text,
    p_if_match integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	cur_version	integer;
BEGIN
	PERFORM crm_bind(p);
	SELECT version INTO cur_version FROM users WHERE id = p_id;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	PERFORM crm_require_role('admin');
	IF p_if_match IS NOT NULL AND p_if_match <> cur_version THEN
		PERFORM crm_raise('412', 'The user changed since you read it '
		    '(version ' || cur_version || ').');
	END IF;
	IF p_id = crm_user() AND ((b ? 'role' AND b->>'role' <> 'admin') OR
	    (b ? 'active' AND NOT (b->>'active')::boolean)) THEN
		PERFORM crm_raise('409', 'Admins cannot demote or deactivate '
		    'themselves.');
	END IF;
	IF b ? 'manager_id' AND b->>'manager_id' IS NOT NULL AND NOT EXISTS (
	    SELECT 1 FROM users WHERE id = (b->>'manager_id')::uuid) THEN
		PERFORM crm_raise('422', 'manager_id names no user of this '
		    'organization.');
	END IF;
	UPDATE users SET
	    name = CASE WHEN b ? 'name' THEN b->>'name' ELSE name END,
	    role = CASE WHEN b ? 'role' THEN b->>'role' ELSE role END,
	    manager_id = CASE WHEN b ? 'manager_id' THEN
		(b->>'manager_id')::uuid ELSE manager_id END,
	    active = CASE WHEN b ? 'active' THEN (b->>'active')::boolean
		ELSE active END
	WHERE id = p_id;
	-- Written, never read: crm_app cannot select password hashes.
	IF p_hash IS NOT NULL THEN
		UPDATE users SET password_hash = p_hash WHERE id = p_id;
	END IF;
	-- A new password or a deactivation ends every session of the user.
	IF p_hash IS NOT NULL OR (b ? 'active' AND
	    NOT (b->>'active')::boolean) THEN
		PERFORM crm_revoke_sessions(p_id);
	END IF;
	RETURN user_json(p_id)::text;
END
$$;

-- Revoke every refresh token of `p_user`, for an admin of their
-- organisation (crm_app cannot reach refresh tokens otherwise).
CREATE FUNCTION crm_revoke_sessions(p_user uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
	IF crm_role() IS DISTINCT FROM 'admin' OR NOT EXISTS (SELECT 1
	    FROM users WHERE id = p_user AND org_id = crm_org()) THEN
		PERFORM crm_raise('403', 'Only an admin of the organisation '
		    'ends its users'' sessions.');
	END IF;
	UPDATE refresh_tokens SET revoked_at = now()
	WHERE user_id = p_user AND revoked_at IS NULL;
END
$$;
REVOKE ALL ON FUNCTION crm_revoke_sessions(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm_revoke_sessions(uuid) TO crm_app;

-- DELETE /v1/users/{id} (admin): deactivate; their tokens and keys stop
-- working at once (crm_bind checks `active`).
CREATE FUNCTION api_users_deactivate(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	RETURN api_users_update(p, p_id, '{"active": false}', NULL, NULL);
END
$$;

-- The public shape of an API key (never its secret or hash).
CREATE FUNCTION api_key_json(k_id uuid) RETURNS json
LANGUAGE sql STABLE AS $$
	SELECT json_build_object('id', id, 'name', name, 'prefix', prefix,
	    'user_id', user_id, 'scopes', scopes, 'created_by', created_by,
	    'created_at', created_at, 'expires_at', expires_at,
	    'last_used_at', last_used_at, 'revoked_at', revoked_at)
	FROM api_keys WHERE id = k_id
$$;

-- POST /v1/api-keys (admin): b = {name, scopes, user_id, expires_at};
-- the server generated the key and sends its hash; the key itself is
-- added to the response by the server, once.
CREATE FUNCTION api_keys_create(p jsonb, b jsonb, p_prefix text,
    p_hash text)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	new_id	uuid;
	target	uuid;
BEGIN
	PERFORM crm_bind(p);
	PERFORM crm_require_role('admin');
	target := coalesce((b->>'user_id')::uuid, crm_user());
	IF NOT EXISTS (SELECT 1 FROM users WHERE id = target AND active) THEN
		PERFORM crm_raise('422', 'user_id names no active user of '
		    'this organization.');
	END IF;
	INSERT INTO api_keys (org_id, user_id, name, prefix, key_hash, scopes,
	    created_by, expires_at)
	VALUES (crm_org(), target, b->>'name', p_prefix, p_hash,
	    ARRAY(SELECT DISTINCT jsonb_array_elements_text(b->'scopes')
		ORDER BY 1),
	    crm_user(), (b->>'expires_at')::timestamptz)
	RETURNING id INTO new_id;
	RETURN api_key_json(new_id)::text;
END
$$;

-- GET /v1/api-keys (admin)
CREATE FUNCTION api_keys_list(p jsonb) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	PERFORM crm_require_role('admin');
	RETURN json_build_object('data', coalesce((SELECT json_agg(
	    api_key_json(id) ORDER BY created_at DESC, id) FROM api_keys),
	    '[]'), 'next_cursor', NULL)::text;
END
$$;

-- DELETE /v1/api-keys/{id} (admin): revoke; idempotent.
CREATE FUNCTION api_keys_revoke(p jsonb, p_id uuid) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM crm_bind(p);
	IF crm_role() IS DISTINCT FROM 'admin' THEN
		-- Keys are invisible to non-admins: answer as for no key.
		RETURN NULL;
	END IF;
	UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
	WHERE id = p_id;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	RETURN api_key_json(p_id)::text;
END
$$;

-- GET /v1/audit?entity=&entity_id=&actor_id=&action=&since=&until=&limit=
-- &cursor= (admin); newest first.
CREATE FUNCTION api_audit_list(p jsonb, f jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	lim	integer := coalesce((f->>'limit')::int, 50);
	before	bigint;
	rows	json;
	last_id	bigint;
	more	boolean;
BEGIN
	PERFORM crm_bind(p);
	PERFORM crm_require_role('admin');
	IF f ? 'cursor' THEN
		before := (crm_cursor_decode(f->>'cursor')).i::bigint;
	END IF;
	WITH page AS (
		SELECT * FROM audit_log
		WHERE (before IS NULL OR id < before)
		  AND (NOT f ? 'entity' OR entity = f->>'entity')
		  AND (NOT f ? 'entity_id' OR
		       entity_id = (f->>'entity_id')::uuid)
		  AND (NOT f ? 'actor_id' OR actor_id = (f->>'actor_id')::uuid)
		  AND (NOT f ? 'action' OR action = f->>'action')
		  AND (NOT f ? 'since' OR at >= (f->>'since')::timestamptz)
		  AND (NOT f ? 'until' OR at < (f->>'until')::timestamptz)
		ORDER BY id DESC
		LIMIT lim + 1
	)
	SELECT coalesce(json_agg(json_build_object('id', a.id::text,
		'at', a.at, 'actor_id', a.actor_id, 'api_key_id', a.api_key_id,
		'token_id', a.token_id, 'request_id', a.request_id,
		'ip', a.ip, 'action', a.action, 'entity', a.entity,
		'entity_id', a.entity_id, 'changes', a.changes)
		ORDER BY a.id DESC) FILTER (WHERE rn <= lim), '[]'),
	    min(a.id) FILTER (WHERE rn <= lim), count(*) > lim
	INTO rows, last_id, more
	FROM (SELECT page.*, row_number() OVER (ORDER BY id DESC) AS rn
	      FROM page) a;
	RETURN json_build_object('data', rows, 'next_cursor',
	    CASE WHEN more THEN crm_cursor_encode(now(), last_id::text) END)::text;
END
$$;

-- 0002 access control: the principal bound per statement, row-level
-- security on every table the server's role can reach, API keys, refresh
-- tokens, login throttling and the audit log.
--
-- The server (role crm_app) runs each request as one statement: a call of
-- an api_* function whose first act is crm_bind(principal), which checks
-- the caller against the database (user active, key live and in scope) and
-- sets transaction-local settings (app.*) that the policies read. Without
-- a binding every policy sees NULL and no row is visible: it fails closed.
-- The settings end with the statement's transaction, so nothing leaks to
-- the next request on a pooled connection.

-- crm_owner owns the schema and has BYPASSRLS (given when the role is
-- created, see .dev/lib.sh): its SECURITY DEFINER functions (binding,
-- login, tokens, audit) must see across rows before a principal exists.

ALTER TABLE users ADD COLUMN version integer NOT NULL DEFAULT 1;
ALTER TABLE customers ADD COLUMN version integer NOT NULL DEFAULT 1;

-- --- the principal --------------------------------------------------------

CREATE FUNCTION crm_setting(name text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT nullif(current_setting(name, true), '')
$$;

CREATE FUNCTION crm_org() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT crm_setting('app.org_id')::uuid
$$;

CREATE FUNCTION crm_user() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT crm_setting('app.user_id')::uuid
$$;

CREATE FUNCTION crm_role() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT crm_setting('app.role')
$$;

-- The owners whose records the caller works on: self and everyone below in
-- the reporting line (transitively), computed once by crm_bind.
CREATE FUNCTION crm_team() RETURNS uuid[]
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT coalesce(crm_setting('app.team')::uuid[], '{}')
$$;

-- Whether the caller's role sees every record of the organisation.
CREATE FUNCTION crm_org_wide() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT coalesce(crm_setting('app.org_wide') = 'on', false)
$$;

-- Whether the bound caller may use `scope`: always for people (their role
-- decides), for an API key when it holds the scope (write implies read).
CREATE FUNCTION crm_scope_ok(scope text) RETURNS boolean
LANGUAGE sql STABLE AS $$
	SELECT crm_setting('app.key_id') IS NULL OR
	    scope = ANY (crm_setting('app.scopes')::text[]) OR
	    (scope LIKE '%:read' AND replace(scope, ':read', ':write') =
		ANY (crm_setting('app.scopes')::text[]))
$$;

-- Raise one of the API's own errors: SQLSTATE CRnnn maps to HTTP nnn and
-- the message is shown to the client as the problem's detail.
CREATE FUNCTION crm_raise(code text, message text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = 'CR' || code, MESSAGE = message;
END
$$;

CREATE TABLE api_keys (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	org_id		uuid NOT NULL REFERENCES organizations (id),
	user_id		uuid NOT NULL,
	name		text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
	prefix		text NOT NULL,
	key_hash	text NOT NULL UNIQUE,
	scopes		text[] NOT NULL,
	created_by	uuid NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	expires_at	timestamptz,
	last_used_at	timestamptz,
	last_used_ip	text,
	revoked_at	timestamptz,
	FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id),
	FOREIGN KEY (org_id, created_by) REFERENCES users (org_id, id)
);
CREATE INDEX api_keys_org_idx ON api_keys (org_id, created_at DESC);

-- Bind the caller for the rest of this transaction. `p` carries either a
-- verified access token's claims {"user", "org", "jti"} or an API key's
-- hash {"key", "scope"}, plus {"rid", "ip"} for the audit log.
-- Errors: CR401 unknown, inactive or revoked; CR403 key out of scope.
CREATE FUNCTION crm_bind(p jsonb) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	u		users%ROWTYPE;
	k		api_keys%ROWTYPE;
	want		text := p->>'scope';
	team		uuid[];
BEGIN
	IF p ? 'key' THEN
		SELECT * INTO k FROM api_keys
		WHERE key_hash = p->>'key' AND revoked_at IS NULL
		    AND (expires_at IS NULL OR expires_at > now());
		IF NOT FOUND THEN
			PERFORM crm_raise('401', 'The credentials are invalid.');
		END IF;
		SELECT * INTO u FROM users WHERE id = k.user_id AND active;
		IF NOT FOUND THEN
			PERFORM crm_raise('401', 'The credentials are invalid.');
		END IF;
		-- Write scope implies read scope of the same module.
		IF want IS NULL OR NOT (want = ANY (k.scopes) OR
		    (want LIKE '%:read' AND
		     replace(want, ':read', ':write') = ANY (k.scopes))) THEN
			PERFORM crm_raise('403',
			    'The API key lacks the scope ' ||
			    coalesce(want, 'for this operation') || '.');
		END IF;
		IF k.last_used_at IS NULL OR
		    k.last_used_at < now() - interval '1 minute' THEN
			UPDATE api_keys SET last_used_at = now(),
			    last_used_ip = p->>'ip'
			WHERE id = k.id;
		END IF;
		PERFORM set_config('app.key_id', k.id::text, true);
		PERFORM set_config('app.scopes', k.scopes::text, true);
	ELSE
		SELECT * INTO u FROM users
		WHERE id = (p->>'user')::uuid AND org_id = (p->>'org')::uuid
		    AND active;
		IF NOT FOUND THEN
			PERFORM crm_raise('401', 'The credentials are invalid.');
		END IF;
		PERFORM set_config('app.jti', coalesce(p->>'jti', ''), true);
	END IF;

	WITH RECURSIVE below(id) AS (
		SELECT u.id
		UNION
		SELECT c.id FROM users c JOIN below b ON c.manager_id = b.id
		WHERE c.org_id = u.org_id
	)
	SELECT array_agg(id) INTO team FROM below;

	PERFORM set_config('app.org_id', u.org_id::text, true);
	PERFORM set_config('app.user_id', u.id::text, true);
	PERFORM set_config('app.role', u.role, true);
	PERFORM set_config('app.team', team::text, true);
	PERFORM set_config('app.org_wide', CASE WHEN u.role IN ('admin',
	    'executive', 'integration') THEN 'on' ELSE 'off' END, true);
	PERFORM set_config('app.request_id', coalesce(p->>'rid', ''), true);
	PERFORM set_config('app.ip', coalesce(p->>'ip', ''), true);
END
$$;

-- --- row-level security ---------------------------------------------------
-- Visibility of business records by role (README, "Who sees what"):
--   admin, executive, integration: the whole organisation;
--   sales_manager: own records and those of everyone below them;
--   sales_rep: own records (and those of anyone reporting to them);
--   marketing, service: read every customer of the organisation (campaign
--   targeting, ticket history), change only their own.

ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE organizations FORCE ROW LEVEL SECURITY;
CREATE POLICY organizations_member ON organizations FOR SELECT
	USING (id = crm_org());
REVOKE INSERT, UPDATE, DELETE ON organizations FROM crm_app;

-- Everyone in an organisation sees its directory (to assign and mention);
-- only admins change it. Password hashes are never readable by crm_app.
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY users_read ON users FOR SELECT USING (org_id = crm_org());
CREATE POLICY users_admin_insert ON users FOR INSERT
	WITH CHECK (org_id = crm_org() AND crm_role() = 'admin');
CREATE POLICY users_admin_update ON users FOR UPDATE
	USING (org_id = crm_org() AND crm_role() = 'admin')
	WITH CHECK (org_id = crm_org() AND crm_role() = 'admin');
REVOKE ALL ON users FROM crm_app;
GRANT SELECT (id, org_id, email, name, role, manager_id, active, created_at,
    updated_at, version) ON users TO crm_app;
GRANT INSERT (org_id, email, name, role, manager_id, password_hash)
    ON users TO crm_app;
GRANT UPDATE (name, role, manager_id, active, password_hash, updated_at)
    ON users TO crm_app;

ALTER TABLE customers ENABLE ROW LEVEL SECURITY;
ALTER TABLE customers FORCE ROW LEVEL SECURITY;
CREATE POLICY customers_read ON customers FOR SELECT
	USING (org_id = crm_org() AND (crm_org_wide() OR
	    crm_role() IN ('marketing', 'service') OR
	    owner_id = ANY (crm_team())));
CREATE POLICY customers_insert ON customers FOR INSERT
	WITH CHECK (org_id = crm_org() AND (crm_org_wide() OR
	    owner_id = ANY (crm_team())));
CREATE POLICY customers_update ON customers FOR UPDATE
	USING (org_id = crm_org() AND (crm_org_wide() OR
	    owner_id = ANY (crm_team())))
	WITH CHECK (org_id = crm_org() AND (crm_org_wide() OR
	    owner_id = ANY (crm_team())));
CREATE POLICY customers_delete ON customers FOR DELETE
	USING (org_id = crm_org() AND (crm_org_wide() OR
	    owner_id = ANY (crm_team())));

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY api_keys_admin ON api_keys FOR ALL
	USING (org_id = crm_org() AND crm_role() = 'admin')
	WITH CHECK (org_id = crm_org() AND crm_role() = 'admin');
GRANT SELECT (id, org_id, user_id, name, prefix, scopes, created_by,
    created_at, expires_at, last_used_at, last_used_ip, revoked_at)
    ON api_keys TO crm_app;
GRANT INSERT (org_id, user_id, name, prefix, key_hash, scopes, created_by,
    expires_at) ON api_keys TO crm_app;
GRANT UPDATE (revoked_at) ON api_keys TO crm_app;

-- --- refresh tokens and login throttling (reached only through the
-- SECURITY DEFINER auth_* functions) -------------------------------------

CREATE TABLE refresh_tokens (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	org_id		uuid NOT NULL REFERENCES organizations (id),
	user_id		uuid NOT NULL REFERENCES users (id),
	family_id	uuid NOT NULL,
	token_hash	text NOT NULL UNIQUE,
	created_at	timestamptz NOT NULL DEFAULT now(),
	expires_at	timestamptz NOT NULL,
	used_at		timestamptz,
	revoked_at	timestamptz
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE refresh_tokens FORCE ROW LEVEL SECURITY;

CREATE TABLE auth_failures (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind		text NOT NULL CHECK (kind IN ('email', 'ip')),
	key		text NOT NULL,
	at		timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX auth_failures_key_idx ON auth_failures (kind, key, at);
ALTER TABLE auth_failures ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth_failures FORCE ROW LEVEL SECURITY;

-- --- the audit log ------------------------------------------------------

CREATE TABLE audit_log (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	org_id		uuid NOT NULL,
	at		timestamptz NOT NULL DEFAULT clock_timestamp(),
	actor_id	uuid,
	api_key_id	uuid,
	token_id	text,
	request_id	text,
	ip		text,
	action		text NOT NULL,
	entity		text NOT NULL,
	entity_id	uuid,
	changes		jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_org_idx ON audit_log (org_id, id DESC);
CREATE INDEX audit_log_entity_idx ON audit_log (org_id, entity, entity_id);
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_log_admin ON audit_log FOR SELECT
	USING (org_id = crm_org() AND crm_role() = 'admin');
GRANT SELECT ON audit_log TO crm_app;

-- Write one audit entry with the bound principal as the actor.
CREATE FUNCTION crm_audit_write(p_org uuid, p_action text, p_entity text,
    p_entity_id uuid, p_changes jsonb, p_actor uuid DEFAULT NULL)
RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
	INSERT INTO audit_log (org_id, actor_id, api_key_id, token_id,
	    request_id, ip, action, entity, entity_id, changes)
	VALUES (p_org, coalesce(p_actor, crm_user()),
	    crm_setting('app.key_id')::uuid, crm_setting('app.jti'),
	    crm_setting('app.request_id'), crm_setting('app.ip'),
	    p_action, p_entity, p_entity_id, coalesce(p_changes, '{}'))
$$;

-- The audit trigger of every business table: who, when, through which
-- key or token, and each changed field before and after. Secrets are
-- recorded as changed, never by value.
CREATE FUNCTION crm_audit_row() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	old_j		jsonb;
	new_j		jsonb;
	changes		jsonb := '{}';
	f		text;
	secret		text[] := ARRAY['password_hash', 'key_hash'];
	skip		text[] := ARRAY['updated_at', 'version', 'last_used_at',
			    'last_used_ip'];
BEGIN
	IF TG_OP <> 'INSERT' THEN
		old_j := to_jsonb(OLD);
	END IF;
	IF TG_OP <> 'DELETE' THEN
		new_j := to_jsonb(NEW);
	END IF;

	FOR f IN SELECT jsonb_object_keys(coalesce(new_j, old_j)) LOOP
		CONTINUE WHEN f = ANY (skip);
		IF TG_OP = 'UPDATE' AND old_j->f IS NOT DISTINCT FROM new_j->f
		THEN
			CONTINUE;
		END IF;
		IF f = ANY (secret) THEN
			changes := changes || jsonb_build_object(f,
			    jsonb_build_object('changed', true));
		ELSE
			changes := changes || jsonb_build_object(f,
			    jsonb_build_object('before', old_j->f,
			    'after', new_j->f));
		END IF;
	END LOOP;

	IF TG_OP = 'UPDATE' AND changes = '{}' THEN
		RETURN NULL;
	END IF;

	PERFORM crm_audit_write(
	    (coalesce(new_j, old_j)->>'org_id')::uuid,
	    lower(TG_OP), TG_TABLE_NAME,
	    (coalesce(new_j, old_j)->>'id')::uuid, changes);
	RETURN NULL;
END
$$;

-- Versions for ETag / If-Match, and updated_at, kept by the database.
CREATE FUNCTION crm_touch() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	NEW.version := OLD.version + 1;
	NEW.updated_at := now();
	RETURN NEW;
END
$$;

CREATE TRIGGER users_touch BEFORE UPDATE ON users
	FOR EACH ROW EXECUTE FUNCTION crm_touch();
CREATE TRIGGER customers_touch BEFORE UPDATE ON customers
	FOR EACH ROW EXECUTE FUNCTION crm_touch();
CREATE TRIGGER users_audit AFTER INSERT OR UPDATE OR DELETE ON users
	FOR EACH ROW EXECUTE FUNCTION crm_audit_row();
CREATE TRIGGER customers_audit AFTER INSERT OR UPDATE OR DELETE ON customers
	FOR EACH ROW EXECUTE FUNCTION crm_audit_row();
CREATE TRIGGER api_keys_audit AFTER INSERT OR UPDATE OR DELETE ON api_keys
	FOR EACH ROW EXECUTE FUNCTION crm_audit_row();

-- The reporting line is a tree: no one manages themselves, directly or
-- through others.
CREATE FUNCTION crm_users_no_cycle() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
	IF NEW.manager_id IS NOT NULL AND EXISTS (
		WITH RECURSIVE up(id, depth) AS (
			SELECT NEW.manager_id, 1
			UNION ALL
			SELECT u.manager_id, up.depth + 1 FROM users u
			JOIN up ON u.id = up.id
			WHERE u.manager_id IS NOT NULL AND up.depth < 1000
		)
		SELECT 1 FROM up WHERE id = NEW.id)
	THEN
		PERFORM crm_raise('422',
		    'manager_id would make the reporting line a cycle.');
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER users_no_cycle BEFORE INSERT OR UPDATE OF manager_id ON users
	FOR EACH ROW EXECUTE FUNCTION crm_users_no_cycle();

REVOKE ALL ON FUNCTION crm_bind(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm_bind(jsonb) TO crm_app;
REVOKE ALL ON FUNCTION crm_audit_write(uuid, text, text, uuid, jsonb, uuid)
    FROM PUBLIC;

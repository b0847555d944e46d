-- 0003 authentication: login with throttling, refresh-token rotation with
-- reuse detection, logout. SECURITY DEFINER: no caller is bound yet. The
-- server verifies passwords (scrypt, off its event loop) and signs access
-- tokens; the database keeps every secret only as a hash.

-- Failed logins allowed per window, per account and per client address.
CREATE FUNCTION auth_limits(OUT window_s integer, OUT per_email integer,
    OUT per_ip integer)
LANGUAGE sql IMMUTABLE AS $$
	SELECT 900, 5, 30
$$;

-- Seconds until `key` may try again (0 = now).
CREATE FUNCTION auth_retry_after(p_kind text, p_key text, p_max integer)
RETURNS integer
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
	SELECT coalesce(max(ceil(extract(epoch FROM
	    f.at + make_interval(secs => (auth_limits()).window_s) - now())))::int, 0)
	FROM (SELECT at FROM auth_failures
	      WHERE kind = p_kind AND key = p_key
	        AND at > now() - make_interval(secs => (auth_limits()).window_s)
	      ORDER BY at DESC OFFSET p_max - 1 LIMIT 1) f
$$;

-- Step 1 of a login: {"retry_after": n} when throttled, else (counting the
-- attempt as a failure until step 2 says otherwise) the account's
-- password hash ({"hash": null} for an unknown or inactive account: the
-- server then verifies against a dummy hash, so both cost the same).
CREATE FUNCTION auth_login_start(p_email text, p_ip text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	wait		integer;
	u		users%ROWTYPE;
BEGIN
	-- Check and count under a per-account lock, before the password is
	-- tried: parallel guesses are counted too. A success takes its
	-- attempt back (auth_login_finish).
	PERFORM pg_advisory_xact_lock(hashtext('crm.login:' || lower(p_email)));
	wait := greatest(
	    auth_retry_after('email', lower(p_email), (auth_limits()).per_email),
	    auth_retry_after('ip', p_ip, (auth_limits()).per_ip));
	IF wait > 0 THEN
		RETURN json_build_object('retry_after', wait)::text;
	END IF;
	INSERT INTO auth_failures (kind, key) VALUES
	    ('email', lower(p_email)), ('ip', p_ip);
	SELECT * INTO u FROM users WHERE lower(email) = lower(p_email)
	    AND active AND password_hash IS NOT NULL;
	RETURN json_build_object('hash', u.password_hash)::text;
END
$$;

-- Step 2 of a login. On success: take back the attempt counted at the
-- start, store the new refresh token's hash (a new family), audit, and
-- return the claims to sign. On failure: audit if the account exists and
-- return {"failed": true}.
CREATE FUNCTION auth_login_finish(p_email text, p_ip text, p_ok boolean,
    p_refresh_hash text, p_jti text, p_rid text)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	u		users%ROWTYPE;
BEGIN
	SELECT * INTO u FROM users WHERE lower(email) = lower(p_email)
	    AND active AND password_hash IS NOT NULL;
	PERFORM set_config('app.request_id', coalesce(p_rid, ''), true);
	PERFORM set_config('app.ip', coalesce(p_ip, ''), true);

	IF NOT p_ok OR NOT FOUND THEN
		-- The attempt was counted when it started.
		IF u.id IS NOT NULL THEN
			PERFORM crm_audit_write(u.org_id, 'login_failed', 'users',
			    u.id, '{}', u.id);
		END IF;
		RETURN json_build_object('failed', true)::text;
	END IF;

	DELETE FROM auth_failures WHERE kind = 'email' AND key = lower(p_email);
	DELETE FROM auth_failures WHERE id = (SELECT max(id) FROM auth_failures
	    WHERE kind = 'ip' AND key = p_ip);
	INSERT INTO refresh_tokens (org_id, user_id, family_id, token_hash,
	    expires_at)
	VALUES (u.org_id, u.id, gen_random_uuid(), p_refresh_hash,
	    now() + interval '30 days');
	PERFORM set_config('app.jti', coalesce(p_jti, ''), true);
	PERFORM crm_audit_write(u.org_id, 'login', 'users', u.id, '{}', u.id);
	RETURN json_build_object('sub', u.id, 'org', u.org_id,
	    'role', u.role)::text;
END
$$;

-- Rotate a refresh token: the presented one dies and a new one (same
-- family) is stored. Presenting a token that was already rotated or
-- revoked revokes its whole family (it was stolen, or the client is
-- confused: either way everyone must log in again). Returns the claims to
-- sign, or {"failed": true}; never raises, so the revocation commits.
CREATE FUNCTION auth_refresh(p_old_hash text, p_new_hash text, p_jti text,
    p_rid text, p_ip text)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	t		refresh_tokens%ROWTYPE;
	u		users%ROWTYPE;
BEGIN
	PERFORM set_config('app.request_id', coalesce(p_rid, ''), true);
	PERFORM set_config('app.ip', coalesce(p_ip, ''), true);
	SELECT * INTO t FROM refresh_tokens WHERE token_hash = p_old_hash
	    FOR UPDATE;
	IF NOT FOUND THEN
		RETURN json_build_object('failed', true)::text;
	END IF;

	IF t.used_at IS NOT NULL OR t.revoked_at IS NOT NULL THEN
		UPDATE refresh_tokens SET revoked_at = now()
		WHERE family_id = t.family_id AND revoked_at IS NULL;
		PERFORM crm_audit_write(t.org_id, 'refresh_token_reuse',
		    'users', t.user_id, '{}', t.user_id);
		RETURN json_build_object('failed', true)::text;
	END IF;

	SELECT * INTO u FROM users WHERE id = t.user_id AND active;
	IF NOT FOUND OR t.expires_at <= now() THEN
		UPDATE refresh_tokens SET revoked_at = now()
		WHERE family_id = t.family_id AND revoked_at IS NULL;
		RETURN json_build_object('failed', true)::text;
	END IF;

	UPDATE refresh_tokens SET used_at = now() WHERE id = t.id;
	INSERT INTO refresh_tokens (org_id, user_id, family_id, token_hash,
	    expires_at)
	VALUES (t.org_id, t.user_id, t.family_id, p_new_hash,
	    now() + interval '30 days');
	PERFORM set_config('app.jti', coalesce(p_jti, ''), true);
	PERFORM crm_audit_write(u.org_id, 'token_refresh', 'users', u.id, '{}',
	    u.id);
	RETURN json_build_object('sub', u.id, 'org', u.org_id,
	    'role', u.role)::text;
END
$$;

-- Log out: revoke the presented refresh token's family. The answer is the
-- same whether or not the token existed.
CREATE FUNCTION auth_logout(p_hash text, p_rid text, p_ip text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	t		refresh_tokens%ROWTYPE;
BEGIN
	PERFORM set_config('app.request_id', coalesce(p_rid, ''), true);
	PERFORM set_config('app.ip', coalesce(p_ip, ''), true);
	SELECT * INTO t FROM refresh_tokens WHERE token_hash = p_hash;
	IF FOUND THEN
		UPDATE refresh_tokens SET revoked_at = now()
		WHERE family_id = t.family_id AND revoked_at IS NULL;
		PERFORM crm_audit_write(t.org_id, 'logout', 'users', t.user_id,
		    '{}', t.user_id);
	END IF;
	RETURN '{}';
END
$$;

REVOKE ALL ON FUNCTION auth_retry_after(text, text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION auth_login_start(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION auth_login_finish(text, text, boolean, text, text, text)
    FROM PUBLIC;
REVOKE ALL ON FUNCTION auth_refresh(text, text, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION auth_logout(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_login_start(text, text),
    auth_login_finish(text, text, boolean, text, text, text),
    auth_refresh(text, text, text, text, text),
    auth_logout(text, text, text) TO crm_app;

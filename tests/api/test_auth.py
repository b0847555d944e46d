"""Login, refresh-token rotation, logout, throttling, and every JWT attack."""
import hashlib
import time

import pytest

from conftest import (DEMO, DEMO_ORG, DEMO_PASSWORD, TEST_JWT_SECRET, bearer,
                      login)
from jwt_forge import HS256, b64, claims, sign

REP1_EMAIL, REP1 = DEMO["rep1"]


def test_login_returns_tokens(api):
    r = login(api, "admin@example.com")
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    me = api.get("/v1/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["user"]["email"] == "admin@example.com"
    assert me.json()["visibility"] == "organization"


def test_email_is_case_insensitive(api):
    assert login(api, "Rep2@Example.COM").status_code == 200


def test_wrong_password_and_unknown_email_look_the_same(api):
    a = login(api, "rep2@example.com", "wrong-password-x")
    b = login(api, "nobody-here@example.com", "wrong-password-x")
    assert a.status_code == b.status_code == 401
    strip = lambda d: {k: v for k, v in d.items() if k != "request_id"}
    assert strip(a.json()) == strip(b.json())
    assert a.headers["www-authenticate"] == b.headers["www-authenticate"]


def test_login_validation(api):
    r = api.post("/v1/auth/login", json={"email": 5, "pw": "x"})
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert fields == {"email", "password", "pw"}


def test_malformed_json_is_400(api):
    r = api.post("/v1/auth/login", data=b'{"email": "a@b.cn",',
                 headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert "Malformed JSON" in r.json()["detail"]
    r = api.post("/v1/auth/login", data=b'{"a":1,"a":2}',
                 headers={"content-type": "application/json"})
    assert r.status_code == 400


def test_login_needs_json_media_type(api):
    r = api.post("/v1/auth/login", data=b'{}',
                 headers={"content-type": "text/plain"})
    assert r.status_code == 415


def test_failed_logins_throttled_per_account(api, tokens):
    email = "throttled@example.com"
    assert api.post("/v1/users", headers=bearer(tokens["admin"]), json={
        "email": email, "name": "限流", "role": "sales_rep",
        "password": DEMO_PASSWORD}).status_code == 201
    for _ in range(5):
        assert login(api, email, "not-the-password").status_code == 401
    r = login(api, email, DEMO_PASSWORD)   # even the right one now waits
    assert r.status_code == 429
    assert 0 < int(r.headers["retry-after"]) <= 900
    assert r.json()["type"] == "urn:crm:problem:rate-limited"
    # Unknown accounts are throttled the same way (nothing to enumerate).
    for _ in range(5):
        login(api, "ghost@example.com", "not-the-password")
    assert login(api, "ghost@example.com", "x").status_code == 429


def test_failed_logins_throttled_per_address(stack, backend):
    ip = {"X-Real-IP": "10.20.30.40"}
    for i in range(30):
        r = login(backend, f"spray{i}@example.com", "guess", headers=ip)
        assert r.status_code == 401
    r = login(backend, "ceo@example.com", headers=ip)
    assert r.status_code == 429
    # Another address is not affected.
    assert login(backend, "ceo@example.com",
                 headers={"X-Real-IP": "10.20.30.41"}).status_code == 200


def test_refresh_rotates_and_reuse_revokes_family(api):
    first = login(api, "rep2@example.com").json()
    r1 = api.post("/v1/auth/refresh",
                  json={"refresh_token": first["refresh_token"]})
    assert r1.status_code == 200
    second = r1.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert api.get("/v1/me", headers=bearer(second["access_token"])
                   ).status_code == 200
    # The old token was used once: presenting it again is theft.
    reuse = api.post("/v1/auth/refresh",
                     json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401
    # ... and the whole family died, including the newest token.
    r3 = api.post("/v1/auth/refresh",
                  json={"refresh_token": second["refresh_token"]})
    assert r3.status_code == 401


def test_logout_revokes_refresh_token(api):
    t = login(api, "rep2@example.com").json()
    assert api.post("/v1/auth/logout",
                    json={"refresh_token": t["refresh_token"]}
                    ).status_code == 204
    assert api.post("/v1/auth/refresh",
                    json={"refresh_token": t["refresh_token"]}
                    ).status_code == 401
    # Unknown tokens get the same answer.
    assert api.post("/v1/auth/logout",
                    json={"refresh_token": "rt_nope"}).status_code == 204


def test_no_credentials(api):
    r = api.get("/v1/me")
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert api.get("/v1/me", headers={"Authorization": "Basic YTpi"}
                   ).status_code == 401


def forged(**over):
    return claims(REP1, DEMO_ORG, **over)


ATTACKS = {
    "expired": lambda: sign(HS256, forged(exp=int(time.time()) - 120,
                                          iat=int(time.time()) - 1000,
                                          nbf=int(time.time()) - 1000),
                            TEST_JWT_SECRET),
    "not_yet_valid": lambda: sign(HS256, forged(nbf=int(time.time()) + 600,
                                                exp=int(time.time()) + 900),
                                  TEST_JWT_SECRET),
    "issued_in_future": lambda: sign(HS256, forged(iat=int(time.time()) + 600,
                                                   exp=int(time.time()) + 900),
                                     TEST_JWT_SECRET),
    "wrong_signature": lambda: sign(HS256, forged(),
                                    "another-secret-of-32-bytes-at-least!"),
    "alg_none": lambda: b64({"alg": "none", "typ": "JWT"}) + "." +
    b64(forged()) + ".",
    "alg_none_signed": lambda: sign({"alg": "none"}, forged(),
                                    TEST_JWT_SECRET),
    "hs512_same_secret": lambda: sign({"alg": "HS512", "typ": "JWT"},
                                      forged(), TEST_JWT_SECRET,
                                      hashlib.sha512),
    "rs256_confusion": lambda: sign({"alg": "RS256", "typ": "JWT"}, forged(),
                                    TEST_JWT_SECRET),
    "wrong_iss": lambda: sign(HS256, forged(iss="evil"), TEST_JWT_SECRET),
    "wrong_aud": lambda: sign(HS256, forged(aud="other-api"),
                              TEST_JWT_SECRET),
    "missing_exp": lambda: sign(HS256, forged(exp=None), TEST_JWT_SECRET),
    "exp_as_string": lambda: sign(HS256, forged(exp=str(int(time.time())
                                                        + 600)),
                                  TEST_JWT_SECRET),
    "exp_as_float": lambda: sign(HS256, forged(exp=time.time() + 600.5),
                                 TEST_JWT_SECRET),
    "crit_header": lambda: sign({"alg": "HS256", "crit": ["exp"]}, forged(),
                                TEST_JWT_SECRET),
    "duplicate_claims": lambda: sign(
        HS256, None, TEST_JWT_SECRET,
        raw_payload='{"sub":"%s","org":"%s","role":"sales_rep",'
        '"iss":"crm-api","aud":"crm-api","jti":"x","iat":%d,"exp":%d,'
        '"exp":%d}' % (REP1, DEMO_ORG, time.time(), time.time() - 100,
                       time.time() + 600)),
    "other_org": lambda: sign(HS256, claims(REP1, "00000000-0000-4000-8000-"
                                            "0000000000ff"),
                              TEST_JWT_SECRET),
    "unknown_user": lambda: sign(HS256, claims("00000000-0000-4000-8000-"
                                               "0000000009ff", DEMO_ORG),
                                 TEST_JWT_SECRET),
    "garbage": lambda: "not.a.jwt",
    "two_segments": lambda: sign(HS256, forged(), TEST_JWT_SECRET)
    .rsplit(".", 1)[0],
    "oversized": lambda: sign(HS256, forged(pad="x" * 5000),
                              TEST_JWT_SECRET),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_jwt_attack_refused(api, stack, attack):
    token = ATTACKS[attack]()
    r = api.get("/v1/me", headers=bearer(token))
    assert r.status_code == 401, attack
    # Nothing that tells the attacker which check failed.
    assert r.json()["detail"] in ("The access token is invalid or expired.",
                                  "The credentials are invalid.")
    assert token not in stack.kore_log.read_text(errors="replace")


def test_truncated_token_refused(api, tokens):
    good = tokens["rep1"]
    assert api.get("/v1/me", headers=bearer(good)).status_code == 200
    assert api.get("/v1/me", headers=bearer(good[:-1])).status_code == 401
    assert api.get("/v1/me", headers=bearer(good[:-20])).status_code == 401


def test_valid_forged_token_is_accepted(api):
    # The same machinery with every claim right is accepted: the attack
    # tests above fail for the reason they name, not by accident.
    r = api.get("/v1/me", headers=bearer(sign(HS256, forged(),
                                              TEST_JWT_SECRET)))
    assert r.status_code == 200
    assert r.json()["user"]["id"] == REP1


def test_role_comes_from_the_database(api):
    # A token that claims admin for a rep gets the rep's rights.
    token = sign(HS256, forged(role="admin"), TEST_JWT_SECRET)
    r = api.get("/v1/me", headers=bearer(token))
    assert r.json()["user"]["role"] == "sales_rep"
    assert api.get("/v1/api-keys", headers=bearer(token)).status_code == 403

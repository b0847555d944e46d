"""Hand-made JWTs for the attack tests (no JWT library: every byte is ours)."""
import base64
import hashlib
import hmac
import json
import os
import time


def b64(data):
    if isinstance(data, (dict, list)):
        data = json.dumps(data, separators=(",", ":")).encode()
    elif isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(header, payload, secret, digest=hashlib.sha256, raw_payload=None):
    head = b64(header)
    body = b64(raw_payload if raw_payload is not None else payload)
    msg = f"{head}.{body}".encode()
    sig = hmac.new(secret.encode(), msg, digest).digest()
    return f"{head}.{body}.{b64(sig)}"


def claims(sub, org, role="sales_rep", **over):
    now = int(time.time())
    c = {"iss": "crm-api", "aud": "crm-api", "sub": sub, "org": org,
         "role": role, "jti": os.urandom(8).hex(), "iat": now, "nbf": now,
         "exp": now + 600}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


HS256 = {"alg": "HS256", "typ": "JWT"}

"""Runs last: the server under test logged no sanitizer report, and no
worker died (seccomp kills are silent to clients but logged by Kore)."""
import re


def test_no_sanitizer_reports(stack):
    text = "\n".join(stack.log_lines())
    for marker in ("AddressSanitizer", "runtime error:", "LeakSanitizer"):
        assert marker not in text, f"{marker} in kore.log"


def test_no_worker_died(stack):
    text = "\n".join(stack.log_lines())
    for marker in ("sandbox violation", "exited with status", "gone"):
        assert marker not in text, f"{marker} in kore.log"


def test_no_secret_in_any_log(stack):
    """Passwords, hashes, tokens and keys never reach a log file."""
    logs = [stack.kore_log, stack.state / "pg" / "postgres.log",
            stack.state / "nginx" / "error.log"]
    text = "\n".join(p.read_text(errors="replace") for p in logs
                     if p.exists())
    for secret in ("demo-password-2026", "a-long-passphrase", "scrypt$",
                   "eyJhbGciOi"):
        assert secret not in text, secret
    # Refresh tokens and API keys: a prefix and 43 base64url characters.
    assert not re.search(r"\b(rt|crm)_[A-Za-z0-9_-]{43}", text)

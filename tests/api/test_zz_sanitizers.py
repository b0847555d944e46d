"""Runs last: the server under test logged no sanitizer report, and no
worker died (seccomp kills are silent to clients but logged by Kore)."""


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
                   "rt_", "crm_", "eyJhbGciOi"):
        assert secret not in text, secret

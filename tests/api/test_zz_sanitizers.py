"""Runs last: the server under test logged no sanitizer report."""


def test_no_sanitizer_reports(stack):
    text = "\n".join(stack.log_lines())
    for marker in ("AddressSanitizer", "runtime error:", "LeakSanitizer"):
        assert marker not in text, f"{marker} in kore.log"

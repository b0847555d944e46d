"""Start-up configuration: production refuses unsafe defaults."""
import subprocess

from conftest import free_port


def run_kore(stack, env_extra, tmp_path):
    port = free_port()
    conf = (stack.state / "kore.conf").read_text().replace(
        f"bind 127.0.0.1 {stack.backend_port}", f"bind 127.0.0.1 {port}")
    path = tmp_path / "kore.conf"
    path.write_text(conf)
    env = dict(stack.env, **env_extra)
    env.pop("CRM_JWT_SECRET", None) if "CRM_JWT_SECRET" not in env_extra else None
    env.setdefault("ASAN_OPTIONS", "verify_asan_link_order=0:detect_leaks=0")
    if stack.env["CRM_BUILD"] == "debug":
        libs = [subprocess.run(["gcc", f"-print-file-name={l}"], text=True,
                               capture_output=True).stdout.strip()
                for l in ("libasan.so", "libubsan.so")]
        env["LD_PRELOAD"] = ":".join(libs)
    return subprocess.run(["/usr/bin/kore", "-c", str(path), "-f", "-n", "-r"],
                          env=env, capture_output=True, text=True, timeout=20)


def test_production_refuses_default_secret(stack, tmp_path):
    r = run_kore(stack, {"CRM_ENV": "production"}, tmp_path)
    assert r.returncode != 0
    assert "CRM_JWT_SECRET must be set in production" in r.stdout + r.stderr


def test_production_refuses_dev_secret(stack, tmp_path):
    r = run_kore(stack, {"CRM_ENV": "production", "CRM_JWT_SECRET":
                         "dev-only-insecure-jwt-secret-change-me-0123456789"},
                 tmp_path)
    assert r.returncode != 0
    assert "development default" in r.stdout + r.stderr


def test_short_secret_refused(stack, tmp_path):
    r = run_kore(stack, {"CRM_JWT_SECRET": "too-short"}, tmp_path)
    assert r.returncode != 0
    assert "at least 32 bytes" in r.stdout + r.stderr

/*
 * Start-up: the parent validates the configuration before any worker
 * starts (production refuses unsafe defaults) and maps the rate-limit
 * table the workers share (api/ratelimit.c); each worker loads it,
 * registers the database and opens its connections before it accepts
 * a request. Also the seccomp additions the workers need.
 */
#include <errno.h>
#include <stdlib.h>

#include <kore/seccomp.h>

#include "api.h"

struct crm_config api_config;

void kore_parent_configure(int, char **);
void kore_worker_configure(void);

/*
 * glibc 2.36 (Debian 12) reaches newfstatat and getdents64 inside libpq
 * and NSS; Kore 4.1's filter lacks them and kills the worker. Task threads
 * (password hashing) are created with clone3, which Kore does not know:
 * ENOSYS makes glibc fall back to clone, which Kore's task filter allows;
 * new threads register with rseq. AddressSanitizer (the debug build)
 * asks for gettid and sched_getaffinity when a thread starts. glibc's
 * resolver needs uname and sendmmsg to look up a database host by name
 * (found by running the server against "host=db" in a container).
 * Bulk jobs' threads grow large buffers with realloc, which glibc does
 * with mremap, and its locks may sched_yield: Kore's filter kills the
 * thread alone (SECCOMP_RET_KILL is per thread), which left its import
 * waiting forever in COPY (found in the audit log: syscalls 25 and 24).
 * A worker stopped and continued (SIGSTOP, a debugger) resumes an
 * interrupted poll with restart_syscall, which the filter lacks too.
 */
KORE_SECCOMP_FILTER("crm", KORE_SYSCALL_ALLOW(newfstatat),
    KORE_SYSCALL_ALLOW(getdents64), KORE_SYSCALL_ALLOW(rseq),
    KORE_SYSCALL_DENY(clone3, ENOSYS), KORE_SYSCALL_ALLOW(gettid),
    KORE_SYSCALL_ALLOW(sched_getaffinity), KORE_SYSCALL_ALLOW(sendmmsg),
    KORE_SYSCALL_ALLOW(uname), KORE_SYSCALL_ALLOW(mremap),
    KORE_SYSCALL_ALLOW(sched_yield), KORE_SYSCALL_ALLOW(restart_syscall));

static const char *
env_get(const char *name)
{
	return (getenv(name));
}

static void
config_load_or_die(void)
{
	struct crm_error err;

	crm_error_init(&err);
	if (!crm_config_load(&api_config, env_get, &err))
		fatal("crm: configuration: %s", err.detail);
	crm_error_cleanup(&err);
}

/* Kore calls this in the parent once, after reading the config file. */
void
kore_parent_configure(int argc, char **argv)
{
	(void)argc;
	(void)argv;

	config_load_or_die();
	/* Before the workers fork: they all count in this one table. */
	api_ratelimit_init();
	kore_log(LOG_NOTICE, "crm: %s mode, %d database connections per worker",
	    api_config.production ? "production" : "development",
	    api_config.db_pool);
}

/* Kore calls this in every worker before it serves requests. */
void
kore_worker_configure(void)
{
	struct crm_error err;
	int opened;

	config_load_or_die();

	crm_error_init(&err);
	if (!crm_db_init(api_config.database_url, api_config.db_pool, &err))
		fatal("crm: %s", err.detail);
	crm_error_cleanup(&err);

	opened = crm_db_warm(api_config.db_pool);
	if (opened < api_config.db_pool)
		kore_log(LOG_WARNING,
		    "crm: %d of %d database connections "
		    "open; the rest open on demand",
		    opened, api_config.db_pool);
}

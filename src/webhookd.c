/*
 * crm-webhookd: the webhook delivery worker. It claims due deliveries
 * from PostgreSQL (webhookd_claim: FOR UPDATE SKIP LOCKED, so several
 * workers share the queue), POSTs each event signed with its
 * subscription's secret, and reports every attempt (webhookd_complete):
 * a 2xx delivers it, anything else (another status, a refused or timed
 * out connection, an address it may not reach) is retried after the next
 * delay of the retry schedule, until the attempts are used up. It sleeps
 * until the next delivery falls due, or until PostgreSQL notifies it
 * (LISTEN crm_webhooks: a new event or a redelivery), whichever is first.
 *
 * It logs in as crm_webhookd, a role that can call those functions and
 * nothing else. Before each attempt it resolves the target again and
 * checks every address (crm_addr_class): an address that became internal
 * since the URL was saved (DNS rebinding) is refused unless the
 * subscription allows internal targets; it connects only to the
 * addresses it checked.
 *
 * Environment (defaults in brackets):
 *   CRM_WEBHOOKD_DATABASE_URL  libpq string as crm_webhookd
 *                              [host=127.0.0.1 port=5433 dbname=crm
 *                              user=crm_webhookd]
 *   CRM_WEBHOOK_BACKOFF        seconds before each retry, the last one
 *                              repeating [10,30,120,600,3600,21600,43200]
 *   CRM_WEBHOOK_MAX_ATTEMPTS   attempts per delivery, 1-100 [8]
 *   CRM_WEBHOOK_TIMEOUT_MS     per attempt: connect, TLS, send, answer
 *                              [10000]
 *   CRM_WEBHOOK_POLL_MS        longest sleep between claims [5000]
 *   CRM_WEBHOOK_BATCH          deliveries claimed at once, 1-100 [10]
 *   CRM_WEBHOOK_CA_FILE        extra trusted CA certificates (PEM)
 *   CRM_WEBHOOK_RETENTION_DAYS events older than this are deleted, with
 *                              their deliveries [30]
 *
 * SIGTERM or SIGINT: finish the delivery in hand, then exit 0.
 */
#include <sys/types.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/ssl.h>

#include "crm/webhook.h"

#define DEFAULT_DB "host=127.0.0.1 port=5433 dbname=crm user=crm_webhookd"
#define DEFAULT_BACKOFF "10,30,120,600,3600,21600,43200"
#define PURGE_EVERY_MS (3600 * 1000LL)

struct config {
	const char *database_url;
	int backoff[CRM_WEBHOOK_BACKOFF_MAX];
	size_t nbackoff;
	long max_attempts;
	long timeout_ms;
	long poll_ms;
	long batch;
	long retention_days;
	const char *ca_file;
	char worker[128];
};

static volatile sig_atomic_t stopping;

static const char SQL_CLAIM[] = "SELECT webhookd_claim($1, $2, $3)";
static const char SQL_COMPLETE[] =
    "SELECT webhookd_complete($1, $2, $3, $4, $5, $6, $7)";
static const char SQL_PURGE[] = "SELECT webhookd_purge($1, 10000)";

static void on_signal(int);
static int config_load(struct config *);
static int env_long(const char *, long, long, long, long *);
static long long now_ms(void);
static SSL_CTX *tls_new(const struct config *);
static PGconn *db_connect(const struct config *);
static int
claim_and_deliver(PGconn *, SSL_CTX *, const struct config *, long *);
static void deliver(PGconn *, SSL_CTX *, const struct config *, json_t *);
static int
attempt(SSL_CTX *, const struct config *, json_t *, int *, char *, size_t);
static int complete(PGconn *, const struct config *, const char *, int, int,
    long long, const char *, int);
static void wait_for_work(PGconn *, long);
static void purge(PGconn *, const struct config *);

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static long long
now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* A decimal integer in [min, max] from the environment, else `def`. */
static int
env_long(const char *name, long def, long min, long max, long *out)
{
	const char *v;
	char *end;
	long n;

	if ((v = getenv(name)) == NULL || *v == '\0') {
		*out = def;
		return (1);
	}
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || *end != '\0' || n < min || n > max) {
		fprintf(stderr,
		    "crm-webhookd: %s must be an integer from %ld "
		    "to %ld\n",
		    name, min, max);
		return (0);
	}
	*out = n;

	return (1);
}

/* Read the environment into `cfg`; 0 (and a message) when it is bad. */
static int
config_load(struct config *cfg)
{
	struct crm_error err;
	const char *v;
	char host[64];
	int ok;

	memset(cfg, 0, sizeof(*cfg));
	if ((cfg->database_url = getenv("CRM_WEBHOOKD_DATABASE_URL")) == NULL ||
	    *cfg->database_url == '\0')
		cfg->database_url = DEFAULT_DB;
	if ((v = getenv("CRM_WEBHOOK_BACKOFF")) == NULL || *v == '\0')
		v = DEFAULT_BACKOFF;
	crm_error_init(&err);
	ok = crm_webhook_backoff_parse(v, cfg->backoff, &cfg->nbackoff, &err);
	if (!ok)
		fprintf(stderr, "crm-webhookd: CRM_WEBHOOK_BACKOFF: %s\n",
		    err.detail);
	crm_error_cleanup(&err);
	if (!ok ||
	    !env_long("CRM_WEBHOOK_MAX_ATTEMPTS", 8, 1, 100,
		&cfg->max_attempts) ||
	    !env_long("CRM_WEBHOOK_TIMEOUT_MS", 10000, 100, 120000,
		&cfg->timeout_ms) ||
	    !env_long("CRM_WEBHOOK_POLL_MS", 5000, 50, 600000, &cfg->poll_ms) ||
	    !env_long("CRM_WEBHOOK_BATCH", 10, 1, 100, &cfg->batch) ||
	    !env_long("CRM_WEBHOOK_RETENTION_DAYS", 30, 1, 3650,
		&cfg->retention_days))
		return (0);
	if ((cfg->ca_file = getenv("CRM_WEBHOOK_CA_FILE")) != NULL &&
	    *cfg->ca_file == '\0')
		cfg->ca_file = NULL;

	if (gethostname(host, sizeof(host)) != 0)
		(void)snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	(void)snprintf(cfg->worker, sizeof(cfg->worker), "%s:%ld", host,
	    (long)getpid());

	return (1);
}

/*
 * The TLS client context: TLS 1.2 or later, peers verified against the
 * system's trust store and CRM_WEBHOOK_CA_FILE.
 */
static SSL_CTX *
tls_new(const struct config *cfg)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		return (NULL);
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_default_verify_paths(ctx) ||
	    (cfg->ca_file != NULL &&
		!SSL_CTX_load_verify_locations(ctx, cfg->ca_file, NULL))) {
		SSL_CTX_free(ctx);
		return (NULL);
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);

	return (ctx);
}

/* Connect and LISTEN; NULL (the reason logged) when the database is down. */
static PGconn *
db_connect(const struct config *cfg)
{
	PGconn *conn;
	PGresult *res;

	conn = PQconnectdb(cfg->database_url);
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "crm-webhookd: database: %s",
		    PQerrorMessage(conn));
		PQfinish(conn);
		return (NULL);
	}
	res = PQexec(conn, "LISTEN crm_webhooks");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		fprintf(stderr, "crm-webhookd: LISTEN: %s",
		    PQerrorMessage(conn));
		PQclear(res);
		PQfinish(conn);
		return (NULL);
	}
	PQclear(res);

	return (conn);
}

/*
 * Claim a batch and deliver it. Returns how many were claimed (-1 when
 * the database failed); `*next_ms` is how long until the next delivery
 * falls due (-1: none waiting).
 */
static int
claim_and_deliver(PGconn *conn, SSL_CTX *tls, const struct config *cfg,
    long *next_ms)
{
	const char *params[3];
	char batch[16], lease[16];
	json_error_t jerr;
	json_t *doc, *list, *d, *next;
	PGresult *res;
	long long claimed, lease_ms;
	size_t i, n;

	*next_ms = -1;
	(void)snprintf(batch, sizeof(batch), "%ld", cfg->batch);
	/* Long enough for the whole batch, one attempt after another. */
	lease_ms = (cfg->batch * (cfg->timeout_ms / 1000 + 5) + 30) * 1000LL;
	(void)snprintf(lease, sizeof(lease), "%lld", lease_ms / 1000);
	claimed = now_ms();
	params[0] = cfg->worker;
	params[1] = batch;
	params[2] = lease;
	res = PQexecParams(conn, SQL_CLAIM, 3, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		fprintf(stderr, "crm-webhookd: claim: %s",
		    PQerrorMessage(conn));
		PQclear(res);
		return (-1);
	}
	doc = json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
	PQclear(res);
	if (doc == NULL) {
		fprintf(stderr, "crm-webhookd: claim: bad JSON: %s\n",
		    jerr.text);
		return (-1);
	}

	list = json_object_get(doc, "deliveries");
	n = json_array_size(list);
	for (i = 0; i < n; i++) {
		/*
		 * Name lookups run outside an attempt's deadline: once too
		 * little of the lease is left for one more attempt, leave the
		 * rest to be claimed again when it runs out, rather than post
		 * an event another worker may be posting too.
		 */
		if (now_ms() - claimed > lease_ms - cfg->timeout_ms - 5000) {
			fprintf(stderr,
			    "crm-webhookd: lease nearly over; %zu deliveries "
			    "left for a later claim\n",
			    n - i);
			break;
		}
		d = json_array_get(list, i);
		deliver(conn, tls, cfg, d);
	}
	next = json_object_get(doc, "next_in_ms");
	if (json_is_integer(next))
		*next_ms = (long)json_integer_value(next);
	json_decref(doc);

	return ((int)n);
}

/*
 * One attempt of delivery `d` (a claimed row: id, attempt, url,
 * allow_internal, secret, event_type, body), reported to the database.
 */
static void
deliver(PGconn *conn, SSL_CTX *tls, const struct config *cfg, json_t *d)
{
	const char *id;
	char errbuf[256];
	long long started;
	int no, status, retry, elapsed, ok;

	id = json_string_value(json_object_get(d, "id"));
	no = (int)json_integer_value(json_object_get(d, "attempt"));
	if (id == NULL || no < 1)
		return;

	started = now_ms();
	status = 0;
	ok = attempt(tls, cfg, d, &status, errbuf, sizeof(errbuf));
	elapsed = (int)(now_ms() - started);
	if (ok && status >= 200 && status <= 299)
		retry = -1;
	else if (no >= cfg->max_attempts)
		retry = -1;
	else
		retry =
		    crm_webhook_backoff_delay(cfg->backoff, cfg->nbackoff, no);

	if (ok)
		printf("crm-webhookd: delivery %s attempt %d: HTTP %d in %d "
		       "ms%s\n",
		    id, no, status, elapsed,
		    status >= 200 && status <= 299 ? ", delivered" : "");
	else
		printf("crm-webhookd: delivery %s attempt %d: %s (%d ms)\n", id,
		    no, errbuf, elapsed);
	if (retry >= 0)
		printf("crm-webhookd: delivery %s: retry in %d s\n", id, retry);
	else if (!(ok && status >= 200 && status <= 299))
		printf("crm-webhookd: delivery %s: failed after %d attempts\n",
		    id, no);
	(void)fflush(stdout);

	if (!complete(conn, cfg, id, no, ok ? status : 0, elapsed,
		ok ? NULL : errbuf, retry))
		fprintf(stderr,
		    "crm-webhookd: delivery %s: the result of "
		    "attempt %d was not recorded\n",
		    id, no);
}

/*
 * Resolve, check and POST delivery `d`. 1 with `*status` when an answer
 * came back; 0 with the reason in `errbuf` otherwise.
 */
static int
attempt(SSL_CTX *tls, const struct config *cfg, json_t *d, int *status,
    char *errbuf, size_t errlen)
{
	struct crm_webhook_post post;
	struct crm_webhook_addrs addrs;
	struct crm_webhook_url url;
	struct crm_error err;
	const char *u, *secret, *body, *type, *id;
	char sig[CRM_WEBHOOK_SIG_MAX], headers[512];
	long long t;
	int allow, ok;

	u = json_string_value(json_object_get(d, "url"));
	secret = json_string_value(json_object_get(d, "secret"));
	body = json_string_value(json_object_get(d, "body"));
	type = json_string_value(json_object_get(d, "event_type"));
	id = json_string_value(json_object_get(d, "id"));
	allow = json_is_true(json_object_get(d, "allow_internal"));
	if (u == NULL || secret == NULL || body == NULL || type == NULL) {
		(void)snprintf(errbuf, errlen,
		    "the claimed delivery is "
		    "incomplete");
		return (0);
	}

	ok = 0;
	crm_error_init(&err);
	if (!crm_webhook_url_parse(u, &url, &err) ||
	    !crm_webhook_resolve(&url, &addrs, &err)) {
		(void)snprintf(errbuf, errlen, "%s",
		    json_string_value(
			json_object_get(json_array_get(err.errors, 0),
			    "message")));
		goto cleanup;
	}
	if (!url.tls && !allow) {
		(void)snprintf(errbuf, errlen,
		    "refused: plain http needs "
		    "allow_internal");
		goto cleanup;
	}
	if (addrs.worst == CRM_ADDR_BLOCKED ||
	    (addrs.worst == CRM_ADDR_INTERNAL && !allow)) {
		(void)snprintf(errbuf, errlen,
		    "refused: %s resolves to %s, an address webhooks may not "
		    "reach%s",
		    url.host, addrs.worst_text,
		    addrs.worst == CRM_ADDR_INTERNAL ? " without allow_internal"
						     : "");
		goto cleanup;
	}

	t = (long long)time(NULL);
	if (!crm_webhook_sign(secret, t, body, strlen(body), sig)) {
		(void)snprintf(errbuf, errlen, "signing failed");
		goto cleanup;
	}
	(void)snprintf(headers, sizeof(headers),
	    "X-CRM-Event: %s\r\nX-CRM-Delivery: %s\r\n"
	    "X-CRM-Timestamp: %lld\r\nX-CRM-Signature: %s\r\n",
	    type, id, t, sig);
	explicit_bzero(sig, sizeof(sig));

	memset(&post, 0, sizeof(post));
	post.url = &url;
	post.addrs = &addrs;
	post.tls = tls;
	post.headers = headers;
	post.body = body;
	post.body_len = strlen(body);
	post.timeout_ms = (int)cfg->timeout_ms;
	ok = crm_webhook_send(&post, status, errbuf, errlen);

cleanup:
	crm_error_cleanup(&err);
	return (ok);
}

/* webhookd_complete(); 1 when the attempt was recorded. */
static int
complete(PGconn *conn, const struct config *cfg, const char *id, int no,
    int status, long long elapsed, const char *error, int retry)
{
	const char *params[7];
	char nobuf[16], stbuf[16], msbuf[24], rebuf[16];
	PGresult *res;
	int ok;

	(void)snprintf(nobuf, sizeof(nobuf), "%d", no);
	(void)snprintf(stbuf, sizeof(stbuf), "%d", status);
	(void)snprintf(msbuf, sizeof(msbuf), "%lld", elapsed);
	(void)snprintf(rebuf, sizeof(rebuf), "%d", retry);
	params[0] = cfg->worker;
	params[1] = id;
	params[2] = nobuf;
	params[3] = status > 0 ? stbuf : NULL;
	params[4] = msbuf;
	params[5] = error;
	params[6] = retry >= 0 ? rebuf : NULL;
	res = PQexecParams(conn, SQL_COMPLETE, 7, NULL, params, NULL, NULL, 0);
	ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
	    strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fprintf(stderr, "crm-webhookd: complete: %s",
		    PQerrorMessage(conn));
	PQclear(res);

	return (ok);
}

/* Sleep up to `ms`, waking early on a notification or a signal. */
static void
wait_for_work(PGconn *conn, long ms)
{
	struct pollfd pfd;
	PGnotify *n;
	int woke;

	woke = 0;
	(void)PQconsumeInput(conn);
	while ((n = PQnotifies(conn)) != NULL) {
		woke = 1;
		PQfreemem(n);
	}
	if (woke || stopping)
		return;

	pfd.fd = PQsocket(conn);
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (poll(&pfd, 1, (int)ms) > 0) {
		(void)PQconsumeInput(conn);
		while ((n = PQnotifies(conn)) != NULL)
			PQfreemem(n);
	}
}

/* Delete expired events (and their deliveries), a batch at a time. */
static void
purge(PGconn *conn, const struct config *cfg)
{
	const char *params[1];
	char days[16];
	PGresult *res;
	int n;

	(void)snprintf(days, sizeof(days), "%ld", cfg->retention_days);
	params[0] = days;
	for (;;) {
		res = PQexecParams(conn, SQL_PURGE, 1, NULL, params, NULL, NULL,
		    0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			fprintf(stderr, "crm-webhookd: purge: %s",
			    PQerrorMessage(conn));
			PQclear(res);
			return;
		}
		n = atoi(PQgetvalue(res, 0, 0));
		PQclear(res);
		if (n > 0)
			printf("crm-webhookd: purged %d old events\n", n);
		if (n < 10000 || stopping)
			return;
	}
}

int
main(void)
{
	struct sigaction sa;
	struct config cfg;
	SSL_CTX *tls;
	PGconn *conn;
	long long last_purge;
	long next, wait, down;
	int n;

	if (!config_load(&cfg))
		return (2);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGINT, &sa, NULL);
	(void)signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);

	if ((tls = tls_new(&cfg)) == NULL) {
		fprintf(stderr,
		    "crm-webhookd: cannot set up TLS (CA file %s)\n",
		    cfg.ca_file != NULL ? cfg.ca_file : "none");
		return (2);
	}
	printf("crm-webhookd: worker %s, %ld attempts, timeout %ld ms\n",
	    cfg.worker, cfg.max_attempts, cfg.timeout_ms);

	conn = NULL;
	down = 0;
	last_purge = 0;
	while (!stopping) {
		if (conn == NULL && (conn = db_connect(&cfg)) == NULL) {
			/* Back off from 1 s to 30 s while the database is down. */
			down = down == 0
			    ? 1000
			    : (down * 2 > 30000 ? 30000 : down * 2);
			(void)poll(NULL, 0, (int)down);
			continue;
		}
		down = 0;
		if (now_ms() - last_purge >= PURGE_EVERY_MS) {
			purge(conn, &cfg);
			last_purge = now_ms();
		}
		if ((n = claim_and_deliver(conn, tls, &cfg, &next)) < 0) {
			if (PQstatus(conn) != CONNECTION_OK) {
				PQfinish(conn);
				conn = NULL;
			} else {
				(void)poll(NULL, 0, 1000);
			}
			continue;
		}
		/* Claim again at once: what it did changed what is due. */
		if (n > 0)
			continue;
		wait = cfg.poll_ms;
		if (next >= 0 && next < wait)
			wait = next;
		/* Due but held by another worker's claim: do not spin. */
		if (wait < 50)
			wait = 50;
		wait_for_work(conn, wait);
	}

	printf("crm-webhookd: stopping\n");
	PQfinish(conn);
	SSL_CTX_free(tls);
	return (0);
}

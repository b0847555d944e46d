/*
 * Outbound webhooks without Kore or the database: target URLs (parsed,
 * and the addresses they resolve to classified), the Stripe-style
 * signature, the retry schedule, and one HTTP/1.1 POST over a plain or
 * TLS socket under a deadline. The API checks URLs with it; crm-webhookd
 * delivers with it. Every function is safe to call from any thread.
 */
#ifndef CRM_WEBHOOK_H
#define CRM_WEBHOOK_H

#include <sys/types.h>
#include <sys/socket.h>

#include <stddef.h>

#include "crm/error.h"

#define CRM_WEBHOOK_URL_MAX 2000
#define CRM_WEBHOOK_HOST_MAX 253
#define CRM_WEBHOOK_ADDRS_MAX 16
#define CRM_WEBHOOK_SIG_MAX 96 /* "t=<unix>,v1=<64 hex>" and a NUL */
#define CRM_WEBHOOK_BACKOFF_MAX 32
#define CRM_WEBHOOK_SECRET_PREFIX "whsec_"

/* A target URL, split. */
struct crm_webhook_url {
	int tls; /* https */
	char host[CRM_WEBHOOK_HOST_MAX + 1]; /* lowercase, no brackets */
	int host_is_ip; /* a literal IPv4 or IPv6 address */
	char port[6];
	char path[CRM_WEBHOOK_URL_MAX + 1]; /* path and query: "/" at least */
};

/* What an address is to a webhook. */
enum crm_addr_class {
	CRM_ADDR_PUBLIC = 0,
	/* loopback, RFC 1918, CGNAT, link-local, ULA: with allow_internal */
	CRM_ADDR_INTERNAL = 1,
	/* unspecified, multicast, reserved, documentation, cloud metadata */
	CRM_ADDR_BLOCKED = 2,
};

/* The addresses a host resolved to, and the worst of their classes. */
struct crm_webhook_addrs {
	size_t n;
	struct sockaddr_storage addr[CRM_WEBHOOK_ADDRS_MAX];
	socklen_t len[CRM_WEBHOOK_ADDRS_MAX];
	int worst; /* enum crm_addr_class */
	char worst_text[64]; /* that address, printable */
};

/* One POST: where, what, and how long it may take in all. */
struct crm_webhook_post {
	const struct crm_webhook_url *url;
	const struct crm_webhook_addrs *addrs;
	void *tls; /* SSL_CTX * for https URLs */
	const char *headers; /* extra lines, each ending in "\r\n" */
	const char *body;
	size_t body_len;
	int timeout_ms;
};

int crm_webhook_url_parse(const char *, struct crm_webhook_url *,
    struct crm_error *) CRM_MUSTCHECK;
int crm_addr_class(const struct sockaddr *);
int crm_webhook_resolve(const struct crm_webhook_url *,
    struct crm_webhook_addrs *, struct crm_error *) CRM_MUSTCHECK;
int crm_webhook_sign(const char *, long long, const char *, size_t,
    char[CRM_WEBHOOK_SIG_MAX]) CRM_MUSTCHECK;
int crm_webhook_backoff_parse(const char *, int *, size_t *,
    struct crm_error *) CRM_MUSTCHECK;
int crm_webhook_backoff_delay(const int *, size_t, int);
int crm_http_status_parse(const char *, size_t);

/* webhook_http.c (crm-webhookd only: it needs libssl) */
int crm_webhook_send(const struct crm_webhook_post *, int *, char *,
    size_t) CRM_MUSTCHECK;

#endif

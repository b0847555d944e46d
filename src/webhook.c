/*
 * Webhook targets and signatures (include/crm/webhook.h): URL parsing,
 * the classification of the addresses a target resolves to, the
 * HMAC-SHA256 signature of a delivery, and the retry schedule.
 *
 * A target is checked twice: when an admin saves it (the API resolves it
 * in a task thread) and before every delivery (crm-webhookd resolves it
 * again and connects only to the addresses it checked), so a name that
 * later resolves to an internal address (DNS rebinding) is refused then.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/auth.h"
#include "crm/webhook.h"

static int url_fail(struct crm_error *, const char *);
static int
host_parse(const char *, size_t, struct crm_webhook_url *, struct crm_error *);
static int v4_class(const unsigned char *);
static int v6_class(const unsigned char *);
static int in_prefix(const unsigned char *, const char *, int);

/* A 422 field error on `url` with `msg`; returns CRM_ERROR. */
static int
url_fail(struct crm_error *err, const char *msg)
{
	crm_error_set(err, CRM_ERR_VALIDATION,
	    "The webhook has invalid fields; see errors.");
	crm_error_field(err, "url", "format", msg);
	return (CRM_ERROR);
}

/*
 * Split `s` into `u`: http or https (lowercase), a host name or a literal
 * address (IPv6 in brackets), an optional port, and the path with its
 * query. Refused: anything but printable ASCII, credentials (user@),
 * fragments, numeric hosts that are not dotted IPv4 (2130706433,
 * 0x7f.1), zone ids. Errors are 422 field errors on "url".
 */
int
crm_webhook_url_parse(const char *s, struct crm_webhook_url *u,
    struct crm_error *err)
{
	const char *p, *auth, *end, *colon;
	size_t len, i, n;
	long port;
	char *stop;

	memset(u, 0, sizeof(*u));
	len = strlen(s);
	if (len == 0 || len > CRM_WEBHOOK_URL_MAX)
		return (url_fail(err, "url must have 1 to 2000 characters."));
	for (i = 0; i < len; i++) {
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return (url_fail(err,
			    "url must be printable ASCII "
			    "(percent-encode the rest)."));
	}
	if (strchr(s, '#') != NULL)
		return (url_fail(err, "url must not have a fragment (#)."));

	if (strncmp(s, "https://", 8) == 0) {
		u->tls = 1;
		auth = s + 8;
	} else if (strncmp(s, "http://", 7) == 0) {
		auth = s + 7;
	} else {
		return (url_fail(err,
		    "url must start with https:// (or "
		    "http:// with allow_internal)."));
	}

	end = auth + strcspn(auth, "/?");
	if (memchr(auth, '@', (size_t)(end - auth)) != NULL)
		return (url_fail(err,
		    "url must not carry credentials "
		    "(user@host)."));

	/* The port follows the last colon outside brackets. */
	colon = NULL;
	if (*auth == '[') {
		p = memchr(auth, ']', (size_t)(end - auth));
		if (p == NULL)
			return (url_fail(err,
			    "url has an unclosed [ in its "
			    "host."));
		if (p + 1 < end) {
			if (p[1] != ':')
				return (url_fail(err,
				    "url has text after "
				    "its IPv6 address."));
			colon = p + 1;
		}
	} else {
		colon = memchr(auth, ':', (size_t)(end - auth));
	}

	n = (size_t)((colon != NULL ? colon : end) - auth);
	if (!host_parse(auth, n, u, err))
		return (CRM_ERROR);

	if (colon != NULL) {
		n = (size_t)(end - colon - 1);
		if (n == 0 || n > 5 || strspn(colon + 1, "0123456789") < n)
			return (url_fail(err, "url has a bad port."));
		errno = 0;
		port = strtol(colon + 1, &stop, 10);
		if (port < 1 || port > 65535)
			return (url_fail(err, "url has a bad port."));
		(void)snprintf(u->port, sizeof(u->port), "%ld", port);
	} else {
		(void)snprintf(u->port, sizeof(u->port), "%s",
		    u->tls ? "443" : "80");
	}

	if (*end == '\0')
		(void)snprintf(u->path, sizeof(u->path), "/");
	else if (*end == '?')
		(void)snprintf(u->path, sizeof(u->path), "/%s", end);
	else
		(void)snprintf(u->path, sizeof(u->path), "%s", end);

	return (CRM_OK);
}

/*
 * The host part (`n` bytes at `h`) into u->host: an IPv6 literal in
 * brackets, a dotted IPv4 address, or a DNS name of letters, digits,
 * hyphens and dots whose last label is not numeric.
 */
static int
host_parse(const char *h, size_t n, struct crm_webhook_url *u,
    struct crm_error *err)
{
	unsigned char buf[sizeof(struct in6_addr)];
	const char *label;
	size_t i;
	int numeric;

	if (n == 0)
		return (url_fail(err, "url has no host."));
	if (h[0] == '[') {
		if (n < 3 || h[n - 1] != ']' || n - 2 >= sizeof(u->host))
			return (url_fail(err, "url has a bad IPv6 address."));
		memcpy(u->host, h + 1, n - 2);
		u->host[n - 2] = '\0';
		if (inet_pton(AF_INET6, u->host, buf) != 1)
			return (url_fail(err, "url has a bad IPv6 address."));
		u->host_is_ip = 1;
		goto lower;
	}
	if (n > CRM_WEBHOOK_HOST_MAX)
		return (url_fail(err,
		    "url has a host name over 253 "
		    "characters."));
	memcpy(u->host, h, n);
	u->host[n] = '\0';
	if (inet_pton(AF_INET, u->host, buf) == 1) {
		u->host_is_ip = 1;
		return (CRM_OK);
	}

	/* A DNS name: labels of 1-63 characters; the last is not a number. */
	if (strspn(u->host,
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV"
		"WXYZ0123456789-.") != n)
		return (url_fail(err,
		    "url has a host that is neither a "
		    "name nor an address."));
	if (u->host[n - 1] == '.')
		u->host[--n] = '\0';
	label = u->host;
	numeric = 1;
	for (i = 0; i <= n; i++) {
		if (u->host[i] == '.' || u->host[i] == '\0') {
			if (&u->host[i] == label || &u->host[i] - label > 63 ||
			    label[0] == '-' || u->host[i - 1] == '-')
				return (url_fail(err,
				    "url has an empty, "
				    "over-long or hyphen-"
				    "edged host label."));
			numeric = (strspn(label, "0123456789") >=
				(size_t)(&u->host[i] - label) ||
			    (label[0] == '0' &&
				(label[1] == 'x' || label[1] == 'X')));
			label = &u->host[i + 1];
		}
	}
	if (numeric)
		return (url_fail(err,
		    "url has a numeric host that is not a "
		    "dotted IPv4 address."));

lower:
	for (i = 0; u->host[i] != '\0'; i++)
		u->host[i] = (char)tolower((unsigned char)u->host[i]);

	return (CRM_OK);
}

/* Whether the first `bits` bits of `a` are those of address `prefix`. */
static int
in_prefix(const unsigned char *a, const char *prefix, int bits)
{
	unsigned char p[16];
	int family, bytes, rest;

	family = strchr(prefix, ':') != NULL ? AF_INET6 : AF_INET;
	if (inet_pton(family, prefix, p) != 1)
		return (0);
	bytes = bits / 8;
	rest = bits % 8;
	if (memcmp(a, p, (size_t)bytes) != 0)
		return (0);
	if (rest == 0)
		return (1);

	return ((a[bytes] >> (8 - rest)) == (p[bytes] >> (8 - rest)));
}

/* The class of IPv4 address `a` (4 bytes, network order). */
static int
v4_class(const unsigned char *a)
{
	static const struct {
		const char *net;
		int bits;
		int class;
	} nets[] = {
	    {"169.254.169.254", 32, CRM_ADDR_BLOCKED}, /* cloud metadata */
	    {"0.0.0.0", 8, CRM_ADDR_BLOCKED},
	    {"10.0.0.0", 8, CRM_ADDR_INTERNAL},
	    {"100.64.0.0", 10, CRM_ADDR_INTERNAL}, /* carrier-grade NAT */
	    {"127.0.0.0", 8, CRM_ADDR_INTERNAL},
	    {"169.254.0.0", 16, CRM_ADDR_INTERNAL}, /* link-local */
	    {"172.16.0.0", 12, CRM_ADDR_INTERNAL},
	    {"192.0.0.0", 24, CRM_ADDR_BLOCKED}, /* IETF assignments */
	    {"192.0.2.0", 24, CRM_ADDR_BLOCKED}, /* documentation */
	    {"192.88.99.0", 24, CRM_ADDR_BLOCKED}, /* 6to4 relays */
	    {"192.168.0.0", 16, CRM_ADDR_INTERNAL},
	    {"198.18.0.0", 15, CRM_ADDR_BLOCKED}, /* benchmarking */
	    {"198.51.100.0", 24, CRM_ADDR_BLOCKED},
	    {"203.0.113.0", 24, CRM_ADDR_BLOCKED},
	    {"224.0.0.0", 4, CRM_ADDR_BLOCKED}, /* multicast */
	    {"240.0.0.0", 4, CRM_ADDR_BLOCKED}, /* reserved, broadcast */
	};
	size_t i;

	for (i = 0; i < sizeof(nets) / sizeof(nets[0]); i++) {
		if (in_prefix(a, nets[i].net, nets[i].bits))
			return (nets[i].class);
	}

	return (CRM_ADDR_PUBLIC);
}

/*
 * The class of IPv6 address `a` (16 bytes). Forms that carry an IPv4
 * address (mapped, NAT64, 6to4) are judged by it.
 */
static int
v6_class(const unsigned char *a)
{
	static const struct {
		const char *net;
		int bits;
		int class;
	} nets[] = {
	    {"::1", 128, CRM_ADDR_INTERNAL},
	    {"fd00:ec2::254", 128, CRM_ADDR_BLOCKED}, /* cloud metadata */
	    {"::", 96, CRM_ADDR_BLOCKED}, /* unspecified, v4-compatible */
	    {"100::", 64, CRM_ADDR_BLOCKED}, /* discard */
	    {"2001::", 32, CRM_ADDR_BLOCKED}, /* Teredo */
	    {"2001:db8::", 32, CRM_ADDR_BLOCKED}, /* documentation */
	    {"fc00::", 7, CRM_ADDR_INTERNAL}, /* unique local */
	    {"fe80::", 10, CRM_ADDR_INTERNAL}, /* link-local */
	    {"fec0::", 10, CRM_ADDR_INTERNAL}, /* site-local (old) */
	    {"ff00::", 8, CRM_ADDR_BLOCKED}, /* multicast */
	};
	size_t i;

	if (in_prefix(a, "::ffff:0:0", 96) || in_prefix(a, "64:ff9b::", 96))
		return (v4_class(a + 12));
	if (in_prefix(a, "2002::", 16))
		return (v4_class(a + 2));
	for (i = 0; i < sizeof(nets) / sizeof(nets[0]); i++) {
		if (in_prefix(a, nets[i].net, nets[i].bits))
			return (nets[i].class);
	}

	return (CRM_ADDR_PUBLIC);
}

/* The class (enum crm_addr_class) of an IPv4 or IPv6 socket address. */
int
crm_addr_class(const struct sockaddr *sa)
{
	const struct sockaddr_in *in4;
	const struct sockaddr_in6 *in6;

	if (sa->sa_family == AF_INET) {
		in4 = (const struct sockaddr_in *)(const void *)sa;
		return (v4_class((const unsigned char *)&in4->sin_addr));
	}
	if (sa->sa_family == AF_INET6) {
		in6 = (const struct sockaddr_in6 *)(const void *)sa;
		return (v6_class(in6->sin6_addr.s6_addr));
	}

	return (CRM_ADDR_BLOCKED);
}

/*
 * Resolve `u`'s host (blocking: run it off any event loop) into `out`,
 * with the worst class among the addresses. CRM_ERROR with a 422 field
 * error on "url" when the name does not resolve.
 */
int
crm_webhook_resolve(const struct crm_webhook_url *u,
    struct crm_webhook_addrs *out, struct crm_error *err)
{
	struct addrinfo hints, *res, *ai;
	char msg[CRM_WEBHOOK_HOST_MAX + 128];
	int rc, class;

	memset(out, 0, sizeof(*out));
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (u->host_is_ip ? AI_NUMERICHOST : 0);

	if ((rc = getaddrinfo(u->host, u->port, &hints, &res)) != 0) {
		(void)snprintf(msg, sizeof(msg),
		    "url: the host %s could not be resolved (%s).", u->host,
		    gai_strerror(rc));
		(void)url_fail(err, msg);
		return (CRM_ERROR);
	}

	for (ai = res; ai != NULL && out->n < CRM_WEBHOOK_ADDRS_MAX;
	     ai = ai->ai_next) {
		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
		    ai->ai_addrlen > sizeof(out->addr[0]))
			continue;
		memcpy(&out->addr[out->n], ai->ai_addr, ai->ai_addrlen);
		out->len[out->n] = ai->ai_addrlen;
		class = crm_addr_class(ai->ai_addr);
		if (out->n == 0 || class > out->worst) {
			out->worst = class;
			(void)getnameinfo(ai->ai_addr, ai->ai_addrlen,
			    out->worst_text, sizeof(out->worst_text), NULL, 0,
			    NI_NUMERICHOST);
		}
		out->n++;
	}
	freeaddrinfo(res);

	if (out->n == 0) {
		(void)snprintf(msg, sizeof(msg),
		    "url: the host %s has no IPv4 or IPv6 address.", u->host);
		(void)url_fail(err, msg);
		return (CRM_ERROR);
	}

	return (CRM_OK);
}

/*
 * The X-CRM-Signature value of a delivery sent at unix time `t` with
 * `len` bytes of `body`: "t=<t>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed
 * with `secret`>" (Stripe's scheme). CRM_ERROR if OpenSSL fails.
 */
int
crm_webhook_sign(const char *secret, long long t, const char *body, size_t len,
    char out[CRM_WEBHOOK_SIG_MAX])
{
	const char *parts[3];
	size_t lens[3];
	char ts[24], mac[65];
	int n;

	out[0] = '\0';
	n = snprintf(ts, sizeof(ts), "%lld", t);
	parts[0] = ts;
	lens[0] = (size_t)n;
	parts[1] = ".";
	lens[1] = 1;
	parts[2] = body;
	lens[2] = len;
	if (!crm_hmac_sha256_hex(secret, parts, lens, 3, mac))
		return (CRM_ERROR);
	(void)snprintf(out, CRM_WEBHOOK_SIG_MAX, "t=%s,v1=%s", ts, mac);

	return (CRM_OK);
}

/*
 * Parse a retry schedule, seconds between attempts ("10,30,120,600"),
 * into `out` (CRM_WEBHOOK_BACKOFF_MAX entries of 1..604800) and `n`.
 */
int
crm_webhook_backoff_parse(const char *s, int *out, size_t *n,
    struct crm_error *err)
{
	const char *p;
	char *end;
	long v;

	*n = 0;
	p = s;
	for (;;) {
		errno = 0;
		v = strtol(p, &end, 10);
		if (end == p || errno != 0 || v < 1 || v > 604800 ||
		    (*end != ',' && *end != '\0') ||
		    *n == CRM_WEBHOOK_BACKOFF_MAX)
			return (crm_error_set(err, CRM_ERR_VALIDATION,
			    "the retry schedule must be 1 to %d "
			    "comma-separated "
			    "numbers of seconds from 1 to 604800",
			    CRM_WEBHOOK_BACKOFF_MAX));
		out[(*n)++] = (int)v;
		if (*end == '\0')
			return (CRM_OK);
		p = end + 1;
	}
}

/*
 * Seconds to wait after failed attempt `attempt` (1 = the first) under
 * schedule `s` of `n` delays: the attempt's own delay, the last one for
 * every attempt beyond the schedule.
 */
int
crm_webhook_backoff_delay(const int *s, size_t n, int attempt)
{
	size_t i;

	if (n == 0)
		return (60);
	i = attempt < 1 ? 0 : (size_t)(attempt - 1);

	return (s[i < n ? i : n - 1]);
}

/*
 * The status code of an HTTP/1.x response whose first `len` bytes are in
 * `buf` ("HTTP/1.1 204 No Content\r\n..."), or -1 when they do not start
 * with a status line.
 */
int
crm_http_status_parse(const char *buf, size_t len)
{
	int code;

	if (len < 12 || memcmp(buf, "HTTP/1.", 7) != 0 ||
	    !isdigit((unsigned char)buf[7]) || buf[8] != ' ' ||
	    !isdigit((unsigned char)buf[9]) ||
	    !isdigit((unsigned char)buf[10]) ||
	    !isdigit((unsigned char)buf[11]) ||
	    (len > 12 && buf[12] != ' ' && buf[12] != '\r'))
		return (-1);
	code = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');

	return (code >= 100 ? code : -1);
}

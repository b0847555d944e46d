/*
 * One webhook POST (crm_webhook_send): connect to the addresses the
 * caller checked (never resolving the name again), TLS with certificate
 * and host name verification for https, the request, and the status line
 * of the answer, all under one deadline. Non-blocking sockets and poll(2)
 * throughout, so no step can outlast the timeout. Part of crm-webhookd
 * (it needs libssl, which the API does not link).
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "crm/webhook.h"

#define RESPONSE_HEAD_MAX 16384

struct conn {
	int fd;
	SSL *ssl;
	long long deadline; /* CLOCK_MONOTONIC, ms */
	char *err;
	size_t errlen;
};

static long long now_ms(void);
static int
fail(struct conn *, const char *, ...) __attribute__((format(printf, 2, 3)));
static int wait_fd(struct conn *, short);
static int connect_one(struct conn *, const struct sockaddr *, socklen_t);
static int tls_start(struct conn *, const struct crm_webhook_post *);
static int tls_wait(struct conn *, int, const char *);
static int send_all(struct conn *, const char *, size_t);
static ssize_t recv_some(struct conn *, char *, size_t);

static long long
now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Write the error text; returns CRM_ERROR for `return (fail(...))`. */
static int
fail(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(c->err, c->errlen, fmt, ap);
	va_end(ap);

	return (CRM_ERROR);
}

/* Wait until the socket is ready for `events`, or the deadline. */
static int
wait_fd(struct conn *c, short events)
{
	struct pollfd pfd;
	long long left;
	int rc;

	for (;;) {
		left = c->deadline - now_ms();
		if (left <= 0)
			return (fail(c, "timed out"));
		pfd.fd = c->fd;
		pfd.events = events;
		pfd.revents = 0;
		rc = poll(&pfd, 1, (int)left);
		if (rc > 0)
			return (CRM_OK);
		if (rc == 0)
			return (fail(c, "timed out"));
		if (errno != EINTR)
			return (fail(c, "poll: %s", strerror(errno)));
	}
}

/* Connect c->fd to `sa`, non-blocking, within the deadline. */
static int
connect_one(struct conn *c, const struct sockaddr *sa, socklen_t len)
{
	socklen_t elen;
	int e;

	c->fd = socket(sa->sa_family,
	    SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->fd == -1)
		return (fail(c, "socket: %s", strerror(errno)));
	if (connect(c->fd, sa, len) == 0)
		return (CRM_OK);
	if (errno != EINPROGRESS)
		return (fail(c, "connect: %s", strerror(errno)));
	if (!wait_fd(c, POLLOUT))
		return (CRM_ERROR);
	e = 0;
	elen = sizeof(e);
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &elen) == -1)
		e = errno;
	if (e != 0)
		return (fail(c, "connect: %s", strerror(e)));

	return (CRM_OK);
}

/* Wait for what OpenSSL asked for after `rc` from `what`; else fail. */
static int
tls_wait(struct conn *c, int rc, const char *what)
{
	unsigned long e;
	int why;

	why = SSL_get_error(c->ssl, rc);
	if (why == SSL_ERROR_WANT_READ)
		return (wait_fd(c, POLLIN));
	if (why == SSL_ERROR_WANT_WRITE)
		return (wait_fd(c, POLLOUT));
	e = ERR_get_error();
	ERR_clear_error();
	if (why == SSL_ERROR_SSL && SSL_get_verify_result(c->ssl) != X509_V_OK)
		return (fail(c, "tls: certificate not trusted: %s",
		    X509_verify_cert_error_string(
			SSL_get_verify_result(c->ssl))));
	if (e != 0)
		return (
		    fail(c, "tls %s: %s", what, ERR_reason_error_string(e)));
	if (why == SSL_ERROR_ZERO_RETURN || why == SSL_ERROR_SYSCALL)
		return (fail(c, "tls %s: the connection closed", what));

	return (fail(c, "tls %s failed", what));
}

/*
 * The TLS handshake on c->fd for the URL's host: SNI for names, the
 * certificate checked against the trust store and the host name (or the
 * IP address for literal hosts).
 */
static int
tls_start(struct conn *c, const struct crm_webhook_post *p)
{
	int rc;

	if ((c->ssl = SSL_new((SSL_CTX *)p->tls)) == NULL ||
	    !SSL_set_fd(c->ssl, c->fd))
		return (fail(c, "tls: out of memory"));
	if (p->url->host_is_ip) {
		if (!X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl),
			p->url->host))
			return (fail(c, "tls: bad address"));
	} else if (!SSL_set_tlsext_host_name(c->ssl, p->url->host) ||
	    !SSL_set1_host(c->ssl, p->url->host)) {
		return (fail(c, "tls: bad host name"));
	}
	SSL_set_verify(c->ssl, SSL_VERIFY_PEER, NULL);

	for (;;) {
		ERR_clear_error();
		if ((rc = SSL_connect(c->ssl)) == 1)
			return (CRM_OK);
		if (!tls_wait(c, rc, "handshake"))
			return (CRM_ERROR);
	}
}

/* Send `len` bytes of `buf`, all of them, within the deadline. */
static int
send_all(struct conn *c, const char *buf, size_t len)
{
	ssize_t n;
	int rc;

	while (len > 0) {
		if (c->ssl != NULL) {
			ERR_clear_error();
			rc = SSL_write(c->ssl, buf,
			    len > 1 << 30 ? 1 << 30 : (int)len);
			if (rc <= 0) {
				if (!tls_wait(c, rc, "write"))
					return (CRM_ERROR);
				continue;
			}
			n = rc;
		} else {
			n = send(c->fd, buf, len, MSG_NOSIGNAL);
			if (n == -1) {
				if (errno == EINTR)
					continue;
				if (errno != EAGAIN && errno != EWOULDBLOCK)
					return (fail(c, "send: %s",
					    strerror(errno)));
				if (!wait_fd(c, POLLOUT))
					return (CRM_ERROR);
				continue;
			}
		}
		buf += n;
		len -= (size_t)n;
	}

	return (CRM_OK);
}

/* Receive up to `size` bytes: their count, 0 at end of stream, -1. */
static ssize_t
recv_some(struct conn *c, char *buf, size_t size)
{
	ssize_t n;
	int rc;

	for (;;) {
		if (c->ssl != NULL) {
			ERR_clear_error();
			rc = SSL_read(c->ssl, buf, (int)size);
			if (rc > 0)
				return (rc);
			if (SSL_get_error(c->ssl, rc) == SSL_ERROR_ZERO_RETURN)
				return (0);
			if (!tls_wait(c, rc, "read"))
				return (-1);
			continue;
		}
		n = recv(c->fd, buf, size, 0);
		if (n >= 0)
			return (n);
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			(void)fail(c, "recv: %s", strerror(errno));
			return (-1);
		}
		if (!wait_fd(c, POLLIN))
			return (-1);
	}
}

/*
 * POST `p->body` to `p->url` at one of `p->addrs` (tried in order) with
 * `p->headers`, within `p->timeout_ms` in all. CRM_OK with the answer's
 * status code in `*status` when a status line came back (whatever the
 * code); CRM_ERROR with the reason in `err` (at most `errlen` bytes)
 * otherwise. The response body is not read.
 */
int
crm_webhook_send(const struct crm_webhook_post *p, int *status, char *err,
    size_t errlen)
{
	struct conn c;
	char head[RESPONSE_HEAD_MAX + 1], *req;
	size_t i, got, reqlen;
	ssize_t n;
	int ok, port;

	memset(&c, 0, sizeof(c));
	c.fd = -1;
	c.err = err;
	c.errlen = errlen;
	c.deadline = now_ms() + p->timeout_ms;
	err[0] = '\0';
	head[0] = '\0';
	*status = 0;
	ok = CRM_ERROR;
	req = NULL;

	for (i = 0; i < p->addrs->n; i++) {
		if (connect_one(&c, (const struct sockaddr *)&p->addrs->addr[i],
			p->addrs->len[i]))
			break;
		if (c.fd != -1)
			(void)close(c.fd);
		c.fd = -1;
	}
	if (c.fd == -1) {
		if (err[0] == '\0')
			(void)fail(&c, "no address to connect to");
		goto cleanup;
	}
	if (p->url->tls && !tls_start(&c, p))
		goto cleanup;

	/* Host carries the port only when it is not the scheme's. */
	port = atoi(p->url->port);
	reqlen = strlen(p->url->path) + strlen(p->url->host) +
	    strlen(p->headers) + p->body_len + 256;
	req = malloc(reqlen);
	if (req == NULL) {
		(void)fail(&c, "out of memory");
		goto cleanup;
	}
	n = snprintf(req, reqlen,
	    "POST %s HTTP/1.1\r\n"
	    "Host: %s%s%s%s%s\r\n"
	    "User-Agent: crm-webhookd/1\r\n"
	    "Content-Type: application/json\r\n"
	    "Content-Length: %zu\r\n"
	    "Connection: close\r\n"
	    "%s\r\n",
	    p->url->path, strchr(p->url->host, ':') ? "[" : "", p->url->host,
	    strchr(p->url->host, ':') ? "]" : "",
	    (port == (p->url->tls ? 443 : 80)) ? "" : ":",
	    (port == (p->url->tls ? 443 : 80)) ? "" : p->url->port, p->body_len,
	    p->headers);
	if (n < 0 || (size_t)n + p->body_len >= reqlen) {
		(void)fail(&c, "request too large");
		goto cleanup;
	}
	memcpy(req + n, p->body, p->body_len);
	if (!send_all(&c, req, (size_t)n + p->body_len))
		goto cleanup;

	/* The status line and the headers, at most RESPONSE_HEAD_MAX. */
	got = 0;
	while (got < RESPONSE_HEAD_MAX) {
		n = recv_some(&c, head + got, RESPONSE_HEAD_MAX - got);
		if (n < 0)
			goto cleanup;
		if (n == 0)
			break;
		got += (size_t)n;
		head[got] = '\0';
		if (strstr(head, "\r\n\r\n") != NULL)
			break;
	}
	if ((*status = crm_http_status_parse(head, got)) < 0) {
		*status = 0;
		(void)fail(&c,
		    got == 0 ? "the connection closed without an "
			       "answer"
			     : "the answer is not HTTP/1.x");
		goto cleanup;
	}
	ok = CRM_OK;

cleanup:
	if (c.ssl != NULL)
		SSL_free(c.ssl);
	if (c.fd != -1)
		(void)close(c.fd);
	free(req);
	return (ok);
}

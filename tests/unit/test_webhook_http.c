/*
 * Unit tests of src/webhook_http.c against a one-connection server in a
 * child process on 127.0.0.1: the request as sent (line, headers, body),
 * the status read back, a server that never answers (timeout), one that
 * closes at once, one that speaks something else, and a refused port.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "crm/webhook.h"

enum { SERVE_ANSWER, SERVE_SILENT, SERVE_CLOSE, SERVE_GARBAGE };

/*
 * Listen on an ephemeral loopback port, fork a child that accepts one
 * connection, writes what it read into `pipefd` and answers per `mode`.
 * Returns the port; *pid is the child.
 */
static int
serve_once(int mode, const char *answer, int pipefd, pid_t *pid)
{
	struct sockaddr_in sin;
	socklen_t len;
	char buf[8192];
	ssize_t n;
	size_t got;
	int fd, c;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(fd, 1) != 0)
		return (-1);
	len = sizeof(sin);
	(void)getsockname(fd, (struct sockaddr *)&sin, &len);

	if ((*pid = fork()) != 0) {
		(void)close(fd);
		return (ntohs(sin.sin_port));
	}
	if ((c = accept(fd, NULL, NULL)) == -1)
		_exit(1);
	if (mode == SERVE_CLOSE)
		_exit(0);
	/* Read until the body (Content-Length) is complete. */
	got = 0;
	while (got < sizeof(buf) - 1 &&
	    (n = read(c, buf + got, sizeof(buf) - 1 - got)) > 0) {
		got += (size_t)n;
		buf[got] = '\0';
		if (strstr(buf, "\r\n\r\n") != NULL &&
		    strlen(strstr(buf, "\r\n\r\n") + 4) >=
			(size_t)atoi(strstr(buf, "Content-Length: ") + 16))
			break;
	}
	(void)write(pipefd, buf, got);
	if (mode == SERVE_SILENT) {
		sleep(5);
		_exit(0);
	}
	if (mode == SERVE_GARBAGE)
		(void)write(c, "SSH-2.0-x\r\n\r\n", 13);
	else
		(void)write(c, answer, strlen(answer));
	_exit(0);
}

/* A post of `body` to http://127.0.0.1:`port`/hook?x=1. */
static int
post(int port, int timeout_ms, int *status, char *err, size_t errlen)
{
	struct crm_webhook_post p;
	struct crm_webhook_addrs addrs;
	struct crm_webhook_url url;
	struct crm_error e;
	char s[64];
	int ok;

	(void)snprintf(s, sizeof(s), "http://127.0.0.1:%d/hook?x=1", port);
	crm_error_init(&e);
	ok = crm_webhook_url_parse(s, &url, &e) &&
	    crm_webhook_resolve(&url, &addrs, &e);
	crm_error_cleanup(&e);
	if (!ok)
		return (-1);
	memset(&p, 0, sizeof(p));
	p.url = &url;
	p.addrs = &addrs;
	p.headers = "X-CRM-Event: customer.created\r\n";
	p.body = "{\"id\":7}";
	p.body_len = 8;
	p.timeout_ms = timeout_ms;

	return (crm_webhook_send(&p, status, err, errlen));
}

static void
test_answer(void)
{
	char seen[8192], err[256];
	int fds[2], port, status;
	ssize_t n;
	pid_t pid;

	CHECK(pipe(fds) == 0);
	port = serve_once(SERVE_ANSWER,
	    "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n", fds[1], &pid);
	CHECK(port > 0);
	CHECK(post(port, 3000, &status, err, sizeof(err)) == CRM_OK);
	CHECK(status == 202);
	n = read(fds[0], seen, sizeof(seen) - 1);
	seen[n > 0 ? n : 0] = '\0';
	CHECK(strncmp(seen, "POST /hook?x=1 HTTP/1.1\r\n", 25) == 0);
	CHECK(strstr(seen, "\r\nHost: 127.0.0.1:") != NULL);
	CHECK(strstr(seen, "\r\nContent-Type: application/json\r\n") != NULL);
	CHECK(strstr(seen, "\r\nContent-Length: 8\r\n") != NULL);
	CHECK(strstr(seen, "\r\nX-CRM-Event: customer.created\r\n") != NULL);
	CHECK(strstr(seen, "\r\n\r\n{\"id\":7}") != NULL);
	(void)waitpid(pid, NULL, 0);
	(void)close(fds[0]);
	(void)close(fds[1]);

	/* A 500 is an answer too: the caller decides to retry. */
	CHECK(pipe(fds) == 0);
	port = serve_once(SERVE_ANSWER,
	    "HTTP/1.0 500 Internal Server Error\r\n"
	    "\r\noops",
	    fds[1], &pid);
	CHECK(post(port, 3000, &status, err, sizeof(err)) == CRM_OK);
	CHECK(status == 500);
	(void)waitpid(pid, NULL, 0);
	(void)close(fds[0]);
	(void)close(fds[1]);
}

static void
test_failures(void)
{
	char err[256];
	int fds[2], port, status;
	pid_t pid;

	/* Silent server: the deadline holds. */
	CHECK(pipe(fds) == 0);
	port = serve_once(SERVE_SILENT, NULL, fds[1], &pid);
	CHECK(post(port, 300, &status, err, sizeof(err)) == CRM_ERROR);
	CHECK_STR(err, "timed out");
	CHECK(status == 0);
	(void)kill(pid, SIGKILL);
	(void)waitpid(pid, NULL, 0);

	port = serve_once(SERVE_CLOSE, NULL, fds[1], &pid);
	CHECK(post(port, 3000, &status, err, sizeof(err)) == CRM_ERROR);
	CHECK(strstr(err, "closed") != NULL || strstr(err, "reset") != NULL);
	(void)waitpid(pid, NULL, 0);

	port = serve_once(SERVE_GARBAGE, NULL, fds[1], &pid);
	CHECK(post(port, 3000, &status, err, sizeof(err)) == CRM_ERROR);
	CHECK_STR(err, "the answer is not HTTP/1.x");
	(void)waitpid(pid, NULL, 0);
	(void)close(fds[0]);
	(void)close(fds[1]);

	/* Port 1 on loopback: nobody listens. */
	CHECK(post(1, 3000, &status, err, sizeof(err)) == CRM_ERROR);
	CHECK_STR(err, "connect: Connection refused");
}

int
main(void)
{
	(void)signal(SIGPIPE, SIG_IGN);
	test_answer();
	test_failures();
	CHECK_DONE();
}

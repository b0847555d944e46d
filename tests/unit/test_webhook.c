/*
 * Unit tests of src/webhook.c: target URLs, address classes, resolution
 * of literal and local hosts, the signature, the retry schedule, status
 * lines.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <string.h>

#include "check.h"
#include "crm/webhook.h"

/* Parse `s`: 1 when it is a valid target URL. */
static int
parses(const char *s, struct crm_webhook_url *u)
{
	struct crm_error err;
	int ok;

	crm_error_init(&err);
	ok = crm_webhook_url_parse(s, u, &err);
	if (!ok)
		CHECK(err.kind == CRM_ERR_VALIDATION &&
		    json_array_size(err.errors) == 1);
	crm_error_cleanup(&err);

	return (ok);
}

static void
test_url_parse(void)
{
	struct crm_webhook_url u;
	char longurl[2100];
	static const char *const bad[] = {"", "ftp://example.com/",
	    "HTTPS://example.com/", "https://", "https:///x",
	    "https://user:pw@example.com/", "https://a@example.com/",
	    "https://example.com/#frag", "https://exa mple.com/",
	    "https://例子.测试/", "https://example.com:0/",
	    "https://example.com:65536/", "https://example.com:/",
	    "https://example.com:8a/", "https://[::1/", "https://[::1]x/",
	    "https://[fe80::1%25eth0]/", "https://2130706433/",
	    "https://0x7f.0.0.1/", "https://127.1/", "https://1.2.3.4.5/",
	    "https://example..com/", "https://under_score.example/",
	    "https://-/x/../..", "https://::1/", NULL};
	size_t i;

	CHECK(parses("https://hooks.example.com/crm?x=1", &u));
	CHECK(u.tls == 1 && u.host_is_ip == 0);
	CHECK_STR(u.host, "hooks.example.com");
	CHECK_STR(u.port, "443");
	CHECK_STR(u.path, "/crm?x=1");

	CHECK(parses("http://Hooks.Example.COM.:8080", &u));
	CHECK(u.tls == 0);
	CHECK_STR(u.host, "hooks.example.com");
	CHECK_STR(u.port, "8080");
	CHECK_STR(u.path, "/");

	CHECK(parses("https://example.com?a=b", &u));
	CHECK_STR(u.path, "/?a=b");

	CHECK(parses("https://127.0.0.1:9/x", &u));
	CHECK(u.host_is_ip == 1);
	CHECK_STR(u.host, "127.0.0.1");
	CHECK_STR(u.port, "9");

	CHECK(parses("https://[2001:DB8::1]:8443/h", &u));
	CHECK(u.host_is_ip == 1);
	CHECK_STR(u.host, "2001:db8::1");
	CHECK_STR(u.port, "8443");

	CHECK(parses("https://1.example/", &u));

	for (i = 0; bad[i] != NULL; i++) {
		if (parses(bad[i], &u)) {
			fprintf(stderr, "accepted: %s\n", bad[i]);
			CHECK(0);
		}
	}

	memset(longurl, 'a', sizeof(longurl));
	memcpy(longurl, "https://example.com/", 20);
	longurl[2001] = '\0';
	CHECK(!parses(longurl, &u));
	longurl[2000] = '\0';
	CHECK(parses(longurl, &u));
}

/* The class of the literal address `s`. */
static int
class_of(const char *s)
{
	struct sockaddr_in6 in6;
	struct sockaddr_in in4;

	memset(&in4, 0, sizeof(in4));
	memset(&in6, 0, sizeof(in6));
	if (inet_pton(AF_INET, s, &in4.sin_addr) == 1) {
		in4.sin_family = AF_INET;
		return (crm_addr_class((struct sockaddr *)&in4));
	}
	if (inet_pton(AF_INET6, s, &in6.sin6_addr) == 1) {
		in6.sin6_family = AF_INET6;
		return (crm_addr_class((struct sockaddr *)&in6));
	}

	return (-1);
}

static void
test_addr_class(void)
{
	static const struct {
		const char *addr;
		int class;
	} cases[] = {
	    {"8.8.8.8", CRM_ADDR_PUBLIC},
	    {"93.184.216.34", CRM_ADDR_PUBLIC},
	    {"172.32.0.1", CRM_ADDR_PUBLIC},
	    {"100.128.0.1", CRM_ADDR_PUBLIC},
	    {"127.0.0.1", CRM_ADDR_INTERNAL},
	    {"127.255.255.254", CRM_ADDR_INTERNAL},
	    {"10.1.2.3", CRM_ADDR_INTERNAL},
	    {"172.16.0.1", CRM_ADDR_INTERNAL},
	    {"172.31.255.255", CRM_ADDR_INTERNAL},
	    {"192.168.1.1", CRM_ADDR_INTERNAL},
	    {"100.64.0.1", CRM_ADDR_INTERNAL},
	    {"169.254.1.1", CRM_ADDR_INTERNAL},
	    {"169.254.169.254", CRM_ADDR_BLOCKED},
	    {"0.0.0.0", CRM_ADDR_BLOCKED},
	    {"224.0.0.1", CRM_ADDR_BLOCKED},
	    {"255.255.255.255", CRM_ADDR_BLOCKED},
	    {"192.0.2.10", CRM_ADDR_BLOCKED},
	    {"198.18.0.1", CRM_ADDR_BLOCKED},
	    {"2606:4700::1111", CRM_ADDR_PUBLIC},
	    {"::1", CRM_ADDR_INTERNAL},
	    {"::", CRM_ADDR_BLOCKED},
	    {"fd12:3456::1", CRM_ADDR_INTERNAL},
	    {"fc00::1", CRM_ADDR_INTERNAL},
	    {"fe80::1", CRM_ADDR_INTERNAL},
	    {"fd00:ec2::254", CRM_ADDR_BLOCKED},
	    {"ff02::1", CRM_ADDR_BLOCKED},
	    {"2001:db8::1", CRM_ADDR_BLOCKED},
	    {"::ffff:127.0.0.1", CRM_ADDR_INTERNAL},
	    {"::ffff:10.0.0.1", CRM_ADDR_INTERNAL},
	    {"::ffff:8.8.8.8", CRM_ADDR_PUBLIC},
	    {"::ffff:169.254.169.254", CRM_ADDR_BLOCKED},
	    {"64:ff9b::192.168.0.1", CRM_ADDR_INTERNAL},
	    {"2002:c0a8:0101::1", CRM_ADDR_INTERNAL},
	    {"::127.0.0.1", CRM_ADDR_BLOCKED},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (class_of(cases[i].addr) != cases[i].class) {
			fprintf(stderr, "%s: class %d, want %d\n",
			    cases[i].addr, class_of(cases[i].addr),
			    cases[i].class);
			CHECK(0);
		} else {
			CHECK(1);
		}
	}
}

static void
test_resolve(void)
{
	struct crm_webhook_addrs a;
	struct crm_webhook_url u;
	struct crm_error err;

	crm_error_init(&err);
	CHECK(parses("https://127.0.0.1:8443/", &u));
	CHECK(crm_webhook_resolve(&u, &a, &err));
	CHECK(a.n == 1 && a.worst == CRM_ADDR_INTERNAL);
	CHECK_STR(a.worst_text, "127.0.0.1");

	CHECK(parses("https://[::ffff:169.254.169.254]/", &u));
	CHECK(crm_webhook_resolve(&u, &a, &err));
	CHECK(a.worst == CRM_ADDR_BLOCKED);

	CHECK(parses("https://8.8.4.4/", &u));
	CHECK(crm_webhook_resolve(&u, &a, &err));
	CHECK(a.n == 1 && a.worst == CRM_ADDR_PUBLIC);

	/* /etc/hosts: localhost is loopback. */
	CHECK(parses("http://localhost:9/", &u));
	CHECK(crm_webhook_resolve(&u, &a, &err));
	CHECK(a.n >= 1 && a.worst == CRM_ADDR_INTERNAL);

	/* RFC 6761: .invalid never resolves. */
	CHECK(parses("https://no-such-host.invalid/", &u));
	CHECK(!crm_webhook_resolve(&u, &a, &err));
	CHECK(err.kind == CRM_ERR_VALIDATION);
	CHECK(strstr(json_string_value(
			 json_object_get(json_array_get(err.errors, 0),
			     "message")),
		  "could not be resolved") != NULL);
	crm_error_cleanup(&err);
}

static void
test_sign(void)
{
	char sig[CRM_WEBHOOK_SIG_MAX];
	const char *body = "{\"id\":1,\"type\":\"customer.created\"}";

	/* Python: hmac.new(secret, b"1700000000." + body, sha256). */
	CHECK(crm_webhook_sign("whsec_"
			       "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG",
	    1700000000LL, body, strlen(body), sig));
	CHECK_STR(sig,
	    "t=1700000000,v1=38a9d1d06df5824994762c0ffa490907ff4b"
	    "3925acfce635b1ccb071a07d7e31");
	/* Another time, another signature. */
	CHECK(crm_webhook_sign("whsec_"
			       "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG",
	    1700000001LL, body, strlen(body), sig));
	CHECK(strncmp(sig, "t=1700000001,v1=", 16) == 0 &&
	    strcmp(sig + 16,
		"38a9d1d06df5824994762c0ffa490907ff4b3925acfce635b1ccb071a07d"
		"7e31") != 0);
}

static void
test_backoff(void)
{
	struct crm_error err;
	int s[CRM_WEBHOOK_BACKOFF_MAX];
	size_t n;
	static const char *const bad[] = {"", ",", "1,", "0", "-5", "1,,2",
	    "10 ,20", "604801", "1.5", "x",
	    "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1",
	    NULL};
	size_t i;

	crm_error_init(&err);
	CHECK(crm_webhook_backoff_parse("10,30,120", s, &n, &err));
	CHECK(n == 3 && s[0] == 10 && s[1] == 30 && s[2] == 120);
	CHECK(crm_webhook_backoff_delay(s, n, 1) == 10);
	CHECK(crm_webhook_backoff_delay(s, n, 2) == 30);
	CHECK(crm_webhook_backoff_delay(s, n, 3) == 120);
	CHECK(crm_webhook_backoff_delay(s, n, 9) == 120);
	CHECK(crm_webhook_backoff_parse("604800", s, &n, &err) && n == 1);
	for (i = 0; bad[i] != NULL; i++) {
		if (crm_webhook_backoff_parse(bad[i], s, &n, &err)) {
			fprintf(stderr, "accepted schedule: %s\n", bad[i]);
			CHECK(0);
		}
	}
	crm_error_cleanup(&err);
}

static void
test_status(void)
{
	CHECK(crm_http_status_parse("HTTP/1.1 204 No Content\r\n", 25) == 204);
	CHECK(crm_http_status_parse("HTTP/1.0 500 Oops\r\n\r\n", 21) == 500);
	CHECK(crm_http_status_parse("HTTP/1.1 200\r\n", 14) == 200);
	CHECK(crm_http_status_parse("HTTP/1.1 200", 12) == 200);
	CHECK(crm_http_status_parse("HTTP/2 200 OK\r\n", 15) == -1);
	CHECK(crm_http_status_parse("HTTP/1.1 20 OK\r\n", 16) == -1);
	CHECK(crm_http_status_parse("HTTP/1.1 2000 OK\r\n", 18) == -1);
	CHECK(crm_http_status_parse("SSH-2.0-OpenSSH\r\n", 17) == -1);
	CHECK(crm_http_status_parse("HTTP/1.1 099 x\r\n", 16) == -1);
	CHECK(crm_http_status_parse("", 0) == -1);
}

int
main(void)
{
	test_url_parse();
	test_addr_class();
	test_resolve();
	test_sign();
	test_backoff();
	test_status();
	CHECK_DONE();
}

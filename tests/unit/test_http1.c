// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * HTTP/1.x heads: methods, route normalisation, user patterns, pipelining,
 * and heads a hostile or truncated client sends.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "http1.h"
#include "reqlens/req.h"

static char method[16];
static char route[RL_ROUTE_MAX];

static int req_n(const char *head, size_t len, unsigned index, const struct rl_routes *r)
{
	memset(method, 'M', sizeof(method));
	memset(route, 'R', sizeof(route));
	return rl_http1_request(head, len, index, r, method, route);
}

static int req(const char *head, unsigned index, const struct rl_routes *r)
{
	return req_n(head, strlen(head), index, r);
}

static const char *route_of(const char *target, const struct rl_routes *r)
{
	memset(route, 'R', sizeof(route));
	rl_http1_route(target, strlen(target), r, route);
	return route;
}

/* Full request heads make each case read like what arrives on the wire. */
static const char *route_req(const char *target)
{
	char head[512];

	snprintf(head, sizeof(head), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", target);
	assert_int_equal(req(head, 0, NULL), 0);
	return route;
}

static void add(struct rl_routes *r, const char *pattern)
{
	const char *why = "unset";

	assert_int_equal(rl_routes_add(r, pattern, &why), 0);
	assert_null(why);
}

static void test_simple_get(void **state)
{
	(void)state;
	assert_int_equal(req("GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n", 0, NULL), 0);
	assert_string_equal(method, "GET");
	assert_string_equal(route, "/index.html");
	assert_int_equal(req("GET / HTTP/1.0\r\n\r\n", 0, NULL), 0);
	assert_string_equal(route, "/");
}

static void test_every_known_method(void **state)
{
	static const char *const known[] = { "GET", "HEAD", "POST", "PUT", "DELETE",
					     "CONNECT", "OPTIONS", "TRACE", "PATCH" };
	char head[64];

	(void)state;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		snprintf(head, sizeof(head), "%s /a HTTP/1.1\r\n\r\n", known[i]);
		assert_int_equal(req(head, 0, NULL), 0);
		assert_string_equal(method, known[i]);
		assert_string_equal(route, "/a");
	}
}

static void test_unknown_method(void **state)
{
	(void)state;
	assert_int_equal(req("PROPFIND /dav HTTP/1.1\r\n\r\n", 0, NULL), 0);
	assert_string_equal(method, "_OTHER");
	assert_string_equal(route, "/dav");
	/* Prefixes and extensions of known methods are other tokens, not those methods. */
	assert_int_equal(req("GE /a HTTP/1.1\r\n\r\n", 0, NULL), 0);
	assert_string_equal(method, "_OTHER");
	assert_int_equal(req("GETS /a HTTP/1.1\r\n\r\n", 0, NULL), 0);
	assert_string_equal(method, "_OTHER");
	/* 15 letters is the longest token accepted. */
	assert_int_equal(req("ABCDEFGHIJKLMNO /a HTTP/1.1\r\n\r\n", 0, NULL), 0);
	assert_string_equal(method, "_OTHER");
}

static void test_bad_method(void **state)
{
	static const char *const bad[] = {
		"get / HTTP/1.1\r\n\r\n",
		"Get / HTTP/1.1\r\n\r\n",
		"ABCDEFGHIJKLMNOP / HTTP/1.1\r\n\r\n",	/* 16 letters */
		"G3T / HTTP/1.1\r\n\r\n",
		"M-SEARCH * HTTP/1.1\r\n\r\n",
		" / HTTP/1.1\r\n\r\n",
		"GET\t/ HTTP/1.1\r\n\r\n",
		"\r\nGET / HTTP/1.1\r\n\r\n",
		"GET",
		"GET ",
		"",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (req(bad[i], 0, NULL) != -EINVAL)
			fail_msg("case %zu \"%s\" was accepted", i, bad[i]);
	}
}

static void test_bad_request_line(void **state)
{
	(void)state;
	/* HTTP/0.9 has no version; HTTP/2's preface is not HTTP/1.x. */
	assert_int_equal(req("GET /\r\n\r\n", 0, NULL), -EINVAL);
	assert_int_equal(req("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 0, NULL), -EINVAL);
	assert_int_equal(req("GET  / HTTP/1.1\r\n\r\n", 0, NULL), -EINVAL);
	assert_int_equal(req("GET /a b HTTP/1.1\r\n\r\n", 0, NULL), -EINVAL);
	assert_int_equal(req("GET / http/1.1\r\n\r\n", 0, NULL), -EINVAL);
	assert_int_equal(req("GET / HTTP/1.1", 0, NULL), 0);
}

static void test_bare_lf(void **state)
{
	(void)state;
	assert_int_equal(req("GET /a HTTP/1.1\nHost: x\n\nPOST /b HTTP/1.1\n\n", 0, NULL), 0);
	assert_string_equal(route, "/a");
	assert_int_equal(req("GET /a HTTP/1.1\nHost: x\n\nPOST /b HTTP/1.1\n\n", 1, NULL), 0);
	assert_string_equal(method, "POST");
	assert_string_equal(route, "/b");
}

static void test_query_and_fragment_dropped(void **state)
{
	(void)state;
	assert_string_equal(route_req("/search?q=1&page=2"), "/search");
	assert_string_equal(route_req("/doc#section"), "/doc");
	assert_string_equal(route_req("/a#frag?notquery"), "/a");
	assert_string_equal(route_req("/?x=1"), "/");
	assert_string_equal(route_req("/users/42?x=/1"), "/users/{id}");
	/* Nothing is left of the path: not an absolute path. */
	assert_string_equal(route_of("?x=1", NULL), "other");
	/* Percent-encoding is not decoded. */
	assert_string_equal(route_req("/a%20b/%3F"), "/a%20b/%3F");
}

static void test_numeric_segments(void **state)
{
	(void)state;
	assert_string_equal(route_req("/users/42"), "/users/{id}");
	assert_string_equal(route_req("/users/0/orders/123456789012345678901234567890"),
			    "/users/{id}/orders/{id}");
	assert_string_equal(route_req("/7"), "/{id}");
	assert_string_equal(route_req("/v1/users"), "/v1/users");
	assert_string_equal(route_req("/-1"), "/-1");
	assert_string_equal(route_req("/1.5"), "/1.5");
}

static void test_uuid_segments(void **state)
{
	(void)state;
	assert_string_equal(route_req("/items/123e4567-e89b-12d3-a456-426614174000"), "/items/{id}");
	assert_string_equal(route_req("/items/123E4567-E89B-12D3-A456-426614174000/x"),
			    "/items/{id}/x");
	/* Dashes in the wrong places or a non-hex digit: not a UUID. */
	assert_string_equal(route_req("/items/123e4567e-89b-12d3-a456-426614174000"),
			    "/items/123e4567e-89b-12d3-a456-426614174000");
	assert_string_equal(route_req("/items/123e4567-e89b-12d3-a456-42661417400g"),
			    "/items/123e4567-e89b-12d3-a456-42661417400g");
	assert_string_equal(route_req("/items/123e4567-e89b-12d3-a456-4266141740000"),
			    "/items/123e4567-e89b-12d3-a456-4266141740000");
}

static void test_hex_segments(void **state)
{
	(void)state;
	assert_string_equal(route_req("/blobs/0123456789abcdef"), "/blobs/{id}");
	assert_string_equal(route_req("/blobs/DEADBEEFdeadbeef00"), "/blobs/{id}");
	assert_string_equal(route_req("/commit/da39a3ee5e6b4b0d3255bfef95601890afd80709"),
			    "/commit/{id}");
	/* 15 hex digits stay: short hex words ("cafe", "add", "bed") are real names. */
	assert_string_equal(route_req("/blobs/0123456789abcde"), "/blobs/0123456789abcde");
	assert_string_equal(route_req("/cafe/beef"), "/cafe/beef");
	assert_string_equal(route_req("/blobs/0123456789abcdeg"), "/blobs/0123456789abcdeg");
}

static void test_mixed_segments(void **state)
{
	(void)state;
	assert_string_equal(route_req("/api/v2/users/42/files/0123456789abcdef0123/raw"),
			    "/api/v2/users/{id}/files/{id}/raw");
	assert_string_equal(route_req("/users/42abc"), "/users/42abc");
	assert_string_equal(route_req("/a/123e4567-e89b-12d3-a456-426614174000/99/b?c=3"),
			    "/a/{id}/{id}/b");
}

static void test_slashes_kept(void **state)
{
	(void)state;
	assert_string_equal(route_req("/users/"), "/users/");
	assert_string_equal(route_req("//"), "//");
	assert_string_equal(route_req("/a//1/"), "/a//{id}/");
}

static void test_user_pattern_wins(void **state)
{
	struct rl_routes r = { 0 };

	(void)state;
	add(&r, "/users/{user}/orders/{order}");
	add(&r, "/static/{file}");
	assert_string_equal(route_req("/users/42/orders/7"), "/users/{id}/orders/{id}");
	assert_int_equal(req("GET /users/alice/orders/7 HTTP/1.1\r\n\r\n", 0, &r), 0);
	assert_string_equal(route, "/users/{user}/orders/{order}");
	assert_string_equal(route_of("/users/42/orders/x?y=1", &r), "/users/{user}/orders/{order}");
	assert_string_equal(route_of("/static/app.js", &r), "/static/{file}");
	/* Literal segments must match exactly. */
	assert_string_equal(route_of("/Users/42/orders/7", &r), "/Users/{id}/orders/{id}");
	/* A {name} needs a non-empty segment. */
	assert_string_equal(route_of("/static/", &r), "/static/");
	/* The first matching pattern wins. */
	add(&r, "/{a}/{b}");
	assert_string_equal(route_of("/static/1", &r), "/static/{file}");
	assert_string_equal(route_of("/x/1", &r), "/{a}/{b}");
}

static void test_pattern_segment_count(void **state)
{
	struct rl_routes r = { 0 };

	(void)state;
	add(&r, "/users/{id}");
	assert_string_equal(route_of("/users/42", &r), "/users/{id}");
	assert_string_equal(route_of("/users/alice", &r), "/users/{id}");
	assert_string_equal(route_of("/users/alice/orders", &r), "/users/alice/orders");
	assert_string_equal(route_of("/users", &r), "/users");
	/* A trailing slash is one more (empty) segment. */
	assert_string_equal(route_of("/users/alice/", &r), "/users/alice/");
	add(&r, "/");
	assert_string_equal(route_of("/", &r), "/");
	assert_string_equal(route_of("/x", &r), "/x");
}

static void test_absolute_form(void **state)
{
	struct rl_routes r = { 0 };

	(void)state;
	assert_string_equal(route_req("http://example.com/users/42?x=1"), "/users/{id}");
	assert_string_equal(route_req("https://example.com:8443/a/b/"), "/a/b/");
	assert_string_equal(route_req("HTTP://Example.COM/a"), "/a");
	assert_string_equal(route_req("http://example.com"), "/");
	assert_string_equal(route_req("http://example.com:80"), "/");
	assert_string_equal(route_req("http://example.com?q=/x"), "/");
	assert_string_equal(route_req("ftp://example.com/a"), "other");
	assert_string_equal(route_req("example.com:443"), "other");
	add(&r, "/users/{id}");
	assert_string_equal(route_of("http://h/users/bob", &r), "/users/{id}");
}

static void test_asterisk(void **state)
{
	(void)state;
	assert_int_equal(req("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 0, NULL), 0);
	assert_string_equal(method, "OPTIONS");
	assert_string_equal(route, "*");
	assert_string_equal(route_of("*?x", NULL), "*");
	assert_string_equal(route_of("**", NULL), "other");
	assert_string_equal(route_of("*/a", NULL), "other");
}

static void test_pipelined(void **state)
{
	static const char three[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
				    "GET /b/1 HTTP/1.1\r\nHost: x\r\n\r\n"
				    "GET /c HTTP/1.1\r\n\r\n";

	(void)state;
	assert_true(sizeof(three) - 1 <= RL_REQ_HEAD_LEN);
	assert_int_equal(req(three, 0, NULL), 0);
	assert_string_equal(route, "/a");
	assert_int_equal(req(three, 1, NULL), 0);
	assert_string_equal(route, "/b/{id}");
	assert_int_equal(req(three, 2, NULL), 0);
	assert_string_equal(route, "/c");
	assert_int_equal(req(three, 3, NULL), -EINVAL);
	assert_int_equal(req(three, 1000, NULL), -EINVAL);
	assert_int_equal(req(three, UINT32_MAX, NULL), -EINVAL);
	/* The third request's head is cut before its end: still found, not skipped over. */
	assert_int_equal(req_n(three, sizeof(three) - 3, 2, NULL), 0);
	assert_string_equal(route, "/c");
	assert_int_equal(req_n(three, sizeof(three) - 3, 3, NULL), -EINVAL);
	/* A body is not skipped, so what follows the blank line must be a request line. */
	assert_int_equal(req("POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\n\r\n",
			     1, NULL), -EINVAL);
}

static void test_truncated(void **state)
{
	static const char full[] = "GET /users/42 HTTP/1.1\r\n";
	size_t cut_ok = strlen("GET /users/42 HTTP/1.");

	(void)state;
	for (size_t n = 0; n < sizeof(full); n++) {
		int rc = req_n(full, n, 0, NULL);

		if (n < cut_ok)
			assert_int_equal(rc, -EINVAL);
		else {
			assert_int_equal(rc, 0);
			assert_string_equal(route, "/users/{id}");
		}
	}
	/* The kernel's cut in the middle of a long path. */
	char head[RL_REQ_HEAD_LEN];

	memset(head, 'a', sizeof(head));
	memcpy(head, "GET /", 5);
	assert_int_equal(req_n(head, sizeof(head), 0, NULL), -EINVAL);
}

static void test_binary_junk_and_nul(void **state)
{
	static const char tls[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
	static const char nul_method[] = "GE\0 / HTTP/1.1\r\n\r\n";
	static const char nul_path[] = "GET /a\0b HTTP/1.1\r\n\r\n";
	static const char nul_only[] = "\0\0\0\0\0\0\0\0";
	static const char utf8[] = "GET /caf\xc3\xa9/\xff\xfe HTTP/1.1\r\n\r\n";

	(void)state;
	assert_int_equal(req_n(tls, sizeof(tls) - 1, 0, NULL), -EINVAL);
	assert_int_equal(req_n(nul_method, sizeof(nul_method) - 1, 0, NULL), -EINVAL);
	assert_int_equal(req_n(nul_only, sizeof(nul_only) - 1, 0, NULL), -EINVAL);
	assert_int_equal(req_n(nul_only, sizeof(nul_only) - 1, 1, NULL), -EINVAL);
	/* A NUL does not end the path early: it is a byte like any other. */
	assert_int_equal(req_n(nul_path, sizeof(nul_path) - 1, 0, NULL), 0);
	assert_string_equal(route, "/a?b");
	/* Invalid UTF-8 is left to the label escaping. */
	assert_int_equal(req_n(utf8, sizeof(utf8) - 1, 0, NULL), 0);
	assert_string_equal(route, "/caf\xc3\xa9/\xff\xfe");
	assert_int_equal(req_n(NULL, 0, 0, NULL), -EINVAL);
}

static void test_control_bytes_replaced(void **state)
{
	static const char ctl[] = "GET /a\x01\x1f\x7f\tb/\x1b[31m HTTP/1.1\r\n\r\n";
	static const char cr[] = "GET /a\rb HTTP/1.1\r\n\r\n";
	struct rl_routes r = { 0 };

	(void)state;
	assert_int_equal(req_n(ctl, sizeof(ctl) - 1, 0, NULL), 0);
	assert_string_equal(route, "/a????b/?[31m");
	assert_int_equal(req_n(cr, sizeof(cr) - 1, 0, NULL), 0);
	assert_string_equal(route, "/a?b");
	/* A segment holding a control byte still matches a {name}, printably. */
	add(&r, "/u/{name}");
	assert_string_equal(route_of("/u/\x01", &r), "/u/{name}");
}

static void test_long_path_is_other(void **state)
{
	char *path = malloc(4096);
	char exact[RL_ROUTE_MAX];

	(void)state;
	assert_non_null(path);
	path[0] = '/';
	/* Not hex: 'a'-'f' would make the whole run one identifier. */
	memset(path + 1, 'x', 4095);
	rl_http1_route(path, 4096, NULL, route);
	assert_string_equal(route, "other");

	/* The limit is on the route: 255 bytes fit, 256 do not. */
	rl_http1_route(path, RL_ROUTE_MAX - 1, NULL, route);
	assert_int_equal(strlen(route), RL_ROUTE_MAX - 1);
	rl_http1_route(path, RL_ROUTE_MAX, NULL, route);
	assert_string_equal(route, "other");

	/* "1" becomes "{id}": the normalised length counts, not the raw one. */
	memset(exact, 'x', sizeof(exact));
	exact[0] = '/';
	memcpy(exact + 250, "/1", 2);
	rl_http1_route(exact, 252, NULL, route);
	assert_int_equal(strlen(route), 255);
	assert_memory_equal(route + 250, "/{id}", 5);
	exact[250] = 'x';
	memcpy(exact + 251, "/1", 2);
	rl_http1_route(exact, 253, NULL, route);
	assert_string_equal(route, "other");

	/* ...so a huge identifier normalises to a short route. */
	memset(path + 1, 'f', 4095);
	rl_http1_route(path, 4096, NULL, route);
	assert_string_equal(route, "/{id}");

	/* A user pattern matches a long segment and yields the short pattern. */
	struct rl_routes r = { 0 };

	add(&r, "/{blob}");
	memset(path + 1, 'z', 4095);
	rl_http1_route(path, 4096, &r, route);
	assert_string_equal(route, "/{blob}");
	free(path);
}

static void test_route_never_overflows(void **state)
{
	struct {
		char method[16];
		char m_canary[16];
		char route[RL_ROUTE_MAX];
		char r_canary[16];
	} out;
	static const char *const targets[] = { "/1/2/3/4/5/6/7/8/9", "*", "other", "/", "?" };
	char canary[16], path[600], head[700];
	struct rl_routes r = { 0 };

	(void)state;
	add(&r, "/{a}/{b}");
	memset(canary, 0xa5, sizeof(canary));
	for (size_t n = 0; n < sizeof(path); n++) {
		/* Many short numeric segments: each grows 2 bytes to "{id}". */
		for (size_t i = 0; i < n; i++)
			path[i] = (i % 2) ? '0' + (char)(i % 10) : '/';
		for (int pat = 0; pat < 2; pat++) {
			memset(&out, 0x5a, sizeof(out));
			memcpy(out.m_canary, canary, sizeof(canary));
			memcpy(out.r_canary, canary, sizeof(canary));
			rl_http1_route(path, n, pat ? &r : NULL, out.route);
			assert_non_null(memchr(out.route, 0, RL_ROUTE_MAX));
			assert_memory_equal(out.r_canary, canary, sizeof(canary));
			assert_memory_equal(out.m_canary, canary, sizeof(canary));
		}
		int hl = snprintf(head, sizeof(head), "ABCDEFGHIJKLMNO %.*s HTTP/1.1\r\n\r\n", (int)n, path);

		memcpy(out.m_canary, canary, sizeof(canary));
		memcpy(out.r_canary, canary, sizeof(canary));
		int rc = rl_http1_request(head, (size_t)hl, 0, NULL, out.method, out.route);

		assert_int_equal(rc, n ? 0 : -EINVAL);
		assert_memory_equal(out.m_canary, canary, sizeof(canary));
		assert_memory_equal(out.r_canary, canary, sizeof(canary));
		if (!rc) {
			assert_string_equal(out.method, "_OTHER");
			assert_true(strlen(out.route) < RL_ROUTE_MAX);
		}
	}
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		memcpy(out.r_canary, canary, sizeof(canary));
		rl_http1_route(targets[i], strlen(targets[i]), NULL, out.route);
		assert_memory_equal(out.r_canary, canary, sizeof(canary));
	}
}

static void test_routes_add_errors(void **state)
{
	static const struct {
		const char *pattern;
		const char *says;
	} bad[] = {
		{ "", "empty" },
		{ "users/{id}", "start" },
		{ "*", "start" },
		{ "http://h/a", "start" },
		{ "/a?b=1", "query" },
		{ "/a#x", "fragment" },
		{ "/a/{}", "name" },
		{ "/a/{id", "braces" },
		{ "/a/id}", "braces" },
		{ "/a/x{id}", "braces" },
		{ "/a/{id}x", "braces" },
		{ "/a/{{id}}", "letters" },
		{ "/a/{i-d}", "letters" },
		{ "/a/{i d}", "letters" },
		{ "/a/{i/d}", "braces" },
		{ "/a\nb", "control" },
		{ "/a\x7f", "control" },
	};
	struct rl_routes r = { 0 };
	char longp[RL_ROUTE_MAX + 1];
	const char *why;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		assert_int_equal(rl_routes_add(&r, bad[i].pattern, &why), -EINVAL);
		assert_non_null(why);
		if (!strstr(why, bad[i].says))
			fail_msg("\"%s\": got \"%s\", want it to say \"%s\"", bad[i].pattern, why,
				 bad[i].says);
	}
	assert_int_equal(rl_routes_add(&r, NULL, &why), -EINVAL);
	assert_int_equal(rl_routes_add(&r, "x", NULL), -EINVAL);

	memset(longp, 'a', sizeof(longp));
	longp[0] = '/';
	longp[RL_ROUTE_MAX] = 0;
	assert_int_equal(rl_routes_add(&r, longp, &why), -EINVAL);
	assert_non_null(strstr(why, "long"));
	/* The longest pattern a route can hold. */
	longp[RL_ROUTE_MAX - 1] = 0;
	add(&r, longp);
	assert_int_equal(r.n, 1);

	add(&r, "/");
	add(&r, "//a//");
	add(&r, "/{A_z09}/x");
	assert_int_equal(r.n, 4);
	assert_string_equal(r.patterns[3], "/{A_z09}/x");
}

static void test_routes_add_full(void **state)
{
	struct rl_routes *r = calloc(1, sizeof(*r));
	char p[32];
	const char *why = NULL;

	(void)state;
	assert_non_null(r);
	for (int i = 0; i < RL_MAX_ROUTE_PATTERNS; i++) {
		snprintf(p, sizeof(p), "/p%d/{id}", i);
		add(r, p);
	}
	assert_int_equal(rl_routes_add(r, "/one/more", &why), -ENOSPC);
	assert_non_null(why);
	assert_non_null(strstr(why, "too many"));
	assert_int_equal(r->n, RL_MAX_ROUTE_PATTERNS);
	/* An invalid pattern still says what is wrong with it. */
	assert_int_equal(rl_routes_add(r, "nope", &why), -EINVAL);
	assert_string_equal(route_of("/p63/x", r), "/p63/{id}");
	/* A count beyond the array (set by hand) is not trusted. */
	r->n = 1000;
	assert_string_equal(route_of("/p63/x", r), "/p63/{id}");
	free(r);
}

/* A fixed generator, so a failure reproduces on every machine. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 32);
}

static bool sane_route(const char *r)
{
	const char *end = memchr(r, 0, RL_ROUTE_MAX);

	if (!end)
		return false;
	for (const char *p = r; p < end; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
	return r[0] == '/' || !strcmp(r, "*") || !strcmp(r, "other");
}

static void test_random_heads(void **state)
{
	static const char *const pieces[] = {
		"GET /", "GET ", "POST ", "OPTIONS * ", " HTTP/1.1\r\n", "\r\n\r\n", "http://h",
		"0", "1", "9", "/", "?", "#", "\r", "\n", " ", "H", "T", "P", "1", ".", "{", "*",
		"a", "f", "-", "123e4567-e89b-12d3-a456-426614174000", "0123456789abcdef",
	};
	static const char *const allowed[] = { "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT",
					       "OPTIONS", "TRACE", "PATCH", "_OTHER" };
	const size_t npieces = sizeof(pieces) / sizeof(pieces[0]);
	struct rl_routes routes = { 0 };
	unsigned ok[3] = { 0 };
	char buf[256];

	(void)state;
	add(&routes, "/{a}/1");
	add(&routes, "/a/{b}");
	for (int iter = 0; iter < 200000; iter++) {
		size_t len = rng() % 201, n = 0;

		/* Half start like a request, to reach deep into the parser more often. */
		if (rng() % 2 && len >= 5) {
			memcpy(buf, "GET /", 5);
			n = 5;
		}
		while (n < len) {
			uint32_t pick = rng() % (npieces + 8);

			if (pick >= npieces) {
				/* Random bytes, NUL and high bytes included. */
				buf[n++] = (char)(rng() & 0xff);
				continue;
			}
			size_t pl = strlen(pieces[pick]);

			if (pl > len - n)
				pl = len - n;
			memcpy(buf + n, pieces[pick], pl);
			n += pl;
		}
		/* Exact-size heap copies, so the sanitizers see any read or write past them. */
		char *head = malloc(len ? len : 1);
		char *m = malloc(16), *rt = malloc(RL_ROUTE_MAX);

		assert_non_null(head);
		assert_non_null(m);
		assert_non_null(rt);
		memcpy(head, buf, len);
		for (unsigned index = 0; index < 3; index++) {
			int rc = rl_http1_request(head, len, index, (iter & 1) ? &routes : NULL, m, rt);

			if (rc == -EINVAL)
				continue;
			assert_int_equal(rc, 0);
			ok[index]++;
			bool known = false;

			assert_non_null(memchr(m, 0, 16));
			for (size_t k = 0; k < sizeof(allowed) / sizeof(allowed[0]); k++)
				known = known || !strcmp(m, allowed[k]);
			if (!known)
				fail_msg("iteration %d index %u: method \"%s\"", iter, index, m);
			if (!sane_route(rt))
				fail_msg("iteration %d index %u: route \"%.*s\"", iter, index,
					 RL_ROUTE_MAX, rt);
		}
		free(head);
		free(m);
		free(rt);
	}
	/* The alphabet must reach the accepting paths, or the test proves little. */
	assert_true(ok[0] > 5000);
	assert_true(ok[1] > 400);
	assert_true(ok[2] > 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_get),
		cmocka_unit_test(test_every_known_method),
		cmocka_unit_test(test_unknown_method),
		cmocka_unit_test(test_bad_method),
		cmocka_unit_test(test_bad_request_line),
		cmocka_unit_test(test_bare_lf),
		cmocka_unit_test(test_query_and_fragment_dropped),
		cmocka_unit_test(test_numeric_segments),
		cmocka_unit_test(test_uuid_segments),
		cmocka_unit_test(test_hex_segments),
		cmocka_unit_test(test_mixed_segments),
		cmocka_unit_test(test_slashes_kept),
		cmocka_unit_test(test_user_pattern_wins),
		cmocka_unit_test(test_pattern_segment_count),
		cmocka_unit_test(test_absolute_form),
		cmocka_unit_test(test_asterisk),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_binary_junk_and_nul),
		cmocka_unit_test(test_control_bytes_replaced),
		cmocka_unit_test(test_long_path_is_other),
		cmocka_unit_test(test_route_never_overflows),
		cmocka_unit_test(test_routes_add_errors),
		cmocka_unit_test(test_routes_add_full),
		cmocka_unit_test(test_random_heads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

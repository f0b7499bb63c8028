// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * HTTP/1.x request lines from the head the kernel kept. Every byte is the
 * client's and the head is cut at RL_REQ_HEAD_LEN, so every scan is bounded
 * by len and none relies on a NUL: a NUL is just another byte here.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "http1.h"

/* A method token longer than this cannot be one we name, and method[] holds 16. */
#define RL_METHOD_MAX 15

static const char *const known_methods[] = {
	"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
};

static const char version_prefix[] = " HTTP/1.";
#define VERSION_PREFIX_LEN (sizeof(version_prefix) - 1)

#define RL_STR_(x) #x
#define RL_STR(x) RL_STR_(x)

static bool is_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Labels reach a text exposition format: control bytes would corrupt it or a terminal. */
static bool is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* Segments that are identifiers would give one label value per resource. */
static bool is_id_segment(const char *s, size_t n)
{
	static const size_t dashes[] = { 8, 13, 18, 23 };
	bool digits = true, hex = true;
	size_t i;

	if (!n)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		digits = digits && c >= '0' && c <= '9';
		hex = hex && is_hex(c);
	}
	if (digits || (hex && n >= 16))
		return true;
	if (n != 36)
		return false;
	for (i = 0; i < n; i++) {
		bool dash = i == dashes[0] || i == dashes[1] || i == dashes[2] || i == dashes[3];

		if (dash ? s[i] != '-' : !is_hex((unsigned char)s[i]))
			return false;
	}
	return true;
}

/* Only rl_routes_add's check makes this safe to test by the first and last byte. */
static bool is_param_segment(const char *s, size_t n)
{
	return n >= 2 && s[0] == '{' && s[n - 1] == '}';
}

/*
 * The route is built in place with a hard cap, so an over-long one is
 * noticed (and replaced by "other") without ever writing past the buffer.
 */
struct route_out {
	char *buf;
	size_t len;
	bool overflow;
};

static void out_put(struct route_out *o, const char *s, size_t n)
{
	if (o->overflow || n > RL_ROUTE_MAX - 1 - o->len) {
		o->overflow = true;
		return;
	}
	for (size_t i = 0; i < n; i++)
		o->buf[o->len++] = is_control((unsigned char)s[i]) ? '?' : s[i];
}

static void out_finish(struct route_out *o)
{
	if (o->overflow) {
		memcpy(o->buf, "other", sizeof("other"));
		return;
	}
	o->buf[o->len] = 0;
}

/* Both start with '/'; segments are what lies between slashes, so "/" has one, empty. */
static bool pattern_matches(const char *pat, size_t plen, const char *path, size_t n)
{
	size_t i = 0, j = 0;

	for (;;) {
		size_t ps = i + 1, pe = ps, qs = j + 1, qe = qs;

		while (pe < plen && pat[pe] != '/')
			pe++;
		while (qe < n && path[qe] != '/')
			qe++;
		if (is_param_segment(pat + ps, pe - ps)) {
			if (qe == qs)
				return false;
		} else if (pe - ps != qe - qs || memcmp(pat + ps, path + qs, pe - ps)) {
			return false;
		}
		if (pe >= plen || qe >= n)
			return pe >= plen && qe >= n;
		i = pe;
		j = qe;
	}
}

static bool match_user_pattern(const struct rl_routes *r, const char *path, size_t n,
			       struct route_out *o)
{
	unsigned count;

	if (!r)
		return false;
	/* The struct is public: a caller filling it by hand must not make us read past it. */
	count = r->n < RL_MAX_ROUTE_PATTERNS ? r->n : RL_MAX_ROUTE_PATTERNS;
	for (unsigned k = 0; k < count; k++) {
		const char *pat = r->patterns[k];
		size_t plen = strnlen(pat, RL_ROUTE_MAX);

		if (plen == 0 || plen == RL_ROUTE_MAX || pat[0] != '/')
			continue;
		if (pattern_matches(pat, plen, path, n)) {
			out_put(o, pat, plen);
			return true;
		}
	}
	return false;
}

static void default_route(const char *path, size_t n, struct route_out *o)
{
	size_t i = 0;

	while (i < n && !o->overflow) {
		size_t s = i + 1, e = s;

		while (e < n && path[e] != '/')
			e++;
		out_put(o, "/", 1);
		if (is_id_segment(path + s, e - s))
			out_put(o, "{id}", 4);
		else
			out_put(o, path + s, e - s);
		i = e;
	}
}

/* Length of an "http://" or "https://" prefix (any case, as schemes are), else 0. */
static size_t scheme_len(const char *s, size_t n)
{
	static const char *const schemes[] = { "http://", "https://" };

	for (size_t k = 0; k < 2; k++) {
		size_t sl = strlen(schemes[k]), i;

		if (n < sl)
			continue;
		for (i = 0; i < sl; i++) {
			char c = s[i];

			if (c >= 'A' && c <= 'Z')
				c = (char)(c - 'A' + 'a');
			if (c != schemes[k][i])
				break;
		}
		if (i == sl)
			return sl;
	}
	return 0;
}

void rl_http1_route(const char *target, size_t len, const struct rl_routes *r,
		    char route[RL_ROUTE_MAX])
{
	struct route_out o = { .buf = route };
	const char *path = target;
	size_t n = target ? len : 0, skip;

	for (size_t i = 0; i < n; i++) {
		if (target[i] == '?' || target[i] == '#') {
			n = i;
			break;
		}
	}
	if (n == 1 && target[0] == '*') {
		memcpy(route, "*", sizeof("*"));
		return;
	}
	skip = scheme_len(target, n);
	if (skip) {
		const char *slash = memchr(target + skip, '/', n - skip);

		if (slash) {
			n -= (size_t)(slash - target);
			path = slash;
		} else {
			path = "/";
			n = 1;
		}
	}
	if (!n || path[0] != '/') {
		memcpy(route, "other", sizeof("other"));
		return;
	}
	if (!match_user_pattern(r, path, n, &o))
		default_route(path, n, &o);
	out_finish(&o);
}

/*
 * A request's head ends at an empty line. Accepting "LF [CR] LF" covers
 * CRLF CRLF, LF LF and the mixes a sloppy client produces with bare LFs.
 */
static int skip_request(const char *h, size_t len, size_t *pos)
{
	for (size_t i = *pos; i < len; i++) {
		size_t j = i + 1;

		if (h[i] != '\n')
			continue;
		if (j < len && h[j] == '\r')
			j++;
		if (j < len && h[j] == '\n') {
			*pos = j + 1;
			return 0;
		}
	}
	return -EINVAL;
}

int rl_http1_request(const char *head, size_t len, unsigned index, const struct rl_routes *r,
		     char method[16], char route[RL_ROUTE_MAX])
{
	size_t pos = 0, m, t, e, k;
	const char *h;

	if (!head)
		return -EINVAL;
	for (unsigned i = 0; i < index; i++)
		if (skip_request(head, len, &pos))
			return -EINVAL;
	h = head + pos;
	len -= pos;

	for (m = 0; m < len && m <= RL_METHOD_MAX && h[m] >= 'A' && h[m] <= 'Z'; m++)
		;
	if (!m || m > RL_METHOD_MAX || m >= len || h[m] != ' ')
		return -EINVAL;
	t = m + 1;
	/* A LF before the version means no HTTP/1.x request line (or HTTP/0.9): not ours. */
	for (e = t; e < len && h[e] != ' ' && h[e] != '\n'; e++)
		;
	if (e == t || len - e < VERSION_PREFIX_LEN || memcmp(h + e, version_prefix, VERSION_PREFIX_LEN))
		return -EINVAL;

	for (k = 0; k < sizeof(known_methods) / sizeof(known_methods[0]); k++)
		if (strlen(known_methods[k]) == m && !memcmp(known_methods[k], h, m))
			break;
	if (k < sizeof(known_methods) / sizeof(known_methods[0])) {
		memcpy(method, h, m);
		method[m] = 0;
	} else {
		/* Any other token would let clients mint label values at will. */
		memcpy(method, "_OTHER", sizeof("_OTHER"));
	}
	rl_http1_route(h + t, e - t, r, route);
	return 0;
}

static const char *check_pattern(const char *p)
{
	size_t n, i;

	if (!p || !p[0])
		return "the pattern is empty";
	if (p[0] != '/')
		return "the pattern must be an absolute path, starting with '/'";
	n = strnlen(p, RL_ROUTE_MAX);
	if (n >= RL_ROUTE_MAX)
		return "the pattern is too long";
	for (i = 0; i < n; i++) {
		if (p[i] == '?' || p[i] == '#')
			return "the pattern must not hold a query or fragment ('?' or '#')";
		/* The pattern itself becomes the route label: keep it printable. */
		if (is_control((unsigned char)p[i]))
			return "the pattern must not hold control characters";
	}
	for (i = 0; i < n;) {
		size_t s = i + 1, e = s;
		bool brace = false;

		while (e < n && p[e] != '/') {
			brace = brace || p[e] == '{' || p[e] == '}';
			e++;
		}
		if (brace) {
			if (!is_param_segment(p + s, e - s))
				return "braces must enclose a whole segment, as in /users/{id}";
			if (e - s == 2)
				return "a {name} segment needs a name";
			for (size_t c = s + 1; c < e - 1; c++) {
				char ch = p[c];

				if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
				      (ch >= '0' && ch <= '9') || ch == '_'))
					return "a {name} may hold only letters, digits and '_'";
			}
		}
		i = e;
	}
	return NULL;
}

int rl_routes_add(struct rl_routes *r, const char *pattern, const char **why)
{
	const char *reason = check_pattern(pattern);
	int err = -EINVAL;

	if (!reason && r->n >= RL_MAX_ROUTE_PATTERNS) {
		reason = "too many route patterns (at most " RL_STR(RL_MAX_ROUTE_PATTERNS) ")";
		err = -ENOSPC;
	}
	if (reason) {
		if (why)
			*why = reason;
		return err;
	}
	memcpy(r->patterns[r->n], pattern, strlen(pattern) + 1);
	r->n++;
	if (why)
		*why = NULL;
	return 0;
}

/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * HTTP/1.x from the first bytes the kernel kept of a request: method and
 * route, normalised so that label cardinality stays bounded.
 */
#ifndef RL_HTTP1_H
#define RL_HTTP1_H

#include <stddef.h>

#define RL_ROUTE_MAX 256
#define RL_MAX_ROUTE_PATTERNS 64

/* User patterns (--http.route), e.g. "/users/{id}/orders": {x} is one segment. */
struct rl_routes {
	char patterns[RL_MAX_ROUTE_PATTERNS][RL_ROUTE_MAX];
	unsigned n;
};

/* 0, or -EINVAL when the pattern is not an absolute path (reason in *why). */
int rl_routes_add(struct rl_routes *r, const char *pattern, const char **why);

/*
 * Parses the request line of the index-th request in head (0: the first;
 * pipelined requests follow each other, each ending at CRLF CRLF; requests
 * with a body are not skipped over). On success writes the method (one of
 * GET HEAD POST PUT DELETE CONNECT OPTIONS TRACE PATCH, else "_OTHER") and
 * the route, and returns 0. -EINVAL when head holds no complete request
 * line for that request (truncated or not HTTP).
 */
int rl_http1_request(const char *head, size_t len, unsigned index, const struct rl_routes *r,
		     char method[16], char route[RL_ROUTE_MAX]);

/*
 * The route of a request target: the query and fragment dropped; the first
 * matching user pattern if any; otherwise the path with every segment that
 * is all digits, a UUID, or 16+ hex digits replaced by "{id}". An absolute
 * URI ("http://host/p") keeps its path only; "*" stays "*"; anything else
 * that is not an absolute path gives "other".
 */
void rl_http1_route(const char *target, size_t len, const struct rl_routes *r,
		    char route[RL_ROUTE_MAX]);

#endif

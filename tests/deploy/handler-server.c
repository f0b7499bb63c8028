// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The host server of tests/deploy/run.sh: an HTTP/1.0 server on 127.0.0.1:PORT, one
 * connection at a time, that calls handle_request() exactly once per request. The
 * containerised agent puts a uprobe on that function (--uprobe=NAME:handle_request,
 * NAME being this process's name), which it can reach only through /proc/PID/root:
 * the binary lives in the test's temporary directory on the host, which the container
 * does not see.
 *
 *   cc -O2 -o rl-deploy-srv handler-server.c && ./rl-deploy-srv PORT
 *
 * Each answer is "200 OK" with the body "handled PATH #N\n", N counting requests from 1,
 * so that the test can tell every request reached the handler once.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static unsigned long handled;

/* noinline and noclone: the symbol must exist, and be the code that runs. */
__attribute__((noinline, noclone, used)) int handle_request(const char *req, char *out, size_t size)
{
	char path[256] = "?";
	char body[320];
	int n;

	/* Defeat any interprocedural shortcut: the call must really happen. */
	__asm__ volatile("" ::: "memory");
	sscanf(req, "%*s %255s", path);
	n = snprintf(body, sizeof(body), "handled %s #%lu\n", path, ++handled);
	return snprintf(out, size,
			"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
			"Connection: close\r\n\r\n%s", n, body);
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1, s;

	if (argc != 2 || atoi(argv[1]) <= 0) {
		fprintf(stderr, "usage: %s PORT\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	a.sin_port = htons((unsigned short)atoi(argv[1]));
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(s, (struct sockaddr *)&a, sizeof(a)) || listen(s, 64)) {
		perror("rl-deploy-srv: listen");
		return 1;
	}
	for (;;) {
		char req[4096], resp[1024];
		size_t len = 0;
		int c = accept(s, NULL, NULL), n;

		if (c < 0)
			continue;
		/* The request head, up to its blank line. */
		while (len < sizeof(req) - 1) {
			ssize_t r = read(c, req + len, sizeof(req) - 1 - len);

			if (r <= 0)
				break;
			len += (size_t)r;
			req[len] = '\0';
			if (strstr(req, "\r\n\r\n"))
				break;
		}
		req[len] = '\0';
		if (len && strstr(req, "\r\n\r\n")) {
			n = handle_request(req, resp, sizeof(resp));
			if (n > 0 && write(c, resp, (size_t)n) < 0)
				perror("rl-deploy-srv: write");
		}
		close(c);
	}
}

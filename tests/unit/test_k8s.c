// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The pod cache: the PodList parser over recorded API responses
 * (tests/fixtures/k8s/), then the whole client against a stand-in API server
 * (tests/fixtures/k8s/apiserver.py) on 127.0.0.1 with a certificate made
 * here: pagination, token, RBAC refusal, timeout, TLS failure, bad JSON,
 * oversized pages, the early list for a new container, and a prompt stop.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "k8s.h"

extern char **environ;

#define PYTHON "/usr/bin/python3"
#define NODE "node-1"
#define TOKEN "eyJhbGciOiJSUzI1NiIsImtpZCI6InRlc3QifQ.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6bW9uaXRvcmluZzpyZXFsZW5zIn0.c2lnbmF0dXJl"

/* IDs of tests/fixtures/k8s/pods-page{1,2}.json. */
#define CID_COREDNS "58710161f4df423d559d8b60ba8cb11d0bfd23c05d8413e5a68bb19994f0a28e"
#define CID_MIGRATE "76f17b1f224596db88ce29a9cdec00489c163e9961b01030cef0a9d6dea8ee29"
#define CID_CART "41c801abb9168c0879311371304e173b5e69c28e16dedc6bcf1b6f9db23c30fc"
#define CID_ISTIO "cd610be80d54a381507a1af3cc188214626433dc51e618af7600a7c1fb4c0f1e"
#define CID_APISERVER "1b333d2e043567fecc47d47f1137d305fc9a2d1c0ffd6910299a1be56cbff15e"
#define CID_EXPORTER "e188388156c6b5cee142e5f34624d9c40000db9750d3a28ac3fd4212d72cd599"
#define CID_WEB "2959b9ee25ab64038c72c573c46feaaa8178e5d2fb2a9f175da25e64d67eb9dc"
#define CID_WEB_OLD "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"
#define CID_CHECKOUT "8506d882701e9582890366e5afc008a7c6db27175b4c76e23097cb0e8aa01e15"
#define CID_DEBUGGER "c01b7f4b798f1247e5cc0f92654a75e5d6442efcb7e4ef090b32060c0a0127d6"
#define CID_UNKNOWN "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
#define CID_WEB_NEW "feedfacefeedfacefeedfacefeedfacefeedfacefeedfacefeedfacefeedface"
#define UID_PENDING "24922f34-7138-4c74-813d-47b6e67bb3ec"
#define UID_CART "05aa07c7-0d7b-4364-bc38-795abd897037"
#define STATIC_HASH "8d98fc7d614aad42d216afb5871e5679"
#define CONTINUE_1 \
	"eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6NDgxNTE2Miwic3RhcnQiOiJrdWJlLXN5c3RlbS9rdWJlLWFwaXNlcnZlci1ub2RlLTFcdTAwMDAifQ"

static char fixtures[PATH_MAX];

/* tests/fixtures/k8s beside this file's directory (make builds from the repository top). */
static void find_fixtures(void)
{
	const char *env = getenv("RL_K8S_FIXTURES"), *slash = strrchr(__FILE__, '/');

	if (env)
		snprintf(fixtures, sizeof(fixtures), "%s", env);
	else if (slash)
		snprintf(fixtures, sizeof(fixtures), "%.*s/../fixtures/k8s", (int)(slash - __FILE__), __FILE__);
	else
		snprintf(fixtures, sizeof(fixtures), "../fixtures/k8s");
}

static char *slurp(const char *dir, const char *name, size_t *len)
{
	char path[PATH_MAX * 2];
	struct stat st;
	char *buf;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	assert_int_equal(fstat(fileno(f), &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)st.st_size, f), (size_t)st.st_size);
	buf[st.st_size] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)st.st_size;
	return buf;
}

static int add_file(struct rl_k8s_table *t, const char *name, char *next, size_t nextlen)
{
	size_t len;
	char *json = slurp(fixtures, name, &len);
	int err = rl_k8s_table_add_page(t, json, len, next, nextlen);

	free(json);
	return err;
}

static void expect_names(const struct rl_k8s_names *n, const char *ns, const char *pod, const char *container)
{
	assert_string_equal(n->namespace_name, ns);
	assert_string_equal(n->pod_name, pod);
	assert_string_equal(n->container_name, container);
}

/* ------------------------------------------------------------ parsing */

static void test_parse_pages(void **state)
{
	struct rl_k8s_table *t = rl_k8s_table_new();
	struct rl_k8s_names n;
	char next[512];
	uint64_t pods, containers;

	assert_non_null(t);
	assert_int_equal(add_file(t, "pods-page1.json", next, sizeof(next)), 0);
	assert_string_equal(next, CONTINUE_1);
	rl_k8s_table_counts(t, &pods, &containers);
	assert_int_equal(pods, 4);
	assert_int_equal(containers, 5);	/* the pending pod's container has no ID yet */
	assert_int_equal(add_file(t, "pods-page2.json", next, sizeof(next)), 0);
	assert_string_equal(next, "");
	rl_k8s_table_counts(t, &pods, &containers);
	assert_int_equal(pods, 7);
	assert_int_equal(containers, 9);

	assert_true(rl_k8s_table_lookup(t, CID_COREDNS, NULL, &n));
	expect_names(&n, "kube-system", "coredns-5d78c9869d-7xk2m", "coredns");
	assert_true(rl_k8s_table_lookup(t, CID_MIGRATE, NULL, &n));
	expect_names(&n, "shop", "cart-7d9f8b6c5d-xk2pq", "migrate");
	assert_true(rl_k8s_table_lookup(t, CID_CART, "", &n));
	expect_names(&n, "shop", "cart-7d9f8b6c5d-xk2pq", "cart");
	assert_true(rl_k8s_table_lookup(t, CID_ISTIO, UID_CART, &n));
	expect_names(&n, "shop", "cart-7d9f8b6c5d-xk2pq", "istio-proxy");
	assert_true(rl_k8s_table_lookup(t, CID_APISERVER, NULL, &n));
	expect_names(&n, "kube-system", "kube-apiserver-node-1", "kube-apiserver");
	assert_true(rl_k8s_table_lookup(t, CID_EXPORTER, NULL, &n));
	expect_names(&n, "monitoring", "node-exporter-h7r2k", "node-exporter");
	assert_true(rl_k8s_table_lookup(t, CID_WEB, NULL, &n));
	expect_names(&n, "legacy", "web-6b7c8d9e0f-q9m4t", "web");
	assert_true(rl_k8s_table_lookup(t, CID_CHECKOUT, NULL, &n));
	expect_names(&n, "shop", "checkout-0", "checkout");
	assert_true(rl_k8s_table_lookup(t, CID_DEBUGGER, NULL, &n));
	expect_names(&n, "shop", "checkout-0", "debugger-7x2lq");

	/* IDs in capitals (as some tools print them) find the same entry. */
	assert_true(rl_k8s_table_lookup(t, "58710161F4DF423D559D8B60BA8CB11D0BFD23C05D8413E5A68BB19994F0A28E", NULL, &n));
	expect_names(&n, "kube-system", "coredns-5d78c9869d-7xk2m", "coredns");
	/* The pod alone: by UID, or a static pod by the config hash its cgroup carries. */
	assert_true(rl_k8s_table_lookup(t, NULL, UID_PENDING, &n));
	expect_names(&n, "shop", "cart-7d9f8b6c5d-pn4vz", "");
	assert_true(rl_k8s_table_lookup(t, CID_UNKNOWN, UID_CART, &n));
	expect_names(&n, "shop", "cart-7d9f8b6c5d-xk2pq", "");
	assert_true(rl_k8s_table_lookup(t, NULL, STATIC_HASH, &n));
	expect_names(&n, "kube-system", "kube-apiserver-node-1", "");
	/* A previous (terminated) container's ID is not the running one's. */
	assert_false(rl_k8s_table_lookup(t, CID_WEB_OLD, NULL, &n));
	assert_false(rl_k8s_table_lookup(t, CID_UNKNOWN, NULL, &n));
	assert_false(rl_k8s_table_lookup(t, NULL, NULL, &n));
	assert_false(rl_k8s_table_lookup(t, "", "", &n));
	assert_false(rl_k8s_table_lookup(NULL, CID_COREDNS, NULL, &n));
	rl_k8s_table_free(t);
	rl_k8s_table_free(NULL);
}

static int add_text(struct rl_k8s_table *t, const char *json)
{
	char next[64];

	return rl_k8s_table_add_page(t, json, strlen(json), next, sizeof(next));
}

static void test_parse_bad(void **state)
{
	struct rl_k8s_table *t = rl_k8s_table_new();
	struct rl_k8s_names n;
	size_t len;
	char next[16], *page1 = slurp(fixtures, "pods-page1.json", &len);
	uint64_t pods, containers;
	char *deep;

	/* Cut in the middle, as a dropped connection leaves it. */
	assert_int_equal(rl_k8s_table_add_page(t, page1, len / 2, next, sizeof(next)), -EBADMSG);
	assert_string_equal(next, "");
	/* A continue token longer than the caller's buffer. */
	assert_int_equal(rl_k8s_table_add_page(t, page1, len, next, sizeof(next)), -ENOSPC);
	free(page1);
	rl_k8s_table_free(t);

	t = rl_k8s_table_new();
	page1 = slurp(fixtures, "forbidden.json", &len);
	assert_int_equal(rl_k8s_table_add_page(t, page1, len, next, sizeof(next)), -EBADMSG);
	free(page1);
	assert_int_equal(add_text(t, ""), -EBADMSG);
	assert_int_equal(add_text(t, "null"), -EBADMSG);
	assert_int_equal(add_text(t, "[]"), -EBADMSG);
	assert_int_equal(add_text(t, "{}"), -EBADMSG);
	assert_int_equal(add_text(t, "{\"kind\":\"PodList\",\"items\":{}}"), -EBADMSG);
	assert_int_equal(add_text(t, "{\"kind\":\"PodList\",\"metadata\":{},\"items\":[]} trailing"), -EBADMSG);
	assert_int_equal(add_text(t, "{\"kind\":\"PodList\",\"metadata\":{},\"items\":[]}\n"), 0);
	/* Go encodes an empty slice as null. */
	assert_int_equal(add_text(t, "{\"kind\":\"PodList\",\"metadata\":{},\"items\":null}"), 0);
	page1 = slurp(fixtures, "empty.json", &len);
	assert_int_equal(rl_k8s_table_add_page(t, page1, len, next, sizeof(next)), 0);
	free(page1);
	/* Odd pods are skipped one by one; the rest of the page still counts. */
	assert_int_equal(add_text(t, "{\"kind\":\"PodList\",\"metadata\":{},\"items\":["
				     "{\"metadata\":{\"name\":\"no-namespace\"}},"
				     "42,"
				     "{\"metadata\":{\"namespace\":\"a\",\"name\":\"b\",\"uid\":7},"
				     "\"status\":{\"containerStatuses\":["
				     "{\"name\":\"short\",\"containerID\":\"containerd://abc\"},"
				     "{\"name\":\"noscheme\",\"containerID\":\"" CID_UNKNOWN "\"},"
				     "{\"containerID\":\"containerd://" CID_WEB_NEW "\"},"
				     "{\"name\":\"ok\",\"containerID\":\"cri-o://" CID_WEB_OLD "\"}]}}]}"),
			 0);
	rl_k8s_table_counts(t, &pods, &containers);
	assert_int_equal(pods, 1);
	assert_int_equal(containers, 1);
	assert_true(rl_k8s_table_lookup(t, CID_WEB_OLD, NULL, &n));
	expect_names(&n, "a", "b", "ok");
	assert_false(rl_k8s_table_lookup(t, CID_UNKNOWN, NULL, &n));
	assert_false(rl_k8s_table_lookup(t, CID_WEB_NEW, NULL, &n));

	/* Nesting as deep as managedFields gets is fine; absurd nesting is refused, not recursed into. */
	deep = calloc(1, 100000);
	assert_non_null(deep);
	strcpy(deep, "{\"kind\":\"PodList\",\"metadata\":{},\"items\":[],\"x\":");
	memset(deep + strlen(deep), '[', 20000);
	assert_int_equal(add_text(t, deep), -EBADMSG);
	free(deep);
	assert_int_equal(rl_k8s_table_add_page(NULL, "{}", 2, next, sizeof(next)), -EINVAL);
	rl_k8s_table_free(t);
}

static void test_reasons(void **state)
{
	assert_string_equal(rl_k8s_error_reason(RL_K8S_ERR_FORBIDDEN), "forbidden");
	assert_string_equal(rl_k8s_error_reason(RL_K8S_ERR_UNAUTHORIZED), "unauthorized");
	assert_string_equal(rl_k8s_error_reason(RL_K8S_ERR_TOKEN), "token");
	assert_string_equal(rl_k8s_error_reason(RL_K8S_ERR_TIMEOUT), "timeout");
	assert_string_equal(rl_k8s_error_reason(RL_K8S_ERR_TLS), "tls");
	assert_string_equal(rl_k8s_error_reason(RL_K8S_ERR_CONNECT), "connect");
	assert_string_equal(rl_k8s_error_reason(RL_K8S_ERR_HTTP), "http");
	assert_string_equal(rl_k8s_error_reason(RL_K8S_ERR_PARSE), "parse");
	assert_string_equal(rl_k8s_error_reason(RL_K8S_ERR_TOO_LARGE), "too_large");
	assert_string_equal(rl_k8s_error_reason(RL_K8S_ERR_OTHER), "other");
	assert_string_equal(rl_k8s_error_reason(RL_K8S_ERR_COUNT), "other");
}

/* ------------------------------------------------------ the environment */

static char tmp[] = "/tmp/reqlens-k8s-test.XXXXXX";
static char token_path[PATH_MAX], bad_token_path[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];
static char other_cert[PATH_MAX], pages[PATH_MAX], mode_file[PATH_MAX], req_log[PATH_MAX];
static bool https_ok;

/* Outside Kubernetes, or deployed without what it needs: no cache, no error, nothing to stop. */
static void test_not_in_k8s(void **state)
{
	struct rl_k8s *k = (struct rl_k8s *)1;
	struct rl_k8s_opts o = { 0 };
	struct rl_k8s_stats st;
	struct rl_k8s_names n;

	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	assert_int_equal(rl_k8s_start(NULL, &k), 0);
	assert_null(k);
	assert_false(rl_k8s_lookup(NULL, CID_COREDNS, NULL, &n));
	rl_k8s_get_stats(NULL, &st);
	assert_int_equal(st.lists_ok, 0);
	rl_k8s_stop(NULL);

	/* In a pod without NODE_NAME. */
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	unsetenv("NODE_NAME");
	k = (struct rl_k8s *)1;
	assert_int_equal(rl_k8s_start(NULL, &k), 0);
	assert_null(k);
	/* With NODE_NAME but no token mounted. */
	setenv("NODE_NAME", NODE, 1);
	o.token_path = "/nonexistent/token";
	k = (struct rl_k8s *)1;
	assert_int_equal(rl_k8s_start(&o, &k), 0);
	assert_null(k);
	/* With a token but no CA. */
	o.token_path = "/proc/self/status";
	o.ca_path = "/nonexistent/ca.crt";
	k = (struct rl_k8s *)1;
	assert_int_equal(rl_k8s_start(&o, &k), 0);
	assert_null(k);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	unsetenv("NODE_NAME");
	assert_int_equal(rl_k8s_start(NULL, NULL), -EINVAL);
}

static int run_cmd(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int run_cmd(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* Certificates, token and a copy of the fixtures the server may be told to change; skips without the tools. */
static int setup_https(void **state)
{
	static const char *const files[] = { "pods-page1.json", "pods-page2.json", "forbidden.json",
					     "unauthorized.json", "expired.json" };

	/* Nothing but 127.0.0.1 may be contacted: a proxy from the environment would be something else. */
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	if (access(PYTHON, X_OK) || run_cmd("command -v openssl >/dev/null 2>&1"))
		return 0;
	if (!mkdtemp(tmp))
		return -1;
	snprintf(token_path, sizeof(token_path), "%s/token", tmp);
	snprintf(bad_token_path, sizeof(bad_token_path), "%s/bad-token", tmp);
	snprintf(cert, sizeof(cert), "%s/cert.pem", tmp);
	snprintf(key, sizeof(key), "%s/key.pem", tmp);
	snprintf(other_cert, sizeof(other_cert), "%s/other.pem", tmp);
	snprintf(pages, sizeof(pages), "%s/pages", tmp);
	snprintf(mode_file, sizeof(mode_file), "%s/mode", tmp);
	snprintf(req_log, sizeof(req_log), "%s/requests.log", tmp);
	/* A token file as the kubelet writes it: no trailing newline, but tolerate one. */
	write_file(token_path, TOKEN "\n");
	write_file(bad_token_path, "not-the-token");
	if (run_cmd("openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 "
		    "-addext subjectAltName=IP:127.0.0.1 -days 1 -keyout '%s' -out '%s' >/dev/null 2>&1",
		    key, cert) ||
	    run_cmd("openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 "
		    "-addext subjectAltName=IP:127.0.0.1 -days 1 -keyout '%s/other-key.pem' -out '%s' >/dev/null 2>&1",
		    tmp, other_cert))
		return -1;
	if (mkdir(pages, 0700))
		return -1;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (run_cmd("cp '%s/%s' '%s/'", fixtures, files[i], pages))
			return -1;
	https_ok = true;
	return 0;
}

static int teardown_https(void **state)
{
	if (https_ok && run_cmd("rm -rf '%s'", tmp))
		return -1;
	return 0;
}

struct server {
	pid_t pid;
	int port;
};

/* Starts apiserver.py in MODE and waits (10 s at most) for the port it listens on. */
static void server_start(struct server *s, const char *mode)
{
	char script[PATH_MAX * 2], line[64] = "";
	char *argv[] = { PYTHON, script, "--dir", pages, "--cert", cert, "--key", key, "--token", TOKEN,
			 "--node", NODE, "--mode", (char *)mode, "--mode-file", mode_file, "--log", req_log, NULL };
	posix_spawn_file_actions_t fa;
	struct pollfd pfd;
	size_t len = 0;
	int pipefd[2];

	if (!https_ok)
		skip();
	unlink(mode_file);
	unlink(req_log);
	snprintf(script, sizeof(script), "%s/apiserver.py", fixtures);
	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
	assert_int_equal(posix_spawn(&s->pid, PYTHON, &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	pfd = (struct pollfd){ .fd = pipefd[0], .events = POLLIN };
	while (!strchr(line, '\n') && len < sizeof(line) - 1) {
		ssize_t n;

		if (poll(&pfd, 1, 10000) != 1)
			break;
		n = read(pipefd[0], line + len, sizeof(line) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		line[len] = '\0';
	}
	close(pipefd[0]);
	if (sscanf(line, "PORT %d", &s->port) != 1) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		fail_msg("the test API server did not start (said \"%s\")", line);
	}
}

static void server_stop(struct server *s)
{
	kill(s->pid, SIGTERM);
	waitpid(s->pid, NULL, 0);
}

static void opts_for(struct rl_k8s_opts *o, const struct server *s, char *url, size_t urllen)
{
	snprintf(url, urllen, "https://127.0.0.1:%d/", s->port);
	*o = (struct rl_k8s_opts){ .api_url = url, .node_name = NODE, .token_path = token_path, .ca_path = cert,
				   .resync_ms = 60000 };
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct rl_k8s_stats wait_stats(struct rl_k8s *k, enum rl_k8s_error e, uint64_t errors, uint64_t oks,
				      int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;
	struct timespec pause = { 0, 20 * 1000 * 1000 };
	struct rl_k8s_stats st;

	for (;;) {
		rl_k8s_get_stats(k, &st);
		if (st.errors[e] >= errors && st.lists_ok >= oks)
			return st;
		if (now_ms() > end)
			fail_msg("after %d ms: %llu lists, %llu %s errors (waited for %llu and %llu)", timeout_ms,
				 (unsigned long long)st.lists_ok, (unsigned long long)st.errors[e],
				 rl_k8s_error_reason(e), (unsigned long long)oks, (unsigned long long)errors);
		nanosleep(&pause, NULL);
	}
}

static int count_lines(const char *path, const char *needle)
{
	char line[4096];
	int n = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

static void stop_quickly(struct rl_k8s *k)
{
	int64_t t0 = now_ms();

	rl_k8s_stop(k);
	/* Not a resync period, not a request timeout: about a second at most. */
	assert_true(now_ms() - t0 < 1500);
}

/* ------------------------------------------------------------ HTTPS */

static void test_https_pages(void **state)
{
	struct rl_k8s_opts o;
	struct rl_k8s_names n;
	struct rl_k8s_stats st;
	struct rl_k8s *k = NULL;
	struct server s;
	char url[64];

	server_start(&s, "ok");
	opts_for(&o, &s, url, sizeof(url));
	assert_int_equal(rl_k8s_start(&o, &k), 0);
	assert_non_null(k);
	st = wait_stats(k, RL_K8S_ERR_OTHER, 0, 1, 10000);
	assert_int_equal(st.pods, 7);
	assert_int_equal(st.containers, 9);
	assert_true(st.last_ok_unix_ms > 0);
	for (int e = 0; e < RL_K8S_ERR_COUNT; e++)
		assert_int_equal(st.errors[e], 0);
	assert_true(rl_k8s_lookup(k, CID_CART, UID_CART, &n));
	expect_names(&n, "shop", "cart-7d9f8b6c5d-xk2pq", "cart");
	/* From page 2: the continue token was followed. */
	assert_true(rl_k8s_lookup(k, CID_EXPORTER, NULL, &n));
	expect_names(&n, "monitoring", "node-exporter-h7r2k", "node-exporter");
	assert_true(rl_k8s_lookup(k, NULL, UID_PENDING, &n));
	expect_names(&n, "shop", "cart-7d9f8b6c5d-pn4vz", "");
	/* Exactly two requests, with the node's field selector and the page token. */
	assert_int_equal(count_lines(req_log, "200 /api/v1/pods?fieldSelector=spec.nodeName%3Dnode-1&limit=500"), 2);
	assert_int_equal(count_lines(req_log, "&continue=" CONTINUE_1), 1);
	assert_int_equal(count_lines(req_log, ""), 2);
	stop_quickly(k);
	server_stop(&s);
}

/* Runs fn with stderr going to a file, to count what was logged. */
static void capture_stderr(const char *path, int *saved)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	fflush(stderr);
	*saved = dup(STDERR_FILENO);
	assert_true(*saved >= 0);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);
}

static void restore_stderr(int saved)
{
	fflush(stderr);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
}

/* RBAC says no: counted every time, logged once, lookups just miss. */
static void test_https_forbidden(void **state)
{
	struct rl_k8s_opts o;
	struct rl_k8s_names n;
	struct rl_k8s_stats st;
	struct rl_k8s *k = NULL;
	struct server s;
	char url[64], errlog[PATH_MAX + 16];
	int saved;

	server_start(&s, "forbidden");
	opts_for(&o, &s, url, sizeof(url));
	o.resync_ms = 100;
	snprintf(errlog, sizeof(errlog), "%s/stderr", tmp);
	capture_stderr(errlog, &saved);
	assert_int_equal(rl_k8s_start(&o, &k), 0);
	st = wait_stats(k, RL_K8S_ERR_FORBIDDEN, 3, 0, 10000);
	assert_int_equal(st.lists_ok, 0);
	assert_false(rl_k8s_lookup(k, CID_CART, UID_CART, &n));
	stop_quickly(k);
	restore_stderr(saved);
	assert_int_equal(count_lines(errlog, "(forbidden)"), 1);
	/* The hint names what to grant, and the API server's own words come along. */
	assert_int_equal(count_lines(errlog, "verbs [\\\"list\\\"]"), 1);
	assert_int_equal(count_lines(errlog, "cannot list resource"), 1);
	server_stop(&s);
}

/* A failing list keeps what the last good one found; a success afterwards counts again. */
static void test_https_keeps_last_good(void **state)
{
	struct rl_k8s_opts o;
	struct rl_k8s_names n;
	struct rl_k8s_stats st;
	struct rl_k8s *k = NULL;
	struct server s;
	char url[64];

	server_start(&s, "ok");
	opts_for(&o, &s, url, sizeof(url));
	o.resync_ms = 100;
	assert_int_equal(rl_k8s_start(&o, &k), 0);
	wait_stats(k, RL_K8S_ERR_OTHER, 0, 1, 10000);
	write_file(mode_file, "forbidden");
	wait_stats(k, RL_K8S_ERR_FORBIDDEN, 1, 1, 10000);
	assert_true(rl_k8s_lookup(k, CID_DEBUGGER, NULL, &n));
	expect_names(&n, "shop", "checkout-0", "debugger-7x2lq");
	write_file(mode_file, "malformed");
	st = wait_stats(k, RL_K8S_ERR_PARSE, 1, 1, 10000);
	assert_true(rl_k8s_lookup(k, CID_COREDNS, NULL, &n));
	assert_int_equal(st.pods, 7);
	write_file(mode_file, "ok");
	st = wait_stats(k, RL_K8S_ERR_PARSE, 1, st.lists_ok + 1, 10000);
	assert_int_equal(st.pods, 7);
	stop_quickly(k);
	server_stop(&s);
}

/* A list is all its pages or nothing: page 1 alone must not replace the cache. */
static void test_https_expired_continue(void **state)
{
	struct rl_k8s_opts o;
	struct rl_k8s_names n;
	struct rl_k8s_stats st;
	struct rl_k8s *k = NULL;
	struct server s;
	char url[64];

	server_start(&s, "expired");
	opts_for(&o, &s, url, sizeof(url));
	assert_int_equal(rl_k8s_start(&o, &k), 0);
	st = wait_stats(k, RL_K8S_ERR_HTTP, 1, 0, 10000);
	assert_int_equal(st.lists_ok, 0);
	assert_int_equal(st.pods, 0);
	assert_false(rl_k8s_lookup(k, CID_COREDNS, NULL, &n));
	assert_int_equal(count_lines(req_log, "410 /api/v1/pods?"), 1);
	stop_quickly(k);
	server_stop(&s);
}

static void test_https_unauthorized(void **state)
{
	struct rl_k8s_opts o;
	struct rl_k8s *k = NULL;
	struct server s;
	char url[64];

	server_start(&s, "ok");
	opts_for(&o, &s, url, sizeof(url));
	o.token_path = bad_token_path;
	assert_int_equal(rl_k8s_start(&o, &k), 0);
	wait_stats(k, RL_K8S_ERR_UNAUTHORIZED, 1, 0, 10000);
	stop_quickly(k);
	server_stop(&s);
}

/* The token is read for every list: rotated, deleted, it is what the file says now. */
static void test_https_token_file(void **state)
{
	struct rl_k8s_opts o;
	struct rl_k8s *k = NULL;
	struct server s;
	char url[64], path[PATH_MAX + 16];

	server_start(&s, "ok");
	opts_for(&o, &s, url, sizeof(url));
	snprintf(path, sizeof(path), "%s/rotating-token", tmp);
	write_file(path, TOKEN);
	o.token_path = path;
	o.resync_ms = 100;
	assert_int_equal(rl_k8s_start(&o, &k), 0);
	wait_stats(k, RL_K8S_ERR_OTHER, 0, 1, 10000);
	assert_int_equal(unlink(path), 0);
	wait_stats(k, RL_K8S_ERR_TOKEN, 1, 1, 10000);
	write_file(path, "rotated-to-something-else");
	wait_stats(k, RL_K8S_ERR_UNAUTHORIZED, 1, 1, 10000);
	stop_quickly(k);
	server_stop(&s);
}

/* The server answers in 10 s; the client gives up after its 5 s. */
static void test_https_timeout(void **state)
{
	struct rl_k8s_opts o;
	struct rl_k8s *k = NULL;
	struct server s;
	char url[64];
	int64_t t0;

	server_start(&s, "slow");
	opts_for(&o, &s, url, sizeof(url));
	t0 = now_ms();
	assert_int_equal(rl_k8s_start(&o, &k), 0);
	wait_stats(k, RL_K8S_ERR_TIMEOUT, 1, 0, 6500);
	assert_true(now_ms() - t0 >= 4900);
	stop_quickly(k);
	server_stop(&s);
}

/* Stopping while a request hangs does not wait for its timeout. */
static void test_https_stop_mid_request(void **state)
{
	struct rl_k8s_opts o;
	struct rl_k8s_stats st;
	struct rl_k8s *k = NULL;
	struct server s;
	struct timespec pause = { 0, 500 * 1000 * 1000 };
	char url[64];

	server_start(&s, "slow");
	opts_for(&o, &s, url, sizeof(url));
	assert_int_equal(rl_k8s_start(&o, &k), 0);
	nanosleep(&pause, NULL);
	rl_k8s_get_stats(k, &st);
	assert_int_equal(st.errors[RL_K8S_ERR_TIMEOUT], 0);
	stop_quickly(k);
	server_stop(&s);
}

static void test_https_tls_failure(void **state)
{
	struct rl_k8s_opts o;
	struct rl_k8s *k = NULL;
	struct server s;
	char url[64];

	server_start(&s, "ok");
	opts_for(&o, &s, url, sizeof(url));
	/* A CA that did not sign the server's certificate. */
	o.ca_path = other_cert;
	assert_int_equal(rl_k8s_start(&o, &k), 0);
	wait_stats(k, RL_K8S_ERR_TLS, 1, 0, 10000);
	stop_quickly(k);
	/* Nothing reached the handler: no token was given to an unverified server. */
	assert_int_equal(count_lines(req_log, ""), 0);
	server_stop(&s);
}

static void test_https_too_large(void **state)
{
	struct rl_k8s_opts o;
	struct rl_k8s *k = NULL;
	struct server s;
	char url[64];

	server_start(&s, "ok");
	opts_for(&o, &s, url, sizeof(url));
	o.max_response = 4096;
	assert_int_equal(rl_k8s_start(&o, &k), 0);
	wait_stats(k, RL_K8S_ERR_TOO_LARGE, 1, 0, 10000);
	stop_quickly(k);
	server_stop(&s);
}

static void test_connect_refused(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t salen = sizeof(sa);
	struct rl_k8s_opts o;
	struct rl_k8s *k = NULL;
	struct server s = { 0 };
	char url[64];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (!https_ok)
		skip();
	/* A port just free: bound, then closed without listening. */
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &salen), 0);
	s.port = ntohs(sa.sin_port);
	close(fd);
	opts_for(&o, &s, url, sizeof(url));
	assert_int_equal(rl_k8s_start(&o, &k), 0);
	wait_stats(k, RL_K8S_ERR_CONNECT, 1, 0, 10000);
	stop_quickly(k);
}

/*
 * A container restarted since the last list has a new ID: looking it up
 * asks for an early list (after the 5 s minimum gap, not the 60 s resync),
 * and asking again for an ID no list knows does not ask twice.
 */
static void test_https_early_relist(void **state)
{
	struct rl_k8s_opts o;
	struct rl_k8s_names n;
	struct rl_k8s *k = NULL;
	struct server s;
	char url[64], cmd_path[PATH_MAX + 32];
	int64_t t0;

	server_start(&s, "ok");
	opts_for(&o, &s, url, sizeof(url));
	assert_int_equal(rl_k8s_start(&o, &k), 0);
	wait_stats(k, RL_K8S_ERR_OTHER, 0, 1, 10000);
	t0 = now_ms();
	snprintf(cmd_path, sizeof(cmd_path), "%s/pods-page2.json", pages);
	assert_int_equal(run_cmd("sed -i 's/docker:\\/\\/" CID_WEB "/docker:\\/\\/" CID_WEB_NEW "/' '%s'", cmd_path),
			 0);
	assert_false(rl_k8s_lookup(k, CID_WEB_NEW, NULL, &n));
	assert_false(rl_k8s_lookup(k, CID_UNKNOWN, NULL, &n));
	assert_false(rl_k8s_lookup(k, CID_UNKNOWN, NULL, &n));
	wait_stats(k, RL_K8S_ERR_OTHER, 0, 2, 9000);
	assert_true(now_ms() - t0 >= 3500);
	assert_true(rl_k8s_lookup(k, CID_WEB_NEW, NULL, &n));
	expect_names(&n, "legacy", "web-6b7c8d9e0f-q9m4t", "web");
	/* CID_UNKNOWN already asked once: 2 lists of 2 pages, and no third list. */
	sleep(6);
	assert_false(rl_k8s_lookup(k, CID_UNKNOWN, NULL, &n));
	assert_int_equal(count_lines(req_log, ""), 4);
	/* The old ID is gone with the old list. */
	assert_false(rl_k8s_lookup(k, CID_WEB, NULL, &n));
	stop_quickly(k);
	server_stop(&s);
	assert_int_equal(run_cmd("cp '%s/pods-page2.json' '%s/'", fixtures, pages), 0);
}

int main(void)
{
	/* One group: tests/run-unit.sh reads the last summary line only. */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_pages),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_reasons),
		cmocka_unit_test(test_not_in_k8s),
		cmocka_unit_test(test_https_pages),
		cmocka_unit_test(test_https_forbidden),
		cmocka_unit_test(test_https_keeps_last_good),
		cmocka_unit_test(test_https_expired_continue),
		cmocka_unit_test(test_https_unauthorized),
		cmocka_unit_test(test_https_token_file),
		cmocka_unit_test(test_https_timeout),
		cmocka_unit_test(test_https_stop_mid_request),
		cmocka_unit_test(test_https_tls_failure),
		cmocka_unit_test(test_https_too_large),
		cmocka_unit_test(test_connect_refused),
		cmocka_unit_test(test_https_early_relist),
	};

	find_fixtures();
	return cmocka_run_group_tests(tests, setup_https, teardown_https);
}

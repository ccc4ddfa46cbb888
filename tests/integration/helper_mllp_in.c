/*
 * helper_mllp_in.c — start/stop a broker + artery-mllp-in pipeline for a
 * test, and a minimal HTTP GET for the admin endpoints.
 */
#include "helper_mllp_in.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int write_topology(struct art_test_pipeline *tp)
{
	FILE *fp = fopen(tp->topology, "w");

	if (!fp)
		return -1;
	fprintf(fp,
		"# written by helper_mllp_in.c for one test\n"
		"sources:\n"
		"  mllp:\n"
		"    - name: adt\n"
		"      port: %d\n"
		"      bind: 127.0.0.1\n"
		"      kafka_timeout_ms: 10000\n"
		"    - name: strict\n"
		"      port: %d\n"
		"      bind: 127.0.0.1\n"
		"      on_error: reject\n"
		"      max_message_size: 4K\n"
		"      kafka_timeout_ms: 2000\n"
		"      idle_timeout_ms: 1500\n"
		"processes:\n"
		"  mllp-in:\n"
		"    admin_port: %d\n",
		tp->port_adt, tp->port_strict, tp->port_admin);
	return fclose(fp);
}

int art_test_pipeline_start_mllp_in(struct art_test_pipeline *tp)
{
	const char *schemas = getenv("ART_TEST_SCHEMAS_DIR"); /* default: the source tree's */
	const char *argv[] = {art_test_binary("artery-mllp-in"), "--topology", tp->topology,
			      "--schemas", schemas ? schemas : ART_SOURCE_DIR "/schemas", NULL};
	const char *env[] = {tp->kb->env_bootstrap, NULL};

	art_proc_destroy(tp->mllp_in);
	tp->mllp_in = art_proc_start(argv, env, "mllp-in");
	if (!tp->mllp_in)
		return -1;
	if (art_proc_wait_line_on(tp->mllp_in, ART_PROC_STDERR, "listener strict", 15000) == -1) {
		art_proc_dump(tp->mllp_in);
		return -1;
	}
	return 0;
}

struct art_test_pipeline *art_test_pipeline_start(void)
{
	struct art_test_pipeline *tp = calloc(1, sizeof(*tp));

	snprintf(tp->dir, sizeof(tp->dir), "/tmp/artery-test-XXXXXX");
	if (!mkdtemp(tp->dir))
		goto fail;
	snprintf(tp->topology, sizeof(tp->topology), "%s/topology.yaml", tp->dir);
	tp->port_adt = art_test_free_port();
	tp->port_strict = art_test_free_port();
	while (tp->port_strict == tp->port_adt)
		tp->port_strict = art_test_free_port();
	tp->port_admin = art_test_free_port();
	if (write_topology(tp) == -1)
		goto fail;
	tp->kb = art_test_broker_start(tp->topology, 1);
	if (!tp->kb)
		goto fail;
	if (art_test_pipeline_start_mllp_in(tp) == -1)
		goto fail;
	return tp;
fail:
	art_test_pipeline_stop(tp, NULL);
	return NULL;
}

void art_test_pipeline_stop(struct art_test_pipeline *tp, int *status)
{
	char cmd[PATH_MAX + 16];

	if (!tp)
		return;
	if (tp->mllp_in) {
		int st = -1;
		art_proc_signal(tp->mllp_in, SIGTERM);
		art_proc_wait(tp->mllp_in, 30000, &st);
		if (status)
			*status = st;
		art_proc_destroy(tp->mllp_in);
	}
	if (tp->kb)
		art_test_broker_stop(tp->kb);
	if (tp->dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tp->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tp->dir);
	}
	free(tp);
}

char *art_test_http_get(int port, const char *path, int *http_status)
{
	struct sockaddr_in sa;
	char req[512], *resp = NULL, *body;
	size_t len = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd == -1 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		if (fd != -1)
			close(fd);
		return NULL;
	}
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n", path);
	if (write(fd, req, strlen(req)) < 0) {
		close(fd);
		return NULL;
	}
	for (;;) {
		char chunk[8192];
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n <= 0)
			break;
		resp = realloc(resp, len + (size_t)n + 1);
		memcpy(resp + len, chunk, (size_t)n);
		len += (size_t)n;
		resp[len] = '\0';
	}
	close(fd);
	if (!resp)
		return NULL;
	if (http_status)
		*http_status = len > 12 ? (int)strtol(resp + 9, NULL, 10) : 0;
	body = strstr(resp, "\r\n\r\n");
	body = strdup(body ? body + 4 : "");
	free(resp);
	return body;
}

/*
 * test_metrics.c — the Prometheus registry: exact text for counters,
 * gauges and histograms, label escaping, the series cap, concurrent
 * updates, and `promtool check metrics` on the output (skipped when
 * promtool is absent). Also the admin server that serves them (suite
 * `admin`): real HTTP requests with libcurl on a loopback port.
 */
#include "admin.h"
#include "metrics.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

Test(metrics, counter_and_gauge_text)
{
	struct art_metrics *m = art_metrics_new();
	struct art_metric *c =
	    art_metrics_counter(m, "artery_messages_in_total", "Messages received.", NULL);
	struct art_metric *g =
	    art_metrics_gauge(m, "artery_connections", "Open connections.", NULL);
	char *text;

	cr_assert_not_null(c);
	cr_assert_not_null(g);
	art_metrics_inc(c, NULL);
	art_metrics_add(c, NULL, 2);
	art_metrics_set(g, NULL, 5);
	art_metrics_add(g, NULL, -1.5);
	text = art_metrics_render(m, NULL);
	cr_assert_not_null(text);
	cr_expect_str_eq(text, "# HELP artery_messages_in_total Messages received.\n"
	                       "# TYPE artery_messages_in_total counter\n"
	                       "artery_messages_in_total 3\n"
	                       "# HELP artery_connections Open connections.\n"
	                       "# TYPE artery_connections gauge\n"
	                       "artery_connections 3.5\n");
	cr_expect_eq(art_metrics_value(c, NULL), 3);
	free(text);
	art_metrics_destroy(m);
}

Test(metrics, labels_are_escaped)
{
	struct art_metrics *m = art_metrics_new();
	struct art_metric *c = art_metrics_counter(m, "artery_acks_total",
	                                           "ACKs sent\\by code.\nSecond line.", "code");
	char *text;

	art_metrics_inc(c, "AA");
	art_metrics_inc(c, "AA");
	art_metrics_inc(c, "we\"ird\\\n");
	text = art_metrics_render(m, NULL);
	cr_expect_str_eq(text, "# HELP artery_acks_total ACKs sent\\\\by code.\\nSecond line.\n"
	                       "# TYPE artery_acks_total counter\n"
	                       "artery_acks_total{code=\"AA\"} 2\n"
	                       "artery_acks_total{code=\"we\\\"ird\\\\\\n\"} 1\n");
	cr_expect_eq(art_metrics_value(c, "AA"), 2);
	cr_expect_eq(art_metrics_value(c, "AE"), 0);
	free(text);
	art_metrics_destroy(m);
}

Test(metrics, histogram_buckets_are_cumulative)
{
	static const double bounds[] = {0.01, 0.1, 1};
	struct art_metrics *m = art_metrics_new();
	struct art_metric *h =
	    art_metrics_histogram(m, "artery_ack_latency_seconds", "ACK latency.", bounds, 3);
	char *text;

	cr_assert_not_null(h);
	art_metrics_observe(h, 0.005);
	art_metrics_observe(h, 0.01);
	art_metrics_observe(h, 0.5);
	art_metrics_observe(h, 3);
	text = art_metrics_render(m, NULL);
	cr_expect_str_eq(text, "# HELP artery_ack_latency_seconds ACK latency.\n"
	                       "# TYPE artery_ack_latency_seconds histogram\n"
	                       "artery_ack_latency_seconds_bucket{le=\"0.01\"} 2\n"
	                       "artery_ack_latency_seconds_bucket{le=\"0.1\"} 2\n"
	                       "artery_ack_latency_seconds_bucket{le=\"1\"} 3\n"
	                       "artery_ack_latency_seconds_bucket{le=\"+Inf\"} 4\n"
	                       "artery_ack_latency_seconds_sum 3.515\n"
	                       "artery_ack_latency_seconds_count 4\n");
	cr_expect_eq(art_metrics_value(h, NULL), 4);
	free(text);
	art_metrics_destroy(m);
}

Test(metrics, registration_rules)
{
	struct art_metrics *m = art_metrics_new();
	struct art_metric *c = art_metrics_counter(m, "a_total", "A.", NULL);

	cr_expect_eq(art_metrics_counter(m, "a_total", "A.", NULL), c, "same metric again");
	cr_expect_null(art_metrics_gauge(m, "a_total", "A.", NULL), "kind clash");
	cr_expect_null(art_metrics_counter(m, "a_total", "A.", "x"), "label clash");
	cr_expect_null(art_metrics_counter(m, "no_suffix", "A.", NULL));
	cr_expect_null(art_metrics_gauge(m, "9bad", "A.", NULL));
	cr_expect_null(art_metrics_gauge(m, "bad-name", "A.", NULL));
	cr_expect_null(art_metrics_gauge(m, "ok", "A.", "bad-label"));
	cr_expect_not_null(art_metrics_histogram(m, "lat_seconds", "L.", NULL, 0));
	art_metrics_destroy(m);
	art_metrics_destroy(NULL);
}

Test(metrics, series_are_capped)
{
	struct art_metrics *m = art_metrics_new();
	struct art_metric *c = art_metrics_counter(m, "peers_total", "P.", "peer");
	char label[32];

	for (int i = 0; i < ART_METRICS_MAX_SERIES + 50; i++) {
		snprintf(label, sizeof(label), "p%d", i);
		art_metrics_inc(c, label);
	}
	cr_expect_eq(art_metrics_value(c, "p0"), 1);
	cr_expect_eq(art_metrics_value(c, ART_METRICS_OTHER), 50);
	art_metrics_destroy(m);
}

static void *bump(void *arg)
{
	struct art_metric **mts = arg;

	for (int i = 0; i < 10000; i++) {
		art_metrics_inc(mts[0], i % 2 ? "odd" : "even");
		art_metrics_observe(mts[1], 0.002);
	}
	return NULL;
}

Test(metrics, concurrent_updates_are_counted)
{
	struct art_metrics *m = art_metrics_new();
	struct art_metric *mts[2] = {
	    art_metrics_counter(m, "n_total", "N.", "parity"),
	    art_metrics_histogram(m, "h_seconds", "H.", NULL, 0),
	};
	pthread_t th[4];

	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, bump, mts);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	cr_expect_eq(art_metrics_value(mts[0], "odd"), 20000);
	cr_expect_eq(art_metrics_value(mts[0], "even"), 20000);
	cr_expect_eq(art_metrics_value(mts[1], NULL), 40000);
	art_metrics_destroy(m);
}

Test(metrics, empty_registry_renders_empty)
{
	struct art_metrics *m = art_metrics_new();
	size_t len = 99;
	char *text = art_metrics_render(m, &len);

	cr_assert_not_null(text);
	cr_expect_eq(len, 0);
	cr_expect_str_eq(text, "");
	free(text);
	art_metrics_destroy(m);
}

Test(metrics, promtool_accepts_output)
{
	struct art_metrics *m;
	struct art_metric *c, *g, *h;
	char path[] = "/tmp/art-metrics-XXXXXX", cmd[256];
	char *text;
	size_t len = 0;
	int fd, status;

	if (access("/usr/bin/promtool", X_OK) != 0)
		cr_skip_test("promtool is not installed");
	m = art_metrics_new();
	c = art_metrics_counter(m, "artery_mllp_messages_total", "MLLP messages by ACK code.",
	                        "code");
	g = art_metrics_gauge(m, "artery_mllp_connections", "Open MLLP connections.", NULL);
	h = art_metrics_histogram(m, "artery_mllp_ack_latency_seconds",
	                          "Time from the end of a frame to its ACK.", NULL, 0);
	art_metrics_inc(c, "AA");
	art_metrics_inc(c, "A\"E\\");
	art_metrics_set(g, NULL, 2);
	art_metrics_observe(h, 0.0042);
	art_metrics_observe(h, 12);
	text = art_metrics_render(m, &len);
	fd = mkstemp(path);
	cr_assert_neq(fd, -1);
	cr_assert_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
	snprintf(cmd, sizeof(cmd), "/usr/bin/promtool check metrics < %s 2>&1", path);
	status = system(cmd);
	unlink(path);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "promtool rejected:\n%s", text);
	free(text);
	art_metrics_destroy(m);
}

/* ---- admin server -------------------------------------------------------- */

struct http_reply {
	long status;
	char ctype[128];
	char body[8192];
	size_t len;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_reply *r = arg;
	size_t n = size * nmemb;

	if (r->len + n >= sizeof(r->body))
		return 0;
	memcpy(r->body + r->len, data, n);
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

/* Sends one request; returns the reply (status 0 when it failed). */
static struct http_reply http(const char *method, int port, const char *path)
{
	struct http_reply r;
	char url[256];
	char *ct = NULL;
	CURL *h = curl_easy_init();

	memset(&r, 0, sizeof(r));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
	if (curl_easy_perform(h) == CURLE_OK) {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
		curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
		if (ct)
			snprintf(r.ctype, sizeof(r.ctype), "%s", ct);
	}
	curl_easy_cleanup(h);
	return r;
}

Test(admin, serves_metrics_health_and_readiness)
{
	struct art_metrics *m = art_metrics_new();
	struct art_metric *c = art_metrics_counter(m, "artery_test_total", "Test.", NULL);
	char err[256] = "";
	struct art_admin *a = art_admin_start("127.0.0.1", 0, m, err, sizeof(err));
	struct http_reply r;
	int port;

	cr_assert_not_null(a, "%s", err);
	port = art_admin_port(a);
	cr_assert_gt(port, 0);
	art_metrics_add(c, NULL, 41);
	art_metrics_inc(c, NULL);

	r = http("GET", port, "/metrics");
	cr_expect_eq(r.status, 200);
	cr_expect(strstr(r.ctype, "text/plain; version=0.0.4") == r.ctype, "%s", r.ctype);
	cr_expect(strstr(r.body, "\nartery_test_total 42\n") != NULL, "%s", r.body);

	r = http("GET", port, "/healthz");
	cr_expect_eq(r.status, 200);
	cr_expect_str_eq(r.body, "ok\n");

	r = http("GET", port, "/readyz");
	cr_expect_eq(r.status, 503);
	art_admin_set_ready(a, 1);
	r = http("GET", port, "/readyz");
	cr_expect_eq(r.status, 200);
	art_admin_set_ready(a, 0);
	r = http("GET", port, "/readyz");
	cr_expect_eq(r.status, 503);

	r = http("GET", port, "/nope");
	cr_expect_eq(r.status, 404);
	r = http("POST", port, "/metrics");
	cr_expect_eq(r.status, 405);

	art_admin_stop(a);
	art_metrics_destroy(m);
	art_admin_stop(NULL);
}

Test(admin, busy_port_and_bad_address_fail)
{
	char err[256] = "";
	struct art_admin *a = art_admin_start("127.0.0.1", 0, NULL, err, sizeof(err));
	struct art_admin *b;
	struct http_reply r;

	cr_assert_not_null(a, "%s", err);
	r = http("GET", art_admin_port(a), "/metrics");
	cr_expect_eq(r.status, 200);
	cr_expect_eq(r.len, 0);
	b = art_admin_start("127.0.0.1", art_admin_port(a), NULL, err, sizeof(err));
	cr_expect_null(b, "second server on the same port");
	cr_expect(strstr(err, "cannot start the admin server") != NULL, "%s", err);
	art_admin_stop(b);
	cr_expect_null(art_admin_start("localhost:1", 0, NULL, err, sizeof(err)));
	cr_expect(strstr(err, "not an IPv4 or IPv6 address") != NULL, "%s", err);
	cr_expect_null(art_admin_start("127.0.0.1", 70000, NULL, err, sizeof(err)));
	art_admin_stop(a);
}

Test(admin, ipv6_loopback)
{
	char err[256] = "";
	struct art_admin *a = art_admin_start("::1", 0, NULL, err, sizeof(err));

	if (!a)
		cr_skip_test("no IPv6 loopback here: %s", err);
	cr_expect_gt(art_admin_port(a), 0);
	art_admin_stop(a);
}

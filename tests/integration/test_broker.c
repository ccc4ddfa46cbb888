/*
 * test_broker.c — `artery broker` as a user sees it: the bootstrap line on
 * stdout and in the file, every topology topic with its partitions, kcat
 * producing and consuming through it, SIGTERM exiting 0 and removing the
 * file, SIGUSR1/SIGUSR2 taking the cluster down and up, and start-up
 * errors exiting 2. Each test is bounded (waits of at most a few seconds).
 */
#include "integration/helper_proc.h"

#include "art.h"
#include "kafka.h"

#include <criterion/criterion.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int have_kcat(void)
{
	return access("/usr/bin/kcat", X_OK) == 0;
}

/* art_test_run(), asserting that the command could be started. */
static char *run(const char *cmd, int *code)
{
	char *out = art_test_run(cmd, code);

	cr_assert_not_null(out, "cannot run %s", cmd);
	return out;
}

/* Returns the partition count of topic from broker metadata, -1 if absent. */
static int topic_partitions(const char *bootstrap, const char *topic, int *brokers)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	const struct rd_kafka_metadata *md = NULL;
	char err[512];
	rd_kafka_t *rk;
	int n = -1;

	cr_assert_eq(rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof(err)),
	             RD_KAFKA_CONF_OK);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	cr_assert_not_null(rk, "%s", err);
	cr_assert_eq(rd_kafka_metadata(rk, 1, NULL, &md, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
	for (int i = 0; i < md->topic_cnt; i++)
		if (!strcmp(md->topics[i].topic, topic) && !md->topics[i].err)
			n = md->topics[i].partition_cnt;
	if (brokers)
		*brokers = md->broker_cnt;
	rd_kafka_metadata_destroy(md);
	rd_kafka_destroy(rk);
	return n;
}

Test(broker, creates_topology_topics)
{
	struct art_test_broker *kb = art_test_broker_start(NULL, 1);
	char cmd[1024];
	char *out;
	int code, brokers = 0;

	cr_assert_not_null(kb);
	cr_expect_eq(topic_partitions(kb->bootstrap, "raw.hl7v2", &brokers), 6);
	cr_expect_eq(brokers, 1);
	cr_expect_eq(topic_partitions(kb->bootstrap, "canonical.immunization", NULL), 6);
	cr_expect_eq(topic_partitions(kb->bootstrap, "dlq.mllp-in", NULL), 3);
	cr_expect_eq(topic_partitions(kb->bootstrap, "alerts", NULL), 3);
	if (have_kcat()) {
		snprintf(cmd, sizeof(cmd), "kcat -b '%s' -L 2>&1", kb->bootstrap);
		out = run(cmd, &code);
		cr_expect_eq(code, 0, "%s", out);
		cr_expect(strstr(out, "topic \"raw.hl7v2\" with 6 partitions") != NULL, "%s", out);
		cr_expect(strstr(out, "topic \"dlq.ehr-out\" with 3 partitions") != NULL, "%s",
		          out);
		free(out);
	}
	cr_expect_eq(art_test_broker_stop(kb), 0);
}

Test(broker, kcat_produces_and_consumes)
{
	struct art_test_broker *kb;
	char cmd[1024];
	char *out;
	int code;

	if (!have_kcat())
		cr_skip_test("kcat is not installed");
	kb = art_test_broker_start(NULL, 1);
	cr_assert_not_null(kb);
	snprintf(cmd, sizeof(cmd),
	         "printf 'MSH|^~\\\\&|A\\n' | kcat -b '%s' -P -t raw.hl7v2 -p 2 -k pat-1 "
	         "-H artery.event_id=ev-42 2>&1",
	         kb->bootstrap);
	out = run(cmd, &code);
	cr_expect_eq(code, 0, "%s", out);
	free(out);
	snprintf(cmd, sizeof(cmd),
	         "kcat -b '%s' -C -t raw.hl7v2 -p 2 -o beginning -c 1 -e -f '%%k|%%h|%%s\\n' "
	         "2>/dev/null",
	         kb->bootstrap);
	out = run(cmd, &code);
	cr_expect_eq(code, 0);
	cr_expect_str_eq(out, "pat-1|artery.event_id=ev-42|MSH|^~\\&|A\n");
	free(out);
	cr_expect_eq(art_test_broker_stop(kb), 0);
}

Test(broker, librdkafka_reads_headers)
{
	struct art_test_broker *kb = art_test_broker_start(NULL, 1);
	static const char *const pairs[] = {"artery.event_id", "ev-7", "hl7.control_id", "C1",
	                                    NULL};
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	rd_kafka_topic_partition_list_t *tp;
	rd_kafka_message_t *rkm = NULL;
	char err[512], val[32];

	cr_assert_not_null(kb);
	setenv("ARTERY_KAFKA_BOOTSTRAP", kb->bootstrap, 1);
	conf = art_kafka_conf_new(ART_KAFKA_PRODUCER, err, sizeof(err));
	cr_assert_not_null(conf, "%s", err);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	cr_assert_not_null(rk, "%s", err);
	cr_assert_eq(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("canonical.result"),
	                               RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_VALUE("x", 1),
	                               RD_KAFKA_V_HEADERS(art_kafka_headers_new(pairs)),
	                               RD_KAFKA_V_END),
	             RD_KAFKA_RESP_ERR_NO_ERROR);
	cr_assert_eq(rd_kafka_flush(rk, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_destroy(rk);

	conf = art_kafka_conf_new(ART_KAFKA_CONSUMER, err, sizeof(err));
	cr_assert_not_null(conf, "%s", err);
	art_kafka_conf_set(conf, "group.id", "test-headers", err, sizeof(err));
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	cr_assert_not_null(rk, "%s", err);
	tp = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(tp, "canonical.result", 0)->offset =
	    RD_KAFKA_OFFSET_BEGINNING;
	cr_assert_eq(rd_kafka_assign(rk, tp), RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_topic_partition_list_destroy(tp);
	for (int i = 0; i < 100 && !rkm; i++) {
		rkm = rd_kafka_consumer_poll(rk, 100);
		if (rkm && rkm->err) {
			rd_kafka_message_destroy(rkm);
			rkm = NULL;
		}
	}
	cr_assert_not_null(rkm);
	cr_expect_eq(art_kafka_header_get(rkm, "artery.event_id", val, sizeof(val)), 4);
	cr_expect_str_eq(val, "ev-7");
	cr_expect_eq(art_kafka_header_get(rkm, "hl7.control_id", val, sizeof(val)), 2);
	cr_expect_eq(art_kafka_header_get(rkm, "nope", val, sizeof(val)), -1);
	cr_expect_eq(art_kafka_header_get(rkm, "artery.event_id", val, 4), -2);
	rd_kafka_message_destroy(rkm);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	cr_expect_eq(art_test_broker_stop(kb), 0);
}

Test(broker, sigterm_exits_zero_and_removes_bootstrap_file)
{
	char dir[] = "/tmp/art-brokerfile-XXXXXX", file[256], line[256];
	const char *argv[] = {art_test_binary("artery"),
	                      "broker",
	                      "--topology",
	                      ART_SOURCE_DIR "/topology/topology.yaml",
	                      "--brokers",
	                      "3",
	                      "--bootstrap-file",
	                      file,
	                      NULL};
	struct art_proc *p;
	char *out, *content, err[256];
	size_t len;
	int status = -1, brokers = 0;

	cr_assert_not_null(mkdtemp(dir));
	/* A directory that does not exist yet: the broker creates it. */
	snprintf(file, sizeof(file), "%s/sub/bootstrap", dir);
	p = art_proc_start(argv, NULL, "broker");
	cr_assert_not_null(p);
	cr_assert_eq(art_proc_wait_line(p, "broker.ready", 15000), 0);
	out = art_proc_output(p, ART_PROC_STDOUT);
	content = art_read_file(file, 4096, &len, err, sizeof(err));
	cr_assert_not_null(content, "%s", err);
	cr_expect_str_eq(out, content, "stdout and the file carry the same line");
	snprintf(line, sizeof(line), "%s", out);
	line[strcspn(line, "\n")] = '\0';
	cr_expect_eq(topic_partitions(line, "raw.hl7v2", &brokers), 6);
	cr_expect_eq(brokers, 3);
	cr_assert_eq(art_proc_signal(p, SIGTERM), 0);
	cr_assert_eq(art_proc_wait(p, 10000, &status), 0, "broker ignored SIGTERM");
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
	cr_expect_neq(access(file, F_OK), 0, "bootstrap file left behind");
	free(out);
	free(content);
	art_proc_destroy(p);
	snprintf(line, sizeof(line), "%s/sub", dir);
	rmdir(line);
	rmdir(dir);
}

/* Delivery result of one message: -1 pending, else the error code. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
	(void)rk;
	(void)opaque;
	*(int *)rkm->_private = rkm->err;
}

/* Produces one message and waits up to timeout_ms for its delivery report.
 * Returns the delivery error (0 = delivered), or -1 if no report came. */
static int produce_one(rd_kafka_t *rk, int timeout_ms)
{
	int result = -1;

	cr_assert_eq(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("raw.hl7v2"), RD_KAFKA_V_VALUE("m", 1),
	                               RD_KAFKA_V_OPAQUE(&result), RD_KAFKA_V_END),
	             RD_KAFKA_RESP_ERR_NO_ERROR);
	for (int waited = 0; result == -1 && waited < timeout_ms; waited += 50)
		rd_kafka_poll(rk, 50);
	if (result == -1) {
		/* Do not leave &result behind in a queued message. */
		rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
		rd_kafka_poll(rk, 100);
	}
	return result;
}

Test(broker, sigusr1_down_sigusr2_up)
{
	struct art_test_broker *kb = art_test_broker_start(NULL, 1);
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	char err[512];
	int rc;

	cr_assert_not_null(kb);
	setenv("ARTERY_KAFKA_BOOTSTRAP", kb->bootstrap, 1);
	/* Through the environment mapping: a short message timeout and quick
	 * reconnects. */
	setenv("ARTERY_KAFKA_MESSAGE_TIMEOUT_MS", "2000", 1);
	setenv("ARTERY_KAFKA_RECONNECT_BACKOFF_MAX_MS", "200", 1);
	conf = art_kafka_conf_new(ART_KAFKA_PRODUCER, err, sizeof(err));
	cr_assert_not_null(conf, "%s", err);
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	cr_assert_not_null(rk, "%s", err);

	cr_expect_eq(produce_one(rk, 10000), 0, "delivery while up");

	cr_assert_eq(art_test_broker_set_down(kb, 1), 0);
	rc = produce_one(rk, 8000);
	cr_expect(rc != 0 && rc != -1, "delivery while down should time out, got %d (%s)", rc,
	          rc > 0 ? rd_kafka_err2str((rd_kafka_resp_err_t)rc) : "no report");

	cr_assert_eq(art_test_broker_set_down(kb, 0), 0);
	rc = RD_KAFKA_RESP_ERR__MSG_TIMED_OUT;
	for (int i = 0; i < 5 && rc != 0; i++)
		rc = produce_one(rk, 5000);
	cr_expect_eq(rc, 0, "delivery after up: %s", rd_kafka_err2str((rd_kafka_resp_err_t)rc));
	rd_kafka_flush(rk, 5000);
	rd_kafka_destroy(rk);
	unsetenv("ARTERY_KAFKA_MESSAGE_TIMEOUT_MS");
	unsetenv("ARTERY_KAFKA_RECONNECT_BACKOFF_MAX_MS");
	cr_expect_eq(art_test_broker_stop(kb), 0);
}

/* Start-up errors: exit code 2 and the reason on stderr. */
static const struct {
	const char *args[4];
	const char *stderr_has;
} bad_starts[] = {
    {{"--brokers", "0", NULL}, "--brokers must be"},
    {{"--brokers", "many", NULL}, "--brokers must be"},
    {{"--topology", "/nonexistent/t.yaml", NULL}, "/nonexistent/t.yaml"},
    {{"--nope", NULL}, "usage: artery broker"},
    {{"extra", NULL}, "unexpected argument"},
};

Test(broker, startup_errors_exit_2)
{
	for (size_t i = 0; i < sizeof(bad_starts) / sizeof(bad_starts[0]); i++) {
		const char *argv[8] = {art_test_binary("artery"), "broker"};
		struct art_proc *p;
		int status = -1, n = 2;

		for (int j = 0; bad_starts[i].args[j]; j++)
			argv[n++] = bad_starts[i].args[j];
		argv[n] = NULL;
		p = art_proc_start(argv, NULL, "broker");
		cr_assert_not_null(p);
		cr_assert_eq(art_proc_wait(p, 10000, &status), 0);
		cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 2, "case %zu: status %d", i,
		          status);
		cr_expect_gt(art_proc_count_lines(p, ART_PROC_STDERR, bad_starts[i].stderr_has), 0,
		             "case %zu: stderr lacks '%s'", i, bad_starts[i].stderr_has);
		art_proc_destroy(p);
	}
}

Test(broker, invalid_topology_reports_file_line)
{
	char path[] = "/tmp/art-badtopo-XXXXXX";
	const char *argv[] = {art_test_binary("artery"), "broker", "--topology", path, NULL};
	struct art_proc *p;
	char want[128];
	int fd, status = -1;

	fd = mkstemp(path);
	cr_assert_neq(fd, -1);
	cr_assert_eq(write(fd, "topics:\n  - name: a\n    partitons: 3\n", 37), 37);
	close(fd);
	p = art_proc_start(argv, NULL, "broker");
	cr_assert_not_null(p);
	cr_assert_eq(art_proc_wait(p, 10000, &status), 0);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 2);
	snprintf(want, sizeof(want), "%s:3: unknown key 'partitons'", path);
	cr_expect_gt(art_proc_count_lines(p, ART_PROC_STDERR, want), 0, "want %s", want);
	art_proc_destroy(p);
	unlink(path);
}

Test(broker, help_exits_zero)
{
	const char *argv[] = {art_test_binary("artery"), "broker", "--help", NULL};
	struct art_proc *p = art_proc_start(argv, NULL, "broker");
	int status = -1;

	cr_assert_not_null(p);
	cr_assert_eq(art_proc_wait(p, 10000, &status), 0);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	cr_expect_gt(art_proc_count_lines(p, ART_PROC_STDOUT, "SIGUSR1"), 0);
	art_proc_destroy(p);
}

Test(helper, env_and_exit_status)
{
	const char *argv[] = {"/bin/sh", "-c", "echo \"v=$ART_X u=${HOME:-unset}\"; exit 3", NULL};
	const char *env[] = {"ART_X=42", "HOME", NULL};
	struct art_proc *p = art_proc_start(argv, env, "sh");
	int status = -1;

	cr_assert_not_null(p);
	cr_assert_eq(art_proc_wait_line(p, "v=42 u=unset", 5000), 0);
	cr_assert_eq(art_proc_wait(p, 5000, &status), 0);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 3);
	cr_expect_eq(art_proc_signal(p, SIGTERM), -1);
	art_proc_destroy(p);
	cr_expect_gt(art_test_free_port(), 0);
}

Test(helper, destroy_kills_running_child)
{
	const char *argv[] = {"/bin/sleep", "60", NULL};
	struct art_proc *p = art_proc_start(argv, NULL, "sleep");
	int status;

	cr_assert_not_null(p);
	cr_expect(art_proc_running(p));
	cr_expect_eq(art_proc_wait(p, 100, &status), -1);
	cr_expect_eq(art_proc_wait_line(p, "never", 100), -1);
	art_proc_destroy(p);
}

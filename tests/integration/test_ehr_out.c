/*
 * test_ehr_out.c — artery-ehr-out as a user runs it: the real binary
 * against `artery broker`, fed with records built exactly as
 * artery-mllp-in builds them (art_hl7_ingest_prepare: raw + canonical
 * events with their headers), delivering to real peers on loopback:
 *   - the NDJSON outbox (files on disk), including a replay with a new
 *     group that keeps the ledger (no new line) and schema evolution
 *     (patient events written with canonical.patient v2, id 4, read by a
 *     consumer pinned to v1);
 *   - a recording FHIR receiver (helper_http.h) told to answer 503, 429
 *     with Retry-After, 400 with an OperationOutcome, or to drop the
 *     connection: retry, backoff, dead letters without patient data,
 *     partition pause (one failing patient waits while another's events
 *     are delivered), order within a partition, SIGKILL at random moments
 *     with restarts (every event arrives, no duplicate side effect);
 *   - an MLLP receiver answering AA/AE/AR (raw.hl7v2 forwarded byte for
 *     byte, AE retried, AR dead-lettered).
 * Every wait is bounded; a restart in the same group waits
 * session_timeout_ms (6 s) on the mock cluster.
 */
#include "integration/helper_http.h"
#include "integration/helper_kafka.h"
#include "integration/helper_mllp_in.h"
#include "integration/helper_proc.h"

#include "art.h"
#include "consumer.h"
#include "hl7_ingest.h"
#include "kafka.h"
#include "mllp.h"
#include "record.h"
#include "schema.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 30000

struct fixture {
	struct art_test_broker *kb;
	char dir[128];
	char topo[192];
	char outbox[192];
	char ledger[192];
	int admin_port; /* -1: no admin server */
	struct art_schema_registry *reg;
	struct art_hl7_ingester *ing;
	rd_kafka_t *prod;
};

static const char topo_fmt[] =
    "kafka:\n"
    "  fetch.wait.max.ms: 50\n"
    "  heartbeat.interval.ms: 500\n"
    "topics:\n"
    "  - {name: raw.hl7v2, partitions: 4}\n"
    "  - {name: canonical.patient, partitions: 4}\n"
    "  - {name: canonical.encounter, partitions: 4}\n"
    "  - {name: canonical.result, partitions: 4}\n"
    "  - {name: dlq.ehr-out, partitions: 2}\n"
    "processes:\n"
    "  ehr-out: {admin_port: %d}\n"
    "consumers:\n"
    "  ehr-out:\n"
    "    group_id: %s\n"
    "    topics: [%s]\n"
    "    readers: {canonical.patient: 1}\n"
    "    retry: {max_attempts: %d, initial_backoff_ms: 200, max_backoff_ms: 1000, "
    "max_elapsed_ms: 60000}\n"
    "    ledger: {path: %s}\n"
    "    session_timeout_ms: 6000\n"
    "    commit_interval_ms: 200\n"
    "    target:\n"
    "%s";

/* Expects the line `series value` in artery-ehr-out's /metrics. */
static void expect_metric(const struct fixture *fx, const char *series, double value)
{
	int st = 0;
	char *body = art_test_http_get(fx->admin_port, "/metrics", &st), want[256];

	cr_assert_not_null(body);
	cr_assert_eq(st, 200);
	snprintf(want, sizeof(want), "%s %g\n", series, value);
	cr_expect(strstr(body, want) != NULL, "'%s' not in /metrics:\n%s", want, body);
	free(body);
}

static void fx_topology(struct fixture *fx, const char *group, const char *topics, int attempts,
                        const char *target)
{
	FILE *fp = fopen(fx->topo, "w");

	cr_assert_not_null(fp);
	fprintf(fp, topo_fmt, fx->admin_port, group, topics, attempts, fx->ledger, target);
	fclose(fp);
}

static void fx_init(struct fixture *fx, const char *topics, int attempts, const char *target)
{
	char err[512];
	struct art_hl7_ingest_conf ic;
	rd_kafka_conf_t *conf;

	memset(fx, 0, sizeof(*fx));
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/art-ehr-XXXXXX");
	cr_assert_not_null(mkdtemp(fx->dir));
	snprintf(fx->topo, sizeof(fx->topo), "%s/topology.yaml", fx->dir);
	snprintf(fx->outbox, sizeof(fx->outbox), "%s/outbox", fx->dir);
	snprintf(fx->ledger, sizeof(fx->ledger), "%s/ledger.db", fx->dir);
	fx->admin_port = -1;
	fx_topology(fx, "artery-ehr-out", topics, attempts, target);
	fx->kb = art_test_broker_start(fx->topo, 1);
	cr_assert_not_null(fx->kb);
	fx->reg = art_schema_registry_load(ART_SOURCE_DIR "/schemas", err, sizeof(err));
	cr_assert_not_null(fx->reg, "%s", err);
	memset(&ic, 0, sizeof(ic));
	ic.reg = fx->reg;
	ic.channel = "test";
	ic.raw_topic = "raw.hl7v2";
	ic.dlq_topic = "dlq.mllp-in";
	ic.hl7 = art_hl7_opts_default();
	fx->ing = art_hl7_ingester_new(&ic, err, sizeof(err));
	cr_assert_not_null(fx->ing, "%s", err);
	conf = rd_kafka_conf_new();
	cr_assert_eq(rd_kafka_conf_set(conf, "bootstrap.servers", fx->kb->bootstrap, err, sizeof(err)),
	             RD_KAFKA_CONF_OK);
	fx->prod = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	cr_assert_not_null(fx->prod, "%s", err);
}

static void fx_fini(struct fixture *fx)
{
	char cmd[256];

	if (fx->prod) {
		rd_kafka_flush(fx->prod, 5000);
		rd_kafka_destroy(fx->prod);
	}
	art_hl7_ingester_destroy(fx->ing);
	art_schema_registry_destroy(fx->reg);
	art_test_broker_stop(fx->kb);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", fx->dir);
}

/* A message of kind "adt" (A01: patient + encounter events) or "oru"
 * (one result event) for patient mrn, control id ctrl. */
static char *hl7_msg(const char *kind, const char *mrn, const char *ctrl)
{
	char *s = malloc(2048);

	cr_assert_not_null(s);
	if (!strcmp(kind, "adt"))
		snprintf(s, 2048,
		         "MSH|^~\\&|ADT|NWGH|EHR|NWGH|20260314121530||ADT^A01^ADT_A01|%s|P|2.5.1\r"
		         "EVN|A01|20260314121500\r"
		         "PID|1||%s^^^NWGH^MR||DOE^JANE^Q^^^^L||19840212|F\r"
		         "PV1|1|I|4W^412^B^NWGH||||1234^CARTER^ALAN|||MED||||||||V%s^^^NWGH^VN\r",
		         ctrl, mrn, ctrl);
	else
		snprintf(s, 2048,
		         "MSH|^~\\&|LAB|NWGH|EHR|NWGH|20260314121530||ORU^R01^ORU_R01|%s|P|2.5.1\r"
		         "PID|1||%s^^^NWGH^MR||DOE^JANE||19840212|F\r"
		         "OBR|1|P%s|F%s|2345-7^Glucose^LN|||20260314110500|||||||||||||||20260314121500|||F\r"
		         "OBX|1|NM|2345-7^Glucose^LN||182|mg/dL^^UCUM|70-99|H|||F\r"
		         "OBX|2|NM|2823-3^Potassium^LN||4.1|mmol/L^^UCUM|3.5-5.1|N|||F\r",
		         ctrl, mrn, ctrl, ctrl);
	return s;
}

/* Ingests one message as mllp-in would and produces its records to
 * partition (-1: by key); only topics in `only` (comma list, NULL all).
 * Appends the canonical event ids to ids (may be NULL). Returns the
 * number of canonical events produced. */
static size_t produce_msg(struct fixture *fx, const char *text, int partition, const char *only,
                          char ids[][64], size_t *id_cnt)
{
	struct art_hl7_ingest in;
	size_t events = 0;

	art_hl7_ingest_prepare(fx->ing, text, strlen(text), "127.0.0.1:1", art_now_us(), &in);
	cr_assert(in.recs.cnt > 0, "%s", in.reason);
	for (size_t i = 0; i < in.recs.cnt; i++) {
		struct art_record *rec = in.recs.recs[i];
		size_t l;
		const void *eid;

		if (only && !strstr(only, rec->topic))
			continue;
		if (strncmp(rec->topic, "canonical.", 10) && strcmp(rec->topic, "raw.hl7v2"))
			continue;
		if (partition >= 0)
			rec->partition = partition;
		eid = art_record_header(rec, ART_HDR_EVENT_ID, &l);
		if (eid && ids && id_cnt && !strncmp(rec->topic, "canonical.", 10)) {
			snprintf(ids[*id_cnt], 64, "%.*s", (int)l, (const char *)eid);
			(*id_cnt)++;
		}
		while (art_record_produce(fx->prod, rec, NULL) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
			rd_kafka_poll(fx->prod, 10);
		events += !strncmp(rec->topic, "canonical.", 10);
	}
	art_hl7_ingest_clear(&in);
	cr_assert_eq(rd_kafka_flush(fx->prod, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
	return events;
}

/* As produce_msg() for a message from hl7_msg(), which it frees. */
static size_t produce_owned(struct fixture *fx, char *text, int partition, const char *only,
                            char ids[][64], size_t *id_cnt)
{
	size_t n = produce_msg(fx, text, partition, only, ids, id_cnt);

	free(text);
	return n;
}

static struct art_proc *start_ehr(struct fixture *fx, const char *const *extra_env)
{
	const char *argv[] = {art_test_binary("artery-ehr-out"), "--topology", fx->topo, "--schemas",
	                      ART_SOURCE_DIR "/schemas", NULL};
	const char *env[8] = {fx->kb->env_bootstrap, "ARTERY_LOG_LEVEL=debug", NULL};
	size_t n = 2;
	struct art_proc *p;

	for (size_t i = 0; extra_env && extra_env[i] && n < 7; i++)
		env[n++] = extra_env[i];
	env[n] = NULL;
	p = art_proc_start(argv, env, "ehr-out");
	cr_assert_not_null(p);
	if (art_proc_wait_line(p, "consumer.start", 15000) != 0) {
		art_proc_dump(p);
		cr_assert_fail("artery-ehr-out did not start");
	}
	return p;
}

static void stop_ehr(struct art_proc *p)
{
	int status = -1;

	art_proc_signal(p, SIGTERM);
	if (art_proc_wait(p, 20000, &status) != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		art_proc_dump(p);
		cr_assert_fail("artery-ehr-out did not drain and exit 0 (status %d)", status);
	}
	art_proc_destroy(p);
}

/* Lines in dir/name ("" file missing = 0). */
static size_t count_lines(const char *dir, const char *name)
{
	char path[512];
	FILE *fp;
	size_t n = 0;
	int c;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "r");
	if (!fp)
		return 0;
	while ((c = fgetc(fp)) != EOF)
		n += c == '\n';
	fclose(fp);
	return n;
}

static int wait_lines(const char *dir, const char *name, size_t n, int timeout_ms)
{
	int64_t deadline = art_mono_us() + (int64_t)timeout_ms * 1000;

	while (count_lines(dir, name) < n) {
		if (art_mono_us() > deadline)
			return -1;
		usleep(50000);
	}
	return 0;
}

/* Distinct "id" values among the lines of dir/name; -1 if a line is not JSON. */
static long distinct_ids(const char *dir, const char *name)
{
	char path[512], line[65536];
	FILE *fp;
	json_t *seen = json_object();
	long n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "r");
	if (!fp) {
		json_decref(seen);
		return 0;
	}
	while (fgets(line, sizeof(line), fp)) {
		json_t *r = json_loads(line, 0, NULL);

		if (!r) {
			fclose(fp);
			json_decref(seen);
			return -1;
		}
		json_object_set_new(seen, json_string_value(json_object_get(r, "id")), json_true());
		json_decref(r);
	}
	fclose(fp);
	n = (long)json_object_size(seen);
	json_decref(seen);
	return n;
}

static const char ndjson_target[] = "      type: ndjson\n      dir: %s\n";

Test(ehr_out, ndjson_outbox_replay_and_schema_evolution, .timeout = 120)
{
	struct fixture fx;
	char target[512], ctrl[32], mrn[32];
	struct art_proc *p;
	size_t events = 0, results = 0, adts = 0;
	struct art_test_records recs;
	int v2 = 0;

	fx_init(&fx, "canonical.patient, canonical.encounter, canonical.result", 5, "      type: \"null\"\n");
	snprintf(target, sizeof(target), ndjson_target, fx.outbox);
	fx.admin_port = art_test_free_port();
	fx_topology(&fx, "artery-ehr-out", "canonical.patient, canonical.encounter, canonical.result",
	            5, target);
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 4; j++) {
			char *m;

			snprintf(mrn, sizeof(mrn), "MRN%d", i);
			snprintf(ctrl, sizeof(ctrl), "C%d-%d", i, j);
			m = hl7_msg(j % 2 ? "oru" : "adt", mrn, ctrl);
			events += produce_msg(&fx, m, -1, NULL, NULL, NULL);
			results += j % 2;
			adts += !(j % 2);
			free(m);
		}
	cr_assert_eq(events, adts * 2 + results);
	/* the patient events on the topic were written with v2 (id 4) */
	cr_assert_eq(art_test_consume_all(fx.kb->bootstrap, "canonical.patient", 10000, &recs), 0);
	for (size_t i = 0; i < recs.cnt; i++) {
		const char *s = art_test_record_header(&recs.recs[i], ART_HDR_SCHEMA);

		v2 += s && !strcmp(s, "canonical.patient:2");
	}
	cr_assert_eq((size_t)v2, adts, "patient events are written with canonical.patient v2");
	art_test_records_free(&recs);

	p = start_ehr(&fx, NULL);
	cr_assert_eq(wait_lines(fx.outbox, "DiagnosticReport.ndjson", results, WAIT_MS), 0);
	cr_assert_eq(wait_lines(fx.outbox, "Observation.ndjson", results * 2, WAIT_MS), 0);
	cr_assert_eq(wait_lines(fx.outbox, "Patient.ndjson", adts, WAIT_MS), 0,
	             "v2 patient events reach a consumer pinned to v1");
	cr_assert_eq(wait_lines(fx.outbox, "Encounter.ndjson", adts, WAIT_MS), 0);
	{
		/* the outbox's own metrics say what is in the files */
		int st = 0;
		char *body = art_test_http_get(fx.admin_port, "/metrics", &st), want[128];

		cr_assert_not_null(body);
		cr_assert_eq(st, 200);
		snprintf(want, sizeof(want), "artery_sink_ndjson_lines_total{type=\"DiagnosticReport\"} %zu\n",
		         results);
		cr_expect(strstr(body, want) != NULL, "%s not in:\n%s", want, body);
		snprintf(want, sizeof(want), "artery_sink_ndjson_lines_total{type=\"Observation\"} %zu\n",
		         results * 2);
		cr_expect(strstr(body, want) != NULL, "%s not in:\n%s", want, body);
		cr_expect(strstr(body, "# TYPE artery_sink_ndjson_flush_seconds histogram") != NULL);
		cr_expect(strstr(body, "artery_sink_ndjson_bytes_total ") != NULL);
		free(body);
	}
	stop_ehr(p);
	cr_assert_eq(count_lines(fx.outbox, "Patient.ndjson"), adts);
	cr_assert_eq(distinct_ids(fx.outbox, "Patient.ndjson"), 3, "one Patient id per patient");
	cr_assert_eq(distinct_ids(fx.outbox, "Encounter.ndjson"), (long)adts);
	cr_assert_eq(count_lines(fx.outbox, "Observation.ndjson"), results * 2);

	/* Replay: a new group reads everything again; the ledger skips it. */
	fx_topology(&fx, "artery-ehr-out-replay", "canonical.patient, canonical.encounter, canonical.result",
	            5, target);
	p = start_ehr(&fx, NULL);
	{
		int64_t deadline = art_mono_us() + (int64_t)WAIT_MS * 1000;

		while ((size_t)art_proc_count_lines(p, ART_PROC_BOTH, "consumer.duplicate") < events &&
		       art_mono_us() < deadline)
			usleep(50000);
		cr_assert_eq((size_t)art_proc_count_lines(p, ART_PROC_BOTH, "consumer.duplicate"), events,
		             "every replayed event is recognised");
	}
	stop_ehr(p);
	cr_assert_eq(count_lines(fx.outbox, "Patient.ndjson"), adts, "replay adds no line");
	cr_assert_eq(count_lines(fx.outbox, "Observation.ndjson"), results * 2);
	cr_assert_eq(count_lines(fx.outbox, "DiagnosticReport.ndjson"), results);
	fx_fini(&fx);
}

/* ---- FHIR REST -------------------------------------------------------------- */

static void fhir_target(char *buf, size_t size, int port, const char *extra)
{
	snprintf(buf, size, "      type: fhir\n      url: http://127.0.0.1:%d/fhir\n"
	                    "      timeout_ms: 2000\n%s",
	         port, extra ? extra : "");
}

Test(ehr_out, fhir_retry_backoff_dead_letter, .timeout = 150)
{
	struct fixture fx;
	struct art_test_http *h = art_test_http_start();
	char target[512];
	struct art_proc *p;
	struct art_test_records dlq;
	size_t n = 0;

	cr_assert_not_null(h);
	fhir_target(target, sizeof(target), art_test_http_port(h),
	            "      bearer_token_env: EHR_TOKEN\n");
	fx_init(&fx, "canonical.result", 4, target);
	fx.admin_port = art_test_free_port();
	fx_topology(&fx, "artery-ehr-out", "canonical.result", 4, target);
	art_test_http_require_token(h, "s3cret");
	{
		const char *env[] = {"EHR_TOKEN=s3cret", NULL};

		/* 503 twice, then 429 with Retry-After: 1, then a drop: all retried */
		art_test_http_fail_next(h, 2, 503, -1);
		n += produce_owned(&fx, hl7_msg("oru", "MRN1", "R1"), 0, NULL, NULL, NULL);
		p = start_ehr(&fx, env);
		cr_assert_eq(art_test_http_wait_bundles(h, 1, WAIT_MS), 0);
		cr_assert_eq(art_test_http_count_status(h, 503), 2);

		art_test_http_fail_next(h, 1, 429, 1);
		n += produce_owned(&fx, hl7_msg("oru", "MRN1", "R2"), 0, NULL, NULL, NULL);
		cr_assert_eq(art_test_http_wait_bundles(h, 2, WAIT_MS), 0);
		{
			/* the retry after the 429 waited for Retry-After (1 s) */
			size_t cnt = art_test_http_count(h);
			struct art_test_http_req a, b;

			cr_assert_eq(art_test_http_request(h, cnt - 2, &a), 0);
			cr_assert_eq(art_test_http_request(h, cnt - 1, &b), 0);
			cr_assert_eq(a.status, 429);
			cr_assert_geq(b.at_us - a.at_us, 900000, "Retry-After honoured (%lld us)",
			              (long long)(b.at_us - a.at_us));
			cr_assert_str_eq(b.auth, "Bearer s3cret");
			free(a.body);
			free(b.body);
		}

		art_test_http_fail_next(h, 1, 0, -1); /* drop the connection */
		n += produce_owned(&fx, hl7_msg("oru", "MRN1", "R3"), 0, NULL, NULL, NULL);
		cr_assert_eq(art_test_http_wait_bundles(h, 3, WAIT_MS), 0);

		/* 400: permanent, dead-lettered with a summary free of PHI */
		art_test_http_fail_next(h, 1, 400, -1);
		n += produce_owned(&fx, hl7_msg("oru", "MRN1", "R4"), 0, NULL, NULL, NULL);
		/* the next event flows after it */
		n += produce_owned(&fx, hl7_msg("oru", "MRN1", "R5"), 0, NULL, NULL, NULL);
		cr_assert_eq(art_test_http_wait_bundles(h, 4, WAIT_MS), 0);
		/* what the target answered, as an operator sees it */
		expect_metric(&fx, "artery_sink_fhir_requests_total{status=\"503\"}", 2);
		expect_metric(&fx, "artery_sink_fhir_requests_total{status=\"429\"}", 1);
		expect_metric(&fx, "artery_sink_fhir_requests_total{status=\"400\"}", 1);
		expect_metric(&fx, "artery_sink_fhir_requests_total{status=\"200\"}", 4);
		stop_ehr(p);
	}
	cr_assert_eq(n, 5);
	cr_assert_eq(art_test_consume_all(fx.kb->bootstrap, "dlq.ehr-out", 10000, &dlq), 0);
	cr_assert_eq(dlq.cnt, 1);
	{
		const char *e = art_test_record_header(&dlq.recs[0], "artery.error");

		cr_assert_not_null(e);
		cr_assert_not_null(strstr(e, "HTTP 400"), "%s", e);
		cr_assert_not_null(strstr(e, "invalid"), "%s", e);
		cr_assert_null(strstr(e, "SECRET"), "no patient data in the error: %s", e);
		cr_assert_null(strstr(e, "1234567"), "no identifiers in the error: %s", e);
	}
	art_test_records_free(&dlq);
	cr_assert_eq(art_test_http_repeats(h), 0);
	art_test_http_stop(h);
	fx_fini(&fx);
}

/* A test CA and a certificate for 127.0.0.1 signed by it, in dir
 * (ca.pem, srv.pem, srv.key), made with the openssl command. 0 or -1. */
static int make_tls_files(const char *dir)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd),
	         "cd '%s' && command -v openssl >/dev/null && "
	         "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 "
	         "-subj '/CN=Artery Test CA' >/dev/null 2>&1 && "
	         "openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr "
	         "-subj '/CN=127.0.0.1' >/dev/null 2>&1 && "
	         "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nbasicConstraints=CA:FALSE\\n' "
	         "> srv.ext && "
	         "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
	         "-out srv.pem -days 2 -extfile srv.ext >/dev/null 2>&1",
	         dir);
	return system(cmd) == 0 ? 0 : -1;
}

Test(ehr_out, fhir_over_tls_trusts_the_configured_ca_only, .timeout = 120)
{
	struct fixture fx;
	struct art_test_http *h;
	char target[1024], path[256], err[256];
	char *cert, *key;
	struct art_proc *p;
	size_t len;
	int64_t deadline;

	fx_init(&fx, "canonical.result", 1000, "      type: \"null\"\n");
	if (make_tls_files(fx.dir) == -1) {
		fx_fini(&fx);
		cr_skip_test("the openssl command could not make a test certificate");
	}
	snprintf(path, sizeof(path), "%s/srv.pem", fx.dir);
	cert = art_read_file(path, 1 << 20, &len, err, sizeof(err));
	snprintf(path, sizeof(path), "%s/srv.key", fx.dir);
	key = art_read_file(path, 1 << 20, &len, err, sizeof(err));
	cr_assert(cert && key, "%s", err);
	h = art_test_http_start_tls(cert, key);
	if (!h) {
		free(cert);
		free(key);
		fx_fini(&fx);
		cr_skip_test("libmicrohttpd cannot serve HTTPS here");
	}

	/* Without ca_file the system store does not know the test CA: the
	 * handshake fails, the event waits (retried), nothing is sent, and the
	 * reason says what to configure. */
	snprintf(target, sizeof(target),
	         "      type: fhir\n      url: https://127.0.0.1:%d/fhir\n      timeout_ms: 2000\n",
	         art_test_http_port(h));
	fx.admin_port = art_test_free_port();
	fx_topology(&fx, "artery-ehr-out", "canonical.result", 1000, target);
	produce_owned(&fx, hl7_msg("oru", "TLS1", "T1"), 0, NULL, NULL, NULL);
	p = start_ehr(&fx, NULL);
	deadline = art_mono_us() + (int64_t)WAIT_MS * 1000;
	while (art_proc_count_lines(p, ART_PROC_BOTH, "certificate") < 1 && art_mono_us() < deadline)
		usleep(50000);
	cr_expect_geq(art_proc_count_lines(p, ART_PROC_BOTH, "set target ca_file"), 1,
	              "the failure names the setting that fixes it");
	expect_metric(&fx, "artery_sink_fhir_requests_total{status=\"tls_error\"}", 1);
	cr_expect_eq(art_test_http_count(h), 0, "no request reached an unverified server");
	stop_ehr(p);

	/* With the test CA as ca_file the same event is delivered. */
	snprintf(target, sizeof(target),
	         "      type: fhir\n      url: https://127.0.0.1:%d/fhir\n      timeout_ms: 2000\n"
	         "      ca_file: %s/ca.pem\n",
	         art_test_http_port(h), fx.dir);
	fx_topology(&fx, "artery-ehr-out", "canonical.result", 1000, target);
	p = start_ehr(&fx, NULL);
	cr_assert_eq(art_test_http_wait_bundles(h, 1, WAIT_MS), 0, "delivered over verified TLS");
	stop_ehr(p);
	cr_expect_eq(art_test_http_repeats(h), 0);
	art_test_http_stop(h);
	free(cert);
	free(key);
	fx_fini(&fx);
}

Test(ehr_out, fhir_oauth2_client_credentials, .timeout = 120)
{
	struct fixture fx;
	struct art_test_http *h = art_test_http_start();
	char target[768], extra[512];
	struct art_proc *p;
	size_t tokens = 0, bundles = 0;

	cr_assert_not_null(h);
	snprintf(extra, sizeof(extra),
	         "      oauth2_token_url: http://127.0.0.1:%d/token\n"
	         "      oauth2_client_id: artery-ehr\n"
	         "      oauth2_client_secret_env: EHR_CLIENT_SECRET\n",
	         art_test_http_port(h));
	fhir_target(target, sizeof(target), art_test_http_port(h), extra);
	fx_init(&fx, "canonical.result", 4, target);
	/* The server only takes the token its /token endpoint issued for
	 * these client credentials. */
	art_test_http_oauth(h, "artery-ehr", "client-s3cret", "issued-token-42");
	art_test_http_require_token(h, "issued-token-42");
	{
		const char *env[] = {"EHR_CLIENT_SECRET=client-s3cret", NULL};

		produce_owned(&fx, hl7_msg("oru", "MRN7", "O1"), 0, NULL, NULL, NULL);
		produce_owned(&fx, hl7_msg("oru", "MRN7", "O2"), 0, NULL, NULL, NULL);
		p = start_ehr(&fx, env);
		cr_assert_eq(art_test_http_wait_bundles(h, 2, WAIT_MS), 0);
		stop_ehr(p);
	}
	for (size_t i = 0; i < art_test_http_count(h); i++) {
		struct art_test_http_req rq;

		cr_assert_eq(art_test_http_request(h, i, &rq), 0);
		if (!strcmp(rq.path, "/token")) {
			tokens++;
			cr_assert_eq(rq.status, 200, "the token request was refused");
		} else {
			bundles++;
			cr_assert_str_eq(rq.auth, "Bearer issued-token-42");
			cr_assert_eq(rq.status, 200);
		}
		free(rq.body);
	}
	cr_assert_eq(bundles, 2);
	cr_assert_eq(tokens, 1, "the token is cached until it expires (%zu requests)", tokens);
	art_test_http_stop(h);
	fx_fini(&fx);
}

Test(ehr_out, fhir_partition_pause_and_order, .timeout = 150)
{
	struct fixture fx;
	struct art_test_http *h = art_test_http_start();
	char target[512], ids_a[16][64], ids_b[16][64], ctrl[32];
	size_t na = 0, nb = 0;
	struct art_proc *p;

	cr_assert_not_null(h);
	fhir_target(target, sizeof(target), art_test_http_port(h), NULL);
	fx_init(&fx, "canonical.result", 0, target);
	/* patient PAUSEA (partition 0) fails with 503 until told otherwise */
	art_test_http_fail_match(h, "PAUSEA", 503);
	for (int j = 0; j < 4; j++) {
		snprintf(ctrl, sizeof(ctrl), "A%d", j);
		produce_owned(&fx, hl7_msg("oru", "PAUSEA", ctrl), 0, NULL, ids_a, &na);
		snprintf(ctrl, sizeof(ctrl), "B%d", j);
		produce_owned(&fx, hl7_msg("oru", "FLOWB", ctrl), 1, NULL, ids_b, &nb);
	}
	cr_assert_eq(na, 4);
	cr_assert_eq(nb, 4);
	p = start_ehr(&fx, NULL);
	/* every event of B is delivered while A's first keeps failing */
	cr_assert_eq(art_test_http_wait_bundles(h, nb, WAIT_MS), 0);
	cr_assert_geq(art_test_http_count_status(h, 503), 1);
	cr_assert_eq(art_test_http_bundles(h), nb, "A's events wait for the first one");
	art_test_http_fail_match(h, NULL, 0);
	cr_assert_eq(art_test_http_wait_bundles(h, na + nb, WAIT_MS), 0);
	stop_ehr(p);
	{
		/* A's accepted bundles arrived in partition order */
		size_t next = 0, cnt = art_test_http_count(h);

		for (size_t i = 0; i < cnt; i++) {
			struct art_test_http_req r;

			cr_assert_eq(art_test_http_request(h, i, &r), 0);
			if (r.status == 200 && next < na && !strcmp(r.request_id, ids_a[next]))
				next++;
			else if (r.status == 200)
				for (size_t k = next + 1; k < na; k++)
					cr_assert_str_neq(r.request_id, ids_a[k], "A delivered out of order");
			free(r.body);
		}
		cr_assert_eq(next, na);
	}
	art_test_http_stop(h);
	fx_fini(&fx);
}

Test(ehr_out, fhir_sigkill_restart_no_duplicate_side_effect, .timeout = 240)
{
	struct fixture fx;
	struct art_test_http *h = art_test_http_start();
	char target[512], ctrl[32], mrn[32];
	size_t events = 0, resources_per_result = 4; /* Patient + DR + 2 Observations */
	unsigned seed = (unsigned)getpid();
	struct art_proc *p;

	cr_assert_not_null(h);
	fhir_target(target, sizeof(target), art_test_http_port(h), NULL);
	fx_init(&fx, "canonical.result", 0, target);
	art_test_http_slow(h, 15);
	for (int i = 0; i < 60; i++) {
		snprintf(mrn, sizeof(mrn), "K%d", i % 6);
		snprintf(ctrl, sizeof(ctrl), "K%d", i);
		events += produce_owned(&fx, hl7_msg("oru", mrn, ctrl), -1, NULL, NULL, NULL);
	}
	for (int k = 0; k < 3; k++) {
		/* kill while it delivers: after a quarter more has arrived */
		p = start_ehr(&fx, NULL);
		art_test_http_wait_bundles(h, (size_t)(k + 1) * events / 4, 30000);
		usleep((useconds_t)(rand_r(&seed) % 100000));
		art_proc_signal(p, SIGKILL);
		art_proc_wait(p, 5000, NULL);
		art_proc_destroy(p);
	}
	p = start_ehr(&fx, NULL);
	cr_assert_eq(art_test_http_wait_bundles(h, events, 90000), 0, "every event arrives (%zu/%zu)",
	             art_test_http_bundles(h), events);
	stop_ehr(p);
	/* 6 patients; per result a DiagnosticReport and 2 Observations */
	cr_assert_eq(art_test_http_resources(h), 6 + events * (resources_per_result - 1),
	             "conditional entries: no resource created twice");
	fprintf(stderr, "sigkill: %zu events, %zu requests, %zu resent bundles\n", events,
	        art_test_http_count(h), art_test_http_repeats(h));
	art_test_http_stop(h);
	fx_fini(&fx);
}

Test(ehr_out, ndjson_sigkill_restart_every_event_once_by_id, .timeout = 240)
{
	struct fixture fx;
	char target[512], ctrl[32], mrn[32];
	size_t events = 0;
	unsigned seed = (unsigned)getpid() * 7u;
	struct art_proc *p;

	fx_init(&fx, "canonical.result", 0, "      type: \"null\"\n");
	snprintf(target, sizeof(target), ndjson_target, fx.outbox);
	fx_topology(&fx, "artery-ehr-out", "canonical.result", 0, target);
	for (int i = 0; i < 400; i++) {
		snprintf(mrn, sizeof(mrn), "N%d", i % 8);
		snprintf(ctrl, sizeof(ctrl), "N%d", i);
		events += produce_owned(&fx, hl7_msg("oru", mrn, ctrl), -1, NULL, NULL, NULL);
	}
	for (int k = 0; k < 3; k++) {
		/* kill while it delivers: after a quarter more has arrived */
		p = start_ehr(&fx, NULL);
		wait_lines(fx.outbox, "DiagnosticReport.ndjson", (size_t)(k + 1) * events / 4, 30000);
		usleep((useconds_t)(rand_r(&seed) % 50000));
		art_proc_signal(p, SIGKILL);
		art_proc_wait(p, 5000, NULL);
		art_proc_destroy(p);
	}
	p = start_ehr(&fx, NULL);
	cr_assert_eq(wait_lines(fx.outbox, "DiagnosticReport.ndjson", events, 90000), 0);
	{
		/* a crash re-appends at most the lines of the batch whose ledger
		 * transaction it interrupted (docs/ledger.md) */
		int64_t settle = art_mono_us() + 2000000;

		while (art_mono_us() < settle)
			usleep(100000);
	}
	stop_ehr(p);
	cr_assert_eq(distinct_ids(&fx.outbox[0], "DiagnosticReport.ndjson"), (long)events,
	             "every event's report is there, every line is whole JSON");
	cr_assert_leq(count_lines(fx.outbox, "DiagnosticReport.ndjson"),
	              events + ART_MIN(events, 3 * (size_t)ART_CONSUMER_BATCH_MAX),
	              "at most a batch re-appended per crash");
	fprintf(stderr, "ndjson sigkill: %zu events, %zu report lines\n", events,
	        count_lines(fx.outbox, "DiagnosticReport.ndjson"));
	fx_fini(&fx);
}

/* ---- MLLP ------------------------------------------------------------------ */

struct mllp_peer {
	int lfd, port;
	pthread_t th;
	pthread_mutex_t mu;
	char *got[64];
	size_t cnt;
	int ae_left;          /* answer AE this many times first */
	char reject_ctrl[32]; /* answer AR for this control id */
	volatile int stop;
};

static void *mllp_peer_run(void *arg)
{
	struct mllp_peer *pe = arg;

	while (!pe->stop) {
		int fd = accept(pe->lfd, NULL, NULL);
		struct art_mllp *fr = art_mllp_new(0);
		char buf[8192];
		ssize_t r;

		if (fd == -1)
			break;
		while ((r = read(fd, buf, sizeof(buf))) > 0) {
			struct art_mllp_event ev;

			art_mllp_feed(fr, buf, (size_t)r);
			while (art_mllp_next(fr, &ev) == ART_MLLP_FRAME) {
				char ctrl[64] = "", ack[512], code[3] = "AA";
				const char *p = ev.data;
				struct art_buf out;

				/* MSH-10: the tenth field */
				for (int f = 0; f < 9 && p; f++) {
					p = memchr(p, '|', ev.len - (size_t)(p - ev.data));
					p = p ? p + 1 : NULL;
				}
				if (p) {
					const char *e = memchr(p, '|', ev.len - (size_t)(p - ev.data));

					snprintf(ctrl, sizeof(ctrl), "%.*s", e ? (int)(e - p) : 0, p);
				}
				pthread_mutex_lock(&pe->mu);
				if (pe->reject_ctrl[0] && !strcmp(ctrl, pe->reject_ctrl)) {
					memcpy(code, "AR", 3);
				} else if (pe->ae_left > 0) {
					pe->ae_left--;
					memcpy(code, "AE", 3);
				} else if (pe->cnt < 64) {
					pe->got[pe->cnt] = strndup(ev.data, ev.len);
					pe->cnt++;
				}
				pthread_mutex_unlock(&pe->mu);
				snprintf(ack, sizeof(ack),
				         "MSH|^~\\&|EHR|H|ART|H|20260101000000||ACK|A%s|P|2.5.1\rMSA|%s|%s\r",
				         ctrl, code, ctrl);
				art_buf_init(&out, 4096);
				art_mllp_encode(ack, strlen(ack), &out);
				if (write(fd, out.p, out.len) < 0)
					break;
				art_buf_free(&out);
			}
		}
		art_mllp_destroy(fr);
		close(fd);
	}
	return NULL;
}

Test(ehr_out, mllp_forwards_raw_and_checks_ack, .timeout = 120)
{
	struct fixture fx;
	struct mllp_peer pe;
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	char target[256], *msgs[3];
	struct art_proc *p;
	struct art_test_records dlq;
	int64_t deadline;

	memset(&pe, 0, sizeof(pe));
	pthread_mutex_init(&pe.mu, NULL);
	pe.lfd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(pe.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(pe.lfd, 8), 0);
	getsockname(pe.lfd, (struct sockaddr *)&sa, &sl);
	pe.port = ntohs(sa.sin_port);
	pe.ae_left = 1;
	snprintf(pe.reject_ctrl, sizeof(pe.reject_ctrl), "M2");
	cr_assert_eq(pthread_create(&pe.th, NULL, mllp_peer_run, &pe), 0);

	snprintf(target, sizeof(target), "      type: mllp\n      url: mllp://127.0.0.1:%d\n", pe.port);
	fx_init(&fx, "raw.hl7v2", 5, target);
	fx.admin_port = art_test_free_port();
	fx_topology(&fx, "artery-ehr-out", "raw.hl7v2", 5, target);
	msgs[0] = hl7_msg("adt", "MM1", "M1");
	msgs[1] = hl7_msg("oru", "MM1", "M2");
	msgs[2] = hl7_msg("oru", "MM1", "M3");
	for (int i = 0; i < 3; i++)
		produce_msg(&fx, msgs[i], 0, "raw.hl7v2", NULL, NULL);
	p = start_ehr(&fx, NULL);
	deadline = art_mono_us() + (int64_t)WAIT_MS * 1000;
	for (;;) {
		size_t c;

		pthread_mutex_lock(&pe.mu);
		c = pe.cnt;
		pthread_mutex_unlock(&pe.mu);
		if (c >= 2 || art_mono_us() > deadline)
			break;
		usleep(50000);
	}
	expect_metric(&fx, "artery_sink_mllp_acks_total{outcome=\"AA\"}", 2);
	expect_metric(&fx, "artery_sink_mllp_acks_total{outcome=\"AE\"}", 1);
	expect_metric(&fx, "artery_sink_mllp_acks_total{outcome=\"AR\"}", 1);
	stop_ehr(p);
	cr_assert_eq(pe.cnt, 2, "M1 (after one AE) and M3 accepted, M2 rejected");
	cr_assert_str_eq(pe.got[0], msgs[0], "forwarded byte for byte");
	cr_assert_str_eq(pe.got[1], msgs[2]);
	cr_assert_eq(art_test_consume_all(fx.kb->bootstrap, "dlq.ehr-out", 10000, &dlq), 0);
	cr_assert_eq(dlq.cnt, 1);
	cr_assert_not_null(strstr(art_test_record_header(&dlq.recs[0], "artery.error"), "AR"));
	art_test_records_free(&dlq);
	pe.stop = 1;
	shutdown(pe.lfd, SHUT_RDWR);
	close(pe.lfd);
	pthread_join(pe.th, NULL);
	for (size_t i = 0; i < pe.cnt; i++)
		free(pe.got[i]);
	for (int i = 0; i < 3; i++)
		free(msgs[i]);
	fx_fini(&fx);
}

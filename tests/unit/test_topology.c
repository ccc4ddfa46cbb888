/*
 * test_topology.c — topology.yaml loading: the shipped file, defaults, and
 * a table of invalid files each reported as "file:line: message".
 */
#include "topology.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Writes text to a fresh temporary file; returns its path (static buffer
 * per call site is not needed: caller passes one). */
static void write_tmp(char *path, size_t size, const char *text)
{
	int fd;
	FILE *fp;

	snprintf(path, size, "/tmp/art-topology-XXXXXX");
	fd = mkstemp(path);
	cr_assert_neq(fd, -1);
	fp = fdopen(fd, "w");
	cr_assert_not_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static struct art_topology *load_text(const char *text, char *path, size_t psize, char *err,
                                      size_t esize)
{
	struct art_topology *t;

	write_tmp(path, psize, text);
	t = art_topology_load(path, err, esize);
	unlink(path);
	return t;
}

static const char *const required_topics[] = {
    "raw.hl7v2",
    "raw.fhir",
    "raw.file",
    "canonical.patient",
    "canonical.encounter",
    "canonical.order",
    "canonical.result",
    "canonical.appointment",
    "canonical.document",
    "canonical.immunization",
    "dlq.mllp-in",
    "dlq.file-in",
    "dlq.http-in",
    "dlq.ehr-out",
    "alerts",
};

Test(topology, shipped_file_loads)
{
	char err[512] = "";
	struct art_topology *t =
	    art_topology_load(ART_SOURCE_DIR "/topology/topology.yaml", err, sizeof(err));
	const struct art_mllp_listener *l;
	const struct art_process_conf *pc;

	cr_assert_not_null(t, "%s", err);
	for (size_t i = 0; i < sizeof(required_topics) / sizeof(required_topics[0]); i++)
		cr_expect_not_null(art_topology_topic(t, required_topics[i]), "missing %s",
		                   required_topics[i]);
	cr_expect_eq(art_topology_topic(t, "raw.hl7v2")->partitions, 6);
	cr_assert_eq(t->mllp_cnt, 1);
	l = art_topology_mllp(t, "default");
	cr_assert_not_null(l);
	cr_expect_eq(l->port, 2575);
	cr_expect_eq(l->max_message_size, 1024 * 1024);
	cr_expect_eq(l->ack_mode, ART_ACK_AUTO);
	pc = art_topology_process(t, "mllp-in");
	cr_assert_not_null(pc);
	cr_expect_eq(pc->admin_port, 9301);
	cr_expect_str_eq(pc->admin_bind, "127.0.0.1");
	art_topology_destroy(t);
}

Test(topology, empty_file_gives_defaults)
{
	char path[64], err[512] = "";
	struct art_topology *t = load_text("# nothing\n", path, sizeof(path), err, sizeof(err));

	cr_assert_not_null(t, "%s", err);
	cr_expect_eq(t->topic_cnt, sizeof(required_topics) / sizeof(required_topics[0]));
	for (size_t i = 0; i < sizeof(required_topics) / sizeof(required_topics[0]); i++)
		cr_expect_not_null(art_topology_topic(t, required_topics[i]));
	cr_expect_eq(t->mllp_cnt, 0);
	cr_expect_eq(t->kafka_cnt, 0);
	cr_expect_eq(art_topology_process(t, "file-in")->admin_port, 9302);
	cr_expect_null(art_topology_process(t, "nope"));
	art_topology_destroy(t);
}

Test(topology, listener_defaults_and_overrides)
{
	char path[64], err[512] = "";
	struct art_topology *t = load_text("sources:\n"
	                                   "  mllp:\n"
	                                   "    - name: lab\n"
	                                   "      port: 0\n"
	                                   "    - name: adt\n"
	                                   "      port: 2576\n"
	                                   "      bind: 127.0.0.1\n"
	                                   "      max_message_size: 2M\n"
	                                   "      idle_timeout_ms: 1000\n"
	                                   "      ack_mode: enhanced\n"
	                                   "      on_error: reject\n"
	                                   "      dedup_window_s: 0\n"
	                                   "      kafka_timeout_ms: 500\n"
	                                   "      raw_topic: raw.fhir\n"
	                                   "      dlq_topic: alerts\n"
	                                   "kafka:\n"
	                                   "  linger.ms: 20\n"
	                                   "processes:\n"
	                                   "  mllp-in: {admin_port: 0, admin_bind: 0.0.0.0}\n",
	                                   path, sizeof(path), err, sizeof(err));
	const struct art_mllp_listener *l;

	cr_assert_not_null(t, "%s", err);
	l = art_topology_mllp(t, "lab");
	cr_assert_not_null(l);
	cr_expect_str_eq(l->bind, "0.0.0.0");
	cr_expect_eq(l->port, 0);
	cr_expect_eq(l->max_message_size, 1024 * 1024);
	cr_expect_eq(l->idle_timeout_ms, 300000);
	cr_expect_eq(l->ack_mode, ART_ACK_AUTO);
	cr_expect_eq(l->on_error, ART_ON_ERROR_QUARANTINE);
	cr_expect_eq(l->dedup_window_s, 600);
	cr_expect_eq(l->kafka_timeout_ms, 10000);
	cr_expect_str_eq(l->raw_topic, "raw.hl7v2");
	cr_expect_str_eq(l->dlq_topic, "dlq.mllp-in");
	cr_expect_eq(l->line, 3);

	l = art_topology_mllp(t, "adt");
	cr_assert_not_null(l);
	cr_expect_str_eq(l->bind, "127.0.0.1");
	cr_expect_eq(l->port, 2576);
	cr_expect_eq(l->max_message_size, 2 * 1024 * 1024);
	cr_expect_eq(l->idle_timeout_ms, 1000);
	cr_expect_eq(l->ack_mode, ART_ACK_ENHANCED);
	cr_expect_str_eq(art_ack_mode_name(l->ack_mode), "enhanced");
	cr_expect_eq(l->on_error, ART_ON_ERROR_REJECT);
	cr_expect_str_eq(art_on_error_name(l->on_error), "reject");
	cr_expect_eq(l->dedup_window_s, 0);
	cr_expect_eq(l->kafka_timeout_ms, 500);
	cr_expect_str_eq(l->raw_topic, "raw.fhir");
	cr_expect_str_eq(l->dlq_topic, "alerts");

	cr_assert_eq(t->kafka_cnt, 1);
	cr_expect_str_eq(t->kafka[0].key, "linger.ms");
	cr_expect_str_eq(t->kafka[0].value, "20");
	cr_expect_eq(t->kafka[0].line, 17);
	cr_expect_eq(art_topology_process(t, "mllp-in")->admin_port, 0);
	cr_expect_str_eq(art_topology_process(t, "mllp-in")->admin_bind, "0.0.0.0");
	art_topology_destroy(t);
}

Test(topology, topics_replace_defaults)
{
	char path[64], err[512] = "";
	struct art_topology *t = load_text("topics:\n"
	                                   "  - name: a.b\n"
	                                   "  - {name: c_d-e, partitions: 12, replication: 3}\n",
	                                   path, sizeof(path), err, sizeof(err));

	cr_assert_not_null(t, "%s", err);
	cr_assert_eq(t->topic_cnt, 2);
	cr_expect_eq(art_topology_topic(t, "a.b")->partitions, 3);
	cr_expect_eq(art_topology_topic(t, "a.b")->replication, 1);
	cr_expect_eq(art_topology_topic(t, "c_d-e")->partitions, 12);
	cr_expect_eq(art_topology_topic(t, "c_d-e")->replication, 3);
	cr_expect_null(art_topology_topic(t, "raw.hl7v2"));
	art_topology_destroy(t);
}

/* Invalid files: each must fail with "<path>:<line>: " and a message
 * containing the given text. */
static const struct {
	const char *yaml;
	int line;
	const char *msg;
} bad_files[] = {
    {"topics: []\nroutes:\n  - x\n", 2, "unknown key 'routes' in the topology"},
    {"sources:\n  file:\n    - x\n", 2, "unknown key 'file' in sources"},
    {"sources:\n  mllp:\n    - name: a\n      port: 1\n      colour: red\n", 5,
     "unknown key 'colour' in mllp listener"},
    {"sources:\n  mllp:\n    - name: a\n      port: 70000\n", 4, "port must be an integer"},
    {"sources:\n  mllp:\n    - name: a\n      port: 1\n      ack_mode: loud\n", 5,
     "ack_mode must be one of auto|original|enhanced"},
    {"sources:\n  mllp:\n    - name: a\n      port: 1\n      on_error: ignore\n", 5,
     "on_error must be one of quarantine|reject"},
    {"sources:\n  mllp:\n    - name: a\n      port: 1\n      max_message_size: 1.5M\n", 5,
     "max_message_size must be a size"},
    {"sources:\n  mllp:\n    - name: a\n      port: 1\n      max_message_size: 1G\n", 5,
     "max_message_size must be a size"},
    {"sources:\n  mllp:\n    - port: 1\n", 3, "mllp listener without a name"},
    {"sources:\n  mllp:\n    - name: a\n", 3, "without a port"},
    {"sources:\n  mllp:\n    - {name: a, port: 1}\n    - {name: a, port: 2}\n", 4,
     "'a' already declared at line 3"},
    {"sources:\n  mllp:\n    - {name: a, port: 1}\n    - {name: b, port: 1}\n", 4,
     "0.0.0.0:1 is already used by 'a'"},
    {"topics:\n  - name: x\nsources:\n  mllp:\n    - {name: a, port: 1}\n", 5,
     "uses topic 'raw.hl7v2', which is not declared in topics"},
    {"topics:\n  - name: x\n  - name: x\n", 3, "topic 'x' already declared at line 2"},
    {"topics:\n  - name: 'bad topic'\n", 2, "not a legal Kafka topic name"},
    {"topics:\n  - name: x\n    partitions: 0\n", 3, "partitions must be an integer"},
    {"topics:\n  - partitions: 2\n", 2, "topic without a name"},
    {"topics: raw.hl7v2\n", 1, "topics must be a list"},
    {"kafka:\n  linger.ms: 5\n  no.such.property: 1\n", 3,
     "kafka: no.such.property=1: No such configuration property"},
    {"kafka:\n  linger.ms: soon\n", 2, "kafka: linger.ms=soon"},
    {"kafka:\n  bootstrap.servers: k:9092\n", 2, "ARTERY_KAFKA_BOOTSTRAP"},
    {"processes:\n  mllp-out: {admin_port: 1}\n", 2, "unknown key 'mllp-out' in processes"},
    {"processes:\n  mllp-in: {admin_port: 1, admin_host: x}\n", 2,
     "unknown key 'admin_host' in mllp-in"},
    {"topics: []\ntopics: []\n", 2, "duplicate key 'topics'"},
    {"topics:\n  - name: \"\"\n", 2, "name must be a non-empty string"},
    {"sources:\n  mllp:\n    - {name: a, port: 1, bind: example.org}\n", 3,
     "bind must be an IPv4 or IPv6 address, not 'example.org'"},
    {"processes:\n  mllp-in:\n    admin_bind: localhost\n", 3,
     "admin_bind must be an IPv4 or IPv6 address"},
    {"- just\n- a list\n", 1, "the topology must be a mapping"},
    {"topics: [\n", 2, "YAML error"},
};

Test(topology, invalid_files_report_file_and_line)
{
	for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
		char path[64], err[512] = "", want[128];
		struct art_topology *t =
		    load_text(bad_files[i].yaml, path, sizeof(path), err, sizeof(err));

		cr_expect_null(t, "case %zu loaded", i);
		art_topology_destroy(t);
		snprintf(want, sizeof(want), "%s:%d: ", path, bad_files[i].line);
		cr_expect(strncmp(err, want, strlen(want)) == 0,
		          "case %zu: want prefix '%s', got '%s'", i, want, err);
		cr_expect(strstr(err, bad_files[i].msg) != NULL, "case %zu: want '%s' in '%s'", i,
		          bad_files[i].msg, err);
	}
}

Test(topology, missing_file_names_it)
{
	char err[512] = "";
	struct art_topology *t = art_topology_load("/nonexistent/topology.yaml", err, sizeof(err));

	cr_assert_null(t);
	cr_expect(strstr(err, "/nonexistent/topology.yaml: ") == err, "%s", err);
}

Test(topology, default_path_follows_env)
{
	unsetenv("ARTERY_TOPOLOGY");
	cr_expect_str_eq(art_topology_default_path(), "topology/topology.yaml");
	setenv("ARTERY_TOPOLOGY", "/etc/artery/t.yaml", 1);
	cr_expect_str_eq(art_topology_default_path(), "/etc/artery/t.yaml");
	unsetenv("ARTERY_TOPOLOGY");
}

Test(topology, destroy_null_is_noop)
{
	art_topology_destroy(NULL);
}

/* ---- consumers: ---------------------------------------------------------- */

Test(topology, consumer_defaults)
{
	char path[64], err[512] = "";
	struct art_topology *t = load_text("consumers:\n"
	                                   "  ehr-out:\n"
	                                   "    topics: [canonical.patient]\n"
	                                   "    target: {type: ndjson}\n",
	                                   path, sizeof(path), err, sizeof(err));
	const struct art_consumer_conf *cc;

	cr_assert_not_null(t, "%s", err);
	cr_assert_eq(t->consumer_cnt, 1);
	cc = art_topology_consumer(t, "ehr-out");
	cr_assert_not_null(cc);
	cr_expect_null(art_topology_consumer(t, "task-out"));
	cr_expect_str_eq(cc->group_id, "artery-ehr-out");
	cr_expect_str_eq(cc->dlq_topic, "dlq.ehr-out");
	cr_assert_eq(cc->topic_cnt, 1);
	cr_expect_str_eq(cc->topics[0], "canonical.patient");
	cr_expect_eq(cc->reader_cnt, 0);
	cr_expect(art_route_is_empty(&cc->route));
	cr_expect_eq(cc->retry.max_attempts, 10);
	cr_expect_eq(cc->retry.initial_backoff_ms, 500);
	cr_expect_eq(cc->retry.max_backoff_ms, 60000);
	cr_expect_eq(cc->retry.max_elapsed_ms, 600000);
	cr_expect_eq(cc->ledger.enabled, 1);
	cr_expect_str_eq(cc->ledger.path, ".artery/ehr-out.ledger.db");
	cr_expect_eq(cc->ledger.max_age_days, 30);
	cr_expect_eq(cc->ledger.max_rows, 5000000);
	cr_expect_eq(cc->ledger.synchronous_full, 0);
	cr_expect_str_eq(cc->target.type, "ndjson");
	cr_expect_null(cc->target.url);
	cr_expect_eq(cc->target.param_cnt, 0);
	cr_expect_eq(cc->session_timeout_ms, 45000);
	cr_expect_eq(cc->commit_interval_ms, 1000);
	cr_expect_eq(cc->line, 3);
	art_topology_destroy(t);
}

Test(topology, consumer_every_key)
{
	char path[64], err[512] = "";
	struct art_topology *t = load_text(
	    "topics:\n"
	    "  - {name: canonical.patient}\n"
	    "  - {name: canonical.result}\n"
	    "  - {name: dead.letters}\n"
	    "consumers:\n"
	    "  test-out:\n"
	    "    group_id: g1\n"
	    "    topics: [canonical.patient, canonical.result]\n"
	    "    readers: {canonical.patient: 1, canonical.result: 2}\n"
	    "    route:\n"
	    "      event_types: [\"result.*\", patient.admitted]\n"
	    "      facilities: [NORTH]\n"
	    "      message_types: [\"ORU^R01\", \"ADT^A0?\"]\n"
	    "    retry: {max_attempts: 0, initial_backoff_ms: 10, max_backoff_ms: 20, "
	    "max_elapsed_ms: 0}\n"
	    "    dlq_topic: dead.letters\n"
	    "    ledger: {path: /tmp/x.db, max_age_days: 7, max_rows: 1000, synchronous: full, "
	    "enabled: true}\n"
	    "    target:\n"
	    "      type: fhir\n"
	    "      url: https://ehr.example/fhir\n"
	    "      timeout_ms: 5000\n"
	    "      auth: bearer\n"
	    "    session_timeout_ms: 6000\n"
	    "    commit_interval_ms: 200\n",
	    path, sizeof(path), err, sizeof(err));
	const struct art_consumer_conf *cc;

	cr_assert_not_null(t, "%s", err);
	cc = art_topology_consumer(t, "test-out");
	cr_assert_not_null(cc);
	cr_expect_str_eq(cc->group_id, "g1");
	cr_assert_eq(cc->topic_cnt, 2);
	cr_expect_str_eq(cc->topics[1], "canonical.result");
	cr_assert_eq(cc->reader_cnt, 2);
	cr_expect_str_eq(cc->readers[0].subject, "canonical.patient");
	cr_expect_eq(cc->readers[0].version, 1);
	cr_expect_eq(cc->readers[1].version, 2);
	cr_assert_eq(cc->route.event_type_cnt, 2);
	cr_expect_str_eq(cc->route.event_types[0], "result.*");
	cr_assert_eq(cc->route.facility_cnt, 1);
	cr_assert_eq(cc->route.message_type_cnt, 2);
	cr_expect_str_eq(cc->route.message_types[1], "ADT^A0?");
	cr_expect_eq(cc->retry.max_attempts, 0);
	cr_expect_eq(cc->retry.initial_backoff_ms, 10);
	cr_expect_eq(cc->retry.max_backoff_ms, 20);
	cr_expect_eq(cc->retry.max_elapsed_ms, 0);
	cr_expect_str_eq(cc->dlq_topic, "dead.letters");
	cr_expect_str_eq(cc->ledger.path, "/tmp/x.db");
	cr_expect_eq(cc->ledger.max_age_days, 7);
	cr_expect_eq(cc->ledger.max_rows, 1000);
	cr_expect_eq(cc->ledger.synchronous_full, 1);
	cr_expect_str_eq(cc->target.type, "fhir");
	cr_expect_str_eq(cc->target.url, "https://ehr.example/fhir");
	cr_assert_eq(cc->target.param_cnt, 2);
	cr_expect_str_eq(art_target_param(&cc->target, "timeout_ms"), "5000");
	cr_expect_str_eq(art_target_param(&cc->target, "auth"), "bearer");
	cr_expect_null(art_target_param(&cc->target, "type"));
	cr_expect_eq(cc->target.params[0].line, 20);
	cr_expect_eq(cc->session_timeout_ms, 6000);
	cr_expect_eq(cc->commit_interval_ms, 200);
	art_topology_destroy(t);
}

Test(topology, shipped_file_has_ehr_out)
{
	char err[512] = "";
	struct art_topology *t =
	    art_topology_load(ART_SOURCE_DIR "/topology/topology.yaml", err, sizeof(err));
	const struct art_consumer_conf *cc;

	cr_assert_not_null(t, "%s", err);
	cc = art_topology_consumer(t, "ehr-out");
	cr_assert_not_null(cc);
	cr_expect_geq(cc->topic_cnt, 1);
	cr_expect_not_null(art_topology_topic(t, cc->dlq_topic));
	art_topology_destroy(t);
}

static const struct {
	const char *yaml;
	int line;
	const char *msg;
} bad_consumers[] = {
    {"consumers:\n  Ehr_Out:\n    topics: [raw.hl7v2]\n    target: {type: x}\n", 2,
     "consumer name 'Ehr_Out' must be"},
    {"consumers:\n  a:\n    target: {type: x}\n", 3, "consumer 'a' without topics"},
    {"consumers:\n  a:\n    topics: [raw.hl7v2]\n", 3, "consumer 'a' without a target"},
    {"consumers:\n  a:\n    topics: [raw.hl7v2]\n    target: {url: x}\n", 4,
     "target without a type"},
    {"consumers:\n  a:\n    topics: [raw.hl7v2]\n    target: {type: x}\n    colour: red\n", 5,
     "unknown key 'colour' in a"},
    {"consumers:\n  a:\n    topics: raw.hl7v2\n    target: {type: x}\n", 3,
     "topics must be a list of strings"},
    {"consumers:\n  a:\n    topics: [nope]\n    target: {type: x}\n", 3,
     "consumer 'a' uses topic 'nope', which is not declared"},
    {"consumers:\n  a:\n    topics: [raw.hl7v2]\n    target: {type: x}\n", 3,
     "dead-letter topic 'dlq.a', which is not declared"},
    {"consumers:\n  ehr-out:\n    topics: [raw.hl7v2]\n    target: {type: x}\n"
     "    route: {event_type: [x]}\n",
     5, "unknown key 'event_type' in route"},
    {"consumers:\n  ehr-out:\n    topics: [raw.hl7v2]\n    target: {type: x}\n"
     "    route:\n      facilities: [\"ab\\\\\"]\n",
     6, "ends in a lone backslash"},
    {"consumers:\n  ehr-out:\n    topics: [raw.hl7v2]\n    target: {type: x}\n"
     "    retry: {initial_backoff_ms: 0}\n",
     5, "initial_backoff_ms must be an integer"},
    {"consumers:\n  ehr-out:\n    topics: [raw.hl7v2]\n    target: {type: x}\n"
     "    retry:\n      initial_backoff_ms: 500\n      max_backoff_ms: 100\n",
     6, "initial_backoff_ms (500) exceeds max_backoff_ms (100)"},
    {"consumers:\n  ehr-out:\n    topics: [raw.hl7v2]\n    target: {type: x}\n"
     "    ledger: {synchronous: off}\n",
     5, "synchronous must be one of normal|full"},
    {"consumers:\n  ehr-out:\n    topics: [raw.hl7v2]\n    target: {type: x}\n"
     "    ledger: {enabled: no}\n",
     5, "enabled must be one of false|true"},
    {"consumers:\n  ehr-out:\n    topics: [raw.hl7v2]\n    target: {type: x}\n"
     "    readers: {canonical.patient: 0}\n",
     5, "canonical.patient must be an integer"},
    {"consumers:\n  ehr-out:\n    topics: [raw.hl7v2]\n"
     "    target: {type: x, headers: {a: b}}\n",
     4, "target.headers must have a scalar value"},
    {"consumers:\n  ehr-out:\n    topics: [raw.hl7v2]\n    target: {type: x}\n"
     "    session_timeout_ms: 10\n",
     5, "session_timeout_ms must be an integer"},
    {"consumers: [ehr-out]\n", 1, "consumers must be a mapping"},
};

Test(topology, invalid_consumers_report_file_and_line)
{
	for (size_t i = 0; i < sizeof(bad_consumers) / sizeof(bad_consumers[0]); i++) {
		char path[64], err[512] = "", want[128];
		struct art_topology *t =
		    load_text(bad_consumers[i].yaml, path, sizeof(path), err, sizeof(err));

		cr_expect_null(t, "case %zu loaded", i);
		art_topology_destroy(t);
		snprintf(want, sizeof(want), "%s:%d: ", path, bad_consumers[i].line);
		cr_expect(strncmp(err, want, strlen(want)) == 0,
		          "case %zu: want prefix '%s', got '%s'", i, want, err);
		cr_expect(strstr(err, bad_consumers[i].msg) != NULL, "case %zu: want '%s' in '%s'",
		          i, bad_consumers[i].msg, err);
	}
}

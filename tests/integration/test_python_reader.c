/*
 * test_python_reader.c — Artery's records are readable outside Artery.
 *
 * Against a real `artery broker`: records encoded by avro_codec (a
 * canonical.patient event built from JSON, a raw.hl7v2 message whose
 * payload holds a NUL and invalid UTF-8) are produced with their headers
 * through record.h, then decoded by tests/integration/python_reader.py —
 * Debian's python3-confluent-kafka + python3-avro, the .avsc and the id,
 * nothing else — and by `artery tail`. Both must give back exactly what was
 * produced; tail must also survive garbage on the topic. Skipped (not
 * passed) when the Python modules are missing. Each wait is bounded.
 */
#include "integration/helper_proc.h"

#include "art.h"
#include "avro_codec.h"
#include "kafka.h"
#include "record.h"
#include "schema.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define SCHEMAS ART_SOURCE_DIR "/schemas"
#define READER  ART_SOURCE_DIR "/tests/integration/python_reader.py"

/* Every field given, so every reader must give exactly this back. */
static const char patient_json[] =
    "{\"event_id\":\"6f1c1b1e-8c1a-4a53-9d0e-2b7f3c9a0001\","
    "\"idempotency_key\":\"adt-in:GOODHEALTH:MSG00001\","
    "\"event_type\":\"patient.registered\","
    "\"occurred_at\":{\"micros\":1704220200000000,\"utc_offset_minutes\":-300,"
    "\"precision\":\"second\",\"original\":\"20240102133000-0500\"},"
    "\"received_at\":1704220201123456,"
    "\"source\":{\"system\":\"EPIC\",\"facility\":\"GOOD HEALTH\",\"channel\":\"adt-in\"},"
    "\"source_message_id\":\"MSG00001\","
    "\"patient\":{\"identifiers\":[{\"value\":\"123456\",\"assigning_authority\":\"HOSP\","
    "\"type\":\"MR\"}],\"names\":[{\"family\":\"Doe\",\"given\":[\"Jane\",\"Q\"],"
    "\"prefix\":null,\"suffix\":\"Jr\",\"use\":\"L\"}],\"birth_date\":\"1980-04-02\","
    "\"sex\":\"F\"},"
    "\"raw_ref\":{\"topic\":\"raw.hl7v2\",\"raw_hash\":"
    "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"},"
    "\"trigger\":\"ADT^A01\","
    "\"addresses\":[{\"lines\":[\"1 Main St\"],\"city\":\"Springfield\",\"state\":\"IL\","
    "\"postal_code\":\"62701\",\"country\":\"USA\",\"use\":\"H\"}],"
    "\"telecoms\":[{\"value\":\"(555)555-1234\",\"system\":\"PH\",\"use\":\"PRN\"}],"
    "\"marital_status\":{\"code\":\"M\",\"display\":\"Married\",\"system\":\"HL70002\"},"
    "\"language\":null,\"races\":[],\"ethnic_groups\":[],\"account_number\":\"ACC42\","
    "\"deceased\":false,\"deceased_at\":null,"
    "\"merge\":{\"prior_identifiers\":[{\"value\":\"654321\",\"assigning_authority\":"
    "\"HOSP\",\"type\":\"MR\"}],\"prior_account\":null},\"cleared_fields\":[]}";

/* A raw HL7 payload that is not text: a NUL and bytes invalid in UTF-8. */
static const unsigned char raw_payload[] = "MSH|^~\\&|A\x00\xff\xfe|B\r";
#define RAW_PAYLOAD_B64 "TVNIfF5+XCZ8QQD//nxCDQ=="

static int delivery_errors;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
	(void)rk;
	(void)opaque;
	if (rkm->err)
		delivery_errors++;
}

static int python_modules_present(void)
{
	int st = system("/usr/bin/python3 -c 'import avro.io, avro.schema, confluent_kafka' "
	                ">/dev/null 2>&1");

	return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, 0, &jerr);

	cr_assert_not_null(j, "%d: %s in %s", jerr.line, jerr.text, text);
	return j;
}

static void assert_json_eq(json_t *got, json_t *want, const char *what)
{
	if (!json_equal(got, want)) {
		char *g = json_dumps(got, JSON_SORT_KEYS), *w = json_dumps(want, JSON_SORT_KEYS);

		cr_assert_fail("%s differs:\n got: %s\nwant: %s", what, g, w);
		free(g);
		free(w);
	}
}

struct fixture {
	struct art_test_broker *kb;
	struct art_schema_registry *reg;
	rd_kafka_t *rk;
};

static void start(struct fixture *fx)
{
	rd_kafka_conf_t *conf;
	char err[512];

	fx->kb = art_test_broker_start(NULL, 1);
	cr_assert_not_null(fx->kb, "artery broker did not start");
	fx->reg = art_schema_registry_load(SCHEMAS, err, sizeof(err));
	cr_assert_not_null(fx->reg, "%s", err);
	setenv("ARTERY_KAFKA_BOOTSTRAP", fx->kb->bootstrap, 1);
	conf = art_kafka_conf_new(ART_KAFKA_PRODUCER, err, sizeof(err));
	cr_assert_not_null(conf, "%s", err);
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	fx->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	cr_assert_not_null(fx->rk, "%s", err);
	delivery_errors = 0;
}

static void stop(struct fixture *fx)
{
	rd_kafka_destroy(fx->rk);
	art_schema_registry_destroy(fx->reg);
	art_test_broker_stop(fx->kb);
	unsetenv("ARTERY_KAFKA_BOOTSTRAP");
}

/* Produces rec (destroyed afterwards) and waits for its acknowledgement. */
static void produce(struct fixture *fx, struct art_record *rec)
{
	cr_assert_eq(art_record_produce(fx->rk, rec, NULL), RD_KAFKA_RESP_ERR_NO_ERROR);
	art_record_destroy(rec);
	cr_assert_eq(rd_kafka_flush(fx->rk, 15000), RD_KAFKA_RESP_ERR_NO_ERROR);
	cr_assert_eq(delivery_errors, 0);
}

/* The canonical.patient record: value from patient_json, key and headers. */
static struct art_record *patient_record(struct fixture *fx, int partition)
{
	const struct art_schema *s = art_schema_by_subject(fx->reg, "canonical.patient", 1);
	struct art_avro_value *av = art_avro_value_new(s);
	json_t *in = parse(patient_json);
	struct art_record *rec;
	char err[512];
	void *buf;
	size_t len;

	cr_assert_eq(art_avro_set_json(av, NULL, NULL, in), 0, "%s", av->err);
	cr_assert_eq(art_avro_value_encode(av, &buf, &len, err, sizeof(err)), 0, "%s", err);
	rec = art_record_new("canonical.patient", "HOSP|123456", 11, buf, len);
	buf = NULL; /* owned by rec */
	cr_assert_not_null(rec);
	rec->partition = partition;
	art_record_add_header_str(rec, ART_HDR_EVENT_ID, "6f1c1b1e-8c1a-4a53-9d0e-2b7f3c9a0001");
	art_record_add_header_str(rec, ART_HDR_IDEMPOTENCY_KEY, "adt-in:GOODHEALTH:MSG00001");
	art_record_add_header_str(rec, ART_HDR_SCHEMA, "canonical.patient:1");
	art_record_add_header_str(rec, ART_HDR_SOURCE, "adt-in");
	art_record_add_header_str(rec, ART_HDR_HL7_CONTROL_ID, "MSG00001");
	art_record_add_header_str(rec, ART_HDR_HL7_MESSAGE_TYPE, "ADT^A01");
	json_decref(in);
	art_avro_value_destroy(av);
	return rec;
}

/* The raw.hl7v2 record, built with the path setters. */
static struct art_record *raw_record(struct fixture *fx)
{
	const struct art_schema *s = art_schema_latest(fx->reg, "raw.hl7v2");
	struct art_avro_value *av = art_avro_value_new(s);
	struct art_record *rec;
	char err[512];
	void *buf;
	size_t len;

	art_avro_set_string(av, NULL, "idempotency_key", "adt-in:sha256:00ff");
	art_avro_set_long(av, NULL, "received_at", 1704220201123456LL);
	art_avro_set_string(av, NULL, "source.channel", "adt-in");
	art_avro_set_string(av, NULL, "source.remote_address", "127.0.0.1:40000");
	art_avro_set_string(av, NULL, "content_type", "application/hl7-v2");
	art_avro_set_bytes(av, NULL, "payload", raw_payload, sizeof(raw_payload) - 1);
	art_avro_set_string(av, NULL, "raw_hash", "00ff");
	art_avro_set_string(av, NULL, "control_id", "MSG00001");
	cr_assert_eq(art_avro_value_encode(av, &buf, &len, err, sizeof(err)), 0, "%s", err);
	rec = art_record_new("raw.hl7v2", "adt-in|MSG00001", 15, buf, len);
	cr_assert_not_null(rec);
	rec->partition = 0;
	art_record_add_header_str(rec, ART_HDR_SCHEMA, "raw.hl7v2:1");
	art_record_add_header(rec, ART_HDR_TRACE_ID, "\x01\x00\xff", 3);
	art_avro_value_destroy(av);
	return rec;
}

/* Runs argv to completion (bounded) and returns its stdout lines parsed as
 * a JSON array; stores the exit code in *code. */
static json_t *run_lines(const char *const argv[], const char *const env[], const char *name,
                         int *code)
{
	struct art_proc *p = art_proc_start(argv, env, name);
	json_t *lines = json_array();
	char *out, *line, *nl;
	int st = 0;

	cr_assert_not_null(p);
	if (art_proc_wait(p, 60000, &st) != 0) {
		art_proc_dump(p);
		art_proc_destroy(p);
		cr_assert_fail("%s did not finish", name);
	}
	out = art_proc_output(p, ART_PROC_STDOUT);
	cr_assert_not_null(out);
	*code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	for (line = out; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl)
			break;
		*nl = '\0';
		json_array_append_new(lines, parse(line));
	}
	free(out);
	art_proc_destroy(p);
	return lines;
}

Test(python_reader, decodes_artery_records_with_only_the_avsc_and_the_id, .timeout = 120)
{
	struct fixture fx;
	json_t *lines, *l, *want, *v;
	int code;

	if (!python_modules_present())
		cr_skip_test("python3-avro or python3-confluent-kafka is not installed");
	start(&fx);
	produce(&fx, patient_record(&fx, RD_KAFKA_PARTITION_UA));
	produce(&fx, raw_record(&fx));

	{
		const char *argv[] = {"/usr/bin/python3", READER,    "--bootstrap",
		                      fx.kb->bootstrap,   "--topic", "canonical.patient",
		                      "--schemas",        SCHEMAS,   NULL};

		lines = run_lines(argv, NULL, "pyreader", &code);
	}
	cr_assert_eq(code, 0);
	cr_assert_eq(json_array_size(lines), 1);
	l = json_array_get(lines, 0);
	cr_assert_eq(json_integer_value(json_object_get(l, "schema_id")), 2);
	cr_assert_str_eq(json_string_value(json_object_get(l, "key")), "HOSP|123456");
	want = parse(patient_json);
	assert_json_eq(json_object_get(l, "value"), want, "python's canonical.patient value");
	json_decref(want);
	want = parse("{\"artery.event_id\":\"6f1c1b1e-8c1a-4a53-9d0e-2b7f3c9a0001\","
	             "\"artery.idempotency_key\":\"adt-in:GOODHEALTH:MSG00001\","
	             "\"artery.schema\":\"canonical.patient:1\",\"artery.source\":\"adt-in\","
	             "\"hl7.control_id\":\"MSG00001\",\"hl7.message_type\":\"ADT^A01\"}");
	assert_json_eq(json_object_get(l, "headers"), want, "headers");
	json_decref(want);
	json_decref(lines);

	/* The raw record, this time given only the .avsc file and the id. */
	{
		const char *argv[] = {"/usr/bin/python3",
		                      READER,
		                      "--bootstrap",
		                      fx.kb->bootstrap,
		                      "--topic",
		                      "raw.hl7v2",
		                      "--avsc",
		                      SCHEMAS "/raw.hl7v2/v1.avsc",
		                      "--id",
		                      "1",
		                      NULL};

		lines = run_lines(argv, NULL, "pyreader-raw", &code);
	}
	cr_assert_eq(code, 0);
	cr_assert_eq(json_array_size(lines), 1);
	l = json_array_get(lines, 0);
	v = json_object_get(l, "value");
	cr_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(v, "payload"), "base64")),
	    RAW_PAYLOAD_B64);
	cr_assert_eq(json_integer_value(json_object_get(v, "received_at")), 1704220201123456LL);
	cr_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(v, "source"), "remote_address")),
	    "127.0.0.1:40000");
	cr_assert_str_eq(json_string_value(json_object_get(v, "control_id")), "MSG00001");
	cr_assert(json_is_null(json_object_get(v, "message_type")));
	cr_assert_str_eq(
	    json_string_value(json_object_get(
	        json_object_get(json_object_get(l, "headers"), "artery.trace_id"), "base64")),
	    "AQD/");
	json_decref(lines);
	stop(&fx);
}

Test(tail, decodes_records_and_reports_garbage_without_stopping, .timeout = 120)
{
	struct fixture fx;
	json_t *lines, *l, *want;
	const char *env[] = {NULL, "ARTERY_SCHEMAS_DIR=" SCHEMAS, NULL};
	char envb[600];
	int code;

	start(&fx);
	snprintf(envb, sizeof(envb), "ARTERY_KAFKA_BOOTSTRAP=%s", fx.kb->bootstrap);
	env[0] = envb;
	/* All on partition 0 so the order is known: good, garbage, unknown id,
	 * good. */
	produce(&fx, patient_record(&fx, 0));
	{
		struct art_record *rec =
		    art_record_new("canonical.patient", NULL, 0, strdup("hello"), 5);

		rec->partition = 0;
		produce(&fx, rec);
	}
	{
		void *v = malloc(6);
		struct art_record *rec;

		memcpy(v, "\x00\x00\x00\x03\xe7\x00", 6); /* id 999, unknown */
		rec = art_record_new("canonical.patient", NULL, 0, v, 6);
		rec->partition = 0;
		produce(&fx, rec);
	}
	produce(&fx, patient_record(&fx, 0));

	{
		const char *argv[] = {art_test_binary("artery"), "tail", "canonical.patient", NULL};

		lines = run_lines(argv, env, "tail", &code);
	}
	cr_assert_eq(code, 1, "undecodable records make the exit status 1");
	cr_assert_eq(json_array_size(lines), 4);
	want = parse(patient_json);
	l = json_array_get(lines, 0);
	cr_assert_str_eq(json_string_value(json_object_get(l, "topic")), "canonical.patient");
	cr_assert_eq(json_integer_value(json_object_get(l, "partition")), 0);
	cr_assert_eq(json_integer_value(json_object_get(l, "offset")), 0);
	cr_assert(json_is_integer(json_object_get(l, "timestamp")));
	cr_assert_str_eq(json_string_value(json_object_get(l, "key")), "HOSP|123456");
	cr_assert_str_eq(json_string_value(json_object_get(l, "schema")), "canonical.patient:1");
	cr_assert_eq(json_integer_value(json_object_get(l, "schema_id")), 2);
	cr_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(l, "headers"), "hl7.message_type")),
	    "ADT^A01");
	cr_assert_null(json_object_get(l, "error"));
	assert_json_eq(json_object_get(l, "value"), want, "tail's canonical.patient value");

	l = json_array_get(lines, 1);
	cr_assert_str_eq(json_string_value(json_object_get(l, "value")), "hello");
	cr_assert(strstr(json_string_value(json_object_get(l, "error")), "first byte is 0x68"));
	cr_assert(json_is_null(json_object_get(l, "key")));

	l = json_array_get(lines, 2);
	cr_assert(strstr(json_string_value(json_object_get(l, "error")), "unknown schema id 999"));
	cr_assert_eq(json_integer_value(json_object_get(l, "schema_id")), 999);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(l, "value"), "base64")),
	                 "AAAAA+cA");

	l = json_array_get(lines, 3);
	cr_assert_eq(json_integer_value(json_object_get(l, "offset")), 3);
	assert_json_eq(json_object_get(l, "value"), want, "second value");
	json_decref(lines);

	/* --offset -1: only the last record; --limit stops early. */
	{
		const char *argv[] = {
		    art_test_binary("artery"), "tail", "--offset", "-1", "--partition", "0",
		    "canonical.patient",       NULL};

		lines = run_lines(argv, env, "tail-last", &code);
	}
	cr_assert_eq(code, 0);
	cr_assert_eq(json_array_size(lines), 1);
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(lines, 0), "offset")), 3);
	json_decref(lines);
	{
		const char *argv[] = {art_test_binary("artery"), "tail", "--limit", "1",
		                      "canonical.patient",       NULL};

		lines = run_lines(argv, env, "tail-limit", &code);
	}
	cr_assert_eq(code, 0);
	cr_assert_eq(json_array_size(lines), 1);
	json_decref(lines);

	/* -f with an idle timeout: prints what is there, then ends normally. */
	{
		const char *argv[] = {art_test_binary("artery"),
		                      "tail",
		                      "-f",
		                      "--timeout-ms",
		                      "1500",
		                      "--offset",
		                      "2",
		                      "--partition",
		                      "0",
		                      "canonical.patient",
		                      NULL};

		lines = run_lines(argv, env, "tail-follow", &code);
	}
	cr_assert_eq(code, 1); /* offset 2 is the unknown-id record */
	cr_assert_eq(json_array_size(lines), 2);
	json_decref(lines);

	/* An empty topic ends at once with nothing printed. */
	{
		const char *argv[] = {art_test_binary("artery"), "tail", "canonical.order", NULL};

		lines = run_lines(argv, env, "tail-empty", &code);
	}
	cr_assert_eq(code, 0);
	cr_assert_eq(json_array_size(lines), 0);
	json_decref(lines);
	json_decref(want);
	stop(&fx);
}

Test(tail, usage_errors_exit_2)
{
	static const char *const cases[][4] = {
	    {"tail", NULL},
	    {"tail", "--limit", "0", "t"},
	    {"tail", "--offset", "soon", "t"},
	    {"tail", "--bogus", "t", NULL},
	};

	for (size_t i = 0; i < ART_ARRAY_SIZE(cases); i++) {
		const char *argv[6] = {art_test_binary("artery")};
		json_t *lines;
		int code, n = 1;

		for (int k = 0; k < 4 && cases[i][k]; k++)
			argv[n++] = cases[i][k];
		argv[n] = NULL;
		lines = run_lines(argv, NULL, "tail-usage", &code);
		cr_assert_eq(code, 2, "case %zu", i);
		json_decref(lines);
	}
}

/*
 * test_schema_evolution.c — schema evolution end to end, as a producer and
 * two consumers pinned to different versions see it: canonical.patient v1
 * and v2 records written with the codec go through Kafka (`artery broker`),
 * are consumed back and projected — a v1 reader gets v2 records without the
 * field it does not know, a v2 reader gets v1 records with the new field's
 * default. And `artery schema check` as an operator runs it: exit 0 and
 * "ok" over the real schemas/, exit 1 with the reasons over the
 * deliberately incompatible fixture, exit 2 on usage and load errors.
 * Each test is bounded (broker start 15 s, consume 15 s, CLI 30 s).
 */
#include "integration/helper_kafka.h"
#include "integration/helper_proc.h"

#include "art.h"
#include "avro_codec.h"
#include "avro_project.h"
#include "schema.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define SCHEMAS ART_SOURCE_DIR "/schemas"
#define FIXTURE ART_SOURCE_DIR "/tests/fixtures/schemas-incompatible"

static const char patient_json[] =
    "{\"event_id\":\"9a0c-0001\",\"idempotency_key\":\"adt-in:GH:MSG77\","
    "\"event_type\":\"patient.updated\",\"received_at\":1704220201123456,"
    "\"source\":{\"system\":\"EPIC\",\"facility\":\"GH\",\"channel\":\"adt-in\"},"
    "\"source_message_id\":\"MSG77\",\"patient\":{\"identifiers\":[{\"value\":\"777\","
    "\"assigning_authority\":\"HOSP\",\"type\":\"MR\"}],\"names\":[{\"family\":\"Roe\","
    "\"given\":[\"Rick\"]}],\"birth_date\":\"1971\",\"sex\":\"M\"},\"trigger\":\"ADT^A08\"}";

static json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, 0, &jerr);

	cr_assert_not_null(j, "%s", jerr.text);
	return j;
}

/* Encodes j with schema s in the wire format; caller frees. */
static void *encode(const struct art_schema *s, json_t *j, size_t *len)
{
	struct art_avro_value *av = art_avro_value_new(s);
	char err[512];
	void *buf;

	cr_assert_not_null(av);
	cr_assert_eq(art_avro_set_json(av, NULL, NULL, j), 0, "%s", av->err);
	cr_assert_eq(art_avro_value_encode(av, &buf, len, err, sizeof(err)), 0, "%s", err);
	art_avro_value_destroy(av);
	return buf;
}

Test(schema_evolution, v1_and_v2_records_through_kafka_read_by_pinned_readers, .timeout = 120)
{
	struct art_test_broker *kb = art_test_broker_start(NULL, 1);
	struct art_schema_registry *reg;
	const struct art_schema *v1, *v2, *writer;
	struct art_avro_projector *r1, *r2;
	struct art_test_records rs = {0};
	json_t *in_v1 = parse(patient_json), *in_v2 = parse(patient_json), *got, *pcp;
	char err[512];
	void *buf;
	size_t len;
	int seen_v1 = 0, seen_v2 = 0;

	cr_assert_not_null(kb, "artery broker did not start");
	reg = art_schema_registry_load(SCHEMAS, err, sizeof(err));
	cr_assert_not_null(reg, "%s", err);
	v1 = art_schema_by_subject(reg, "canonical.patient", 1);
	v2 = art_schema_by_subject(reg, "canonical.patient", 2);
	cr_assert_not_null(v2);
	cr_assert_eq(art_schema_latest(reg, "canonical.patient"), v2, "producers write v2 now");

	/* An old producer writes v1, a new one v2 (same key: same partition, in order). */
	buf = encode(v1, in_v1, &len);
	cr_assert_eq(art_test_produce(kb->bootstrap, "canonical.patient", "HOSP|777", 8, buf, len),
	             0);
	free(buf);
	json_object_set_new(
	    in_v2, "primary_care_providers",
	    parse("[{\"id\":\"1234567893\",\"assigning_authority\":\"NPI\","
	          "\"family\":\"Welby\",\"given\":[\"Marcus\"],\"degree\":\"MD\"}]"));
	buf = encode(v2, in_v2, &len);
	cr_assert_eq(art_test_produce(kb->bootstrap, "canonical.patient", "HOSP|777", 8, buf, len),
	             0);
	free(buf);

	cr_assert_eq(art_test_consume_all(kb->bootstrap, "canonical.patient", 15000, &rs), 0);
	cr_assert_eq(rs.cnt, 2, "both records on the topic");

	/* Two consumers, pinned to v1 and to v2. */
	r1 = art_avro_project_new(reg, v1, err, sizeof(err));
	r2 = art_avro_project_new(reg, v2, err, sizeof(err));
	cr_assert_not_null(r1, "%s", err);
	cr_assert_not_null(r2, "%s", err);
	for (size_t i = 0; i < rs.cnt; i++) {
		const struct art_test_record *rec = &rs.recs[i];

		/* v1 reader: exactly v1's fields, whoever wrote the record */
		cr_assert_eq(art_avro_project_read_json(r1, rec->value, rec->value_len, &got,
		                                        &writer, err, sizeof(err)),
		             0, "v1 reader, offset %lld: %s", (long long)rec->offset, err);
		cr_assert_null(json_object_get(got, "primary_care_providers"),
		               "a v1 reader never sees a field it does not know");
		cr_assert_str_eq(json_string_value(json_object_get(got, "event_id")), "9a0c-0001");
		cr_assert_str_eq(
		    json_string_value(json_object_get(
		        json_array_get(
		            json_object_get(json_object_get(got, "patient"), "identifiers"), 0),
		        "value")),
		    "777");
		json_decref(got);

		/* v2 reader: the providers from v2 data, the default [] for v1 data */
		cr_assert_eq(art_avro_project_read_json(r2, rec->value, rec->value_len, &got,
		                                        &writer, err, sizeof(err)),
		             0, "v2 reader, offset %lld: %s", (long long)rec->offset, err);
		pcp = json_object_get(got, "primary_care_providers");
		cr_assert(json_is_array(pcp));
		if (writer == v1) {
			seen_v1++;
			cr_assert_eq(json_array_size(pcp), 0,
			             "v1 data read as v2 takes the default");
		} else {
			cr_assert_eq(writer, v2);
			seen_v2++;
			cr_assert_eq(json_array_size(pcp), 1);
			cr_assert_str_eq(
			    json_string_value(json_object_get(json_array_get(pcp, 0), "family")),
			    "Welby");
		}
		cr_assert_str_eq(json_string_value(json_object_get(got, "trigger")), "ADT^A08");
		json_decref(got);
	}
	cr_assert_eq(seen_v1, 1);
	cr_assert_eq(seen_v2, 1);

	art_avro_project_destroy(r1);
	art_avro_project_destroy(r2);
	art_test_records_free(&rs);
	json_decref(in_v1);
	json_decref(in_v2);
	art_schema_registry_destroy(reg);
	cr_assert_eq(art_test_broker_stop(kb), 0);
}

/* Runs `artery schema ...`; returns its stdout then its stderr (caller
 * frees) and its exit code. */
static char *run_cli(const char *const argv[], int *code)
{
	struct art_proc *p = art_proc_start(argv, NULL, "schema");
	int status = 0;
	char *out = NULL, *o, *e;

	cr_assert_not_null(p);
	cr_assert_eq(art_proc_wait(p, 30000, &status), 0, "artery schema did not exit");
	cr_assert(WIFEXITED(status));
	*code = WEXITSTATUS(status);
	o = art_proc_output(p, ART_PROC_STDOUT);
	e = art_proc_output(p, ART_PROC_STDERR);
	cr_assert_not_null(o);
	cr_assert_not_null(e);
	cr_assert_geq(asprintf(&out, "%s%s", o, e), 0);
	free(o);
	free(e);
	art_proc_destroy(p);
	return out;
}

Test(schema_evolution, artery_schema_check_passes_on_the_real_schemas, .timeout = 60)
{
	const char *argv[] = {
	    art_test_binary("artery"), "schema", "check", "--schemas", SCHEMAS, NULL};
	const char *argv_default[] = {art_test_binary("artery"), "schema", "check", NULL};
	int code;
	char *out = run_cli(argv, &code);

	cr_assert_eq(code, 0, "%s", out);
	cr_assert(strstr(out, "canonical.patient: ok (v1, v2)\n"), "%s", out);
	cr_assert(strstr(out, "raw.hl7v2: ok (v1)\n"), "%s", out);
	cr_assert(strstr(out, "all FULL compatible"), "%s", out);
	free(out);
	/* without --schemas: the default directory is the same registry */
	out = run_cli(argv_default, &code);
	cr_assert_eq(code, 0, "%s", out);
	cr_assert(strstr(out, "canonical.patient: ok (v1, v2)\n"), "%s", out);
	free(out);
}

Test(schema_evolution, artery_schema_check_fails_on_the_incompatible_fixture, .timeout = 60)
{
	const char *argv[] = {
	    art_test_binary("artery"), "schema", "check", "--schemas", FIXTURE, NULL};
	const char *argv_one[] = {
	    art_test_binary("artery"), "schema", "check", "--schemas", FIXTURE, "--subject",
	    "canonical.patient",       NULL};
	int code;
	char *out = run_cli(argv, &code);

	cr_assert_eq(code, 1, "%s", out);
	cr_assert(strstr(out, "demo.vitals: 4 problems\n"), "%s", out);
	cr_assert(strstr(out, "  v2 reader, v1 data: unit: the reader's field is not in the "
	                      "writer's record Vitals and has no default\n"),
	          "%s", out);
	cr_assert(strstr(out, "  v1 reader, v2 data: value: the writer's string cannot be read "
	                      "as double\n"),
	          "%s", out);
	cr_assert(strstr(out, "  v2 reader, v1 data: kind: enum Kind: the writer's symbol(s) BP"),
	          "%s", out);
	cr_assert(strstr(out, "canonical.lab: 1 problem\n  v1: envelope: field 0 is 'id', "
	                      "expected 'event_id'"),
	          "%s", out);
	free(out);
	/* one compatible subject of the same registry: exit 0 */
	out = run_cli(argv_one, &code);
	cr_assert_eq(code, 0, "%s", out);
	cr_assert(strstr(out, "canonical.patient: ok (v1)\n"), "%s", out);
	cr_assert_null(strstr(out, "demo.vitals"), "%s", out);
	free(out);
}

Test(schema_evolution, artery_schema_usage_and_load_errors_exit_2, .timeout = 60)
{
	const char *unknown_subject[] = {
	    art_test_binary("artery"), "schema", "check", "--subject", "no.such", NULL};
	const char *bad_dir[] = {art_test_binary("artery"), "schema", "check", "--schemas",
	                         "/nonexistent/schemas",    NULL};
	const char *bad_verb[] = {art_test_binary("artery"), "schema", "frobnicate", NULL};
	const char *extra[] = {art_test_binary("artery"), "schema", "check", "extra", NULL};
	const char *list[] = {
	    art_test_binary("artery"), "schema", "list", "--schemas", SCHEMAS, NULL};
	int code;
	char *out;

	out = run_cli(unknown_subject, &code);
	cr_assert_eq(code, 2, "%s", out);
	cr_assert(strstr(out, "no subject 'no.such'"), "%s", out);
	free(out);
	out = run_cli(bad_dir, &code);
	cr_assert_eq(code, 2, "%s", out);
	cr_assert(strstr(out, "/nonexistent/schemas/registry.json"), "%s", out);
	free(out);
	out = run_cli(bad_verb, &code);
	cr_assert_eq(code, 2, "%s", out);
	cr_assert(strstr(out, "unknown command 'frobnicate'"), "%s", out);
	free(out);
	out = run_cli(extra, &code);
	cr_assert_eq(code, 2, "%s", out);
	free(out);
	out = run_cli(list, &code);
	cr_assert_eq(code, 0, "%s", out);
	cr_assert(strstr(out, "4\tcanonical.patient\t2\tcanonical.patient/v2.avsc\n"), "%s", out);
	free(out);
}

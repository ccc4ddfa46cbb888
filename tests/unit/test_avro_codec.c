/*
 * test_avro_codec.c — Confluent wire format encode/decode with the real
 * schemas: JSON and path-setter building, round trips, raw bytes that are
 * not text, value reuse, sticky setter errors, and garbage that must be
 * refused (never crash, never allocate what a corrupt length says).
 */
#include <criterion/criterion.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "art.h"
#include "avro_codec.h"
#include "record.h"
#include "schema.h"

static struct art_schema_registry *reg;

static void setup(void)
{
	char err[512];

	reg = art_schema_registry_load(ART_SOURCE_DIR "/schemas", err, sizeof(err));
	cr_assert_not_null(reg, "%s", err);
}

static void teardown(void)
{
	art_schema_registry_destroy(reg);
	reg = NULL;
}

TestSuite(avro_codec, .init = setup, .fini = teardown);

/* Every field of canonical.patient v1 given, so decode must give it back
 * exactly. */
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
    "\"type\":\"MR\"},{\"value\":\"999-99-9999\",\"assigning_authority\":null,\"type\":\"SS\"}],"
    "\"names\":[{\"family\":\"Doe\",\"given\":[\"Jane\",\"Q\"],\"prefix\":null,"
    "\"suffix\":\"Jr\",\"use\":\"L\"}],\"birth_date\":\"1980-04-02\",\"sex\":\"F\"},"
    "\"raw_ref\":{\"topic\":\"raw.hl7v2\",\"raw_hash\":"
    "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"},"
    "\"trigger\":\"ADT^A01\","
    "\"addresses\":[{\"lines\":[\"1 Main St\",\"Apt 2\"],\"city\":\"Springfield\","
    "\"state\":\"IL\",\"postal_code\":\"62701\",\"country\":\"USA\",\"use\":\"H\"}],"
    "\"telecoms\":[{\"value\":\"(555)555-1234\",\"system\":\"PH\",\"use\":\"PRN\"}],"
    "\"marital_status\":{\"code\":\"M\",\"display\":\"Married\",\"system\":\"HL70002\"},"
    "\"language\":null,\"races\":[{\"code\":\"2106-3\",\"display\":\"White\","
    "\"system\":\"CDCREC\"}],\"ethnic_groups\":[],\"account_number\":\"ACC42\","
    "\"deceased\":false,\"deceased_at\":null,"
    "\"merge\":{\"prior_identifiers\":[{\"value\":\"654321\",\"assigning_authority\":\"HOSP\","
    "\"type\":\"MR\"}],\"prior_account\":null},\"cleared_fields\":[]}";

static json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, 0, &jerr);

	cr_assert_not_null(j, "%d: %s", jerr.line, jerr.text);
	return j;
}

static void assert_json_eq(json_t *got, json_t *want)
{
	if (!json_equal(got, want)) {
		char *g = json_dumps(got, JSON_SORT_KEYS), *w = json_dumps(want, JSON_SORT_KEYS);

		cr_assert_fail("JSON differs:\n got: %s\nwant: %s", g, w);
		free(g);
		free(w);
	}
}

/* Encodes av and decodes it back to JSON; checks the header. */
static json_t *round_trip(struct art_avro_value *av)
{
	char err[512];
	void *buf = NULL;
	size_t len = 0;
	json_t *out = NULL;
	int id = 0;
	const unsigned char *p;

	cr_assert_eq(art_avro_value_encode(av, &buf, &len, err, sizeof(err)), 0, "%s", err);
	p = buf;
	cr_assert_gt(len, 5);
	cr_assert_eq(p[0], 0x00);
	cr_assert_eq(((int)p[1] << 24 | p[2] << 16 | p[3] << 8 | p[4]), av->schema->id);
	cr_assert_eq(art_avro_decode_json(reg, buf, len, &out, &id, err, sizeof(err)), 0, "%s",
	             err);
	cr_assert_eq(id, av->schema->id);
	free(buf);
	return out;
}

Test(avro_codec, patient_round_trips_through_json)
{
	const struct art_schema *s = art_schema_by_subject(reg, "canonical.patient", 1);
	struct art_avro_value *av = art_avro_value_new(s);
	json_t *in = parse(patient_json), *out;

	cr_assert_not_null(av);
	cr_assert_eq(art_avro_set_json(av, NULL, NULL, in), 0, "%s", av->err);
	out = round_trip(av);
	assert_json_eq(out, in);
	json_decref(out);
	json_decref(in);
	art_avro_value_destroy(av);
}

Test(avro_codec, missing_optional_fields_become_null_and_arrays_empty)
{
	const struct art_schema *s = art_schema_latest(reg, "canonical.result");
	struct art_avro_value *av = art_avro_value_new(s);
	json_t *in = parse("{\"event_id\":\"e1\",\"idempotency_key\":\"k1\","
	                   "\"event_type\":\"result.final\",\"received_at\":5,"
	                   "\"source\":{\"channel\":\"lab-in\"},"
	                   "\"reports\":[{\"observations\":[{\"value_number\":7.25}]}]}");
	json_t *out, *obs;

	cr_assert_eq(art_avro_set_json(av, NULL, "", in), 0, "%s", av->err);
	out = round_trip(av);
	cr_assert(json_is_null(json_object_get(out, "occurred_at")));
	cr_assert(json_is_null(json_object_get(out, "patient")));
	cr_assert(json_is_null(json_object_get(json_object_get(out, "source"), "system")));
	obs = json_array_get(
	    json_object_get(json_array_get(json_object_get(out, "reports"), 0), "observations"), 0);
	cr_assert_not_null(obs);
	cr_assert(json_is_real(json_object_get(obs, "value_number")));
	cr_assert_float_eq(json_real_value(json_object_get(obs, "value_number")), 7.25, 1e-9);
	cr_assert_eq(json_array_size(json_object_get(obs, "abnormal_flags")), 0);
	cr_assert(json_is_null(json_object_get(obs, "value_text")));
	json_decref(out);
	json_decref(in);
	art_avro_value_destroy(av);
}

/* JSON that must be refused, and the words the error must contain. */
static const struct {
	const char *json;
	const char *want;
} bad_json[] = {
    {"{\"event_id\":1}", "event_id: expected a string"},
    {"{\"event_id\":\"e\",\"idempotency_key\":\"k\",\"event_type\":\"t\",\"received_at\":1,"
     "\"source\":{\"channel\":\"c\"},\"colour\":\"red\"}",
     "colour: unknown field"},
    {"{\"event_id\":\"e\",\"idempotency_key\":\"k\",\"event_type\":\"t\",\"received_at\":1}",
     "source: required field missing"},
    {"{\"event_id\":\"e\",\"idempotency_key\":\"k\",\"event_type\":\"t\",\"received_at\":1,"
     "\"source\":{\"channel\":\"c\"},\"deceased\":\"yes\"}",
     "deceased: no branch of the union takes a JSON string"},
    {"{\"event_id\":\"e\",\"idempotency_key\":\"k\",\"event_type\":\"t\",\"received_at\":1.5,"
     "\"source\":{\"channel\":\"c\"}}",
     "received_at: expected an integer"},
    {"{\"event_id\":\"e\",\"idempotency_key\":\"k\",\"event_type\":\"t\",\"received_at\":1,"
     "\"source\":{\"channel\":\"c\"},\"addresses\":[{\"lines\":[7]}]}",
     "addresses[0].lines[0]: expected a string"},
    {"[]", "expected an object"},
};

Test(avro_codec, bad_json_is_refused_with_the_field_named)
{
	const struct art_schema *s = art_schema_latest(reg, "canonical.patient");

	for (size_t i = 0; i < ART_ARRAY_SIZE(bad_json); i++) {
		struct art_avro_value *av = art_avro_value_new(s);
		json_t *in = parse(bad_json[i].json);
		char err[512];
		void *buf = NULL;
		size_t len;

		cr_assert_eq(art_avro_set_json(av, NULL, NULL, in), -1, "case %zu accepted", i);
		cr_assert(strstr(av->err, bad_json[i].want), "case %zu: '%s' lacks '%s'", i,
		          av->err, bad_json[i].want);
		/* The error sticks: the value will not encode. */
		cr_assert_eq(art_avro_value_encode(av, &buf, &len, err, sizeof(err)), -1);
		cr_assert(strstr(err, bad_json[i].want), "%s", err);
		json_decref(in);
		art_avro_value_destroy(av);
	}
}

/* Builds a RawMessage with path setters; payload is raw bytes. */
static void build_raw(struct art_avro_value *av, const void *payload, size_t len)
{
	cr_assert_eq(art_avro_set_string(av, NULL, "idempotency_key", "k-raw-1"), 0);
	cr_assert_eq(art_avro_set_long(av, NULL, "received_at", 1704220201123456LL), 0);
	cr_assert_eq(art_avro_set_string(av, NULL, "source.channel", "adt-in"), 0);
	cr_assert_eq(
	    art_avro_set_stringn(av, NULL, "source.remote_address", "127.0.0.1:5000xyz", 14), 0);
	cr_assert_eq(art_avro_set_string(av, NULL, "content_type", "application/hl7-v2"), 0);
	cr_assert_eq(art_avro_set_bytes(av, NULL, "payload", payload, len), 0);
	cr_assert_eq(art_avro_set_string(av, NULL, "raw_hash", "00ff"), 0);
}

Test(avro_codec, raw_bytes_with_nul_and_invalid_utf8_survive)
{
	const struct art_schema *s = art_schema_latest(reg, "raw.hl7v2");
	struct art_avro_value *av = art_avro_value_new(s);
	static const unsigned char payload[] = "MSH|^~\\&|A\x00\xff\xfe|B\r";
	json_t *out, *p;
	char err[512];
	void *buf;
	size_t len;
	avro_value_t val, field, branch;
	const struct art_schema *ws = NULL;
	const void *bytes;
	size_t blen;

	build_raw(av, payload, sizeof(payload) - 1);
	cr_assert_eq(art_avro_set_string(av, NULL, "message_type", "ADT^A01"), 0);
	out = round_trip(av);
	p = json_object_get(out, "payload");
	cr_assert(json_is_object(p), "invalid UTF-8 must render as {\"base64\":...}");
	cr_assert_str_eq(json_string_value(json_object_get(p, "base64")),
	                 "TVNIfF5+XCZ8QQD//nxCDQ==");
	cr_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(out, "source"), "remote_address")),
	    "127.0.0.1:5000");
	cr_assert_str_eq(json_string_value(json_object_get(out, "message_type")), "ADT^A01");
	cr_assert(json_is_null(json_object_get(out, "control_id")));
	json_decref(out);

	/* And exactly the same bytes through Avro C's reader. */
	cr_assert_eq(art_avro_value_encode(av, &buf, &len, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(art_avro_decode_value(reg, buf, len, &val, &ws, err, sizeof(err)), 0, "%s",
	             err);
	cr_assert_eq(ws, s);
	cr_assert_eq(avro_value_get_by_name(&val, "payload", &field, NULL), 0);
	cr_assert_eq(avro_value_get_bytes(&field, &bytes, &blen), 0);
	cr_assert_eq(blen, sizeof(payload) - 1);
	cr_assert_eq(memcmp(bytes, payload, blen), 0);
	cr_assert_eq(avro_value_get_by_name(&val, "control_id", &field, NULL), 0);
	cr_assert_eq(avro_value_get_current_branch(&field, &branch), 0);
	cr_assert_eq(avro_value_get_type(&branch), AVRO_NULL);
	avro_value_decref(&val);
	free(buf);
	art_avro_value_destroy(av);
}

Test(avro_codec, utf8_bytes_render_as_a_string_and_base64_json_is_accepted)
{
	const struct art_schema *s = art_schema_latest(reg, "raw.hl7v2");
	struct art_avro_value *av = art_avro_value_new(s);
	json_t *out, *in;

	build_raw(av, "MSH|^~\\&|Zoë\r", 14);
	out = round_trip(av);
	cr_assert_str_eq(json_string_value(json_object_get(out, "payload")), "MSH|^~\\&|Zoë\r");
	/* Feed the base64 form back through JSON. */
	json_object_set_new(out, "payload", json_pack("{s:s}", "base64", "AAEC/w=="));
	art_avro_value_reset(av);
	cr_assert_eq(art_avro_set_json(av, NULL, NULL, out), 0, "%s", av->err);
	in = round_trip(av);
	cr_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(in, "payload"), "base64")),
	    "AAEC/w==");
	json_decref(in);
	json_decref(out);
	art_avro_value_destroy(av);
}

Test(avro_codec, large_values_grow_the_scratch_buffer)
{
	const struct art_schema *s = art_schema_latest(reg, "raw.hl7v2");
	struct art_avro_value *av = art_avro_value_new(s);
	size_t n = 300000;
	unsigned char *payload = malloc(n);
	avro_value_t val, field;
	const struct art_schema *ws;
	const void *bytes;
	size_t blen, len;
	char err[512];
	void *buf;

	for (size_t i = 0; i < n; i++)
		payload[i] = (unsigned char)(i * 7);
	for (int round = 0; round < 2; round++) { /* grow, then reuse */
		art_avro_value_reset(av);
		build_raw(av, payload, n - (size_t)round);
		cr_assert_eq(art_avro_value_encode(av, &buf, &len, err, sizeof(err)), 0, "%s", err);
		cr_assert_eq(art_avro_decode_value(reg, buf, len, &val, &ws, err, sizeof(err)), 0,
		             "%s", err);
		avro_value_get_by_name(&val, "payload", &field, NULL);
		cr_assert_eq(avro_value_get_bytes(&field, &bytes, &blen), 0);
		cr_assert_eq(blen, n - (size_t)round);
		cr_assert_eq(memcmp(bytes, payload, blen), 0);
		avro_value_decref(&val);
		free(buf);
	}
	/* A small one after the big ones still encodes exactly. */
	art_avro_value_reset(av);
	build_raw(av, "x", 1);
	cr_assert_eq(art_avro_value_encode(av, &buf, &len, err, sizeof(err)), 0, "%s", err);
	cr_assert_lt(len, 200);
	cr_assert_eq(art_avro_decode_value(reg, buf, len, &val, &ws, err, sizeof(err)), 0, "%s",
	             err);
	avro_value_decref(&val);
	free(buf);
	free(payload);
	art_avro_value_destroy(av);
}

Test(avro_codec, path_setters_build_a_result)
{
	const struct art_schema *s = art_schema_latest(reg, "canonical.result");
	struct art_avro_value *av = art_avro_value_new(s);
	avro_value_t id, name, report, obs, flag;
	json_t *out, *o;

	art_avro_set_string(av, NULL, "event_id", "e-1");
	art_avro_set_string(av, NULL, "idempotency_key", "k-1");
	art_avro_set_string(av, NULL, "event_type", "result.final");
	art_avro_set_long(av, NULL, "occurred_at.micros", 1700000000000000LL);
	art_avro_set_int(av, NULL, "occurred_at.utc_offset_minutes", 60);
	art_avro_set_string(av, NULL, "occurred_at.precision", "minute");
	art_avro_set_long(av, NULL, "received_at", 1700000000500000LL);
	art_avro_set_string(av, NULL, "source.channel", "lab-in");
	art_avro_set_string(av, NULL, "source.system", "LIS");
	cr_assert_eq(art_avro_append(av, NULL, "patient.identifiers", &id), 0, "%s", av->err);
	art_avro_set_string(av, &id, "value", "MRN1");
	art_avro_set_string(av, &id, "assigning_authority", "HOSP");
	art_avro_append(av, NULL, "patient.names", &name);
	art_avro_set_string(av, &name, "family", "Roe");
	art_avro_append(av, &name, "given", &flag);
	art_avro_set_string(av, &flag, NULL, "Rick");
	art_avro_append(av, NULL, "reports", &report);
	art_avro_set_string(av, &report, "code.code", "24331-1");
	art_avro_set_string(av, &report, "code.system", "LN");
	art_avro_append(av, &report, "observations", &obs);
	art_avro_set_int(av, &obs, "set_id", 1);
	art_avro_set_string(av, &obs, "value_type", "NM");
	art_avro_set_double(av, &obs, "value_number", 182.5);
	art_avro_set_long(av, &obs, "observed_at.micros", 1700000000000000LL);
	art_avro_set_string(av, &obs, "observed_at.precision", "minute");
	art_avro_append(av, &obs, "abnormal_flags", &flag);
	art_avro_set_string(av, &flag, "", "H");
	cr_assert_str_eq(av->err, "");
	out = round_trip(av);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(out, "occurred_at"),
	                                                "utc_offset_minutes")),
	             60);
	cr_assert_str_eq(
	    json_string_value(json_object_get(
	        json_array_get(json_object_get(json_object_get(out, "patient"), "identifiers"), 0),
	        "assigning_authority")),
	    "HOSP");
	o = json_array_get(
	    json_object_get(json_array_get(json_object_get(out, "reports"), 0), "observations"), 0);
	cr_assert_float_eq(json_real_value(json_object_get(o, "value_number")), 182.5, 1e-9);
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(o, "abnormal_flags"), 0)),
	                 "H");
	cr_assert(json_is_null(json_object_get(o, "units")));
	cr_assert(json_is_null(json_object_get(out, "raw_ref")));
	json_decref(out);

	/* Reset really empties it: optional records go back to null. */
	art_avro_value_reset(av);
	art_avro_set_string(av, NULL, "event_id", "e-2");
	art_avro_set_string(av, NULL, "idempotency_key", "k-2");
	art_avro_set_string(av, NULL, "event_type", "result.final");
	art_avro_set_string(av, NULL, "source.channel", "lab-in");
	out = round_trip(av);
	cr_assert(json_is_null(json_object_get(out, "patient")));
	cr_assert(json_is_null(json_object_get(out, "occurred_at")));
	cr_assert(json_is_null(json_object_get(json_object_get(out, "source"), "system")));
	cr_assert_eq(json_array_size(json_object_get(out, "reports")), 0);
	json_decref(out);
	art_avro_value_destroy(av);
}

Test(avro_codec, setter_errors_stick_until_reset)
{
	const struct art_schema *s = art_schema_latest(reg, "canonical.patient");
	struct art_avro_value *av = art_avro_value_new(s);
	char err[512];
	void *buf = NULL;
	size_t len;

	cr_assert_eq(art_avro_set_string(av, NULL, "no_such_field", "x"), -1);
	cr_assert_eq(art_avro_set_long(av, NULL, "event_id", 5), -1); /* string field */
	cr_assert(strstr(av->err, "no_such_field"), "%s", av->err);
	cr_assert_eq(art_avro_value_encode(av, &buf, &len, err, sizeof(err)), -1);
	cr_assert(strstr(err, "canonical.patient: no_such_field"), "%s", err);
	cr_assert_null(buf);
	cr_assert_eq(art_avro_set_string(av, NULL, "event_id.x", "y"), -1);
	cr_assert_eq(art_avro_set_string(av, NULL, "source..channel", "y"), -1);
	art_avro_value_reset(av);
	cr_assert_str_eq(av->err, "");
	art_avro_value_destroy(av);
	art_avro_value_destroy(NULL);
}

/* Byte strings that must be refused, and what the error must say. */
static const struct {
	const char *bytes;
	size_t len;
	const char *want;
} garbage[] = {
    {"", 0, "shorter than the 5-byte header"},
    {"\x00\x00\x00", 3, "shorter than the 5-byte header"},
    {"{\"a\":1}", 7, "first byte is 0x7b"},
    {"\x00\x00\x00\x03\xe7", 5, "unknown schema id 999"},
    {"\x00\x00\x00\x00\x01\x02", 6, "malformed"},                      /* truncated raw record */
    {"\x00\x00\x00\x00\x01\xfe\xff\xff\xff\x0f", 10, "length beyond"}, /* huge length */
    {"\x00\x00\x00\x00\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 16, "varint"},
};

Test(avro_codec, garbage_is_refused)
{
	for (size_t i = 0; i < ART_ARRAY_SIZE(garbage); i++) {
		char err[512] = "";
		json_t *out = (json_t *)1;
		int id = 0;

		cr_assert_eq(art_avro_decode_json(reg, garbage[i].bytes, garbage[i].len, &out, &id,
		                                  err, sizeof(err)),
		             -1, "case %zu decoded", i);
		cr_assert_null(out);
		cr_assert(strstr(err, garbage[i].want), "case %zu: '%s' lacks '%s'", i, err,
		          garbage[i].want);
	}
}

Test(avro_codec, every_truncation_and_trailing_bytes_are_refused)
{
	const struct art_schema *s = art_schema_latest(reg, "canonical.patient");
	struct art_avro_value *av = art_avro_value_new(s);
	json_t *in = parse(patient_json), *out;
	char err[512];
	unsigned char *buf, *big;
	void *vbuf;
	size_t len;
	avro_value_t val;

	cr_assert_eq(art_avro_set_json(av, NULL, NULL, in), 0, "%s", av->err);
	cr_assert_eq(art_avro_value_encode(av, &vbuf, &len, err, sizeof(err)), 0, "%s", err);
	buf = vbuf;
	for (size_t n = 0; n < len; n++) {
		cr_assert_eq(art_avro_decode_json(reg, buf, n, &out, NULL, err, sizeof(err)), -1,
		             "prefix of %zu bytes decoded", n);
		cr_assert_eq(art_avro_decode_value(reg, buf, n, &val, NULL, err, sizeof(err)), -1);
	}
	big = malloc(len + 1);
	memcpy(big, buf, len);
	big[len] = 0;
	cr_assert_eq(art_avro_decode_json(reg, big, len + 1, &out, NULL, err, sizeof(err)), -1);
	cr_assert(strstr(err, "1 trailing bytes"), "%s", err);
	/* Flipping any single byte never crashes (it may still decode). */
	for (size_t n = 5; n < len; n++) {
		memcpy(big, buf, len);
		big[n] ^= 0xff;
		out = NULL;
		if (art_avro_decode_json(reg, big, len, &out, NULL, err, sizeof(err)) == 0)
			json_decref(out);
		if (art_avro_decode_value(reg, big, len, &val, NULL, err, sizeof(err)) == 0)
			avro_value_decref(&val);
	}
	free(big);
	free(buf);
	json_decref(in);
	art_avro_value_destroy(av);
}

Test(avro_codec, wire_id_reads_big_endian)
{
	int32_t id = 0;
	char err[128];

	cr_assert_eq(art_avro_wire_id("\x00\x01\x02\x03\x04", 5, &id, err, sizeof(err)), 0);
	cr_assert_eq(id, 0x01020304);
}

Test(avro_codec, bytes_json_rendering)
{
	json_t *j = art_avro_bytes_json("plain", 5);

	cr_assert_str_eq(json_string_value(j), "plain");
	json_decref(j);
	j = art_avro_bytes_json("a\0b", 3); /* NUL is valid UTF-8 */
	cr_assert_eq(json_string_length(j), 3);
	json_decref(j);
	j = art_avro_bytes_json("\xc3\x28", 2);
	cr_assert_str_eq(json_string_value(json_object_get(j, "base64")), "wyg=");
	json_decref(j);
	j = art_avro_bytes_json("", 0);
	cr_assert_str_eq(json_string_value(j), "");
	json_decref(j);
}

Test(record, headers_and_ownership)
{
	void *value = malloc(3);
	struct art_record *rec;
	struct art_record_list list;
	rd_kafka_headers_t *hdrs;
	const void *v;
	size_t n = 0;

	memcpy(value, "abc", 3);
	rec = art_record_new("canonical.patient", "HOSP|123", 8, value, 3);
	value = NULL; /* owned by rec */
	cr_assert_not_null(rec);
	cr_assert_eq(rec->partition, RD_KAFKA_PARTITION_UA);
	cr_assert_eq(art_record_add_header_str(rec, ART_HDR_SCHEMA, "canonical.patient:1"), 0);
	cr_assert_eq(art_record_add_header(rec, ART_HDR_TRACE_ID, "\x00\x01", 2), 0);
	cr_assert_eq(art_record_add_header_str(rec, ART_HDR_SCHEMA, "canonical.patient:2"), 0);
	v = art_record_header(rec, ART_HDR_SCHEMA, &n);
	cr_assert_str_eq(v, "canonical.patient:2");
	cr_assert_eq(n, 19);
	cr_assert_null(art_record_header(rec, ART_HDR_REPLAYED_FROM, NULL));
	hdrs = art_record_kafka_headers(rec);
	cr_assert_eq(rd_kafka_header_cnt(hdrs), 3);
	rd_kafka_headers_destroy(hdrs);
	for (int i = 3; i < ART_RECORD_MAX_HEADERS; i++)
		cr_assert_eq(art_record_add_header_str(rec, "x", "y"), 0);
	cr_assert_eq(art_record_add_header_str(rec, "x", "y"), -1);

	art_record_list_init(&list, 2);
	cr_assert_eq(art_record_list_add(&list, rec), 0);
	cr_assert_eq(art_record_list_add(&list, art_record_new("t", NULL, 0, NULL, 0)), 0);
	rec = art_record_new("t", NULL, 0, NULL, 0);
	cr_assert_eq(art_record_list_add(&list, rec), -1); /* full: still ours */
	art_record_destroy(rec);
	cr_assert_eq(list.cnt, 2);
	art_record_list_free(&list);
	art_record_destroy(NULL);
}

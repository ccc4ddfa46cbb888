/*
 * test_fhir.c — canonical events → FHIR R4 resources (fhir.h), as a FHIR
 * server or an NDJSON loader would see them: the HL7 examples of
 * examples/hl7 are mapped with art_canon_map() and decoded from the wire
 * format exactly as a consumer gets them, then transformed. Checked: the
 * resources each domain yields, identifier systems (OID, URI, base +
 * name), conditional requests in the transaction Bundle, deterministic
 * ids across resends, references rewritten for NDJSON, times at source
 * precision, and that transform errors carry no patient data.
 */
#include <criterion/criterion.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "art.h"
#include "avro_codec.h"
#include "canonical.h"
#include "fhir.h"
#include "hl7.h"
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
}

TestSuite(fhir, .init = setup, .fini = teardown);

/* Maps an HL7 text (segments separated by \r) and decodes event idx. */
static json_t *event_of_text(const char *text, size_t idx)
{
	struct art_canon_ctx ctx = {.reg = reg, .channel = "test", .received_at_us = 1700000000000000LL};
	struct art_canon_result res;
	struct art_hl7_msg *msg;
	json_t *ev = NULL;
	char err[512];

	msg = art_hl7_parse(text, strlen(text), NULL, err, sizeof(err));
	cr_assert_not_null(msg, "%s", err);
	cr_assert_eq(art_canon_map(msg, &ctx, &res, err, sizeof(err)), ART_CANON_MAPPED, "%s", err);
	cr_assert_lt(idx, res.cnt);
	cr_assert_eq(art_avro_decode_json(reg, res.events[idx].value, res.events[idx].value_len, &ev,
	                                  NULL, err, sizeof(err)),
	             0, "%s", err);
	art_canon_result_free(&res);
	art_hl7_msg_destroy(msg);
	return ev;
}

static json_t *event_of_file(const char *name, size_t idx)
{
	char path[512], err[256];
	size_t len;
	char *text;
	json_t *ev;

	snprintf(path, sizeof(path), ART_SOURCE_DIR "/examples/hl7/%s", name);
	text = art_read_file(path, 1 << 20, &len, err, sizeof(err));
	cr_assert_not_null(text, "%s", err);
	ev = event_of_text(text, idx);
	free(text);
	return ev;
}

static size_t count_type(const struct art_fhir_set *s, const char *type)
{
	size_t n = 0;

	for (size_t i = 0; i < s->cnt; i++)
		n += !strcmp(s->entries[i].type, type);
	return n;
}

static const struct art_fhir_entry *first_of(const struct art_fhir_set *s, const char *type)
{
	for (size_t i = 0; i < s->cnt; i++)
		if (!strcmp(s->entries[i].type, type))
			return &s->entries[i];
	return NULL;
}

Test(fhir, result_yields_report_and_observations)
{
	json_t *ev = event_of_file("oru_r01.hl7", 0);
	struct art_fhir_set set = {0};
	char err[256];
	const struct art_fhir_entry *pe, *dr, *obs;
	json_t *q;

	cr_assert_eq(art_fhir_transform(NULL, ev, &set, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(count_type(&set, "Patient"), 1);
	cr_assert_eq(count_type(&set, "DiagnosticReport"), 1);
	cr_assert_eq(count_type(&set, "Observation"), 5);
	pe = first_of(&set, "Patient");
	cr_assert(pe->stub, "a result only refers to its patient");
	cr_assert_str_eq(pe->url, "Patient");
	cr_assert_str_eq(pe->if_none_exist, "identifier=urn:artery:id:NWGH|MRN100234");
	dr = first_of(&set, "DiagnosticReport");
	cr_assert_str_eq(json_string_value(json_object_get(dr->resource, "status")), "final");
	cr_assert_eq(json_array_size(json_object_get(dr->resource, "result")), 5);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(dr->resource, "subject"),
	                                                   "reference")),
	                 pe->full_url);
	cr_assert_str_eq(json_string_value(json_object_get(dr->resource, "issued")),
	                 "2026-03-14T12:15:00Z");
	obs = first_of(&set, "Observation");
	cr_assert_str_eq(json_string_value(json_object_get(obs->resource, "status")), "final");
	q = json_object_get(obs->resource, "valueQuantity");
	cr_assert_float_eq(json_real_value(json_object_get(q, "value")), 182.0, 1e-9);
	cr_assert_str_eq(json_string_value(json_object_get(q, "code")), "mg/dL");
	cr_assert_str_eq(json_string_value(json_object_get(q, "system")), "http://unitsofmeasure.org");
	cr_assert_str_eq(json_string_value(json_object_get(
	                     json_array_get(json_object_get(json_object_get(obs->resource, "code"), "coding"), 0),
	                     "system")),
	                 "http://loinc.org");
	cr_assert_str_eq(json_string_value(json_object_get(obs->resource, "effectiveDateTime")),
	                 "2026-03-14T11:05:00Z");
	cr_assert(!strncmp(obs->url, "Observation?identifier=", 23), "%s", obs->url);
	art_fhir_set_clear(&set);
	free(set.entries);
	json_decref(ev);
}

Test(fhir, patient_event_is_a_conditional_update_with_demographics)
{
	json_t *ev = event_of_file("adt_a04.hl7", 0);
	struct art_fhir_set set = {0};
	char err[256];
	const struct art_fhir_entry *pe;

	cr_assert_eq(art_fhir_transform(NULL, ev, &set, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(set.cnt, 1);
	pe = &set.entries[0];
	cr_assert_str_eq(pe->type, "Patient");
	cr_assert_not(pe->stub);
	cr_assert_null(pe->if_none_exist);
	cr_assert(!strncmp(pe->url, "Patient?identifier=", 19), "%s", pe->url);
	cr_assert_not_null(json_object_get(pe->resource, "name"));
	cr_assert_not_null(json_object_get(pe->resource, "gender"));
	cr_assert_not_null(json_object_get(pe->resource, "birthDate"));
	cr_assert(json_is_true(json_object_get(pe->resource, "active")));
	art_fhir_set_clear(&set);
	free(set.entries);
	json_decref(ev);
}

Test(fhir, admit_yields_encounter_keyed_by_visit_number)
{
	json_t *ev = event_of_file("adt_a01.hl7", 1);
	struct art_fhir_set set = {0};
	char err[256];
	const struct art_fhir_entry *enc;

	cr_assert_eq(art_fhir_transform(NULL, ev, &set, err, sizeof(err)), 0, "%s", err);
	enc = first_of(&set, "Encounter");
	cr_assert_not_null(enc);
	cr_assert_str_eq(json_string_value(json_object_get(enc->resource, "status")), "in-progress");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(enc->resource, "class"),
	                                                   "code")),
	                 "IMP");
	cr_assert_not_null(json_object_get(enc->resource, "subject"));
	art_fhir_set_clear(&set);
	free(set.entries);
	json_decref(ev);
}

Test(fhir, resend_yields_identical_resources)
{
	json_t *a = event_of_file("oru_r01.hl7", 0), *b = event_of_file("oru_r01.hl7", 0);
	struct art_fhir_set sa = {0}, sb = {0};
	char err[256];

	cr_assert_eq(art_fhir_transform(NULL, a, &sa, err, sizeof(err)), 0);
	cr_assert_eq(art_fhir_transform(NULL, b, &sb, err, sizeof(err)), 0);
	cr_assert_eq(sa.cnt, sb.cnt);
	for (size_t i = 0; i < sa.cnt; i++) {
		cr_assert_str_eq(sa.entries[i].id, sb.entries[i].id);
		cr_assert_str_eq(sa.entries[i].url, sb.entries[i].url);
		cr_assert(json_equal(sa.entries[i].resource, sb.entries[i].resource));
	}
	art_fhir_set_clear(&sa);
	art_fhir_set_clear(&sb);
	free(sa.entries);
	free(sb.entries);
	json_decref(a);
	json_decref(b);
}

Test(fhir, bundle_is_a_conditional_transaction_keyed_by_the_event)
{
	json_t *ev = event_of_file("oru_r01.hl7", 0);
	struct art_fhir_set set = {0};
	char err[256];
	json_t *b, *e, *entries;
	size_t i, cnt;

	cr_assert_eq(art_fhir_transform(NULL, ev, &set, err, sizeof(err)), 0);
	cnt = set.cnt;
	b = art_fhir_bundle(&set, json_string_value(json_object_get(ev, "event_id")),
	                    json_string_value(json_object_get(ev, "idempotency_key")));
	cr_assert_str_eq(json_string_value(json_object_get(b, "type")), "transaction");
	cr_assert(!strncmp(json_string_value(json_object_get(json_object_get(b, "identifier"), "value")),
	                   "urn:uuid:", 9));
	cr_assert_str_eq(json_string_value(json_object_get(
	                     json_array_get(json_object_get(json_object_get(b, "meta"), "tag"), 0), "code")),
	                 json_string_value(json_object_get(ev, "idempotency_key")));
	entries = json_object_get(b, "entry");
	cr_assert_eq(json_array_size(entries), cnt);
	json_array_foreach(entries, i, e) {
		json_t *req = json_object_get(e, "request");
		const char *method = json_string_value(json_object_get(req, "method"));

		cr_assert_null(json_object_get(json_object_get(e, "resource"), "id"),
		               "the server decides ids under conditional semantics");
		if (!strcmp(method, "POST"))
			cr_assert_not_null(json_object_get(req, "ifNoneExist"));
		else
			cr_assert_not_null(strstr(json_string_value(json_object_get(req, "url")), "?identifier="));
	}
	json_decref(b);
	art_fhir_set_clear(&set);
	free(set.entries);
	json_decref(ev);
}

Test(fhir, ndjson_lines_reference_by_type_and_id)
{
	json_t *ev = event_of_file("oru_r01.hl7", 0);
	struct art_fhir_set set = {0};
	char err[256], want[96];
	const struct art_fhir_entry *pe;
	size_t len;
	char *line = NULL;
	json_t *res;

	cr_assert_eq(art_fhir_transform(NULL, ev, &set, err, sizeof(err)), 0);
	pe = first_of(&set, "Patient");
	snprintf(want, sizeof(want), "Patient/%s", pe->id);
	for (size_t i = 0; i < set.cnt; i++)
		if (!strcmp(set.entries[i].type, "DiagnosticReport"))
			line = art_fhir_ndjson_line(&set, i, &len);
	cr_assert_not_null(line);
	cr_assert_eq(line[len - 1], '\n');
	cr_assert_null(memchr(line, '\n', len - 1), "one line per resource");
	res = json_loads(line, 0, NULL);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(res, "subject"), "reference")),
	                 want);
	cr_assert(!strncmp(json_string_value(json_object_get(
	                       json_array_get(json_object_get(res, "result"), 0), "reference")),
	                   "Observation/", 12));
	json_decref(res);
	free(line);
	art_fhir_set_clear(&set);
	free(set.entries);
	json_decref(ev);
}

Test(fhir, identifier_systems)
{
	static const struct {
		const char *authority, *want;
	} cases[] = {
	    {"2.16.840.1.113883.19.5", "urn:oid:2.16.840.1.113883.19.5"},
	    {"http://hospital.example/mrn", "http://hospital.example/mrn"},
	    {"urn:ietf:rfc:3986", "urn:ietf:rfc:3986"},
	    {"NWGH", "https://ids.example/NWGH"},
	    {"St Mary's", "https://ids.example/St%20Mary%27s"},
	    {"1.2..3", "https://ids.example/1.2..3"},
	    {NULL, "https://ids.example/unknown"},
	};
	char buf[256];

	for (size_t i = 0; i < ART_ARRAY_SIZE(cases); i++)
		cr_assert_str_eq(art_fhir_system("https://ids.example/", cases[i].authority, buf, sizeof(buf)),
		                 cases[i].want);
}

Test(fhir, times_keep_source_precision_and_offset)
{
	static const struct {
		const char *ts;
		int instant;
		const char *want;
	} cases[] = {
	    {"{\"micros\": 1704216600000000, \"utc_offset_minutes\": -300, \"precision\": \"second\"}",
	     0, "2024-01-02T12:30:00-05:00"},
	    {"{\"micros\": 1704216600000000, \"utc_offset_minutes\": null, \"precision\": \"minute\"}",
	     0, "2024-01-02T17:30:00Z"},
	    {"{\"micros\": 1704153600000000, \"utc_offset_minutes\": null, \"precision\": \"day\"}", 0,
	     "2024-01-02"},
	    {"{\"micros\": 1704153600000000, \"utc_offset_minutes\": null, \"precision\": \"month\"}",
	     0, "2024-01"},
	    {"{\"micros\": 1704153600000000, \"utc_offset_minutes\": null, \"precision\": \"day\"}", 1,
	     "2024-01-02T00:00:00Z"},
	    {"{\"micros\": 1704216600123000, \"utc_offset_minutes\": 330, \"precision\": \"millisecond\"}",
	     0, "2024-01-02T23:00:00.123+05:30"},
	};
	char buf[64];

	for (size_t i = 0; i < ART_ARRAY_SIZE(cases); i++) {
		json_t *ts = json_loads(cases[i].ts, 0, NULL);

		cr_assert_not_null(ts);
		cr_assert_eq(art_fhir_datetime(ts, cases[i].instant, buf, sizeof(buf)), 0);
		cr_assert_str_eq(buf, cases[i].want, "case %zu", i);
		json_decref(ts);
	}
}

Test(fhir, errors_carry_no_patient_data)
{
	/* an order event whose patient has no usable identifier */
	json_t *ev = json_pack("{s:s,s:s,s:s,s:{s:s},s:{s:[{s:s}],s:[{s:s}]}}", "event_id",
	                       "0b4f3c2e-0000-8000-8000-000000000001", "idempotency_key", "k",
	                       "event_type", "order.placed", "source", "channel", "c", "patient",
	                       "identifiers", "value", "", "names", "family", "SECRETNAME");
	struct art_fhir_set set = {0};
	char err[256];

	cr_assert_eq(art_fhir_transform(NULL, ev, &set, err, sizeof(err)), -1);
	cr_assert_null(strstr(err, "SECRETNAME"));
	cr_assert_not_null(strstr(err, "no patient identifier"), "%s", err);
	cr_assert_eq(set.cnt, 0);
	json_decref(ev);
	free(set.entries);
}

Test(fhir, unknown_domain_is_an_error)
{
	json_t *ev = json_pack("{s:s,s:s}", "event_id", "x", "event_type", "billing.posted");
	struct art_fhir_set set = {0};
	char err[256];

	cr_assert_eq(art_fhir_transform(NULL, ev, &set, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "no FHIR mapping"));
	json_decref(ev);
	free(set.entries);
}

/*
 * test_fhir.c — canonical events → FHIR R4 resources (fhir.h), as a FHIR
 * server or an NDJSON loader would see them: the HL7 examples of
 * examples/hl7 are mapped with art_canon_map() and decoded from the wire
 * format exactly as a consumer gets them (the reader projection into a
 * tree), then transformed; the JSON text of each resource is parsed back
 * for the checks. Checked: the resources each domain yields, identifier
 * systems (OID, URI, base + name), conditional requests in the
 * transaction Bundle, deterministic ids across resends, the NDJSON layout
 * (ids, references as Type/id) against the Bundle layout, times at
 * source precision, hostile strings, and that transform errors carry no
 * patient data.
 */
#include <criterion/criterion.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "art.h"
#include "avro_codec.h"
#include "avro_project.h"
#include "avro_tree.h"
#include "canonical.h"
#include "fhir.h"
#include "hl7.h"
#include "schema.h"

static struct art_schema_registry *reg;
static struct art_tree trees[4]; /* events of one test */
static json_t *parsed[256];      /* resources parsed by R(), freed at teardown */
static struct art_avro_projector *pjs[64]; /* by writer id; the trees refer to them */
static size_t parsed_cnt;

static void setup(void)
{
	char err[512];

	reg = art_schema_registry_load(ART_SOURCE_DIR "/schemas", err, sizeof(err));
	cr_assert_not_null(reg, "%s", err);
	for (size_t i = 0; i < ART_ARRAY_SIZE(trees); i++)
		art_tree_init(&trees[i]);
}

static void teardown(void)
{
	for (size_t i = 0; i < parsed_cnt; i++)
		json_decref(parsed[i]);
	parsed_cnt = 0;
	for (size_t i = 0; i < ART_ARRAY_SIZE(trees); i++)
		art_tree_free(&trees[i]);
	for (size_t i = 0; i < ART_ARRAY_SIZE(pjs); i++) {
		art_avro_project_destroy(pjs[i]);
		pjs[i] = NULL;
	}
	art_schema_registry_destroy(reg);
}

TestSuite(fhir, .init = setup, .fini = teardown);

/* The resource of entry e, parsed (freed at teardown). */
static json_t *R(const struct art_fhir_entry *e)
{
	json_error_t jerr;
	json_t *j = json_loadb(e->json, e->json_len, 0, &jerr);

	cr_assert_not_null(j, "resource %s is not JSON: %s", e->type, jerr.text);
	cr_assert_lt(parsed_cnt, ART_ARRAY_SIZE(parsed));
	parsed[parsed_cnt++] = j;
	return j;
}

/* Maps an HL7 text (segments separated by \r) and decodes event idx into
 * tree slot t, as the consumer runtime does. */
static const struct art_tnode *event_of_text(const char *text, size_t idx, int t)
{
	struct art_canon_ctx ctx = {.reg = reg, .channel = "test", .received_at_us = 1700000000000000LL};
	struct art_canon_result res;
	struct art_avro_projector *pj;
	const struct art_schema *ws;
	struct art_hl7_msg *msg;
	char err[512];
	int32_t id;

	msg = art_hl7_parse(text, strlen(text), NULL, err, sizeof(err));
	cr_assert_not_null(msg, "%s", err);
	cr_assert_eq(art_canon_map(msg, &ctx, &res, err, sizeof(err)), ART_CANON_MAPPED, "%s", err);
	cr_assert_lt(idx, res.cnt);
	cr_assert_eq(art_avro_wire_id(res.events[idx].value, res.events[idx].value_len, &id, err,
	                              sizeof(err)),
	             0);
	ws = art_schema_by_id(reg, id);
	cr_assert_not_null(ws);
	cr_assert_lt(id, (int32_t)ART_ARRAY_SIZE(pjs));
	if (!pjs[id])
		pjs[id] = art_avro_project_new(reg, art_schema_latest(reg, ws->subject), err, sizeof(err));
	pj = pjs[id];
	cr_assert_not_null(pj, "%s", err);
	cr_assert_eq(art_avro_project_read_tree(pj, res.events[idx].value, res.events[idx].value_len,
	                                        &trees[t], NULL, err, sizeof(err)),
	             0, "%s", err);
	art_canon_result_free(&res);
	art_hl7_msg_destroy(msg);
	return trees[t].root;
}

static const struct art_tnode *event_of_file(const char *name, size_t idx, int t)
{
	char path[512], err[256];
	size_t len;
	char *text;
	const struct art_tnode *ev;

	snprintf(path, sizeof(path), ART_SOURCE_DIR "/examples/hl7/%s", name);
	text = art_read_file(path, 1 << 20, &len, err, sizeof(err));
	cr_assert_not_null(text, "%s", err);
	ev = event_of_text(text, idx, t);
	free(text);
	return ev;
}

/* An event given as JSON (tree slot t). */
static const struct art_tnode *event_of_json(json_t *j, int t)
{
	const struct art_tnode *ev = art_tree_from_json(&trees[t], j);

	cr_assert_not_null(ev);
	json_decref(j);
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
	const struct art_tnode *ev = event_of_file("oru_r01.hl7", 0, 0);
	struct art_fhir_set set = {0};
	char err[256];
	const struct art_fhir_entry *pe, *dr, *obs;
	json_t *q, *d, *o;

	cr_assert_eq(art_fhir_transform(NULL, ev, &set, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(count_type(&set, "Patient"), 1);
	cr_assert_eq(count_type(&set, "DiagnosticReport"), 1);
	cr_assert_eq(count_type(&set, "Observation"), 5);
	pe = first_of(&set, "Patient");
	cr_assert(pe->stub, "a result only refers to its patient");
	cr_assert_str_eq(pe->url, "Patient");
	cr_assert_str_eq(pe->if_none_exist, "identifier=urn:artery:id:NWGH|MRN100234");
	dr = first_of(&set, "DiagnosticReport");
	d = R(dr);
	cr_assert_str_eq(json_string_value(json_object_get(d, "resourceType")), "DiagnosticReport");
	cr_assert_str_eq(json_string_value(json_object_get(d, "status")), "final");
	cr_assert_eq(json_array_size(json_object_get(d, "result")), 5);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(d, "subject"), "reference")),
	                 pe->full_url);
	cr_assert_str_eq(json_string_value(json_object_get(d, "issued")), "2026-03-14T12:15:00Z");
	obs = first_of(&set, "Observation");
	o = R(obs);
	cr_assert_str_eq(json_string_value(json_object_get(o, "status")), "final");
	q = json_object_get(o, "valueQuantity");
	cr_assert(json_is_real(json_object_get(q, "value")), "a decimal, as FHIR wants it");
	cr_assert_float_eq(json_real_value(json_object_get(q, "value")), 182.0, 1e-9);
	cr_assert_str_eq(json_string_value(json_object_get(q, "code")), "mg/dL");
	cr_assert_str_eq(json_string_value(json_object_get(q, "system")), "http://unitsofmeasure.org");
	cr_assert_str_eq(json_string_value(json_object_get(
	                     json_array_get(json_object_get(json_object_get(o, "code"), "coding"), 0),
	                     "system")),
	                 "http://loinc.org");
	cr_assert_str_eq(json_string_value(json_object_get(o, "effectiveDateTime")),
	                 "2026-03-14T11:05:00Z");
	cr_assert(!strncmp(obs->url, "Observation?identifier=", 23), "%s", obs->url);
	art_fhir_set_free(&set);
}

Test(fhir, patient_event_is_a_conditional_update_with_demographics)
{
	const struct art_tnode *ev = event_of_file("adt_a04.hl7", 0, 0);
	struct art_fhir_set set = {0};
	char err[256];
	const struct art_fhir_entry *pe;
	json_t *r;

	cr_assert_eq(art_fhir_transform(NULL, ev, &set, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(set.cnt, 1);
	pe = &set.entries[0];
	cr_assert_str_eq(pe->type, "Patient");
	cr_assert_not(pe->stub);
	cr_assert_null(pe->if_none_exist);
	cr_assert(!strncmp(pe->url, "Patient?identifier=", 19), "%s", pe->url);
	r = R(pe);
	cr_assert_not_null(json_object_get(r, "name"));
	cr_assert_not_null(json_object_get(r, "gender"));
	cr_assert_not_null(json_object_get(r, "birthDate"));
	cr_assert(json_is_true(json_object_get(r, "active")));
	art_fhir_set_free(&set);
}

Test(fhir, admit_yields_encounter_keyed_by_visit_number)
{
	const struct art_tnode *ev = event_of_file("adt_a01.hl7", 1, 0);
	struct art_fhir_set set = {0};
	char err[256];
	const struct art_fhir_entry *enc;
	json_t *r;

	cr_assert_eq(art_fhir_transform(NULL, ev, &set, err, sizeof(err)), 0, "%s", err);
	enc = first_of(&set, "Encounter");
	cr_assert_not_null(enc);
	r = R(enc);
	cr_assert_str_eq(json_string_value(json_object_get(r, "status")), "in-progress");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "class"), "code")),
	                 "IMP");
	cr_assert_not_null(json_object_get(r, "subject"));
	art_fhir_set_free(&set);
}

Test(fhir, resend_yields_identical_resources)
{
	const struct art_tnode *a = event_of_file("oru_r01.hl7", 0, 0);
	const struct art_tnode *b = event_of_file("oru_r01.hl7", 0, 1);
	struct art_fhir_set sa = {0}, sb = {0};
	char err[256];

	cr_assert_eq(art_fhir_transform(NULL, a, &sa, err, sizeof(err)), 0);
	cr_assert_eq(art_fhir_transform(NULL, b, &sb, err, sizeof(err)), 0);
	cr_assert_eq(sa.cnt, sb.cnt);
	for (size_t i = 0; i < sa.cnt; i++) {
		cr_assert_str_eq(sa.entries[i].id, sb.entries[i].id);
		cr_assert_str_eq(sa.entries[i].url, sb.entries[i].url);
		cr_assert_eq(sa.entries[i].json_len, sb.entries[i].json_len);
		cr_assert(!memcmp(sa.entries[i].json, sb.entries[i].json, sa.entries[i].json_len),
		          "byte-identical text");
	}
	art_fhir_set_free(&sa);
	art_fhir_set_free(&sb);
}

Test(fhir, bundle_is_a_conditional_transaction_keyed_by_the_event)
{
	const struct art_tnode *ev = event_of_file("oru_r01.hl7", 0, 0);
	const char *event_id = art_tnode_str(art_tnode_get(ev, "event_id"));
	const char *idem = art_tnode_str(art_tnode_get(ev, "idempotency_key"));
	struct art_fhir_set set = {0};
	struct art_jw out;
	char err[256];
	json_t *b, *e, *entries;
	size_t i;

	art_jw_init(&out, 1 << 20);
	cr_assert_eq(art_fhir_transform(NULL, ev, &set, err, sizeof(err)), 0);
	cr_assert_eq(art_fhir_bundle(&set, event_id, idem, &out), 0);
	b = json_loadb(out.p, out.len, 0, NULL);
	cr_assert_not_null(b, "the Bundle is JSON");
	cr_assert_str_eq(json_string_value(json_object_get(b, "type")), "transaction");
	cr_assert(!strncmp(json_string_value(json_object_get(json_object_get(b, "identifier"), "value")),
	                   "urn:uuid:", 9));
	cr_assert_str_eq(json_string_value(json_object_get(
	                     json_array_get(json_object_get(json_object_get(b, "meta"), "tag"), 0), "code")),
	                 idem);
	entries = json_object_get(b, "entry");
	cr_assert_eq(json_array_size(entries), set.cnt);
	json_array_foreach(entries, i, e) {
		json_t *req = json_object_get(e, "request");
		const char *method = json_string_value(json_object_get(req, "method"));

		cr_assert_null(json_object_get(json_object_get(e, "resource"), "id"),
		               "the server decides ids under conditional semantics");
		cr_assert_str_eq(json_string_value(json_object_get(e, "fullUrl")),
		                 set.entries[i].full_url);
		if (!strcmp(method, "POST"))
			cr_assert_not_null(json_object_get(req, "ifNoneExist"));
		else
			cr_assert_not_null(strstr(json_string_value(json_object_get(req, "url")), "?identifier="));
	}
	json_decref(b);
	art_jw_free(&out);
	art_fhir_set_free(&set);
}

/* Rewrites every {"reference": "Type/id"} under v to "urn:uuid:id". */
static void refs_to_full_urls(json_t *v)
{
	const char *k;
	json_t *c;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach(v, k, c) {
			const char *slash = json_is_string(c) ? strchr(json_string_value(c), '/') : NULL;

			if (!strcmp(k, "reference") && slash) {
				char url[96];

				snprintf(url, sizeof(url), "urn:uuid:%s", slash + 1);
				json_string_set(c, url);
			} else {
				refs_to_full_urls(c);
			}
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, c) refs_to_full_urls(c);
	}
}

Test(fhir, ndjson_layout_is_the_bundle_layout_with_ids_and_type_references)
{
	static const char *const files[][2] = {{"oru_r01.hl7", "0"}, {"adt_a01.hl7", "0"},
	                                       {"adt_a01.hl7", "1"}, {"adt_a04.hl7", "0"}};
	struct art_fhir_conf nd = {.layout = ART_FHIR_NDJSON};
	char err[256];

	for (size_t f = 0; f < ART_ARRAY_SIZE(files); f++) {
		const struct art_tnode *ev = event_of_file(files[f][0], (size_t)(files[f][1][0] - '0'), 0);
		struct art_fhir_set sb = {0}, sn = {0};

		cr_assert_eq(art_fhir_transform(NULL, ev, &sb, err, sizeof(err)), 0, "%s", err);
		cr_assert_eq(art_fhir_transform(&nd, ev, &sn, err, sizeof(err)), 0, "%s", err);
		cr_assert_eq(sb.cnt, sn.cnt);
		for (size_t i = 0; i < sn.cnt; i++) {
			json_t *b, *n;

			cr_assert_str_eq(sb.entries[i].id, sn.entries[i].id);
			cr_assert_eq(sb.entries[i].stub, sn.entries[i].stub);
			if (sn.entries[i].stub) {
				cr_assert_eq(sn.entries[i].json_len, 0, "a stub is never an NDJSON line");
				continue;
			}
			b = R(&sb.entries[i]);
			n = R(&sn.entries[i]);
			cr_assert_null(memchr(sn.entries[i].json, '\n', sn.entries[i].json_len),
			               "one line per resource");
			cr_assert_str_eq(json_string_value(json_object_get(n, "id")), sn.entries[i].id);
			json_object_del(n, "id");
			refs_to_full_urls(n);
			cr_assert(json_equal(b, n), "%s %zu: the layouts differ beyond id and references",
			          files[f][0], i);
		}
		art_fhir_set_free(&sb);
		art_fhir_set_free(&sn);
	}
}

Test(fhir, ndjson_lines_reference_by_type_and_id)
{
	const struct art_tnode *ev = event_of_file("oru_r01.hl7", 0, 0);
	struct art_fhir_conf nd = {.layout = ART_FHIR_NDJSON};
	struct art_fhir_set set = {0};
	char err[256], want[96];
	const struct art_fhir_entry *pe, *dr;
	json_t *res;

	cr_assert_eq(art_fhir_transform(&nd, ev, &set, err, sizeof(err)), 0);
	pe = first_of(&set, "Patient");
	snprintf(want, sizeof(want), "Patient/%s", pe->id);
	dr = first_of(&set, "DiagnosticReport");
	cr_assert_not_null(dr);
	res = R(dr);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(res, "subject"), "reference")),
	                 want);
	cr_assert(!strncmp(json_string_value(json_object_get(
	                       json_array_get(json_object_get(res, "result"), 0), "reference")),
	                   "Observation/", 12));
	art_fhir_set_free(&set);
}

Test(fhir, hostile_strings_stay_valid_json)
{
	/* quotes, backslashes, control characters, non-ASCII: the text must
	 * parse back to exactly the strings the event held */
	static const char family[] = "O\"Brien\\ \x01\t\nSt\xc3\xa9phane \xe2\x80\xa8\x7f";
	const struct art_tnode *ev = event_of_json(
	    json_pack("{s:s,s:s,s:s,s:s,s:{s:s},s:{s:[{s:s,s:s,s:s}],s:[{s:s,s:[s]}]}}", "event_id",
	              "0b4f3c2e-0000-8000-8000-000000000002", "idempotency_key", "k\"1",
	              "event_type", "patient.updated", "trigger", "ADT^A08", "source", "channel",
	              "c", "patient", "identifiers", "value", "MRN\"1", "type", "MR",
	              "assigning_authority", "NW\\GH", "names", "family", family, "given",
	              "\xf0\x9f\x98\x80"),
	    0);
	struct art_fhir_set set = {0};
	char err[256];
	json_t *r, *name;

	cr_assert_eq(art_fhir_transform(NULL, ev, &set, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(set.cnt, 1);
	r = R(&set.entries[0]);
	name = json_array_get(json_object_get(r, "name"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(name, "family")), family);
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(name, "given"), 0)),
	                 "\xf0\x9f\x98\x80");
	cr_assert_str_eq(json_string_value(json_object_get(
	                     json_array_get(json_object_get(r, "identifier"), 0), "value")),
	                 "MRN\"1");
	art_fhir_set_free(&set);
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
		const struct art_tnode *ts = event_of_json(json_loads(cases[i].ts, 0, NULL), 0);

		cr_assert_eq(art_fhir_datetime(ts, cases[i].instant, buf, sizeof(buf)), 0);
		cr_assert_str_eq(buf, cases[i].want, "case %zu", i);
		art_tree_reset(&trees[0]);
	}
}

Test(fhir, errors_carry_no_patient_data)
{
	/* an order event whose patient has no usable identifier */
	const struct art_tnode *ev = event_of_json(
	    json_pack("{s:s,s:s,s:s,s:{s:s},s:{s:[{s:s}],s:[{s:s}]}}", "event_id",
	              "0b4f3c2e-0000-8000-8000-000000000001", "idempotency_key", "k", "event_type",
	              "order.placed", "source", "channel", "c", "patient", "identifiers", "value", "",
	              "names", "family", "SECRETNAME"),
	    0);
	struct art_fhir_set set = {0};
	char err[256];

	cr_assert_eq(art_fhir_transform(NULL, ev, &set, err, sizeof(err)), -1);
	cr_assert_null(strstr(err, "SECRETNAME"));
	cr_assert_not_null(strstr(err, "no patient identifier"), "%s", err);
	cr_assert_eq(set.cnt, 0);
	art_fhir_set_free(&set);
}

Test(fhir, unknown_domain_is_an_error)
{
	const struct art_tnode *ev =
	    event_of_json(json_pack("{s:s,s:s}", "event_id", "x", "event_type", "billing.posted"), 0);
	struct art_fhir_set set = {0};
	char err[256];

	cr_assert_eq(art_fhir_transform(NULL, ev, &set, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "no FHIR mapping"));
	art_fhir_set_free(&set);
}

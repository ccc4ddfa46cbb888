/*
 * test_fhir_in.c — FHIR R4 resources to canonical events (fhir_in.h), as
 * a consumer of the canonical topics sees them (decoded from the wire
 * format):
 *   - Patient: identifiers (system as assigning authority, a logical id
 *     when there is none), names, birth date, gender as HL7 sex, address,
 *     telecom, deceased; none of identifier and id is an error;
 *   - Observation alone: a result of one report (value, units, LOINC back
 *     to LN, status final -> F, event type result.final);
 *   - DiagnosticReport in a Bundle: one report with the Observations it
 *     lists (and those are not mapped a second time);
 *   - Encounter: class IMP -> I, period with its offset, visit number;
 *   - unsupported types add nothing; event ids are stable across resends;
 *   - every corpus FHIR file maps without error, and for the converter's
 *     bundles of corpus HL7 messages the patient agrees with what the HL7
 *     mapping makes of the same message (birth date, sex, family name, an
 *     identifier value in common).
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "art.h"
#include "avro_codec.h"
#include "fhir_in.h"
#include "unit/helper_canon.h"

#define CORPUS ART_SOURCE_DIR "/../shared/corpus"

/* Maps text; decodes each event into ev[] (caller json_decref()s). */
static int map(const char *text, json_t **ev, size_t max, struct art_canon_result *res,
	       char *err, size_t err_size)
{
	json_error_t je;
	json_t *body = json_loads(text, 0, &je);
	struct art_fhir_in_ctx ctx = {.reg = ct_reg, .channel = "web", .received_at_us = 42,
				      .idempotency_key = "k1", .raw_topic = "raw.fhir",
				      .raw_hash = CT_RAW_HASH};
	int n;

	cr_assert_not_null(body, "test JSON: %s", je.text);
	memset(res, 0, sizeof(*res));
	n = art_fhir_in_map(body, &ctx, res, err, err_size);
	json_decref(body);
	for (int i = 0; i < n && (size_t)i < max; i++) {
		char derr[256];

		cr_assert_eq(art_avro_decode_json(ct_reg, res->events[i].value,
						  res->events[i].value_len, &ev[i], NULL, derr,
						  sizeof(derr)),
			     0, "%s", derr);
		cr_assert_str_eq(res->events[i].topic, res->events[i].schema->subject);
	}
	return n;
}

static void unmap(json_t **ev, int n, struct art_canon_result *res)
{
	for (int i = 0; i < n; i++)
		json_decref(ev[i]);
	art_canon_result_free(res);
}

TestSuite(fhir_in, .init = ct_setup, .fini = ct_teardown);

Test(fhir_in, patient_demographics)
{
	static const char p[] =
		"{\"resourceType\":\"Patient\",\"id\":\"p7\","
		"\"identifier\":[{\"system\":\"urn:oid:1.2.3\",\"value\":\"MRN7\",\"type\":{\"coding\":"
		"[{\"code\":\"MR\"}]}},{\"value\":\"\"}],"
		"\"name\":[{\"family\":\"Quill\",\"given\":[\"Ada\",\"M\"],\"use\":\"official\"}],"
		"\"gender\":\"female\",\"birthDate\":\"1980-02-14\","
		"\"address\":[{\"line\":[\"12 Elm St\"],\"city\":\"Springfield\",\"postalCode\":"
		"\"62704\"}],\"telecom\":[{\"system\":\"phone\",\"value\":\"217-555-0101\"}],"
		"\"deceasedDateTime\":\"2026-11-20T10:15:00-05:00\"}";
	struct art_canon_result res;
	json_t *ev[4];
	char err[256];
	int n = map(p, ev, 4, &res, err, sizeof(err));

	cr_assert_eq(n, 1, "%s", err);
	ct_assert_str(ev[0], "event_type", "patient.updated");
	ct_assert_str(ev[0], "idempotency_key", "k1");
	ct_assert_str(ev[0], "source.channel", "web");
	ct_assert_str(ev[0], "source_message_id", "p7");
	ct_assert_str(ev[0], "raw_ref.topic", "raw.fhir");
	cr_expect_eq(ct_jlen(ev[0], "patient.identifiers"), 1, "the empty identifier is dropped");
	ct_assert_str(ev[0], "patient.identifiers.0.value", "MRN7");
	ct_assert_str(ev[0], "patient.identifiers.0.assigning_authority", "urn:oid:1.2.3");
	ct_assert_str(ev[0], "patient.identifiers.0.type", "MR");
	ct_assert_str(ev[0], "patient.names.0.family", "Quill");
	ct_assert_str(ev[0], "patient.names.0.given.1", "M");
	ct_assert_str(ev[0], "patient.birth_date", "1980-02-14");
	ct_assert_str(ev[0], "patient.sex", "F");
	ct_assert_str(ev[0], "addresses.0.postal_code", "62704");
	ct_assert_str(ev[0], "telecoms.0.value", "217-555-0101");
	cr_expect(json_is_true(ct_jat(ev[0], "deceased")));
	cr_expect_eq(ct_jint(ev[0], "deceased_at.utc_offset_minutes"), -300);
	cr_expect_eq(ct_jint(ev[0], "deceased_at.micros"), 1795187700000000LL,
		     "10:15-05:00 is 15:15 UTC");
	ct_assert_str(ev[0], "deceased_at.precision", "second");
	unmap(ev, n, &res);

	/* no identifier: the logical id stands in; neither: an error */
	n = map("{\"resourceType\":\"Patient\",\"id\":\"abc\"}", ev, 4, &res, err, sizeof(err));
	cr_assert_eq(n, 1, "%s", err);
	ct_assert_str(ev[0], "patient.identifiers.0.value", "abc");
	ct_assert_str(ev[0], "patient.identifiers.0.type", "FHIR");
	unmap(ev, n, &res);
	n = map("{\"resourceType\":\"Patient\",\"gender\":\"male\"}", ev, 4, &res, err, sizeof(err));
	cr_expect_eq(n, -1);
	cr_expect(strstr(err, "neither an identifier") != NULL, "%s", err);
	unmap(ev, 0, &res);
}

Test(fhir_in, lone_observation_is_a_result_of_one_report)
{
	static const char o[] =
		"{\"resourceType\":\"Observation\",\"id\":\"o1\",\"status\":\"final\","
		"\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"2823-3\","
		"\"display\":\"Potassium\"}]},\"subject\":{\"reference\":\"Patient/p7\"},"
		"\"effectiveDateTime\":\"2026-11-22T06:30:00Z\",\"valueQuantity\":{\"value\":6.8,"
		"\"unit\":\"mmol/L\",\"system\":\"http://unitsofmeasure.org\",\"code\":\"mmol/L\"},"
		"\"interpretation\":[{\"coding\":[{\"code\":\"HH\"}]}],"
		"\"referenceRange\":[{\"low\":{\"value\":3.5},\"high\":{\"value\":5.1}}]}";
	struct art_canon_result res;
	json_t *ev[4];
	char err[256];
	int n = map(o, ev, 4, &res, err, sizeof(err));

	cr_assert_eq(n, 1, "%s", err);
	ct_assert_str(ev[0], "event_type", "result.final");
	ct_assert_str(ev[0], "patient.identifiers.0.value", "p7");
	ct_assert_str(ev[0], "reports.0.status", "F");
	ct_assert_str(ev[0], "reports.0.observations.0.code.code", "2823-3");
	ct_assert_str(ev[0], "reports.0.observations.0.code.system", "LN");
	cr_expect_float_eq(ct_jreal(ev[0], "reports.0.observations.0.value_number"), 6.8, 1e-9);
	ct_assert_str(ev[0], "reports.0.observations.0.units.code", "mmol/L");
	ct_assert_str(ev[0], "reports.0.observations.0.units.system", "UCUM");
	ct_assert_str(ev[0], "reports.0.observations.0.reference_range", "3.5-5.1");
	cr_expect(ct_jhas(ev[0], "reports.0.observations.0.abnormal_flags", "HH"));
	cr_expect_eq(ct_jint(ev[0], "occurred_at.utc_offset_minutes"), 0);
	unmap(ev, n, &res);
}

Test(fhir_in, report_bundle_groups_its_observations)
{
	static const char b[] =
		"{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":["
		"{\"fullUrl\":\"urn:uuid:p\",\"resource\":{\"resourceType\":\"Patient\","
		"\"identifier\":[{\"value\":\"MRN9\"}],\"gender\":\"male\"}},"
		"{\"resource\":{\"resourceType\":\"DiagnosticReport\",\"status\":\"corrected\","
		"\"subject\":{\"reference\":\"urn:uuid:p\"},\"code\":{\"text\":\"BMP\"},"
		"\"result\":[{\"reference\":\"Observation/a\"},{\"reference\":\"Observation/b\"}]}},"
		"{\"resource\":{\"resourceType\":\"Observation\",\"id\":\"a\",\"status\":\"final\","
		"\"code\":{\"text\":\"Na\"},\"valueString\":\"140\"}},"
		"{\"resource\":{\"resourceType\":\"Observation\",\"id\":\"b\",\"status\":\"corrected\","
		"\"code\":{\"text\":\"K\"},\"valueCodeableConcept\":{\"coding\":[{\"code\":\"H\"}]}}},"
		"{\"resource\":{\"resourceType\":\"Organization\",\"name\":\"Lab\"}}]}";
	struct art_canon_result res, again;
	json_t *ev[8], *ev2[8];
	char err[256];
	int n = map(b, ev, 8, &res, err, sizeof(err));

	cr_assert_eq(n, 2, "patient + one result, not %d (%s)", n, err);
	ct_assert_str(ev[0], "event_type", "patient.updated");
	ct_assert_str(ev[1], "event_type", "result.corrected");
	ct_assert_str(ev[1], "patient.identifiers.0.value", "MRN9");
	ct_assert_str(ev[1], "patient.sex", "M");
	ct_assert_str(ev[1], "reports.0.code.display", "BMP");
	cr_expect_eq(ct_jlen(ev[1], "reports.0.observations"), 2);
	ct_assert_str(ev[1], "reports.0.observations.0.value_text", "140");
	ct_assert_str(ev[1], "reports.0.observations.1.value_coding.code", "H");
	ct_assert_str(ev[1], "reports.0.observations.1.status", "C");
	/* a resend gives the same event ids */
	cr_assert_eq(map(b, ev2, 8, &again, err, sizeof(err)), 2);
	for (int i = 0; i < 2; i++)
		cr_expect_str_eq(res.events[i].event_id, again.events[i].event_id);
	cr_expect_str_neq(res.events[0].event_id, res.events[1].event_id);
	unmap(ev2, 2, &again);
	unmap(ev, n, &res);

	n = map("{\"resourceType\":\"Practitioner\",\"id\":\"x\"}", ev, 8, &res, err, sizeof(err));
	cr_expect_eq(n, 0, "an unsupported type adds no event");
	unmap(ev, n, &res);
}

Test(fhir_in, encounter)
{
	static const char e[] =
		"{\"resourceType\":\"Encounter\",\"id\":\"e1\",\"status\":\"in-progress\","
		"\"class\":{\"system\":\"http://terminology.hl7.org/CodeSystem/v3-ActCode\","
		"\"code\":\"IMP\"},\"identifier\":[{\"system\":\"urn:visits\",\"value\":\"V100\"}],"
		"\"subject\":{\"identifier\":{\"system\":\"urn:mrn\",\"value\":\"MRN1\"}},"
		"\"period\":{\"start\":\"2026-11-22T08:00:00+01:00\"},"
		"\"location\":[{\"location\":{\"display\":\"Ward 2, bed A\"}}],"
		"\"participant\":[{\"individual\":{\"reference\":\"Practitioner/d1\","
		"\"display\":\"Dr Who\"}}]}";
	struct art_canon_result res;
	json_t *ev[4];
	char err[256];
	int n = map(e, ev, 4, &res, err, sizeof(err));

	cr_assert_eq(n, 1, "%s", err);
	ct_assert_str(ev[0], "event_type", "encounter.updated");
	ct_assert_str(ev[0], "class.code", "I");
	ct_assert_str(ev[0], "visit_number.value", "V100");
	ct_assert_str(ev[0], "patient.identifiers.0.value", "MRN1");
	ct_assert_str(ev[0], "patient.identifiers.0.assigning_authority", "urn:mrn");
	cr_expect_eq(ct_jint(ev[0], "admitted_at.utc_offset_minutes"), 60);
	ct_assert_str(ev[0], "location.description", "Ward 2, bed A");
	ct_assert_str(ev[0], "attending_providers.0.id", "d1");
	unmap(ev, n, &res);
}

/* Reads a file of the corpus into a jansson value (BOM skipped). */
static json_t *load(const char *path)
{
	char errstr[256];
	size_t len;
	char *text = art_read_file(path, 16 << 20, &len, errstr, sizeof(errstr));
	json_error_t je;
	json_t *j;
	size_t bom;

	cr_assert_not_null(text, "%s", errstr);
	bom = len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3) ? 3 : 0;
	j = json_loadb(text + bom, len - bom, 0, &je);
	free(text);
	return j;
}

Test(fhir_in, corpus_maps_and_agrees_with_the_hl7_mapping)
{
	static const char *const dirs[] = {
		CORPUS "/fhir/microsoft-fhir-converter/hl7v2-expected",
		CORPUS "/fhir/hl7-fhir-r4-spec-examples",
	};
	size_t files = 0, events = 0, pairs = 0, agree[4] = {0}, both[4] = {0};
	static const char *const what[] = {"birth_date", "sex", "family", "identifier"};

	for (size_t d = 0; d < ART_ARRAY_SIZE(dirs); d++) {
		DIR *dir = opendir(dirs[d]);
		struct dirent *de;

		if (!dir)
			continue;
		while ((de = readdir(dir))) {
			char path[PATH_MAX], hl7[PATH_MAX], err[256];
			struct art_canon_result res;
			struct art_fhir_in_ctx ctx = {.reg = ct_reg, .channel = "web",
						      .idempotency_key = "k"};
			json_t *body;
			const char *suffix = strstr(de->d_name, "-expected.json");
			int n;

			if (!strstr(de->d_name, ".json"))
				continue;
			snprintf(path, sizeof(path), "%s/%s", dirs[d], de->d_name);
			body = load(path);
			if (!body)
				continue;
			files++;
			memset(&res, 0, sizeof(res));
			n = art_fhir_in_map(body, &ctx, &res, err, sizeof(err));
			/* a spec example may be a Patient with neither identifier nor id;
			 * the converter's bundles always map */
			cr_expect(n >= 0 || d == 1, "%s: %s", de->d_name, err);
			events += n > 0 ? (size_t)n : 0;
			if (n > 0 && suffix) {
				/* the same message through the HL7 mapping */
				struct ct_mapped m;
				json_t *ours = NULL, *theirs = NULL;
				char errstr[256];
				size_t len;
				char *text;

				snprintf(hl7, sizeof(hl7), "%s/hl7v2/microsoft-fhir-converter/%.*s.hl7",
					 CORPUS, (int)(suffix - de->d_name), de->d_name);
				text = art_read_file(hl7, 1 << 20, &len, errstr, sizeof(errstr));
				if (text) {
					ct_map_text(&m, text);
					for (size_t i = 0; i < CT_MAX_EV && m.ev[i] && !ours; i++)
						if (ct_jat(m.ev[i], "patient"))
							ours = m.ev[i];
					for (size_t i = 0; i < res.cnt && !theirs; i++)
						if (!strcmp(res.events[i].topic, "canonical.patient"))
							art_avro_decode_json(ct_reg, res.events[i].value,
									     res.events[i].value_len,
									     &theirs, NULL, errstr,
									     sizeof(errstr));
					if (ours && theirs) {
						const char *a[4] = {
							ct_jstr(ours, "patient.birth_date"),
							ct_jstr(ours, "patient.sex"),
							ct_jstr(ours, "patient.names.0.family")};
						const char *b[4] = {
							ct_jstr(theirs, "patient.birth_date"),
							ct_jstr(theirs, "patient.sex"),
							ct_jstr(theirs, "patient.names.0.family")};
						int common = 0;

						pairs++;
						for (size_t i = 0;
						     i < ct_jlen(ours, "patient.identifiers"); i++)
							for (size_t k = 0;
							     k < ct_jlen(theirs, "patient.identifiers");
							     k++) {
								char pa[64], pb[64];

								snprintf(pa, sizeof(pa),
									 "patient.identifiers.%zu.value", i);
								snprintf(pb, sizeof(pb),
									 "patient.identifiers.%zu.value", k);
								common |= !strcmp(ct_jstr(ours, pa),
										  ct_jstr(theirs, pb));
							}
						for (int f = 0; f < 3; f++) {
							if (!a[f] || !b[f])
								continue;
							both[f]++;
							agree[f] += !strcasecmp(a[f], b[f]);
							cr_expect(!strcasecmp(a[f], b[f]),
								  "%s %s: HL7 says %s, FHIR %s",
								  de->d_name, what[f], a[f], b[f]);
						}
						both[3]++;
						agree[3] += (size_t)common;
						cr_expect(common, "%s: no identifier in common",
							  de->d_name);
					}
					json_decref(theirs);
					ct_unmap(&m);
				}
			}
			art_canon_result_free(&res);
			json_decref(body);
		}
		closedir(dir);
	}
	if (files == 0)
		cr_skip_test("corpus not found");
	printf("fhir_in corpus: %zu files, %zu events; %zu HL7/FHIR pairs\n", files, events,
	       pairs);
	for (int f = 0; f < 4; f++)
		printf("  %-10s agree %zu of %zu\n", what[f], agree[f], both[f]);
	cr_expect_gt(pairs, 5, "too few pairs compared (%zu)", pairs);
}

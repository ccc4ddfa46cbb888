/*
 * test_fhir_agreement.c — field-level agreement between Artery's canonical
 * events and an independent converter: Microsoft's FHIR-Converter, whose
 * expected FHIR R4 bundles for some of the corpus's HL7 files are in
 * ../shared/corpus/fhir/microsoft-fhir-converter/hl7v2-expected (read in
 * place, never copied). Each bundle <name>-expected.json is paired by name
 * with ../shared/corpus/hl7v2/microsoft-fhir-converter/<name>.hl7; the HL7
 * file is mapped with art_canon_map() and its events are decoded from the
 * wire format, as a consumer sees them. Compared, per field: patient
 * identifiers, family and given names, birth date, administrative sex,
 * encounter class and location (point of care, room, bed), observation
 * codes, values and units, and the immunization's vaccine, lot, dose,
 * date, site and route. Each disagreement is logged with both values.
 *
 * The agreement rate per field is printed and must be at least the rate
 * documented in docs/mapping.md ("Agreement with FHIR-Converter"), where
 * every disagreement is explained: a mapping change that loses agreement
 * fails here, and a field measured here without a documented rate fails
 * too. Skipped when the corpus is absent.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "art.h"
#include "avro_codec.h"
#include "canonical.h"
#include "hl7.h"
#include "schema.h"

#define CORPUS ART_SOURCE_DIR "/../shared/corpus"
#define EXPECTED_DIR CORPUS "/fhir/microsoft-fhir-converter/hl7v2-expected"
#define HL7_DIR CORPUS "/hl7v2/microsoft-fhir-converter"
#define MAPPING_DOC ART_SOURCE_DIR "/docs/mapping.md"
#define DOC_SECTION "## Agreement with FHIR-Converter"
#define SUFFIX "-expected.json"
#define MAX_EVENTS 64

/* The fields compared. */
enum field {
	F_IDENTIFIER,
	F_FAMILY,
	F_GIVEN,
	F_BIRTH_DATE,
	F_SEX,
	F_ENC_CLASS,
	F_ENC_POINT_OF_CARE,
	F_ENC_ROOM,
	F_ENC_BED,
	F_OBS_CODE,
	F_OBS_SYSTEM,
	F_OBS_VALUE,
	F_OBS_UNIT,
	F_IMM_VACCINE,
	F_IMM_VACCINE_SYSTEM,
	F_IMM_LOT,
	F_IMM_DOSE,
	F_IMM_DATE,
	F_IMM_SITE,
	F_IMM_ROUTE,
	F_MAX
};

static const char *const field_names[F_MAX] = {
	[F_IDENTIFIER] = "patient.identifier",
	[F_FAMILY] = "patient.name.family",
	[F_GIVEN] = "patient.name.given",
	[F_BIRTH_DATE] = "patient.birth_date",
	[F_SEX] = "patient.sex",
	[F_ENC_CLASS] = "encounter.class",
	[F_ENC_POINT_OF_CARE] = "encounter.location.point_of_care",
	[F_ENC_ROOM] = "encounter.location.room",
	[F_ENC_BED] = "encounter.location.bed",
	[F_OBS_CODE] = "observation.code",
	[F_OBS_SYSTEM] = "observation.code.system",
	[F_OBS_VALUE] = "observation.value",
	[F_OBS_UNIT] = "observation.unit",
	[F_IMM_VACCINE] = "immunization.vaccine",
	[F_IMM_VACCINE_SYSTEM] = "immunization.vaccine.system",
	[F_IMM_LOT] = "immunization.lot",
	[F_IMM_DOSE] = "immunization.dose",
	[F_IMM_DATE] = "immunization.date",
	[F_IMM_SITE] = "immunization.site",
	[F_IMM_ROUTE] = "immunization.route",
};

/* Bundles whose HL7 message is of a type Artery does not map: nothing to
 * compare (docs/mapping.md says why). Any other bundle must be compared. */
static const char *const not_compared[] = {"DFT-P03-01"};

struct tally {
	size_t agreed[F_MAX], compared[F_MAX];
	size_t bundles, skipped;
};

/* One HL7 file's canonical events, decoded. */
struct canon {
	json_t *ev[MAX_EVENTS];
	const char *topic[MAX_EVENTS];
	size_t n;
};

static const char *jstr(json_t *j, const char *key)
{
	return json_string_value(json_object_get(j, key));
}

/* The string at a dotted path of objects ("class.code"), or NULL. */
static const char *jpath(json_t *j, const char *path)
{
	char tok[64];

	while (j && *path) {
		size_t n = strcspn(path, ".");

		cr_assert_lt(n, sizeof(tok));
		memcpy(tok, path, n);
		tok[n] = '\0';
		path += n + (path[n] == '.');
		j = json_object_get(j, tok);
	}
	return json_string_value(j);
}

/* coding[0].code of a FHIR CodeableConcept. */
static const char *fhir_code(json_t *cc)
{
	return jstr(json_array_get(json_object_get(cc, "coding"), 0), "code");
}

/* Counts one comparison of field f; NULL means "no value". Two NULLs are
 * not a comparison. */
static void cmp(struct tally *t, enum field f, const char *file, const char *ours,
		const char *theirs)
{
	if (!ours && !theirs)
		return;
	t->compared[f]++;
	if (ours && theirs && strcmp(ours, theirs) == 0) {
		t->agreed[f]++;
		return;
	}
	cr_log_info("%s: %s: artery=%s fhir=%s", file, field_names[f], ours ? ours : "(none)",
		    theirs ? theirs : "(none)");
}

/* Compares two lists of values as multisets: each value on either side is
 * one comparison, agreed when the other side has it too. */
static void cmp_sets(struct tally *t, enum field f, const char *file, json_t *ours,
		     json_t *theirs)
{
	size_t i, j;
	json_t *v, *w;
	char *used = calloc(json_array_size(theirs) + 1, 1);

	cr_assert_not_null(used);
	json_array_foreach(ours, i, v) {
		int found = 0;

		json_array_foreach(theirs, j, w) {
			if (!used[j] && json_equal(v, w)) {
				used[j] = 1;
				found = 1;
				break;
			}
		}
		cmp(t, f, file, json_string_value(v), found ? json_string_value(v) : NULL);
	}
	json_array_foreach(theirs, j, w) {
		if (!used[j])
			cmp(t, f, file, NULL, json_string_value(w));
	}
	free(used);
}

/* The FHIR dateTime of an Artery Timestamp's original text: YYYY-MM-DD,
 * then Thh:mm:ss (seconds always, as FHIR requires) and +hh:mm when stated. */
static const char *iso_time(json_t *ts, char *out, size_t size)
{
	const char *s = jstr(ts, "original");
	size_t digits = 0, len;
	const char *off;

	if (!s)
		return NULL;
	len = strlen(s);
	while (digits < len && s[digits] >= '0' && s[digits] <= '9')
		digits++;
	off = strpbrk(s, "+-");
	if (digits < 8)
		snprintf(out, size, "%.4s%s%.2s", s, digits >= 6 ? "-" : "", digits >= 6 ? s + 4 : "");
	else if (digits < 10)
		snprintf(out, size, "%.4s-%.2s-%.2s", s, s + 4, s + 6);
	else
		snprintf(out, size, "%.4s-%.2s-%.2sT%.2s:%.2s:%.2s%.3s%s%.2s", s, s + 4, s + 6,
			 s + 8, digits >= 12 ? s + 10 : "00", digits >= 14 ? s + 12 : "00",
			 off ? off : "", off ? ":" : "", off ? off + 3 : "");
	return out;
}

/* A number as text, for comparing values written differently (0.5, .5). */
static const char *num_text(json_t *n, char *out, size_t size)
{
	if (!json_is_number(n))
		return NULL;
	snprintf(out, size, "%.10g", json_number_value(n));
	return out;
}

/* Maps the HL7 file and decodes its events. */
static void map_file(const struct art_schema_registry *reg, const char *path, struct canon *c)
{
	char err[512];
	size_t len;
	char *buf = art_read_file(path, 16u << 20, &len, err, sizeof(err));
	struct art_hl7_split split;

	cr_assert_not_null(buf, "%s", err);
	memset(c, 0, sizeof(*c));
	cr_assert_eq(art_hl7_split(buf, len, NULL, &split, NULL, err, sizeof(err)), 0, "%s: %s",
		     path, err);
	for (size_t m = 0; m < split.nmsgs; m++) {
		struct art_canon_ctx ctx = {.reg = reg, .channel = "fhir-agreement"};
		struct art_canon_result res;
		struct art_hl7_msg *msg = art_hl7_parse(buf + split.msgs[m].off, split.msgs[m].len,
							NULL, err, sizeof(err));
		enum art_canon_status st;

		cr_assert_not_null(msg, "%s: %s", path, err);
		st = art_canon_map(msg, &ctx, &res, err, sizeof(err));
		cr_assert(st == ART_CANON_MAPPED || st == ART_CANON_UNSUPPORTED, "%s: %s: %s", path,
			  art_canon_status_name(st), err);
		for (size_t e = 0; e < res.cnt; e++) {
			cr_assert_lt(c->n, MAX_EVENTS);
			cr_assert_eq(art_avro_decode_json(reg, res.events[e].value,
							  res.events[e].value_len, &c->ev[c->n], NULL,
							  err, sizeof(err)),
				     0, "%s: %s", path, err);
			c->topic[c->n] = res.events[e].schema->subject; /* registry outlives c */
			c->n++;
		}
		art_canon_result_free(&res);
		art_hl7_msg_destroy(msg);
	}
	art_hl7_split_free(&split);
	free(buf);
}

static void canon_free(struct canon *c)
{
	for (size_t i = 0; i < c->n; i++)
		json_decref(c->ev[i]);
}

/* The first event on topic, or NULL. */
static json_t *first_event(const struct canon *c, const char *topic)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->topic[i], topic) == 0)
			return c->ev[i];
	return NULL;
}

/* The resources of the bundle of type type, in order (new array). */
static json_t *resources(json_t *bundle, const char *type)
{
	json_t *out = json_array(), *e;
	size_t i;

	json_array_foreach(json_object_get(bundle, "entry"), i, e) {
		json_t *r = json_object_get(e, "resource");

		if (json_is_string(json_object_get(r, "resourceType")) &&
		    strcmp(jstr(r, "resourceType"), type) == 0)
			json_array_append(out, r);
	}
	return out;
}

/* The resource a reference "Type/id" points at, or NULL. */
static json_t *resolve(json_t *bundle, const char *ref)
{
	json_t *e;
	size_t i;
	const char *slash = ref ? strchr(ref, '/') : NULL;

	if (!slash)
		return NULL;
	json_array_foreach(json_object_get(bundle, "entry"), i, e) {
		json_t *r = json_object_get(e, "resource");
		const char *type = jstr(r, "resourceType"), *id = jstr(r, "id");

		if (type && id && strlen(type) == (size_t)(slash - ref) &&
		    strncmp(type, ref, (size_t)(slash - ref)) == 0 && strcmp(id, slash + 1) == 0)
			return r;
	}
	return NULL;
}

/* The Location that is partOf `parent` with physical type `code`. */
static json_t *child_location(json_t *bundle, json_t *parent, const char *code)
{
	json_t *locs, *l, *found = NULL;
	char ref[128];
	size_t i;

	if (!parent)
		return NULL;
	locs = resources(bundle, "Location");
	snprintf(ref, sizeof(ref), "Location/%s", jstr(parent, "id"));
	json_array_foreach(locs, i, l) {
		const char *pt = fhir_code(json_object_get(l, "physicalType"));

		if (pt && strcmp(pt, code) == 0 && jpath(l, "partOf.reference") &&
		    strcmp(jpath(l, "partOf.reference"), ref) == 0) {
			found = l;
			break;
		}
	}
	json_decref(locs);
	return found;
}

/* HL7 table 0001 -> FHIR AdministrativeGender (v2-to-FHIR ConceptMap). */
static const char *gender_of(const char *sex)
{
	static const char *const map[][2] = {{"M", "male"},    {"F", "female"}, {"O", "other"},
					     {"A", "other"},   {"U", "unknown"}, {"N", "unknown"}};

	for (size_t i = 0; sex && i < ART_ARRAY_SIZE(map); i++)
		if (strcmp(sex, map[i][0]) == 0)
			return map[i][1];
	return sex;
}

/* HL7 table 0004 -> v3 ActCode encounter class (v2-to-FHIR ConceptMap). */
static const char *act_class_of(const char *cls)
{
	static const char *const map[][2] = {
		{"E", "EMER"}, {"I", "IMP"}, {"O", "AMB"}, {"P", "PRENC"}};

	for (size_t i = 0; cls && i < ART_ARRAY_SIZE(map); i++)
		if (strcmp(cls, map[i][0]) == 0)
			return map[i][1];
	return cls;
}

/* Compares an HL7 coding system code (Artery keeps it as sent, e.g. LN)
 * with a FHIR system URI: agreed when the URI is the one HL7 defines for
 * that code, or FHIR-Converter's stand-in for codes it has no URI for,
 * "http://example.com/v2-to-fhir-converter/CodeSystem/" + the code with
 * blanks as '-' (docs/mapping.md). */
static void cmp_system(struct tally *t, enum field f, const char *file, const char *ours,
		       const char *theirs)
{
	static const char *const uris[][2] = {
		{"LN", "http://loinc.org"},           {"SCT", "http://snomed.info/sct"},
		{"SNM", "http://snomed.info/sct"},    {"NDC", "http://hl7.org/fhir/sid/ndc"},
		{"CVX", "http://hl7.org/fhir/sid/cvx"}, {"UCUM", "http://unitsofmeasure.org"},
		{"I10", "http://hl7.org/fhir/sid/icd-10"}};
	static const char stand_in[] = "http://example.com/v2-to-fhir-converter/CodeSystem/";
	char conv[256];
	int agree = 0;

	for (size_t i = 0; ours && theirs && i < ART_ARRAY_SIZE(uris); i++)
		agree |= strcmp(ours, uris[i][0]) == 0 && strcmp(theirs, uris[i][1]) == 0;
	if (ours && theirs && !agree) {
		snprintf(conv, sizeof(conv), "%s%s", stand_in, ours);
		for (char *p = conv + sizeof(stand_in) - 1; *p; p++)
			if (*p == ' ')
				*p = '-';
		agree = strcmp(conv, theirs) == 0;
	}
	cmp(t, f, file, agree ? theirs : ours, theirs);
}

static void compare_patient(struct tally *t, const char *file, json_t *bundle,
			    const struct canon *c)
{
	json_t *pats = resources(bundle, "Patient"), *links = resources(bundle, "Linkage");
	json_t *fhir = json_array_get(pats, 0), *pref = NULL, *v, *w;
	json_t *our_ids = json_array(), *their_ids = json_array();
	json_t *our_fam = json_array(), *their_fam = json_array();
	size_t i, j;

	for (i = 0; i < c->n && !pref; i++) {
		pref = json_object_get(c->ev[i], "patient");
		if (json_is_null(pref))
			pref = NULL;
	}
	/* identifiers: PID-3 (and the merged MRG-1, which FHIR puts in a Linkage) */
	json_array_foreach(json_object_get(pref, "identifiers"), i, v)
		json_array_append_new(our_ids, json_string(jstr(v, "value")));
	if (json_array_size(links) > 0) {
		json_t *pat = first_event(c, "canonical.patient");

		json_t *prior = json_object_get(json_object_get(pat, "merge"), "prior_identifiers");

		json_array_foreach(prior, i, v)
			json_array_append_new(our_ids, json_string(jstr(v, "value")));
	}
	json_array_foreach(json_object_get(fhir, "identifier"), i, v)
		json_array_append_new(their_ids, json_string(jstr(v, "value")));
	json_array_foreach(links, i, v) {
		json_array_foreach(json_object_get(v, "item"), j, w)
			json_array_append_new(their_ids,
					      json_string(jpath(w, "resource.identifier.value")));
	}
	cmp_sets(t, F_IDENTIFIER, file, our_ids, their_ids);

	if (fhir) {
		/* names: family as sets; given compared for names with the same family */
		json_array_foreach(json_object_get(pref, "names"), i, v)
			json_array_append_new(our_fam, json_string(jstr(v, "family")));
		json_array_foreach(json_object_get(fhir, "name"), i, v)
			json_array_append_new(their_fam, json_string(jstr(v, "family")));
		cmp_sets(t, F_FAMILY, file, our_fam, their_fam);
		json_array_foreach(json_object_get(fhir, "name"), i, v) {
			json_array_foreach(json_object_get(pref, "names"), j, w) {
				if (jstr(v, "family") && jstr(w, "family") &&
				    strcmp(jstr(v, "family"), jstr(w, "family")) == 0) {
					char *a = json_dumps(json_object_get(w, "given"), JSON_COMPACT);
					char *b = json_dumps(json_object_get(v, "given"), JSON_COMPACT);

					cmp(t, F_GIVEN, file, a, b);
					free(a);
					free(b);
					break;
				}
			}
		}
		cmp(t, F_BIRTH_DATE, file, jstr(pref, "birth_date"), jstr(fhir, "birthDate"));
		cmp(t, F_SEX, file, gender_of(jstr(pref, "sex")), jstr(fhir, "gender"));
	}
	json_decref(our_ids);
	json_decref(their_ids);
	json_decref(our_fam);
	json_decref(their_fam);
	json_decref(pats);
	json_decref(links);
}

static void compare_encounter(struct tally *t, const char *file, json_t *bundle,
			      const struct canon *c)
{
	json_t *encs = resources(bundle, "Encounter");
	json_t *fhir = json_array_get(encs, 0), *ours = first_event(c, "canonical.encounter");
	json_t *poc, *room, *bed, *loc;

	if (!fhir && !ours) {
		json_decref(encs);
		return;
	}
	loc = json_object_get(ours, "location");
	cmp(t, F_ENC_CLASS, file, act_class_of(jpath(ours, "class.code")),
	    jpath(fhir, "class.code"));
	poc = resolve(bundle,
		      jpath(json_array_get(json_object_get(fhir, "location"), 0), "location.reference"));
	room = child_location(bundle, poc, "ro");
	bed = child_location(bundle, room, "bd");
	cmp(t, F_ENC_POINT_OF_CARE, file, jstr(loc, "point_of_care"), jstr(poc, "name"));
	cmp(t, F_ENC_ROOM, file, jstr(loc, "room"), jstr(room, "name"));
	cmp(t, F_ENC_BED, file, jstr(loc, "bed"), jstr(bed, "name"));
	json_decref(encs);
}

/* Every Observation record of the events (results, orders, immunizations). */
static json_t *our_observations(const struct canon *c)
{
	json_t *out = json_array(), *r, *o;
	size_t i, j;

	for (size_t e = 0; e < c->n; e++) {
		json_array_foreach(json_object_get(c->ev[e], "reports"), i, r)
			json_array_foreach(json_object_get(r, "observations"), j, o)
				json_array_append(out, o);
		json_array_foreach(json_object_get(c->ev[e], "observations"), j, o)
			json_array_append(out, o);
	}
	return out;
}

/* An observation's value as text: the typed value, else the text. */
static const char *our_value(json_t *o, char *buf, size_t size)
{
	json_t *v = json_object_get(o, "value_number");

	if (json_is_number(v))
		return num_text(v, buf, size);
	if (jpath(o, "value_coding.code"))
		return jpath(o, "value_coding.code");
	if (json_is_object(json_object_get(o, "value_time")))
		return iso_time(json_object_get(o, "value_time"), buf, size);
	return jstr(o, "value_text");
}

static const char *their_value(json_t *r, char *buf, size_t size)
{
	json_t *qty = json_object_get(r, "valueQuantity");
	json_t *cc = json_object_get(r, "valueCodeableConcept");

	if (qty)
		return num_text(json_object_get(qty, "value"), buf, size);
	if (cc)
		return fhir_code(cc);
	if (json_object_get(r, "valueInteger"))
		return num_text(json_object_get(r, "valueInteger"), buf, size);
	if (jstr(r, "valueString"))
		return jstr(r, "valueString");
	if (jstr(r, "valueDateTime"))
		return jstr(r, "valueDateTime");
	return jstr(r, "valueTime");
}

static void compare_observations(struct tally *t, const char *file, json_t *bundle,
				 const struct canon *c)
{
	json_t *theirs = resources(bundle, "Observation"), *ours = our_observations(c), *r, *o;
	char *used = calloc(json_array_size(ours) + 1, 1);
	size_t i, j;

	cr_assert_not_null(used);
	json_array_foreach(theirs, i, r) {
		const char *code = fhir_code(json_object_get(r, "code"));
		char b1[64], b2[64];
		const char *unit = jpath(r, "valueQuantity.unit");
		json_t *match = NULL;

		json_array_foreach(ours, j, o) {
			if (!used[j] && code && jpath(o, "code.code") &&
			    strcmp(jpath(o, "code.code"), code) == 0) {
				used[j] = 1;
				match = o;
				break;
			}
		}
		cmp(t, F_OBS_CODE, file, match ? code : NULL, code);
		if (!match)
			continue;
		cmp_system(t, F_OBS_SYSTEM, file, jpath(match, "code.system"),
			   jstr(json_array_get(json_object_get(json_object_get(r, "code"), "coding"), 0),
				"system"));
		cmp(t, F_OBS_VALUE, file, our_value(match, b1, sizeof(b1)),
		    their_value(r, b2, sizeof(b2)));
		if (!unit)
			unit = jpath(r, "valueQuantity.code");
		/* FHIR's unit is text: OBX-6 code or its display */
		if (unit && jpath(match, "units.display") &&
		    strcmp(unit, jpath(match, "units.display")) == 0)
			cmp(t, F_OBS_UNIT, file, unit, unit);
		else
			cmp(t, F_OBS_UNIT, file, jpath(match, "units.code"), unit);
	}
	json_array_foreach(ours, j, o) {
		if (!used[j])
			cmp(t, F_OBS_CODE, file, jpath(o, "code.code"), NULL);
	}
	free(used);
	json_decref(ours);
	json_decref(theirs);
}

static void compare_immunizations(struct tally *t, const char *file, json_t *bundle,
				  const struct canon *c)
{
	json_t *theirs = resources(bundle, "Immunization"), *r;
	size_t i, k = 0;

	json_array_foreach(theirs, i, r) {
		json_t *ours = NULL;
		char b1[64], b2[64];

		for (; k < c->n && !ours; k++)
			if (strcmp(c->topic[k], "canonical.immunization") == 0)
				ours = c->ev[k];
		cmp(t, F_IMM_VACCINE, file, jpath(ours, "vaccine.code"),
		    fhir_code(json_object_get(r, "vaccineCode")));
		cmp_system(t, F_IMM_VACCINE_SYSTEM, file, jpath(ours, "vaccine.system"),
			   jstr(json_array_get(json_object_get(json_object_get(r, "vaccineCode"),
							       "coding"),
					       0),
				"system"));
		cmp(t, F_IMM_LOT, file,
		    json_string_value(json_array_get(json_object_get(ours, "lot_numbers"), 0)),
		    jstr(r, "lotNumber"));
		cmp(t, F_IMM_DOSE, file, num_text(json_object_get(ours, "dose_amount"), b1, sizeof(b1)),
		    num_text(json_object_get(json_object_get(r, "doseQuantity"), "value"), b2,
			     sizeof(b2)));
		cmp(t, F_IMM_DATE, file,
		    iso_time(json_object_get(ours, "administered_at"), b1, sizeof(b1)),
		    jstr(r, "occurrenceDateTime"));
		cmp(t, F_IMM_SITE, file, jpath(ours, "site.code"), fhir_code(json_object_get(r, "site")));
		cmp(t, F_IMM_ROUTE, file, jpath(ours, "route.code"),
		    fhir_code(json_object_get(r, "route")));
	}
	json_decref(theirs);
}

/* Compares one bundle with the events of its HL7 file. */
static void compare_bundle(struct tally *t, const struct art_schema_registry *reg,
			   const char *name)
{
	char path[1024], hl7[1024], err[256];
	size_t len;
	char *text;
	json_t *bundle;
	json_error_t jerr;
	struct canon c;
	const char *body;

	snprintf(path, sizeof(path), EXPECTED_DIR "/%s" SUFFIX, name);
	snprintf(hl7, sizeof(hl7), HL7_DIR "/%s.hl7", name);
	text = art_read_file(path, 16u << 20, &len, err, sizeof(err));
	cr_assert_not_null(text, "%s", err);
	body = text;
	if (len >= 3 && memcmp(body, "\xEF\xBB\xBF", 3) == 0) /* UTF-8 BOM */
		body += 3;
	bundle = json_loads(body, 0, &jerr);
	cr_assert_not_null(bundle, "%s: %s", path, jerr.text);
	map_file(reg, hl7, &c);
	cr_assert_gt(c.n, 0, "%s maps to no event", hl7);
	compare_patient(t, name, bundle, &c);
	compare_encounter(t, name, bundle, &c);
	compare_observations(t, name, bundle, &c);
	compare_immunizations(t, name, bundle, &c);
	t->bundles++;
	canon_free(&c);
	json_decref(bundle);
	free(text);
}

/* The documented rate of field f in docs/mapping.md (a table row
 * "| `field` | agreed | compared | rate% | ..." in DOC_SECTION), or -1. */
static double documented_rate(const char *doc, enum field f)
{
	const char *sec = strstr(doc, DOC_SECTION), *p;
	char key[96];

	if (!sec)
		return -1;
	snprintf(key, sizeof(key), "| `%s` |", field_names[f]);
	p = strstr(sec, key);
	if (!p)
		return -1;
	/* the fourth cell: past the pipes before agreed, compared and rate */
	for (int cell = 0; cell < 3 && p; cell++)
		p = strchr(p + 1, '|');
	if (!p)
		return -1;
	return strtod(p + 1, NULL);
}

Test(fhir_agreement, canonical_events_agree_with_fhir_converter)
{
	struct tally t;
	struct art_schema_registry *reg;
	struct dirent *de;
	char err[512], *doc;
	size_t len, failing = 0;
	struct stat st;
	DIR *d;

	if (stat(EXPECTED_DIR, &st) != 0)
		cr_skip_test("corpus absent: " EXPECTED_DIR);
	reg = art_schema_registry_load(ART_SOURCE_DIR "/schemas", err, sizeof(err));
	cr_assert_not_null(reg, "%s", err);
	doc = art_read_file(MAPPING_DOC, 1u << 20, &len, err, sizeof(err));
	cr_assert_not_null(doc, "%s", err);
	memset(&t, 0, sizeof(t));

	d = opendir(EXPECTED_DIR);
	cr_assert_not_null(d);
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name), sl = strlen(SUFFIX);
		char name[256], hl7[1024];
		int skip = 0;

		if (n <= sl || strcmp(de->d_name + n - sl, SUFFIX) != 0 || n - sl >= sizeof(name))
			continue;
		memcpy(name, de->d_name, n - sl);
		name[n - sl] = '\0';
		snprintf(hl7, sizeof(hl7), HL7_DIR "/%s.hl7", name);
		for (size_t i = 0; i < ART_ARRAY_SIZE(not_compared); i++)
			skip |= strcmp(name, not_compared[i]) == 0;
		cr_assert_eq(stat(hl7, &st), 0, "%s: no HL7 file %s", de->d_name, hl7);
		if (skip) {
			struct canon c;

			/* not compared only as long as Artery does not map it */
			map_file(reg, hl7, &c);
			cr_assert_eq(c.n, 0, "%s is mapped now: compare it (remove it from not_compared)",
				     name);
			t.skipped++;
			continue;
		}
		compare_bundle(&t, reg, name);
	}
	closedir(d);

	printf("\nagreement with FHIR-Converter over %zu bundles (%zu not compared):\n",
	       t.bundles, t.skipped);
	printf("%-34s %7s %9s %7s %11s\n", "field", "agreed", "compared", "rate", "documented");
	for (int f = 0; f < F_MAX; f++) {
		double rate = t.compared[f] ? 100.0 * (double)t.agreed[f] / (double)t.compared[f]
					    : 100.0;
		double want = documented_rate(doc, (enum field)f);

		printf("%-34s %7zu %9zu %6.1f%% %10.1f%%\n", field_names[f], t.agreed[f],
		       t.compared[f], rate, want);
		if (want < 0) {
			cr_log_error("%s: no documented rate in docs/mapping.md", field_names[f]);
			failing++;
		} else if (rate + 0.05 < want) {
			cr_log_error("%s: agreement %.1f%% is below the documented %.1f%%",
				     field_names[f], rate, want);
			failing++;
		}
	}
	fflush(stdout);
	cr_assert_gt(t.bundles, 0, "no bundle compared");
	cr_assert_gt(t.compared[F_IDENTIFIER], 0);
	cr_assert_gt(t.compared[F_ENC_CLASS], 0);
	cr_assert_gt(t.compared[F_OBS_VALUE], 0);
	cr_assert_eq(failing, 0, "%zu fields below their documented agreement", failing);
	free(doc);
	art_schema_registry_destroy(reg);
}

/*
 * fhir_in.c — FHIR R4 resources to canonical events: see fhir_in.h and
 * docs/mapping.md ("From FHIR").
 *
 * Each event is built as the canonical JSON of its subject (the mapping
 * of avro_codec.h: records are objects, optional fields simply absent)
 * and encoded with art_avro_set_json() + art_avro_value_encode(), so the
 * schema decides what is valid and a field this file gets wrong fails the
 * encoding instead of writing a different record.
 */
#include "fhir_in.h"

#include "art.h"
#include "avro_codec.h"
#include "ids.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Code system URIs back to the HL7 v2 table 0396 names the canonical
 * model uses (fhir.c maps the other way). */
static const char *const art_fi_systems[][2] = {
	{"http://loinc.org", "LN"},
	{"http://snomed.info/sct", "SCT"},
	{"http://unitsofmeasure.org", "UCUM"},
	{"http://hl7.org/fhir/sid/cvx", "CVX"},
	{"http://hl7.org/fhir/sid/icd-10", "I10"},
	{"http://hl7.org/fhir/sid/icd-10-cm", "I10C"},
	{"http://www.nlm.nih.gov/research/umls/rxnorm", "RXNORM"},
};

static const char *art_fi_str(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* Sets k to the string s in o when s is non-empty. */
static void art_fi_put(json_t *o, const char *k, const char *s)
{
	if (s && *s)
		json_object_set_new(o, k, json_string(s));
}

/* A canonical Coding from a FHIR Coding (system URI mapped back). */
static json_t *art_fi_coding_of(json_t *c, const char *text)
{
	json_t *out = json_object();
	const char *sys = art_fi_str(c, "system");

	art_fi_put(out, "code", art_fi_str(c, "code"));
	art_fi_put(out, "display", art_fi_str(c, "display") ? art_fi_str(c, "display") : text);
	for (size_t i = 0; sys && i < ART_ARRAY_SIZE(art_fi_systems); i++)
		if (!strcmp(sys, art_fi_systems[i][0]))
			sys = art_fi_systems[i][1];
	art_fi_put(out, "system", sys);
	if (json_object_size(out) == 0) {
		json_decref(out);
		return NULL;
	}
	return out;
}

/* A canonical Coding from a CodeableConcept (its first coding, or its text). */
static json_t *art_fi_concept(json_t *cc)
{
	json_t *c = json_array_get(json_object_get(cc, "coding"), 0), *none, *out;

	if (!json_is_object(cc))
		return NULL;
	if (c)
		return art_fi_coding_of(c, art_fi_str(cc, "text"));
	none = json_object();
	out = art_fi_coding_of(none, art_fi_str(cc, "text"));
	json_decref(none);
	return out;
}

static void art_fi_put_obj(json_t *o, const char *k, json_t *v)
{
	if (v)
		json_object_set_new(o, k, v);
}

/* A canonical Timestamp from a FHIR date, dateTime or instant
 * (YYYY[-MM[-DD[Thh:mm:ss[.f][Z|+hh:mm|-hh:mm]]]]), rewritten as an HL7 TS
 * (YYYYMMDDhhmmss.f+hhmm) for the parser the HL7 mapping uses. NULL when s
 * is not such a time. */
static json_t *art_fi_time(const char *s)
{
	char ts[48];
	size_t n = 0, len = s ? strlen(s) : 0, i;
	struct art_canon_time t;
	json_t *out;

	if (len < 4 || len > 40)
		return NULL;
	/* the date: digits, '-' between them */
	for (i = 0; i < len && i < 10 && s[i] != 'T'; i++)
		if (isdigit((unsigned char)s[i]))
			ts[n++] = s[i];
		else if (s[i] != '-')
			return NULL;
	if (i < len && s[i] == 'T') {
		/* the time: digits, ':' and one fraction */
		for (i++; i < len && (isdigit((unsigned char)s[i]) || s[i] == ':' || s[i] == '.');
		     i++)
			if (s[i] != ':')
				ts[n++] = s[i];
		if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
			memcpy(ts + n, "+0000", 5);
			n += 5;
			i++;
		} else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
			ts[n++] = s[i];
			ts[n++] = s[i + 1];
			ts[n++] = s[i + 2];
			ts[n++] = s[i + 4];
			ts[n++] = s[i + 5];
			i += 6;
		}
	}
	if (i != len)
		return NULL;
	if (art_canon_parse_time(ts, n, &t))
		return NULL;
	out = json_pack("{s:I, s:s, s:s}", "micros", (json_int_t)t.micros, "precision",
			art_canon_precision_name(t.precision), "original", s);
	if (out && t.has_offset)
		json_object_set_new(out, "utc_offset_minutes", json_integer(t.offset_minutes));
	return out;
}

/* Canonical Identifiers from a FHIR identifier array. */
static json_t *art_fi_identifiers(json_t *ids)
{
	json_t *out = json_array(), *id;
	size_t i;

	json_array_foreach(ids, i, id) {
		json_t *o;
		json_t *type = json_array_get(json_object_get(json_object_get(id, "type"), "coding"), 0);

		if (!art_fi_str(id, "value") || !*art_fi_str(id, "value"))
			continue;
		o = json_pack("{s:s}", "value", art_fi_str(id, "value"));
		art_fi_put(o, "assigning_authority",
			   art_fi_str(id, "system") ? art_fi_str(id, "system")
						    : art_fi_str(json_object_get(id, "assigner"),
								 "display"));
		art_fi_put(o, "type", art_fi_str(type, "code"));
		json_array_append_new(out, o);
	}
	return out;
}

static json_t *art_fi_names(json_t *names)
{
	json_t *out = json_array(), *n;
	size_t i;

	json_array_foreach(names, i, n) {
		json_t *o = json_object(), *given = json_array(), *g;
		size_t k;

		art_fi_put(o, "family", art_fi_str(n, "family"));
		json_array_foreach(json_object_get(n, "given"), k, g)
			if (json_string_value(g) && *json_string_value(g))
				json_array_append(given, g);
		json_object_set_new(o, "given", given);
		art_fi_put(o, "prefix", json_string_value(json_array_get(json_object_get(n, "prefix"), 0)));
		art_fi_put(o, "suffix", json_string_value(json_array_get(json_object_get(n, "suffix"), 0)));
		art_fi_put(o, "use", art_fi_str(n, "use"));
		if (json_object_size(o) > 1 || json_array_size(given))
			json_array_append_new(out, o);
		else
			json_decref(o);
	}
	return out;
}

/* FHIR gender to the HL7 administrative sex the canonical model holds. */
static const char *art_fi_sex(const char *gender)
{
	static const char *const map[][2] = {
		{"male", "M"}, {"female", "F"}, {"other", "O"}, {"unknown", "U"}};

	for (size_t i = 0; gender && i < ART_ARRAY_SIZE(map); i++)
		if (!strcmp(gender, map[i][0]))
			return map[i][1];
	return NULL;
}

/* The canonical PatientRef of a Patient resource. Without a business
 * identifier, the resource's logical id stands in (type "FHIR"), as for
 * references that name only a logical id. */
static json_t *art_fi_patient_ref(json_t *pat)
{
	json_t *o = json_object();
	json_t *ids = art_fi_identifiers(json_object_get(pat, "identifier"));

	if (json_array_size(ids) == 0 && art_fi_str(pat, "id") && *art_fi_str(pat, "id"))
		json_array_append_new(ids, json_pack("{s:s, s:s}", "value", art_fi_str(pat, "id"),
						     "type", "FHIR"));
	json_object_set_new(o, "identifiers", ids);
	json_object_set_new(o, "names", art_fi_names(json_object_get(pat, "name")));
	art_fi_put(o, "birth_date", art_fi_str(pat, "birthDate"));
	art_fi_put(o, "sex", art_fi_sex(art_fi_str(pat, "gender")));
	return o;
}

/* The resource a reference ("Patient/1", "urn:uuid:...") names in the
 * Bundle, or NULL. */
static json_t *art_fi_resolve(json_t *bundle, const char *ref)
{
	json_t *entry;
	size_t i;

	if (!bundle || !ref)
		return NULL;
	json_array_foreach(json_object_get(bundle, "entry"), i, entry) {
		json_t *r = json_object_get(entry, "resource");
		const char *full = art_fi_str(entry, "fullUrl");
		const char *rt = art_fi_str(r, "resourceType"), *id = art_fi_str(r, "id");
		char local[256];

		if (full && !strcmp(full, ref))
			return r;
		if (rt && id) {
			snprintf(local, sizeof(local), "%s/%s", rt, id);
			if (!strcmp(local, ref))
				return r;
		}
	}
	return NULL;
}

/* The canonical PatientRef of the patient a resource refers to (subject or
 * patient): the Patient in the Bundle, else the reference's identifier,
 * else the logical id of the reference (type "FHIR"). NULL when the
 * resource names no patient. */
static json_t *art_fi_subject(json_t *bundle, json_t *res)
{
	json_t *s = json_object_get(res, "subject");
	json_t *pat, *ids;
	const char *ref;

	if (!s)
		s = json_object_get(res, "patient");
	if (!json_is_object(s))
		return NULL;
	ref = art_fi_str(s, "reference");
	pat = art_fi_resolve(bundle, ref);
	if (pat)
		return art_fi_patient_ref(pat);
	ids = json_array();
	if (json_is_object(json_object_get(s, "identifier"))) {
		json_t *one = json_array();

		json_array_append(one, json_object_get(s, "identifier"));
		json_decref(ids);
		ids = art_fi_identifiers(one);
		json_decref(one);
	}
	if (json_array_size(ids) == 0 && ref && strchr(ref, '/'))
		json_array_append_new(ids, json_pack("{s:s, s:s}", "value", strrchr(ref, '/') + 1,
						     "type", "FHIR"));
	return json_pack("{s:o, s:[]}", "identifiers", ids, "names");
}

/* The envelope every event starts with. */
static json_t *art_fi_envelope(const struct art_fhir_in_ctx *ctx, json_t *res,
			       const char *event_type, const char *event_id, json_t *patient)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:{s:s}}", "event_id", event_id,
			      "idempotency_key", ctx->idempotency_key, "event_type", event_type,
			      "received_at", (json_int_t)ctx->received_at_us, "source", "channel",
			      ctx->channel ? ctx->channel : "");
	json_t *meta = json_object_get(res, "meta");
	const char *when = art_fi_str(res, "issued");

	if (!when)
		when = art_fi_str(res, "effectiveDateTime");
	if (!when)
		when = art_fi_str(meta, "lastUpdated");
	art_fi_put_obj(o, "occurred_at", art_fi_time(when));
	art_fi_put(o, "source_message_id", art_fi_str(res, "id"));
	art_fi_put_obj(o, "patient", patient);
	if (ctx->raw_topic && ctx->raw_hash)
		json_object_set_new(o, "raw_ref", json_pack("{s:s, s:s}", "topic", ctx->raw_topic,
							    "raw_hash", ctx->raw_hash));
	return o;
}

/* Encodes canonical JSON ev as subject and appends it to out. */
static int art_fi_emit(const struct art_fhir_in_ctx *ctx, const char *subject, json_t *ev,
		       struct art_canon_result *out, char *errstr, size_t errstr_size)
{
	const struct art_schema *schema = art_schema_latest(ctx->reg, subject);
	struct art_avro_value *av = schema ? art_avro_value_new(schema) : NULL;
	struct art_canon_event *grown, *e;
	void *value = NULL;
	size_t len = 0;
	int rc = -1;

	if (!av) {
		snprintf(errstr, errstr_size, "schema %s is not in the registry", subject);
		return -1;
	}
	if (art_avro_set_json(av, NULL, "", ev) || art_avro_value_encode(av, &value, &len, errstr,
									 errstr_size)) {
		if (av->err[0])
			snprintf(errstr, errstr_size, "%s: %s", subject, av->err);
		goto out;
	}
	grown = realloc(out->events, (out->cnt + 1) * sizeof(*grown));
	if (!grown)
		goto out;
	out->events = grown;
	e = &out->events[out->cnt];
	memset(e, 0, sizeof(*e));
	e->topic = strdup(subject);
	e->event_type = strdup(art_fi_str(ev, "event_type"));
	e->schema = schema;
	snprintf(e->event_id, sizeof(e->event_id), "%s", art_fi_str(ev, "event_id"));
	e->value = value;
	e->value_len = len;
	value = NULL;
	out->cnt++;
	rc = e->topic && e->event_type ? 0 : -1;
out:
	free(value);
	art_avro_value_destroy(av);
	return rc;
}

/* ---- Patient ---------------------------------------------------------------- */

static int art_fi_patient(const struct art_fhir_in_ctx *ctx, json_t *res, const char *event_id,
			  struct art_canon_result *out, char *errstr, size_t errstr_size)
{
	json_t *ref = art_fi_patient_ref(res), *ev, *arr, *v;
	size_t i;
	int rc;

	if (json_array_size(json_object_get(ref, "identifiers")) == 0) {
		json_decref(ref);
		snprintf(errstr, errstr_size, "a Patient has neither an identifier with a value nor an "
					      "id");
		return -1;
	}
	ev = art_fi_envelope(ctx, res, "patient.updated", event_id, ref);
	arr = json_array();
	json_array_foreach(json_object_get(res, "address"), i, v) {
		json_t *a = json_object(), *lines = json_array(), *l;
		size_t k;

		json_array_foreach(json_object_get(v, "line"), k, l)
			if (json_string_value(l))
				json_array_append(lines, l);
		json_object_set_new(a, "lines", lines);
		art_fi_put(a, "city", art_fi_str(v, "city"));
		art_fi_put(a, "state", art_fi_str(v, "state"));
		art_fi_put(a, "postal_code", art_fi_str(v, "postalCode"));
		art_fi_put(a, "country", art_fi_str(v, "country"));
		art_fi_put(a, "use", art_fi_str(v, "use"));
		json_array_append_new(arr, a);
	}
	json_object_set_new(ev, "addresses", arr);
	arr = json_array();
	json_array_foreach(json_object_get(res, "telecom"), i, v) {
		if (art_fi_str(v, "value")) {
			json_t *t = json_pack("{s:s}", "value", art_fi_str(v, "value"));

			art_fi_put(t, "system", art_fi_str(v, "system"));
			art_fi_put(t, "use", art_fi_str(v, "use"));
			json_array_append_new(arr, t);
		}
	}
	json_object_set_new(ev, "telecoms", arr);
	art_fi_put_obj(ev, "marital_status", art_fi_concept(json_object_get(res, "maritalStatus")));
	art_fi_put_obj(ev, "language",
		       art_fi_concept(json_object_get(
			       json_array_get(json_object_get(res, "communication"), 0), "language")));
	if (json_is_boolean(json_object_get(res, "deceasedBoolean")))
		json_object_set(ev, "deceased", json_object_get(res, "deceasedBoolean"));
	if (art_fi_str(res, "deceasedDateTime")) {
		json_object_set_new(ev, "deceased", json_true());
		art_fi_put_obj(ev, "deceased_at", art_fi_time(art_fi_str(res, "deceasedDateTime")));
	}
	rc = art_fi_emit(ctx, "canonical.patient", ev, out, errstr, errstr_size);
	json_decref(ev);
	return rc;
}

/* ---- results ---------------------------------------------------------------- */

/* FHIR Observation/DiagnosticReport status to the HL7 result status code. */
static const char *art_fi_result_status(const char *s)
{
	static const char *const map[][2] = {
		{"final", "F"},     {"preliminary", "P"}, {"partial", "P"},   {"registered", "I"},
		{"amended", "C"},   {"corrected", "C"},   {"appended", "C"},  {"cancelled", "X"},
		{"entered-in-error", "W"},
	};

	for (size_t i = 0; s && i < ART_ARRAY_SIZE(map); i++)
		if (!strcmp(s, map[i][0]))
			return map[i][1];
	return NULL;
}

/* One canonical Observation from a FHIR Observation. */
static json_t *art_fi_observation(json_t *obs)
{
	json_t *o = json_object(), *v, *flags = json_array(), *c;
	size_t i;

	art_fi_put_obj(o, "code", art_fi_concept(json_object_get(obs, "code")));
	art_fi_put(o, "status", art_fi_result_status(art_fi_str(obs, "status")));
	art_fi_put_obj(o, "observed_at", art_fi_time(art_fi_str(obs, "effectiveDateTime")));
	if ((v = json_object_get(obs, "valueQuantity"))) {
		json_object_set_new(o, "value_type", json_string("NM"));
		if (json_is_number(json_object_get(v, "value")))
			json_object_set_new(o, "value_number",
					    json_real(json_number_value(json_object_get(v, "value"))));
		art_fi_put(o, "value_comparator", art_fi_str(v, "comparator"));
		if (art_fi_str(v, "code") || art_fi_str(v, "unit")) {
			json_t *u = json_object();

			json_object_set_new(u, "code", json_string(art_fi_str(v, "code")
									   ? art_fi_str(v, "code")
									   : art_fi_str(v, "unit")));
			art_fi_put(u, "display", art_fi_str(v, "unit"));
			json_t *sys = art_fi_coding_of(v, NULL);
			art_fi_put(u, "system", art_fi_str(sys, "system"));
			json_decref(sys);
			json_object_set_new(o, "units", u);
		}
	} else if ((v = json_object_get(obs, "valueCodeableConcept"))) {
		json_object_set_new(o, "value_type", json_string("CWE"));
		art_fi_put_obj(o, "value_coding", art_fi_concept(v));
		art_fi_put(o, "value_text", art_fi_str(v, "text"));
	} else if (json_is_string(v = json_object_get(obs, "valueString"))) {
		json_object_set_new(o, "value_type", json_string("ST"));
		json_object_set(o, "value_text", v);
	} else if (json_is_integer(v = json_object_get(obs, "valueInteger"))) {
		json_object_set_new(o, "value_type", json_string("NM"));
		json_object_set_new(o, "value_number", json_real((double)json_integer_value(v)));
	} else if (json_is_string(v = json_object_get(obs, "valueDateTime"))) {
		json_object_set_new(o, "value_type", json_string("DTM"));
		art_fi_put_obj(o, "value_time", art_fi_time(json_string_value(v)));
	} else if (json_is_boolean(v = json_object_get(obs, "valueBoolean"))) {
		json_object_set_new(o, "value_type", json_string("ST"));
		json_object_set_new(o, "value_text", json_string(json_is_true(v) ? "true" : "false"));
	} else if ((v = json_object_get(obs, "valueRange"))) {
		json_t *lo = json_object_get(json_object_get(v, "low"), "value");
		json_t *hi = json_object_get(json_object_get(v, "high"), "value");

		json_object_set_new(o, "value_type", json_string("SN"));
		if (json_is_number(lo))
			json_object_set_new(o, "value_number", json_real(json_number_value(lo)));
		json_object_set_new(o, "value_separator", json_string("-"));
		if (json_is_number(hi))
			json_object_set_new(o, "value_number2", json_real(json_number_value(hi)));
	}
	v = json_array_get(json_object_get(obs, "referenceRange"), 0);
	if (art_fi_str(v, "text")) {
		art_fi_put(o, "reference_range", art_fi_str(v, "text"));
	} else if (v) {
		json_t *lo = json_object_get(json_object_get(v, "low"), "value");
		json_t *hi = json_object_get(json_object_get(v, "high"), "value");
		char rr[96];

		if (json_is_number(lo) && json_is_number(hi))
			snprintf(rr, sizeof(rr), "%g-%g", json_number_value(lo), json_number_value(hi));
		else if (json_is_number(lo))
			snprintf(rr, sizeof(rr), ">%g", json_number_value(lo));
		else if (json_is_number(hi))
			snprintf(rr, sizeof(rr), "<%g", json_number_value(hi));
		else
			rr[0] = '\0';
		art_fi_put(o, "reference_range", rr);
	}
	json_array_foreach(json_object_get(obs, "interpretation"), i, c) {
		const char *code = art_fi_str(json_array_get(json_object_get(c, "coding"), 0), "code");

		if (code && *code)
			json_array_append_new(flags, json_string(code));
	}
	json_object_set_new(o, "abnormal_flags", flags);
	json_object_set_new(o, "notes", json_array());
	json_array_foreach(json_object_get(obs, "note"), i, c)
		if (art_fi_str(c, "text"))
			json_array_append_new(json_object_get(o, "notes"),
					      json_string(art_fi_str(c, "text")));
	return o;
}

/* The event type of a result from its report status (docs/events.md). */
static const char *art_fi_result_type(const char *st)
{
	if (!st)
		return "result.preliminary";
	if (!strcmp(st, "C"))
		return "result.corrected";
	if (!strcmp(st, "X") || !strcmp(st, "W"))
		return "result.cancelled";
	if (!strcmp(st, "F"))
		return "result.final";
	return "result.preliminary";
}

/* A result event of one report: from a DiagnosticReport (rep) with the
 * Observations it lists, or from one lone Observation (rep NULL). */
static int art_fi_result(const struct art_fhir_in_ctx *ctx, json_t *bundle, json_t *rep,
			 json_t *lone, const char *event_id, struct art_canon_result *out,
			 char *errstr, size_t errstr_size)
{
	json_t *res = rep ? rep : lone, *report = json_object(), *observations = json_array(), *ev;
	const char *st;
	int rc;

	if (rep) {
		json_t *r;
		size_t i;

		art_fi_put_obj(report, "code", art_fi_concept(json_object_get(rep, "code")));
		json_array_foreach(json_object_get(rep, "result"), i, r) {
			json_t *obs = art_fi_resolve(bundle, art_fi_str(r, "reference"));

			if (obs)
				json_array_append_new(observations, art_fi_observation(obs));
		}
		art_fi_put_obj(report, "reported_at", art_fi_time(art_fi_str(rep, "issued")));
		art_fi_put(report, "filler_order_id",
			   art_fi_str(json_array_get(json_object_get(rep, "identifier"), 0), "value"));
	} else {
		json_array_append_new(observations, art_fi_observation(lone));
	}
	st = art_fi_result_status(art_fi_str(res, "status"));
	art_fi_put(report, "status", st);
	art_fi_put_obj(report, "observed_at", art_fi_time(art_fi_str(res, "effectiveDateTime")));
	json_object_set_new(report, "observations", observations);
	json_object_set_new(report, "notes", json_array());
	ev = art_fi_envelope(ctx, res, art_fi_result_type(st), event_id, art_fi_subject(bundle, res));
	json_object_set_new(ev, "reports", json_pack("[o]", report));
	rc = art_fi_emit(ctx, "canonical.result", ev, out, errstr, errstr_size);
	json_decref(ev);
	return rc;
}

/* ---- Encounter ---------------------------------------------------------------- */

static int art_fi_encounter(const struct art_fhir_in_ctx *ctx, json_t *bundle, json_t *res,
			    const char *event_id, struct art_canon_result *out, char *errstr,
			    size_t errstr_size)
{
	static const char *const types[][2] = {
		{"planned", "encounter.admit_pending"}, {"arrived", "encounter.arrived"},
		{"finished", "encounter.discharged"},   {"cancelled", "encounter.admit_cancelled"},
		{"onleave", "encounter.leave_started"},
	};
	static const char *const classes[][2] = {
		{"IMP", "I"}, {"AMB", "O"}, {"EMER", "E"}, {"PRENC", "P"}, {"OBSENC", "O"},
	};
	const char *status = art_fi_str(res, "status"), *type = "encounter.updated";
	json_t *ev, *cls = json_object_get(res, "class"), *loc, *hosp, *providers, *p;
	json_t *period = json_object_get(res, "period");
	size_t i;
	int rc;

	for (i = 0; status && i < ART_ARRAY_SIZE(types); i++)
		if (!strcmp(status, types[i][0]))
			type = types[i][1];
	ev = art_fi_envelope(ctx, res, type, event_id, art_fi_subject(bundle, res));
	art_fi_put(ev, "status", status);
	if (json_is_object(cls)) {
		json_t *c = art_fi_coding_of(cls, NULL);

		for (i = 0; c && art_fi_str(c, "code") && i < ART_ARRAY_SIZE(classes); i++)
			if (!strcmp(art_fi_str(c, "code"), classes[i][0])) {
				json_object_set_new(c, "code", json_string(classes[i][1]));
				json_object_del(c, "system");
			}
		art_fi_put_obj(ev, "class", c);
	}
	{
		json_t *ids = art_fi_identifiers(json_object_get(res, "identifier"));

		if (json_array_size(ids))
			json_object_set(ev, "visit_number", json_array_get(ids, 0));
		json_decref(ids);
	}
	loc = json_object_get(json_array_get(json_object_get(res, "location"), 0), "location");
	if (art_fi_str(loc, "display"))
		json_object_set_new(ev, "location",
				    json_pack("{s:s}", "description", art_fi_str(loc, "display")));
	art_fi_put_obj(ev, "admitted_at", art_fi_time(art_fi_str(period, "start")));
	art_fi_put_obj(ev, "discharged_at", art_fi_time(art_fi_str(period, "end")));
	hosp = json_object_get(res, "hospitalization");
	art_fi_put_obj(ev, "admit_source", art_fi_concept(json_object_get(hosp, "admitSource")));
	art_fi_put_obj(ev, "discharge_disposition",
		       art_fi_concept(json_object_get(hosp, "dischargeDisposition")));
	art_fi_put_obj(ev, "hospital_service",
		       art_fi_concept(json_object_get(res, "serviceType")));
	providers = json_array();
	json_array_foreach(json_object_get(res, "participant"), i, p) {
		json_t *ind = json_object_get(p, "individual");
		const char *ref = art_fi_str(ind, "reference");
		json_t *pr = json_pack("{s:[]}", "given");

		art_fi_put(pr, "family", art_fi_str(ind, "display"));
		art_fi_put(pr, "id", ref && strchr(ref, '/') ? strrchr(ref, '/') + 1 : ref);
		if (json_object_size(pr) > 1)
			json_array_append_new(providers, pr);
		else
			json_decref(pr);
	}
	json_object_set_new(ev, "attending_providers", providers);
	rc = art_fi_emit(ctx, "canonical.encounter", ev, out, errstr, errstr_size);
	json_decref(ev);
	return rc;
}

/* ---- dispatch ------------------------------------------------------------------ */

/* Whether Observation obs is listed by a DiagnosticReport of the Bundle. */
static int art_fi_listed(json_t *bundle, json_t *obs)
{
	json_t *entry, *r;
	size_t i, k;

	json_array_foreach(json_object_get(bundle, "entry"), i, entry) {
		json_t *rep = json_object_get(entry, "resource");
		const char *rt = art_fi_str(rep, "resourceType");

		if (!rt || strcmp(rt, "DiagnosticReport"))
			continue;
		json_array_foreach(json_object_get(rep, "result"), k, r)
			if (art_fi_resolve(bundle, art_fi_str(r, "reference")) == obs)
				return 1;
	}
	return 0;
}

/* Maps one resource at place index of the body. */
static int art_fi_one(const struct art_fhir_in_ctx *ctx, json_t *bundle, json_t *res, size_t index,
		      struct art_canon_result *out, char *errstr, size_t errstr_size)
{
	const char *rt = art_fi_str(res, "resourceType");
	char what[32], event_id[37];

	snprintf(what, sizeof(what), "fhir:%zu", index);
	art_derived_id(ctx->idempotency_key, what, event_id);
	if (!rt)
		return 0;
	if (!strcmp(rt, "Patient"))
		return art_fi_patient(ctx, res, event_id, out, errstr, errstr_size);
	if (!strcmp(rt, "DiagnosticReport"))
		return art_fi_result(ctx, bundle, res, NULL, event_id, out, errstr, errstr_size);
	if (!strcmp(rt, "Observation") && !(bundle && art_fi_listed(bundle, res)))
		return art_fi_result(ctx, bundle, NULL, res, event_id, out, errstr, errstr_size);
	if (!strcmp(rt, "Encounter"))
		return art_fi_encounter(ctx, bundle, res, event_id, out, errstr, errstr_size);
	return 0;
}

int art_fhir_in_map(json_t *body, const struct art_fhir_in_ctx *ctx, struct art_canon_result *out,
		    char *errstr, size_t errstr_size)
{
	const char *rt = art_fi_str(body, "resourceType");

	if (rt && !strcmp(rt, "Bundle")) {
		json_t *entry;
		size_t i;

		json_array_foreach(json_object_get(body, "entry"), i, entry)
			if (art_fi_one(ctx, body, json_object_get(entry, "resource"), i, out, errstr,
				       errstr_size))
				return -1;
	} else if (art_fi_one(ctx, NULL, body, 0, out, errstr, errstr_size)) {
		return -1;
	}
	return (int)out->cnt;
}

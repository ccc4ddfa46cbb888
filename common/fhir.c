/*
 * fhir.c — canonical event JSON → FHIR R4 resources (fhir.h). One static
 * function per domain builds the resources; small helpers guarantee what
 * the FHIR JSON Schema insists on (no empty strings, codes without stray
 * whitespace, dateTime/instant patterns). Ids are deterministic (SHA-256
 * of a seed formatted as a UUID), so a resend yields identical resources.
 */
#include "fhir.h"

#include "art.h"

#include <ctype.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define ART_FHIR_TEXT_MAX 4096 /* bytes of a composed display or reference */
#define ART_FHIR_RFC3986  "urn:ietf:rfc:3986"
#define ART_FHIR_IDEM_SYS "urn:artery:idempotency-key"
#define ART_FHIR_V2_CS    "http://terminology.hl7.org/CodeSystem/v2-"

/* What the domain builders share for one event. */
struct art_fhir_ctx {
	const struct art_fhir_conf *conf;
	const char *base;        /* identifier base */
	const json_t *ev;        /* the event */
	const char *event_id;    /* never NULL */
	const char *idem;        /* idempotency key, may be "" */
	const char *event_type;  /* e.g. "result.final" */
	const char *facility;    /* source.facility, else source.system, else channel */
	struct art_fhir_set *out;
	char purl[48];           /* fullUrl of the event's patient entry (entries move on realloc) */
	char *errstr;
	size_t errstr_size;
};

/* ---- small JSON readers ---------------------------------------------------- */

/* The non-empty string at key of obj, else NULL. */
static const char *art_fhir_str(const json_t *obj, const char *key)
{
	json_t *v = obj ? json_object_get(obj, key) : NULL;
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;

	return s && s[0] ? s : NULL;
}

/* The object at key of obj, else NULL. */
static json_t *art_fhir_obj(const json_t *obj, const char *key)
{
	json_t *v = obj ? json_object_get(obj, key) : NULL;

	return json_is_object(v) ? v : NULL;
}

/* The array at key of obj (possibly empty), else NULL. */
static json_t *art_fhir_arr(const json_t *obj, const char *key)
{
	json_t *v = obj ? json_object_get(obj, key) : NULL;

	return json_is_array(v) ? v : NULL;
}

/* 1 when s has a non-space character. */
static int art_fhir_has_text(const char *s)
{
	for (; s && *s; s++)
		if (!isspace((unsigned char)*s))
			return 1;
	return 0;
}

/* Sets key to a copy of s when s has text (FHIR strings are never empty). */
static void art_fhir_put_str(json_t *obj, const char *key, const char *s)
{
	if (art_fhir_has_text(s))
		json_object_set_new(obj, key, json_string(s));
}

/* A FHIR code: s trimmed, inner whitespace runs collapsed to one space
 * (the schema's pattern [^\s]+(\s[^\s]+)*), into buf. NULL when empty. */
static const char *art_fhir_code(const char *s, char *buf, size_t size)
{
	size_t n = 0;
	int space = 0;

	if (!s)
		return NULL;
	for (; *s && n + 2 < size; s++) {
		if (isspace((unsigned char)*s)) {
			space = n > 0;
			continue;
		}
		if (space)
			buf[n++] = ' ';
		space = 0;
		buf[n++] = *s;
	}
	buf[n] = '\0';
	return n ? buf : NULL;
}

/* Sets key to the normalised code s when it has one. */
static void art_fhir_put_code(json_t *obj, const char *key, const char *s)
{
	char buf[256];
	const char *c = art_fhir_code(s, buf, sizeof(buf));

	if (c)
		json_object_set_new(obj, key, json_string(c));
}

/* A uuid-formatted SHA-256 of the NUL-terminated parts (joined with
 * '\x1f'), into out (37 bytes). */
static void art_fhir_uuid(char out[37], const char *const *parts, size_t cnt)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *mdctx = EVP_MD_CTX_new();
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	memset(md, 0, sizeof(md));
	if (mdctx && EVP_DigestInit_ex(mdctx, EVP_sha256(), NULL) == 1) {
		EVP_DigestUpdate(mdctx, "artery.fhir.v1", 14);
		for (size_t i = 0; i < cnt; i++) {
			EVP_DigestUpdate(mdctx, "\x1f", 1);
			EVP_DigestUpdate(mdctx, parts[i] ? parts[i] : "", parts[i] ? strlen(parts[i]) : 0);
		}
		EVP_DigestFinal_ex(mdctx, md, &mdlen);
	}
	EVP_MD_CTX_free(mdctx);
	md[6] = (unsigned char)((md[6] & 0x0f) | 0x80); /* version 8: custom */
	md[8] = (unsigned char)((md[8] & 0x3f) | 0x80); /* RFC 9562 variant */
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[md[i] >> 4];
		out[o++] = hex[md[i] & 15];
	}
	out[o] = '\0';
}

/* ---- identifiers, search values ------------------------------------------- */

/* 1 when s is an OID: digits separated by single dots, starting with 0-2. */
static int art_fhir_is_oid(const char *s)
{
	int dots = 0;

	if (!s || (s[0] < '0' || s[0] > '2'))
		return 0;
	for (const char *p = s; *p; p++) {
		if (*p == '.') {
			if (p[1] == '.' || p[1] == '\0')
				return 0;
			dots++;
		} else if (!isdigit((unsigned char)*p)) {
			return 0;
		}
	}
	return dots >= 1;
}

/* 1 when s is an absolute URI of a scheme identifiers use (urn:, http:,
 * https:) without spaces: "Sending-Facility:lab" is a name, not a URI. */
static int art_fhir_is_uri(const char *s)
{
	if (!s || (strncasecmp(s, "urn:", 4) && strncasecmp(s, "http://", 7) &&
	           strncasecmp(s, "https://", 8)))
		return 0;
	for (const char *p = s; *p; p++)
		if (isspace((unsigned char)*p))
			return 0;
	return s[strlen(s) - 1] != ':';
}

/* Appends s percent-encoded (unreserved characters and `keep` kept) to
 * buf of size at *n. */
static void art_fhir_pct(char *buf, size_t size, size_t *n, const char *s, const char *keep)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || (keep && strchr(keep, c))) {
			if (*n + 1 >= size)
				break;
			buf[(*n)++] = (char)c;
		} else {
			if (*n + 3 >= size)
				break;
			buf[(*n)++] = '%';
			buf[(*n)++] = hex[c >> 4];
			buf[(*n)++] = hex[c & 15];
		}
	}
	buf[*n] = '\0';
}

char *art_fhir_system(const char *base, const char *authority, char *buf, size_t size)
{
	size_t n;

	if (!authority || !authority[0])
		authority = "unknown";
	if (art_fhir_is_oid(authority)) {
		snprintf(buf, size, "urn:oid:%s", authority);
		return buf;
	}
	if (art_fhir_is_uri(authority)) {
		snprintf(buf, size, "%s", authority);
		return buf;
	}
	snprintf(buf, size, "%s", base ? base : ART_FHIR_DEFAULT_BASE);
	n = strlen(buf);
	art_fhir_pct(buf, size, &n, authority, NULL);
	return buf;
}

/* The system of identifiers of kind ("patient", "visit", "filler-order"...)
 * assigned within name (a facility or a non-URI authority): base +
 * percent-encoded name + "/" + kind, into buf. Returns buf. */
static char *art_fhir_scoped(const struct art_fhir_ctx *x, const char *name, const char *kind,
                             char *buf, size_t size)
{
	size_t n;

	snprintf(buf, size, "%s", x->base);
	n = strlen(buf);
	art_fhir_pct(buf, size, &n, name && name[0] ? name : "unknown", NULL);
	if (n + 1 < size)
		snprintf(buf + n, size - n, "/%s", kind);
	return buf;
}

/* The search parameter value "system|value" of a token search, with the
 * token escapes (\ | , $) and URL percent-encoding, into buf. */
static void art_fhir_token(const char *system, const char *value, char *buf, size_t size)
{
	char esc[1024];
	size_t n = 0, e = 0;
	const char *parts[2] = {system, value};

	buf[0] = '\0';
	for (int k = 0; k < 2; k++) {
		e = 0;
		for (const char *p = parts[k]; p && *p && e + 3 < sizeof(esc); p++) {
			if (*p == '\\' || *p == '|' || *p == ',' || *p == '$')
				esc[e++] = '\\';
			esc[e++] = *p;
		}
		esc[e] = '\0';
		art_fhir_pct(buf, size, &n, esc, ":/");
		if (k == 0 && n + 1 < size) {
			buf[n++] = '|';
			buf[n] = '\0';
		}
	}
}

/* A new Identifier {system, value[, type code]} (value must have text). */
static json_t *art_fhir_identifier(const char *system, const char *value, const char *type_code)
{
	json_t *id = json_object();

	art_fhir_put_str(id, "system", system);
	art_fhir_put_str(id, "value", value);
	if (type_code) {
		char buf[64];

		if (art_fhir_code(type_code, buf, sizeof(buf)))
			json_object_set_new(
			    id, "type",
			    json_pack("{s:[{s:s,s:s}]}", "coding", "system",
			              "http://terminology.hl7.org/CodeSystem/v2-0203", "code", buf));
	}
	return id;
}

/* ---- codings and times ---------------------------------------------------- */

/* The FHIR system URI of a canonical coding system (HL7 table 0396 names,
 * "HL7nnnn" tables, URIs kept, anything else under the base). */
static const char *art_fhir_cs(const struct art_fhir_ctx *x, const char *sys, char *buf,
                               size_t size)
{
	static const struct {
		const char *name, *uri;
	} known[] = {
	    {"LN", "http://loinc.org"},          {"LOINC", "http://loinc.org"},
	    {"SCT", "http://snomed.info/sct"},   {"SNM", "http://snomed.info/sct"},
	    {"SNOMED", "http://snomed.info/sct"}, {"CVX", "http://hl7.org/fhir/sid/cvx"},
	    {"MVX", "http://hl7.org/fhir/sid/mvx"}, {"NDC", "http://hl7.org/fhir/sid/ndc"},
	    {"UCUM", "http://unitsofmeasure.org"}, {"I10", "http://hl7.org/fhir/sid/icd-10"},
	    {"I10C", "http://hl7.org/fhir/sid/icd-10-cm"}, {"I9C", "http://hl7.org/fhir/sid/icd-9-cm"},
	    {"RXNORM", "http://www.nlm.nih.gov/research/umls/rxnorm"},
	    {"CPT", "http://www.ama-assn.org/go/cpt"},
	};

	if (!sys)
		return NULL;
	for (size_t i = 0; i < ART_ARRAY_SIZE(known); i++)
		if (!strcasecmp(sys, known[i].name))
			return known[i].uri;
	if (!strncasecmp(sys, "HL7", 3) && strlen(sys) == 7 && isdigit((unsigned char)sys[3])) {
		snprintf(buf, size, "%s%s", ART_FHIR_V2_CS, sys + 3);
		return buf;
	}
	if (art_fhir_is_oid(sys) || art_fhir_is_uri(sys))
		return art_fhir_system(x->base, sys, buf, size);
	{
		char name[128];

		snprintf(name, sizeof(name), "codesystem:%s", sys);
		return art_fhir_system(x->base, name, buf, size);
	}
}

/* A FHIR Coding from a canonical Coding, or NULL when it has no code and
 * no display. */
static json_t *art_fhir_coding(const struct art_fhir_ctx *x, const json_t *c)
{
	char sbuf[512];
	json_t *out;
	const char *code = art_fhir_str(c, "code"), *display = art_fhir_str(c, "display");

	if (!art_fhir_has_text(code) && !art_fhir_has_text(display))
		return NULL;
	out = json_object();
	if (art_fhir_has_text(code)) {
		const char *sys = art_fhir_cs(x, art_fhir_str(c, "system"), sbuf, sizeof(sbuf));

		art_fhir_put_str(out, "system", sys);
		art_fhir_put_code(out, "code", code);
	}
	art_fhir_put_str(out, "display", display);
	return out;
}

/* Sets obj[key] to the array arr when it has elements; frees it
 * otherwise (FHIR forbids empty arrays). Takes arr. */
static void art_fhir_put_nonempty(json_t *obj, const char *key, json_t *arr)
{
	if (json_array_size(arr))
		json_object_set_new(obj, key, arr);
	else
		json_decref(arr);
}

/* A CodeableConcept from a canonical Coding, or NULL. */
static json_t *art_fhir_cc(const struct art_fhir_ctx *x, const json_t *c)
{
	json_t *coding = art_fhir_coding(x, c);
	json_t *cc;

	if (!coding)
		return NULL;
	cc = json_object();
	if (json_object_get(coding, "code"))
		json_object_set_new(cc, "coding", json_pack("[o]", coding));
	else
		json_decref(coding);
	art_fhir_put_str(cc, "text", art_fhir_str(c, "display"));
	return cc;
}

/* Sets key to the CodeableConcept of canonical coding c when there is one. */
static void art_fhir_put_cc(const struct art_fhir_ctx *x, json_t *obj, const char *key,
                            const json_t *c)
{
	json_t *cc = json_is_object(c) ? art_fhir_cc(x, c) : NULL;

	if (cc)
		json_object_set_new(obj, key, cc);
}

/* A CodeableConcept with only text (for required elements left unknown). */
static json_t *art_fhir_cc_text(const char *text)
{
	return json_pack("{s:s}", "text", text);
}

/* A CodeableConcept {coding: [{system, code}]}. */
static json_t *art_fhir_cc_code(const char *system, const char *code)
{
	return json_pack("{s:[{s:s,s:s}]}", "coding", "system", system, "code", code);
}

int art_fhir_datetime(const json_t *ts, int instant, char *buf, size_t size)
{
	json_t *mv = json_object_get(ts, "micros");
	json_t *ov = json_object_get(ts, "utc_offset_minutes");
	const char *prec = art_fhir_str(ts, "precision");
	int64_t micros, secs, frac;
	int off = json_is_integer(ov) ? (int)json_integer_value(ov) : 0;
	int has_off = json_is_integer(ov);
	struct tm tm;
	time_t t;
	char zone[16];
	int p = 5; /* 0 year .. 5 second, 6 milli, 7 micro */

	if (!json_is_integer(mv))
		return -1;
	micros = json_integer_value(mv) + (int64_t)off * 60 * 1000000;
	secs = micros / 1000000;
	frac = micros % 1000000;
	if (frac < 0) {
		frac += 1000000;
		secs--;
	}
	t = (time_t)secs;
	if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 1 || tm.tm_year + 1900 > 9999)
		return -1;
	if (prec) {
		static const char *const names[] = {"year", "month", "day", "hour",
		                                    "minute", "second", "millisecond", "microsecond"};

		for (int i = 0; i < 8; i++)
			if (!strcmp(prec, names[i]))
				p = i;
	}
	if (instant && p < 5)
		p = 5;
	if (p == 0)
		return snprintf(buf, size, "%04d", tm.tm_year + 1900) < (int)size ? 0 : -1;
	if (p == 1)
		return snprintf(buf, size, "%04d-%02d", tm.tm_year + 1900, tm.tm_mon + 1) < (int)size ? 0 : -1;
	if (p == 2)
		return snprintf(buf, size, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1,
		                tm.tm_mday) < (int)size
		           ? 0
		           : -1;
	if (has_off && off != 0)
		snprintf(zone, sizeof(zone), "%c%02d:%02d", off < 0 ? '-' : '+', abs(off) / 60,
		         abs(off) % 60);
	else
		snprintf(zone, sizeof(zone), "%s", has_off ? "+00:00" : "Z");
	if (p <= 5)
		return snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d%s", tm.tm_year + 1900,
		                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, p >= 4 ? tm.tm_min : 0,
		                p >= 5 ? tm.tm_sec : 0, zone) < (int)size
		           ? 0
		           : -1;
	if (p == 6)
		return snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03d%s", tm.tm_year + 1900,
		                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		                (int)(frac / 1000), zone) < (int)size
		           ? 0
		           : -1;
	return snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06d%s", tm.tm_year + 1900,
	                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac,
	                zone) < (int)size
	           ? 0
	           : -1;
}

/* Sets key to the dateTime (or instant) of the Timestamp at tskey of src. */
static int art_fhir_put_time(json_t *obj, const char *key, const json_t *src, const char *tskey,
                             int instant)
{
	char buf[64];
	json_t *ts = art_fhir_obj(src, tskey);

	if (!ts || art_fhir_datetime(ts, instant, buf, sizeof(buf)) == -1)
		return -1;
	json_object_set_new(obj, key, json_string(buf));
	return 0;
}

/* Sets key to a FHIR date (at most day precision) of the Timestamp. */
static void art_fhir_put_date(json_t *obj, const char *key, const json_t *src, const char *tskey)
{
	char buf[64];
	json_t *ts = art_fhir_obj(src, tskey);

	if (ts && art_fhir_datetime(ts, 0, buf, sizeof(buf)) == 0) {
		if (strlen(buf) > 10)
			buf[10] = '\0';
		json_object_set_new(obj, key, json_string(buf));
	}
}

/* A finite JSON number from a canonical double (which may be the strings
 * "NaN"/"Infinity"), or NULL. */
static json_t *art_fhir_number(const json_t *v)
{
	if (json_is_real(v) || json_is_integer(v))
		return json_real(json_number_value(v));
	return NULL;
}

/* Sets key to "<array> joined with \n" of the strings in arr (notes). */
static void art_fhir_put_notes(json_t *obj, const json_t *arr)
{
	size_t i;
	json_t *v, *notes = json_array();

	json_array_foreach(arr, i, v) {
		if (json_is_string(v) && art_fhir_has_text(json_string_value(v)))
			json_array_append_new(notes, json_pack("{s:s}", "text", json_string_value(v)));
	}
	art_fhir_put_nonempty(obj, "note", notes);
}

/* "Family Given Given" of a canonical Provider or HumanName into buf. */
static const char *art_fhir_person_name(const json_t *p, char *buf, size_t size)
{
	size_t n = 0, i;
	json_t *g;
	const char *fam = art_fhir_str(p, "family");

	buf[0] = '\0';
	json_array_foreach(art_fhir_arr(p, "given"), i, g) {
		if (json_is_string(g) && json_string_value(g)[0]) {
			int w = snprintf(buf + n, size - n, "%s%s", n ? " " : "", json_string_value(g));

			if (w < 0 || (size_t)w >= size - n)
				break;
			n += (size_t)w;
		}
	}
	if (fam && n + 2 < size)
		snprintf(buf + n, size - n, "%s%s", n ? " " : "", fam);
	return art_fhir_has_text(buf) ? buf : NULL;
}

/* A Reference to a practitioner given as a canonical Provider: identifier
 * (id + authority) and display; NULL when it has neither. */
static json_t *art_fhir_provider_ref(const struct art_fhir_ctx *x, const json_t *p)
{
	char name[512], sys[512];
	const char *id = art_fhir_str(p, "id");
	json_t *ref;

	if (!json_is_object(p))
		return NULL;
	art_fhir_person_name(p, name, sizeof(name));
	if (!art_fhir_has_text(id) && !name[0])
		return NULL;
	ref = json_pack("{s:s}", "type", "Practitioner");
	if (art_fhir_has_text(id)) {
		const char *auth = art_fhir_str(p, "assigning_authority");

		if (!auth) {
			art_fhir_scoped(x, x->facility, "practitioner", sys, sizeof(sys));
		} else {
			art_fhir_system(x->base, auth, sys, sizeof(sys));
		}
		json_object_set_new(ref, "identifier", art_fhir_identifier(sys, id, NULL));
	}
	art_fhir_put_str(ref, "display", name);
	return ref;
}

/* Appends conv(x, e) for every element e of src to dst, skipping the
 * elements conv turns into nothing. */
static void art_fhir_append_each(const struct art_fhir_ctx *x, json_t *dst, json_t *src,
				 json_t *(*conv)(const struct art_fhir_ctx *, const json_t *))
{
	size_t i;
	json_t *e;

	json_array_foreach(src, i, e) {
		json_t *v = conv(x, e);

		if (v)
			json_array_append_new(dst, v);
	}
}


/* "point of care, room, bed, facility" of a canonical Location. */
static const char *art_fhir_location_text(const json_t *loc, char *buf, size_t size)
{
	static const char *const keys[] = {"description", "point_of_care", "room", "bed",
	                                   "floor", "building", "facility"};
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < ART_ARRAY_SIZE(keys); i++) {
		const char *s = art_fhir_str(loc, keys[i]);

		if (s && art_fhir_has_text(s)) {
			int w = snprintf(buf + n, size - n, "%s%s", n ? ", " : "", s);

			if (w < 0 || (size_t)w >= size - n)
				break;
			n += (size_t)w;
		}
	}
	return buf[0] ? buf : NULL;
}

/* ---- entries -------------------------------------------------------------- */

/* Appends an entry for resource (taken) with id from seed parts; method
 * "PUT" when cond_sys/cond_val key a conditional update, "POST" with
 * ifNoneExist when create_only. Returns the entry or NULL (errstr set). */
static struct art_fhir_entry *art_fhir_add(struct art_fhir_ctx *x, const char *type,
                                           json_t *resource, const char *cond_sys,
                                           const char *cond_val, int create_only)
{
	struct art_fhir_set *s = x->out;
	struct art_fhir_entry *e;
	char token[2048], url[2200];
	const char *seed[3] = {type, cond_sys, cond_val};

	if (s->cnt == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 8;
		struct art_fhir_entry *n;

		if (s->cnt >= ART_FHIR_MAX_ENTRIES) {
			json_decref(resource);
			snprintf(x->errstr, x->errstr_size, "more than %d FHIR resources from one event",
			         ART_FHIR_MAX_ENTRIES);
			return NULL;
		}
		n = realloc(s->entries, ncap * sizeof(*n));
		if (!n) {
			json_decref(resource);
			snprintf(x->errstr, x->errstr_size, "out of memory");
			return NULL;
		}
		s->entries = n;
		s->cap = ncap;
	}
	e = &s->entries[s->cnt++];
	memset(e, 0, sizeof(*e));
	e->resource = resource;
	snprintf(e->type, sizeof(e->type), "%s", type);
	art_fhir_uuid(e->id, seed, 3);
	memcpy(e->full_url, "urn:uuid:", 9);
	memcpy(e->full_url + 9, e->id, sizeof(e->id) < sizeof(e->full_url) - 9 ? sizeof(e->id) : 37);
	json_object_set_new(resource, "resourceType", json_string(type));
	json_object_set_new(resource, "id", json_string(e->id));
	if (x->idem && x->idem[0])
		json_object_set_new(resource, "meta",
		                    json_pack("{s:[{s:s,s:s}]}", "tag", "system", ART_FHIR_IDEM_SYS,
		                              "code", x->idem));
	art_fhir_token(cond_sys, cond_val, token, sizeof(token));
	if (create_only) {
		e->url = strdup(type);
		snprintf(url, sizeof(url), "identifier=%s", token);
		e->if_none_exist = strdup(url);
		e->stub = 1;
	} else {
		snprintf(url, sizeof(url), "%s?identifier=%s", type, token);
		e->url = strdup(url);
	}
	if (!e->url || (create_only && !e->if_none_exist)) {
		snprintf(x->errstr, x->errstr_size, "out of memory");
		return NULL;
	}
	return e;
}

/* A Reference {reference: full_url}. Takes the URL, not the entry:
 * entries move when the set grows. */
static json_t *art_fhir_ref(const char *full_url)
{
	return json_pack("{s:s}", "reference", full_url);
}

/* The patient's key identifier: MR, else PI, else the first with a value
 * (the partition key's rule, docs/events.md), into sys/val. -1 if none. */
static int art_fhir_patient_key(struct art_fhir_ctx *x, const json_t *pat, char *sys,
                                size_t sys_size, const char **val)
{
	json_t *ids = art_fhir_arr(pat, "identifiers"), *id, *best = NULL;
	size_t i;
	static const char *const pref[] = {"MR", "PI", NULL};

	for (size_t k = 0; k < ART_ARRAY_SIZE(pref) && !best; k++)
		json_array_foreach(ids, i, id) {
			const char *t = art_fhir_str(id, "type");

			if (!art_fhir_has_text(art_fhir_str(id, "value")))
				continue;
			if (!pref[k] || (t && !strcasecmp(t, pref[k]))) {
				best = id;
				break;
			}
		}
	if (!best)
		return -1;
	*val = art_fhir_str(best, "value");
	if (art_fhir_str(best, "assigning_authority"))
		art_fhir_system(x->base, art_fhir_str(best, "assigning_authority"), sys, sys_size);
	else {
		art_fhir_scoped(x, x->facility, "patient", sys, sys_size);
	}
	return 0;
}

/* Fills a Patient resource from PatientRef pat and, for canonical.patient
 * events, the demographics of ev. */
static void art_fhir_patient_fill(struct art_fhir_ctx *x, json_t *res, const json_t *pat,
                                  const json_t *ev)
{
	json_t *arr, *v, *ids = json_array();
	size_t i;
	char sys[512];

	json_array_foreach(art_fhir_arr(pat, "identifiers"), i, v) {
		const char *val = art_fhir_str(v, "value"), *auth = art_fhir_str(v, "assigning_authority");

		if (!art_fhir_has_text(val))
			continue;
		if (auth) {
			art_fhir_system(x->base, auth, sys, sizeof(sys));
		} else {
			art_fhir_scoped(x, x->facility, "patient", sys, sizeof(sys));
		}
		json_array_append_new(ids, art_fhir_identifier(sys, val, art_fhir_str(v, "type")));
	}
	json_object_set_new(res, "identifier", ids);
	arr = json_array();
	json_array_foreach(art_fhir_arr(pat, "names"), i, v) {
		json_t *n = json_object(), *given = json_array(), *g;
		size_t j;
		const char *use = art_fhir_str(v, "use");

		art_fhir_put_str(n, "family", art_fhir_str(v, "family"));
		json_array_foreach(art_fhir_arr(v, "given"), j, g) {
			if (json_is_string(g) && art_fhir_has_text(json_string_value(g)))
				json_array_append(given, g);
		}
		art_fhir_put_nonempty(n, "given", given);
		if (art_fhir_has_text(art_fhir_str(v, "prefix")))
			json_object_set_new(n, "prefix", json_pack("[s]", art_fhir_str(v, "prefix")));
		if (art_fhir_has_text(art_fhir_str(v, "suffix")))
			json_object_set_new(n, "suffix", json_pack("[s]", art_fhir_str(v, "suffix")));
		if (use) {
			static const char *const map[][2] = {{"L", "official"}, {"D", "usual"},
			                                     {"M", "maiden"},   {"N", "nickname"},
			                                     {"A", "anonymous"}, {"C", "old"}};

			for (size_t k = 0; k < ART_ARRAY_SIZE(map); k++)
				if (!strcmp(use, map[k][0]))
					json_object_set_new(n, "use", json_string(map[k][1]));
		}
		if (json_object_size(n))
			json_array_append_new(arr, n);
		else
			json_decref(n);
	}
	art_fhir_put_nonempty(res, "name", arr);
	{
		const char *sex = art_fhir_str(pat, "sex");
		static const char *const map[][2] = {{"F", "female"}, {"M", "male"}, {"O", "other"},
		                                     {"A", "other"},  {"U", "unknown"}, {"N", "unknown"}};

		for (size_t k = 0; sex && k < ART_ARRAY_SIZE(map); k++)
			if (!strcasecmp(sex, map[k][0]))
				json_object_set_new(res, "gender", json_string(map[k][1]));
	}
	{
		const char *bd = art_fhir_str(pat, "birth_date");

		if (bd && strlen(bd) <= 10 && isdigit((unsigned char)bd[0]))
			json_object_set_new(res, "birthDate", json_string(bd));
	}
	if (!ev)
		return;
	/* demographics carried by canonical.patient only */
	arr = json_array();
	json_array_foreach(art_fhir_arr(ev, "telecoms"), i, v) {
		json_t *t = json_object();
		const char *tsys = art_fhir_str(v, "system"), *use = art_fhir_str(v, "use");

		art_fhir_put_str(t, "value", art_fhir_str(v, "value"));
		if (!json_object_get(t, "value")) {
			json_decref(t);
			continue;
		}
		if (tsys && (!strcasecmp(tsys, "Internet") || !strcasecmp(tsys, "X.400")))
			json_object_set_new(t, "system", json_string("email"));
		else if (tsys && !strcasecmp(tsys, "FX"))
			json_object_set_new(t, "system", json_string("fax"));
		else if (tsys && !strcasecmp(tsys, "BP"))
			json_object_set_new(t, "system", json_string("pager"));
		else
			json_object_set_new(t, "system", json_string("phone"));
		if (tsys && !strcasecmp(tsys, "CP"))
			json_object_set_new(t, "use", json_string("mobile"));
		else if (use && !strcmp(use, "WPN"))
			json_object_set_new(t, "use", json_string("work"));
		else if (use && (!strcmp(use, "PRN") || !strcmp(use, "ORN") || !strcmp(use, "VHN")))
			json_object_set_new(t, "use", json_string("home"));
		json_array_append_new(arr, t);
	}
	art_fhir_put_nonempty(res, "telecom", arr);
	if (json_is_true(json_object_get(ev, "deceased")) && art_fhir_obj(ev, "deceased_at"))
		art_fhir_put_time(res, "deceasedDateTime", ev, "deceased_at", 0);
	else if (json_is_boolean(json_object_get(ev, "deceased")))
		json_object_set(res, "deceasedBoolean", json_object_get(ev, "deceased"));
	arr = json_array();
	json_array_foreach(art_fhir_arr(ev, "addresses"), i, v) {
		json_t *a = json_object(), *lines = json_array(), *l;
		size_t j;
		const char *use = art_fhir_str(v, "use");

		json_array_foreach(art_fhir_arr(v, "lines"), j, l) {
			if (json_is_string(l) && art_fhir_has_text(json_string_value(l)))
				json_array_append(lines, l);
		}
		art_fhir_put_nonempty(a, "line", lines);
		art_fhir_put_str(a, "city", art_fhir_str(v, "city"));
		art_fhir_put_str(a, "state", art_fhir_str(v, "state"));
		art_fhir_put_str(a, "postalCode", art_fhir_str(v, "postal_code"));
		art_fhir_put_str(a, "country", art_fhir_str(v, "country"));
		if (use && (!strcmp(use, "H") || !strcmp(use, "P")))
			json_object_set_new(a, "use", json_string("home"));
		else if (use && (!strcmp(use, "B") || !strcmp(use, "O")))
			json_object_set_new(a, "use", json_string("work"));
		else if (use && !strcmp(use, "C"))
			json_object_set_new(a, "use", json_string("temp"));
		if (json_object_size(a))
			json_array_append_new(arr, a);
		else
			json_decref(a);
	}
	art_fhir_put_nonempty(res, "address", arr);
	art_fhir_put_cc(x, res, "maritalStatus", art_fhir_obj(ev, "marital_status"));
	{
		json_t *lang = art_fhir_obj(ev, "language");
		json_t *cc = lang ? art_fhir_cc(x, lang) : NULL;

		if (cc)
			json_object_set_new(res, "communication", json_pack("[{s:o}]", "language", cc));
	}
}

/* Adds the patient the event is about: a full conditional update for
 * canonical.patient (full = 1), else a conditional-create stub. Returns
 * the entry, or NULL (errstr set) when the event has no usable patient. */
static struct art_fhir_entry *art_fhir_patient(struct art_fhir_ctx *x, int full)
{
	json_t *pat = art_fhir_obj(x->ev, "patient");
	char sys[512];
	const char *val = NULL;
	json_t *res;

	if (!pat || art_fhir_patient_key(x, pat, sys, sizeof(sys), &val) == -1) {
		snprintf(x->errstr, x->errstr_size, "event %s has no patient identifier", x->event_id);
		return NULL;
	}
	struct art_fhir_entry *e;

	res = json_object();
	art_fhir_patient_fill(x, res, pat, full ? x->ev : NULL);
	e = art_fhir_add(x, "Patient", res, sys, val, !full);
	if (e)
		snprintf(x->purl, sizeof(x->purl), "%s", e->full_url);
	return e;
}

/* ---- domains ---------------------------------------------------------------- */

static int art_fhir_do_patient(struct art_fhir_ctx *x)
{
	struct art_fhir_entry *pe = art_fhir_patient(x, 1);
	json_t *merge, *v;
	size_t i;

	if (!pe)
		return -1;
	if (!strcmp(x->event_type, "patient.deleted"))
		json_object_set_new(pe->resource, "active", json_false());
	else
		json_object_set_new(pe->resource, "active", json_true());
	merge = art_fhir_obj(x->ev, "merge");
	if (merge) {
		json_t *links = json_array();

		json_array_foreach(art_fhir_arr(merge, "prior_identifiers"), i, v) {
			const char *val = art_fhir_str(v, "value"), *auth = art_fhir_str(v, "assigning_authority");
			char sys[512];

			if (!art_fhir_has_text(val))
				continue;
			if (auth) {
				art_fhir_system(x->base, auth, sys, sizeof(sys));
			} else {
				art_fhir_scoped(x, x->facility, "patient", sys, sizeof(sys));
			}
			json_array_append_new(
			    links, json_pack("{s:{s:s,s:o},s:s}", "other", "type", "Patient", "identifier",
			                     art_fhir_identifier(sys, val, NULL), "type", "replaces"));
		}
		if (json_array_size(links))
			json_object_set_new(pe->resource, "link", links);
		else
			json_decref(links);
	}
	return 0;
}

/* FHIR Observation.status of an OBX-11 / report status code. */
static const char *art_fhir_obs_status(const char *s, int report)
{
	if (!s)
		return report ? "unknown" : "unknown";
	switch (s[0]) {
	case 'F':
		return "final";
	case 'P':
	case 'A':
		return report ? "partial" : "preliminary";
	case 'C':
		return report ? "corrected" : "corrected";
	case 'X':
		return "cancelled";
	case 'D':
	case 'W':
		return "entered-in-error";
	case 'R':
	case 'I':
	case 'S':
	case 'O':
		return "registered";
	default:
		return "unknown";
	}
}

/* Fills the value[x], interpretation, range, notes of an Observation from
 * a canonical Observation. */
static void art_fhir_obs_value(struct art_fhir_ctx *x, json_t *res, const json_t *o)
{
	json_t *num = art_fhir_number(json_object_get(o, "value_number"));
	json_t *num2 = art_fhir_number(json_object_get(o, "value_number2"));
	json_t *units = art_fhir_obj(o, "units"), *cc, *flags, *f;
	const char *cmp = art_fhir_str(o, "value_comparator"), *sep = art_fhir_str(o, "value_separator");
	size_t i;

	if (num && num2 && sep && (!strcmp(sep, ":") || !strcmp(sep, "/"))) {
		json_object_set_new(res, "valueRatio",
		                    json_pack("{s:{s:o},s:{s:o}}", "numerator", "value", num,
		                              "denominator", "value", num2));
		num = num2 = NULL;
	} else if (num && num2 && sep && !strcmp(sep, "-")) {
		json_object_set_new(res, "valueRange",
		                    json_pack("{s:{s:o},s:{s:o}}", "low", "value", num, "high", "value",
		                              num2));
		num = num2 = NULL;
	} else if (num) {
		json_t *q = json_pack("{s:o}", "value", num);
		const char *ucode = art_fhir_str(units, "code"), *utext = art_fhir_str(units, "display");
		char sbuf[512];

		num = NULL;
		if (cmp && (!strcmp(cmp, "<") || !strcmp(cmp, "<=") || !strcmp(cmp, ">=") ||
		            !strcmp(cmp, ">")))
			json_object_set_new(q, "comparator", json_string(cmp));
		art_fhir_put_str(q, "unit", utext ? utext : ucode);
		if (ucode) {
			const char *usys = art_fhir_str(units, "system");

			art_fhir_put_str(q, "system",
			                 usys ? art_fhir_cs(x, usys, sbuf, sizeof(sbuf)) : "http://unitsofmeasure.org");
			art_fhir_put_code(q, "code", ucode);
		}
		json_object_set_new(res, "valueQuantity", q);
	} else if ((cc = art_fhir_obj(o, "value_coding") ? art_fhir_cc(x, art_fhir_obj(o, "value_coding")) : NULL)) {
		json_object_set_new(res, "valueCodeableConcept", cc);
	} else if (art_fhir_put_time(res, "valueDateTime", o, "value_time", 0) == 0) {
		/* set */
	} else if (art_fhir_has_text(art_fhir_str(o, "value_text"))) {
		json_object_set_new(res, "valueString", json_string(art_fhir_str(o, "value_text")));
	}
	json_decref(num);
	json_decref(num2);
	flags = json_array();
	json_array_foreach(art_fhir_arr(o, "abnormal_flags"), i, f) {
		char buf[32];

		if (json_is_string(f) && art_fhir_code(json_string_value(f), buf, sizeof(buf)))
			json_array_append_new(
			    flags, art_fhir_cc_code("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
			                            buf));
	}
	art_fhir_put_nonempty(res, "interpretation", flags);
	if (art_fhir_has_text(art_fhir_str(o, "reference_range")))
		json_object_set_new(res, "referenceRange",
		                    json_pack("[{s:s}]", "text", art_fhir_str(o, "reference_range")));
	art_fhir_put_notes(res, art_fhir_arr(o, "notes"));
}

/* Adds an Observation entry for canonical observation o, keyed by
 * key_sys|key_val; returns it or NULL. */
static struct art_fhir_entry *art_fhir_observation(struct art_fhir_ctx *x, const json_t *o,
                                                   const struct art_fhir_entry *pe,
                                                   const char *key_sys, const char *key_val,
                                                   const json_t *fallback_time)
{
	json_t *res = json_object();
	json_t *code = art_fhir_obj(o, "code");
	json_t *cc = code ? art_fhir_cc(x, code) : NULL;

	json_object_set_new(res, "identifier", json_pack("[o]", art_fhir_identifier(key_sys, key_val, NULL)));
	json_object_set_new(res, "status", json_string(art_fhir_obs_status(art_fhir_str(o, "status"), 0)));
	json_object_set_new(res, "code", cc ? cc : art_fhir_cc_text("unknown"));
	if (pe)
		json_object_set_new(res, "subject", art_fhir_ref(x->purl));
	if (art_fhir_put_time(res, "effectiveDateTime", o, "observed_at", 0) == -1 && fallback_time)
		json_object_set(res, "effectiveDateTime", (json_t *)fallback_time);
	art_fhir_obs_value(x, res, o);
	return art_fhir_add(x, "Observation", res, key_sys, key_val, 0);
}

/* The system of order numbers assigned by authority (else the sending
 * facility), kind "filler" or "placer", into buf. */
static const char *art_fhir_order_system(struct art_fhir_ctx *x, const char *authority,
                                         const char *kind, char *buf, size_t size)
{
	char scoped[64];

	if (authority && (art_fhir_is_oid(authority) || art_fhir_is_uri(authority)))
		return art_fhir_system(x->base, authority, buf, size);
	snprintf(scoped, sizeof(scoped), "%s-order", kind);
	return art_fhir_scoped(x, authority ? authority : x->facility, scoped, buf, size);
}

static int art_fhir_do_result(struct art_fhir_ctx *x)
{
	struct art_fhir_entry *pe = art_fhir_patient(x, 0);
	json_t *reports = art_fhir_arr(x->ev, "reports"), *r, *o;
	size_t i, j;

	if (!pe)
		return -1;
	json_array_foreach(reports, i, r) {
		char sys[512], val[600], osys[512], oval[700];
		const char *filler = art_fhir_str(r, "filler_order_id");
		const char *placer = art_fhir_str(r, "placer_order_id");
		json_t *dr = json_object(), *results = json_array(), *ids = json_array();
		json_t *code = art_fhir_obj(r, "code"), *cc = code ? art_fhir_cc(x, code) : NULL;
		json_t *eff = NULL;
		char tbuf[64];
		const char *codeval = code ? art_fhir_str(code, "code") : NULL;

		/* Key: filler number (+ test code: one order may carry several
		 * reports), else placer number, else the event and position. */
		if (art_fhir_has_text(filler) || art_fhir_has_text(placer)) {
			art_fhir_order_system(x, NULL, art_fhir_has_text(filler) ? "filler" : "placer", sys,
			                      sizeof(sys));
			snprintf(val, sizeof(val), "%s%s%s", art_fhir_has_text(filler) ? filler : placer,
			         codeval ? "^" : "", codeval ? codeval : "");
		} else {
			snprintf(sys, sizeof(sys), "%s", ART_FHIR_RFC3986);
			snprintf(val, sizeof(val), "urn:uuid:%s#report-%zu", x->event_id, i);
		}
		json_array_append_new(ids, art_fhir_identifier(sys, val, NULL));
		if (art_fhir_has_text(filler))
			json_array_append_new(ids, art_fhir_identifier(art_fhir_order_system(x, NULL, "filler", osys, sizeof(osys)),
			                                               filler, "FILL"));
		if (art_fhir_has_text(placer))
			json_array_append_new(ids, art_fhir_identifier(art_fhir_order_system(x, NULL, "placer", osys, sizeof(osys)),
			                                               placer, "PLAC"));
		json_object_set_new(dr, "identifier", ids);
		json_object_set_new(dr, "status",
		                    json_string(art_fhir_obs_status(art_fhir_str(r, "status"), 1)));
		json_object_set_new(dr, "code", cc ? cc : art_fhir_cc_text("unknown"));
		json_object_set_new(dr, "subject", art_fhir_ref(x->purl));
		if (art_fhir_obj(r, "observed_at") &&
		    art_fhir_datetime(art_fhir_obj(r, "observed_at"), 0, tbuf, sizeof(tbuf)) == 0) {
			eff = json_string(tbuf);
			json_object_set(dr, "effectiveDateTime", eff);
		}
		art_fhir_put_time(dr, "issued", r, "reported_at", 1);
		if (json_array_size(art_fhir_arr(r, "notes"))) {
			json_t *n, *texts = json_array();
			size_t k;

			/* DiagnosticReport has no note in R4: the report's notes
			 * become its conclusion. */
			json_array_foreach(art_fhir_arr(r, "notes"), k, n) {
				if (json_is_string(n))
					json_array_append(texts, n);
			}
			{
				size_t total = 0;
				char *concl;

				json_array_foreach(texts, k, n) total += strlen(json_string_value(n)) + 1;
				concl = malloc(total + 1);
				if (concl) {
					size_t off = 0;

					json_array_foreach(texts, k, n) {
						size_t l = strlen(json_string_value(n));

						memcpy(concl + off, json_string_value(n), l);
						off += l;
						concl[off++] = '\n';
					}
					concl[off ? off - 1 : 0] = '\0';
					art_fhir_put_str(dr, "conclusion", concl);
					free(concl);
				}
			}
			json_decref(texts);
		}
		json_array_foreach(art_fhir_arr(r, "observations"), j, o) {
			struct art_fhir_entry *oe;
			json_t *sid = json_object_get(o, "set_id");
			const char *ocode = art_fhir_str(art_fhir_obj(o, "code"), "code");
			const char *sub = art_fhir_str(o, "sub_id");

			/* observation key: the report key + position + code + sub id */
			snprintf(oval, sizeof(oval), "%s/%zu/%s/%s", val,
			         json_is_integer(sid) ? (size_t)json_integer_value(sid) : j + 1,
			         ocode ? ocode : "", sub ? sub : "");
			oe = art_fhir_observation(x, o, pe, sys, oval, eff);
			if (!oe) {
				json_decref(eff);
				json_decref(results);
				json_decref(dr);
				return -1;
			}
			json_array_append_new(results, art_fhir_ref(oe->full_url));
		}
		json_decref(eff);
		art_fhir_put_nonempty(dr, "result", results);
		if (!art_fhir_add(x, "DiagnosticReport", dr, sys, val, 0))
			return -1;
	}
	return 0;
}

/* Adds participants of the providers at key with type code. */
static void art_fhir_participants(struct art_fhir_ctx *x, json_t *parts, const json_t *ev,
                                  const char *key, const char *type)
{
	json_t *p;
	size_t i;

	json_array_foreach(art_fhir_arr(ev, key), i, p) {
		json_t *ref = art_fhir_provider_ref(x, p);

		if (ref)
			json_array_append_new(
			    parts, json_pack("{s:[{s:[{s:s,s:s}]}],s:o}", "type", "coding", "system",
			                     "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
			                     "code", type, "individual", ref));
	}
}

/* A visit-number key: system + value of canonical Identifier id; -1 if none. */
static int art_fhir_visit_key(struct art_fhir_ctx *x, const json_t *id, char *sys, size_t size,
                              const char **val)
{
	const char *auth;

	*val = art_fhir_str(id, "value");
	if (!art_fhir_has_text(*val))
		return -1;
	auth = art_fhir_str(id, "assigning_authority");
	if (auth) {
		art_fhir_system(x->base, auth, sys, size);
	} else {
		art_fhir_scoped(x, x->facility, "visit", sys, size);
	}
	return 0;
}

static int art_fhir_do_encounter(struct art_fhir_ctx *x)
{
	struct art_fhir_entry *pe = art_fhir_patient(x, 0);
	json_t *res, *cls, *parts, *loc, *hosp;
	const char *status = art_fhir_str(x->ev, "status"), *kval;
	char sys[512], ebuf[128], lbuf[1024];

	if (!pe)
		return -1;
	res = json_object();
	if (art_fhir_visit_key(x, art_fhir_obj(x->ev, "visit_number"), sys, sizeof(sys), &kval) == -1) {
		snprintf(sys, sizeof(sys), "%s", ART_FHIR_RFC3986);
		snprintf(ebuf, sizeof(ebuf), "urn:uuid:%s", x->event_id);
		kval = ebuf;
	}
	json_object_set_new(res, "identifier", json_pack("[o]", art_fhir_identifier(sys, kval, "VN")));
	json_object_set_new(res, "status", json_string(status ? status : "unknown"));
	cls = art_fhir_obj(x->ev, "class");
	{
		static const char *const v3[][2] = {{"I", "IMP"}, {"O", "AMB"}, {"E", "EMER"},
		                                    {"P", "PRENC"}, {"R", "AMB"}, {"B", "OBSENC"}};
		const char *code = art_fhir_str(cls, "code");
		const char *mapped = NULL;

		for (size_t k = 0; code && k < ART_ARRAY_SIZE(v3); k++)
			if (!strcmp(code, v3[k][0]))
				mapped = v3[k][1];
		if (mapped)
			json_object_set_new(res, "class",
			                    json_pack("{s:s,s:s}", "system",
			                              "http://terminology.hl7.org/CodeSystem/v3-ActCode",
			                              "code", mapped));
		else {
			json_t *c = cls ? art_fhir_coding(x, cls) : NULL;

			json_object_set_new(res, "class",
			                    c ? c
			                      : json_pack("{s:s,s:s}", "system",
			                                  "http://terminology.hl7.org/CodeSystem/v3-NullFlavor",
			                                  "code", "UNK"));
		}
	}
	art_fhir_put_cc(x, res, "serviceType", art_fhir_obj(x->ev, "hospital_service"));
	art_fhir_put_cc(x, res, "priority", art_fhir_obj(x->ev, "admission_type"));
	json_object_set_new(res, "subject", art_fhir_ref(x->purl));
	parts = json_array();
	art_fhir_participants(x, parts, x->ev, "attending_providers", "ATND");
	art_fhir_participants(x, parts, x->ev, "referring_providers", "REF");
	art_fhir_participants(x, parts, x->ev, "consulting_providers", "CON");
	art_fhir_participants(x, parts, x->ev, "admitting_providers", "ADM");
	art_fhir_put_nonempty(res, "participant", parts);
	{
		json_t *period = json_object();

		art_fhir_put_time(period, "start", x->ev, "admitted_at", 0);
		art_fhir_put_time(period, "end", x->ev, "discharged_at", 0);
		if (json_object_size(period))
			json_object_set_new(res, "period", period);
		else
			json_decref(period);
	}
	{
		json_t *reason = art_fhir_obj(x->ev, "admit_reason");
		json_t *cc = reason ? art_fhir_cc(x, reason) : NULL;

		if (cc)
			json_object_set_new(res, "reasonCode", json_pack("[o]", cc));
	}
	hosp = json_object();
	art_fhir_put_cc(x, hosp, "admitSource", art_fhir_obj(x->ev, "admit_source"));
	art_fhir_put_cc(x, hosp, "dischargeDisposition", art_fhir_obj(x->ev, "discharge_disposition"));
	if (json_object_size(hosp))
		json_object_set_new(res, "hospitalization", hosp);
	else
		json_decref(hosp);
	loc = json_array();
	if (art_fhir_location_text(art_fhir_obj(x->ev, "location"), lbuf, sizeof(lbuf)))
		json_array_append_new(loc, json_pack("{s:{s:s},s:s}", "location", "display", lbuf,
		                                     "status", status && !strcmp(status, "planned") ? "planned" : "active"));
	if (art_fhir_location_text(art_fhir_obj(x->ev, "prior_location"), lbuf, sizeof(lbuf)))
		json_array_append_new(loc, json_pack("{s:{s:s},s:s}", "location", "display", lbuf,
		                                     "status", "completed"));
	if (art_fhir_location_text(art_fhir_obj(x->ev, "pending_location"), lbuf, sizeof(lbuf)))
		json_array_append_new(loc, json_pack("{s:{s:s},s:s}", "location", "display", lbuf,
		                                     "status", "planned"));
	art_fhir_put_nonempty(res, "location", loc);
	return art_fhir_add(x, "Encounter", res, sys, kval, 0) ? 0 : -1;
}

/* The key of an order/immunization/document: filler number, else placer
 * number, else the event. */
static void art_fhir_order_key(struct art_fhir_ctx *x, const char *filler, const char *filler_auth,
                               const char *placer, const char *placer_auth, const char *suffix,
                               char *sys, size_t sys_size, char *val, size_t val_size)
{
	if (art_fhir_has_text(filler)) {
		art_fhir_order_system(x, filler_auth, "filler", sys, sys_size);
		snprintf(val, val_size, "%s", filler);
	} else if (art_fhir_has_text(placer)) {
		art_fhir_order_system(x, placer_auth, "placer", sys, sys_size);
		snprintf(val, val_size, "%s", placer);
	} else {
		snprintf(sys, sys_size, "%s", ART_FHIR_RFC3986);
		snprintf(val, val_size, "urn:uuid:%s%s", x->event_id, suffix);
	}
}

/* Adds PLAC/FILL identifiers to arr. */
static void art_fhir_order_ids(struct art_fhir_ctx *x, json_t *arr, const char *filler,
                               const char *filler_auth, const char *placer, const char *placer_auth)
{
	char sys[512];

	if (art_fhir_has_text(placer))
		json_array_append_new(arr, art_fhir_identifier(art_fhir_order_system(x, placer_auth, "placer", sys, sizeof(sys)),
		                                               placer, "PLAC"));
	if (art_fhir_has_text(filler))
		json_array_append_new(arr, art_fhir_identifier(art_fhir_order_system(x, filler_auth, "filler", sys, sizeof(sys)),
		                                               filler, "FILL"));
}

static int art_fhir_do_order(struct art_fhir_ctx *x)
{
	struct art_fhir_entry *pe = art_fhir_patient(x, 0);
	const json_t *ev = x->ev;
	const char *cat = art_fhir_str(ev, "category"), *et = x->event_type;
	int med = cat && !strcmp(cat, "medication");
	const char *filler = art_fhir_str(ev, "filler_order_id"), *placer = art_fhir_str(ev, "placer_order_id");
	const char *fa = art_fhir_str(ev, "filler_order_authority"), *pa = art_fhir_str(ev, "placer_order_authority");
	char sys[512], val[512];
	json_t *res, *ids, *code, *cc, *reasons;
	const char *status = "active";
	size_t i;

	if (!pe)
		return -1;
	if (strstr(et, "cancelled"))
		status = med ? "cancelled" : "revoked";
	else if (strstr(et, "discontinued"))
		status = med ? "stopped" : "revoked";
	else if (strstr(et, "held"))
		status = "on-hold";
	else if (art_fhir_str(ev, "order_status") && !strcmp(art_fhir_str(ev, "order_status"), "CM"))
		status = "completed";
	res = json_object();
	art_fhir_order_key(x, filler, fa, placer, pa, "#order", sys, sizeof(sys), val, sizeof(val));
	ids = json_array();
	if (!strcmp(sys, ART_FHIR_RFC3986))
		json_array_append_new(ids, art_fhir_identifier(sys, val, NULL));
	art_fhir_order_ids(x, ids, filler, fa, placer, pa);
	json_object_set_new(res, "identifier", ids);
	json_object_set_new(res, "status", json_string(status));
	json_object_set_new(res, "intent", json_string("order"));
	code = art_fhir_obj(ev, "code");
	cc = code ? art_fhir_cc(x, code) : NULL;
	if (med)
		json_object_set_new(res, "medicationCodeableConcept", cc ? cc : art_fhir_cc_text("unknown"));
	else if (cc)
		json_object_set_new(res, "code", cc);
	json_object_set_new(res, "subject", art_fhir_ref(x->purl));
	{
		const char *pr = art_fhir_str(ev, "priority");

		if (pr) {
			static const char *const map[][2] = {{"S", "stat"}, {"A", "asap"}, {"R", "routine"},
			                                     {"P", "urgent"}, {"T", "urgent"}, {"C", "urgent"}};

			for (size_t k = 0; k < ART_ARRAY_SIZE(map); k++)
				if (!strcmp(pr, map[k][0]))
					json_object_set_new(res, "priority", json_string(map[k][1]));
		}
	}
	art_fhir_put_time(res, "authoredOn", ev, "transaction_at", 0);
	{
		json_t *ref = art_fhir_provider_ref(x, json_array_get(art_fhir_arr(ev, "ordering_providers"), 0));

		if (ref)
			json_object_set_new(res, "requester", ref);
	}
	reasons = json_array();
	art_fhir_append_each(x, reasons, art_fhir_arr(ev, "reasons"), art_fhir_cc);
	art_fhir_append_each(x, reasons, art_fhir_arr(ev, "diagnoses"), art_fhir_cc);
	art_fhir_put_nonempty(res, "reasonCode", reasons);
	art_fhir_put_notes(res, art_fhir_arr(ev, "notes"));
	if (med) {
		json_t *m = art_fhir_obj(ev, "medication"), *dose = json_object();
		json_t *instr = art_fhir_arr(m, "instructions"), *s;
		json_t *lo = art_fhir_number(json_object_get(m, "give_amount_min"));
		json_t *hi = art_fhir_number(json_object_get(m, "give_amount_max"));
		json_t *disp = art_fhir_number(json_object_get(m, "dispense_amount"));
		json_t *refills = json_object_get(m, "refills");
		char text[2048];
		size_t n = 0;

		text[0] = '\0';
		json_array_foreach(instr, i, s) {
			int w;

			if (!json_is_string(s))
				continue;
			w = snprintf(text + n, sizeof(text) - n, "%s%s", n ? "; " : "", json_string_value(s));
			if (w < 0 || (size_t)w >= sizeof(text) - n)
				break;
			n += (size_t)w;
		}
		art_fhir_put_str(dose, "text", text);
		{
			json_t *route = json_array_get(art_fhir_arr(m, "routes"), 0);

			art_fhir_put_cc(x, dose, "route", route);
		}
		if (lo && hi) {
			json_object_set_new(dose, "doseAndRate",
			                    json_pack("[{s:{s:{s:o},s:{s:o}}}]", "doseRange", "low", "value",
			                              lo, "high", "value", hi));
		} else if (lo) {
			json_object_set_new(dose, "doseAndRate",
			                    json_pack("[{s:{s:o}}]", "doseQuantity", "value", lo));
		} else {
			json_decref(hi); /* a maximum without a minimum says too little */
		}
		if (json_object_size(dose))
			json_object_set_new(res, "dosageInstruction", json_pack("[o]", dose));
		else
			json_decref(dose);
		if (disp || (json_is_integer(refills) && json_integer_value(refills) >= 0)) {
			json_t *dr = json_object();

			if (disp)
				json_object_set_new(dr, "quantity", json_pack("{s:o}", "value", disp));
			if (json_is_integer(refills) && json_integer_value(refills) >= 0)
				json_object_set(dr, "numberOfRepeatsAllowed", refills);
			json_object_set_new(res, "dispenseRequest", dr);
		}
	} else {
		json_t *period = json_object();

		art_fhir_put_time(period, "start", ev, "start_at", 0);
		art_fhir_put_time(period, "end", ev, "end_at", 0);
		if (json_object_size(period))
			json_object_set_new(res, "occurrencePeriod", period);
		else
			json_decref(period);
	}
	return art_fhir_add(x, med ? "MedicationRequest" : "ServiceRequest", res, sys, val, 0) ? 0 : -1;
}

static int art_fhir_do_appointment(struct art_fhir_ctx *x)
{
	const json_t *ev = x->ev;
	const char *et = x->event_type;
	struct art_fhir_entry *pe = NULL;
	json_t *res, *ids, *parts, *r;
	const char *status = "booked";
	char sys[512], val[512], lbuf[1024];
	size_t i;

	if (!strncmp(et, "appointment.slots_", 18))
		return 0; /* blocked/opened slots are Slot/Schedule business: not delivered */
	if (art_fhir_obj(ev, "patient")) {
		pe = art_fhir_patient(x, 0);
		if (!pe)
			return -1;
	}
	if (strstr(et, "cancelled") || strstr(et, "discontinued") || strstr(et, "deleted"))
		status = strstr(et, "resource_") ? "booked" : "cancelled";
	else if (strstr(et, "noshow"))
		status = "noshow";
	res = json_object();
	art_fhir_order_key(x, art_fhir_str(ev, "filler_appointment_id"), NULL,
	                   art_fhir_str(ev, "placer_appointment_id"), NULL, "#appointment", sys,
	                   sizeof(sys), val, sizeof(val));
	ids = json_array();
	json_array_append_new(ids, art_fhir_identifier(sys, val, NULL));
	json_object_set_new(res, "identifier", ids);
	json_object_set_new(res, "status", json_string(status));
	{
		json_t *st = art_fhir_obj(ev, "appointment_type");
		json_t *cc = st ? art_fhir_cc(x, st) : NULL;

		if (cc)
			json_object_set_new(res, "appointmentType", cc);
	}
	{
		json_t *reason = art_fhir_obj(ev, "reason");
		json_t *cc = reason ? art_fhir_cc(x, reason) : NULL;

		if (cc)
			json_object_set_new(res, "reasonCode", json_pack("[o]", cc));
	}
	if (art_fhir_put_time(res, "start", ev, "start_at", 1) == 0)
		art_fhir_put_time(res, "end", ev, "end_at", 1);
	{
		json_t *d = json_object_get(ev, "duration");
		const char *units = art_fhir_str(art_fhir_obj(ev, "duration_units"), "code");

		if (json_is_number(d) && json_number_value(d) >= 1 && json_number_value(d) < 1e6 &&
		    (!units || !strncasecmp(units, "min", 3)))
			json_object_set_new(res, "minutesDuration",
			                    json_integer((json_int_t)json_number_value(d)));
	}
	art_fhir_put_notes(res, art_fhir_arr(ev, "notes"));
	{
		/* Appointment.comment in R4 is a string: notes go there */
		json_t *notes = json_object_get(res, "note");

		if (notes) {
			json_t *first = json_array_get(notes, 0);

			art_fhir_put_str(res, "comment", art_fhir_str(first, "text"));
			json_object_del(res, "note");
		}
	}
	parts = json_array();
	if (pe)
		json_array_append_new(parts, json_pack("{s:o,s:s}", "actor", art_fhir_ref(x->purl), "status",
		                                       "accepted"));
	json_array_foreach(art_fhir_arr(ev, "resources"), i, r) {
		json_t *actor = NULL;

		if (art_fhir_obj(r, "person"))
			actor = art_fhir_provider_ref(x, art_fhir_obj(r, "person"));
		else if (art_fhir_location_text(art_fhir_obj(r, "location"), lbuf, sizeof(lbuf)))
			actor = json_pack("{s:s,s:s}", "type", "Location", "display", lbuf);
		if (actor)
			json_array_append_new(parts, json_pack("{s:o,s:s}", "actor", actor, "status",
			                                       "accepted"));
	}
	if (!json_array_size(parts))
		json_array_append_new(parts, json_pack("{s:s}", "status", "needs-action"));
	json_object_set_new(res, "participant", parts);
	return art_fhir_add(x, "Appointment", res, sys, val, 0) ? 0 : -1;
}

/* 1 when s is non-empty padded base64 (what the FHIR schema accepts). */
static int art_fhir_is_base64(const char *s)
{
	size_t n = 0;

	for (; *s; s++) {
		if (isspace((unsigned char)*s))
			continue;
		if (!isalnum((unsigned char)*s) && *s != '+' && *s != '/' && *s != '=')
			return 0;
		n++;
	}
	return n > 0 && n % 4 == 0;
}

/* Sets key to the base64 of len bytes at p. */
static int art_fhir_put_base64(json_t *obj, const char *key, const char *p, size_t len)
{
	size_t cap = 4 * ((len + 2) / 3) + 1;
	unsigned char *out;

	if (len == 0 || len > (64u << 20))
		return -1;
	out = malloc(cap);
	if (!out)
		return -1;
	EVP_EncodeBlock(out, (const unsigned char *)p, (int)len);
	json_object_set_new(obj, key, json_string((char *)out));
	free(out);
	return 0;
}

static int art_fhir_do_document(struct art_fhir_ctx *x)
{
	const json_t *ev = x->ev;
	struct art_fhir_entry *pe = art_fhir_patient(x, 0);
	json_t *res, *content, *a, *authors;
	const char *text = art_fhir_str(ev, "text"), *et = x->event_type;
	const char *docid = art_fhir_str(ev, "document_id"), *parent = art_fhir_str(ev, "parent_document_id");
	char sys[512], val[512];
	size_t i;

	if (!pe)
		return -1;
	res = json_object();
	if (art_fhir_has_text(docid)) {
		art_fhir_scoped(x, x->facility, "document", sys, sizeof(sys));
		snprintf(val, sizeof(val), "%s", docid);
	} else {
		snprintf(sys, sizeof(sys), "%s", ART_FHIR_RFC3986);
		snprintf(val, sizeof(val), "urn:uuid:%s#document", x->event_id);
	}
	json_object_set_new(res, "identifier", json_pack("[o]", art_fhir_identifier(sys, val, NULL)));
	json_object_set_new(res, "status",
	                    json_string(strstr(et, "cancelled") ? "entered-in-error" : "current"));
	{
		const char *cs = art_fhir_str(ev, "completion_status");

		if (cs && (!strcmp(cs, "AU") || !strcmp(cs, "LA")))
			json_object_set_new(res, "docStatus", json_string("final"));
		else if (cs && (!strcmp(cs, "PA") || !strcmp(cs, "IP") || !strcmp(cs, "IN") ||
		                !strcmp(cs, "DI") || !strcmp(cs, "DO")))
			json_object_set_new(res, "docStatus", json_string("preliminary"));
	}
	art_fhir_put_cc(x, res, "type", art_fhir_obj(ev, "document_type"));
	json_object_set_new(res, "subject", art_fhir_ref(x->purl));
	if (art_fhir_put_time(res, "date", ev, "activity_at", 1) == -1)
		art_fhir_put_time(res, "date", ev, "originated_at", 1);
	authors = json_array();
	art_fhir_append_each(x, authors, art_fhir_arr(ev, "authors"), art_fhir_provider_ref);
	art_fhir_put_nonempty(res, "author", authors);
	{
		json_t *ref = art_fhir_provider_ref(x, json_array_get(art_fhir_arr(ev, "authenticators"), 0));

		if (ref)
			json_object_set_new(res, "authenticator", ref);
	}
	art_fhir_put_str(res, "description", art_fhir_str(ev, "file_name"));
	if (art_fhir_has_text(parent)) {
		char psys[512];

		art_fhir_scoped(x, x->facility, "document", psys, sizeof(psys));
		json_object_set_new(res, "relatesTo",
		                    json_pack("[{s:s,s:{s:s,s:o}}]", "code",
		                              strstr(et, "replaced") ? "replaces" : "appends", "target",
		                              "type", "DocumentReference", "identifier",
		                              art_fhir_identifier(psys, parent, NULL)));
	}
	content = json_array();
	if (text) {
		json_t *att = json_pack("{s:s}", "contentType", "text/plain; charset=utf-8");

		art_fhir_put_base64(att, "data", text, strlen(text));
		json_array_append_new(content, json_pack("{s:o}", "attachment", att));
	}
	json_array_foreach(art_fhir_arr(ev, "attachments"), i, a) {
		json_t *att = json_object();
		const char *kind = art_fhir_str(a, "kind"), *mt = art_fhir_str(a, "media_type");
		const char *data = art_fhir_str(a, "data"), *enc = art_fhir_str(a, "encoding");
		char mbuf[128];

		if (mt && strchr(mt, '/') && art_fhir_code(mt, mbuf, sizeof(mbuf)))
			json_object_set_new(att, "contentType", json_string(mbuf));
		if (kind && !strcmp(kind, "reference")) {
			const char *ref = art_fhir_str(a, "reference");

			if (ref && !strpbrk(ref, " \t\r\n"))
				json_object_set_new(att, "url", json_string(ref));
			else
				art_fhir_put_str(att, "title", ref);
		} else if (data) {
			if (enc && !strcasecmp(enc, "Base64") && art_fhir_is_base64(data)) {
				json_object_set_new(att, "data", json_string(data));
			} else {
				json_object_set_new(att, "contentType", json_string("text/plain; charset=utf-8"));
				art_fhir_put_base64(att, "data", data, strlen(data));
			}
		}
		if (json_object_size(att))
			json_array_append_new(content, json_pack("{s:o}", "attachment", att));
		else
			json_decref(att);
	}
	if (!json_array_size(content)) {
		/* a notification without content: the attachment only names it */
		json_array_append_new(content,
		                      json_pack("{s:{s:s}}", "attachment", "title",
		                                art_fhir_has_text(art_fhir_str(ev, "file_name"))
		                                    ? art_fhir_str(ev, "file_name")
		                                    : "document (content not sent)"));
	}
	json_object_set_new(res, "content", content);
	return art_fhir_add(x, "DocumentReference", res, sys, val, 0) ? 0 : -1;
}

static int art_fhir_do_immunization(struct art_fhir_ctx *x)
{
	const json_t *ev = x->ev;
	struct art_fhir_entry *pe = art_fhir_patient(x, 0);
	json_t *res, *ids, *vacc, *cc, *perf, *p;
	const char *cs = art_fhir_str(ev, "completion_status"), *ac = art_fhir_str(ev, "action_code");
	char sys[512], val[600], lot[256];
	size_t i;
	const char *vcode;
	char tbuf[64];

	if (!pe)
		return -1;
	res = json_object();
	/* One order may carry several RXA: key by order number + vaccine +
	 * administration time, else by the event. */
	vcode = art_fhir_str(art_fhir_obj(ev, "vaccine"), "code");
	art_fhir_order_key(x, art_fhir_str(ev, "filler_order_id"), NULL,
	                   art_fhir_str(ev, "placer_order_id"), NULL, "#immunization", sys,
	                   sizeof(sys), val, sizeof(val));
	if (strcmp(sys, ART_FHIR_RFC3986)) {
		size_t n = strlen(val);

		tbuf[0] = '\0';
		if (art_fhir_obj(ev, "administered_at"))
			art_fhir_datetime(art_fhir_obj(ev, "administered_at"), 1, tbuf, sizeof(tbuf));
		snprintf(val + n, sizeof(val) - n, "^%s^%s", vcode ? vcode : "", tbuf);
	}
	ids = json_array();
	json_array_append_new(ids, art_fhir_identifier(sys, val, NULL));
	json_object_set_new(res, "identifier", ids);
	if (ac && !strcmp(ac, "D"))
		json_object_set_new(res, "status", json_string("entered-in-error"));
	else if (cs && (!strcmp(cs, "RE") || !strcmp(cs, "NA")))
		json_object_set_new(res, "status", json_string("not-done"));
	else
		json_object_set_new(res, "status", json_string("completed"));
	{
		json_t *rr = json_array_get(art_fhir_arr(ev, "refusal_reasons"), 0);
		json_t *rcc = rr ? art_fhir_cc(x, rr) : NULL;

		if (rcc)
			json_object_set_new(res, "statusReason", rcc);
	}
	vacc = art_fhir_obj(ev, "vaccine");
	cc = vacc ? art_fhir_cc(x, vacc) : NULL;
	json_object_set_new(res, "vaccineCode", cc ? cc : art_fhir_cc_text("unknown"));
	json_object_set_new(res, "patient", art_fhir_ref(x->purl));
	if (art_fhir_put_time(res, "occurrenceDateTime", ev, "administered_at", 0) == -1)
		json_object_set_new(res, "occurrenceString", json_string("unknown"));
	{
		json_t *note = json_array_get(art_fhir_arr(ev, "administration_notes"), 0);
		const char *code = art_fhir_str(note, "code");

		if (code && !strcmp(code, "00"))
			json_object_set_new(res, "primarySource", json_true());
		else if (code && !strncmp(code, "0", 1))
			json_object_set_new(res, "primarySource", json_false());
	}
	if (json_is_string(json_array_get(art_fhir_arr(ev, "lot_numbers"), 0)))
		art_fhir_put_str(res, "lotNumber",
		                 json_string_value(json_array_get(art_fhir_arr(ev, "lot_numbers"), 0)));
	art_fhir_put_date(res, "expirationDate", ev, "expires_at");
	{
		json_t *m = art_fhir_obj(ev, "manufacturer");
		const char *disp = art_fhir_str(m, "display"), *code = art_fhir_str(m, "code");

		snprintf(lot, sizeof(lot), "%s", disp ? disp : code ? code : "");
		if (art_fhir_has_text(lot))
			json_object_set_new(res, "manufacturer", json_pack("{s:s}", "display", lot));
	}
	art_fhir_put_cc(x, res, "site", art_fhir_obj(ev, "site"));
	art_fhir_put_cc(x, res, "route", art_fhir_obj(ev, "route"));
	{
		json_t *amt = art_fhir_number(json_object_get(ev, "dose_amount"));

		if (amt) {
			json_t *q = json_pack("{s:o}", "value", amt);
			json_t *u = art_fhir_obj(ev, "dose_units");

			art_fhir_put_str(q, "unit", art_fhir_str(u, "display") ? art_fhir_str(u, "display")
			                                                      : art_fhir_str(u, "code"));
			json_object_set_new(res, "doseQuantity", q);
		}
	}
	perf = json_array();
	json_array_foreach(art_fhir_arr(ev, "administering_providers"), i, p) {
		json_t *ref = art_fhir_provider_ref(x, p);

		if (ref)
			json_array_append_new(perf, json_pack("{s:o}", "actor", ref));
	}
	art_fhir_put_nonempty(res, "performer", perf);
	art_fhir_put_notes(res, art_fhir_arr(ev, "notes"));
	return art_fhir_add(x, "Immunization", res, sys, val, 0) ? 0 : -1;
}

/* ---- public ---------------------------------------------------------------- */

void art_fhir_set_clear(struct art_fhir_set *set)
{
	for (size_t i = 0; i < set->cnt; i++) {
		json_decref(set->entries[i].resource);
		free(set->entries[i].url);
		free(set->entries[i].if_none_exist);
	}
	set->cnt = 0;
}

int art_fhir_transform(const struct art_fhir_conf *conf, const json_t *ev, struct art_fhir_set *out,
                       char *errstr, size_t errstr_size)
{
	static const struct {
		const char *prefix;
		int (*fn)(struct art_fhir_ctx *x);
	} domains[] = {
	    {"patient", art_fhir_do_patient},         {"result", art_fhir_do_result},
	    {"encounter", art_fhir_do_encounter},     {"order", art_fhir_do_order},
	    {"appointment", art_fhir_do_appointment}, {"document", art_fhir_do_document},
	    {"immunization", art_fhir_do_immunization},
	};
	struct art_fhir_ctx x;
	json_t *src;
	const char *dot;
	size_t plen;
	int rc = -1;

	art_fhir_set_clear(out);
	memset(&x, 0, sizeof(x));
	x.conf = conf;
	x.base = conf && conf->identifier_base ? conf->identifier_base : ART_FHIR_DEFAULT_BASE;
	x.ev = ev;
	x.out = out;
	x.errstr = errstr;
	x.errstr_size = errstr_size;
	x.event_id = art_fhir_str(ev, "event_id");
	x.event_type = art_fhir_str(ev, "event_type");
	x.idem = art_fhir_str(ev, "idempotency_key");
	if (!json_is_object(ev) || !x.event_id || !x.event_type) {
		snprintf(errstr, errstr_size, "not a canonical event (event_id or event_type missing)");
		return -1;
	}
	src = art_fhir_obj(ev, "source");
	x.facility = art_fhir_str(src, "facility");
	if (!x.facility)
		x.facility = art_fhir_str(src, "system");
	if (!x.facility)
		x.facility = art_fhir_str(src, "channel");
	if (!x.facility)
		x.facility = "unknown";
	dot = strchr(x.event_type, '.');
	plen = dot ? (size_t)(dot - x.event_type) : strlen(x.event_type);
	for (size_t i = 0; i < ART_ARRAY_SIZE(domains); i++)
		if (strlen(domains[i].prefix) == plen && !strncmp(domains[i].prefix, x.event_type, plen))
			rc = domains[i].fn(&x) == 0 ? 0 : -2;
	if (rc == -1)
		snprintf(errstr, errstr_size, "event type '%.64s' has no FHIR mapping", x.event_type);
	if (rc != 0) {
		art_fhir_set_clear(out);
		return -1;
	}
	return 0;
}

json_t *art_fhir_bundle(struct art_fhir_set *set, const char *event_id, const char *idempotency_key)
{
	json_t *b = json_object(), *entries = json_array();
	char idval[96];

	snprintf(idval, sizeof(idval), "urn:uuid:%s", event_id);
	json_object_set_new(b, "resourceType", json_string("Bundle"));
	if (idempotency_key && idempotency_key[0])
		json_object_set_new(b, "meta",
		                    json_pack("{s:[{s:s,s:s}]}", "tag", "system", ART_FHIR_IDEM_SYS, "code",
		                              idempotency_key));
	json_object_set_new(b, "identifier", art_fhir_identifier(ART_FHIR_RFC3986, idval, NULL));
	json_object_set_new(b, "type", json_string("transaction"));
	for (size_t i = 0; i < set->cnt; i++) {
		struct art_fhir_entry *e = &set->entries[i];
		json_t *req = json_pack("{s:s,s:s}", "method", e->if_none_exist ? "POST" : "PUT", "url",
		                        e->url);

		if (e->if_none_exist)
			json_object_set_new(req, "ifNoneExist", json_string(e->if_none_exist));
		json_object_del(e->resource, "id");
		json_array_append_new(entries, json_pack("{s:s,s:o,s:o}", "fullUrl", e->full_url,
		                                         "resource", e->resource, "request", req));
		e->resource = NULL; /* owned by the bundle now */
	}
	json_object_set_new(b, "entry", entries);
	return b;
}

/* Rewrites every "reference": "urn:uuid:X" under v that names an entry
 * of set into "Type/X". */
static void art_fhir_rewrite_refs(struct art_fhir_set *set, json_t *v)
{
	const char *k;
	json_t *c;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach(v, k, c) {
			if (!strcmp(k, "reference") && json_is_string(c) &&
			    !strncmp(json_string_value(c), "urn:uuid:", 9)) {
				for (size_t j = 0; j < set->cnt; j++)
					if (!strcmp(set->entries[j].full_url, json_string_value(c))) {
						char ref[96];

						snprintf(ref, sizeof(ref), "%s/%s", set->entries[j].type,
						         set->entries[j].id);
						json_string_set(c, ref);
						break;
					}
			} else {
				art_fhir_rewrite_refs(set, c);
			}
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, c) art_fhir_rewrite_refs(set, c);
	}
}

char *art_fhir_ndjson_line(struct art_fhir_set *set, size_t idx, size_t *lenp)
{
	struct art_fhir_entry *e = &set->entries[idx];
	char *s;
	size_t n;
	char *line;

	art_fhir_rewrite_refs(set, e->resource);
	s = json_dumps(e->resource, JSON_COMPACT);
	if (!s)
		return NULL;
	n = strlen(s);
	line = realloc(s, n + 2);
	if (!line) {
		free(s);
		return NULL;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	*lenp = n + 1;
	return line;
}

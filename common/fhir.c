/*
 * fhir.c — canonical event tree → FHIR R4 resources as JSON text (fhir.h).
 * One static function per domain writes the resources; small helpers
 * guarantee what the FHIR JSON Schema insists on (no empty strings, arrays
 * or objects — a container that gets no member is rolled back —, codes
 * without stray whitespace, dateTime/instant patterns). Ids are
 * deterministic (SHA-256 of a seed formatted as a UUID), so a resend
 * yields identical resources.
 *
 * Each resource is written start to end before the next one begins (a
 * DiagnosticReport after its Observations, whose ids it refers to), into
 * the set's text buffer; entries keep offsets until the transform is done
 * and the buffers can no longer move. The keys and fixed-size buffers
 * that seed ids are those of the jansson version this replaced, so ids
 * did not change.
 */
#include "fhir.h"

#include "art.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ART_FHIR_TEXT_MAX 4096 /* bytes of a composed display or reference */
#define ART_FHIR_STRS_MAX ((size_t)16 << 20) /* bytes of request urls of one event */
#define ART_FHIR_RFC3986  "urn:ietf:rfc:3986"
#define ART_FHIR_IDEM_SYS "urn:artery:idempotency-key"
#define ART_FHIR_V2_CS    "http://terminology.hl7.org/CodeSystem/v2-"

typedef struct art_tnode tnode;

/* What the domain builders share for one event. */
struct art_fhir_ctx {
	const struct art_fhir_conf *conf;
	const char *base;        /* identifier base */
	int ndjson;              /* layout ART_FHIR_NDJSON */
	const tnode *ev;         /* the event */
	const char *event_id;    /* never NULL */
	const char *idem;        /* idempotency key, may be NULL */
	const char *event_type;  /* e.g. "result.final" */
	const char *facility;    /* source.facility, else source.system, else channel */
	struct art_fhir_set *out;
	struct art_jw *jw;       /* out->text */
	int pidx;                /* entry of the event's patient, -1 none */
	char meta[256];          /* the rendered meta of the event's resources */
	size_t meta_len;         /* 0 until the first resource wrote it */
	char *errstr;
	size_t errstr_size;
};

/* ---- small tree readers ------------------------------------------------------ */

/* The non-empty string at key of obj, else NULL. */
/* Inline everywhere: a literal key's length and hash are then constants. */
#define ART_FHIR_INLINE static inline __attribute__((always_inline))

ART_FHIR_INLINE const char *art_fhir_str(const tnode *obj, const char *key)
{
	const char *s = art_tnode_str(art_tnode_get(obj, key));

	return s && s[0] ? s : NULL;
}

/* 1 when n is an object (a record or a map). */
ART_FHIR_INLINE int art_fhir_is_obj(const tnode *n)
{
	return n && (n->kind == ART_T_RECORD || n->kind == ART_T_MAP);
}

/* The object at key of obj, else NULL. */
ART_FHIR_INLINE const tnode *art_fhir_obj(const tnode *obj, const char *key)
{
	const tnode *v = art_tnode_get(obj, key);

	return art_fhir_is_obj(v) ? v : NULL;
}

/* The array at key of obj (possibly empty), else NULL. */
ART_FHIR_INLINE const tnode *art_fhir_arr(const tnode *obj, const char *key)
{
	const tnode *v = art_tnode_get(obj, key);

	return art_tnode_is(v, ART_T_ARRAY) ? v : NULL;
}

/* The finite number n holds (an integer or a double) in *d: 1, else 0. */
static int art_fhir_num(const tnode *n, double *d)
{
	if (art_tnode_is(n, ART_T_LONG)) {
		*d = (double)n->u.l;
		return 1;
	}
	if (art_tnode_is(n, ART_T_DOUBLE) && isfinite(n->u.d)) {
		*d = n->u.d;
		return 1;
	}
	return 0;
}

/* 1 when s has a non-space character. */
static int art_fhir_has_text(const char *s)
{
	for (; s && *s; s++)
		if (!isspace((unsigned char)*s))
			return 1;
	return 0;
}

/* ---- small writers ------------------------------------------------------------- */

/* Writes key: s when s has text (FHIR strings are never empty). */
static inline void art_fhir_put_str(struct art_fhir_ctx *x, const char *key, const char *s)
{
	if (art_fhir_has_text(s))
		art_jw_kstr(x->jw, key, s);
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

/* Writes key: the normalised code s when it has one. */
static inline void art_fhir_put_code(struct art_fhir_ctx *x, const char *key, const char *s)
{
	char buf[256];
	const char *c = art_fhir_code(s, buf, sizeof(buf));

	if (c)
		art_jw_kstr(x->jw, key, c);
}

/* Writes {"coding": [{"system": system, "code": code}]} (system: a
 * literal URI). */
static void art_fhir_cc_code(struct art_fhir_ctx *x, const char *system, const char *code)
{
	struct art_jw *jw = x->jw;

	ART_JW_RAW(jw, "{\"coding\":[{\"system\":\"");
	art_jw_raw_more(jw, system, strlen(system));
	ART_JW_RAW_MORE(jw, "\",\"code\":\"");
	art_jw_str_add(jw, code, strlen(code));
	ART_JW_RAW_MORE(jw, "\"}]}");
}

/* Writes {"text": text} (a CodeableConcept for required elements left
 * unknown). */
static void art_fhir_cc_text(struct art_fhir_ctx *x, const char *text)
{
	art_jw_obj(x->jw);
	art_jw_kstr(x->jw, "text", text);
	art_jw_end(x->jw);
}

static EVP_MD *art_fhir_sha256;           /* fetched once: a fetch per digest costs more */
static pthread_once_t art_fhir_sha256_once = PTHREAD_ONCE_INIT;

static void art_fhir_sha256_fetch(void)
{
	art_fhir_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* A uuid-formatted SHA-256 of "artery.fhir.v1" and the NUL-terminated
 * parts, each preceded by '\x1f', into out (37 bytes). Uses the set's
 * digest context. */
static void art_fhir_uuid(struct art_fhir_set *set, char out[37], const char *const *parts,
                          size_t cnt)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx;
	size_t o = 0;

	memset(md, 0, sizeof(md));
	pthread_once(&art_fhir_sha256_once, art_fhir_sha256_fetch);
	if (!set->md)
		set->md = EVP_MD_CTX_new();
	ctx = set->md;
	if (ctx && art_fhir_sha256 && EVP_DigestInit_ex(ctx, art_fhir_sha256, NULL) == 1) {
		unsigned char seed[1024];
		size_t n = 14;

		/* the seed in one piece when it fits: one update, not seven */
		memcpy(seed, "artery.fhir.v1", 14);
		for (size_t i = 0; i < cnt; i++) {
			size_t l = parts[i] ? strlen(parts[i]) : 0;

			if (n + 1 + l > sizeof(seed)) {
				EVP_DigestUpdate(ctx, seed, n);
				n = 0;
			}
			seed[n++] = 0x1f;
			if (l > sizeof(seed) - n) {
				EVP_DigestUpdate(ctx, seed, n);
				EVP_DigestUpdate(ctx, parts[i], l);
				n = 0;
			} else if (l) {
				memcpy(seed + n, parts[i], l);
				n += l;
			}
		}
		EVP_DigestUpdate(ctx, seed, n);
		EVP_DigestFinal_ex(ctx, md, &mdlen);
	} else {
		SHA256((const unsigned char *)"", 0, md); /* out of memory: still a uuid */
	}
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

/* Appends s to buf (size bytes, *n of them used) the way snprintf would
 * have: cut at size - 1, always terminated. */
static void art_fhir_cat(char *buf, size_t size, size_t *n, const char *s)
{
	size_t l = strlen(s);

	if (*n + 1 >= size) {
		buf[size - 1] = '\0';
		return;
	}
	if (l > size - 1 - *n)
		l = size - 1 - *n;
	memcpy(buf + *n, s, l);
	*n += l;
	buf[*n] = '\0';
}

/* Appends the decimal digits of v (as art_fhir_cat). */
static void art_fhir_cat_uint(char *buf, size_t size, size_t *n, uint64_t v)
{
	char d[24];
	size_t i = sizeof(d) - 1;

	d[i] = '\0';
	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	art_fhir_cat(buf, size, n, d + i);
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

/* Per byte: 1 for the unreserved characters of RFC 3986 (ASCII letters,
 * digits, - . _ ~), 2 for ':' and '/' (kept in search values). */
static const unsigned char art_fhir_url_class[256] = {
    ['-'] = 1, ['.'] = 1, ['_'] = 1, ['~'] = 1, [':'] = 2, ['/'] = 2,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
    ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
    ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
    ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
    ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1,
};

/* Appends s percent-encoded (unreserved characters kept, and ':' and '/'
 * when keep_path) to buf of size at *n. */
static void art_fhir_pct(char *buf, size_t size, size_t *n, const char *s, int keep_path)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char keep = keep_path ? 3 : 1;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (art_fhir_url_class[c] & keep) {
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
	size_t n = 0;

	buf[0] = '\0';
	if (!authority || !authority[0])
		authority = "unknown";
	if (art_fhir_is_oid(authority)) {
		art_fhir_cat(buf, size, &n, "urn:oid:");
		art_fhir_cat(buf, size, &n, authority);
		return buf;
	}
	if (art_fhir_is_uri(authority)) {
		art_fhir_cat(buf, size, &n, authority);
		return buf;
	}
	art_fhir_cat(buf, size, &n, base ? base : ART_FHIR_DEFAULT_BASE);
	art_fhir_pct(buf, size, &n, authority, 0);
	return buf;
}

/* The system of identifiers of kind ("patient", "visit", "filler-order"...)
 * assigned within name (a facility or a non-URI authority): base +
 * percent-encoded name + "/" + kind, into buf. Returns buf. */
static char *art_fhir_scoped(const struct art_fhir_ctx *x, const char *name, const char *kind,
                             char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = '\0';
	art_fhir_cat(buf, size, &n, x->base);
	art_fhir_pct(buf, size, &n, name && name[0] ? name : "unknown", 0);
	if (n + 1 < size) {
		art_fhir_cat(buf, size, &n, "/");
		art_fhir_cat(buf, size, &n, kind);
	}
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
		art_fhir_pct(buf, size, &n, esc, 1);
		if (k == 0 && n + 1 < size) {
			buf[n++] = '|';
			buf[n] = '\0';
		}
	}
}

/* Writes an Identifier {system, value[, type code]} (value must have text). */
static void art_fhir_identifier(struct art_fhir_ctx *x, const char *system, const char *value,
                                const char *type_code)
{
	struct art_jw *jw = x->jw;

	art_jw_obj(jw);
	art_fhir_put_str(x, "system", system);
	art_fhir_put_str(x, "value", value);
	if (type_code) {
		char buf[64];

		if (art_fhir_code(type_code, buf, sizeof(buf))) {
			art_jw_key(jw, "type");
			ART_JW_RAW(jw, "{\"coding\":[{\"system\":\"http://terminology.hl7.org/"
			               "CodeSystem/v2-0203\",\"code\":\"");
			art_jw_str_add(jw, buf, strlen(buf));
			ART_JW_RAW_MORE(jw, "\"}]}");
		}
	}
	art_jw_end(jw);
}

/* Writes key: [Identifier]. */
static void art_fhir_put_identifiers1(struct art_fhir_ctx *x, const char *system,
                                      const char *value, const char *type_code)
{
	art_jw_karr(x->jw, "identifier");
	art_fhir_identifier(x, system, value, type_code);
	art_jw_end(x->jw);
}

/* ---- codings and times ---------------------------------------------------- */

/* The FHIR system URI of a canonical coding system (HL7 table 0396 names,
 * "HL7nnnn" tables, URIs kept, anything else under the base). */
static const char *art_fhir_cs(const struct art_fhir_ctx *x, const char *sys, char *buf,
                               size_t size)
{
	static const struct {
		const char *name, *uri;
		size_t len;
	} known[] = {
	    {"LN", "http://loinc.org", 2},          {"LOINC", "http://loinc.org", 5},
	    {"SCT", "http://snomed.info/sct", 3},   {"SNM", "http://snomed.info/sct", 3},
	    {"SNOMED", "http://snomed.info/sct", 6}, {"CVX", "http://hl7.org/fhir/sid/cvx", 3},
	    {"MVX", "http://hl7.org/fhir/sid/mvx", 3}, {"NDC", "http://hl7.org/fhir/sid/ndc", 3},
	    {"UCUM", "http://unitsofmeasure.org", 4}, {"I10", "http://hl7.org/fhir/sid/icd-10", 3},
	    {"I10C", "http://hl7.org/fhir/sid/icd-10-cm", 4},
	    {"I9C", "http://hl7.org/fhir/sid/icd-9-cm", 3},
	    {"RXNORM", "http://www.nlm.nih.gov/research/umls/rxnorm", 6},
	    {"CPT", "http://www.ama-assn.org/go/cpt", 3},
	};
	size_t len, n = 0;

	if (!sys)
		return NULL;
	len = strlen(sys);
	for (size_t i = 0; i < ART_ARRAY_SIZE(known); i++)
		if (len == known[i].len && !strcasecmp(sys, known[i].name))
			return known[i].uri;
	buf[0] = '\0';
	if (len == 7 && !strncasecmp(sys, "HL7", 3) && isdigit((unsigned char)sys[3])) {
		art_fhir_cat(buf, size, &n, ART_FHIR_V2_CS);
		art_fhir_cat(buf, size, &n, sys + 3);
		return buf;
	}
	if (art_fhir_is_oid(sys) || art_fhir_is_uri(sys))
		return art_fhir_system(x->base, sys, buf, size);
	{
		char name[128];

		art_fhir_cat(name, sizeof(name), &n, "codesystem:");
		art_fhir_cat(name, sizeof(name), &n, sys);
		return art_fhir_system(x->base, name, buf, size);
	}
}

/* 1 when canonical Coding c yields a FHIR Coding (it has a code or a
 * display with text). */
static int art_fhir_coding_ok(const tnode *c)
{
	return art_fhir_is_obj(c) &&
	       (art_fhir_has_text(art_fhir_str(c, "code")) ||
	        art_fhir_has_text(art_fhir_str(c, "display")));
}

/* Writes the FHIR Coding of canonical Coding c whose code and display
 * were looked up already (NULL when absent); -1 (nothing written) when it
 * has neither with text. */
static int art_fhir_coding_of(struct art_fhir_ctx *x, const tnode *c, const char *code,
                              const char *display)
{
	char sbuf[512];
	int has_code = art_fhir_has_text(code);

	if (!has_code && !art_fhir_has_text(display))
		return -1;
	art_jw_obj(x->jw);
	if (has_code) {
		const char *sys = art_fhir_cs(x, art_fhir_str(c, "system"), sbuf, sizeof(sbuf));

		art_fhir_put_str(x, "system", sys);
		art_fhir_put_code(x, "code", code);
	}
	art_fhir_put_str(x, "display", display);
	art_jw_end(x->jw);
	return 0;
}

/* Writes the FHIR Coding of canonical Coding c; -1 (nothing written)
 * when it has no code and no display. */
static int art_fhir_coding(struct art_fhir_ctx *x, const tnode *c)
{
	return art_fhir_coding_of(x, c, art_fhir_str(c, "code"), art_fhir_str(c, "display"));
}

/* Writes the CodeableConcept of canonical Coding c; -1 (nothing written)
 * when c yields none. */
static int art_fhir_cc(struct art_fhir_ctx *x, const tnode *c)
{
	const char *code, *display;

	if (!art_fhir_is_obj(c))
		return -1;
	code = art_fhir_str(c, "code");
	display = art_fhir_str(c, "display");
	if (!art_fhir_has_text(code) && !art_fhir_has_text(display))
		return -1;
	art_jw_obj(x->jw);
	if (art_fhir_has_text(code)) {
		art_jw_karr(x->jw, "coding");
		art_fhir_coding_of(x, c, code, display);
		art_jw_end(x->jw);
	}
	art_fhir_put_str(x, "text", display);
	art_jw_end(x->jw);
	return 0;
}

/* Writes key: the CodeableConcept of canonical coding c when there is one. */
static void art_fhir_put_cc(struct art_fhir_ctx *x, const char *key, const tnode *c)
{
	if (!art_fhir_coding_ok(c))
		return;
	art_jw_key(x->jw, key);
	art_fhir_cc(x, c);
}

/* Writes key: [CodeableConcept] when c yields one. */
static void art_fhir_put_cc1(struct art_fhir_ctx *x, const char *key, const tnode *c)
{
	if (!art_fhir_coding_ok(c))
		return;
	art_jw_karr(x->jw, key);
	art_fhir_cc(x, c);
	art_jw_end(x->jw);
}

/* The proleptic Gregorian date of a count of days since 1970-01-01
 * (H. Hinnant's civil_from_days): no libc time zone lock on the way. */
static void art_fhir_civil(int64_t days, int64_t *y, int *m, int *d)
{
	int64_t era = (days + 719468 >= 0 ? days + 719468 : days + 719468 - 146096) / 146097;
	unsigned doe = (unsigned)(days + 719468 - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;

	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* Writes v with at least width digits (v >= 0) at buf + *n. */
static void art_fhir_put_num(char *buf, size_t *n, int64_t v, int width)
{
	char d[24];
	int i = 0;

	do {
		d[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v && i < 20);
	while (i < width)
		d[i++] = '0';
	while (i)
		buf[(*n)++] = d[--i];
}

int art_fhir_datetime(const tnode *ts, int instant, char *buf, size_t size)
{
	const tnode *mv = art_tnode_get(ts, "micros");
	const tnode *ov = art_tnode_get(ts, "utc_offset_minutes");
	const char *prec = art_fhir_str(ts, "precision");
	int has_off = art_tnode_is(ov, ART_T_LONG);
	int64_t off = has_off ? ov->u.l : 0;
	int64_t micros, secs, frac, days, rem, year;
	int mon, mday;
	char out[64];
	size_t n = 0;
	int p = 5; /* 0 year .. 5 second, 6 milli, 7 micro */

	/* offsets beyond +-100000 minutes and times beyond +-146,000 years are
	 * no Timestamps (and could overflow below) */
	if (!art_tnode_is(mv, ART_T_LONG) || off < -100000 || off > 100000 ||
	    mv->u.l < INT64_MIN / 2 || mv->u.l > INT64_MAX / 2)
		return -1;
	micros = mv->u.l + off * 60 * 1000000;
	secs = micros / 1000000;
	frac = micros % 1000000;
	if (frac < 0) {
		frac += 1000000;
		secs--;
	}
	days = secs / 86400;
	rem = secs % 86400;
	if (rem < 0) {
		rem += 86400;
		days--;
	}
	art_fhir_civil(days, &year, &mon, &mday);
	if (year < 1 || year > 9999)
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
	art_fhir_put_num(out, &n, year, 4);
	if (p >= 1) {
		out[n++] = '-';
		art_fhir_put_num(out, &n, mon, 2);
	}
	if (p >= 2) {
		out[n++] = '-';
		art_fhir_put_num(out, &n, mday, 2);
	}
	if (p >= 3) {
		out[n++] = 'T';
		art_fhir_put_num(out, &n, rem / 3600, 2);
		out[n++] = ':';
		art_fhir_put_num(out, &n, p >= 4 ? rem / 60 % 60 : 0, 2);
		out[n++] = ':';
		art_fhir_put_num(out, &n, p >= 5 ? rem % 60 : 0, 2);
		if (p == 6) {
			out[n++] = '.';
			art_fhir_put_num(out, &n, frac / 1000, 3);
		} else if (p == 7) {
			out[n++] = '.';
			art_fhir_put_num(out, &n, frac, 6);
		}
		if (has_off && off != 0) {
			int64_t a = off < 0 ? -off : off;

			out[n++] = off < 0 ? '-' : '+';
			art_fhir_put_num(out, &n, a / 60, 2);
			out[n++] = ':';
			art_fhir_put_num(out, &n, a % 60, 2);
		} else if (has_off) {
			memcpy(out + n, "+00:00", 6);
			n += 6;
		} else {
			out[n++] = 'Z';
		}
	}
	if (n >= size)
		return -1;
	memcpy(buf, out, n);
	buf[n] = '\0';
	return 0;
}

/* Writes key: the dateTime (or instant) of the Timestamp at tskey of src;
 * -1 (nothing written) when there is none. */
static int art_fhir_put_time(struct art_fhir_ctx *x, const char *key, const tnode *src,
                             const char *tskey, int instant)
{
	char buf[64];
	const tnode *ts = art_fhir_obj(src, tskey);

	if (!ts || art_fhir_datetime(ts, instant, buf, sizeof(buf)) == -1)
		return -1;
	art_jw_kstr(x->jw, key, buf);
	return 0;
}

/* Writes key: a FHIR date (at most day precision) of the Timestamp. */
static void art_fhir_put_date(struct art_fhir_ctx *x, const char *key, const tnode *src,
                              const char *tskey)
{
	char buf[64];
	const tnode *ts = art_fhir_obj(src, tskey);

	if (ts && art_fhir_datetime(ts, 0, buf, sizeof(buf)) == 0) {
		if (strlen(buf) > 10)
			buf[10] = '\0';
		art_jw_kstr(x->jw, key, buf);
	}
}

/* Writes key: {"value": d}. */
static inline void art_fhir_put_value(struct art_fhir_ctx *x, const char *key, double d)
{
	art_jw_kobj(x->jw, key);
	art_jw_key(x->jw, "value");
	art_jw_double(x->jw, d);
	art_jw_end(x->jw);
}

/* Writes "note": [{"text": s}...] of the strings with text in arr. */
static void art_fhir_put_notes(struct art_fhir_ctx *x, const tnode *arr)
{
	struct art_jw_mark m;
	const tnode *v;
	size_t i;

	art_jw_mark(x->jw, &m);
	art_jw_karr(x->jw, "note");
	art_tnode_foreach(arr, i, v) {
		if (art_fhir_has_text(art_tnode_str(v))) {
			art_jw_obj(x->jw);
			art_jw_kstr(x->jw, "text", v->u.s);
			art_jw_end(x->jw);
		}
	}
	art_jw_end_nonempty(x->jw, &m);
}

/* "Given Given Family" of a canonical Provider or HumanName into buf. */
static const char *art_fhir_person_name(const tnode *p, char *buf, size_t size)
{
	size_t n = 0, i;
	const tnode *g;
	const char *fam = art_fhir_str(p, "family");

	buf[0] = '\0';
	art_tnode_foreach(art_fhir_arr(p, "given"), i, g) {
		const char *s = art_tnode_str(g);

		if (s && s[0]) {
			size_t before = n;

			/* a name that does not fit ends the list (cut; the family
			 * name, if any, goes after the last whole one) */
			if (n)
				art_fhir_cat(buf, size, &n, " ");
			art_fhir_cat(buf, size, &n, s);
			if (n + 1 >= size) {
				n = before;
				break;
			}
		}
	}
	if (fam && n + 2 < size) {
		if (n)
			art_fhir_cat(buf, size, &n, " ");
		art_fhir_cat(buf, size, &n, fam);
	}
	return art_fhir_has_text(buf) ? buf : NULL;
}

/* Writes a Reference to a practitioner given as a canonical Provider:
 * identifier (id + authority) and display; -1 (nothing written) when it
 * has neither. */
static int art_fhir_provider_ref(struct art_fhir_ctx *x, const tnode *p)
{
	char name[512], sys[512];
	const char *id = art_fhir_str(p, "id");

	if (!art_fhir_is_obj(p))
		return -1;
	art_fhir_person_name(p, name, sizeof(name));
	if (!art_fhir_has_text(id) && !name[0])
		return -1;
	art_jw_obj(x->jw);
	art_jw_klit(x->jw, "type", "Practitioner");
	if (art_fhir_has_text(id)) {
		const char *auth = art_fhir_str(p, "assigning_authority");

		if (!auth)
			art_fhir_scoped(x, x->facility, "practitioner", sys, sizeof(sys));
		else
			art_fhir_system(x->base, auth, sys, sizeof(sys));
		art_jw_key(x->jw, "identifier");
		art_fhir_identifier(x, sys, id, NULL);
	}
	art_fhir_put_str(x, "display", name);
	art_jw_end(x->jw);
	return 0;
}

/* Writes key: the practitioner Reference of p when it yields one. */
static void art_fhir_put_provider(struct art_fhir_ctx *x, const char *key, const tnode *p)
{
	struct art_jw_mark m;

	art_jw_mark(x->jw, &m);
	art_jw_key(x->jw, key);
	if (art_fhir_provider_ref(x, p) == -1)
		art_jw_rollback(x->jw, &m);
}

/* Writes conv(x, e) for every element e of src as items of the open
 * array, skipping the elements conv turns into nothing. */
static void art_fhir_append_each(struct art_fhir_ctx *x, const tnode *src,
                                 int (*conv)(struct art_fhir_ctx *, const tnode *))
{
	const tnode *e;
	size_t i;

	art_tnode_foreach(src, i, e) conv(x, e);
}

/* "point of care, room, bed, facility" of a canonical Location. */
static const char *art_fhir_location_text(const tnode *loc, char *buf, size_t size)
{
	static const char *const keys[] = {"description", "point_of_care", "room", "bed",
	                                   "floor", "building", "facility"};
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < ART_ARRAY_SIZE(keys); i++) {
		const char *s = art_fhir_str(loc, keys[i]);

		if (s && art_fhir_has_text(s)) {
			/* a part that does not fit (cut) ends the text */
			if (n)
				art_fhir_cat(buf, size, &n, ", ");
			art_fhir_cat(buf, size, &n, s);
			if (n + 1 >= size)
				break;
		}
	}
	return buf[0] ? buf : NULL;
}

/* ---- entries -------------------------------------------------------------- */

/* Copies s (with its NUL) into the set's url strings; its offset in
 * *off. Returns 0 or -1. */
static int art_fhir_keep(struct art_fhir_set *s, const char *str, size_t *off)
{
	*off = s->strs.len;
	return art_buf_append(&s->strs, str, strlen(str) + 1);
}

/* Adds an entry for resource type, keyed by cond_sys|cond_val (its id is
 * the hash of the three), whose request is a conditional update (PUT), or
 * a conditional create (POST with ifNoneExist) when create_only; its JSON
 * is empty until art_fhir_open(). Returns the entry's index, or -1
 * (errstr set). */
static int art_fhir_entry_new(struct art_fhir_ctx *x, const char *type, const char *cond_sys,
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
			snprintf(x->errstr, x->errstr_size, "more than %d FHIR resources from one event",
			         ART_FHIR_MAX_ENTRIES);
			return -1;
		}
		n = realloc(s->entries, ncap * sizeof(*n));
		if (!n) {
			snprintf(x->errstr, x->errstr_size, "out of memory");
			return -1;
		}
		s->entries = n;
		s->cap = ncap;
	}
	e = &s->entries[s->cnt];
	memset(e, 0, sizeof(*e));
	art_strlcpy(e->type, type, sizeof(e->type));
	art_fhir_uuid(s, e->id, seed, 3);
	memcpy(e->full_url, "urn:uuid:", 9);
	memcpy(e->full_url + 9, e->id, sizeof(e->id));
	e->stub = create_only;
	e->url_off = e->ine_off = (size_t)-1;
	if (x->ndjson) /* requests belong to Bundles */
		goto done;
	art_fhir_token(cond_sys, cond_val, token, sizeof(token));
	if (create_only) {
		size_t n = 0;

		art_fhir_cat(url, sizeof(url), &n, "identifier=");
		art_fhir_cat(url, sizeof(url), &n, token);
		if (art_fhir_keep(s, type, &e->url_off) == -1 ||
		    art_fhir_keep(s, url, &e->ine_off) == -1)
			goto oom;
	} else {
		size_t n = 0;

		art_fhir_cat(url, sizeof(url), &n, type);
		art_fhir_cat(url, sizeof(url), &n, "?identifier=");
		art_fhir_cat(url, sizeof(url), &n, token);
		if (art_fhir_keep(s, url, &e->url_off) == -1)
			goto oom;
	}
done:
	e->json_off = x->jw->len;
	return (int)s->cnt++;
oom:
	snprintf(x->errstr, x->errstr_size, "out of memory");
	return -1;
}

/* Opens the JSON of entry idx: resourceType, id (NDJSON layout) and the
 * idempotency tag. */
static void art_fhir_open(struct art_fhir_ctx *x, int idx)
{
	struct art_fhir_entry *e = &x->out->entries[idx];
	struct art_jw *jw = x->jw;

	art_jw_restart(jw);
	e->json_off = jw->len;
	art_jw_obj(jw);
	art_jw_klit(jw, "resourceType", e->type);
	if (x->ndjson)
		art_jw_klit(jw, "id", e->id);
	if (!x->idem)
		return;
	art_jw_key(jw, "meta");
	if (x->meta_len) { /* the same for every resource of the event */
		art_jw_raw(jw, x->meta, x->meta_len);
		return;
	}
	{
		size_t start = jw->len;

		art_jw_obj(jw);
		art_jw_karr(jw, "tag");
		art_jw_obj(jw);
		art_jw_klit(jw, "system", ART_FHIR_IDEM_SYS);
		art_jw_kstr(jw, "code", x->idem);
		art_jw_end(jw);
		art_jw_end(jw);
		art_jw_end(jw);
		if (!art_jw_failed(jw) && jw->len - start <= sizeof(x->meta)) {
			x->meta_len = jw->len - start;
			memcpy(x->meta, jw->p + start, x->meta_len);
		}
	}
}

/* Starts resource type: art_fhir_entry_new() then art_fhir_open(). The
 * caller writes the members and calls art_fhir_end(). Returns the
 * entry's index, or -1 (errstr set). */
static int art_fhir_begin(struct art_fhir_ctx *x, const char *type, const char *cond_sys,
                          const char *cond_val, int create_only)
{
	int idx = art_fhir_entry_new(x, type, cond_sys, cond_val, create_only);

	if (idx >= 0)
		art_fhir_open(x, idx);
	return idx;
}

/* Closes the resource of entry idx. Returns 0, or -1 (errstr set) when
 * the text could not be written. */
static int art_fhir_end(struct art_fhir_ctx *x, int idx)
{
	struct art_fhir_entry *e = &x->out->entries[idx];

	art_jw_end(x->jw);
	if (art_jw_failed(x->jw) || x->jw->depth != 0) {
		snprintf(x->errstr, x->errstr_size, "FHIR text over %zu bytes or out of memory",
		         x->jw->max);
		return -1;
	}
	e->json_len = x->jw->len - e->json_off;
	return 0;
}

/* Writes a Reference to entry idx: its fullUrl (Bundle) or Type/id
 * (NDJSON). */
static void art_fhir_ref(struct art_fhir_ctx *x, int idx)
{
	const struct art_fhir_entry *e = &x->out->entries[idx];

	ART_JW_RAW(x->jw, "{\"reference\":\"");
	if (x->ndjson) {
		art_jw_raw_more(x->jw, e->type, strlen(e->type));
		ART_JW_RAW_MORE(x->jw, "/");
		art_jw_raw_more(x->jw, e->id, 36);
	} else {
		art_jw_raw_more(x->jw, e->full_url, 45);
	}
	ART_JW_RAW_MORE(x->jw, "\"}");
}

/* Writes key: a Reference to the event's patient entry. */
static void art_fhir_put_subject(struct art_fhir_ctx *x, const char *key)
{
	art_jw_key(x->jw, key);
	art_fhir_ref(x, x->pidx);
}

/* The patient's key identifier: MR, else PI, else the first with a value
 * (the partition key's rule, docs/events.md), into sys/val. -1 if none. */
static int art_fhir_patient_key(struct art_fhir_ctx *x, const tnode *pat, char *sys,
                                size_t sys_size, const char **val)
{
	const tnode *ids = art_fhir_arr(pat, "identifiers"), *id, *best = NULL;
	size_t i;
	static const char *const pref[] = {"MR", "PI", NULL};

	for (size_t k = 0; k < ART_ARRAY_SIZE(pref) && !best; k++)
		art_tnode_foreach(ids, i, id) {
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
	else
		art_fhir_scoped(x, x->facility, "patient", sys, sys_size);
	return 0;
}

/* Writes the members of a Patient from PatientRef pat and, for
 * canonical.patient events, the demographics of ev. */
static void art_fhir_patient_fill(struct art_fhir_ctx *x, const tnode *pat, const tnode *ev)
{
	struct art_jw *jw = x->jw;
	struct art_jw_mark m, mi;
	const tnode *v;
	size_t i;
	char sys[512];

	art_jw_karr(jw, "identifier");
	art_tnode_foreach(art_fhir_arr(pat, "identifiers"), i, v) {
		const char *val = art_fhir_str(v, "value"), *auth = art_fhir_str(v, "assigning_authority");

		if (!art_fhir_has_text(val))
			continue;
		if (auth)
			art_fhir_system(x->base, auth, sys, sizeof(sys));
		else
			art_fhir_scoped(x, x->facility, "patient", sys, sizeof(sys));
		art_fhir_identifier(x, sys, val, art_fhir_str(v, "type"));
	}
	art_jw_end(jw);
	art_jw_mark(jw, &m);
	art_jw_karr(jw, "name");
	art_tnode_foreach(art_fhir_arr(pat, "names"), i, v) {
		struct art_jw_mark mg;
		const tnode *g;
		size_t j;
		const char *use = art_fhir_str(v, "use");

		art_jw_mark(jw, &mi);
		art_jw_obj(jw);
		art_fhir_put_str(x, "family", art_fhir_str(v, "family"));
		art_jw_mark(jw, &mg);
		art_jw_karr(jw, "given");
		art_tnode_foreach(art_fhir_arr(v, "given"), j, g) {
			if (art_fhir_has_text(art_tnode_str(g)))
				art_jw_strn(jw, g->u.s, g->cnt);
		}
		art_jw_end_nonempty(jw, &mg);
		if (art_fhir_has_text(art_fhir_str(v, "prefix"))) {
			art_jw_karr(jw, "prefix");
			art_jw_str(jw, art_fhir_str(v, "prefix"));
			art_jw_end(jw);
		}
		if (art_fhir_has_text(art_fhir_str(v, "suffix"))) {
			art_jw_karr(jw, "suffix");
			art_jw_str(jw, art_fhir_str(v, "suffix"));
			art_jw_end(jw);
		}
		if (use) {
			static const char *const map[][2] = {{"L", "official"}, {"D", "usual"},
			                                     {"M", "maiden"},   {"N", "nickname"},
			                                     {"A", "anonymous"}, {"C", "old"}};

			for (size_t k = 0; k < ART_ARRAY_SIZE(map); k++)
				if (!strcmp(use, map[k][0]))
					art_jw_klit(jw, "use", map[k][1]);
		}
		art_jw_end_nonempty(jw, &mi);
	}
	art_jw_end_nonempty(jw, &m);
	{
		const char *sex = art_fhir_str(pat, "sex");
		static const char *const map[][2] = {{"F", "female"}, {"M", "male"}, {"O", "other"},
		                                     {"A", "other"},  {"U", "unknown"}, {"N", "unknown"}};

		for (size_t k = 0; sex && k < ART_ARRAY_SIZE(map); k++)
			if (!strcasecmp(sex, map[k][0])) {
				art_jw_klit(jw, "gender", map[k][1]);
				break;
			}
	}
	{
		const char *bd = art_fhir_str(pat, "birth_date");

		if (bd && strlen(bd) <= 10 && isdigit((unsigned char)bd[0]))
			art_jw_kstr(jw, "birthDate", bd);
	}
	if (!ev)
		return;
	/* demographics carried by canonical.patient only */
	art_jw_mark(jw, &m);
	art_jw_karr(jw, "telecom");
	art_tnode_foreach(art_fhir_arr(ev, "telecoms"), i, v) {
		const char *tsys = art_fhir_str(v, "system"), *use = art_fhir_str(v, "use");
		const char *value = art_fhir_str(v, "value");

		if (!art_fhir_has_text(value))
			continue;
		art_jw_obj(jw);
		art_jw_kstr(jw, "value", value);
		if (tsys && (!strcasecmp(tsys, "Internet") || !strcasecmp(tsys, "X.400")))
			art_jw_klit(jw, "system", "email");
		else if (tsys && !strcasecmp(tsys, "FX"))
			art_jw_klit(jw, "system", "fax");
		else if (tsys && !strcasecmp(tsys, "BP"))
			art_jw_klit(jw, "system", "pager");
		else
			art_jw_klit(jw, "system", "phone");
		if (tsys && !strcasecmp(tsys, "CP"))
			art_jw_klit(jw, "use", "mobile");
		else if (use && !strcmp(use, "WPN"))
			art_jw_klit(jw, "use", "work");
		else if (use && (!strcmp(use, "PRN") || !strcmp(use, "ORN") || !strcmp(use, "VHN")))
			art_jw_klit(jw, "use", "home");
		art_jw_end(jw);
	}
	art_jw_end_nonempty(jw, &m);
	v = art_tnode_get(ev, "deceased");
	if (art_tnode_is(v, ART_T_BOOL) && v->u.l && art_fhir_obj(ev, "deceased_at")) {
		art_fhir_put_time(x, "deceasedDateTime", ev, "deceased_at", 0);
	} else if (art_tnode_is(v, ART_T_BOOL)) {
		art_jw_key(jw, "deceasedBoolean");
		art_jw_bool(jw, (int)v->u.l);
	}
	art_jw_mark(jw, &m);
	art_jw_karr(jw, "address");
	art_tnode_foreach(art_fhir_arr(ev, "addresses"), i, v) {
		struct art_jw_mark ml;
		const tnode *l;
		size_t j;
		const char *use = art_fhir_str(v, "use");

		art_jw_mark(jw, &mi);
		art_jw_obj(jw);
		art_jw_mark(jw, &ml);
		art_jw_karr(jw, "line");
		art_tnode_foreach(art_fhir_arr(v, "lines"), j, l) {
			if (art_fhir_has_text(art_tnode_str(l)))
				art_jw_strn(jw, l->u.s, l->cnt);
		}
		art_jw_end_nonempty(jw, &ml);
		art_fhir_put_str(x, "city", art_fhir_str(v, "city"));
		art_fhir_put_str(x, "state", art_fhir_str(v, "state"));
		art_fhir_put_str(x, "postalCode", art_fhir_str(v, "postal_code"));
		art_fhir_put_str(x, "country", art_fhir_str(v, "country"));
		if (use && (!strcmp(use, "H") || !strcmp(use, "P")))
			art_jw_klit(jw, "use", "home");
		else if (use && (!strcmp(use, "B") || !strcmp(use, "O")))
			art_jw_klit(jw, "use", "work");
		else if (use && !strcmp(use, "C"))
			art_jw_klit(jw, "use", "temp");
		art_jw_end_nonempty(jw, &mi);
	}
	art_jw_end_nonempty(jw, &m);
	art_fhir_put_cc(x, "maritalStatus", art_fhir_obj(ev, "marital_status"));
	{
		const tnode *lang = art_fhir_obj(ev, "language");

		if (art_fhir_coding_ok(lang)) {
			art_jw_karr(jw, "communication");
			art_jw_obj(jw);
			art_jw_key(jw, "language");
			art_fhir_cc(x, lang);
			art_jw_end(jw);
			art_jw_end(jw);
		}
	}
}

/* Starts the patient the event is about: a full conditional update for
 * canonical.patient (full = 1; left open for the caller to finish with
 * art_fhir_end()), else a conditional-create stub (closed). Sets
 * x->pidx and returns 0, or -1 (errstr set) when the event has no
 * usable patient. */
static int art_fhir_patient(struct art_fhir_ctx *x, int full)
{
	const tnode *pat = art_fhir_obj(x->ev, "patient");
	char sys[512];
	const char *val = NULL;
	int idx;

	if (!pat || art_fhir_patient_key(x, pat, sys, sizeof(sys), &val) == -1) {
		snprintf(x->errstr, x->errstr_size, "event %s has no patient identifier", x->event_id);
		return -1;
	}
	if (!full && x->ndjson) {
		/* a stub is never written as a line: its id is all that matters */
		idx = art_fhir_entry_new(x, "Patient", sys, val, 1);
		x->pidx = idx;
		return idx < 0 ? -1 : 0;
	}
	idx = art_fhir_begin(x, "Patient", sys, val, !full);
	if (idx < 0)
		return -1;
	art_fhir_patient_fill(x, pat, full ? x->ev : NULL);
	x->pidx = idx;
	return full ? 0 : art_fhir_end(x, idx);
}

/* ---- domains ---------------------------------------------------------------- */

static int art_fhir_do_patient(struct art_fhir_ctx *x)
{
	struct art_jw *jw = x->jw;
	struct art_jw_mark m;
	const tnode *merge, *v;
	size_t i;

	if (art_fhir_patient(x, 1) == -1)
		return -1;
	art_jw_key(jw, "active");
	art_jw_bool(jw, strcmp(x->event_type, "patient.deleted") != 0);
	merge = art_fhir_obj(x->ev, "merge");
	if (merge) {
		art_jw_mark(jw, &m);
		art_jw_karr(jw, "link");
		art_tnode_foreach(art_fhir_arr(merge, "prior_identifiers"), i, v) {
			const char *val = art_fhir_str(v, "value"), *auth = art_fhir_str(v, "assigning_authority");
			char sys[512];

			if (!art_fhir_has_text(val))
				continue;
			if (auth)
				art_fhir_system(x->base, auth, sys, sizeof(sys));
			else
				art_fhir_scoped(x, x->facility, "patient", sys, sizeof(sys));
			art_jw_obj(jw);
			art_jw_kobj(jw, "other");
			art_jw_klit(jw, "type", "Patient");
			art_jw_key(jw, "identifier");
			art_fhir_identifier(x, sys, val, NULL);
			art_jw_end(jw);
			art_jw_klit(jw, "type", "replaces");
			art_jw_end(jw);
		}
		art_jw_end_nonempty(jw, &m);
	}
	return art_fhir_end(x, x->pidx);
}

/* FHIR Observation.status of an OBX-11 / report status code. */
static const char *art_fhir_obs_status(const char *s, int report)
{
	if (!s)
		return "unknown";
	switch (s[0]) {
	case 'F':
		return "final";
	case 'P':
	case 'A':
		return report ? "partial" : "preliminary";
	case 'C':
		return "corrected";
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

/* Writes the value[x], interpretation, range, notes of an Observation
 * from a canonical Observation. */
static void art_fhir_obs_value(struct art_fhir_ctx *x, const tnode *o)
{
	struct art_jw *jw = x->jw;
	struct art_jw_mark m;
	double num = 0, num2 = 0;
	int has = art_fhir_num(art_tnode_get(o, "value_number"), &num);
	int has2 = art_fhir_num(art_tnode_get(o, "value_number2"), &num2);
	const tnode *units = art_fhir_obj(o, "units"), *f;
	const char *cmp = art_fhir_str(o, "value_comparator"), *sep = art_fhir_str(o, "value_separator");
	size_t i;

	if (has && has2 && sep && (!strcmp(sep, ":") || !strcmp(sep, "/"))) {
		art_jw_kobj(jw, "valueRatio");
		art_fhir_put_value(x, "numerator", num);
		art_fhir_put_value(x, "denominator", num2);
		art_jw_end(jw);
	} else if (has && has2 && sep && !strcmp(sep, "-")) {
		art_jw_kobj(jw, "valueRange");
		art_fhir_put_value(x, "low", num);
		art_fhir_put_value(x, "high", num2);
		art_jw_end(jw);
	} else if (has) {
		const char *ucode = art_fhir_str(units, "code"), *utext = art_fhir_str(units, "display");
		char sbuf[512];

		art_jw_kobj(jw, "valueQuantity");
		art_jw_key(jw, "value");
		art_jw_double(jw, num);
		if (cmp && (!strcmp(cmp, "<") || !strcmp(cmp, "<=") || !strcmp(cmp, ">=") ||
		            !strcmp(cmp, ">")))
			art_jw_kstr(jw, "comparator", cmp);
		art_fhir_put_str(x, "unit", utext ? utext : ucode);
		if (ucode) {
			const char *usys = art_fhir_str(units, "system");

			art_fhir_put_str(x, "system",
			                 usys ? art_fhir_cs(x, usys, sbuf, sizeof(sbuf)) : "http://unitsofmeasure.org");
			art_fhir_put_code(x, "code", ucode);
		}
		art_jw_end(jw);
	} else if (art_fhir_coding_ok(art_fhir_obj(o, "value_coding"))) {
		art_fhir_put_cc(x, "valueCodeableConcept", art_fhir_obj(o, "value_coding"));
	} else if (art_fhir_put_time(x, "valueDateTime", o, "value_time", 0) == 0) {
		/* written */
	} else if (art_fhir_has_text(art_fhir_str(o, "value_text"))) {
		art_jw_kstr(jw, "valueString", art_fhir_str(o, "value_text"));
	}
	art_jw_mark(jw, &m);
	art_jw_karr(jw, "interpretation");
	art_tnode_foreach(art_fhir_arr(o, "abnormal_flags"), i, f) {
		char buf[32];

		if (art_tnode_str(f) && art_fhir_code(f->u.s, buf, sizeof(buf)))
			art_fhir_cc_code(x, "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
			                 buf);
	}
	art_jw_end_nonempty(jw, &m);
	if (art_fhir_has_text(art_fhir_str(o, "reference_range"))) {
		art_jw_karr(jw, "referenceRange");
		art_jw_obj(jw);
		art_jw_kstr(jw, "text", art_fhir_str(o, "reference_range"));
		art_jw_end(jw);
		art_jw_end(jw);
	}
	art_fhir_put_notes(x, art_fhir_arr(o, "notes"));
}

/* Writes an Observation entry for canonical observation o, keyed by
 * key_sys|key_val; its effective time falls back to fallback_time (the
 * report's, may be NULL). Returns the entry or -1. */
static int art_fhir_observation(struct art_fhir_ctx *x, const tnode *o, const char *key_sys,
                                const char *key_val, const char *fallback_time)
{
	const tnode *code = art_fhir_obj(o, "code");
	int idx = art_fhir_begin(x, "Observation", key_sys, key_val, 0);

	if (idx < 0)
		return -1;
	art_fhir_put_identifiers1(x, key_sys, key_val, NULL);
	art_jw_klit(x->jw, "status", art_fhir_obs_status(art_fhir_str(o, "status"), 0));
	art_jw_key(x->jw, "code");
	if (art_fhir_cc(x, code) == -1)
		art_fhir_cc_text(x, "unknown");
	if (x->pidx >= 0)
		art_fhir_put_subject(x, "subject");
	if (art_fhir_put_time(x, "effectiveDateTime", o, "observed_at", 0) == -1 && fallback_time)
		art_jw_kstr(x->jw, "effectiveDateTime", fallback_time);
	art_fhir_obs_value(x, o);
	return art_fhir_end(x, idx) == 0 ? idx : -1;
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
	struct art_jw *jw = x->jw;
	const tnode *reports = art_fhir_arr(x->ev, "reports"), *r, *o;
	size_t i, j;

	if (art_fhir_patient(x, 0) == -1)
		return -1;
	art_tnode_foreach(reports, i, r) {
		char sys[512], val[600], osys[512], oval[700];
		const char *filler = art_fhir_str(r, "filler_order_id");
		const char *placer = art_fhir_str(r, "placer_order_id");
		const tnode *code = art_fhir_obj(r, "code"), *notes = art_fhir_arr(r, "notes");
		const char *codeval = code ? art_fhir_str(code, "code") : NULL;
		char tbuf[64];
		const char *eff = NULL;
		size_t first_obs = x->out->cnt;
		struct art_jw_mark m;
		int idx;

		/* Key: filler number (+ test code: one order may carry several
		 * reports), else placer number, else the event and position. */
		if (art_fhir_has_text(filler) || art_fhir_has_text(placer)) {
			size_t n = 0;

			art_fhir_order_system(x, NULL, art_fhir_has_text(filler) ? "filler" : "placer", sys,
			                      sizeof(sys));
			art_fhir_cat(val, sizeof(val), &n, art_fhir_has_text(filler) ? filler : placer);
			if (codeval) {
				art_fhir_cat(val, sizeof(val), &n, "^");
				art_fhir_cat(val, sizeof(val), &n, codeval);
			}
		} else {
			snprintf(sys, sizeof(sys), "%s", ART_FHIR_RFC3986);
			snprintf(val, sizeof(val), "urn:uuid:%s#report-%zu", x->event_id, i);
		}
		if (art_fhir_obj(r, "observed_at") &&
		    art_fhir_datetime(art_fhir_obj(r, "observed_at"), 0, tbuf, sizeof(tbuf)) == 0)
			eff = tbuf;
		/* the observations first: the report refers to them */
		art_tnode_foreach(art_fhir_arr(r, "observations"), j, o) {
			const tnode *sid = art_tnode_get(o, "set_id");
			const char *ocode = art_fhir_str(art_fhir_obj(o, "code"), "code");
			const char *sub = art_fhir_str(o, "sub_id");
			size_t n = 0;

			/* observation key: the report key + position + code + sub id */
			art_fhir_cat(oval, sizeof(oval), &n, val);
			art_fhir_cat(oval, sizeof(oval), &n, "/");
			art_fhir_cat_uint(oval, sizeof(oval), &n,
			                  art_tnode_is(sid, ART_T_LONG) ? (size_t)sid->u.l : j + 1);
			art_fhir_cat(oval, sizeof(oval), &n, "/");
			art_fhir_cat(oval, sizeof(oval), &n, ocode ? ocode : "");
			art_fhir_cat(oval, sizeof(oval), &n, "/");
			art_fhir_cat(oval, sizeof(oval), &n, sub ? sub : "");
			if (art_fhir_observation(x, o, sys, oval, eff) < 0)
				return -1;
		}
		idx = art_fhir_begin(x, "DiagnosticReport", sys, val, 0);
		if (idx < 0)
			return -1;
		art_jw_karr(jw, "identifier");
		art_fhir_identifier(x, sys, val, NULL);
		if (art_fhir_has_text(filler))
			art_fhir_identifier(x, art_fhir_order_system(x, NULL, "filler", osys, sizeof(osys)),
			                    filler, "FILL");
		if (art_fhir_has_text(placer))
			art_fhir_identifier(x, art_fhir_order_system(x, NULL, "placer", osys, sizeof(osys)),
			                    placer, "PLAC");
		art_jw_end(jw);
		art_jw_klit(jw, "status", art_fhir_obs_status(art_fhir_str(r, "status"), 1));
		art_jw_key(jw, "code");
		if (art_fhir_cc(x, code) == -1)
			art_fhir_cc_text(x, "unknown");
		art_fhir_put_subject(x, "subject");
		if (eff)
			art_jw_kstr(jw, "effectiveDateTime", eff);
		art_fhir_put_time(x, "issued", r, "reported_at", 1);
		if (art_tnode_len(notes)) {
			/* DiagnosticReport has no note in R4: the report's notes,
			 * joined by newlines, become its conclusion (when they have
			 * text) */
			const tnode *n;
			size_t k;
			int text = 0, first = 1;

			art_tnode_foreach(notes, k, n) text |= art_fhir_has_text(art_tnode_str(n));
			if (text) {
				art_jw_key(jw, "conclusion");
				art_jw_str_begin(jw);
				art_tnode_foreach(notes, k, n) {
					if (!art_tnode_str(n))
						continue;
					if (!first)
						art_jw_str_add(jw, "\n", 1);
					art_jw_str_add(jw, n->u.s, strlen(n->u.s));
					first = 0;
				}
				art_jw_str_end(jw);
			}
		}
		art_jw_mark(jw, &m);
		art_jw_karr(jw, "result");
		for (size_t k = first_obs; k < (size_t)idx; k++)
			art_fhir_ref(x, (int)k);
		art_jw_end_nonempty(jw, &m);
		if (art_fhir_end(x, idx) == -1)
			return -1;
	}
	return 0;
}

/* Writes participants of the providers at key with type code as items of
 * the open array. */
static void art_fhir_participants(struct art_fhir_ctx *x, const tnode *ev, const char *key,
                                  const char *type)
{
	struct art_jw *jw = x->jw;
	const tnode *p;
	size_t i;

	art_tnode_foreach(art_fhir_arr(ev, key), i, p) {
		struct art_jw_mark m;

		art_jw_mark(jw, &m);
		art_jw_obj(jw);
		art_jw_karr(jw, "type");
		art_fhir_cc_code(x, "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", type);
		art_jw_end(jw);
		art_jw_key(jw, "individual");
		if (art_fhir_provider_ref(x, p) == -1) {
			art_jw_rollback(jw, &m);
			continue;
		}
		art_jw_end(jw);
	}
}

/* A visit-number key: system + value of canonical Identifier id; -1 if none. */
static int art_fhir_visit_key(struct art_fhir_ctx *x, const tnode *id, char *sys, size_t size,
                              const char **val)
{
	const char *auth;

	*val = art_fhir_str(id, "value");
	if (!art_fhir_has_text(*val))
		return -1;
	auth = art_fhir_str(id, "assigning_authority");
	if (auth)
		art_fhir_system(x->base, auth, sys, size);
	else
		art_fhir_scoped(x, x->facility, "visit", sys, size);
	return 0;
}

/* Writes {"location": {"display": text}, "status": status}. */
static void art_fhir_enc_location(struct art_fhir_ctx *x, const char *text, const char *status)
{
	art_jw_obj(x->jw);
	art_jw_kobj(x->jw, "location");
	art_jw_kstr(x->jw, "display", text);
	art_jw_end(x->jw);
	art_jw_klit(x->jw, "status", status);
	art_jw_end(x->jw);
}

static int art_fhir_do_encounter(struct art_fhir_ctx *x)
{
	struct art_jw *jw = x->jw;
	struct art_jw_mark m;
	const tnode *cls;
	const char *status = art_fhir_str(x->ev, "status"), *kval;
	char sys[512], ebuf[128], lbuf[1024];
	int idx;

	if (art_fhir_patient(x, 0) == -1)
		return -1;
	if (art_fhir_visit_key(x, art_fhir_obj(x->ev, "visit_number"), sys, sizeof(sys), &kval) == -1) {
		snprintf(sys, sizeof(sys), "%s", ART_FHIR_RFC3986);
		snprintf(ebuf, sizeof(ebuf), "urn:uuid:%s", x->event_id);
		kval = ebuf;
	}
	idx = art_fhir_begin(x, "Encounter", sys, kval, 0);
	if (idx < 0)
		return -1;
	art_fhir_put_identifiers1(x, sys, kval, "VN");
	art_jw_kstr(jw, "status", status ? status : "unknown");
	cls = art_fhir_obj(x->ev, "class");
	{
		static const char *const v3[][2] = {{"I", "IMP"}, {"O", "AMB"}, {"E", "EMER"},
		                                    {"P", "PRENC"}, {"R", "AMB"}, {"B", "OBSENC"}};
		const char *code = art_fhir_str(cls, "code");
		const char *mapped = NULL;

		for (size_t k = 0; code && k < ART_ARRAY_SIZE(v3); k++)
			if (!strcmp(code, v3[k][0]))
				mapped = v3[k][1];
		art_jw_key(jw, "class");
		if (mapped) {
			art_jw_obj(jw);
			art_jw_klit(jw, "system", "http://terminology.hl7.org/CodeSystem/v3-ActCode");
			art_jw_klit(jw, "code", mapped);
			art_jw_end(jw);
		} else if (art_fhir_coding(x, cls) == -1) {
			art_jw_obj(jw);
			art_jw_klit(jw, "system", "http://terminology.hl7.org/CodeSystem/v3-NullFlavor");
			art_jw_klit(jw, "code", "UNK");
			art_jw_end(jw);
		}
	}
	art_fhir_put_cc(x, "serviceType", art_fhir_obj(x->ev, "hospital_service"));
	art_fhir_put_cc(x, "priority", art_fhir_obj(x->ev, "admission_type"));
	art_fhir_put_subject(x, "subject");
	art_jw_mark(jw, &m);
	art_jw_karr(jw, "participant");
	art_fhir_participants(x, x->ev, "attending_providers", "ATND");
	art_fhir_participants(x, x->ev, "referring_providers", "REF");
	art_fhir_participants(x, x->ev, "consulting_providers", "CON");
	art_fhir_participants(x, x->ev, "admitting_providers", "ADM");
	art_jw_end_nonempty(jw, &m);
	art_jw_mark(jw, &m);
	art_jw_kobj(jw, "period");
	art_fhir_put_time(x, "start", x->ev, "admitted_at", 0);
	art_fhir_put_time(x, "end", x->ev, "discharged_at", 0);
	art_jw_end_nonempty(jw, &m);
	art_fhir_put_cc1(x, "reasonCode", art_fhir_obj(x->ev, "admit_reason"));
	art_jw_mark(jw, &m);
	art_jw_kobj(jw, "hospitalization");
	art_fhir_put_cc(x, "admitSource", art_fhir_obj(x->ev, "admit_source"));
	art_fhir_put_cc(x, "dischargeDisposition", art_fhir_obj(x->ev, "discharge_disposition"));
	art_jw_end_nonempty(jw, &m);
	art_jw_mark(jw, &m);
	art_jw_karr(jw, "location");
	if (art_fhir_location_text(art_fhir_obj(x->ev, "location"), lbuf, sizeof(lbuf)))
		art_fhir_enc_location(x, lbuf, status && !strcmp(status, "planned") ? "planned" : "active");
	if (art_fhir_location_text(art_fhir_obj(x->ev, "prior_location"), lbuf, sizeof(lbuf)))
		art_fhir_enc_location(x, lbuf, "completed");
	if (art_fhir_location_text(art_fhir_obj(x->ev, "pending_location"), lbuf, sizeof(lbuf)))
		art_fhir_enc_location(x, lbuf, "planned");
	art_jw_end_nonempty(jw, &m);
	return art_fhir_end(x, idx);
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

/* Writes the PLAC/FILL identifiers as items of the open array. */
static void art_fhir_order_ids(struct art_fhir_ctx *x, const char *filler, const char *filler_auth,
                               const char *placer, const char *placer_auth)
{
	char sys[512];

	if (art_fhir_has_text(placer))
		art_fhir_identifier(x, art_fhir_order_system(x, placer_auth, "placer", sys, sizeof(sys)),
		                    placer, "PLAC");
	if (art_fhir_has_text(filler))
		art_fhir_identifier(x, art_fhir_order_system(x, filler_auth, "filler", sys, sizeof(sys)),
		                    filler, "FILL");
}

/* Writes the dosage and dispense members of a MedicationRequest from the
 * canonical medication m (may be NULL). */
static void art_fhir_medication(struct art_fhir_ctx *x, const tnode *m)
{
	struct art_jw *jw = x->jw;
	struct art_jw_mark mk, md;
	const tnode *instr = art_fhir_arr(m, "instructions"), *s;
	const tnode *refills = art_tnode_get(m, "refills");
	double lo = 0, hi = 0, disp = 0;
	int has_lo = art_fhir_num(art_tnode_get(m, "give_amount_min"), &lo);
	int has_hi = art_fhir_num(art_tnode_get(m, "give_amount_max"), &hi);
	int has_disp = art_fhir_num(art_tnode_get(m, "dispense_amount"), &disp);
	int has_refills = art_tnode_is(refills, ART_T_LONG) && refills->u.l >= 0;
	char text[2048];
	size_t n = 0, i;

	text[0] = '\0';
	art_tnode_foreach(instr, i, s) {
		int w;

		if (!art_tnode_str(s))
			continue;
		w = snprintf(text + n, sizeof(text) - n, "%s%s", n ? "; " : "", s->u.s);
		if (w < 0 || (size_t)w >= sizeof(text) - n)
			break;
		n += (size_t)w;
	}
	art_jw_mark(jw, &mk);
	art_jw_karr(jw, "dosageInstruction");
	art_jw_mark(jw, &md);
	art_jw_obj(jw);
	art_fhir_put_str(x, "text", text);
	art_fhir_put_cc(x, "route", art_tnode_at(art_fhir_arr(m, "routes"), 0));
	if (has_lo && has_hi) {
		art_jw_karr(jw, "doseAndRate");
		art_jw_obj(jw);
		art_jw_kobj(jw, "doseRange");
		art_fhir_put_value(x, "low", lo);
		art_fhir_put_value(x, "high", hi);
		art_jw_end(jw);
		art_jw_end(jw);
		art_jw_end(jw);
	} else if (has_lo) {
		/* a maximum without a minimum says too little */
		art_jw_karr(jw, "doseAndRate");
		art_jw_obj(jw);
		art_fhir_put_value(x, "doseQuantity", lo);
		art_jw_end(jw);
		art_jw_end(jw);
	}
	if (art_jw_end_nonempty(jw, &md))
		art_jw_end(jw);
	else
		art_jw_rollback(jw, &mk);
	if (has_disp || has_refills) {
		art_jw_kobj(jw, "dispenseRequest");
		if (has_disp)
			art_fhir_put_value(x, "quantity", disp);
		if (has_refills) {
			art_jw_key(jw, "numberOfRepeatsAllowed");
			art_jw_long(jw, refills->u.l);
		}
		art_jw_end(jw);
	}
}

static int art_fhir_do_order(struct art_fhir_ctx *x)
{
	struct art_jw *jw = x->jw;
	struct art_jw_mark m;
	const tnode *ev = x->ev;
	const char *cat = art_fhir_str(ev, "category"), *et = x->event_type;
	int med = cat && !strcmp(cat, "medication");
	const char *filler = art_fhir_str(ev, "filler_order_id"), *placer = art_fhir_str(ev, "placer_order_id");
	const char *fa = art_fhir_str(ev, "filler_order_authority"), *pa = art_fhir_str(ev, "placer_order_authority");
	const tnode *code;
	char sys[512], val[512];
	const char *status = "active";
	int idx;

	if (art_fhir_patient(x, 0) == -1)
		return -1;
	if (strstr(et, "cancelled"))
		status = med ? "cancelled" : "revoked";
	else if (strstr(et, "discontinued"))
		status = med ? "stopped" : "revoked";
	else if (strstr(et, "held"))
		status = "on-hold";
	else if (art_fhir_str(ev, "order_status") && !strcmp(art_fhir_str(ev, "order_status"), "CM"))
		status = "completed";
	art_fhir_order_key(x, filler, fa, placer, pa, "#order", sys, sizeof(sys), val, sizeof(val));
	idx = art_fhir_begin(x, med ? "MedicationRequest" : "ServiceRequest", sys, val, 0);
	if (idx < 0)
		return -1;
	art_jw_karr(jw, "identifier");
	if (!strcmp(sys, ART_FHIR_RFC3986))
		art_fhir_identifier(x, sys, val, NULL);
	art_fhir_order_ids(x, filler, fa, placer, pa);
	art_jw_end(jw);
	art_jw_klit(jw, "status", status);
	art_jw_klit(jw, "intent", "order");
	code = art_fhir_obj(ev, "code");
	if (med) {
		art_jw_key(jw, "medicationCodeableConcept");
		if (art_fhir_cc(x, code) == -1)
			art_fhir_cc_text(x, "unknown");
	} else {
		art_fhir_put_cc(x, "code", code);
	}
	art_fhir_put_subject(x, "subject");
	{
		const char *pr = art_fhir_str(ev, "priority");

		if (pr) {
			static const char *const map[][2] = {{"S", "stat"}, {"A", "asap"}, {"R", "routine"},
			                                     {"P", "urgent"}, {"T", "urgent"}, {"C", "urgent"}};

			for (size_t k = 0; k < ART_ARRAY_SIZE(map); k++)
				if (!strcmp(pr, map[k][0])) {
					art_jw_klit(jw, "priority", map[k][1]);
					break;
				}
		}
	}
	art_fhir_put_time(x, "authoredOn", ev, "transaction_at", 0);
	art_fhir_put_provider(x, "requester", art_tnode_at(art_fhir_arr(ev, "ordering_providers"), 0));
	art_jw_mark(jw, &m);
	art_jw_karr(jw, "reasonCode");
	art_fhir_append_each(x, art_fhir_arr(ev, "reasons"), art_fhir_cc);
	art_fhir_append_each(x, art_fhir_arr(ev, "diagnoses"), art_fhir_cc);
	art_jw_end_nonempty(jw, &m);
	art_fhir_put_notes(x, art_fhir_arr(ev, "notes"));
	if (med) {
		art_fhir_medication(x, art_fhir_obj(ev, "medication"));
	} else {
		art_jw_mark(jw, &m);
		art_jw_kobj(jw, "occurrencePeriod");
		art_fhir_put_time(x, "start", ev, "start_at", 0);
		art_fhir_put_time(x, "end", ev, "end_at", 0);
		art_jw_end_nonempty(jw, &m);
	}
	return art_fhir_end(x, idx);
}

/* Writes {"actor": <entry or reference>, "status": "accepted"}-style
 * participant items of an Appointment. */
static void art_fhir_appt_participants(struct art_fhir_ctx *x, const tnode *ev)
{
	struct art_jw *jw = x->jw;
	const tnode *r;
	char lbuf[1024];
	size_t i;

	art_jw_karr(jw, "participant");
	if (x->pidx >= 0) {
		art_jw_obj(jw);
		art_fhir_put_subject(x, "actor");
		art_jw_klit(jw, "status", "accepted");
		art_jw_end(jw);
	}
	art_tnode_foreach(art_fhir_arr(ev, "resources"), i, r) {
		struct art_jw_mark m;
		int ok = 0;

		art_jw_mark(jw, &m);
		art_jw_obj(jw);
		art_jw_key(jw, "actor");
		if (art_fhir_obj(r, "person")) {
			ok = art_fhir_provider_ref(x, art_fhir_obj(r, "person")) == 0;
		} else if (art_fhir_location_text(art_fhir_obj(r, "location"), lbuf, sizeof(lbuf))) {
			art_jw_obj(jw);
			art_jw_klit(jw, "type", "Location");
			art_jw_kstr(jw, "display", lbuf);
			art_jw_end(jw);
			ok = 1;
		}
		if (!ok) {
			art_jw_rollback(jw, &m);
			continue;
		}
		art_jw_klit(jw, "status", "accepted");
		art_jw_end(jw);
	}
	if (art_jw_empty(jw)) {
		art_jw_obj(jw);
		art_jw_klit(jw, "status", "needs-action");
		art_jw_end(jw);
	}
	art_jw_end(jw);
}

static int art_fhir_do_appointment(struct art_fhir_ctx *x)
{
	struct art_jw *jw = x->jw;
	const tnode *ev = x->ev, *n;
	const char *et = x->event_type;
	const char *status = "booked";
	char sys[512], val[512];
	size_t i;
	int idx;

	if (!strncmp(et, "appointment.slots_", 18))
		return 0; /* blocked/opened slots are Slot/Schedule business: not delivered */
	if (art_fhir_obj(ev, "patient") && art_fhir_patient(x, 0) == -1)
		return -1;
	if (strstr(et, "cancelled") || strstr(et, "discontinued") || strstr(et, "deleted"))
		status = strstr(et, "resource_") ? "booked" : "cancelled";
	else if (strstr(et, "noshow"))
		status = "noshow";
	art_fhir_order_key(x, art_fhir_str(ev, "filler_appointment_id"), NULL,
	                   art_fhir_str(ev, "placer_appointment_id"), NULL, "#appointment", sys,
	                   sizeof(sys), val, sizeof(val));
	idx = art_fhir_begin(x, "Appointment", sys, val, 0);
	if (idx < 0)
		return -1;
	art_fhir_put_identifiers1(x, sys, val, NULL);
	art_jw_klit(jw, "status", status);
	art_fhir_put_cc(x, "appointmentType", art_fhir_obj(ev, "appointment_type"));
	art_fhir_put_cc1(x, "reasonCode", art_fhir_obj(ev, "reason"));
	if (art_fhir_put_time(x, "start", ev, "start_at", 1) == 0)
		art_fhir_put_time(x, "end", ev, "end_at", 1);
	{
		double d;
		const char *units = art_fhir_str(art_fhir_obj(ev, "duration_units"), "code");

		if (art_fhir_num(art_tnode_get(ev, "duration"), &d) && d >= 1 && d < 1e6 &&
		    (!units || !strncasecmp(units, "min", 3))) {
			art_jw_key(jw, "minutesDuration");
			art_jw_long(jw, (int64_t)d);
		}
	}
	/* Appointment has no note in R4 and its comment is one string: the
	 * first note with text goes there */
	art_tnode_foreach(art_fhir_arr(ev, "notes"), i, n) {
		if (art_fhir_has_text(art_tnode_str(n))) {
			art_jw_kstr(jw, "comment", n->u.s);
			break;
		}
	}
	art_fhir_appt_participants(x, ev);
	return art_fhir_end(x, idx);
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

/* Writes key: the base64 of len bytes at p (nothing for none or more than
 * 64 MiB). */
static void art_fhir_put_base64(struct art_fhir_ctx *x, const char *key, const char *p, size_t len)
{
	unsigned char stack[4096], *out = stack;
	size_t cap = 4 * ((len + 2) / 3) + 1;

	if (len == 0 || len > (64u << 20))
		return;
	if (cap > sizeof(stack)) {
		out = malloc(cap);
		if (!out) {
			x->jw->err = 1; /* reported as out of memory by art_fhir_end() */
			return;
		}
	}
	EVP_EncodeBlock(out, (const unsigned char *)p, (int)len);
	art_jw_kstr(x->jw, key, (const char *)out);
	if (out != stack)
		free(out);
}

/* Writes one content item of a DocumentReference for canonical
 * attachment a as an item of the open array (nothing when it says
 * nothing). */
static void art_fhir_doc_attachment(struct art_fhir_ctx *x, const tnode *a)
{
	struct art_jw *jw = x->jw;
	struct art_jw_mark m, ma;
	const char *kind = art_fhir_str(a, "kind"), *mt = art_fhir_str(a, "media_type");
	const char *data = art_fhir_str(a, "data"), *enc = art_fhir_str(a, "encoding");
	int reference = kind && !strcmp(kind, "reference");
	int as_is = data && enc && !strcasecmp(enc, "Base64") && art_fhir_is_base64(data);
	char mbuf[128];
	const char *ctype = NULL;

	if (mt && strchr(mt, '/') && art_fhir_code(mt, mbuf, sizeof(mbuf)))
		ctype = mbuf;
	if (!reference && data && !as_is)
		ctype = "text/plain; charset=utf-8"; /* the text is encoded here */
	art_jw_mark(jw, &m);
	art_jw_obj(jw);
	art_jw_key(jw, "attachment");
	art_jw_mark(jw, &ma);
	art_jw_obj(jw);
	if (ctype)
		art_jw_kstr(jw, "contentType", ctype);
	if (reference) {
		const char *ref = art_fhir_str(a, "reference");

		if (ref && !strpbrk(ref, " \t\r\n"))
			art_jw_kstr(jw, "url", ref);
		else
			art_fhir_put_str(x, "title", ref);
	} else if (data) {
		if (as_is)
			art_jw_kstr(jw, "data", data);
		else
			art_fhir_put_base64(x, "data", data, strlen(data));
	}
	if (art_jw_empty(jw)) {
		art_jw_rollback(jw, &m);
		return;
	}
	art_jw_end(jw);
	art_jw_end(jw);
}

static int art_fhir_do_document(struct art_fhir_ctx *x)
{
	struct art_jw *jw = x->jw;
	struct art_jw_mark m;
	const tnode *ev = x->ev, *a;
	const char *text = art_fhir_str(ev, "text"), *et = x->event_type;
	const char *docid = art_fhir_str(ev, "document_id"), *parent = art_fhir_str(ev, "parent_document_id");
	char sys[512], val[512];
	size_t i;
	int idx;

	if (art_fhir_patient(x, 0) == -1)
		return -1;
	if (art_fhir_has_text(docid)) {
		art_fhir_scoped(x, x->facility, "document", sys, sizeof(sys));
		snprintf(val, sizeof(val), "%s", docid);
	} else {
		snprintf(sys, sizeof(sys), "%s", ART_FHIR_RFC3986);
		snprintf(val, sizeof(val), "urn:uuid:%s#document", x->event_id);
	}
	idx = art_fhir_begin(x, "DocumentReference", sys, val, 0);
	if (idx < 0)
		return -1;
	art_fhir_put_identifiers1(x, sys, val, NULL);
	art_jw_klit(jw, "status", strstr(et, "cancelled") ? "entered-in-error" : "current");
	{
		const char *cs = art_fhir_str(ev, "completion_status");

		if (cs && (!strcmp(cs, "AU") || !strcmp(cs, "LA")))
			art_jw_klit(jw, "docStatus", "final");
		else if (cs && (!strcmp(cs, "PA") || !strcmp(cs, "IP") || !strcmp(cs, "IN") ||
		                !strcmp(cs, "DI") || !strcmp(cs, "DO")))
			art_jw_klit(jw, "docStatus", "preliminary");
	}
	art_fhir_put_cc(x, "type", art_fhir_obj(ev, "document_type"));
	art_fhir_put_subject(x, "subject");
	if (art_fhir_put_time(x, "date", ev, "activity_at", 1) == -1)
		art_fhir_put_time(x, "date", ev, "originated_at", 1);
	art_jw_mark(jw, &m);
	art_jw_karr(jw, "author");
	art_fhir_append_each(x, art_fhir_arr(ev, "authors"), art_fhir_provider_ref);
	art_jw_end_nonempty(jw, &m);
	art_fhir_put_provider(x, "authenticator",
	                      art_tnode_at(art_fhir_arr(ev, "authenticators"), 0));
	art_fhir_put_str(x, "description", art_fhir_str(ev, "file_name"));
	if (art_fhir_has_text(parent)) {
		char psys[512];

		art_fhir_scoped(x, x->facility, "document", psys, sizeof(psys));
		art_jw_karr(jw, "relatesTo");
		art_jw_obj(jw);
		art_jw_klit(jw, "code", strstr(et, "replaced") ? "replaces" : "appends");
		art_jw_kobj(jw, "target");
		art_jw_klit(jw, "type", "DocumentReference");
		art_jw_key(jw, "identifier");
		art_fhir_identifier(x, psys, parent, NULL);
		art_jw_end(jw);
		art_jw_end(jw);
		art_jw_end(jw);
	}
	art_jw_karr(jw, "content");
	if (text) {
		art_jw_obj(jw);
		art_jw_kobj(jw, "attachment");
		art_jw_klit(jw, "contentType", "text/plain; charset=utf-8");
		art_fhir_put_base64(x, "data", text, strlen(text));
		art_jw_end(jw);
		art_jw_end(jw);
	}
	art_tnode_foreach(art_fhir_arr(ev, "attachments"), i, a) art_fhir_doc_attachment(x, a);
	if (art_jw_empty(jw)) {
		/* a notification without content: the attachment only names it */
		art_jw_obj(jw);
		art_jw_kobj(jw, "attachment");
		art_jw_kstr(jw, "title", art_fhir_has_text(art_fhir_str(ev, "file_name"))
		                             ? art_fhir_str(ev, "file_name")
		                             : "document (content not sent)");
		art_jw_end(jw);
		art_jw_end(jw);
	}
	art_jw_end(jw);
	return art_fhir_end(x, idx);
}

static int art_fhir_do_immunization(struct art_fhir_ctx *x)
{
	struct art_jw *jw = x->jw;
	struct art_jw_mark m;
	const tnode *ev = x->ev, *p;
	const char *cs = art_fhir_str(ev, "completion_status"), *ac = art_fhir_str(ev, "action_code");
	char sys[512], val[600], lot[256];
	const char *vcode;
	char tbuf[64];
	size_t i;
	int idx;

	if (art_fhir_patient(x, 0) == -1)
		return -1;
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
	idx = art_fhir_begin(x, "Immunization", sys, val, 0);
	if (idx < 0)
		return -1;
	art_fhir_put_identifiers1(x, sys, val, NULL);
	if (ac && !strcmp(ac, "D"))
		art_jw_klit(jw, "status", "entered-in-error");
	else if (cs && (!strcmp(cs, "RE") || !strcmp(cs, "NA")))
		art_jw_klit(jw, "status", "not-done");
	else
		art_jw_klit(jw, "status", "completed");
	art_fhir_put_cc(x, "statusReason", art_tnode_at(art_fhir_arr(ev, "refusal_reasons"), 0));
	art_jw_key(jw, "vaccineCode");
	if (art_fhir_cc(x, art_fhir_obj(ev, "vaccine")) == -1)
		art_fhir_cc_text(x, "unknown");
	art_fhir_put_subject(x, "patient");
	if (art_fhir_put_time(x, "occurrenceDateTime", ev, "administered_at", 0) == -1)
		art_jw_klit(jw, "occurrenceString", "unknown");
	{
		const tnode *note = art_tnode_at(art_fhir_arr(ev, "administration_notes"), 0);
		const char *code = art_fhir_str(note, "code");

		if (code && !strcmp(code, "00")) {
			art_jw_key(jw, "primarySource");
			art_jw_bool(jw, 1);
		} else if (code && !strncmp(code, "0", 1)) {
			art_jw_key(jw, "primarySource");
			art_jw_bool(jw, 0);
		}
	}
	art_fhir_put_str(x, "lotNumber",
	                 art_tnode_str(art_tnode_at(art_fhir_arr(ev, "lot_numbers"), 0)));
	art_fhir_put_date(x, "expirationDate", ev, "expires_at");
	{
		const tnode *mf = art_fhir_obj(ev, "manufacturer");
		const char *disp = art_fhir_str(mf, "display"), *code = art_fhir_str(mf, "code");

		snprintf(lot, sizeof(lot), "%s", disp ? disp : code ? code : "");
		if (art_fhir_has_text(lot)) {
			art_jw_kobj(jw, "manufacturer");
			art_jw_kstr(jw, "display", lot);
			art_jw_end(jw);
		}
	}
	art_fhir_put_cc(x, "site", art_fhir_obj(ev, "site"));
	art_fhir_put_cc(x, "route", art_fhir_obj(ev, "route"));
	{
		double amt;

		if (art_fhir_num(art_tnode_get(ev, "dose_amount"), &amt)) {
			const tnode *u = art_fhir_obj(ev, "dose_units");

			art_jw_kobj(jw, "doseQuantity");
			art_jw_key(jw, "value");
			art_jw_double(jw, amt);
			art_fhir_put_str(x, "unit", art_fhir_str(u, "display") ? art_fhir_str(u, "display")
			                                                       : art_fhir_str(u, "code"));
			art_jw_end(jw);
		}
	}
	art_jw_mark(jw, &m);
	art_jw_karr(jw, "performer");
	art_tnode_foreach(art_fhir_arr(ev, "administering_providers"), i, p) {
		struct art_jw_mark mp;

		art_jw_mark(jw, &mp);
		art_jw_obj(jw);
		art_jw_key(jw, "actor");
		if (art_fhir_provider_ref(x, p) == -1) {
			art_jw_rollback(jw, &mp);
			continue;
		}
		art_jw_end(jw);
	}
	art_jw_end_nonempty(jw, &m);
	art_fhir_put_notes(x, art_fhir_arr(ev, "notes"));
	return art_fhir_end(x, idx);
}

/* ---- public ---------------------------------------------------------------- */

void art_fhir_set_clear(struct art_fhir_set *set)
{
	set->cnt = 0;
	if (set->text.max)
		art_jw_reset(&set->text);
	if (set->strs.max)
		art_buf_reset(&set->strs);
}

void art_fhir_set_free(struct art_fhir_set *set)
{
	EVP_MD_CTX_free(set->md);
	free(set->entries);
	art_jw_free(&set->text);
	art_buf_free(&set->strs);
	memset(set, 0, sizeof(*set));
}

int art_fhir_transform(const struct art_fhir_conf *conf, const struct art_tnode *ev,
                       struct art_fhir_set *out, char *errstr, size_t errstr_size)
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
	const tnode *src;
	const char *dot;
	size_t plen;
	int rc = -1;

	if (!out->text.max)
		art_jw_init(&out->text, ART_FHIR_MAX_TEXT);
	if (!out->strs.max)
		art_buf_init(&out->strs, ART_FHIR_STRS_MAX);
	art_fhir_set_clear(out);
	memset(&x, 0, sizeof(x));
	x.conf = conf;
	x.base = conf && conf->identifier_base ? conf->identifier_base : ART_FHIR_DEFAULT_BASE;
	x.ndjson = conf && conf->layout == ART_FHIR_NDJSON;
	out->layout = x.ndjson ? ART_FHIR_NDJSON : ART_FHIR_BUNDLE;
	x.ev = ev;
	x.out = out;
	x.jw = &out->text;
	x.pidx = -1;
	x.errstr = errstr;
	x.errstr_size = errstr_size;
	x.event_id = art_fhir_str(ev, "event_id");
	x.event_type = art_fhir_str(ev, "event_type");
	x.idem = art_fhir_str(ev, "idempotency_key");
	if (!art_fhir_is_obj(ev) || !x.event_id || !x.event_type) {
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
	/* the buffers are final: hand out pointers */
	for (size_t i = 0; i < out->cnt; i++) {
		struct art_fhir_entry *e = &out->entries[i];

		e->json = out->text.p ? out->text.p + e->json_off : "";
		e->url = e->url_off == (size_t)-1 ? NULL : out->strs.p + e->url_off;
		e->if_none_exist = e->ine_off == (size_t)-1 ? NULL : out->strs.p + e->ine_off;
	}
	return 0;
}

int art_fhir_bundle(const struct art_fhir_set *set, const char *event_id,
                    const char *idempotency_key, struct art_jw *out)
{
	char idval[96];

	if (set->layout != ART_FHIR_BUNDLE)
		return -1;
	art_jw_reset(out);
	snprintf(idval, sizeof(idval), "urn:uuid:%s", event_id);
	art_jw_obj(out);
	art_jw_klit(out, "resourceType", "Bundle");
	if (idempotency_key && idempotency_key[0]) {
		art_jw_kobj(out, "meta");
		art_jw_karr(out, "tag");
		art_jw_obj(out);
		art_jw_kstr(out, "system", ART_FHIR_IDEM_SYS);
		art_jw_kstr(out, "code", idempotency_key);
		art_jw_end(out);
		art_jw_end(out);
		art_jw_end(out);
	}
	art_jw_kobj(out, "identifier");
	art_jw_kstr(out, "system", ART_FHIR_RFC3986);
	art_jw_kstr(out, "value", idval);
	art_jw_end(out);
	art_jw_klit(out, "type", "transaction");
	art_jw_karr(out, "entry");
	for (size_t i = 0; i < set->cnt; i++) {
		const struct art_fhir_entry *e = &set->entries[i];

		art_jw_obj(out);
		art_jw_kstr(out, "fullUrl", e->full_url);
		art_jw_key(out, "resource");
		art_jw_raw(out, e->json, e->json_len);
		art_jw_kobj(out, "request");
		art_jw_kstr(out, "method", e->if_none_exist ? "POST" : "PUT");
		art_jw_kstr(out, "url", e->url);
		if (e->if_none_exist)
			art_jw_kstr(out, "ifNoneExist", e->if_none_exist);
		art_jw_end(out);
		art_jw_end(out);
	}
	art_jw_end(out);
	art_jw_end(out);
	return art_jw_failed(out) ? -1 : 0;
}

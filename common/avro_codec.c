/*
 * avro_codec.c — building Avro values by field path or from JSON, encoding
 * them in the Confluent wire format, and decoding wire-format bytes.
 *
 * A struct art_avro_value is an arena-backed Avro C value (avro_fast.c):
 * its own avro_value_iface_t per schema node, so the path setters and the
 * avro_value_t handles work as on generic values, and a direct binary
 * writer that yields the bytes avro_value_write() would. Other avro values
 * given to art_avro_encode() go through Avro C (avro_value_sizeof + one
 * exact allocation + avro_value_write). Decoding to JSON does not use Avro C's
 * reader: a small schema-directed reader walks the body with every length
 * and count checked against the bytes left, so a garbage record costs at
 * most its own size (Avro C would allocate whatever a corrupt length says).
 * The same walk validates a body before art_avro_decode_value() hands it to
 * Avro C.
 */
#include "avro_codec.h"

#include "art.h"
#include "avro_fast.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- schema helpers ------------------------------------------------------ */

/* Follows named-type references to the schema they name. */
static avro_schema_t art_avro_deref(avro_schema_t s)
{
	while (s && is_avro_link(s))
		s = avro_schema_link_target(s);
	return s;
}

static avro_schema_t art_avro_schema_of(avro_value_t *v)
{
	return art_avro_deref(avro_value_get_schema(v));
}

/* Index of the first branch of union u of type t, or -1. */
static int art_avro_union_find(avro_schema_t u, avro_type_t t)
{
	size_t n = avro_schema_union_size(u);

	for (size_t i = 0; i < n; i++)
		if (avro_typeof(art_avro_deref(avro_schema_union_branch(u, (int)i))) == t)
			return (int)i;
	return -1;
}

/* Puts a freshly created or reset value into its empty state: optional
 * fields (unions with a null branch) null, required records recursively
 * likewise. Arrays and maps are already empty after a reset. */
static void art_avro_fill_defaults(avro_value_t *v)
{
	avro_schema_t s = art_avro_schema_of(v);
	size_t n;

	if (avro_typeof(s) != AVRO_RECORD)
		return;
	n = avro_schema_record_size(s);
	for (size_t i = 0; i < n; i++) {
		avro_value_t child, branch;
		avro_schema_t cs;
		int nul;

		if (avro_value_get_by_index(v, i, &child, NULL))
			continue;
		cs = art_avro_schema_of(&child);
		switch (avro_typeof(cs)) {
		case AVRO_UNION:
			nul = art_avro_union_find(cs, AVRO_NULL);
			if (nul >= 0)
				avro_value_set_branch(&child, nul, &branch);
			break;
		case AVRO_RECORD:
			art_avro_fill_defaults(&child);
			break;
		default:
			break;
		}
	}
}

/* ---- building values ----------------------------------------------------- */

struct art_avro_value *art_avro_value_new(const struct art_schema *schema)
{
	struct art_avro_value *av = calloc(1, sizeof(*av));

	if (!av)
		return NULL;
	av->schema = schema;
	/* arena-backed values (avro_fast.c): empty as documented, optional
	 * fields null */
	if (!art_fv_new(schema->avro, &av->root)) {
		free(av);
		return NULL;
	}
	return av;
}

void art_avro_value_reset(struct art_avro_value *av)
{
	av->err[0] = '\0';
	if (art_fv_reset(art_fv_store(&av->root), &av->root))
		snprintf(av->err, sizeof(av->err), "reset: %s", avro_strerror());
}

void art_avro_value_destroy(struct art_avro_value *av)
{
	if (!av)
		return;
	art_fv_destroy(art_fv_store(&av->root));
	if (av->writer)
		avro_writer_free(av->writer);
	free(av->wbuf);
	free(av);
}

/* Records the first failure in av->err. Always returns -1. */
static int art_avro_fail(struct art_avro_value *av, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int art_avro_fail(struct art_avro_value *av, const char *fmt, ...)
{
	va_list ap;

	if (av->err[0])
		return -1;
	va_start(ap, fmt);
	vsnprintf(av->err, sizeof(av->err), fmt, ap);
	va_end(ap);
	return -1;
}

/* If *v is a union, switches it to its first branch of type t — keeping
 * the branch when it is already the current one — and replaces *v by the
 * branch. A record branch selected anew starts empty. Returns 0, or -1 when
 * the union has no such branch. Non-unions are left alone (0). */
static int art_avro_enter(avro_value_t *v, avro_type_t t)
{
	avro_schema_t s = art_avro_schema_of(v);
	avro_value_t branch;
	int want, cur = -1;

	if (avro_typeof(s) != AVRO_UNION)
		return 0;
	want = art_avro_union_find(s, t);
	if (want < 0)
		return -1;
	avro_value_get_discriminant(v, &cur);
	if (cur == want) {
		if (avro_value_get_current_branch(v, &branch))
			return -1;
	} else {
		if (avro_value_set_branch(v, want, &branch))
			return -1;
		/* a new arena-backed record starts with its optional fields null */
		if (t == AVRO_RECORD && !art_fv_is(&branch))
			art_avro_fill_defaults(&branch);
	}
	*v = branch;
	return 0;
}

/* Resolves path from at (or the root) to a value in *out, entering optional
 * records on the way. The last component is not entered. */
static int art_avro_walk(struct art_avro_value *av, avro_value_t *at, const char *path,
                         avro_value_t *out)
{
	avro_value_t cur = at ? *at : av->root;
	const char *p = path ? path : "";

	while (*p) {
		char name[ART_AVRO_PATH_MAX];
		avro_value_t child;
		size_t n = strcspn(p, ".");

		if (n == 0 || n >= sizeof(name))
			return art_avro_fail(av, "%s: bad field path", path);
		memcpy(name, p, n);
		name[n] = '\0';
		if (art_avro_enter(&cur, AVRO_RECORD) ||
		    avro_typeof(art_avro_schema_of(&cur)) != AVRO_RECORD)
			return art_avro_fail(av, "%s: '%s' is not inside a record", path, name);
		if (avro_value_get_by_name(&cur, name, &child, NULL))
			return art_avro_fail(av, "%s: no field '%s' in %s", path, name,
			                     avro_schema_name(art_avro_schema_of(&cur)));
		cur = child;
		p += n;
		if (*p == '.')
			p++;
	}
	*out = cur;
	return 0;
}

/* Resolves path to a leaf of one of the types in want (in order of
 * preference; a union takes its first branch of the first type it has).
 * Stores the leaf in *out and its type in *got. */
static int art_avro_leaf(struct art_avro_value *av, avro_value_t *at, const char *path,
                         const avro_type_t *want, size_t nwant, avro_value_t *out, avro_type_t *got)
{
	avro_value_t v;
	avro_schema_t s;

	if (art_avro_walk(av, at, path, &v))
		return -1;
	s = art_avro_schema_of(&v);
	for (size_t i = 0; i < nwant; i++) {
		if (avro_typeof(s) == AVRO_UNION) {
			if (art_avro_union_find(s, want[i]) < 0)
				continue;
			if (art_avro_enter(&v, want[i]))
				break;
		} else if (avro_typeof(s) != want[i]) {
			continue;
		}
		*out = v;
		*got = want[i];
		return 0;
	}
	return art_avro_fail(av, "%s: a %s field cannot take this value", path ? path : "",
	                     avro_schema_type_name(s));
}

int art_avro_set_string(struct art_avro_value *av, avro_value_t *at, const char *path,
                        const char *s)
{
	static const avro_type_t want[] = {AVRO_STRING};
	avro_value_t v;
	avro_type_t got;

	if (art_avro_leaf(av, at, path, want, 1, &v, &got))
		return -1;
	if (avro_value_set_string(&v, s))
		return art_avro_fail(av, "%s: %s", path, avro_strerror());
	return 0;
}

int art_avro_set_stringn(struct art_avro_value *av, avro_value_t *at, const char *path,
                         const char *s, size_t len)
{
	static const avro_type_t want[] = {AVRO_STRING};
	char small[256];
	char *tmp = small;
	avro_value_t v;
	avro_type_t got;
	int rc = 0;

	if (art_avro_leaf(av, at, path, want, 1, &v, &got))
		return -1;
	/* Avro C's string length counts a terminating NUL it reads from the
	 * source: give it a terminated copy rather than read past s. */
	if (len >= sizeof(small)) {
		tmp = malloc(len + 1);
		if (!tmp)
			return art_avro_fail(av, "%s: out of memory", path);
	}
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (avro_value_set_string_len(&v, tmp, len + 1))
		rc = art_avro_fail(av, "%s: %s", path, avro_strerror());
	if (tmp != small)
		free(tmp);
	return rc;
}

int art_avro_set_bytes(struct art_avro_value *av, avro_value_t *at, const char *path, const void *p,
                       size_t len)
{
	static const avro_type_t want[] = {AVRO_BYTES, AVRO_FIXED};
	avro_value_t v;
	avro_type_t got;
	int rc;

	if (art_avro_leaf(av, at, path, want, 2, &v, &got))
		return -1;
	if (got == AVRO_FIXED) {
		if ((int64_t)len != avro_schema_fixed_size(art_avro_schema_of(&v)))
			return art_avro_fail(
			    av, "%s: fixed field needs %lld bytes", path,
			    (long long)avro_schema_fixed_size(art_avro_schema_of(&v)));
		rc = avro_value_set_fixed(&v, (void *)p, len);
	} else {
		rc = avro_value_set_bytes(&v, (void *)p, len);
	}
	if (rc)
		return art_avro_fail(av, "%s: %s", path, avro_strerror());
	return 0;
}

/* Stores number x into a leaf of type got (one of the numeric types). */
static int art_avro_put_number(struct art_avro_value *av, const char *path, avro_value_t *v,
                               avro_type_t got, int64_t i, double d, int is_int)
{
	int rc;

	switch (got) {
	case AVRO_INT64:
		rc = avro_value_set_long(v, i);
		break;
	case AVRO_INT32:
		if (i < INT32_MIN || i > INT32_MAX)
			return art_avro_fail(av, "%s: %lld does not fit an int", path,
			                     (long long)i);
		rc = avro_value_set_int(v, (int32_t)i);
		break;
	case AVRO_DOUBLE:
		rc = avro_value_set_double(v, is_int ? (double)i : d);
		break;
	case AVRO_FLOAT:
		rc = avro_value_set_float(v, is_int ? (float)i : (float)d);
		break;
	default:
		return art_avro_fail(av, "%s: not a number field", path);
	}
	if (rc)
		return art_avro_fail(av, "%s: %s", path, avro_strerror());
	return 0;
}

int art_avro_set_long(struct art_avro_value *av, avro_value_t *at, const char *path, int64_t x)
{
	static const avro_type_t want[] = {AVRO_INT64, AVRO_INT32, AVRO_DOUBLE, AVRO_FLOAT};
	avro_value_t v;
	avro_type_t got;

	if (art_avro_leaf(av, at, path, want, ART_ARRAY_SIZE(want), &v, &got))
		return -1;
	return art_avro_put_number(av, path, &v, got, x, 0, 1);
}

int art_avro_set_int(struct art_avro_value *av, avro_value_t *at, const char *path, int32_t x)
{
	static const avro_type_t want[] = {AVRO_INT32, AVRO_INT64, AVRO_DOUBLE, AVRO_FLOAT};
	avro_value_t v;
	avro_type_t got;

	if (art_avro_leaf(av, at, path, want, ART_ARRAY_SIZE(want), &v, &got))
		return -1;
	return art_avro_put_number(av, path, &v, got, x, 0, 1);
}

int art_avro_set_double(struct art_avro_value *av, avro_value_t *at, const char *path, double x)
{
	static const avro_type_t want[] = {AVRO_DOUBLE, AVRO_FLOAT};
	avro_value_t v;
	avro_type_t got;

	if (art_avro_leaf(av, at, path, want, ART_ARRAY_SIZE(want), &v, &got))
		return -1;
	return art_avro_put_number(av, path, &v, got, 0, x, 0);
}

int art_avro_set_boolean(struct art_avro_value *av, avro_value_t *at, const char *path, int x)
{
	static const avro_type_t want[] = {AVRO_BOOLEAN};
	avro_value_t v;
	avro_type_t got;

	if (art_avro_leaf(av, at, path, want, 1, &v, &got))
		return -1;
	if (avro_value_set_boolean(&v, x ? 1 : 0))
		return art_avro_fail(av, "%s: %s", path, avro_strerror());
	return 0;
}

int art_avro_set_null(struct art_avro_value *av, avro_value_t *at, const char *path)
{
	static const avro_type_t want[] = {AVRO_NULL};
	avro_value_t v;
	avro_type_t got;

	if (art_avro_leaf(av, at, path, want, 1, &v, &got))
		return -1;
	if (avro_value_set_null(&v))
		return art_avro_fail(av, "%s: %s", path, avro_strerror());
	return 0;
}

int art_avro_set_enum(struct art_avro_value *av, avro_value_t *at, const char *path,
                      const char *symbol)
{
	static const avro_type_t want[] = {AVRO_ENUM};
	avro_value_t v;
	avro_type_t got;
	int idx;

	if (art_avro_leaf(av, at, path, want, 1, &v, &got))
		return -1;
	idx = avro_schema_enum_get_by_name(art_avro_schema_of(&v), symbol);
	if (idx < 0)
		return art_avro_fail(av, "%s: '%s' is not a symbol of %s", path, symbol,
		                     avro_schema_name(art_avro_schema_of(&v)));
	if (avro_value_set_enum(&v, idx))
		return art_avro_fail(av, "%s: %s", path, avro_strerror());
	return 0;
}

int art_avro_field(struct art_avro_value *av, avro_value_t *at, const char *path, avro_value_t *out)
{
	avro_value_t v;

	if (art_avro_walk(av, at, path, &v))
		return -1;
	/* An optional record is made present; other unions are returned as is. */
	if (avro_typeof(art_avro_schema_of(&v)) == AVRO_UNION &&
	    art_avro_union_find(art_avro_schema_of(&v), AVRO_RECORD) >= 0)
		art_avro_enter(&v, AVRO_RECORD);
	*out = v;
	return 0;
}

int art_avro_append(struct art_avro_value *av, avro_value_t *at, const char *path,
                    avro_value_t *elem)
{
	static const avro_type_t want[] = {AVRO_ARRAY};
	avro_value_t v, e;
	avro_type_t got;

	if (art_avro_leaf(av, at, path, want, 1, &v, &got))
		return -1;
	if (avro_value_append(&v, &e, NULL))
		return art_avro_fail(av, "%s: %s", path, avro_strerror());
	/* A recycled generic element (after a reset) may hold an old record:
	 * empty it. Arena-backed elements are always new. */
	if (!art_fv_is(&e)) {
		avro_value_reset(&e);
		art_avro_fill_defaults(&e);
	}
	*elem = e;
	return 0;
}

int art_avro_map_put(struct art_avro_value *av, avro_value_t *at, const char *path, const char *key,
                     avro_value_t *elem)
{
	static const avro_type_t want[] = {AVRO_MAP};
	avro_value_t v, e;
	avro_type_t got;

	if (art_avro_leaf(av, at, path, want, 1, &v, &got))
		return -1;
	if (avro_value_add(&v, key, &e, NULL, NULL))
		return art_avro_fail(av, "%s: %s", path, avro_strerror());
	avro_value_reset(&e);
	art_avro_fill_defaults(&e);
	*elem = e;
	return 0;
}

/* ---- base64 -------------------------------------------------------------- */

static const char art_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Encodes len bytes; returns a malloc'd NUL-terminated string or NULL. */
static char *art_b64_encode(const unsigned char *p, size_t len)
{
	size_t olen = (len + 2) / 3 * 4;
	char *out = malloc(olen + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t w = (uint32_t)p[i] << 16;

		if (i + 1 < len)
			w |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			w |= p[i + 2];
		*o++ = art_b64[(w >> 18) & 63];
		*o++ = art_b64[(w >> 12) & 63];
		*o++ = i + 1 < len ? art_b64[(w >> 6) & 63] : '=';
		*o++ = i + 2 < len ? art_b64[w & 63] : '=';
	}
	*o = '\0';
	return out;
}

static int art_b64_val(char c)
{
	const char *q = c ? strchr(art_b64, c) : NULL;

	return q ? (int)(q - art_b64) : -1;
}

/* Decodes padded base64 (no whitespace). Returns a malloc'd buffer (length
 * in *lenp) or NULL when s is not base64 or memory ran out. */
static unsigned char *art_b64_decode(const char *s, size_t slen, size_t *lenp)
{
	unsigned char *out, *o;

	if (slen % 4)
		return NULL;
	out = malloc(slen / 4 * 3 + 1);
	if (!out)
		return NULL;
	o = out;
	for (size_t i = 0; i < slen; i += 4) {
		int a = art_b64_val(s[i]), b = art_b64_val(s[i + 1]);
		int c = s[i + 2] == '=' ? 0 : art_b64_val(s[i + 2]);
		int d = s[i + 3] == '=' ? 0 : art_b64_val(s[i + 3]);
		int last = i + 4 == slen;

		if (a < 0 || b < 0 || c < 0 || d < 0 ||
		    (!last && (s[i + 2] == '=' || s[i + 3] == '=')) ||
		    (s[i + 2] == '=' && s[i + 3] != '=')) {
			free(out);
			return NULL;
		}
		*o++ = (unsigned char)(a << 2 | b >> 4);
		if (s[i + 2] != '=')
			*o++ = (unsigned char)((b & 15) << 4 | c >> 2);
		if (s[i + 3] != '=')
			*o++ = (unsigned char)((c & 3) << 6 | d);
	}
	*lenp = (size_t)(o - out);
	return out;
}

json_t *art_avro_bytes_json(const void *p, size_t len)
{
	json_t *j;
	char *b64;

	/* json_stringn() validates UTF-8 (NUL bytes included) and answers NULL
	 * for anything else. */
	j = json_stringn(len ? (const char *)p : "", len);
	if (j)
		return j;
	b64 = art_b64_encode(p, len);
	if (!b64)
		return NULL;
	j = json_pack("{s:s}", "base64", b64);
	free(b64);
	return j;
}

/* If j is {"base64": "..."} returns the string, else NULL. */
static json_t *art_avro_b64_obj(json_t *j)
{
	json_t *s;

	if (!json_is_object(j) || json_object_size(j) != 1)
		return NULL;
	s = json_object_get(j, "base64");
	return json_is_string(s) ? s : NULL;
}

/* ---- filling from JSON --------------------------------------------------- */

struct art_avro_jctx {
	struct art_avro_value *av;
	char path[256]; /* where we are, for messages */
};

static int art_avro_jfail(struct art_avro_jctx *c, const char *what)
{
	return art_avro_fail(c->av, "%s: %s", c->path[0] ? c->path : "(root)", what);
}

static const char *art_avro_json_type(json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "integer";
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	default:
		return "null";
	}
}

/* Does JSON value j fit (non-null) schema s well enough to pick it as a
 * union branch? */
static int art_avro_json_fits(avro_schema_t s, json_t *j)
{
	switch (avro_typeof(s)) {
	case AVRO_STRING:
		return json_is_string(j);
	case AVRO_BYTES:
		return json_is_string(j) || art_avro_b64_obj(j);
	case AVRO_FIXED:
		return (json_is_string(j) &&
		        (int64_t)json_string_length(j) == avro_schema_fixed_size(s)) ||
		       art_avro_b64_obj(j);
	case AVRO_ENUM:
		return json_is_string(j) &&
		       avro_schema_enum_get_by_name(s, json_string_value(j)) >= 0;
	case AVRO_INT32:
		return json_is_integer(j) && json_integer_value(j) >= INT32_MIN &&
		       json_integer_value(j) <= INT32_MAX;
	case AVRO_INT64:
		return json_is_integer(j);
	case AVRO_FLOAT:
	case AVRO_DOUBLE:
		return json_is_number(j);
	case AVRO_BOOLEAN:
		return json_is_boolean(j);
	case AVRO_RECORD:
	case AVRO_MAP:
		return json_is_object(j);
	case AVRO_ARRAY:
		return json_is_array(j);
	default:
		return 0;
	}
}

static int art_avro_fill(struct art_avro_jctx *c, avro_value_t *v, json_t *j, int depth);

/* Fills v (bytes or fixed) from a string or {"base64": ...}. */
static int art_avro_fill_bytes(struct art_avro_jctx *c, avro_value_t *v, avro_schema_t s, json_t *j)
{
	json_t *b64 = art_avro_b64_obj(j);
	unsigned char *dec = NULL;
	const void *p;
	size_t len;
	int rc;

	if (b64) {
		dec = art_b64_decode(json_string_value(b64), json_string_length(b64), &len);
		if (!dec)
			return art_avro_jfail(c, "invalid base64");
		p = dec;
	} else if (json_is_string(j)) {
		p = json_string_value(j);
		len = json_string_length(j);
	} else {
		return art_avro_jfail(c, "expected a string or {\"base64\": ...}");
	}
	if (avro_typeof(s) == AVRO_FIXED) {
		if ((int64_t)len != avro_schema_fixed_size(s)) {
			free(dec);
			return art_avro_jfail(c, "wrong length for a fixed");
		}
		rc = avro_value_set_fixed(v, (void *)p, len);
	} else {
		rc = avro_value_set_bytes(v, (void *)p, len);
	}
	free(dec);
	return rc ? art_avro_jfail(c, avro_strerror()) : 0;
}

/* Gives a field that is absent from the JSON object its default. */
static int art_avro_fill_missing(struct art_avro_jctx *c, avro_value_t *v)
{
	avro_schema_t s = art_avro_schema_of(v);
	avro_value_t branch;
	int nul;

	switch (avro_typeof(s)) {
	case AVRO_UNION:
		nul = art_avro_union_find(s, AVRO_NULL);
		if (nul < 0)
			break;
		return avro_value_set_branch(v, nul, &branch) ? art_avro_jfail(c, avro_strerror())
		                                              : 0;
	case AVRO_ARRAY:
	case AVRO_MAP:
		avro_value_reset(v);
		return 0;
	case AVRO_NULL:
		return 0;
	default:
		break;
	}
	return art_avro_jfail(c, "required field missing");
}

static int art_avro_fill_record(struct art_avro_jctx *c, avro_value_t *v, avro_schema_t s,
                                json_t *j, int depth)
{
	size_t n = avro_schema_record_size(s), mark = strlen(c->path);
	const char *key;
	json_t *jv;

	if (!json_is_object(j))
		return art_avro_jfail(c, "expected an object");
	json_object_foreach(j, key, jv)
	{
		if (avro_schema_record_field_get_index(s, key) < 0) {
			snprintf(c->path + mark, sizeof(c->path) - mark, "%s%s", mark ? "." : "",
			         key);
			return art_avro_jfail(c, "unknown field");
		}
	}
	for (size_t i = 0; i < n; i++) {
		const char *name = avro_schema_record_field_name(s, (int)i);
		avro_value_t child;
		int rc;

		if (avro_value_get_by_index(v, i, &child, NULL))
			return art_avro_jfail(c, avro_strerror());
		snprintf(c->path + mark, sizeof(c->path) - mark, "%s%s", mark ? "." : "", name);
		jv = json_object_get(j, name);
		rc =
		    jv ? art_avro_fill(c, &child, jv, depth + 1) : art_avro_fill_missing(c, &child);
		if (rc)
			return -1;
		c->path[mark] = '\0';
	}
	return 0;
}

static int art_avro_fill(struct art_avro_jctx *c, avro_value_t *v, json_t *j, int depth)
{
	avro_schema_t s = art_avro_schema_of(v);
	size_t mark = strlen(c->path);
	avro_value_t child;
	const char *key;
	json_t *jv;
	size_t i, n;
	int rc = 0;

	if (depth > ART_AVRO_MAX_DEPTH)
		return art_avro_jfail(c, "nested too deeply");
	switch (avro_typeof(s)) {
	case AVRO_UNION:
		n = avro_schema_union_size(s);
		for (i = 0; i < n; i++) {
			avro_schema_t b = art_avro_deref(avro_schema_union_branch(s, (int)i));

			if (json_is_null(j) ? avro_typeof(b) == AVRO_NULL
			                    : art_avro_json_fits(b, j))
				break;
		}
		if (i == n) {
			char what[96];

			snprintf(what, sizeof(what), "no branch of the union takes a JSON %s",
			         art_avro_json_type(j));
			return art_avro_jfail(c, what);
		}
		if (avro_value_set_branch(v, (int)i, &child))
			return art_avro_jfail(c, avro_strerror());
		return art_avro_fill(c, &child, j, depth + 1);
	case AVRO_RECORD:
		return art_avro_fill_record(c, v, s, j, depth);
	case AVRO_ARRAY:
		if (!json_is_array(j))
			return art_avro_jfail(c, "expected an array");
		avro_value_reset(v);
		json_array_foreach(j, i, jv)
		{
			snprintf(c->path + mark, sizeof(c->path) - mark, "[%zu]", i);
			if (avro_value_append(v, &child, NULL))
				return art_avro_jfail(c, avro_strerror());
			avro_value_reset(&child);
			if (art_avro_fill(c, &child, jv, depth + 1))
				return -1;
		}
		c->path[mark] = '\0';
		return 0;
	case AVRO_MAP:
		if (!json_is_object(j))
			return art_avro_jfail(c, "expected an object");
		avro_value_reset(v);
		json_object_foreach(j, key, jv)
		{
			snprintf(c->path + mark, sizeof(c->path) - mark, "[%s]", key);
			if (avro_value_add(v, key, &child, NULL, NULL))
				return art_avro_jfail(c, avro_strerror());
			avro_value_reset(&child);
			if (art_avro_fill(c, &child, jv, depth + 1))
				return -1;
		}
		c->path[mark] = '\0';
		return 0;
	case AVRO_STRING:
		if (!json_is_string(j))
			return art_avro_jfail(c, "expected a string");
		/* jansson strings are NUL-terminated: the length Avro C wants
		 * (terminator included) can be read safely. */
		rc = avro_value_set_string_len(v, json_string_value(j), json_string_length(j) + 1);
		break;
	case AVRO_BYTES:
	case AVRO_FIXED:
		return art_avro_fill_bytes(c, v, s, j);
	case AVRO_ENUM:
		if (!art_avro_json_fits(s, j))
			return art_avro_jfail(c, "expected a symbol of the enum");
		rc = avro_value_set_enum(v, avro_schema_enum_get_by_name(s, json_string_value(j)));
		break;
	case AVRO_INT32:
		if (!art_avro_json_fits(s, j))
			return art_avro_jfail(c, "expected an integer that fits an int");
		rc = avro_value_set_int(v, (int32_t)json_integer_value(j));
		break;
	case AVRO_INT64:
		if (!json_is_integer(j))
			return art_avro_jfail(c, "expected an integer");
		rc = avro_value_set_long(v, (int64_t)json_integer_value(j));
		break;
	case AVRO_FLOAT:
	case AVRO_DOUBLE: {
		double d;

		if (json_is_number(j)) {
			d = json_number_value(j);
		} else if (json_is_string(j) && !strcmp(json_string_value(j), "NaN")) {
			d = NAN;
		} else if (json_is_string(j) && !strcmp(json_string_value(j), "Infinity")) {
			d = INFINITY;
		} else if (json_is_string(j) && !strcmp(json_string_value(j), "-Infinity")) {
			d = -INFINITY;
		} else {
			return art_avro_jfail(c, "expected a number");
		}
		rc = avro_typeof(s) == AVRO_FLOAT ? avro_value_set_float(v, (float)d)
		                                  : avro_value_set_double(v, d);
		break;
	}
	case AVRO_BOOLEAN:
		if (!json_is_boolean(j))
			return art_avro_jfail(c, "expected true or false");
		rc = avro_value_set_boolean(v, json_is_true(j));
		break;
	case AVRO_NULL:
		if (!json_is_null(j))
			return art_avro_jfail(c, "expected null");
		rc = avro_value_set_null(v);
		break;
	default:
		return art_avro_jfail(c, "unsupported schema type");
	}
	return rc ? art_avro_jfail(c, avro_strerror()) : 0;
}

int art_avro_set_json(struct art_avro_value *av, avro_value_t *at, const char *path, json_t *json)
{
	struct art_avro_jctx c;
	avro_value_t v;

	if (art_avro_walk(av, at, path, &v))
		return -1;
	c.av = av;
	snprintf(c.path, sizeof(c.path), "%s", path ? path : "");
	return art_avro_fill(&c, &v, json, 0);
}

/* ---- encoding ------------------------------------------------------------ */

/* Writes the wire header for schema_id at buf. */
static void art_avro_put_header(unsigned char *buf, int32_t schema_id)
{
	buf[0] = ART_AVRO_MAGIC;
	buf[1] = (unsigned char)((uint32_t)schema_id >> 24);
	buf[2] = (unsigned char)((uint32_t)schema_id >> 16);
	buf[3] = (unsigned char)((uint32_t)schema_id >> 8);
	buf[4] = (unsigned char)schema_id;
}

/* Writes arena-backed value v in the wire format into a new malloc'd
 * buffer of exactly the encoded size. */
static int art_avro_encode_fast(avro_value_t *value, int32_t schema_id, void **bufp, size_t *lenp,
                                char *errstr, size_t errstr_size)
{
	unsigned char *buf = NULL;
	size_t cap = 0, len = ART_AVRO_HEADER_SIZE;
	void *out;
	int rc;

	buf = malloc(4096);
	if (!buf) {
		snprintf(errstr, errstr_size, "avro encode: out of memory");
		return -1;
	}
	cap = 4096;
	rc = art_fv_write(value, &buf, &cap, &len, ART_AVRO_MAX_ENCODED);
	if (rc) {
		snprintf(errstr, errstr_size, "avro encode: %s", avro_strerror());
		free(buf);
		return -1;
	}
	art_avro_put_header(buf, schema_id);
	out = realloc(buf, len);
	*bufp = out ? out : buf;
	*lenp = len;
	return 0;
}

int art_avro_encode(avro_value_t *value, int32_t schema_id, void **bufp, size_t *lenp, char *errstr,
                    size_t errstr_size)
{
	avro_writer_t w;
	unsigned char *buf;
	size_t size;

	if (art_fv_is(value))
		return art_avro_encode_fast(value, schema_id, bufp, lenp, errstr, errstr_size);
	if (avro_value_sizeof(value, &size)) {
		snprintf(errstr, errstr_size, "avro encode: %s", avro_strerror());
		return -1;
	}
	buf = malloc(ART_AVRO_HEADER_SIZE + size);
	if (!buf) {
		snprintf(errstr, errstr_size, "avro encode: out of memory (%zu bytes)", size);
		return -1;
	}
	art_avro_put_header(buf, schema_id);
	w = avro_writer_memory((const char *)buf + ART_AVRO_HEADER_SIZE, (int64_t)size);
	if (!w || avro_value_write(w, value)) {
		snprintf(errstr, errstr_size, "avro encode: %s", avro_strerror());
		if (w)
			avro_writer_free(w);
		free(buf);
		return -1;
	}
	avro_writer_free(w);
	*bufp = buf;
	*lenp = ART_AVRO_HEADER_SIZE + size;
	return 0;
}

int art_avro_value_encode(struct art_avro_value *av, void **bufp, size_t *lenp, char *errstr,
                          size_t errstr_size)
{
	unsigned char *wbuf = (unsigned char *)av->wbuf;
	size_t len = ART_AVRO_HEADER_SIZE;
	void *out;
	int rc;

	if (av->err[0]) {
		snprintf(errstr, errstr_size, "%s: %s", av->schema->subject, av->err);
		return -1;
	}
	/* One pass into the reused scratch buffer (grown as needed), then one
	 * exact copy for the caller. */
	if (av->wcap < ART_AVRO_HEADER_SIZE) {
		free(wbuf);
		wbuf = malloc(4096);
		av->wcap = wbuf ? 4096 : 0;
		av->wbuf = (char *)wbuf;
		if (!wbuf)
			goto oom;
	}
	rc = art_fv_write(&av->root, &wbuf, &av->wcap, &len, ART_AVRO_MAX_ENCODED);
	av->wbuf = (char *)wbuf;
	if (rc == ENOSPC) {
		snprintf(errstr, errstr_size, "%s: encoded value exceeds %d bytes",
		         av->schema->subject, ART_AVRO_MAX_ENCODED);
		return -1;
	}
	if (rc) {
		snprintf(errstr, errstr_size, "%s: avro encode: %s", av->schema->subject,
		         avro_strerror());
		return -1;
	}
	out = malloc(len);
	if (!out)
		goto oom;
	art_avro_put_header((unsigned char *)av->wbuf, av->schema->id);
	memcpy(out, av->wbuf, len);
	*bufp = out;
	*lenp = len;
	return 0;
oom:
	snprintf(errstr, errstr_size, "%s: avro encode: out of memory", av->schema->subject);
	return -1;
}

/* ---- decoding ------------------------------------------------------------ */

int art_avro_wire_id(const void *buf, size_t len, int32_t *idp, char *errstr, size_t errstr_size)
{
	const unsigned char *p = buf;

	if (len < ART_AVRO_HEADER_SIZE) {
		snprintf(errstr, errstr_size,
		         "not Confluent wire format: %zu bytes, shorter than the 5-byte header",
		         len);
		return -1;
	}
	if (p[0] != ART_AVRO_MAGIC) {
		snprintf(errstr, errstr_size,
		         "not Confluent wire format: first byte is 0x%02x, expected 0x00", p[0]);
		return -1;
	}
	*idp = (int32_t)((uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4]);
	return 0;
}

/* A bounds-checked reader over an Avro binary body. */
struct art_avro_rd {
	const unsigned char *start, *p, *end;
	char *errstr;
	size_t errstr_size;
};

static int art_avro_rfail(struct art_avro_rd *r, const char *what)
{
	snprintf(r->errstr, r->errstr_size, "malformed Avro body at byte %zu: %s",
	         (size_t)(r->p - r->start), what);
	return -1;
}

/* Reads a zig-zag varint long. */
static int art_avro_rd_long(struct art_avro_rd *r, int64_t *out)
{
	uint64_t u = 0;

	for (int shift = 0; shift < 70; shift += 7) {
		unsigned char b;

		if (r->p >= r->end)
			return art_avro_rfail(r, "truncated number");
		b = *r->p++;
		u |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
			return 0;
		}
	}
	return art_avro_rfail(r, "varint longer than 10 bytes");
}

/* Reads a length-prefixed byte string (bytes, string, map key). */
static int art_avro_rd_bytes(struct art_avro_rd *r, const unsigned char **p, size_t *len)
{
	int64_t n;

	if (art_avro_rd_long(r, &n))
		return -1;
	if (n < 0 || n > r->end - r->p)
		return art_avro_rfail(r, "length beyond the end of the record");
	*p = r->p;
	*len = (size_t)n;
	r->p += n;
	return 0;
}

/* Reads the next block count of an array or map (0 ends). */
static int art_avro_rd_block(struct art_avro_rd *r, int64_t *count)
{
	int64_t size;

	if (art_avro_rd_long(r, count))
		return -1;
	if (*count < 0) {
		if (*count == INT64_MIN)
			return art_avro_rfail(r, "bad block count");
		*count = -*count;
		if (art_avro_rd_long(r, &size))
			return -1;
		if (size < 0 || size > r->end - r->p)
			return art_avro_rfail(r, "block size beyond the end of the record");
	}
	/* Every item of our schemas takes at least one byte; allow slack for
	 * zero-byte items (null, empty records) without letting a corrupt
	 * count spin. */
	if (*count > (r->end - r->p) + 1024)
		return art_avro_rfail(r, "block count beyond the end of the record");
	return 0;
}

/* JSON for a double: a number, or "NaN"/"Infinity"/"-Infinity". */
static json_t *art_avro_real_json(double d)
{
	if (isnan(d))
		return json_string("NaN");
	if (isinf(d))
		return json_string(d > 0 ? "Infinity" : "-Infinity");
	return json_real(d);
}

/* Reads one value of schema s; builds its JSON in *out unless out is NULL
 * (validate only). */
static int art_avro_rd_value(struct art_avro_rd *r, avro_schema_t s, json_t **out, int depth)
{
	const unsigned char *bp;
	size_t blen, n;
	int64_t l, count;
	json_t *j = NULL, *child;

	if (depth > ART_AVRO_MAX_DEPTH)
		return art_avro_rfail(r, "nested too deeply");
	s = art_avro_deref(s);
	switch (avro_typeof(s)) {
	case AVRO_NULL:
		if (out)
			j = json_null();
		break;
	case AVRO_BOOLEAN:
		if (r->p >= r->end)
			return art_avro_rfail(r, "truncated boolean");
		if (*r->p > 1)
			return art_avro_rfail(r, "boolean is neither 0 nor 1");
		if (out)
			j = json_boolean(*r->p);
		r->p++;
		break;
	case AVRO_INT32:
	case AVRO_INT64:
		if (art_avro_rd_long(r, &l))
			return -1;
		if (avro_typeof(s) == AVRO_INT32 && (l < INT32_MIN || l > INT32_MAX))
			return art_avro_rfail(r, "int out of range");
		if (out)
			j = json_integer((json_int_t)l);
		break;
	case AVRO_FLOAT: {
		uint32_t u;
		float f;

		if (r->end - r->p < 4)
			return art_avro_rfail(r, "truncated float");
		u = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
		    (uint32_t)r->p[3] << 24;
		memcpy(&f, &u, sizeof(f));
		r->p += 4;
		if (out)
			j = art_avro_real_json(f);
		break;
	}
	case AVRO_DOUBLE: {
		uint64_t u = 0;
		double d;

		if (r->end - r->p < 8)
			return art_avro_rfail(r, "truncated double");
		for (int i = 7; i >= 0; i--)
			u = u << 8 | r->p[i];
		memcpy(&d, &u, sizeof(d));
		r->p += 8;
		if (out)
			j = art_avro_real_json(d);
		break;
	}
	case AVRO_STRING:
	case AVRO_BYTES:
		if (art_avro_rd_bytes(r, &bp, &blen))
			return -1;
		if (out)
			j = art_avro_bytes_json(bp, blen);
		break;
	case AVRO_FIXED:
		l = avro_schema_fixed_size(s);
		if (l < 0 || l > r->end - r->p)
			return art_avro_rfail(r, "truncated fixed");
		if (out)
			j = art_avro_bytes_json(r->p, (size_t)l);
		r->p += l;
		break;
	case AVRO_ENUM: {
		const char *sym;

		if (art_avro_rd_long(r, &l))
			return -1;
		sym = l >= 0 && l < avro_schema_enum_number_of_symbols(s)
		          ? avro_schema_enum_get(s, (int)l)
		          : NULL;
		if (!sym)
			return art_avro_rfail(r, "enum index out of range");
		if (out)
			j = json_string(sym);
		break;
	}
	case AVRO_UNION:
		if (art_avro_rd_long(r, &l))
			return -1;
		if (l < 0 || (size_t)l >= avro_schema_union_size(s))
			return art_avro_rfail(r, "union branch out of range");
		return art_avro_rd_value(r, avro_schema_union_branch(s, (int)l), out, depth + 1);
	case AVRO_RECORD:
		if (out)
			j = json_object();
		n = avro_schema_record_size(s);
		for (size_t i = 0; i < n; i++) {
			child = NULL;
			if (art_avro_rd_value(r, avro_schema_record_field_get_by_index(s, (int)i),
			                      out ? &child : NULL, depth + 1))
				goto fail;
			if (out &&
			    json_object_set_new(j, avro_schema_record_field_name(s, (int)i), child))
				goto oom;
		}
		break;
	case AVRO_ARRAY:
		if (out)
			j = json_array();
		for (;;) {
			if (art_avro_rd_block(r, &count))
				goto fail;
			if (count == 0)
				break;
			for (int64_t i = 0; i < count; i++) {
				child = NULL;
				if (art_avro_rd_value(r, avro_schema_array_items(s),
				                      out ? &child : NULL, depth + 1))
					goto fail;
				if (out && json_array_append_new(j, child))
					goto oom;
			}
		}
		break;
	case AVRO_MAP:
		if (out)
			j = json_object();
		for (;;) {
			if (art_avro_rd_block(r, &count))
				goto fail;
			if (count == 0)
				break;
			for (int64_t i = 0; i < count; i++) {
				char key[1024];

				if (art_avro_rd_bytes(r, &bp, &blen))
					goto fail;
				child = NULL;
				if (art_avro_rd_value(r, avro_schema_map_values(s),
				                      out ? &child : NULL, depth + 1))
					goto fail;
				if (!out)
					continue;
				if (blen >= sizeof(key) || memchr(bp, '\0', blen)) {
					json_decref(child);
					art_avro_rfail(r, "map key too long or has a NUL");
					goto fail;
				}
				memcpy(key, bp, blen);
				key[blen] = '\0';
				if (json_object_set_new(j, key, child))
					goto oom;
			}
		}
		break;
	default:
		return art_avro_rfail(r, "unsupported schema type");
	}
	if (out) {
		if (!j)
			goto oom;
		*out = j;
	}
	return 0;
oom:
	art_avro_rfail(r, "out of memory");
fail:
	json_decref(j);
	return -1;
}

/* Checks the header, finds the writer's schema and reads the body (building
 * JSON when out is not NULL). */
static int art_avro_decode(const struct art_schema_registry *reg, const void *buf, size_t len,
                           json_t **out, const struct art_schema **schemap, int *idp, char *errstr,
                           size_t errstr_size)
{
	const struct art_schema *schema;
	struct art_avro_rd r;
	int32_t id;

	*idp = -1;
	if (art_avro_wire_id(buf, len, &id, errstr, errstr_size))
		return -1;
	*idp = id;
	schema = art_schema_by_id(reg, id);
	if (!schema) {
		snprintf(errstr, errstr_size, "unknown schema id %d (not in %s/registry.json)",
		         (int)id, reg->dir);
		return -1;
	}
	r.start = (const unsigned char *)buf + ART_AVRO_HEADER_SIZE;
	r.p = r.start;
	r.end = (const unsigned char *)buf + len;
	r.errstr = errstr;
	r.errstr_size = errstr_size;
	if (art_avro_rd_value(&r, schema->avro, out, 0))
		return -1;
	if (r.p != r.end) {
		snprintf(errstr, errstr_size, "%zu trailing bytes after the %s:%d record",
		         (size_t)(r.end - r.p), schema->subject, schema->version);
		if (out) {
			json_decref(*out);
			*out = NULL;
		}
		return -1;
	}
	*schemap = schema;
	return 0;
}

int art_avro_decode_json(const struct art_schema_registry *reg, const void *buf, size_t len,
                         json_t **out, int *schema_id, char *errstr, size_t errstr_size)
{
	const struct art_schema *schema;
	int id;
	int rc;

	*out = NULL;
	rc = art_avro_decode(reg, buf, len, out, &schema, &id, errstr, errstr_size);
	if (schema_id)
		*schema_id = id;
	return rc;
}

int art_avro_decode_value(const struct art_schema_registry *reg, const void *buf, size_t len,
                          avro_value_t *out, const struct art_schema **schemap, char *errstr,
                          size_t errstr_size)
{
	const struct art_schema *schema;
	avro_reader_t rd;
	int id;

	if (art_avro_decode(reg, buf, len, NULL, &schema, &id, errstr, errstr_size))
		return -1;
	if (avro_generic_value_new(schema->iface, out)) {
		snprintf(errstr, errstr_size, "avro decode: %s", avro_strerror());
		return -1;
	}
	rd = avro_reader_memory((const char *)buf + ART_AVRO_HEADER_SIZE,
	                        (int64_t)(len - ART_AVRO_HEADER_SIZE));
	if (!rd || avro_value_read(rd, out)) {
		snprintf(errstr, errstr_size, "avro decode: %s", avro_strerror());
		if (rd)
			avro_reader_free(rd);
		avro_value_decref(out);
		return -1;
	}
	avro_reader_free(rd);
	if (schemap)
		*schemap = schema;
	return 0;
}

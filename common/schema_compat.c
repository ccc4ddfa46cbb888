/*
 * schema_compat.c — parses .avsc JSON into a schema graph (jansson), applies
 * the Avro specification's resolution rules to pairs of schemas, and checks
 * the version chains of a registry (`artery schema check`).
 *
 * Owns: the parsed graphs (one allocation per node, all listed in the
 * schema so they are freed together) and the report lines. Checks remember
 * the (reader, writer) pairs they have visited, so recursive types end and
 * each pair is reported once. A registry of a dozen schemas is checked in
 * about a millisecond.
 */
#include "schema_compat.h"

#include "art.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ART_COMPAT_PATH_MAX 1024 /* longest field path in a report line */

/* ---- parsing ------------------------------------------------------------- */

struct art_cp {
	struct art_compat_schema *cs;
	char *errstr;
	size_t errstr_size;
};

static int art_cp_fail(struct art_cp *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int art_cp_fail(struct art_cp *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->errstr, p->errstr_size, fmt, ap);
	va_end(ap);
	return -1;
}

static const char *const art_compat_kind_names[] = {
    [ART_COMPAT_NULL] = "null",   [ART_COMPAT_BOOLEAN] = "boolean", [ART_COMPAT_INT] = "int",
    [ART_COMPAT_LONG] = "long",   [ART_COMPAT_FLOAT] = "float",     [ART_COMPAT_DOUBLE] = "double",
    [ART_COMPAT_BYTES] = "bytes", [ART_COMPAT_STRING] = "string",   [ART_COMPAT_RECORD] = "record",
    [ART_COMPAT_ENUM] = "enum",   [ART_COMPAT_ARRAY] = "array",     [ART_COMPAT_MAP] = "map",
    [ART_COMPAT_UNION] = "union", [ART_COMPAT_FIXED] = "fixed",
};

const char *art_schema_compat_kind_name(enum art_compat_kind kind)
{
	if ((size_t)kind < ART_ARRAY_SIZE(art_compat_kind_names))
		return art_compat_kind_names[kind];
	return "?";
}

/* Returns the kind of a primitive type name, or -1. */
static int art_cp_primitive(const char *s)
{
	for (int k = ART_COMPAT_NULL; k <= ART_COMPAT_STRING; k++)
		if (!strcmp(s, art_compat_kind_names[k]))
			return k;
	return -1;
}

/* Allocates a node of kind and lists it in the schema. */
static struct art_compat_node *art_cp_node(struct art_cp *p, enum art_compat_kind kind)
{
	struct art_compat_schema *cs = p->cs;
	struct art_compat_node *n;

	if (cs->node_cnt >= ART_COMPAT_MAX_NODES) {
		art_cp_fail(p, "schema has more than %d types", ART_COMPAT_MAX_NODES);
		return NULL;
	}
	if (cs->node_cnt == cs->node_cap) {
		size_t cap = cs->node_cap ? cs->node_cap * 2 : 64;
		struct art_compat_node **nodes = realloc(cs->nodes, cap * sizeof(*nodes));

		if (!nodes) {
			art_cp_fail(p, "out of memory");
			return NULL;
		}
		cs->nodes = nodes;
		cs->node_cap = cap;
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		art_cp_fail(p, "out of memory");
		return NULL;
	}
	n->kind = kind;
	cs->nodes[cs->node_cnt++] = n;
	return n;
}

/* Returns a malloc'd full name for name in namespace ns (NULL or ""). */
static char *art_cp_fullname(const char *name, const char *ns)
{
	size_t nl, sl;
	char *s;

	if (strchr(name, '.') || !ns || !*ns)
		return strdup(name);
	nl = strlen(name);
	sl = strlen(ns);
	s = malloc(sl + 1 + nl + 1);
	if (!s)
		return NULL;
	memcpy(s, ns, sl);
	s[sl] = '.';
	memcpy(s + sl + 1, name, nl + 1);
	return s;
}

/* Returns the unqualified part of a full name. */
static const char *art_compat_short(const char *full)
{
	const char *dot = strrchr(full, '.');

	return dot ? dot + 1 : full;
}

/* Finds a named type already defined by its full name. */
static struct art_compat_node *art_cp_lookup(struct art_cp *p, const char *full)
{
	for (size_t i = 0; i < p->cs->node_cnt; i++) {
		struct art_compat_node *n = p->cs->nodes[i];

		if (n->name && !strcmp(n->name, full))
			return n;
	}
	return NULL;
}

/* Resolves a type name used as a reference: a full name as is, else in the
 * enclosing namespace, else in the null namespace. */
static struct art_compat_node *art_cp_reference(struct art_cp *p, const char *name, const char *ns)
{
	struct art_compat_node *n = NULL;
	char *full;

	if (!strchr(name, '.') && ns && *ns) {
		full = art_cp_fullname(name, ns);
		if (!full)
			return NULL;
		n = art_cp_lookup(p, full);
		free(full);
	}
	if (!n)
		n = art_cp_lookup(p, name);
	return n;
}

static struct art_compat_node *art_cp_parse(struct art_cp *p, json_t *j, const char *ns, int depth);

/* Sets name, namespace (in *nsp, malloc'd; the caller frees) and aliases
 * of a named type from its JSON object, and checks the name is new. */
static int art_cp_named(struct art_cp *p, struct art_compat_node *n, json_t *j, const char *ns,
                        char **nsp)
{
	json_t *name = json_object_get(j, "name");
	json_t *jns = json_object_get(j, "namespace");
	json_t *aliases = json_object_get(j, "aliases");
	const char *own_ns = ns;
	const char *dot;
	char *full;
	size_t i;
	json_t *a;

	*nsp = NULL;
	if (!json_is_string(name) || !*json_string_value(name))
		return art_cp_fail(p, "a %s without a name", art_schema_compat_kind_name(n->kind));
	if (json_is_string(jns))
		own_ns = json_string_value(jns);
	full = art_cp_fullname(json_string_value(name), own_ns);
	if (!full)
		return art_cp_fail(p, "out of memory");
	if (art_cp_lookup(p, full)) {
		art_cp_fail(p, "type %s defined twice", full);
		free(full);
		return -1;
	}
	n->name = full;
	dot = strrchr(n->name, '.');
	*nsp = dot ? strndup(n->name, (size_t)(dot - n->name)) : strdup("");
	if (!*nsp)
		return art_cp_fail(p, "out of memory");
	if (!aliases)
		return 0;
	if (!json_is_array(aliases))
		return art_cp_fail(p, "%s: aliases must be an array of names", n->name);
	n->aliases = calloc(json_array_size(aliases) + 1, sizeof(*n->aliases));
	if (!n->aliases)
		return art_cp_fail(p, "out of memory");
	json_array_foreach(aliases, i, a)
	{
		if (!json_is_string(a))
			return art_cp_fail(p, "%s: aliases must be an array of names", n->name);
		n->aliases[i] = art_cp_fullname(json_string_value(a), *nsp);
		if (!n->aliases[i])
			return art_cp_fail(p, "out of memory");
		n->alias_cnt = i + 1;
	}
	return 0;
}

/* Parses the fields of record n (already named and registered). */
static int art_cp_fields(struct art_cp *p, struct art_compat_node *n, json_t *j, const char *ns,
                         int depth)
{
	json_t *fields = json_object_get(j, "fields");
	json_t *f;
	size_t i;

	if (!json_is_array(fields))
		return art_cp_fail(p, "record %s: \"fields\" must be an array", n->name);
	n->fields = calloc(json_array_size(fields) + 1, sizeof(*n->fields));
	if (!n->fields)
		return art_cp_fail(p, "out of memory");
	json_array_foreach(fields, i, f)
	{
		struct art_compat_field *fd = &n->fields[i];
		json_t *fname = json_object_get(f, "name");
		json_t *aliases = json_object_get(f, "aliases");

		n->field_cnt = i + 1;
		if (!json_is_object(f) || !json_is_string(fname))
			return art_cp_fail(p, "record %s: field %zu has no name", n->name, i);
		fd->name = json_string_value(fname);
		for (size_t k = 0; k < i; k++)
			if (!strcmp(n->fields[k].name, fd->name))
				return art_cp_fail(p, "record %s: field %s defined twice", n->name,
				                   fd->name);
		fd->def = json_object_get(f, "default");
		if (aliases) {
			size_t ai;
			json_t *a;

			if (!json_is_array(aliases))
				return art_cp_fail(p, "%s.%s: aliases must be an array", n->name,
				                   fd->name);
			fd->aliases = calloc(json_array_size(aliases) + 1, sizeof(*fd->aliases));
			if (!fd->aliases)
				return art_cp_fail(p, "out of memory");
			json_array_foreach(aliases, ai, a)
			{
				if (!json_is_string(a))
					return art_cp_fail(p, "%s.%s: aliases must be strings",
					                   n->name, fd->name);
				fd->aliases[ai] = json_string_value(a);
				fd->alias_cnt = ai + 1;
			}
		}
		fd->type = art_cp_parse(p, json_object_get(f, "type"), ns, depth + 1);
		if (!fd->type)
			return -1;
	}
	return 0;
}

/* Sets the symbols and default symbol of enum n from its JSON object. */
static int art_cp_symbols(struct art_cp *p, struct art_compat_node *n, json_t *j)
{
	json_t *syms = json_object_get(j, "symbols");
	json_t *def = json_object_get(j, "default");
	size_t i;
	json_t *s;

	if (!json_is_array(syms))
		return art_cp_fail(p, "enum %s: \"symbols\" must be an array", n->name);
	n->symbols = calloc(json_array_size(syms) + 1, sizeof(*n->symbols));
	if (!n->symbols)
		return art_cp_fail(p, "out of memory");
	json_array_foreach(syms, i, s)
	{
		if (!json_is_string(s))
			return art_cp_fail(p, "enum %s: symbols must be strings", n->name);
		n->symbols[i] = json_string_value(s);
		n->symbol_cnt = i + 1;
	}
	if (def && !json_is_string(def))
		return art_cp_fail(p, "enum %s: default must be a symbol", n->name);
	if (def)
		n->enum_default = json_string_value(def);
	return 0;
}

/* Parses a complex type given as an object with "type": tname. */
static struct art_compat_node *art_cp_complex(struct art_cp *p, json_t *j, const char *tname,
                                              const char *ns, int depth)
{
	struct art_compat_node *n = NULL;
	char *own_ns = NULL;

	if (!strcmp(tname, "record") || !strcmp(tname, "error")) {
		n = art_cp_node(p, ART_COMPAT_RECORD);
		if (!n || art_cp_named(p, n, j, ns, &own_ns) ||
		    art_cp_fields(p, n, j, own_ns, depth))
			n = NULL;
	} else if (!strcmp(tname, "enum")) {
		n = art_cp_node(p, ART_COMPAT_ENUM);
		if (!n || art_cp_named(p, n, j, ns, &own_ns) || art_cp_symbols(p, n, j))
			n = NULL;
	} else if (!strcmp(tname, "fixed")) {
		json_t *size = json_object_get(j, "size");

		n = art_cp_node(p, ART_COMPAT_FIXED);
		if (!n || art_cp_named(p, n, j, ns, &own_ns)) {
			n = NULL;
		} else if (!json_is_integer(size) || json_integer_value(size) < 0 ||
		           json_integer_value(size) > INT32_MAX) {
			art_cp_fail(p, "fixed %s: bad size", n->name);
			n = NULL;
		} else {
			n->size = (size_t)json_integer_value(size);
		}
	} else if (!strcmp(tname, "array") || !strcmp(tname, "map")) {
		int is_array = !strcmp(tname, "array");

		n = art_cp_node(p, is_array ? ART_COMPAT_ARRAY : ART_COMPAT_MAP);
		if (n) {
			n->items = art_cp_parse(
			    p, json_object_get(j, is_array ? "items" : "values"), ns, depth + 1);
			if (!n->items)
				n = NULL;
		}
	} else {
		int k = art_cp_primitive(tname);

		if (k >= 0) {
			n = art_cp_node(p, (enum art_compat_kind)k);
		} else {
			n = art_cp_reference(p, tname, ns);
			if (!n)
				art_cp_fail(p, "unknown type '%s'", tname);
		}
	}
	free(own_ns);
	return n;
}

/* Parses one schema (a name, a union array or a type object) in namespace
 * ns. Returns its node, or NULL with the reason in p->errstr. */
static struct art_compat_node *art_cp_parse(struct art_cp *p, json_t *j, const char *ns, int depth)
{
	struct art_compat_node *n;
	json_t *t, *b;
	size_t i;

	if (depth > ART_COMPAT_MAX_DEPTH) {
		art_cp_fail(p, "schema nested deeper than %d", ART_COMPAT_MAX_DEPTH);
		return NULL;
	}
	if (json_is_string(j)) {
		const char *s = json_string_value(j);
		int k = art_cp_primitive(s);

		if (k >= 0)
			return art_cp_node(p, (enum art_compat_kind)k);
		n = art_cp_reference(p, s, ns);
		if (!n)
			art_cp_fail(p, "unknown type '%s'", s);
		return n;
	}
	if (json_is_array(j)) {
		n = art_cp_node(p, ART_COMPAT_UNION);
		if (!n)
			return NULL;
		n->branches = calloc(json_array_size(j) + 1, sizeof(*n->branches));
		if (!n->branches) {
			art_cp_fail(p, "out of memory");
			return NULL;
		}
		json_array_foreach(j, i, b)
		{
			n->branches[i] = art_cp_parse(p, b, ns, depth + 1);
			if (!n->branches[i])
				return NULL;
			n->branch_cnt = i + 1;
		}
		return n;
	}
	if (!json_is_object(j)) {
		art_cp_fail(p, "a type must be a name, an array (union) or an object");
		return NULL;
	}
	t = json_object_get(j, "type");
	if (json_is_string(t))
		return art_cp_complex(p, j, json_string_value(t), ns, depth);
	if (json_is_object(t) || json_is_array(t))
		return art_cp_parse(p, t, ns, depth + 1);
	art_cp_fail(p, "a type object without \"type\"");
	return NULL;
}

struct art_compat_schema *art_schema_compat_parse(const char *text, size_t len, char *errstr,
                                                  size_t errstr_size)
{
	struct art_compat_schema *cs = calloc(1, sizeof(*cs));
	struct art_cp p = {cs, errstr, errstr_size};
	json_error_t jerr;

	if (!cs) {
		snprintf(errstr, errstr_size, "out of memory");
		return NULL;
	}
	cs->json =
	    json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	if (!cs->json) {
		snprintf(errstr, errstr_size, "line %d: %s", jerr.line, jerr.text);
		goto fail;
	}
	cs->root = art_cp_parse(&p, cs->json, "", 0);
	if (!cs->root)
		goto fail;
	return cs;
fail:
	art_schema_compat_destroy(cs);
	return NULL;
}

void art_schema_compat_destroy(struct art_compat_schema *cs)
{
	if (!cs)
		return;
	for (size_t i = 0; i < cs->node_cnt; i++) {
		struct art_compat_node *n = cs->nodes[i];

		free(n->name);
		for (size_t k = 0; k < n->alias_cnt; k++)
			free(n->aliases[k]);
		free(n->aliases);
		for (size_t k = 0; k < n->field_cnt; k++)
			free(n->fields[k].aliases);
		free(n->fields);
		free(n->symbols);
		free(n->branches);
		free(n);
	}
	free(cs->nodes);
	json_decref(cs->json);
	free(cs);
}

/* ---- the resolution rules ------------------------------------------------ */

int art_schema_compat_names_match(const struct art_compat_node *reader,
                                  const struct art_compat_node *writer)
{
	const char *ws;

	if (!reader->name || !writer->name)
		return 0;
	ws = art_compat_short(writer->name);
	if (!strcmp(art_compat_short(reader->name), ws))
		return 1;
	for (size_t i = 0; i < reader->alias_cnt; i++)
		if (!strcmp(reader->aliases[i], writer->name) ||
		    !strcmp(art_compat_short(reader->aliases[i]), ws))
			return 1;
	return 0;
}

/* Returns 1 when writer kind w promotes to reader kind r. */
static int art_compat_promotes(enum art_compat_kind w, enum art_compat_kind r)
{
	switch (w) {
	case ART_COMPAT_INT:
		return r == ART_COMPAT_LONG || r == ART_COMPAT_FLOAT || r == ART_COMPAT_DOUBLE;
	case ART_COMPAT_LONG:
		return r == ART_COMPAT_FLOAT || r == ART_COMPAT_DOUBLE;
	case ART_COMPAT_FLOAT:
		return r == ART_COMPAT_DOUBLE;
	case ART_COMPAT_STRING:
		return r == ART_COMPAT_BYTES;
	case ART_COMPAT_BYTES:
		return r == ART_COMPAT_STRING;
	default:
		return 0;
	}
}

/* Same kind, and for named types the same name (fixed: and size). */
static int art_compat_same_type(const struct art_compat_node *r, const struct art_compat_node *w)
{
	if (r->kind != w->kind || r->kind == ART_COMPAT_UNION)
		return 0;
	switch (r->kind) {
	case ART_COMPAT_RECORD:
	case ART_COMPAT_ENUM:
		return art_schema_compat_names_match(r, w);
	case ART_COMPAT_FIXED:
		return art_schema_compat_names_match(r, w) && r->size == w->size;
	default:
		return 1;
	}
}

int art_schema_compat_shallow_match(const struct art_compat_node *reader,
                                    const struct art_compat_node *writer)
{
	return art_compat_same_type(reader, writer) ||
	       art_compat_promotes(writer->kind, reader->kind);
}

int art_schema_compat_union_pick(const struct art_compat_node *reader_union,
                                 const struct art_compat_node *writer)
{
	for (size_t i = 0; i < reader_union->branch_cnt; i++)
		if (art_compat_same_type(reader_union->branches[i], writer))
			return (int)i;
	for (size_t i = 0; i < reader_union->branch_cnt; i++)
		if (art_compat_promotes(writer->kind, reader_union->branches[i]->kind))
			return (int)i;
	return -1;
}

int art_schema_compat_field_find(const struct art_compat_node *reader_record, const char *wname)
{
	for (size_t i = 0; i < reader_record->field_cnt; i++)
		if (!strcmp(reader_record->fields[i].name, wname))
			return (int)i;
	for (size_t i = 0; i < reader_record->field_cnt; i++)
		for (size_t k = 0; k < reader_record->fields[i].alias_cnt; k++)
			if (!strcmp(reader_record->fields[i].aliases[k], wname))
				return (int)i;
	return -1;
}

long art_schema_compat_latin1(const char *s, size_t len, unsigned char *out)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	long n = 0;

	while (p < end) {
		if (p[0] < 0x80) {
			out[n++] = *p++;
		} else if ((p[0] & 0xe0) == 0xc0 && end - p >= 2 && (p[1] & 0xc0) == 0x80) {
			unsigned cp = (unsigned)(p[0] & 0x1f) << 6 | (p[1] & 0x3f);

			if (cp > 0xff || cp < 0x80)
				return -1;
			out[n++] = (unsigned char)cp;
			p += 2;
		} else {
			return -1; /* a code point above U+07FF, or malformed */
		}
	}
	return n;
}

/* art_schema_compat_default_ok() with a depth limit (a record's missing
 * fields take their own defaults, which may recurse). */
static int art_compat_default_ok(const struct art_compat_node *n, json_t *def, char *why,
                                 size_t why_size, int depth)
{
	const char *want = NULL;

	if (depth > ART_COMPAT_MAX_DEPTH) {
		snprintf(why, why_size, "default nested too deeply");
		return 0;
	}
	switch (n->kind) {
	case ART_COMPAT_NULL:
		if (!json_is_null(def))
			want = "null";
		break;
	case ART_COMPAT_BOOLEAN:
		if (!json_is_boolean(def))
			want = "true or false";
		break;
	case ART_COMPAT_INT:
		if (!json_is_integer(def) || json_integer_value(def) < INT32_MIN ||
		    json_integer_value(def) > INT32_MAX)
			want = "a 32-bit integer";
		break;
	case ART_COMPAT_LONG:
		if (!json_is_integer(def))
			want = "an integer";
		break;
	case ART_COMPAT_FLOAT:
	case ART_COMPAT_DOUBLE:
		if (!json_is_number(def))
			want = "a number";
		break;
	case ART_COMPAT_STRING:
		if (!json_is_string(def))
			want = "a string";
		break;
	case ART_COMPAT_BYTES:
	case ART_COMPAT_FIXED: {
		unsigned char *tmp;
		long got;

		if (!json_is_string(def)) {
			want = "a string of code points 0-255";
			break;
		}
		tmp = malloc(json_string_length(def) + 1);
		if (!tmp) {
			snprintf(why, why_size, "out of memory");
			return 0;
		}
		got =
		    art_schema_compat_latin1(json_string_value(def), json_string_length(def), tmp);
		free(tmp);
		if (got < 0)
			want = "a string of code points 0-255";
		else if (n->kind == ART_COMPAT_FIXED && (size_t)got != n->size) {
			snprintf(why, why_size, "default has %ld bytes, fixed %s has %zu", got,
			         n->name, n->size);
			return 0;
		}
		break;
	}
	case ART_COMPAT_ENUM:
		if (!json_is_string(def)) {
			want = "a symbol";
			break;
		}
		for (size_t i = 0; i < n->symbol_cnt; i++)
			if (!strcmp(n->symbols[i], json_string_value(def)))
				return 1;
		snprintf(why, why_size, "default '%s' is not a symbol of enum %s",
		         json_string_value(def), n->name);
		return 0;
	case ART_COMPAT_ARRAY: {
		size_t i;
		json_t *v;

		if (!json_is_array(def)) {
			want = "an array";
			break;
		}
		json_array_foreach(def, i, v)
		{
			if (!art_compat_default_ok(n->items, v, why, why_size, depth + 1))
				return 0;
		}
		break;
	}
	case ART_COMPAT_MAP: {
		const char *k;
		json_t *v;

		if (!json_is_object(def)) {
			want = "an object";
			break;
		}
		json_object_foreach(def, k, v)
		{
			if (!art_compat_default_ok(n->items, v, why, why_size, depth + 1))
				return 0;
		}
		break;
	}
	case ART_COMPAT_RECORD:
		if (!json_is_object(def)) {
			want = "an object";
			break;
		}
		for (size_t i = 0; i < n->field_cnt; i++) {
			const struct art_compat_field *f = &n->fields[i];
			json_t *v = json_object_get(def, f->name);

			if (!v)
				v = f->def;
			if (!v) {
				snprintf(why, why_size,
				         "default lacks field %s (of %s), which has no default",
				         f->name, n->name);
				return 0;
			}
			if (!art_compat_default_ok(f->type, v, why, why_size, depth + 1))
				return 0;
		}
		break;
	case ART_COMPAT_UNION:
		if (n->branch_cnt == 0) {
			snprintf(why, why_size, "an empty union has no default");
			return 0;
		}
		if (!art_compat_default_ok(n->branches[0], def, why, why_size, depth + 1)) {
			char inner[256];

			snprintf(inner, sizeof(inner), "%s", why);
			snprintf(why, why_size,
			         "a union's default must be of its first branch (%s): %s",
			         art_schema_compat_kind_name(n->branches[0]->kind), inner);
			return 0;
		}
		break;
	}
	if (want) {
		snprintf(why, why_size, "default must be %s for a %s", want,
		         art_schema_compat_kind_name(n->kind));
		return 0;
	}
	return 1;
}

int art_schema_compat_default_ok(const struct art_compat_node *node, json_t *def, char *why,
                                 size_t why_size)
{
	char scratch[8];

	if (!why) {
		why = scratch;
		why_size = sizeof(scratch);
	}
	return art_compat_default_ok(node, def, why, why_size, 0);
}

/* ---- reports --------------------------------------------------------------- */

static int art_compat_add(struct art_compat_report *rep, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends one formatted line to rep. Returns 1, or -1 when out of memory. */
static int art_compat_add(struct art_compat_report *rep, const char *fmt, ...)
{
	va_list ap;
	char *line = NULL;
	int n;

	if (rep->cnt == rep->cap) {
		size_t cap = rep->cap ? rep->cap * 2 : 16;
		char **lines = realloc(rep->lines, cap * sizeof(*lines));

		if (!lines)
			return -1;
		rep->lines = lines;
		rep->cap = cap;
	}
	va_start(ap, fmt);
	n = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	rep->lines[rep->cnt++] = line;
	return 1;
}

void art_schema_compat_report_free(struct art_compat_report *rep)
{
	for (size_t i = 0; i < rep->cnt; i++)
		free(rep->lines[i]);
	free(rep->lines);
	memset(rep, 0, sizeof(*rep));
}

/* ---- the check ------------------------------------------------------------- */

/* State of one check: where to report and the pairs already visited. */
struct art_cc {
	struct art_compat_report *rep;
	const char *prefix;
	const struct art_compat_node **seen; /* pairs: seen[2i] reader, seen[2i+1] writer */
	size_t seen_cnt;
	size_t seen_cap;
	int added;
	int oom;
};

/* Returns 1 when (r, w) was visited before; else remembers it, returns 0. */
static int art_cc_seen(struct art_cc *c, const struct art_compat_node *r,
                       const struct art_compat_node *w)
{
	for (size_t i = 0; i < c->seen_cnt; i++)
		if (c->seen[2 * i] == r && c->seen[2 * i + 1] == w)
			return 1;
	if (c->seen_cnt == c->seen_cap) {
		size_t cap = c->seen_cap ? c->seen_cap * 2 : 64;
		const struct art_compat_node **s = realloc(c->seen, 2 * cap * sizeof(*s));

		if (!s) {
			c->oom = 1;
			return 1;
		}
		c->seen = s;
		c->seen_cap = cap;
	}
	c->seen[2 * c->seen_cnt] = r;
	c->seen[2 * c->seen_cnt + 1] = w;
	c->seen_cnt++;
	return 0;
}

/* Describes a type for a message: "string", "record Timestamp". */
static const char *art_compat_describe(const struct art_compat_node *n, char *buf, size_t size)
{
	if (n->name)
		snprintf(buf, size, "%s %s", art_schema_compat_kind_name(n->kind),
		         art_compat_short(n->name));
	else if (n->kind == ART_COMPAT_UNION) {
		size_t off = 0;

		off += (size_t)snprintf(buf, size, "union [");
		for (size_t i = 0; i < n->branch_cnt && off < size; i++) {
			const struct art_compat_node *b = n->branches[i];

			off += (size_t)snprintf(buf + off, size - off, "%s%s", i ? ", " : "",
			                        b->name ? art_compat_short(b->name)
			                                : art_schema_compat_kind_name(b->kind));
		}
		if (off < size)
			snprintf(buf + off, size - off, "]");
	} else
		snprintf(buf, size, "%s", art_schema_compat_kind_name(n->kind));
	return buf;
}

static void art_cc_report(struct art_cc *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Adds "<prefix><path>: <message>" to the report. */
static void art_cc_report(struct art_cc *c, const char *path, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (art_compat_add(c->rep, "%s%s: %s", c->prefix ? c->prefix : "", *path ? path : "(top)",
	                   msg) < 0)
		c->oom = 1;
	else
		c->added++;
}

/* Explains why w cannot be read as r (they do not shallow-match). */
static void art_cc_mismatch(struct art_cc *c, const char *path, const struct art_compat_node *r,
                            const struct art_compat_node *w)
{
	char rd[256], wd[256];

	art_compat_describe(r, rd, sizeof(rd));
	art_compat_describe(w, wd, sizeof(wd));
	if (r->kind == w->kind && r->kind == ART_COMPAT_FIXED &&
	    art_schema_compat_names_match(r, w))
		art_cc_report(c, path, "fixed %s has %zu bytes in the writer, %zu in the reader",
		              art_compat_short(r->name), w->size, r->size);
	else if (r->kind == w->kind && r->name)
		art_cc_report(c, path,
		              "the writer's %s does not match the reader's %s (names differ and no "
		              "reader alias names it)",
		              wd, rd);
	else
		art_cc_report(c, path, "the writer's %s cannot be read as %s", wd, rd);
}

static void art_cc_check(struct art_cc *c, const struct art_compat_node *r,
                         const struct art_compat_node *w, const char *path);

/* Records: every reader field is in the writer (by name or alias) or has a
 * valid default; shared fields resolve. */
static void art_cc_record(struct art_cc *c, const struct art_compat_node *r,
                          const struct art_compat_node *w, const char *path)
{
	const struct art_compat_field **from = calloc(r->field_cnt + 1, sizeof(*from));

	if (!from) {
		c->oom = 1;
		return;
	}
	for (size_t i = 0; i < w->field_cnt; i++) {
		int k = art_schema_compat_field_find(r, w->fields[i].name);

		if (k >= 0 && !from[k])
			from[k] = &w->fields[i];
	}
	for (size_t k = 0; k < r->field_cnt && !c->oom; k++) {
		const struct art_compat_field *f = &r->fields[k];
		char sub[ART_COMPAT_PATH_MAX];
		char why[512];

		snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", f->name);
		if (from[k]) {
			art_cc_check(c, f->type, from[k]->type, sub);
		} else if (!f->def) {
			art_cc_report(
			    c, sub,
			    "the reader's field is not in the writer's record %s and has no "
			    "default",
			    art_compat_short(w->name));
		} else if (!art_schema_compat_default_ok(f->type, f->def, why, sizeof(why))) {
			art_cc_report(c, sub,
			              "the reader's field is not in the writer's record %s and its "
			              "default is invalid: %s",
			              art_compat_short(w->name), why);
		}
	}
	free(from);
}

int art_schema_compat_enum_index(const struct art_compat_node *en, const char *symbol)
{
	if (!symbol)
		return -1;
	for (size_t i = 0; i < en->symbol_cnt; i++)
		if (!strcmp(en->symbols[i], symbol))
			return (int)i;
	return -1;
}

/* Enums: every writer symbol is a reader symbol, unless the reader has a
 * default. */
static void art_cc_enum(struct art_cc *c, const struct art_compat_node *r,
                        const struct art_compat_node *w, const char *path)
{
	char missing[512];
	size_t off = 0, cnt = 0;

	missing[0] = '\0';
	for (size_t i = 0; i < w->symbol_cnt; i++) {
		int found = 0;

		for (size_t k = 0; k < r->symbol_cnt && !found; k++)
			found = !strcmp(w->symbols[i], r->symbols[k]);
		if (found)
			continue;
		cnt++;
		if (off < sizeof(missing))
			off += (size_t)snprintf(missing + off, sizeof(missing) - off, "%s%s",
			                        cnt > 1 ? ", " : "", w->symbols[i]);
	}
	if (cnt && art_schema_compat_enum_index(r, r->enum_default) < 0)
		art_cc_report(
		    c, path,
		    "enum %s: the writer's symbol(s) %s are not in the reader's symbols and "
		    "the reader has no default",
		    art_compat_short(r->name), missing);
}

static void art_cc_check(struct art_cc *c, const struct art_compat_node *r,
                         const struct art_compat_node *w, const char *path)
{
	char sub[ART_COMPAT_PATH_MAX];
	char rd[256], wd[256];

	if (c->oom || art_cc_seen(c, r, w))
		return;
	if (w->kind == ART_COMPAT_UNION) {
		for (size_t i = 0; i < w->branch_cnt; i++) {
			const struct art_compat_node *b = w->branches[i];

			if (r->kind == ART_COMPAT_UNION) {
				int k = art_schema_compat_union_pick(r, b);

				if (k < 0)
					art_cc_report(
					    c, path,
					    "the writer's union branch %s is in no branch of "
					    "the reader's %s",
					    art_compat_describe(b, wd, sizeof(wd)),
					    art_compat_describe(r, rd, sizeof(rd)));
				else
					art_cc_check(c, r->branches[k], b, path);
			} else if (!art_schema_compat_shallow_match(r, b)) {
				art_cc_report(c, path,
				              "the writer's union branch %s cannot be read as %s",
				              art_compat_describe(b, wd, sizeof(wd)),
				              art_compat_describe(r, rd, sizeof(rd)));
			} else {
				art_cc_check(c, r, b, path);
			}
		}
		return;
	}
	if (r->kind == ART_COMPAT_UNION) {
		int k = art_schema_compat_union_pick(r, w);

		if (k < 0)
			art_cc_report(c, path, "the writer's %s is in no branch of the reader's %s",
			              art_compat_describe(w, wd, sizeof(wd)),
			              art_compat_describe(r, rd, sizeof(rd)));
		else
			art_cc_check(c, r->branches[k], w, path);
		return;
	}
	if (!art_schema_compat_shallow_match(r, w)) {
		art_cc_mismatch(c, path, r, w);
		return;
	}
	switch (r->kind) {
	case ART_COMPAT_RECORD:
		art_cc_record(c, r, w, path);
		break;
	case ART_COMPAT_ENUM:
		art_cc_enum(c, r, w, path);
		break;
	case ART_COMPAT_ARRAY:
	case ART_COMPAT_MAP:
		snprintf(sub, sizeof(sub), "%s%s", path, r->kind == ART_COMPAT_ARRAY ? "[]" : "{}");
		art_cc_check(c, r->items, w->items, sub);
		break;
	default:
		break; /* primitives, promotions and fixed are settled by the match */
	}
}

int art_schema_compat_check(const struct art_compat_node *reader,
                            const struct art_compat_node *writer, const char *prefix,
                            struct art_compat_report *rep)
{
	struct art_cc c;

	memset(&c, 0, sizeof(c));
	c.rep = rep;
	c.prefix = prefix;
	art_cc_check(&c, reader, writer, "");
	free(c.seen);
	return c.oom ? -1 : c.added;
}

int art_schema_compat_defaults(const struct art_compat_schema *cs, const char *prefix,
                               struct art_compat_report *rep)
{
	int added = 0;

	for (size_t i = 0; i < cs->node_cnt; i++) {
		const struct art_compat_node *n = cs->nodes[i];
		char why[512];

		if (n->kind == ART_COMPAT_ENUM && n->enum_default) {
			json_t *sym = json_string(n->enum_default);
			int ok;

			if (!sym)
				return -1;
			ok = art_schema_compat_default_ok(n, sym, why, sizeof(why));
			json_decref(sym);
			if (!ok) {
				if (art_compat_add(rep, "%senum %s: %s", prefix ? prefix : "",
				                   art_compat_short(n->name), why) < 0)
					return -1;
				added++;
			}
		}
		if (n->kind != ART_COMPAT_RECORD)
			continue;
		for (size_t k = 0; k < n->field_cnt; k++) {
			const struct art_compat_field *f = &n->fields[k];

			if (!f->def ||
			    art_schema_compat_default_ok(f->type, f->def, why, sizeof(why)))
				continue;
			if (art_compat_add(rep, "%s%s.%s: %s", prefix ? prefix : "",
			                   art_compat_short(n->name), f->name, why) < 0)
				return -1;
			added++;
		}
	}
	return added;
}

/* ---- registry: version chains and the envelope ----------------------------- */

/* Structural equality of two types: same kinds, full names, fields (names
 * and types, in order), symbols, sizes and branches. Defaults, docs and
 * aliases are not compared. Pairs in progress count as equal (recursion). */
static int art_compat_equal(struct art_cc *c, const struct art_compat_node *a,
                            const struct art_compat_node *b)
{
	if (art_cc_seen(c, a, b))
		return !c->oom;
	if (a->kind != b->kind)
		return 0;
	if ((a->name || b->name) && (!a->name || !b->name || strcmp(a->name, b->name)))
		return 0;
	switch (a->kind) {
	case ART_COMPAT_RECORD:
		if (a->field_cnt != b->field_cnt)
			return 0;
		for (size_t i = 0; i < a->field_cnt; i++)
			if (strcmp(a->fields[i].name, b->fields[i].name) ||
			    !art_compat_equal(c, a->fields[i].type, b->fields[i].type))
				return 0;
		return 1;
	case ART_COMPAT_ENUM:
		if (a->symbol_cnt != b->symbol_cnt)
			return 0;
		for (size_t i = 0; i < a->symbol_cnt; i++)
			if (strcmp(a->symbols[i], b->symbols[i]))
				return 0;
		return 1;
	case ART_COMPAT_FIXED:
		return a->size == b->size;
	case ART_COMPAT_ARRAY:
	case ART_COMPAT_MAP:
		return art_compat_equal(c, a->items, b->items);
	case ART_COMPAT_UNION:
		if (a->branch_cnt != b->branch_cnt)
			return 0;
		for (size_t i = 0; i < a->branch_cnt; i++)
			if (!art_compat_equal(c, a->branches[i], b->branches[i]))
				return 0;
		return 1;
	default:
		return 1;
	}
}

static const char *const art_compat_envelope_names[] = {ART_COMPAT_ENVELOPE_FIELDS};

#define ART_COMPAT_ENVELOPE_TEXT                                                                   \
	"every canonical record starts with event_id, idempotency_key, event_type, occurred_at, "  \
	"received_at, source, source_message_id, patient, raw_ref"

/* Adds a line to rep for each way record n does not start with the
 * envelope of ref (canonical.patient v1). Returns lines added or -1. */
static int art_compat_envelope(const struct art_compat_node *n, const struct art_compat_node *ref,
                               const char *prefix, struct art_compat_report *rep)
{
	int added = 0;

	if (n->kind != ART_COMPAT_RECORD || ref->kind != ART_COMPAT_RECORD)
		return art_compat_add(rep, "%senvelope: the top-level type is not a record",
		                      prefix);
	for (size_t k = 0; k < ART_ARRAY_SIZE(art_compat_envelope_names); k++) {
		const char *want = art_compat_envelope_names[k];
		int rc = 0;

		if (k >= ref->field_cnt || strcmp(ref->fields[k].name, want)) {
			rc =
			    art_compat_add(rep,
			                   "%senvelope: canonical.patient v1 itself lacks envelope "
			                   "field %zu (%s)",
			                   prefix, k, want);
		} else if (k >= n->field_cnt || strcmp(n->fields[k].name, want)) {
			/* Everything after a missing or misplaced field is shifted:
			 * one line says it all. */
			if (k >= n->field_cnt)
				rc = art_compat_add(
				    rep,
				    "%senvelope: the record has only %zu fields; field %zu "
				    "must be '%s' (%s)",
				    prefix, n->field_cnt, k, want, ART_COMPAT_ENVELOPE_TEXT);
			else
				rc = art_compat_add(
				    rep, "%senvelope: field %zu is '%s', expected '%s' (%s)",
				    prefix, k, n->fields[k].name, want, ART_COMPAT_ENVELOPE_TEXT);
			return rc < 0 ? -1 : added + rc;
		} else {
			struct art_cc c;
			int eq;

			memset(&c, 0, sizeof(c));
			eq = art_compat_equal(&c, n->fields[k].type, ref->fields[k].type);
			free(c.seen);
			if (c.oom)
				return -1;
			if (!eq) {
				char a[256], b[256];

				rc = art_compat_add(
				    rep,
				    "%senvelope: field '%s' is %s, not the same type as in "
				    "canonical.patient v1 (%s)",
				    prefix, want,
				    art_compat_describe(n->fields[k].type, a, sizeof(a)),
				    art_compat_describe(ref->fields[k].type, b, sizeof(b)));
			}
		}
		if (rc < 0)
			return -1;
		added += rc;
	}
	return added;
}

/* Checks one subject whose schemas are idx[0..cnt) in version order,
 * adding every problem to rep. Returns 0, or -1 when out of memory. */
static int art_compat_subject(const struct art_schema_registry *reg,
                              struct art_compat_schema **parsed, const size_t *idx, size_t cnt,
                              const struct art_compat_schema *ref, struct art_compat_report *rep)
{
	const char *subject = reg->schemas[idx[0]].subject;
	char prefix[128];

	for (size_t i = 0; i < cnt; i++) {
		snprintf(prefix, sizeof(prefix), "v%d: ", reg->schemas[idx[i]].version);
		if (art_schema_compat_defaults(parsed[idx[i]], prefix, rep) < 0)
			return -1;
	}
	for (size_t i = 0; i + 1 < cnt; i++) {
		int va = reg->schemas[idx[i]].version, vb = reg->schemas[idx[i + 1]].version;
		const struct art_compat_node *a = parsed[idx[i]]->root,
		                             *b = parsed[idx[i + 1]]->root;

		snprintf(prefix, sizeof(prefix), "v%d reader, v%d data: ", va, vb);
		if (art_schema_compat_check(a, b, prefix, rep) < 0)
			return -1;
		snprintf(prefix, sizeof(prefix), "v%d reader, v%d data: ", vb, va);
		if (art_schema_compat_check(b, a, prefix, rep) < 0)
			return -1;
	}
	if (strncmp(subject, "canonical.", 10) || !ref)
		return 0;
	for (size_t i = 0; i < cnt; i++) {
		snprintf(prefix, sizeof(prefix), "v%d: ", reg->schemas[idx[i]].version);
		if (art_compat_envelope(parsed[idx[i]]->root, ref->root, prefix, rep) < 0)
			return -1;
	}
	return 0;
}

int art_schema_compat_registry(const struct art_schema_registry *reg, const char *subject,
                               FILE *out, char *errstr, size_t errstr_size)
{
	struct art_compat_schema **parsed = calloc(reg->cnt + 1, sizeof(*parsed));
	size_t *idx = calloc(reg->cnt + 1, sizeof(*idx));
	const struct art_schema *refs = art_schema_by_subject(reg, "canonical.patient", 1);
	const struct art_compat_schema *ref = NULL;
	size_t subjects = 0, bad = 0;
	int rc = -1;

	if (!parsed || !idx) {
		snprintf(errstr, errstr_size, "out of memory");
		goto done;
	}
	if (subject && !art_schema_latest(reg, subject)) {
		snprintf(errstr, errstr_size, "no subject '%s' in %s/registry.json", subject,
		         reg->dir);
		goto done;
	}
	for (size_t i = 0; i < reg->cnt; i++) {
		const struct art_schema *s = &reg->schemas[i];
		char why[512];

		parsed[i] = art_schema_compat_parse(s->text, strlen(s->text), why, sizeof(why));
		if (!parsed[i]) {
			snprintf(errstr, errstr_size, "%s/%s: %s", reg->dir, s->file, why);
			goto done;
		}
		if (s == refs)
			ref = parsed[i];
	}
	for (size_t i = 0; i < reg->cnt; i++) {
		const char *name = reg->schemas[i].subject;
		struct art_compat_report rep = {0};
		size_t cnt = 0;
		int first = 1;

		for (size_t j = 0; j < i && first; j++)
			first = strcmp(reg->schemas[j].subject, name) != 0;
		if (!first || (subject && strcmp(subject, name)))
			continue;
		/* This subject's versions, sorted (insertion sort: a few at most). */
		for (size_t j = i; j < reg->cnt; j++) {
			size_t k;

			if (strcmp(reg->schemas[j].subject, name))
				continue;
			for (k = cnt;
			     k > 0 && reg->schemas[idx[k - 1]].version > reg->schemas[j].version;
			     k--)
				idx[k] = idx[k - 1];
			idx[k] = j;
			cnt++;
		}
		subjects++;
		if (art_compat_subject(reg, parsed, idx, cnt, ref, &rep) < 0) {
			art_schema_compat_report_free(&rep);
			snprintf(errstr, errstr_size, "out of memory");
			goto done;
		}
		if (rep.cnt == 0) {
			fprintf(out, "%s: ok (", name);
			for (size_t k = 0; k < cnt; k++)
				fprintf(out, "%sv%d", k ? ", " : "", reg->schemas[idx[k]].version);
			fprintf(out, ")\n");
		} else {
			bad++;
			fprintf(out, "%s: %zu problem%s\n", name, rep.cnt, rep.cnt == 1 ? "" : "s");
			for (size_t k = 0; k < rep.cnt; k++)
				fprintf(out, "  %s\n", rep.lines[k]);
		}
		art_schema_compat_report_free(&rep);
	}
	if (!ref && (!subject || !strncmp(subject, "canonical.", 10)))
		fprintf(out,
		        "note: envelope not checked: the registry has no canonical.patient v1\n");
	if (bad)
		fprintf(out, "%zu subject%s checked, %zu with problems\n", subjects,
		        subjects == 1 ? "" : "s", bad);
	else
		fprintf(out, "%zu subject%s checked, all FULL compatible\n", subjects,
		        subjects == 1 ? "" : "s");
	rc = bad ? 1 : 0;
done:
	if (parsed)
		for (size_t i = 0; i < reg->cnt; i++)
			art_schema_compat_destroy(parsed[i]);
	free(parsed);
	free(idx);
	return rc;
}

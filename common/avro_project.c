/*
 * avro_project.c — reader projection: compiles, per (writer schema, reader
 * schema) pair, a plan that mirrors the writer schema and says where each
 * writer value goes in the reader's value (which reader field, which union
 * branch, which promotion, which enum symbol) and which reader fields take
 * their defaults; then runs a record's bytes through it, writing straight
 * into an Avro C generic value of the reader's schema.
 *
 * Owns: the reader's parsed schema, one parsed writer schema and its plans
 * per writer id met (a registry holds a few dozen at most), and a scratch
 * buffer for strings and map keys (never larger than the biggest record
 * read). Plans are memoized by (writer node, reader node), so recursive
 * types compile to cyclic plans. The resolution rules themselves live in
 * schema_compat.c, shared with `artery schema check`.
 */
#include "avro_project.h"

#include "art.h"
#include "avro_codec.h"
#include "avro_tree.h"
#include "schema_compat.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ART_PJ_PATH_MAX 512 /* field path kept in a plan's error message */

/* What a plan node does with one writer value. */
enum art_pj_op {
	ART_PJ_VALUE,  /* a primitive or fixed: read w's kind, store as r's (same or promoted) */
	ART_PJ_ENUM,   /* writer symbol index -> reader symbol index */
	ART_PJ_RECORD, /* writer fields in order, then the reader's defaults */
	ART_PJ_ARRAY,  /* items through items */
	ART_PJ_MAP,    /* values through items */
	ART_PJ_WUNION, /* writer union: the branch read picks branches[i] */
	ART_PJ_RUNION, /* reader union, writer not: store in branch rbranch via inner */
	ART_PJ_ERROR,  /* not readable: fail with error when a record holds it */
};

struct art_pj;

/* One writer field of a record plan. */
struct art_pj_field {
	int rindex;                          /* reader field it goes to; -1: skipped */
	const struct art_compat_node *wtype; /* the writer's type (to skip it) */
	struct art_pj *plan;                 /* when rindex >= 0 */
};

/* A reader field the writer lacks: filled from its default. */
struct art_pj_default {
	int rindex;
	const struct art_compat_field *rfield;
};

struct art_pj {
	enum art_pj_op op;
	const struct art_compat_node *w, *r;
	struct art_pj_field *fields; /* RECORD: one per writer field */
	size_t field_cnt;
	struct art_pj_default *defs; /* RECORD */
	size_t def_cnt;
	int *enum_map;            /* ENUM: per writer symbol, the reader's index or -1 */
	struct art_pj *items;     /* ARRAY, MAP */
	struct art_pj **branches; /* WUNION: per writer branch */
	size_t branch_cnt;
	int rbranch;          /* RUNION */
	struct art_pj *inner; /* RUNION */
	char *error;          /* ERROR: "path: reason" */
	const struct art_tshape *shape; /* RECORD, tree output: the reader's field names,
	                                   looked up on first use (owned by the projector) */
};

/* The plans for one writer schema. */
struct art_pj_writer {
	const struct art_schema *schema;
	struct art_compat_schema *cs;
	struct art_pj *root;
	struct art_pj **plans; /* every plan node, for memo and freeing */
	size_t plan_cnt;
	size_t plan_cap;
};

struct art_avro_projector {
	const struct art_schema_registry *reg;
	const struct art_schema *reader;
	struct art_compat_schema *rcs; /* the reader's .avsc, parsed with defaults */
	struct art_pj_writer *writers;
	size_t writer_cnt;
	size_t writer_cap;
	unsigned char *scratch; /* strings, map keys and bytes defaults */
	size_t scratch_cap;
	avro_value_t jvalue; /* for the JSON convenience; valid when has_jvalue */
	int has_jvalue;
	struct art_pj_shape *shapes; /* tree output: one shape per reader record type met */
	size_t shape_cnt;
	size_t shape_cap;
};

/* The field names of one reader record type, for tree output. */
struct art_pj_shape {
	const struct art_compat_node *r;
	struct art_tshape *shape;
};

/* ---- compiling plans ------------------------------------------------------ */

/* Returns a plan for (w, r): the memoized one, or a new empty one (op
 * unset) that the caller fills. NULL when out of memory. *is_new says which. */
static struct art_pj *art_pj_get(struct art_pj_writer *bw, const struct art_compat_node *w,
                                 const struct art_compat_node *r, int *is_new)
{
	struct art_pj *p;

	*is_new = 0;
	for (size_t i = 0; i < bw->plan_cnt; i++)
		if (bw->plans[i]->w == w && bw->plans[i]->r == r)
			return bw->plans[i];
	if (bw->plan_cnt == bw->plan_cap) {
		size_t cap = bw->plan_cap ? bw->plan_cap * 2 : 64;
		struct art_pj **plans = realloc(bw->plans, cap * sizeof(*plans));

		if (!plans)
			return NULL;
		bw->plans = plans;
		bw->plan_cap = cap;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->w = w;
	p->r = r;
	bw->plans[bw->plan_cnt++] = p;
	*is_new = 1;
	return p;
}

static struct art_pj *art_pj_error(struct art_pj *p, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Turns p into an ERROR plan with "path: message". Returns p, or NULL
 * when out of memory. */
static struct art_pj *art_pj_error(struct art_pj *p, const char *path, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->op = ART_PJ_ERROR;
	if (asprintf(&p->error, "%s: %s", *path ? path : "(top)", msg) < 0) {
		p->error = NULL;
		return NULL;
	}
	return p;
}

/* A type for messages: "string", "record Timestamp". */
static const char *art_pj_describe(const struct art_compat_node *n, char *buf, size_t size)
{
	const char *dot = n->name ? strrchr(n->name, '.') : NULL;

	if (n->name)
		snprintf(buf, size, "%s %s", art_schema_compat_kind_name(n->kind),
		         dot ? dot + 1 : n->name);
	else
		snprintf(buf, size, "%s", art_schema_compat_kind_name(n->kind));
	return buf;
}

static struct art_pj *art_pj_build(struct art_pj_writer *bw, const struct art_compat_node *w,
                                   const struct art_compat_node *r, const char *path);

/* Fills record plan p: where each writer field goes, which reader fields
 * take defaults. */
static struct art_pj *art_pj_record(struct art_pj_writer *bw, struct art_pj *p, const char *path)
{
	const struct art_compat_node *w = p->w, *r = p->r;
	char *taken;

	p->op = ART_PJ_RECORD;
	p->fields = calloc(w->field_cnt + 1, sizeof(*p->fields));
	p->defs = calloc(r->field_cnt + 1, sizeof(*p->defs));
	taken = calloc(r->field_cnt + 1, 1);
	if (!p->fields || !p->defs || !taken) {
		free(taken);
		return NULL;
	}
	p->field_cnt = w->field_cnt;
	for (size_t i = 0; i < w->field_cnt; i++) {
		struct art_pj_field *f = &p->fields[i];
		int k = art_schema_compat_field_find(r, w->fields[i].name);
		char sub[ART_PJ_PATH_MAX];

		f->wtype = w->fields[i].type;
		f->rindex = -1;
		if (k < 0 || taken[k])
			continue;
		taken[k] = 1;
		snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", r->fields[k].name);
		f->plan = art_pj_build(bw, w->fields[i].type, r->fields[k].type, sub);
		if (!f->plan) {
			free(taken);
			return NULL;
		}
		f->rindex = k;
	}
	for (size_t k = 0; k < r->field_cnt; k++) {
		const struct art_compat_field *rf = &r->fields[k];
		char why[512], sub[ART_PJ_PATH_MAX];

		if (taken[k])
			continue;
		snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", rf->name);
		if (!rf->def) {
			free(taken);
			return art_pj_error(
			    p, sub,
			    "the reader's field is not in the writer's %s and has no "
			    "default",
			    art_pj_describe(w, why, sizeof(why)));
		}
		if (!art_schema_compat_default_ok(rf->type, rf->def, why, sizeof(why))) {
			free(taken);
			return art_pj_error(p, sub, "the reader's default is invalid: %s", why);
		}
		p->defs[p->def_cnt].rindex = (int)k;
		p->defs[p->def_cnt].rfield = rf;
		p->def_cnt++;
	}
	free(taken);
	return p;
}

/* Compiles the plan reading writer type w as reader type r (memoized). */
static struct art_pj *art_pj_build(struct art_pj_writer *bw, const struct art_compat_node *w,
                                   const struct art_compat_node *r, const char *path)
{
	char wd[256], rd[256];
	struct art_pj *p;
	int is_new, k;

	p = art_pj_get(bw, w, r, &is_new);
	if (!p || !is_new)
		return p;
	if (w->kind == ART_COMPAT_UNION) {
		p->op = ART_PJ_WUNION;
		p->branches = calloc(w->branch_cnt + 1, sizeof(*p->branches));
		if (!p->branches)
			return NULL;
		p->branch_cnt = w->branch_cnt;
		for (size_t i = 0; i < w->branch_cnt; i++) {
			p->branches[i] = art_pj_build(bw, w->branches[i], r, path);
			if (!p->branches[i])
				return NULL;
		}
		return p;
	}
	if (r->kind == ART_COMPAT_UNION) {
		k = art_schema_compat_union_pick(r, w);
		if (k < 0)
			return art_pj_error(p, path,
			                    "the writer's %s is in no branch of the reader's union",
			                    art_pj_describe(w, wd, sizeof(wd)));
		p->op = ART_PJ_RUNION;
		p->rbranch = k;
		p->inner = art_pj_build(bw, w, r->branches[k], path);
		return p->inner ? p : NULL;
	}
	if (!art_schema_compat_shallow_match(r, w))
		return art_pj_error(p, path, "the writer's %s cannot be read as %s",
		                    art_pj_describe(w, wd, sizeof(wd)),
		                    art_pj_describe(r, rd, sizeof(rd)));
	switch (r->kind) {
	case ART_COMPAT_RECORD:
		return art_pj_record(bw, p, path);
	case ART_COMPAT_ENUM:
		p->op = ART_PJ_ENUM;
		p->enum_map = calloc(w->symbol_cnt + 1, sizeof(*p->enum_map));
		if (!p->enum_map)
			return NULL;
		for (size_t i = 0; i < w->symbol_cnt; i++) {
			k = art_schema_compat_enum_index(r, w->symbols[i]);
			p->enum_map[i] =
			    k >= 0 ? k : art_schema_compat_enum_index(r, r->enum_default);
		}
		return p;
	case ART_COMPAT_ARRAY:
	case ART_COMPAT_MAP: {
		char sub[ART_PJ_PATH_MAX];

		p->op = r->kind == ART_COMPAT_ARRAY ? ART_PJ_ARRAY : ART_PJ_MAP;
		snprintf(sub, sizeof(sub), "%s%s", path, r->kind == ART_COMPAT_ARRAY ? "[]" : "{}");
		p->items = art_pj_build(bw, w->items, r->items, sub);
		return p->items ? p : NULL;
	}
	default:
		p->op = ART_PJ_VALUE;
		return p;
	}
}

static void art_pj_writer_free(struct art_pj_writer *bw)
{
	for (size_t i = 0; i < bw->plan_cnt; i++) {
		struct art_pj *p = bw->plans[i];

		free(p->fields);
		free(p->defs);
		free(p->enum_map);
		free(p->branches);
		free(p->error);
		free(p);
	}
	free(bw->plans);
	art_schema_compat_destroy(bw->cs);
	memset(bw, 0, sizeof(*bw));
}

/* Returns the plans for writer schema id, compiling them on first use;
 * NULL with the reason in errstr. */
static struct art_pj_writer *art_pj_writer_get(struct art_avro_projector *pj, int32_t id,
                                               char *errstr, size_t errstr_size)
{
	const struct art_schema *ws;
	struct art_pj_writer *bw;
	char why[512];

	for (size_t i = 0; i < pj->writer_cnt; i++)
		if (pj->writers[i].schema->id == id)
			return &pj->writers[i];
	ws = art_schema_by_id(pj->reg, id);
	if (!ws) {
		snprintf(errstr, errstr_size, "unknown schema id %d (not in %s/registry.json)",
		         (int)id, pj->reg->dir);
		return NULL;
	}
	if (pj->writer_cnt == pj->writer_cap) {
		size_t cap = pj->writer_cap ? pj->writer_cap * 2 : 4;
		struct art_pj_writer *ws2 = realloc(pj->writers, cap * sizeof(*ws2));

		if (!ws2) {
			snprintf(errstr, errstr_size, "out of memory");
			return NULL;
		}
		pj->writers = ws2;
		pj->writer_cap = cap;
	}
	bw = &pj->writers[pj->writer_cnt];
	memset(bw, 0, sizeof(*bw));
	bw->schema = ws;
	bw->cs = art_schema_compat_parse(ws->text, strlen(ws->text), why, sizeof(why));
	if (!bw->cs) {
		snprintf(errstr, errstr_size, "%s:%d: %s", ws->subject, ws->version, why);
		return NULL;
	}
	bw->root = art_pj_build(bw, bw->cs->root, pj->rcs->root, "");
	if (!bw->root) {
		art_pj_writer_free(bw);
		snprintf(errstr, errstr_size, "out of memory");
		return NULL;
	}
	pj->writer_cnt++;
	return bw;
}

/* ---- projector ------------------------------------------------------------- */

struct art_avro_projector *art_avro_project_new(const struct art_schema_registry *reg,
                                                const struct art_schema *reader, char *errstr,
                                                size_t errstr_size)
{
	struct art_avro_projector *pj = calloc(1, sizeof(*pj));
	char why[512];

	if (!pj) {
		snprintf(errstr, errstr_size, "out of memory");
		return NULL;
	}
	pj->reg = reg;
	pj->reader = reader;
	pj->rcs = art_schema_compat_parse(reader->text, strlen(reader->text), why, sizeof(why));
	if (!pj->rcs) {
		snprintf(errstr, errstr_size, "%s:%d: %s", reader->subject, reader->version, why);
		free(pj);
		return NULL;
	}
	return pj;
}

void art_avro_project_destroy(struct art_avro_projector *pj)
{
	if (!pj)
		return;
	for (size_t i = 0; i < pj->writer_cnt; i++)
		art_pj_writer_free(&pj->writers[i]);
	free(pj->writers);
	art_schema_compat_destroy(pj->rcs);
	if (pj->has_jvalue)
		avro_value_decref(&pj->jvalue);
	for (size_t i = 0; i < pj->shape_cnt; i++)
		art_tshape_free(pj->shapes[i].shape);
	free(pj->shapes);
	free(pj->scratch);
	free(pj);
}

/* ---- reading ---------------------------------------------------------------- */

/* A bounds-checked reader over one record body. */
struct art_pj_rd {
	struct art_avro_projector *pj;
	struct art_tree *tree; /* tree output (art_avro_project_read_tree) */
	const unsigned char *start, *p, *end;
	long empty_budget; /* zero-size items still allowed */
	char *errstr;
	size_t errstr_size;
};

static int art_pj_fail(struct art_pj_rd *rd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Reports "malformed Avro body at byte N: ..." and returns -1. */
static int art_pj_fail(struct art_pj_rd *rd, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(rd->errstr, rd->errstr_size, "malformed Avro body at byte %zu: %s",
	         (size_t)(rd->p - rd->start), msg);
	return -1;
}

/* Reports an Avro C failure while storing a value. */
static int art_pj_avro_fail(struct art_pj_rd *rd)
{
	snprintf(rd->errstr, rd->errstr_size, "avro value: %s", avro_strerror());
	return -1;
}

/* Makes the scratch buffer at least n bytes (n is bounded by the record). */
static int art_pj_scratch(struct art_avro_projector *pj, size_t n)
{
	unsigned char *s;

	if (n <= pj->scratch_cap)
		return 0;
	s = realloc(pj->scratch, n);
	if (!s)
		return -1;
	pj->scratch = s;
	pj->scratch_cap = n;
	return 0;
}

/* Reads a zig-zag varint long. */
static inline int art_pj_long(struct art_pj_rd *rd, int64_t *out)
{
	uint64_t u = 0;

	if (rd->p < rd->end && !(*rd->p & 0x80)) { /* one byte: union branches, short lengths */
		u = *rd->p++;
		*out = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
		return 0;
	}
	*out = 0;

	for (int shift = 0; shift < 70; shift += 7) {
		unsigned char b;

		if (rd->p >= rd->end)
			return art_pj_fail(rd, "truncated number");
		b = *rd->p++;
		u |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
			return 0;
		}
	}
	return art_pj_fail(rd, "varint longer than 10 bytes");
}

/* Reads a length-prefixed byte string. */
static int art_pj_bytes(struct art_pj_rd *rd, const unsigned char **p, size_t *len)
{
	int64_t n;

	if (art_pj_long(rd, &n))
		return -1;
	if (n < 0 || n > rd->end - rd->p)
		return art_pj_fail(rd, "length %lld beyond the end of the record", (long long)n);
	*p = rd->p;
	*len = (size_t)n;
	rd->p += n;
	return 0;
}

/* Returns 1 when a value of w can take zero bytes (null, fixed of size 0,
 * records of such fields only). */
static int art_pj_can_be_empty(const struct art_compat_node *w, int depth)
{
	if (depth > ART_AVRO_MAX_DEPTH)
		return 0;
	switch (w->kind) {
	case ART_COMPAT_NULL:
		return 1;
	case ART_COMPAT_FIXED:
		return w->size == 0;
	case ART_COMPAT_RECORD:
		for (size_t i = 0; i < w->field_cnt; i++)
			if (!art_pj_can_be_empty(w->fields[i].type, depth + 1))
				return 0;
		return 1;
	default:
		return 0;
	}
}

/* Reads the next block count of an array or map of items w (0 ends the
 * value) and checks it against the bytes left. */
static int art_pj_block(struct art_pj_rd *rd, const struct art_compat_node *w, int64_t *count)
{
	int64_t size;

	if (art_pj_long(rd, count))
		return -1;
	if (*count < 0) {
		if (*count == INT64_MIN)
			return art_pj_fail(rd, "bad block count");
		*count = -*count;
		if (art_pj_long(rd, &size))
			return -1;
		if (size < 0 || size > rd->end - rd->p)
			return art_pj_fail(rd, "block size beyond the end of the record");
	}
	if (*count == 0)
		return 0;
	if (art_pj_can_be_empty(w, 0)) {
		if (*count > rd->empty_budget)
			return art_pj_fail(rd, "more than %d empty items",
			                   ART_AVRO_PROJECT_MAX_EMPTY_ITEMS);
		rd->empty_budget -= (long)*count;
	} else if (*count > rd->end - rd->p) {
		return art_pj_fail(rd, "block count %lld beyond the end of the record",
		                   (long long)*count);
	}
	return 0;
}

/* Reads and discards one value of writer type w. */
static int art_pj_skip(struct art_pj_rd *rd, const struct art_compat_node *w, int depth)
{
	const unsigned char *bp;
	size_t blen;
	int64_t l, count;

	if (depth > ART_AVRO_MAX_DEPTH)
		return art_pj_fail(rd, "nested too deeply");
	switch (w->kind) {
	case ART_COMPAT_NULL:
		return 0;
	case ART_COMPAT_BOOLEAN:
		if (rd->p >= rd->end)
			return art_pj_fail(rd, "truncated boolean");
		if (*rd->p > 1)
			return art_pj_fail(rd, "boolean is neither 0 nor 1");
		rd->p++;
		return 0;
	case ART_COMPAT_INT:
	case ART_COMPAT_LONG:
		if (art_pj_long(rd, &l))
			return -1;
		if (w->kind == ART_COMPAT_INT && (l < INT32_MIN || l > INT32_MAX))
			return art_pj_fail(rd, "int out of range");
		return 0;
	case ART_COMPAT_FLOAT:
	case ART_COMPAT_DOUBLE:
		l = w->kind == ART_COMPAT_FLOAT ? 4 : 8;
		if (rd->end - rd->p < l)
			return art_pj_fail(rd, "truncated %s",
			                   art_schema_compat_kind_name(w->kind));
		rd->p += l;
		return 0;
	case ART_COMPAT_STRING:
	case ART_COMPAT_BYTES:
		return art_pj_bytes(rd, &bp, &blen);
	case ART_COMPAT_FIXED:
		if ((size_t)(rd->end - rd->p) < w->size)
			return art_pj_fail(rd, "truncated fixed");
		rd->p += w->size;
		return 0;
	case ART_COMPAT_ENUM:
		if (art_pj_long(rd, &l))
			return -1;
		if (l < 0 || (uint64_t)l >= w->symbol_cnt)
			return art_pj_fail(rd, "enum index out of range");
		return 0;
	case ART_COMPAT_UNION:
		if (art_pj_long(rd, &l))
			return -1;
		if (l < 0 || (uint64_t)l >= w->branch_cnt)
			return art_pj_fail(rd, "union branch out of range");
		return art_pj_skip(rd, w->branches[l], depth + 1);
	case ART_COMPAT_RECORD:
		for (size_t i = 0; i < w->field_cnt; i++)
			if (art_pj_skip(rd, w->fields[i].type, depth + 1))
				return -1;
		return 0;
	case ART_COMPAT_ARRAY:
	case ART_COMPAT_MAP:
		for (;;) {
			if (art_pj_block(rd, w->items, &count))
				return -1;
			if (count == 0)
				return 0;
			for (int64_t i = 0; i < count; i++) {
				if (w->kind == ART_COMPAT_MAP && art_pj_bytes(rd, &bp, &blen))
					return -1;
				if (art_pj_skip(rd, w->items, depth + 1))
					return -1;
			}
		}
	}
	return art_pj_fail(rd, "unsupported schema type");
}

/* Stores a string or bytes value of len bytes at p into dst of kind r. */
static int art_pj_put_bytes(struct art_pj_rd *rd, enum art_compat_kind r, avro_value_t *dst,
                            const void *p, size_t len)
{
	int rc;

	if (r == ART_COMPAT_BYTES)
		rc = avro_value_set_bytes(dst, (void *)p, len);
	else if (r == ART_COMPAT_FIXED)
		rc = avro_value_set_fixed(dst, (void *)p, len);
	else {
		/* Avro C's string length counts a terminating NUL it reads from
		 * the source: give it a terminated copy. */
		if (art_pj_scratch(rd->pj, len + 1))
			return art_pj_fail(rd, "out of memory");
		if (len)
			memcpy(rd->pj->scratch, p, len);
		rd->pj->scratch[len] = '\0';
		rc = avro_value_set_string_len(dst, (char *)rd->pj->scratch, len + 1);
	}
	return rc ? art_pj_avro_fail(rd) : 0;
}

/* Stores an integer as reader kind r (int, long, or promoted to float/double). */
static int art_pj_put_long(struct art_pj_rd *rd, enum art_compat_kind r, avro_value_t *dst,
                           int64_t v)
{
	int rc;

	switch (r) {
	case ART_COMPAT_INT:
		rc = avro_value_set_int(dst, (int32_t)v);
		break;
	case ART_COMPAT_LONG:
		rc = avro_value_set_long(dst, v);
		break;
	case ART_COMPAT_FLOAT:
		rc = avro_value_set_float(dst, (float)v);
		break;
	default:
		rc = avro_value_set_double(dst, (double)v);
		break;
	}
	return rc ? art_pj_avro_fail(rd) : 0;
}

/* Reads one primitive or fixed value of the writer's kind and stores it as
 * the reader's (plan op VALUE). */
static int art_pj_value(struct art_pj_rd *rd, const struct art_pj *p, avro_value_t *dst)
{
	const unsigned char *bp;
	size_t blen;
	int64_t l;

	switch (p->w->kind) {
	case ART_COMPAT_NULL:
		return avro_value_set_null(dst) ? art_pj_avro_fail(rd) : 0;
	case ART_COMPAT_BOOLEAN:
		if (rd->p >= rd->end)
			return art_pj_fail(rd, "truncated boolean");
		if (*rd->p > 1)
			return art_pj_fail(rd, "boolean is neither 0 nor 1");
		l = *rd->p++;
		return avro_value_set_boolean(dst, (int)l) ? art_pj_avro_fail(rd) : 0;
	case ART_COMPAT_INT:
	case ART_COMPAT_LONG:
		if (art_pj_long(rd, &l))
			return -1;
		if (p->w->kind == ART_COMPAT_INT && (l < INT32_MIN || l > INT32_MAX))
			return art_pj_fail(rd, "int out of range");
		return art_pj_put_long(rd, p->r->kind, dst, l);
	case ART_COMPAT_FLOAT: {
		uint32_t u;
		float f;

		if (rd->end - rd->p < 4)
			return art_pj_fail(rd, "truncated float");
		u = (uint32_t)rd->p[0] | (uint32_t)rd->p[1] << 8 | (uint32_t)rd->p[2] << 16 |
		    (uint32_t)rd->p[3] << 24;
		memcpy(&f, &u, sizeof(f));
		rd->p += 4;
		if (p->r->kind == ART_COMPAT_FLOAT)
			return avro_value_set_float(dst, f) ? art_pj_avro_fail(rd) : 0;
		return avro_value_set_double(dst, (double)f) ? art_pj_avro_fail(rd) : 0;
	}
	case ART_COMPAT_DOUBLE: {
		uint64_t u = 0;
		double d;

		if (rd->end - rd->p < 8)
			return art_pj_fail(rd, "truncated double");
		for (int i = 7; i >= 0; i--)
			u = u << 8 | rd->p[i];
		memcpy(&d, &u, sizeof(d));
		rd->p += 8;
		return avro_value_set_double(dst, d) ? art_pj_avro_fail(rd) : 0;
	}
	case ART_COMPAT_STRING:
	case ART_COMPAT_BYTES:
		if (art_pj_bytes(rd, &bp, &blen))
			return -1;
		return art_pj_put_bytes(rd, p->r->kind, dst, bp, blen);
	case ART_COMPAT_FIXED:
		if ((size_t)(rd->end - rd->p) < p->w->size)
			return art_pj_fail(rd, "truncated fixed");
		bp = rd->p;
		rd->p += p->w->size;
		return art_pj_put_bytes(rd, ART_COMPAT_FIXED, dst, bp, p->w->size);
	default:
		return art_pj_fail(rd, "unsupported schema type");
	}
}

/* Stores default def (validated when the plan was compiled) of reader type
 * r into dst. */
static int art_pj_default(struct art_pj_rd *rd, const struct art_compat_node *r, json_t *def,
                          avro_value_t *dst, int depth)
{
	avro_value_t child;
	int rc = 0;

	if (depth > ART_AVRO_MAX_DEPTH)
		return art_pj_fail(rd, "default nested too deeply");
	switch (r->kind) {
	case ART_COMPAT_NULL:
		rc = avro_value_set_null(dst);
		break;
	case ART_COMPAT_BOOLEAN:
		rc = avro_value_set_boolean(dst, json_is_true(def));
		break;
	case ART_COMPAT_INT:
	case ART_COMPAT_LONG:
		return art_pj_put_long(rd, r->kind, dst, (int64_t)json_integer_value(def));
	case ART_COMPAT_FLOAT:
		rc = avro_value_set_float(dst, (float)json_number_value(def));
		break;
	case ART_COMPAT_DOUBLE:
		rc = avro_value_set_double(dst, json_number_value(def));
		break;
	case ART_COMPAT_STRING:
		return art_pj_put_bytes(rd, r->kind, dst, json_string_value(def),
		                        json_string_length(def));
	case ART_COMPAT_BYTES:
	case ART_COMPAT_FIXED: {
		long n;

		if (art_pj_scratch(rd->pj, json_string_length(def) + 1))
			return art_pj_fail(rd, "out of memory");
		n = art_schema_compat_latin1(json_string_value(def), json_string_length(def),
		                             rd->pj->scratch);
		if (n < 0)
			return art_pj_fail(rd, "bad bytes default");
		rc = r->kind == ART_COMPAT_BYTES
		         ? avro_value_set_bytes(dst, rd->pj->scratch, (size_t)n)
		         : avro_value_set_fixed(dst, rd->pj->scratch, (size_t)n);
		break;
	}
	case ART_COMPAT_ENUM:
		rc = avro_value_set_enum(dst,
		                         art_schema_compat_enum_index(r, json_string_value(def)));
		break;
	case ART_COMPAT_ARRAY: {
		size_t i;
		json_t *v;

		rc = avro_value_reset(dst);
		json_array_foreach(def, i, v)
		{
			if (rc)
				break;
			rc = avro_value_append(dst, &child, NULL);
			if (!rc && art_pj_default(rd, r->items, v, &child, depth + 1))
				return -1;
		}
		break;
	}
	case ART_COMPAT_MAP: {
		const char *k;
		json_t *v;

		rc = avro_value_reset(dst);
		json_object_foreach(def, k, v)
		{
			if (rc)
				break;
			rc = avro_value_add(dst, k, &child, NULL, NULL);
			if (!rc && art_pj_default(rd, r->items, v, &child, depth + 1))
				return -1;
		}
		break;
	}
	case ART_COMPAT_RECORD:
		for (size_t i = 0; i < r->field_cnt && !rc; i++) {
			json_t *v = json_object_get(def, r->fields[i].name);

			if (!v)
				v = r->fields[i].def;
			rc = avro_value_get_by_index(dst, i, &child, NULL);
			if (!rc && art_pj_default(rd, r->fields[i].type, v, &child, depth + 1))
				return -1;
		}
		break;
	case ART_COMPAT_UNION:
		rc = avro_value_set_branch(dst, 0, &child);
		if (!rc)
			return art_pj_default(rd, r->branches[0], def, &child, depth + 1);
		break;
	}
	return rc ? art_pj_avro_fail(rd) : 0;
}

/* Reads one writer value through plan p into dst (a value of p->r). */
static int art_pj_read(struct art_pj_rd *rd, const struct art_pj *p, avro_value_t *dst, int depth)
{
	const unsigned char *bp;
	size_t blen;
	avro_value_t child;
	int64_t l, count;

	if (depth > ART_AVRO_MAX_DEPTH)
		return art_pj_fail(rd, "nested too deeply");
	switch (p->op) {
	case ART_PJ_VALUE:
		return art_pj_value(rd, p, dst);
	case ART_PJ_ENUM:
		if (art_pj_long(rd, &l))
			return -1;
		if (l < 0 || (uint64_t)l >= p->w->symbol_cnt)
			return art_pj_fail(rd, "enum index out of range");
		if (p->enum_map[l] < 0) {
			snprintf(rd->errstr, rd->errstr_size,
			         "enum symbol '%s' is not in the reader's %s and it has no default",
			         p->w->symbols[l], p->r->name);
			return -1;
		}
		return avro_value_set_enum(dst, p->enum_map[l]) ? art_pj_avro_fail(rd) : 0;
	case ART_PJ_RECORD:
		for (size_t i = 0; i < p->field_cnt; i++) {
			const struct art_pj_field *f = &p->fields[i];

			if (f->rindex < 0) {
				if (art_pj_skip(rd, f->wtype, depth + 1))
					return -1;
				continue;
			}
			if (avro_value_get_by_index(dst, (size_t)f->rindex, &child, NULL))
				return art_pj_avro_fail(rd);
			if (art_pj_read(rd, f->plan, &child, depth + 1))
				return -1;
		}
		for (size_t i = 0; i < p->def_cnt; i++) {
			const struct art_pj_default *d = &p->defs[i];

			if (avro_value_get_by_index(dst, (size_t)d->rindex, &child, NULL))
				return art_pj_avro_fail(rd);
			if (art_pj_default(rd, d->rfield->type, d->rfield->def, &child, depth + 1))
				return -1;
		}
		return 0;
	case ART_PJ_ARRAY:
	case ART_PJ_MAP:
		if (avro_value_reset(dst))
			return art_pj_avro_fail(rd);
		for (;;) {
			if (art_pj_block(rd, p->w->items, &count))
				return -1;
			if (count == 0)
				return 0;
			for (int64_t i = 0; i < count; i++) {
				int rc;

				if (p->op == ART_PJ_ARRAY) {
					rc = avro_value_append(dst, &child, NULL);
				} else {
					if (art_pj_bytes(rd, &bp, &blen))
						return -1;
					if (memchr(bp, '\0', blen))
						return art_pj_fail(rd, "map key holds a NUL byte");
					if (art_pj_scratch(rd->pj, blen + 1))
						return art_pj_fail(rd, "out of memory");
					if (blen)
						memcpy(rd->pj->scratch, bp, blen);
					rd->pj->scratch[blen] = '\0';
					rc = avro_value_add(dst, (const char *)rd->pj->scratch,
					                    &child, NULL, NULL);
				}
				if (rc)
					return art_pj_avro_fail(rd);
				if (art_pj_read(rd, p->items, &child, depth + 1))
					return -1;
			}
		}
	case ART_PJ_WUNION:
		if (art_pj_long(rd, &l))
			return -1;
		if (l < 0 || (uint64_t)l >= p->branch_cnt)
			return art_pj_fail(rd, "union branch out of range");
		return art_pj_read(rd, p->branches[l], dst, depth + 1);
	case ART_PJ_RUNION:
		if (avro_value_set_branch(dst, p->rbranch, &child))
			return art_pj_avro_fail(rd);
		return art_pj_read(rd, p->inner, &child, depth + 1);
	case ART_PJ_ERROR:
		snprintf(rd->errstr, rd->errstr_size, "%s", p->error);
		return -1;
	}
	return art_pj_fail(rd, "bad plan");
}

int art_avro_project_read(struct art_avro_projector *pj, const void *buf, size_t len,
                          avro_value_t *out, const struct art_schema **writerp, char *errstr,
                          size_t errstr_size)
{
	struct art_pj_writer *bw;
	struct art_pj_rd rd;
	char why[768];
	int32_t id;

	if (art_avro_wire_id(buf, len, &id, errstr, errstr_size))
		return -1;
	bw = art_pj_writer_get(pj, id, errstr, errstr_size);
	if (!bw)
		return -1;
	if (avro_value_reset(out)) {
		snprintf(errstr, errstr_size, "avro value: %s", avro_strerror());
		return -1;
	}
	memset(&rd, 0, sizeof(rd));
	rd.pj = pj;
	rd.start = (const unsigned char *)buf + ART_AVRO_HEADER_SIZE;
	rd.p = rd.start;
	rd.end = (const unsigned char *)buf + len;
	rd.empty_budget = ART_AVRO_PROJECT_MAX_EMPTY_ITEMS;
	rd.errstr = why;
	rd.errstr_size = sizeof(why);
	if (art_pj_read(&rd, bw->root, out, 0)) {
		snprintf(errstr, errstr_size, "%s:%d record read as %s:%d: %s", bw->schema->subject,
		         bw->schema->version, pj->reader->subject, pj->reader->version, why);
		return -1;
	}
	if (rd.p != rd.end) {
		snprintf(errstr, errstr_size, "%zu trailing bytes after the %s:%d record",
		         (size_t)(rd.end - rd.p), bw->schema->subject, bw->schema->version);
		return -1;
	}
	if (writerp)
		*writerp = bw->schema;
	return 0;
}

int art_avro_project_read_json(struct art_avro_projector *pj, const void *buf, size_t len,
                               json_t **out, const struct art_schema **writerp, char *errstr,
                               size_t errstr_size)
{
	void *enc = NULL;
	size_t enc_len = 0;
	int rc;

	*out = NULL;
	if (!pj->has_jvalue) {
		if (avro_generic_value_new(pj->reader->iface, &pj->jvalue)) {
			snprintf(errstr, errstr_size, "avro value: %s", avro_strerror());
			return -1;
		}
		pj->has_jvalue = 1;
	}
	if (art_avro_project_read(pj, buf, len, &pj->jvalue, writerp, errstr, errstr_size))
		return -1;
	/* Render through the codec so the JSON mapping is exactly the one of
	 * art_avro_decode_json(): encode with the reader's id, decode. */
	if (art_avro_encode(&pj->jvalue, pj->reader->id, &enc, &enc_len, errstr, errstr_size))
		return -1;
	rc = art_avro_decode_json(pj->reg, enc, enc_len, out, NULL, errstr, errstr_size);
	free(enc);
	return rc;
}

/* ---- reading into a tree ------------------------------------------------------ */

/* The shape of reader record type r (made on first use, kept by pj). */
static const struct art_tshape *art_pj_shape(struct art_avro_projector *pj,
                                             const struct art_compat_node *r)
{
	const char *names[1024];
	const char **nv = names;
	struct art_tshape *sh;

	for (size_t i = 0; i < pj->shape_cnt; i++)
		if (pj->shapes[i].r == r)
			return pj->shapes[i].shape;
	if (pj->shape_cnt == pj->shape_cap) {
		size_t cap = pj->shape_cap ? pj->shape_cap * 2 : 16;
		struct art_pj_shape *s = realloc(pj->shapes, cap * sizeof(*s));

		if (!s)
			return NULL;
		pj->shapes = s;
		pj->shape_cap = cap;
	}
	if (r->field_cnt > ART_ARRAY_SIZE(names)) {
		nv = malloc(r->field_cnt * sizeof(*nv));
		if (!nv)
			return NULL;
	}
	for (size_t i = 0; i < r->field_cnt; i++)
		nv[i] = r->fields[i].name;
	sh = art_tshape_new(NULL, nv, r->field_cnt);
	if (nv != names)
		free(nv);
	if (!sh)
		return NULL;
	pj->shapes[pj->shape_cnt].r = r;
	pj->shapes[pj->shape_cnt].shape = sh;
	pj->shape_cnt++;
	return sh;
}

/* The tree the reader fills. */
static struct art_tree *art_pj_tree(struct art_pj_rd *rd)
{
	return rd->tree;
}

/* Stores len bytes at p as a string node (bytes when not UTF-8). */
static int art_pj_tbytes(struct art_pj_rd *rd, struct art_tnode *n, const void *p, size_t len)
{
	char *s = art_tree_strdup(art_pj_tree(rd), p, len);

	if (!s || len > UINT32_MAX)
		return art_pj_fail(rd, "out of memory");
	n->kind = art_utf8_valid((const unsigned char *)s, len) ? ART_T_STRING : ART_T_BYTES;
	n->cnt = (uint32_t)len;
	n->u.s = s;
	return 0;
}

/* Stores an integer read as reader kind r. */
static void art_pj_tlong(enum art_compat_kind r, struct art_tnode *n, int64_t v)
{
	if (r == ART_COMPAT_FLOAT) {
		n->kind = ART_T_DOUBLE;
		n->u.d = (double)(float)v;
	} else if (r == ART_COMPAT_DOUBLE) {
		n->kind = ART_T_DOUBLE;
		n->u.d = (double)v;
	} else {
		n->kind = ART_T_LONG;
		n->u.l = v;
	}
}

/* Reads one primitive or fixed value into n (plan op VALUE). */
static inline int art_pj_tvalue(struct art_pj_rd *rd, const struct art_pj *p, struct art_tnode *n)
{
	const unsigned char *bp;
	size_t blen;
	int64_t l;

	switch (p->w->kind) {
	case ART_COMPAT_NULL:
		n->kind = ART_T_NULL;
		return 0;
	case ART_COMPAT_BOOLEAN:
		if (rd->p >= rd->end)
			return art_pj_fail(rd, "truncated boolean");
		if (*rd->p > 1)
			return art_pj_fail(rd, "boolean is neither 0 nor 1");
		n->kind = ART_T_BOOL;
		n->u.l = *rd->p++;
		return 0;
	case ART_COMPAT_INT:
	case ART_COMPAT_LONG:
		if (art_pj_long(rd, &l))
			return -1;
		if (p->w->kind == ART_COMPAT_INT && (l < INT32_MIN || l > INT32_MAX))
			return art_pj_fail(rd, "int out of range");
		art_pj_tlong(p->r->kind, n, l);
		return 0;
	case ART_COMPAT_FLOAT: {
		uint32_t u;
		float f;

		if (rd->end - rd->p < 4)
			return art_pj_fail(rd, "truncated float");
		u = (uint32_t)rd->p[0] | (uint32_t)rd->p[1] << 8 | (uint32_t)rd->p[2] << 16 |
		    (uint32_t)rd->p[3] << 24;
		memcpy(&f, &u, sizeof(f));
		rd->p += 4;
		n->kind = ART_T_DOUBLE;
		n->u.d = (double)f;
		return 0;
	}
	case ART_COMPAT_DOUBLE: {
		uint64_t u = 0;
		double d;

		if (rd->end - rd->p < 8)
			return art_pj_fail(rd, "truncated double");
		for (int i = 7; i >= 0; i--)
			u = u << 8 | rd->p[i];
		memcpy(&d, &u, sizeof(d));
		rd->p += 8;
		n->kind = ART_T_DOUBLE;
		n->u.d = d;
		return 0;
	}
	case ART_COMPAT_STRING:
	case ART_COMPAT_BYTES:
		if (art_pj_bytes(rd, &bp, &blen))
			return -1;
		return art_pj_tbytes(rd, n, bp, blen);
	case ART_COMPAT_FIXED:
		if ((size_t)(rd->end - rd->p) < p->w->size)
			return art_pj_fail(rd, "truncated fixed");
		bp = rd->p;
		rd->p += p->w->size;
		return art_pj_tbytes(rd, n, bp, p->w->size);
	default:
		return art_pj_fail(rd, "unsupported schema type");
	}
}

/* Stores default def (validated when the plan was compiled) of reader
 * type r into n. */
static int art_pj_tdefault(struct art_pj_rd *rd, const struct art_compat_node *r, json_t *def,
                           struct art_tnode *n, int depth)
{
	if (depth > ART_AVRO_MAX_DEPTH)
		return art_pj_fail(rd, "default nested too deeply");
	switch (r->kind) {
	case ART_COMPAT_NULL:
		n->kind = ART_T_NULL;
		return 0;
	case ART_COMPAT_BOOLEAN:
		n->kind = ART_T_BOOL;
		n->u.l = json_is_true(def);
		return 0;
	case ART_COMPAT_INT:
	case ART_COMPAT_LONG:
		art_pj_tlong(r->kind, n, (int64_t)json_integer_value(def));
		return 0;
	case ART_COMPAT_FLOAT:
		n->kind = ART_T_DOUBLE;
		n->u.d = (double)(float)json_number_value(def);
		return 0;
	case ART_COMPAT_DOUBLE:
		n->kind = ART_T_DOUBLE;
		n->u.d = json_number_value(def);
		return 0;
	case ART_COMPAT_STRING:
		return art_pj_tbytes(rd, n, json_string_value(def), json_string_length(def));
	case ART_COMPAT_BYTES:
	case ART_COMPAT_FIXED: {
		long len;

		if (art_pj_scratch(rd->pj, json_string_length(def) + 1))
			return art_pj_fail(rd, "out of memory");
		len = art_schema_compat_latin1(json_string_value(def), json_string_length(def),
		                               rd->pj->scratch);
		if (len < 0)
			return art_pj_fail(rd, "bad bytes default");
		return art_pj_tbytes(rd, n, rd->pj->scratch, (size_t)len);
	}
	case ART_COMPAT_ENUM: {
		int k = art_schema_compat_enum_index(r, json_string_value(def));

		if (k < 0)
			return art_pj_fail(rd, "bad enum default");
		n->kind = ART_T_STRING;
		n->u.s = r->symbols[k];
		n->cnt = (uint32_t)strlen(n->u.s);
		return 0;
	}
	case ART_COMPAT_ARRAY: {
		size_t cnt = json_array_size(def);

		n->kind = ART_T_ARRAY;
		n->cnt = (uint32_t)cnt;
		n->u.kids = art_tree_nodes(art_pj_tree(rd), cnt);
		if (!n->u.kids)
			return art_pj_fail(rd, "out of memory");
		for (size_t i = 0; i < cnt; i++)
			if (art_pj_tdefault(rd, r->items, json_array_get(def, i), &n->u.kids[i],
			                    depth + 1))
				return -1;
		return 0;
	}
	case ART_COMPAT_MAP: {
		size_t cnt = json_object_size(def), i = 0;
		const char *k;
		json_t *v;

		n->kind = ART_T_MAP;
		n->cnt = (uint32_t)cnt;
		n->u.kids = art_tree_nodes(art_pj_tree(rd), 2 * cnt);
		if (!n->u.kids)
			return art_pj_fail(rd, "out of memory");
		json_object_foreach(def, k, v) {
			struct art_tnode *key = &n->u.kids[2 * i];

			key->kind = ART_T_STRING;
			key->cnt = (uint32_t)strlen(k);
			key->u.s = art_tree_strdup(art_pj_tree(rd), k, key->cnt);
			if (!key->u.s)
				return art_pj_fail(rd, "out of memory");
			if (art_pj_tdefault(rd, r->items, v, &n->u.kids[2 * i + 1], depth + 1))
				return -1;
			i++;
		}
		return 0;
	}
	case ART_COMPAT_RECORD:
		n->kind = ART_T_RECORD;
		n->cnt = (uint32_t)r->field_cnt;
		n->shape = art_pj_shape(rd->pj, r);
		n->u.kids = art_tree_nodes(art_pj_tree(rd), r->field_cnt);
		if (!n->shape || !n->u.kids)
			return art_pj_fail(rd, "out of memory");
		for (size_t i = 0; i < r->field_cnt; i++) {
			json_t *v = json_object_get(def, r->fields[i].name);

			if (!v)
				v = r->fields[i].def;
			if (art_pj_tdefault(rd, r->fields[i].type, v, &n->u.kids[i], depth + 1))
				return -1;
		}
		return 0;
	case ART_COMPAT_UNION:
		return art_pj_tdefault(rd, r->branches[0], def, n, depth + 1);
	}
	return art_pj_fail(rd, "unsupported default");
}

/* Reads one writer value through plan p into n (a node of p->r's shape). */
static int art_pj_tread(struct art_pj_rd *rd, struct art_pj *p, struct art_tnode *n, int depth)
{
	const unsigned char *bp;
	size_t blen;
	int64_t l, count;

	if (depth > ART_AVRO_MAX_DEPTH)
		return art_pj_fail(rd, "nested too deeply");
	switch (p->op) {
	case ART_PJ_VALUE:
		return art_pj_tvalue(rd, p, n);
	case ART_PJ_ENUM:
		if (art_pj_long(rd, &l))
			return -1;
		if (l < 0 || (uint64_t)l >= p->w->symbol_cnt)
			return art_pj_fail(rd, "enum index out of range");
		if (p->enum_map[l] < 0) {
			snprintf(rd->errstr, rd->errstr_size,
			         "enum symbol '%s' is not in the reader's %s and it has no default",
			         p->w->symbols[l], p->r->name);
			return -1;
		}
		n->kind = ART_T_STRING;
		n->u.s = p->r->symbols[p->enum_map[l]];
		n->cnt = (uint32_t)strlen(n->u.s);
		return 0;
	case ART_PJ_RECORD:
		if (!p->shape) {
			p->shape = art_pj_shape(rd->pj, p->r);
			if (!p->shape)
				return art_pj_fail(rd, "out of memory");
		}
		n->kind = ART_T_RECORD;
		n->shape = p->shape;
		n->cnt = (uint32_t)p->r->field_cnt;
		n->u.kids = art_tree_nodes(art_pj_tree(rd), p->r->field_cnt);
		if (!n->u.kids)
			return art_pj_fail(rd, "out of memory");
		for (size_t i = 0; i < p->field_cnt; i++) {
			const struct art_pj_field *f = &p->fields[i];
			struct art_pj *fp = f->plan;

			if (f->rindex < 0) {
				if (art_pj_skip(rd, f->wtype, depth + 1))
					return -1;
				continue;
			}
			/* most fields are a primitive or ["null", primitive]: read
			 * those here, not through two more calls */
			if (fp->op == ART_PJ_WUNION) {
				if (art_pj_long(rd, &l))
					return -1;
				if (l < 0 || (uint64_t)l >= fp->branch_cnt)
					return art_pj_fail(rd, "union branch out of range");
				fp = fp->branches[l];
			}
			if (fp->op == ART_PJ_VALUE) {
				if (art_pj_tvalue(rd, fp, &n->u.kids[f->rindex]))
					return -1;
			} else if (art_pj_tread(rd, fp, &n->u.kids[f->rindex], depth + 1)) {
				return -1;
			}
		}
		for (size_t i = 0; i < p->def_cnt; i++) {
			const struct art_pj_default *d = &p->defs[i];

			if (art_pj_tdefault(rd, d->rfield->type, d->rfield->def, &n->u.kids[d->rindex],
			                    depth + 1))
				return -1;
		}
		return 0;
	case ART_PJ_ARRAY:
	case ART_PJ_MAP: {
		size_t per = p->op == ART_PJ_ARRAY ? 1 : 2, cnt = 0;
		struct art_tnode *kids = NULL;

		for (;;) {
			struct art_tnode *grown;

			if (art_pj_block(rd, p->w->items, &count))
				return -1;
			if (count == 0)
				break;
			/* count is bounded by the bytes left or the empty-item budget */
			if ((uint64_t)count + cnt > UINT32_MAX)
				return art_pj_fail(rd, "too many items");
			grown = art_tree_nodes(art_pj_tree(rd), (cnt + (size_t)count) * per);
			if (!grown)
				return art_pj_fail(rd, "out of memory");
			if (cnt)
				memcpy(grown, kids, cnt * per * sizeof(*grown)); /* a second block */
			kids = grown;
			for (int64_t i = 0; i < count; i++, cnt++) {
				if (per == 2) {
					if (art_pj_bytes(rd, &bp, &blen))
						return -1;
					if (memchr(bp, '\0', blen))
						return art_pj_fail(rd, "map key holds a NUL byte");
					if (art_pj_tbytes(rd, &kids[2 * cnt], bp, blen))
						return -1;
					kids[2 * cnt].kind = ART_T_STRING;
				}
				if (art_pj_tread(rd, p->items, &kids[cnt * per + per - 1], depth + 1))
					return -1;
			}
		}
		n->kind = per == 1 ? ART_T_ARRAY : ART_T_MAP;
		n->cnt = (uint32_t)cnt;
		n->u.kids = kids;
		return 0;
	}
	case ART_PJ_WUNION:
		if (art_pj_long(rd, &l))
			return -1;
		if (l < 0 || (uint64_t)l >= p->branch_cnt)
			return art_pj_fail(rd, "union branch out of range");
		return art_pj_tread(rd, p->branches[l], n, depth + 1);
	case ART_PJ_RUNION:
		return art_pj_tread(rd, p->inner, n, depth + 1);
	case ART_PJ_ERROR:
		snprintf(rd->errstr, rd->errstr_size, "%s", p->error);
		return -1;
	}
	return art_pj_fail(rd, "bad plan");
}

int art_avro_project_read_tree(struct art_avro_projector *pj, const void *buf, size_t len,
                               struct art_tree *tree, const struct art_schema **writerp,
                               char *errstr, size_t errstr_size)
{
	struct art_pj_writer *bw;
	struct art_pj_rd rd;
	struct art_tnode *root;
	char why[768];
	int32_t id;

	art_tree_reset(tree);
	if (art_avro_wire_id(buf, len, &id, errstr, errstr_size))
		return -1;
	bw = art_pj_writer_get(pj, id, errstr, errstr_size);
	if (!bw)
		return -1;
	root = art_tree_nodes(tree, 1);
	if (!root) {
		snprintf(errstr, errstr_size, "out of memory");
		return -1;
	}
	memset(&rd, 0, sizeof(rd));
	rd.pj = pj;
	rd.tree = tree;
	rd.start = (const unsigned char *)buf + ART_AVRO_HEADER_SIZE;
	rd.p = rd.start;
	rd.end = (const unsigned char *)buf + len;
	rd.empty_budget = ART_AVRO_PROJECT_MAX_EMPTY_ITEMS;
	rd.errstr = why;
	rd.errstr_size = sizeof(why);
	if (art_pj_tread(&rd, bw->root, root, 0)) {
		snprintf(errstr, errstr_size, "%s:%d record read as %s:%d: %s", bw->schema->subject,
		         bw->schema->version, pj->reader->subject, pj->reader->version, why);
		art_tree_reset(tree);
		return -1;
	}
	if (rd.p != rd.end) {
		snprintf(errstr, errstr_size, "%zu trailing bytes after the %s:%d record",
		         (size_t)(rd.end - rd.p), bw->schema->subject, bw->schema->version);
		art_tree_reset(tree);
		return -1;
	}
	tree->root = root;
	if (writerp)
		*writerp = bw->schema;
	return 0;
}

int art_avro_project(const struct art_schema_registry *reg, const void *buf, size_t len,
                     const struct art_schema *reader, avro_value_t *out, char *errstr,
                     size_t errstr_size)
{
	struct art_avro_projector *pj = art_avro_project_new(reg, reader, errstr, errstr_size);
	int rc;

	if (!pj)
		return -1;
	if (avro_generic_value_new(reader->iface, out)) {
		snprintf(errstr, errstr_size, "avro value: %s", avro_strerror());
		art_avro_project_destroy(pj);
		return -1;
	}
	rc = art_avro_project_read(pj, buf, len, out, NULL, errstr, errstr_size);
	if (rc)
		avro_value_decref(out);
	art_avro_project_destroy(pj);
	return rc;
}

int art_avro_project_json(const struct art_schema_registry *reg, const void *buf, size_t len,
                          const struct art_schema *reader, json_t **out, char *errstr,
                          size_t errstr_size)
{
	struct art_avro_projector *pj = art_avro_project_new(reg, reader, errstr, errstr_size);
	int rc;

	*out = NULL;
	if (!pj)
		return -1;
	rc = art_avro_project_read_json(pj, buf, len, out, NULL, errstr, errstr_size);
	art_avro_project_destroy(pj);
	return rc;
}

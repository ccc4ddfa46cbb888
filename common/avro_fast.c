/*
 * avro_fast.c — arena-backed Avro values with a compiled schema and a
 * direct binary writer (see avro_fast.h).
 *
 * A compiled schema is a graph of struct art_fv_node, one per schema node
 * (named types shared, so recursive schemas terminate); each node embeds
 * the avro_value_iface_t its values use, so a handle {iface, self} leads
 * back to its node and store. Storage: a record is an array of slots, one
 * per field (self points at that array); any other value is one slot
 * (self points at it). A union's slot holds the discriminant and its
 * branch's payload in the same slot. Arrays hold a slot per item, maps two
 * (key, value); both grow by copying into a larger arena block.
 */
#include "avro_fast.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ART_FV_FIRST_CHUNK (16u << 10) /* first arena block */
#define ART_FV_MAX_DEPTH   64          /* nesting of required records at creation */
#define ART_FV_CACHE       32          /* field-name cache entries per record node (power of 2) */

struct art_fv_slot {
	union {
		int64_t l;
		int32_t i;
		double d;
		float f;
		int b;
		struct {
			const char *p; /* NUL-terminated (strings), arena or static */
			size_t len;    /* bytes, without the NUL */
		} s;
		struct art_fv_slot *rec; /* a record branch, item or entry: its fields */
		struct {
			struct art_fv_slot *items; /* maps: key, value, key, value, ... */
			uint32_t n, cap;           /* items (entries for maps) */
		} a;
	} u;
	int32_t disc; /* unions: current branch, -1 when none */
};

/* A record field as the writer and the record constructor see it. */
struct art_fv_field {
	const struct art_fv_node *node;
	avro_type_t type; /* node->type */
	int null_branch;  /* unions: node->null_branch */
};

struct art_fv_node {
	avro_value_iface_t iface; /* first: a handle's iface is its node */
	struct art_fv *fv;        /* the store whose arena holds the values */
	avro_schema_t schema;     /* dereferenced (no links) */
	avro_type_t type;
	size_t n;                    /* record fields, union branches, enum symbols, fixed size */
	struct art_fv_node **kids;   /* record fields, union branches */
	const char **names;          /* record field names */
	struct art_fv_field *fields; /* records: one per field */
	struct art_fv_slot *tmpl;    /* records: the fields of a new record (nested records unset) */
	size_t *nested;              /* records: indices of fields that are required records */
	size_t nnested;
	struct art_fv_node *items;   /* array items, map values */
	int null_branch;             /* unions: index of the null branch, or -1 */
	struct {
		const char *key;
		size_t idx;
	} cache[ART_FV_CACHE], /* records: name pointer -> field index (checked) */
	    scache[ART_FV_CACHE]; /* records: static name pointer -> field index (art_fv_enter) */
};

struct art_fv_chunk {
	struct art_fv_chunk *next;
	size_t size, used;
	unsigned char data[];
};

struct art_fv {
	struct art_fv_node **nodes; /* every compiled node, for freeing */
	size_t nnodes, capnodes;
	struct art_fv_node *root;
	struct art_fv_chunk *chunks; /* current (newest) first */
	size_t total;                /* bytes in all chunks */
};

static const char art_fv_empty[] = "";

/* ---- arena ------------------------------------------------------------------- */

static void *art_fv_alloc(struct art_fv *fv, size_t n)
{
	struct art_fv_chunk *c = fv->chunks;
	size_t size;
	void *p;

	n = (n + 7) & ~(size_t)7;
	if (c && c->size - c->used >= n) {
		p = c->data + c->used;
		c->used += n;
		return p;
	}
	size = c ? c->size * 2 : ART_FV_FIRST_CHUNK;
	while (size < n)
		size *= 2;
	if (fv->total + size > ART_FV_MAX_ARENA) {
		avro_set_error("value larger than %zu bytes", (size_t)ART_FV_MAX_ARENA);
		return NULL;
	}
	c = malloc(sizeof(*c) + size);
	if (!c) {
		avro_set_error("out of memory");
		return NULL;
	}
	c->size = size;
	c->used = n;
	c->next = fv->chunks;
	fv->chunks = c;
	fv->total += size;
	return c->data;
}

/* Rewinds the arena; when it spilled over several blocks they are merged
 * into one of their total size, so the steady state is one block. */
static void art_fv_rewind(struct art_fv *fv)
{
	struct art_fv_chunk *c = fv->chunks, *next;

	if (!c)
		return;
	if (!c->next) {
		c->used = 0;
		return;
	}
	for (; c; c = next) {
		next = c->next;
		free(c);
	}
	fv->chunks = NULL;
	c = malloc(sizeof(*c) + fv->total);
	if (!c) {
		fv->total = 0;
		return;
	}
	c->size = fv->total;
	c->used = 0;
	c->next = NULL;
	fv->chunks = c;
}

static char *art_fv_strdup(struct art_fv *fv, const char *s, size_t len)
{
	char *p;

	if (len == 0)
		return (char *)art_fv_empty;
	p = art_fv_alloc(fv, len + 1);
	if (!p)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/* ---- creating values ------------------------------------------------------- */

static int art_fv_init(const struct art_fv_node *n, struct art_fv_slot *slot, int depth);

/* A new record of node n: its fields array, every field initialised (a
 * copy of the node's template, then the required records it holds). */
static struct art_fv_slot *art_fv_new_record(const struct art_fv_node *n, int depth)
{
	struct art_fv_slot *f;

	if (depth > ART_FV_MAX_DEPTH) {
		avro_set_error("%s: records nested too deeply", avro_schema_name(n->schema));
		return NULL;
	}
	f = art_fv_alloc(n->fv, (n->n ? n->n : 1) * sizeof(*f));
	if (!f)
		return NULL;
	if (n->n)
		memcpy(f, n->tmpl, n->n * sizeof(*f));
	for (size_t i = 0; i < n->nnested; i++) {
		size_t k = n->nested[i];

		f[k].u.rec = art_fv_new_record(n->kids[k], depth + 1);
		if (!f[k].u.rec)
			return NULL;
	}
	return f;
}

/* Initialises a slot for a new, empty value of node n. */
static int art_fv_init(const struct art_fv_node *n, struct art_fv_slot *slot, int depth)
{
	memset(slot, 0, sizeof(*slot));
	slot->disc = -1;
	switch (n->type) {
	case AVRO_STRING:
		slot->u.s.p = art_fv_empty;
		break;
	case AVRO_BYTES:
		slot->u.s.p = art_fv_empty;
		break;
	case AVRO_RECORD:
		slot->u.rec = art_fv_new_record(n, depth);
		return slot->u.rec ? 0 : ENOMEM;
	case AVRO_UNION:
		if (n->null_branch >= 0)
			slot->disc = n->null_branch;
		break;
	default:
		break;
	}
	return 0;
}

/* The handle of the value of node n in slot. */
static void art_fv_handle(const struct art_fv_node *n, struct art_fv_slot *slot, avro_value_t *out)
{
	out->iface = (avro_value_iface_t *)&n->iface;
	out->self = n->type == AVRO_RECORD ? (void *)slot->u.rec : (void *)slot;
}

#define NODE(iface) ((const struct art_fv_node *)(iface))

/* ---- iface: common ------------------------------------------------------------ */

static avro_value_iface_t *art_fv_incref_iface(avro_value_iface_t *iface)
{
	return iface;
}

static void art_fv_decref_iface(avro_value_iface_t *iface)
{
	(void)iface;
}

static void art_fv_incref(avro_value_t *v)
{
	(void)v;
}

static void art_fv_decref(avro_value_t *v)
{
	(void)v;
}

static avro_type_t art_fv_get_type(const avro_value_iface_t *iface, const void *self)
{
	(void)self;
	return NODE(iface)->type;
}

static avro_schema_t art_fv_get_schema(const avro_value_iface_t *iface, const void *self)
{
	(void)self;
	return NODE(iface)->schema;
}

static int art_fv_reset_v(const avro_value_iface_t *iface, void *self)
{
	const struct art_fv_node *n = NODE(iface);

	if (n->type == AVRO_RECORD) {
		struct art_fv_slot *f = self;

		for (size_t i = 0; i < n->n; i++)
			if (art_fv_init(n->kids[i], &f[i], 0))
				return ENOMEM;
		return 0;
	}
	return art_fv_init(n, self, 0);
}

/* ---- iface: scalars ------------------------------------------------------------ */

#define SLOT(self) ((struct art_fv_slot *)(self))
#define CSLOT(self) ((const struct art_fv_slot *)(self))

static int art_fv_get_boolean(const avro_value_iface_t *iface, const void *self, int *out)
{
	(void)iface;
	*out = CSLOT(self)->u.b;
	return 0;
}

static int art_fv_set_boolean(const avro_value_iface_t *iface, void *self, int v)
{
	(void)iface;
	SLOT(self)->u.b = v ? 1 : 0;
	return 0;
}

static int art_fv_get_int(const avro_value_iface_t *iface, const void *self, int32_t *out)
{
	(void)iface;
	*out = CSLOT(self)->u.i;
	return 0;
}

static int art_fv_set_int(const avro_value_iface_t *iface, void *self, int32_t v)
{
	(void)iface;
	SLOT(self)->u.i = v;
	return 0;
}

static int art_fv_get_long(const avro_value_iface_t *iface, const void *self, int64_t *out)
{
	(void)iface;
	*out = CSLOT(self)->u.l;
	return 0;
}

static int art_fv_set_long(const avro_value_iface_t *iface, void *self, int64_t v)
{
	(void)iface;
	SLOT(self)->u.l = v;
	return 0;
}

static int art_fv_get_double(const avro_value_iface_t *iface, const void *self, double *out)
{
	(void)iface;
	*out = CSLOT(self)->u.d;
	return 0;
}

static int art_fv_set_double(const avro_value_iface_t *iface, void *self, double v)
{
	(void)iface;
	SLOT(self)->u.d = v;
	return 0;
}

static int art_fv_get_float(const avro_value_iface_t *iface, const void *self, float *out)
{
	(void)iface;
	*out = CSLOT(self)->u.f;
	return 0;
}

static int art_fv_set_float(const avro_value_iface_t *iface, void *self, float v)
{
	(void)iface;
	SLOT(self)->u.f = v;
	return 0;
}

static int art_fv_get_null(const avro_value_iface_t *iface, const void *self)
{
	(void)iface;
	(void)self;
	return 0;
}

static int art_fv_set_null(const avro_value_iface_t *iface, void *self)
{
	(void)iface;
	(void)self;
	return 0;
}

static int art_fv_get_enum(const avro_value_iface_t *iface, const void *self, int *out)
{
	(void)iface;
	*out = CSLOT(self)->u.i;
	return 0;
}

static int art_fv_set_enum(const avro_value_iface_t *iface, void *self, int v)
{
	if (v < 0 || (size_t)v >= NODE(iface)->n) {
		avro_set_error("enum value %d out of range", v);
		return EINVAL;
	}
	SLOT(self)->u.i = v;
	return 0;
}

/* Copies len bytes into the slot (strings, bytes, fixed). */
static int art_fv_put(const avro_value_iface_t *iface, void *self, const void *p, size_t len)
{
	char *s = art_fv_strdup(NODE(iface)->fv, p, len);

	if (!s)
		return ENOMEM;
	SLOT(self)->u.s.p = s;
	SLOT(self)->u.s.len = len;
	return 0;
}

static int art_fv_get_string(const avro_value_iface_t *iface, const void *self, const char **str,
			     size_t *size)
{
	(void)iface;
	*str = CSLOT(self)->u.s.p;
	if (size)
		*size = CSLOT(self)->u.s.len + 1;
	return 0;
}

static int art_fv_grab_string(const avro_value_iface_t *iface, const void *self,
			      avro_wrapped_buffer_t *dest)
{
	(void)iface;
	return avro_wrapped_buffer_new_copy(dest, CSLOT(self)->u.s.p, CSLOT(self)->u.s.len + 1);
}

static int art_fv_set_string(const avro_value_iface_t *iface, void *self, const char *str)
{
	return art_fv_put(iface, self, str, strlen(str));
}

static int art_fv_set_string_len(const avro_value_iface_t *iface, void *self, const char *str,
				 size_t size)
{
	/* size counts a terminating NUL, which is not part of the string */
	return art_fv_put(iface, self, str, size ? size - 1 : 0);
}

static int art_fv_give_string_len(const avro_value_iface_t *iface, void *self,
				  avro_wrapped_buffer_t *buf)
{
	int rc = art_fv_put(iface, self, buf->buf, buf->size ? buf->size - 1 : 0);

	avro_wrapped_buffer_free(buf);
	return rc;
}

static int art_fv_get_bytes(const avro_value_iface_t *iface, const void *self, const void **buf,
			    size_t *size)
{
	(void)iface;
	*buf = CSLOT(self)->u.s.p;
	if (size)
		*size = CSLOT(self)->u.s.len;
	return 0;
}

static int art_fv_grab_bytes(const avro_value_iface_t *iface, const void *self,
			     avro_wrapped_buffer_t *dest)
{
	(void)iface;
	return avro_wrapped_buffer_new_copy(dest, CSLOT(self)->u.s.p, CSLOT(self)->u.s.len);
}

static int art_fv_set_bytes(const avro_value_iface_t *iface, void *self, void *buf, size_t size)
{
	return art_fv_put(iface, self, buf, size);
}

static int art_fv_give_bytes(const avro_value_iface_t *iface, void *self,
			     avro_wrapped_buffer_t *buf)
{
	int rc = art_fv_put(iface, self, buf->buf, buf->size);

	avro_wrapped_buffer_free(buf);
	return rc;
}

static int art_fv_set_fixed(const avro_value_iface_t *iface, void *self, void *buf, size_t size)
{
	if (size != NODE(iface)->n) {
		avro_set_error("fixed %s needs %zu bytes, not %zu", avro_schema_name(NODE(iface)->schema),
			       NODE(iface)->n, size);
		return EINVAL;
	}
	return art_fv_put(iface, self, buf, size);
}

static int art_fv_give_fixed(const avro_value_iface_t *iface, void *self,
			     avro_wrapped_buffer_t *buf)
{
	int rc = art_fv_set_fixed(iface, self, (void *)buf->buf, buf->size);

	avro_wrapped_buffer_free(buf);
	return rc;
}

static int art_fv_get_fixed(const avro_value_iface_t *iface, const void *self, const void **buf,
			    size_t *size)
{
	static const unsigned char zeros[256];

	if (CSLOT(self)->u.s.len != NODE(iface)->n) {
		/* never set: zeros, as a new generic fixed */
		if (NODE(iface)->n > sizeof(zeros))
			return EINVAL;
		*buf = zeros;
	} else {
		*buf = CSLOT(self)->u.s.p;
	}
	if (size)
		*size = NODE(iface)->n;
	return 0;
}

static int art_fv_grab_fixed(const avro_value_iface_t *iface, const void *self,
			     avro_wrapped_buffer_t *dest)
{
	const void *p;
	size_t n;
	int rc = art_fv_get_fixed(iface, self, &p, &n);

	return rc ? rc : avro_wrapped_buffer_new_copy(dest, p, n);
}

/* ---- iface: records ----------------------------------------------------------- */

/* Index of field name in record node n, or -1. */
static long art_fv_field_index(const struct art_fv_node *n, const char *name)
{
	struct art_fv_node *m = (struct art_fv_node *)n;
	size_t h = ((uintptr_t)name >> 3 ^ (uintptr_t)name >> 9) & (ART_FV_CACHE - 1);

	/* the pointer is only a hint: the cached field's name must match */
	if (m->cache[h].key == name && strcmp(n->names[m->cache[h].idx], name) == 0)
		return (long)m->cache[h].idx;
	for (size_t i = 0; i < n->n; i++) {
		if (n->names[i][0] == name[0] && strcmp(n->names[i], name) == 0) {
			m->cache[h].key = name;
			m->cache[h].idx = i;
			return (long)i;
		}
	}
	return -1;
}

static int art_fv_rec_size(const avro_value_iface_t *iface, const void *self, size_t *size)
{
	(void)self;
	*size = NODE(iface)->n;
	return 0;
}

static int art_fv_rec_by_index(const avro_value_iface_t *iface, const void *self, size_t index,
			       avro_value_t *child, const char **name)
{
	const struct art_fv_node *n = NODE(iface);

	if (index >= n->n) {
		avro_set_error("field index %zu out of range", index);
		return EINVAL;
	}
	art_fv_handle(n->kids[index], (struct art_fv_slot *)self + index, child);
	if (name)
		*name = n->names[index];
	return 0;
}

static int art_fv_rec_by_name(const avro_value_iface_t *iface, const void *self, const char *name,
			      avro_value_t *child, size_t *index)
{
	const struct art_fv_node *n = NODE(iface);
	long i = art_fv_field_index(n, name);

	if (i < 0) {
		avro_set_error("no field %s in record %s", name, avro_schema_name(n->schema));
		return EINVAL;
	}
	art_fv_handle(n->kids[i], (struct art_fv_slot *)self + i, child);
	if (index)
		*index = (size_t)i;
	return 0;
}

/* ---- iface: unions ------------------------------------------------------------- */

static int art_fv_get_discriminant(const avro_value_iface_t *iface, const void *self, int *out)
{
	(void)iface;
	*out = CSLOT(self)->disc;
	return 0;
}

static int art_fv_get_current_branch(const avro_value_iface_t *iface, const void *self,
				     avro_value_t *branch)
{
	const struct art_fv_node *n = NODE(iface);
	int d = CSLOT(self)->disc;

	if (d < 0) {
		avro_set_error("union has no selected branch");
		return EINVAL;
	}
	art_fv_handle(n->kids[d], (struct art_fv_slot *)self, branch);
	return 0;
}

/* Switches union slot to branch d (a new branch starts empty). */
static int art_fv_branch(const struct art_fv_node *n, struct art_fv_slot *slot, int d)
{
	if (d < 0 || (size_t)d >= n->n) {
		avro_set_error("union has no branch %d", d);
		return EINVAL;
	}
	if (slot->disc != d) {
		if (art_fv_init(n->kids[d], slot, 0))
			return ENOMEM;
		slot->disc = d;
	}
	return 0;
}

static int art_fv_set_branch(const avro_value_iface_t *iface, void *self, int d,
			     avro_value_t *branch)
{
	const struct art_fv_node *n = NODE(iface);
	int rc = art_fv_branch(n, self, d);

	if (rc)
		return rc;
	if (branch)
		art_fv_handle(n->kids[d], self, branch);
	return 0;
}

/* ---- iface: arrays and maps ----------------------------------------------------- */

/* Makes room for one more item (per = slots per item: 1, or 2 for maps). */
static int art_fv_grow(const struct art_fv_node *n, struct art_fv_slot *slot, size_t per)
{
	struct art_fv_slot *items;
	uint32_t cap;

	if (slot->u.a.n < slot->u.a.cap)
		return 0;
	if (slot->u.a.cap >= (UINT32_MAX >> 2)) {
		avro_set_error("too many items");
		return ENOMEM;
	}
	cap = slot->u.a.cap ? slot->u.a.cap * 2 : 4;
	items = art_fv_alloc(n->fv, (size_t)cap * per * sizeof(*items));
	if (!items)
		return ENOMEM;
	if (slot->u.a.n)
		memcpy(items, slot->u.a.items, (size_t)slot->u.a.n * per * sizeof(*items));
	slot->u.a.items = items;
	slot->u.a.cap = cap;
	return 0;
}

static int art_fv_coll_size(const avro_value_iface_t *iface, const void *self, size_t *size)
{
	(void)iface;
	*size = CSLOT(self)->u.a.n;
	return 0;
}

static int art_fv_arr_by_index(const avro_value_iface_t *iface, const void *self, size_t index,
			       avro_value_t *child, const char **name)
{
	(void)name;
	if (index >= CSLOT(self)->u.a.n) {
		avro_set_error("array index %zu out of range", index);
		return EINVAL;
	}
	art_fv_handle(NODE(iface)->items, CSLOT(self)->u.a.items + index, child);
	return 0;
}

static int art_fv_append(const avro_value_iface_t *iface, void *self, avro_value_t *child,
			 size_t *new_index)
{
	const struct art_fv_node *n = NODE(iface);
	struct art_fv_slot *slot = self, *item;
	int rc = art_fv_grow(n, slot, 1);

	if (rc)
		return rc;
	item = slot->u.a.items + slot->u.a.n;
	if (art_fv_init(n->items, item, 0))
		return ENOMEM;
	if (new_index)
		*new_index = slot->u.a.n;
	slot->u.a.n++;
	if (child)
		art_fv_handle(n->items, item, child);
	return 0;
}

static int art_fv_map_by_index(const avro_value_iface_t *iface, const void *self, size_t index,
			       avro_value_t *child, const char **name)
{
	const struct art_fv_slot *slot = self;

	if (index >= slot->u.a.n) {
		avro_set_error("map index %zu out of range", index);
		return EINVAL;
	}
	art_fv_handle(NODE(iface)->items, slot->u.a.items + 2 * index + 1, child);
	if (name)
		*name = slot->u.a.items[2 * index].u.s.p;
	return 0;
}

static long art_fv_map_find(const struct art_fv_slot *slot, const char *key)
{
	for (uint32_t i = 0; i < slot->u.a.n; i++)
		if (strcmp(slot->u.a.items[2 * i].u.s.p, key) == 0)
			return (long)i;
	return -1;
}

static int art_fv_map_by_name(const avro_value_iface_t *iface, const void *self, const char *name,
			      avro_value_t *child, size_t *index)
{
	const struct art_fv_slot *slot = self;
	long i = art_fv_map_find(slot, name);

	if (i < 0) {
		avro_set_error("no key %s in the map", name);
		return EINVAL;
	}
	art_fv_handle(NODE(iface)->items, slot->u.a.items + 2 * i + 1, child);
	if (index)
		*index = (size_t)i;
	return 0;
}

static int art_fv_map_add(const avro_value_iface_t *iface, void *self, const char *key,
			  avro_value_t *child, size_t *index, int *is_new)
{
	const struct art_fv_node *n = NODE(iface);
	struct art_fv_slot *slot = self, *kv;
	long i = art_fv_map_find(slot, key);
	int rc;

	if (i >= 0) {
		kv = slot->u.a.items + 2 * i;
		if (is_new)
			*is_new = 0;
	} else {
		rc = art_fv_grow(n, slot, 2);
		if (rc)
			return rc;
		i = slot->u.a.n;
		kv = slot->u.a.items + 2 * i;
		memset(&kv[0], 0, sizeof(kv[0]));
		kv[0].u.s.p = art_fv_strdup(n->fv, key, strlen(key));
		if (!kv[0].u.s.p)
			return ENOMEM;
		kv[0].u.s.len = strlen(key);
		if (art_fv_init(n->items, &kv[1], 0))
			return ENOMEM;
		slot->u.a.n++;
		if (is_new)
			*is_new = 1;
	}
	if (index)
		*index = (size_t)i;
	if (child)
		art_fv_handle(n->items, &kv[1], child);
	return 0;
}

/* ---- compiling a schema ---------------------------------------------------------- */

static avro_schema_t art_fv_deref(avro_schema_t s)
{
	while (s && is_avro_link(s))
		s = avro_schema_link_target(s);
	return s;
}

static void art_fv_set_iface(struct art_fv_node *n)
{
	avro_value_iface_t *f = &n->iface;

	memset(f, 0, sizeof(*f));
	f->incref_iface = art_fv_incref_iface;
	f->decref_iface = art_fv_decref_iface;
	f->incref = art_fv_incref;
	f->decref = art_fv_decref;
	f->reset = art_fv_reset_v;
	f->get_type = art_fv_get_type;
	f->get_schema = art_fv_get_schema;
	switch (n->type) {
	case AVRO_STRING:
		f->get_string = art_fv_get_string;
		f->grab_string = art_fv_grab_string;
		f->set_string = art_fv_set_string;
		f->set_string_len = art_fv_set_string_len;
		f->give_string_len = art_fv_give_string_len;
		break;
	case AVRO_BYTES:
		f->get_bytes = art_fv_get_bytes;
		f->grab_bytes = art_fv_grab_bytes;
		f->set_bytes = art_fv_set_bytes;
		f->give_bytes = art_fv_give_bytes;
		break;
	case AVRO_FIXED:
		f->get_fixed = art_fv_get_fixed;
		f->grab_fixed = art_fv_grab_fixed;
		f->set_fixed = art_fv_set_fixed;
		f->give_fixed = art_fv_give_fixed;
		break;
	case AVRO_INT32:
		f->get_int = art_fv_get_int;
		f->set_int = art_fv_set_int;
		break;
	case AVRO_INT64:
		f->get_long = art_fv_get_long;
		f->set_long = art_fv_set_long;
		break;
	case AVRO_DOUBLE:
		f->get_double = art_fv_get_double;
		f->set_double = art_fv_set_double;
		break;
	case AVRO_FLOAT:
		f->get_float = art_fv_get_float;
		f->set_float = art_fv_set_float;
		break;
	case AVRO_BOOLEAN:
		f->get_boolean = art_fv_get_boolean;
		f->set_boolean = art_fv_set_boolean;
		break;
	case AVRO_NULL:
		f->get_null = art_fv_get_null;
		f->set_null = art_fv_set_null;
		break;
	case AVRO_ENUM:
		f->get_enum = art_fv_get_enum;
		f->set_enum = art_fv_set_enum;
		break;
	case AVRO_RECORD:
		f->get_size = art_fv_rec_size;
		f->get_by_index = art_fv_rec_by_index;
		f->get_by_name = art_fv_rec_by_name;
		break;
	case AVRO_UNION:
		f->get_discriminant = art_fv_get_discriminant;
		f->get_current_branch = art_fv_get_current_branch;
		f->set_branch = art_fv_set_branch;
		break;
	case AVRO_ARRAY:
		f->get_size = art_fv_coll_size;
		f->get_by_index = art_fv_arr_by_index;
		f->append = art_fv_append;
		break;
	case AVRO_MAP:
		f->get_size = art_fv_coll_size;
		f->get_by_index = art_fv_map_by_index;
		f->get_by_name = art_fv_map_by_name;
		f->add = art_fv_map_add;
		break;
	default:
		break;
	}
}

/* The node of schema s, compiled on first sight (named types once). */
static struct art_fv_node *art_fv_compile(struct art_fv *fv, avro_schema_t s, int depth)
{
	struct art_fv_node *n;

	s = art_fv_deref(s);
	if (!s || depth > ART_FV_MAX_DEPTH) {
		avro_set_error("schema nested too deeply");
		return NULL;
	}
	if (is_avro_named_type(s)) {
		for (size_t i = 0; i < fv->nnodes; i++)
			if (fv->nodes[i]->schema == s)
				return fv->nodes[i];
	}
	if (fv->nnodes == fv->capnodes) {
		size_t cap = fv->capnodes ? fv->capnodes * 2 : 32;
		struct art_fv_node **nodes = realloc(fv->nodes, cap * sizeof(*nodes));

		if (!nodes)
			return NULL;
		fv->nodes = nodes;
		fv->capnodes = cap;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	fv->nodes[fv->nnodes++] = n; /* registered before its children: recursion ends here */
	n->fv = fv;
	n->schema = s;
	n->type = avro_typeof(s);
	n->null_branch = -1;
	art_fv_set_iface(n);
	switch (n->type) {
	case AVRO_RECORD:
		n->n = avro_schema_record_size(s);
		n->kids = calloc(n->n ? n->n : 1, sizeof(*n->kids));
		n->names = calloc(n->n ? n->n : 1, sizeof(*n->names));
		if (!n->kids || !n->names)
			return NULL;
		n->fields = calloc(n->n ? n->n : 1, sizeof(*n->fields));
		n->tmpl = calloc(n->n ? n->n : 1, sizeof(*n->tmpl));
		n->nested = calloc(n->n ? n->n : 1, sizeof(*n->nested));
		if (!n->fields || !n->tmpl || !n->nested)
			return NULL;
		for (size_t i = 0; i < n->n; i++) {
			n->names[i] = avro_schema_record_field_name(s, (int)i);
			n->kids[i] = art_fv_compile(
			    fv, avro_schema_record_field_get_by_index(s, (int)i), depth + 1);
			if (!n->kids[i])
				return NULL;
		}
		break;
	case AVRO_UNION:
		n->n = avro_schema_union_size(s);
		n->kids = calloc(n->n ? n->n : 1, sizeof(*n->kids));
		if (!n->kids)
			return NULL;
		for (size_t i = 0; i < n->n; i++) {
			n->kids[i] = art_fv_compile(fv, avro_schema_union_branch(s, (int)i), depth + 1);
			if (!n->kids[i])
				return NULL;
			if (n->kids[i]->type == AVRO_NULL && n->null_branch < 0)
				n->null_branch = (int)i;
		}
		break;
	case AVRO_ARRAY:
		n->items = art_fv_compile(fv, avro_schema_array_items(s), depth + 1);
		if (!n->items)
			return NULL;
		break;
	case AVRO_MAP:
		n->items = art_fv_compile(fv, avro_schema_map_values(s), depth + 1);
		if (!n->items)
			return NULL;
		break;
	case AVRO_ENUM:
		n->n = (size_t)avro_schema_enum_number_of_symbols(s);
		break;
	case AVRO_FIXED:
		n->n = (size_t)avro_schema_fixed_size(s);
		break;
	default:
		break;
	}
	return n;
}

/* ---- the store --------------------------------------------------------------------- */

void art_fv_destroy(struct art_fv *fv)
{
	struct art_fv_chunk *c, *next;

	if (!fv)
		return;
	for (size_t i = 0; i < fv->nnodes; i++) {
		free(fv->nodes[i]->kids);
		free(fv->nodes[i]->names);
		free(fv->nodes[i]->fields);
		free(fv->nodes[i]->tmpl);
		free(fv->nodes[i]->nested);
		free(fv->nodes[i]);
	}
	free(fv->nodes);
	for (c = fv->chunks; c; c = next) {
		next = c->next;
		free(c);
	}
	free(fv);
}

int art_fv_reset(struct art_fv *fv, avro_value_t *root)
{
	struct art_fv_slot *rec;

	art_fv_rewind(fv);
	rec = art_fv_new_record(fv->root, 0);
	if (!rec)
		return -1;
	root->iface = &fv->root->iface;
	root->self = rec;
	return 0;
}

struct art_fv *art_fv_new(avro_schema_t schema, avro_value_t *root)
{
	struct art_fv *fv = calloc(1, sizeof(*fv));

	if (!fv)
		return NULL;
	fv->root = art_fv_compile(fv, schema, 0);
	if (!fv->root || fv->root->type != AVRO_RECORD) {
		if (fv->root)
			avro_set_error("a value must be a record");
		art_fv_destroy(fv);
		return NULL;
	}
	/* second pass, every node complete: the records' field tables */
	for (size_t i = 0; i < fv->nnodes; i++) {
		struct art_fv_node *n = fv->nodes[i];

		if (n->type != AVRO_RECORD)
			continue;
		for (size_t k = 0; k < n->n; k++) {
			const struct art_fv_node *kid = n->kids[k];

			n->fields[k].node = kid;
			n->fields[k].type = kid->type;
			n->fields[k].null_branch = kid->null_branch;
			memset(&n->tmpl[k], 0, sizeof(n->tmpl[k]));
			n->tmpl[k].disc = -1;
			if (kid->type == AVRO_STRING || kid->type == AVRO_BYTES)
				n->tmpl[k].u.s.p = art_fv_empty;
			else if (kid->type == AVRO_UNION)
				n->tmpl[k].disc = kid->null_branch;
			else if (kid->type == AVRO_RECORD)
				n->nested[n->nnested++] = k;
		}
	}
	if (art_fv_reset(fv, root)) {
		art_fv_destroy(fv);
		return NULL;
	}
	return fv;
}

struct art_fv *art_fv_store(const avro_value_t *v)
{
	assert(art_fv_is(v));
	return NODE(v->iface)->fv;
}

int art_fv_is(const avro_value_t *v)
{
	return v->iface && v->iface->incref_iface == art_fv_incref_iface;
}

/* ---- shortcuts ------------------------------------------------------------------------ */

int art_fv_enter(const avro_value_t *rec, const char *name, avro_value_t *out)
{
	const struct art_fv_node *n = NODE(rec->iface), *k;
	struct art_fv_slot *slot;
	size_t h;
	long i;
	int rc;

	assert(art_fv_is(rec) && n->type == AVRO_RECORD);
	h = ((uintptr_t)name >> 3 ^ (uintptr_t)name >> 9) & (ART_FV_CACHE - 1);
	if (n->scache[h].key == name) {
		i = (long)n->scache[h].idx;
	} else {
		i = art_fv_field_index(n, name);
		if (i < 0) {
			avro_set_error("no field %s in record %s", name,
				       avro_schema_name(n->schema));
			return EINVAL;
		}
		((struct art_fv_node *)n)->scache[h].key = name;
		((struct art_fv_node *)n)->scache[h].idx = (size_t)i;
	}
	k = n->kids[i];
	slot = (struct art_fv_slot *)rec->self + i;
	if (k->type == AVRO_UNION && k->n == 2) {
		rc = art_fv_branch(k, slot, 1);
		if (rc)
			return rc;
		k = k->kids[1];
	}
	art_fv_handle(k, slot, out);
	return 0;
}

int art_fv_set_str(avro_value_t *v, const char *s, size_t len)
{
	const struct art_fv_node *n = NODE(v->iface);
	struct art_fv_slot *slot = v->self;

	assert(art_fv_is(v));
	if (n->type == AVRO_UNION && n->n == 2 && n->kids[1]->type == AVRO_STRING) {
		slot->disc = 1;
		n = n->kids[1];
	}
	if (n->type != AVRO_STRING) {
		avro_set_error("not a string");
		return EINVAL;
	}
	return art_fv_put(&n->iface, slot, s, len);
}

int art_fv_has(const avro_value_t *rec, const char *name)
{
	const struct art_fv_node *n = NODE(rec->iface);
	long i;

	assert(art_fv_is(rec) && n->type == AVRO_RECORD);
	i = art_fv_field_index(n, name);
	if (i < 0)
		return 0;
	if (n->kids[i]->type != AVRO_UNION)
		return 1;
	return ((const struct art_fv_slot *)rec->self)[i].disc != n->kids[i]->null_branch;
}

/* ---- the writer ----------------------------------------------------------------------- */

struct art_fv_out {
	unsigned char *p;
	size_t len, cap, max;
};

static int art_fv_grow_out(struct art_fv_out *o, size_t n) __attribute__((noinline));

static int art_fv_grow_out(struct art_fv_out *o, size_t n)
{
	unsigned char *p;
	size_t cap;

	if (o->len + n > o->max) {
		avro_set_error("encoded value exceeds %zu bytes", o->max);
		return ENOSPC;
	}
	cap = o->cap ? o->cap : 4096;
	while (cap - o->len < n)
		cap *= 2;
	if (cap > o->max)
		cap = o->max;
	p = realloc(o->p, cap);
	if (!p) {
		avro_set_error("out of memory");
		return ENOMEM;
	}
	o->p = p;
	o->cap = cap;
	return 0;
}

static inline int art_fv_need(struct art_fv_out *o, size_t n)
{
	if (__builtin_expect(o->cap - o->len >= n, 1))
		return 0;
	return art_fv_grow_out(o, n);
}

/* Zig-zag varint (the encoding of Avro int and long). */
static inline int art_fv_long(struct art_fv_out *o, int64_t v)
{
	uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
	int rc = art_fv_need(o, 10);

	if (rc)
		return rc;
	while (u & ~(uint64_t)0x7f) {
		o->p[o->len++] = (unsigned char)((u & 0x7f) | 0x80);
		u >>= 7;
	}
	o->p[o->len++] = (unsigned char)u;
	return 0;
}

static inline int art_fv_raw(struct art_fv_out *o, const void *p, size_t n)
{
	int rc = art_fv_need(o, n);

	if (rc)
		return rc;
	if (n)
		memcpy(o->p + o->len, p, n);
	o->len += n;
	return 0;
}

static inline int art_fv_bytes(struct art_fv_out *o, const char *p, size_t n)
{
	int rc = art_fv_need(o, n + 10);

	if (rc)
		return rc;
	if (n < 64) {
		o->p[o->len++] = (unsigned char)(n << 1);
	} else {
		rc = art_fv_long(o, (int64_t)n);
		if (rc)
			return rc;
	}
	memcpy(o->p + o->len, p, n);
	o->len += n;
	return 0;
}

static int art_fv_emit(struct art_fv_out *o, const struct art_fv_node *n, const void *self);

/* A record: its fields in order; null unions written inline. */
static int art_fv_emit_record(struct art_fv_out *o, const struct art_fv_node *n,
			      const struct art_fv_slot *fs)
{
	int rc;

	for (size_t i = 0; i < n->n; i++) {
		const struct art_fv_field *f = &n->fields[i];
		const struct art_fv_slot *slot = fs + i;

		switch (f->type) {
		case AVRO_UNION:
			if (slot->disc == f->null_branch && slot->disc >= 0 && slot->disc < 64) {
				rc = art_fv_need(o, 1);
				if (rc)
					return rc;
				o->p[o->len++] = (unsigned char)(slot->disc << 1);
				continue;
			}
			rc = art_fv_emit(o, f->node, slot);
			break;
		case AVRO_STRING:
		case AVRO_BYTES:
			rc = art_fv_bytes(o, slot->u.s.p, slot->u.s.len);
			break;
		case AVRO_RECORD:
			rc = art_fv_emit_record(o, f->node, slot->u.rec);
			break;
		default:
			rc = art_fv_emit(o, f->node, slot);
			break;
		}
		if (rc)
			return rc;
	}
	return 0;
}

static int art_fv_emit(struct art_fv_out *o, const struct art_fv_node *n, const void *self)
{
	const struct art_fv_slot *slot = self;
	unsigned char b[8];
	uint64_t u;
	uint32_t w;
	int rc;

	switch (n->type) {
	case AVRO_NULL:
		return 0;
	case AVRO_BOOLEAN:
		b[0] = slot->u.b ? 1 : 0;
		return art_fv_raw(o, b, 1);
	case AVRO_INT32:
		return art_fv_long(o, slot->u.i);
	case AVRO_ENUM:
		return art_fv_long(o, slot->u.i);
	case AVRO_INT64:
		return art_fv_long(o, slot->u.l);
	case AVRO_FLOAT:
		memcpy(&w, &slot->u.f, 4);
		for (int i = 0; i < 4; i++)
			b[i] = (unsigned char)(w >> (8 * i));
		return art_fv_raw(o, b, 4);
	case AVRO_DOUBLE:
		memcpy(&u, &slot->u.d, 8);
		for (int i = 0; i < 8; i++)
			b[i] = (unsigned char)(u >> (8 * i));
		return art_fv_raw(o, b, 8);
	case AVRO_STRING:
	case AVRO_BYTES:
		return art_fv_bytes(o, slot->u.s.p, slot->u.s.len);
	case AVRO_FIXED: {
		const void *p;
		size_t len;

		rc = art_fv_get_fixed(&n->iface, slot, &p, &len);
		return rc ? rc : art_fv_raw(o, p, len);
	}
	case AVRO_RECORD:
		return art_fv_emit_record(o, n, self);
	case AVRO_UNION: {
		const struct art_fv_node *k;

		if (slot->disc < 0) {
			avro_set_error("union has no selected branch");
			return EINVAL;
		}
		rc = art_fv_long(o, slot->disc);
		if (rc)
			return rc;
		k = n->kids[slot->disc];
		return art_fv_emit(o, k, k->type == AVRO_RECORD ? (const void *)slot->u.rec : self);
	}
	case AVRO_ARRAY:
	case AVRO_MAP: {
		const struct art_fv_node *k = n->items;
		size_t per = n->type == AVRO_MAP ? 2 : 1;

		if (slot->u.a.n > 0) {
			rc = art_fv_long(o, slot->u.a.n);
			if (rc)
				return rc;
			for (uint32_t i = 0; i < slot->u.a.n; i++) {
				const struct art_fv_slot *it = slot->u.a.items + per * i;

				if (per == 2) {
					rc = art_fv_bytes(o, it->u.s.p, it->u.s.len);
					if (rc)
						return rc;
					it++;
				}
				if (k->type == AVRO_RECORD)
					rc = art_fv_emit_record(o, k, it->u.rec);
				else
					rc = art_fv_emit(o, k, it);
				if (rc)
					return rc;
			}
		}
		return art_fv_long(o, 0);
	}
	default:
		avro_set_error("unsupported schema type");
		return EINVAL;
	}
}

int art_fv_write(const avro_value_t *v, unsigned char **bufp, size_t *capp, size_t *lenp,
		 size_t max)
{
	struct art_fv_out o = {*bufp, *lenp, *capp, max};
	int rc;

	assert(art_fv_is(v));
	rc = art_fv_emit(&o, NODE(v->iface), v->self);
	*bufp = o.p;
	*capp = o.cap;
	*lenp = o.len;
	return rc;
}

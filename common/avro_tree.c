/*
 * avro_tree.c — the decoded-record tree (avro_tree.h): a chunked bump
 * arena that keeps its chunks across resets, record shapes with an
 * open-addressing name index, the JSON bridges for tests and tools, and
 * the UTF-8 check that decides between string and bytes.
 */
#include "avro_tree.h"

#include "avro_codec.h"

#include <math.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#define ART_TREE_CHUNK_MIN ((size_t)64 << 10) /* bytes of a new chunk, at least */

struct art_tree_chunk {
	struct art_tree_chunk *next;
	size_t cap; /* bytes of data */
	alignas(max_align_t) unsigned char data[];
};

_Static_assert(ART_TREE_ALIGN % alignof(struct art_tnode) == 0 &&
                   ART_TREE_ALIGN >= alignof(struct art_tshape),
               "the arena's alignment fits nodes and shapes");

/* Where bump points while there is no chunk: an empty region. */
static unsigned char art_tree_none[1];

void art_tree_init(struct art_tree *t)
{
	memset(t, 0, sizeof(*t));
	t->bump = t->bump_end = art_tree_none;
}

void art_tree_reset(struct art_tree *t)
{
	t->cur = t->head;
	t->bump = t->head ? t->head->data : art_tree_none;
	t->bump_end = t->head ? t->head->data + t->head->cap : art_tree_none;
	t->used = 0;
	t->root = NULL;
}

void art_tree_free(struct art_tree *t)
{
	struct art_tree_chunk *c = t->head;

	while (c) {
		struct art_tree_chunk *next = c->next;

		free(c);
		c = next;
	}
	art_tree_init(t);
}

void *art_tree_alloc_slow(struct art_tree *t, size_t size)
{
	struct art_tree_chunk *c = t->cur, *prev = NULL;
	size_t need = (size + ART_TREE_ALIGN - 1) & ~(size_t)(ART_TREE_ALIGN - 1);
	size_t in_cur = c ? (size_t)(t->bump - c->data) : 0;

	if (size > ART_TREE_MAX_BYTES || need < size ||
	    t->used + in_cur + need > ART_TREE_MAX_BYTES)
		return NULL;
	/* the next chunk kept from earlier trees that is large enough (chunks
	 * after the current one are empty), else a new one at the end */
	for (c = c ? c->next : t->head, prev = t->cur; c && c->cap < need; prev = c, c = c->next)
		;
	if (!c) {
		size_t cap = need > ART_TREE_CHUNK_MIN ? need : ART_TREE_CHUNK_MIN;

		for (; prev && prev->next; prev = prev->next)
			;
		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->cap = cap;
		c->next = NULL;
		if (prev)
			prev->next = c;
		else
			t->head = c;
	}
	if (t->cur)
		t->used += in_cur; /* the bytes left behind in the old chunk */
	t->cur = c;
	t->bump = c->data + need;
	t->bump_end = c->data + c->cap;
	return c->data;
}

struct art_tnode *art_tree_nodes(struct art_tree *t, size_t cnt)
{
	struct art_tnode *n;

	if (cnt == 0)
		cnt = 1; /* a valid pointer for empty records and arrays */
	if (cnt > ART_TREE_MAX_BYTES / sizeof(*n))
		return NULL;
	n = art_tree_alloc(t, cnt * sizeof(*n));
	if (n)
		memset(n, 0, cnt * sizeof(*n));
	return n;
}

/* ---- shapes ------------------------------------------------------------- */

struct art_tshape *art_tshape_new(struct art_tree *t, const char *const *names, size_t cnt)
{
	struct art_tshape *sh;
	size_t slots = 8, bytes;

	if (cnt > 65535)
		return NULL;
	while (slots < cnt * 2)
		slots *= 2;
	bytes = sizeof(*sh) + cnt * sizeof(*sh->names) + cnt * sizeof(*sh->lens) +
	        slots * sizeof(*sh->slots);
	sh = t ? art_tree_alloc(t, bytes) : malloc(bytes);
	if (!sh)
		return NULL;
	memset(sh, 0, bytes);
	sh->cnt = cnt;
	sh->names = (const char **)(sh + 1);
	sh->lens = (uint16_t *)(sh->names + cnt);
	sh->slots = sh->lens + cnt;
	sh->mask = (uint32_t)slots - 1;
	for (size_t i = 0; i < cnt; i++) {
		size_t n = strlen(names[i]);
		uint32_t h;

		sh->names[i] = names[i];
		sh->lens[i] = (uint16_t)(n > 65535 ? 65535 : n);
		h = art_tshape_hash(names[i], n) & sh->mask;
		while (sh->slots[h])
			h = (h + 1) & sh->mask;
		sh->slots[h] = (uint16_t)(i + 1);
	}
	return sh;
}

void art_tshape_free(struct art_tshape *shape)
{
	free(shape);
}

/* memcmp(a, b, n) == 0 for the short names of a schema, without a call:
 * two overlapping loads cover 4 to 16 bytes. */
static inline int art_tshape_eq(const char *a, const char *b, size_t n)
{
	uint64_t x, y, x2, y2;
	uint32_t u, v, u2, v2;

	if (n >= 8) {
		for (; n > 16; a += 8, b += 8, n -= 8) {
			memcpy(&x, a, 8);
			memcpy(&y, b, 8);
			if (x != y)
				return 0;
		}
		memcpy(&x, a, 8);
		memcpy(&y, b, 8);
		memcpy(&x2, a + n - 8, 8);
		memcpy(&y2, b + n - 8, 8);
		return x == y && x2 == y2;
	}
	if (n >= 4) {
		memcpy(&u, a, 4);
		memcpy(&v, b, 4);
		memcpy(&u2, a + n - 4, 4);
		memcpy(&v2, b + n - 4, 4);
		return u == v && u2 == v2;
	}
	for (; n; a++, b++, n--)
		if (*a != *b)
			return 0;
	return 1;
}

const struct art_tnode *art_tnode_geth(const struct art_tnode *n, const char *key, size_t len,
                                       uint32_t hash)
{
	const struct art_tshape *sh;
	uint32_t h;

	if (!n)
		return NULL;
	if (n->kind == ART_T_MAP) {
		for (uint32_t i = 0; i < n->cnt; i++)
			if (n->u.kids[2 * i].cnt == len && !memcmp(n->u.kids[2 * i].u.s, key, len))
				return &n->u.kids[2 * i + 1];
		return NULL;
	}
	if (n->kind != ART_T_RECORD || !n->shape)
		return NULL;
	sh = n->shape;
	h = hash & sh->mask;
	while (sh->slots[h]) {
		size_t i = sh->slots[h] - 1u;

		if (sh->lens[i] == len && art_tshape_eq(sh->names[i], key, len))
			return &n->u.kids[i];
		h = (h + 1) & sh->mask;
	}
	return NULL;
}

/* ---- UTF-8 ---------------------------------------------------------------- */

int art_utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c;

		/* ASCII runs eight bytes at a time */
		while (i + 8 <= n) {
			uint64_t w;

			memcpy(&w, s + i, 8);
			if (w & 0x8080808080808080ULL)
				break;
			i += 8;
		}
		if (i >= n)
			break;
		c = s[i];
		if (c < 0x80) {
			i++;
		} else if (c >= 0xc2 && c <= 0xdf) {
			if (i + 1 >= n || (s[i + 1] & 0xc0) != 0x80)
				return 0;
			i += 2;
		} else if (c >= 0xe0 && c <= 0xef) {
			if (i + 2 >= n || (s[i + 1] & 0xc0) != 0x80 || (s[i + 2] & 0xc0) != 0x80)
				return 0;
			if ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] >= 0xa0))
				return 0;
			i += 3;
		} else if (c >= 0xf0 && c <= 0xf4) {
			if (i + 3 >= n || (s[i + 1] & 0xc0) != 0x80 || (s[i + 2] & 0xc0) != 0x80 ||
			    (s[i + 3] & 0xc0) != 0x80)
				return 0;
			if ((c == 0xf0 && s[i + 1] < 0x90) || (c == 0xf4 && s[i + 1] >= 0x90))
				return 0;
			i += 4;
		} else {
			return 0;
		}
	}
	return 1;
}

/* ---- JSON bridges ------------------------------------------------------------ */

/* Fills node n from json. Returns 0 or -1 when out of memory. */
static int art_tree_fill_json(struct art_tree *t, struct art_tnode *n, const json_t *j, int depth)
{
	if (depth > 128)
		return -1;
	switch (json_typeof(j)) {
	case JSON_NULL:
		n->kind = ART_T_NULL;
		return 0;
	case JSON_TRUE:
	case JSON_FALSE:
		n->kind = ART_T_BOOL;
		n->u.l = json_is_true(j);
		return 0;
	case JSON_INTEGER:
		n->kind = ART_T_LONG;
		n->u.l = (int64_t)json_integer_value(j);
		return 0;
	case JSON_REAL:
		n->kind = ART_T_DOUBLE;
		n->u.d = json_real_value(j);
		return 0;
	case JSON_STRING: {
		size_t len = json_string_length(j);

		n->kind = ART_T_STRING;
		n->cnt = (uint32_t)len;
		n->u.s = art_tree_strdup(t, json_string_value(j), len);
		return n->u.s ? 0 : -1;
	}
	case JSON_ARRAY: {
		size_t cnt = json_array_size(j);

		n->kind = ART_T_ARRAY;
		n->cnt = (uint32_t)cnt;
		n->u.kids = art_tree_nodes(t, cnt);
		if (!n->u.kids)
			return -1;
		for (size_t i = 0; i < cnt; i++)
			if (art_tree_fill_json(t, &n->u.kids[i], json_array_get(j, i), depth + 1))
				return -1;
		return 0;
	}
	case JSON_OBJECT: {
		size_t cnt = json_object_size(j), i = 0;
		const char **names = art_tree_alloc(t, (cnt ? cnt : 1) * sizeof(*names));
		const char *k;
		json_t *v;

		n->kind = ART_T_RECORD;
		n->cnt = (uint32_t)cnt;
		n->u.kids = art_tree_nodes(t, cnt);
		if (!names || !n->u.kids)
			return -1;
		json_object_foreach((json_t *)j, k, v) {
			names[i] = art_tree_strdup(t, k, strlen(k));
			if (!names[i] || art_tree_fill_json(t, &n->u.kids[i], v, depth + 1))
				return -1;
			i++;
		}
		n->shape = art_tshape_new(t, names, cnt);
		return n->shape ? 0 : -1;
	}
	}
	return -1;
}

struct art_tnode *art_tree_from_json(struct art_tree *t, const json_t *json)
{
	struct art_tnode *root = art_tree_nodes(t, 1);

	if (!root || art_tree_fill_json(t, root, json, 0))
		return NULL;
	t->root = root;
	return root;
}

static json_t *art_tree_json_at(const struct art_tnode *n, int depth)
{
	json_t *j = NULL, *c;

	if (depth > 128)
		return NULL;
	switch ((enum art_tkind)n->kind) {
	case ART_T_NULL:
		return json_null();
	case ART_T_BOOL:
		return json_boolean(n->u.l);
	case ART_T_LONG:
		return json_integer((json_int_t)n->u.l);
	case ART_T_DOUBLE:
		if (isnan(n->u.d))
			return json_string("NaN");
		if (isinf(n->u.d))
			return json_string(n->u.d > 0 ? "Infinity" : "-Infinity");
		return json_real(n->u.d);
	case ART_T_STRING:
	case ART_T_BYTES:
		return art_avro_bytes_json(n->u.s, n->cnt);
	case ART_T_ARRAY:
		j = json_array();
		for (uint32_t i = 0; j && i < n->cnt; i++) {
			c = art_tree_json_at(&n->u.kids[i], depth + 1);
			if (!c || json_array_append_new(j, c)) {
				json_decref(j);
				return NULL;
			}
		}
		return j;
	case ART_T_RECORD:
	case ART_T_MAP:
		j = json_object();
		for (uint32_t i = 0; j && i < n->cnt; i++) {
			const char *k = n->kind == ART_T_MAP ? n->u.kids[2 * i].u.s : n->shape->names[i];

			c = art_tree_json_at(n->kind == ART_T_MAP ? &n->u.kids[2 * i + 1] : &n->u.kids[i],
			                     depth + 1);
			if (!c || json_object_set_new(j, k, c)) {
				json_decref(j);
				return NULL;
			}
		}
		return j;
	}
	return NULL;
}

json_t *art_tree_to_json(const struct art_tnode *n)
{
	return n ? art_tree_json_at(n, 0) : NULL;
}

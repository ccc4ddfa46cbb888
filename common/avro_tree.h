/*
 * avro_tree.h — a decoded record as a read-only tree living in one arena:
 * what the consumer runtime hands to a sink (sink.h, struct art_event),
 * filled by the reader projection (avro_project.h) straight from the
 * record's bytes.
 *
 * Why not jansson: a canonical event is a few hundred values; a jansson
 * tree costs a malloc per value and a hash table per object to build, and
 * as much again to free, which made decoding cost more than everything
 * else a consumer does. Here a record is one block of nodes whose field
 * names live in a shape shared by every record of that type, strings are
 * copied once into the arena, and the whole tree is dropped by rewinding
 * the arena (art_tree_reset()), which keeps its memory for the next one.
 *
 * The values follow avro_codec.h's JSON mapping, so a tree and the JSON a
 * tool shows for the same record say the same thing: unions are their
 * branch's value (null for null); int and long are ART_T_LONG, float and
 * double ART_T_DOUBLE (NaN and infinities kept as doubles; the JSON
 * mapping spells them as strings); enums are ART_T_STRING of their
 * symbol; string, bytes and fixed values are ART_T_STRING when they are
 * valid UTF-8 and ART_T_BYTES otherwise (the JSON mapping's
 * {"base64": ...}); maps are ART_T_MAP. Every string and bytes value is
 * NUL-terminated (the NUL not counted).
 *
 * Sizes: a canonical event (~600 bytes of Avro) is a few hundred nodes of
 * 24 bytes plus its strings, ~10 KB; the arena grows in chunks of at
 * least 64 KB and is capped at ART_TREE_MAX_BYTES. A tree belongs to one
 * thread; nodes are valid until the tree is reset or destroyed.
 */
#ifndef ART_AVRO_TREE_H
#define ART_AVRO_TREE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define ART_TREE_MAX_BYTES ((size_t)256 << 20) /* arena bytes one tree may use */

enum art_tkind {
	ART_T_NULL = 0,
	ART_T_BOOL,   /* u.l is 0 or 1 */
	ART_T_LONG,   /* int and long */
	ART_T_DOUBLE, /* float and double */
	ART_T_STRING, /* valid UTF-8, NUL-terminated; cnt = length */
	ART_T_BYTES,  /* any bytes, NUL-terminated; cnt = length */
	ART_T_RECORD, /* u.kids[0 .. cnt), in the order of shape->names */
	ART_T_ARRAY,  /* u.kids[0 .. cnt) */
	ART_T_MAP,    /* u.kids[0 .. 2 * cnt): key (ART_T_STRING), value, key, value... */
};

/* The field names of one record type, with a small hash index. Shared by
 * every record node of the type. */
struct art_tshape {
	size_t cnt;
	const char **names; /* cnt names, borrowed (schema) or in the arena */
	uint16_t *lens;     /* their lengths */
	uint16_t *slots;    /* hash index of `mask + 1` entries: field index + 1, 0 = empty */
	uint32_t mask;
};

struct art_tnode {
	uint8_t kind;  /* enum art_tkind */
	uint32_t cnt;  /* fields, items, entries, or string/bytes length */
	union {
		int64_t l;
		double d;
		const char *s;
		struct art_tnode *kids;
	} u;
	const struct art_tshape *shape; /* ART_T_RECORD */
};

struct art_tree_chunk;

/* An arena of nodes, strings and shapes; the root of the current tree. */
struct art_tree {
	struct art_tree_chunk *head, *cur; /* chunks; cur is being filled */
	unsigned char *bump, *bump_end;    /* the free part of cur */
	size_t used;                       /* bytes taken from the chunks before cur */
	struct art_tnode *root;            /* set by whoever fills the tree */
};

#define ART_TREE_ALIGN 16 /* of everything art_tree_alloc() returns */

/* Initialises an empty tree (nothing allocated yet). */
void art_tree_init(struct art_tree *t);

/* Drops every node (the memory is kept for the next tree). */
void art_tree_reset(struct art_tree *t);

/* Frees the arena; the tree may be initialised again. */
void art_tree_free(struct art_tree *t);

/* Internal: art_tree_alloc() when the current chunk has no room. */
void *art_tree_alloc_slow(struct art_tree *t, size_t size);

/* Returns size bytes of the arena aligned for any node, or NULL when out
 * of memory or over ART_TREE_MAX_BYTES. Valid until reset. */
static inline void *art_tree_alloc(struct art_tree *t, size_t size)
{
	size_t need = (size + ART_TREE_ALIGN - 1) & ~(size_t)(ART_TREE_ALIGN - 1);

	if (need >= size && (size_t)(t->bump_end - t->bump) >= need) {
		void *p = t->bump;

		t->bump += need;
		return p;
	}
	return art_tree_alloc_slow(t, size);
}

/* Returns cnt zeroed nodes in one block, or NULL (as art_tree_alloc). */
struct art_tnode *art_tree_nodes(struct art_tree *t, size_t cnt);

/* Copies n bytes of s into the arena with a NUL after them; NULL when out
 * of memory. */
static inline char *art_tree_strdup(struct art_tree *t, const char *s, size_t n)
{
	char *d = n < ART_TREE_MAX_BYTES ? (char *)art_tree_alloc(t, n + 1) : NULL;

	if (!d)
		return NULL;
	if (n)
		memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

/* Builds a shape for cnt names (borrowed: they must outlive the shape),
 * in the arena of t, or with malloc when t is NULL (free it with
 * art_tshape_free()). NULL when out of memory or cnt > 65535. */
struct art_tshape *art_tshape_new(struct art_tree *t, const char *const *names, size_t cnt);

/* Frees a shape made with t == NULL; NULL is a no-op. */
void art_tshape_free(struct art_tshape *shape);

/* 1 when s[0..n) is valid UTF-8 (no overlongs, surrogates or code points
 * beyond U+10FFFF). NUL bytes are valid. */
int art_utf8_valid(const unsigned char *s, size_t n);

/* Builds in t a tree equal to json (objects become records whose shape
 * is their keys in order, integers ART_T_LONG, reals ART_T_DOUBLE) and
 * returns its root (also t->root), or NULL when out of memory. For
 * tests, tools and events that arrive as JSON; json is not kept. */
struct art_tnode *art_tree_from_json(struct art_tree *t, const json_t *json);

/* Renders n with avro_codec.h's JSON mapping (so exactly what
 * art_avro_decode_json() gives for the same record). Returns a new
 * reference, or NULL when out of memory. */
json_t *art_tree_to_json(const struct art_tnode *n);

/* The hash a shape indexes a field name by: its length and three of its
 * bytes, mixed (names of one record rarely collide on all four; probing
 * handles it). Inline so that a literal key's hash is a constant. */
static inline uint32_t art_tshape_hash(const char *s, size_t n)
{
	uint32_t h = (uint32_t)n * 0x9e3779b1u;

	if (n)
		h ^= (uint32_t)(unsigned char)s[0] * 0x85ebca6bu ^
		     (uint32_t)(unsigned char)s[n - 1] * 0xc2b2ae35u ^
		     (uint32_t)(unsigned char)s[n / 2] * 0x27d4eb2fu;
	return h ^ (h >> 15);
}

/* The field key (len bytes, hash art_tshape_hash(key, len)) of record n
 * (or the value of key in map n), or NULL when n is NULL, not a record or
 * map, or has no such field. */
const struct art_tnode *art_tnode_geth(const struct art_tnode *n, const char *key, size_t len,
                                       uint32_t hash);

/* As art_tnode_geth() for a NUL-terminated key (for a literal, length and
 * hash are compile-time constants). */
static inline const struct art_tnode *art_tnode_get(const struct art_tnode *n, const char *key)
{
	size_t len = strlen(key);

	return art_tnode_geth(n, key, len, art_tshape_hash(key, len));
}

/* Typed reads; each is NULL/0 safe. */
static inline int art_tnode_is(const struct art_tnode *n, enum art_tkind kind)
{
	return n && n->kind == kind;
}

/* The string of n (ART_T_STRING), else NULL. */
static inline const char *art_tnode_str(const struct art_tnode *n)
{
	return n && n->kind == ART_T_STRING ? n->u.s : NULL;
}

/* Items of array n (0 when n is not an array). */
static inline size_t art_tnode_len(const struct art_tnode *n)
{
	return n && n->kind == ART_T_ARRAY ? n->cnt : 0;
}

/* Item i of array n, or NULL when out of range. */
static inline const struct art_tnode *art_tnode_at(const struct art_tnode *n, size_t i)
{
	return n && n->kind == ART_T_ARRAY && i < n->cnt ? &n->u.kids[i] : NULL;
}

/* The bytes of a string or bytes node in *len, else NULL. */
static inline const char *art_tnode_bytes(const struct art_tnode *n, size_t *len)
{
	if (!n || (n->kind != ART_T_STRING && n->kind != ART_T_BYTES))
		return NULL;
	*len = n->cnt;
	return n->u.s;
}

/* Iterates the items of array arr: `art_tnode_foreach(arr, i, v) { ... }`
 * (v is NULL-safe: no iteration when arr is not an array). */
#define art_tnode_foreach(arr, i, v)                                                               \
	for ((i) = 0; (i) < art_tnode_len(arr) && ((v) = &(arr)->u.kids[(i)], 1); (i)++)

#endif

/*
 * avro_fast.h — the storage behind struct art_avro_value: an Avro C value
 * implementation (its own avro_value_iface_t per schema node) over one
 * arena, plus a direct binary writer for it. Internal to avro_codec.c and
 * the canonical mapper (canonical*.c); nothing else needs it.
 *
 * Why: Avro C's generic values allocate per string and per element, look
 * fields up by name through a hash table, reset in O(schema) and write
 * through one indirect call per getter. Here a schema is compiled once per
 * value (field tables, union branches, a field-name cache keyed by the
 * caller's string pointer), every string, record and array lives in an
 * arena that a reset rewinds in O(1), and the writer walks the compiled
 * schema directly. Every avro_value_*() call keeps working on these
 * values (getters, setters, append, add, set_branch, reset), so the
 * path setters and avro_value_t handles of avro_codec.h are unchanged; the
 * encoded bytes are exactly those of avro_value_write().
 *
 * Semantics that differ from the generic values, on purpose: a record (the
 * root, a new union branch, an array element, a map entry) starts with
 * every union that has a null branch set to null and its arrays and maps
 * empty — what art_avro_value_new() documents and what avro_codec and the
 * mapper produced by hand before. A handle to a record stays valid when
 * the array holding it grows; handles to other array elements do not (as
 * with the generic values). Sizes: an arena starts at 16 KB and keeps its
 * high-water mark across resets; it is capped at ART_FV_MAX_ARENA.
 * One thread per value.
 */
#ifndef ART_AVRO_FAST_H
#define ART_AVRO_FAST_H

#include <avro.h>
#include <stddef.h>
#include <stdint.h>

#define ART_FV_MAX_ARENA ((size_t)256 << 20) /* bytes one value may hold */

struct art_fv; /* a compiled schema + its arena */

/* Compiles schema (a record) and creates an empty value of it in *root.
 * Returns the store (free with art_fv_destroy()) or NULL when out of
 * memory or the schema is not a record (avro_strerror() says which). */
struct art_fv *art_fv_new(avro_schema_t schema, avro_value_t *root);

/* Empties the value: the arena is rewound and *root is a new empty record.
 * Every handle into the old value is invalid afterwards. Returns 0, or -1
 * when out of memory. */
int art_fv_reset(struct art_fv *fv, avro_value_t *root);

/* Frees the store and everything in its arena; NULL is a no-op. */
void art_fv_destroy(struct art_fv *fv);

/* The store value v (of this implementation) lives in. */
struct art_fv *art_fv_store(const avro_value_t *v);

/* Whether v is a value of this implementation (of any store). */
int art_fv_is(const avro_value_t *v);

/* Appends the Avro binary encoding of v (a value of this implementation)
 * to the malloc'd buffer *bufp of *capp bytes, starting at offset *lenp,
 * growing it (realloc) as needed up to max bytes in all. Returns 0, ENOSPC
 * past max, ENOMEM, or EINVAL for a union without a branch (the reason in
 * avro_strerror()). */
int art_fv_write(const avro_value_t *v, unsigned char **bufp, size_t *capp, size_t *lenp,
		 size_t max);

/*
 * Shortcuts for the mapper's hot path; each works on values of this
 * implementation only (assert) and answers as the avro_value_*() calls it
 * replaces.
 */

/* Field `name` of record rec in *out, entered: a ["null", T] union is
 * switched to T (a record branch selected anew starts empty), other values
 * are returned as they are. name must have static storage (a string
 * literal or a static table): its address is cached, its text is compared
 * only the first time. Returns 0, or EINVAL when rec has no such field
 * (avro_strerror() says so) and ENOMEM. */
int art_fv_enter(const avro_value_t *rec, const char *name, avro_value_t *out);

/* Sets string value v (a string, or a ["null", string] union) to len
 * bytes at s (copied; no NUL needed). Returns 0, EINVAL for another type,
 * ENOMEM. */
int art_fv_set_str(avro_value_t *v, const char *s, size_t len);

/* Whether optional field `name` of record rec holds a value (a field that
 * is not a union always does); 0 when there is no such field. */
int art_fv_has(const avro_value_t *rec, const char *name);

#endif

/*
 * avro_project.h — reader projection: decode a wire-format record written
 * with any registered version of a subject and hand it to a consumer as the
 * version the consumer was built for (DESIGN §4, docs/schema-evolution.md).
 *
 * The writer's schema is found by the id in the record's 5-byte header; the
 * reader's is the consumer's pinned version (e.g. art_schema_by_subject(reg,
 * "canonical.patient", 1)). Resolution follows the Avro specification, with
 * exactly the rules of schema_compat.h: fields matched by name or the
 * reader's aliases, reader fields the writer lacks filled from the reader
 * schema's "default" (read from the .avsc JSON: Avro C drops defaults),
 * writer-only fields skipped, promotions (int -> long/float/double, long ->
 * float/double, float -> double, string <-> bytes) applied, unions and enums
 * resolved (a writer enum symbol the reader lacks takes the reader's enum
 * default). A writer union branch or enum symbol the reader cannot take is
 * an error only when a record actually holds it.
 *
 * Avro C's resolved reader/writer is not used (it rejects defaulted fields
 * and crashes on maps). The body is read with Artery's own bounds-checked
 * walk over the writer schema: every length and count is compared with the
 * bytes left before anything is allocated, nesting is capped at
 * ART_AVRO_MAX_DEPTH, trailing bytes are an error — garbage never crashes a
 * consumer and costs at most its own size.
 *
 * Cost (measured on the dev VM): a projector compiles one plan per writer
 * schema it meets, on the first record of that version (parse + plan for
 * canonical.patient: under 1 ms), and keeps it; a record then costs one
 * pass over its bytes plus Avro C's value setters — canonical.patient v2
 * (300 bytes) read as v1: ~3 us, about 300k records/s on one core. Read
 * into a tree (art_avro_project_read_tree(), what consumers use) no Avro C
 * value is involved: a 600-byte canonical event costs 2.5-4.5 us (~25k
 * instructions), where art_avro_decode_json() and freeing its jansson tree
 * took ~25 us. A struct art_avro_projector belongs to one thread; make one
 * per consumer thread.
 */
#ifndef ART_AVRO_PROJECT_H
#define ART_AVRO_PROJECT_H

#include <avro.h>
#include <jansson.h>
#include <stddef.h>

#include "schema.h"

struct art_tree;

/* Zero-size items (null, empty records) one record may hold in arrays and
 * maps: bounds what a corrupt block count can make us append. */
#define ART_AVRO_PROJECT_MAX_EMPTY_ITEMS 65536

/* A reader pinned to one schema, with compiled plans per writer schema. */
struct art_avro_projector;

/* Returns a projector onto reader (a schema of reg; reg and reader must
 * outlive it), or NULL with the reason in errstr (the reader's .avsc cannot
 * be parsed, out of memory). Caller frees with art_avro_project_destroy().
 * The projector then belongs to the calling thread. */
struct art_avro_projector *art_avro_project_new(const struct art_schema_registry *reg,
                                                const struct art_schema *reader, char *errstr,
                                                size_t errstr_size);

/* Frees pj and its plans; NULL is a no-op. */
void art_avro_project_destroy(struct art_avro_projector *pj);

/* Decodes the wire-format value buf (len bytes) and projects it onto the
 * reader schema into out, which must be a value of the reader's schema
 * (avro_generic_value_new(reader->iface, ...)); out is reset first, so one
 * value can be reused for every record. Returns 0, with the writer's
 * schema in *writerp (may be NULL); or -1 with the reason in errstr (not
 * wire format, unknown schema id, malformed or truncated body, trailing
 * bytes, the writer's schema not readable as the reader's — a field without
 * default, a type that does not resolve, an enum symbol or union branch the
 * reader lacks); out is then in an unspecified but valid state. */
int art_avro_project_read(struct art_avro_projector *pj, const void *buf, size_t len,
                          avro_value_t *out, const struct art_schema **writerp, char *errstr,
                          size_t errstr_size);

/* As art_avro_project_read(), rendering the projected record as JSON with
 * avro_codec.h's mapping into a new object in *out (caller json_decref()s).
 * The reader must be a schema of the projector's registry. */
int art_avro_project_read_json(struct art_avro_projector *pj, const void *buf, size_t len,
                               json_t **out, const struct art_schema **writerp, char *errstr,
                               size_t errstr_size);

/* As art_avro_project_read(), filling tree (reset first; avro_tree.h)
 * with the projected record instead of an Avro value: tree->root is the
 * record, its values are what art_avro_project_read_json() would render,
 * every string is copied into the tree's arena, and nothing else is
 * allocated once the plans and shapes exist. The tree refers to the
 * projector's record shapes and the reader schema's enum symbols: it is
 * valid until it is reset or the projector destroyed. On failure the
 * tree is empty (tree->root NULL). This is the consumer runtime's
 * decode. */
int art_avro_project_read_tree(struct art_avro_projector *pj, const void *buf, size_t len,
                               struct art_tree *tree, const struct art_schema **writerp,
                               char *errstr, size_t errstr_size);

/* One-shot projection without a projector (compiles the plan on every
 * call: for tools and tests, not for consumer loops). Creates a new value
 * of reader in *out (caller avro_value_decref()s) on success. Returns 0, or
 * -1 with the reason in errstr (nothing to free). Thread-safe. */
int art_avro_project(const struct art_schema_registry *reg, const void *buf, size_t len,
                     const struct art_schema *reader, avro_value_t *out, char *errstr,
                     size_t errstr_size);

/* One-shot projection to JSON (as art_avro_project_read_json()); caller
 * json_decref()s *out. Thread-safe. */
int art_avro_project_json(const struct art_schema_registry *reg, const void *buf, size_t len,
                          const struct art_schema *reader, json_t **out, char *errstr,
                          size_t errstr_size);

#endif

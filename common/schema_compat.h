/*
 * schema_compat.h — Avro schema resolution on the .avsc JSON: a parsed
 * schema graph that keeps what Avro C drops (field defaults, aliases, enum
 * defaults), the Avro specification's resolution rules over it, and the
 * FULL-compatibility check of every version chain of a registry (`artery
 * schema check`, docs/schema-evolution.md).
 *
 * Why not Avro C: Avro C 1.11 forgets "default" and "aliases" when it parses
 * a schema, and its resolved reader/writer rejects defaulted fields and
 * crashes on maps (DESIGN §4). The same rules serve the checker here and
 * the reader projection in avro_project.h, so what the check accepts is
 * exactly what consumers can read.
 *
 * The rules (reader R reads data written with writer W):
 *   - same primitive type; or a promotion: int -> long, float, double;
 *     long -> float, double; float -> double; string <-> bytes;
 *   - records, enums, fixed: the names match — the unqualified names are
 *     equal, or one of R's aliases names W — fixed also by size;
 *   - records: fields matched by name or by R's field aliases; a field of
 *     R that W lacks needs a default (valid for its type); fields of W that
 *     R lacks are skipped;
 *   - enums: every symbol of W exists in R, unless R has a default symbol;
 *   - arrays and maps: their items / values resolve;
 *   - W a union: every branch of W must be readable by R; R a union (W
 *     not): some branch of R must read W — the first of the same type
 *     (same name for named types), else the first that reads it by
 *     promotion.
 *
 * Sizes: schemas of a few hundred nodes; parsing one and checking a pair
 * take well under a millisecond (the check visits each (reader, writer)
 * pair of types once). Parsed schemas are read-only: any
 * number of threads may use one. Functions that fill a report are not
 * thread-safe on the same report.
 */
#ifndef ART_SCHEMA_COMPAT_H
#define ART_SCHEMA_COMPAT_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "schema.h"

#define ART_COMPAT_MAX_DEPTH 64     /* nesting limit when parsing a schema */
#define ART_COMPAT_MAX_NODES 100000 /* nodes per parsed schema */

/* The envelope every canonical subject starts with, in this order (DESIGN
 * §4, docs/schemas.md); the reference types are canonical.patient v1's. */
#define ART_COMPAT_ENVELOPE_FIELDS                                                                 \
	"event_id", "idempotency_key", "event_type", "occurred_at", "received_at", "source",       \
	    "source_message_id", "patient", "raw_ref"

/* Kinds of schema nodes. */
enum art_compat_kind {
	ART_COMPAT_NULL,
	ART_COMPAT_BOOLEAN,
	ART_COMPAT_INT,
	ART_COMPAT_LONG,
	ART_COMPAT_FLOAT,
	ART_COMPAT_DOUBLE,
	ART_COMPAT_BYTES,
	ART_COMPAT_STRING,
	ART_COMPAT_RECORD,
	ART_COMPAT_ENUM,
	ART_COMPAT_ARRAY,
	ART_COMPAT_MAP,
	ART_COMPAT_UNION,
	ART_COMPAT_FIXED,
};

struct art_compat_node;

/* One field of a record. Strings are borrowed from the schema's JSON. */
struct art_compat_field {
	const char *name;
	const char **aliases; /* field aliases (owned array, borrowed strings) */
	size_t alias_cnt;
	struct art_compat_node *type;
	json_t *def; /* the "default" value, borrowed; NULL when the field has none */
};

/* One node of a parsed schema. A named type (record, enum, fixed) is one
 * node however often it is referenced, so the graph may have cycles. */
struct art_compat_node {
	enum art_compat_kind kind;
	char *name;     /* record/enum/fixed: full name (namespace.name); else NULL */
	char **aliases; /* record/enum/fixed: aliases as full names */
	size_t alias_cnt;
	struct art_compat_field *fields; /* record */
	size_t field_cnt;
	const char **symbols; /* enum (borrowed strings) */
	size_t symbol_cnt;
	const char *enum_default;          /* enum "default" symbol, or NULL */
	struct art_compat_node *items;     /* array items, map values */
	struct art_compat_node **branches; /* union */
	size_t branch_cnt;
	size_t size; /* fixed */
};

/* A parsed .avsc: the JSON (which owns the borrowed strings and defaults)
 * and every node, freed together. */
struct art_compat_schema {
	json_t *json;
	struct art_compat_node *root;
	struct art_compat_node **nodes; /* every node, for freeing */
	size_t node_cnt;
	size_t node_cap;
};

/* Incompatibilities found by a check, one human-readable line each
 * ("path: reason"). Zero-initialise; free with art_schema_compat_report_free(). */
struct art_compat_report {
	char **lines;
	size_t cnt;
	size_t cap;
};

/* Parses an .avsc (len bytes of JSON text) into a schema graph: named
 * types resolved through namespaces, defaults and aliases kept. Returns
 * NULL with the reason in errstr (bad JSON, unknown type name, a redefined
 * name, nesting beyond ART_COMPAT_MAX_DEPTH, ...). Defaults are not
 * validated here (see art_schema_compat_defaults()). Caller frees with
 * art_schema_compat_destroy(). Any thread. */
struct art_compat_schema *art_schema_compat_parse(const char *text, size_t len, char *errstr,
                                                  size_t errstr_size);

/* Frees a parsed schema; NULL is a no-op. */
void art_schema_compat_destroy(struct art_compat_schema *cs);

/* Returns the name of a kind ("int", "record", ...). Static string. */
const char *art_schema_compat_kind_name(enum art_compat_kind kind);

/* Returns 1 when named types reader and writer match by name: equal
 * unqualified names, or an alias of reader names writer (full or
 * unqualified). Both must be records, enums or fixed of the same kind. */
int art_schema_compat_names_match(const struct art_compat_node *reader,
                                  const struct art_compat_node *writer);

/* Returns 1 when a value of writer's kind can be read as reader's without
 * looking inside (same primitive, a promotion, or same-kind named types
 * whose names match, fixed also by size, or arrays/maps). Unions: 0. */
int art_schema_compat_shallow_match(const struct art_compat_node *reader,
                                    const struct art_compat_node *writer);

/* Returns the index of the branch of reader union that reads writer (not a
 * union): the first of the same type, else the first reading it by
 * promotion; -1 when none. */
int art_schema_compat_union_pick(const struct art_compat_node *reader_union,
                                 const struct art_compat_node *writer);

/* Returns the index of the reader record's field that reads writer field
 * name wname (by name, then by the reader field's aliases), or -1. */
int art_schema_compat_field_find(const struct art_compat_node *reader_record, const char *wname);

/* Returns the index of symbol in enum en, or -1 (also when symbol is NULL). */
int art_schema_compat_enum_index(const struct art_compat_node *en, const char *symbol);

/* Checks that def is a valid default for node (Avro spec: a union's default
 * is for its first branch; bytes and fixed are strings of code points
 * 0-255; a record's missing fields need defaults of their own). Returns 1
 * when valid; else 0 with the reason in why (may be NULL). */
int art_schema_compat_default_ok(const struct art_compat_node *node, json_t *def, char *why,
                                 size_t why_size);

/* Adds to rep one line "<prefix><path>: <reason>" for each reason why data
 * written with writer cannot be read with reader. Returns the number of
 * lines added, or -1 when out of memory. */
int art_schema_compat_check(const struct art_compat_node *reader,
                            const struct art_compat_node *writer, const char *prefix,
                            struct art_compat_report *rep);

/* Adds to rep one line per field default (anywhere in cs) that does not
 * match its field's type, and per enum default that is not one of its
 * symbols. Returns the number of lines added, or -1 when out of memory. */
int art_schema_compat_defaults(const struct art_compat_schema *cs, const char *prefix,
                               struct art_compat_report *rep);

/* Decodes a JSON string default of a bytes or fixed type (each code point
 * 0-255 is one byte) from len bytes of UTF-8 at s into out, which has room
 * for at least len bytes. Returns the number of bytes, or -1 when a code
 * point is above 255 or the UTF-8 is malformed. */
long art_schema_compat_latin1(const char *s, size_t len, unsigned char *out);

/* Frees the lines of rep and zeroes it. */
void art_schema_compat_report_free(struct art_compat_report *rep);

/* The check behind `artery schema check`: for every subject of reg (or
 * only subject, when not NULL), in version order, v(N) and v(N+1) must be
 * FULL compatible (each reads the other's data), every default valid, and
 * every version of a "canonical.*" subject must start with the envelope
 * (ART_COMPAT_ENVELOPE_FIELDS, same names and types in order as
 * canonical.patient v1 of reg). Writes one line per subject to out —
 * "SUBJECT: ok (v1, v2)" or "SUBJECT: N problems" followed by the
 * reasons, indented, with direction and field path — then a summary line. Returns
 * 0 when everything is compatible, 1 when something is not, -1 with the
 * reason in errstr when a schema cannot be parsed, subject is unknown, or
 * memory runs out. Any single thread. */
int art_schema_compat_registry(const struct art_schema_registry *reg, const char *subject,
                               FILE *out, char *errstr, size_t errstr_size);

#endif

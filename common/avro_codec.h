/*
 * avro_codec.h — Artery record values: build an Avro value, encode it in
 * the Confluent wire format, decode wire-format bytes back (to JSON for
 * people and tools, or to an avro_value_t for consumers).
 *
 * Wire format (DESIGN §3): byte 0 is 0x00, bytes 1-4 the schema id (big
 * endian, the id of schemas/registry.json), then the Avro binary body
 * written with that schema. Any Kafka tool with the .avsc and the id can
 * read it (docs/schemas.md).
 *
 * Building: art_avro_value_new() gives a record of a registry schema with
 * every optional field (a union with null) set to null and every array and
 * map empty. Fill it with the art_avro_set_*() setters, which take a dotted
 * field path ("patient.birth_date") relative to the root or to a value you
 * got from art_avro_field()/art_avro_append(); optional records on the path
 * are switched from null to present on the way, and a union leaf takes the
 * branch matching the setter's type. Or fill a subtree from a jansson
 * object with art_avro_set_json(). Setter failures (unknown field, type
 * mismatch) are programming errors: each setter returns -1, and the first
 * failure is also kept in the value so that art_avro_value_encode() refuses
 * it — a mapper may set forty fields and check once. Reuse one value per
 * thread with art_avro_value_reset(): no allocation per record beyond the
 * encoded buffer.
 *
 * JSON mapping (both directions; docs/schemas.md): records are objects,
 * unions are the plain value of their branch (null for null; when filling,
 * the first non-null branch that fits the JSON type is taken), longs
 * (timestamps) integers, enums their symbol, bytes and fixed a string when
 * the bytes are valid UTF-8, else {"base64": "..."}; doubles that are NaN
 * or infinite the strings "NaN", "Infinity", "-Infinity". When filling from
 * JSON a missing field is null (optional fields), empty (arrays, maps) or
 * an error (anything else); unknown keys are errors. Bytes that may hold
 * NULs or invalid UTF-8 (raw HL7) are set with art_avro_set_bytes().
 *
 * Rates (measured on the dev VM): building and encoding a canonical.result
 * with five observations (~60 setter calls, 450 bytes) takes 25-40 us;
 * decoding it to JSON ~20 us. Decoding is bounds-checked against the buffer
 * (no allocation driven by a length in the input before it is checked), so
 * garbage never crashes a reader.
 * A struct art_avro_value belongs to one thread; decoding is thread-safe.
 */
#ifndef ART_AVRO_CODEC_H
#define ART_AVRO_CODEC_H

#include <avro.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "schema.h"

#define ART_AVRO_MAGIC       0x00               /* byte 0 of every wire-format value */
#define ART_AVRO_HEADER_SIZE 5                  /* magic + 4-byte big-endian schema id */
#define ART_AVRO_MAX_DEPTH   64                 /* nesting limit when decoding */
#define ART_AVRO_PATH_MAX    128                /* longest field name in a setter path */
#define ART_AVRO_MAX_ENCODED (64 * 1024 * 1024) /* largest value art_avro_value_encode makes */

/* A record being built for one registry schema. */
struct art_avro_value {
	const struct art_schema *schema; /* not owned; the registry outlives it */
	avro_value_t root;               /* the record; use with the setters */
	char err[256];                   /* first setter failure, "" when none */
	/* private: encode scratch, reused across records */
	char *wbuf;           /* header + body of the last encoding */
	size_t wcap;          /* bytes allocated at wbuf */
	avro_writer_t writer; /* memory writer over wbuf + header */
};

/* Returns a new, empty record of schema (optional fields null, arrays
 * empty), or NULL when Avro C cannot allocate. Caller frees with
 * art_avro_value_destroy(). Any thread; the value then belongs to it. */
struct art_avro_value *art_avro_value_new(const struct art_schema *schema);

/* Empties av for the next record (as new) and clears its error. */
void art_avro_value_reset(struct art_avro_value *av);

/* Frees av; NULL is a no-op. */
void art_avro_value_destroy(struct art_avro_value *av);

/* Encodes av in the wire format with av->schema->id. Returns 0 and a
 * malloc'd buffer in *bufp (caller frees, e.g. by handing it to
 * art_record_new()) of *lenp bytes; or -1 with the reason in errstr: the
 * first setter failure, or what Avro C rejected (e.g. a union left without
 * a branch). */
int art_avro_value_encode(struct art_avro_value *av, void **bufp, size_t *lenp, char *errstr,
                          size_t errstr_size);

/* Encodes any avro value (whose schema is the one registered as
 * schema_id) in the wire format. As art_avro_value_encode(). */
int art_avro_encode(avro_value_t *value, int32_t schema_id, void **bufp, size_t *lenp, char *errstr,
                    size_t errstr_size);

/*
 * Setters. `at` is the value path is relative to (NULL: av->root); path is
 * a dotted list of field names ("" or NULL: `at` itself). Each returns 0, or
 * -1 with the reason kept in av->err (only the first failure is kept).
 */

/* Sets a string field from a NUL-terminated string. */
int art_avro_set_string(struct art_avro_value *av, avro_value_t *at, const char *path,
                        const char *s);

/* Sets a string field from len bytes at s (no NUL needed; s must be UTF-8). */
int art_avro_set_stringn(struct art_avro_value *av, avro_value_t *at, const char *path,
                         const char *s, size_t len);

/* Sets a bytes field to len bytes at p (any byte values; copied). */
int art_avro_set_bytes(struct art_avro_value *av, avro_value_t *at, const char *path, const void *p,
                       size_t len);

/* Sets a long field (also timestamps); int and double fields accept it
 * when it fits. */
int art_avro_set_long(struct art_avro_value *av, avro_value_t *at, const char *path, int64_t v);

/* Sets an int field (long and double fields accept it too). */
int art_avro_set_int(struct art_avro_value *av, avro_value_t *at, const char *path, int32_t v);

/* Sets a double field (float fields accept it). */
int art_avro_set_double(struct art_avro_value *av, avro_value_t *at, const char *path, double v);

/* Sets a boolean field. */
int art_avro_set_boolean(struct art_avro_value *av, avro_value_t *at, const char *path, int v);

/* Sets an optional field back to null. */
int art_avro_set_null(struct art_avro_value *av, avro_value_t *at, const char *path);

/* Sets an enum field by symbol. */
int art_avro_set_enum(struct art_avro_value *av, avro_value_t *at, const char *path,
                      const char *symbol);

/* Stores in *out the field at path (an optional record is made present,
 * its own optional fields null), to pass as `at` to further setters.
 * *out is borrowed from av: valid until av is reset or destroyed. */
int art_avro_field(struct art_avro_value *av, avro_value_t *at, const char *path,
                   avro_value_t *out);

/* Appends a new element to the array at path (made present if optional)
 * and stores it in *elem (borrowed, as art_avro_field). A record element
 * starts with its optional fields null. */
int art_avro_append(struct art_avro_value *av, avro_value_t *at, const char *path,
                    avro_value_t *elem);

/* Adds (or replaces) key in the map at path and stores the entry in *elem
 * (borrowed, as art_avro_field). */
int art_avro_map_put(struct art_avro_value *av, avro_value_t *at, const char *path, const char *key,
                     avro_value_t *elem);

/* Fills the value at path from json following the JSON mapping above (an
 * object for a record: missing optional fields become null). json is not
 * modified or kept. */
int art_avro_set_json(struct art_avro_value *av, avro_value_t *at, const char *path, json_t *json);

/*
 * Decoding.
 */

/* Reads the wire-format header of buf. Returns 0 and the schema id in
 * *idp, or -1 with the reason in errstr (too short, or byte 0 is not 0x00).
 * Any thread. */
int art_avro_wire_id(const void *buf, size_t len, int32_t *idp, char *errstr, size_t errstr_size);

/* Decodes a wire-format value to JSON (the mapping above). Returns 0 with a
 * new object in *out (caller json_decref()s) and the id in *schema_id (may be
 * NULL); or -1 with the reason in errstr (not wire format, unknown id,
 * truncated or malformed body, trailing bytes); *schema_id is still set when
 * the header could be read, else -1. Bounded work and memory for any input.
 * Thread-safe. */
int art_avro_decode_json(const struct art_schema_registry *reg, const void *buf, size_t len,
                         json_t **out, int *schema_id, char *errstr, size_t errstr_size);

/* Decodes a wire-format value into a new generic avro value of the writer's
 * schema (the body is bounds-checked first). Returns 0 with *out set
 * (caller avro_value_decref()s) and the writer's schema in *schemap (may be
 * NULL); or -1 with the reason in errstr. Thread-safe. */
int art_avro_decode_value(const struct art_schema_registry *reg, const void *buf, size_t len,
                          avro_value_t *out, const struct art_schema **schemap, char *errstr,
                          size_t errstr_size);

/* Renders len bytes as JSON: a string when they are valid UTF-8, else
 * {"base64": "..."} (RFC 4648, padded). Returns a new reference, or NULL
 * when out of memory. Used for bytes fields, keys and headers. */
json_t *art_avro_bytes_json(const void *p, size_t len);

#endif

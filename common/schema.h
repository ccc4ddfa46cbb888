/*
 * schema.h — the schema registry: schemas/registry.json and every .avsc it
 * names, parsed once at start-up with Avro C.
 *
 * registry.json maps each (subject, version) to a permanent numeric id (the
 * id in the Confluent wire-format header of every record) and to the .avsc
 * file relative to the schemas directory (docs/schemas.md). Which directory:
 * an explicit argument, else $ARTERY_SCHEMAS_DIR, else ./schemas when it
 * holds a registry.json, else the source tree's schemas/ (ART_SOURCE_DIR,
 * a compile definition) — see art_schema_dir().
 *
 * Sizes: a handful of subjects with a few versions each; lookups are linear
 * scans over at most a few dozen entries. A loaded registry is read-only:
 * any number of threads may look schemas up and encode/decode with them.
 */
#ifndef ART_SCHEMA_H
#define ART_SCHEMA_H

#include <avro.h>
#include <stddef.h>
#include <stdint.h>

/* Caps on what the registry will read. */
#define ART_SCHEMA_MAX_FILE    (1024 * 1024) /* bytes per registry.json or .avsc */
#define ART_SCHEMA_MAX_ENTRIES 4096          /* entries in registry.json */

/* One (subject, version) of the registry. */
struct art_schema {
	int32_t id;                /* permanent wire-format id, >= 1 */
	char *subject;             /* e.g. "canonical.patient" */
	int version;               /* >= 1 */
	char *file;                /* path relative to the schemas dir, e.g. "raw.hl7v2/v1.avsc" */
	char *text;                /* the .avsc as read (NUL-terminated) */
	avro_schema_t avro;        /* parsed schema; owned */
	avro_value_iface_t *iface; /* generic value class for avro; owned */
};

/* All schemas of one schemas directory. Read-only after load. */
struct art_schema_registry {
	char *dir;                  /* the schemas directory it was loaded from */
	struct art_schema *schemas; /* in registry.json order */
	size_t cnt;
};

/* Returns the schemas directory to use when none is given: $ARTERY_SCHEMAS_DIR
 * when set and non-empty, else "schemas" when ./schemas/registry.json
 * exists, else ART_SOURCE_DIR "/schemas". The string is static or from the
 * environment; do not free. Any thread (reads the environment). */
const char *art_schema_dir(void);

/* Loads dir/registry.json and every .avsc it names (dir NULL: art_schema_dir()).
 * Validates the registry: known keys only, subjects of [A-Za-z0-9._-],
 * versions and ids >= 1, ids and (subject, version) pairs unique, files
 * relative without "..", every file parsing with Avro C. Returns NULL with
 * the reason (file and entry named) in errstr. Caller frees with
 * art_schema_registry_destroy(). Start-up, any single thread. */
struct art_schema_registry *art_schema_registry_load(const char *dir, char *errstr,
                                                     size_t errstr_size);

/* Frees the registry and every schema in it; NULL is a no-op. No schema
 * pointer taken from it may be used afterwards. */
void art_schema_registry_destroy(struct art_schema_registry *reg);

/* Returns the schema with wire id id, or NULL. Any thread. */
const struct art_schema *art_schema_by_id(const struct art_schema_registry *reg, int32_t id);

/* Returns the schema of subject at version, or NULL. Any thread. */
const struct art_schema *art_schema_by_subject(const struct art_schema_registry *reg,
                                               const char *subject, int version);

/* Returns the highest version of subject, or NULL when the registry has no
 * such subject. Producers write with this one. Any thread. */
const struct art_schema *art_schema_latest(const struct art_schema_registry *reg,
                                           const char *subject);

#endif

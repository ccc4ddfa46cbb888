/*
 * helper_canon.h — what the canonical-mapping tests share: the schema
 * registry of the source tree, mapping a message given as segments, and
 * reading the decoded events by dotted path ("patient.names.0.family") the
 * way a consumer would see them.
 */
#ifndef ART_HELPER_CANON_H
#define ART_HELPER_CANON_H

#include <jansson.h>
#include <stddef.h>

#include "canonical.h"
#include "hl7.h"
#include "schema.h"

#define CT_RAW_HASH "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define CT_CHANNEL "adt-feed"
#define CT_MAX_EV 8

/* The registry loaded by ct_setup() (a Criterion .init), freed by
 * ct_teardown(). */
extern struct art_schema_registry *ct_reg;
void ct_setup(void);
void ct_teardown(void);

/* A message under test: its text, the parse, the mapping result and each
 * event decoded back to JSON. */
struct ct_mapped {
	char *text;
	struct art_hl7_msg *msg;
	struct art_canon_result res;
	enum art_canon_status st;
	char err[512];
	json_t *ev[CT_MAX_EV];
};

/* Segments joined with CR (malloc'd). */
char *ct_join_segments(const char *const *segs);

/* Parses text (taking it), maps it on channel CT_CHANNEL with raw hash
 * CT_RAW_HASH, and decodes every event; asserts that each decodes with its
 * schema id and goes to the topic of its subject. */
void ct_map_text(struct ct_mapped *m, char *text);
void ct_map_segs(struct ct_mapped *m, const char *const *segs);
void ct_unmap(struct ct_mapped *m);

/* The JSON value at a dotted path; numeric components index arrays. */
json_t *ct_jat(json_t *j, const char *path);
const char *ct_jstr(json_t *j, const char *path);
void ct_assert_str(json_t *j, const char *path, const char *want);
void ct_assert_null(json_t *j, const char *path);
size_t ct_jlen(json_t *j, const char *path);
long long ct_jint(json_t *j, const char *path);
double ct_jreal(json_t *j, const char *path);
/* Whether the string array at path holds s. */
int ct_jhas(json_t *j, const char *path, const char *s);

#endif

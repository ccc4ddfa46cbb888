/*
 * schema.c — loads schemas/registry.json with jansson and each .avsc with
 * Avro C; answers lookups by id, by (subject, version) and latest version.
 * Runs once at start-up; everything after that is read-only.
 */
#include "schema.h"

#include "art.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef ART_SOURCE_DIR
#define ART_SOURCE_DIR "."
#endif

const char *art_schema_dir(void)
{
	const char *env = getenv("ARTERY_SCHEMAS_DIR");

	if (env && *env)
		return env;
	if (access("schemas/registry.json", R_OK) == 0)
		return "schemas";
	return ART_SOURCE_DIR "/schemas";
}

/* A subject is a topic-like name: letters, digits, '.', '_' and '-'. */
static int art_schema_subject_ok(const char *s)
{
	if (!*s || strlen(s) > 249)
		return 0;
	for (; *s; s++) {
		char c = *s;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* A registry file is relative and stays inside the schemas directory. */
static int art_schema_file_ok(const char *f)
{
	const char *p = f;

	if (!*f || *f == '/')
		return 0;
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return 0;
		p += n;
		if (*p == '/')
			p++;
	}
	return 1;
}

/* Reads and parses one .avsc into s (subject, version, id, file already
 * set). Returns 0 or -1 with the reason in errstr. */
static int art_schema_load_one(const char *dir, struct art_schema *s, char *errstr,
                               size_t errstr_size)
{
	char path[4096];
	size_t len = 0;
	int n;

	n = snprintf(path, sizeof(path), "%s/%s", dir, s->file);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		snprintf(errstr, errstr_size, "%s: path too long", s->file);
		return -1;
	}
	s->text = art_read_file(path, ART_SCHEMA_MAX_FILE, &len, errstr, errstr_size);
	if (!s->text)
		return -1;
	if (avro_schema_from_json_length(s->text, len, &s->avro) != 0) {
		s->avro = NULL;
		snprintf(errstr, errstr_size, "%s: not a valid Avro schema: %s", path,
		         avro_strerror());
		return -1;
	}
	if (avro_typeof(s->avro) != AVRO_RECORD) {
		snprintf(errstr, errstr_size, "%s: top-level type must be a record", path);
		return -1;
	}
	s->iface = avro_generic_class_from_schema(s->avro);
	if (!s->iface) {
		snprintf(errstr, errstr_size, "%s: %s", path, avro_strerror());
		return -1;
	}
	return 0;
}

/* Fills s from one registry.json entry (without loading the file).
 * Returns 0 or -1 with "registry.json: schemas[i]: reason" in errstr. */
static int art_schema_parse_entry(json_t *e, size_t i, struct art_schema *s, char *errstr,
                                  size_t errstr_size)
{
	const char *key;
	json_t *v;
	json_t *subject, *version, *id, *file;

	if (!json_is_object(e)) {
		snprintf(errstr, errstr_size, "registry.json: schemas[%zu]: not an object", i);
		return -1;
	}
	json_object_foreach(e, key, v)
	{
		if (strcmp(key, "subject") && strcmp(key, "version") && strcmp(key, "id") &&
		    strcmp(key, "file")) {
			snprintf(errstr, errstr_size,
			         "registry.json: schemas[%zu]: unknown key '%s'", i, key);
			return -1;
		}
	}
	subject = json_object_get(e, "subject");
	version = json_object_get(e, "version");
	id = json_object_get(e, "id");
	file = json_object_get(e, "file");
	if (!json_is_string(subject) || !art_schema_subject_ok(json_string_value(subject))) {
		snprintf(errstr, errstr_size,
		         "registry.json: schemas[%zu]: subject must be a string of [A-Za-z0-9._-]",
		         i);
		return -1;
	}
	if (!json_is_integer(version) || json_integer_value(version) < 1 ||
	    json_integer_value(version) > 1000000) {
		snprintf(errstr, errstr_size, "registry.json: schemas[%zu]: bad version", i);
		return -1;
	}
	if (!json_is_integer(id) || json_integer_value(id) < 1 ||
	    json_integer_value(id) > INT32_MAX) {
		snprintf(errstr, errstr_size,
		         "registry.json: schemas[%zu]: id must be an integer in [1, 2^31-1]", i);
		return -1;
	}
	if (!json_is_string(file) || !art_schema_file_ok(json_string_value(file))) {
		snprintf(errstr, errstr_size,
		         "registry.json: schemas[%zu]: file must be a relative path without ..", i);
		return -1;
	}
	s->subject = strdup(json_string_value(subject));
	s->file = strdup(json_string_value(file));
	if (!s->subject || !s->file) {
		snprintf(errstr, errstr_size, "out of memory");
		return -1;
	}
	s->version = (int)json_integer_value(version);
	s->id = (int32_t)json_integer_value(id);
	return 0;
}

/* Checks that ids and (subject, version) pairs are unique. */
static int art_schema_check_unique(const struct art_schema_registry *reg, char *errstr,
                                   size_t errstr_size)
{
	for (size_t i = 0; i < reg->cnt; i++) {
		for (size_t j = 0; j < i; j++) {
			const struct art_schema *a = &reg->schemas[i], *b = &reg->schemas[j];

			if (a->id == b->id) {
				snprintf(errstr, errstr_size,
				         "registry.json: id %d used by both %s:%d and %s:%d",
				         (int)a->id, b->subject, b->version, a->subject,
				         a->version);
				return -1;
			}
			if (a->version == b->version && !strcmp(a->subject, b->subject)) {
				snprintf(errstr, errstr_size,
				         "registry.json: %s version %d registered twice",
				         a->subject, a->version);
				return -1;
			}
		}
	}
	return 0;
}

struct art_schema_registry *art_schema_registry_load(const char *dir, char *errstr,
                                                     size_t errstr_size)
{
	struct art_schema_registry *reg = NULL;
	char path[4096];
	char *text = NULL;
	size_t len = 0;
	json_t *root = NULL, *arr;
	json_error_t jerr;
	const char *key;
	json_t *v;
	int n;

	if (!dir)
		dir = art_schema_dir();
	n = snprintf(path, sizeof(path), "%s/registry.json", dir);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		snprintf(errstr, errstr_size, "%s: path too long", dir);
		return NULL;
	}
	text = art_read_file(path, ART_SCHEMA_MAX_FILE, &len, errstr, errstr_size);
	if (!text)
		return NULL;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		snprintf(errstr, errstr_size, "%s:%d: %s", path, jerr.line, jerr.text);
		goto fail;
	}
	if (!json_is_object(root)) {
		snprintf(errstr, errstr_size, "%s: expected an object", path);
		goto fail;
	}
	json_object_foreach(root, key, v)
	{
		if (strcmp(key, "schemas")) {
			snprintf(errstr, errstr_size, "%s: unknown key '%s'", path, key);
			goto fail;
		}
	}
	arr = json_object_get(root, "schemas");
	if (!json_is_array(arr) || json_array_size(arr) > ART_SCHEMA_MAX_ENTRIES) {
		snprintf(errstr, errstr_size, "%s: \"schemas\" must be an array of at most %d",
		         path, ART_SCHEMA_MAX_ENTRIES);
		goto fail;
	}
	reg = calloc(1, sizeof(*reg));
	if (!reg)
		goto oom;
	reg->dir = strdup(dir);
	reg->schemas = calloc(json_array_size(arr) + 1, sizeof(*reg->schemas));
	if (!reg->dir || !reg->schemas)
		goto oom;
	for (size_t i = 0; i < json_array_size(arr); i++) {
		struct art_schema *s = &reg->schemas[i];

		reg->cnt = i + 1; /* so that destroy frees a half-filled entry */
		if (art_schema_parse_entry(json_array_get(arr, i), i, s, errstr, errstr_size))
			goto fail;
	}
	if (art_schema_check_unique(reg, errstr, errstr_size))
		goto fail;
	for (size_t i = 0; i < reg->cnt; i++)
		if (art_schema_load_one(dir, &reg->schemas[i], errstr, errstr_size))
			goto fail;
	json_decref(root);
	free(text);
	return reg;
oom:
	snprintf(errstr, errstr_size, "out of memory");
fail:
	art_schema_registry_destroy(reg);
	json_decref(root);
	free(text);
	return NULL;
}

void art_schema_registry_destroy(struct art_schema_registry *reg)
{
	if (!reg)
		return;
	for (size_t i = 0; i < reg->cnt; i++) {
		struct art_schema *s = &reg->schemas[i];

		if (s->iface)
			avro_value_iface_decref(s->iface);
		if (s->avro)
			avro_schema_decref(s->avro);
		free(s->subject);
		free(s->file);
		free(s->text);
	}
	free(reg->schemas);
	free(reg->dir);
	free(reg);
}

const struct art_schema *art_schema_by_id(const struct art_schema_registry *reg, int32_t id)
{
	for (size_t i = 0; i < reg->cnt; i++)
		if (reg->schemas[i].id == id)
			return &reg->schemas[i];
	return NULL;
}

const struct art_schema *art_schema_by_subject(const struct art_schema_registry *reg,
                                               const char *subject, int version)
{
	for (size_t i = 0; i < reg->cnt; i++)
		if (reg->schemas[i].version == version && !strcmp(reg->schemas[i].subject, subject))
			return &reg->schemas[i];
	return NULL;
}

const struct art_schema *art_schema_latest(const struct art_schema_registry *reg,
                                           const char *subject)
{
	const struct art_schema *best = NULL;

	for (size_t i = 0; i < reg->cnt; i++) {
		const struct art_schema *s = &reg->schemas[i];

		if (!strcmp(s->subject, subject) && (!best || s->version > best->version))
			best = s;
	}
	return best;
}

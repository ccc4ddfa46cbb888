/*
 * test_schema.c — the schemas directory and the registry module: every
 * .avsc parses with Avro C and is registered, registry entries are sound
 * (existing files, unique permanent ids), canonical subjects share the
 * envelope, optional fields are evolvable, and the loader rejects bad
 * registries with a message naming what is wrong.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "art.h"
#include "schema.h"

#define SCHEMAS ART_SOURCE_DIR "/schemas"

/* The envelope every canonical record starts with (DESIGN §4). */
static const char *const envelope[] = {
    "event_id", "idempotency_key",   "event_type", "occurred_at", "received_at",
    "source",   "source_message_id", "patient",    "raw_ref",
};

static json_t *load_json(const char *path)
{
	json_error_t jerr;
	json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);

	cr_assert_not_null(j, "%s:%d: %s", path, jerr.line, jerr.text);
	return j;
}

Test(schema, every_avsc_parses_with_avro_c_and_is_registered)
{
	json_t *reg = load_json(SCHEMAS "/registry.json");
	DIR *top = opendir(SCHEMAS);
	struct dirent *de;
	int seen = 0;

	cr_assert_not_null(top);
	for (de = readdir(top); de; de = readdir(top)) {
		char sub[1024];
		DIR *d;
		struct dirent *fe;

		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), SCHEMAS "/%s", de->d_name);
		d = opendir(sub);
		if (!d)
			continue; /* registry.json */
		for (fe = readdir(d); fe; fe = readdir(d)) {
			char path[2048], rel[1024], err[256];
			size_t n = strlen(fe->d_name), len;
			avro_schema_t s;
			char *text;
			int registered = 0;
			size_t i;
			json_t *e;

			if (n < 6 || strcmp(fe->d_name + n - 5, ".avsc"))
				continue;
			snprintf(path, sizeof(path), "%s/%s", sub, fe->d_name);
			snprintf(rel, sizeof(rel), "%s/%s", de->d_name, fe->d_name);
			text = art_read_file(path, 1 << 20, &len, err, sizeof(err));
			cr_assert_not_null(text, "%s", err);
			cr_assert_eq(avro_schema_from_json_length(text, len, &s), 0, "%s: %s", rel,
			             avro_strerror());
			avro_schema_decref(s);
			free(text);
			json_array_foreach(json_object_get(reg, "schemas"), i, e)
			{
				if (!strcmp(json_string_value(json_object_get(e, "file")), rel))
					registered = 1;
			}
			cr_assert(registered, "%s is not in registry.json", rel);
			seen++;
		}
		closedir(d);
	}
	closedir(top);
	cr_assert_geq(seen, 3);
	json_decref(reg);
}

Test(schema, registry_entries_point_to_files_and_ids_are_unique)
{
	json_t *reg = load_json(SCHEMAS "/registry.json");
	json_t *arr = json_object_get(reg, "schemas"), *e, *f;
	size_t i, j;

	cr_assert(json_is_array(arr));
	cr_assert_geq(json_array_size(arr), 3);
	json_array_foreach(arr, i, e)
	{
		char path[1024], want[512];
		struct stat st;
		const char *subject = json_string_value(json_object_get(e, "subject"));
		json_int_t version = json_integer_value(json_object_get(e, "version"));
		json_int_t id = json_integer_value(json_object_get(e, "id"));
		const char *file = json_string_value(json_object_get(e, "file"));

		cr_assert_not_null(subject);
		cr_assert_not_null(file);
		cr_assert_gt(version, 0);
		cr_assert_gt(id, 0);
		snprintf(path, sizeof(path), SCHEMAS "/%s", file);
		cr_assert_eq(stat(path, &st), 0, "registry entry %zu: %s does not exist", i, path);
		/* The layout convention: <subject>/v<N>.avsc. */
		snprintf(want, sizeof(want), "%s/v%lld.avsc", subject, (long long)version);
		cr_assert_str_eq(file, want);
		json_array_foreach(arr, j, f)
		{
			if (j >= i)
				break;
			cr_assert_neq(id, json_integer_value(json_object_get(f, "id")),
			              "id %lld used twice", (long long)id);
		}
	}
	json_decref(reg);
}

Test(schema, load_and_lookup)
{
	char err[512];
	struct art_schema_registry *reg = art_schema_registry_load(SCHEMAS, err, sizeof(err));
	const struct art_schema *s;

	cr_assert_not_null(reg, "%s", err);
	s = art_schema_by_id(reg, 1);
	cr_assert_not_null(s);
	cr_assert_str_eq(s->subject, "raw.hl7v2");
	cr_assert_eq(s->version, 1);
	cr_assert_str_eq(avro_schema_name(s->avro), "RawMessage");
	cr_assert_not_null(s->iface);

	s = art_schema_by_subject(reg, "canonical.patient", 1);
	cr_assert_not_null(s);
	cr_assert_eq(s->id, 2);
	cr_assert_eq(art_schema_latest(reg, "canonical.result"), art_schema_by_id(reg, 3));
	cr_assert_eq(art_schema_latest(reg, "canonical.result")->version, 1);

	cr_assert_null(art_schema_by_id(reg, 0));
	cr_assert_null(art_schema_by_id(reg, 9999));
	cr_assert_null(art_schema_by_subject(reg, "canonical.patient", 99));
	cr_assert_null(art_schema_latest(reg, "no.such.subject"));
	art_schema_registry_destroy(reg);
	art_schema_registry_destroy(NULL);
}

Test(schema, canonical_subjects_share_the_envelope)
{
	char err[512];
	struct art_schema_registry *reg = art_schema_registry_load(SCHEMAS, err, sizeof(err));
	const struct art_schema *ref;
	int canonical = 0;

	cr_assert_not_null(reg, "%s", err);
	ref = art_schema_latest(reg, "canonical.patient");
	cr_assert_not_null(ref);
	for (size_t i = 0; i < reg->cnt; i++) {
		const struct art_schema *s = &reg->schemas[i];

		if (strncmp(s->subject, "canonical.", 10))
			continue;
		canonical++;
		for (size_t k = 0; k < ART_ARRAY_SIZE(envelope); k++) {
			avro_schema_t a = avro_schema_record_field_get(s->avro, envelope[k]);
			avro_schema_t b = avro_schema_record_field_get(ref->avro, envelope[k]);
			int ia = avro_schema_record_field_get_index(s->avro, envelope[k]);

			cr_assert_not_null(a, "%s:%d lacks envelope field %s", s->subject,
			                   s->version, envelope[k]);
			cr_assert(avro_schema_equal(a, b), "%s:%d: envelope field %s differs",
			          s->subject, s->version, envelope[k]);
			cr_assert_eq(ia, avro_schema_record_field_get_index(ref->avro, envelope[k]),
			             "%s:%d: envelope field %s out of order", s->subject,
			             s->version, envelope[k]);
		}
		/* The envelope comes first. */
		for (int k = 0; k < (int)ART_ARRAY_SIZE(envelope); k++) {
			const char *name = avro_schema_record_field_name(s->avro, k);
			int found = 0;

			for (size_t m = 0; m < ART_ARRAY_SIZE(envelope); m++)
				found |= !strcmp(name, envelope[m]);
			cr_assert(found, "%s: field %d (%s) is not an envelope field", s->subject,
			          k, name);
		}
	}
	cr_assert_geq(canonical, 2);
	art_schema_registry_destroy(reg);
}

/* Walks an .avsc (as JSON) and checks every field can evolve: a union has
 * null first and default null; an array defaults to [], a map to {}. */
static void check_evolvable(const char *file, json_t *type)
{
	json_t *fields, *f, *t;
	size_t i;

	if (json_is_array(type)) {
		json_array_foreach(type, i, t) check_evolvable(file, t);
		return;
	}
	if (!json_is_object(type))
		return;
	t = json_object_get(type, "type");
	if (json_is_string(t) && !strcmp(json_string_value(t), "array"))
		check_evolvable(file, json_object_get(type, "items"));
	if (json_is_string(t) && !strcmp(json_string_value(t), "map"))
		check_evolvable(file, json_object_get(type, "values"));
	fields = json_object_get(type, "fields");
	json_array_foreach(fields, i, f)
	{
		const char *name = json_string_value(json_object_get(f, "name"));
		json_t *ft = json_object_get(f, "type");
		json_t *def = json_object_get(f, "default");

		if (json_is_array(ft)) {
			cr_assert_str_eq(json_string_value(json_array_get(ft, 0)), "null",
			                 "%s: optional field %s must list null first", file, name);
			cr_assert(def && json_is_null(def),
			          "%s: optional field %s needs default null", file, name);
		}
		if (json_is_object(ft) &&
		    !strcmp(json_string_value(json_object_get(ft, "type")), "array"))
			cr_assert(json_is_array(def) && json_array_size(def) == 0,
			          "%s: array field %s needs default []", file, name);
		if (json_is_object(ft) &&
		    !strcmp(json_string_value(json_object_get(ft, "type")), "map"))
			cr_assert(json_is_object(def) && json_object_size(def) == 0,
			          "%s: map field %s needs default {}", file, name);
		check_evolvable(file, ft);
	}
}

Test(schema, optional_fields_default_to_null_and_arrays_to_empty)
{
	json_t *reg = load_json(SCHEMAS "/registry.json"), *e;
	size_t i;

	json_array_foreach(json_object_get(reg, "schemas"), i, e)
	{
		char path[1024];
		json_t *avsc;

		snprintf(path, sizeof(path), SCHEMAS "/%s",
		         json_string_value(json_object_get(e, "file")));
		avsc = load_json(path);
		check_evolvable(path, avsc);
		json_decref(avsc);
	}
	json_decref(reg);
}

Test(schema, dir_comes_from_the_environment_first)
{
	setenv("ARTERY_SCHEMAS_DIR", "/tmp/some/where", 1);
	cr_assert_str_eq(art_schema_dir(), "/tmp/some/where");
	unsetenv("ARTERY_SCHEMAS_DIR");
	/* Tests run in the build directory, which has no schemas/. */
	if (access("schemas/registry.json", R_OK) != 0)
		cr_assert_str_eq(art_schema_dir(), ART_SOURCE_DIR "/schemas");
}

/* A bad registry and the part of the message that must name the problem. */
struct bad_registry {
	const char *registry;
	const char *avsc; /* written as a/v1.avsc; NULL: none */
	const char *want;
};

static const struct bad_registry bad[] = {
    {"{\"schemas\":[{\"subject\":\"a\",\"version\":1,\"id\":1,\"file\":\"a/v1.avsc\"},"
     "{\"subject\":\"a\",\"version\":2,\"id\":1,\"file\":\"a/v1.avsc\"}]}",
     "\"string\"", "id 1 used by both"},
    {"{\"schemas\":[{\"subject\":\"a\",\"version\":1,\"id\":1,\"file\":\"a/v1.avsc\"},"
     "{\"subject\":\"a\",\"version\":1,\"id\":2,\"file\":\"a/v1.avsc\"}]}",
     NULL, "registered twice"},
    {"{\"schemas\":[{\"subject\":\"a\",\"version\":1,\"id\":1,\"file\":\"a/v1.avsc\","
     "\"colour\":\"red\"}]}",
     NULL, "unknown key 'colour'"},
    {"{\"schemas\":[],\"extra\":1}", NULL, "unknown key 'extra'"},
    {"{\"schemas\":[{\"subject\":\"a\",\"version\":1,\"id\":1,\"file\":\"../a/v1.avsc\"}]}", NULL,
     "relative path"},
    {"{\"schemas\":[{\"subject\":\"a b\",\"version\":1,\"id\":1,\"file\":\"a/v1.avsc\"}]}", NULL,
     "subject"},
    {"{\"schemas\":[{\"subject\":\"a\",\"version\":0,\"id\":1,\"file\":\"a/v1.avsc\"}]}", NULL,
     "bad version"},
    {"{\"schemas\":[{\"subject\":\"a\",\"version\":1,\"id\":-4,\"file\":\"a/v1.avsc\"}]}", NULL,
     "id must be"},
    {"{\"schemas\":[{\"subject\":\"a\",\"version\":1,\"id\":1,\"file\":\"a/v9.avsc\"}]}", NULL,
     "v9.avsc"},
    {"{\"schemas\":[{\"subject\":\"a\",\"version\":1,\"id\":1,\"file\":\"a/v1.avsc\"}]}",
     "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"x\",\"type\":\"nope\"}]}",
     "not a valid Avro schema"},
    {"{\"schemas\":[{\"subject\":\"a\",\"version\":1,\"id\":1,\"file\":\"a/v1.avsc\"}]}",
     "\"string\"", "must be a record"},
    {"{\"schemas\": [", NULL, "registry.json:"},
};

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	cr_assert_not_null(fp, "%s", path);
	fputs(text, fp);
	fclose(fp);
}

Test(schema, rejects_bad_registries_naming_the_problem)
{
	for (size_t i = 0; i < ART_ARRAY_SIZE(bad); i++) {
		char dir[] = "/tmp/art-schema-XXXXXX", path[256], err[512];
		struct art_schema_registry *reg;

		cr_assert_not_null(mkdtemp(dir));
		snprintf(path, sizeof(path), "%s/registry.json", dir);
		write_file(path, bad[i].registry);
		snprintf(path, sizeof(path), "%s/a", dir);
		mkdir(path, 0700);
		if (bad[i].avsc) {
			snprintf(path, sizeof(path), "%s/a/v1.avsc", dir);
			write_file(path, bad[i].avsc);
		}
		err[0] = '\0';
		reg = art_schema_registry_load(dir, err, sizeof(err));
		cr_assert_null(reg, "case %zu loaded", i);
		cr_assert(strstr(err, bad[i].want), "case %zu: '%s' does not mention '%s'", i, err,
		          bad[i].want);
		snprintf(path, sizeof(path), "%s/a/v1.avsc", dir);
		unlink(path);
		snprintf(path, sizeof(path), "%s/a", dir);
		rmdir(path);
		snprintf(path, sizeof(path), "%s/registry.json", dir);
		unlink(path);
		rmdir(dir);
	}
}

Test(schema, missing_directory_is_an_error)
{
	char err[512];

	cr_assert_null(art_schema_registry_load("/nonexistent/schemas", err, sizeof(err)));
	cr_assert(strstr(err, "/nonexistent/schemas/registry.json"), "%s", err);
}

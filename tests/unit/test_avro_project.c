/*
 * test_avro_project.c — reader projection: records written with one schema
 * and read as another, compared as JSON with what a reader of that schema
 * must see. Promotions, unions, enums (with and without a reader default),
 * maps, arrays, nested records, every kind of default, aliases, errors
 * that depend on the data (an unreadable union branch or enum symbol), the
 * real canonical.patient v1 <-> v2 in both directions, value reuse, and
 * garbage input (truncations, hostile lengths and counts, deep nesting,
 * random mutations) that must fail cleanly, never crash. Every case is
 * read twice: into an Avro value (rendered as JSON) and into a tree
 * (avro_tree.h, the consumer runtime's decode), which must say the same.
 */
#include <criterion/criterion.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "art.h"
#include "avro_codec.h"
#include "avro_project.h"
#include "avro_tree.h"
#include "schema.h"

#define SCHEMAS ART_SOURCE_DIR "/schemas"

/* One schema of a test registry. */
struct src {
	const char *subject;
	int version;
	int id;
	const char *json;
};

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	cr_assert_not_null(fp, "%s", path);
	cr_assert_eq(fputs(text, fp) >= 0, 1);
	cr_assert_eq(fclose(fp), 0);
}

/* Loads a registry made of srcs (written to a temporary directory, which
 * is removed again: the registry keeps the text in memory). */
static struct art_schema_registry *make_registry(const struct src *srcs, size_t n)
{
	char dir[] = "/tmp/art-project-XXXXXX";
	char path[PATH_MAX], line[512], err[512];
	char *reg_json;
	size_t cap = 64 + n * 200, off = 0;
	struct art_schema_registry *reg;

	cr_assert_not_null(mkdtemp(dir));
	reg_json = calloc(1, cap);
	cr_assert_not_null(reg_json);
	off += (size_t)snprintf(reg_json + off, cap - off, "{\"schemas\": [");
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, srcs[i].subject);
		mkdir(path, 0700);
		snprintf(path, sizeof(path), "%s/%s/v%d.avsc", dir, srcs[i].subject,
		         srcs[i].version);
		write_file(path, srcs[i].json);
		snprintf(line, sizeof(line),
		         "%s{\"subject\": \"%s\", \"version\": %d, \"id\": %d, \"file\": "
		         "\"%s/v%d.avsc\"}",
		         i ? "," : "", srcs[i].subject, srcs[i].version, srcs[i].id,
		         srcs[i].subject, srcs[i].version);
		off += (size_t)snprintf(reg_json + off, cap - off, "%s", line);
	}
	snprintf(reg_json + off, cap - off, "]}");
	snprintf(path, sizeof(path), "%s/registry.json", dir);
	write_file(path, reg_json);
	free(reg_json);
	reg = art_schema_registry_load(dir, err, sizeof(err));
	cr_assert_not_null(reg, "%s", err);
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s/v%d.avsc", dir, srcs[i].subject,
		         srcs[i].version);
		unlink(path);
		snprintf(path, sizeof(path), "%s/%s", dir, srcs[i].subject);
		rmdir(path);
	}
	snprintf(path, sizeof(path), "%s/registry.json", dir);
	unlink(path);
	rmdir(dir);
	return reg;
}

static json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);

	cr_assert_not_null(j, "%s: %s", text, jerr.text);
	return j;
}

/* Encodes json (text) with the schema of id; caller frees *buf. */
static void *encode(const struct art_schema_registry *reg, int id, const char *text, size_t *len)
{
	const struct art_schema *s = art_schema_by_id(reg, id);
	struct art_avro_value *av;
	json_t *j = parse(text);
	char err[512];
	void *buf;

	cr_assert_not_null(s, "schema id %d", id);
	av = art_avro_value_new(s);
	cr_assert_not_null(av);
	cr_assert_eq(art_avro_set_json(av, NULL, NULL, j), 0, "%s", av->err);
	cr_assert_eq(art_avro_value_encode(av, &buf, len, err, sizeof(err)), 0, "%s", err);
	art_avro_value_destroy(av);
	json_decref(j);
	return buf;
}

static void assert_json_eq(json_t *got, const char *want_text, const char *what)
{
	json_t *want = parse(want_text);
	char *g = json_dumps(got, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
	char *w = json_dumps(want, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);

	cr_assert(json_equal(got, want), "%s:\n got  %s\n want %s", what, g, w);
	free(g);
	free(w);
	json_decref(want);
}

/* Writes in (JSON text) with writer id, reads it as reader id, compares
 * with want (JSON text). */
static void roundtrip(const struct art_schema_registry *reg, int writer, int reader, const char *in,
                      const char *want)
{
	char err[512];
	size_t len;
	void *buf = encode(reg, writer, in, &len);
	json_t *got = NULL;
	int rc = art_avro_project_json(reg, buf, len, art_schema_by_id(reg, reader), &got, err,
	                               sizeof(err));

	cr_assert_eq(rc, 0, "%s read as id %d: %s", in, reader, err);
	assert_json_eq(got, want, in);
	json_decref(got);
	{
		/* the tree the consumer runtime reads: the same record */
		struct art_avro_projector *pj =
		    art_avro_project_new(reg, art_schema_by_id(reg, reader), err, sizeof(err));
		struct art_tree t;

		cr_assert_not_null(pj, "%s", err);
		art_tree_init(&t);
		for (int pass = 0; pass < 2; pass++) { /* the second reuses plans and arena */
			cr_assert_eq(art_avro_project_read_tree(pj, buf, len, &t, NULL, err, sizeof(err)),
			             0, "%s read into a tree: %s", in, err);
			got = art_tree_to_json(t.root);
			assert_json_eq(got, want, in);
			json_decref(got);
		}
		art_tree_free(&t);
		art_avro_project_destroy(pj);
	}
	free(buf);
}

/* As roundtrip, but the read must fail with reason in the message. */
static void roundtrip_fails(const struct art_schema_registry *reg, int writer, int reader,
                            const char *in, const char *reason)
{
	char err[512];
	size_t len;
	void *buf = encode(reg, writer, in, &len);
	json_t *got = NULL;
	int rc = art_avro_project_json(reg, buf, len, art_schema_by_id(reg, reader), &got, err,
	                               sizeof(err));

	cr_assert_eq(rc, -1, "%s read as id %d should fail", in, reader);
	cr_assert_null(got);
	cr_assert(strstr(err, reason), "'%s' not in '%s'", reason, err);
	{
		struct art_avro_projector *pj =
		    art_avro_project_new(reg, art_schema_by_id(reg, reader), err, sizeof(err));
		struct art_tree t;

		cr_assert_not_null(pj, "%s", err);
		art_tree_init(&t);
		cr_assert_eq(art_avro_project_read_tree(pj, buf, len, &t, NULL, err, sizeof(err)), -1);
		cr_assert_null(t.root, "no tree after a failed read");
		cr_assert(strstr(err, reason), "tree: '%s' not in '%s'", reason, err);
		art_tree_free(&t);
		art_avro_project_destroy(pj);
	}
	free(buf);
}

#define REC(name, fields)                                                                          \
	"{\"type\":\"record\",\"name\":\"" name "\",\"namespace\":\"t\",\"fields\":[" fields "]}"

Test(avro_project, promotions)
{
	static const struct src srcs[] = {
	    {"p", 1, 1,
	     REC("P", "{\"name\":\"i\",\"type\":\"int\"},{\"name\":\"l\",\"type\":\"long\"},"
	              "{\"name\":\"f\",\"type\":\"float\"},{\"name\":\"s\",\"type\":\"string\"},"
	              "{\"name\":\"b\",\"type\":\"bytes\"},{\"name\":\"i2\",\"type\":\"int\"},"
	              "{\"name\":\"l2\",\"type\":\"long\"},{\"name\":\"i3\",\"type\":\"int\"}")},
	    {"p", 2, 2,
	     REC("P",
	         "{\"name\":\"i\",\"type\":\"long\"},{\"name\":\"l\",\"type\":\"double\"},"
	         "{\"name\":\"f\",\"type\":\"double\"},{\"name\":\"s\",\"type\":\"bytes\"},"
	         "{\"name\":\"b\",\"type\":\"string\"},{\"name\":\"i2\",\"type\":\"float\"},"
	         "{\"name\":\"l2\",\"type\":\"float\"},{\"name\":\"i3\",\"type\":\"double\"}")},
	};
	struct art_schema_registry *reg = make_registry(srcs, ART_ARRAY_SIZE(srcs));

	roundtrip(reg, 1, 2,
	          "{\"i\":-7,\"l\":1099511627776,\"f\":1.5,\"s\":\"h\\u00e9\",\"b\":\"raw\","
	          "\"i2\":-3,\"l2\":4096,\"i3\":2147483647}",
	          "{\"i\":-7,\"l\":1099511627776.0,\"f\":1.5,\"s\":\"h\\u00e9\",\"b\":\"raw\","
	          "\"i2\":-3.0,\"l2\":4096.0,\"i3\":2147483647.0}");
	/* same schema: identity */
	roundtrip(reg, 1, 1,
	          "{\"i\":1,\"l\":2,\"f\":0.25,\"s\":\"\",\"b\":\"\",\"i2\":0,\"l2\":-1,\"i3\":3}",
	          "{\"i\":1,\"l\":2,\"f\":0.25,\"s\":\"\",\"b\":\"\",\"i2\":0,\"l2\":-1,\"i3\":3}");
	/* narrowing is not a promotion */
	roundtrip_fails(reg, 2, 1,
	                "{\"i\":1,\"l\":2.0,\"f\":0.25,\"s\":\"\",\"b\":\"\",\"i2\":0.0,\"l2\":1.0,"
	                "\"i3\":1.0}",
	                "i: the writer's long cannot be read as int");
	art_schema_registry_destroy(reg);
}

Test(avro_project, unions)
{
	static const struct src srcs[] = {
	    {"u", 1, 1,
	     REC("U", "{\"name\":\"a\",\"type\":[\"null\",\"string\"],\"default\":null},"
	              "{\"name\":\"b\",\"type\":[\"int\",\"string\"]},"
	              "{\"name\":\"c\",\"type\":\"string\"},{\"name\":\"d\",\"type\":\"int\"},"
	              "{\"name\":\"e\",\"type\":[\"null\",\"string\",\"int\"],\"default\":null}")},
	    {"u", 2, 2,
	     REC("U", "{\"name\":\"a\",\"type\":[\"null\",\"string\"],\"default\":null},"
	              "{\"name\":\"b\",\"type\":[\"string\",\"long\"]},"
	              "{\"name\":\"c\",\"type\":[\"null\",\"string\"],\"default\":null},"
	              "{\"name\":\"d\",\"type\":[\"null\",\"double\"],\"default\":null},"
	              "{\"name\":\"e\",\"type\":[\"null\",\"string\"],\"default\":null}")},
	};
	struct art_schema_registry *reg = make_registry(srcs, ART_ARRAY_SIZE(srcs));

	roundtrip(reg, 1, 2, "{\"a\":null,\"b\":5,\"c\":\"x\",\"d\":3,\"e\":null}",
	          "{\"a\":null,\"b\":5,\"c\":\"x\",\"d\":3.0,\"e\":null}");
	roundtrip(reg, 1, 2, "{\"a\":\"y\",\"b\":\"s\",\"c\":\"\",\"d\":0,\"e\":\"t\"}",
	          "{\"a\":\"y\",\"b\":\"s\",\"c\":\"\",\"d\":0.0,\"e\":\"t\"}");
	/* A writer branch the reader lacks fails only when a record holds it. */
	roundtrip_fails(reg, 1, 2, "{\"a\":null,\"b\":1,\"c\":\"x\",\"d\":1,\"e\":42}",
	                "e: the writer's int is in no branch of the reader's union");
	/* The reverse direction: writer union, reader plain: a null cannot be
	 * read as an int. */
	roundtrip_fails(reg, 2, 1, "{\"a\":null,\"b\":\"s\",\"c\":\"x\",\"d\":null,\"e\":null}",
	                "d: the writer's null cannot be read as int");
	art_schema_registry_destroy(reg);
}

Test(avro_project, enums)
{
	static const struct src srcs[] = {
	    {"e", 1, 1,
	     REC("E", "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"K\","
	              "\"symbols\":[\"A\",\"B\",\"D\"]}}")},
	    {"e", 2, 2,
	     REC("E", "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"K\","
	              "\"symbols\":[\"UNKNOWN\",\"B\",\"A\"],\"default\":\"UNKNOWN\"}}")},
	    {"e", 3, 3,
	     REC("E", "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"K\","
	              "\"symbols\":[\"B\",\"A\"]}}")},
	};
	struct art_schema_registry *reg = make_registry(srcs, ART_ARRAY_SIZE(srcs));

	roundtrip(reg, 1, 2, "{\"e\":\"A\"}", "{\"e\":\"A\"}");
	roundtrip(reg, 1, 2, "{\"e\":\"B\"}", "{\"e\":\"B\"}");
	roundtrip(reg, 1, 2, "{\"e\":\"D\"}", "{\"e\":\"UNKNOWN\"}");
	roundtrip(reg, 1, 3, "{\"e\":\"A\"}", "{\"e\":\"A\"}");
	roundtrip_fails(reg, 1, 3, "{\"e\":\"D\"}",
	                "enum symbol 'D' is not in the reader's t.K and it has no default");
	art_schema_registry_destroy(reg);
}

Test(avro_project, maps_arrays_and_nested_records)
{
	static const struct src srcs[] = {
	    {"m", 1, 1,
	     REC("M",
	         "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"int\"}},"
	         "{\"name\":\"mr\",\"type\":{\"type\":\"map\",\"values\":{\"type\":\"record\","
	         "\"name\":\"V\",\"fields\":[{\"name\":\"x\",\"type\":\"int\"},"
	         "{\"name\":\"y\",\"type\":\"string\"}]}}},"
	         "{\"name\":\"items\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\","
	         "\"name\":\"Item\",\"fields\":[{\"name\":\"name\",\"type\":\"string\"},"
	         "{\"name\":\"qty\",\"type\":\"int\"},{\"name\":\"sub\",\"type\":{\"type\":"
	         "\"record\",\"name\":\"Sub\",\"fields\":[{\"name\":\"deep\",\"type\":{\"type\":"
	         "\"record\",\"name\":\"Deep\",\"fields\":[{\"name\":\"v\",\"type\":\"float\"}]}}"
	         "]}}]}}},"
	         "{\"name\":\"grid\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"array\","
	         "\"items\":\"int\"}}}")},
	    {"m", 2, 2,
	     REC("M",
	         "{\"name\":\"items\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\","
	         "\"name\":\"Item\",\"fields\":[{\"name\":\"qty\",\"type\":\"double\"},"
	         "{\"name\":\"name\",\"type\":\"string\"},"
	         "{\"name\":\"extra\",\"type\":{\"type\":\"array\",\"items\":\"string\"},"
	         "\"default\":[\"d\"]},"
	         "{\"name\":\"sub\",\"type\":{\"type\":\"record\",\"name\":\"Sub\",\"fields\":["
	         "{\"name\":\"deep\",\"type\":{\"type\":\"record\",\"name\":\"Deep\",\"fields\":"
	         "[{\"name\":\"v\",\"type\":\"double\"},{\"name\":\"w\",\"type\":\"int\","
	         "\"default\":7}]}}]}}]}}},"
	         "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"long\"}},"
	         "{\"name\":\"mr\",\"type\":{\"type\":\"map\",\"values\":{\"type\":\"record\","
	         "\"name\":\"V\",\"fields\":[{\"name\":\"x\",\"type\":\"long\"},"
	         "{\"name\":\"z\",\"type\":\"string\",\"default\":\"zz\"}]}}},"
	         "{\"name\":\"grid\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"array\","
	         "\"items\":\"double\"}}}")},
	};
	struct art_schema_registry *reg = make_registry(srcs, ART_ARRAY_SIZE(srcs));

	roundtrip(
	    reg, 1, 2,
	    "{\"m\":{\"a\":1,\"b\":-2},\"mr\":{\"k\":{\"x\":1,\"y\":\"drop\"},\"j\":{\"x\":2,"
	    "\"y\":\"\"}},\"items\":[{\"name\":\"a\",\"qty\":1,\"sub\":{\"deep\":{\"v\":0.5}}},"
	    "{\"name\":\"b\",\"qty\":2,\"sub\":{\"deep\":{\"v\":2.0}}}],\"grid\":[[1,2],[],[3]]}",
	    "{\"m\":{\"a\":1,\"b\":-2},\"mr\":{\"k\":{\"x\":1,\"z\":\"zz\"},\"j\":{\"x\":2,"
	    "\"z\":\"zz\"}},\"items\":[{\"qty\":1.0,\"name\":\"a\",\"extra\":[\"d\"],\"sub\":"
	    "{\"deep\":{\"v\":0.5,\"w\":7}}},{\"qty\":2.0,\"name\":\"b\",\"extra\":[\"d\"],"
	    "\"sub\":{\"deep\":{\"v\":2.0,\"w\":7}}}],\"grid\":[[1.0,2.0],[],[3.0]]}");
	roundtrip(reg, 1, 2, "{\"m\":{},\"mr\":{},\"items\":[],\"grid\":[]}",
	          "{\"m\":{},\"mr\":{},\"items\":[],\"grid\":[]}");
	art_schema_registry_destroy(reg);
}

Test(avro_project, missing_fields_take_every_kind_of_default)
{
	static const struct src srcs[] = {
	    {"d", 1, 1, REC("D", "{\"name\":\"a\",\"type\":\"int\"}")},
	    {"d", 2, 2,
	     REC("D",
	         "{\"name\":\"a\",\"type\":\"int\"},"
	         "{\"name\":\"d_int\",\"type\":\"int\",\"default\":42},"
	         "{\"name\":\"d_long\",\"type\":\"long\",\"default\":5000000000},"
	         "{\"name\":\"d_str\",\"type\":\"string\",\"default\":\"x\"},"
	         "{\"name\":\"d_bytes\",\"type\":\"bytes\",\"default\":\"\\u00ff\\u0001\"},"
	         "{\"name\":\"d_bool\",\"type\":\"boolean\",\"default\":true},"
	         "{\"name\":\"d_float\",\"type\":\"float\",\"default\":1.5},"
	         "{\"name\":\"d_double\",\"type\":\"double\",\"default\":2},"
	         "{\"name\":\"d_arr\",\"type\":{\"type\":\"array\",\"items\":\"int\"},\"default\":["
	         "1,2]},"
	         "{\"name\":\"d_map\",\"type\":{\"type\":\"map\",\"values\":\"string\"},"
	         "\"default\":{\"k\":\"v\"}},"
	         "{\"name\":\"d_rec\",\"type\":{\"type\":\"record\",\"name\":\"Q\",\"fields\":["
	         "{\"name\":\"q\",\"type\":\"int\",\"default\":3},{\"name\":\"r\",\"type\":"
	         "\"string\"}]},"
	         "\"default\":{\"r\":\"rr\"}},"
	         "{\"name\":\"d_enum\",\"type\":{\"type\":\"enum\",\"name\":\"EE\",\"symbols\":["
	         "\"X\","
	         "\"Y\"]},\"default\":\"Y\"},"
	         "{\"name\":\"d_union\",\"type\":[\"null\",\"int\"],\"default\":null},"
	         "{\"name\":\"d_union2\",\"type\":[\"string\",\"null\"],\"default\":\"first\"},"
	         "{\"name\":\"d_fixed\",\"type\":{\"type\":\"fixed\",\"name\":\"F2\",\"size\":2},"
	         "\"default\":\"ab\"},"
	         "{\"name\":\"d_opt_rec\",\"type\":[\"null\",\"Q\"],\"default\":null}")},
	    {"d", 3, 3,
	     REC("D", "{\"name\":\"a\",\"type\":\"int\"},{\"name\":\"b\",\"type\":\"string\"}")},
	};
	struct art_schema_registry *reg = make_registry(srcs, ART_ARRAY_SIZE(srcs));

	roundtrip(reg, 1, 2, "{\"a\":1}",
	          "{\"a\":1,\"d_int\":42,\"d_long\":5000000000,\"d_str\":\"x\","
	          "\"d_bytes\":{\"base64\":\"/wE=\"},\"d_bool\":true,\"d_float\":1.5,"
	          "\"d_double\":2.0,\"d_arr\":[1,2],\"d_map\":{\"k\":\"v\"},"
	          "\"d_rec\":{\"q\":3,\"r\":\"rr\"},\"d_enum\":\"Y\",\"d_union\":null,"
	          "\"d_union2\":\"first\",\"d_fixed\":\"ab\",\"d_opt_rec\":null}");
	/* v2 data read as v1: everything v1 does not know is skipped. */
	roundtrip(reg, 2, 1,
	          "{\"a\":5,\"d_int\":1,\"d_long\":2,\"d_str\":\"s\",\"d_bytes\":\"b\","
	          "\"d_bool\":false,\"d_float\":0.5,\"d_double\":0.25,\"d_arr\":[9],"
	          "\"d_map\":{\"z\":\"y\"},\"d_rec\":{\"q\":1,\"r\":\"\"},\"d_enum\":\"X\","
	          "\"d_union\":4,\"d_union2\":\"u\",\"d_fixed\":\"zz\",\"d_opt_rec\":{\"q\":0,"
	          "\"r\":\"o\"}}",
	          "{\"a\":5}");
	/* A reader field without a default that the writer lacks: a clear error. */
	roundtrip_fails(reg, 1, 3, "{\"a\":1}",
	                "d:1 record read as d:3: b: the reader's field is not in the writer's "
	                "record D and has no default");
	art_schema_registry_destroy(reg);
}

Test(avro_project, aliases)
{
	static const struct src srcs[] = {
	    {"a", 1, 1,
	     REC("Old",
	         "{\"name\":\"patient_id\",\"type\":\"string\"},{\"name\":\"n\",\"type\":\"int\"},"
	         "{\"name\":\"c\",\"type\":{\"type\":\"record\",\"name\":\"Code\",\"fields\":["
	         "{\"name\":\"v\",\"type\":\"string\"}]}}")},
	    {"a", 2, 2,
	     "{\"type\":\"record\",\"name\":\"New\",\"namespace\":\"t\",\"aliases\":[\"Old\"],"
	     "\"fields\":[{\"name\":\"mrn\",\"aliases\":[\"patient_id\"],\"type\":\"string\"},"
	     "{\"name\":\"n\",\"type\":\"long\"},{\"name\":\"coding\",\"aliases\":[\"c\"],\"type\":"
	     "{\"type\":\"record\",\"name\":\"Coding\",\"aliases\":[\"t.Code\"],\"fields\":["
	     "{\"name\":\"value\",\"aliases\":[\"v\"],\"type\":\"string\"}]}}]}"},
	};
	struct art_schema_registry *reg = make_registry(srcs, ART_ARRAY_SIZE(srcs));

	roundtrip(reg, 1, 2, "{\"patient_id\":\"123\",\"n\":4,\"c\":{\"v\":\"x\"}}",
	          "{\"mrn\":\"123\",\"n\":4,\"coding\":{\"value\":\"x\"}}");
	art_schema_registry_destroy(reg);
}

/* A canonical.patient record as the mapper could write it. */
static const char patient_v1_json[] =
    "{\"event_id\":\"6f1c1b1e-0001\",\"idempotency_key\":\"adt-in:GH:MSG1\","
    "\"event_type\":\"patient.registered\",\"occurred_at\":{\"micros\":1704220201000000,"
    "\"utc_offset_minutes\":-300,\"precision\":\"second\",\"original\":\"20240102133001-0500\"},"
    "\"received_at\":1704220201123456,\"source\":{\"system\":\"EPIC\",\"facility\":\"GH\","
    "\"channel\":\"adt-in\"},\"source_message_id\":\"MSG1\",\"patient\":{\"identifiers\":"
    "[{\"value\":\"123456\",\"assigning_authority\":\"HOSP\",\"type\":\"MR\"}],\"names\":"
    "[{\"family\":\"Doe\",\"given\":[\"Jane\",\"Q\"]}],\"birth_date\":\"1980-01-02\","
    "\"sex\":\"F\"},\"trigger\":\"ADT^A04\",\"addresses\":[{\"lines\":[\"1 Main St\"],"
    "\"city\":\"Springfield\"}],\"telecoms\":[{\"value\":\"555-0100\",\"use\":\"PRN\"}],"
    "\"language\":{\"code\":\"en\"},\"deceased\":false,\"cleared_fields\":[\"patient.sex\"]}";

/* The same event written as v2, with the field v1 does not know. */
static char *patient_v2_json(void)
{
	json_t *j = parse(patient_v1_json);
	char *s;

	json_object_set_new(j, "primary_care_providers",
	                    parse("[{\"id\":\"D123\",\"assigning_authority\":\"NPI\",\"family\":"
	                          "\"House\",\"given\":[\"Gregory\"],\"degree\":\"MD\"}]"));
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return s;
}

/* What art_avro_decode_json shows for in written with schema id. */
static json_t *decoded(const struct art_schema_registry *reg, int id, const char *in)
{
	char err[512];
	size_t len;
	void *buf = encode(reg, id, in, &len);
	json_t *out;

	cr_assert_eq(art_avro_decode_json(reg, buf, len, &out, NULL, err, sizeof(err)), 0, "%s",
	             err);
	free(buf);
	return out;
}

Test(avro_project, patient_v2_read_by_a_v1_reader_and_v1_by_a_v2_reader)
{
	char err[512];
	struct art_schema_registry *reg = art_schema_registry_load(SCHEMAS, err, sizeof(err));
	const struct art_schema *v1, *v2;
	char *v2_in = patient_v2_json();
	json_t *want_v1, *want_v2, *got;
	size_t len;
	void *buf;

	cr_assert_not_null(reg, "%s", err);
	v1 = art_schema_by_subject(reg, "canonical.patient", 1);
	v2 = art_schema_by_subject(reg, "canonical.patient", 2);
	cr_assert_not_null(v1);
	cr_assert_not_null(v2);

	/* v2 data, v1 reader: exactly what a v1 writer would have shown —
	 * no field it does not know, nothing missing. */
	buf = encode(reg, v2->id, v2_in, &len);
	cr_assert_eq(art_avro_project_json(reg, buf, len, v1, &got, err, sizeof(err)), 0, "%s",
	             err);
	want_v1 = decoded(reg, v1->id, patient_v1_json);
	cr_assert(json_equal(got, want_v1), "v1 reader of v2 data");
	cr_assert_null(json_object_get(got, "primary_care_providers"));
	cr_assert_eq(json_object_size(got), json_object_size(want_v1));
	json_decref(got);
	/* and the v2 reader of v2 data sees the providers */
	cr_assert_eq(art_avro_project_json(reg, buf, len, v2, &got, err, sizeof(err)), 0, "%s",
	             err);
	want_v2 = decoded(reg, v2->id, v2_in);
	cr_assert(json_equal(got, want_v2));
	cr_assert_str_eq(
	    json_string_value(json_object_get(
	        json_array_get(json_object_get(got, "primary_care_providers"), 0), "family")),
	    "House");
	json_decref(got);
	json_decref(want_v2);
	free(buf);

	/* v1 data, v2 reader: the new field takes its default, []. */
	buf = encode(reg, v1->id, patient_v1_json, &len);
	cr_assert_eq(art_avro_project_json(reg, buf, len, v2, &got, err, sizeof(err)), 0, "%s",
	             err);
	cr_assert(json_is_array(json_object_get(got, "primary_care_providers")));
	cr_assert_eq(json_array_size(json_object_get(got, "primary_care_providers")), 0);
	json_object_del(got, "primary_care_providers");
	cr_assert(json_equal(got, want_v1), "v2 reader of v1 data, apart from the new field");
	json_decref(got);
	json_decref(want_v1);
	free(buf);
	free(v2_in);
	art_schema_registry_destroy(reg);
}

Test(avro_project, value_of_the_reader_schema_and_reuse)
{
	char err[512];
	struct art_schema_registry *reg = art_schema_registry_load(SCHEMAS, err, sizeof(err));
	const struct art_schema *v1 = art_schema_by_subject(reg, "canonical.patient", 1);
	const struct art_schema *v2 = art_schema_by_subject(reg, "canonical.patient", 2);
	const struct art_schema *writer = NULL;
	struct art_avro_projector *pj;
	char *v2_in = patient_v2_json();
	avro_value_t out, field, elem;
	const char *s = NULL;
	size_t len1, len2, n = 0, size;
	void *buf1, *buf2;
	avro_value_t one;

	cr_assert_not_null(reg, "%s", err);
	buf2 = encode(reg, v2->id, v2_in, &len2);
	buf1 = encode(reg, v1->id,
	              "{\"event_id\":\"e2\",\"idempotency_key\":\"k2\",\"event_type\":\"patient."
	              "updated\",\"received_at\":1,\"source\":{\"channel\":\"c\"}}",
	              &len1);

	/* one-shot: a new value of the reader's schema */
	cr_assert_eq(art_avro_project(reg, buf2, len2, v1, &one, err, sizeof(err)), 0, "%s", err);
	cr_assert(avro_schema_equal(avro_value_get_schema(&one), v1->avro));
	cr_assert_eq(avro_value_get_by_name(&one, "event_id", &field, NULL), 0);
	cr_assert_eq(avro_value_get_string(&field, &s, &size), 0);
	cr_assert_str_eq(s, "6f1c1b1e-0001");
	cr_assert_neq(avro_value_get_by_name(&one, "primary_care_providers", &field, NULL), 0);
	avro_value_decref(&one);

	/* a projector and one value reused: nothing of a record leaks into the next */
	pj = art_avro_project_new(reg, v2, err, sizeof(err));
	cr_assert_not_null(pj, "%s", err);
	cr_assert_eq(avro_generic_value_new(v2->iface, &out), 0);
	for (int round = 0; round < 3; round++) {
		cr_assert_eq(art_avro_project_read(pj, buf2, len2, &out, &writer, err, sizeof(err)),
		             0, "%s", err);
		cr_assert_eq(writer, v2);
		cr_assert_eq(avro_value_get_by_name(&out, "primary_care_providers", &field, NULL),
		             0);
		cr_assert_eq(avro_value_get_size(&field, &n), 0);
		cr_assert_eq(n, 1);
		cr_assert_eq(avro_value_get_by_name(&out, "telecoms", &field, NULL), 0);
		cr_assert_eq(avro_value_get_size(&field, &n), 0);
		cr_assert_eq(n, 1);

		cr_assert_eq(art_avro_project_read(pj, buf1, len1, &out, &writer, err, sizeof(err)),
		             0, "%s", err);
		cr_assert_eq(writer, v1);
		cr_assert_eq(avro_value_get_by_name(&out, "primary_care_providers", &field, NULL),
		             0);
		cr_assert_eq(avro_value_get_size(&field, &n), 0);
		cr_assert_eq(n, 0, "the default [] replaces the previous record's providers");
		cr_assert_eq(avro_value_get_by_name(&out, "telecoms", &field, NULL), 0);
		cr_assert_eq(avro_value_get_size(&field, &n), 0);
		cr_assert_eq(n, 0);
		cr_assert_eq(avro_value_get_by_name(&out, "patient", &field, NULL), 0);
		cr_assert_eq(avro_value_get_current_branch(&field, &elem), 0);
		cr_assert_eq(avro_value_get_type(&elem), AVRO_NULL);
	}
	avro_value_decref(&out);
	art_avro_project_destroy(pj);
	art_avro_project_destroy(NULL);
	free(buf1);
	free(buf2);
	free(v2_in);
	art_schema_registry_destroy(reg);
}

/* Decodes buf both ways; must not crash; returns the projector's rc. */
static struct art_tree garbage_tree; /* the tree reads of try_read() */

/* Reads buf into an Avro value and into a tree: both answer the same. */
static int try_read(struct art_avro_projector *pj, avro_value_t *out, const void *buf, size_t len,
                    char *err, size_t err_size)
{
	char err2[512];
	int rc = art_avro_project_read(pj, buf, len, out, NULL, err, err_size);
	int rc2 = art_avro_project_read_tree(pj, buf, len, &garbage_tree, NULL, err2, sizeof(err2));

	cr_assert_eq(rc, rc2, "value read %d (%s), tree read %d (%s)", rc, rc ? err : "",
	             rc2, rc2 ? err2 : "");
	if (rc2 == 0)
		cr_assert_not_null(garbage_tree.root);
	return rc;
}

Test(avro_project, garbage_fails_cleanly)
{
	static const struct src srcs[] = {
	    {"g", 1, 1,
	     REC("G",
	         "{\"name\":\"s\",\"type\":\"string\"},{\"name\":\"xs\",\"type\":{\"type\":"
	         "\"array\",\"items\":\"null\"}},{\"name\":\"m\",\"type\":{\"type\":\"map\","
	         "\"values\":[\"null\",\"long\"]}},{\"name\":\"e\",\"type\":{\"type\":\"enum\","
	         "\"name\":\"K\",\"symbols\":[\"A\",\"B\"]}},{\"name\":\"f\",\"type\":\"double\"},"
	         "{\"name\":\"ok\",\"type\":\"boolean\"},{\"name\":\"i\",\"type\":\"int\"}")},
	    {"node", 1, 2,
	     "{\"type\":\"record\",\"name\":\"Node\",\"fields\":[{\"name\":\"next\",\"type\":"
	     "[\"null\",\"Node\"]}]}"},
	};
	struct art_schema_registry *reg = make_registry(srcs, ART_ARRAY_SIZE(srcs));
	const struct art_schema *g = art_schema_by_id(reg, 1);
	struct art_avro_projector *pj;
	avro_value_t out;
	char err[512];
	size_t len;
	unsigned char *buf =
	    encode(reg, 1,
	           "{\"s\":\"hello\",\"xs\":[null,null],\"m\":{\"a\":1,\"b\":null},"
	           "\"e\":\"B\",\"f\":1.5,\"ok\":true,\"i\":-5}",
	           &len);
	unsigned char *mut = malloc(len + 16);
	unsigned int seed = 12345;

	pj = art_avro_project_new(reg, g, err, sizeof(err));
	cr_assert_not_null(pj, "%s", err);
	cr_assert_eq(avro_generic_value_new(g->iface, &out), 0);
	cr_assert_eq(try_read(pj, &out, buf, len, err, sizeof(err)), 0, "%s", err);

	/* not wire format, unknown id, trailing bytes */
	memcpy(mut, buf, len);
	mut[0] = 1;
	cr_assert_eq(try_read(pj, &out, mut, len, err, sizeof(err)), -1);
	cr_assert(strstr(err, "not Confluent wire format"), "%s", err);
	mut[0] = 0;
	mut[4] = 99;
	cr_assert_eq(try_read(pj, &out, mut, len, err, sizeof(err)), -1);
	cr_assert(strstr(err, "unknown schema id 99"), "%s", err);
	memcpy(mut, buf, len);
	mut[len] = 0;
	cr_assert_eq(try_read(pj, &out, mut, len + 1, err, sizeof(err)), -1);
	cr_assert(strstr(err, "1 trailing bytes"), "%s", err);

	/* every truncation */
	for (size_t n = 0; n < len; n++) {
		cr_assert_eq(try_read(pj, &out, buf, n, err, sizeof(err)), -1, "truncated at %zu",
		             n);
	}

	/* a string length far beyond the record */
	{
		static const unsigned char huge[] = {0, 0, 0, 0, 1, 0xfe, 0xff, 0xff, 0xff, 0x0f};

		cr_assert_eq(try_read(pj, &out, huge, sizeof(huge), err, sizeof(err)), -1);
		cr_assert(strstr(err, "beyond the end of the record"), "%s", err);
	}
	/* an array of nulls claiming 2^40 items */
	{
		static const unsigned char many[] = {0,    0,    0,    0,    1,    0x00, /* s "" */
		                                     0x80, 0x80, 0x80, 0x80, 0x80, 0x40 /* 2^40 */};

		cr_assert_eq(try_read(pj, &out, many, sizeof(many), err, sizeof(err)), -1);
		cr_assert(strstr(err, "empty items"), "%s", err);
	}
	/* every byte set to a spread of values (bad enum indexes, booleans,
	 * union branches, lengths): a clean answer each time */
	{
		for (size_t pos = ART_AVRO_HEADER_SIZE; pos < len; pos++) {
			for (int v = 0; v < 256; v += 17) {
				memcpy(mut, buf, len);
				mut[pos] = (unsigned char)v;
				(void)try_read(pj, &out, mut, len, err, sizeof(err));
			}
		}
	}
	/* random mutations: any answer, never a crash */
	for (int round = 0; round < 20000; round++) {
		size_t n = len;

		memcpy(mut, buf, len);
		for (int k = 0; k < 1 + round % 4; k++) {
			seed = seed * 1103515245u + 12345u;
			mut[ART_AVRO_HEADER_SIZE + (seed >> 8) % (len - ART_AVRO_HEADER_SIZE)] =
			    (unsigned char)(seed >> 16);
		}
		if (round % 7 == 0)
			n = ART_AVRO_HEADER_SIZE + (seed >> 4) % (len - ART_AVRO_HEADER_SIZE);
		(void)try_read(pj, &out, mut, n, err, sizeof(err));
	}
	/* the projector still works afterwards */
	cr_assert_eq(try_read(pj, &out, buf, len, err, sizeof(err)), 0, "%s", err);
	{
		json_t *got = art_tree_to_json(garbage_tree.root);

		assert_json_eq(got,
		               "{\"s\":\"hello\",\"xs\":[null,null],\"m\":{\"a\":1,\"b\":null},"
		               "\"e\":\"B\",\"f\":1.5,\"ok\":true,\"i\":-5}",
		               "after garbage");
		json_decref(got);
	}
	avro_value_decref(&out);
	art_avro_project_destroy(pj);
	art_tree_free(&garbage_tree);

	/* nesting beyond the limit: Node.next.next... 200 deep */
	{
		const struct art_schema *node = art_schema_by_id(reg, 2);
		unsigned char deep[5 + 201];
		json_t *j = NULL;

		memset(deep, 0, sizeof(deep));
		deep[4] = 2;
		for (int k = 0; k < 200; k++)
			deep[5 + k] = 2; /* branch 1 (Node) */
		deep[5 + 200] = 0;       /* branch 0 (null) */
		cr_assert_eq(
		    art_avro_project_json(reg, deep, sizeof(deep), node, &j, err, sizeof(err)), -1);
		cr_assert(strstr(err, "nested too deeply"), "%s", err);
		/* 10 deep is fine */
		deep[5 + 10] = 0;
		cr_assert_eq(art_avro_project_json(reg, deep, 5 + 11, node, &j, err, sizeof(err)),
		             0, "%s", err);
		json_decref(j);
	}
	free(mut);
	free(buf);
	art_schema_registry_destroy(reg);
}

Test(avro_project, rate)
{
	char err[512];
	struct art_schema_registry *reg = art_schema_registry_load(SCHEMAS, err, sizeof(err));
	const struct art_schema *v1 = art_schema_by_subject(reg, "canonical.patient", 1);
	const struct art_schema *v2 = art_schema_by_subject(reg, "canonical.patient", 2);
	struct art_avro_projector *pj = art_avro_project_new(reg, v1, err, sizeof(err));
	char *v2_in = patient_v2_json();
	size_t len;
	void *buf = encode(reg, v2->id, v2_in, &len);
	avro_value_t out;
	int64_t t0, t1;
	const int n = 20000;

	cr_assert_not_null(pj, "%s", err);
	cr_assert_eq(avro_generic_value_new(v1->iface, &out), 0);
	t0 = art_mono_us();
	for (int i = 0; i < n; i++)
		cr_assert_eq(art_avro_project_read(pj, buf, len, &out, NULL, err, sizeof(err)), 0);
	t1 = art_mono_us();
	fprintf(stderr, "avro_project: canonical.patient v2 (%zu bytes) -> v1: %.0f records/s\n",
	        len, n * 1e6 / (double)(t1 - t0 > 0 ? t1 - t0 : 1));
	/* one-shot: parses both schemas and compiles the plan every call */
	t0 = art_mono_us();
	for (int i = 0; i < 200; i++) {
		avro_value_t one;

		cr_assert_eq(art_avro_project(reg, buf, len, v1, &one, err, sizeof(err)), 0);
		avro_value_decref(&one);
	}
	t1 = art_mono_us();
	fprintf(stderr, "avro_project: one-shot (parse + plan + read): %.0f us per record\n",
	        (double)(t1 - t0) / 200.0);
	avro_value_decref(&out);
	art_avro_project_destroy(pj);
	free(buf);
	free(v2_in);
	art_schema_registry_destroy(reg);
}

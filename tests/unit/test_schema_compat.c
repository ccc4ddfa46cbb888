/*
 * test_schema_compat.c — the schema governance check: a table of reader /
 * writer pairs (inline .avsc JSON) that must or must not resolve under the
 * Avro specification's rules, with the reason and field path a user reads;
 * default validation; parse errors; and the check over whole registries —
 * the real schemas/ directory must pass (this is the `make test` gate), the
 * deliberately incompatible fixture must fail with named reasons.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "art.h"
#include "schema.h"
#include "schema_compat.h"

#define SCHEMAS ART_SOURCE_DIR "/schemas"
#define FIXTURE ART_SOURCE_DIR "/tests/fixtures/schemas-incompatible"

static struct art_compat_schema *parse(const char *json)
{
	char err[512];
	struct art_compat_schema *cs =
	    art_schema_compat_parse(json, strlen(json), err, sizeof(err));

	cr_assert_not_null(cs, "%s: %s", json, err);
	return cs;
}

/* Checks reader against writer; returns the report lines joined by '\n'
 * (caller frees) and the number of lines in *cnt. */
static char *check(const char *reader, const char *writer, int *cnt)
{
	struct art_compat_schema *r = parse(reader), *w = parse(writer);
	struct art_compat_report rep = {0};
	char *out = NULL;
	size_t len = 0;
	FILE *fp;

	*cnt = art_schema_compat_check(r->root, w->root, "", &rep);
	cr_assert_geq(*cnt, 0);
	cr_assert_eq((size_t)*cnt, rep.cnt);
	fp = open_memstream(&out, &len);
	cr_assert_not_null(fp);
	for (size_t i = 0; i < rep.cnt; i++)
		fprintf(fp, "%s\n", rep.lines[i]);
	fclose(fp);
	art_schema_compat_report_free(&rep);
	art_schema_compat_destroy(r);
	art_schema_compat_destroy(w);
	return out;
}

/* A record named R in namespace ns with the given fields (JSON text). */
#define REC(fields)                                                                                \
	"{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"t\",\"fields\":[" fields "]}"

struct compat_case {
	const char *name;
	const char *reader;
	const char *writer;
	const char *reason; /* NULL: compatible; else a substring of the report */
};

static const struct compat_case compat_cases[] = {
    /* identity and promotions */
    {"same", REC("{\"name\":\"a\",\"type\":\"int\"}"), REC("{\"name\":\"a\",\"type\":\"int\"}"),
     NULL},
    {"int_to_long", REC("{\"name\":\"a\",\"type\":\"long\"}"),
     REC("{\"name\":\"a\",\"type\":\"int\"}"), NULL},
    {"int_to_float", REC("{\"name\":\"a\",\"type\":\"float\"}"),
     REC("{\"name\":\"a\",\"type\":\"int\"}"), NULL},
    {"int_to_double", REC("{\"name\":\"a\",\"type\":\"double\"}"),
     REC("{\"name\":\"a\",\"type\":\"int\"}"), NULL},
    {"long_to_float", REC("{\"name\":\"a\",\"type\":\"float\"}"),
     REC("{\"name\":\"a\",\"type\":\"long\"}"), NULL},
    {"long_to_double", REC("{\"name\":\"a\",\"type\":\"double\"}"),
     REC("{\"name\":\"a\",\"type\":\"long\"}"), NULL},
    {"float_to_double", REC("{\"name\":\"a\",\"type\":\"double\"}"),
     REC("{\"name\":\"a\",\"type\":\"float\"}"), NULL},
    {"string_to_bytes", REC("{\"name\":\"a\",\"type\":\"bytes\"}"),
     REC("{\"name\":\"a\",\"type\":\"string\"}"), NULL},
    {"bytes_to_string", REC("{\"name\":\"a\",\"type\":\"string\"}"),
     REC("{\"name\":\"a\",\"type\":\"bytes\"}"), NULL},
    {"long_to_int", REC("{\"name\":\"a\",\"type\":\"int\"}"),
     REC("{\"name\":\"a\",\"type\":\"long\"}"), "a: the writer's long cannot be read as int"},
    {"double_to_float", REC("{\"name\":\"a\",\"type\":\"float\"}"),
     REC("{\"name\":\"a\",\"type\":\"double\"}"), "a: the writer's double cannot be read as float"},
    {"string_to_int", REC("{\"name\":\"a\",\"type\":\"int\"}"),
     REC("{\"name\":\"a\",\"type\":\"string\"}"), "a: the writer's string cannot be read as int"},
    {"boolean_to_int", REC("{\"name\":\"a\",\"type\":\"int\"}"),
     REC("{\"name\":\"a\",\"type\":\"boolean\"}"), "cannot be read as int"},
    /* records: added, removed, aliased fields */
    {"added_with_default",
     REC("{\"name\":\"a\",\"type\":\"int\"},{\"name\":\"b\",\"type\":[\"null\",\"string\"],"
         "\"default\":null}"),
     REC("{\"name\":\"a\",\"type\":\"int\"}"), NULL},
    {"added_without_default",
     REC("{\"name\":\"a\",\"type\":\"int\"},{\"name\":\"b\",\"type\":\"string\"}"),
     REC("{\"name\":\"a\",\"type\":\"int\"}"),
     "b: the reader's field is not in the writer's record R and has no default"},
    {"added_with_bad_default",
     REC("{\"name\":\"a\",\"type\":\"int\"},{\"name\":\"b\",\"type\":\"int\",\"default\":\"x\"}"),
     REC("{\"name\":\"a\",\"type\":\"int\"}"),
     "b: the reader's field is not in the writer's record R and its default is invalid"},
    {"writer_extra_field_ignored", REC("{\"name\":\"a\",\"type\":\"int\"}"),
     REC("{\"name\":\"a\",\"type\":\"int\"},{\"name\":\"z\",\"type\":\"string\"}"), NULL},
    {"field_order_irrelevant",
     REC("{\"name\":\"b\",\"type\":\"string\"},{\"name\":\"a\",\"type\":\"int\"}"),
     REC("{\"name\":\"a\",\"type\":\"int\"},{\"name\":\"b\",\"type\":\"string\"}"), NULL},
    {"field_alias", REC("{\"name\":\"mrn\",\"aliases\":[\"patient_id\"],\"type\":\"string\"}"),
     REC("{\"name\":\"patient_id\",\"type\":\"string\"}"), NULL},
    {"field_renamed_without_alias", REC("{\"name\":\"mrn\",\"type\":\"string\"}"),
     REC("{\"name\":\"patient_id\",\"type\":\"string\"}"),
     "mrn: the reader's field is not in the writer's record R"},
    {"record_renamed_with_alias",
     "{\"type\":\"record\",\"name\":\"New\",\"namespace\":\"t\",\"aliases\":[\"Old\"],\"fields\":[{"
     "\"name\":\"a\",\"type\":\"int\"}]}",
     "{\"type\":\"record\",\"name\":\"Old\",\"namespace\":\"t\",\"fields\":[{\"name\":\"a\","
     "\"type\":\"int\"}]}",
     NULL},
    {"record_renamed_with_full_alias",
     "{\"type\":\"record\",\"name\":\"New\",\"namespace\":\"t\",\"aliases\":[\"u.Old\"],\"fields\":"
     "[]}",
     "{\"type\":\"record\",\"name\":\"Old\",\"namespace\":\"u\",\"fields\":[]}", NULL},
    {"record_renamed_without_alias",
     "{\"type\":\"record\",\"name\":\"New\",\"namespace\":\"t\",\"fields\":[{\"name\":\"a\","
     "\"type\":\"int\"}]}",
     "{\"type\":\"record\",\"name\":\"Old\",\"namespace\":\"t\",\"fields\":[{\"name\":\"a\","
     "\"type\":\"int\"}]}",
     "(top): the writer's record Old does not match the reader's record New"},
    {"record_other_namespace_same_name",
     "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"x\",\"fields\":[]}",
     "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"y\",\"fields\":[]}", NULL},
    {"nested_record_path",
     REC("{\"name\":\"outer\",\"type\":{\"type\":\"record\",\"name\":\"O\",\"fields\":[{\"name\":"
         "\"inner\",\"type\":{\"type\":\"record\",\"name\":\"I\",\"fields\":[{\"name\":\"x\","
         "\"type\":\"int\"}]}}]}}"),
     REC("{\"name\":\"outer\",\"type\":{\"type\":\"record\",\"name\":\"O\",\"fields\":[{\"name\":"
         "\"inner\",\"type\":{\"type\":\"record\",\"name\":\"I\",\"fields\":[{\"name\":\"x\","
         "\"type\":\"string\"}]}}]}}"),
     "outer.inner.x: the writer's string cannot be read as int"},
    /* enums */
    {"enum_writer_subset",
     REC("{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\","
         "\"C\"]}}"),
     REC("{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"C\",\"A\"]}}"),
     NULL},
    {"enum_writer_extra_symbol",
     REC("{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}}"),
     REC("{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\","
         "\"C\",\"D\"]}}"),
     "e: enum E: the writer's symbol(s) C, D are not in the reader's symbols"},
    {"enum_extra_symbol_reader_default",
     REC("{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\","
         "\"UNKNOWN\"],\"default\":\"UNKNOWN\"}}"),
     REC("{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}}"),
     NULL},
    {"enum_renamed",
     REC("{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E2\",\"symbols\":[\"A\"]}}"),
     REC("{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]}}"),
     "e: the writer's enum E does not match the reader's enum E2"},
    /* unions */
    {"union_grows", REC("{\"name\":\"u\",\"type\":[\"null\",\"string\",\"int\"]}"),
     REC("{\"name\":\"u\",\"type\":[\"null\",\"string\"]}"), NULL},
    {"union_shrinks", REC("{\"name\":\"u\",\"type\":[\"null\",\"int\"]}"),
     REC("{\"name\":\"u\",\"type\":[\"null\",\"string\",\"int\"]}"),
     "u: the writer's union branch string is in no branch of the reader's union [null, int]"},
    {"union_branch_promoted", REC("{\"name\":\"u\",\"type\":[\"null\",\"double\"]}"),
     REC("{\"name\":\"u\",\"type\":[\"null\",\"int\",\"long\",\"float\"]}"), NULL},
    {"writer_union_reader_plain_ok", REC("{\"name\":\"u\",\"type\":\"long\"}"),
     REC("{\"name\":\"u\",\"type\":[\"int\",\"long\"]}"), NULL},
    {"writer_union_reader_plain_null", REC("{\"name\":\"u\",\"type\":\"string\"}"),
     REC("{\"name\":\"u\",\"type\":[\"null\",\"string\"]}"),
     "u: the writer's union branch null cannot be read as string"},
    {"writer_plain_reader_union",
     REC("{\"name\":\"u\",\"type\":[\"null\",\"string\"],\"default\":null}"),
     REC("{\"name\":\"u\",\"type\":\"string\"}"), NULL},
    {"writer_plain_reader_union_promoted", REC("{\"name\":\"u\",\"type\":[\"null\",\"long\"]}"),
     REC("{\"name\":\"u\",\"type\":\"int\"}"), NULL},
    {"writer_plain_reader_union_none", REC("{\"name\":\"u\",\"type\":[\"null\",\"string\"]}"),
     REC("{\"name\":\"u\",\"type\":\"boolean\"}"),
     "u: the writer's boolean is in no branch of the reader's union [null, string]"},
    {"union_record_branch_inner_mismatch",
     REC("{\"name\":\"u\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"X\",\"fields\":[{"
         "\"name\":\"v\",\"type\":\"int\"}]}]}"),
     REC("{\"name\":\"u\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"X\",\"fields\":[{"
         "\"name\":\"v\",\"type\":\"string\"}]}]}"),
     "u.v: the writer's string cannot be read as int"},
    /* arrays, maps, fixed */
    {"array_items_promoted",
     REC("{\"name\":\"xs\",\"type\":{\"type\":\"array\",\"items\":\"long\"}}"),
     REC("{\"name\":\"xs\",\"type\":{\"type\":\"array\",\"items\":\"int\"}}"), NULL},
    {"array_items_mismatch",
     REC("{\"name\":\"xs\",\"type\":{\"type\":\"array\",\"items\":\"int\"}}"),
     REC("{\"name\":\"xs\",\"type\":{\"type\":\"array\",\"items\":\"string\"}}"),
     "xs[]: the writer's string cannot be read as int"},
    {"map_values_mismatch",
     REC("{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":{\"type\":\"array\",\"items\":"
         "\"int\"}}}"),
     REC("{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":{\"type\":\"array\",\"items\":"
         "\"double\"}}}"),
     "m{}[]: the writer's double cannot be read as int"},
    {"array_vs_map", REC("{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"int\"}}"),
     REC("{\"name\":\"m\",\"type\":{\"type\":\"array\",\"items\":\"int\"}}"),
     "m: the writer's array cannot be read as map"},
    {"fixed_same", REC("{\"name\":\"h\",\"type\":{\"type\":\"fixed\",\"name\":\"H\",\"size\":16}}"),
     REC("{\"name\":\"h\",\"type\":{\"type\":\"fixed\",\"name\":\"H\",\"size\":16}}"), NULL},
    {"fixed_size_differs",
     REC("{\"name\":\"h\",\"type\":{\"type\":\"fixed\",\"name\":\"H\",\"size\":32}}"),
     REC("{\"name\":\"h\",\"type\":{\"type\":\"fixed\",\"name\":\"H\",\"size\":16}}"),
     "h: fixed H has 16 bytes in the writer, 32 in the reader"},
    {"fixed_renamed",
     REC("{\"name\":\"h\",\"type\":{\"type\":\"fixed\",\"name\":\"G\",\"size\":16}}"),
     REC("{\"name\":\"h\",\"type\":{\"type\":\"fixed\",\"name\":\"H\",\"size\":16}}"),
     "h: the writer's fixed H does not match the reader's fixed G"},
    /* named-type references and recursion */
    {"named_reference_resolves",
     REC("{\"name\":\"a\",\"type\":{\"type\":\"record\",\"name\":\"C\",\"fields\":[{\"name\":"
         "\"code\",\"type\":\"long\"}]}},{\"name\":\"b\",\"type\":[\"null\",\"C\"]}"),
     REC("{\"name\":\"a\",\"type\":{\"type\":\"record\",\"name\":\"C\",\"fields\":[{\"name\":"
         "\"code\",\"type\":\"int\"}]}},{\"name\":\"b\",\"type\":[\"null\",\"t.C\"]}"),
     NULL},
    {"named_reference_mismatch_reported_once",
     REC("{\"name\":\"a\",\"type\":{\"type\":\"record\",\"name\":\"C\",\"fields\":[{\"name\":"
         "\"code\",\"type\":\"int\"}]}},{\"name\":\"b\",\"type\":\"C\"}"),
     REC("{\"name\":\"a\",\"type\":{\"type\":\"record\",\"name\":\"C\",\"fields\":[{\"name\":"
         "\"code\",\"type\":\"string\"}]}},{\"name\":\"b\",\"type\":\"C\"}"),
     "a.code: the writer's string cannot be read as int"},
    {"recursive_list",
     "{\"type\":\"record\",\"name\":\"Node\",\"fields\":[{\"name\":\"v\",\"type\":\"long\"},{"
     "\"name\":\"next\",\"type\":[\"null\",\"Node\"]}]}",
     "{\"type\":\"record\",\"name\":\"Node\",\"fields\":[{\"name\":\"v\",\"type\":\"int\"},{"
     "\"name\":\"next\",\"type\":[\"null\",\"Node\"]}]}",
     NULL},
    {"recursive_list_mismatch",
     "{\"type\":\"record\",\"name\":\"Node\",\"fields\":[{\"name\":\"v\",\"type\":\"int\"},{"
     "\"name\":\"next\",\"type\":[\"null\",\"Node\"]}]}",
     "{\"type\":\"record\",\"name\":\"Node\",\"fields\":[{\"name\":\"v\",\"type\":\"string\"},{"
     "\"name\":\"next\",\"type\":[\"null\",\"Node\"]}]}",
     "v: the writer's string cannot be read as int"},
};

Test(schema_compat, pairs)
{
	for (size_t i = 0; i < ART_ARRAY_SIZE(compat_cases); i++) {
		const struct compat_case *c = &compat_cases[i];
		int cnt;
		char *out = check(c->reader, c->writer, &cnt);

		if (!c->reason) {
			cr_expect_eq(cnt, 0, "%s: expected compatible, got:\n%s", c->name, out);
		} else {
			cr_expect_gt(cnt, 0, "%s: expected incompatible", c->name);
			cr_expect(strstr(out, c->reason), "%s: expected '%s' in:\n%s", c->name,
			          c->reason, out);
		}
		free(out);
	}
}

Test(schema_compat, named_type_mismatch_is_reported_once)
{
	int cnt;
	char *out = check(compat_cases[ART_ARRAY_SIZE(compat_cases) - 3].reader,
	                  compat_cases[ART_ARRAY_SIZE(compat_cases) - 3].writer, &cnt);

	cr_assert_eq(cnt, 1, "%s", out);
	free(out);
}

struct default_case {
	const char *type;
	const char *def;
	int ok;
};

static const struct default_case default_cases[] = {
    {"\"null\"", "null", 1},
    {"\"null\"", "0", 0},
    {"\"boolean\"", "true", 1},
    {"\"boolean\"", "1", 0},
    {"\"int\"", "42", 1},
    {"\"int\"", "4294967296", 0},
    {"\"int\"", "1.5", 0},
    {"\"long\"", "4294967296", 1},
    {"\"float\"", "1", 1},
    {"\"double\"", "1.5", 1},
    {"\"double\"", "\"NaN\"", 0},
    {"\"string\"", "\"x\"", 1},
    {"\"string\"", "null", 0},
    {"\"bytes\"", "\"\\u00ff\\u0000a\"", 1},
    {"\"bytes\"", "\"\\u0100\"", 0},
    {"{\"type\":\"fixed\",\"name\":\"F\",\"size\":2}", "\"ab\"", 1},
    {"{\"type\":\"fixed\",\"name\":\"F\",\"size\":2}", "\"abc\"", 0},
    {"{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}", "\"B\"", 1},
    {"{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}", "\"C\"", 0},
    {"{\"type\":\"array\",\"items\":\"int\"}", "[1,2]", 1},
    {"{\"type\":\"array\",\"items\":\"int\"}", "[1,\"x\"]", 0},
    {"{\"type\":\"map\",\"values\":\"long\"}", "{\"a\":1}", 1},
    {"{\"type\":\"map\",\"values\":\"long\"}", "[]", 0},
    {"[\"null\",\"string\"]", "null", 1},
    {"[\"null\",\"string\"]", "\"x\"", 0}, /* a union's default is for its first branch */
    {"[\"string\",\"null\"]", "\"x\"", 1},
    {"{\"type\":\"record\",\"name\":\"P\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"},"
     "{\"name\":\"b\",\"type\":\"string\",\"default\":\"z\"}]}",
     "{\"a\":1}", 1},
    {"{\"type\":\"record\",\"name\":\"P\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}", "{}",
     0},
};

Test(schema_compat, defaults)
{
	for (size_t i = 0; i < ART_ARRAY_SIZE(default_cases); i++) {
		const struct default_case *c = &default_cases[i];
		char text[1024], why[256];
		struct art_compat_schema *cs;
		struct art_compat_report rep = {0};
		int ok;

		snprintf(text, sizeof(text), REC("{\"name\":\"f\",\"type\":%s,\"default\":%s}"),
		         c->type, c->def);
		cs = parse(text);
		ok = art_schema_compat_default_ok(cs->root->fields[0].type, cs->root->fields[0].def,
		                                  why, sizeof(why));
		cr_expect_eq(ok, c->ok, "%s default %s: %s", c->type, c->def, why);
		cr_expect_eq(art_schema_compat_defaults(cs, "", &rep), c->ok ? 0 : 1, "%s %s",
		             c->type, c->def);
		if (!c->ok && rep.cnt)
			cr_expect(strstr(rep.lines[0], "R.f: "), "%s", rep.lines[0]);
		art_schema_compat_report_free(&rep);
		art_schema_compat_destroy(cs);
	}
}

Test(schema_compat, parse_errors_are_named)
{
	static const struct {
		const char *json, *reason;
	} cases[] = {
	    {"{", "line 1"},
	    {REC("{\"name\":\"a\",\"type\":\"Nope\"}"), "unknown type 'Nope'"},
	    {REC("{\"name\":\"a\",\"type\":{\"type\":\"record\",\"name\":\"R\",\"fields\":[]}}"),
	     "type t.R defined twice"},
	    {REC("{\"name\":\"a\",\"type\":\"int\"},{\"name\":\"a\",\"type\":\"int\"}"),
	     "field a defined twice"},
	    {"{\"type\":\"enum\",\"name\":\"E\",\"symbols\":\"A\"}", "symbols"},
	    {"{\"type\":\"fixed\",\"name\":\"F\",\"size\":-1}", "bad size"},
	    {"{\"type\":\"record\",\"fields\":[]}", "without a name"},
	    {"42", "a type must be"},
	};
	char err[512];

	for (size_t i = 0; i < ART_ARRAY_SIZE(cases); i++) {
		struct art_compat_schema *cs =
		    art_schema_compat_parse(cases[i].json, strlen(cases[i].json), err, sizeof(err));

		cr_assert_null(cs, "%s parsed", cases[i].json);
		cr_assert(strstr(err, cases[i].reason), "%s: '%s' not in '%s'", cases[i].json,
		          cases[i].reason, err);
	}
}

Test(schema_compat, deep_nesting_is_refused)
{
	char json[8192] = "";
	char err[256];
	struct art_compat_schema *cs;
	size_t off = 0;

	for (int i = 0; i < ART_COMPAT_MAX_DEPTH + 5; i++)
		off += (size_t)snprintf(json + off, sizeof(json) - off,
		                        "{\"type\":\"array\",\"items\":");
	off += (size_t)snprintf(json + off, sizeof(json) - off, "\"int\"");
	for (int i = 0; i < ART_COMPAT_MAX_DEPTH + 5; i++)
		off += (size_t)snprintf(json + off, sizeof(json) - off, "}");
	cs = art_schema_compat_parse(json, off, err, sizeof(err));
	cr_assert_null(cs);
	cr_assert(strstr(err, "nested deeper"), "%s", err);
}

/* Runs the registry check on dir; returns the printed text (caller frees). */
static char *check_dir(const char *dir, const char *subject, int *rc)
{
	char err[512];
	struct art_schema_registry *reg = art_schema_registry_load(dir, err, sizeof(err));
	char *text = NULL;
	size_t len = 0;
	FILE *out;

	cr_assert_not_null(reg, "%s", err);
	out = open_memstream(&text, &len);
	cr_assert_not_null(out);
	*rc = art_schema_compat_registry(reg, subject, out, err, sizeof(err));
	fclose(out);
	if (*rc < 0) {
		free(text);
		text = strdup(err);
	}
	art_schema_registry_destroy(reg);
	return text;
}

/* The gate: every version chain of the real schemas/ is FULL compatible. */
Test(schema_compat, real_schemas_pass)
{
	int rc;
	char *out = check_dir(SCHEMAS, NULL, &rc);

	cr_assert_eq(rc, 0, "artery schema check over schemas/ failed:\n%s", out);
	cr_assert(strstr(out, "canonical.patient: ok (v1, v2)\n"), "%s", out);
	cr_assert(strstr(out, "all FULL compatible"), "%s", out);
	cr_assert_null(strstr(out, "note: envelope not checked"), "%s", out);
	free(out);
}

Test(schema_compat, patient_v2_is_full_compatible_both_ways)
{
	char err[512];
	struct art_schema_registry *reg = art_schema_registry_load(SCHEMAS, err, sizeof(err));
	const struct art_schema *v1, *v2;
	struct art_compat_schema *a, *b;
	struct art_compat_report rep = {0};

	cr_assert_not_null(reg, "%s", err);
	v1 = art_schema_by_subject(reg, "canonical.patient", 1);
	v2 = art_schema_by_subject(reg, "canonical.patient", 2);
	cr_assert_not_null(v2, "canonical.patient v2 is registered");
	cr_assert_eq(v2->id, 4);
	cr_assert_eq(art_schema_latest(reg, "canonical.patient"), v2);
	a = parse(v1->text);
	b = parse(v2->text);
	cr_assert_eq(art_schema_compat_check(a->root, b->root, "", &rep), 0);
	cr_assert_eq(art_schema_compat_check(b->root, a->root, "", &rep), 0);
	/* v2 differs from v1 only by the new field, at the end, with a default. */
	cr_assert_eq(b->root->field_cnt, a->root->field_cnt + 1);
	cr_assert_str_eq(b->root->fields[b->root->field_cnt - 1].name, "primary_care_providers");
	cr_assert_not_null(b->root->fields[b->root->field_cnt - 1].def);
	art_schema_compat_report_free(&rep);
	art_schema_compat_destroy(a);
	art_schema_compat_destroy(b);
	art_schema_registry_destroy(reg);
}

Test(schema_compat, subject_filter)
{
	int rc;
	char *out = check_dir(SCHEMAS, "canonical.patient", &rc);

	cr_assert_eq(rc, 0, "%s", out);
	cr_assert(strstr(out, "1 subject checked"), "%s", out);
	cr_assert_null(strstr(out, "raw.hl7v2"), "%s", out);
	free(out);
	out = check_dir(SCHEMAS, "no.such.subject", &rc);
	cr_assert_eq(rc, -1);
	cr_assert(strstr(out, "no subject 'no.such.subject'"), "%s", out);
	free(out);
}

/* The deliberately incompatible fixture fails, each reason named with its
 * direction and field path. */
Test(schema_compat, incompatible_fixture_fails)
{
	static const char *const reasons[] = {
	    "demo.vitals: 4 problems\n",
	    "  v1 reader, v2 data: value: the writer's string cannot be read as double\n",
	    "  v2 reader, v1 data: value: the writer's double cannot be read as string\n",
	    "  v2 reader, v1 data: kind: enum Kind: the writer's symbol(s) BP are not in the "
	    "reader's symbols and the reader has no default\n",
	    "  v2 reader, v1 data: unit: the reader's field is not in the writer's record Vitals "
	    "and has no default\n",
	    "canonical.lab: 1 problem\n",
	    "  v1: envelope: field 0 is 'id', expected 'event_id'",
	    "canonical.patient: ok (v1)\n",
	    "3 subjects checked, 2 with problems\n",
	};
	int rc;
	char *out = check_dir(FIXTURE, NULL, &rc);

	cr_assert_eq(rc, 1, "the fixture must fail:\n%s", out);
	for (size_t i = 0; i < ART_ARRAY_SIZE(reasons); i++)
		cr_assert(strstr(out, reasons[i]), "'%s' not in:\n%s", reasons[i], out);
	/* note was removed in v2, but it had a default: not a problem. */
	cr_assert_null(strstr(out, "note"), "%s", out);
	free(out);
}

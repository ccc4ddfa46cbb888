/*
 * helper_canon.c — shared fixtures of the canonical-mapping tests (see
 * helper_canon.h).
 */
#include "helper_canon.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "art.h"
#include "avro_codec.h"
#include "buf.h"

struct art_schema_registry *ct_reg;

void ct_setup(void)
{
	char err[512];

	ct_reg = art_schema_registry_load(ART_SOURCE_DIR "/schemas", err, sizeof(err));
	cr_assert_not_null(ct_reg, "%s", err);
}

void ct_teardown(void)
{
	art_schema_registry_destroy(ct_reg);
	ct_reg = NULL;
}

char *ct_join_segments(const char *const *segs)
{
	struct art_buf b;
	size_t len;

	art_buf_init(&b, 1 << 20);
	for (size_t i = 0; segs[i]; i++) {
		cr_assert_eq(art_buf_puts(&b, segs[i]), 0);
		cr_assert_eq(art_buf_putc(&b, '\r'), 0);
	}
	return art_buf_steal(&b, &len);
}

void ct_map_text(struct ct_mapped *m, char *text)
{
	struct art_canon_ctx ctx = {
		.reg = ct_reg,
		.channel = CT_CHANNEL,
		.received_at_us = 1700000000000000LL,
		.raw_topic = "raw.hl7v2",
		.raw_hash = CT_RAW_HASH,
	};
	char perr[256];

	memset(m, 0, sizeof(*m));
	m->text = text;
	m->msg = art_hl7_parse(text, strlen(text), NULL, perr, sizeof(perr));
	cr_assert_not_null(m->msg, "parse: %s", perr);
	m->st = art_canon_map(m->msg, &ctx, &m->res, m->err, sizeof(m->err));
	cr_assert_leq(m->res.cnt, CT_MAX_EV);
	for (size_t i = 0; i < m->res.cnt; i++) {
		char derr[256];
		int id = -1;

		cr_assert_eq(art_avro_decode_json(ct_reg, m->res.events[i].value,
						  m->res.events[i].value_len, &m->ev[i], &id, derr,
						  sizeof(derr)),
			     0, "decode: %s", derr);
		cr_assert_eq(id, m->res.events[i].schema->id);
		cr_assert_str_eq(m->res.events[i].topic, m->res.events[i].schema->subject);
	}
}

void ct_map_segs(struct ct_mapped *m, const char *const *segs)
{
	ct_map_text(m, ct_join_segments(segs));
}

void ct_unmap(struct ct_mapped *m)
{
	for (size_t i = 0; i < CT_MAX_EV; i++)
		json_decref(m->ev[i]);
	art_canon_result_free(&m->res);
	art_hl7_msg_destroy(m->msg);
	free(m->text);
}

json_t *ct_jat(json_t *j, const char *path)
{
	const char *p = path;

	while (j && *p) {
		char tok[64];
		size_t n = strcspn(p, ".");

		cr_assert_lt(n, sizeof(tok));
		memcpy(tok, p, n);
		tok[n] = '\0';
		p += n + (p[n] == '.');
		if (json_is_array(j)) {
			long long i;

			if (art_parse_int(tok, 0, 1000000, &i))
				return NULL;
			j = json_array_get(j, (size_t)i);
		} else {
			j = json_object_get(j, tok);
		}
	}
	return j;
}

const char *ct_jstr(json_t *j, const char *path)
{
	json_t *v = ct_jat(j, path);

	cr_assert(json_is_string(v), "%s is not a string (%s)", path,
		  v ? (json_is_null(v) ? "null" : "other") : "absent");
	return json_string_value(v);
}

void ct_assert_str(json_t *j, const char *path, const char *want)
{
	cr_assert_str_eq(ct_jstr(j, path), want, "%s", path);
}

void ct_assert_null(json_t *j, const char *path)
{
	json_t *v = ct_jat(j, path);

	cr_assert(v && json_is_null(v), "%s should be null", path);
}

size_t ct_jlen(json_t *j, const char *path)
{
	json_t *v = ct_jat(j, path);

	cr_assert(json_is_array(v), "%s is not an array", path);
	return json_array_size(v);
}

long long ct_jint(json_t *j, const char *path)
{
	json_t *v = ct_jat(j, path);

	cr_assert(json_is_integer(v), "%s is not an integer", path);
	return json_integer_value(v);
}

double ct_jreal(json_t *j, const char *path)
{
	json_t *v = ct_jat(j, path);

	cr_assert(json_is_number(v), "%s is not a number", path);
	return json_number_value(v);
}

int ct_jhas(json_t *j, const char *path, const char *s)
{
	json_t *a = ct_jat(j, path), *v;
	size_t i;

	json_array_foreach(a, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return 1;
	return 0;
}

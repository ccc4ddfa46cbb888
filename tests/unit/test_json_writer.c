/*
 * test_json_writer.c — the streaming JSON writer (json_writer.h), checked
 * on the text it produces, parsed back with jansson the way any FHIR
 * server or NDJSON loader would read it: commas and nesting, escaping of
 * every control character, quotes and backslashes, UTF-8 passed through
 * and invalid bytes replaced (the output always parses), doubles in
 * their shortest exact form, marks and rollback of empty containers, and
 * the size cap.
 */
#include <criterion/criterion.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "art.h"
#include "json_writer.h"

/* The writer's text, NUL-terminated (caller frees). */
static char *text_of(const struct art_jw *jw)
{
	char *s = malloc(jw->len + 1);

	cr_assert_not_null(s);
	memcpy(s, jw->p, jw->len);
	s[jw->len] = '\0';
	return s;
}

/* The writer's text parsed (caller decrefs); fails the test when it is
 * not JSON. */
static json_t *parsed(const struct art_jw *jw)
{
	json_error_t jerr;
	json_t *j = json_loadb(jw->p, jw->len, JSON_DECODE_ANY, &jerr);

	cr_assert_not_null(j, "not JSON (%s): %.*s", jerr.text, (int)jw->len, jw->p);
	return j;
}

Test(json_writer, objects_arrays_and_commas)
{
	struct art_jw jw;
	char *s;

	art_jw_init(&jw, 1 << 20);
	art_jw_obj(&jw);
	art_jw_kstr(&jw, "a", "x");
	art_jw_key(&jw, "n");
	art_jw_long(&jw, -42);
	art_jw_karr(&jw, "list");
	art_jw_long(&jw, 1);
	art_jw_bool(&jw, 1);
	art_jw_null(&jw);
	art_jw_obj(&jw);
	art_jw_end(&jw);
	art_jw_end(&jw);
	art_jw_klit(&jw, "lit", "plain");
	art_jw_end(&jw);
	cr_assert_not(art_jw_failed(&jw));
	s = text_of(&jw);
	cr_assert_str_eq(s, "{\"a\":\"x\",\"n\":-42,\"list\":[1,true,null,{}],\"lit\":\"plain\"}");
	free(s);
	art_jw_free(&jw);
}

Test(json_writer, every_control_character_quote_and_backslash_is_escaped)
{
	struct art_jw jw;
	char in[40];
	json_t *j;

	for (int i = 0; i < 32; i++)
		in[i] = (char)(i + 1 == 32 ? 0x7f : i + 1); /* 0x01..0x1f, then DEL */
	memcpy(in + 31, "\"\\/", 3);
	in[34] = '\0';
	art_jw_init(&jw, 1 << 20);
	art_jw_str(&jw, in);
	j = parsed(&jw);
	cr_assert_str_eq(json_string_value(j), in, "the string reads back exactly");
	for (size_t i = 0; i < jw.len; i++)
		cr_assert((unsigned char)jw.p[i] >= 0x20, "byte %zu is a raw control character", i);
	json_decref(j);
	art_jw_free(&jw);
}

Test(json_writer, utf8_kept_invalid_bytes_replaced)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
	    {"a\xff" "b", "a\xef\xbf\xbd" "b"},                  /* never valid */
	    {"a\xc3", "a\xef\xbf\xbd"},                          /* truncated */
	    {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},            /* overlong */
	    {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* surrogate */
	    {"\xf4\x90\x80\x80x", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdx"}, /* > U+10FFFF */
	    {"0123456789abcdef\x80tail", "0123456789abcdef\xef\xbf\xbdtail"}, /* after a fast run */
	};

	for (size_t i = 0; i < ART_ARRAY_SIZE(cases); i++) {
		struct art_jw jw;
		json_t *j;

		art_jw_init(&jw, 1 << 20);
		art_jw_str(&jw, cases[i].in);
		j = parsed(&jw);
		cr_assert_str_eq(json_string_value(j), cases[i].want, "case %zu", i);
		json_decref(j);
		art_jw_free(&jw);
	}
}

Test(json_writer, doubles_are_shortest_exact_and_reals)
{
	static const double cases[] = {0.0, -0.0, 1.0, 182.0, 98.6, 4.2, 0.1, -3.25, 1e15, 1e16,
	                               123456.789, 1e-7, 5e-324, 1.7976931348623157e308,
	                               0.30000000000000004, 2.5e-3};
	static const struct {
		double d;
		const char *want;
	} texts[] = {{182.0, "182.0"}, {98.6, "98.6"}, {4.2, "4.2"}, {-3.25, "-3.25"}, {0.1, "0.1"}};

	for (size_t i = 0; i < ART_ARRAY_SIZE(cases); i++) {
		struct art_jw jw;
		json_t *j;

		art_jw_init(&jw, 1 << 20);
		art_jw_double(&jw, cases[i]);
		j = parsed(&jw);
		cr_assert(json_is_real(j), "case %zu (%.17g) is a real: %.*s", i, cases[i], (int)jw.len,
		          jw.p);
		cr_assert(json_real_value(j) == cases[i], "case %zu reads back: %.*s", i, (int)jw.len,
		          jw.p);
		json_decref(j);
		art_jw_free(&jw);
	}
	for (size_t i = 0; i < ART_ARRAY_SIZE(texts); i++) {
		struct art_jw jw;
		char *s;

		art_jw_init(&jw, 1 << 20);
		art_jw_double(&jw, texts[i].d);
		s = text_of(&jw);
		cr_assert_str_eq(s, texts[i].want);
		free(s);
		art_jw_free(&jw);
	}
	{
		struct art_jw jw;
		char *s;

		art_jw_init(&jw, 1 << 20);
		art_jw_arr(&jw);
		art_jw_double(&jw, NAN);
		art_jw_double(&jw, INFINITY);
		art_jw_end(&jw);
		s = text_of(&jw);
		cr_assert_str_eq(s, "[null,null]", "JSON has no NaN or infinity");
		free(s);
		art_jw_free(&jw);
	}
}

Test(json_writer, empty_containers_roll_back_with_their_key)
{
	struct art_jw jw;
	struct art_jw_mark m, m2;
	char *s;

	art_jw_init(&jw, 1 << 20);
	art_jw_obj(&jw);
	art_jw_kstr(&jw, "keep", "1");
	art_jw_mark(&jw, &m);
	art_jw_karr(&jw, "empty");
	cr_assert_eq(art_jw_end_nonempty(&jw, &m), 0);
	art_jw_mark(&jw, &m);
	art_jw_karr(&jw, "full");
	art_jw_mark(&jw, &m2);
	art_jw_obj(&jw); /* an empty item, dropped */
	cr_assert_eq(art_jw_end_nonempty(&jw, &m2), 0);
	art_jw_long(&jw, 7);
	cr_assert_eq(art_jw_end_nonempty(&jw, &m), 1);
	art_jw_mark(&jw, &m);
	art_jw_kstr(&jw, "gone", "x");
	art_jw_rollback(&jw, &m);
	art_jw_kstr(&jw, "last", "2");
	art_jw_end(&jw);
	cr_assert_not(art_jw_failed(&jw));
	s = text_of(&jw);
	cr_assert_str_eq(s, "{\"keep\":\"1\",\"full\":[7],\"last\":\"2\"}");
	free(s);
	art_jw_free(&jw);
}

Test(json_writer, documents_back_to_back_and_raw_values)
{
	struct art_jw jw;
	char *s;

	art_jw_init(&jw, 1 << 20);
	art_jw_obj(&jw);
	art_jw_kstr(&jw, "a", "1");
	art_jw_end(&jw);
	art_jw_restart(&jw);
	art_jw_arr(&jw);
	ART_JW_RAW(&jw, "{\"pre\":\"");
	art_jw_str_add(&jw, "q\"", 2);
	ART_JW_RAW_MORE(&jw, "\"}");
	art_jw_raw(&jw, "3", 1);
	art_jw_end(&jw);
	s = text_of(&jw);
	cr_assert_str_eq(s, "{\"a\":\"1\"}[{\"pre\":\"q\\\"\"},3]");
	free(s);
	art_jw_free(&jw);
}

Test(json_writer, over_the_cap_fails_and_stays_failed)
{
	struct art_jw jw;
	char big[300];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	art_jw_init(&jw, 256);
	art_jw_arr(&jw);
	art_jw_str(&jw, big);
	cr_assert(art_jw_failed(&jw));
	cr_assert_leq(jw.len, 256);
	art_jw_long(&jw, 1);
	art_jw_end(&jw);
	cr_assert(art_jw_failed(&jw), "errors are sticky");
	art_jw_reset(&jw);
	cr_assert_not(art_jw_failed(&jw));
	art_jw_str(&jw, "ok");
	cr_assert_eq(jw.len, 4);
	art_jw_free(&jw);
}

Test(json_writer, unbalanced_nesting_is_an_error)
{
	struct art_jw jw;

	art_jw_init(&jw, 1 << 10);
	art_jw_end(&jw);
	cr_assert(art_jw_failed(&jw), "closing nothing");
	art_jw_reset(&jw);
	for (int i = 0; i <= ART_JW_MAX_DEPTH; i++)
		art_jw_arr(&jw);
	cr_assert(art_jw_failed(&jw), "deeper than ART_JW_MAX_DEPTH");
	art_jw_free(&jw);
}

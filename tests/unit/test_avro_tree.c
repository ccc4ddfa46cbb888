/*
 * test_avro_tree.c — the decoded-record tree (avro_tree.h): the JSON
 * bridges round-trip, field lookup in records and maps (present, absent,
 * wrong kind), the string/bytes split on UTF-8 validity, and the arena
 * across resets and values larger than a chunk. Reading trees from Avro is
 * checked case by case in test_avro_project.c.
 */
#include <criterion/criterion.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "art.h"
#include "avro_tree.h"

Test(avro_tree, json_round_trip_and_lookups)
{
	static const char text[] =
	    "{\"event_id\":\"e1\",\"n\":42,\"d\":1.5,\"ok\":true,\"none\":null,"
	    "\"list\":[1,\"two\",{\"k\":\"v\"}],\"source\":{\"channel\":\"c\",\"facility\":null}}";
	json_t *in = json_loads(text, 0, NULL), *out;
	struct art_tree t;
	const struct art_tnode *root, *list;

	cr_assert_not_null(in);
	art_tree_init(&t);
	root = art_tree_from_json(&t, in);
	cr_assert_not_null(root);
	cr_assert_eq(t.root, root);
	out = art_tree_to_json(root);
	cr_assert(json_equal(in, out), "round trip");
	json_decref(out);

	cr_assert_str_eq(art_tnode_str(art_tnode_get(root, "event_id")), "e1");
	cr_assert_eq(art_tnode_get(root, "n")->u.l, 42);
	cr_assert(art_tnode_is(art_tnode_get(root, "d"), ART_T_DOUBLE));
	cr_assert(art_tnode_is(art_tnode_get(root, "none"), ART_T_NULL));
	cr_assert_null(art_tnode_get(root, "missing"));
	cr_assert_null(art_tnode_get(root, "event_i"), "no prefix matches");
	cr_assert_null(art_tnode_str(art_tnode_get(root, "n")), "not a string");
	cr_assert_str_eq(art_tnode_str(art_tnode_get(art_tnode_get(root, "source"), "channel")), "c");
	cr_assert_null(art_tnode_get(art_tnode_get(root, "event_id"), "x"), "not a record");
	cr_assert_null(art_tnode_get(NULL, "x"));
	list = art_tnode_get(root, "list");
	cr_assert_eq(art_tnode_len(list), 3);
	cr_assert_str_eq(art_tnode_str(art_tnode_at(list, 1)), "two");
	cr_assert_null(art_tnode_at(list, 3));
	cr_assert_str_eq(art_tnode_str(art_tnode_get(art_tnode_at(list, 2), "k")), "v");
	art_tree_free(&t);
	json_decref(in);
}

Test(avro_tree, many_fields_and_resets)
{
	struct art_tree t;
	json_t *obj = json_object();
	char key[32];

	/* a record of 300 fields (the shape index grows) and a value bigger
	 * than a chunk; built again after each reset */
	for (int i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "field_%d", i);
		json_object_set_new(obj, key, json_integer(i));
	}
	{
		char *big = malloc(200000);

		memset(big, 'a', 199999);
		big[199999] = '\0';
		json_object_set_new(obj, "big", json_string(big));
		free(big);
	}
	art_tree_init(&t);
	for (int round = 0; round < 3; round++) {
		const struct art_tnode *root = art_tree_from_json(&t, obj);

		cr_assert_not_null(root);
		for (int i = 0; i < 300; i++) {
			snprintf(key, sizeof(key), "field_%d", i);
			cr_assert_eq(art_tnode_get(root, key)->u.l, i, "%s", key);
		}
		cr_assert_eq(art_tnode_get(root, "big")->cnt, 199999);
		art_tree_reset(&t);
		cr_assert_null(t.root);
	}
	art_tree_free(&t);
	json_decref(obj);
}

Test(avro_tree, utf8_validity_decides_string_or_bytes)
{
	static const struct {
		const char *s;
		size_t n;
		int valid;
	} cases[] = {
	    {"", 0, 1},
	    {"plain ascii text, longer than eight bytes", 41, 1},
	    {"caf\xc3\xa9", 5, 1},
	    {"\xf0\x9f\x98\x80", 4, 1},
	    {"nul\0inside", 10, 1},
	    {"\xff", 1, 0},
	    {"abc\xc3", 4, 0},
	    {"\xc0\xaf", 2, 0},
	    {"\xed\xa0\x80", 3, 0},
	    {"\xf4\x90\x80\x80", 4, 0},
	    {"0123456789abcdef\x80", 17, 0},
	};

	for (size_t i = 0; i < ART_ARRAY_SIZE(cases); i++)
		cr_assert_eq(art_utf8_valid((const unsigned char *)cases[i].s, cases[i].n),
		             cases[i].valid, "case %zu", i);
}

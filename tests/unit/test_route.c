/*
 * test_route.c — route filters: the glob syntax (table-driven), and which
 * events a route lets through by event type, facility and message type,
 * including events that lack the value a list constrains.
 */
#include "route.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *pattern;
	const char *s;
	int match;
} globs[] = {
    {"result.*", "result.final", 1},
    {"result.*", "result.", 1},
    {"result.*", "result", 0},
    {"result.*", "patient.result.final", 0},
    {"*", "", 1},
    {"*", "anything", 1},
    {"", "", 1},
    {"", "x", 0},
    {"patient.admitted", "patient.admitted", 1},
    {"patient.admitted", "patient.admittedX", 0},
    {"patient.admitted", "Patient.admitted", 0}, /* case-sensitive */
    {"*.final", "result.final", 1},
    {"*.final", "result.finalised", 0},
    {"*a*b*c", "xxaxxbxxc", 1},
    {"*a*b*c", "xxaxxbxxcx", 0},
    {"a*a*a", "aaa", 1},
    {"a*a*a", "aa", 0},
    {"ADT^A0?", "ADT^A01", 1},
    {"ADT^A0?", "ADT^A1", 0},
    {"ADT^A0?", "ADT^A011", 0},
    {"ORU^R01", "ORU^R01", 1},
    {"ORU^*", "ORU^R01", 1},
    {"[ab]", "[ab]", 1}, /* brackets are literal */
    {"[ab]", "a", 0},
    {"a\\*b", "a*b", 1},
    {"a\\*b", "axb", 0},
    {"a\\?", "a?", 1},
    {"**x", "abx", 1},
    {"x**", "x", 1},
};

Test(route, glob_table)
{
	for (size_t i = 0; i < sizeof(globs) / sizeof(globs[0]); i++)
		cr_expect_eq(art_glob_match(globs[i].pattern, globs[i].s), globs[i].match,
		             "glob '%s' vs '%s': want %d", globs[i].pattern, globs[i].s,
		             globs[i].match);
}

Test(route, glob_valid)
{
	cr_expect(art_glob_valid("result.*"));
	cr_expect(art_glob_valid("a\\*"));
	cr_expect_not(art_glob_valid("abc\\"));
}

/* Builds a list of n strings (heap) from a NULL-terminated array. */
static char **list(const char *const *s, size_t *cnt)
{
	size_t n = 0;
	char **out;

	while (s[n])
		n++;
	out = calloc(n ? n : 1, sizeof(*out));
	for (size_t i = 0; i < n; i++)
		out[i] = strdup(s[i]);
	*cnt = n;
	return out;
}

Test(route, empty_route_takes_everything)
{
	struct art_route r;

	memset(&r, 0, sizeof(r));
	cr_expect(art_route_is_empty(&r));
	cr_expect(art_route_match(&r, "result.final", "HOSP", "ORU^R01", NULL));
	cr_expect(art_route_match(&r, NULL, NULL, NULL, NULL));
	art_route_free(&r);
}

Test(route, event_types_facilities_message_types)
{
	static const char *const ets[] = {"result.*", "patient.admitted", NULL};
	static const char *const facs[] = {"NORTH*", "SOUTH_LAB", NULL};
	static const char *const mts[] = {"ORU^R01", "ADT^A0?", NULL};
	const char *why = NULL;
	struct art_route r;

	memset(&r, 0, sizeof(r));
	r.event_types = list(ets, &r.event_type_cnt);
	r.facilities = list(facs, &r.facility_cnt);
	r.message_types = list(mts, &r.message_type_cnt);
	cr_expect_not(art_route_is_empty(&r));

	cr_expect(art_route_match(&r, "result.final", "NORTH_GENERAL", "ORU^R01", &why));
	cr_expect(art_route_match(&r, "patient.admitted", "SOUTH_LAB", "ADT^A01", &why));

	cr_expect_not(art_route_match(&r, "patient.updated", "SOUTH_LAB", "ADT^A08", &why));
	cr_expect_str_eq(why, "event_type");
	cr_expect_not(art_route_match(&r, "result.final", "EAST", "ORU^R01", &why));
	cr_expect_str_eq(why, "facility");
	cr_expect_not(art_route_match(&r, "result.final", "NORTH", "OUL^R22", &why));
	cr_expect_str_eq(why, "message_type");
	/* An event without a facility or message type fails a list that
	 * constrains it (a FHIR-sourced event has no HL7 message type). */
	cr_expect_not(art_route_match(&r, "result.final", NULL, "ORU^R01", &why));
	cr_expect_str_eq(why, "facility");
	cr_expect_not(art_route_match(&r, "result.final", "NORTH", NULL, &why));
	cr_expect_str_eq(why, "message_type");
	cr_expect_not(art_route_match(&r, NULL, "NORTH", "ORU^R01", &why));
	cr_expect_str_eq(why, "event_type");
	art_route_free(&r);
	cr_expect_eq(r.event_type_cnt, 0);
	art_route_free(NULL);
}

Test(route, only_one_list_constrains)
{
	static const char *const facs[] = {"HOSP_A", NULL};
	struct art_route r;

	memset(&r, 0, sizeof(r));
	r.facilities = list(facs, &r.facility_cnt);
	cr_expect(art_route_match(&r, "anything.at.all", "HOSP_A", NULL, NULL));
	cr_expect(art_route_match(&r, NULL, "HOSP_A", "ORU^R01", NULL));
	cr_expect_not(art_route_match(&r, "result.final", "HOSP_B", NULL, NULL));
	art_route_free(&r);
}

/*
 * route.c — glob matching and route evaluation for consumers.
 *
 * The matcher is the classic iterative one with a single backtrack point
 * (the last `*` seen): on a mismatch it retries with the star absorbing one
 * more character. No recursion, no allocation; worst case proportional to
 * pattern length times value length, and patterns and values are short
 * (event types, facility codes, "ORU^R01").
 */
#include "route.h"

#include <stdlib.h>
#include <string.h>

int art_glob_valid(const char *pattern)
{
	for (const char *p = pattern; *p; p++) {
		if (*p == '\\') {
			if (!p[1])
				return 0;
			p++;
		}
	}
	return 1;
}

int art_glob_match(const char *pattern, const char *s)
{
	const char *p = pattern;
	const char *star_p = NULL; /* pattern position just after the last '*' */
	const char *star_s = NULL; /* where that star's run currently ends in s */

	while (*s) {
		if (*p == '*') {
			while (*p == '*')
				p++;
			if (!*p)
				return 1; /* trailing star takes the rest */
			star_p = p;
			star_s = s;
			continue;
		}
		if (*p == '?') {
			p++;
			s++;
			continue;
		}
		if (*p == '\\' && p[1]) {
			if (p[1] == *s) {
				p += 2;
				s++;
				continue;
			}
		} else if (*p && *p == *s) {
			p++;
			s++;
			continue;
		}
		if (!star_p)
			return 0;
		/* Let the last star take one more character and retry. */
		star_s++;
		s = star_s;
		p = star_p;
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

/* 1 when value matches one of the cnt patterns; an empty list matches
 * anything, a missing value matches no non-empty list. */
static int art_route_list_match(char *const *globs, size_t cnt, const char *value)
{
	if (cnt == 0)
		return 1;
	if (!value)
		return 0;
	for (size_t i = 0; i < cnt; i++)
		if (art_glob_match(globs[i], value))
			return 1;
	return 0;
}

int art_route_match(const struct art_route *r, const char *event_type, const char *facility,
                    const char *message_type, const char **why)
{
	const char *miss = NULL;

	if (!art_route_list_match(r->event_types, r->event_type_cnt, event_type))
		miss = "event_type";
	else if (!art_route_list_match(r->facilities, r->facility_cnt, facility))
		miss = "facility";
	else if (!art_route_list_match(r->message_types, r->message_type_cnt, message_type))
		miss = "message_type";
	if (miss && why)
		*why = miss;
	return miss == NULL;
}

int art_route_is_empty(const struct art_route *r)
{
	return r->event_type_cnt == 0 && r->facility_cnt == 0 && r->message_type_cnt == 0;
}

static void art_route_list_free(char **globs, size_t cnt)
{
	for (size_t i = 0; i < cnt; i++)
		free(globs[i]);
	free(globs);
}

void art_route_free(struct art_route *r)
{
	if (!r)
		return;
	art_route_list_free(r->event_types, r->event_type_cnt);
	art_route_list_free(r->facilities, r->facility_cnt);
	art_route_list_free(r->message_types, r->message_type_cnt);
	memset(r, 0, sizeof(*r));
}

/*
 * route.h — route filters: which events a consumer takes.
 *
 * A consumer's `route:` in topology.yaml (docs/consumer.md) names up to
 * three lists of glob patterns: event types ("result.*"), source facilities
 * (MSH-4, the envelope's source.facility) and HL7 message types (the
 * hl7.message_type header, "ADT^A0?"). An empty list does not constrain; a
 * non-empty one must match: some pattern in the list matches the event's
 * value, and an event without that value (a FHIR-sourced event has no HL7
 * message type) does not match. All non-empty lists must match.
 *
 * Globs: `*` any run of characters (also none), `?` exactly one character,
 * `\` makes the next character literal; everything else, including `^`,
 * `[` and `.`, is literal. Matching is case-sensitive, with no allocation
 * and time O(pattern x value) at worst.
 *
 * Sizes: a handful of patterns per list, evaluated once per consumed
 * record. A loaded route is read-only: any thread may evaluate it.
 */
#ifndef ART_ROUTE_H
#define ART_ROUTE_H

#include <stddef.h>

/* One consumer's filter. All arrays and strings are owned by it. */
struct art_route {
	char **event_types; /* globs on the envelope's event_type; none: any */
	size_t event_type_cnt;
	char **facilities; /* globs on source.facility; none: any */
	size_t facility_cnt;
	char **message_types; /* globs on the hl7.message_type header; none: any */
	size_t message_type_cnt;
};

/* Returns 1 when the NUL-terminated string s matches pattern (syntax
 * above), 0 otherwise. Any thread. */
int art_glob_match(const char *pattern, const char *s);

/* Returns 1 when pattern is a valid glob (it does not end in a lone `\`),
 * 0 otherwise. For config validation. */
int art_glob_valid(const char *pattern);

/* Returns 1 when the event passes route r, 0 when it is filtered out.
 * Values may be NULL (the event has none). When the event is filtered out
 * and why is not NULL, *why is set to a static string naming the list that
 * did not match ("event_type", "facility", "message_type"). Any thread. */
int art_route_match(const struct art_route *r, const char *event_type, const char *facility,
                    const char *message_type, const char **why);

/* Returns 1 when r has no constraint at all (every event passes). */
int art_route_is_empty(const struct art_route *r);

/* Frees what r owns and zeroes it. NULL is a no-op. */
void art_route_free(struct art_route *r);

#endif

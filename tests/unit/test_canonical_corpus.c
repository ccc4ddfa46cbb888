/*
 * test_canonical_corpus.c — the canonical mapping against every
 * well-formed message of the public corpus in ../shared/corpus/hl7v2 (read
 * in place, never copied; which files are well-formed comes from the
 * `malformed` column of ../shared/corpus/inventory.tsv). Each file is
 * split, each message parsed and mapped with one reused mapper: no message
 * may end in ART_CANON_ERROR, an UNMAPPABLE one must say why, and every
 * produced event must decode from its wire format. Prints how many
 * messages of each type mapped / were unmappable / are unsupported, and
 * how many events of each event type (on which topic) they produced; every
 * canonical subject must get events from the corpus. Skipped when the
 * corpus is absent.
 */
#include <criterion/criterion.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "art.h"
#include "avro_codec.h"
#include "canonical.h"
#include "hl7.h"
#include "schema.h"

#define CORPUS ART_SOURCE_DIR "/../shared/corpus"
#define MAX_TYPES 256

/* Counts for one message type (MSH-9.1^MSH-9.2). */
struct type_count {
	char type[24];
	size_t n[4]; /* by enum art_canon_status */
};

/* Events of one event type. */
struct event_count {
	char event_type[48];
	char topic[32];
	size_t n;
};

struct tally {
	struct type_count types[MAX_TYPES];
	size_t ntypes;
	struct event_count evtypes[MAX_TYPES];
	size_t nevtypes;
	size_t files, msgs, unparsed, events;
	size_t by_status[4];
};

static struct type_count *tally_type(struct tally *t, const struct art_hl7_header *hdr)
{
	char name[24];

	snprintf(name, sizeof(name), "%.*s^%.*s", (int)ART_MIN(hdr->msg_type.len, 8),
		 hdr->msg_type.p ? hdr->msg_type.p : "", (int)ART_MIN(hdr->trigger.len, 8),
		 hdr->trigger.p ? hdr->trigger.p : "");
	for (size_t i = 0; i < t->ntypes; i++)
		if (strcmp(t->types[i].type, name) == 0)
			return &t->types[i];
	cr_assert_lt(t->ntypes, MAX_TYPES);
	snprintf(t->types[t->ntypes].type, sizeof(t->types[t->ntypes].type), "%s", name);
	return &t->types[t->ntypes++];
}

static void tally_event(struct tally *t, const struct art_canon_event *ev)
{
	for (size_t i = 0; i < t->nevtypes; i++) {
		if (strcmp(t->evtypes[i].event_type, ev->event_type) == 0 &&
		    strcmp(t->evtypes[i].topic, ev->topic) == 0) {
			t->evtypes[i].n++;
			return;
		}
	}
	cr_assert_lt(t->nevtypes, MAX_TYPES);
	snprintf(t->evtypes[t->nevtypes].event_type, sizeof(t->evtypes[0].event_type), "%s",
		 ev->event_type);
	snprintf(t->evtypes[t->nevtypes].topic, sizeof(t->evtypes[0].topic), "%s", ev->topic);
	t->evtypes[t->nevtypes++].n = 1;
}

static int cmp_event(const void *a, const void *b)
{
	const struct event_count *x = a, *y = b;
	int c = strcmp(x->topic, y->topic);

	return c ? c : strcmp(x->event_type, y->event_type);
}

static int cmp_type(const void *a, const void *b)
{
	return strcmp(((const struct type_count *)a)->type, ((const struct type_count *)b)->type);
}

/* Maps every message of one corpus file. */
static void map_file(const char *rel, struct art_canon_mapper *mapper,
		     const struct art_schema_registry *reg, struct tally *t)
{
	char path[2048], err[512];
	struct art_hl7_split split;
	size_t len;
	char *buf;

	snprintf(path, sizeof(path), CORPUS "/%s", rel);
	buf = art_read_file(path, 64u << 20, &len, err, sizeof(err));
	cr_assert_not_null(buf, "%s", err);
	t->files++;
	if (art_hl7_split(buf, len, NULL, &split, NULL, err, sizeof(err))) {
		art_hl7_split_free(&split);
		free(buf);
		t->unparsed++;
		return;
	}
	for (size_t i = 0; i < split.nmsgs; i++) {
		struct art_canon_ctx ctx = {
			.reg = reg,
			.channel = "corpus",
			.received_at_us = 1700000000000000LL,
			.raw_topic = "raw.hl7v2",
			.raw_hash = "0000000000000000000000000000000000000000000000000000000000000000",
		};
		struct art_canon_result res;
		enum art_canon_status st;
		struct art_hl7_msg *msg;
		struct type_count *tc;

		msg = art_hl7_parse_ex(buf + split.msgs[i].off, split.msgs[i].len, NULL, i + 1,
				       NULL, err, sizeof(err));
		if (!msg) {
			t->unparsed++; /* the parser's corpus test owns these */
			continue;
		}
		t->msgs++;
		st = art_canon_map_with(mapper, msg, &ctx, &res, err, sizeof(err));
		cr_assert_neq(st, ART_CANON_ERROR, "%s message %zu: %s", rel, i + 1, err);
		cr_assert_not_null(res.key, "%s message %zu: no partition key", rel, i + 1);
		cr_assert_eq(strlen(res.idempotency_key), 64);
		if (st == ART_CANON_UNMAPPABLE) {
			cr_assert_neq(err[0], '\0', "%s message %zu: unmappable without a reason",
				      rel, i + 1);
			cr_log_info("unmappable: %s message %zu: %s", rel, i + 1, err);
		}
		if (st == ART_CANON_MAPPED)
			cr_assert_gt(res.cnt, 0);
		for (size_t e = 0; e < res.cnt; e++) {
			json_t *j = NULL;

			cr_assert_eq(art_avro_decode_json(reg, res.events[e].value,
							  res.events[e].value_len, &j, NULL, err,
							  sizeof(err)),
				     0, "%s message %zu event %zu: %s", rel, i + 1, e, err);
			cr_assert_str_eq(json_string_value(json_object_get(j, "event_id")),
					 res.events[e].event_id);
			cr_assert_str_eq(json_string_value(json_object_get(j, "event_type")),
					 res.events[e].event_type);
			json_decref(j);
			tally_event(t, &res.events[e]);
		}
		tc = tally_type(t, art_hl7_header(msg));
		tc->n[st]++;
		t->by_status[st]++;
		t->events += res.cnt;
		art_canon_result_free(&res);
		art_hl7_msg_destroy(msg);
	}
	art_hl7_split_free(&split);
	free(buf);
}

Test(canonical_corpus, every_well_formed_message_maps_without_error)
{
	static const char *const subjects[] = {
		"canonical.patient",  "canonical.encounter",   "canonical.order",
		"canonical.result",   "canonical.appointment", "canonical.document",
		"canonical.immunization",
	};
	static struct tally t;
	struct art_schema_registry *reg;
	struct art_canon_mapper *mapper;
	char err[512], *inv, *line, *next;
	size_t len;
	struct stat st;

	if (stat(CORPUS "/inventory.tsv", &st) != 0)
		cr_skip_test("corpus absent: " CORPUS);
	inv = art_read_file(CORPUS "/inventory.tsv", 16u << 20, &len, err, sizeof(err));
	cr_assert_not_null(inv, "%s", err);
	reg = art_schema_registry_load(ART_SOURCE_DIR "/schemas", err, sizeof(err));
	cr_assert_not_null(reg, "%s", err);
	mapper = art_canon_mapper_new(reg);
	cr_assert_not_null(mapper);
	memset(&t, 0, sizeof(t));

	/* inventory.tsv: path in column 1, malformed (y/n) in column 11 */
	for (line = inv; line && *line; line = next) {
		char *cols[12];
		size_t ncol = 0;
		char *p = line;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		while (ncol < ART_ARRAY_SIZE(cols)) {
			cols[ncol++] = p;
			p = strchr(p, '\t');
			if (!p)
				break;
			*p++ = '\0';
		}
		if (ncol < 11 || strcmp(cols[0], "path") == 0)
			continue;
		if (strcmp(cols[10], "n") != 0 || strncmp(cols[0], "hl7v2/", 6) != 0)
			continue;
		map_file(cols[0], mapper, reg, &t);
	}

	qsort(t.types, t.ntypes, sizeof(t.types[0]), cmp_type);
	printf("\ncanonical mapping of the corpus: %zu files, %zu messages "
	       "(%zu not parsed), %zu events\n",
	       t.files, t.msgs, t.unparsed, t.events);
	printf("%-12s %7s %11s %12s %6s\n", "type", "mapped", "unmappable", "unsupported", "error");
	for (size_t i = 0; i < t.ntypes; i++)
		printf("%-12s %7zu %11zu %12zu %6zu\n", t.types[i].type,
		       t.types[i].n[ART_CANON_MAPPED], t.types[i].n[ART_CANON_UNMAPPABLE],
		       t.types[i].n[ART_CANON_UNSUPPORTED], t.types[i].n[ART_CANON_ERROR]);
	printf("%-12s %7zu %11zu %12zu %6zu\n", "total", t.by_status[ART_CANON_MAPPED],
	       t.by_status[ART_CANON_UNMAPPABLE], t.by_status[ART_CANON_UNSUPPORTED],
	       t.by_status[ART_CANON_ERROR]);
	qsort(t.evtypes, t.nevtypes, sizeof(t.evtypes[0]), cmp_event);
	printf("\n%-24s %-40s %7s\n", "topic", "event type", "events");
	for (size_t i = 0; i < t.nevtypes; i++)
		printf("%-24s %-40s %7zu\n", t.evtypes[i].topic, t.evtypes[i].event_type,
		       t.evtypes[i].n);
	fflush(stdout);
	cr_assert_gt(t.by_status[ART_CANON_MAPPED], 0, "the corpus has mappable messages");
	for (size_t k = 0; k < ART_ARRAY_SIZE(subjects); k++) {
		size_t n = 0;

		for (size_t i = 0; i < t.nevtypes; i++)
			if (strcmp(t.evtypes[i].topic, subjects[k]) == 0)
				n += t.evtypes[i].n;
		cr_assert_gt(n, 0, "no %s event from the whole corpus", subjects[k]);
	}

	art_canon_mapper_destroy(mapper);
	art_schema_registry_destroy(reg);
	free(inv);
}

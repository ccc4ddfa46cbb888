/*
 * cmd_replay.c — `artery replay reset|copy`: what an SRE runs after an
 * incident (docs/replay.md).
 *
 *   reset   moves a consumer group's committed offsets on one or more topics
 *           to the beginning, the end, an offset or a point in time, so the
 *           group's process re-delivers (or skips) from there when it
 *           starts. The group must be inactive: a group with live members
 *           would overwrite the reset with its next commit. Checked with
 *           ListGroups/DescribeGroups; where the broker lacks them (the embedded
 *           broker), by joining the group and refusing unless the join
 *           yields every partition (docs/replay.md names the blind spot).
 *   copy    copies a range of a topic (offsets, times, filters) to another
 *           topic, or redrives a dead-letter topic: each dead letter goes
 *           back to its artery.original.topic without the dead-letter
 *           headers. Keys, values and the other headers are kept, so event
 *           ids and idempotency keys are unchanged and the consumers'
 *           ledgers make a replay harmless at the targets; each copy gains
 *           artery.replayed_from = topic/partition/offset. Rate limit,
 *           progress on stderr, a summary line.
 *
 * Both take --dry-run (show the plan, change nothing). Times: RFC 3339
 * (2026-11-22T08:30:00Z, an offset instead of Z, fractions allowed) or
 * epoch milliseconds; offsets for a time come from ListOffsets, and where the
 * broker answers nothing (the embedded broker keeps no time index) from a
 * binary search over record timestamps. Exit: 0 done, 1 refused or not all
 * copied, 2 usage or connection error.
 */
#include "art.h"
#include "avro_codec.h"
#include "cmd.h"
#include "dlq.h"
#include "kafka.h"
#include "record.h"
#include "route.h"
#include "schema.h"
#include "topic_reader.h"

#include <ctype.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ART_REPLAY_TIMEOUT_MS  10000 /* default: no progress for this long fails */
#define ART_REPLAY_MAX_TOPICS  32
#define ART_REPLAY_MAX_FILTERS 16


/* Where a range starts or ends. */
enum art_replay_pos {
	ART_POS_NONE = 0,
	ART_POS_BEGINNING,
	ART_POS_END,
	ART_POS_OFFSET,
	ART_POS_TIME,
};

struct art_replay_opts {
	int copy; /* else reset */
	const char *group;
	const char *topics[ART_REPLAY_MAX_TOPICS]; /* reset: --topic; copy: --from */
	size_t topic_cnt;
	const char *to;   /* copy */
	int32_t partition; /* -1: all */
	enum art_replay_pos start, end;
	int64_t start_offset, end_offset; /* ART_POS_OFFSET */
	int64_t start_ms, end_ms;         /* ART_POS_TIME */
	char *event_types[ART_REPLAY_MAX_FILTERS], *facilities[ART_REPLAY_MAX_FILTERS],
		*message_types[ART_REPLAY_MAX_FILTERS];
	struct art_route route; /* arrays above */
	long long rate;         /* records/s, 0 = unlimited */
	long long limit;        /* records copied at most, 0 = all */
	long long timeout_ms;
	const char *schemas_dir;
	int dry_run;
	int json; /* copy: summary as JSON */
};

/* One partition of a plan. */
struct art_replay_part {
	const char *topic;
	int32_t partition;
	int64_t low, high;   /* watermarks when the plan was made */
	int64_t from, until; /* copy: [from, until); reset: from = new offset */
	int64_t committed;   /* reset: the group's offset before, or -1 */
	int64_t next;        /* copy: next offset expected */
	int done;
};

struct art_replay_plan {
	struct art_replay_part *parts;
	size_t cnt;
};

static void art_replay_usage(FILE *fp)
{
	fprintf(fp,
		"usage: artery replay reset --group G --topic T [--topic T...] WHERE [options]\n"
		"       artery replay copy --from TOPIC [--to TOPIC] [RANGE] [FILTERS] [options]\n"
		"\n"
		"  reset   move consumer group G's committed offsets on the topics, so its\n"
		"          process re-delivers (or skips) from there at its next start.\n"
		"          WHERE: --to-beginning | --to-end | --to-offset N | --to-time TIME.\n"
		"          The group must be inactive (stop its process first): refused\n"
		"          otherwise. Prints each partition: committed -> new (records\n"
		"          replayed or skipped).\n"
		"  copy    copy records of TOPIC to --to, keeping key, value and headers\n"
		"          (event ids and idempotency keys unchanged: the consumers' ledgers\n"
		"          make the replay harmless at their targets) and adding\n"
		"          " ART_HDR_REPLAYED_FROM "=topic/partition/offset. From a dead-letter\n"
		"          topic without --to, each record goes back to its\n"
		"          artery.original.topic, dead-letter headers removed (a redrive).\n"
		"          RANGE (default: everything there now):\n"
		"            --start-offset N | --since TIME     first record (inclusive)\n"
		"            --end-offset N | --until TIME       end (exclusive)\n"
		"          FILTERS (globs: * ? and \\ escapes; repeat to OR, kinds AND):\n"
		"            --event-type GLOB     the envelope's event_type, e.g. 'result.*'\n"
		"            --facility GLOB       the envelope's source.facility (MSH-4)\n"
		"            --message-type GLOB   the hl7.message_type header, e.g. 'ADT^A0?'\n"
		"\n"
		"options:\n"
		"  --partition P     only partition P (default: all)\n"
		"  --rate N          copy: at most N records per second\n"
		"  --limit N         copy: stop after N records copied\n"
		"  --dry-run         show what would be done, change nothing\n"
		"  --json            copy: the summary as one JSON object\n"
		"  --timeout-ms T    give up when T ms pass without progress (default %d)\n"
		"  --schemas DIR     schema registry (for --event-type/--facility; default\n"
		"                    $ARTERY_SCHEMAS_DIR, else ./schemas)\n"
		"  -h, --help        this text\n"
		"\n"
		"TIME: RFC 3339 with a zone (2026-11-22T08:30:00Z, ...+01:00) or epoch\n"
		"milliseconds. Kafka: ARTERY_KAFKA_BOOTSTRAP, else .artery/bootstrap.\n"
		"Exit: 0 done, 1 refused or not everything copied, 2 usage or connection\n"
		"error.\n",
		ART_REPLAY_TIMEOUT_MS);
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t art_replay_days(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

/* Parses TIME (RFC 3339 with a zone, or epoch milliseconds). Returns 0. */
static int art_replay_parse_time(const char *s, int64_t *ms)
{
	int y, mo, d, h, mi, sec = 0, n = 0, zh = 0, zm = 0;
	int64_t frac_ms = 0, sign = 0;
	long long v;
	const char *p;

	if (art_parse_int(s, 0, INT64_MAX, &v) == 0) {
		*ms = v;
		return 0;
	}
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d%n", &y, &mo, &d, &h, &mi, &n) != 5 || n != 16)
		return -1;
	p = s + n;
	if (*p == ':') {
		if (!isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]))
			return -1;
		sec = (p[1] - '0') * 10 + (p[2] - '0');
		p += 3;
		if (*p == '.' || *p == ',') {
			int digits = 0;

			for (p++; isdigit((unsigned char)*p); p++, digits++)
				if (digits < 3)
					frac_ms = frac_ms * 10 + (*p - '0');
			if (digits == 0)
				return -1;
			for (; digits < 3; digits++)
				frac_ms *= 10;
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '-' ? 1 : -1; /* local = UTC + offset: subtract it */
		if (sscanf(p + 1, "%2d:%2d%n", &zh, &zm, &n) != 2 || n != 5)
			return -1;
		p += 6;
	} else {
		return -1; /* no zone: ambiguous, refuse */
	}
	if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 ||
	    zh > 23 || zm > 59)
		return -1;
	*ms = ((art_replay_days(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) +
	       sign * (zh * 3600 + zm * 60)) *
		      1000 +
	      frac_ms;
	return 0;
}

/* Adds glob to one of the filter lists. */
static int art_replay_add_filter(char **list, size_t *cnt, char *glob, const char *what)
{
	if (*cnt >= ART_REPLAY_MAX_FILTERS) {
		fprintf(stderr, "artery replay: at most %d %s filters\n", ART_REPLAY_MAX_FILTERS,
			what);
		return 2;
	}
	if (!art_glob_valid(glob)) {
		fprintf(stderr, "artery replay: bad %s glob '%s' (ends in a lone \\)\n", what, glob);
		return 2;
	}
	list[(*cnt)++] = glob;
	return 0;
}

/* Sets a range end from an option. */
static int art_replay_set_pos(enum art_replay_pos *pos, int64_t *off, int64_t *ms,
			      enum art_replay_pos kind, const char *arg, const char *opt)
{
	long long v;

	if (*pos != ART_POS_NONE) {
		fprintf(stderr, "artery replay: %s conflicts with an earlier position option\n", opt);
		return 2;
	}
	*pos = kind;
	if (kind == ART_POS_OFFSET) {
		if (art_parse_int(arg, 0, INT64_MAX, &v)) {
			fprintf(stderr, "artery replay: %s wants an offset >= 0, not '%s'\n", opt,
				arg);
			return 2;
		}
		*off = v;
	} else if (kind == ART_POS_TIME && art_replay_parse_time(arg, ms)) {
		fprintf(stderr,
			"artery replay: %s wants RFC 3339 with a zone (2026-11-22T08:30:00Z) or "
			"epoch milliseconds, not '%s'\n",
			opt, arg);
		return 2;
	}
	return 0;
}

/* Parses argv (argv[0] == "replay"). Returns -1 to exit 0 (help shown), 0
 * to run, 2 on a usage error (reported). */
static int art_replay_parse(int argc, char **argv, struct art_replay_opts *o)
{
	enum {
		OPT_GROUP = 256, OPT_TOPIC, OPT_FROM, OPT_TO, OPT_PARTITION, OPT_TO_BEGINNING,
		OPT_TO_END, OPT_TO_OFFSET, OPT_TO_TIME, OPT_START_OFFSET, OPT_SINCE,
		OPT_END_OFFSET, OPT_UNTIL, OPT_EVENT_TYPE, OPT_FACILITY, OPT_MESSAGE_TYPE,
		OPT_RATE, OPT_LIMIT, OPT_DRY_RUN, OPT_JSON, OPT_TIMEOUT, OPT_SCHEMAS,
	};
	static const struct option opts[] = {
		{"group", required_argument, NULL, OPT_GROUP},
		{"topic", required_argument, NULL, OPT_TOPIC},
		{"from", required_argument, NULL, OPT_FROM},
		{"to", required_argument, NULL, OPT_TO},
		{"partition", required_argument, NULL, OPT_PARTITION},
		{"to-beginning", no_argument, NULL, OPT_TO_BEGINNING},
		{"to-end", no_argument, NULL, OPT_TO_END},
		{"to-offset", required_argument, NULL, OPT_TO_OFFSET},
		{"to-time", required_argument, NULL, OPT_TO_TIME},
		{"start-offset", required_argument, NULL, OPT_START_OFFSET},
		{"since", required_argument, NULL, OPT_SINCE},
		{"end-offset", required_argument, NULL, OPT_END_OFFSET},
		{"until", required_argument, NULL, OPT_UNTIL},
		{"event-type", required_argument, NULL, OPT_EVENT_TYPE},
		{"facility", required_argument, NULL, OPT_FACILITY},
		{"message-type", required_argument, NULL, OPT_MESSAGE_TYPE},
		{"rate", required_argument, NULL, OPT_RATE},
		{"limit", required_argument, NULL, OPT_LIMIT},
		{"dry-run", no_argument, NULL, OPT_DRY_RUN},
		{"json", no_argument, NULL, OPT_JSON},
		{"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
		{"schemas", required_argument, NULL, OPT_SCHEMAS},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct art_route *r = &o->route;
	long long v;
	int rc = 0;

	memset(o, 0, sizeof(*o));
	o->partition = -1;
	o->timeout_ms = ART_REPLAY_TIMEOUT_MS;
	r->event_types = o->event_types;
	r->facilities = o->facilities;
	r->message_types = o->message_types;
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		art_replay_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : -1;
	}
	if (strcmp(argv[1], "reset") && strcmp(argv[1], "copy")) {
		fprintf(stderr, "artery replay: unknown verb '%s' (reset or copy)\n\n", argv[1]);
		art_replay_usage(stderr);
		return 2;
	}
	o->copy = !strcmp(argv[1], "copy");
	optind = 1;
	while (rc == 0) {
		int c = getopt_long(argc - 1, argv + 1, "h", opts, NULL);

		if (c == -1)
			break;
		switch (c) {
		case OPT_GROUP:
			o->group = optarg;
			break;
		case OPT_TOPIC:
		case OPT_FROM:
			if (o->topic_cnt >= ART_REPLAY_MAX_TOPICS || (c == OPT_FROM && o->topic_cnt)) {
				fprintf(stderr, "artery replay: too many topics\n");
				return 2;
			}
			o->topics[o->topic_cnt++] = optarg;
			break;
		case OPT_TO:
			o->to = optarg;
			break;
		case OPT_PARTITION:
			if (art_parse_int(optarg, 0, INT32_MAX, &v)) {
				fprintf(stderr, "artery replay: --partition wants a number >= 0\n");
				return 2;
			}
			o->partition = (int32_t)v;
			break;
		case OPT_TO_BEGINNING:
			rc = art_replay_set_pos(&o->start, NULL, NULL, ART_POS_BEGINNING, NULL,
						"--to-beginning");
			break;
		case OPT_TO_END:
			rc = art_replay_set_pos(&o->start, NULL, NULL, ART_POS_END, NULL, "--to-end");
			break;
		case OPT_TO_OFFSET:
		case OPT_START_OFFSET:
			rc = art_replay_set_pos(&o->start, &o->start_offset, NULL, ART_POS_OFFSET,
						optarg,
						c == OPT_TO_OFFSET ? "--to-offset" : "--start-offset");
			break;
		case OPT_TO_TIME:
		case OPT_SINCE:
			rc = art_replay_set_pos(&o->start, NULL, &o->start_ms, ART_POS_TIME, optarg,
						c == OPT_TO_TIME ? "--to-time" : "--since");
			break;
		case OPT_END_OFFSET:
			rc = art_replay_set_pos(&o->end, &o->end_offset, NULL, ART_POS_OFFSET, optarg,
						"--end-offset");
			break;
		case OPT_UNTIL:
			rc = art_replay_set_pos(&o->end, NULL, &o->end_ms, ART_POS_TIME, optarg,
						"--until");
			break;
		case OPT_EVENT_TYPE:
			rc = art_replay_add_filter(r->event_types, &r->event_type_cnt, optarg,
						   "--event-type");
			break;
		case OPT_FACILITY:
			rc = art_replay_add_filter(r->facilities, &r->facility_cnt, optarg,
						   "--facility");
			break;
		case OPT_MESSAGE_TYPE:
			rc = art_replay_add_filter(r->message_types, &r->message_type_cnt, optarg,
						   "--message-type");
			break;
		case OPT_RATE:
		case OPT_LIMIT:
			if (art_parse_int(optarg, 1, INT64_MAX, &v)) {
				fprintf(stderr, "artery replay: %s wants a positive number\n",
					c == OPT_RATE ? "--rate" : "--limit");
				return 2;
			}
			*(c == OPT_RATE ? &o->rate : &o->limit) = v;
			break;
		case OPT_DRY_RUN:
			o->dry_run = 1;
			break;
		case OPT_JSON:
			o->json = 1;
			break;
		case OPT_TIMEOUT:
			if (art_parse_int(optarg, 1, 3600000LL, &o->timeout_ms)) {
				fprintf(stderr, "artery replay: --timeout-ms wants a positive number\n");
				return 2;
			}
			break;
		case OPT_SCHEMAS:
			o->schemas_dir = optarg;
			break;
		case 'h':
			art_replay_usage(stdout);
			return -1;
		default:
			art_replay_usage(stderr);
			return 2;
		}
	}
	if (rc)
		return rc;
	if (optind != argc - 1) {
		fprintf(stderr, "artery replay %s: unexpected argument '%s'\n", argv[1],
			argv[optind + 1]);
		return 2;
	}
	if (o->copy) {
		if (o->topic_cnt != 1) {
			fprintf(stderr, "artery replay copy: --from TOPIC is required\n");
			return 2;
		}
		if (!o->to && strncmp(o->topics[0], "dlq.", 4)) {
			fprintf(stderr, "artery replay copy: --to is required unless --from is a "
					"dead-letter topic (dlq.*)\n");
			return 2;
		}
		if (o->to && !strcmp(o->to, o->topics[0])) {
			fprintf(stderr, "artery replay copy: --to must differ from --from\n");
			return 2;
		}
		if (o->start == ART_POS_BEGINNING || o->start == ART_POS_END || o->group) {
			fprintf(stderr, "artery replay copy: --to-*/--group are for `reset`\n");
			return 2;
		}
	} else {
		if (!o->group || o->topic_cnt == 0 || o->start == ART_POS_NONE) {
			fprintf(stderr, "artery replay reset: --group, --topic and one of "
					"--to-beginning, --to-end, --to-offset, --to-time are required\n");
			return 2;
		}
		if (o->to || o->end != ART_POS_NONE || o->rate || o->limit || o->json ||
		    !art_route_is_empty(&o->route)) {
			fprintf(stderr, "artery replay reset: --to, ranges, filters, --rate, "
					"--limit and --json are for `copy`\n");
			return 2;
		}
	}
	return 0;
}

/* A group-less reader (the source of copies and of timestamp probes),
 * assigned to nothing yet. */
static rd_kafka_t *art_replay_reader(const struct art_replay_opts *o, const char *topic,
				     char *errstr, size_t errstr_size)
{
	int pcnt;
	rd_kafka_t *rk = art_topic_reader_open(topic, -1, RD_KAFKA_OFFSET_BEGINNING, "artery-replay",
					       (int)o->timeout_ms, &pcnt, errstr, errstr_size);

	if (rk)
		rd_kafka_assign(rk, NULL);
	return rk;
}

/* Timestamp (ms) of the record at offset of topic/partition, read with rk
 * (reassigned). Returns 0, or -1 when nothing arrives in timeout_ms. */
static int art_replay_ts_at(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t offset,
			    int timeout_ms, int64_t *ts)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	int64_t deadline = art_mono_us() / 1000 + timeout_ms;
	int rc = -1;

	rd_kafka_topic_partition_list_add(l, topic, partition)->offset = offset;
	rd_kafka_assign(rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	while (rc == -1 && art_mono_us() / 1000 < deadline) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
		rd_kafka_timestamp_type_t tt;

		if (!m)
			continue;
		if (!m->err && m->partition == partition && m->offset >= offset) {
			*ts = rd_kafka_message_timestamp(m, &tt);
			rc = 0;
		}
		rd_kafka_message_destroy(m);
	}
	rd_kafka_assign(rk, NULL);
	return rc;
}

/* The first offset of [low, high) whose record timestamp is >= ms: the
 * broker's answer (ListOffsets), else a binary search over the records'
 * timestamps (assumes they grow with the offset, as they do for records
 * of one producer per key). Returns 0, or -1 when a probe timed out. */
static int art_replay_offset_for_time(rd_kafka_t *rk, const char *topic, int32_t partition,
				      int64_t low, int64_t high, int64_t ms, int timeout_ms,
				      int64_t *out)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	int64_t lo = low, hi = high, ts;

	rd_kafka_topic_partition_list_add(l, topic, partition)->offset = ms;
	if (rd_kafka_offsets_for_times(rk, l, timeout_ms) == 0 && l->elems[0].err == 0 &&
	    l->elems[0].offset >= low && l->elems[0].offset <= high) {
		*out = l->elems[0].offset;
		rd_kafka_topic_partition_list_destroy(l);
		return 0;
	}
	rd_kafka_topic_partition_list_destroy(l);
	while (lo < hi) {
		int64_t mid = lo + (hi - lo) / 2;

		if (art_replay_ts_at(rk, topic, partition, mid, timeout_ms, &ts))
			return -1;
		if (ts >= ms)
			hi = mid;
		else
			lo = mid + 1;
	}
	*out = lo;
	return 0;
}

/* Resolves a position to an offset of part (clamped to the watermarks). */
static int art_replay_resolve(rd_kafka_t *rk, const struct art_replay_opts *o,
			      struct art_replay_part *pt, enum art_replay_pos pos, int64_t off,
			      int64_t ms, int64_t dflt, int64_t *out)
{
	switch (pos) {
	case ART_POS_NONE:
		*out = dflt;
		return 0;
	case ART_POS_BEGINNING:
		*out = pt->low;
		return 0;
	case ART_POS_END:
		*out = pt->high;
		return 0;
	case ART_POS_OFFSET:
		*out = ART_MAX(pt->low, ART_MIN(off, pt->high));
		return 0;
	case ART_POS_TIME:
	default:
		return art_replay_offset_for_time(rk, pt->topic, pt->partition, pt->low, pt->high,
						  ms, (int)o->timeout_ms, out);
	}
}

/* Builds the plan: every selected partition of the topics with its
 * watermarks and range. Returns 0, or 2 (reported). */
static int art_replay_plan(rd_kafka_t *rk, const struct art_replay_opts *o,
			   struct art_replay_plan *plan)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, (int)o->timeout_ms);

	memset(plan, 0, sizeof(*plan));
	if (err) {
		fprintf(stderr, "artery replay: cannot read the cluster's metadata: %s\n",
			rd_kafka_err2str(err));
		return 2;
	}
	for (size_t t = 0; t < o->topic_cnt; t++) {
		const rd_kafka_metadata_topic_t *mt = NULL;
		int found = 0;

		for (int i = 0; i < md->topic_cnt; i++)
			if (!strcmp(md->topics[i].topic, o->topics[t]) && !md->topics[i].err)
				mt = &md->topics[i];
		if (!mt) {
			fprintf(stderr, "artery replay: no topic %s on the cluster\n", o->topics[t]);
			goto fail;
		}
		for (int i = 0; i < mt->partition_cnt; i++) {
			struct art_replay_part *pt, *grown;
			int32_t p = mt->partitions[i].id;

			if (o->partition >= 0 && p != o->partition)
				continue;
			grown = realloc(plan->parts, (plan->cnt + 1) * sizeof(*grown));
			if (!grown)
				goto fail;
			plan->parts = grown;
			pt = &plan->parts[plan->cnt++];
			memset(pt, 0, sizeof(*pt));
			pt->topic = o->topics[t];
			pt->partition = p;
			pt->committed = -1;
			found = 1;
			err = rd_kafka_query_watermark_offsets(rk, pt->topic, p, &pt->low, &pt->high,
							       (int)o->timeout_ms);
			if (err) {
				fprintf(stderr, "artery replay: watermarks of %s[%d]: %s\n",
					pt->topic, (int)p, rd_kafka_err2str(err));
				goto fail;
			}
			if (art_replay_resolve(rk, o, pt, o->start, o->start_offset, o->start_ms,
					       pt->low, &pt->from) ||
			    art_replay_resolve(rk, o, pt, o->end, o->end_offset, o->end_ms, pt->high,
					       &pt->until)) {
				fprintf(stderr, "artery replay: %s[%d]: no record arrived to locate "
						"the time in %lld ms\n",
					pt->topic, (int)p, o->timeout_ms);
				goto fail;
			}
			pt->next = pt->from;
			pt->done = pt->from >= pt->until;
		}
		if (!found) {
			fprintf(stderr, "artery replay: %s has no partition %d\n", o->topics[t],
				(int)o->partition);
			goto fail;
		}
	}
	rd_kafka_metadata_destroy(md);
	return 0;
fail:
	rd_kafka_metadata_destroy(md);
	free(plan->parts);
	memset(plan, 0, sizeof(*plan));
	return 2;
}

/* --- reset ------------------------------------------------------------------ */

/* What the cluster says about the group (ListGroups + DescribeGroups, the
 * synchronous rd_kafka_list_groups(): librdkafka 2.0's asynchronous
 * DescribeConsumerGroups aborts inside the library when the broker lacks
 * the API, as the embedded broker does): 1 the group has members, 0 it
 * has none (or does not exist), -1 the broker cannot say. */
static int art_replay_group_active(const struct art_replay_opts *o, char *state,
				   size_t state_size, size_t *members)
{
	char errstr[512];
	rd_kafka_conf_t *conf = art_kafka_conf_new(ART_KAFKA_ADMIN, errstr, sizeof(errstr));
	const struct rd_kafka_group_list *gl = NULL;
	rd_kafka_resp_err_t err;
	rd_kafka_t *rk;
	int rc = -1;

	snprintf(state, state_size, "unknown");
	if (!conf)
		return -1;
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		return -1;
	}
	err = rd_kafka_list_groups(rk, o->group, &gl, 8000);
	if (!err && gl) {
		rc = 0;
		for (int i = 0; i < gl->group_cnt; i++) {
			const struct rd_kafka_group_info *g = &gl->groups[i];

			if (strcmp(g->group, o->group))
				continue;
			snprintf(state, state_size, "%s", g->state ? g->state : "unknown");
			*members = (size_t)g->member_cnt;
			rc = g->member_cnt > 0 || (g->state && strcmp(g->state, "Empty") &&
						   strcmp(g->state, "Dead"));
		}
	}
	if (gl)
		rd_kafka_group_list_destroy(gl);
	rd_kafka_destroy(rk);
	return rc;
}

/* The assignment the join handed out (rebalance callback state). */
struct art_replay_join {
	rd_kafka_topic_partition_list_t *assigned;
	int revoked;
};

static void art_replay_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
				    rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct art_replay_join *j = opaque;

	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		if (j->assigned)
			rd_kafka_topic_partition_list_destroy(j->assigned);
		j->assigned = rd_kafka_topic_partition_list_copy(parts);
		rd_kafka_assign(rk, parts);
	} else {
		j->revoked = 1;
		rd_kafka_assign(rk, NULL);
	}
}

/* A member of the group, joined to the plan's topics. */
static rd_kafka_t *art_replay_join_group(const struct art_replay_opts *o,
					 struct art_replay_join *j, char *errstr,
					 size_t errstr_size)
{
	rd_kafka_conf_t *conf = art_kafka_conf_new(ART_KAFKA_CONSUMER, errstr, errstr_size);
	rd_kafka_topic_partition_list_t *sub;
	rd_kafka_t *rk;

	if (!conf)
		return NULL;
	/* a short session: should a leave go unnoticed (the embedded broker),
	 * this member stops blocking the group's real consumers within 6 s */
	if (art_kafka_conf_set(conf, "group.id", o->group, errstr, errstr_size) ||
	    art_kafka_conf_set(conf, "client.id", "artery-replay", errstr, errstr_size) ||
	    art_kafka_conf_set(conf, "session.timeout.ms", "6000", errstr, errstr_size)) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_conf_set_rebalance_cb(conf, art_replay_rebalance_cb);
	rd_kafka_conf_set_opaque(conf, j);
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_poll_set_consumer(rk);
	sub = rd_kafka_topic_partition_list_new((int)o->topic_cnt);
	for (size_t t = 0; t < o->topic_cnt; t++)
		rd_kafka_topic_partition_list_add(sub, o->topics[t], RD_KAFKA_PARTITION_UA);
	rd_kafka_subscribe(rk, sub);
	rd_kafka_topic_partition_list_destroy(sub);
	return rk;
}

/* The group's committed offsets for the plan (read without joining). */
static int art_replay_committed(const struct art_replay_opts *o, struct art_replay_plan *plan)
{
	char errstr[512];
	rd_kafka_conf_t *conf = art_kafka_conf_new(ART_KAFKA_CONSUMER, errstr, sizeof(errstr));
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_resp_err_t err;
	rd_kafka_t *rk;

	if (!conf || art_kafka_conf_set(conf, "group.id", o->group, errstr, sizeof(errstr))) {
		if (conf)
			rd_kafka_conf_destroy(conf);
		fprintf(stderr, "artery replay reset: %s\n", errstr);
		return 2;
	}
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		fprintf(stderr, "artery replay reset: %s\n", errstr);
		return 2;
	}
	l = rd_kafka_topic_partition_list_new((int)plan->cnt);
	for (size_t i = 0; i < plan->cnt; i++)
		rd_kafka_topic_partition_list_add(l, plan->parts[i].topic, plan->parts[i].partition);
	err = rd_kafka_committed(rk, l, (int)o->timeout_ms);
	for (int i = 0; !err && i < l->cnt; i++)
		plan->parts[i].committed = l->elems[i].err ? -1 : l->elems[i].offset;
	rd_kafka_topic_partition_list_destroy(l);
	rd_kafka_destroy(rk);
	if (err) {
		fprintf(stderr, "artery replay reset: committed offsets of %s: %s\n", o->group,
			rd_kafka_err2str(err));
		return 2;
	}
	return 0;
}

/* Joins the group, checks it got every partition of the plan's topics
 * (else another member is alive), commits the plan and leaves. */
static int art_replay_commit_as_member(const struct art_replay_opts *o,
				       const struct art_replay_plan *plan, int check_alone)
{
	struct art_replay_join j = {0};
	rd_kafka_topic_partition_list_t *l = NULL;
	int64_t deadline = art_mono_us() / 1000 + o->timeout_ms + 10000;
	rd_kafka_resp_err_t err;
	char errstr[512];
	size_t total = 0;
	int rc = 0;
	rd_kafka_t *rk = art_replay_join_group(o, &j, errstr, sizeof(errstr));

	if (!rk) {
		fprintf(stderr, "artery replay reset: %s\n", errstr);
		return 2;
	}
	while (!j.assigned && art_mono_us() / 1000 < deadline) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);

		if (m)
			rd_kafka_message_destroy(m);
	}
	if (!j.assigned) {
		printf("refused: could not join group %s within %lld ms: a group with active "
		       "members makes a newcomer wait for their rebalance; stop its consumers, "
		       "then run the reset again\n",
		       o->group, o->timeout_ms + 10000);
		rc = 1;
		goto out;
	}
	/* partitions of the topics = what a lone member is given */
	{
		const struct rd_kafka_metadata *md = NULL;

		if (rd_kafka_metadata(rk, 1, NULL, &md, (int)o->timeout_ms) == 0) {
			for (int i = 0; i < md->topic_cnt; i++)
				for (size_t t = 0; t < o->topic_cnt; t++)
					if (!strcmp(md->topics[i].topic, o->topics[t]))
						total += (size_t)md->topics[i].partition_cnt;
			rd_kafka_metadata_destroy(md);
		}
	}
	if (check_alone && (size_t)j.assigned->cnt < total) {
		printf("refused: group %s has other active members (this join was given %d of "
		       "%zu partitions): stop its consumers, then run the reset again\n",
		       o->group, j.assigned->cnt, total);
		rc = 1;
		goto out;
	}
	l = rd_kafka_topic_partition_list_new((int)plan->cnt);
	for (size_t i = 0; i < plan->cnt; i++)
		rd_kafka_topic_partition_list_add(l, plan->parts[i].topic, plan->parts[i].partition)
			->offset = plan->parts[i].from;
	err = rd_kafka_commit(rk, l, 0);
	for (int i = 0; !err && i < l->cnt; i++)
		if (l->elems[i].err)
			err = l->elems[i].err;
	if (err) {
		fprintf(stderr, "artery replay reset: commit failed: %s\n", rd_kafka_err2str(err));
		rc = 2;
	}
out:
	if (l)
		rd_kafka_topic_partition_list_destroy(l);
	if (j.assigned)
		rd_kafka_topic_partition_list_destroy(j.assigned);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return rc;
}

static int art_replay_reset(const struct art_replay_opts *o, rd_kafka_t *rk)
{
	struct art_replay_plan plan;
	char state[64];
	size_t members = 0;
	int rc = art_replay_plan(rk, o, &plan), active;

	if (rc)
		return rc;
	rc = art_replay_committed(o, &plan);
	if (rc)
		goto out;
	printf("group %s%s:\n", o->group, o->dry_run ? " (dry run)" : "");
	for (size_t i = 0; i < plan.cnt; i++) {
		const struct art_replay_part *pt = &plan.parts[i];
		int64_t was = pt->committed >= 0 ? pt->committed : pt->low;

		printf("  %s[%d]: committed %s%" PRId64 " -> %" PRId64 "  (%s %" PRId64
		       " records; log %" PRId64 "..%" PRId64 ")\n",
		       pt->topic, (int)pt->partition, pt->committed >= 0 ? "" : "none, from ",
		       was, pt->from, pt->from <= was ? "replays" : "skips",
		       pt->from <= was ? was - pt->from : pt->from - was, pt->low, pt->high);
	}
	if (o->dry_run) {
		printf("dry run: nothing changed\n");
		goto out;
	}
	active = art_replay_group_active(o, state, sizeof(state), &members);
	if (active == 1) {
		printf("refused: group %s is %s with %zu members: stop its consumers, then run "
		       "the reset again\n",
		       o->group, state, members);
		rc = 1;
		goto out;
	}
	rc = art_replay_commit_as_member(o, &plan, active == -1);
	if (rc == 0) {
		rc = art_replay_committed(o, &plan);
		for (size_t i = 0; rc == 0 && i < plan.cnt; i++)
			if (plan.parts[i].committed != plan.parts[i].from) {
				printf("not applied: %s[%d] is at %" PRId64 "\n", plan.parts[i].topic,
				       (int)plan.parts[i].partition, plan.parts[i].committed);
				rc = 1;
			}
		if (rc == 0)
			printf("reset: %zu partitions committed; start the group's process to "
			       "resume from there\n",
			       plan.cnt);
	}
out:
	free(plan.parts);
	return rc;
}

/* --- copy ------------------------------------------------------------------- */

struct art_replay_stats {
	long long read, copied, filtered, no_destination, failed, in_flight;
	int64_t t0_us;
};

static void art_replay_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct art_replay_stats *st = opaque;

	(void)rk;
	st->in_flight--;
	if (m->err)
		st->failed++;
	else
		st->copied++;
}

/* The envelope's event_type and source.facility of an Avro value (empty
 * when it cannot be decoded). */
static void art_replay_envelope(const struct art_schema_registry *reg, const rd_kafka_message_t *m,
				char *event_type, size_t et_size, char *facility, size_t f_size)
{
	char errstr[256];
	json_t *v = NULL;

	event_type[0] = facility[0] = '\0';
	if (!reg || !m->payload || art_avro_decode_json(reg, m->payload, m->len, &v, NULL, errstr,
							 sizeof(errstr)))
		return;
	snprintf(event_type, et_size, "%s",
		 json_string_value(json_object_get(v, "event_type")) ?: "");
	snprintf(facility, f_size, "%s",
		 json_string_value(json_object_get(json_object_get(v, "source"), "facility")) ?: "");
	json_decref(v);
}

/* Copies one record (or counts it in a dry run). */
static void art_replay_one(const struct art_replay_opts *o, rd_kafka_t *prod,
			   const struct art_schema_registry *reg, rd_kafka_message_t *m,
			   struct art_replay_stats *st)
{
	int dlq = !strncmp(o->topics[0], "dlq.", 4);
	char dest[256], et[128], fac[128], mt[64], src[300], errstr[256];
	struct art_record *rec;

	st->read++;
	if (o->route.event_type_cnt || o->route.facility_cnt)
		art_replay_envelope(reg, m, et, sizeof(et), fac, sizeof(fac));
	else
		et[0] = fac[0] = '\0';
	if (art_kafka_header_get(m, "hl7.message_type", mt, sizeof(mt)) < 0)
		mt[0] = '\0';
	if (!art_route_match(&o->route, et[0] ? et : NULL, fac[0] ? fac : NULL,
			     mt[0] ? mt : NULL, NULL)) {
		st->filtered++;
		return;
	}
	if (o->to)
		snprintf(dest, sizeof(dest), "%s", o->to);
	else if (art_kafka_header_get(m, ART_HDR_ORIGINAL_TOPIC, dest, sizeof(dest)) <= 0) {
		st->no_destination++;
		return;
	}
	if (o->dry_run || !prod) {
		st->copied++;
		return;
	}
	rec = art_record_from_message(dest, m, dlq ? art_dlq_is_dlq_header : NULL,
				      ART_RECORD_MAX_HEADERS - 1, errstr, sizeof(errstr));
	snprintf(src, sizeof(src), "%s/%" PRId32 "/%" PRId64, o->topics[0], m->partition,
		 m->offset);
	if (!rec || art_record_add_header_str(rec, ART_HDR_REPLAYED_FROM, src)) {
		fprintf(stderr, "artery replay copy: %s/%d/%" PRId64 ": %s\n", o->topics[0],
			(int)m->partition, m->offset, rec ? "out of memory" : errstr);
		st->failed++;
		art_record_destroy(rec);
		return;
	}
	for (;;) {
		rd_kafka_resp_err_t err = art_record_produce(prod, rec, NULL);

		if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			rd_kafka_poll(prod, 50);
			continue;
		}
		if (err) {
			fprintf(stderr, "artery replay copy: produce to %s: %s\n", dest,
				rd_kafka_err2str(err));
			st->failed++;
		} else {
			st->in_flight++;
		}
		break;
	}
	art_record_destroy(rec);
	rd_kafka_poll(prod, 0);
}

static void art_replay_summary(const struct art_replay_opts *o, const struct art_replay_stats *st,
			       int complete)
{
	double secs = (double)(art_mono_us() - st->t0_us) / 1e6;

	if (o->json) {
		printf("{\"from\":\"%s\",\"to\":\"%s\",\"dry_run\":%s,\"read\":%lld,"
		       "\"%s\":%lld,\"filtered\":%lld,\"no_destination\":%lld,\"failed\":%lld,"
		       "\"complete\":%s,\"seconds\":%.3f}\n",
		       o->topics[0], o->to ? o->to : "(artery.original.topic)",
		       o->dry_run ? "true" : "false", st->read,
		       o->dry_run ? "would_copy" : "copied", st->copied, st->filtered,
		       st->no_destination, st->failed, complete ? "true" : "false", secs);
		return;
	}
	printf("%s%s -> %s: read %lld, %s %lld, filtered out %lld, no destination %lld, "
	       "failed %lld%s (%.1f s)\n",
	       o->dry_run ? "dry run: " : "", o->topics[0],
	       o->to ? o->to : "artery.original.topic", st->read,
	       o->dry_run ? "would copy" : "copied", st->copied, st->filtered, st->no_destination,
	       st->failed, complete ? "" : ", END NOT REACHED", secs);
}

static int art_replay_copy(const struct art_replay_opts *o, rd_kafka_t *rk)
{
	struct art_replay_stats st = {0};
	struct art_replay_plan plan;
	struct art_schema_registry *reg = NULL;
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_t *prod = NULL;
	int64_t last_progress, last_report;
	size_t open_parts = 0;
	char errstr[512];
	int rc = art_replay_plan(rk, o, &plan);

	if (rc)
		return rc;
	if (o->route.event_type_cnt || o->route.facility_cnt) {
		reg = art_schema_registry_load(o->schemas_dir, errstr, sizeof(errstr));
		if (!reg) {
			fprintf(stderr, "artery replay copy: %s\n", errstr);
			rc = 2;
			goto out;
		}
	}
	if (!o->dry_run) {
		rd_kafka_conf_t *conf = art_kafka_conf_new(ART_KAFKA_PRODUCER, errstr, sizeof(errstr));

		if (conf) {
			rd_kafka_conf_set_dr_msg_cb(conf, art_replay_dr_cb);
			rd_kafka_conf_set_opaque(conf, &st);
			prod = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
			if (!prod)
				rd_kafka_conf_destroy(conf);
		}
		if (!prod) {
			fprintf(stderr, "artery replay copy: %s\n", errstr);
			rc = 2;
			goto out;
		}
	}
	l = rd_kafka_topic_partition_list_new((int)plan.cnt);
	for (size_t i = 0; i < plan.cnt; i++) {
		if (plan.parts[i].done)
			continue;
		rd_kafka_topic_partition_list_add(l, plan.parts[i].topic, plan.parts[i].partition)
			->offset = plan.parts[i].from;
		open_parts++;
	}
	rd_kafka_assign(rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	st.t0_us = art_mono_us();
	last_progress = last_report = st.t0_us;
	while (open_parts > 0 && (!o->limit || st.copied + st.in_flight < o->limit)) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
		int64_t now = art_mono_us();

		if (prod)
			rd_kafka_poll(prod, 0);
		if (now - last_report >= 1000000) {
			fprintf(stderr, "artery replay copy: read %lld, copied %lld, in flight %lld\n",
				st.read, st.copied, st.in_flight);
			last_report = now;
		}
		if (!m) {
			if ((now - last_progress) / 1000 > o->timeout_ms)
				break;
			continue;
		}
		for (size_t i = 0; i < plan.cnt; i++) {
			struct art_replay_part *pt = &plan.parts[i];

			if (pt->done || m->partition != pt->partition ||
			    strcmp(rd_kafka_topic_name(m->rkt), pt->topic))
				continue;
			if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
				if (m->offset >= pt->until) {
					pt->done = 1;
					open_parts--;
				}
			} else if (!m->err && m->offset >= pt->next && m->offset < pt->until) {
				art_replay_one(o, prod, reg, m, &st);
				pt->next = m->offset + 1;
				last_progress = now;
				if (pt->next >= pt->until) {
					pt->done = 1;
					open_parts--;
				}
			} else if (!m->err && m->offset >= pt->until && !pt->done) {
				pt->done = 1;
				open_parts--;
			}
		}
		if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
			fprintf(stderr, "artery replay copy: %s\n", rd_kafka_message_errstr(m));
		rd_kafka_message_destroy(m);
		if (o->rate) {
			/* keep read records at or under rate per second */
			int64_t due = st.t0_us + (int64_t)((double)st.read * 1e6 / (double)o->rate);

			int64_t wait = due - art_mono_us();

			if (wait > 0) {
				struct timespec ts = {(time_t)(wait / 1000000),
						      (long)(wait % 1000000) * 1000};

				nanosleep(&ts, NULL);
			}
		}
	}
	if (prod) {
		rd_kafka_flush(prod, (int)o->timeout_ms);
		if (st.in_flight > 0) {
			st.failed += st.in_flight;
			st.in_flight = 0;
		}
	}
	art_replay_summary(o, &st, open_parts == 0 || (o->limit && st.copied >= o->limit));
	rc = st.failed || st.no_destination ||
		     !(open_parts == 0 || (o->limit && st.copied >= o->limit))
		     ? 1
		     : 0;
out:
	if (prod)
		rd_kafka_destroy(prod);
	art_schema_registry_destroy(reg);
	free(plan.parts);
	return rc;
}

int art_cmd_replay(int argc, char **argv)
{
	struct art_replay_opts o;
	char errstr[512];
	rd_kafka_t *rk;
	int rc = art_replay_parse(argc, argv, &o);

	if (rc)
		return rc < 0 ? 0 : rc;
	rk = art_replay_reader(&o, o.topics[0], errstr, sizeof(errstr));
	if (!rk) {
		fprintf(stderr, "artery replay %s: %s\n", o.copy ? "copy" : "reset", errstr);
		return 2;
	}
	rc = o.copy ? art_replay_copy(&o, rk) : art_replay_reset(&o, rk);
	rd_kafka_destroy(rk);
	return rc;
}

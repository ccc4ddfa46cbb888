/*
 * cmd_dlq.c — `artery dlq list|show`: what is in a dead-letter topic and
 * why.
 *
 * Dead letters (common/dlq.h) are the original records plus headers naming
 * the error, its kind, the attempts and where the record came from. `list`
 * prints one line per dead letter (partition:offset, when, original
 * topic/partition/offset, attempts, kind, event type and id, error); `show`
 * prints one dead letter in full as JSON (headers and the value decoded with
 * the schema registry). Like `artery tail`, both read with plain assigned
 * partitions: no consumer group is joined and nothing is committed, so they
 * never disturb the consumers or a later redrive. Bounded: they stop at the
 * end of every partition, or after --timeout-ms without progress.
 */
#include "art.h"
#include "avro_codec.h"
#include "cmd.h"
#include "topic_reader.h"
#include "dlq.h"
#include "kafka.h"
#include "log.h"
#include "record.h"
#include "schema.h"

#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ART_DLQ_CLI_TIMEOUT_MS 10000 /* default: no progress for this long fails */
#define ART_DLQ_CLI_POLL_MS    100

struct art_dlq_opts {
	const char *topic;
	const char *schemas_dir; /* NULL: art_schema_dir() */
	long long limit;         /* list: at most this many lines; 0 = all */
	long long timeout_ms;
	int json;          /* list: JSON lines instead of text */
	int32_t partition; /* show */
	int64_t offset;    /* show */
};

static void art_dlq_usage(FILE *fp)
{
	fprintf(fp,
	        "usage: artery dlq list [options] TOPIC\n"
	        "       artery dlq show [options] TOPIC PARTITION:OFFSET\n"
	        "\n"
	        "Explains a dead-letter topic (dlq.<process>): each record there is an event\n"
	        "a consumer could not deliver, with the original key, value and headers plus\n"
	        "artery.error, artery.error.kind, artery.attempts and\n"
	        "artery.original.topic/partition/offset. Joins no consumer group and\n"
	        "commits nothing.\n"
	        "\n"
	        "  list   one line per dead letter: PARTITION:OFFSET, when it was\n"
	        "         dead-lettered (UTC), ORIGINAL topic/partition/offset, ATTEMPTS,\n"
	        "         KIND (rejected | retries_exhausted | undecodable), event type,\n"
	        "         event id, and the error\n"
	        "  show   one dead letter as JSON: headers, key, and the value decoded\n"
	        "         with the schema registry\n"
	        "\n"
	        "options:\n"
	        "  --limit N         list: stop after N records (default: all)\n"
	        "  --json            list: JSON lines instead of a table\n"
	        "  --timeout-ms T    give up when T ms pass without progress (default %d)\n"
	        "  --schemas DIR     schema registry directory (default $ARTERY_SCHEMAS_DIR,\n"
	        "                    else ./schemas, else the source tree's schemas/)\n"
	        "  -h, --help        this text\n"
	        "\n"
	        "Kafka: ARTERY_KAFKA_BOOTSTRAP, else .artery/bootstrap (from `artery broker`).\n"
	        "Exit: 0 done, 1 the record does not exist or the end was not reached,\n"
	        "2 usage or start-up error.\n",
	        ART_DLQ_CLI_TIMEOUT_MS);
}

/* Parses "P:O". */
static int art_dlq_parse_pos(const char *s, int32_t *partition, int64_t *offset)
{
	const char *colon = strchr(s, ':');
	char part[32];
	long long p, o;

	if (!colon || (size_t)(colon - s) >= sizeof(part))
		return -1;
	memcpy(part, s, (size_t)(colon - s));
	part[colon - s] = '\0';
	if (art_parse_int(part, 0, INT32_MAX, &p) || art_parse_int(colon + 1, 0, INT64_MAX, &o))
		return -1;
	*partition = (int32_t)p;
	*offset = o;
	return 0;
}

/* Parses argv (after the verb). Returns -1 to exit 0 (help shown), 0 to
 * run, 2 on a usage error (reported). */
static int art_dlq_parse(int argc, char **argv, int show, struct art_dlq_opts *o)
{
	enum { OPT_LIMIT = 256, OPT_JSON, OPT_TIMEOUT, OPT_SCHEMAS };
	static const struct option opts[] = {
	    {"limit", required_argument, NULL, OPT_LIMIT},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
	    {"schemas", required_argument, NULL, OPT_SCHEMAS},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};

	memset(o, 0, sizeof(*o));
	o->timeout_ms = ART_DLQ_CLI_TIMEOUT_MS;
	optind = 1;
	for (;;) {
		int c = getopt_long(argc, argv, "h", opts, NULL);

		if (c == -1)
			break;
		switch (c) {
		case OPT_LIMIT:
			if (art_parse_int(optarg, 1, INT64_MAX, &o->limit)) {
				fprintf(stderr, "artery dlq: --limit must be a positive number\n");
				return 2;
			}
			break;
		case OPT_JSON:
			o->json = 1;
			break;
		case OPT_TIMEOUT:
			if (art_parse_int(optarg, 1, 86400000LL, &o->timeout_ms)) {
				fprintf(stderr,
				        "artery dlq: --timeout-ms must be a positive number\n");
				return 2;
			}
			break;
		case OPT_SCHEMAS:
			o->schemas_dir = optarg;
			break;
		case 'h':
			art_dlq_usage(stdout);
			return -1;
		default:
			art_dlq_usage(stderr);
			return 2;
		}
	}
	if (optind != argc - (show ? 2 : 1)) {
		fprintf(stderr, "artery dlq %s: expected %s\n\n", show ? "show" : "list",
		        show ? "TOPIC PARTITION:OFFSET" : "exactly one TOPIC");
		art_dlq_usage(stderr);
		return 2;
	}
	o->topic = argv[optind];
	if (show && art_dlq_parse_pos(argv[optind + 1], &o->partition, &o->offset)) {
		fprintf(stderr, "artery dlq show: bad position '%s' (want PARTITION:OFFSET)\n",
		        argv[optind + 1]);
		return 2;
	}
	return 0;
}

/* A group-less reader of the dead-letter topic: every partition from the
 * beginning (partition < 0) or one partition at offset. */
static rd_kafka_t *art_dlq_open(const struct art_dlq_opts *o, int32_t partition, int64_t offset,
                                int *pcnt, char *errstr, size_t errstr_size)
{
	return art_topic_reader_open(o->topic, partition,
	                             partition < 0 ? RD_KAFKA_OFFSET_BEGINNING : offset, "artery-dlq",
	                             (int)ART_MIN(o->timeout_ms, 30000), pcnt, errstr, errstr_size);
}

/* Copies header name into buf, or "-" when absent. */
static void art_dlq_hdr(rd_kafka_message_t *rkm, const char *name, char *buf, size_t size)
{
	if (art_kafka_header_get(rkm, name, buf, size) < 0 || !buf[0])
		snprintf(buf, size, "-");
}

/* Formats epoch microseconds (as text) as ISO 8601 UTC, or the record
 * timestamp when us is absent. */
static void art_dlq_time(rd_kafka_message_t *rkm, const char *us_text, char *buf, size_t size)
{
	rd_kafka_timestamp_type_t tstype;
	long long us;
	time_t secs;
	struct tm tm;

	if (art_parse_int(us_text, 0, INT64_MAX, &us)) {
		int64_t ms = rd_kafka_message_timestamp(rkm, &tstype);

		if (ms < 0) {
			snprintf(buf, size, "-");
			return;
		}
		us = ms * 1000;
	}
	secs = (time_t)(us / 1000000);
	gmtime_r(&secs, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The event type of the decoded value, or "-". */
static void art_dlq_event_type(const struct art_schema_registry *reg, rd_kafka_message_t *rkm,
                               char *buf, size_t size)
{
	json_t *value = NULL, *et;
	char err[256];

	snprintf(buf, size, "-");
	if (!reg || !rkm->payload ||
	    art_avro_decode_json(reg, rkm->payload, rkm->len, &value, NULL, err, sizeof(err)))
		return;
	et = json_object_get(value, "event_type");
	if (json_is_string(et))
		snprintf(buf, size, "%s", json_string_value(et));
	json_decref(value);
}

/* Prints the list line of one dead letter. */
static int art_dlq_print_line(const struct art_dlq_opts *o, const struct art_schema_registry *reg,
                              rd_kafka_message_t *rkm)
{
	char when_us[32], when[40], otopic[256], opart[16], ooff[24], attempts[16], kind[32];
	char event_type[128], event_id[128], error[ART_DLQ_ERROR_MAX], orig[320];

	art_dlq_hdr(rkm, ART_HDR_DEAD_LETTERED_AT, when_us, sizeof(when_us));
	art_dlq_time(rkm, when_us, when, sizeof(when));
	art_dlq_hdr(rkm, ART_HDR_ORIGINAL_TOPIC, otopic, sizeof(otopic));
	art_dlq_hdr(rkm, ART_HDR_ORIGINAL_PARTITION, opart, sizeof(opart));
	art_dlq_hdr(rkm, ART_HDR_ORIGINAL_OFFSET, ooff, sizeof(ooff));
	art_dlq_hdr(rkm, ART_HDR_ATTEMPTS, attempts, sizeof(attempts));
	art_dlq_hdr(rkm, ART_HDR_ERROR_KIND, kind, sizeof(kind));
	art_dlq_hdr(rkm, ART_HDR_EVENT_ID, event_id, sizeof(event_id));
	art_dlq_hdr(rkm, ART_HDR_ERROR, error, sizeof(error));
	art_dlq_event_type(reg, rkm, event_type, sizeof(event_type));
	if (o->json) {
		json_t *line = json_pack(
		    "{s:i,s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "partition",
		    (int)rkm->partition, "offset", (json_int_t)rkm->offset, "dead_lettered_at", when,
		    "original_topic", otopic, "original_partition", opart, "original_offset", ooff,
		    "attempts", attempts, "kind", kind, "event_type", event_type, "event_id",
		    event_id, "error", error);

		if (!line || json_dumpf(line, stdout, JSON_COMPACT) || fputc('\n', stdout) == EOF) {
			json_decref(line);
			return -1;
		}
		json_decref(line);
		return 0;
	}
	snprintf(orig, sizeof(orig), "%s/%s/%s", otopic, opart, ooff);
	if (printf("%" PRId32 ":%-8" PRId64 " %-20s  %-28s %-8s %-17s %-20s %-36s %s\n",
	           rkm->partition, rkm->offset, when, orig, attempts, kind, event_type, event_id,
	           error) < 0)
		return -1;
	return 0;
}

/* Prints one dead letter in full. */
static int art_dlq_print_full(const struct art_schema_registry *reg, rd_kafka_message_t *rkm)
{
	rd_kafka_timestamp_type_t tstype;
	int64_t ts = rd_kafka_message_timestamp(rkm, &tstype);
	json_t *doc = json_object(), *value = NULL;
	char err[512];
	int id = -1, rc = 0;

	json_object_set_new(doc, "topic", json_string(rd_kafka_topic_name(rkm->rkt)));
	json_object_set_new(doc, "partition", json_integer(rkm->partition));
	json_object_set_new(doc, "offset", json_integer(rkm->offset));
	json_object_set_new(doc, "timestamp", ts >= 0 ? json_integer(ts) : json_null());
	json_object_set_new(doc, "key",
	                    rkm->key ? art_avro_bytes_json(rkm->key, rkm->key_len) : json_null());
	json_object_set_new(doc, "headers", art_topic_reader_headers_json(rkm));
	if (!rkm->payload) {
		json_object_set_new(doc, "value", json_null());
	} else if (reg && art_avro_decode_json(reg, rkm->payload, rkm->len, &value, &id, err,
	                                       sizeof(err)) == 0) {
		const struct art_schema *s = art_schema_by_id(reg, id);

		json_object_set_new(doc, "schema", json_sprintf("%s:%d", s->subject, s->version));
		json_object_set_new(doc, "schema_id", json_integer(id));
		json_object_set_new(doc, "value", value);
	} else {
		json_object_set_new(doc, "value", art_avro_bytes_json(rkm->payload, rkm->len));
		json_object_set_new(doc, "decode_error",
		                    json_string(reg ? err : "no schema registry"));
	}
	if (json_dumpf(doc, stdout, JSON_INDENT(2)) || fputc('\n', stdout) == EOF)
		rc = -1;
	json_decref(doc);
	return rc;
}

static int art_dlq_list(const struct art_dlq_opts *o, const struct art_schema_registry *reg)
{
	rd_kafka_t *rk;
	char errstr[512];
	int pcnt = 0, eofs = 0, rc = 0;
	long long printed = 0;
	int64_t last = art_mono_us();
	char *eof;

	rk = art_dlq_open(o, -1, 0, &pcnt, errstr, sizeof(errstr));
	if (!rk) {
		fprintf(stderr, "artery dlq list: %s\n", errstr);
		return 2;
	}
	eof = calloc((size_t)pcnt, 1);
	if (!eof) {
		rd_kafka_destroy(rk);
		return 2;
	}
	if (!o->json)
		printf("%-10s %-20s  %-28s %-8s %-17s %-20s %-36s %s\n", "PART:OFF",
		       "DEAD-LETTERED (UTC)", "ORIGINAL", "ATTEMPTS", "KIND", "EVENT TYPE",
		       "EVENT ID", "ERROR");
	while (art_run && eofs < pcnt && (!o->limit || printed < o->limit)) {
		rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, ART_DLQ_CLI_POLL_MS);

		if (!rkm) {
			if ((art_mono_us() - last) / 1000 >= o->timeout_ms) {
				fprintf(stderr,
				        "artery dlq list: no progress for %lld ms; the end of %s was "
				        "not reached\n",
				        o->timeout_ms, o->topic);
				rc = 1;
				break;
			}
			continue;
		}
		last = art_mono_us();
		if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			if (rkm->partition >= 0 && rkm->partition < pcnt && !eof[rkm->partition]) {
				eof[rkm->partition] = 1;
				eofs++;
			}
		} else if (rkm->err) {
			fprintf(stderr, "artery dlq list: %s\n", rd_kafka_message_errstr(rkm));
		} else if (art_dlq_print_line(o, reg, rkm) == -1) {
			rc = 1;
			rd_kafka_message_destroy(rkm);
			break;
		} else {
			printed++;
		}
		rd_kafka_message_destroy(rkm);
	}
	free(eof);
	rd_kafka_destroy(rk);
	return rc;
}

static int art_dlq_show(const struct art_dlq_opts *o, const struct art_schema_registry *reg)
{
	rd_kafka_t *rk;
	char errstr[512];
	int pcnt = 0, rc = 1;
	int64_t start = art_mono_us();

	rk = art_dlq_open(o, o->partition, o->offset, &pcnt, errstr, sizeof(errstr));
	if (!rk) {
		fprintf(stderr, "artery dlq show: %s\n", errstr);
		return 2;
	}
	while (art_run && (art_mono_us() - start) / 1000 < o->timeout_ms) {
		rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, ART_DLQ_CLI_POLL_MS);

		if (!rkm)
			continue;
		if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF ||
		    (!rkm->err && rkm->offset > o->offset)) {
			fprintf(stderr, "artery dlq show: %s has no record at %" PRId32 ":%" PRId64 "\n",
			        o->topic, o->partition, o->offset);
			rd_kafka_message_destroy(rkm);
			break;
		}
		if (rkm->err) {
			fprintf(stderr, "artery dlq show: %s\n", rd_kafka_message_errstr(rkm));
			rd_kafka_message_destroy(rkm);
			break;
		}
		rc = art_dlq_print_full(reg, rkm) == 0 ? 0 : 1;
		rd_kafka_message_destroy(rkm);
		break;
	}
	rd_kafka_destroy(rk);
	return rc;
}

int art_cmd_dlq(int argc, char **argv)
{
	struct art_dlq_opts o;
	struct art_schema_registry *reg;
	char errstr[512];
	int show, rc;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		art_dlq_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "list") && strcmp(argv[1], "show")) {
		fprintf(stderr, "artery dlq: unknown action '%s' (list or show)\n\n", argv[1]);
		art_dlq_usage(stderr);
		return 2;
	}
	show = !strcmp(argv[1], "show");
	rc = art_dlq_parse(argc - 1, argv + 1, show, &o);
	if (rc)
		return rc == -1 ? 0 : rc;
	/* Without a registry the values stay undecoded; the reasons still show. */
	reg = art_schema_registry_load(o.schemas_dir, errstr, sizeof(errstr));
	if (!reg)
		fprintf(stderr, "artery dlq: schemas: %s (values not decoded)\n", errstr);
	art_signals_install();
	rc = show ? art_dlq_show(&o, reg) : art_dlq_list(&o, reg);
	art_schema_registry_destroy(reg);
	return rc;
}

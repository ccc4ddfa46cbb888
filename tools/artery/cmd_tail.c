/*
 * cmd_tail.c — `artery tail`: decode a topic to JSON lines on stdout.
 *
 * A plain consumer that joins no group: it assigns every partition of the topic
 * (or one) at the start offset and never commits, so it disturbs no
 * consumer group and can be run any number of times. Each record becomes
 * one line:
 *
 *   {"topic":..,"partition":..,"offset":..,"timestamp":..,"key":..,
 *    "headers":{..},"schema":"subject:version","schema_id":N,"value":{..}}
 *
 * Values in the Confluent wire format are decoded with the writer's schema
 * from the registry (avro_codec.h's JSON mapping); anything else is printed
 * as text or base64 with an "error" saying why — a bad record never stops
 * the tail. Like kcat, it starts at the beginning by default and, without
 * -f, stops at the end of every partition (docs/schemas.md).
 */
#include "art.h"
#include "avro_codec.h"
#include "cmd.h"
#include "topic_reader.h"
#include "kafka.h"
#include "log.h"
#include "schema.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ART_TAIL_POLL_MS            100   /* how often the loop looks at art_run */
#define ART_TAIL_DEFAULT_TIMEOUT_MS 10000 /* without -f: no progress for this long fails */

struct art_tail_opts {
	const char *topic;
	const char *schemas_dir; /* NULL: art_schema_dir() */
	int64_t offset;          /* start offset, or RD_KAFKA_OFFSET_* */
	int follow;              /* -f: keep waiting for new records */
	long long limit;         /* stop after this many records; 0: no limit */
	int partition;           /* only this partition; -1: all */
	long long timeout_ms;    /* no progress for this long ends the tail; 0: never */
};

static void art_tail_usage(FILE *fp)
{
	fprintf(fp,
	        "usage: artery tail [options] TOPIC\n"
	        "\n"
	        "Prints the records of TOPIC as JSON lines, decoding Artery's Avro values\n"
	        "(Confluent wire format: 0x00, 4-byte schema id, Avro body) with the schema\n"
	        "registry. Joins no consumer group and commits nothing.\n"
	        "\n"
	        "options:\n"
	        "  --from-beginning   start at the first record of each partition (default)\n"
	        "  --from-end         start after the last record (only new records; use with -f)\n"
	        "  --offset N         start at offset N in each partition; -N starts N records\n"
	        "                     before the end; also 'beginning' or 'end'\n"
	        "  -f, --follow       keep waiting for new records (default: stop at the end of\n"
	        "                     every partition)\n"
	        "  --limit N          stop after N records\n"
	        "  --partition P      read only partition P\n"
	        "  --timeout-ms T     stop when T ms pass without a record or end of partition\n"
	        "                     (default %d without -f, an error then; with -f never, and\n"
	        "                     reaching it is a normal exit)\n"
	        "  --schemas DIR      schema registry directory (default $ARTERY_SCHEMAS_DIR,\n"
	        "                     else ./schemas, else the source tree's schemas/)\n"
	        "  -h, --help         this text\n"
	        "\n"
	        "Each line: {\"topic\",\"partition\",\"offset\",\"timestamp\" (ms, or null),\n"
	        "\"key\",\"headers\":{name: value},\"schema\":\"subject:version\",\"schema_id\",\n"
	        "\"value\"}. Unions are shown as their plain value, timestamps as integers\n"
	        "(micros), bytes as text when valid UTF-8, else {\"base64\": \"...\"} (also\n"
	        "keys and header values). A record that cannot be decoded keeps its raw value\n"
	        "and gets \"error\" with the reason. A repeated header name gives an array.\n"
	        "\n"
	        "Kafka: ARTERY_KAFKA_BOOTSTRAP, else .artery/bootstrap (from `artery broker`);\n"
	        "ARTERY_KAFKA_<PROPERTY> sets any librdkafka property.\n"
	        "Exit: 0 done, 1 a record could not be decoded or the end was not reached,\n"
	        "2 usage or start-up error.\n",
	        ART_TAIL_DEFAULT_TIMEOUT_MS);
}

/* Parses the --offset argument. */
static int art_tail_parse_offset(const char *s, int64_t *out)
{
	long long v;

	if (!strcmp(s, "beginning")) {
		*out = RD_KAFKA_OFFSET_BEGINNING;
		return 0;
	}
	if (!strcmp(s, "end")) {
		*out = RD_KAFKA_OFFSET_END;
		return 0;
	}
	if (art_parse_int(s, -1000000000000LL, INT64_MAX, &v))
		return -1;
	*out = v < 0 ? RD_KAFKA_OFFSET_TAIL(-v) : v;
	return 0;
}

/* Parses argv into o. Returns -1 to exit 0 (help shown), 0 to run, 2 on a
 * usage error (already reported). */
static int art_tail_parse(int argc, char **argv, struct art_tail_opts *o)
{
	enum {
		OPT_BEGIN = 256,
		OPT_END,
		OPT_OFFSET,
		OPT_LIMIT,
		OPT_PART,
		OPT_TIMEOUT,
		OPT_SCHEMAS
	};
	static const struct option opts[] = {
	    {"from-beginning", no_argument, NULL, OPT_BEGIN},
	    {"from-end", no_argument, NULL, OPT_END},
	    {"offset", required_argument, NULL, OPT_OFFSET},
	    {"follow", no_argument, NULL, 'f'},
	    {"limit", required_argument, NULL, OPT_LIMIT},
	    {"partition", required_argument, NULL, OPT_PART},
	    {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
	    {"schemas", required_argument, NULL, OPT_SCHEMAS},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int timeout_set = 0;
	long long v;
	int c;

	memset(o, 0, sizeof(*o));
	o->offset = RD_KAFKA_OFFSET_BEGINNING;
	o->partition = -1;
	optind = 1;
	for (;;) {
		c = getopt_long(argc, argv, "fh", opts, NULL);
		if (c == -1)
			break;
		switch (c) {
		case OPT_BEGIN:
			o->offset = RD_KAFKA_OFFSET_BEGINNING;
			break;
		case OPT_END:
			o->offset = RD_KAFKA_OFFSET_END;
			break;
		case OPT_OFFSET:
			if (art_tail_parse_offset(optarg, &o->offset)) {
				fprintf(stderr, "artery tail: bad --offset '%s'\n", optarg);
				return 2;
			}
			break;
		case 'f':
			o->follow = 1;
			break;
		case OPT_LIMIT:
			if (art_parse_int(optarg, 1, INT64_MAX, &o->limit)) {
				fprintf(stderr, "artery tail: --limit must be a positive number\n");
				return 2;
			}
			break;
		case OPT_PART:
			if (art_parse_int(optarg, 0, 1000000, &v)) {
				fprintf(stderr, "artery tail: bad --partition '%s'\n", optarg);
				return 2;
			}
			o->partition = (int)v;
			break;
		case OPT_TIMEOUT:
			if (art_parse_int(optarg, 1, 86400000LL * 365, &o->timeout_ms)) {
				fprintf(stderr,
				        "artery tail: --timeout-ms must be a positive number\n");
				return 2;
			}
			timeout_set = 1;
			break;
		case OPT_SCHEMAS:
			o->schemas_dir = optarg;
			break;
		case 'h':
			art_tail_usage(stdout);
			return -1;
		default:
			art_tail_usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "artery tail: expected exactly one TOPIC\n\n");
		art_tail_usage(stderr);
		return 2;
	}
	o->topic = argv[optind];
	if (!timeout_set)
		o->timeout_ms = o->follow ? 0 : ART_TAIL_DEFAULT_TIMEOUT_MS;
	return 0;
}

/* Renders one record as a JSON object. Sets *bad when its value could not
 * be decoded. */
static json_t *art_tail_render(const struct art_schema_registry *reg, rd_kafka_message_t *rkm,
                               int *bad)
{
	json_t *line = json_object(), *value = NULL;
	rd_kafka_timestamp_type_t tstype;
	int64_t ts = rd_kafka_message_timestamp(rkm, &tstype);
	char err[512];
	int id = -1;

	json_object_set_new(line, "topic", json_string(rd_kafka_topic_name(rkm->rkt)));
	json_object_set_new(line, "partition", json_integer(rkm->partition));
	json_object_set_new(line, "offset", json_integer(rkm->offset));
	json_object_set_new(line, "timestamp", ts >= 0 ? json_integer(ts) : json_null());
	json_object_set_new(line, "key",
	                    rkm->key ? art_avro_bytes_json(rkm->key, rkm->key_len) : json_null());
	json_object_set_new(line, "headers", art_topic_reader_headers_json(rkm));
	if (!rkm->payload) {
		json_object_set_new(line, "schema", json_null());
		json_object_set_new(line, "value", json_null()); /* tombstone */
		return line;
	}
	if (art_avro_decode_json(reg, rkm->payload, rkm->len, &value, &id, err, sizeof(err))) {
		const struct art_schema *s = id >= 0 ? art_schema_by_id(reg, id) : NULL;

		*bad = 1;
		if (s)
			json_object_set_new(line, "schema",
			                    json_sprintf("%s:%d", s->subject, s->version));
		else
			json_object_set_new(line, "schema", json_null());
		if (id >= 0)
			json_object_set_new(line, "schema_id", json_integer(id));
		json_object_set_new(line, "value", art_avro_bytes_json(rkm->payload, rkm->len));
		json_object_set_new(line, "error", json_string(err));
		return line;
	}
	{
		const struct art_schema *s = art_schema_by_id(reg, id);

		json_object_set_new(line, "schema", json_sprintf("%s:%d", s->subject, s->version));
	}
	json_object_set_new(line, "schema_id", json_integer(id));
	json_object_set_new(line, "value", value);
	return line;
}

/* The group-less reader of o->topic at o->partition / o->offset. */
static rd_kafka_t *art_tail_start(const struct art_tail_opts *o, int *pcnt, char *errstr,
                                  size_t errstr_size)
{
	return art_topic_reader_open(o->topic, o->partition, o->offset, "artery-tail",
	                             (int)ART_MIN(o->timeout_ms, 30000), pcnt, errstr, errstr_size);
}

/* Writes one JSON line. Returns 0, or -1 when stdout is gone. */
static int art_tail_print(json_t *line, int follow)
{
	if (json_dumpf(line, stdout, JSON_COMPACT) || fputc('\n', stdout) == EOF)
		return -1;
	if (follow && fflush(stdout))
		return -1;
	return 0;
}

int art_cmd_tail(int argc, char **argv)
{
	struct art_tail_opts o;
	struct art_schema_registry *reg = NULL;
	rd_kafka_t *rk = NULL;
	char *eof = NULL; /* per partition: end reached at least once */
	char errstr[512];
	int pcnt = 0, want_eof, eof_cnt = 0, bad = 0, rc;
	long long printed = 0;
	int64_t last_progress;

	rc = art_tail_parse(argc, argv, &o);
	if (rc)
		return rc == -1 ? 0 : rc;
	art_signals_install();
	reg = art_schema_registry_load(o.schemas_dir, errstr, sizeof(errstr));
	if (!reg) {
		art_error("tail.schemas", "%s", errstr);
		return 2;
	}
	rk = art_tail_start(&o, &pcnt, errstr, sizeof(errstr));
	if (!rk) {
		art_error("tail.start", "%s", errstr);
		art_schema_registry_destroy(reg);
		return 2;
	}
	eof = calloc((size_t)pcnt, 1);
	if (!eof) {
		art_error("tail.start", "out of memory");
		rc = 2;
		goto out;
	}
	want_eof = o.partition >= 0 ? 1 : pcnt;
	last_progress = art_mono_us();
	rc = 0;
	while (art_run) {
		rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, ART_TAIL_POLL_MS);
		json_t *line;

		if (!rkm) {
			if (o.timeout_ms > 0 &&
			    art_mono_us() - last_progress > o.timeout_ms * 1000) {
				if (!o.follow) {
					art_error("tail.timeout",
					          "no record and no end of partition for %lld ms",
					          o.timeout_ms);
					rc = 1;
				}
				break;
			}
			continue;
		}
		last_progress = art_mono_us();
		if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			if (rkm->partition >= 0 && rkm->partition < pcnt && !eof[rkm->partition]) {
				eof[rkm->partition] = 1;
				eof_cnt++;
			}
			rd_kafka_message_destroy(rkm);
			if (!o.follow && eof_cnt >= want_eof)
				break;
			continue;
		}
		if (rkm->err) {
			art_error("tail.consume", "%s [%d]: %s", o.topic, (int)rkm->partition,
			          rd_kafka_message_errstr(rkm));
			if (rkm->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
			    rkm->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
				rd_kafka_message_destroy(rkm);
				rc = 1;
				break;
			}
			rd_kafka_message_destroy(rkm);
			continue;
		}
		line = art_tail_render(reg, rkm, &bad);
		rd_kafka_message_destroy(rkm);
		if (!line || art_tail_print(line, o.follow)) {
			json_decref(line);
			if (errno != EPIPE) {
				art_error("tail.output", "cannot write: %s", strerror(errno));
				rc = 1;
			}
			break;
		}
		json_decref(line);
		printed++;
		if (o.limit && printed >= o.limit)
			break;
	}
	if (fflush(stdout) && errno != EPIPE && !rc)
		rc = 1;
	if (bad && !rc)
		rc = 1;
out:
	free(eof);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	art_schema_registry_destroy(reg);
	return rc;
}

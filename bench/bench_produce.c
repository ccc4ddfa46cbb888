/*
 * bench_produce.c — the ceiling for end-to-end ingest: a minimal
 * librdkafka producer that sends to the same broker what artery-mllp-in
 * would send, with the same producer settings (kafka.h role defaults and
 * ARTERY_KAFKA_* overrides) and no MLLP, parsing, mapping or Avro in the
 * timed part. Prints one JSON object:
 *   {"messages": N, "records": R, "failed": F, "seconds": S, "rate": N/S,
 *    "latency_ms": {"p50": .., "p99": ..}}
 * (rate and latency per message: from producing its first record to the
 * delivery report of its last).
 *
 * Usage: bench_produce [--inflight N] [--schemas DIR] FILE [TOPIC]
 *   --inflight N   keep at most N messages unacknowledged: N senders each
 *                  waiting for Kafka before their next message, as N
 *                  window-1 MLLP connections through a commit-before-ACK
 *                  pipeline must; default: no limit (the raw ceiling).
 *   --schemas DIR  produce, per message, exactly the records artery-mllp-in
 *                  derives from it (RawMessage on raw.hl7v2 + canonical
 *                  events, same keys, values and headers; a listener named
 *                  "bench"), prepared with the ingest step BEFORE the clock
 *                  starts. Without it: the message bytes alone, one record
 *                  on TOPIC (default raw.hl7v2) with a short key.
 * Kafka from ARTERY_KAFKA_BOOTSTRAP. Sized for benchmark files of up to a
 * few hundred thousand messages (all prepared records are held in memory).
 * Not a test.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "art.h"
#include "buf.h"
#include "hl7.h"
#include "hl7_ingest.h"
#include "kafka.h"
#include "record.h"
#include "schema.h"

struct bench_msg {
	struct art_record_list recs; /* --schemas mode */
	const char *p;               /* raw mode: the message bytes */
	size_t len;
	size_t left;    /* records not yet reported */
	int64_t t0_us;  /* first record produced */
	int64_t lat_us; /* last report - t0 */
};

struct bench {
	struct bench_msg *msgs;
	size_t done, failed_records;
};

static void dr(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
	struct bench *b = opaque;
	struct bench_msg *m = &b->msgs[(uintptr_t)rkm->_private];

	(void)rk;
	if (rkm->err)
		b->failed_records++;
	if (--m->left == 0) {
		m->lat_us = art_mono_us() - m->t0_us;
		b->done++;
	}
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Prepares the records artery-mllp-in would produce for each message. */
static int prepare_records(struct bench_msg *msgs, size_t n, const char *schemas, char *errstr,
			   size_t errstr_size)
{
	struct art_schema_registry *reg = art_schema_registry_load(schemas, errstr, errstr_size);
	struct art_hl7_ingest_conf ic;
	struct art_hl7_ingester *ing;
	struct art_buf norm;
	int rc = 0;

	if (!reg)
		return -1;
	memset(&ic, 0, sizeof(ic));
	ic.reg = reg;
	ic.channel = "bench";
	ic.raw_topic = "raw.hl7v2";
	ic.dlq_topic = "dlq.mllp-in";
	ic.on_error = ART_ON_ERROR_QUARANTINE;
	ic.hl7 = art_hl7_opts_default();
	ing = art_hl7_ingester_new(&ic, errstr, errstr_size);
	if (!ing) {
		art_schema_registry_destroy(reg);
		return -1;
	}
	art_buf_init(&norm, 1u << 24);
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct art_hl7_ingest in;

		/* the bytes `artery send` puts in the frame */
		art_buf_reset(&norm);
		if (art_hl7_normalise(msgs[i].p, msgs[i].len, &norm) == -1 || !norm.p) {
			snprintf(errstr, errstr_size, "message %zu: too large", i + 1);
			rc = -1;
			break;
		}
		art_hl7_ingest_prepare(ing, norm.p, norm.len, "127.0.0.1:1", art_now_us(), &in);
		if (in.recs.cnt == 0) {
			snprintf(errstr, errstr_size, "message %zu: no records (%.200s)", i + 1,
				 in.reason);
			rc = -1;
		}
		msgs[i].recs = in.recs; /* the records reference nothing of norm */
		memset(&in.recs, 0, sizeof(in.recs));
		art_hl7_ingest_clear(&in);
	}
	art_buf_free(&norm);
	art_hl7_ingester_destroy(ing);
	art_schema_registry_destroy(reg);
	return rc;
}

int main(int argc, char **argv)
{
	size_t inflight = 0, nrecords = 0, next = 0;
	const char *topic, *schemas = NULL;
	struct art_hl7_opts o = art_hl7_opts_default();
	struct art_hl7_split split;
	struct bench b;
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	char errstr[512];
	int64_t *lat, t0, t1;
	size_t len, nlat = 0;
	char *buf;
	int a = 1;

	while (a + 1 < argc && argv[a][0] == '-') {
		long long v;

		if (!strcmp(argv[a], "--inflight")) {
			if (art_parse_int(argv[a + 1], 1, 1000000, &v) == -1) {
				fprintf(stderr, "bench_produce: bad --inflight\n");
				return 2;
			}
			inflight = (size_t)v;
		} else if (!strcmp(argv[a], "--schemas")) {
			schemas = argv[a + 1];
		} else {
			break;
		}
		a += 2;
	}
	if (a >= argc) {
		fprintf(stderr, "usage: bench_produce [--inflight N] [--schemas DIR] FILE [TOPIC]\n");
		return 2;
	}
	topic = a + 1 < argc ? argv[a + 1] : "raw.hl7v2";
	buf = art_read_file(argv[a], 1u << 30, &len, errstr, sizeof(errstr));
	if (!buf) {
		fprintf(stderr, "%s\n", errstr);
		return 2;
	}
	memset(&split, 0, sizeof(split));
	o.max_messages = 10000000;
	if (art_hl7_split(buf, len, &o, &split, NULL, errstr, sizeof(errstr)) == -1) {
		fprintf(stderr, "%s\n", errstr);
		return 2;
	}
	memset(&b, 0, sizeof(b));
	b.msgs = calloc(split.nmsgs ? split.nmsgs : 1, sizeof(*b.msgs));
	lat = calloc(split.nmsgs ? split.nmsgs : 1, sizeof(*lat));
	if (!b.msgs || !lat) {
		fprintf(stderr, "out of memory\n");
		return 2;
	}
	for (size_t i = 0; i < split.nmsgs; i++) {
		b.msgs[i].p = buf + split.msgs[i].off;
		b.msgs[i].len = split.msgs[i].len;
	}
	if (schemas &&
	    prepare_records(b.msgs, split.nmsgs, schemas, errstr, sizeof(errstr)) == -1) {
		fprintf(stderr, "bench_produce: %s\n", errstr);
		return 2;
	}
	conf = art_kafka_conf_new(ART_KAFKA_PRODUCER, errstr, sizeof(errstr));
	if (!conf) {
		fprintf(stderr, "%s\n", errstr);
		return 2;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, dr);
	rd_kafka_conf_set_opaque(conf, &b);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!rk) {
		fprintf(stderr, "%s\n", errstr);
		return 2;
	}
	/* Warm up the connection and metadata of every topic outside the timed
	 * part (the warm-up reports count nowhere: their opaque is message 0,
	 * whose counter is restored below). */
	for (size_t r = 0; r < (schemas ? b.msgs[0].recs.cnt : 1) && split.nmsgs; r++) {
		const char *t = schemas ? b.msgs[0].recs.recs[r]->topic : topic;

		b.msgs[0].left++;
		rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(t), RD_KAFKA_V_VALUE("warmup", 6),
				  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
				  RD_KAFKA_V_OPAQUE((void *)(uintptr_t)0), RD_KAFKA_V_END);
	}
	rd_kafka_flush(rk, 10000);
	b.done = 0;
	b.failed_records = 0;
	b.msgs[0].left = 0;

	t0 = art_mono_us();
	for (next = 0; next < split.nmsgs; next++) {
		struct bench_msg *m = &b.msgs[next];
		size_t cnt = schemas ? m->recs.cnt : 1;

		while (inflight && next - b.done >= inflight)
			rd_kafka_poll(rk, 1);
		m->left = cnt;
		m->t0_us = art_mono_us();
		for (size_t r = 0; r < cnt; r++) {
			rd_kafka_resp_err_t err;
			char key[32];

			do {
				if (schemas) {
					err = art_record_produce(rk, m->recs.recs[r],
								 (void *)(uintptr_t)next);
				} else {
					snprintf(key, sizeof(key), "k%zu", next % 997);
					err = rd_kafka_producev(
					    rk, RD_KAFKA_V_TOPIC(topic),
					    RD_KAFKA_V_KEY(key, strlen(key)),
					    RD_KAFKA_V_VALUE((void *)m->p, m->len),
					    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					    RD_KAFKA_V_OPAQUE((void *)(uintptr_t)next), RD_KAFKA_V_END);
				}
				if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
					rd_kafka_poll(rk, 10);
			} while (err == RD_KAFKA_RESP_ERR__QUEUE_FULL);
			if (err) {
				fprintf(stderr, "bench_produce: %s\n", rd_kafka_err2str(err));
				return 1;
			}
			nrecords++;
		}
		rd_kafka_poll(rk, 0);
	}
	rd_kafka_flush(rk, 60000);
	t1 = art_mono_us();
	for (size_t i = 0; i < split.nmsgs; i++)
		if (b.msgs[i].left == 0)
			lat[nlat++] = b.msgs[i].lat_us;
	qsort(lat, nlat, sizeof(*lat), cmp_i64);
	printf("{\"messages\": %zu, \"records\": %zu, \"failed\": %zu, \"seconds\": %.3f, "
	       "\"rate\": %.0f, \"latency_ms\": {\"p50\": %.3f, \"p99\": %.3f}}\n",
	       b.done, nrecords, b.failed_records, (double)(t1 - t0) / 1e6,
	       (double)b.done / ((double)(t1 - t0) / 1e6),
	       nlat ? (double)lat[nlat / 2] / 1000.0 : 0.0,
	       nlat ? (double)lat[(nlat * 99) / 100 < nlat ? (nlat * 99) / 100 : nlat - 1] / 1000.0
		    : 0.0);
	rd_kafka_destroy(rk);
	for (size_t i = 0; i < split.nmsgs; i++)
		art_record_list_free(&b.msgs[i].recs);
	free(b.msgs);
	free(lat);
	art_hl7_split_free(&split);
	free(buf);
	return b.failed_records ? 1 : 0;
}

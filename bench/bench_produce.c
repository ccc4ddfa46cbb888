/*
 * bench_produce.c — the ceiling for end-to-end ingest: a minimal
 * librdkafka producer that sends the same HL7 bytes to the same broker and
 * topic as artery-mllp-in would, with the same producer settings
 * (idempotent, acks=all, lz4, linger.ms from kafka.h) and no parsing,
 * mapping, Avro or MLLP. Prints one JSON object:
 *   {"messages": N, "seconds": S, "rate": N/S}
 * Usage: bench_produce [--inflight N] FILE [TOPIC]
 *   --inflight N  keep at most N messages unacknowledged (N senders each
 *                 waiting for Kafka before the next message, the way a
 *                 commit-before-ACK pipeline with N window-1 connections
 *                 must); default: no limit (the raw ceiling).
 * Kafka from ARTERY_KAFKA_BOOTSTRAP.
 * Not a test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "art.h"
#include "hl7.h"
#include "kafka.h"

static size_t delivered, failed;

static void dr(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
	(void)rk;
	(void)opaque;
	if (rkm->err)
		failed++;
	else
		delivered++;
}

int main(int argc, char **argv)
{
	size_t inflight = 0;
	const char *topic;
	struct art_hl7_opts o = art_hl7_opts_default();
	struct art_hl7_split split;
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	char errstr[512];
	size_t len;
	char *buf;
	int64_t t0, t1;

	if (argc > 2 && !strcmp(argv[1], "--inflight")) {
		long long v;
		if (art_parse_int(argv[2], 1, 1000000, &v) == -1) {
			fprintf(stderr, "bench_produce: bad --inflight\n");
			return 2;
		}
		inflight = (size_t)v;
		argc -= 2;
		argv += 2;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: bench_produce [--inflight N] FILE [TOPIC]\n");
		return 2;
	}
	topic = argc > 2 ? argv[2] : "raw.hl7v2";
	buf = art_read_file(argv[1], 1u << 30, &len, errstr, sizeof(errstr));
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
	conf = art_kafka_conf_new(ART_KAFKA_PRODUCER, errstr, sizeof(errstr));
	if (!conf) {
		fprintf(stderr, "%s\n", errstr);
		return 2;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, dr);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!rk) {
		fprintf(stderr, "%s\n", errstr);
		return 2;
	}
	/* Warm up the connection and metadata outside the timed part. */
	rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE("warmup", 6),
			  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
	rd_kafka_flush(rk, 10000);
	delivered = 0;

	t0 = art_mono_us();
	for (size_t i = 0; i < split.nmsgs; i++) {
		const char *p = buf + split.msgs[i].off;
		rd_kafka_resp_err_t err;
		char key[32];

		snprintf(key, sizeof(key), "k%zu", i % 997);
		while (inflight && i - (delivered + failed) >= inflight)
			rd_kafka_poll(rk, 1);
		do {
			err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
						RD_KAFKA_V_KEY(key, strlen(key)),
						RD_KAFKA_V_VALUE((void *)p, split.msgs[i].len),
						RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
			if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
				rd_kafka_poll(rk, 10);
		} while (err == RD_KAFKA_RESP_ERR__QUEUE_FULL);
		rd_kafka_poll(rk, 0);
	}
	rd_kafka_flush(rk, 60000);
	t1 = art_mono_us();
	printf("{\"messages\": %zu, \"failed\": %zu, \"seconds\": %.3f, \"rate\": %.0f}\n",
	       delivered, failed, (double)(t1 - t0) / 1e6,
	       (double)delivered / ((double)(t1 - t0) / 1e6));
	rd_kafka_destroy(rk);
	art_hl7_split_free(&split);
	free(buf);
	return failed ? 1 : 0;
}

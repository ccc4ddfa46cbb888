/*
 * helper_kafka.c — a plain librdkafka consumer for tests: assign every
 * partition at OFFSET_BEGINNING, read until each reports EOF.
 */
#include "helper_kafka.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t art_test_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *art_test_dup(const void *p, size_t len)
{
	char *s = malloc(len + 1);

	if (len)
		memcpy(s, p, len);
	s[len] = '\0';
	return s;
}

int art_test_consume_all(const char *bootstrap, const char *topic, int timeout_ms,
			 struct art_test_records *out)
{
	char errstr[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *rkt;
	rd_kafka_topic_partition_list_t *parts;
	int nparts = 0, eofs = 0, rc = -1;
	int64_t deadline = art_test_ms() + timeout_ms;
	size_t cap = 0;

	memset(out, 0, sizeof(*out));
	rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof(errstr));
	rd_kafka_conf_set(conf, "group.id", "artery-test-reader", errstr, sizeof(errstr));
	rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, sizeof(errstr));
	rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr));
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	if (!rk) {
		fprintf(stderr, "consumer: %s\n", errstr);
		return -1;
	}
	rkt = rd_kafka_topic_new(rk, topic, NULL);
	if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
	    md->topic_cnt != 1 || md->topics[0].err) {
		fprintf(stderr, "metadata for %s failed\n", topic);
		goto out;
	}
	nparts = md->topics[0].partition_cnt;
	parts = rd_kafka_topic_partition_list_new(nparts);
	for (int i = 0; i < nparts; i++)
		rd_kafka_topic_partition_list_add(parts, topic, i)->offset =
			RD_KAFKA_OFFSET_BEGINNING;
	rd_kafka_assign(rk, parts);
	rd_kafka_topic_partition_list_destroy(parts);
	while (eofs < nparts && art_test_ms() < deadline) {
		rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, 100);
		struct art_test_record *r;
		rd_kafka_headers_t *hdrs = NULL;

		if (!rkm)
			continue;
		if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			eofs++;
			rd_kafka_message_destroy(rkm);
			continue;
		}
		if (rkm->err) {
			rd_kafka_message_destroy(rkm);
			continue;
		}
		if (out->cnt == cap) {
			cap = cap ? cap * 2 : 64;
			out->recs = realloc(out->recs, cap * sizeof(*out->recs));
		}
		r = &out->recs[out->cnt++];
		memset(r, 0, sizeof(*r));
		r->partition = rkm->partition;
		r->offset = rkm->offset;
		r->key = art_test_dup(rkm->key, rkm->key_len);
		r->key_len = rkm->key_len;
		r->value = art_test_dup(rkm->payload, rkm->len);
		r->value_len = rkm->len;
		if (rd_kafka_message_headers(rkm, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
			const char *name;
			const void *val;
			size_t vlen;
			for (size_t i = 0; r->header_cnt < 32 &&
					   !rd_kafka_header_get_all(hdrs, i, &name, &val, &vlen);
			     i++) {
				r->header_names[r->header_cnt] = strdup(name);
				r->header_values[r->header_cnt] = art_test_dup(val, val ? vlen : 0);
				r->header_cnt++;
			}
		}
		rd_kafka_message_destroy(rkm);
	}
	rc = eofs == nparts ? 0 : -1;
	if (rc)
		fprintf(stderr, "consume %s: only %d of %d partitions reached EOF\n", topic, eofs,
			nparts);
out:
	if (md)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return rc;
}

void art_test_records_free(struct art_test_records *rs)
{
	for (size_t i = 0; i < rs->cnt; i++) {
		struct art_test_record *r = &rs->recs[i];
		free(r->key);
		free(r->value);
		for (size_t h = 0; h < r->header_cnt; h++) {
			free(r->header_names[h]);
			free(r->header_values[h]);
		}
	}
	free(rs->recs);
	memset(rs, 0, sizeof(*rs));
}

const char *art_test_record_header(const struct art_test_record *r, const char *name)
{
	for (size_t h = r->header_cnt; h > 0; h--)
		if (!strcmp(r->header_names[h - 1], name))
			return r->header_values[h - 1];
	return NULL;
}

int art_test_produce(const char *bootstrap, const char *topic, const void *key, size_t key_len,
		     const void *value, size_t value_len)
{
	char errstr[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;
	rd_kafka_resp_err_t err;

	rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof(errstr));
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!rk)
		return -1;
	err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len),
				RD_KAFKA_V_VALUE((void *)value, value_len),
				RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
	if (!err && rd_kafka_flush(rk, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
		err = RD_KAFKA_RESP_ERR__TIMED_OUT;
	rd_kafka_destroy(rk);
	return err ? -1 : 0;
}

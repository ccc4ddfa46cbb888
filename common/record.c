/*
 * record.c — outgoing records and record lists: owned copies of topic, key
 * and headers, the value taken over from the encoder, and the one call
 * that hands a record to librdkafka.
 */
#include "record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Returns a malloc'd copy of len bytes followed by a NUL, or NULL. */
static void *art_record_dup(const void *p, size_t len)
{
	char *q = malloc(len + 1);

	if (!q)
		return NULL;
	if (len)
		memcpy(q, p, len);
	q[len] = '\0';
	return q;
}

struct art_record *art_record_new(const char *topic, const void *key, size_t key_len, void *value,
                                  size_t value_len)
{
	struct art_record *rec = calloc(1, sizeof(*rec));

	if (!rec)
		goto fail;
	rec->topic = strdup(topic);
	if (!rec->topic)
		goto fail;
	if (key) {
		rec->key = art_record_dup(key, key_len);
		if (!rec->key)
			goto fail;
		rec->key_len = key_len;
	}
	rec->value = value;
	rec->value_len = value_len;
	rec->partition = RD_KAFKA_PARTITION_UA;
	return rec;
fail:
	if (rec) {
		free(rec->topic);
		free(rec);
	}
	free(value);
	return NULL;
}

void art_record_destroy(struct art_record *rec)
{
	if (!rec)
		return;
	for (size_t i = 0; i < rec->header_cnt; i++)
		free(rec->headers[i].name); /* one block with the value */
	free(rec->headers);
	free(rec->topic);
	free(rec->key);
	free(rec->value);
	free(rec);
}

int art_record_add_header(struct art_record *rec, const char *name, const void *value, size_t len)
{
	struct art_record_header *h;

	if (rec->header_cnt >= ART_RECORD_MAX_HEADERS)
		return -1;
	if (rec->header_cnt == rec->header_cap) {
		size_t ncap = rec->header_cap ? rec->header_cap * 2 : 8;

		h = realloc(rec->headers, ncap * sizeof(*h));
		if (!h)
			return -1;
		rec->headers = h;
		rec->header_cap = ncap;
	}
	/* name and value in one block ("name\0value\0"): a record carries
	 * about eight headers and an ingested message three records, so this
	 * halves the allocations on the ingest path */
	{
		size_t nlen = strlen(name);
		char *block = malloc(nlen + 1 + (value ? len + 1 : 0));

		if (!block)
			return -1;
		memcpy(block, name, nlen + 1);
		h = &rec->headers[rec->header_cnt];
		h->name = block;
		h->value = NULL;
		h->value_len = 0;
		if (value) {
			h->value = block + nlen + 1;
			memcpy(h->value, value, len);
			((char *)h->value)[len] = '\0';
			h->value_len = len;
		}
	}
	rec->header_cnt++;
	return 0;
}

int art_record_add_header_str(struct art_record *rec, const char *name, const char *value)
{
	return art_record_add_header(rec, name, value, value ? strlen(value) : 0);
}

const void *art_record_header(const struct art_record *rec, const char *name, size_t *lenp)
{
	for (size_t i = rec->header_cnt; i > 0; i--) {
		const struct art_record_header *h = &rec->headers[i - 1];

		if (!strcmp(h->name, name)) {
			if (lenp)
				*lenp = h->value_len;
			return h->value ? h->value : "";
		}
	}
	return NULL;
}

rd_kafka_headers_t *art_record_kafka_headers(const struct art_record *rec)
{
	rd_kafka_headers_t *hdrs;

	if (!rec->header_cnt)
		return NULL;
	hdrs = rd_kafka_headers_new(rec->header_cnt);
	if (!hdrs)
		return NULL;
	for (size_t i = 0; i < rec->header_cnt; i++) {
		const struct art_record_header *h = &rec->headers[i];

		if (rd_kafka_header_add(hdrs, h->name, -1, h->value, (ssize_t)h->value_len)) {
			rd_kafka_headers_destroy(hdrs);
			return NULL;
		}
	}
	return hdrs;
}

rd_kafka_resp_err_t art_record_produce(rd_kafka_t *rk, const struct art_record *rec,
                                       void *msg_opaque)
{
	rd_kafka_headers_t *hdrs = NULL;
	rd_kafka_resp_err_t err;

	if (rec->header_cnt) {
		hdrs = art_record_kafka_headers(rec);
		if (!hdrs)
			return RD_KAFKA_RESP_ERR__FAIL; /* out of memory */
	}
	err = rd_kafka_producev(
	    rk, RD_KAFKA_V_TOPIC(rec->topic), RD_KAFKA_V_PARTITION(rec->partition),
	    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(rec->key, rec->key_len),
	    RD_KAFKA_V_VALUE(rec->value, rec->value_len), RD_KAFKA_V_HEADERS(hdrs),
	    RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
	/* librdkafka owns hdrs only when producev succeeded. */
	if (err && hdrs)
		rd_kafka_headers_destroy(hdrs);
	return err;
}

void art_record_list_init(struct art_record_list *list, size_t max)
{
	list->recs = NULL;
	list->cnt = 0;
	list->cap = 0;
	list->max = max;
}

int art_record_list_add(struct art_record_list *list, struct art_record *rec)
{
	if (list->cnt >= list->max)
		return -1;
	if (list->cnt == list->cap) {
		size_t ncap = list->cap ? list->cap * 2 : 4;
		struct art_record **n;

		if (ncap > list->max)
			ncap = list->max;
		n = realloc(list->recs, ncap * sizeof(*n));
		if (!n)
			return -1;
		list->recs = n;
		list->cap = ncap;
	}
	list->recs[list->cnt++] = rec;
	return 0;
}

void art_record_list_clear(struct art_record_list *list)
{
	for (size_t i = 0; i < list->cnt; i++)
		art_record_destroy(list->recs[i]);
	list->cnt = 0;
}

void art_record_list_free(struct art_record_list *list)
{
	art_record_list_clear(list);
	free(list->recs);
	list->recs = NULL;
	list->cap = 0;
}

struct art_record *art_record_from_message(const char *topic, rd_kafka_message_t *rkm,
                                           int (*skip)(const char *name), size_t max_headers,
                                           char *errstr, size_t errstr_size)
{
	rd_kafka_headers_t *hdrs = NULL;
	struct art_record *rec;
	const char *name;
	const void *val;
	void *value = NULL;
	size_t size;

	if (rkm->payload) {
		value = malloc(rkm->len ? rkm->len : 1);
		if (!value)
			goto oom;
		memcpy(value, rkm->payload, rkm->len);
	}
	rec = art_record_new(topic, rkm->key, rkm->key_len, value, rkm->len);
	if (!rec) /* value freed by art_record_new() */
		goto oom;
	if (rd_kafka_message_headers(rkm, &hdrs) || !hdrs)
		return rec;
	for (size_t i = 0; !rd_kafka_header_get_all(hdrs, i, &name, &val, &size); i++) {
		if (skip && skip(name))
			continue;
		if (rec->header_cnt >= max_headers)
			break;
		if (art_record_add_header(rec, name, val, val ? size : 0) == -1) {
			art_record_destroy(rec);
			goto oom;
		}
	}
	return rec;
oom:
	snprintf(errstr, errstr_size, "out of memory copying a record of %s", topic);
	return NULL;
}

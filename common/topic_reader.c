/*
 * topic_reader.c — group-less topic reading for the operator tools (see
 * topic_reader.h). librdkafka refuses assign() without a group.id, so the
 * handle gets a throwaway one that is never joined (no subscribe) and
 * never committed to.
 */
#include "topic_reader.h"

#include <stdio.h>
#include <unistd.h>

#include "art.h"
#include "avro_codec.h"
#include "kafka.h"

rd_kafka_t *art_topic_reader_open(const char *topic, int32_t partition, int64_t offset,
				  const char *client_id, int timeout_ms, int *pcnt, char *errstr,
				  size_t errstr_size)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_partition_list_t *parts = NULL;
	rd_kafka_topic_t *rkt = NULL;
	rd_kafka_conf_t *conf;
	rd_kafka_resp_err_t err;
	rd_kafka_t *rk;
	char group[96];
	int md_timeout = timeout_ms > 0 && timeout_ms < 30000 ? timeout_ms : 30000;

	conf = art_kafka_conf_new(ART_KAFKA_CONSUMER, errstr, errstr_size);
	if (!conf)
		return NULL;
	snprintf(group, sizeof(group), "%s-%ld", client_id, (long)getpid());
	if (art_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, errstr_size) ||
	    art_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, errstr_size) ||
	    art_kafka_conf_set(conf, "group.id", group, errstr, errstr_size) ||
	    art_kafka_conf_set(conf, "client.id", client_id, errstr, errstr_size)) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	conf = NULL; /* owned by rk */
	rd_kafka_poll_set_consumer(rk);
	rkt = rd_kafka_topic_new(rk, topic, NULL);
	err = rkt ? rd_kafka_metadata(rk, 0, rkt, &md, md_timeout) : rd_kafka_last_error();
	if (err) {
		snprintf(errstr, errstr_size, "metadata for %s: %s", topic, rd_kafka_err2str(err));
		goto fail;
	}
	if (md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt == 0) {
		snprintf(errstr, errstr_size, "topic %s: %s", topic,
			 md->topic_cnt == 1 && md->topics[0].err
				 ? rd_kafka_err2str(md->topics[0].err)
				 : "no partitions");
		goto fail;
	}
	*pcnt = md->topics[0].partition_cnt;
	if (partition >= *pcnt) {
		snprintf(errstr, errstr_size, "topic %s has no partition %d (it has %d)", topic,
			 (int)partition, *pcnt);
		goto fail;
	}
	parts = rd_kafka_topic_partition_list_new(*pcnt);
	for (int i = 0; i < *pcnt; i++) {
		int32_t p = md->topics[0].partitions[i].id;

		if (partition < 0 || p == partition)
			rd_kafka_topic_partition_list_add(parts, topic, p)->offset = offset;
	}
	err = rd_kafka_assign(rk, parts);
	if (err) {
		snprintf(errstr, errstr_size, "assign %s: %s", topic, rd_kafka_err2str(err));
		goto fail;
	}
	rd_kafka_topic_partition_list_destroy(parts);
	rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	return rk;
fail:
	if (parts)
		rd_kafka_topic_partition_list_destroy(parts);
	if (md)
		rd_kafka_metadata_destroy(md);
	if (rkt)
		rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);
	return NULL;
}

json_t *art_topic_reader_headers_json(rd_kafka_message_t *rkm)
{
	rd_kafka_headers_t *hdrs = NULL;
	json_t *obj = json_object();
	const char *name;
	const void *val;
	size_t size;

	if (!obj || rd_kafka_message_headers(rkm, &hdrs) || !hdrs)
		return obj;
	for (size_t i = 0; !rd_kafka_header_get_all(hdrs, i, &name, &val, &size); i++) {
		json_t *v = val ? art_avro_bytes_json(val, size) : json_null();
		json_t *old = json_object_get(obj, name);

		if (!old) {
			json_object_set_new(obj, name, v);
		} else if (json_is_array(old)) {
			json_array_append_new(old, v);
		} else {
			json_t *arr = json_array();

			json_array_append(arr, old);
			json_array_append_new(arr, v);
			json_object_set_new(obj, name, arr);
		}
	}
	return obj;
}

/*
 * test_replay.c — `artery replay` as an SRE uses it after an incident,
 * against `artery broker`:
 *   - copy of an offset range keeps key, value and headers and adds
 *     artery.replayed_from; --dry-run copies nothing;
 *   - copy --since TIME takes only the later records (the embedded broker
 *     has no time index: this exercises the timestamp search);
 *   - filters: --message-type on the header, --event-type on the decoded
 *     canonical envelope of real mapped events;
 *   - a dead-letter redrive sends each record back to its original topic
 *     without the dead-letter headers, and counts one without a destination;
 *   - reset moves an inactive group's committed offset (offset, time), and
 *     --dry-run does not; a group with a live member is refused, unchanged;
 *   - usage errors exit 2 with the reason.
 * Bounded: each command has a short --timeout-ms.
 */
#include "integration/helper_kafka.h"
#include "integration/helper_proc.h"

#include "art.h"
#include "canonical.h"
#include "schema.h"

#include <criterion/criterion.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct art_test_broker *kb;

static void start_broker(void)
{
	kb = art_test_broker_start(NULL, 1);
	cr_assert_not_null(kb, "artery broker did not start");
}

static void stop_broker(void)
{
	art_test_broker_stop(kb);
	kb = NULL;
}

/* Runs `artery replay ARGS` (stderr too); returns the output and exit code. */
static char *replay(const char *args, int *code)
{
	size_t size = strlen(args) + 16;
	char *full = malloc(size), *out;

	cr_assert_not_null(full);
	snprintf(full, size, "replay %s", args);
	out = art_test_artery(kb, full, code);
	cr_assert_not_null(out, "cannot run artery %s", full);
	free(full);
	return out;
}

static rd_kafka_t *producer(void)
{
	char err[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;

	rd_kafka_conf_set(conf, "bootstrap.servers", kb->bootstrap, err, sizeof(err));
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	cr_assert_not_null(rk, "%s", err);
	return rk;
}

/* Produces key/value to topic[partition] with the NULL-terminated header
 * name/value pairs; partition < 0: by key. */
static void produce(rd_kafka_t *rk, const char *topic, int32_t partition, const char *key,
		    const void *value, size_t len, const char *const *hdrs)
{
	rd_kafka_headers_t *h = rd_kafka_headers_new(8);
	rd_kafka_resp_err_t err;

	for (size_t i = 0; hdrs && hdrs[i]; i += 2)
		rd_kafka_header_add(h, hdrs[i], -1, hdrs[i + 1], -1);
	err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
				RD_KAFKA_V_PARTITION(partition < 0 ? RD_KAFKA_PARTITION_UA : partition),
				RD_KAFKA_V_KEY(key, strlen(key)),
				RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
				RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
	cr_assert_eq(err, 0, "%s", rd_kafka_err2str(err));
}

static void flush(rd_kafka_t *rk)
{
	cr_assert_eq(rd_kafka_flush(rk, 10000), 0);
}

/* n records k<i>/v<i> (i from first) to topic[0] with an hl7.message_type. */
static void produce_range(rd_kafka_t *rk, const char *topic, int first, int n, const char *mtype)
{
	for (int i = first; i < first + n; i++) {
		char k[16], v[16];
		const char *hdrs[] = {"hl7.message_type", mtype, "artery.event_id", k, NULL};

		snprintf(k, sizeof(k), "k%d", i);
		snprintf(v, sizeof(v), "v%d", i);
		produce(rk, topic, 0, k, v, strlen(v), hdrs);
	}
	flush(rk);
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* The record of rs whose key is key, or NULL. */
static const struct art_test_record *by_key(const struct art_test_records *rs, const char *key)
{
	for (size_t i = 0; i < rs->cnt; i++)
		if (rs->recs[i].key && strlen(key) == rs->recs[i].key_len &&
		    !memcmp(rs->recs[i].key, key, rs->recs[i].key_len))
			return &rs->recs[i];
	return NULL;
}

Test(replay, copy_range_keeps_records_and_dry_run_changes_nothing, .init = start_broker,
     .fini = stop_broker, .timeout = 90)
{
	rd_kafka_t *rk = producer();
	struct art_test_records rs;
	char *out;
	int code;

	produce_range(rk, "raw.hl7v2", 0, 10, "ADT^A01");
	out = replay("copy --from raw.hl7v2 --to raw.file --partition 0 --start-offset 2 "
		     "--end-offset 5 --dry-run --timeout-ms 3000",
		     &code);
	cr_expect_eq(code, 0, "%s", out);
	cr_expect(strstr(out, "dry run: raw.hl7v2 -> raw.file: read 3, would copy 3") != NULL,
		  "%s", out);
	free(out);
	cr_assert_eq(art_test_consume_all(kb->bootstrap, "raw.file", 5000, &rs), 0);
	cr_expect_eq(rs.cnt, 0, "a dry run copied %zu records", rs.cnt);
	art_test_records_free(&rs);

	out = replay("copy --from raw.hl7v2 --to raw.file --partition 0 --start-offset 2 "
		     "--end-offset 5 --json --timeout-ms 3000",
		     &code);
	cr_expect_eq(code, 0, "%s", out);
	cr_expect(strstr(out, "\"read\":3,\"copied\":3,\"filtered\":0") != NULL, "%s", out);
	cr_expect(strstr(out, "\"complete\":true") != NULL, "%s", out);
	free(out);
	cr_assert_eq(art_test_consume_all(kb->bootstrap, "raw.file", 5000, &rs), 0);
	cr_expect_eq(rs.cnt, 3);
	for (int i = 2; i < 5; i++) {
		char k[16], v[16], src[64];
		const struct art_test_record *r;

		snprintf(k, sizeof(k), "k%d", i);
		snprintf(v, sizeof(v), "v%d", i);
		snprintf(src, sizeof(src), "raw.hl7v2/0/%d", i);
		r = by_key(&rs, k);
		cr_assert_not_null(r, "record %s not copied", k);
		cr_expect(r->value_len == strlen(v) && !memcmp(r->value, v, r->value_len));
		cr_expect_str_eq(art_test_record_header(r, "hl7.message_type"), "ADT^A01");
		cr_expect_str_eq(art_test_record_header(r, "artery.event_id"), k);
		cr_expect_str_eq(art_test_record_header(r, "artery.replayed_from"), src);
	}
	art_test_records_free(&rs);
	rd_kafka_destroy(rk);
}

Test(replay, copy_since_a_time_and_by_message_type, .init = start_broker, .fini = stop_broker,
     .timeout = 90)
{
	rd_kafka_t *rk = producer();
	struct art_test_records rs;
	char args[256], since[40];
	struct timespec now;
	struct tm tm;
	char *out;
	int code;

	produce_range(rk, "raw.hl7v2", 0, 6, "ADT^A01");
	sleep_ms(1200);
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(since + strlen(since), sizeof(since) - strlen(since), ".%03ldZ",
		 now.tv_nsec / 1000000);
	sleep_ms(200);
	produce_range(rk, "raw.hl7v2", 6, 3, "ORU^R01");

	snprintf(args, sizeof(args),
		 "copy --from raw.hl7v2 --to raw.file --since %s --timeout-ms 3000", since);
	out = replay(args, &code);
	cr_expect_eq(code, 0, "%s", out);
	cr_expect(strstr(out, "read 3, copied 3") != NULL, "%s", out);
	free(out);
	cr_assert_eq(art_test_consume_all(kb->bootstrap, "raw.file", 5000, &rs), 0);
	cr_expect_eq(rs.cnt, 3);
	cr_expect_not_null(by_key(&rs, "k6"));
	cr_expect_null(by_key(&rs, "k5"), "a record before --since was copied");
	art_test_records_free(&rs);

	/* the ADT ones only, by header glob */
	out = replay("copy --from raw.hl7v2 --to raw.fhir --message-type 'ADT^A0?' "
		     "--timeout-ms 3000",
		     &code);
	cr_expect_eq(code, 0, "%s", out);
	cr_expect(strstr(out, "read 9, copied 6, filtered out 3") != NULL, "%s", out);
	free(out);
	rd_kafka_destroy(rk);
}

/* Maps an example file and produces each canonical event's value to topic. */
static size_t produce_events(rd_kafka_t *rk, const struct art_schema_registry *reg,
			     const char *file, const char *topic)
{
	char path[PATH_MAX], errstr[512];
	struct art_canon_result res;
	struct art_canon_ctx ctx = {.reg = reg, .channel = "test", .received_at_us = 1};
	struct art_hl7_msg *msg;
	size_t len, n;
	char *data;

	snprintf(path, sizeof(path), "%s/examples/hl7/%s",
		 getenv("ART_SOURCE_DIR") ? getenv("ART_SOURCE_DIR") : ART_SOURCE_DIR, file);
	data = art_read_file(path, 1 << 20, &len, errstr, sizeof(errstr));
	cr_assert_not_null(data, "%s", errstr);
	msg = art_hl7_parse(data, len, NULL, errstr, sizeof(errstr));
	cr_assert_not_null(msg, "%s: %s", file, errstr);
	memset(&res, 0, sizeof(res));
	cr_assert_eq(art_canon_map(msg, &ctx, &res, errstr, sizeof(errstr)), ART_CANON_MAPPED,
		     "%s: %s", file, errstr);
	for (size_t i = 0; i < res.cnt; i++)
		produce(rk, topic, -1, res.key, res.events[i].value, res.events[i].value_len, NULL);
	n = res.cnt;
	art_canon_result_free(&res);
	art_hl7_msg_destroy(msg);
	free(data);
	return n;
}

Test(replay, copy_by_event_type_decodes_the_envelope, .init = start_broker, .fini = stop_broker,
     .timeout = 90)
{
	char errstr[512];
	struct art_schema_registry *reg = art_schema_registry_load(NULL, errstr, sizeof(errstr));
	rd_kafka_t *rk = producer();
	struct art_test_records rs;
	size_t adt, oru;
	char *out;
	int code;

	cr_assert_not_null(reg, "%s", errstr);
	adt = produce_events(rk, reg, "adt_a01.hl7", "raw.fhir"); /* patient + encounter */
	oru = produce_events(rk, reg, "oru_r01.hl7", "raw.fhir"); /* result */
	flush(rk);
	cr_assert_geq(adt, 2);
	cr_assert_eq(oru, 1);
	out = replay("copy --from raw.fhir --to raw.file --event-type 'result.*' --timeout-ms 3000",
		     &code);
	cr_expect_eq(code, 0, "%s", out);
	free(out);
	cr_assert_eq(art_test_consume_all(kb->bootstrap, "raw.file", 5000, &rs), 0);
	cr_expect_eq(rs.cnt, oru, "copied %zu, want only the %zu result event(s)", rs.cnt, oru);
	art_test_records_free(&rs);
	art_schema_registry_destroy(reg);
	rd_kafka_destroy(rk);
}

Test(replay, dlq_redrive_returns_records_to_their_topic, .init = start_broker,
     .fini = stop_broker, .timeout = 90)
{
	const char *h1[] = {"artery.event_id", "E1", "artery.error", "HTTP 503",
			    "artery.error.kind", "retries_exhausted", "artery.attempts", "10",
			    "artery.original.topic", "canonical.patient",
			    "artery.original.partition", "2", "artery.original.offset", "7",
			    "artery.consumer", "ehr-out", NULL};
	const char *h2[] = {"artery.event_id", "E2", "artery.error", "HTTP 422",
			    "artery.original.topic", "canonical.result", NULL};
	const char *h3[] = {"artery.event_id", "E3", "artery.error", "no origin", NULL};
	rd_kafka_t *rk = producer();
	struct art_test_records rs;
	const struct art_test_record *r;
	char *out;
	int code;

	produce(rk, "dlq.ehr-out", 0, "P1", "value-1", 7, h1);
	produce(rk, "dlq.ehr-out", 0, "P2", "value-2", 7, h2);
	produce(rk, "dlq.ehr-out", 0, "P3", "value-3", 7, h3);
	flush(rk);

	out = replay("copy --from dlq.ehr-out --timeout-ms 3000", &code);
	cr_expect_eq(code, 1, "a record without a destination must fail the run:\n%s", out);
	cr_expect(strstr(out, "read 3, copied 2, filtered out 0, no destination 1") != NULL, "%s",
		  out);
	free(out);

	cr_assert_eq(art_test_consume_all(kb->bootstrap, "canonical.patient", 5000, &rs), 0);
	cr_assert_eq(rs.cnt, 1);
	r = &rs.recs[0];
	cr_expect(r->key_len == 2 && !memcmp(r->key, "P1", 2));
	cr_expect(r->value_len == 7 && !memcmp(r->value, "value-1", 7));
	cr_expect_str_eq(art_test_record_header(r, "artery.event_id"), "E1");
	cr_expect_str_eq(art_test_record_header(r, "artery.replayed_from"), "dlq.ehr-out/0/0");
	cr_expect_null(art_test_record_header(r, "artery.error"));
	cr_expect_null(art_test_record_header(r, "artery.attempts"));
	cr_expect_null(art_test_record_header(r, "artery.original.topic"));
	cr_expect_null(art_test_record_header(r, "artery.consumer"));
	art_test_records_free(&rs);
	cr_assert_eq(art_test_consume_all(kb->bootstrap, "canonical.result", 5000, &rs), 0);
	cr_expect_eq(rs.cnt, 1);
	art_test_records_free(&rs);
	rd_kafka_destroy(rk);
}

/* A consumer of group on topic: consumes until it has n records, commits,
 * leaves (or, with stay, keeps polling until *stop). */
struct member {
	const char *group, *topic;
	int n;
	volatile int stop, ready;
};

static rd_kafka_t *group_consumer(const char *group, const char *topic)
{
	char err[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
	rd_kafka_t *rk;

	rd_kafka_conf_set(conf, "bootstrap.servers", kb->bootstrap, err, sizeof(err));
	rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err));
	rd_kafka_conf_set(conf, "session.timeout.ms", "6000", err, sizeof(err));
	rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", err, sizeof(err));
	rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err));
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	cr_assert_not_null(rk, "%s", err);
	rd_kafka_poll_set_consumer(rk);
	rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
	rd_kafka_subscribe(rk, sub);
	rd_kafka_topic_partition_list_destroy(sub);
	return rk;
}

static void consume_and_commit(const char *group, const char *topic, int n)
{
	rd_kafka_t *rk = group_consumer(group, topic);
	int got = 0;

	for (int i = 0; i < 300 && got < n; i++) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);

		if (m && !m->err)
			got++;
		if (m)
			rd_kafka_message_destroy(m);
	}
	cr_assert_eq(got, n, "consumed %d of %d", got, n);
	cr_assert_eq(rd_kafka_commit(rk, NULL, 0), 0);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
}

static void *live_member(void *arg)
{
	struct member *mb = arg;
	rd_kafka_t *rk = group_consumer(mb->group, mb->topic);

	while (!mb->stop) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
		rd_kafka_topic_partition_list_t *a = NULL;

		if (m)
			rd_kafka_message_destroy(m);
		if (!mb->ready && rd_kafka_assignment(rk, &a) == 0 && a) {
			mb->ready = a->cnt > 0;
			rd_kafka_topic_partition_list_destroy(a);
		}
	}
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return NULL;
}

/* The group's committed offset of topic[partition] (-1 none). */
static int64_t committed(const char *group, const char *topic, int32_t partition)
{
	char err[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_t *rk;
	int64_t off;

	rd_kafka_conf_set(conf, "bootstrap.servers", kb->bootstrap, err, sizeof(err));
	rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err));
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	cr_assert_not_null(rk);
	rd_kafka_topic_partition_list_add(l, topic, partition);
	cr_assert_eq(rd_kafka_committed(rk, l, 10000), 0);
	off = l->elems[0].offset;
	rd_kafka_topic_partition_list_destroy(l);
	rd_kafka_destroy(rk);
	return off;
}

Test(replay, reset_moves_an_inactive_group, .init = start_broker, .fini = stop_broker,
     .timeout = 120)
{
	rd_kafka_t *rk = producer();
	char args[256], when[32];
	char *out;
	int code;

	produce_range(rk, "canonical.order", 0, 6, "ORM^O01");
	sleep_ms(1200);
	snprintf(when, sizeof(when), "%lld", (long long)(art_now_us() / 1000));
	sleep_ms(200);
	produce_range(rk, "canonical.order", 6, 4, "ORM^O01");
	consume_and_commit("g-reset", "canonical.order", 10);
	cr_assert_eq(committed("g-reset", "canonical.order", 0), 10);

	out = replay("reset --group g-reset --topic canonical.order --partition 0 --to-offset 4 "
		     "--dry-run --timeout-ms 3000",
		     &code);
	cr_expect_eq(code, 0, "%s", out);
	cr_expect(strstr(out, "canonical.order[0]: committed 10 -> 4  (replays 6 records") !=
			  NULL,
		  "%s", out);
	free(out);
	cr_expect_eq(committed("g-reset", "canonical.order", 0), 10, "a dry run moved the group");

	out = replay("reset --group g-reset --topic canonical.order --partition 0 --to-offset 4 "
		     "--timeout-ms 3000",
		     &code);
	cr_expect_eq(code, 0, "%s", out);
	free(out);
	cr_expect_eq(committed("g-reset", "canonical.order", 0), 4);

	snprintf(args, sizeof(args),
		 "reset --group g-reset --topic canonical.order --partition 0 --to-time %s "
		 "--timeout-ms 3000",
		 when);
	out = replay(args, &code);
	cr_expect_eq(code, 0, "%s", out);
	free(out);
	cr_expect_eq(committed("g-reset", "canonical.order", 0), 6,
		     "--to-time: first record after the gap is offset 6");
	rd_kafka_destroy(rk);
}

Test(replay, reset_refuses_a_group_with_a_live_member, .init = start_broker,
     .fini = stop_broker, .timeout = 120)
{
	struct member mb = {.group = "g-live", .topic = "canonical.order"};
	rd_kafka_t *rk = producer();
	pthread_t th;
	char *out;
	int code;

	produce_range(rk, "canonical.order", 0, 5, "ORM^O01");
	consume_and_commit("g-live", "canonical.order", 5);
	cr_assert_eq(pthread_create(&th, NULL, live_member, &mb), 0);
	for (int i = 0; i < 200 && !mb.ready; i++)
		sleep_ms(50);
	cr_assert(mb.ready, "the live member never got its assignment");

	out = replay("reset --group g-live --topic canonical.order --to-beginning --timeout-ms 2000",
		     &code);
	cr_expect_eq(code, 1, "%s", out);
	cr_expect(strstr(out, "refused") != NULL, "%s", out);
	free(out);
	mb.stop = 1;
	pthread_join(th, NULL);
	cr_expect_eq(committed("g-live", "canonical.order", 0), 5, "a refused reset moved the group");
	rd_kafka_destroy(rk);
}

Test(replay, usage_errors_exit_2, .timeout = 30)
{
	static const char *const bad[][2] = {
		{"copy --from raw.hl7v2", "--to is required"},
		{"copy --from raw.hl7v2 --to raw.hl7v2", "must differ"},
		{"reset --topic raw.hl7v2 --to-beginning", "--group"},
		{"reset --group g --topic t --to-time 2026-11-22T08:30:00", "with a zone"},
		{"reset --group g --topic t --to-offset 3 --to-end", "conflicts"},
		{"reset --group g --topic t --to-end --message-type A", "for `copy`"},
		{"rewind", "unknown verb"},
	};

	for (size_t i = 0; i < ART_ARRAY_SIZE(bad); i++) {
		int code;
		char *out = replay(bad[i][0], &code);

		cr_expect_eq(code, 2, "'%s': exit %d\n%s", bad[i][0], code, out);
		cr_expect(strstr(out, bad[i][1]) != NULL, "'%s': no '%s' in:\n%s", bad[i][0],
			  bad[i][1], out);
		free(out);
	}
}

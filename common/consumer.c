/*
 * consumer.c — the consumer runtime's loop, per-partition state and
 * rebalance handling (consumer.h; docs/consumer.md).
 *
 * Per assigned partition the runtime keeps a small queue of records taken
 * from rd_kafka_consumer_poll() but not finished yet, in offset order. The
 * head of the queue is "the current event" of that partition; it is in one
 * of four states:
 *
 *   READY       can be attempted now (decode, route, ledger, deliver);
 *   RETRY_WAIT  the sink answered ART_RETRY: deliver again at next_try_us;
 *   DLQ_WAIT    its dead letter is produced, waiting for Kafka's ack;
 *   DLQ_RETRY   the dead letter failed: produce it again at next_try_us.
 *
 * A partition whose head is not READY is paused (rd_kafka_pause_partitions)
 * and resumed when its queue is empty again, so other partitions keep
 * flowing and order within the partition is kept. librdkafka purges its
 * pre-fetched records of a partition on pause and restarts the fetch after
 * the last record poll() returned; records that were already on their way
 * to poll() when it paused are appended to the queue, and a record at an
 * offset below the next expected one (a re-fetch) is dropped, so every
 * offset is handled exactly once per assignment.
 *
 * A head is done when it was delivered, filtered, skipped as a duplicate,
 * or dead-lettered and acknowledged. Done heads form the batch: their next
 * offsets are kept per partition (store_next) and the delivered event ids
 * in `pending` (with a small hash index, so an id delivered earlier in the
 * batch counts as seen). art_consumer_flush() ends the batch — the sink's
 * flush, the ledger transaction, rd_kafka_offsets_store() of every
 * partition's store_next — after ART_CONSUMER_BATCH_MAX heads or
 * ART_CONSUMER_BATCH_MS, when a poll finds nothing waiting, when a
 * rebalance starts and at shutdown; a failed
 * flush or ledger write stores nothing and stops the consumer. Stored
 * offsets are committed every commit_interval_ms, on revoke and at
 * shutdown.
 *
 * Each attempt decodes its record into one tree (c->tree) shared by every
 * partition: a retry decodes again, which costs microseconds where the
 * retry waited milliseconds. The dead-letter producer is polled at once
 * while a dead letter is in flight, else every ART_CONSUMER_DLQ_POLL_MS.
 * Everything runs on the thread of art_consumer_run(): the rebalance
 * callback and the dead-letter delivery reports are served inside its
 * poll calls.
 */
#include "consumer.h"

#include "admin.h"
#include "avro_codec.h"
#include "avro_project.h"
#include "avro_tree.h"
#include "dlq.h"
#include "kafka.h"
#include "ledger.h"
#include "log.h"
#include "metrics.h"
#include "producer.h"
#include "record.h"
#include "route.h"
#include "schema.h"

#include <assert.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ART_CONSUMER_POLL_MS      100   /* longest wait in one poll: how fast stop is seen */
#define ART_CONSUMER_DLQ_TIMEOUT  30000 /* message.timeout.ms of the dead-letter producer */
#define ART_CONSUMER_ID_MAX       128   /* event id / idempotency key / source kept */
#define ART_CONSUMER_ERR_MAX      512   /* reason kept for a dead letter */
#define ART_CONSUMER_PENDING_SLOTS (2 * ART_CONSUMER_BATCH_MAX) /* hash index of a batch */
#define ART_CONSUMER_DLQ_POLL_MS  100   /* dead-letter producer polled this often when idle */

enum art_part_state {
	ART_PART_READY = 0,      /* head can be attempted now */
	ART_PART_RETRY_WAIT = 1, /* head answered ART_RETRY: deliver again at next_try_us */
	ART_PART_DLQ_WAIT = 2,   /* head's dead letter produced, waiting for Kafka's ack */
	ART_PART_DLQ_RETRY = 3,  /* head's dead letter failed: produce again at next_try_us */
};

static const char *const art_part_state_names[] = {"ready", "retry_wait", "dlq_wait",
                                                   "dlq_retry"};

/* One assigned partition. */
struct art_part {
	char *topic;
	int32_t partition;
	char label[300]; /* "topic/partition" for the lag gauge */

	rd_kafka_message_t **q; /* held records q[q_head .. q_head + q_cnt), offset order */
	size_t q_head, q_cnt, q_cap;
	int64_t next_offset; /* offset after the last record taken from poll, -1 unknown */
	int paused;          /* paused by us */

	enum art_part_state state; /* of the head */
	int attempts;              /* deliveries of the head so far */
	int dlq_attempts;          /* dead-letter writes of the head that failed */
	int64_t first_try_us;      /* monotonic: first delivery of the head */
	int64_t next_try_us;       /* monotonic: when RETRY_WAIT/DLQ_RETRY end */
	const char *dlq_kind;      /* why the head is being dead-lettered */
	char error[ART_CONSUMER_ERR_MAX];

	int64_t store_next; /* offset to store at the next flush (records before it are
	                       done), -1 when none is due */
};

/* The reader of one subject: pinned or latest, and its projector. */
struct art_reader_slot {
	const char *subject; /* borrowed from the registry */
	const struct art_schema *reader;
	struct art_avro_projector *pj; /* created on first use */
};

/* An event delivered in the current batch: recorded in the ledger at the
 * flush. */
struct art_pending {
	char event_id[ART_CONSUMER_ID_MAX];
	char idem[ART_CONSUMER_ID_MAX]; /* "" when none */
	int64_t delivered_at_us;
};

/* What art_producer_send() calls back for a dead letter. */
struct art_dlq_wait {
	struct art_consumer *c;
	char *topic;
	int32_t partition;
	int64_t offset;
};

struct art_consumer {
	const struct art_topology *topo;
	const struct art_consumer_conf *cc;
	const struct art_schema_registry *reg;
	const struct art_sink_ops *ops;
	void *sink_ctx;
	int sink_ready; /* init succeeded: close() at destroy */
	struct art_sink_conf sink_conf;
	char ledger_target[200]; /* "<name>/<type>" */

	rd_kafka_t *rk;
	struct art_producer *dlq;
	struct art_ledger *ledger; /* NULL when disabled */
	struct art_admin *admin;
	struct art_metrics *metrics;
	struct art_metrics *own_metrics; /* when the caller gave none */

	struct art_metric *m_consumed, *m_delivered, *m_retries, *m_dead, *m_dup, *m_filtered;
	struct art_metric *m_latency, *m_age, *m_lag, *m_paused, *m_ledger_err, *m_ledger_rows;
	struct art_metric *m_assigned;

	struct art_part **parts;
	size_t part_cnt, part_cap;
	struct art_reader_slot *readers; /* one per subject of the registry */
	size_t reader_cnt;

	struct art_tree tree; /* the event being attempted, decoded */

	/* The batch: heads done since the last flush, whose offsets are stored
	 * (and whose deliveries recorded in the ledger, in one transaction)
	 * together by art_consumer_flush(). */
	struct art_pending *pending; /* delivered events to record, ART_CONSUMER_BATCH_MAX */
	struct art_ledger_row *rows; /* the same as ledger rows, at the flush */
	size_t pending_cnt;
	uint16_t *pending_idx;       /* hash index of pending event ids: index + 1, 0 empty */
	size_t batch_done;           /* heads done in the batch (any outcome) */
	int batch_open;              /* a head was done or checked in the ledger since the
	                                last flush */
	int64_t batch_start_us;      /* monotonic: when the batch opened */
	size_t batch_delivered;      /* heads of the batch the target accepted */
	int batch_failed;            /* a batch could not be flushed or recorded: store nothing
	                                more (fatal) */
	size_t dlq_inflight;         /* dead letters waiting for Kafka's answer */
	int64_t last_dlq_poll_us;    /* monotonic: last poll of the dead-letter producer */

	atomic_int stop;
	int dirty;          /* some partition may be able to progress */
	int64_t next_due_us; /* earliest next_try_us of a waiting partition */
	int fatal;
	char fatal_err[512];
	uint64_t rng;
	int stored; /* offsets stored since the last commit */
	int joined;
	int64_t last_commit_us, last_lag_us, last_prune_us;
};

/* ---- small helpers ----------------------------------------------------- */

static uint64_t art_rng_next(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ULL;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

int64_t art_consumer_backoff_ms(const struct art_retry_conf *rc, int attempt, int hint_ms,
                                uint64_t *rng)
{
	int64_t base = rc->initial_backoff_ms, cap = rc->max_backoff_ms, delay;

	if (attempt < 1)
		attempt = 1;
	for (int i = 1; i < attempt && base < cap; i++)
		base *= 2;
	if (base > cap)
		base = cap;
	/* equal jitter: half fixed, half uniform */
	delay = base / 2 + (int64_t)(art_rng_next(rng) % (uint64_t)(base - base / 2 + 1));
	if (hint_ms > delay)
		delay = ART_MIN((int64_t)hint_ms, cap);
	return delay;
}

static void art_part_label(struct art_part *p)
{
	snprintf(p->label, sizeof(p->label), "%s/%" PRId32, p->topic, p->partition);
}

static struct art_part *art_part_find(struct art_consumer *c, const char *topic,
                                      int32_t partition)
{
	for (size_t i = 0; i < c->part_cnt; i++)
		if (c->parts[i]->partition == partition && !strcmp(c->parts[i]->topic, topic))
			return c->parts[i];
	return NULL;
}

static rd_kafka_message_t *art_part_head(struct art_part *p)
{
	return p->q_cnt ? p->q[p->q_head] : NULL;
}

/* Forgets the retry state of the head. */
static void art_part_reset_head(struct art_part *p)
{
	p->state = ART_PART_READY;
	p->attempts = 0;
	p->dlq_attempts = 0;
	p->first_try_us = 0;
	p->next_try_us = 0;
	p->dlq_kind = NULL;
	p->error[0] = '\0';
}

/* Removes and destroys the head. */
static void art_part_pop(struct art_part *p)
{
	assert(p->q_cnt > 0);
	rd_kafka_message_destroy(p->q[p->q_head]);
	p->q[p->q_head] = NULL;
	p->q_head++;
	p->q_cnt--;
	if (p->q_cnt == 0)
		p->q_head = 0;
	art_part_reset_head(p);
}

/* Appends rkm (takes ownership). Returns 0, or -1 when out of memory (rkm
 * is then still the caller's). */
static int art_part_push(struct art_part *p, rd_kafka_message_t *rkm)
{
	if (p->q_head + p->q_cnt == p->q_cap) {
		if (p->q_head > 0) {
			memmove(p->q, p->q + p->q_head, p->q_cnt * sizeof(*p->q));
			p->q_head = 0;
		} else {
			size_t cap = p->q_cap ? p->q_cap * 2 : 16;
			rd_kafka_message_t **q = realloc(p->q, cap * sizeof(*q));

			if (!q)
				return -1;
			p->q = q;
			p->q_cap = cap;
		}
	}
	p->q[p->q_head + p->q_cnt++] = rkm;
	return 0;
}

static void art_part_free(struct art_part *p)
{
	if (!p)
		return;
	while (p->q_cnt)
		art_part_pop(p);
	art_part_reset_head(p);
	free(p->q);
	free(p->topic);
	free(p);
}

/* Pauses or resumes one partition in librdkafka. */
static void art_part_set_paused(struct art_consumer *c, struct art_part *p, int pause)
{
	rd_kafka_topic_partition_list_t *tp;
	rd_kafka_resp_err_t err;

	if (p->paused == pause)
		return;
	tp = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(tp, p->topic, p->partition);
	err = pause ? rd_kafka_pause_partitions(c->rk, tp) : rd_kafka_resume_partitions(c->rk, tp);
	rd_kafka_topic_partition_list_destroy(tp);
	if (err) {
		art_warn("consumer.pause", "%s %s: %s", pause ? "pause" : "resume", p->label,
		         rd_kafka_err2str(err));
		return;
	}
	p->paused = pause;
	art_metrics_add(c->m_paused, NULL, pause ? 1 : -1);
	art_debug("consumer.pause", "%s %s", pause ? "paused" : "resumed", p->label);
}

static void art_consumer_flush(struct art_consumer *c);

/* Opens the batch (when not open yet): it is flushed within
 * ART_CONSUMER_BATCH_MS. */
static void art_consumer_batch_open(struct art_consumer *c)
{
	if (c->batch_open)
		return;
	c->batch_open = 1;
	c->batch_start_us = art_mono_us();
}

/* Done with the head (delivered, filtered, skipped or dead-lettered): its
 * offset is stored at the next flush, with the batch. Pops it. */
static void art_part_done(struct art_consumer *c, struct art_part *p)
{
	rd_kafka_message_t *rkm = art_part_head(p);

	p->store_next = rkm->offset + 1;
	c->batch_done++;
	art_consumer_batch_open(c);
	art_part_pop(p);
	if (c->batch_done >= ART_CONSUMER_BATCH_MAX)
		art_consumer_flush(c);
}

/* ---- the batch ------------------------------------------------------------- */

static uint32_t art_consumer_id_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* 1 when event_id was delivered in the current batch (not yet in the
 * ledger's file, but as good as recorded). */
static int art_consumer_pending_has(struct art_consumer *c, const char *event_id)
{
	uint32_t h = art_consumer_id_hash(event_id) & (ART_CONSUMER_PENDING_SLOTS - 1);

	while (c->pending_idx[h]) {
		if (!strcmp(c->pending[c->pending_idx[h] - 1].event_id, event_id))
			return 1;
		h = (h + 1) & (ART_CONSUMER_PENDING_SLOTS - 1);
	}
	return 0;
}

/* Adds a delivered event to the batch (the caller flushes when full). */
static void art_consumer_pending_add(struct art_consumer *c, const char *event_id,
                                     const char *idem)
{
	struct art_pending *pe = &c->pending[c->pending_cnt];
	uint32_t h = art_consumer_id_hash(event_id) & (ART_CONSUMER_PENDING_SLOTS - 1);

	if (c->pending_cnt == ART_CONSUMER_BATCH_MAX)
		return; /* only after a failed flush: the consumer is stopping */
	art_strlcpy(pe->event_id, event_id, sizeof(pe->event_id));
	art_strlcpy(pe->idem, idem, sizeof(pe->idem));
	pe->delivered_at_us = art_now_us();
	while (c->pending_idx[h])
		h = (h + 1) & (ART_CONSUMER_PENDING_SLOTS - 1);
	c->pending_idx[h] = (uint16_t)(++c->pending_cnt);
}

/* Marks the batch failed: nothing of it (nor anything after) is recorded
 * or stored, and the consumer stops; after a restart the batch is
 * delivered again. */
static void art_consumer_batch_fail(struct art_consumer *c, const char *what, const char *err)
{
	c->batch_failed = 1;
	c->fatal = 1;
	snprintf(c->fatal_err, sizeof(c->fatal_err),
	         "%zu accepted event(s) %s (not recorded, offsets not stored: delivered again "
	         "after a restart): %.300s",
	         c->batch_delivered, what, err[0] ? err : "no reason given");
}

/* Ends the batch: lets the target make what it accepted durable (its
 * flush op), records the delivered events in the ledger (one
 * transaction), then stores the offsets of every head done in it. When
 * the target or the ledger fails, nothing is stored (the events are
 * delivered again after a restart) and the consumer stops: fatal. */
static void art_consumer_flush(struct art_consumer *c)
{
	rd_kafka_topic_partition_list_t *list = NULL;
	char err[512];

	if (c->batch_failed)
		return;
	c->batch_open = 0;
	art_ledger_resync(c->ledger); /* the next batch sees what other members recorded */
	if (c->batch_delivered && c->ops->flush) {
		err[0] = '\0';
		if (c->ops->flush(c->sink_ctx, err, sizeof(err)) == -1) {
			art_consumer_batch_fail(c, "could not be made durable by the target", err);
			return;
		}
	}
	if (c->pending_cnt) {
		for (size_t i = 0; i < c->pending_cnt; i++) {
			c->rows[i].event_id = c->pending[i].event_id;
			c->rows[i].idempotency_key = c->pending[i].idem[0] ? c->pending[i].idem : NULL;
			c->rows[i].delivered_at_us = c->pending[i].delivered_at_us;
		}
		if (art_ledger_put_batch(c->ledger, c->rows, c->pending_cnt, err, sizeof(err)) == -1) {
			art_metrics_inc(c->m_ledger_err, NULL);
			art_consumer_batch_fail(c, "could not be recorded in the ledger", err);
			return;
		}
		c->pending_cnt = 0;
		memset(c->pending_idx, 0, ART_CONSUMER_PENDING_SLOTS * sizeof(*c->pending_idx));
	}
	c->batch_done = 0;
	c->batch_delivered = 0;
	for (size_t i = 0; i < c->part_cnt; i++) {
		struct art_part *p = c->parts[i];

		if (p->store_next < 0)
			continue;
		if (!list)
			list = rd_kafka_topic_partition_list_new((int)c->part_cnt);
		rd_kafka_topic_partition_list_add(list, p->topic, p->partition)->offset =
		    p->store_next;
		p->store_next = -1;
	}
	if (!list)
		return;
	/* .offset is stored as is: the next offset to read */
	if (rd_kafka_offsets_store(c->rk, list) == RD_KAFKA_RESP_ERR__INVALID_ARG)
		art_warn("consumer.offset_store", "offsets store: invalid argument");
	for (int i = 0; i < list->cnt; i++) {
		if (list->elems[i].err)
			art_warn("consumer.offset_store", "%s/%" PRId32 " offset %" PRId64 ": %s",
			         list->elems[i].topic, list->elems[i].partition, list->elems[i].offset,
			         rd_kafka_err2str(list->elems[i].err));
		else
			c->stored++;
	}
	rd_kafka_topic_partition_list_destroy(list);
}

/* ---- decode and the event ------------------------------------------------ */

/* Returns the reader slot of subject (creating its projector), or NULL
 * with the reason in errstr. */
static struct art_reader_slot *art_consumer_reader(struct art_consumer *c, const char *subject,
                                                   char *errstr, size_t errstr_size)
{
	struct art_reader_slot *s = NULL;

	for (size_t i = 0; i < c->reader_cnt; i++)
		if (!strcmp(c->readers[i].subject, subject))
			s = &c->readers[i];
	if (!s) {
		snprintf(errstr, errstr_size, "no reader schema for subject %s", subject);
		return NULL;
	}
	if (!s->pj) {
		s->pj = art_avro_project_new(c->reg, s->reader, errstr, errstr_size);
		if (!s->pj)
			return NULL;
	}
	return s;
}

/* Decodes record rkm onto its reader into c->tree. Returns 0 with the
 * schemas in *writer and *reader, or -1 with the reason in errstr (the
 * record cannot be read: it will be dead-lettered). */
static int art_consumer_decode(struct art_consumer *c, rd_kafka_message_t *rkm,
                               const struct art_schema **writer,
                               const struct art_schema **reader, char *errstr,
                               size_t errstr_size)
{
	const struct art_schema *ws;
	struct art_reader_slot *slot;
	int32_t id;

	if (art_avro_wire_id(rkm->payload, rkm->len, &id, errstr, errstr_size) == -1)
		return -1;
	ws = art_schema_by_id(c->reg, id);
	if (!ws) {
		snprintf(errstr, errstr_size, "unknown schema id %" PRId32 " (not in %s)", id,
		         c->reg->dir);
		return -1;
	}
	slot = art_consumer_reader(c, ws->subject, errstr, errstr_size);
	if (!slot)
		return -1;
	/* One pass over the bytes through the projector's compiled plan for
	 * this (writer, reader) pair, the identity when the record was
	 * written with the reader's own version. */
	if (art_avro_project_read_tree(slot->pj, rkm->payload, rkm->len, &c->tree, writer, errstr,
	                               errstr_size) == -1)
		return -1;
	*reader = slot->reader;
	return 0;
}

/* Copies the string at path obj.key of the decoded record doc into buf,
 * else header `header` of rkm (may be NULL: none), else "". The value
 * comes first: it is the event itself, and parsing a record's headers
 * costs librdkafka an allocation per header. */
static void art_consumer_field(rd_kafka_message_t *rkm, const char *header,
                               const struct art_tnode *doc, const char *obj, const char *key,
                               char *buf, size_t size)
{
	const struct art_tnode *v = doc;
	const char *str;

	buf[0] = '\0';
	if (v && obj)
		v = art_tnode_get(v, obj);
	str = v ? art_tnode_str(art_tnode_get(v, key)) : NULL;
	if (str && str[0]) {
		art_strlcpy(buf, str, size);
		return;
	}
	if (header && art_kafka_header_get(rkm, header, buf, size) < 0)
		buf[0] = '\0';
}

/* ---- dead letters -------------------------------------------------------- */

static void art_consumer_dlq_done(void *opaque, rd_kafka_resp_err_t err, const char *errstr);

/* Produces the dead letter of p's head; the partition waits for the ack. */
static void art_consumer_dead_letter(struct art_consumer *c, struct art_part *p)
{
	rd_kafka_message_t *rkm = art_part_head(p);
	struct art_dlq_reason why = {
	    .kind = p->dlq_kind,
	    .error = p->error,
	    .attempts = p->attempts,
	    .consumer = c->cc->name,
	};
	struct art_record_list list;
	struct art_record *rec;
	struct art_dlq_wait *w = NULL;
	char err[512];

	art_record_list_init(&list, 1);
	rec = art_dlq_record(c->cc->dlq_topic, rkm, &why, err, sizeof(err));
	if (!rec)
		goto retry;
	if (art_record_list_add(&list, rec) == -1) {
		art_record_destroy(rec);
		snprintf(err, sizeof(err), "out of memory");
		goto retry;
	}
	rec = NULL; /* owned by list */
	w = calloc(1, sizeof(*w));
	if (w)
		w->topic = strdup(p->topic);
	if (!w || !w->topic) {
		snprintf(err, sizeof(err), "out of memory");
		goto retry;
	}
	w->c = c;
	w->partition = p->partition;
	w->offset = rkm->offset;
	if (art_producer_send(c->dlq, &list, art_consumer_dlq_done, w, err, sizeof(err)) == -1)
		goto retry;
	c->dlq_inflight++;
	w = NULL; /* owned by the producer until the callback */
	art_record_list_free(&list);
	p->state = ART_PART_DLQ_WAIT;
	return;
retry:
	if (w)
		free(w->topic);
	free(w);
	art_record_list_free(&list);
	p->dlq_attempts++;
	p->state = ART_PART_DLQ_RETRY;
	p->next_try_us =
	    art_mono_us() + 1000 * art_consumer_backoff_ms(&c->cc->retry, p->dlq_attempts, 0, &c->rng);
	art_error("consumer.dlq_error", "%s offset %" PRId64 ": cannot write the dead letter to %s: %s",
	          p->label, rkm->offset, c->cc->dlq_topic, err);
}

static void art_consumer_dlq_done(void *opaque, rd_kafka_resp_err_t err, const char *errstr)
{
	struct art_dlq_wait *w = opaque;
	struct art_consumer *c = w->c;
	struct art_part *p = art_part_find(c, w->topic, w->partition);
	rd_kafka_message_t *rkm = p ? art_part_head(p) : NULL;

	c->dlq_inflight--;

	if (!p || !rkm || p->state != ART_PART_DLQ_WAIT || rkm->offset != w->offset) {
		/* The partition was revoked meanwhile: the next owner redoes it. */
		art_info("consumer.dlq_orphan",
		         "dead letter of %s/%" PRId32 " offset %" PRId64 " %s after its partition "
		         "went; the next owner may write it again",
		         w->topic, w->partition, w->offset, err ? "failed" : "acknowledged");
	} else if (err) {
		p->dlq_attempts++;
		p->state = ART_PART_DLQ_RETRY;
		p->next_try_us = art_mono_us() + 1000 * art_consumer_backoff_ms(&c->cc->retry,
		                                                                 p->dlq_attempts, 0,
		                                                                 &c->rng);
		art_error("consumer.dlq_error",
		          "%s offset %" PRId64 ": dead letter to %s failed (%s); retrying", p->label,
		          w->offset, c->cc->dlq_topic, errstr);
	} else {
		art_metrics_inc(c->m_dead, p->topic);
		art_warn("consumer.dead_letter",
		         "%s offset %" PRId64 " dead-lettered to %s after %d attempt(s) (%s): %s",
		         p->label, w->offset, c->cc->dlq_topic, p->attempts, p->dlq_kind, p->error);
		art_part_done(c, p);
	}
	c->dirty = 1;
	free(w->topic);
	free(w);
}

/* Gives up on the head: dead-letter it with kind and reason. */
static void art_consumer_give_up(struct art_consumer *c, struct art_part *p, const char *kind,
                                 const char *reason)
{
	p->dlq_kind = kind;
	if (reason != p->error)
		art_strlcpy(p->error, reason, sizeof(p->error));
	art_consumer_dead_letter(c, p);
}

/* ---- one attempt ----------------------------------------------------------- */

/* Runs the head of p through decode, route, ledger and the sink. On return
 * the head is either done (popped) or p->state says what it waits for. */
static void art_consumer_attempt(struct art_consumer *c, struct art_part *p)
{
	rd_kafka_message_t *rkm = art_part_head(p);
	char err[ART_CONSUMER_ERR_MAX] = "";
	char event_id[ART_CONSUMER_ID_MAX], idem[ART_CONSUMER_ID_MAX], source[ART_CONSUMER_ID_MAX];
	char event_type[ART_CONSUMER_ID_MAX], facility[ART_CONSUMER_ID_MAX], msgtype[64];
	const char *why = NULL;
	const struct art_schema *writer = NULL, *reader = NULL;
	const struct art_tnode *doc;
	struct art_event ev;
	enum art_res res;
	int retry_after_ms = 0, seen;
	int64_t t0, now;

	if (!rkm->payload) { /* a tombstone: nothing to deliver */
		art_metrics_inc(c->m_filtered, p->topic);
		art_part_done(c, p);
		return;
	}
	/* decoded at every attempt: one tree serves every partition, and a
	 * decode costs microseconds where a retry waits for milliseconds */
	if (art_consumer_decode(c, rkm, &writer, &reader, err, sizeof(err)) == -1) {
		art_warn("consumer.undecodable", "%s offset %" PRId64 ": %s", p->label, rkm->offset,
		         err);
		art_consumer_give_up(c, p, "undecodable", err);
		return;
	}
	doc = c->tree.root;
	art_consumer_field(rkm, ART_HDR_EVENT_ID, doc, NULL, "event_id", event_id,
	                   sizeof(event_id));
	art_consumer_field(rkm, ART_HDR_IDEMPOTENCY_KEY, doc, NULL, "idempotency_key", idem,
	                   sizeof(idem));
	art_consumer_field(rkm, ART_HDR_SOURCE, doc, "source", "channel", source,
	                   sizeof(source));
	art_consumer_field(rkm, NULL, doc, NULL, "event_type", event_type,
	                   sizeof(event_type));
	art_consumer_field(rkm, NULL, doc, "source", "facility", facility,
	                   sizeof(facility));
	/* the HL7 message type is only in a header: read when a route needs it */
	msgtype[0] = '\0';
	if (c->cc->route.message_type_cnt &&
	    art_kafka_header_get(rkm, ART_HDR_HL7_MESSAGE_TYPE, msgtype, sizeof(msgtype)) < 0)
		msgtype[0] = '\0';
	if (!art_route_match(&c->cc->route, event_type[0] ? event_type : NULL,
	                     facility[0] ? facility : NULL, msgtype[0] ? msgtype : NULL, &why)) {
		art_debug("consumer.filtered", "%s offset %" PRId64 " filtered out by %s", p->label,
		          rkm->offset, why);
		art_metrics_inc(c->m_filtered, p->topic);
		art_part_done(c, p);
		return;
	}
	if (!event_id[0]) /* no id anywhere: the record's position is all we have */
		snprintf(event_id, sizeof(event_id), "%s/%" PRId32 "/%" PRId64, p->topic,
		         p->partition, rkm->offset);
	if (c->ledger && p->attempts == 0) {
		seen = art_consumer_pending_has(c, event_id) ? 1
		                                              : art_ledger_seen(c->ledger, event_id, err,
		                                                                sizeof(err));
		if (seen == -1) {
			art_metrics_inc(c->m_ledger_err, NULL);
			c->fatal = 1;
			snprintf(c->fatal_err, sizeof(c->fatal_err), "%s", err);
			return; /* leave the head undone: the next run redoes it */
		}
		if (seen) {
			art_info("consumer.duplicate",
			         "%s offset %" PRId64 " event %s already delivered: skipped", p->label,
			         rkm->offset, event_id);
			art_metrics_inc(c->m_dup, p->topic);
			art_part_done(c, p);
			return;
		}
	}

	memset(&ev, 0, sizeof(ev));
	ev.topic = p->topic;
	ev.partition = p->partition;
	ev.offset = rkm->offset;
	ev.key = rkm->key;
	ev.key_len = rkm->key_len;
	ev.value = rkm->payload;
	ev.value_len = rkm->len;
	ev.writer = writer;
	ev.reader = reader;
	ev.doc = doc;
	ev.event_id = event_id;
	ev.idempotency_key = idem;
	ev.event_type = event_type;
	ev.source = source;
	ev.message_type = msgtype;
	ev.attempt = ++p->attempts;
	ev.rkm = rkm;
	t0 = art_mono_us();
	if (p->attempts == 1)
		p->first_try_us = t0;
	err[0] = '\0';
	res = c->ops->deliver(c->sink_ctx, &ev, &retry_after_ms, err, sizeof(err));
	now = art_mono_us();
	if (res != ART_OK && !err[0])
		snprintf(err, sizeof(err), "target %s answered %s without a reason", c->ops->name,
		         res == ART_RETRY ? "RETRY" : "FAIL");

	if (res == ART_OK) {
		rd_kafka_timestamp_type_t tstype;
		int64_t ts = rd_kafka_message_timestamp(rkm, &tstype);

		art_metrics_observe(c->m_latency, (double)(now - t0) / 1e6);
		if (ts >= 0) {
			double age_s = (double)(art_now_us() / 1000 - ts) / 1e3;

			art_metrics_observe(c->m_age, ART_MAX(0.0, age_s));
		}
		art_metrics_inc(c->m_delivered, p->topic);
		c->batch_delivered++;
		if (c->ledger) /* recorded with the batch, before its offsets are stored */
			art_consumer_pending_add(c, event_id, idem);
		art_debug("consumer.delivered", "%s offset %" PRId64 " event %s delivered", p->label,
		          rkm->offset, event_id);
		art_part_done(c, p);
		return;
	}
	snprintf(p->error, sizeof(p->error), "%s", err);
	if (res == ART_FAIL) {
		art_warn("consumer.rejected", "%s offset %" PRId64 " event %s rejected by %s: %s",
		         p->label, rkm->offset, event_id, c->ops->name, err);
		art_consumer_give_up(c, p, "rejected", p->error);
		return;
	}
	/* ART_RETRY */
	{
		const struct art_retry_conf *rc = &c->cc->retry;
		int64_t delay = art_consumer_backoff_ms(rc, p->attempts, retry_after_ms, &c->rng);
		int64_t elapsed_ms = (now - p->first_try_us) / 1000;

		if ((rc->max_attempts > 0 && p->attempts >= rc->max_attempts) ||
		    (rc->max_elapsed_ms > 0 && elapsed_ms + delay > rc->max_elapsed_ms)) {
			/* Room for the prefix and the whole error: it is cut to
			 * ART_CONSUMER_ERR_MAX where it is stored. */
			char reason[ART_CONSUMER_ERR_MAX + 80];

			snprintf(reason, sizeof(reason), "gave up after %d attempt(s) in %" PRId64
			         " ms: %s", p->attempts, elapsed_ms, err);
			art_warn("consumer.retries_exhausted", "%s offset %" PRId64 " event %s: %s",
			         p->label, rkm->offset, event_id, reason);
			art_consumer_give_up(c, p, "retries_exhausted", reason);
			return;
		}
		art_metrics_inc(c->m_retries, p->topic);
		p->state = ART_PART_RETRY_WAIT;
		p->next_try_us = now + delay * 1000;
		art_info("consumer.retry",
		         "%s offset %" PRId64 " event %s: attempt %d failed (%s); retrying in %" PRId64
		         " ms",
		         p->label, rkm->offset, event_id, p->attempts, err, delay);
	}
}

/* Makes as much progress on p as possible now; pauses it while its head
 * waits, resumes it when its queue is empty. */
static void art_consumer_drain(struct art_consumer *c, struct art_part *p)
{
	while (p->q_cnt && !c->fatal && !atomic_load(&c->stop)) {
		int64_t now = art_mono_us();

		if (p->state == ART_PART_READY) {
			art_consumer_attempt(c, p);
		} else if (p->state == ART_PART_RETRY_WAIT && now >= p->next_try_us) {
			p->state = ART_PART_READY;
			art_consumer_attempt(c, p);
		} else if (p->state == ART_PART_DLQ_RETRY && now >= p->next_try_us) {
			art_consumer_dead_letter(c, p);
		}
		if (p->q_cnt && p->state != ART_PART_READY)
			break; /* the head waits */
	}
	if (p->q_cnt && p->state != ART_PART_READY) {
		art_part_set_paused(c, p, 1);
		if (p->state != ART_PART_DLQ_WAIT && p->next_try_us < c->next_due_us)
			c->next_due_us = p->next_try_us;
	} else if (!p->q_cnt) {
		art_part_set_paused(c, p, 0);
	}
}

/* Drains every partition that may progress. */
static void art_consumer_service(struct art_consumer *c)
{
	c->dirty = 0;
	c->next_due_us = INT64_MAX;
	for (size_t i = 0; i < c->part_cnt; i++)
		art_consumer_drain(c, c->parts[i]);
}

/* Takes a record from poll into its partition's queue (owning it). */
static void art_consumer_take(struct art_consumer *c, rd_kafka_message_t *rkm)
{
	const char *topic = rd_kafka_topic_name(rkm->rkt);
	struct art_part *p = art_part_find(c, topic, rkm->partition);

	if (!p) {
		art_debug("consumer.stray", "record of unassigned %s/%" PRId32 " dropped", topic,
		          rkm->partition);
		rd_kafka_message_destroy(rkm);
		return;
	}
	if (p->next_offset >= 0 && rkm->offset < p->next_offset) {
		art_debug("consumer.refetch", "%s offset %" PRId64 " seen already: dropped",
		          p->label, rkm->offset);
		rd_kafka_message_destroy(rkm);
		return;
	}
	if (art_part_push(p, rkm) == -1) {
		c->fatal = 1;
		snprintf(c->fatal_err, sizeof(c->fatal_err), "out of memory holding records");
		rd_kafka_message_destroy(rkm);
		return;
	}
	p->next_offset = rkm->offset + 1;
	art_metrics_inc(c->m_consumed, p->topic);
	art_consumer_drain(c, p);
}

/* ---- rebalances ---------------------------------------------------------- */

static int art_consumer_commit_sync(struct art_consumer *c, const char *why)
{
	rd_kafka_resp_err_t err;

	/* Unconditional: an async commit issued just before may not be done,
	 * and committing the same stored offsets again is harmless. */
	err = rd_kafka_commit(c->rk, NULL, 0);
	if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
		art_warn("consumer.commit", "commit (%s): %s", why, rd_kafka_err2str(err));
		return -1;
	}
	c->stored = 0;
	c->last_commit_us = art_mono_us();
	return 0;
}

/* 1 while some partition of list (every partition when list is NULL)
 * waits for a dead letter's ack. */
static int art_consumer_dlq_pending(struct art_consumer *c,
                                    const rd_kafka_topic_partition_list_t *list)
{
	for (size_t i = 0; i < c->part_cnt; i++) {
		struct art_part *p = c->parts[i];

		if (p->state != ART_PART_DLQ_WAIT || !p->q_cnt)
			continue;
		if (!list)
			return 1;
		for (int j = 0; j < list->cnt; j++)
			if (list->elems[j].partition == p->partition &&
			    !strcmp(list->elems[j].topic, p->topic))
				return 1;
	}
	return 0;
}

/* Waits (bounded) for the dead letters in flight on list's partitions. */
static void art_consumer_wait_dlq(struct art_consumer *c,
                                  const rd_kafka_topic_partition_list_t *list)
{
	int64_t deadline = art_mono_us() + ART_CONSUMER_REVOKE_WAIT_MS * 1000LL;

	while (art_consumer_dlq_pending(c, list) && art_mono_us() < deadline)
		art_producer_poll(c->dlq, 100);
}

/* Drops the state of partition (topic, partition), abandoning held records. */
static void art_consumer_forget(struct art_consumer *c, const char *topic, int32_t partition)
{
	for (size_t i = 0; i < c->part_cnt; i++) {
		struct art_part *p = c->parts[i];

		if (p->partition != partition || strcmp(p->topic, topic))
			continue;
		if (p->q_cnt)
			art_info("consumer.abandon",
			         "%s: %zu held record(s) from offset %" PRId64
			         " abandoned (head %s, %d attempt(s)); the next owner redelivers",
			         p->label, p->q_cnt, art_part_head(p)->offset,
			         art_part_state_names[p->state], p->attempts);
		art_part_set_paused(c, p, 0); /* no app pause left behind on the partition */
		art_metrics_set(c->m_lag, p->label, 0);
		art_part_free(p);
		c->parts[i] = c->parts[--c->part_cnt];
		return;
	}
}

static int art_consumer_add_part(struct art_consumer *c, const char *topic, int32_t partition)
{
	struct art_part *p;

	if (art_part_find(c, topic, partition))
		return 0;
	if (c->part_cnt == c->part_cap) {
		size_t cap = c->part_cap ? c->part_cap * 2 : 16;
		struct art_part **parts = realloc(c->parts, cap * sizeof(*parts));

		if (!parts)
			return -1;
		c->parts = parts;
		c->part_cap = cap;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -1;
	p->topic = strdup(topic);
	if (!p->topic) {
		free(p);
		return -1;
	}
	p->partition = partition;
	p->next_offset = -1;
	p->store_next = -1;
	art_part_label(p);
	c->parts[c->part_cnt++] = p;
	return 0;
}

static void art_consumer_revoke(struct art_consumer *c, rd_kafka_topic_partition_list_t *parts,
                                int lost)
{
	if (!lost)
		art_consumer_wait_dlq(c, parts);
	/* the batch's deliveries are recorded either way; its offsets are
	 * only committed when the partitions were not lost */
	art_consumer_flush(c);
	if (!lost)
		art_consumer_commit_sync(c, "revoke");
	for (int i = 0; i < parts->cnt; i++)
		art_consumer_forget(c, parts->elems[i].topic, parts->elems[i].partition);
}

static void art_consumer_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                      rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct art_consumer *c = opaque;
	int coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
	rd_kafka_error_t *error = NULL;
	rd_kafka_resp_err_t ret = RD_KAFKA_RESP_ERR_NO_ERROR;

	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		/* a new batch (and a new ledger snapshot) after a rebalance: rows
		 * the previous owner recorded at its revocation are seen */
		art_consumer_flush(c);
		for (int i = 0; i < parts->cnt; i++) {
			if (art_consumer_add_part(c, parts->elems[i].topic,
			                          parts->elems[i].partition) == -1) {
				c->fatal = 1;
				snprintf(c->fatal_err, sizeof(c->fatal_err),
				         "out of memory on assignment");
			}
		}
		if (coop)
			error = rd_kafka_incremental_assign(rk, parts);
		else
			ret = rd_kafka_assign(rk, parts);
		c->joined = 1;
		if (c->admin)
			art_admin_set_ready(c->admin, 1);
		art_info("consumer.assigned", "%d partition(s) assigned (%s), %zu held in total",
		         parts->cnt, coop ? "cooperative" : "eager", c->part_cnt);
	} else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
		int lost = rd_kafka_assignment_lost(rk);

		art_info("consumer.revoked", "%d partition(s) %s (%s)", parts->cnt,
		         lost ? "lost" : "revoked", coop ? "cooperative" : "eager");
		art_consumer_revoke(c, parts, lost);
		if (coop)
			error = rd_kafka_incremental_unassign(rk, parts);
		else
			ret = rd_kafka_assign(rk, NULL);
	} else {
		art_error("consumer.rebalance", "rebalance failed: %s", rd_kafka_err2str(err));
		for (int i = 0; i < parts->cnt; i++)
			art_consumer_forget(c, parts->elems[i].topic, parts->elems[i].partition);
		ret = rd_kafka_assign(rk, NULL);
	}
	if (error) {
		art_error("consumer.rebalance", "incremental assign/unassign: %s",
		          rd_kafka_error_string(error));
		rd_kafka_error_destroy(error);
	} else if (ret) {
		art_error("consumer.rebalance", "assign: %s", rd_kafka_err2str(ret));
	}
	art_metrics_set(c->m_assigned, NULL, (double)c->part_cnt);
	c->dirty = 1;
}

static void art_consumer_commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                   rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
	struct art_consumer *c = opaque;

	(void)rk;
	(void)offsets;
	if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
		/* e.g. a rebalance in progress: the stored offsets stay stored,
		 * commit them again at the next interval. */
		c->stored++;
		art_warn("consumer.commit", "offset commit failed: %s", rd_kafka_err2str(err));
	}
}

static void art_consumer_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct art_consumer *c = opaque;
	char fatal[256];

	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
		c->fatal = 1;
		snprintf(c->fatal_err, sizeof(c->fatal_err), "fatal Kafka error: %s", fatal);
		return;
	}
	art_warn("kafka.error", "%s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* ---- periodic work ------------------------------------------------------- */

static void art_consumer_update_lag(struct art_consumer *c)
{
	for (size_t i = 0; i < c->part_cnt; i++) {
		struct art_part *p = c->parts[i];
		rd_kafka_message_t *head = art_part_head(p);
		int64_t lo = -1, hi = -1, pos;

		if (rd_kafka_get_watermark_offsets(c->rk, p->topic, p->partition, &lo, &hi) ||
		    hi < 0)
			continue;
		pos = head ? head->offset : p->next_offset;
		if (pos < 0)
			continue;
		art_metrics_set(c->m_lag, p->label, (double)ART_MAX(0, hi - pos));
	}
}

static void art_consumer_periodic(struct art_consumer *c, int64_t now)
{
	char err[512];

	if (c->batch_open && (c->batch_done >= ART_CONSUMER_BATCH_MAX ||
	                      now - c->batch_start_us >= ART_CONSUMER_BATCH_MS * 1000LL))
		art_consumer_flush(c);
	if (c->stored && now - c->last_commit_us >= c->cc->commit_interval_ms * 1000LL) {
		rd_kafka_resp_err_t e = rd_kafka_commit(c->rk, NULL, 1);

		if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET)
			art_warn("consumer.commit", "commit: %s", rd_kafka_err2str(e));
		c->stored = 0;
		c->last_commit_us = now;
	}
	if (now - c->last_lag_us >= ART_CONSUMER_LAG_EVERY_MS * 1000LL) {
		art_consumer_update_lag(c);
		c->last_lag_us = now;
	}
	if (c->ledger && now - c->last_prune_us >= ART_CONSUMER_PRUNE_EVERY_MS * 1000LL) {
		long long n = art_ledger_prune(c->ledger, art_now_us(), c->cc->ledger.max_age_days,
		                               c->cc->ledger.max_rows, err, sizeof(err));

		if (n < 0) {
			art_metrics_inc(c->m_ledger_err, NULL);
			art_error("consumer.ledger_error", "prune: %s", err);
		} else if (n > 0) {
			art_info("consumer.ledger_prune", "%lld ledger row(s) pruned", n);
		}
		art_metrics_set(c->m_ledger_rows, NULL, (double)art_ledger_count(c->ledger));
		c->last_prune_us = now;
	}
}

/* ---- set-up and teardown ------------------------------------------------- */

static int art_consumer_metrics(struct art_consumer *c)
{
	struct art_metrics *m = c->metrics;

	c->m_consumed = art_metrics_counter(m, "artery_consumer_consumed_total",
	                                    "Records taken from Kafka, by topic", "topic");
	c->m_delivered = art_metrics_counter(m, "artery_consumer_delivered_total",
	                                     "Events the target accepted, by topic", "topic");
	c->m_retries = art_metrics_counter(m, "artery_consumer_retries_total",
	                                   "Deliveries answered RETRY and retried, by topic",
	                                   "topic");
	c->m_dead = art_metrics_counter(m, "artery_consumer_dead_letters_total",
	                                "Records written to the dead-letter topic, by topic",
	                                "topic");
	c->m_dup = art_metrics_counter(m, "artery_consumer_duplicates_skipped_total",
	                               "Events skipped because the ledger has them, by topic",
	                               "topic");
	c->m_filtered = art_metrics_counter(m, "artery_consumer_filtered_total",
	                                    "Records the route filtered out, by topic", "topic");
	c->m_latency = art_metrics_histogram(m, "artery_consumer_delivery_seconds",
	                                     "Time the target took to accept an event", NULL, 0);
	c->m_age = art_metrics_histogram(m, "artery_consumer_end_to_end_seconds",
	                                 "From the record's Kafka timestamp to the target's "
	                                 "acceptance (includes retries)",
	                                 NULL, 0);
	c->m_lag = art_metrics_gauge(m, "artery_consumer_lag",
	                             "Records behind the partition's end, by topic/partition",
	                             "partition");
	c->m_paused = art_metrics_gauge(m, "artery_consumer_paused_partitions",
	                                "Partitions paused while their event waits", NULL);
	c->m_ledger_err = art_metrics_counter(m, "artery_consumer_ledger_errors_total",
	                                      "Ledger reads or writes that failed", NULL);
	c->m_ledger_rows = art_metrics_gauge(m, "artery_consumer_ledger_rows",
	                                     "Rows in the delivered-keys ledger", NULL);
	c->m_assigned = art_metrics_gauge(m, "artery_consumer_assigned_partitions",
	                                  "Partitions this member holds", NULL);
	return c->m_consumed && c->m_delivered && c->m_retries && c->m_dead && c->m_dup &&
	               c->m_filtered && c->m_latency && c->m_age && c->m_lag && c->m_paused &&
	               c->m_ledger_err && c->m_ledger_rows && c->m_assigned
	           ? 0
	           : -1;
}

/* One reader slot per subject of the registry: the pinned version or the
 * latest. Fails on a pin the registry does not have. */
static int art_consumer_readers(struct art_consumer *c, char *errstr, size_t errstr_size)
{
	const struct art_consumer_conf *cc = c->cc;

	for (size_t i = 0; i < cc->reader_cnt; i++) {
		const struct art_reader_pin *rp = &cc->readers[i];

		if (!art_schema_by_subject(c->reg, rp->subject, rp->version)) {
			snprintf(errstr, errstr_size,
			         "%s:%d: consumer '%s' pins %s version %d, which the schema registry "
			         "(%s) does not have",
			         c->topo->path, rp->line, cc->name, rp->subject, rp->version,
			         c->reg->dir);
			return -1;
		}
	}
	c->readers = calloc(c->reg->cnt ? c->reg->cnt : 1, sizeof(*c->readers));
	if (!c->readers) {
		snprintf(errstr, errstr_size, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < c->reg->cnt; i++) {
		const char *subject = c->reg->schemas[i].subject;
		const struct art_schema *reader = NULL;
		int dup = 0;

		for (size_t j = 0; j < c->reader_cnt; j++)
			if (!strcmp(c->readers[j].subject, subject))
				dup = 1;
		if (dup)
			continue;
		for (size_t j = 0; j < cc->reader_cnt; j++)
			if (!strcmp(cc->readers[j].subject, subject))
				reader = art_schema_by_subject(c->reg, subject, cc->readers[j].version);
		if (!reader)
			reader = art_schema_latest(c->reg, subject);
		c->readers[c->reader_cnt].subject = subject;
		c->readers[c->reader_cnt].reader = reader;
		c->reader_cnt++;
	}
	return 0;
}

/* The librdkafka consumer: role defaults, then auto.offset.reset=earliest
 * (a new group starts at the beginning: nothing produced before the first
 * start is skipped), the topology's kafka: section, the consumer's own
 * settings, ARTERY_KAFKA_* — and last the two invariants. */
static rd_kafka_t *art_consumer_kafka(struct art_consumer *c, char *errstr, size_t errstr_size)
{
	const struct art_consumer_conf *cc = c->cc;
	size_t cnt = c->topo->kafka_cnt + 4, n = 0;
	struct art_kafka_prop *props = calloc(cnt, sizeof(*props));
	char session[32], client_id[128];
	rd_kafka_conf_t *conf = NULL;
	rd_kafka_t *rk = NULL;

	if (!props) {
		snprintf(errstr, errstr_size, "out of memory");
		return NULL;
	}
	snprintf(session, sizeof(session), "%d", cc->session_timeout_ms);
	snprintf(client_id, sizeof(client_id), "artery-%s", cc->name);
	props[n++] = (struct art_kafka_prop){"auto.offset.reset", "earliest", 0};
	for (size_t i = 0; i < c->topo->kafka_cnt; i++)
		props[n++] = c->topo->kafka[i];
	props[n++] = (struct art_kafka_prop){"group.id", cc->group_id, 0};
	props[n++] = (struct art_kafka_prop){"session.timeout.ms", session, 0};
	props[n++] = (struct art_kafka_prop){"client.id", client_id, 0};
	conf = art_kafka_conf_new_with(ART_KAFKA_CONSUMER, props, n, errstr, errstr_size);
	free(props);
	if (!conf)
		return NULL;
	if (art_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, errstr_size) ||
	    art_kafka_conf_set(conf, "enable.auto.offset.store", "false", errstr, errstr_size)) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_conf_set_opaque(conf, c);
	rd_kafka_conf_set_rebalance_cb(conf, art_consumer_rebalance_cb);
	rd_kafka_conf_set_offset_commit_cb(conf, art_consumer_commit_cb);
	rd_kafka_conf_set_error_cb(conf, art_consumer_error_cb);
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	conf = NULL; /* owned by rk */
	rd_kafka_poll_set_consumer(rk);
	return rk;
}

struct art_consumer *art_consumer_new(const struct art_topology *topo,
                                      const struct art_schema_registry *reg, const char *name,
                                      const struct art_sink_ops *ops, struct art_metrics *metrics,
                                      char *errstr, size_t errstr_size)
{
	const struct art_consumer_conf *cc = art_topology_consumer(topo, name);
	struct art_consumer *c;
	char err[512];

	if (!cc) {
		snprintf(errstr, errstr_size, "%s: no consumer '%s' under consumers:", topo->path,
		         name);
		return NULL;
	}
	if (strcmp(ops->name, cc->target.type)) {
		snprintf(errstr, errstr_size,
		         "%s:%d: consumer '%s' has target type '%s', but this process delivers to "
		         "'%s'",
		         topo->path, cc->target.line, name, cc->target.type, ops->name);
		return NULL;
	}
	if (!cc->ledger.enabled && !ops->dedups_itself) {
		snprintf(errstr, errstr_size,
		         "%s:%d: consumer '%s': the ledger cannot be disabled for target '%s', "
		         "which does not deduplicate by itself (a replay would repeat side effects)",
		         topo->path, cc->line, name, ops->name);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(errstr, errstr_size, "out of memory");
		return NULL;
	}
	c->topo = topo;
	c->cc = cc;
	c->reg = reg;
	c->ops = ops;
	c->metrics = metrics;
	c->rng = (uint64_t)art_now_us() ^ ((uint64_t)getpid() << 32);
	c->next_due_us = INT64_MAX;
	art_tree_init(&c->tree);
	c->pending = calloc(ART_CONSUMER_BATCH_MAX, sizeof(*c->pending));
	c->rows = calloc(ART_CONSUMER_BATCH_MAX, sizeof(*c->rows));
	c->pending_idx = calloc(ART_CONSUMER_PENDING_SLOTS, sizeof(*c->pending_idx));
	if (!c->pending || !c->rows || !c->pending_idx) {
		snprintf(errstr, errstr_size, "out of memory");
		goto fail;
	}
	atomic_init(&c->stop, 0);
	if (!c->metrics) {
		c->own_metrics = art_metrics_new();
		c->metrics = c->own_metrics;
	}
	if (!c->metrics || art_consumer_metrics(c) == -1) {
		snprintf(errstr, errstr_size, "cannot register the consumer metrics");
		goto fail;
	}
	if (art_consumer_readers(c, errstr, errstr_size) == -1)
		goto fail;
	snprintf(c->ledger_target, sizeof(c->ledger_target), "%s/%s", cc->name, cc->target.type);
	if (cc->ledger.enabled) {
		c->ledger = art_ledger_open(cc->ledger.path, c->ledger_target,
		                            cc->ledger.synchronous_full, err, sizeof(err));
		if (!c->ledger) {
			snprintf(errstr, errstr_size, "consumer '%s': ledger: %s", name, err);
			goto fail;
		}
	}
	c->sink_conf.name = cc->name;
	c->sink_conf.type = cc->target.type;
	c->sink_conf.target_url = cc->target.url;
	c->sink_conf.params = cc->target.params;
	c->sink_conf.param_cnt = cc->target.param_cnt;
	c->sink_conf.topology_path = topo->path;
	c->sink_conf.reg = reg;
	c->sink_conf.metrics = c->metrics;
	if (ops->init(&c->sink_ctx, &c->sink_conf, errstr, errstr_size) == -1) {
		if (ops->close)
			ops->close(c->sink_ctx);
		c->sink_ctx = NULL;
		goto fail;
	}
	c->sink_ready = 1;
	c->dlq = art_producer_new(topo->kafka, topo->kafka_cnt, ART_CONSUMER_DLQ_TIMEOUT,
	                          c->metrics, err, sizeof(err));
	if (!c->dlq) {
		snprintf(errstr, errstr_size, "dead-letter producer: %s", err);
		goto fail;
	}
	c->rk = art_consumer_kafka(c, errstr, errstr_size);
	if (!c->rk)
		goto fail;
	return c;
fail:
	art_consumer_destroy(c);
	return NULL;
}

void art_consumer_set_admin(struct art_consumer *c, struct art_admin *admin)
{
	c->admin = admin;
}

void art_consumer_stop(struct art_consumer *c)
{
	atomic_store(&c->stop, 1);
}

/* The orderly end of art_consumer_run(). */
static void art_consumer_shutdown(struct art_consumer *c)
{
	rd_kafka_resp_err_t err;

	for (size_t i = 0; i < c->part_cnt; i++) {
		struct art_part *p = c->parts[i];

		if (p->q_cnt && p->state == ART_PART_RETRY_WAIT)
			art_info("consumer.abandon",
			         "%s offset %" PRId64 ": waiting for retry %d, abandoned at shutdown "
			         "(delivered again after restart)",
			         p->label, art_part_head(p)->offset, p->attempts + 1);
	}
	art_consumer_wait_dlq(c, NULL);
	art_consumer_flush(c);
	art_consumer_commit_sync(c, "shutdown");
	err = rd_kafka_consumer_close(c->rk); /* revokes (our callback) and leaves the group */
	if (err)
		art_warn("consumer.close", "leaving the group: %s", rd_kafka_err2str(err));
	while (c->part_cnt)
		art_consumer_forget(c, c->parts[0]->topic, c->parts[0]->partition);
	if (art_producer_flush(c->dlq, 1000) == -1)
		art_warn("consumer.close", "dead letters still in flight at exit");
}

int art_consumer_run(struct art_consumer *c, char *errstr, size_t errstr_size)
{
	rd_kafka_topic_partition_list_t *topics;
	rd_kafka_resp_err_t err;
	int64_t now;

	topics = rd_kafka_topic_partition_list_new((int)c->cc->topic_cnt);
	for (size_t i = 0; i < c->cc->topic_cnt; i++)
		rd_kafka_topic_partition_list_add(topics, c->cc->topics[i], RD_KAFKA_PARTITION_UA);
	err = rd_kafka_subscribe(c->rk, topics);
	rd_kafka_topic_partition_list_destroy(topics);
	if (err) {
		snprintf(errstr, errstr_size, "subscribe: %s", rd_kafka_err2str(err));
		return -1;
	}
	art_info("consumer.start", "consumer %s: group %s, %zu topic(s), target %s, ledger %s",
	         c->cc->name, c->cc->group_id, c->cc->topic_cnt, c->ops->name,
	         c->ledger ? c->cc->ledger.path : "disabled");
	now = art_mono_us();
	c->last_commit_us = c->last_lag_us = now;
	c->last_prune_us = now - ART_CONSUMER_PRUNE_EVERY_MS * 1000LL; /* prune at start */
	while (art_run && !atomic_load(&c->stop) && !c->fatal) {
		rd_kafka_message_t *rkm;
		int timeout = ART_CONSUMER_POLL_MS;

		now = art_mono_us();
		if (c->dirty || now >= c->next_due_us)
			timeout = 0;
		else if (c->next_due_us != INT64_MAX)
			timeout = (int)ART_MIN((int64_t)ART_CONSUMER_POLL_MS,
			                       (c->next_due_us - now + 999) / 1000);
		if (c->batch_open)
			timeout = 0;
		rkm = rd_kafka_consumer_poll(c->rk, timeout);
		if (!rkm && c->batch_open)
			art_consumer_flush(c);
		if (rkm && rkm->err) {
			if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				art_warn("consumer.poll", "%s", rd_kafka_message_errstr(rkm));
			rd_kafka_message_destroy(rkm);
		} else if (rkm) {
			art_consumer_take(c, rkm); /* owns rkm */
		}
		now = art_mono_us();
		/* the dead-letter producer's reports: at once while one is in
		 * flight, else now and then (each poll is a read(2)) */
		if (c->dlq_inflight || now - c->last_dlq_poll_us >= ART_CONSUMER_DLQ_POLL_MS * 1000LL) {
			art_producer_poll(c->dlq, 0);
			c->last_dlq_poll_us = now;
		}
		if (c->dirty || now >= c->next_due_us)
			art_consumer_service(c);
		art_consumer_periodic(c, now);
	}
	if (c->fatal)
		art_error("consumer.fatal", "%s", c->fatal_err);
	art_consumer_shutdown(c);
	art_info("consumer.stop", "consumer %s stopped%s", c->cc->name,
	         c->fatal ? " after a fatal error" : "");
	if (c->fatal) {
		snprintf(errstr, errstr_size, "%s", c->fatal_err);
		return -1;
	}
	return 0;
}

void art_consumer_destroy(struct art_consumer *c)
{
	if (!c)
		return;
	while (c->part_cnt)
		art_part_free(c->parts[--c->part_cnt]);
	free(c->parts);
	if (c->rk)
		rd_kafka_destroy(c->rk);
	art_producer_destroy(c->dlq);
	if (c->sink_ready && c->ops->close)
		c->ops->close(c->sink_ctx);
	art_ledger_close(c->ledger);
	for (size_t i = 0; i < c->reader_cnt; i++)
		art_avro_project_destroy(c->readers[i].pj);
	free(c->readers);
	art_tree_free(&c->tree);
	free(c->pending);
	free(c->rows);
	free(c->pending_idx);
	art_metrics_destroy(c->own_metrics);
	free(c);
}

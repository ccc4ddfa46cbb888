/*
 * producer.c — units of records tracked to their last delivery report.
 *
 * Each art_producer_send() allocates one struct art_unit that every record
 * of the unit points at (msg_opaque). The delivery report callback, which
 * librdkafka runs inside rd_kafka_poll() on the caller's thread, counts the
 * unit down; the last report completes it. A unit whose records could not
 * all be enqueued is marked failed up front and completes when the ones
 * that were enqueued are reported (so no report ever points at freed
 * memory). Empty units and units with nothing enqueued wait on a small
 * ready list that the next poll drains.
 */
#include "producer.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kafka.h"
#include "log.h"
#include "metrics.h"

#define ART_PRODUCER_QFULL_WAIT_MS 2000 /* give up enqueueing after this long */

struct art_unit {
	art_producer_done_cb *cb;
	void *opaque;
	size_t outstanding;      /* records enqueued and not yet reported */
	rd_kafka_resp_err_t err; /* first failure */
	char errstr[256];
	struct art_unit *next; /* on the ready list */
};

struct art_producer {
	rd_kafka_t *rk;
	struct art_metrics *metrics;
	struct art_metric *m_delivered;
	struct art_metric *m_errors;
	size_t inflight;
	struct art_unit *ready; /* completed units waiting for the next poll */
	int connected;
	int wake[2]; /* pipe librdkafka writes to when the main queue has events */
};

static void art_unit_complete(struct art_producer *p, struct art_unit *u)
{
	p->inflight--;
	u->cb(u->opaque, u->err, u->err ? u->errstr : "");
	free(u);
}

static void art_unit_fail(struct art_unit *u, rd_kafka_resp_err_t err, const char *reason)
{
	if (u->err)
		return;
	u->err = err;
	snprintf(u->errstr, sizeof(u->errstr), "%s", reason);
}

static void art_producer_dr(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
	struct art_producer *p = opaque;
	struct art_unit *u = rkm->_private;

	(void)rk;
	if (rkm->err) {
		char reason[200];

		snprintf(reason, sizeof(reason), "Kafka did not store the record on %s: %s",
			 rd_kafka_topic_name(rkm->rkt), rd_kafka_err2str(rkm->err));
		art_unit_fail(u, rkm->err, reason);
		if (p->m_errors)
			art_metrics_inc(p->m_errors, rd_kafka_err2name(rkm->err));
	} else {
		p->connected = 1;
		if (p->m_delivered)
			art_metrics_inc(p->m_delivered, rd_kafka_topic_name(rkm->rkt));
	}
	if (--u->outstanding == 0)
		art_unit_complete(p, u);
}

static void art_producer_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct art_producer *p = opaque;

	(void)rk;
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
		p->connected = 0;
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		char fatal[256];
		rd_kafka_resp_err_t ferr = rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
		art_error("kafka.fatal", "%s: %s", rd_kafka_err2name(ferr), fatal);
		return;
	}
	art_warn("kafka.error", "%s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

struct art_producer *art_producer_new(const struct art_kafka_prop *props, size_t prop_cnt,
				      int timeout_ms, struct art_metrics *metrics, char *errstr,
				      size_t errstr_size)
{
	struct art_producer *p;
	rd_kafka_conf_t *conf;
	char tmo[32];

	p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(errstr, errstr_size, "out of memory");
		return NULL;
	}
	p->wake[0] = p->wake[1] = -1;
	conf = art_kafka_conf_new_with(ART_KAFKA_PRODUCER, props, prop_cnt, errstr, errstr_size);
	if (!conf)
		goto fail;
	snprintf(tmo, sizeof(tmo), "%d", timeout_ms);
	if (art_kafka_conf_set(conf, "message.timeout.ms", tmo, errstr, errstr_size) == -1) {
		rd_kafka_conf_destroy(conf);
		goto fail;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, art_producer_dr);
	rd_kafka_conf_set_error_cb(conf, art_producer_error);
	rd_kafka_conf_set_opaque(conf, p);
	p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
	if (!p->rk) {
		rd_kafka_conf_destroy(conf);
		goto fail;
	}
	conf = NULL; /* owned by rk now */
	/* Wake the caller's event loop as soon as a delivery report is queued,
	 * instead of at its next timeout: the ACK waits on this. */
	if (pipe2(p->wake, O_NONBLOCK | O_CLOEXEC) == 0) {
		rd_kafka_queue_t *mainq = rd_kafka_queue_get_main(p->rk);
		rd_kafka_queue_io_event_enable(mainq, p->wake[1], "1", 1);
		rd_kafka_queue_destroy(mainq);
	}
	p->metrics = metrics;
	if (metrics) {
		p->m_delivered = art_metrics_counter(metrics, "artery_kafka_records_delivered_total",
						     "Records Kafka acknowledged, by topic", "topic");
		p->m_errors = art_metrics_counter(metrics, "artery_kafka_delivery_errors_total",
						  "Records Kafka failed to store, by error", "error");
	}
	return p;
fail:
	free(p);
	return NULL;
}

int art_producer_wakeup_fd(const struct art_producer *p)
{
	return p->wake[0];
}

/* Empties the wake-up pipe with one read(). librdkafka writes a byte when
 * an event lands on its empty main queue, so between two polls there are
 * few; were more than 256 left, the fd stays readable and the caller's loop
 * simply comes back. */
static void art_producer_drain_wakeups(struct art_producer *p)
{
	char buf[256];
	ssize_t n;

	if (p->wake[0] == -1)
		return;
	n = read(p->wake[0], buf, sizeof(buf));
	(void)n; /* -1 (EAGAIN): nothing was written since the last read */
}

int art_producer_send(struct art_producer *p, const struct art_record_list *list,
		      art_producer_done_cb *cb, void *opaque, char *errstr, size_t errstr_size)
{
	struct art_unit *u;
	size_t i;

	u = calloc(1, sizeof(*u));
	if (!u) {
		snprintf(errstr, errstr_size, "out of memory");
		return -1;
	}
	u->cb = cb;
	u->opaque = opaque;
	/* Hold one reference while enqueueing so that a delivery report served
	 * by the queue-full poll below cannot complete the unit early. */
	u->outstanding = 1;
	p->inflight++;
	for (i = 0; i < list->cnt; i++) {
		int64_t waited = 0;
		rd_kafka_resp_err_t err;

		u->outstanding++;
		for (;;) {
			err = art_record_produce(p->rk, list->recs[i], u);
			if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || waited >= ART_PRODUCER_QFULL_WAIT_MS)
				break;
			rd_kafka_poll(p->rk, 10);
			waited += 10;
		}
		if (err) {
			char reason[200];

			u->outstanding--;
			snprintf(reason, sizeof(reason), "could not enqueue record for %s: %s",
				 list->recs[i]->topic, rd_kafka_err2str(err));
			art_unit_fail(u, err, reason);
			if (p->m_errors)
				art_metrics_inc(p->m_errors, rd_kafka_err2name(err));
			break;
		}
	}
	if (i == 0 && u->err) {
		/* Nothing enqueued: tell the caller now, no callback. */
		snprintf(errstr, errstr_size, "%s", u->errstr);
		p->inflight--;
		free(u);
		return -1;
	}
	if (--u->outstanding == 0) {
		u->next = p->ready;
		p->ready = u;
	}
	return 0;
}

static int art_producer_drain_ready(struct art_producer *p)
{
	int n = 0;

	while (p->ready) {
		struct art_unit *u = p->ready;
		p->ready = u->next;
		art_unit_complete(p, u);
		n++;
	}
	return n;
}

int art_producer_poll(struct art_producer *p, int timeout_ms)
{
	int n = art_producer_drain_ready(p);

	art_producer_drain_wakeups(p);
	n += rd_kafka_poll(p->rk, n ? 0 : timeout_ms);
	return n + art_producer_drain_ready(p);
}

int art_producer_serve(struct art_producer *p, int woken)
{
	int n = art_producer_drain_ready(p);

	if (woken)
		art_producer_drain_wakeups(p);
	n += rd_kafka_poll(p->rk, 0);
	return n + art_producer_drain_ready(p);
}

size_t art_producer_inflight(const struct art_producer *p)
{
	return p->inflight;
}

int art_producer_connected(struct art_producer *p)
{
	const struct rd_kafka_metadata *md;

	if (p->connected)
		return 1;
	if (rd_kafka_metadata(p->rk, 0, NULL, &md, 200) == RD_KAFKA_RESP_ERR_NO_ERROR) {
		rd_kafka_metadata_destroy(md);
		p->connected = 1;
	}
	return p->connected;
}

int art_producer_flush(struct art_producer *p, int timeout_ms)
{
	int64_t waited = 0;

	art_producer_drain_ready(p);
	while (p->inflight > 0 && waited < timeout_ms) {
		art_producer_poll(p, 50);
		waited += 50;
	}
	return p->inflight ? -1 : 0;
}

rd_kafka_t *art_producer_handle(struct art_producer *p)
{
	return p->rk;
}

void art_producer_destroy(struct art_producer *p)
{
	if (!p)
		return;
	if (art_producer_flush(p, 5000) == -1)
		art_error("kafka.flush", "%zu unit(s) still unacknowledged at shutdown",
			  p->inflight);
	/* Purge what is left: their delivery reports (with __PURGE_QUEUE /
	 * __PURGE_INFLIGHT) complete the units negatively. */
	rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	rd_kafka_poll(p->rk, 0);
	rd_kafka_flush(p->rk, 1000);
	art_producer_drain_ready(p);
	rd_kafka_destroy(p->rk);
	if (p->wake[0] != -1) {
		close(p->wake[0]);
		close(p->wake[1]);
	}
	free(p);
}

/*
 * producer.h — the commit-before-ACK producer every ingest process uses.
 *
 * A source unit (an HL7 message, an HTTP request, a file) derives a list of
 * records (raw + canonical, or raw + dead letter). art_producer_send()
 * produces them all on one idempotent librdkafka producer (acks=all) and
 * calls the unit's completion callback once, from art_producer_poll(), when
 * Kafka has acknowledged every record — or as soon as any one of them
 * failed for good (error or message.timeout.ms elapsed). Only then may the
 * process acknowledge its source: positively when err == 0, negatively
 * otherwise. docs/commit-before-ack.md explains the invariants.
 *
 * Threading: one producer per process, used from the thread that runs the
 * event loop (callbacks run there, inside art_producer_poll() or
 * art_producer_serve()). Rates: tens of thousands of records per second;
 * per unit one small allocation.
 */
#ifndef ART_PRODUCER_H
#define ART_PRODUCER_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "record.h"

struct art_producer;
struct art_metrics;
struct art_kafka_prop;

/* Called once per art_producer_send() when every record is delivered
 * (err == 0) or when the unit failed (err != 0, the first error; errstr a
 * human-readable reason). opaque is what was given to art_producer_send(). */
typedef void(art_producer_done_cb)(void *opaque, rd_kafka_resp_err_t err, const char *errstr);

/* Creates the producer: bootstrap and defaults from kafka.h
 * (art_kafka_conf_new_with(ART_KAFKA_PRODUCER, props...)), plus
 * message.timeout.ms = timeout_ms — the bound after which a record Kafka
 * has not acknowledged fails (so the source gets a negative ACK).
 * metrics may be NULL; otherwise delivery errors are counted in it.
 * Returns NULL with the reason in errstr. Main thread. */
struct art_producer *art_producer_new(const struct art_kafka_prop *props, size_t prop_cnt,
				      int timeout_ms, struct art_metrics *metrics, char *errstr,
				      size_t errstr_size);

/* Produces every record of list (copied; the list stays the caller's) as
 * one unit. Returns 0: cb will be called exactly once, later, from
 * art_producer_poll() or art_producer_flush(). Returns -1 when nothing
 * could be enqueued (cb is then NOT called; reason in errstr). When some
 * records were enqueued and a later one could not be, returns 0 and the
 * unit fails with that error once the enqueued ones are reported. An empty
 * list completes successfully at the next poll. */
int art_producer_send(struct art_producer *p, const struct art_record_list *list,
		      art_producer_done_cb *cb, void *opaque, char *errstr, size_t errstr_size);

/* Serves delivery reports (running completion callbacks) for up to
 * timeout_ms; also empties the wake-up fd (one read()). Returns the number
 * of events served. */
int art_producer_poll(struct art_producer *p, int timeout_ms);

/* A file descriptor that becomes readable when delivery reports are
 * waiting, for an event loop's epoll/poll set (level-triggered). Owned by
 * the producer. An event loop calls art_producer_serve() once per
 * iteration, with woken = 1 when this fd was reported readable. */
int art_producer_wakeup_fd(const struct art_producer *p);

/* art_producer_poll(p, 0) for an event loop watching the wake-up fd: reads
 * the fd (one read()) only when woken is non-zero, so an iteration without
 * Kafka events costs no system call, then serves whatever is waiting.
 * The fd is emptied before polling, so an event that arrives after the
 * poll always leaves it readable again. Returns the number of events
 * served. Event-loop thread. */
int art_producer_serve(struct art_producer *p, int woken);

/* Units sent whose callback has not run yet. */
size_t art_producer_inflight(const struct art_producer *p);

/* Returns 1 once the cluster has answered since start-up (metadata
 * received), for /readyz. */
int art_producer_connected(struct art_producer *p);

/* Waits up to timeout_ms for every unit to complete (callbacks run).
 * Returns 0 when none is left, -1 otherwise. */
int art_producer_flush(struct art_producer *p, int timeout_ms);

/* The librdkafka handle (for metadata queries in tests and tools). */
rd_kafka_t *art_producer_handle(struct art_producer *p);

/* Flushes for up to 5 s more, logs what is left, destroys. NULL is a
 * no-op. Units still in flight get their callback with an error before
 * this returns. */
void art_producer_destroy(struct art_producer *p);

#endif

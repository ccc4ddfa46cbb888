/*
 * consumer.h — the runtime every Artery consumer process shares: one
 * consumer group member that takes canonical events from its topics and
 * hands each to one delivery target (sink.h), safely (docs/consumer.md).
 *
 * Per record, in partition order: decode by schema id and project onto the
 * consumer's pinned reader version (into a tree, avro_tree.h); apply the
 * route filter (filtered out: counted, not delivered); check the
 * delivered-keys ledger (already delivered: counted as a duplicate);
 * deliver. Records are done in batches (ART_CONSUMER_BATCH_MAX records,
 * ART_CONSUMER_BATCH_MS, as soon as none is waiting, every rebalance,
 * shutdown): a batch ends with the
 * sink's flush, then its delivered event ids in the ledger (one
 * transaction), then the offsets of all its records stored — so an offset
 * is never stored before its event is accepted and recorded.
 * ART_RETRY holds the event and pauses only its partition (other patients
 * keep flowing) until a backoff with jitter expires, bounded by attempts
 * and elapsed time; ART_FAIL or exhausted retries produce a dead letter
 * (dlq.h) and the offset is stored only once Kafka acknowledged it.
 * Stored offsets are committed every commit_interval_ms, on every
 * revocation and at shutdown. Eager and cooperative rebalances are both
 * handled: on revoke, a dead letter in flight is waited for (bounded), an
 * event waiting for a retry is abandoned (not stored: the next owner
 * delivers it), stored offsets are committed, then the partitions go.
 *
 * Everything comes from topology.yaml's consumers.<name> (topology.h);
 * librdkafka properties from its `kafka:` section and ARTERY_KAFKA_*.
 * Invariants that cannot be overridden: enable.auto.commit=false,
 * enable.auto.offset.store=false.
 *
 * Threading: art_consumer_new/run/destroy from one thread (the process's
 * main thread, or a test's thread); art_consumer_stop() from any thread.
 * The sink runs on the run() thread. Rates (bench/bench_consumer.c, shared
 * 2-core dev VM, canonical events of ~600 bytes): the whole loop with the
 * FHIR transform of the null target costs 13-18 us of CPU an event with the
 * ledger off, 2-3 us more with it on — 50-60k events/s on one thread;
 * decoding is 2.5-4.5 us of that (~25k instructions), the ledger's check
 * and batched record ~0.3 and 1.5-3 us.
 */
#ifndef ART_CONSUMER_H
#define ART_CONSUMER_H

#include <stddef.h>
#include <stdint.h>

#include "sink.h"
#include "topology.h"

struct art_consumer;
struct art_admin;
struct art_metrics;
struct art_schema_registry;

#define ART_CONSUMER_REVOKE_WAIT_MS 5000  /* wait for a dead letter in flight on revoke/stop */
#define ART_CONSUMER_LAG_EVERY_MS   5000  /* lag gauges refreshed this often */
#define ART_CONSUMER_PRUNE_EVERY_MS 60000 /* ledger pruned this often */
#define ART_CONSUMER_BATCH_MAX      512   /* records done between two flushes, at most
                                             (a power of two) */
#define ART_CONSUMER_BATCH_MS       20    /* a batch is flushed this long after its first
                                             record at the latest */

/* Creates the consumer `name` of topology topo (consumers.<name>): checks
 * the reader pins against reg, opens the ledger, initialises the sink ops
 * with the target settings, creates the Kafka consumer and the dead-letter
 * producer, and registers the artery_consumer_* metrics in metrics (may be
 * NULL). Nothing is consumed until art_consumer_run(). topo, reg, ops and
 * metrics are borrowed and must outlive the consumer. Returns NULL with the
 * reason in errstr (no such consumer, a pinned version the registry lacks,
 * a ledger that cannot be opened, the ledger disabled for a sink that does
 * not deduplicate itself, the sink's init failing, a librdkafka property it
 * rejects). Caller frees with art_consumer_destroy(). */
struct art_consumer *art_consumer_new(const struct art_topology *topo,
                                      const struct art_schema_registry *reg, const char *name,
                                      const struct art_sink_ops *ops, struct art_metrics *metrics,
                                      char *errstr, size_t errstr_size);

/* Lets the consumer answer /readyz on admin (borrowed; may be NULL): ready
 * once it has joined its group and received an assignment. Call before
 * art_consumer_run(). */
void art_consumer_set_admin(struct art_consumer *c, struct art_admin *admin);

/* Subscribes and runs the consumer loop until art_run is cleared (SIGTERM,
 * SIGINT) or art_consumer_stop() is called, then shuts down cleanly: the
 * event in the sink is finished, an event waiting for a retry is abandoned,
 * a dead letter in flight is waited for (up to ART_CONSUMER_REVOKE_WAIT_MS),
 * stored offsets are committed and the group is left
 * (rd_kafka_consumer_close). Returns 0 after a clean stop, -1 with the
 * reason in errstr after a fatal error (subscribe refused, a fatal
 * librdkafka error, a ledger write that failed) — the process should exit
 * non-zero. Call once. */
int art_consumer_run(struct art_consumer *c, char *errstr, size_t errstr_size);

/* Asks a running art_consumer_run() to stop (it returns within about
 * 100 ms plus the sink call in progress). Any thread. */
void art_consumer_stop(struct art_consumer *c);

/* Closes the sink and the ledger, destroys the Kafka handles and frees c.
 * NULL is a no-op. Not while art_consumer_run() runs. */
void art_consumer_destroy(struct art_consumer *c);

/* The delay before retry number `attempt` (1 = after the first failed
 * delivery): "equal jitter" exponential backoff — base = min(max_backoff,
 * initial_backoff * 2^(attempt-1)), delay uniformly in [base/2, base] —
 * then at least hint_ms (a target's Retry-After; 0 = none) when that is
 * larger, but never more than max_backoff_ms. rng is the caller's
 * xorshift state (any non-zero seed). Pure function of its inputs; any
 * thread. */
int64_t art_consumer_backoff_ms(const struct art_retry_conf *rc, int attempt, int hint_ms,
                                uint64_t *rng);

/* A whole consumer process: parses argv (--topology FILE, --schemas DIR,
 * --help), initialises logging as "artery-<name>", installs the signal
 * handlers, loads topology and registry, picks the sink among sinks by
 * consumers.<name>.target.type, starts the admin server
 * (processes.<name>, when the topology knows the process), runs the
 * consumer until SIGTERM and tears everything down. Returns the process
 * exit code: 0 clean stop, 1 fatal runtime error, 2 usage or start-up
 * error. For main(): `return art_consumer_main(argc, argv, "ehr-out",
 * sinks, ART_ARRAY_SIZE(sinks));`. */
int art_consumer_main(int argc, char **argv, const char *name,
                      const struct art_sink_ops *const *sinks, size_t sink_cnt);

#endif

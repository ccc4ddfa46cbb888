/*
 * bench_consumer.c — consumer fan-out throughput (issue 5): the Artery
 * consumer runtime (consumer.h: decode by schema id + projection onto the
 * reader + route filter + ledger + FHIR transform in the sink) over N
 * canonical events on `artery broker`, next to the ceiling measured in the
 * same run: a plain librdkafka consumer in the same process reading the
 * same records without decoding them.
 *
 * Set-up (not timed): starts `artery broker` with the canonical topics
 * (BENCH_PARTITIONS partitions each: the mock keeps ~5 MiB a partition),
 * builds realistic canonical events the way artery-mllp-in does
 * (art_hl7_ingest_prepare() on ADT^A01, ADT^A08 and ORU^R01 messages for
 * BENCH_PATIENTS patients: patient, encounter and result events) and
 * produces them once with the ingest's producer settings (idempotent,
 * acks=all, lz4). Then, per run, every path reads all N events with a new
 * consumer group:
 *   - ceiling: rd_kafka_consumer_poll() and nothing else;
 *   - the runtime in a thread of this process (art_consumer_new + run)
 *     with the `null` target (transform to FHIR, discard), ledger off and
 *     on; with the `ndjson` outbox (ledger on), fsync never and fsync
 *     always (the production default, time-capped).
 * A path is timed from its first event to its N-th (group join excluded,
 * the same for every path); a counting wrapper around the sink (which
 * forwards the sink's flush) stops the consumer at N. Each row is the
 * median of the runs. Beside the rate, each row gives the CPU time the
 * reading thread used per event (CLOCK_THREAD_CPUTIME_ID between the
 * first and the last event): on a shared machine the rate swings with the
 * neighbours' load, the CPU cost much less.
 *
 * Usage: bench_consumer [--events N] [--runs R] ARTERY_BINARY [SCHEMAS_DIR]
 * Prints a markdown table and a targets line. Not a test.
 */
#include "art.h"
#include "consumer.h"
#include "hl7_ingest.h"
#include "kafka.h"
#include "log.h"
#include "record.h"
#include "schema.h"
#include "sinks.h"
#include "topology.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BENCH_EVENTS_DEFAULT 100000 /* canonical events produced and read per path */
#define BENCH_RUNS_DEFAULT   3      /* runs per path; rows are medians */
#define BENCH_PARTITIONS     32     /* per canonical topic */
#define BENCH_PATIENTS       300    /* distinct patients (Kafka keys) */
#define BENCH_RUN_LIMIT_MS   60000  /* give up on a path after this long */
#define BENCH_PASS_LIMIT_MS  5000   /* a pass stops after this long past its first event */
#define BENCH_TARGET_RATE    50000.0 /* events/s (issue 5) */
#define BENCH_TARGET_SHARE   0.25    /* of the ceiling (issue 5) */


static volatile size_t bench_touched; /* bytes the ceiling consumer looked at */
static const char *const bench_topics[] = {"canonical.patient", "canonical.encounter",
                                           "canonical.result"};

/* One measured pass of one path. */
struct bench_pass {
	size_t target;       /* events to read */
	int64_t limit_us;    /* stop this long after the first event, even before target (0: no cap) */
	atomic_size_t count; /* events read/delivered so far */
	atomic_int done;     /* target reached */
	int64_t t_first;     /* monotonic: first event */
	int64_t t_last;      /* monotonic: last event counted */
	int64_t cpu_first;   /* CPU time of the reading thread at the first event, ns */
	int64_t cpu_last;    /* ... at the last one */
	struct art_consumer *c;
};

/* The wrapper sink: counts what the real sink accepted. */
struct bench_sink {
	const struct art_sink_ops *inner;
	void *inner_ctx;
	struct bench_pass *pass;
};

/* The pass the next wrapper sink init belongs to (set before
 * art_consumer_new(); the sink interface has no opaque). */
static struct bench_pass *bench_cur_pass;
static const struct art_sink_ops *bench_cur_inner;

/* One path of the table. */
struct bench_path {
	const char *label;
	const struct art_sink_ops *inner; /* NULL: the ceiling */
	const char *fsync;                /* ndjson target.fsync, NULL for null */
	int ledger;                       /* delivered-keys ledger enabled */
	double rates[16];
	size_t events[16];
	double cpu_us[16]; /* CPU time of the reading thread per event */
};

/* CPU time the calling thread has used, in ns. */
static int64_t bench_thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- the broker ---------------------------------------------------------- */

/* Starts `artery broker` with topo_path, its stdout read for the bootstrap
 * string into boot. Returns the pid, or -1 with errstr set. */
static pid_t broker_start(const char *artery, const char *topo_path, const char *dir, char *boot,
                          size_t boot_size, char *errstr, size_t errstr_size)
{
	char bootfile[512], logfile[512];
	int fds[2];
	pid_t pid;
	FILE *fp;

	snprintf(bootfile, sizeof(bootfile), "%s/bootstrap", dir);
	snprintf(logfile, sizeof(logfile), "%s/broker.log", dir);
	if (pipe(fds) == -1) {
		snprintf(errstr, errstr_size, "pipe: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid == -1) {
		snprintf(errstr, errstr_size, "fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		FILE *log = fopen(logfile, "w");

		dup2(fds[1], 1);
		if (log)
			dup2(fileno(log), 2);
		close(fds[0]);
		close(fds[1]);
		execl(artery, artery, "broker", "--topology", topo_path, "--bootstrap-file", bootfile,
		      (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	fp = fdopen(fds[0], "r");
	if (!fp || !fgets(boot, (int)boot_size, fp)) {
		snprintf(errstr, errstr_size, "artery broker printed no bootstrap string (see %.300s)",
		         logfile);
		if (fp)
			fclose(fp);
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		return -1;
	}
	fclose(fp);
	boot[strcspn(boot, "\r\n")] = '\0';
	return pid;
}

/* Stops the broker started by broker_start() (SIGTERM, then reaps it). */
static void broker_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

/* ---- the events ----------------------------------------------------------- */

static const char *const bench_family[] = {"QUILL", "MARSH", "OKAFOR", "LINDQVIST", "BRENNAN",
                                           "HARTLEY", "NAKAMURA", "DELACROIX", "PRICE", "VOSS"};
static const char *const bench_given[] = {"ADA", "BEN", "CLARA", "DEV", "EMIL", "FAYE", "GUS",
                                          "HANA", "IVO", "JUNE"};

/* One lab test: LOINC code, name, unit, range, low and span of values. */
struct bench_lab {
	const char *code, *name, *unit, *range;
	int lo, span;
};

static const struct bench_lab bench_labs[] = {
    {"2345-7", "Glucose", "mg/dL", "70-99", 60, 140},
    {"2823-3", "Potassium", "mmol/L", "3.5-5.1", 3, 3},
    {"2951-2", "Sodium", "mmol/L", "136-145", 130, 20},
    {"2160-0", "Creatinine", "mg/dL", "0.7-1.3", 0, 3},
    {"718-7", "Hemoglobin", "g/dL", "12.0-17.5", 9, 9},
    {"6690-2", "Leukocytes", "10*3/uL", "4.5-11.0", 3, 12},
};

/* Writes message number i (patient i % BENCH_PATIENTS) into buf: of every
 * four messages one ADT^A01 (admit: patient + encounter), one ADT^A08
 * (update: patient + encounter) and two ORU^R01 (one result with 2-5
 * observations). Returns its length. */
static size_t bench_message(size_t i, char *buf, size_t size)
{
	size_t pt = i % BENCH_PATIENTS;
	const char *fam = bench_family[pt % ART_ARRAY_SIZE(bench_family)];
	const char *giv = bench_given[(pt / 10) % ART_ARRAY_SIZE(bench_given)];
	int day = 1 + (int)(i % 28), hh = (int)(i % 24), mm = (int)(i % 60);
	int n;

	if (i % 4 < 2) {
		const char *trig = i % 4 == 0 ? "A01" : "A08";

		n = snprintf(buf, size,
		             "MSH|^~\\&|REG|NORTHWING|ARTERY|HOSP|202603%02d%02d%02d00||ADT^%s^ADT_A01|"
		             "B%09zu|P|2.5.1\r"
		             "EVN|%s|202603%02d%02d%02d00\r"
		             "PID|1||MRN%05zu^^^NORTHWING^MR~%09zu^^^USSSA^SS||%s^%s^M^^^^L||19%02zu%02zu%02zu|%s|||"
		             "%zu ELM ST^^SPRINGFIELD^IL^62704^USA||^PRN^PH^^1^217^555%04zu\r"
		             "PV1|1|I|W%zu^%zu^A^NWGH||||1234^CARTER^ALAN^^^DR|||MED||||||||V%07zu^^^NWGH^VN|||||"
		             "||||||||||||||||||||202603%02d%02d%02d00\r",
		             day, hh, mm, trig, i, trig, day, hh, mm, pt, 100000000 + pt, fam, giv,
		             40 + pt % 60, 1 + pt % 12, 1 + pt % 28, pt % 2 ? "F" : "M", 10 + pt, pt,
		             1 + pt % 6, 100 + pt % 40, pt * 7 + i % 3, day, hh, mm);
	} else {
		int obx = 2 + (int)(i % 4);
		size_t len;

		n = snprintf(buf, size,
		             "MSH|^~\\&|LAB|NORTHWING|ARTERY|HOSP|202603%02d%02d%02d00||ORU^R01^ORU_R01|"
		             "L%09zu|P|2.5.1\r"
		             "PID|1||MRN%05zu^^^NORTHWING^MR||%s^%s^M||19%02zu%02zu%02zu|%s\r"
		             "PV1|1|I|W%zu^%zu^A^NWGH||||||||||||||||V%07zu^^^NWGH^VN\r"
		             "OBR|1|P%09zu|F%09zu|80048^Basic metabolic panel^CPT|||202603%02d%02d%02d00|||||||"
		             "||1234^CARTER^ALAN||||||202603%02d%02d%02d30|||F\r",
		             day, hh, mm, i, pt, fam, giv, 40 + pt % 60, 1 + pt % 12, 1 + pt % 28,
		             pt % 2 ? "F" : "M", 1 + pt % 6, 100 + pt % 40, pt * 7, i, i, day, hh, mm, day,
		             hh, mm);
		for (int k = 0; k < obx && n > 0 && (size_t)n < size; k++) {
			const struct bench_lab *lab = &bench_labs[(i + (size_t)k) % ART_ARRAY_SIZE(bench_labs)];
			int v = lab->lo + (int)((i * 7 + (size_t)k * 13) % (size_t)(lab->span + 1));

			len = (size_t)n;
			n += snprintf(buf + len, size - len, "OBX|%d|NM|%s^%s^LN||%d.%zu|%s^^UCUM|%s|%s|||F\r",
			              k + 1, lab->code, lab->name, v, i % 10, lab->unit, lab->range,
			              v > lab->lo + lab->span / 2 ? "H" : "N");
		}
	}
	if (n < 0 || (size_t)n >= size)
		abort(); /* the buffer is sized for these templates */
	return (size_t)n;
}

/* Delivery report of the set-up producer: counts failures in opaque. */
static void bench_dr(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
	size_t *failed = opaque;

	(void)rk;
	if (rkm->err)
		(*failed)++;
}

/* Produces at least n canonical events (whole messages) to the broker.
 * Returns the number produced, or 0 with errstr set. */
static size_t bench_produce(const struct art_schema_registry *reg, size_t n, size_t *bytes,
                            char *errstr, size_t errstr_size)
{
	static const struct art_kafka_prop props[] = {{"linger.ms", "5", 0}};
	struct art_hl7_ingest_conf ic;
	struct art_hl7_ingester *ing;
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	size_t events = 0, failed = 0;
	char msg[4096];

	memset(&ic, 0, sizeof(ic));
	ic.reg = reg;
	ic.channel = "bench";
	ic.raw_topic = "raw.hl7v2";
	ic.dlq_topic = "dlq.mllp-in";
	ic.hl7 = art_hl7_opts_default();
	ing = art_hl7_ingester_new(&ic, errstr, errstr_size);
	if (!ing)
		return 0;
	conf = art_kafka_conf_new_with(ART_KAFKA_PRODUCER, props, ART_ARRAY_SIZE(props), errstr,
	                               errstr_size);
	if (!conf) {
		art_hl7_ingester_destroy(ing);
		return 0;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, bench_dr);
	rd_kafka_conf_set_opaque(conf, &failed);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		art_hl7_ingester_destroy(ing);
		return 0;
	}
	*bytes = 0;
	for (size_t i = 0; events < n; i++) {
		struct art_hl7_ingest in;
		size_t len = bench_message(i, msg, sizeof(msg));

		art_hl7_ingest_prepare(ing, msg, len, "127.0.0.1:1", art_now_us(), &in);
		if (in.kind != ART_INGEST_MAPPED) {
			snprintf(errstr, errstr_size, "bench message %zu did not map: %.300s", i, in.reason);
			art_hl7_ingest_clear(&in);
			events = 0;
			break;
		}
		for (size_t r = 0; r < in.recs.cnt; r++) {
			const struct art_record *rec = in.recs.recs[r];

			if (strncmp(rec->topic, "canonical.", 10))
				continue; /* raw.hl7v2: not read by ehr-out */
			while (art_record_produce(rk, rec, NULL) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
				rd_kafka_poll(rk, 10);
			events++;
			*bytes += rec->value_len;
		}
		art_hl7_ingest_clear(&in);
		rd_kafka_poll(rk, 0);
	}
	if (rd_kafka_flush(rk, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR || failed) {
		snprintf(errstr, errstr_size, "producing the events failed (%zu not delivered)",
		         failed);
		events = 0;
	}
	rd_kafka_destroy(rk);
	art_hl7_ingester_destroy(ing);
	return events;
}

/* Sums the records held by the canonical topics (high - low watermarks),
 * to check the mock kept every event. Returns -1 on error. */
static long long bench_held(void)
{
	char errstr[512];
	rd_kafka_conf_t *conf = art_kafka_conf_new(ART_KAFKA_ADMIN, errstr, sizeof(errstr));
	rd_kafka_t *rk;
	long long sum = 0;

	if (!conf)
		return -1;
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		return -1;
	}
	for (size_t t = 0; t < ART_ARRAY_SIZE(bench_topics) && sum >= 0; t++)
		for (int32_t p = 0; p < BENCH_PARTITIONS; p++) {
			int64_t lo = 0, hi = 0;

			if (rd_kafka_query_watermark_offsets(rk, bench_topics[t], p, &lo, &hi, 10000)) {
				sum = -1;
				break;
			}
			sum += hi - lo;
		}
	rd_kafka_destroy(rk);
	return sum;
}

/* ---- the ceiling ------------------------------------------------------------ */

/* Reads pass->target records of the canonical topics with a plain
 * consumer in a new group, touching nothing but the length. Returns 0 or
 * -1 with errstr set. */
static int bench_ceiling(struct bench_pass *pass, const char *group, char *errstr,
                         size_t errstr_size)
{
	struct art_kafka_prop props[] = {{"auto.offset.reset", "earliest", 0},
	                                 {"group.id", (char *)group, 0}};
	rd_kafka_topic_partition_list_t *topics;
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	int64_t deadline = art_mono_us() + BENCH_RUN_LIMIT_MS * 1000LL;
	size_t n = 0;

	conf = art_kafka_conf_new_with(ART_KAFKA_CONSUMER, props, ART_ARRAY_SIZE(props), errstr,
	                               errstr_size);
	if (!conf)
		return -1;
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		return -1;
	}
	rd_kafka_poll_set_consumer(rk);
	topics = rd_kafka_topic_partition_list_new((int)ART_ARRAY_SIZE(bench_topics));
	for (size_t t = 0; t < ART_ARRAY_SIZE(bench_topics); t++)
		rd_kafka_topic_partition_list_add(topics, bench_topics[t], RD_KAFKA_PARTITION_UA);
	rd_kafka_subscribe(rk, topics);
	rd_kafka_topic_partition_list_destroy(topics);
	while (n < pass->target && art_mono_us() < deadline) {
		rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, 100);

		if (!rkm)
			continue;
		if (!rkm->err) {
			if (n == 0) {
				pass->t_first = art_mono_us();
				pass->cpu_first = bench_thread_cpu_ns();
			}
			bench_touched += rkm->len; /* keeps the read honest */
			n++;
			pass->t_last = art_mono_us();
		}
		rd_kafka_message_destroy(rkm);
		if (n && pass->limit_us && pass->t_last - pass->t_first >= pass->limit_us)
			break;
	}
	pass->cpu_last = bench_thread_cpu_ns();
	atomic_store(&pass->count, n);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	if (n < pass->target &&
	    !(n && pass->limit_us && pass->t_last - pass->t_first >= pass->limit_us)) {
		snprintf(errstr, errstr_size, "ceiling: %zu of %zu records in %d ms", n, pass->target,
		         BENCH_RUN_LIMIT_MS);
		return -1;
	}
	return 0;
}

/* ---- the runtime ------------------------------------------------------------ */

/* The wrapper sink's init: binds the current pass, then inits the real
 * sink with the same conf. */
static int bench_sink_init(void **ctxp, const struct art_sink_conf *conf, char *errstr,
                           size_t errstr_size)
{
	struct bench_sink *s = calloc(1, sizeof(*s));

	if (!s) {
		snprintf(errstr, errstr_size, "out of memory");
		return -1;
	}
	*ctxp = s;
	s->inner = bench_cur_inner;
	s->pass = bench_cur_pass;
	return s->inner->init(&s->inner_ctx, conf, errstr, errstr_size);
}

/* Delivers through the real sink; counts ART_OK and stops the consumer
 * at the pass's target or time cap. */
static enum art_res bench_sink_deliver(void *ctx, const struct art_event *ev, int *retry_after_ms,
                                       char *errstr, size_t errstr_size)
{
	struct bench_sink *s = ctx;
	struct bench_pass *pass = s->pass;
	enum art_res res = s->inner->deliver(s->inner_ctx, ev, retry_after_ms, errstr, errstr_size);
	size_t n;
	int64_t now;

	if (res != ART_OK)
		return res;
	now = art_mono_us();
	n = atomic_fetch_add(&pass->count, 1) + 1;
	if (n == 1) {
		pass->t_first = now;
		pass->cpu_first = bench_thread_cpu_ns();
	}
	pass->t_last = now;
	if (n >= pass->target || (pass->limit_us && now - pass->t_first >= pass->limit_us)) {
		pass->cpu_last = bench_thread_cpu_ns();
		atomic_store(&pass->done, 1);
		art_consumer_stop(pass->c);
	}
	return res;
}

/* Flushes the real sink (sink.h: before the runtime records a batch). */
static int bench_sink_flush(void *ctx, char *errstr, size_t errstr_size)
{
	struct bench_sink *s = ctx;

	return s->inner->flush(s->inner_ctx, errstr, errstr_size);
}

/* Closes the real sink and frees the wrapper. */
static void bench_sink_close(void *ctx)
{
	struct bench_sink *s = ctx;

	if (!s)
		return;
	if (s->inner->close)
		s->inner->close(s->inner_ctx);
	free(s);
}

/* art_consumer_run() on its own thread. */
struct bench_runner {
	struct art_consumer *c;
	int rc;
	char err[512];
};

static void *bench_run_thread(void *arg)
{
	struct bench_runner *r = arg;

	r->rc = art_consumer_run(r->c, r->err, sizeof(r->err));
	return NULL;
}

/* Writes the topology of one runtime pass. Returns 0 or -1. */
static int bench_topology(const char *path, const char *dir, const struct bench_path *bp,
                          int run, size_t idx)
{
	FILE *fp = fopen(path, "w");
	char target[600];

	if (!fp)
		return -1;
	if (bp->fsync)
		snprintf(target, sizeof(target), "{type: ndjson, dir: %.400s/outbox-%zu-%d, fsync: %s}",
		         dir, idx, run, bp->fsync);
	else
		snprintf(target, sizeof(target), "{type: \"%s\"}", bp->inner->name);
	fprintf(fp, "topics:\n");
	for (size_t t = 0; t < ART_ARRAY_SIZE(bench_topics); t++)
		fprintf(fp, "  - {name: %s, partitions: %d}\n", bench_topics[t], BENCH_PARTITIONS);
	fprintf(fp,
	        "  - {name: dlq.bench-out, partitions: 1}\n"
	        "consumers:\n"
	        "  bench-out:\n"
	        "    group_id: bench-%zu-%d\n"
	        "    topics: [canonical.patient, canonical.encounter, canonical.result]\n"
	        "    route: {event_types: [\"patient.*\", \"encounter.*\", \"result.*\"]}\n"
	        "    dlq_topic: dlq.bench-out\n"
	        "    ledger: {enabled: %s, path: %s/ledger-%zu-%d.db}\n"
	        "    target: %s\n",
	        idx, run, bp->ledger ? "true" : "false", dir, idx, run, target);
	return fclose(fp) == 0 ? 0 : -1;
}

/* Runs the consumer runtime over pass->target events. Returns 0 or -1
 * with errstr set. */
static int bench_runtime(struct bench_pass *pass, const struct bench_path *bp, size_t idx,
                         int run, const char *dir, const struct art_schema_registry *reg,
                         char *errstr, size_t errstr_size)
{
	char topo_path[600];
	struct art_topology *topo;
	struct art_sink_ops ops;
	struct bench_runner r;
	pthread_t th;
	int64_t deadline;

	snprintf(topo_path, sizeof(topo_path), "%s/consumer-%zu-%d.yaml", dir, idx, run);
	if (bench_topology(topo_path, dir, bp, run, idx) == -1) {
		snprintf(errstr, errstr_size, "cannot write %.300s", topo_path);
		return -1;
	}
	topo = art_topology_load(topo_path, errstr, errstr_size);
	if (!topo)
		return -1;
	memset(&ops, 0, sizeof(ops));
	ops.name = bp->inner->name;
	ops.init = bench_sink_init;
	ops.deliver = bench_sink_deliver;
	ops.flush = bp->inner->flush ? bench_sink_flush : NULL;
	ops.close = bench_sink_close;
	ops.dedups_itself = bp->inner->dedups_itself;
	bench_cur_pass = pass;
	bench_cur_inner = bp->inner;
	memset(&r, 0, sizeof(r));
	r.c = art_consumer_new(topo, reg, "bench-out", &ops, NULL, errstr, errstr_size);
	if (!r.c) {
		art_topology_destroy(topo);
		return -1;
	}
	pass->c = r.c;
	if (pthread_create(&th, NULL, bench_run_thread, &r) != 0) {
		snprintf(errstr, errstr_size, "pthread_create failed");
		art_consumer_destroy(r.c);
		art_topology_destroy(topo);
		return -1;
	}
	deadline = art_mono_us() + BENCH_RUN_LIMIT_MS * 1000LL;
	while (!atomic_load(&pass->done) && art_mono_us() < deadline)
		usleep(20 * 1000);
	art_consumer_stop(r.c);
	pthread_join(th, NULL);
	art_consumer_destroy(r.c);
	art_topology_destroy(topo);
	if (r.rc != 0) {
		snprintf(errstr, errstr_size, "%s: %.300s", bp->label, r.err);
		return -1;
	}
	if (!atomic_load(&pass->done)) {
		snprintf(errstr, errstr_size, "%s: %zu of %zu events in %d ms", bp->label,
		         atomic_load(&pass->count), pass->target, BENCH_RUN_LIMIT_MS);
		return -1;
	}
	return 0;
}

/* ---- main -------------------------------------------------------------------- */

/* qsort order of doubles. */
static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median of v[0..n), n <= 16. */
static double median(const double *v, int n)
{
	double s[16];

	memcpy(s, v, (size_t)n * sizeof(*s));
	qsort(s, (size_t)n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* The median of counts v[0..n). */
static size_t median_size(const size_t *v, int n)
{
	double d[16];

	for (int i = 0; i < n; i++)
		d[i] = (double)v[i];
	return (size_t)median(d, n);
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_consumer [--events N] [--runs R] ARTERY_BINARY [SCHEMAS_DIR]\n");
}

int main(int argc, char **argv)
{
	struct bench_path paths[] = {
	    {"ceiling: plain librdkafka consumer, no decoding", NULL, NULL, 0, {0}, {0}, {0}},
	    {"runtime -> null target, ledger off", &art_sink_null_ops, NULL, 0, {0}, {0}, {0}},
	    {"runtime -> null target, ledger on", &art_sink_null_ops, NULL, 1, {0}, {0}, {0}},
	    {"runtime -> ndjson outbox, ledger on, fsync never", &art_sink_ndjson_ops, "never", 1,
	     {0}, {0}, {0}},
	    {"runtime -> ndjson outbox, ledger on, fsync always", &art_sink_ndjson_ops, "always", 1,
	     {0}, {0}, {0}},
	};
	size_t n_req = BENCH_EVENTS_DEFAULT, n, bytes = 0;
	int runs = BENCH_RUNS_DEFAULT, rc = 1;
	const char *artery, *schemas;
	char dir[] = "/tmp/artery-cbench-XXXXXX";
	char topo_path[128], boot[512], errstr[512], cmd[256];
	struct art_schema_registry *reg = NULL;
	long long held;
	pid_t broker = -1;
	FILE *fp;
	double ceiling, nul_on, nd_never;
	int ok_null, ok_nd;

	while (argc > 2 && argv[1][0] == '-') {
		long long v;

		if (!strcmp(argv[1], "--events") && art_parse_int(argv[2], 1000, 10000000, &v) == 0) {
			n_req = (size_t)v;
		} else if (!strcmp(argv[1], "--runs") && art_parse_int(argv[2], 1, 15, &v) == 0) {
			runs = (int)v;
		} else {
			usage();
			return 2;
		}
		argc -= 2;
		argv += 2;
	}
	if (argc < 2) {
		usage();
		return 2;
	}
	artery = argv[1];
	schemas = argc > 2 ? argv[2] : NULL;
	setenv("ARTERY_LOG_LEVEL", "error", 0); /* the runtime's info lines are not the table */
	art_log_init("bench_consumer");
	if (!mkdtemp(dir)) {
		fprintf(stderr, "bench_consumer: mkdtemp: %s\n", strerror(errno));
		return 2;
	}
	reg = art_schema_registry_load(schemas, errstr, sizeof(errstr));
	if (!reg) {
		fprintf(stderr, "bench_consumer: %s\n", errstr);
		goto out;
	}
	snprintf(topo_path, sizeof(topo_path), "%s/broker.yaml", dir);
	fp = fopen(topo_path, "w");
	if (!fp)
		goto out;
	fprintf(fp, "topics:\n");
	for (size_t t = 0; t < ART_ARRAY_SIZE(bench_topics); t++)
		fprintf(fp, "  - {name: %s, partitions: %d}\n", bench_topics[t], BENCH_PARTITIONS);
	fprintf(fp, "  - {name: raw.hl7v2, partitions: 1}\n"
	            "  - {name: dlq.bench-out, partitions: 1}\n");
	fclose(fp);
	broker = broker_start(artery, topo_path, dir, boot, sizeof(boot), errstr, sizeof(errstr));
	if (broker == -1) {
		fprintf(stderr, "bench_consumer: %s\n", errstr);
		goto out;
	}
	setenv("ARTERY_KAFKA_BOOTSTRAP", boot, 1);

	n = bench_produce(reg, n_req, &bytes, errstr, sizeof(errstr));
	if (n == 0) {
		fprintf(stderr, "bench_consumer: %s\n", errstr);
		goto out;
	}
	held = bench_held();
	if (held != (long long)n) {
		fprintf(stderr, "bench_consumer: the broker holds %lld of %zu events (more partitions?)\n",
		        held, n);
		goto out;
	}

	for (int run = 0; run < runs; run++) {
		for (size_t i = 0; i < ART_ARRAY_SIZE(paths); i++) {
			struct bench_pass pass;
			char group[64];
			int r;

			memset(&pass, 0, sizeof(pass));
			pass.target = n;
			atomic_init(&pass.count, 0);
			atomic_init(&pass.done, 0);
			pass.limit_us = BENCH_PASS_LIMIT_MS * 1000LL;
			if (!paths[i].inner) {
				snprintf(group, sizeof(group), "bench-ceiling-%d", run);
				r = bench_ceiling(&pass, group, errstr, sizeof(errstr));
			} else {
				r = bench_runtime(&pass, &paths[i], i, run, dir, reg, errstr,
				                  sizeof(errstr));
			}
			if (r == -1) {
				fprintf(stderr, "bench_consumer: %s\n", errstr);
				goto out;
			}
			paths[i].events[run] = atomic_load(&pass.count);
			paths[i].cpu_us[run] = paths[i].events[run] > 1
			                           ? (double)(pass.cpu_last - pass.cpu_first) / 1e3 /
			                                 (double)(paths[i].events[run] - 1)
			                           : 0;
			paths[i].rates[run] = pass.t_last > pass.t_first
			                          ? (double)(paths[i].events[run] - 1) /
			                                ((double)(pass.t_last - pass.t_first) / 1e6)
			                          : 0;
		}
	}

	ceiling = median(paths[0].rates, runs);
	printf("Consumer fan-out on artery broker: %zu canonical events (patient, encounter, result "
	       "from ADT^A01/A08 + ORU^R01, %d patients, %.0f bytes/event Avro), %d partitions per "
	       "topic; timed first to last event, median of %d runs\n",
	       n, BENCH_PATIENTS, (double)bytes / (double)n, BENCH_PARTITIONS, runs);
	printf("| %-52s | %10s | %10s | %10s | %12s |\n", "path", "events", "events/s", "ceiling",
	       "CPU us/event");
	printf("|%s|%s|%s|%s|%s|\n", "------------------------------------------------------",
	       "------------", "------------", "------------", "--------------");
	for (size_t i = 0; i < ART_ARRAY_SIZE(paths); i++) {
		double rate = median(paths[i].rates, runs);

		printf("| %-52s | %10zu | %10.0f | %9.1f%% | %12.1f |\n", paths[i].label,
		       median_size(paths[i].events, runs), rate, 100 * rate / ceiling,
		       median(paths[i].cpu_us, runs));
	}
	printf("(a pass stops at %zu events or %d ms after its first event, whichever comes first; "
	       "`events` is how many it read; CPU us/event is the reading thread's own CPU time — "
	       "the consumer loop, or the ceiling's poll loop — not librdkafka's fetch threads)\n",
	       n, BENCH_PASS_LIMIT_MS);
	nul_on = median(paths[2].rates, runs);
	nd_never = median(paths[3].rates, runs);
	ok_null = nul_on >= BENCH_TARGET_RATE && nul_on >= BENCH_TARGET_SHARE * ceiling;
	ok_nd = nd_never >= BENCH_TARGET_RATE && nd_never >= BENCH_TARGET_SHARE * ceiling;
	printf("targets (>= %.0f events/s and >= %.0f%% of the ceiling, ledger on): null target: %s "
	       "(%.0f/s, %.0f%%); ndjson outbox (fsync never): %s (%.0f/s, %.0f%%)\n",
	       BENCH_TARGET_RATE, 100 * BENCH_TARGET_SHARE, ok_null ? "met" : "NOT met", nul_on,
	       100 * nul_on / ceiling, ok_nd ? "met" : "NOT met", nd_never,
	       100 * nd_never / ceiling);
	rc = 0;
out:
	broker_stop(broker);
	art_schema_registry_destroy(reg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_consumer: could not remove %s\n", dir);
	return rc;
}

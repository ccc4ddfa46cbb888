/*
 * bench_map.c — HL7 v2 to canonical Avro over the public corpus: parse +
 * map + encode (events/s and messages/s), next to the parse-only rate of
 * the same messages measured in the same run. Target (issue 4): mapping and
 * encoding cost no more than the parse itself, i.e. the full rate is at
 * least half the parse-only rate... of the messages that map.
 * Each row: the median of 7 runs of at least 0.5 s. Usage:
 *   bench_map [corpus/hl7v2 dir] [schemas dir]
 * Not a test.
 */
#include "bench_corpus.h"
#include "canonical.h"
#include "schema.h"

#define RUNS 7
#define MIN_RUN_US 500000

static volatile size_t sink;

/* One pass: parse (and map when mapper is not NULL). Returns events. */
static size_t pass(const struct corpus *c, struct art_canon_mapper *mapper,
		   const struct art_canon_ctx *ctx)
{
	char errstr[256];
	size_t events = 0;

	for (size_t i = 0; i < c->n; i++) {
		struct art_hl7_msg *msg =
			art_hl7_parse(c->data.p + c->off[i], c->len[i], NULL, errstr, sizeof(errstr));
		if (!msg)
			abort();
		if (mapper) {
			struct art_canon_result r;
			memset(&r, 0, sizeof(r));
			if (art_canon_map_with(mapper, msg, ctx, &r, errstr, sizeof(errstr)) ==
			    ART_CANON_MAPPED)
				events += r.cnt;
			art_canon_result_free(&r);
		} else {
			events += art_hl7_seg_count(msg);
		}
		art_hl7_msg_destroy(msg);
	}
	return events;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Median over RUNS of (messages/s, events/s). */
static void measure(const struct corpus *c, struct art_canon_mapper *mapper,
		    const struct art_canon_ctx *ctx, double *msgs_s, double *events_s)
{
	double m[RUNS], e[RUNS];

	for (int r = 0; r < RUNS; r++) {
		int64_t t0 = art_mono_us(), t;
		size_t passes = 0, ev = 0;
		do {
			ev += pass(c, mapper, ctx);
			passes++;
			t = art_mono_us() - t0;
		} while (t < MIN_RUN_US);
		m[r] = (double)(passes * c->n) / ((double)t / 1e6);
		e[r] = (double)ev / ((double)t / 1e6);
		sink += ev;
	}
	qsort(m, RUNS, sizeof(double), cmp_double);
	qsort(e, RUNS, sizeof(double), cmp_double);
	*msgs_s = m[RUNS / 2];
	*events_s = e[RUNS / 2];
}

struct one {
	size_t i;
	double parse_us, full_us;
};

static int cmp_one(const void *a, const void *b)
{
	const struct one *x = a, *y = b;
	double dx = x->full_us - x->parse_us, dy = y->full_us - y->parse_us;
	return dx < dy ? 1 : dx > dy ? -1 : 0;
}

/* Median-of-5 microseconds for parse only and parse + map of each message;
 * prints the n with the largest mapping cost. */
static int top(const struct corpus *c, struct art_canon_mapper *mapper,
	       const struct art_canon_ctx *ctx, size_t n)
{
	struct one *o = calloc(c->n, sizeof(*o));
	double tot_p = 0, tot_f = 0;
	for (size_t i = 0; i < c->n; i++) {
		struct corpus one = *c;
		double p[5], f[5];
		one.off = &c->off[i];
		one.len = &c->len[i];
		one.n = 1;
		for (int r = 0; r < 5; r++) {
			int64_t t0 = art_mono_us();
			for (int k = 0; k < 200; k++)
				sink += pass(&one, NULL, ctx);
			p[r] = (double)(art_mono_us() - t0) / 200;
			t0 = art_mono_us();
			for (int k = 0; k < 200; k++)
				sink += pass(&one, mapper, ctx);
			f[r] = (double)(art_mono_us() - t0) / 200;
		}
		qsort(p, 5, sizeof(double), cmp_double);
		qsort(f, 5, sizeof(double), cmp_double);
		o[i].i = i;
		o[i].parse_us = p[2];
		o[i].full_us = f[2];
		tot_p += p[2];
		tot_f += f[2];
	}
	qsort(o, c->n, sizeof(*o), cmp_one);
	printf("all %zu messages: parse %.1f us, parse+map %.1f us\n", c->n, tot_p, tot_f);
	printf("%10s %10s %8s %8s  %s\n", "map us", "parse us", "bytes", "segs", "MSH-9");
	for (size_t k = 0; k < n && k < c->n; k++) {
		const char *m = c->data.p + c->off[o[k].i];
		char type[32] = "";
		char errstr[128];
		struct art_hl7_msg *msg = art_hl7_parse(m, c->len[o[k].i], NULL, errstr, sizeof(errstr));
		if (msg) {
			struct art_hl7_span sp;
			if (art_hl7_get_raw(msg, "MSH-9", &sp, errstr, sizeof(errstr)) == ART_HL7_VALUE)
				snprintf(type, sizeof(type), "%.*s", (int)sp.len, sp.p);
			printf("%10.1f %10.1f %8zu %8zu  %s\n", o[k].full_us - o[k].parse_us,
			       o[k].parse_us, c->len[o[k].i], art_hl7_seg_count(msg), type);
			art_hl7_msg_destroy(msg);
		}
	}
	free(o);
	return 0;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : ART_SOURCE_DIR "/../shared/corpus/hl7v2";
	const char *schemas = argc > 2 ? argv[2] : NULL;
	struct corpus all, mapped;
	struct art_schema_registry *reg;
	struct art_canon_mapper *mapper;
	struct art_canon_ctx ctx;
	char errstr[512];
	double pm, pe, fm, fe;

	memset(&all, 0, sizeof(all));
	art_buf_init(&all.data, 1u << 30);
	walk(&all, dir);
	reg = art_schema_registry_load(schemas, errstr, sizeof(errstr));
	if (!reg || all.n == 0) {
		fprintf(stderr, "bench_map: %s\n", reg ? "no corpus messages" : errstr);
		return 2;
	}
	mapper = art_canon_mapper_new(reg);
	memset(&ctx, 0, sizeof(ctx));
	ctx.reg = reg;
	ctx.channel = "bench";
	ctx.received_at_us = art_now_us();
	ctx.raw_topic = "raw.hl7v2";
	ctx.raw_hash = "0000000000000000000000000000000000000000000000000000000000000000";

	/* Only the messages that map: the rate is about mapping, not about
	 * how fast unsupported types are skipped. */
	memset(&mapped, 0, sizeof(mapped));
	art_buf_init(&mapped.data, 1u << 30);
	for (size_t i = 0; i < all.n; i++) {
		struct art_hl7_msg *msg = art_hl7_parse(all.data.p + all.off[i], all.len[i], NULL,
							errstr, sizeof(errstr));
		struct art_canon_result r;
		memset(&r, 0, sizeof(r));
		if (msg && art_canon_map_with(mapper, msg, &ctx, &r, errstr, sizeof(errstr)) ==
				   ART_CANON_MAPPED) {
			if (mapped.n == mapped.cap) {
				mapped.cap = mapped.cap ? mapped.cap * 2 : 256;
				mapped.off = realloc(mapped.off, mapped.cap * sizeof(size_t));
				mapped.len = realloc(mapped.len, mapped.cap * sizeof(size_t));
			}
			mapped.off[mapped.n] = mapped.data.len;
			mapped.len[mapped.n] = all.len[i];
			mapped.n++;
			art_buf_append(&mapped.data, all.data.p + all.off[i], all.len[i]);
		}
		art_canon_result_free(&r);
		art_hl7_msg_destroy(msg);
	}

	/* BENCH_MAP_TOP=N lists the N messages whose mapping costs the most
	 * relative to their parse (where to look first when optimising). */
	if (getenv("BENCH_MAP_TOP")) {
		long long n;

		if (art_parse_int(getenv("BENCH_MAP_TOP"), 1, 100000, &n)) {
			fprintf(stderr, "bench_map: BENCH_MAP_TOP must be a count\n");
			return 2;
		}
		return top(&mapped, mapper, &ctx, (size_t)n);
	}
	/* BENCH_MAP_ONLY=1 measures only the full path (for profiling it). */
	if (getenv("BENCH_MAP_ONLY")) {
		measure(&mapped, mapper, &ctx, &fm, &fe);
		printf("parse + map + encode: %.0f messages/s, %.0f events/s\n", fm, fe);
		return 0;
	}
	measure(&mapped, NULL, &ctx, &pm, &pe);
	measure(&mapped, mapper, &ctx, &fm, &fe);
	printf("HL7 -> canonical Avro, %zu corpus messages that map (%zu bytes), median of %d runs\n",
	       mapped.n, mapped.data.len, RUNS);
	printf("| %-28s | %12s | %12s | %8s |\n", "stage", "messages/s", "events/s", "vs parse");
	printf("|------------------------------|--------------|--------------|----------|\n");
	printf("| %-28s | %12.0f | %12s | %7.0f%% |\n", "parse only", pm, "-", 100.0);
	printf("| %-28s | %12.0f | %12.0f | %7.0f%% |\n", "parse + map + Avro encode", fm, fe,
	       100.0 * fm / pm);
	printf("target: parse+map+encode >= 50%% of parse-only: %s\n",
	       fm >= pm / 2 ? "met" : "NOT met");
	art_canon_mapper_destroy(mapper);
	art_schema_registry_destroy(reg);
	art_buf_free(&all.data);
	art_buf_free(&mapped.data);
	free(all.off);
	free(all.len);
	free(mapped.off);
	free(mapped.len);
	return 0;
}

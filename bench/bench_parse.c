/*
 * bench_parse.c — HL7 v2 parse throughput over the public corpus, next to
 * its floor and a peer, measured in the same run:
 *
 *   memchr floor   a plain memchr scan of the same bytes for the segment
 *                  terminator (CR): what any parser must at least do;
 *   art_hl7_parse  the structural parse (segments + field boundaries);
 *   parse + gets   the same plus 6 decoded terser reads per message
 *                  (components, escapes and charsets are resolved lazily);
 *   python-hl7     bench/peer_python_hl7.py parsing the same messages.
 *
 * The messages are those of ../shared/corpus/hl7v2 that split and parse,
 * terminators normalised to CR, held in one buffer; each row is the median
 * of 7 runs of at least 0.5 s each. Usage:
 *   bench_parse [corpus/hl7v2 dir] [--no-python]
 * Not a test; never run in a loop (the build machine has 2 shared cores).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "art.h"
#include "buf.h"
#include "hl7.h"
#include "bench_corpus.h"

#define RUNS 7
#define MIN_RUN_US 500000

enum mode { M_MEMCHR, M_PARSE, M_PARSE_GET };

static volatile size_t sink; /* keeps the optimiser honest */

/* One pass over every message; returns bytes processed. */
static size_t pass(const struct corpus *c, enum mode mode, struct art_buf *val)
{
	static const char *paths[] = {"MSH-9", "MSH-10", "PID-3", "PID-5.1", "PID-7", "OBX-5"};
	size_t i, k, acc = 0;
	char errstr[256];
	for (i = 0; i < c->n; i++) {
		const char *p = c->data.p + c->off[i], *e = p + c->len[i];
		struct art_hl7_msg *msg;
		if (mode == M_MEMCHR) {
			const char *q = memchr(p, '\r', (size_t)(e - p));
			while (q) {
				acc++;
				p = q + 1;
				q = memchr(p, '\r', (size_t)(e - p));
			}
			continue;
		}
		msg = art_hl7_parse(p, c->len[i], NULL, errstr, sizeof(errstr));
		if (!msg)
			abort();
		acc += art_hl7_seg_count(msg);
		if (mode == M_PARSE_GET) {
			for (k = 0; k < ART_ARRAY_SIZE(paths); k++) {
				art_hl7_get(msg, paths[k], val, NULL, errstr, sizeof(errstr));
				acc += val->len;
			}
		}
		art_hl7_msg_destroy(msg);
	}
	sink += acc;
	return c->data.len;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Median MB/s and msgs/s of RUNS runs of at least MIN_RUN_US each. */
static void measure(const struct corpus *c, enum mode mode, double *mbs, double *mps)
{
	double r_mb[RUNS], r_m[RUNS];
	struct art_buf val;
	int r;
	art_buf_init(&val, 64u << 20);
	for (r = 0; r < RUNS; r++) {
		int64_t t0 = art_mono_us(), dt;
		size_t bytes = 0, msgs = 0;
		do {
			bytes += pass(c, mode, &val);
			msgs += c->n;
			dt = art_mono_us() - t0;
		} while (dt < MIN_RUN_US);
		r_mb[r] = (double)bytes / (double)dt; /* bytes/us == MB/s */
		r_m[r] = (double)msgs * 1e6 / (double)dt;
	}
	art_buf_free(&val);
	qsort(r_mb, RUNS, sizeof(double), cmp_double);
	qsort(r_m, RUNS, sizeof(double), cmp_double);
	*mbs = r_mb[RUNS / 2];
	*mps = r_m[RUNS / 2];
}

/* Runs the python-hl7 peer on the same messages; returns its MB/s or -1. */
static double run_python(const struct corpus *c, const char *script)
{
	char tmpl[] = "/tmp/artery-bench-msgs-XXXXXX", cmd[8192], line[1024];
	int fd = mkstemp(tmpl);
	FILE *fp;
	size_t i;
	double mbs = -1;
	if (fd < 0)
		return -1;
	fp = fdopen(fd, "wb");
	for (i = 0; i < c->n; i++) {
		fwrite(c->data.p + c->off[i], 1, c->len[i], fp);
		fputc(0x1C, fp);
	}
	fclose(fp);
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 '%s' --messages '%s'", script, tmpl);
	fp = popen(cmd, "r");
	if (fp) {
		while (fgets(line, sizeof(line), fp)) {
			char *bar;
			fputs(line, stdout);
			/* "| name | MB/s | msgs/s | note |" */
			bar = strchr(line + 1, '|');
			if (bar)
				mbs = strtod(bar + 1, NULL);
		}
		if (pclose(fp) != 0)
			mbs = -1;
	}
	unlink(tmpl);
	return mbs;
}

int main(int argc, char **argv)
{
	struct corpus c;
	const char *dir = ART_SOURCE_DIR "/../shared/corpus/hl7v2";
	int python = 1, i;
	double floor_mb, floor_m, parse_mb, parse_m, get_mb, get_m, py_mb;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--no-python") == 0)
			python = 0;
		else
			dir = argv[i];
	}
	memset(&c, 0, sizeof(c));
	art_buf_init(&c.data, 1u << 30);
	walk(&c, dir);
	if (c.n == 0) {
		fprintf(stderr, "bench_parse: no parseable messages under %s\n", dir);
		return 1;
	}
	printf("HL7 v2 parse: %zu messages (%zu bytes) from %zu files of %s; median of %d runs "
	       ">= %.1f s\n\n",
	       c.n, c.data.len, c.files, dir, RUNS, MIN_RUN_US / 1e6);
	printf("| %-34s | %10s | %12s | %s |\n", "what", "MB/s", "msgs/s", "note");
	printf("|%s|%s|%s|%s|\n", "------------------------------------", "------------",
	       "--------------", "------");
	measure(&c, M_MEMCHR, &floor_mb, &floor_m);
	printf("| %-34s | %10.1f | %12.0f | %s |\n", "memchr CR scan (floor)", floor_mb, floor_m,
	       "segment terminators only");
	measure(&c, M_PARSE, &parse_mb, &parse_m);
	printf("| %-34s | %10.1f | %12.0f | %.0f%% of floor |\n", "art_hl7_parse (structural)",
	       parse_mb, parse_m, 100.0 * parse_mb / floor_mb);
	measure(&c, M_PARSE_GET, &get_mb, &get_m);
	printf("| %-34s | %10.1f | %12.0f | %.0f%% of floor |\n", "art_hl7_parse + 6 decoded gets",
	       get_mb, get_m, 100.0 * get_mb / floor_mb);
	fflush(stdout);
	if (python) {
		py_mb = run_python(&c, ART_SOURCE_DIR "/bench/peer_python_hl7.py");
		if (py_mb > 0)
			printf("\nart_hl7_parse = %.0fx python-hl7, %.0f%% of the memchr floor\n",
			       parse_mb / py_mb, 100.0 * parse_mb / floor_mb);
		else
			printf("\npython-hl7 peer unavailable (/usr/bin/python3 with python3-hl7)\n");
	}
	art_buf_free(&c.data);
	free(c.off);
	free(c.len);
	return 0;
}

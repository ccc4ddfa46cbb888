/*
 * test_mllp_corpus.c — the whole public corpus (../shared/corpus/hl7v2)
 * through artery-mllp-in, sent by an independent client: Debian's
 * python-hl7 `mllp_send`. Every message that got an accepting ACK must be
 * on raw.hl7v2 with byte-identical content and the counts must match;
 * every AR must have its dead letter. Skipped (not passed) without the
 * corpus or mllp_send.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <limits.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "art.h"
#include "avro_codec.h"
#include "helper_kafka.h"
#include "helper_mllp_in.h"
#include "hl7.h"
#include "schema.h"

#define CORPUS ART_SOURCE_DIR "/../shared/corpus/hl7v2"
#define MLLP_SEND "/usr/bin/mllp_send"

struct unit {
	char *p; /* bytes as mllp_send will send them */
	size_t len;
	char file[300];
};

static struct unit *units;
static size_t nunits, cap_units, unframeable;

static void add_unit(const char *path, const char *p, size_t len)
{
	/* mllp_send strips VT and CR from both ends of each message. */
	while (len && (p[0] == 0x0b || p[0] == '\r')) {
		p++;
		len--;
	}
	while (len && (p[len - 1] == 0x0b || p[len - 1] == '\r'))
		len--;
	if (len == 0)
		return;
	if (memchr(p, 0x0b, len) || memchr(p, 0x1c, len)) {
		unframeable++; /* MLLP cannot carry these bytes at all */
		return;
	}
	if (nunits == cap_units) {
		cap_units = cap_units ? cap_units * 2 : 256;
		units = realloc(units, cap_units * sizeof(*units));
	}
	units[nunits].p = malloc(len);
	memcpy(units[nunits].p, p, len);
	units[nunits].len = len;
	snprintf(units[nunits].file, sizeof(units[nunits].file), "%s", path);
	nunits++;
}

static void walk(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	cr_assert_not_null(d);
	while ((de = readdir(d))) {
		char path[1024], err[256];
		struct stat st;
		struct art_hl7_split split;
		struct art_hl7_opts o = art_hl7_opts_default();
		size_t len;
		char *buf;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) == -1)
			continue;
		if (S_ISDIR(st.st_mode)) {
			walk(path);
			continue;
		}
		buf = art_read_file(path, 64 << 20, &len, err, sizeof(err));
		cr_assert_not_null(buf, "%s", err);
		memset(&split, 0, sizeof(split));
		if (art_hl7_split(buf, len, &o, &split, NULL, err, sizeof(err)) == 0) {
			for (size_t i = 0; i < split.nmsgs; i++)
				add_unit(path, buf + split.msgs[i].off, split.msgs[i].len);
		} else {
			add_unit(path, buf, len); /* sent whole: it must come back AR */
		}
		art_hl7_split_free(&split);
		free(buf);
	}
	closedir(d);
}

/* Finds the payload bytes of a RawMessage record. */
static int payload_of(const struct art_schema_registry *reg, const struct art_test_record *r,
		      char **p, size_t *len)
{
	avro_value_t v, f;
	const void *b;
	char err[256];

	if (art_avro_decode_value(reg, r->value, r->value_len, &v, NULL, err, sizeof(err)))
		return -1;
	if (avro_value_get_by_name(&v, "payload", &f, NULL) || avro_value_get_bytes(&f, &b, len)) {
		avro_value_decref(&v);
		return -1;
	}
	*p = malloc(*len ? *len : 1);
	memcpy(*p, b, *len);
	avro_value_decref(&v);
	return 0;
}

static int find_payload(char **payloads, size_t *lens, int *used, size_t n, const struct unit *u)
{
	for (size_t i = 0; i < n; i++)
		if (!used[i] && lens[i] == u->len && !memcmp(payloads[i], u->p, u->len)) {
			used[i] = 1;
			return 1;
		}
	return 0;
}

Test(mllp_corpus, every_accepted_message_is_on_raw_byte_for_byte, .timeout = 600)
{
	struct art_test_pipeline *tp;
	struct art_test_records raw, dlq;
	struct art_schema_registry *reg;
	char stream_path[PATH_MAX + 32], out_path[PATH_MAX + 32], cmd[3 * PATH_MAX], err[256], line[65536];
	size_t accepted = 0, rejected = 0, errors = 0, dup = 0, i;
	FILE *fp;
	int rc;

	if (access(CORPUS, R_OK) != 0)
		cr_skip_test("corpus not found at %s", CORPUS);
	if (access(MLLP_SEND, X_OK) != 0)
		cr_skip_test("python-hl7 mllp_send not installed");
	walk(CORPUS);
	cr_assert(nunits > 100, "only %zu messages found", nunits);

	tp = art_test_pipeline_start();
	cr_assert_not_null(tp);
	snprintf(stream_path, sizeof(stream_path), "%s/stream.mllp", tp->dir);
	snprintf(out_path, sizeof(out_path), "%s/acks.txt", tp->dir);
	fp = fopen(stream_path, "wb");
	for (i = 0; i < nunits; i++) {
		fputc(0x0b, fp);
		fwrite(units[i].p, 1, units[i].len, fp);
		fputc(0x1c, fp);
		fputc(0x0d, fp);
	}
	fclose(fp);

	snprintf(cmd, sizeof(cmd), "timeout 300 /usr/bin/python3 %s -p %d -f '%s' 127.0.0.1 > '%s'", MLLP_SEND,
		 tp->port_adt, stream_path, out_path);
	rc = system(cmd);
	cr_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "mllp_send failed: %d", rc);

	/* One ACK per line, in order. */
	fp = fopen(out_path, "rb");
	char **codes = calloc(nunits, sizeof(*codes));
	i = 0;
	while (fgets(line, sizeof(line), fp)) {
		char pat[6] = {'\r', 'M', 'S', 'A', line[4], 0}; /* line[0] is 0x0B */
		char *msa = strstr(line, pat);
		cr_assert(i < nunits, "more ACKs than messages");
		cr_assert_not_null(msa, "ACK %zu has no MSA: %s", i, line);
		codes[i] = strndup(msa + 5, 2);
		i++;
	}
	fclose(fp);
	cr_assert_eq(i, nunits, "%zu ACKs for %zu messages", i, nunits);

	cr_assert_eq(art_test_consume_all(tp->kb->bootstrap, "raw.hl7v2", 60000, &raw), 0);
	cr_assert_eq(art_test_consume_all(tp->kb->bootstrap, "dlq.mllp-in", 60000, &dlq), 0);
	reg = art_schema_registry_load(ART_SOURCE_DIR "/schemas", err, sizeof(err));
	cr_assert_not_null(reg, "%s", err);

	char **rp = calloc(raw.cnt + 1, sizeof(char *)), **dp = calloc(dlq.cnt + 1, sizeof(char *));
	size_t *rl = calloc(raw.cnt + 1, sizeof(size_t)), *dl = calloc(dlq.cnt + 1, sizeof(size_t));
	int *ru = calloc(raw.cnt + 1, sizeof(int)), *du = calloc(dlq.cnt + 1, sizeof(int));
	for (i = 0; i < raw.cnt; i++)
		cr_assert_eq(payload_of(reg, &raw.recs[i], &rp[i], &rl[i]), 0);
	for (i = 0; i < dlq.cnt; i++)
		cr_assert_eq(payload_of(reg, &dlq.recs[i], &dp[i], &dl[i]), 0);

	for (i = 0; i < nunits; i++) {
		const char *c = codes[i];
		if (!strcmp(c, "AA") || !strcmp(c, "CA")) {
			accepted++;
			if (!find_payload(rp, rl, ru, raw.cnt, &units[i])) {
				/* A resend of identical bytes is acknowledged, not re-emitted. */
				int seen = 0;
				for (size_t j = 0; j < i && !seen; j++)
					seen = units[j].len == units[i].len &&
					       !memcmp(units[j].p, units[i].p, units[i].len);
				cr_assert(seen, "accepted message %zu of %s is not on raw.hl7v2", i,
					  units[i].file);
				dup++;
			}
		} else if (!strcmp(c, "AR") || !strcmp(c, "CR")) {
			rejected++;
			cr_assert(find_payload(dp, dl, du, dlq.cnt, &units[i]),
				  "rejected message %zu of %s has no dead letter", i, units[i].file);
		} else {
			errors++;
			cr_assert_fail("message %zu of %s got %s", i, units[i].file, c);
		}
	}
	cr_assert_eq(raw.cnt, accepted - dup, "raw.hl7v2 holds %zu records for %zu accepted", raw.cnt,
		     accepted - dup);
	printf("mllp corpus: %zu messages sent by mllp_send (%zu unframeable skipped): "
	       "%zu accepted (%zu resends not re-emitted), %zu rejected with dead letter, "
	       "%zu errors; raw.hl7v2 %zu, dlq.mllp-in %zu\n",
	       nunits, unframeable, accepted, dup, rejected, errors, raw.cnt, dlq.cnt);

	for (i = 0; i < raw.cnt; i++)
		free(rp[i]);
	for (i = 0; i < dlq.cnt; i++)
		free(dp[i]);
	free(rp);
	free(dp);
	free(rl);
	free(dl);
	free(ru);
	free(du);
	for (i = 0; i < nunits; i++)
		free(codes[i]);
	free(codes);
	art_test_records_free(&raw);
	art_test_records_free(&dlq);
	art_schema_registry_destroy(reg);
	art_test_pipeline_stop(tp, NULL);
}

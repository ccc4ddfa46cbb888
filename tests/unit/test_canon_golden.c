/*
 * test_canon_golden.c — the canonical encoding of the public corpus must
 * not change by accident. For every message of ../shared/corpus/hl7v2 (the
 * files listed in ../shared/corpus/inventory.tsv, read in place) that maps,
 * the SHA-256 of its events' wire-format values, concatenated in order, is
 * compared with tests/fixtures/canon_golden.txt (one line per mapped
 * message: corpus path, message index, event count, hex digest; hashes
 * only, never corpus content). received_at is fixed, so the bytes are
 * deterministic. Each event is also decoded into an Avro C generic value and
 * re-encoded with Avro C's own writer, which must give the same bytes.
 * Decoders outside Artery read these bytes: a deliberate
 * change of the mapping or of a schema regenerates the fixture with
 *   ART_CANON_GOLDEN_WRITE=tests/fixtures/canon_golden.txt ./test_canon_golden
 * and says so in its commit. Skipped when the corpus is absent.
 */
#include <criterion/criterion.h>

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "art.h"
#include "avro_codec.h"
#include "buf.h"
#include "canonical.h"
#include "hl7.h"
#include "schema.h"

#define CORPUS  ART_SOURCE_DIR "/../shared/corpus"
#define FIXTURE ART_SOURCE_DIR "/tests/fixtures/canon_golden.txt"

/* Appends one fixture line per mapped message of corpus file rel to out. */
static void golden_file(const char *rel, struct art_canon_mapper *mapper,
			const struct art_schema_registry *reg, struct art_buf *out)
{
	static const char hex[] = "0123456789abcdef";
	char path[2048], err[512];
	struct art_hl7_split split;
	size_t len;
	char *buf;

	snprintf(path, sizeof(path), CORPUS "/%s", rel);
	buf = art_read_file(path, 64u << 20, &len, err, sizeof(err));
	cr_assert_not_null(buf, "%s", err);
	if (art_hl7_split(buf, len, NULL, &split, NULL, err, sizeof(err))) {
		art_hl7_split_free(&split);
		free(buf);
		return;
	}
	for (size_t i = 0; i < split.nmsgs; i++) {
		struct art_canon_ctx ctx = {
			.reg = reg,
			.channel = "golden",
			.received_at_us = 1700000000000000LL,
			.raw_topic = "raw.hl7v2",
			.raw_hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		};
		struct art_canon_result res;
		struct art_hl7_msg *msg;
		unsigned char md[32];
		unsigned int mdlen = 0;
		char line[2300], digest[65];
		EVP_MD_CTX *mdctx;

		msg = art_hl7_parse_ex(buf + split.msgs[i].off, split.msgs[i].len, NULL, i + 1,
				       NULL, err, sizeof(err));
		if (!msg)
			continue;
		if (art_canon_map_with(mapper, msg, &ctx, &res, err, sizeof(err)) !=
		    ART_CANON_MAPPED) {
			art_canon_result_free(&res);
			art_hl7_msg_destroy(msg);
			continue;
		}
		mdctx = EVP_MD_CTX_new();
		cr_assert_not_null(mdctx);
		cr_assert_eq(EVP_DigestInit_ex(mdctx, EVP_sha256(), NULL), 1);
		for (size_t e = 0; e < res.cnt; e++) {
			const struct art_canon_event *ev = &res.events[e];
			avro_value_t generic;
			void *again;
			size_t alen;

			cr_assert_eq(EVP_DigestUpdate(mdctx, ev->value, ev->value_len), 1);
			/* Avro C's own writer, over the decoded value, writes the same bytes */
			cr_assert_eq(art_avro_decode_value(reg, ev->value, ev->value_len, &generic,
							   NULL, err, sizeof(err)),
				     0, "%s message %zu: %s", rel, i + 1, err);
			cr_assert_eq(art_avro_encode(&generic, ev->schema->id, &again, &alen, err,
						     sizeof(err)),
				     0, "%s", err);
			cr_assert(alen == ev->value_len && memcmp(again, ev->value, alen) == 0,
				  "%s message %zu event %zu: Avro C encodes it differently", rel,
				  i + 1, e);
			free(again);
			avro_value_decref(&generic);
		}
		cr_assert_eq(EVP_DigestFinal_ex(mdctx, md, &mdlen), 1);
		EVP_MD_CTX_free(mdctx);
		for (size_t k = 0; k < 32; k++) {
			digest[2 * k] = hex[md[k] >> 4];
			digest[2 * k + 1] = hex[md[k] & 15];
		}
		digest[64] = '\0';
		snprintf(line, sizeof(line), "%s\t%zu\t%zu\t%s\n", rel, i + 1, res.cnt, digest);
		cr_assert_eq(art_buf_puts(out, line), 0);
		art_canon_result_free(&res);
		art_hl7_msg_destroy(msg);
	}
	art_hl7_split_free(&split);
	free(buf);
}

Test(canon_golden, encoded_events_of_the_corpus_are_unchanged)
{
	struct art_schema_registry *reg;
	struct art_canon_mapper *mapper;
	char err[512], *inv, *line, *next, *want;
	const char *write_to = getenv("ART_CANON_GOLDEN_WRITE");
	struct art_buf got;
	size_t len, wlen, lines = 0;
	struct stat st;

	if (stat(CORPUS "/inventory.tsv", &st) != 0)
		cr_skip_test("corpus absent: " CORPUS);
	inv = art_read_file(CORPUS "/inventory.tsv", 16u << 20, &len, err, sizeof(err));
	cr_assert_not_null(inv, "%s", err);
	reg = art_schema_registry_load(ART_SOURCE_DIR "/schemas", err, sizeof(err));
	cr_assert_not_null(reg, "%s", err);
	mapper = art_canon_mapper_new(reg);
	cr_assert_not_null(mapper);
	art_buf_init(&got, 64u << 20);

	/* inventory.tsv: the corpus path in column 1 */
	for (line = inv; line && *line; line = next) {
		char *tab;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		tab = strchr(line, '\t');
		if (tab)
			*tab = '\0';
		if (strncmp(line, "hl7v2/", 6) != 0)
			continue;
		golden_file(line, mapper, reg, &got);
	}
	for (size_t i = 0; i < got.len; i++)
		lines += got.p[i] == '\n';
	cr_assert_gt(lines, 100, "only %zu corpus messages mapped", lines);

	if (write_to && *write_to) {
		FILE *f = fopen(write_to, "w");

		cr_assert_not_null(f, "%s", write_to);
		cr_assert_eq(fwrite(got.p, 1, got.len, f), got.len);
		cr_assert_eq(fclose(f), 0);
		printf("wrote %zu golden digests to %s\n", lines, write_to);
	} else {
		want = art_read_file(FIXTURE, 16u << 20, &wlen, err, sizeof(err));
		cr_assert_not_null(want, "%s", err);
		/* first differing line, for the message */
		if (wlen != got.len || memcmp(want, got.p, wlen) != 0) {
			size_t a = 0, b = 0, n = 1;

			while (a < wlen && b < got.len && want[a] == got.p[b]) {
				if (want[a] == '\n')
					n++;
				a++;
				b++;
			}
			cr_assert_fail("canonical encoding changed: %s line %zu differs", FIXTURE,
				       n);
		}
		free(want);
	}
	art_buf_free(&got);
	art_canon_mapper_destroy(mapper);
	art_schema_registry_destroy(reg);
	free(inv);
}

/*
 * fuzz_hl7.c — libFuzzer target for the HL7 v2 parser: split the input,
 * parse every message, read a few paths (decoded and raw), and check the
 * lossless invariant: for every message that parses, art_hl7_encode()
 * equals art_hl7_normalise() of its bytes. Also parses the whole input as
 * one message. Seed it with the corpus at run time, e.g.
 *   ./fuzz_hl7 -max_total_time=30 -max_len=65536 ../shared/corpus/hl7v2/...
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "hl7.h"

static const char *paths[] = {
	"MSH-9",    "MSH-9.2", "MSH-10",  "MSH-18",     "PID-3[2].4", "PID-5",
	"PID-5.1.1", "OBX[3]-5", "OBX-5[2].3.2", "NTE-3", "ZZZ[9]-99[9].9.9",
};

static void check_one(const char *buf, size_t len, const struct art_hl7_opts *opts)
{
	char errstr[256];
	struct art_hl7_msg *msg = art_hl7_parse(buf, len, opts, errstr, sizeof(errstr));
	struct art_buf enc, norm, val;
	size_t i, n;
	if (!msg)
		return;
	art_buf_init(&enc, 64u << 20);
	art_buf_init(&norm, 64u << 20);
	art_buf_init(&val, 1u << 20);
	if (art_hl7_encode(msg, &enc) != 0 || art_hl7_normalise(buf, len, &norm) != 0)
		abort();
	if (enc.len != norm.len || (enc.len && memcmp(enc.p, norm.p, enc.len) != 0))
		abort(); /* the lossless invariant is broken */
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct art_hl7_span sp;
		unsigned flags;
		enum art_hl7_val v = art_hl7_get(msg, paths[i], &val, &flags, errstr, sizeof(errstr));
		if (v == ART_HL7_VALUE && val.len == 0)
			abort();
		v = art_hl7_get_raw(msg, paths[i], &sp, errstr, sizeof(errstr));
		if (v != ART_HL7_ABSENT && (sp.p < buf || sp.p + sp.len > buf + len))
			abort(); /* a raw span must lie inside the input */
	}
	/* every field of the first few segments decodes or fails cleanly */
	n = art_hl7_seg_count(msg);
	for (i = 0; i < n && i < 8; i++) {
		size_t f, nf = art_hl7_field_count(msg, i);
		for (f = 1; f <= nf && f <= 40; f++) {
			struct art_hl7_span sp;
			if (!art_hl7_field(msg, i, f, &sp))
				abort();
			art_buf_reset(&val);
			art_hl7_decode(msg, &sp, &val, NULL, errstr, sizeof(errstr));
		}
	}
	art_buf_free(&enc);
	art_buf_free(&norm);
	art_buf_free(&val);
	art_hl7_msg_destroy(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct art_hl7_opts opts = art_hl7_opts_default();
	struct art_hl7_split split;
	char errstr[256];
	/* an exact-size heap copy so ASan sees any read past the end */
	char *buf = malloc(size ? size : 1);
	size_t i;
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	opts.max_segments = 2000;
	opts.max_fields_per_segment = 500;
	if (art_hl7_split(buf, size, &opts, &split, NULL, errstr, sizeof(errstr)) == 0) {
		for (i = 0; i < split.nmsgs; i++) {
			if (split.msgs[i].off + split.msgs[i].len > size)
				abort();
			check_one(buf + split.msgs[i].off, split.msgs[i].len, &opts);
		}
		art_hl7_split_free(&split);
	}
	check_one(buf, size, &opts);
	free(buf);
	return 0;
}

/*
 * test_hl7.c — table-driven tests of the HL7 v2 parser (common/hl7.c), one
 * group per requirement of issue #2: delimiters, terminators, nulls,
 * escapes, charsets, batches and streams, versions, paths, bounds, errors
 * with positions, lossless re-encoding.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "hl7.h"

#define MSH25 "MSH|^~\\&|SND|SFAC|RCV|RFAC|20240101120000||ADT^A01^ADT_A01|CTRL1|P|2.5"

static struct art_hl7_msg *parse_ok(const char *text)
{
	char errstr[256];
	struct art_hl7_msg *msg = art_hl7_parse(text, strlen(text), NULL, errstr, sizeof(errstr));
	cr_assert_not_null(msg, "parse failed: %s\ninput: %s", errstr, text);
	return msg;
}

/* Decoded value at path, "<absent>", "<null>" or "<error>". */
static const char *get(const struct art_hl7_msg *msg, const char *path, unsigned *flags)
{
	static char out[512];
	char errstr[256];
	struct art_buf b;
	enum art_hl7_val v;
	art_buf_init(&b, 4096);
	v = art_hl7_get(msg, path, &b, flags, errstr, sizeof(errstr));
	switch (v) {
	case ART_HL7_ABSENT:
		snprintf(out, sizeof(out), "<absent>");
		break;
	case ART_HL7_NULL:
		snprintf(out, sizeof(out), "<null>");
		break;
	case ART_HL7_ERROR:
		snprintf(out, sizeof(out), "<error>");
		break;
	case ART_HL7_VALUE:
		snprintf(out, sizeof(out), "%s", b.p);
		break;
	}
	art_buf_free(&b);
	return out;
}

static void assert_roundtrip(const struct art_hl7_msg *msg, const char *in, size_t len)
{
	struct art_buf enc, norm;
	art_buf_init(&enc, 1u << 20);
	art_buf_init(&norm, 1u << 20);
	cr_assert_eq(art_hl7_encode(msg, &enc), 0);
	cr_assert_eq(art_hl7_normalise(in, len, &norm), 0);
	cr_assert_eq(enc.len, norm.len, "encode length %zu != normalised %zu", enc.len, norm.len);
	cr_assert(memcmp(enc.p, norm.p, enc.len) == 0, "encode differs from normalised input");
	art_buf_free(&enc);
	art_buf_free(&norm);
}

/* ---- delimiters ------------------------------------------------------------- */

Test(hl7, delimiters_declared_in_msh)
{
	static const struct {
		const char *text;
		char field, comp, rep, esc, sub, trunc;
		const char *path, *want;
	} cases[] = {
		{MSH25 "\rPID|1||123^^^H~456^^^H2||Smith^John\r", '|', '^', '~', '\\', '&', 0,
		 "PID-5.2", "John"},
		{"MSH|^~\\&#|A|B|C|D|2024||ADT^A01|1|P|2.7\rPID|1||x||Smith^Jo#", '|', '^', '~',
		 '\\', '&', '#', "PID-5.2", "Jo"},
		{"MSH|*~\\&#|A|B|C|D|2024||ADT*A01|1|P|2.7\rPID|1||x||Smith*John", '|', '*', '~',
		 '\\', '&', '#', "PID-5.2", "John"},
		{"MSH$%~\\&$A$B$C$D$2024$$ADT%A01$1$P$2.5\rPID$1$$x$$Doe%Jane", '$', '%', '~', '\\',
		 '&', 0, "PID-5.2", "Jane"},
		{"MSH^~|\\&^A^B^C^D^2024^^ADT~A01^1^P^2.3\rPID^1^^x^^Doe~Jane", '^', '~', '|', '\\',
		 '&', 0, "PID-5.2", "Jane"},
		{"MSH:-+?*:A:B:C:D:2024::ORM-O01:1:P:2.3\rPID:1::a+b::Doe-Jo?S?e", ':', '-', '+', '?',
		 '*', 0, "PID-5.2", "Jo-e"},
		{"MSH:-+?*:A:B:C:D:2024::ORM-O01:1:P:2.3\rPID:1::a+b::Doe-Jo?S?e", ':', '-', '+', '?',
		 '*', 0, "PID-3[2]", "b"},
	};
	size_t i;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct art_hl7_msg *msg = parse_ok(cases[i].text);
		const struct art_hl7_delims *d = &art_hl7_header(msg)->delims;
		cr_expect_eq(d->field, cases[i].field, "case %zu", i);
		cr_expect_eq(d->comp, cases[i].comp, "case %zu", i);
		cr_expect_eq(d->rep, cases[i].rep, "case %zu", i);
		cr_expect_eq(d->esc, cases[i].esc, "case %zu", i);
		cr_expect_eq(d->sub, cases[i].sub, "case %zu", i);
		cr_expect_eq(d->trunc, cases[i].trunc, "case %zu", i);
		cr_expect_str_eq(get(msg, cases[i].path, NULL), cases[i].want, "case %zu", i);
		assert_roundtrip(msg, cases[i].text, strlen(cases[i].text));
		art_hl7_msg_destroy(msg);
	}
}

Test(hl7, msh1_and_msh2_are_special)
{
	struct art_hl7_msg *msg = parse_ok(MSH25 "\r");
	struct art_hl7_span sp;
	cr_expect_str_eq(get(msg, "MSH-1", NULL), "|");
	cr_expect_str_eq(get(msg, "MSH-2", NULL), "^~\\&");
	cr_expect_str_eq(get(msg, "MSH-3", NULL), "SND");
	cr_expect_str_eq(get(msg, "MSH-9", NULL), "ADT");
	cr_expect_str_eq(get(msg, "MSH-9.2", NULL), "A01");
	cr_expect_str_eq(get(msg, "MSH-2.2", NULL), "<absent>");
	cr_expect_eq(art_hl7_get_raw(msg, "MSH-9", &sp, NULL, 0), ART_HL7_VALUE);
	cr_expect(sp.len == 15 && memcmp(sp.p, "ADT^A01^ADT_A01", 15) == 0);
	cr_expect_eq(art_hl7_field_count(msg, 0), 12);
	art_hl7_msg_destroy(msg);
}

Test(hl7, bad_encoding_characters_are_errors_naming_msh2)
{
	static const char *bad[] = {
		"MSH||A|B\r",                   /* empty MSH-2 */
		"MSH|^~\\|A|B\r",               /* 3 characters */
		"MSH|^~\\&#$|A|B\r",            /* 6 characters */
		"MSH|^&&^|A|B\r",               /* duplicate */
		"MSH|^~\\\\&|A|B\r",            /* duplicate backslash */
		"MSH|$r?@|A|B\r",               /* alphanumeric delimiter */
		"MSH|^~\x01&|A|B\r",            /* control character */
	};
	size_t i;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char errstr[256];
		struct art_hl7_errpos pos;
		struct art_hl7_msg *msg =
			art_hl7_parse_ex(bad[i], strlen(bad[i]), NULL, 3, &pos, errstr, sizeof(errstr));
		cr_expect_null(msg, "case %zu parsed", i);
		cr_expect_eq(pos.message, 3);
		cr_expect_eq(pos.segment, 1, "case %zu", i);
		cr_expect_str_eq(pos.seg_id, "MSH");
		cr_expect_eq(pos.field, 2, "case %zu: %s", i, errstr);
		cr_expect(strstr(errstr, "message 3, segment 1 (MSH), field 2") != NULL, "%s", errstr);
		art_hl7_msg_destroy(msg);
	}
}

/* ---- terminators, BOM, whitespace ------------------------------------------- */

Test(hl7, terminators_bom_blank_lines_and_trailing_whitespace)
{
	static const struct {
		const char *text;
		size_t nsegs;
	} cases[] = {
		{MSH25 "\rPID|1||x||Doe^Ann\rPV1|1|I\r", 3},
		{MSH25 "\nPID|1||x||Doe^Ann\nPV1|1|I\n", 3},
		{MSH25 "\r\nPID|1||x||Doe^Ann\r\nPV1|1|I\r\n", 3},
		{MSH25 "\r\nPID|1||x||Doe^Ann\nPV1|1|I\r", 3},
		{MSH25 "\rPID|1||x||Doe^Ann\rPV1|1|I", 3},
		{"\xEF\xBB\xBF" MSH25 "\nPID|1||x||Doe^Ann\nPV1|1|I\n", 3},
		{"\r\n\n" MSH25 "\r\n\r\nPID|1||x||Doe^Ann  \n  \t\nPV1|1|I\n\n\n", 3},
		{"\x0b" MSH25 "\rPID|1||x||Doe^Ann\rPV1|1|I\r\x1c\r", 3},
		{MSH25 "\r\n\rPID|1||x||Doe^Ann\n\rPV1|1|I\r", 3},
	};
	size_t i;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct art_hl7_msg *msg = parse_ok(cases[i].text);
		struct art_buf canon;
		cr_expect_eq(art_hl7_seg_count(msg), cases[i].nsegs, "case %zu", i);
		cr_expect_str_eq(get(msg, "PID-5.2", NULL), "Ann", "case %zu", i);
		cr_expect_str_eq(get(msg, "PV1-2", NULL), "I", "case %zu", i);
		cr_expect_str_eq(get(msg, "MSH-12", NULL), "2.5", "case %zu", i);
		assert_roundtrip(msg, cases[i].text, strlen(cases[i].text));
		art_buf_init(&canon, 1 << 16);
		cr_assert_eq(art_hl7_encode_canonical(msg, &canon), 0);
		cr_expect_str_eq(canon.p, MSH25 "\rPID|1||x||Doe^Ann\rPV1|1|I\r", "case %zu", i);
		art_buf_free(&canon);
		art_hl7_msg_destroy(msg);
	}
}

Test(hl7, normalise_only_touches_terminators)
{
	struct art_buf b;
	art_buf_init(&b, 1024);
	cr_assert_eq(art_hl7_normalise("a\r\nb\nc\rd\n\re\r\n", 13, &b), 0);
	cr_expect_eq(b.len, 11);
	cr_expect(memcmp(b.p, "a\rb\rc\rd\r\re\r", 11) == 0);
	art_buf_free(&b);
}

/* ---- structure and nulls --------------------------------------------------------- */

Test(hl7, fields_repetitions_components_subcomponents_and_nulls)
{
	static const struct {
		const char *path, *want;
	} cases[] = {
		{"PID-3", "123"},
		{"PID-3.1", "123"},
		{"PID-3[2]", "456"},
		{"PID-3[2].4", "H2"},
		{"PID-3[2].4.2", "1.2.3"},
		{"PID-3[2].4.3", "ISO"},
		{"PID-3[3]", "<absent>"},
		{"PID-5", "Smith"},
		{"PID-5.1.1", "Smith"},
		{"PID-5-2", "John"},
		{"PID-5.3", "<absent>"},
		{"PID-7", "<null>"},
		{"PID-8", "<absent>"},
		{"PID-9.2", "<null>"},
		{"PID-30", "<absent>"},
		{"OBX-5", "first"},
		{"OBX[2]-5", "second"},
		{"OBX[3]-5", "third"},
		{"OBX[4]-5", "<absent>"},
		{"ZZZ-1", "<absent>"},
		{"NTE-1", "<absent>"},
	};
	const char *text = MSH25 "\rPID|1||123^^^H~456^^^H2&1.2.3&ISO||Smith^John||\"\"||A^\"\"\r"
				 "OBX|1|ST|||first\rOBX|2|ST|||second\rNTE\rOBX|3|ST|||third\r";
	struct art_hl7_msg *msg = parse_ok(text);
	size_t i;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_expect_str_eq(get(msg, cases[i].path, NULL), cases[i].want, "path %s",
				 cases[i].path);
	art_hl7_msg_destroy(msg);
}

Test(hl7, raw_getter_does_not_default_levels)
{
	static const struct {
		const char *path, *want;
		enum art_hl7_val v;
	} cases[] = {
		{"PID-3", "123^^^H~456^^^H2&1.2.3&ISO", ART_HL7_VALUE},
		{"PID-3[2]", "456^^^H2&1.2.3&ISO", ART_HL7_VALUE},
		{"PID-3[2].4", "H2&1.2.3&ISO", ART_HL7_VALUE},
		{"PID-3.1", "123", ART_HL7_VALUE},
		{"PID-5.1", "Sm\\T\\ith", ART_HL7_VALUE},
		{"PID-7", "\"\"", ART_HL7_NULL},
		{"PID-8", "", ART_HL7_ABSENT},
	};
	const char *text = MSH25 "\rPID|1||123^^^H~456^^^H2&1.2.3&ISO||Sm\\T\\ith^John||\"\"|\r";
	struct art_hl7_msg *msg = parse_ok(text);
	size_t i;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct art_hl7_span sp;
		char errstr[128];
		enum art_hl7_val v = art_hl7_get_raw(msg, cases[i].path, &sp, errstr, sizeof(errstr));
		cr_expect_eq(v, cases[i].v, "path %s", cases[i].path);
		cr_expect(sp.len == strlen(cases[i].want) && memcmp(sp.p, cases[i].want, sp.len) == 0,
			  "path %s: got %.*s", cases[i].path, (int)sp.len, sp.p);
		/* zero-copy: the span points into the input */
		if (sp.len)
			cr_expect(sp.p >= text && sp.p + sp.len <= text + strlen(text));
	}
	art_hl7_msg_destroy(msg);
}

Test(hl7, bad_paths_are_errors)
{
	static const char *bad[] = {"", "PID", "PID-", "PID-0", "pid-5", "PID5", "PID-5.",
				    "PID-5..1", "PID-5.1.1.1", "PID[0]-5", "PID[-5", "PID-5[x]",
				    "PID-9999999", "PID-5 "};
	struct art_hl7_msg *msg = parse_ok(MSH25 "\rPID|1\r");
	size_t i;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_str_eq(get(msg, bad[i], NULL), "<error>", "path \"%s\"", bad[i]);
	art_hl7_msg_destroy(msg);
}

Test(hl7, programmatic_iteration_over_obx)
{
	const char *text = MSH25 "\rPID|1\rOBR|1\rOBX|1|NM|GLU||5.5\rNTE|1||note\r"
				 "OBX|2|NM|NA||140~141\rOBX|3|ST|TXT||a^b&c\r";
	struct art_hl7_msg *msg = parse_ok(text);
	struct art_hl7_span sp;
	long i;
	size_t n = 0;
	for (i = art_hl7_seg_find(msg, "OBX", 0); i >= 0;
	     i = art_hl7_seg_find(msg, "OBX", (size_t)i + 1))
		n++;
	cr_expect_eq(n, 3);
	cr_expect_str_eq(art_hl7_seg_id(msg, 4), "NTE");
	cr_expect_null(art_hl7_seg_id(msg, 99));
	cr_expect_eq(art_hl7_field_count(msg, 5), 5);
	cr_expect_eq(art_hl7_at(msg, 5, 5, 2, 0, 0, &sp), 1);
	cr_expect(sp.len == 3 && memcmp(sp.p, "141", 3) == 0);
	cr_expect_eq(art_hl7_at(msg, 6, 5, 1, 2, 2, &sp), 1);
	cr_expect(sp.len == 1 && sp.p[0] == 'c');
	cr_expect_eq(art_hl7_at(msg, 6, 5, 1, 3, 0, &sp), 0);
	cr_expect_eq(art_hl7_field(msg, 5, 5, &sp), 1);
	cr_expect_eq(art_hl7_span_count(&sp, '~'), 2);
	cr_expect_eq(art_hl7_seg_raw(msg, 4, &sp), 1);
	cr_expect(sp.len == 11 && memcmp(sp.p, "NTE|1||note", 11) == 0);
	art_hl7_msg_destroy(msg);
}

Test(hl7, header_accessors)
{
	const char *text = "MSH|^~\\&|APP^1.2&x&ISO|FAC|RAPP|RFAC|20240101||ORU^R01^ORU_R01|C42|P^T|"
			   "2.5.1|||AL|NE||UNICODE UTF-8\r";
	struct art_hl7_msg *msg = parse_ok(text);
	const struct art_hl7_header *h = art_hl7_header(msg);
#define SPAN_IS(sp, s) ((sp).len == strlen(s) && memcmp((sp).p, s, (sp).len) == 0)
	cr_expect(SPAN_IS(h->sending_app, "APP^1.2&x&ISO"));
	cr_expect(SPAN_IS(h->sending_facility, "FAC"));
	cr_expect(SPAN_IS(h->receiving_app, "RAPP"));
	cr_expect(SPAN_IS(h->receiving_facility, "RFAC"));
	cr_expect(SPAN_IS(h->msg_type, "ORU"));
	cr_expect(SPAN_IS(h->trigger, "R01"));
	cr_expect(SPAN_IS(h->structure, "ORU_R01"));
	cr_expect(SPAN_IS(h->control_id, "C42"));
	cr_expect(SPAN_IS(h->processing_id, "P"));
	cr_expect(SPAN_IS(h->version, "2.5.1"));
	cr_expect(SPAN_IS(h->accept_ack, "AL"));
	cr_expect(SPAN_IS(h->app_ack, "NE"));
	cr_expect(SPAN_IS(h->charset_name, "UNICODE UTF-8"));
	cr_expect_eq(h->charset, ART_HL7_CS_UTF8);
	cr_expect(h->version_known);
	cr_expect_eq(art_hl7_warning_count(msg), 0);
	art_hl7_msg_destroy(msg);
}

/* ---- escapes ---------------------------------------------------------------------- */

Test(hl7, escape_sequences_decoded_on_access)
{
	static const struct {
		const char *field, *want;
		unsigned flags;
	} cases[] = {
		{"a\\F\\b", "a|b", 0},
		{"a\\S\\b", "a^b", 0},
		{"a\\T\\b", "a&b", 0},
		{"a\\R\\b", "a~b", 0},
		{"a\\E\\b", "a\\b", 0},
		{"\\X41\\\\X4243\\", "ABC", 0},
		{"\\x4869\\", "\\x4869\\", ART_HL7_DEC_UNKNOWN_ESC},
		{"line1\\.br\\line2", "line1\nline2", ART_HL7_DEC_FORMATTING},
		{"\\H\\bold\\N\\ text", "bold text", ART_HL7_DEC_FORMATTING},
		{"x\\.sp2\\y", "x\\.sp2\\y", ART_HL7_DEC_FORMATTING},
		{"\\Zcustom\\", "\\Zcustom\\", ART_HL7_DEC_UNKNOWN_ESC},
		{"\\C2842\\", "\\C2842\\", ART_HL7_DEC_UNKNOWN_ESC},
		{"unterminated\\F", "unterminated\\F", ART_HL7_DEC_UNKNOWN_ESC},
		{"\\X4\\", "\\X4\\", ART_HL7_DEC_UNKNOWN_ESC},
		{"plain", "plain", 0},
		{"\\P\\", "\\P\\", ART_HL7_DEC_UNKNOWN_ESC}, /* no truncation char declared */
	};
	size_t i;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[512];
		unsigned flags = 0;
		struct art_hl7_msg *msg;
		snprintf(text, sizeof(text), MSH25 "\rNTE|1||%s\r", cases[i].field);
		msg = parse_ok(text);
		cr_expect_str_eq(get(msg, "NTE-3", &flags), cases[i].want, "case %zu", i);
		cr_expect_eq(flags, cases[i].flags, "case %zu flags %u", i, flags);
		art_hl7_msg_destroy(msg);
	}
}

Test(hl7, truncation_character_v27)
{
	const char *text = "MSH|^~\\&#|A|B|C|D|2024||ADT^A01|1|P|2.7\rNTE|1||long val#|\\P\\1\r";
	struct art_hl7_msg *msg = parse_ok(text);
	unsigned flags = 0;
	cr_expect_str_eq(get(msg, "NTE-3", &flags), "long val");
	cr_expect_eq(flags, ART_HL7_DEC_TRUNCATED);
	cr_expect_str_eq(get(msg, "NTE-4", &flags), "#1");
	cr_expect_eq(art_hl7_warning_count(msg), 0);
	art_hl7_msg_destroy(msg);
}

/* ---- charsets ---------------------------------------------------------------------- */

Test(hl7, charsets_transcoded_to_utf8)
{
	static const struct {
		const char *msh18, *value, *want;
		enum art_hl7_charset cs;
	} cases[] = {
		{"8859/1", "Jos\xE9", "Jos\xC3\xA9", ART_HL7_CS_LATIN1},
		{"ISO-8859-1", "M\xFCller", "M\xC3\xBCller", ART_HL7_CS_LATIN1},
		{"latin1", "\xC4", "\xC3\x84", ART_HL7_CS_LATIN1},
		{"8859/15", "\xA4 5", "\xE2\x82\xAC 5", ART_HL7_CS_LATIN9},
		{"8859/15", "\xBD\xE9", "\xC5\x93\xC3\xA9", ART_HL7_CS_LATIN9},
		{"UNICODE UTF-8", "Jos\xC3\xA9", "Jos\xC3\xA9", ART_HL7_CS_UTF8},
		{"utf-8", "\xE2\x80\x99", "\xE2\x80\x99", ART_HL7_CS_UTF8},
		{"UNICODE UTF-8", "\\XC3A9\\", "\xC3\xA9", ART_HL7_CS_UTF8},
		{"8859/1", "\\XE9\\", "\xC3\xA9", ART_HL7_CS_LATIN1},
		{"ASCII", "plain", "plain", ART_HL7_CS_ASCII},
		{"", "plain", "plain", ART_HL7_CS_ASCII},
		{"", "Jos\xC3\xA9", "Jos\xC3\xA9", ART_HL7_CS_UTF8},   /* undeclared, valid UTF-8 */
		{"", "Jos\xE9", "Jos\xC3\xA9", ART_HL7_CS_LATIN1},      /* undeclared, not UTF-8 */
		{"8859/1~UNICODE UTF-8", "\xE9", "\xC3\xA9", ART_HL7_CS_LATIN1},
	};
	size_t i;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[512];
		struct art_hl7_msg *msg;
		snprintf(text, sizeof(text), MSH25 "||||||%s\rPID|1||x||%s\r", cases[i].msh18,
			 cases[i].value);
		msg = parse_ok(text);
		cr_expect_eq(art_hl7_header(msg)->charset, cases[i].cs, "case %zu", i);
		cr_expect_str_eq(get(msg, "PID-5", NULL), cases[i].want, "case %zu", i);
		art_hl7_msg_destroy(msg);
	}
}

Test(hl7, charset_errors_are_clean)
{
	static const struct {
		const char *msh18, *value, *needle;
		size_t segment, field;
	} cases[] = {
		{"KLINGON", "x", "character set", 1, 18},
		{"UNICODE UTF-8", "Jos\xE9", "invalid UTF-8", 2, 5},
		{"UNICODE UTF-8", "\xC0\xAF", "invalid UTF-8", 2, 5},       /* overlong */
		{"UNICODE UTF-8", "\xED\xA0\x80", "invalid UTF-8", 2, 5},   /* surrogate */
		{"UNICODE UTF-8", "ab\xE2\x82", "invalid UTF-8", 2, 5},     /* truncated */
		{"ASCII", "Jos\xC3\xA9", "not ASCII", 2, 5},
	};
	size_t i;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[512], errstr[256];
		struct art_hl7_errpos pos;
		struct art_hl7_msg *msg;
		snprintf(text, sizeof(text), MSH25 "||||||%s\rPID|1||x||%s\r", cases[i].msh18,
			 cases[i].value);
		msg = art_hl7_parse_ex(text, strlen(text), NULL, 1, &pos, errstr, sizeof(errstr));
		cr_expect_null(msg, "case %zu parsed", i);
		cr_expect(strstr(errstr, cases[i].needle) != NULL, "case %zu: %s", i, errstr);
		cr_expect_eq(pos.segment, cases[i].segment, "case %zu: %s", i, errstr);
		cr_expect_eq(pos.field, cases[i].field, "case %zu: %s", i, errstr);
		art_hl7_msg_destroy(msg);
	}
}

Test(hl7, hex_escape_yielding_invalid_utf8_is_an_access_error)
{
	struct art_hl7_msg *msg = parse_ok(MSH25 "|||||UNICODE UTF-8\rNTE|1||\\XFF\\\r");
	cr_expect_str_eq(get(msg, "NTE-3", NULL), "<error>");
	art_hl7_msg_destroy(msg);
}

/* ---- versions -------------------------------------------------------------------- */

Test(hl7, versions_21_to_28_known_others_warned)
{
	static const struct {
		const char *version;
		int known;
	} cases[] = {
		{"2.1", 1}, {"2.2", 1}, {"2.3", 1}, {"2.3.1", 1}, {"2.4", 1}, {"2.5", 1},
		{"2.5.1", 1}, {"2.6", 1}, {"2.7", 1}, {"2.7.1", 1}, {"2.8", 1}, {"2.8.2", 1},
		{"2.999", 0}, {"12", 0}, {"2.3.z", 0}, {"3.0", 0}, {"2.9", 0},
	};
	size_t i;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[256];
		struct art_hl7_msg *msg;
		snprintf(text, sizeof(text), "MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|%s\r",
			 cases[i].version);
		msg = parse_ok(text);
		cr_expect_eq(art_hl7_header(msg)->version_known, cases[i].known, "%s",
			     cases[i].version);
		cr_expect_eq(art_hl7_warning_count(msg), cases[i].known ? 0u : 1u, "%s",
			     cases[i].version);
		if (!cases[i].known)
			cr_expect(strstr(art_hl7_warning(msg, 0), "unknown HL7 version") != NULL);
		art_hl7_msg_destroy(msg);
	}
}

Test(hl7, incomplete_msh_is_error_unless_allowed)
{
	static const char *cases[] = {
		"MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|\r",
		"MSH|^~\\&|A|B|C|D|2024|||1|P|2.5\r",
		"MSH|^~\\&|A|B|C|D|2024||9|1|P|2.5\r",
		"MSH|^~\\&|1\r",
	};
	size_t i;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char errstr[256];
		struct art_hl7_opts opts = art_hl7_opts_default();
		struct art_hl7_msg *msg =
			art_hl7_parse(cases[i], strlen(cases[i]), &opts, errstr, sizeof(errstr));
		cr_expect_null(msg, "case %zu", i);
		opts.allow_incomplete_msh = 1;
		msg = art_hl7_parse(cases[i], strlen(cases[i]), &opts, errstr, sizeof(errstr));
		cr_expect_not_null(msg, "case %zu: %s", i, errstr);
		if (msg)
			cr_expect_gt(art_hl7_warning_count(msg), 0);
		art_hl7_msg_destroy(msg);
	}
}

/* ---- errors with positions --------------------------------------------------------- */

Test(hl7, malformed_messages_name_the_position)
{
	static const struct {
		const char *text, *needle;
		size_t segment, field;
		const char *seg_id;
	} cases[] = {
		{"", "empty", 0, 0, ""},
		{"PID|1\r", "does not start with an MSH", 1, 0, ""},
		{"BHS|^~\\&\rMSH|^~\\&\r", "art_hl7_split", 1, 0, ""},
		{"MSH\r", "MSH-1", 1, 1, "MSH"},
		{"MSH ^~\\&\r", "MSH-1", 1, 1, "MSH"},
		{MSH25 "\rPID|1\rPI|2\r", "invalid segment id \"PI\"", 3, 0, "?"},
		{MSH25 "\rPID|1\rpid|2\r", "invalid segment id", 3, 0, "?"},
		{MSH25 "\rPID|1\rString||x\r", "invalid segment id \"String\"", 3, 0, "?"},
		{MSH25 "\rPID|1\rMSH|^~\\&|A\r", "MSH inside a message", 3, 0, "MSH"},
		{MSH25 "\rBTS|1\r", "BTS inside a message", 2, 0, "BTS"},
	};
	size_t i;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char errstr[256];
		struct art_hl7_errpos pos;
		struct art_hl7_msg *msg = art_hl7_parse_ex(cases[i].text, strlen(cases[i].text), NULL,
							   7, &pos, errstr, sizeof(errstr));
		cr_expect_null(msg, "case %zu parsed", i);
		cr_expect(strstr(errstr, cases[i].needle) != NULL, "case %zu: %s", i, errstr);
		cr_expect(strncmp(errstr, "message 7", 9) == 0, "case %zu: %s", i, errstr);
		cr_expect_eq(pos.message, 7);
		cr_expect_eq(pos.segment, cases[i].segment, "case %zu: %s", i, errstr);
		cr_expect_eq(pos.field, cases[i].field, "case %zu: %s", i, errstr);
		cr_expect_str_eq(pos.seg_id, cases[i].seg_id, "case %zu: %s", i, errstr);
		art_hl7_msg_destroy(msg);
	}
}

/* ---- bounds ------------------------------------------------------------------------- */

Test(hl7, limits_are_enforced)
{
	const char *text = MSH25 "\rPID|1|2|3|4|5|6\rPV1|1\rOBX|1\r";
	char errstr[256];
	struct art_hl7_opts opts = art_hl7_opts_default();
	struct art_hl7_msg *msg;

	opts.max_segments = 3;
	msg = art_hl7_parse(text, strlen(text), &opts, errstr, sizeof(errstr));
	cr_expect_null(msg);
	cr_expect(strstr(errstr, "segment 4 (OBX)") && strstr(errstr, "segments"), "%s", errstr);

	opts = art_hl7_opts_default();
	opts.max_fields_per_segment = 5;
	msg = art_hl7_parse(text, strlen(text), &opts, errstr, sizeof(errstr));
	cr_expect_null(msg);
	cr_expect(strstr(errstr, "segment 1 (MSH)") != NULL, "%s", errstr);

	opts.max_fields_per_segment = 12;
	msg = art_hl7_parse(text, strlen(text), &opts, errstr, sizeof(errstr));
	cr_expect_not_null(msg, "%s", errstr);
	art_hl7_msg_destroy(msg);

	opts = art_hl7_opts_default();
	opts.max_message_size = 20;
	msg = art_hl7_parse(text, strlen(text), &opts, errstr, sizeof(errstr));
	cr_expect_null(msg);
	cr_expect(strstr(errstr, "maximum message size") != NULL, "%s", errstr);
}

Test(hl7, decoded_value_capped_by_buffer_max)
{
	struct art_hl7_msg *msg = parse_ok(MSH25 "\rNTE|1||0123456789abcdef\r");
	struct art_buf b;
	char errstr[128];
	art_buf_init(&b, 8);
	cr_expect_eq(art_hl7_get(msg, "NTE-3", &b, NULL, errstr, sizeof(errstr)), ART_HL7_ERROR);
	art_buf_free(&b);
	art_hl7_msg_destroy(msg);
}

Test(hl7, never_reads_past_the_buffer)
{
	/* Every prefix of a message parses or fails cleanly; the bytes after
	 * len are poison that must never show up in a value. */
	const char *text = MSH25 "\rPID|1||123^^^H~456||Smith^John\\T\\\rOBX|1|ST|||v\r";
	size_t n = strlen(text), k;
	for (k = 0; k <= n; k++) {
		char *copy = malloc(k + 1);
		char errstr[256];
		struct art_hl7_msg *msg;
		memcpy(copy, text, k);
		msg = art_hl7_parse(copy, k, NULL, errstr, sizeof(errstr));
		if (msg) {
			assert_roundtrip(msg, copy, k);
			get(msg, "PID-5.2", NULL);
			get(msg, "OBX-5", NULL);
		}
		art_hl7_msg_destroy(msg);
		free(copy);
	}
}

/* ---- batches and streams ------------------------------------------------------------- */

#define M1 "MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5\rPID|1\r"
#define M2 "MSH|^~\\&|A|B|C|D|2024||ADT^A01|2|P|2.5\rPID|2\r"

Test(hl7, batches_and_streams_split)
{
	static const struct {
		const char *text;
		size_t nmsgs, nbatches, nwarnings;
		int fhs;
		const char *warning; /* substring of the first warning */
	} cases[] = {
		{M1 M2, 2, 0, 0, 0, NULL},
		{M1 "\n\n" M2 "\n", 2, 0, 0, 0, NULL},
		{"FHS|^~\\&|A\rBHS|^~\\&|A\r" M1 M2 "BTS|2\rFTS|1\r", 2, 1, 0, 1, NULL},
		{"FHS|^~\\&|A\rBHS|^~\\&|A\r" M1 M2 "BTS|3\rFTS|1\r", 2, 1, 1, 1, "declares 3"},
		{"BHS|^~\\&|A\r" M1 M2, 2, 1, 1, 0, "no BTS"},
		{"FHS|^~\\&|A\rBHS|^~\\&|A\r" M1, 1, 1, 2, 1, "no BTS"},
		{"FHS|^~\\&|A\r" M1 "BTS|1\rFTS|1\r", 1, 1, 1, 1, "without BHS"},
		{"FHS|^~\\&|A\rBHS|^~\\&|A\r" M1 "BTS|1\rFTS|1\r", 1, 1, 0, 1, NULL},
		{"BHS|^~\\&|A\r" M1 "BTS|1\rFTS|1\r", 1, 1, 1, 0, "FTS at byte"},
		{"BHS|^~\\&|A\r" M1 "BHS|^~\\&|B\r" M2 "BTS|1\r", 2, 2, 2, 0, "while batch 1"},
		{"BHS|^~\\&|A\rBTS|0\r", 0, 1, 0, 0, NULL},
		{"BHS:^~\\&:A\r" M1 "BTS:1\r", 1, 1, 0, 0, NULL},
		{"// a comment\n/* another */\n" M1, 1, 0, 2, 0, "non-segment text"},
		{"\xEF\xBB\xBF" M1, 1, 0, 0, 0, NULL},
		{"\x0b" M1 "\x1c\r\x0b" M2 "\x1c\r", 2, 0, 0, 0, NULL},
	};
	size_t i;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct art_hl7_split sp;
		char errstr[256];
		size_t k;
		const char *text = cases[i].text;
		int rc = art_hl7_split(text, strlen(text), NULL, &sp, NULL, errstr, sizeof(errstr));
		cr_assert_eq(rc, 0, "case %zu: %s", i, errstr);
		cr_expect_eq(sp.nmsgs, cases[i].nmsgs, "case %zu", i);
		cr_expect_eq(sp.nbatches, cases[i].nbatches, "case %zu", i);
		cr_expect_eq(sp.nwarnings, cases[i].nwarnings, "case %zu: first warning %s", i,
			     sp.nwarnings ? sp.warnings[0] : "-");
		cr_expect_eq(sp.fhs_len != 0, cases[i].fhs, "case %zu", i);
		if (cases[i].warning && sp.nwarnings)
			cr_expect(strstr(sp.warnings[0], cases[i].warning) != NULL, "case %zu: %s",
				  i, sp.warnings[0]);
		for (k = 0; k < sp.nmsgs; k++) {
			struct art_hl7_msg *msg = art_hl7_parse_ex(text + sp.msgs[k].off,
								   sp.msgs[k].len, NULL, k + 1,
								   NULL, errstr, sizeof(errstr));
			cr_expect_not_null(msg, "case %zu msg %zu: %s", i, k, errstr);
			if (msg) {
				cr_expect_eq(memcmp(text + sp.msgs[k].off, "MSH", 3), 0);
				cr_expect_eq(art_hl7_seg_count(msg), 2, "case %zu msg %zu", i, k);
			}
			art_hl7_msg_destroy(msg);
		}
		art_hl7_split_free(&sp);
	}
}

Test(hl7, batch_header_fields_and_counts)
{
	const char *text = "FHS|^~\\&|FAPP|FFAC\rBHS|^~\\&|BAPP|BFAC\r" M1 M2 "BTS|2\rFTS|1\r";
	struct art_hl7_split sp;
	struct art_hl7_span f;
	char errstr[256];
	cr_assert_eq(art_hl7_split(text, strlen(text), NULL, &sp, NULL, errstr, sizeof(errstr)), 0);
	cr_assert_eq(sp.nbatches, 1);
	cr_expect_eq(sp.batches[0].declared, 2);
	cr_expect_eq(sp.batches[0].nmsgs, 2);
	cr_expect_eq(sp.batches[0].first_msg, 0);
	cr_expect_eq(sp.msgs[1].batch, 0);
	cr_expect_eq(sp.fts_declared, 1);
	cr_expect_eq(art_hl7_segment_field(text + sp.fhs_off, sp.fhs_len, 0, 3, &f), 1);
	cr_expect(f.len == 4 && memcmp(f.p, "FAPP", 4) == 0);
	cr_expect_eq(art_hl7_segment_field(text + sp.batches[0].bhs_off, sp.batches[0].bhs_len, 0,
					   4, &f), 1);
	cr_expect(f.len == 4 && memcmp(f.p, "BFAC", 4) == 0);
	cr_expect_eq(art_hl7_segment_field(text + sp.batches[0].bhs_off, sp.batches[0].bhs_len, 0,
					   1, &f), 1);
	cr_expect(f.len == 1 && f.p[0] == '|');
	art_hl7_split_free(&sp);
}

Test(hl7, split_errors)
{
	static const struct {
		const char *text, *needle;
	} cases[] = {
		{"", "no MSH"},
		{"just text\n", "no MSH"},
		{"BHS|^~\\&\rEVN|A04\r" M1, "outside any message"},
		{"PID|1\r" M1, "outside any message"},
		{"FHS|^~\\&\r" M1 "FHS|^~\\&\r" M2, "second FHS"},
	};
	size_t i;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct art_hl7_split sp;
		char errstr[256];
		struct art_hl7_errpos pos;
		int rc = art_hl7_split(cases[i].text, strlen(cases[i].text), NULL, &sp, &pos, errstr,
				       sizeof(errstr));
		cr_expect_eq(rc, -1, "case %zu", i);
		cr_expect(strstr(errstr, cases[i].needle) != NULL, "case %zu: %s", i, errstr);
		cr_expect_eq(sp.nmsgs, 0);
		art_hl7_split_free(&sp);
	}
}

Test(hl7, split_text_after_segments_stays_in_the_message)
{
	const char *text = M1 "String||x\r" M2;
	struct art_hl7_split sp;
	char errstr[256];
	struct art_hl7_msg *msg;
	cr_assert_eq(art_hl7_split(text, strlen(text), NULL, &sp, NULL, errstr, sizeof(errstr)), 0);
	cr_assert_eq(sp.nmsgs, 2);
	cr_expect_eq(sp.msgs[0].len, strlen(M1) + strlen("String||x\r"));
	msg = art_hl7_parse(text + sp.msgs[0].off, sp.msgs[0].len, NULL, errstr, sizeof(errstr));
	cr_expect_null(msg);
	art_hl7_split_free(&sp);
}

Test(hl7, split_message_limit)
{
	const char *text = M1 M2 M1;
	struct art_hl7_split sp;
	struct art_hl7_opts opts = art_hl7_opts_default();
	char errstr[256];
	opts.max_messages = 2;
	cr_expect_eq(art_hl7_split(text, strlen(text), &opts, &sp, NULL, errstr, sizeof(errstr)), -1);
	cr_expect(strstr(errstr, "messages") != NULL, "%s", errstr);
	art_hl7_split_free(&sp);
}

/*
 * cmd_hl7.c — `artery hl7 parse|get|ack|map`: look at HL7 v2 files the way
 * Artery sees them. Files may hold one message, several, or FHS/BHS
 * batches; every message in them is handled in order.
 *
 *   parse  one JSON object per message (--json) or an indented dump of
 *          every non-empty leaf value with the path that reaches it
 *   get    the decoded value at a path, one line per message
 *   ack    the acknowledgement Artery would answer to each message
 *   map    the canonical events each message would produce (no Kafka)
 *
 * Files are read whole (at most ART_HL7CLI_MAX_FILE bytes).
 */
#include "art.h"
#include "avro_codec.h"
#include "buf.h"
#include "canonical.h"
#include "cmd.h"
#include "hl7.h"
#include "hl7_ack.h"
#include "schema.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ART_HL7CLI_MAX_FILE  (256u * 1024u * 1024u)
#define ART_HL7CLI_MAX_VALUE (16u * 1024u * 1024u)

/* One file, read and split into messages. */
struct art_hl7cli_file {
	const char *path;
	char *data;
	size_t len;
	struct art_hl7_split split;
};

/* Reads and splits path. Returns 0, or -1 after printing the reason on
 * stderr. The caller frees with art_hl7cli_file_free() either way. */
static int art_hl7cli_file_load(struct art_hl7cli_file *f, const char *path)
{
	char errstr[512];
	struct art_hl7_errpos pos;
	struct art_hl7_opts opts = art_hl7_opts_default();

	memset(f, 0, sizeof(*f));
	f->path = path;
	f->data = art_read_file(path, ART_HL7CLI_MAX_FILE, &f->len, errstr, sizeof(errstr));
	if (!f->data) {
		fprintf(stderr, "artery hl7: %s\n", errstr);
		return -1;
	}
	opts.max_message_size = ART_HL7CLI_MAX_FILE;
	memset(&pos, 0, sizeof(pos));
	if (art_hl7_split(f->data, f->len, &opts, &f->split, &pos, errstr, sizeof(errstr)) == -1) {
		fprintf(stderr, "artery hl7: %s: byte %zu: %s\n", path, pos.offset, errstr);
		return -1;
	}
	for (size_t i = 0; i < f->split.nwarnings; i++)
		fprintf(stderr, "artery hl7: %s: warning: %s\n", path, f->split.warnings[i]);
	return 0;
}

static void art_hl7cli_file_free(struct art_hl7cli_file *f)
{
	art_hl7_split_free(&f->split);
	free(f->data);
	f->data = NULL;
}

/* Parses message k of f. Returns the message, or NULL after filling
 * errstr with "FILE: byte N: reason", *pos, and *reason (may be NULL)
 * with where the parser's own reason starts in errstr. */
static struct art_hl7_msg *art_hl7cli_parse_one(const struct art_hl7cli_file *f, size_t k,
                                                struct art_hl7_errpos *pos, char *errstr,
                                                size_t errstr_size, const char **reason)
{
	const struct art_hl7_msgspan *ms = &f->split.msgs[k];
	struct art_hl7_opts opts = art_hl7_opts_default();
	struct art_hl7_msg *msg;
	char perr[512];

	opts.max_message_size = ART_HL7CLI_MAX_FILE;
	memset(pos, 0, sizeof(*pos));
	msg = art_hl7_parse_ex(f->data + ms->off, ms->len, &opts, k + 1, pos, perr, sizeof(perr));
	if (!msg) {
		int n =
		    snprintf(errstr, errstr_size, "%s: byte %zu: ", f->path, ms->off + pos->offset);

		snprintf(errstr + (n > 0 && (size_t)n < errstr_size ? n : 0),
		         errstr_size - (n > 0 && (size_t)n < errstr_size ? (size_t)n : 0), "%s",
		         perr);
		if (reason)
			*reason = errstr + (n > 0 && (size_t)n < errstr_size ? n : 0);
	}
	return msg;
}

/* ---- parse ----------------------------------------------------------------- */

/* Occurrence bookkeeping: how many times each segment id appears. */
struct art_hl7cli_occ {
	char id[4];
	size_t total; /* in the whole message */
	size_t seen;  /* so far while walking */
};

/* Fills occ (caller frees) for msg; returns the number of distinct ids. */
static size_t art_hl7cli_count_ids(const struct art_hl7_msg *msg, struct art_hl7cli_occ **occp)
{
	size_t n = art_hl7_seg_count(msg), nocc = 0;
	struct art_hl7cli_occ *occ = calloc(n ? n : 1, sizeof(*occ));

	if (!occ) {
		*occp = NULL;
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		const char *id = art_hl7_seg_id(msg, i);
		size_t j;

		for (j = 0; j < nocc; j++)
			if (!strcmp(occ[j].id, id))
				break;
		if (j == nocc) {
			snprintf(occ[j].id, sizeof(occ[j].id), "%s", id);
			nocc++;
		}
		occ[j].total++;
	}
	*occp = occ;
	return nocc;
}

static struct art_hl7cli_occ *art_hl7cli_occ_find(struct art_hl7cli_occ *occ, size_t nocc,
                                                  const char *id)
{
	for (size_t j = 0; j < nocc; j++)
		if (!strcmp(occ[j].id, id))
			return &occ[j];
	return NULL;
}

/* Decodes raw into v (reset first). Returns 0 or -1 with errstr. */
static int art_hl7cli_decode(const struct art_hl7_msg *msg, const struct art_hl7_span *raw,
                             struct art_buf *v, char *errstr, size_t errstr_size)
{
	art_buf_reset(v);
	if (art_hl7_decode(msg, raw, v, NULL, errstr, errstr_size) == -1)
		return -1;
	if (!v->p && art_buf_append(v, "", 0) == -1) {
		snprintf(errstr, errstr_size, "out of memory");
		return -1;
	}
	return 0;
}

/* A leaf value as a JSON string (decoded). */
static json_t *art_hl7cli_json_leaf(const struct art_hl7_msg *msg, const struct art_hl7_span *raw,
                                    struct art_buf *v, char *errstr, size_t errstr_size)
{
	json_t *s;

	if (art_hl7cli_decode(msg, raw, v, errstr, errstr_size) == -1)
		return NULL;
	s = json_stringn(v->p, v->len);
	if (!s)
		snprintf(errstr, errstr_size, "value is not valid UTF-8 after decoding");
	return s;
}

/* One repetition: a string, or an array of components (each a string or
 * an array of subcomponents). */
static json_t *art_hl7cli_json_rep(const struct art_hl7_msg *msg, const struct art_hl7_span *rep,
                                   struct art_buf *v, char *errstr, size_t errstr_size)
{
	const struct art_hl7_delims *d = &art_hl7_header(msg)->delims;
	size_t ncomp = art_hl7_span_count(rep, d->comp);
	json_t *arr;

	if (ncomp <= 1 && art_hl7_span_count(rep, d->sub) <= 1)
		return art_hl7cli_json_leaf(msg, rep, v, errstr, errstr_size);
	arr = json_array();
	for (size_t c = 1; c <= ncomp; c++) {
		struct art_hl7_span comp, sub;
		size_t nsub;
		json_t *jc;

		art_hl7_span_piece(rep, d->comp, c, &comp);
		nsub = art_hl7_span_count(&comp, d->sub);
		if (nsub <= 1) {
			jc = art_hl7cli_json_leaf(msg, &comp, v, errstr, errstr_size);
		} else {
			jc = json_array();
			for (size_t s = 1; s <= nsub && jc; s++) {
				json_t *js;

				art_hl7_span_piece(&comp, d->sub, s, &sub);
				js = art_hl7cli_json_leaf(msg, &sub, v, errstr, errstr_size);
				if (!js) {
					json_decref(jc);
					jc = NULL;
				} else {
					json_array_append_new(jc, js);
				}
			}
		}
		if (!jc) {
			json_decref(arr);
			return NULL;
		}
		json_array_append_new(arr, jc);
	}
	return arr;
}

/* One field: a repetition value, or {"rep": [...]} when repeated. */
static json_t *art_hl7cli_json_field(const struct art_hl7_msg *msg, int is_msh, size_t field,
                                     const struct art_hl7_span *raw, struct art_buf *v,
                                     char *errstr, size_t errstr_size)
{
	const struct art_hl7_delims *d = &art_hl7_header(msg)->delims;
	size_t nrep;
	json_t *arr, *obj;

	if (is_msh && field <= 2)
		return json_stringn(raw->p ? raw->p : "", raw->len);
	nrep = art_hl7_span_count(raw, d->rep);
	if (nrep <= 1)
		return art_hl7cli_json_rep(msg, raw, v, errstr, errstr_size);
	arr = json_array();
	for (size_t r = 1; r <= nrep; r++) {
		struct art_hl7_span rep;
		json_t *jr;

		art_hl7_span_piece(raw, d->rep, r, &rep);
		jr = art_hl7cli_json_rep(msg, &rep, v, errstr, errstr_size);
		if (!jr) {
			json_decref(arr);
			return NULL;
		}
		json_array_append_new(arr, jr);
	}
	obj = json_object();
	json_object_set_new(obj, "rep", arr);
	return obj;
}

static json_t *art_hl7cli_json_span(const struct art_hl7_span *s)
{
	json_t *j = json_stringn(s->p ? s->p : "", s->len);

	return j ? j : json_string("");
}

/* The whole message as JSON; NULL with errstr on a decoding failure. */
static json_t *art_hl7cli_json_msg(const struct art_hl7_msg *msg, char *errstr, size_t errstr_size)
{
	const struct art_hl7_header *h = art_hl7_header(msg);
	json_t *root = json_object(), *segs = json_array(), *warn = json_array();
	struct art_buf v;
	char type[64];

	art_buf_init(&v, ART_HL7CLI_MAX_VALUE);
	snprintf(type, sizeof(type), "%.*s%s%.*s", (int)ART_MIN(h->msg_type.len, 20),
	         h->msg_type.p ? h->msg_type.p : "", h->trigger.len ? "^" : "",
	         (int)ART_MIN(h->trigger.len, 20), h->trigger.p ? h->trigger.p : "");
	json_object_set_new(root, "type", json_string(type));
	json_object_set_new(root, "control_id", art_hl7cli_json_span(&h->control_id));
	json_object_set_new(root, "version", art_hl7cli_json_span(&h->version));
	for (size_t i = 0; i < art_hl7_seg_count(msg); i++) {
		json_t *seg = json_object(), *fields = json_array();
		int is_msh = !strcmp(art_hl7_seg_id(msg, i), "MSH");

		json_object_set_new(seg, "id", json_string(art_hl7_seg_id(msg, i)));
		for (size_t f = 1; f <= art_hl7_field_count(msg, i); f++) {
			struct art_hl7_span raw = {"", 0};
			json_t *jf;

			if (!art_hl7_field(msg, i, f, &raw))
				raw.len = 0;
			jf = art_hl7cli_json_field(msg, is_msh, f, &raw, &v, errstr, errstr_size);
			if (!jf) {
				json_decref(fields);
				json_decref(seg);
				json_decref(segs);
				json_decref(warn);
				json_decref(root);
				art_buf_free(&v);
				return NULL;
			}
			json_array_append_new(fields, jf);
		}
		json_object_set_new(seg, "fields", fields);
		json_array_append_new(segs, seg);
	}
	json_object_set_new(root, "segments", segs);
	for (size_t i = 0; i < art_hl7_warning_count(msg); i++)
		json_array_append_new(warn, json_string(art_hl7_warning(msg, i)));
	json_object_set_new(root, "warnings", warn);
	art_buf_free(&v);
	return root;
}

/* Prints one "  PATH  value" line per non-empty leaf of field f of
 * segment i. Returns 0 or -1 with errstr. */
static int art_hl7cli_dump_field(const struct art_hl7_msg *msg, size_t i, const char *segpath,
                                 size_t f, struct art_buf *v, char *errstr, size_t errstr_size)
{
	const struct art_hl7_delims *d = &art_hl7_header(msg)->delims;
	struct art_hl7_span raw, rep, comp, sub;
	size_t nrep, ncomp, nsub;
	char path[64];

	if (!art_hl7_field(msg, i, f, &raw) || raw.len == 0)
		return 0;
	if (!strcmp(art_hl7_seg_id(msg, i), "MSH") && f <= 2) {
		printf("  %s-%-12zu %.*s\n", segpath, f, (int)raw.len, raw.p);
		return 0;
	}
	nrep = art_hl7_span_count(&raw, d->rep);
	for (size_t r = 1; r <= nrep; r++) {
		art_hl7_span_piece(&raw, d->rep, r, &rep);
		ncomp = art_hl7_span_count(&rep, d->comp);
		for (size_t c = 1; c <= ncomp; c++) {
			art_hl7_span_piece(&rep, d->comp, c, &comp);
			nsub = art_hl7_span_count(&comp, d->sub);
			for (size_t s = 1; s <= nsub; s++) {
				struct art_buf p;

				art_hl7_span_piece(&comp, d->sub, s, &sub);
				if (sub.len == 0)
					continue;
				if (art_hl7cli_decode(msg, &sub, v, errstr, errstr_size) == -1)
					return -1;
				art_buf_init(&p, sizeof(path) - 1);
				art_buf_printf(&p, "%s-%zu", segpath, f);
				if (nrep > 1)
					art_buf_printf(&p, "[%zu]", r);
				if (ncomp > 1 || nsub > 1)
					art_buf_printf(&p, ".%zu", c);
				if (nsub > 1)
					art_buf_printf(&p, ".%zu", s);
				snprintf(path, sizeof(path), "%s", p.p ? p.p : "?");
				art_buf_free(&p);
				printf("  %-16s %s\n", path, v->p);
			}
		}
	}
	return 0;
}

/* The readable dump of one message. Returns 0 or -1 with errstr. */
static int art_hl7cli_dump_msg(const struct art_hl7_msg *msg, const char *file, size_t k,
                               char *errstr, size_t errstr_size)
{
	const struct art_hl7_header *h = art_hl7_header(msg);
	struct art_hl7cli_occ *occ = NULL;
	size_t nocc = art_hl7cli_count_ids(msg, &occ);
	struct art_buf v;
	int rc = 0;

	if (!occ) {
		snprintf(errstr, errstr_size, "out of memory");
		return -1;
	}
	art_buf_init(&v, ART_HL7CLI_MAX_VALUE);
	printf("%s message %zu: %.*s^%.*s, control id %.*s, version %.*s, %zu segments\n", file,
	       k + 1, (int)h->msg_type.len, h->msg_type.p ? h->msg_type.p : "", (int)h->trigger.len,
	       h->trigger.p ? h->trigger.p : "", (int)h->control_id.len,
	       h->control_id.p ? h->control_id.p : "", (int)h->version.len,
	       h->version.p ? h->version.p : "", art_hl7_seg_count(msg));
	for (size_t i = 0; i < art_hl7_seg_count(msg) && rc == 0; i++) {
		const char *id = art_hl7_seg_id(msg, i);
		struct art_hl7cli_occ *o = art_hl7cli_occ_find(occ, nocc, id);
		char segpath[16];

		o->seen++;
		if (o->total > 1)
			snprintf(segpath, sizeof(segpath), "%s[%zu]", id, o->seen);
		else
			snprintf(segpath, sizeof(segpath), "%s", id);
		printf("%s\n", segpath);
		for (size_t f = 1; f <= art_hl7_field_count(msg, i) && rc == 0; f++)
			rc = art_hl7cli_dump_field(msg, i, segpath, f, &v, errstr, errstr_size);
	}
	for (size_t i = 0; i < art_hl7_warning_count(msg); i++)
		printf("warning: %s\n", art_hl7_warning(msg, i));
	art_buf_free(&v);
	free(occ);
	return rc;
}

static void art_hl7cli_usage_parse(FILE *fp)
{
	fprintf(fp,
	        "usage: artery hl7 parse [--json] FILE...\n\n"
	        "Parses every message in each FILE (one message, several, or FHS/BHS batches).\n"
	        "Without --json: an indented dump, one line per non-empty decoded value with\n"
	        "the path that `artery hl7 get` accepts (PID-5.1, OBX[2]-5, PID-3[2].4).\n"
	        "With --json: one JSON object per message per line:\n"
	        "  {\"file\",\"message\" (1-based),\"ok\",\"type\",\"control_id\",\"version\",\n"
	        "   \"segments\":[{\"id\",\"fields\":[...]}],\"warnings\"}\n"
	        "  fields[0] is field 1; a field is a string, an array of components (a\n"
	        "  component with subcomponents is an array), or {\"rep\":[...]} when repeated;\n"
	        "  values are decoded (escapes resolved, charset converted to UTF-8).\n"
	        "  A message that fails: {\"file\",\"message\",\"ok\":false,\"error\"}.\n\n"
	        "Exit status: 0 all messages parsed, 1 a file or message failed, 2 usage.\n");
}

static int art_hl7cli_parse(int argc, char **argv)
{
	static const struct option lopts[] = {
	    {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
	int json = 0, opt, failed = 0;

	optind = 1;
	for (;;) {
		opt = getopt_long(argc, argv, "jh", lopts, NULL);
		if (opt == -1)
			break;
		switch (opt) {
		case 'j':
			json = 1;
			break;
		case 'h':
			art_hl7cli_usage_parse(stdout);
			return 0;
		default:
			art_hl7cli_usage_parse(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		art_hl7cli_usage_parse(stderr);
		return 2;
	}
	for (int a = optind; a < argc; a++) {
		struct art_hl7cli_file f;

		if (art_hl7cli_file_load(&f, argv[a]) == -1) {
			if (json) {
				json_t *o = json_pack("{s:s, s:b, s:s}", "file", argv[a], "ok", 0,
				                      "error", "cannot read or split file");

				if (o) {
					char *s = json_dumps(o, JSON_COMPACT);

					printf("%s\n", s ? s : "{}");
					free(s);
					json_decref(o);
				}
			}
			art_hl7cli_file_free(&f);
			failed = 1;
			continue;
		}
		for (size_t k = 0; k < f.split.nmsgs; k++) {
			struct art_hl7_errpos pos;
			char errstr[1024];
			struct art_hl7_msg *msg;
			json_t *o = NULL;
			int ok;

			msg = art_hl7cli_parse_one(&f, k, &pos, errstr, sizeof(errstr), NULL);
			ok = msg != NULL;
			if (json) {
				if (msg)
					o = art_hl7cli_json_msg(msg, errstr, sizeof(errstr));
				if (!o) {
					ok = 0;
					o = json_object();
					json_object_set_new(o, "error", json_string(errstr));
				}
				json_object_set_new(o, "file", json_string(argv[a]));
				json_object_set_new(o, "message", json_integer((json_int_t)k + 1));
				json_object_set_new(o, "ok", json_boolean(ok));
				char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);

				printf("%s\n", s ? s : "{}");
				free(s);
				json_decref(o);
			} else if (msg) {
				if (k > 0)
					printf("\n");
				if (art_hl7cli_dump_msg(msg, argv[a], k, errstr, sizeof(errstr)) ==
				    -1) {
					fprintf(stderr, "artery hl7: %s: message %zu: %s\n",
					        argv[a], k + 1, errstr);
					ok = 0;
				}
			} else {
				fprintf(stderr, "artery hl7: %s\n", errstr);
			}
			if (!ok)
				failed = 1;
			art_hl7_msg_destroy(msg);
		}
		art_hl7cli_file_free(&f);
	}
	fflush(stdout);
	return failed ? 1 : 0;
}

/* ---- get ------------------------------------------------------------------- */

static void art_hl7cli_usage_get(FILE *fp)
{
	fprintf(fp, "usage: artery hl7 get FILE PATH\n\n"
	            "Prints the decoded value at PATH for every message in FILE, one line per\n"
	            "message (a batch file gives several lines). PATH: SEG[n]-F[r].C.S, e.g.\n"
	            "PID-5.1, PID-3[2].4, OBX[3]-5, MSH-9.2; levels left out mean the first one.\n"
	            "An absent or empty value prints an empty line; the HL7 explicit null \"\"\n"
	            "prints as \"\" (two double quotes). A line break inside a value (\\.br\\)\n"
	            "prints as the two characters \\n, keeping one line per message.\n"
	            "A message that fails to parse prints an empty line and an error on stderr.\n\n"
	            "Exit status: 0 every message parsed, 1 a message or the file failed,\n"
	            "2 usage or a bad PATH.\n");
}

static int art_hl7cli_get(int argc, char **argv)
{
	struct art_hl7cli_file f;
	struct art_buf v;
	int failed = 0;

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		art_hl7cli_usage_get(stdout);
		return 0;
	}
	if (argc != 3) {
		art_hl7cli_usage_get(stderr);
		return 2;
	}
	if (art_hl7cli_file_load(&f, argv[1]) == -1) {
		art_hl7cli_file_free(&f);
		return 1;
	}
	art_buf_init(&v, ART_HL7CLI_MAX_VALUE);
	for (size_t k = 0; k < f.split.nmsgs; k++) {
		struct art_hl7_errpos pos;
		char errstr[1024];
		struct art_hl7_msg *msg =
		    art_hl7cli_parse_one(&f, k, &pos, errstr, sizeof(errstr), NULL);
		enum art_hl7_val r;

		if (!msg) {
			fprintf(stderr, "artery hl7: %s\n", errstr);
			printf("\n");
			failed = 1;
			continue;
		}
		r = art_hl7_get(msg, argv[2], &v, NULL, errstr, sizeof(errstr));
		art_hl7_msg_destroy(msg);
		if (r == ART_HL7_ERROR) {
			fprintf(stderr, "artery hl7: %s: message %zu: %s\n", argv[1], k + 1,
			        errstr);
			art_buf_free(&v);
			art_hl7cli_file_free(&f);
			return 2;
		}
		if (r == ART_HL7_NULL) {
			printf("\"\"\n");
			continue;
		}
		if (r == ART_HL7_VALUE) {
			for (size_t i = 0; i < v.len; i++) {
				if (v.p[i] == '\n')
					fputs("\\n", stdout);
				else if (v.p[i] != '\r')
					putchar(v.p[i]);
			}
		}
		printf("\n");
	}
	art_buf_free(&v);
	art_hl7cli_file_free(&f);
	fflush(stdout);
	return failed ? 1 : 0;
}

/* ---- ack ------------------------------------------------------------------- */

static void art_hl7cli_usage_ack(FILE *fp)
{
	fprintf(fp,
	        "usage: artery hl7 ack [--code AA|AE|AR] [--mode original|enhanced|auto]\n"
	        "                      [--text TEXT] [--err-code N] [--control-id ID]\n"
	        "                      [--timestamp TS] [--raw] FILE\n\n"
	        "Prints the acknowledgement Artery would send for every message in FILE.\n"
	        "Default code: AA when the message parses, AR with error 102 and the parse\n"
	        "error as text when it does not. --code takes AA/AE/AR (or CA/CE/CR, or\n"
	        "accept/error/reject); in enhanced mode they become CA/CE/CR. --mode auto\n"
	        "(default) answers in enhanced mode when MSH-15 or MSH-16 is non-empty.\n"
	        "--control-id and --timestamp fix MSH-10 and MSH-7 (default: generated, now).\n"
	        "Segments are printed one per line, ACKs separated by a blank line; --raw\n"
	        "writes the ACKs exactly as sent (CR after each segment, no MLLP framing).\n\n"
	        "Exit status: 0 ACKs printed, 1 the file could not be read or split, 2 usage.\n");
}

/* Occurrence number of the segment line holding byte `off` of buf whose id
 * is id (1 when not found). */
static int art_hl7cli_seg_occurrence(const char *buf, size_t len, size_t off, const char *id)
{
	int n = 0;
	size_t i = 0;

	while (i < len && i <= off) {
		size_t e = i;

		while (e < len && buf[e] != '\r' && buf[e] != '\n')
			e++;
		if (e - i >= 3 && !memcmp(buf + i, id, 3))
			n++;
		i = e + 1;
	}
	return n > 0 ? n : 1;
}

/* 1 if id is a real segment id (3 upper-case letters or digits). */
static int art_hl7cli_seg_id_ok(const char *id)
{
	for (int i = 0; i < 3; i++)
		if (!((id[i] >= 'A' && id[i] <= 'Z') || (id[i] >= '0' && id[i] <= '9')))
			return 0;
	return id[3] == '\0';
}

static int art_hl7cli_ack(int argc, char **argv)
{
	static const struct option lopts[] = {{"code", required_argument, NULL, 'c'},
	                                      {"mode", required_argument, NULL, 'm'},
	                                      {"text", required_argument, NULL, 't'},
	                                      {"err-code", required_argument, NULL, 'e'},
	                                      {"control-id", required_argument, NULL, 'i'},
	                                      {"timestamp", required_argument, NULL, 's'},
	                                      {"raw", no_argument, NULL, 'r'},
	                                      {"help", no_argument, NULL, 'h'},
	                                      {0, 0, 0, 0}};
	struct art_hl7_ack_opts base;
	struct art_hl7cli_file f;
	int opt, raw = 0, code_set = 0, failed = 0;
	long long n;
	struct art_buf out;

	memset(&base, 0, sizeof(base));
	optind = 1;
	for (;;) {
		opt = getopt_long(argc, argv, "c:m:t:e:i:s:rh", lopts, NULL);
		if (opt == -1)
			break;
		switch (opt) {
		case 'c':
			code_set = 1;
			if (!strcasecmp(optarg, "AA") || !strcasecmp(optarg, "CA") ||
			    !strcasecmp(optarg, "accept"))
				base.code = ART_ACK_ACCEPT;
			else if (!strcasecmp(optarg, "AE") || !strcasecmp(optarg, "CE") ||
			         !strcasecmp(optarg, "error"))
				base.code = ART_ACK_ERROR;
			else if (!strcasecmp(optarg, "AR") || !strcasecmp(optarg, "CR") ||
			         !strcasecmp(optarg, "reject"))
				base.code = ART_ACK_REJECT;
			else {
				fprintf(stderr, "artery hl7 ack: bad --code '%s'\n", optarg);
				return 2;
			}
			break;
		case 'm':
			if (!strcmp(optarg, "auto"))
				base.mode = ART_ACK_AUTO;
			else if (!strcmp(optarg, "original"))
				base.mode = ART_ACK_ORIGINAL;
			else if (!strcmp(optarg, "enhanced"))
				base.mode = ART_ACK_ENHANCED;
			else {
				fprintf(stderr, "artery hl7 ack: bad --mode '%s'\n", optarg);
				return 2;
			}
			break;
		case 't':
			base.text = optarg;
			break;
		case 'e':
			if (art_parse_int(optarg, 0, 999, &n) == -1) {
				fprintf(stderr, "artery hl7 ack: bad --err-code '%s'\n", optarg);
				return 2;
			}
			base.err_code = (int)n;
			break;
		case 'i':
			base.control_id = optarg;
			break;
		case 's':
			base.timestamp = optarg;
			break;
		case 'r':
			raw = 1;
			break;
		case 'h':
			art_hl7cli_usage_ack(stdout);
			return 0;
		default:
			art_hl7cli_usage_ack(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		art_hl7cli_usage_ack(stderr);
		return 2;
	}
	if (art_hl7cli_file_load(&f, argv[optind]) == -1) {
		art_hl7cli_file_free(&f);
		return 1;
	}
	art_buf_init(&out, 1u << 20);
	for (size_t k = 0; k < f.split.nmsgs; k++) {
		const struct art_hl7_msgspan *ms = &f.split.msgs[k];
		struct art_hl7_ack_opts o = base;
		struct art_hl7_errpos pos;
		char errstr[1024], perr[1024];
		const char *reason = perr;
		struct art_hl7_msg *msg =
		    art_hl7cli_parse_one(&f, k, &pos, perr, sizeof(perr), &reason);
		int rc;

		if (!msg) {
			if (!code_set) {
				o.code = ART_ACK_REJECT;
				if (!o.err_code)
					o.err_code = ART_ACK_ERR_DATA_TYPE;
				if (!o.text)
					o.text = reason;
			}
			if (art_hl7cli_seg_id_ok(pos.seg_id)) {
				o.err_segment = pos.seg_id;
				o.err_seq = art_hl7cli_seg_occurrence(f.data + ms->off, ms->len,
				                                      pos.offset, pos.seg_id);
				o.err_field = (int)pos.field;
			}
		}
		art_buf_reset(&out);
		if (msg)
			rc = art_hl7_ack_build(msg, &o, &out, errstr, sizeof(errstr));
		else
			rc = art_hl7_ack_build_raw(f.data + ms->off, ms->len, &o, &out, errstr,
			                           sizeof(errstr));
		art_hl7_msg_destroy(msg);
		if (rc == -1) {
			fprintf(stderr, "artery hl7 ack: %s: message %zu: %s\n", argv[optind],
			        k + 1, errstr);
			failed = 1;
			continue;
		}
		if (raw) {
			fwrite(out.p, 1, out.len, stdout);
			continue;
		}
		if (k > 0)
			printf("\n");
		for (size_t i = 0; i < out.len; i++)
			putchar(out.p[i] == '\r' ? '\n' : out.p[i]);
	}
	art_buf_free(&out);
	art_hl7cli_file_free(&f);
	fflush(stdout);
	return failed ? 1 : 0;
}

/* ---- map ------------------------------------------------------------------- */

static void art_hl7cli_usage_map(FILE *fp)
{
	fprintf(fp,
	        "usage: artery hl7 map [--json] [--schemas DIR] FILE...\n\n"
	        "Prints the canonical events each message would produce in artery-mllp-in,\n"
	        "without Kafka: the same parse, mapping and Avro encoding, then the encoded\n"
	        "record decoded back for display.\n"
	        "Without --json: per message a line \"FILE#N TYPE: STATUS\" and each event as\n"
	        "indented JSON. With --json: one JSON object per event per line:\n"
	        "  {\"file\",\"message\",\"status\":\"mapped\",\"topic\",\"schema\" (subject:version),\n"
	        "   \"event_type\",\"event_id\",\"key\",\"idempotency_key\",\"value\"}\n"
	        "  and one object {\"file\",\"message\",\"status\",\"error\"} per message that\n"
	        "  maps to nothing (unsupported, unmappable, unparseable).\n\n"
	        "  --schemas DIR   schema registry directory (default $ARTERY_SCHEMAS_DIR,\n"
	        "                  else ./schemas, else the source tree's schemas/)\n\n"
	        "Exit status: 0 every message mapped or is of a type Artery keeps raw only\n"
	        "(unsupported), 1 a message did not parse or could not be mapped, 2 usage.\n");
}

/* Prints one line of JSON (compact, keys in insertion order). */
static void art_hl7cli_print_json(json_t *o, int indent)
{
	char *s = json_dumps(o, indent ? JSON_INDENT(2) | JSON_PRESERVE_ORDER
	                                : JSON_COMPACT | JSON_PRESERVE_ORDER);

	printf("%s\n", s ? s : "{}");
	free(s);
}

/* Maps message k of f and prints its events. Returns 0 when it mapped or
 * is unsupported, -1 otherwise. */
static int art_hl7cli_map_one(struct art_canon_mapper *mapper,
                              const struct art_schema_registry *reg,
                              const struct art_hl7cli_file *f, size_t k, int json)
{
	struct art_canon_result res;
	struct art_canon_ctx ctx;
	struct art_hl7_errpos pos;
	enum art_canon_status st = ART_CANON_ERROR;
	char errstr[1024], hash[65], type[64] = "";
	struct art_hl7_msg *msg;
	const char *status;
	int rc = 0;

	memset(&res, 0, sizeof(res));
	msg = art_hl7cli_parse_one(f, k, &pos, errstr, sizeof(errstr), NULL);
	if (msg) {
		const struct art_hl7_header *h = art_hl7_header(msg);
		snprintf(type, sizeof(type), "%.*s^%.*s", (int)ART_MIN(h->msg_type.len, 20),
		         h->msg_type.p, (int)ART_MIN(h->trigger.len, 20), h->trigger.p);
		memset(&ctx, 0, sizeof(ctx));
		memset(hash, '0', 64);
		hash[64] = '\0';
		ctx.reg = reg;
		ctx.channel = "artery-hl7-map";
		ctx.received_at_us = art_now_us();
		ctx.raw_topic = "raw.hl7v2";
		ctx.raw_hash = hash;
		st = art_canon_map_with(mapper, msg, &ctx, &res, errstr, sizeof(errstr));
	}
	status = msg ? art_canon_status_name(st) : "unparseable";
	if (!json)
		printf("%s#%zu %s: %s%s%s\n", f->path, k + 1, type[0] ? type : "?", status,
		       msg && st == ART_CANON_MAPPED ? "" : ": ",
		       msg && st == ART_CANON_MAPPED ? "" : errstr);
	if (msg && st == ART_CANON_MAPPED) {
		for (size_t e = 0; e < res.cnt; e++) {
			const struct art_canon_event *ev = &res.events[e];
			json_t *value = NULL, *o;
			char schema[128], derr[256];

			if (art_avro_decode_json(reg, ev->value, ev->value_len, &value, NULL, derr,
			                         sizeof(derr)) == -1) {
				fprintf(stderr, "artery hl7 map: %s#%zu: %s\n", f->path, k + 1, derr);
				rc = -1;
				continue;
			}
			snprintf(schema, sizeof(schema), "%s:%d", ev->schema->subject,
			         ev->schema->version);
			o = json_object();
			if (json) {
				json_object_set_new(o, "file", json_string(f->path));
				json_object_set_new(o, "message", json_integer((json_int_t)k + 1));
				json_object_set_new(o, "status", json_string(status));
			}
			json_object_set_new(o, "topic", json_string(ev->topic));
			json_object_set_new(o, "schema", json_string(schema));
			json_object_set_new(o, "event_type", json_string(ev->event_type));
			json_object_set_new(o, "event_id", json_string(ev->event_id));
			json_object_set_new(o, "key", json_string(res.key ? res.key : ""));
			json_object_set_new(o, "idempotency_key", json_string(res.idempotency_key));
			json_object_set_new(o, "value", value);
			art_hl7cli_print_json(o, !json);
			json_decref(o);
		}
	} else {
		if (json) {
			json_t *o = json_object();
			json_object_set_new(o, "file", json_string(f->path));
			json_object_set_new(o, "message", json_integer((json_int_t)k + 1));
			json_object_set_new(o, "status", json_string(status));
			json_object_set_new(o, "error", json_string(errstr));
			art_hl7cli_print_json(o, 0);
			json_decref(o);
		}
		if (!msg || st != ART_CANON_UNSUPPORTED)
			rc = -1;
	}
	art_canon_result_free(&res);
	art_hl7_msg_destroy(msg);
	return rc;
}

static int art_hl7cli_map(int argc, char **argv)
{
	static const struct option lopts[] = {{"json", no_argument, NULL, 'j'},
	                                      {"schemas", required_argument, NULL, 's'},
	                                      {"help", no_argument, NULL, 'h'},
	                                      {0, 0, 0, 0}};
	const char *schemas = NULL;
	struct art_schema_registry *reg;
	struct art_canon_mapper *mapper;
	int json = 0, opt, failed = 0;
	char errstr[512];

	optind = 1;
	for (;;) {
		opt = getopt_long(argc, argv, "jh", lopts, NULL);
		if (opt == -1)
			break;
		switch (opt) {
		case 'j':
			json = 1;
			break;
		case 's':
			schemas = optarg;
			break;
		case 'h':
			art_hl7cli_usage_map(stdout);
			return 0;
		default:
			art_hl7cli_usage_map(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		art_hl7cli_usage_map(stderr);
		return 2;
	}
	reg = art_schema_registry_load(schemas, errstr, sizeof(errstr));
	if (!reg) {
		fprintf(stderr, "artery hl7 map: %s\n", errstr);
		return 2;
	}
	mapper = art_canon_mapper_new(reg);
	if (!mapper) {
		fprintf(stderr, "artery hl7 map: out of memory\n");
		art_schema_registry_destroy(reg);
		return 2;
	}
	for (int a = optind; a < argc; a++) {
		struct art_hl7cli_file f;

		if (art_hl7cli_file_load(&f, argv[a]) == -1) {
			failed = 1;
		} else {
			for (size_t k = 0; k < f.split.nmsgs; k++)
				if (art_hl7cli_map_one(mapper, reg, &f, k, json) == -1)
					failed = 1;
		}
		art_hl7cli_file_free(&f);
	}
	fflush(stdout);
	art_canon_mapper_destroy(mapper);
	art_schema_registry_destroy(reg);
	return failed ? 1 : 0;
}

/* ---- dispatch -------------------------------------------------------------- */

static void art_hl7cli_usage(FILE *fp)
{
	fprintf(fp, "usage: artery hl7 <parse|get|ack|map> [options] ...\n\n"
	            "  parse [--json] FILE...     parse messages, dump or print JSON\n"
	            "  get FILE PATH              decoded value at PATH, one line per message\n"
	            "  ack [options] FILE         the ACK Artery would send\n"
	            "  map [--json] FILE...       the canonical events each message produces\n\n"
	            "Run `artery hl7 <subcommand> --help` for details.\n");
}

int art_cmd_hl7(int argc, char **argv)
{
	if (argc < 2) {
		art_hl7cli_usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		art_hl7cli_usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "parse"))
		return art_hl7cli_parse(argc - 1, argv + 1);
	if (!strcmp(argv[1], "get"))
		return art_hl7cli_get(argc - 1, argv + 1);
	if (!strcmp(argv[1], "ack"))
		return art_hl7cli_ack(argc - 1, argv + 1);
	if (!strcmp(argv[1], "map"))
		return art_hl7cli_map(argc - 1, argv + 1);
	fprintf(stderr, "artery hl7: unknown subcommand '%s'\n\n", argv[1]);
	art_hl7cli_usage(stderr);
	return 2;
}

/*
 * hl7_ack.c — building and reading HL7 v2 acknowledgements.
 *
 * The builder writes into a scratch art_buf and appends it to the caller's
 * buffer only when complete, so a failure leaves the caller's buffer as it
 * was. Echoed values are copied raw from the received message: they were
 * escaped for the very delimiters the ACK uses, so copying keeps them valid
 * and loses nothing. Caller text goes through art_hl7_ack_escape().
 */
#include "hl7_ack.h"

#include "art.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define ART_ACK_MAX_SIZE (64u * 1024u) /* one ACK never needs more */
#define ART_HL7_ACK_SB   0x0B          /* an MLLP start block left in front */

static const struct art_hl7_delims art_ack_default_delims = {
    .field = '|', .comp = '^', .rep = '~', .esc = '\\', .sub = '&', .trunc = 0};

/* What the ACK echoes from the received message: from a parsed message's
 * header, or read raw from an MSH line that did not parse as a message. */
struct art_ack_src {
	struct art_hl7_delims delims;
	struct art_hl7_span enc;           /* MSH-2 as received */
	struct art_hl7_span sending_app;   /* MSH-3 */
	struct art_hl7_span sending_fac;   /* MSH-4 */
	struct art_hl7_span receiving_app; /* MSH-5 */
	struct art_hl7_span receiving_fac; /* MSH-6 */
	struct art_hl7_span trigger;       /* MSH-9.2 */
	struct art_hl7_span control_id;    /* MSH-10 */
	struct art_hl7_span processing;    /* MSH-11.1 */
	struct art_hl7_span version;       /* MSH-12.1 */
	struct art_hl7_span accept_ack;    /* MSH-15 */
	struct art_hl7_span app_ack;       /* MSH-16 */
	struct art_hl7_span charset;       /* MSH-18, first repetition */
};

static const struct {
	int code;
	const char *text;
} art_ack_errs[] = {
    {0, "Message accepted"},
    {100, "Segment sequence error"},
    {101, "Required field missing"},
    {102, "Data type error"},
    {103, "Table value not found"},
    {200, "Unsupported message type"},
    {201, "Unsupported event code"},
    {202, "Unsupported processing id"},
    {203, "Unsupported version id"},
    {204, "Unknown key identifier"},
    {205, "Duplicate key identifier"},
    {206, "Application record locked"},
    {207, "Application internal error"},
};

const char *art_hl7_ack_err_text(int err_code)
{
	for (size_t i = 0; i < ART_ARRAY_SIZE(art_ack_errs); i++)
		if (art_ack_errs[i].code == err_code)
			return art_ack_errs[i].text;
	return "Unknown error";
}

const char *art_hl7_ack_code_str(enum art_hl7_ack_code code, enum art_hl7_ack_mode mode)
{
	static const char *const orig[] = {"AA", "AE", "AR"};
	static const char *const enh[] = {"CA", "CE", "CR"};

	if ((unsigned)code > ART_ACK_REJECT)
		code = ART_ACK_REJECT;
	return mode == ART_ACK_ENHANCED ? enh[code] : orig[code];
}

/* Trims blanks around a span (an MSH-15 of " " is empty). */
static struct art_hl7_span art_ack_trim(struct art_hl7_span s)
{
	while (s.len && (s.p[0] == ' ' || s.p[0] == '\t')) {
		s.p++;
		s.len--;
	}
	while (s.len && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t'))
		s.len--;
	return s;
}

static int art_ack_span_is(struct art_hl7_span s, const char *lit)
{
	s = art_ack_trim(s);
	return s.len == strlen(lit) && strncasecmp(s.p, lit, s.len) == 0;
}

int art_hl7_ack_is_enhanced(const struct art_hl7_msg *msg)
{
	const struct art_hl7_header *h;

	if (!msg)
		return 0;
	h = art_hl7_header(msg);
	return art_ack_trim(h->accept_ack).len > 0 || art_ack_trim(h->app_ack).len > 0;
}

int art_hl7_ack_wanted(const struct art_hl7_msg *msg, enum art_hl7_ack_code code)
{
	const struct art_hl7_header *h;

	if (!art_hl7_ack_is_enhanced(msg))
		return 1;
	h = art_hl7_header(msg);
	if (art_ack_span_is(h->accept_ack, "NE"))
		return 0;
	if (art_ack_span_is(h->accept_ack, "ER"))
		return code != ART_ACK_ACCEPT;
	if (art_ack_span_is(h->accept_ack, "SU"))
		return code == ART_ACK_ACCEPT;
	return 1; /* AL, empty or unknown: acknowledge */
}

/* MSH-12.1 as a comparable number: "2.3.1" -> 231, "2.5" -> 250, "2.7.1"
 * -> 271. Unreadable or absent: 250 (the layout most peers expect). */
static int art_ack_version(const struct art_hl7_span *v)
{
	int part[3] = {0, 0, 0}, n = 0, digits = 0;

	for (size_t i = 0; i < v->len && n < 3; i++) {
		char c = v->p[i];

		if (c >= '0' && c <= '9') {
			if (part[n] > 99)
				return 250;
			part[n] = part[n] * 10 + (c - '0');
			digits++;
		} else if (c == '.' && digits) {
			n++;
			digits = 0;
		} else {
			return 250;
		}
	}
	if (part[0] != 2 || part[1] > 9)
		return 250;
	return 200 + part[1] * 10 + (part[2] > 9 ? 9 : part[2]);
}

/* Appends text escaped for delimiters d: separators become \F\ \S\ \T\ \R\
 * \E\ (and \P\ for a declared truncation character), CR and LF become
 * \X0D\ and \X0A\, other control characters a space. Without an escape
 * character, every special character becomes a space. */
static int art_ack_escape(struct art_buf *b, const struct art_hl7_delims *d, const char *s)
{
	for (; *s; s++) {
		char c = *s;
		const char *rep = NULL;

		if (c == d->field)
			rep = "F";
		else if (d->comp && c == d->comp)
			rep = "S";
		else if (d->sub && c == d->sub)
			rep = "T";
		else if (d->rep && c == d->rep)
			rep = "R";
		else if (d->esc && c == d->esc)
			rep = "E";
		else if (d->trunc && c == d->trunc)
			rep = "P";
		else if (c == '\r')
			rep = "X0D";
		else if (c == '\n')
			rep = "X0A";
		if (rep && d->esc) {
			if (art_buf_putc(b, d->esc) == -1 || art_buf_puts(b, rep) == -1 ||
			    art_buf_putc(b, d->esc) == -1)
				return -1;
			continue;
		}
		if (rep || (unsigned char)c < 0x20 || c == 0x7f)
			c = ' ';
		if (art_buf_putc(b, c) == -1)
			return -1;
	}
	return 0;
}

/* Appends an echoed raw value. It is already escaped for the ACK's
 * delimiters; control characters (which could break the MLLP framing of
 * the ACK) become spaces. */
static int art_ack_span(struct art_buf *b, const struct art_hl7_span *s)
{
	size_t start = 0;

	for (size_t i = 0; i < s->len; i++) {
		unsigned char ch = (unsigned char)s->p[i];

		if (ch >= 0x20 && ch != 0x7f)
			continue;
		if (art_buf_append(b, s->p + start, i - start) == -1 || art_buf_putc(b, ' ') == -1)
			return -1;
		start = i + 1;
	}
	return art_buf_append(b, s->p + start, s->len - start);
}

/* Writes a fresh control id: "A" + hex microseconds + hex counter, at most
 * 20 characters (the MSH-10 length before 2.7). */
static void art_ack_gen_id(char *id, size_t size)
{
	static unsigned counter;
	unsigned n = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);

	snprintf(id, size, "A%llX%04X", (unsigned long long)art_now_us() & 0xFFFFFFFFFFFFFull,
	         n & 0xFFFF);
}

static void art_ack_gen_ts(char *ts, size_t size)
{
	int64_t us = art_now_us();
	time_t secs = (time_t)(us / 1000000);
	struct tm tm;
	char base[32];

	gmtime_r(&secs, &tm);
	strftime(base, sizeof(base), "%Y%m%d%H%M%S", &tm);
	snprintf(ts, size, "%s.%03d+0000", base, (int)(us % 1000000 / 1000));
}

/* The ERR segment. ver is art_ack_version(). */
static int art_ack_err(struct art_buf *b, const struct art_hl7_delims *d, int ver,
                       const struct art_hl7_ack_opts *opts, int err_code, char severity)
{
	const char *etext = art_hl7_ack_err_text(err_code);
	char f = d->field, c = d->comp, s = d->sub;
	int r = 0;

	r |= art_buf_puts(b, "ERR");
	r |= art_buf_putc(b, f);
	if (ver < 250) {
		/* ERR-1 (ELD): segment^sequence^field^code&text&HL70357 */
		if (c) {
			if (opts->err_segment) {
				r |= art_ack_escape(b, d, opts->err_segment);
				r |= art_buf_printf(b, "%c%d%c", c,
				                    opts->err_seq > 0 ? opts->err_seq : 1, c);
				if (opts->err_field > 0)
					r |= art_buf_printf(b, "%d", opts->err_field);
				r |= art_buf_putc(b, c);
			} else {
				r |= art_buf_putc(b, c);
				r |= art_buf_putc(b, c);
				r |= art_buf_putc(b, c);
			}
		}
		r |= art_buf_printf(b, "%d", err_code);
		if (s) {
			r |= art_buf_putc(b, s);
			r |= art_ack_escape(b, d, etext);
			r |= art_buf_printf(b, "%cHL70357", s);
		}
	} else {
		/* ERR-1 empty, ERR-2 (ERL) location, ERR-3 (CWE) code, ERR-4
		 * severity, ERR-8 user message. */
		r |= art_buf_putc(b, f);
		if (opts->err_segment) {
			r |= art_ack_escape(b, d, opts->err_segment);
			if (c) {
				r |= art_buf_printf(b, "%c%d", c,
				                    opts->err_seq > 0 ? opts->err_seq : 1);
				if (opts->err_field > 0)
					r |= art_buf_printf(b, "%c%d", c, opts->err_field);
				if (opts->err_field > 0 && opts->err_comp > 0)
					r |= art_buf_printf(b, "%c1%c%d", c, c, opts->err_comp);
			}
		}
		r |= art_buf_putc(b, f);
		r |= art_buf_printf(b, "%d", err_code);
		if (c) {
			r |= art_buf_putc(b, c);
			r |= art_ack_escape(b, d, etext);
			r |= art_buf_printf(b, "%cHL70357", c);
		}
		r |= art_buf_printf(b, "%c%c", f, severity);
		if (opts->text && *opts->text) {
			r |= art_buf_printf(b, "%c%c%c%c", f, f, f, f);
			r |= art_ack_escape(b, d, opts->text);
		}
	}
	r |= art_buf_putc(b, '\r');
	return r ? -1 : 0;
}

/* Builds the ACK from src (NULL: nothing readable). */
static int art_ack_build_src(const struct art_ack_src *src, const struct art_hl7_ack_opts *opts,
                             struct art_buf *out, char *errstr, size_t errstr_size)
{
	const struct art_hl7_delims *d = src ? &src->delims : &art_ack_default_delims;
	struct art_hl7_span enc = {"^~\\&", 4}, ver_span = {"2.5", 3}, trigger = {"", 0};
	struct art_hl7_span proc = {"P", 1};
	enum art_hl7_ack_mode mode = opts->mode;
	char id[64], ts[64], f, c, severity;
	int ver, err_code, with_err, r = 0;
	struct art_buf b;

	if ((unsigned)opts->code > ART_ACK_REJECT || (unsigned)opts->mode > ART_ACK_ENHANCED) {
		snprintf(errstr, errstr_size, "ack: bad code or mode");
		return -1;
	}
	if (opts->severity && opts->severity != 'E' && opts->severity != 'W' &&
	    opts->severity != 'I') {
		snprintf(errstr, errstr_size, "ack: severity must be E, W or I");
		return -1;
	}
	f = d->field;
	c = d->comp;
	if (src) {
		enc = src->enc;
		if (src->version.len)
			ver_span = src->version;
		if (src->processing.len)
			proc = src->processing;
		trigger = src->trigger;
	}
	ver = art_ack_version(&ver_span);
	if (mode == ART_ACK_AUTO)
		mode = src && (art_ack_trim(src->accept_ack).len || art_ack_trim(src->app_ack).len)
		           ? ART_ACK_ENHANCED
		           : ART_ACK_ORIGINAL;
	err_code = opts->err_code;
	if (err_code == 0 && opts->code != ART_ACK_ACCEPT)
		err_code = ART_ACK_ERR_INTERNAL;
	severity = opts->severity ? opts->severity : opts->code == ART_ACK_ACCEPT ? 'I' : 'E';
	with_err = opts->code != ART_ACK_ACCEPT || opts->err_code != 0 ||
	           (ver >= 270 && opts->text && *opts->text);

	if (opts->control_id)
		snprintf(id, sizeof(id), "%s", opts->control_id);
	else
		art_ack_gen_id(id, sizeof(id));
	if (opts->timestamp)
		snprintf(ts, sizeof(ts), "%s", opts->timestamp);
	else
		art_ack_gen_ts(ts, sizeof(ts));

	art_buf_init(&b, ART_ACK_MAX_SIZE);
	/* MSH-1, MSH-2 */
	r |= art_buf_puts(&b, "MSH");
	r |= art_buf_putc(&b, f);
	r |= art_ack_span(&b, &enc);
	/* MSH-3..6: ours, then theirs */
	r |= art_buf_putc(&b, f);
	if (opts->sending_app)
		r |= art_ack_escape(&b, d, opts->sending_app);
	else if (src)
		r |= art_ack_span(&b, &src->receiving_app);
	r |= art_buf_putc(&b, f);
	if (opts->sending_facility)
		r |= art_ack_escape(&b, d, opts->sending_facility);
	else if (src)
		r |= art_ack_span(&b, &src->receiving_fac);
	r |= art_buf_putc(&b, f);
	if (src)
		r |= art_ack_span(&b, &src->sending_app);
	r |= art_buf_putc(&b, f);
	if (src)
		r |= art_ack_span(&b, &src->sending_fac);
	/* MSH-7 time, MSH-8 security, MSH-9 type */
	r |= art_buf_putc(&b, f);
	r |= art_ack_escape(&b, d, ts);
	r |= art_buf_printf(&b, "%c%cACK", f, f);
	if (c && trigger.len) {
		r |= art_buf_putc(&b, c);
		r |= art_ack_span(&b, &trigger);
		if (ver >= 231)
			r |= art_buf_printf(&b, "%cACK", c);
	}
	/* MSH-10 control id, MSH-11 processing id, MSH-12 version */
	r |= art_buf_putc(&b, f);
	r |= art_ack_escape(&b, d, id);
	r |= art_buf_putc(&b, f);
	r |= art_ack_span(&b, &proc);
	r |= art_buf_putc(&b, f);
	r |= art_ack_span(&b, &ver_span);
	/* MSH-15/16: an enhanced-mode ACK asks for no acknowledgement back;
	 * MSH-18: the message's character set, as the echoed values use it. */
	if (mode == ART_ACK_ENHANCED || (src && src->charset.len)) {
		r |= art_buf_printf(&b, "%c%c", f, f);
		if (mode == ART_ACK_ENHANCED)
			r |= art_buf_printf(&b, "%cNE%cNE", f, f);
		else
			r |= art_buf_printf(&b, "%c%c", f, f);
		if (src && src->charset.len) {
			r |= art_buf_printf(&b, "%c%c", f, f);
			r |= art_ack_span(&b, &src->charset);
		}
	}
	r |= art_buf_putc(&b, '\r');

	/* MSA */
	r |= art_buf_printf(&b, "MSA%c%s%c", f, art_hl7_ack_code_str(opts->code, mode), f);
	if (src)
		r |= art_ack_span(&b, &src->control_id);
	if (ver < 270 && opts->text && *opts->text) {
		r |= art_buf_putc(&b, f);
		r |= art_ack_escape(&b, d, opts->text);
	}
	r |= art_buf_putc(&b, '\r');

	if (with_err)
		r |= art_ack_err(&b, d, ver, opts, err_code, severity);

	if (r || art_buf_append(out, b.p, b.len) == -1) {
		snprintf(errstr, errstr_size, "ack: output buffer full (%zu bytes max)", out->max);
		art_buf_free(&b);
		return -1;
	}
	art_buf_free(&b);
	return 0;
}

/* 1 if c may be a delimiter: printable, not alphanumeric, not a blank. */
static int art_ack_delim_ok(char c)
{
	return c > 0x20 && c < 0x7f && !(c >= '0' && c <= '9') && !(c >= 'A' && c <= 'Z') &&
	       !(c >= 'a' && c <= 'z');
}

/* Checks that the declared delimiters are usable and distinct. */
static int art_ack_delims_ok(const struct art_hl7_delims *d)
{
	const char all[] = {d->field, d->comp, d->rep, d->esc, d->sub, d->trunc};

	if (!art_ack_delim_ok(d->field))
		return 0;
	for (size_t i = 0; i < sizeof(all); i++) {
		if (!all[i])
			continue;
		if (!art_ack_delim_ok(all[i]))
			return 0;
		for (size_t j = i + 1; j < sizeof(all); j++)
			if (all[i] == all[j])
				return 0;
	}
	return 1;
}

int art_hl7_ack_build(const struct art_hl7_msg *msg, const struct art_hl7_ack_opts *opts,
                      struct art_buf *out, char *errstr, size_t errstr_size)
{
	const struct art_hl7_header *h;
	struct art_ack_src src;

	if (!msg)
		return art_ack_build_src(NULL, opts, out, errstr, errstr_size);
	h = art_hl7_header(msg);
	memset(&src, 0, sizeof(src));
	src.delims = h->delims;
	if (!art_ack_delims_ok(&src.delims))
		return art_ack_build_src(NULL, opts, out, errstr, errstr_size);
	if (!art_hl7_field(msg, 0, 2, &src.enc))
		src.enc.len = 0;
	src.sending_app = h->sending_app;
	src.sending_fac = h->sending_facility;
	src.receiving_app = h->receiving_app;
	src.receiving_fac = h->receiving_facility;
	src.trigger = h->trigger;
	src.control_id = h->control_id;
	src.processing = h->processing_id;
	src.version = h->version;
	src.accept_ack = h->accept_ack;
	src.app_ack = h->app_ack;
	src.charset = h->charset_name;
	return art_ack_build_src(&src, opts, out, errstr, errstr_size);
}

/* Piece n of field `field` of the MSH line: raw, components split by
 * `comp` when n > 0. Empty span when absent. */
static struct art_hl7_span art_ack_msh_field(const char *line, size_t len, size_t field, char sep,
                                             size_t n)
{
	struct art_hl7_span s = {"", 0}, piece;

	if (!art_hl7_segment_field(line, len, 0, field, &s))
		s.len = 0;
	if (n && sep) {
		if (!art_hl7_span_piece(&s, sep, n, &piece))
			piece.len = 0;
		s = piece;
	}
	if (!s.len)
		s.p = "";
	return s;
}

/* Reads the echoed fields straight from an MSH line (buf[0..len), no
 * terminator). Returns 0, or -1 when it is not a usable MSH. */
static int art_ack_src_from_line(const char *line, size_t len, struct art_ack_src *src)
{
	struct art_hl7_span rep1;
	const char *e;

	memset(src, 0, sizeof(*src));
	if (len < 8 || memcmp(line, "MSH", 3) != 0)
		return -1;
	src->delims.field = line[3];
	src->enc = art_ack_msh_field(line, len, 2, 0, 0);
	e = src->enc.p;
	src->delims.comp = src->enc.len > 0 ? e[0] : 0;
	src->delims.rep = src->enc.len > 1 ? e[1] : 0;
	src->delims.esc = src->enc.len > 2 ? e[2] : 0;
	src->delims.sub = src->enc.len > 3 ? e[3] : 0;
	src->delims.trunc = src->enc.len > 4 ? e[4] : 0;
	if (src->enc.len > 5 || !art_ack_delims_ok(&src->delims))
		return -1;
	src->sending_app = art_ack_msh_field(line, len, 3, 0, 0);
	src->sending_fac = art_ack_msh_field(line, len, 4, 0, 0);
	src->receiving_app = art_ack_msh_field(line, len, 5, 0, 0);
	src->receiving_fac = art_ack_msh_field(line, len, 6, 0, 0);
	src->trigger = art_ack_msh_field(line, len, 9, src->delims.comp, 2);
	src->control_id = art_ack_msh_field(line, len, 10, 0, 0);
	src->processing = art_ack_msh_field(line, len, 11, src->delims.comp, 1);
	src->version = art_ack_msh_field(line, len, 12, src->delims.comp, 1);
	src->accept_ack = art_ack_msh_field(line, len, 15, 0, 0);
	src->app_ack = art_ack_msh_field(line, len, 16, 0, 0);
	rep1 = art_ack_msh_field(line, len, 18, src->delims.rep, 1);
	src->charset = rep1;
	return 0;
}

/* Last resort for an MSH whose encoding characters are unusable but whose
 * field separator is: default delimiters, and MSH-10 echoed in MSA-2 when
 * it is plain text (nothing that would need escaping), so the sender can
 * still match the AR to what it sent. Returns 0, or -1 when not even that
 * can be read. */
static int art_ack_src_fallback(const char *line, size_t len, struct art_ack_src *src)
{
	struct art_hl7_span ctrl;

	memset(src, 0, sizeof(*src));
	if (len < 8 || memcmp(line, "MSH", 3) != 0 || line[3] < 0x21 || line[3] > 0x7e ||
	    isalnum((unsigned char)line[3]))
		return -1;
	ctrl = art_ack_msh_field(line, len, 10, 0, 0);
	for (size_t i = 0; i < ctrl.len; i++) {
		unsigned char c = (unsigned char)ctrl.p[i];
		if (!isalnum(c) && c != '-' && c != '_' && c != '.' && c != ':')
			return -1;
	}
	src->delims.field = '|';
	src->delims.comp = '^';
	src->delims.rep = '~';
	src->delims.esc = '\\';
	src->delims.sub = '&';
	src->enc.p = "^~\\&";
	src->enc.len = 4;
	src->control_id = ctrl;
	return 0;
}

int art_hl7_ack_build_raw(const char *buf, size_t len, const struct art_hl7_ack_opts *opts,
                          struct art_buf *out, char *errstr, size_t errstr_size)
{
	struct art_hl7_msg *msg;
	struct art_ack_src src;
	char perr[256];
	size_t start = 0, end;
	int rc;

	msg = art_hl7_parse(buf, len, NULL, perr, sizeof(perr));
	if (msg) {
		rc = art_hl7_ack_build(msg, opts, out, errstr, errstr_size);
		art_hl7_msg_destroy(msg);
		return rc;
	}
	/* Salvage the header: the first line, after a BOM and blank lines. */
	if (len >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3))
		start = 3;
	while (start < len && (buf[start] == '\r' || buf[start] == '\n' || buf[start] == ' ' ||
	                       buf[start] == '\t' || buf[start] == ART_HL7_ACK_SB))
		start++;
	end = start;
	while (end < len && buf[end] != '\r' && buf[end] != '\n')
		end++;
	if (art_ack_src_from_line(buf + start, end - start, &src) == 0)
		return art_ack_build_src(&src, opts, out, errstr, errstr_size);
	if (art_ack_src_fallback(buf + start, end - start, &src) == 0)
		return art_ack_build_src(&src, opts, out, errstr, errstr_size);
	return art_ack_build_src(NULL, opts, out, errstr, errstr_size);
}

/* Decoded value at path into dst (cut to fit). Returns the getter's
 * answer. */
static enum art_hl7_val art_ack_get(const struct art_hl7_msg *msg, const char *path, char *dst,
                                    size_t size)
{
	struct art_buf v;
	char err[128];
	enum art_hl7_val r;

	art_buf_init(&v, 4096);
	r = art_hl7_get(msg, path, &v, NULL, err, sizeof(err));
	dst[0] = '\0';
	if (r == ART_HL7_VALUE)
		snprintf(dst, size, "%s", v.p);
	art_buf_free(&v);
	return r;
}

int art_hl7_ack_read(const char *buf, size_t len, struct art_hl7_ack_info *info, char *errstr,
                     size_t errstr_size)
{
	static const char *const codes[] = {"AA", "AE", "AR", "CA", "CE", "CR"};
	struct art_hl7_msg *msg;
	char perr[256], num[16];
	long long v;
	int known = 0;

	memset(info, 0, sizeof(*info));
	info->err_code = -1;
	msg = art_hl7_parse(buf, len, NULL, perr, sizeof(perr));
	if (!msg) {
		snprintf(errstr, errstr_size, "ack: %s", perr);
		return -1;
	}
	if (art_hl7_seg_find(msg, "MSA", 0) < 0) {
		snprintf(errstr, errstr_size, "ack: no MSA segment");
		art_hl7_msg_destroy(msg);
		return -1;
	}
	art_ack_get(msg, "MSA-1", num, sizeof(num));
	for (size_t i = 0; i < ART_ARRAY_SIZE(codes); i++)
		if (!strcmp(num, codes[i]))
			known = 1;
	if (!known) {
		snprintf(errstr, errstr_size, "ack: MSA-1 '%.8s' is not an acknowledgement code",
		         num);
		art_hl7_msg_destroy(msg);
		return -1;
	}
	memcpy(info->code, num, 3);
	info->accepted = info->code[1] == 'A';
	art_ack_get(msg, "MSA-2", info->control_id, sizeof(info->control_id));
	if (art_ack_get(msg, "ERR-3.1", num, sizeof(num)) == ART_HL7_VALUE ||
	    art_ack_get(msg, "ERR-1.4.1", num, sizeof(num)) == ART_HL7_VALUE) {
		if (art_parse_int(num, 0, 99999, &v) == 0)
			info->err_code = (int)v;
	}
	if (art_ack_get(msg, "ERR-8", info->text, sizeof(info->text)) != ART_HL7_VALUE &&
	    art_ack_get(msg, "MSA-3", info->text, sizeof(info->text)) != ART_HL7_VALUE &&
	    art_ack_get(msg, "ERR-3.2", info->text, sizeof(info->text)) != ART_HL7_VALUE)
		art_ack_get(msg, "ERR-1.4.2", info->text, sizeof(info->text));
	art_hl7_msg_destroy(msg);
	return 0;
}

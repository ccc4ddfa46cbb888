/*
 * hl7_ack.h — HL7 v2 acknowledgements: build the ACK Artery returns for a
 * received message, and read an ACK that a peer returned.
 *
 * Built ACKs follow the received message: its delimiters, version,
 * processing id and character set; sending and receiving application /
 * facility swapped; MSA-2 echoing its MSH-10; MSH-9 "ACK^<trigger>^ACK"
 * (2.3.1+; "ACK^<trigger>" before); original (AA/AE/AR) or enhanced
 * (CA/CE/CR) mode; an ERR segment in the layout of the message's version
 * (ERR-1 before 2.5, ERR-2/3/4/8 from 2.5). Values copied from the message
 * are copied raw (already escaped for the same delimiters); text supplied by
 * the caller is escaped with the message's escape character. Input with no
 * readable MSH gets an ACK with the default delimiters "|^~\&".
 * Rules and examples: docs/ack.md.
 *
 * One ACK is a few hundred bytes; building one costs about a microsecond.
 * All functions are thread-safe (no shared state except an atomic counter
 * for generated control ids).
 */
#ifndef ART_HL7_ACK_H
#define ART_HL7_ACK_H

#include "buf.h"
#include "hl7.h"

#include <stddef.h>

/* What the receiver says about the message. */
enum art_hl7_ack_code {
	ART_ACK_ACCEPT = 0, /* AA (original) / CA (enhanced) */
	ART_ACK_ERROR = 1,  /* AE / CE: the message was understood but could not be processed */
	ART_ACK_REJECT = 2, /* AR / CR: the message was refused (unparseable, unsupported) */
};

/* Which acknowledgement mode to answer in. */
enum art_hl7_ack_mode {
	ART_ACK_AUTO = 0,     /* enhanced iff the message has a non-empty MSH-15 or MSH-16 */
	ART_ACK_ORIGINAL = 1, /* AA / AE / AR */
	ART_ACK_ENHANCED = 2, /* CA / CE / CR (accept acknowledgement) */
};

/* HL7 table 0357, message error condition codes. */
#define ART_ACK_ERR_ACCEPTED          0   /* message accepted */
#define ART_ACK_ERR_SEGMENT_SEQUENCE  100 /* segment sequence error */
#define ART_ACK_ERR_REQUIRED_MISSING  101 /* required field missing */
#define ART_ACK_ERR_DATA_TYPE         102 /* data type error */
#define ART_ACK_ERR_TABLE_VALUE       103 /* table value not found */
#define ART_ACK_ERR_UNSUPPORTED_TYPE  200 /* unsupported message type */
#define ART_ACK_ERR_UNSUPPORTED_EVENT 201 /* unsupported event code */
#define ART_ACK_ERR_UNSUPPORTED_PROC  202 /* unsupported processing id */
#define ART_ACK_ERR_UNSUPPORTED_VER   203 /* unsupported version id */
#define ART_ACK_ERR_UNKNOWN_KEY       204 /* unknown key identifier */
#define ART_ACK_ERR_DUPLICATE_KEY     205 /* duplicate key identifier */
#define ART_ACK_ERR_RECORD_LOCKED     206 /* application record locked */
#define ART_ACK_ERR_INTERNAL          207 /* application internal error */

/* How to build one ACK. Zero-initialise, then set what you need: the zero
 * value is an AA/CA in AUTO mode with a generated control id and the
 * current time. Strings are NUL-terminated, unescaped text; the builder
 * escapes them. */
struct art_hl7_ack_opts {
	enum art_hl7_ack_code code;   /* accept / error / reject */
	enum art_hl7_ack_mode mode;   /* AUTO, ORIGINAL or ENHANCED */
	int err_code;                 /* table 0357; 0 with code != ACCEPT means 207 */
	char severity;                /* ERR-4 (2.5+): 'E', 'W' or 'I'; 0 = 'E' for
	                               * errors, 'I' for accepts */
	const char *text;             /* reason for humans: MSA-3 (< 2.7) and ERR-8
	                               * (2.5+); NULL for none */
	const char *err_segment;      /* ERR location: segment id ("PID"); NULL for none */
	int err_seq;                  /* its occurrence (1-based; 0 = 1) */
	int err_field;                /* field number (0 = whole segment) */
	int err_comp;                 /* component (0 = whole field) */
	const char *control_id;       /* MSH-10 of the ACK; NULL = generate a unique one */
	const char *timestamp;        /* MSH-7; NULL = now, UTC, YYYYMMDDHHMMSS.sss+0000 */
	const char *sending_app;      /* ACK MSH-3; NULL = the message's MSH-5 */
	const char *sending_facility; /* ACK MSH-4; NULL = the message's MSH-6 */
};

/* Builds the ACK for msg (NULL when no MSH could be read: default
 * delimiters, version 2.5, empty MSA-2) and appends it to out: segments
 * MSH, MSA and, when there is an error or an error code (or text that only
 * ERR can carry in 2.7+), ERR — each terminated by CR, unframed. Returns 0,
 * or -1 with the reason in errstr (out->max exceeded, bad option); out is
 * left as it was on failure. Any thread. */
int art_hl7_ack_build(const struct art_hl7_msg *msg, const struct art_hl7_ack_opts *opts,
                      struct art_buf *out, char *errstr, size_t errstr_size);

/* As art_hl7_ack_build() for raw input that may not parse (an MLLP frame
 * payload): parses it; when that fails, parses its first segment line alone
 * so that an MSH that is readable still gives the sender's delimiters,
 * version and control id; when even that fails, builds with msg NULL.
 * Returns as art_hl7_ack_build(). */
int art_hl7_ack_build_raw(const char *buf, size_t len, const struct art_hl7_ack_opts *opts,
                          struct art_buf *out, char *errstr, size_t errstr_size);

/* 1 when an ACK for msg is in enhanced mode under ART_ACK_AUTO: MSH-15 or
 * MSH-16 is present and non-empty. 0 for msg NULL. */
int art_hl7_ack_is_enhanced(const struct art_hl7_msg *msg);

/* Whether, in enhanced mode, the sender asked for an accept acknowledgement
 * with this outcome, by MSH-15: AL (or empty) always, NE never, ER only for
 * ERROR/REJECT, SU only for ACCEPT. 1 for original-mode messages and for
 * msg NULL (always acknowledge). */
int art_hl7_ack_wanted(const struct art_hl7_msg *msg, enum art_hl7_ack_code code);

/* The two-letter MSA-1 code for code in mode (ORIGINAL or ENHANCED):
 * "AA", "AE", "AR", "CA", "CE", "CR". */
const char *art_hl7_ack_code_str(enum art_hl7_ack_code code, enum art_hl7_ack_mode mode);

/* Text of an HL7 table 0357 code ("Required field missing"), or
 * "Unknown error" for codes outside the table. */
const char *art_hl7_ack_err_text(int err_code);

/* What art_hl7_ack_read() found in an ACK. Strings are decoded and
 * NUL-terminated (cut to fit). */
struct art_hl7_ack_info {
	char code[3];         /* MSA-1: "AA", "AE", "AR", "CA", "CE" or "CR" */
	char control_id[200]; /* MSA-2: the control id being acknowledged */
	char text[256];       /* ERR-8, else MSA-3, else the error code's text; "" if none */
	int err_code;         /* ERR-3.1 (2.5+) or ERR-1.4.1, -1 when absent */
	int accepted;         /* 1 for AA and CA */
};

/* Reads an ACK (unframed, one message). Returns 0 and fills *info, or -1
 * with the reason in errstr (not HL7, no MSA, MSA-1 not one of the six
 * codes). Any thread. */
int art_hl7_ack_read(const char *buf, size_t len, struct art_hl7_ack_info *info, char *errstr,
                     size_t errstr_size);

#endif

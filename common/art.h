/*
 * art.h — the few definitions every Artery module shares: pipeline stage
 * answers, the process run flag, and small helpers that have no better home.
 * Every module includes this first.
 */
#ifndef ART_H
#define ART_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#define ART_VERSION "0.1.0"

/* What a pipeline stage answers; only the process loop acts on it. */
enum art_res {
	ART_OK = 0,    /* done: commit / ACK / move on */
	ART_RETRY = 1, /* transient: back off and try again */
	ART_FAIL = 2,  /* permanent: dead-letter with the reason */
};

/* The one global mutable flag: cleared by the SIGTERM/SIGINT handler that
 * art_signals_install() sets; the loops poll it and do the shutdown. */
extern volatile sig_atomic_t art_run;

/* Installs SIGTERM/SIGINT handlers that clear art_run, and ignores SIGPIPE
 * (a peer that hangs up is an error return, never a death). Main thread. */
void art_signals_install(void);

#define ART_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ART_MIN(a, b) ((a) < (b) ? (a) : (b))
#define ART_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Microseconds since the epoch (wall clock) and a monotonic clock in
 * microseconds, for latencies. Thread-safe. */
int64_t art_now_us(void);
int64_t art_mono_us(void);

/* Parses a decimal integer in [min, max] from s (whole string). Returns 0 and
 * stores it in *out, or -1 if s is not such a number. The safe atoi. */
int art_parse_int(const char *s, long long min, long long max, long long *out);

/* Copies src into dst[0..size), always NUL-terminated, cutting what does
 * not fit. Returns strlen(src) (>= size means it was cut). The safe
 * strcpy. */
size_t art_strlcpy(char *dst, const char *src, size_t size);

/* Reads a whole file into a malloc'd buffer (NUL-terminated for
 * convenience, the NUL not counted in *lenp). Refuses files larger than
 * max_size. Returns NULL with the reason in errstr. Caller frees. */
char *art_read_file(const char *path, size_t max_size, size_t *lenp, char *errstr,
		    size_t errstr_size);

struct sockaddr_storage;

/* Fills *ss with the IPv4 or IPv6 literal addr and port (0-65535).
 * Returns AF_INET or AF_INET6, or -1 when addr is not such a literal. */
int art_sockaddr(const char *addr, int port, struct sockaddr_storage *ss);

#endif

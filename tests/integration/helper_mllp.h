/*
 * helper_mllp.h — a deliberately simple blocking MLLP peer for integration
 * tests: connect, write frames (or any bytes), read ACK frames with a
 * timeout. Independent of the framer under test.
 */
#ifndef ART_HELPER_MLLP_H
#define ART_HELPER_MLLP_H

#include <stddef.h>

/* Connects to 127.0.0.1:port, retrying for up to timeout_ms. Returns the
 * socket or -1. */
int art_test_mllp_connect(int port, int timeout_ms);

/* Writes all len bytes. Returns 0 or -1. */
int art_test_write_all(int fd, const void *buf, size_t len);

/* Writes one frame 0x0B payload 0x1C 0x0D. Returns 0 or -1. */
int art_test_mllp_send(int fd, const char *payload, size_t len);

/* Reads one frame's payload into a malloc'd NUL-terminated string (caller
 * frees), waiting at most timeout_ms. Returns NULL on timeout, EOF or
 * error. Bytes after the frame are kept for the next call (per fd). */
char *art_test_mllp_read(int fd, int timeout_ms);

/* 1 when the peer closed the connection within timeout_ms (read returns 0
 * or an error), 0 when still open. */
int art_test_mllp_closed(int fd, int timeout_ms);

/* Sends payload and reads the ACK; returns the MSA-1 code ("AA", ...) in
 * code (3 bytes) and the ACK text in *ack (caller frees; may be NULL).
 * Returns 0 or -1 (no ACK in time). */
int art_test_mllp_roundtrip(int fd, const char *payload, size_t len, char code[3], char **ack,
			    int timeout_ms);

/* Extracts MSA-1 and MSA-2 from an ACK (fields split on its own
 * separator). Returns 0 or -1. */
int art_test_ack_fields(const char *ack, char code[3], char *ctrl, size_t ctrl_size);

#endif

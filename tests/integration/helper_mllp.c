/*
 * helper_mllp.c — blocking MLLP test peer. One small carry-over buffer per
 * file descriptor number keeps bytes read past a frame's end.
 */
#include "helper_mllp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CARRY_FDS 1024
static char *carry[CARRY_FDS];
static size_t carry_len[CARRY_FDS];

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int art_test_mllp_connect(int port, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	struct sockaddr_in sa;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	do {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd == -1)
			return -1;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			if (fd < CARRY_FDS) {
				free(carry[fd]);
				carry[fd] = NULL;
				carry_len[fd] = 0;
			}
			return fd;
		}
		close(fd);
		usleep(50000);
	} while (now_ms() < deadline);
	return -1;
}

int art_test_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int art_test_mllp_send(int fd, const char *payload, size_t len)
{
	char *f = malloc(len + 3);
	int rc;

	f[0] = 0x0b;
	memcpy(f + 1, payload, len);
	f[len + 1] = 0x1c;
	f[len + 2] = 0x0d;
	rc = art_test_write_all(fd, f, len + 3);
	free(f);
	return rc;
}

char *art_test_mllp_read(int fd, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	char *buf = NULL;
	size_t len = 0;

	if (fd >= 0 && fd < CARRY_FDS && carry[fd]) {
		buf = carry[fd];
		len = carry_len[fd];
		carry[fd] = NULL;
		carry_len[fd] = 0;
	}
	for (;;) {
		char *sb = buf ? memchr(buf, 0x0b, len) : NULL;
		if (sb) {
			size_t start = (size_t)(sb - buf) + 1;
			for (size_t i = start; i + 1 < len; i++) {
				if (buf[i] == 0x1c && buf[i + 1] == 0x0d) {
					char *out = malloc(i - start + 1);
					memcpy(out, buf + start, i - start);
					out[i - start] = '\0';
					if (len > i + 2 && fd < CARRY_FDS) {
						carry_len[fd] = len - (i + 2);
						carry[fd] = malloc(carry_len[fd]);
						memcpy(carry[fd], buf + i + 2, carry_len[fd]);
					}
					free(buf);
					return out;
				}
			}
		}
		long long left = deadline - now_ms();
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		char chunk[65536];
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			break;
		n = read(fd, chunk, sizeof(chunk));
		if (n <= 0)
			break;
		buf = realloc(buf, len + (size_t)n);
		memcpy(buf + len, chunk, (size_t)n);
		len += (size_t)n;
	}
	if (buf && fd < CARRY_FDS) {
		carry[fd] = buf;
		carry_len[fd] = len;
	} else {
		free(buf);
	}
	return NULL;
}

int art_test_mllp_closed(int fd, int timeout_ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	char c;

	if (poll(&pfd, 1, timeout_ms) <= 0)
		return 0;
	return recv(fd, &c, 1, MSG_PEEK) <= 0;
}

int art_test_ack_fields(const char *ack, char code[3], char *ctrl, size_t ctrl_size)
{
	const char *msa = strstr(ack, "\rMSA");
	char fs;
	const char *p, *e;

	if (!msa || strlen(ack) < 4)
		return -1;
	fs = ack[3];
	p = msa + 4;
	if (*p != fs)
		return -1;
	p++;
	if (!p[0] || !p[1])
		return -1;
	code[0] = p[0];
	code[1] = p[1];
	code[2] = '\0';
	p += 2;
	if (*p != fs) {
		ctrl[0] = '\0';
		return 0;
	}
	p++;
	e = p;
	while (*e && *e != fs && *e != '\r')
		e++;
	snprintf(ctrl, ctrl_size, "%.*s", (int)(e - p), p);
	return 0;
}

int art_test_mllp_roundtrip(int fd, const char *payload, size_t len, char code[3], char **ack,
			    int timeout_ms)
{
	char *a, ctrl[256];

	if (art_test_mllp_send(fd, payload, len) == -1)
		return -1;
	a = art_test_mllp_read(fd, timeout_ms);
	if (!a)
		return -1;
	if (art_test_ack_fields(a, code, ctrl, sizeof(ctrl)) == -1) {
		free(a);
		return -1;
	}
	if (ack)
		*ack = a;
	else
		free(a);
	return 0;
}

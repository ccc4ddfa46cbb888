/*
 * helper_mllp_in.h — a running pipeline for integration tests: `artery
 * broker` plus `artery-mllp-in` with a topology written for the test (two
 * listeners on free ports and a free admin port), torn down with SIGTERM.
 */
#ifndef ART_HELPER_MLLP_IN_H
#define ART_HELPER_MLLP_IN_H

#include <limits.h>

#include "helper_proc.h"

struct art_test_pipeline {
	struct art_test_broker *kb;
	struct art_proc *mllp_in;
	char dir[PATH_MAX];
	char topology[PATH_MAX + 32];
	int port_adt;    /* listener "adt": auto ack mode, quarantine, 1 MiB, 10 s Kafka bound */
	int port_strict; /* listener "strict": reject, 4 KiB max, 2 s Kafka bound, 1.5 s idle */
	int port_admin;
};

/* Starts broker and mllp-in; waits until both listeners are up. Returns
 * NULL (output dumped on stderr) on failure. */
struct art_test_pipeline *art_test_pipeline_start(void);

/* Starts (again) only artery-mllp-in, e.g. after a SIGKILL. Returns 0/-1. */
int art_test_pipeline_start_mllp_in(struct art_test_pipeline *tp);

/* SIGTERM to mllp-in (exit status in *status when not NULL), stops the
 * broker, removes the directory. NULL is a no-op. */
void art_test_pipeline_stop(struct art_test_pipeline *tp, int *status);

/* GET http://127.0.0.1:port/path into a malloc'd string (body only), or
 * NULL. */
char *art_test_http_get(int port, const char *path, int *http_status);

#endif

/*
 * admin.h — the admin HTTP server every Artery process runs (libmicrohttpd,
 * in MHD's own thread):
 *
 *   GET /metrics  200, Prometheus text (text/plain; version=0.0.4)
 *   GET /healthz  200 "ok" while the process runs (liveness)
 *   GET /readyz   200 "ready" once the process called art_admin_set_ready(1),
 *                 else 503 "not ready" (readiness: Kafka reachable,
 *                 listeners bound — the process decides)
 *   anything else 404; methods other than GET/HEAD 405.
 *
 * Bind it to loopback unless an orchestrator must scrape it from outside
 * (topology.yaml: processes.<name>.admin_bind). A few connections at a time,
 * each closed after 10 s idle.
 */
#ifndef ART_ADMIN_H
#define ART_ADMIN_H

#include <stddef.h>

struct art_metrics;
struct art_admin;

/* Starts the server on bind:port (an IPv4 or IPv6 literal; port 0 picks a
 * free port, see art_admin_port()). m may be NULL (then /metrics is empty);
 * it is borrowed and must outlive the server. Starts not ready. Returns NULL
 * with the reason in errstr (bad address, port in use, ...). Caller stops it
 * with art_admin_stop(). Main thread. */
struct art_admin *art_admin_start(const char *bind, int port, struct art_metrics *m, char *errstr,
                                  size_t errstr_size);

/* Returns the TCP port the server is listening on. Any thread. */
int art_admin_port(const struct art_admin *admin);

/* Sets what /readyz answers: 200 when ready is non-zero, 503 otherwise. Any
 * thread. */
void art_admin_set_ready(struct art_admin *admin, int ready);

/* Stops the server (waits for its thread) and frees it. NULL is a no-op.
 * Main thread. */
void art_admin_stop(struct art_admin *admin);

#endif

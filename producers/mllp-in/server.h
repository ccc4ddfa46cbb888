/*
 * server.h — artery-mllp-in's event loop: MLLP listeners and connections on
 * one epoll instance, each frame handed to the HL7 ingest step, its records
 * to the commit-before-ACK producer, and its ACK written — in the order the
 * frames arrived on that connection — only from the delivery report.
 */
#ifndef ART_MLLP_IN_SERVER_H
#define ART_MLLP_IN_SERVER_H

#include <stddef.h>

struct art_topology;
struct art_schema_registry;
struct art_metrics;
struct art_producer;
struct art_mllp_server;

/* Binds every MLLP listener of topo and registers the metrics. Borrowed
 * pointers must outlive the server. Returns NULL with the reason in
 * errstr. Main thread. */
struct art_mllp_server *art_mllp_server_new(const struct art_topology *topo,
					    const struct art_schema_registry *reg,
					    struct art_producer *prod, struct art_metrics *metrics,
					    char *errstr, size_t errstr_size);

/* Runs until art_run is cleared, then drains: stops accepting and reading,
 * waits (bounded by the listeners' kafka_timeout_ms) until every message
 * in flight has its ACK or NAK written, and closes the connections.
 * Returns 0 when everything in flight was answered, -1 otherwise. */
int art_mllp_server_run(struct art_mllp_server *srv, void (*tick)(void *), void *tick_opaque);

/* Frees the server (closes whatever is still open). NULL is a no-op. */
void art_mllp_server_destroy(struct art_mllp_server *srv);

#endif

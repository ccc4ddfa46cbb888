/*
 * server.h — artery-http-in's HTTP listeners (docs/http-in.md).
 *
 * One libmicrohttpd daemon per `sources: http:` listener, all driven from
 * one epoll loop together with the producer's wakeup fd, so requests,
 * delivery reports and responses run on one thread. A request is answered
 * only after Kafka stored every record derived from it (commit-before-ACK,
 * as artery-mllp-in): MHD suspends the connection while the unit is in
 * flight and resumes it from the producer's completion callback.
 *
 *   POST /hl7v2              one HL7 v2 message (ER7)     -> raw.hl7v2 + canonical.*
 *   POST /fhir               a FHIR R4 Bundle             -> raw.fhir
 *   POST /fhir/<Resource>    one FHIR R4 resource         -> raw.fhir
 *
 * Owns the daemons, the per-listener HL7 ingesters and the Idempotency-Key
 * table; borrows topology, registry, producer and metrics.
 */
#ifndef ART_HTTP_IN_SERVER_H
#define ART_HTTP_IN_SERVER_H

#include <stddef.h>

struct art_topology;
struct art_schema_registry;
struct art_producer;
struct art_metrics;
struct art_http_server;

/* Binds every listener of topo->http. Returns NULL with the reason in
 * errstr (a bind failure, a token variable that is unset, a schema
 * missing). */
struct art_http_server *art_http_server_new(const struct art_topology *topo,
					    const struct art_schema_registry *reg,
					    struct art_producer *prod, struct art_metrics *m,
					    char *errstr, size_t errstr_size);

/* The bound port of listener i (useful with port 0). */
int art_http_server_port(const struct art_http_server *srv, size_t i);

/* Serves until art_run is cleared (SIGTERM/SIGINT), calling tick about
 * every 100 ms; then stops accepting, answers every request in flight and
 * returns 0 (-1 when the loop itself failed). */
int art_http_server_run(struct art_http_server *srv, void (*tick)(void *), void *arg);

/* Stops the daemons and frees everything; NULL is a no-op. Call after the
 * producer has no unit in flight (art_http_server_run() ensures it). */
void art_http_server_destroy(struct art_http_server *srv);

#endif

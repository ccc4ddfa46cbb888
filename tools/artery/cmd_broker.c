/*
 * cmd_broker.c — `artery broker`: the embedded development Kafka cluster.
 *
 * Runs librdkafka's mock cluster (in-memory brokers on random loopback
 * ports) inside this process, creates the topics of topology.yaml in it,
 * prints the bootstrap string on stdout and writes it atomically to the
 * bootstrap file every other Artery process reads. Runs until SIGTERM or
 * SIGINT, then removes the bootstrap file (if it is still ours) and exits
 * 0. SIGUSR1 takes every broker down, SIGUSR2 brings them back: fault
 * tests use this to make Kafka unreachable without killing the data.
 *
 * The mock's listening sockets get TCP_NODELAY (art_broker_nodelay), as a
 * real Kafka broker's connections have: without it a producer with several
 * requests in flight waits ~40 ms for a delayed ACK on some responses.
 *
 * Signals: SIGTERM/SIGINT clear art_run (art_signals_install); SIGUSR1/2
 * are blocked before any thread starts and taken synchronously with
 * sigtimedwait() in the main loop, so no extra global state is needed.
 */
#include "art.h"
#include "cmd.h"
#include "kafka.h"
#include "log.h"
#include "topology.h"

#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ART_BROKER_MAX_BROKERS  16
#define ART_BROKER_TICK_MS      200 /* how often the loop looks at art_run */
#define ART_BROKER_CREATE_BATCH 32  /* topics created in parallel */

static void art_broker_usage(FILE *fp)
{
	fprintf(fp,
	        "usage: artery broker [--brokers N] [--topology FILE] [--bootstrap-file PATH]\n"
	        "\n"
	        "Runs an embedded, in-memory Kafka cluster (librdkafka's mock cluster) for\n"
	        "development and tests. Creates every topic of the topology, prints the\n"
	        "bootstrap string (host:port,...) on stdout and writes it to the bootstrap\n"
	        "file, which every Artery process reads when ARTERY_KAFKA_BOOTSTRAP is unset.\n"
	        "\n"
	        "options:\n"
	        "  --brokers N            number of brokers, 1-%d (default 1)\n"
	        "  --topology FILE        topics to create (default $ARTERY_TOPOLOGY, else\n"
	        "                         %s if it exists, else the built-in topics)\n"
	        "  --bootstrap-file PATH  where to write the bootstrap string (default\n"
	        "                         $ARTERY_BOOTSTRAP_FILE, else %s);\n"
	        "                         directories are created, the file is removed at exit\n"
	        "  -h, --help             this text\n"
	        "\n"
	        "signals:\n"
	        "  SIGTERM, SIGINT        stop: remove the bootstrap file, exit 0\n"
	        "  SIGUSR1                take every broker down (connections refused)\n"
	        "  SIGUSR2                bring every broker back up\n"
	        "\n"
	        "Limits (see docs/broker.md): random ports on every start, memory only,\n"
	        "about 5 MiB kept per partition, no CreateTopics, no timestamp lookup.\n",
	        ART_BROKER_MAX_BROKERS, ART_TOPOLOGY_DEFAULT_PATH, ART_KAFKA_BOOTSTRAP_FILE);
}

/* Routes librdkafka's own log lines into the JSON log. */
static void art_broker_rdlog(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	enum art_log_level lvl = level <= 3   ? ART_LOG_ERROR
	                         : level == 4 ? ART_LOG_WARN
	                         : level <= 6 ? ART_LOG_INFO
	                                      : ART_LOG_DEBUG;

	(void)rk;
	if (strstr(buf, "No `bootstrap.servers` configured"))
		return; /* expected: this handle only hosts the mock cluster */
	art_log_emit(lvl, "kafka.log", "%s: %s", fac, buf);
}

/* Creates every directory above path (mkdir -p of its dirname). */
static int art_broker_mkdirs(const char *path, char *errstr, size_t errstr_size)
{
	char dir[PATH_MAX];
	size_t n = strlen(path);

	if (n >= sizeof(dir)) {
		snprintf(errstr, errstr_size, "%.256s...: path too long", path);
		return -1;
	}
	memcpy(dir, path, n + 1);
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
			snprintf(errstr, errstr_size, "mkdir %.256s: %s", dir, strerror(errno));
			return -1;
		}
		*p = '/';
	}
	return 0;
}

/* Writes "bootstrap\n" to path atomically: a temporary file in the same
 * directory, fsync, rename. */
static int art_broker_write_file(const char *path, const char *bootstrap, char *errstr,
                                 size_t errstr_size)
{
	char tmp[PATH_MAX];
	FILE *fp;
	int n;

	if (art_broker_mkdirs(path, errstr, errstr_size) == -1)
		return -1;
	n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		snprintf(errstr, errstr_size, "%s: path too long", path);
		return -1;
	}
	fp = fopen(tmp, "w");
	if (!fp) {
		snprintf(errstr, errstr_size, "%.256s: %s", tmp, strerror(errno));
		return -1;
	}
	if (fprintf(fp, "%s\n", bootstrap) < 0 || fflush(fp) != 0 || fsync(fileno(fp)) == -1) {
		snprintf(errstr, errstr_size, "%.256s: %s", tmp, strerror(errno));
		fclose(fp);
		unlink(tmp);
		return -1;
	}
	if (fclose(fp) != 0 || rename(tmp, path) == -1) {
		snprintf(errstr, errstr_size, "%.256s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* Removes the bootstrap file unless another broker has replaced it since. */
static void art_broker_remove_file(const char *path, const char *bootstrap)
{
	char err[256];
	size_t len = 0;
	char *data = art_read_file(path, 4096, &len, err, sizeof(err));

	if (!data) {
		art_warn("broker.bootstrap_file", "cannot remove: %s", err);
		return;
	}
	if (len > 0 && data[len - 1] == '\n')
		data[--len] = '\0';
	if (strcmp(data, bootstrap) != 0)
		art_warn("broker.bootstrap_file", "%s now belongs to another broker; left in place",
		         path);
	else if (unlink(path) == -1)
		art_warn("broker.bootstrap_file", "unlink %s: %s", path, strerror(errno));
	free(data);
}

/* Loads the topology the broker should create: --topology (must exist),
 * $ARTERY_TOPOLOGY (must exist), the default file if present, else the
 * built-in topics. Returns NULL with the reason in errstr. */
static struct art_topology *art_broker_topology(const char *opt_path, char *errstr,
                                                size_t errstr_size)
{
	const char *env = getenv("ARTERY_TOPOLOGY");
	struct art_topology *t;

	if (opt_path)
		return art_topology_load(opt_path, errstr, errstr_size);
	if ((env && *env) || access(ART_TOPOLOGY_DEFAULT_PATH, F_OK) == 0)
		return art_topology_load(art_topology_default_path(), errstr, errstr_size);
	t = art_topology_new_default();
	if (!t)
		snprintf(errstr, errstr_size, "out of memory");
	return t;
}

/* One rd_kafka_mock_topic_create() call, run in its own thread. */
struct art_broker_topic_job {
	rd_kafka_mock_cluster_t *mcluster;
	const struct art_topic *tp;
	int replication;
	rd_kafka_resp_err_t err;
};

static void *art_broker_topic_thread(void *arg)
{
	struct art_broker_topic_job *job = arg;

	job->err = rd_kafka_mock_topic_create(job->mcluster, job->tp->name, job->tp->partitions,
	                                      job->replication);
	return NULL;
}

/* Creates every topic of t in the mock cluster. The calls run in parallel,
 * ART_BROKER_CREATE_BATCH at a time: librdkafka 2.0.2's mock thread
 * sometimes notices a request only at its next 1 s poll tick, so creating
 * 15 topics one after the other took up to 5 s; in parallel the stalls
 * overlap and start-up stays under about a second. */
static int art_broker_create_topics(rd_kafka_mock_cluster_t *mcluster, const struct art_topology *t,
                                    int brokers)
{
	struct art_broker_topic_job jobs[ART_BROKER_CREATE_BATCH];
	pthread_t th[ART_BROKER_CREATE_BATCH];
	int started[ART_BROKER_CREATE_BATCH];
	int rc = 0;

	for (size_t base = 0; base < t->topic_cnt; base += ART_BROKER_CREATE_BATCH) {
		size_t n = ART_MIN(t->topic_cnt - base, (size_t)ART_BROKER_CREATE_BATCH);

		for (size_t i = 0; i < n; i++) {
			jobs[i].mcluster = mcluster;
			jobs[i].tp = &t->topics[base + i];
			jobs[i].replication = ART_MIN(jobs[i].tp->replication, brokers);
			jobs[i].err = RD_KAFKA_RESP_ERR_NO_ERROR;
			started[i] =
			    pthread_create(&th[i], NULL, art_broker_topic_thread, &jobs[i]) == 0;
			if (!started[i])
				art_broker_topic_thread(&jobs[i]); /* no thread: do it here */
		}
		for (size_t i = 0; i < n; i++) {
			if (started[i])
				pthread_join(th[i], NULL);
			if (jobs[i].err) {
				art_error("broker.topic", "cannot create topic %s: %s",
				          jobs[i].tp->name, rd_kafka_err2str(jobs[i].err));
				rc = -1;
				continue;
			}
			art_debug("broker.topic",
			          "created topic %s (%d partitions, replication %d)",
			          jobs[i].tp->name, jobs[i].tp->partitions, jobs[i].replication);
		}
	}
	return rc;
}

/* Sets TCP_NODELAY on the mock brokers' listening sockets, so that every
 * connection they accept inherits it (Linux copies the option to accepted
 * sockets). librdkafka 2.0.2's mock leaves Nagle on: a response written
 * while the previous one is still unacknowledged waits for the client's
 * delayed ACK, about 40 ms, whenever a client has two requests in flight
 * (a message whose records go to two partitions). A real Kafka broker sets
 * TCP_NODELAY on every connection. The listeners are this process's only
 * listening TCP sockets; each is matched against the bootstrap ports. */
static void art_broker_nodelay(const char *bootstrap)
{
	int one = 1, n = 0;
	long maxfd = sysconf(_SC_OPEN_MAX);

	if (maxfd < 0 || maxfd > 65536)
		maxfd = 65536;
	for (int fd = 3; fd < maxfd; fd++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int acc = 0, port;
		socklen_t al = sizeof(acc);
		char pat[16];

		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) == -1 || !acc)
			continue;
		if (getsockname(fd, (struct sockaddr *)&ss, &sl) == -1 || ss.ss_family != AF_INET)
			continue;
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		snprintf(pat, sizeof(pat), ":%d", port);
		for (const char *q = strstr(bootstrap, pat); q; q = strstr(q + 1, pat)) {
			char end = q[strlen(pat)];

			if (end != '\0' && end != ',')
				continue; /* ":4302" inside ":43021" */
			if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0)
				n++;
			break;
		}
	}
	art_debug("broker.nodelay", "TCP_NODELAY set on %d listener(s)", n);
}

/* Sets every broker down (down != 0) or up. */
static void art_broker_set_state(rd_kafka_mock_cluster_t *mcluster, int brokers, int down)
{
	for (int id = 1; id <= brokers; id++) {
		rd_kafka_resp_err_t err = down ? rd_kafka_mock_broker_set_down(mcluster, id)
		                               : rd_kafka_mock_broker_set_up(mcluster, id);
		if (err)
			art_warn("broker.state", "broker %d: %s", id, rd_kafka_err2str(err));
	}
	if (down)
		art_info("broker.down", "all %d broker(s) down (SIGUSR1); SIGUSR2 brings them up",
		         brokers);
	else
		art_info("broker.up", "all %d broker(s) up (SIGUSR2)", brokers);
}

int art_cmd_broker(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"brokers", required_argument, NULL, 'b'},
	    {"topology", required_argument, NULL, 't'},
	    {"bootstrap-file", required_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *topo_path = NULL, *file = NULL;
	struct art_topology *topo = NULL;
	rd_kafka_mock_cluster_t *mcluster = NULL;
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk = NULL;
	char *bootstrap = NULL;
	char errstr[512];
	sigset_t usr;
	long long brokers = 1;
	int c, rc = 2, written = 0;

	optind = 1;
	for (;;) {
		c = getopt_long(argc, argv, "h", opts, NULL);
		if (c == -1)
			break;
		switch (c) {
		case 'b':
			if (art_parse_int(optarg, 1, ART_BROKER_MAX_BROKERS, &brokers) == -1) {
				fprintf(stderr, "artery broker: --brokers must be 1-%d\n",
				        ART_BROKER_MAX_BROKERS);
				return 2;
			}
			break;
		case 't':
			topo_path = optarg;
			break;
		case 'f':
			file = optarg;
			break;
		case 'h':
			art_broker_usage(stdout);
			return 0;
		default:
			art_broker_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "artery broker: unexpected argument '%s'\n", argv[optind]);
		art_broker_usage(stderr);
		return 2;
	}
	if (!file)
		file = art_kafka_bootstrap_path();

	topo = art_broker_topology(topo_path, errstr, sizeof(errstr));
	if (!topo) {
		art_error("broker.topology", "%s", errstr);
		return 2;
	}

	/* Before any thread exists: SIGUSR1/2 are taken only by sigtimedwait. */
	art_signals_install();
	sigemptyset(&usr);
	sigaddset(&usr, SIGUSR1);
	sigaddset(&usr, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &usr, NULL);

	conf = rd_kafka_conf_new();
	rd_kafka_conf_set_log_cb(conf, art_broker_rdlog);
	if (art_kafka_conf_set(conf, "client.id", "artery-broker", errstr, sizeof(errstr)) == -1) {
		rd_kafka_conf_destroy(conf);
		art_error("broker.start", "%s", errstr);
		goto out;
	}
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		art_error("broker.start", "cannot create the mock cluster's handle: %s", errstr);
		goto out;
	}
	conf = NULL; /* owned by rk */
	mcluster = rd_kafka_mock_cluster_new(rk, (int)brokers);
	if (!mcluster) {
		art_error("broker.start", "cannot create the mock cluster");
		goto out;
	}
	if (art_broker_create_topics(mcluster, topo, (int)brokers) == -1)
		goto out;
	bootstrap = strdup(rd_kafka_mock_cluster_bootstraps(mcluster));
	if (!bootstrap) {
		art_error("broker.start", "out of memory");
		goto out;
	}
	art_broker_nodelay(bootstrap);
	if (art_broker_write_file(file, bootstrap, errstr, sizeof(errstr)) == -1) {
		art_error("broker.bootstrap_file", "%s", errstr);
		goto out;
	}
	written = 1;
	printf("%s\n", bootstrap);
	fflush(stdout);
	art_info("broker.ready", "%lld broker(s) at %s, %zu topics from %s, bootstrap file %s",
	         brokers, bootstrap, topo->topic_cnt, topo->path, file);

	while (art_run) {
		struct timespec ts = {0, ART_BROKER_TICK_MS * 1000000L};
		int sig = sigtimedwait(&usr, NULL, &ts);

		if (sig == SIGUSR1)
			art_broker_set_state(mcluster, (int)brokers, 1);
		else if (sig == SIGUSR2)
			art_broker_set_state(mcluster, (int)brokers, 0);
		if (sig == SIGUSR1 || sig == SIGUSR2)
			art_broker_nodelay(bootstrap); /* the mock may re-create its listeners */
	}
	art_info("broker.stop", "shutting down");
	rc = 0;
out:
	if (written)
		art_broker_remove_file(file, bootstrap);
	if (mcluster)
		rd_kafka_mock_cluster_destroy(mcluster);
	if (rk)
		rd_kafka_destroy(rk);
	free(bootstrap);
	art_topology_destroy(topo);
	return rc;
}

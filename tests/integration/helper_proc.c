/*
 * helper_proc.c — child processes for integration tests: fork/execve with
 * output captured to files in a mkdtemp() directory, polling waits with
 * 20 ms steps, and the `artery broker` wrapper. Children are put in their
 * own process group so a stray SIGINT at the terminal does not hit them
 * twice; art_proc_destroy() always reaps.
 */
#include "integration/helper_proc.h"

#include "art.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ART_PROC_POLL_MS 20
#define ART_PROC_LOG_MAX (64 * 1024 * 1024) /* bytes read back from a log */
#define ART_PROC_ENV_MAX 1024               /* environment entries */

extern char **environ;

struct art_proc {
	pid_t pid;
	int exited; /* reaped */
	int status; /* waitpid() status once exited */
	char prefix[64];
	char dir[PATH_MAX];
	char out_path[PATH_MAX + 16];
	char err_path[PATH_MAX + 16];
};

static void art_proc_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static int64_t art_proc_now_ms(void)
{
	return art_mono_us() / 1000;
}

/* True when environment entry e ("NAME=value") is named in extra (as
 * "NAME=..." or a bare "NAME"). */
static int art_proc_env_overridden(const char *e, const char *const extra[])
{
	const char *eq = strchr(e, '=');
	size_t klen = eq ? (size_t)(eq - e) : strlen(e);

	for (size_t j = 0; extra && extra[j]; j++) {
		const char *xeq = strchr(extra[j], '=');
		size_t xlen = xeq ? (size_t)(xeq - extra[j]) : strlen(extra[j]);

		if (xlen == klen && !strncmp(extra[j], e, klen))
			return 1;
	}
	return 0;
}

/* Builds environ + extra into a malloc'd array (strings borrowed). */
static char **art_proc_env(const char *const extra[])
{
	size_t n = 0, xn = 0, cnt = 0;
	char **env;

	while (environ[n])
		n++;
	while (extra && extra[xn])
		xn++;
	if (n + xn + 1 > ART_PROC_ENV_MAX)
		return NULL;
	env = calloc(n + xn + 1, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!art_proc_env_overridden(environ[i], extra))
			env[cnt++] = environ[i];
	for (size_t j = 0; j < xn; j++)
		if (strchr(extra[j], '='))
			env[cnt++] = (char *)extra[j];
	env[cnt] = NULL;
	return env;
}

struct art_proc *art_proc_start(const char *const argv[], const char *const envp_extra[],
                                const char *log_prefix)
{
	struct art_proc *p = calloc(1, sizeof(*p));
	char **env = NULL;
	int fd_out = -1, fd_err = -1, fd_in = -1;

	if (!p)
		return NULL;
	snprintf(p->prefix, sizeof(p->prefix), "%s", log_prefix ? log_prefix : "proc");
	snprintf(p->dir, sizeof(p->dir), "%s/art-test-XXXXXX",
	         getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(p->dir)) {
		fprintf(stderr, "art_proc_start: mkdtemp %s: %s\n", p->dir, strerror(errno));
		free(p);
		return NULL;
	}
	snprintf(p->out_path, sizeof(p->out_path), "%s/stdout", p->dir);
	snprintf(p->err_path, sizeof(p->err_path), "%s/stderr", p->dir);
	fd_out = open(p->out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	fd_err = open(p->err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	fd_in = open("/dev/null", O_RDONLY | O_CLOEXEC);
	env = art_proc_env(envp_extra);
	if (fd_out == -1 || fd_err == -1 || fd_in == -1 || !env) {
		fprintf(stderr, "art_proc_start: cannot set up %s: %s\n", p->prefix,
		        strerror(errno));
		goto fail;
	}
	fflush(stdout);
	fflush(stderr);
	p->pid = fork();
	if (p->pid == -1) {
		fprintf(stderr, "art_proc_start: fork: %s\n", strerror(errno));
		goto fail;
	}
	if (p->pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		setpgid(0, 0);
		if (dup2(fd_in, 0) == -1 || dup2(fd_out, 1) == -1 || dup2(fd_err, 2) == -1)
			_exit(126);
		execve(argv[0], (char *const *)argv, env);
		dprintf(2, "art_proc_start: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fd_in);
	close(fd_out);
	close(fd_err);
	free(env);
	return p;
fail:
	if (fd_in != -1)
		close(fd_in);
	if (fd_out != -1)
		close(fd_out);
	if (fd_err != -1)
		close(fd_err);
	free(env);
	unlink(p->out_path);
	unlink(p->err_path);
	rmdir(p->dir);
	free(p);
	return NULL;
}

pid_t art_proc_pid(const struct art_proc *p)
{
	return p->pid;
}

const char *art_proc_log_path(const struct art_proc *p, enum art_proc_stream which)
{
	return which == ART_PROC_STDERR ? p->err_path : p->out_path;
}

char *art_proc_output(const struct art_proc *p, enum art_proc_stream which)
{
	char err[256];
	size_t len = 0;

	return art_read_file(art_proc_log_path(p, which), ART_PROC_LOG_MAX, &len, err, sizeof(err));
}

/* Counts lines of text containing substr. */
static int art_proc_count_in(const char *text, const char *substr)
{
	int n = 0;

	while (text && *text) {
		const char *eol = strchr(text, '\n');
		size_t len = eol ? (size_t)(eol - text) : strlen(text);

		if (memmem(text, len, substr, strlen(substr)))
			n++;
		text += len + (eol ? 1 : 0);
	}
	return n;
}

int art_proc_count_lines(const struct art_proc *p, enum art_proc_stream which, const char *substr)
{
	int n = 0;

	for (int s = ART_PROC_STDOUT; s <= ART_PROC_STDERR; s++) {
		char *text;

		if (!(which & s))
			continue;
		text = art_proc_output(p, (enum art_proc_stream)s);
		n += art_proc_count_in(text, substr);
		free(text);
	}
	return n;
}

int art_proc_running(struct art_proc *p)
{
	pid_t r;

	if (p->exited)
		return 0;
	r = waitpid(p->pid, &p->status, WNOHANG);
	if (r == p->pid || (r == -1 && errno == ECHILD)) {
		p->exited = 1;
		return 0;
	}
	return 1;
}

int art_proc_wait_line_on(struct art_proc *p, enum art_proc_stream which, const char *substr,
                          int timeout_ms)
{
	int64_t deadline = art_proc_now_ms() + timeout_ms;

	for (;;) {
		int running = art_proc_running(p);

		/* Look once more after an exit: the line may be the last one. */
		if (art_proc_count_lines(p, which, substr) > 0)
			return 0;
		if (!running || art_proc_now_ms() >= deadline)
			return -1;
		art_proc_sleep_ms(ART_PROC_POLL_MS);
	}
}

int art_proc_wait_line(struct art_proc *p, const char *substr, int timeout_ms)
{
	return art_proc_wait_line_on(p, ART_PROC_BOTH, substr, timeout_ms);
}

int art_proc_signal(struct art_proc *p, int sig)
{
	if (!art_proc_running(p))
		return -1;
	return kill(p->pid, sig);
}

int art_proc_wait(struct art_proc *p, int timeout_ms, int *status)
{
	int64_t deadline = art_proc_now_ms() + timeout_ms;

	while (art_proc_running(p)) {
		if (art_proc_now_ms() >= deadline)
			return -1;
		art_proc_sleep_ms(ART_PROC_POLL_MS);
	}
	if (status)
		*status = p->status;
	return 0;
}

void art_proc_dump(const struct art_proc *p)
{
	static const char *const names[] = {"", "stdout", "stderr"};

	for (int s = ART_PROC_STDOUT; s <= ART_PROC_STDERR; s++) {
		char *text = art_proc_output(p, (enum art_proc_stream)s);
		const char *t = text;

		while (t && *t) {
			const char *eol = strchr(t, '\n');
			int len = eol ? (int)(eol - t) : (int)strlen(t);

			fprintf(stderr, "[%s %s] %.*s\n", p->prefix, names[s], len, t);
			t += len + (eol ? 1 : 0);
		}
		free(text);
	}
}

void art_proc_destroy(struct art_proc *p)
{
	const char *verbose = getenv("ART_TEST_VERBOSE");

	if (!p)
		return;
	if (art_proc_running(p)) {
		kill(p->pid, SIGKILL);
		while (waitpid(p->pid, &p->status, 0) == -1 && errno == EINTR)
			;
		p->exited = 1;
	}
	if (verbose && !strcmp(verbose, "1"))
		art_proc_dump(p);
	unlink(p->out_path);
	unlink(p->err_path);
	rmdir(p->dir);
	free(p);
}

int art_test_wait_file(const char *path, int timeout_ms)
{
	int64_t deadline = art_proc_now_ms() + timeout_ms;
	struct stat st;

	for (;;) {
		if (stat(path, &st) == 0 && st.st_size > 0)
			return 0;
		if (art_proc_now_ms() >= deadline)
			return -1;
		art_proc_sleep_ms(ART_PROC_POLL_MS);
	}
}

int art_test_free_port(void)
{
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	int fd, port = -1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &slen) == 0)
		port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

char *art_test_run(const char *cmd, int *code)
{
	FILE *fp = popen(cmd, "r");
	char *out = NULL, *bigger;
	size_t cap = 0, len = 0, n;
	char chunk[4096];
	int st;

	*code = -1;
	if (!fp)
		return NULL;
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
		if (len + n + 1 > cap) {
			cap = (len + n + 1) * 2;
			bigger = realloc(out, cap);
			if (!bigger) {
				free(out);
				pclose(fp);
				return NULL;
			}
			out = bigger;
		}
		memcpy(out + len, chunk, n);
		len += n;
	}
	if (!out && !(out = malloc(1))) {
		pclose(fp);
		return NULL;
	}
	out[len] = '\0';
	st = pclose(fp);
	*code = st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return out;
}

char *art_test_artery(const struct art_test_broker *kb, const char *args, int *code)
{
	size_t size = strlen(args) + PATH_MAX + 640;
	char *cmd = malloc(size), *out;

	if (!cmd)
		return NULL;
	snprintf(cmd, size, "ARTERY_KAFKA_BOOTSTRAP='%s' '%s' %s 2>&1",
		 kb ? kb->bootstrap : "127.0.0.1:1", art_test_binary("artery"), args);
	out = art_test_run(cmd, code);
	free(cmd);
	return out;
}

const char *art_test_binary(const char *name)
{
	static char path[PATH_MAX];
	const char *dir = getenv("ART_BINARY_DIR");

	if (!dir || !*dir)
		dir = ART_BINARY_DIR;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return path;
}

struct art_test_broker *art_test_broker_start(const char *topology, int brokers)
{
	struct art_test_broker *kb = calloc(1, sizeof(*kb));
	char nbrokers[16], topo[PATH_MAX], bin[PATH_MAX];
	const char *argv[10];
	char *out = NULL, *nl;
	size_t argc = 0;

	if (!kb)
		return NULL;
	snprintf(kb->dir, sizeof(kb->dir), "%s/art-broker-XXXXXX",
	         getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(kb->dir)) {
		fprintf(stderr, "art_test_broker_start: mkdtemp: %s\n", strerror(errno));
		free(kb);
		return NULL;
	}
	snprintf(kb->bootstrap_file, sizeof(kb->bootstrap_file), "%s/bootstrap", kb->dir);
	snprintf(nbrokers, sizeof(nbrokers), "%d", brokers > 0 ? brokers : 1);
	snprintf(topo, sizeof(topo), "%s",
	         topology ? topology : ART_SOURCE_DIR "/topology/topology.yaml");
	snprintf(bin, sizeof(bin), "%s", art_test_binary("artery"));
	argv[argc++] = bin;
	argv[argc++] = "broker";
	argv[argc++] = "--brokers";
	argv[argc++] = nbrokers;
	argv[argc++] = "--bootstrap-file";
	argv[argc++] = kb->bootstrap_file;
	argv[argc++] = "--topology";
	argv[argc++] = topo;
	argv[argc] = NULL;
	kb->proc = art_proc_start(argv, NULL, "broker");
	if (!kb->proc)
		goto fail;
	if (art_proc_wait_line_on(kb->proc, ART_PROC_STDOUT, ":", 15000) == -1 ||
	    art_test_wait_file(kb->bootstrap_file, 5000) == -1) {
		fprintf(stderr, "art_test_broker_start: the broker did not come up\n");
		art_proc_dump(kb->proc);
		goto fail;
	}
	out = art_proc_output(kb->proc, ART_PROC_STDOUT);
	if (!out)
		goto fail;
	nl = strchr(out, '\n');
	if (nl)
		*nl = '\0';
	snprintf(kb->bootstrap, sizeof(kb->bootstrap), "%s", out);
	snprintf(kb->env_bootstrap, sizeof(kb->env_bootstrap), "ARTERY_KAFKA_BOOTSTRAP=%s",
	         kb->bootstrap);
	free(out);
	return kb;
fail:
	free(out);
	art_proc_destroy(kb->proc);
	unlink(kb->bootstrap_file);
	rmdir(kb->dir);
	free(kb);
	return NULL;
}

int art_test_broker_set_down(struct art_test_broker *kb, int down)
{
	const char *event = down ? "\"broker.down\"" : "\"broker.up\"";
	int before = art_proc_count_lines(kb->proc, ART_PROC_STDERR, event);
	int64_t deadline = art_proc_now_ms() + 10000;

	if (art_proc_signal(kb->proc, down ? SIGUSR1 : SIGUSR2) == -1)
		return -1;
	while (art_proc_count_lines(kb->proc, ART_PROC_STDERR, event) <= before) {
		if (art_proc_now_ms() >= deadline || !art_proc_running(kb->proc))
			return -1;
		art_proc_sleep_ms(ART_PROC_POLL_MS);
	}
	return 0;
}

int art_test_broker_stop(struct art_test_broker *kb)
{
	int status = -1;

	if (!kb)
		return 0;
	art_proc_signal(kb->proc, SIGTERM);
	if (art_proc_wait(kb->proc, 10000, &status) == -1) {
		fprintf(stderr, "art_test_broker_stop: broker ignored SIGTERM; killing it\n");
		art_proc_dump(kb->proc);
		status = -1;
	}
	art_proc_destroy(kb->proc);
	unlink(kb->bootstrap_file);
	rmdir(kb->dir);
	free(kb);
	return status;
}

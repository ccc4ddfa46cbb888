/*
 * helper_proc.h — run real Artery binaries from integration tests.
 *
 * A struct art_proc is one child process started with fork/execve, its
 * stdout and stderr captured to files in a private temporary directory (so
 * nothing blocks on a full pipe and the logs can be read, searched and
 * dumped at any time). Waits are bounded: every function that waits takes a
 * timeout in milliseconds. art_proc_destroy() kills a child that is still
 * running, so a failing test never leaks processes.
 *
 * struct art_test_broker wraps `artery broker` with a bootstrap file of its
 * own, and art_test_free_port() finds a free loopback port.
 *
 * Typical use:
 *
 *   struct art_test_broker *kb = art_test_broker_start(NULL, 1);
 *   const char *argv[] = {ART_BINARY_DIR "/artery-mllp-in", "--topology", path, NULL};
 *   const char *env[] = {kb->env_bootstrap, NULL};
 *   struct art_proc *p = art_proc_start(argv, env, "mllp-in");
 *   cr_assert_eq(art_proc_wait_line(p, "listener.start", 10000), 0);
 *   ...
 *   art_proc_signal(p, SIGTERM);
 *   cr_assert_eq(art_proc_wait(p, 10000, &status), 0);
 *   art_proc_destroy(p);
 *   art_test_broker_stop(kb);
 *
 * Set ART_TEST_VERBOSE=1 to have art_proc_destroy() copy every child's
 * captured output to the test's stderr. Not thread-safe: one test thread.
 */
#ifndef ART_HELPER_PROC_H
#define ART_HELPER_PROC_H

#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

struct art_proc; /* a child process and its captured output */

/* Which captured stream to look at. */
enum art_proc_stream {
	ART_PROC_STDOUT = 1,
	ART_PROC_STDERR = 2,
	ART_PROC_BOTH = 3,
};

/* Starts argv[0] (a path; no PATH search) with argv, in the current working
 * directory, with the test's environment plus envp_extra (NULL-terminated,
 * may be NULL): "NAME=value" sets or replaces NAME, a bare "NAME" removes it.
 * stdin is /dev/null; stdout and stderr go to files named after log_prefix.
 * Returns NULL (with the reason on stderr) when the process cannot be
 * started. Caller frees with art_proc_destroy(). */
struct art_proc *art_proc_start(const char *const argv[], const char *const envp_extra[],
                                const char *log_prefix);

/* Returns the child's pid. */
pid_t art_proc_pid(const struct art_proc *p);

/* Returns the path of the file capturing stdout (ART_PROC_STDOUT) or stderr
 * (ART_PROC_STDERR). Valid until art_proc_destroy(). */
const char *art_proc_log_path(const struct art_proc *p, enum art_proc_stream which);

/* Returns everything the child wrote so far to one stream, NUL-terminated.
 * Caller frees. NULL when the file cannot be read. */
char *art_proc_output(const struct art_proc *p, enum art_proc_stream which);

/* Waits until a line containing substr has appeared on stdout or stderr.
 * Returns 0 when found, -1 on timeout or when the child exited without
 * printing it. */
int art_proc_wait_line(struct art_proc *p, const char *substr, int timeout_ms);

/* As art_proc_wait_line() on the chosen stream(s) only. */
int art_proc_wait_line_on(struct art_proc *p, enum art_proc_stream which, const char *substr,
                          int timeout_ms);

/* Counts lines containing substr on the chosen stream(s) so far. */
int art_proc_count_lines(const struct art_proc *p, enum art_proc_stream which, const char *substr);

/* Sends sig to the child. Returns 0, or -1 when it has already exited. */
int art_proc_signal(struct art_proc *p, int sig);

/* Returns 1 while the child runs, 0 once it has exited (reaping it). */
int art_proc_running(struct art_proc *p);

/* Waits for the child to exit. Returns 0 and the waitpid() status in
 * *status (may be NULL), or -1 on timeout (the child keeps running). Use
 * WIFEXITED/WEXITSTATUS on the status. */
int art_proc_wait(struct art_proc *p, int timeout_ms, int *status);

/* Writes both captured streams to the test's stderr, each line prefixed
 * with the log prefix: call it when an assertion about the child fails. */
void art_proc_dump(const struct art_proc *p);

/* Kills the child (SIGKILL) if it still runs, reaps it, removes its log
 * files and frees p. NULL is a no-op. */
void art_proc_destroy(struct art_proc *p);

/* Waits until path exists and is non-empty. Returns 0, or -1 on timeout. */
int art_test_wait_file(const char *path, int timeout_ms);

/* Returns a TCP port that was free on 127.0.0.1 a moment ago (bind to port
 * 0, read it, close), or -1. Another process may take it in between; tests
 * that can should prefer port 0 and read the bound port back. */
int art_test_free_port(void);

/* Returns the path of a built binary: ART_BINARY_DIR "/" name, in a static
 * buffer overwritten by the next call. */
const char *art_test_binary(const char *name);

/* Runs cmd with /bin/sh and returns its whole stdout, NUL-terminated
 * (caller frees), with its exit code in *code (-1 when it did not exit
 * normally). NULL when it cannot be started or out of memory. */
char *art_test_run(const char *cmd, int *code);

struct art_test_broker;

/* Runs `artery ARGS 2>&1` (args as shell words) with ARTERY_KAFKA_BOOTSTRAP
 * set to kb's bootstrap (kb NULL: an address nothing listens on) and
 * returns art_test_run()'s result. */
char *art_test_artery(const struct art_test_broker *kb, const char *args, int *code);

/* A running `artery broker` with its own bootstrap file. */
struct art_test_broker {
	struct art_proc *proc;              /* the broker process */
	char dir[PATH_MAX];                 /* private temporary directory */
	char bootstrap_file[PATH_MAX + 16]; /* dir + "/bootstrap" */
	char bootstrap[512];                /* host:port[,host:port...] */
	char env_bootstrap[600];            /* "ARTERY_KAFKA_BOOTSTRAP=<bootstrap>" for children */
};

/* Starts `artery broker --brokers brokers --bootstrap-file <tmp>/bootstrap`
 * (plus `--topology topology` when topology is not NULL; otherwise the
 * broker uses ART_SOURCE_DIR's topology/topology.yaml) and waits up to 15 s
 * for its bootstrap string. Returns NULL (with the reason and the broker's
 * output on stderr) when it does not come up. Caller stops it with
 * art_test_broker_stop(). */
struct art_test_broker *art_test_broker_start(const char *topology, int brokers);

/* Takes every broker down (SIGUSR1) or back up (SIGUSR2) and waits until
 * the broker logged it. Returns 0, or -1 on timeout. */
int art_test_broker_set_down(struct art_test_broker *kb, int down);

/* Stops the broker with SIGTERM (SIGKILL after 10 s) and frees kb. Returns
 * the broker's exit status as waitpid() reports it (0 = clean exit 0), or
 * -1 when it had to be killed. NULL is a no-op returning 0. */
int art_test_broker_stop(struct art_test_broker *kb);

#endif

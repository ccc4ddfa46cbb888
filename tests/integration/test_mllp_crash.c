/*
 * test_mllp_crash.c — crash safety of commit-before-ACK: `artery send`
 * streams messages over several connections while artery-mllp-in is killed
 * with SIGKILL at random moments and restarted, several times. Afterwards
 * every message that got an accepting ACK is in Kafka (none lost), and the
 * messages resent after the crashes carry the same idempotency key as the
 * copies stored before.
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helper_kafka.h"
#include "helper_mllp_in.h"
#include "helper_proc.h"

#define N_MSGS 3000
#define N_KILLS 4

/* control id -> idempotency key seen on raw.hl7v2 (first copy), and how
 * many copies */
struct seen {
	char key[80];
	int copies;
};

static int ctrl_index(const char *ctrl)
{
	if (strncmp(ctrl, "CRASH", 5) != 0)
		return -1;
	int i = (int)strtol(ctrl + 5, NULL, 10);
	return i >= 0 && i < N_MSGS ? i : -1;
}

Test(mllp_crash, sigkill_under_load_loses_nothing_acknowledged, .timeout = 300)
{
	struct art_test_pipeline *tp = art_test_pipeline_start();
	char file[PATH_MAX + 32], *out, *line, *save = NULL;
	static int acked[N_MSGS];
	static struct seen seen[N_MSGS];
	struct art_test_records raw;
	struct art_proc *send;
	int acked_n = 0, status = -1, dup_ctrl = 0;
	FILE *fp;

	cr_assert_not_null(tp);
	srand((unsigned)time(NULL));
	snprintf(file, sizeof(file), "%s/stream.hl7", tp->dir);
	fp = fopen(file, "w");
	for (int i = 0; i < N_MSGS; i++)
		fprintf(fp,
			"MSH|^~\\&|REG|NORTHWING|ARTERY|HOSP|20261122%06d||ADT^A08^ADT_A01|CRASH%05d|P|2.5.1\r"
			"EVN|A08|20261122083000\r"
			"PID|1||MRN%05d^^^NORTHWING^MR||QUILL^ADA^M||19800214|F\r"
			"PV1|1|I|W2^201^A\r",
			i % 240000, i, i % 97);
	fclose(fp);

	/* First run: artery-mllp-in is killed under it several times. */
	char portbuf[16];
	snprintf(portbuf, sizeof(portbuf), "%d", tp->port_adt);
	{
		/* ~3 s of traffic at 1000 msg/s, so the kills land mid-stream. */
		const char *argv[] = {art_test_binary("artery"), "send", "--port", portbuf,
				      "--connections", "4", "--window", "4", "--rate", "1000",
				      "--timeout-ms", "3000", "--verbose", file, NULL};
		send = art_proc_start(argv, NULL, "send-crash");
	}
	cr_assert_not_null(send);
	for (int k = 0; k < N_KILLS; k++) {
		usleep((useconds_t)(300000 + rand() % 400000));
		art_proc_signal(tp->mllp_in, SIGKILL);
		art_proc_wait(tp->mllp_in, 5000, NULL);
		cr_assert_eq(art_test_pipeline_start_mllp_in(tp), 0, "restart %d failed", k);
	}
	cr_assert_eq(art_proc_wait(send, 120000, &status), 0, "artery send did not finish");
	out = art_proc_output(send, ART_PROC_STDOUT);
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char f[512], ctrl[64], code[8];
		if (sscanf(line, "%511s %63s %7s", f, ctrl, code) == 3 &&
		    (!strcmp(code, "AA") || !strcmp(code, "CA"))) {
			int i = ctrl_index(ctrl);
			if (i >= 0 && !acked[i]) {
				acked[i] = 1;
				acked_n++;
			}
		}
	}
	free(out);
	art_proc_destroy(send);
	cr_assert(acked_n > 0, "nothing was acknowledged while crashing");

	/* Second run, no crash: the sender resends everything. */
	{
		const char *argv[] = {art_test_binary("artery"), "send", "--port", portbuf,
				      "--connections", "4", "--window", "4", file, NULL};
		send = art_proc_start(argv, NULL, "send-resend");
	}
	cr_assert_eq(art_proc_wait(send, 120000, &status), 0);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "resend run not all accepted");
	art_proc_destroy(send);

	cr_assert_eq(art_test_consume_all(tp->kb->bootstrap, "raw.hl7v2", 60000, &raw), 0);
	for (size_t r = 0; r < raw.cnt; r++) {
		const char *ctrl = art_test_record_header(&raw.recs[r], "hl7.control_id");
		const char *key = art_test_record_header(&raw.recs[r], "artery.idempotency_key");
		int i = ctrl ? ctrl_index(ctrl) : -1;
		cr_assert(i >= 0 && key, "record %zu without control id or key", r);
		if (seen[i].copies == 0) {
			snprintf(seen[i].key, sizeof(seen[i].key), "%s", key);
		} else {
			cr_assert_str_eq(seen[i].key, key, "%s resent with another idempotency key", ctrl);
			if (seen[i].copies == 1)
				dup_ctrl++;
		}
		seen[i].copies++;
	}
	for (int i = 0; i < N_MSGS; i++) {
		cr_assert(!acked[i] || seen[i].copies > 0, "CRASH%05d was acknowledged but is lost", i);
		cr_assert(seen[i].copies > 0, "CRASH%05d never reached Kafka", i);
	}
	printf("mllp crash: %d messages, %d kills; %d acknowledged during the crashes, all on "
	       "raw.hl7v2; %zu raw records, %d control ids stored more than once (same "
	       "idempotency key each time)\n",
	       N_MSGS, N_KILLS, acked_n, raw.cnt, dup_ctrl);
	art_test_records_free(&raw);
	art_test_pipeline_stop(tp, NULL);
}

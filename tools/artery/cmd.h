/*
 * cmd.h — the subcommands of the `artery` operator CLI. Each lives in its
 * own cmd_<name>.c and is registered in main.c's table. A subcommand gets
 * argv starting at its own name (argv[0] == "hl7") and returns the process
 * exit code: 0 success, 1 the operation found a problem (a message failed,
 * something was not accepted), 2 usage or start-up error.
 */
#ifndef ART_CMD_H
#define ART_CMD_H

/* one declaration per subcommand, alphabetical */
int art_cmd_broker(int argc, char **argv);
int art_cmd_dlq(int argc, char **argv);
int art_cmd_hl7(int argc, char **argv);
int art_cmd_replay(int argc, char **argv);
int art_cmd_schema(int argc, char **argv);
int art_cmd_send(int argc, char **argv);
int art_cmd_tail(int argc, char **argv);
int art_cmd_topology(int argc, char **argv);

#endif

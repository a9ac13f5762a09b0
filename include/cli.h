/* cli.h -- the client subcommands: new, import, initial-cluster, sync,
 * alias (tools.c), lookup (lookup.c), backup (backup.c) and tokens
 * (tokens.c). Each takes its own argv (argv[0]
 * is the subcommand) and returns the process exit code: 0 done, 1 failed,
 * 2 bad usage. */
#ifndef SRVGATE_CLI_H
#define SRVGATE_CLI_H

int tool_new(int argc, char **argv);
int tool_import(int argc, char **argv);
int tool_initial_cluster(int argc, char **argv);
int tool_sync(int argc, char **argv);
int tool_alias(int argc, char **argv);
int tool_lookup(int argc, char **argv);
int tool_backup(int argc, char **argv);
int tool_tokens(int argc, char **argv);

#endif

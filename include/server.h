/* server.h -- `srvgate serve`: wires registry, storage and the network
 * front ends to one event loop, and handles signals. */
#ifndef SRVGATE_SERVER_H
#define SRVGATE_SERVER_H

#include "util.h"

struct config;

/* Runs until SIGTERM or SIGINT. Returns 0 after a clean drain. */
int server_run(const struct config *cfg, char *err);

#endif

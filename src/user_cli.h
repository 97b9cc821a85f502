/*
 * user_cli: `trpc-broker user add|del|list|passwd`, the users of the store (auth.h) changed without a
 * broker: the first admin of a new installation, or a lost admin password. A running broker's users
 * are changed through it (`trpcctl user`, the admin API), which also tells its sessions.
 */
#ifndef TRPC_SRC_USER_CLI_H
#define TRPC_SRC_USER_CLI_H

/* argv[1] is "user". Returns the exit status: 0; 1 with one line on stderr (the user exists, no
 * such user, the store failed or is in use); 2 for a bad command line or configuration. */
int user_cli_main(int argc, char **argv);

#endif

/*
 * prompt: reading a password for the command-line tools (trpc-broker user, trpcctl). Never from
 * the command line: from the terminal without echo, or one line of standard input when that is
 * not a terminal (scripts: `printf '%s\n' "$pw" | trpcctl user passwd alice`).
 */
#ifndef TRPC_SRC_PROMPT_H
#define TRPC_SRC_PROMPT_H

#include <stdbool.h>
#include <stddef.h>

/* Reads a password into out (NUL-terminated; at most outlen - 1 bytes). On a terminal it asks
 * "<label>: " on /dev/tty with echo off, and with confirm asks again and compares. Returns its
 * length, or -EINVAL (empty, too long, or the two did not match: a message went to stderr),
 * -EIO (no terminal and no input). */
int prompt_password(const char *label, bool confirm, char *out, size_t outlen);

#endif

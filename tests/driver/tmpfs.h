/*
 * tmpfs: a full disk for the tests that need one (stream_disk_full, group_log_full). The broker's
 * data directory goes on a small tmpfs the test mounts (through TMPDIR, which the harness makes
 * it under), and a file of the test's fills it up. Mounting needs root: without it the test is
 * skipped. One per test program.
 */
#ifndef TRPC_TESTS_DRIVER_TMPFS_H
#define TRPC_TESTS_DRIVER_TMPFS_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

static char tmpfs_dir[] = "/tmp/trpc-full-XXXXXX";
static char tmpfs_filler[sizeof(tmpfs_dir) + 16];
static bool tmpfs_mounted;

static inline void tmpfs_cleanup(void)
{
    if (tmpfs_mounted)
        umount2(tmpfs_dir, MNT_DETACH);
    rmdir(tmpfs_dir);
}

/* Mounts a tmpfs of size (mount's "size=" value, "48m") and points TMPDIR at it: true, or false
 * once the TAP skip line is printed (the test returns 0). */
static inline bool tmpfs_setup(const char *size)
{
    char opts[32];

    if (geteuid() != 0) {
        printf("1..0 # SKIP mounting a tmpfs needs root\n");
        return false;
    }
    snprintf(opts, sizeof(opts), "size=%s", size);
    if (mkdtemp(tmpfs_dir) == NULL || mount("tmpfs", tmpfs_dir, "tmpfs", 0, opts) != 0) {
        printf("1..0 # SKIP cannot mount a tmpfs at %s: %s\n", tmpfs_dir, strerror(errno));
        rmdir(tmpfs_dir);
        return false;
    }
    tmpfs_mounted = true;
    atexit(tmpfs_cleanup);
    snprintf(tmpfs_filler, sizeof(tmpfs_filler), "%s/filler", tmpfs_dir);
    setenv("TMPDIR", tmpfs_dir, 1); /* the broker's data directory goes there */
    return true;
}

/* Fills the filesystem up to its last `leave` bytes (0: to the last byte): 0 or -errno. */
static inline int tmpfs_fill(long long leave)
{
    static char block[1 << 16];
    struct statvfs sv;
    long long room;
    int fd, ret = 0;

    if (statvfs(tmpfs_dir, &sv) != 0)
        return -errno;
    room = (long long)sv.f_bavail * (long long)sv.f_frsize - leave;
    fd = open(tmpfs_filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -errno;
    for (; room > 0 && ret == 0; room -= (long long)sizeof(block))
        if (write(fd, block, room < (long long)sizeof(block) ? (size_t)room : sizeof(block)) < 0)
            ret = errno == ENOSPC ? 0 : -errno;
    while (leave == 0 && ret == 0 && write(fd, block, 1) == 1) /* the last bytes of the last block */
        ;
    close(fd);
    return ret;
}

/* Gives the room back. */
static inline void tmpfs_empty(void)
{
    unlink(tmpfs_filler);
}

#endif

/*
 * prompt: passwords from the terminal or standard input (prompt.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "src/prompt.h"

/* One line from fd, without its newline: length, or -E2BIG when longer than outlen - 1. */
static int read_line(int fd, char *out, size_t outlen)
{
    size_t n = 0;
    bool over = false;
    char ch;

    for (;;) {
        ssize_t r = read(fd, &ch, 1);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (n == 0 && !over)
                return -EIO;
            break;
        }
        if (ch == '\n')
            break;
        if (n + 1 < outlen)
            out[n++] = ch;
        else
            over = true;
    }
    if (n > 0 && out[n - 1] == '\r')
        n--;
    out[n] = '\0';
    return over ? -E2BIG : (int)n;
}

/* While echo is off, the signals that end or stop the process turn it back on first, or the
 * shell would be left silent; one that stopped it (Ctrl-Z) turns it off again once the process
 * goes on, as readpassphrase(3) does, since bash puts back its own modes meanwhile. A signal the
 * process ignores (SIGHUP under nohup) stays ignored. */
static const int quiet_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU};
#define QUIET_NSIGNALS (sizeof(quiet_signals) / sizeof(quiet_signals[0]))
static int quiet_tty = -1;
static struct termios quiet_old, quiet_off;
static struct sigaction quiet_act;

static void quiet_signal(int sig)
{
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    int saved = errno;
    sigset_t set;

    tcsetattr(quiet_tty, TCSAFLUSH, &quiet_old);
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    /* Unblocked, so that it acts now, inside the handler: a stop returns here on SIGCONT. */
    sigemptyset(&set);
    sigaddset(&set, sig);
    raise(sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    sigaction(sig, &quiet_act, NULL);
    tcsetattr(quiet_tty, TCSAFLUSH, &quiet_off);
    errno = saved;
}

static int ask(int tty, const char *label, char *out, size_t outlen)
{
    struct sigaction prev[QUIET_NSIGNALS];
    bool mine[QUIET_NSIGNALS] = {false};
    bool restore = false;
    int ret;

    if (tcgetattr(tty, &quiet_old) == 0) {
        quiet_tty = tty;
        quiet_off = quiet_old;
        quiet_off.c_lflag &= ~(tcflag_t)ECHO;
        quiet_off.c_lflag |= ECHONL;
        quiet_act = (struct sigaction){.sa_handler = quiet_signal};
        sigemptyset(&quiet_act.sa_mask);
        for (size_t i = 0; i < QUIET_NSIGNALS; i++)
            mine[i] = sigaction(quiet_signals[i], NULL, &prev[i]) == 0 && prev[i].sa_handler != SIG_IGN &&
                      sigaction(quiet_signals[i], &quiet_act, NULL) == 0;
        restore = tcsetattr(tty, TCSAFLUSH, &quiet_off) == 0;
    }
    dprintf(tty, "%s: ", label);
    ret = read_line(tty, out, outlen);
    if (quiet_tty >= 0) {
        if (restore)
            tcsetattr(tty, TCSAFLUSH, &quiet_old);
        for (size_t i = 0; i < QUIET_NSIGNALS; i++)
            if (mine[i])
                sigaction(quiet_signals[i], &prev[i], NULL);
        quiet_tty = -1;
    }
    return ret;
}

int prompt_password(const char *label, bool confirm, char *out, size_t outlen)
{
    char again[1025];
    int tty = -1, ret;

    if (isatty(STDIN_FILENO))
        tty = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (tty < 0) {
        ret = read_line(STDIN_FILENO, out, outlen);
        goto check;
    }
    ret = ask(tty, label, out, outlen);
    if (ret > 0 && confirm) {
        char l2[128];
        int r2;

        snprintf(l2, sizeof(l2), "%s (again)", label);
        r2 = ask(tty, l2, again, sizeof(again) < outlen ? sizeof(again) : outlen);
        if (r2 < 0) {
            ret = r2; /* too long: said below */
        } else if (r2 != ret || strcmp(again, out) != 0) {
            fprintf(stderr, "the two passwords differ\n");
            ret = -EINVAL;
        }
        OPENSSL_cleanse(again, sizeof(again));
    }
    close(tty);
check:
    if (ret == -E2BIG) {
        fprintf(stderr, "password longer than %zu bytes\n", outlen - 1);
        ret = -EINVAL;
    } else if (ret == 0) {
        fprintf(stderr, "empty password\n");
        ret = -EINVAL;
    } else if (ret == -EIO)
        fprintf(stderr, "no password: standard input is empty\n");
    if (ret < 0)
        OPENSSL_cleanse(out, outlen);
    return ret;
}

/* test_proc.h - running a program from a test and capturing its output
 * (used by the tests that drive the hearth command). */
#ifndef HEARTH_TEST_PROC_H
#define HEARTH_TEST_PROC_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct result {
    int status; /* exit code, or 128 + signal */
    char *out, *err;
    size_t out_len, err_len;
} result;

static void result_free(result *r) {
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

/* appends what is readable on fd to *buf; returns 0 at EOF */
static int drain(int fd, char **buf, size_t *len) {
    char tmp[65536];
    ssize_t n = read(fd, tmp, sizeof tmp);
    if (n < 0 && errno == EINTR) return 1;
    if (n <= 0) return 0;
    char *nb = realloc(*buf, *len + (size_t)n + 1);
    if (!nb) return 0;
    memcpy(nb + *len, tmp, (size_t)n);
    *len += (size_t)n;
    nb[*len] = '\0';
    *buf = nb;
    return 1;
}

/* Runs `bin args...` (NULL-terminated) with stdin from /dev/null and
 * captures stdout, stderr and the exit status. Blocks until it exits. */
static void run_bin(const char *bin, result *r, const char *const *args) {
    memset(r, 0, sizeof *r);
    r->out = calloc(1, 1);
    r->err = calloc(1, 1);
    const char *argv[64];
    int n = 0;
    argv[n++] = bin;
    for (; args[n - 1] && n < 63; n++) argv[n] = args[n - 1];
    argv[n] = NULL;
    int po[2], pe[2];
    if (pipe(po) != 0 || pipe(pe) != 0) {
        r->status = -1;
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) dup2(devnull, 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]);
        close(pe[0]);
        close(po[1]);
        close(pe[1]);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
    int open_fds = 2;
    while (open_fds > 0) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            if (!drain(fds[i].fd, i ? &r->err : &r->out, i ? &r->err_len : &r->out_len)) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            }
        }
    }
    int st = 0;
    waitpid(pid, &st, 0);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

#endif

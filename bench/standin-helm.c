/*
 * A stand-in for helm that answers instantly, so the benchmark can see what stackctl itself
 * costs per target. Compiled by bench/validate.sh; a shell script would cost several ms of
 * its own per call and hide the number being measured.
 *
 *   standin-helm version [...]   prints the version of the helm it stands in for (v4.3.1).
 *   standin-helm template ...    prints a manifest recorded from real helm for the same
 *                                target: $BENCH_MANIFESTS/<env file path with / as __>,
 *                                chosen by the last --values argument (the env file), else
 *                                $BENCH_MANIFESTS/default.yaml.
 * Anything else fails, so a call the benchmark did not foresee cannot pass unnoticed.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int copy_out(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        ssize_t off = 0;
        while (off < n) {
            ssize_t w = write(1, buf + off, (size_t)(n - off));
            if (w <= 0) return -1;
            off += w;
        }
    }
    close(fd);
    return n < 0 ? -1 : 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "version") == 0) {
        fputs("v4.3.1", stdout);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "template") == 0) {
        const char *dir = getenv("BENCH_MANIFESTS");
        if (dir == NULL) {
            fputs("Error: BENCH_MANIFESTS is not set\n", stderr);
            return 1;
        }
        const char *values = NULL;
        for (int i = 2; i + 1 < argc; i++)
            if (strcmp(argv[i], "--values") == 0) values = argv[i + 1];
        char path[4096];
        const char *envs = NULL;
        for (const char *p = values; p != NULL && (p = strstr(p, "envs/")) != NULL; p++)
            envs = p;
        if (envs != NULL) {
            int len = snprintf(path, sizeof path, "%s/", dir);
            for (const char *p = envs; *p && len < (int)sizeof path - 3; p++) {
                if (*p == '/') {
                    path[len++] = '_';
                    path[len++] = '_';
                } else {
                    path[len++] = *p;
                }
            }
            path[len] = '\0';
            if (copy_out(path) == 0) return 0;
        }
        snprintf(path, sizeof path, "%s/default.yaml", dir);
        if (copy_out(path) == 0) return 0;
        fprintf(stderr, "Error: no recorded manifest in %s\n", dir);
        return 1;
    }
    fprintf(stderr, "Error: the stand-in helm does not do %s\n", argc > 1 ? argv[1] : "(nothing)");
    return 1;
}

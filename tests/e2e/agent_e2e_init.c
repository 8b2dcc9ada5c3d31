/* PID 1 of the agent e2e test's root disk: runs `banger-agent init` (the
 * boot-time setup a systemd unit runs in a real image), starts a process that
 * listens on TCP 7777 and UDP [::]:7778 (named "e2e-listener", so the agent's
 * Ports answer can be checked), then execs `banger-agent serve`. Static. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void listener(void)
{
        prctl(PR_SET_NAME, "e2e-listener", 0, 0, 0);
        int t = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(7777)};
        if (t < 0 || bind(t, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(t, 1) < 0)
                fprintf(stderr, "e2e-init: tcp listener: %s\n", strerror(errno));
        int u = socket(AF_INET6, SOCK_DGRAM, 0);
        struct sockaddr_in6 b = {.sin6_family = AF_INET6, .sin6_port = htons(7778)};
        if (u < 0 || bind(u, (struct sockaddr *)&b, sizeof(b)) < 0)
                fprintf(stderr, "e2e-init: udp listener: %s\n", strerror(errno));
        for (;;)
                pause();
}

int main(void)
{
        pid_t setup = fork();
        if (setup == 0) {
                char *argv[] = {"/sbin/banger-agent", "init", NULL};
                execv(argv[0], argv);
                _exit(127);
        }
        int status = 0;
        if (setup < 0 || waitpid(setup, &status, 0) < 0 || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
                fprintf(stderr, "e2e-init: banger-agent init failed (status %d)\n", status);

        pid_t pid = fork();
        if (pid == 0)
                listener();
        if (pid < 0)
                fprintf(stderr, "e2e-init: fork: %s\n", strerror(errno));
        char *argv[] = {"/sbin/banger-agent", "serve", NULL};
        execv(argv[0], argv);
        fprintf(stderr, "e2e-init: exec %s: %s\n", argv[0], strerror(errno));
        return 1;
}

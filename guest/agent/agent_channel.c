#include "agent_channel.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "util/macro.h"

int agent_vport_find(const char *dev_root, const char *sys_root, const char *name, char *buf,
                     size_t size)
{
        char path[512];
        struct stat st;
        snprintf(path, sizeof(path), "%s/virtio-ports/%s", dev_root, name);
        if (stat(path, &st) == 0 && S_ISCHR(st.st_mode)) {
                if (strlen(path) >= size)
                        return -ENAMETOOLONG;
                memcpy(buf, path, strlen(path) + 1);
                return 0;
        }

        char cls[512];
        snprintf(cls, sizeof(cls), "%s/class/virtio-ports", sys_root);
        DIR *d = opendir(cls);
        if (!d)
                return -ENOENT;
        int r = -ENOENT;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                char namefile[800], got[256] = "";
                snprintf(namefile, sizeof(namefile), "%s/%s/name", cls, de->d_name);
                _cleanup_close_ int fd = open(namefile, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                ssize_t n = read(fd, got, sizeof(got) - 1);
                if (n <= 0)
                        continue;
                got[n] = '\0';
                got[strcspn(got, "\n")] = '\0';
                if (!streq(got, name))
                        continue;
                int k = snprintf(buf, size, "%s/%s", dev_root, de->d_name);
                r = (k < 0 || (size_t)k >= size) ? -ENAMETOOLONG : 0;
                break;
        }
        closedir(d);
        return r;
}

int agent_vsock_listen(uint32_t port)
{
        _cleanup_close_ int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        struct sockaddr_vm sa = {
            .svm_family = AF_VSOCK,
            .svm_cid = VMADDR_CID_ANY,
            .svm_port = port,
        };
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return -errno;
        if (listen(fd, 16) < 0)
                return -errno;
        return TAKE_FD(fd);
}
